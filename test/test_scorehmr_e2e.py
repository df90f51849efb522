"""End to end across processes with real DDS: 4 simulated cameras, 2 people crossing paths, cam1 out for 1 s.

A peer publishes the crossing scenario's keypoint sets (scene_observations.crossing_scenario: the detector
error model of the test bed, cam1 missing for 5 sets = 1 s around the crossings) and the ground truth; the
scorehmr node fits them in its own process. Checked: two ids, each following one person through the
crossings and the dropout; TF frames equal to the published joints; MPJPE of the published bodies within
the offline bound (the same sets through the same BodyPipeline in this process) plus MPJPE_MARGIN_M;
meshes at the configured rate.
"""

import time

import numpy as np
import pytest
import torch
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import Marker, MarkerArray

from scorehmr_ros.msg import SMPLBodyArray
from scorehmr_ros.nodes.geometry_conversions import stamp_to_ns, transform_to_matrix
from scorehmr_ros.pipeline import load_fitting_models

from ros_harness import wait_until
from scene_observations import CROSSING_DROPOUT, CROSSING_FPS, CROSSING_FRAMES, crossing_scenario

pytestmark = [pytest.mark.ros, pytest.mark.slow]

NODE = "scorehmr_ros.nodes.scorehmr_node"
#: Allowed MPJPE above the offline bound: the node fits live, so it may drop a set its queue cannot hold
#: (the window then bridges a gap) and it starts from a different warm-up. Offline here: about 30 mm.
MPJPE_MARGIN_M = 0.020
MESH_RATE_HZ = 1.0


def nearest_person(truth_joints_m: np.ndarray, joints_m: np.ndarray) -> tuple[int, float]:
    """(person index, MPJPE in metres) of the ground-truth person (P, 24, 3) nearest to ``joints_m`` (24, 3)."""
    errors = np.linalg.norm(truth_joints_m - joints_m[None], axis=-1).mean(axis=1)
    return int(np.argmin(errors)), float(np.min(errors))


