"""Peer process: publishes every example message (and a large image stream) until interrupted.

Usage: publish_examples.py [--images]   (topics are relative; see example_messages.CUSTOM_TOPICS)
"""

import contextlib
import sys
from pathlib import Path

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

sys.path.insert(0, str(Path(__file__).parent))
from example_messages import CUSTOM_TOPICS, large_image  # noqa: E402


def main() -> None:
    with rclpy.init():
        node = rclpy.create_node("example_publisher")
        publishers = {topic: (node.create_publisher(msg_type, topic, 10), build)
                      for topic, (msg_type, build) in CUSTOM_TOPICS.items()}
        image_publisher = node.create_publisher(Image, "image_raw", qos_profile_sensor_data)
        send_images = "--images" in sys.argv
        frame = [0]

        def publish_all() -> None:
            for publisher, build in publishers.values():
                publisher.publish(build())
            if send_images:
                image_publisher.publish(large_image(frame[0]))
                frame[0] += 1

        node.create_timer(0.05, publish_all)
        node.get_logger().info("publishing examples")
        with contextlib.suppress(KeyboardInterrupt, ExternalShutdownException):
            rclpy.spin(node)


if __name__ == "__main__":
    main()
