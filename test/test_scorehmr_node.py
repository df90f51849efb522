"""The scorehmr node on a real graph: simulated keypoint sets in, tracked bodies, meshes and TF out."""

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import Marker, MarkerArray

from scorehmr_ros.assets.paths import ensure_standin_body_model
from scorehmr_ros.body.body_model import BodyModel
from scorehmr_ros.geometry.rig_io import save_rig
from scorehmr_ros.geometry.rigs import ring_rig
from scorehmr_ros.msg import SMPLBodyArray
from scorehmr_ros.sim.scene import SceneConfig, generate_scene

from lockstep_play import LockstepPlayer
from ros_harness import wait_until
from scene_observations import scene_sets

pytestmark = [pytest.mark.ros, pytest.mark.slow]

NODE = "scorehmr_ros.ros.nodes.scorehmr_node"
FRAMES = 20


def subscribe(ros_node, topic, msg_type):
    received = []
    ros_node.create_subscription(msg_type, topic, received.append, 50)
    return received


def test_rig_file_mode_publishes_tracked_bodies_meshes_tf_and_latency(ros_node, ros_peers, tmp_path):
    rig = ring_rig(num_cameras=4, radius_m=3.5, height_m=2.0, width_px=640, height_px=480, horizontal_fov_deg=60)
    scene = generate_scene(config=SceneConfig(num_people=2, num_frames=FRAMES, clips=("walk", "run"), seed=3),
                           cameras=rig.cameras, body_model=BodyModel.from_file(ensure_standin_body_model()))
    rig_file = tmp_path / "rig.yaml"
    save_rig(rig, rig_file)
    node = ros_peers.start_module(NODE, "--ros-args", "-p", f"rig_file:={rig_file}", "-p",
                                  "diagnostics_period_s:=0.5", "-p", "processing_queue:=100")
    player = LockstepPlayer(ros_node)  # set k+1 once the node has finished set k: no set dropped on any machine
    bodies = player.bodies
    meshes = subscribe(ros_node, "meshes", MarkerArray)
    tf = subscribe(ros_node, "/tf", TFMessage)
    diagnostics = subscribe(ros_node, "/diagnostics", DiagnosticArray)
    player.play(scene_sets(scene, seed=1), rate_hz=5.0, node=node)
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