@pytest.fixture(scope="module")
def offline_bound_m() -> float:
    """Mean MPJPE of the crossing scenario through BodyPipeline in this process, with the node's defaults."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the node (torch_threads default)
    try:
        models = load_fitting_models()
        rig, scene, sets = crossing_scenario(models.body_model)
        pipeline = models.make_pipeline(rig.cameras)
        bodies = [body for observation in sets for body in pipeline.process(observation).bodies]
        bodies += pipeline.flush()
    finally:
        torch.set_num_threads(threads)
    frame_of = {observation.stamp_ns: t for t, observation in enumerate(sets)}
    truth = scene.ground_truth.smpl_joints_world_m
    return float(np.mean([nearest_person(truth[:, frame_of[b.stamp_ns]], b.joints_world_m)[1] for b in bodies]))


def test_crossing_people_keep_their_ids_through_a_camera_dropout(ros_node, ros_peers, tmp_path, offline_bound_m,
                                                                 record_property):
    received = {"bodies": [], "meshes": [], "tf": [], "truth": []}  # (receipt monotonic s, msg)

    def keep(kind):
        return lambda msg: received[kind].append((time.monotonic(), msg))

    ros_node.create_subscription(SMPLBodyArray, "bodies", keep("bodies"), 100)
    ros_node.create_subscription(MarkerArray, "meshes", keep("meshes"), 100)
    ros_node.create_subscription(TFMessage, "/tf", keep("tf"), 100)
    ros_node.create_subscription(SMPLBodyArray, "sim/ground_truth", keep("truth"), 100)
    rig_file = tmp_path / "rig.yaml"
    # The peer writes the rig file, then waits for the node's subscription before its first set.
    ros_peers.start("publish_scene_keypoints.py", "--rig-out", str(rig_file), "--scenario", "crossing", "--rate",
                    str(CROSSING_FPS))
    wait_until(rig_file.exists, what="the rig file", timeout_s=60)
    # A queue of 4 sets: a loaded CI machine may stall the node for a moment; the throughput is measured by
    # `scorehmr-ros bench graph`, not here.
    node = ros_peers.start_module(NODE, "--ros-args", "-p", f"rig_file:={rig_file}", "-p",
                                  f"mesh_rate_hz:={MESH_RATE_HZ}", "-p", "processing_queue:=4")
    wait_until(lambda: len(received["truth"]) == CROSSING_FRAMES, spin=ros_node.spin_once, timeout_s=120,
               what=lambda: f"{CROSSING_FRAMES} ground-truth frames (node log: {node.log()[-3000:]})")
    wait_until(lambda: time.monotonic() - max([t for t, _ in received["bodies"]] or [0.0]) > 2.0,
               spin=ros_node.spin_once, timeout_s=30, what="the node to finish its last set")
    node.assert_running()

    truth = {stamp_to_ns(msg.header.stamp): np.array([[(j.x, j.y, j.z) for j in body.joints] for body in msg.bodies])
             for _, msg in received["truth"]}  # stamp -> (P, 24, 3)
    stamps = sorted(truth)
    dropout = set(stamps[CROSSING_DROPOUT[1]:CROSSING_DROPOUT[2]])
    published = [(stamp_to_ns(body.stamp), body) for _, msg in received["bodies"] for body in msg.bodies
                 if body.tracking_state != body.TRACKING_STATE_TERMINATED]
    assert len(published) >= CROSSING_FRAMES, f"only {len(published)} bodies published"

    # Ids: two tracks, each following one person through the crossings and the dropout.
    errors, person_ids = [], {}
    for stamp, body in published:
        joints = np.array([(j.x, j.y, j.z) for j in body.joints])
        person, error = nearest_person(truth[stamp], joints)
        errors.append(error)
        person_ids.setdefault(person, set()).add(body.track_id)
    assert person_ids == {0: person_ids[0], 1: person_ids[1]} and all(len(ids) == 1 for ids in person_ids.values()), (
        f"ground-truth person -> track ids {person_ids}")
    assert person_ids[0] != person_ids[1]
    assert any(stamp in dropout for stamp, _ in published), "no body published for the sets without cam1"

    # Accuracy against the offline bound of the same sets.
    mpjpe_m = float(np.mean(errors))
    record_property("mpjpe_mm", round(mpjpe_m * 1e3, 1))
    record_property("offline_mpjpe_mm", round(offline_bound_m * 1e3, 1))
    assert mpjpe_m <= offline_bound_m + MPJPE_MARGIN_M, (
        f"MPJPE {mpjpe_m * 1e3:.1f} mm > offline {offline_bound_m * 1e3:.1f} mm + {MPJPE_MARGIN_M * 1e3:.0f} mm")

    # TF: map -> body_<id> -> <joint>_<id> equals the published joints of the same stamp; body_<id> at the hips.
    frames = {}  # (stamp, child) -> (parent, 4x4)
    for _, msg in received["tf"]:
        for transform in msg.transforms:
            frames[(stamp_to_ns(transform.header.stamp), transform.child_frame_id)] = (
                transform.header.frame_id, transform_to_matrix(transform))
    checked = 0
    for stamp, body in published:
        parent, T_map_body = frames[(stamp, f"body_{body.track_id}")]
        assert parent == "map"
        joints = np.array([(j.x, j.y, j.z) for j in body.joints])
        np.testing.assert_allclose(T_map_body[:3, 3], joints[[1, 2]].mean(axis=0), atol=1e-4)
        for index, name in ((4, "l_knee"), (20, "l_wrist"), (21, "r_wrist"), (15, "head")):
            parent, T_body_joint = frames[(stamp, f"{name}_{body.track_id}")]
            assert parent == f"body_{body.track_id}"
            np.testing.assert_allclose((T_map_body @ T_body_joint)[:3, 3], joints[index], atol=1e-4)
            checked += 1
    assert checked >= 4 * len(published)

    # Meshes at the configured rate while bodies arrive faster (5 Hz); end-of-track DELETEs come outside it.
    mesh_times = [t for t, msg in received["meshes"] if any(m.action == Marker.ADD for m in msg.markers)]
    assert len(mesh_times) >= 3
    intervals = np.diff(mesh_times)
    rate_hz = (len(mesh_times) - 1) / (mesh_times[-1] - mesh_times[0])
    record_property("mesh_rate_hz", round(rate_hz, 2))
    assert 0.8 * MESH_RATE_HZ <= rate_hz <= 1.1 * MESH_RATE_HZ, f"mesh rate {rate_hz:.2f} Hz"
    assert intervals.min() >= 0.6 / MESH_RATE_HZ, f"mesh intervals {np.round(intervals, 2)} s"
