"""Peer process: a simulated rig's 2D keypoints as MultiViewKeypoints2D sets (the perception front's output).

Usage: publish_scene_keypoints.py --rig-out RIG.yaml [--camera-info-tf] [--rate 30] [--frames 40] [--loop]
                                  [--scenario walk_run|crossing]
Writes the rig YAML first, then, once a subscriber is there, publishes the scene's sets (once, or in a
loop: people then jump back to their start), stamped with the node clock, and with each set the ground
truth on sim/ground_truth (SMPLBodyArray, same stamp). With --camera-info-tf it also publishes each
camera's CameraInfo and the static TF map -> optical frame. ``crossing`` is
scene_observations.crossing_scenario (its own frame count; --frames is ignored).
"""

import argparse
import contextlib
import sys
from pathlib import Path

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo
from tf2_msgs.msg import TFMessage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from scorehmr_ros.assets.paths import ensure_standin_body_model  # noqa: E402
from scorehmr_ros.body.body_model import BodyModel  # noqa: E402
from scorehmr_ros.geometry.rig_io import save_rig  # noqa: E402
from scorehmr_ros.geometry.rigs import ring_rig  # noqa: E402
from scorehmr_ros.msg import MultiViewKeypoints2D, SMPLBodyArray  # noqa: E402
from scorehmr_ros.perception.observations import MultiViewObservation, ViewObservation  # noqa: E402
from scorehmr_ros.ros.geometry_conversions import (  # noqa: E402
    body_to_msg,
    camera_to_camera_info,
    matrix_to_transform,
    ns_to_stamp,
)
from scorehmr_ros.ros.keypoint_conversions import observation_to_msg  # noqa: E402
from scorehmr_ros.sim.live_rig import ground_truth_bodies  # noqa: E402
from scorehmr_ros.sim.scene import SceneConfig, generate_scene  # noqa: E402

from scene_observations import crossing_scenario, scene_sets  # noqa: E402


def restamp(observation: MultiViewObservation, stamp_ns: int) -> MultiViewObservation:
    views = tuple(ViewObservation(**{**view.__dict__, "image_stamp_ns": stamp_ns}) for view in observation.views)
    return MultiViewObservation(stamp_ns=stamp_ns, frame_id=observation.frame_id, views=views,
                                missing_cameras=observation.missing_cameras)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rig-out", required=True)
    parser.add_argument("--camera-info-tf", action="store_true")
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--loop", action="store_true")
    parser.add_argument("--scenario", choices=("walk_run", "crossing"), default="walk_run")
    args = parser.parse_args()
    body_model = BodyModel.from_file(ensure_standin_body_model())
    if args.scenario == "crossing":
        rig, scene, sets = crossing_scenario(body_model)
    else:
        rig = ring_rig(num_cameras=4, radius_m=3.5, height_m=2.0, width_px=640, height_px=480,
                       horizontal_fov_deg=60)
        scene = generate_scene(config=SceneConfig(num_people=2, num_frames=args.frames, clips=("walk", "run"),
                                                  seed=3), cameras=rig.cameras, body_model=body_model)
        sets = scene_sets(scene, seed=1)
    save_rig(rig, args.rig_out)
    with rclpy.init():
        node = rclpy.create_node("scene_keypoints")
        publisher = node.create_publisher(MultiViewKeypoints2D, "keypoints2d", 10)
        truth_publisher = node.create_publisher(SMPLBodyArray, "sim/ground_truth", 10)
        info_publishers = {c.name: node.create_publisher(CameraInfo, f"{c.name}/camera_info", 1) for c in rig.cameras}
        static = QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                            reliability=ReliabilityPolicy.RELIABLE)
        tf_static = node.create_publisher(TFMessage, "/tf_static", static)
        if args.camera_info_tf:
            tf_static.publish(TFMessage(transforms=[
                matrix_to_transform(c.T_world_cam, parent_frame="map", child_frame=c.frame_id, stamp_ns=0)
                for c in rig.cameras]))
        frame = [0]

        def publish() -> None:
            if publisher.get_subscription_count() == 0 or (frame[0] >= len(sets) and not args.loop):
                return
            stamp_ns = node.get_clock().now().nanoseconds
            observation = restamp(sets[frame[0] % len(sets)], stamp_ns)
            if args.camera_info_tf:
                for camera in rig.cameras:
                    info = camera_to_camera_info(camera, stamp_ns=stamp_ns)
                    info_publishers[camera.name].publish(info)
            publisher.publish(observation_to_msg(observation))
            truth = SMPLBodyArray(bodies=[body_to_msg(body) for body in ground_truth_bodies(
                scene.ground_truth, frame=frame[0] % len(sets), stamp_ns=stamp_ns, num_views=len(rig.cameras))])
            truth.header.stamp, truth.header.frame_id = ns_to_stamp(stamp_ns), scene.world_frame
            truth_publisher.publish(truth)
            frame[0] += 1

        node.create_timer(1.0 / args.rate, publish)
        node.get_logger().info(f"{len(sets)} sets of {len(rig.cameras)} views ready")
        with contextlib.suppress(KeyboardInterrupt, ExternalShutdownException):
            rclpy.spin(node)


if __name__ == "__main__":
    main()
