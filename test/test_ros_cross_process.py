"""Our interfaces and tf2_msgs/TFMessage across processes over real DDS on loopback."""

import sys
from pathlib import Path

import numpy as np
import pytest
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from scorehmr_ros.ros.image_conversions import image_to_numpy

from ros_harness import wait_until

sys.path.insert(0, str(Path(__file__).parent / "ros_peers"))
from example_messages import (  # noqa: E402
    CUSTOM_TOPICS,
    UPSTREAM_TF_MESSAGE_TYPE_HASH,
    field_differences,
    large_image,
)

pytestmark = pytest.mark.ros


def test_every_message_crosses_processes_with_every_field(ros_node, ros_peers):
    publisher = ros_peers.start("publish_examples.py")
    received = {}
    for topic, (msg_type, _) in CUSTOM_TOPICS.items():
        ros_node.create_subscription(msg_type, topic, lambda msg, topic=topic: received.setdefault(topic, msg), 10)
    wait_until(lambda: len(received) == len(CUSTOM_TOPICS), spin=ros_node.spin_once,
               what=f"one message on each of {sorted(CUSTOM_TOPICS)} (got {sorted(received)})")
    publisher.assert_running()
    for topic, (_, build) in CUSTOM_TOPICS.items():
        assert field_differences(build(), received[topic]) == [], topic


def test_tf_message_type_hash_equals_upstream(ros_node, ros_peers):
    ros_peers.start("publish_examples.py")
    wait_until(lambda: ros_node.count_publishers("tf_test") > 0, spin=ros_node.spin_once, what="a tf_test publisher")
    (info,) = ros_node.get_publishers_info_by_topic("tf_test")
    assert info.topic_type == "tf2_msgs/msg/TFMessage"
    assert str(info.topic_type_hash) == UPSTREAM_TF_MESSAGE_TYPE_HASH


def test_full_hd_rgb8_image_crosses_processes_best_effort(ros_node, ros_peers):
    ros_peers.start("publish_examples.py", "--images")
    frames = []
    ros_node.create_subscription(Image, "image_raw", frames.append, qos_profile_sensor_data)
    wait_until(lambda: len(frames) >= 3, spin=ros_node.spin_once, what="three 1920x1080 rgb8 images")
    msg = frames[-1]
    assert (msg.width, msg.height, msg.encoding) == (1920, 1080, "rgb8")
    expected = image_to_numpy(large_image(msg.header.stamp.sec))
    np.testing.assert_array_equal(image_to_numpy(msg), expected)


def test_field_comparison_reports_a_nested_difference():
    build = CUSTOM_TOPICS["bodies"][1]
    changed = build()
    changed.bodies[1].joints[4].z += 1e-3
    assert field_differences(build(), changed) == [
        f"msg.bodies[1].joints[4].z: {changed.bodies[1].joints[4].z!r} != expected {build().bodies[1].joints[4].z!r}"
    ]


def test_peers_are_stopped_and_their_failures_reported(ros_peers):
    peer = ros_peers.start("publish_examples.py")
    assert peer.process.poll() is None
    ros_peers.stop_all()
    assert peer.process.poll() is not None
    with pytest.raises(pytest.fail.Exception, match="exited with"):
        peer.assert_running()
