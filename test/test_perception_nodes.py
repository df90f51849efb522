"""The perception nodes on a real graph: a fake rig in, MultiViewKeypoints2D out, bad input survived."""

import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus

from scorehmr_ros.msg import MultiViewKeypoints2D
from scorehmr_ros.ros.keypoint_conversions import msg_to_observation

from ros_harness import wait_until

pytestmark = pytest.mark.ros

PERCEPTION = "scorehmr_ros.ros.nodes.perception_node"


def node_args(*params: str) -> list[str]:
    args = ["--ros-args"]
    for param in params:
        args += ["-p", param]
    return args


def collect(ros_node, topic, msg_type=MultiViewKeypoints2D):
    received = []
    ros_node.create_subscription(msg_type, topic, received.append, 10)
    return received


def test_combined_node_publishes_every_view_with_stamps_and_layout(ros_node, ros_peers):
    ros_peers.start("publish_cameras.py", "--cameras", "cam0,cam1", "--rate", "10")
    node = ros_peers.start_module(PERCEPTION, *node_args("cameras:=[cam0,cam1]", "detector.num_threads:=1",
                                                         "keypoints.num_threads:=1"))
    keypoints, detections = collect(ros_node, "keypoints2d"), collect(ros_node, "detections")
    wait_until(lambda: len(keypoints) >= 3 and len(detections) >= 3, spin=ros_node.spin_once, timeout_s=60,
               what=lambda: f"keypoint sets (node log: {node.log()[-2000:]})")
    node.assert_running()
    observation = msg_to_observation(keypoints[-1])
    assert observation.frame_id == "map" and observation.missing_cameras == ()
    assert [view.camera for view in observation.views] == ["cam0", "cam1"]
    assert all(view.num_people == 0 and (view.width_px, view.height_px) == (320, 240) for view in observation.views)
    assert {view.image_stamp_ns for view in observation.views} == {observation.stamp_ns}
    assert "ready: 2 cameras" in node.log()


def test_bad_encoding_wrong_info_and_stopped_camera_are_survived(ros_node, ros_peers):
    ros_peers.start("publish_cameras.py", "--cameras", "cam0,cam1,cam2,cam3", "--rate", "10",
                    "--bad-encoding", "cam1", "--wrong-info-size", "cam2", "--stop-after", "cam3:5")
    node = ros_peers.start_module(
        "scorehmr_ros.ros.nodes.person_detector_node",
        *node_args("cameras:=[cam0,cam1,cam2,cam3]", "sync.min_cameras:=1", "sync.stale_s:=0.5",
                   "detector.num_threads:=1", "diagnostics_period_s:=0.5"))
    detections, diagnostics = collect(ros_node, "detections"), collect(ros_node, "/diagnostics", DiagnosticArray)

    def cam3_gone() -> bool:
        return any("cam3" in msg.missing_cameras and list(msg.missing_cameras) == ["cam1", "cam2", "cam3"]
                   for msg in detections)

    wait_until(cam3_gone, spin=ros_node.spin_once, timeout_s=60,
               what=lambda: f"sets without the bad and stopped cameras (node log: {node.log()[-2000:]})")
    node.assert_running()
    expected = ("camera cam1: unsupported image encoding 'yuv422'",
                "camera cam2: CameraInfo says 330x240 but the image is 320x240")
    wait_until(lambda: all(text in node.log() for text in expected), spin=ros_node.spin_once,
               what=lambda: f"both warnings in the node log: {node.log()[-2000:]}")
    log = node.log()
    assert log.count("unsupported image encoding") <= 3  # throttled, not once per frame

    def cam1_warned() -> bool:
        return any(s.name.endswith("camera cam1") and s.level != DiagnosticStatus.OK
                   for d in diagnostics for s in d.status)

    wait_until(cam1_warned, spin=ros_node.spin_once, what="a diagnostics warning for cam1")


def test_bad_parameters_stop_the_node_with_the_reason(ros_peers):
    node = ros_peers.start_module("scorehmr_ros.ros.nodes.person_detector_node",
                                  *node_args("cameras:=[cam0]", "detector.backend:=yolox_onnx"))
    node.process.wait(timeout=60)
    assert node.process.returncode == 1
    assert "cannot start: model_path: backend yolox_onnx has no bundled model" in node.log()
