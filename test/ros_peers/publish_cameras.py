"""Peer process: a fake camera rig publishing Image + CameraInfo per camera at a fixed rate.

Usage: publish_cameras.py --cameras cam0,cam1 [--rate 10] [--width 320 --height 240]
         [--bad-encoding CAM] [--wrong-info-size CAM] [--stop-after CAM:N] [--image PATH]
"""

import argparse
import contextlib

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image

from scorehmr_ros.geometry.camera import Camera
from scorehmr_ros.ros.geometry_conversions import camera_to_camera_info
from scorehmr_ros.ros.image_conversions import numpy_to_image


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cameras", required=True)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--bad-encoding", default="")
    parser.add_argument("--wrong-info-size", default="")
    parser.add_argument("--stop-after", default="")
    parser.add_argument("--image", default="", help="a .npy BGR image to publish instead of grey")
    args = parser.parse_args()
    cameras = args.cameras.split(",")
    stop_camera, _, stop_frames = args.stop_after.partition(":")
    pixels = np.load(args.image) if args.image else np.full((args.height, args.width, 3), 90, np.uint8)
    height, width = pixels.shape[:2]
    with rclpy.init():
        node = rclpy.create_node("fake_rig")
        image_publishers = {c: node.create_publisher(Image, f"{c}/image_raw", qos_profile_sensor_data) for c in cameras}
        info_publishers = {c: node.create_publisher(CameraInfo, f"{c}/camera_info", qos_profile_sensor_data)
                           for c in cameras}
        K = np.array([[300.0, 0, width / 2], [0, 300.0, height / 2], [0, 0, 1]])
        frame = [0]

        def publish() -> None:
            stamp = node.get_clock().now().to_msg()
            for camera in cameras:
                if camera == stop_camera and frame[0] >= int(stop_frames):
                    continue
                size = (width + 10, height) if camera == args.wrong_info_size else (width, height)
                info = camera_to_camera_info(Camera(name=camera, K=K, width_px=size[0], height_px=size[1]))
                info.header.stamp = stamp
                info_publishers[camera].publish(info)
                image = numpy_to_image(pixels, encoding="bgr8")
                if camera == args.bad_encoding:
                    image.encoding = "yuv422"
                image.header.stamp, image.header.frame_id = stamp, f"{camera}_optical_frame"
                image_publishers[camera].publish(image)
            frame[0] += 1

        node.create_timer(1.0 / args.rate, publish)
        with contextlib.suppress(KeyboardInterrupt, ExternalShutdownException):
            rclpy.spin(node)


if __name__ == "__main__":
    main()
