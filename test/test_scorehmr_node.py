"""The scorehmr node on a real graph: simulated keypoint sets in, tracked bodies, meshes and TF out."""

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import Marker, MarkerArray

from scorehmr_ros.msg import SMPLBodyArray

from ros_harness import wait_until

pytestmark = [pytest.mark.ros, pytest.mark.slow]

NODE = "scorehmr_ros.nodes.scorehmr_node"


def subscribe(ros_node, topic, msg_type):
    received = []
    ros_node.create_subscription(msg_type, topic, received.append, 50)
    return received


def test_rig_file_mode_publishes_tracked_bodies_meshes_tf_and_latency(ros_node, ros_peers, tmp_path):
    rig_file = tmp_path / "rig.yaml"
    # 5 Hz: slow enough that this 2-core machine fits most sets (the node drops the oldest when it cannot)
    ros_peers.start("publish_scene_keypoints.py", "--rig-out", str(rig_file), "--rate", "5")
    wait_until(rig_file.exists, what="the rig file", timeout_s=60)
    node = ros_peers.start_module(NODE, "--ros-args", "-p", f"rig_file:={rig_file}", "-p",
                                  "diagnostics_period_s:=0.5")
    bodies = subscribe(ros_node, "bodies", SMPLBodyArray)
    meshes = subscribe(ros_node, "meshes", MarkerArray)
    tf = subscribe(ros_node, "/tf", TFMessage)
    diagnostics = subscribe(ros_node, "/diagnostics", DiagnosticArray)
    wait_until(lambda: sum(len(m.bodies) for m in bodies) >= 16 and meshes and tf, spin=ros_node.spin_once,
               timeout_s=120, what=lambda: f"bodies, meshes and TF (node log: {node.log()[-3000:]})")
    node.assert_running()
    ids = {body.track_id for msg in bodies for body in msg.bodies}
    assert len(ids) == 2, ids
    body = bodies[-1].bodies[0]
    assert bodies[-1].header.frame_id == "map" and len(body.joints) == 24 and len(body.betas) == 10
    assert body.num_views >= 2 and body.tracking_state == body.TRACKING_STATE_TRACKED
    mesh = next(m for msg in meshes for m in msg.markers if m.action == Marker.ADD)
    assert mesh.type == Marker.TRIANGLE_LIST and mesh.ns == "smpl_mesh" and len(mesh.points) > 300
    children = {t.child_frame_id for msg in tf for t in msg.transforms}
    assert {f"body_{i}" for i in ids} <= children and any(c.startswith("l_wrist_") for c in children)
    assert "STAND-IN body model" in node.log()
    wait_until(lambda: any(s.name.endswith("latency") for d in diagnostics for s in d.status),
               spin=ros_node.spin_once, what="latency diagnostics")


def test_calibration_from_camera_info_and_tf(ros_node, ros_peers, tmp_path):
    ros_peers.start("publish_scene_keypoints.py", "--rig-out", str(tmp_path / "rig.yaml"), "--camera-info-tf",
                    "--rate", "5")
    node = ros_peers.start_module(NODE, "--ros-args", "-p", "cameras:=[cam0,cam1,cam2,cam3]")
    bodies = subscribe(ros_node, "bodies", SMPLBodyArray)
    wait_until(lambda: sum(len(m.bodies) for m in bodies) >= 4, spin=ros_node.spin_once, timeout_s=120,
               what=lambda: f"bodies (node log: {node.log()[-3000:]})")
    assert "rig calibrated from CameraInfo + TF" in node.log()
