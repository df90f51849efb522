"""rig_tf: the camera poses of a rig YAML, latched on /tf_static (message content, and over real DDS through the
installed `ros2 run` wrapper)."""

from pathlib import Path

import numpy as np
import pytest
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from tf2_msgs.msg import TFMessage

from scorehmr_ros.geometry.frame_tree import FrameTree
from scorehmr_ros.geometry.rig_io import load_rig
from scorehmr_ros.ros.geometry_conversions import stamp_to_ns, transform_to_matrix
from scorehmr_ros.ros.nodes.rig_tf_node import rig_static_transforms

from ros_harness import wait_until

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_RIG = REPO / "config" / "rig_example.yaml"


def check_poses(msg: TFMessage, rig) -> None:
    """Each camera's optical frame, looked up in a tf2-like tree, projects world points as the Camera does."""
    tree = FrameTree()
    for transform in msg.transforms:
        tree.set_transform(parent=transform.header.frame_id, child=transform.child_frame_id,
                           T_parent_child=transform_to_matrix(transform), stamp_ns=stamp_to_ns(transform.header.stamp))
    points = np.random.default_rng(0).uniform(-1, 1, size=(10, 3)) + [0, 0, 1]
    for camera in rig.cameras:
        T_cam_world = tree.lookup(camera.frame_id, rig.world_frame)
        in_camera = points @ T_cam_world[:3, :3].T + T_cam_world[:3, 3]
        np.testing.assert_allclose(in_camera, points @ camera.R_cam_world.T + camera.t_cam_world_m, atol=1e-9)


def test_one_transform_per_camera_from_the_world_frame():
    rig = load_rig(EXAMPLE_RIG)
    msg = rig_static_transforms(rig, stamp_ns=1_500_000_000_250)
    assert [t.child_frame_id for t in msg.transforms] == [f"cam{i}_optical_frame" for i in range(4)]
    assert {t.header.frame_id for t in msg.transforms} == {"map"}
    assert {stamp_to_ns(t.header.stamp) for t in msg.transforms} == {1_500_000_000_250}
    check_poses(msg, rig)


@pytest.mark.ros
def test_the_ros2_run_wrapper_latches_the_poses(ros_node, ros_peers):
    peer = ros_peers.start(REPO / "scripts" / "nodes" / "rig_tf", "--ros-args", "-p", f"rig_file:={EXAMPLE_RIG}")
    received = []
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    ros_node.create_subscription(TFMessage, "/tf_static", received.append, latched)
    wait_until(lambda: received, spin=ros_node.spin_once, timeout_s=30, what=lambda: f"/tf_static ({peer.log()})")
    peer.assert_running()
    check_poses(received[-1], load_rig(EXAMPLE_RIG))
    wait_until(lambda: "latched 4 camera poses" in peer.log(), timeout_s=10, what=lambda: f"log line ({peer.log()})")


@pytest.mark.ros
def test_without_a_rig_file_it_exits_naming_the_parameter(ros_peers):
    peer = ros_peers.start(REPO / "scripts" / "nodes" / "rig_tf")
    assert peer.process.wait(timeout=30) == 1
    assert "rig_file" in peer.log()
