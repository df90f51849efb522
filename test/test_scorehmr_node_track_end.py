"""The scorehmr node ends every track once, at any camera rate: one TERMINATED body and one mesh DELETE per track.

The test publishes a walk/run scene of two people in lock-step (set k+1 once the node has finished set k, stamps
1 / rate apart on a virtual clock, ``lockstep_play``) at 5, 30 and 60 Hz; person 1 leaves mid-run, and after the
scene nobody is seen for longer than the tracker's timeout (1 s, as config/scorehmr.yaml). Checked: one bodies
array per set, with the set's stamp; each track has exactly one TERMINATED body, its last; each track's mesh gets
exactly one DELETE, stamped like that body; TF never has a track's frame after its end. (The streaming fitter used
to end unseen tracks after 15 sets on its own, before the tracker at rates above 15 Hz: no TERMINATED body, no
mesh DELETE.)
"""

import math
from dataclasses import replace

import numpy as np
import pytest
from rclpy.serialization import deserialize_message
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import Marker, MarkerArray

from scorehmr_ros.assets.paths import ensure_standin_body_model
from scorehmr_ros.body.body_model import BodyModel
from scorehmr_ros.geometry.rig_io import save_rig
from scorehmr_ros.geometry.rigs import ring_rig
from scorehmr_ros.msg import SMPLBody
from scorehmr_ros.pipeline.streaming import StreamingConfig
from scorehmr_ros.ros.geometry_conversions import stamp_to_ns
from scorehmr_ros.sim.scene import SceneConfig, generate_scene

from lockstep_play import LockstepPlayer
from scene_observations import scene_sets

pytestmark = [pytest.mark.ros, pytest.mark.slow]

NODE = "scorehmr_ros.ros.nodes.scorehmr_node"
TIMEOUT_S = 1.0  # tracking.prediction_timeout_s of config/scorehmr.yaml
FRAMES, LEAVES_AT = 12, 5
LAG = StreamingConfig().lag


@pytest.fixture(scope="module")
def scene():
    """(rig, sets): two people walking, person 1 seen by no camera from frame LEAVES_AT on."""
    rig = ring_rig(num_cameras=4, radius_m=3.5, height_m=2.0, width_px=640, height_px=480, horizontal_fov_deg=60)
    scene = generate_scene(config=SceneConfig(num_people=2, num_frames=FRAMES, clips=("walk", "run"), seed=3),
                           cameras=rig.cameras, body_model=BodyModel.from_file(ensure_standin_body_model()))
    detected = scene.observations.detected.copy()  # (T, V, P)
    detected[LEAVES_AT:, :, 1] = False
    return rig, scene_sets(replace(scene, observations=replace(scene.observations, detected=detected)), seed=1)


@pytest.mark.parametrize("rate_hz", [5, 30, 60])
def test_every_ended_track_gets_one_terminated_body_and_one_mesh_delete(ros_node, ros_peers, tmp_path, scene,
                                                                        rate_hz):
    rig, sets = scene
    empty_sets = math.ceil(TIMEOUT_S * rate_hz) + LAG + 2  # both tracks time out, and their sets are released
    nobody = tuple(replace(view, boxes_xyxy_px=np.zeros((0, 4)), scores=np.zeros(0),
                           keypoints=np.zeros((0, *view.keypoints.shape[1:]))) for view in sets[0].views)
    sets = sets + [replace(sets[0], views=nobody)] * empty_sets
    raw = {"meshes": [], "tf": []}  # serialized: deserializing meshes while the node runs would fall behind it
    ros_node.create_subscription(MarkerArray, "meshes", raw["meshes"].append, 1000, raw=True)
    ros_node.create_subscription(TFMessage, "/tf", raw["tf"].append, 1000, raw=True)
    player = LockstepPlayer(ros_node, lag=LAG)
    rig_file = tmp_path / "rig.yaml"
    save_rig(rig, rig_file)
    node = ros_peers.start_module(NODE, "--ros-args", "-p", f"rig_file:={rig_file}", "-p",
                                  f"tracking.prediction_timeout_s:={TIMEOUT_S}", "-p", "processing_queue:=100")
    stamps = player.play(sets, rate_hz=rate_hz, node=node)
    for _ in range(100):  # the TF and meshes of the last sets, published right after their bodies
        ros_node.spin_once()
    node.assert_running()
    meshes = [deserialize_message(data, MarkerArray) for data in raw["meshes"]]
    tf = [deserialize_message(data, TFMessage) for data in raw["tf"]]

    assert [stamp_to_ns(msg.header.stamp) for msg in player.bodies] == stamps[:len(sets) - LAG]
    bodies = []
    for msg in player.bodies:
        assert all(stamp_to_ns(body.stamp) == stamp_to_ns(msg.header.stamp) for body in msg.bodies)
        assert len({body.track_id for body in msg.bodies}) == len(msg.bodies)
        bodies += msg.bodies
    ended = {}  # track id -> stamp of its TERMINATED body
    for track_id in {body.track_id for body in bodies}:
        states = [body.tracking_state for body in bodies if body.track_id == track_id]
        assert states.count(SMPLBody.TRACKING_STATE_TERMINATED) == 1, f"track {track_id}: states {states}"
        assert states[-1] == SMPLBody.TRACKING_STATE_TERMINATED, f"track {track_id}: a body after its end"
        ended[track_id] = max(stamp_to_ns(body.stamp) for body in bodies if body.track_id == track_id)
    assert len(ended) == 2 and len(set(ended.values())) == 2, ended  # person 1 left first

    deletes = [(m.id, stamp_to_ns(m.header.stamp)) for msg in meshes for m in msg.markers
               if m.action == Marker.DELETE]
    assert sorted(deletes) == sorted(ended.items()), f"mesh DELETEs {deletes}, track ends {ended}"
    assert {m.id for msg in meshes for m in msg.markers if m.action == Marker.ADD} == set(ended)
    for msg in tf:
        for transform in msg.transforms:
            track_id = int(transform.child_frame_id.rsplit("_", 1)[1])
            assert stamp_to_ns(transform.header.stamp) < ended[track_id], transform.child_frame_id
