"""The scorehmr node in its own process, over real DDS, with its cameras on a moving base: CameraInfo,
``base_link -> <cam>_optical_frame`` on /tf_static and ``map -> base_link`` on /tf at 30 Hz from this test; the
node looks every camera up at each set's stamps. Keypoint sets are paced: set k goes out only after the bodies of
set k - lag came back, and /tf always reaches 0.2 s past the set, so nothing depends on the machine's speed."""

from dataclasses import replace

import numpy as np
import pytest
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo
from tf2_msgs.msg import TFMessage

from scorehmr_ros.assets.paths import ensure_standin_body_model
from scorehmr_ros.body.body_model import BodyModel
from scorehmr_ros.body.body_state import TrackingState
from scorehmr_ros.msg import MultiViewKeypoints2D, SMPLBodyArray
from scorehmr_ros.perception.observations import MultiViewObservation
from scorehmr_ros.pipeline.body_pipeline import load_fitting_models
from scorehmr_ros.pipeline.streaming import StreamingConfig
from scorehmr_ros.ros.geometry_conversions import camera_to_camera_info, matrix_to_transform, msg_to_body, stamp_to_ns
from scorehmr_ros.ros.keypoint_conversions import observation_to_msg

from moving_base import BASE_FRAME, START_NS, base_pose, body_errors_m, moving_base_scene
from ros_harness import wait_until

pytestmark = [pytest.mark.ros, pytest.mark.slow]

NODE = "scorehmr_ros.ros.nodes.scorehmr_node"
TF_PERIOD_NS = round(1e9 / 30.0)
TF_AHEAD_NS = 200_000_000  # /tf published this far past each set's stamp before the set
#: The node's MPJPE on the moving base at most this much above the same scene through a fixed rig (the same
#: pipeline in this process, same sets), metres.
MOVING_MPJPE_MARGIN_M = 0.010


def empty_set(template: MultiViewObservation, stamp_ns: int) -> MultiViewObservation:
    """A set in which every camera sees nobody (a probe that makes the node calibrate)."""
    views = tuple(replace(view, image_stamp_ns=stamp_ns, boxes_xyxy_px=np.zeros((0, 4)), scores=np.zeros(0),
                          keypoints=np.zeros((0, 25, 3))) for view in template.views)
    return MultiViewObservation(stamp_ns=stamp_ns, frame_id=template.frame_id, views=views, missing_cameras=())


@pytest.fixture(scope="module")
def scene_and_fixed_run():
    """The moving-base scene, and the fixed-rig bodies of the same scene through the node's pipeline here."""
    models = load_fitting_models()
    scene = moving_base_scene(BodyModel.from_file(ensure_standin_body_model()))
    pipeline = models.make_pipeline(scene.cameras_base)
    fixed = [b for observation in scene.fixed_sets for b in pipeline.process(observation).bodies]
    return scene, fixed


def test_node_fits_bodies_in_map_while_the_cameras_drive_and_turn(ros_node, ros_peers, scene_and_fixed_run,
                                                                   record_property):
    scene, fixed_bodies = scene_and_fixed_run
    cameras = scene.cameras_base
    node = ros_peers.start_module(NODE, "--ros-args", "-p", f"cameras:=[{','.join(c.name for c in cameras)}]",
                                  "-p", "processing_queue:=8")
    received: list[SMPLBodyArray] = []
    ros_node.create_subscription(SMPLBodyArray, "bodies", received.append, 100)
    keypoints = ros_node.create_publisher(MultiViewKeypoints2D, "keypoints2d", 10)
    infos = {c.name: ros_node.create_publisher(CameraInfo, f"{c.name}/camera_info", 1) for c in cameras}
    latched = QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)
    tf_static = ros_node.create_publisher(TFMessage, "/tf_static", latched)
    tf = ros_node.create_publisher(TFMessage, "/tf", 100)
    tf_static.publish(TFMessage(transforms=[
        matrix_to_transform(c.T_world_cam, parent_frame=BASE_FRAME, child_frame=c.frame_id, stamp_ns=0)
        for c in cameras]))  # the rig's cameras carry T_cam_base
    wait_until(lambda: keypoints.get_subscription_count() and tf.get_subscription_count()
               and all(p.get_subscription_count() for p in infos.values()), spin=ros_node.spin_once, timeout_s=180,
               what=lambda: f"the node's subscriptions (node log: {node.log()[-3000:]})")

    next_tf = [START_NS - 10**9]

    def publish_tf_until(stamp_ns: int) -> None:
        while next_tf[0] <= stamp_ns:
            tf.publish(TFMessage(transforms=[matrix_to_transform(
                base_pose((next_tf[0] - START_NS) * 1e-9), parent_frame="map", child_frame=BASE_FRAME,
                stamp_ns=next_tf[0])]))
            next_tf[0] += TF_PERIOD_NS

    # Calibrate: CameraInfo + TF, then empty probe sets (before the scene) until the node says it calibrated.
    probe = 0
    publish_tf_until(START_NS - 500_000_000)
    while "rig calibrated from CameraInfo + TF" not in node.log():
        node.assert_running()
        assert probe < 400, f"the node did not calibrate (node log: {node.log()[-3000:]})"
        for camera in cameras:
            infos[camera.name].publish(camera_to_camera_info(camera, stamp_ns=START_NS))
        keypoints.publish(observation_to_msg(empty_set(scene.moving_sets[0], START_NS - 900_000_000 + probe * 10**6)))
        probe += 1
        for _ in range(10):
            ros_node.spin_once(0.02)

    lag = StreamingConfig().lag
    sets = scene.moving_sets
    stamps = [observation.stamp_ns for observation in sets]

    def released(k: int) -> bool:
        return any(stamp_to_ns(msg.header.stamp) >= stamps[k] for msg in received)

    for k, observation in enumerate(sets):
        publish_tf_until(observation.stamp_ns + TF_AHEAD_NS)
        keypoints.publish(observation_to_msg(observation))
        if k >= lag:
            wait_until(lambda k=k: released(k - lag), spin=ros_node.spin_once, timeout_s=120,
                       what=lambda k=k: f"the bodies of set {k - lag} (node log: {node.log()[-3000:]})")
    node.assert_running()
    assert "no camera poses" not in node.log(), node.log()[-3000:]

    last = stamps[len(sets) - 1 - lag]  # sets after it stay in the fixed lag (a live node never flushes)
    bodies = [msg_to_body(body) for msg in received for body in msg.bodies]
    bodies = [b for b in bodies if START_NS <= b.stamp_ns <= last and b.tracking_state != TrackingState.TERMINATED]
    assert len(bodies) >= 2 * (len(sets) - lag - 3), f"only {len(bodies)} bodies"
    errors = body_errors_m(bodies, sets, scene.smpl_joints_world_m)
    fixed = [b for b in fixed_bodies if b.stamp_ns <= last]
    fixed_mpjpe = float(body_errors_m(fixed, scene.fixed_sets, scene.smpl_joints_world_m).mean())
    record_property("node_moving_mpjpe_mm", round(float(errors.mean()) * 1e3, 1))
    record_property("fixed_mpjpe_mm", round(fixed_mpjpe * 1e3, 1))
    assert errors.mean() <= fixed_mpjpe + MOVING_MPJPE_MARGIN_M, (
        f"MPJPE moving {errors.mean() * 1e3:.1f} mm, fixed {fixed_mpjpe * 1e3:.1f} mm")

    # ids: one per person; the person standing still stands still in map while the base drives 2 m and turns 50°
    frame_of = {stamp: t for t, stamp in enumerate(stamps)}
    person_of_track: dict[int, set[int]] = {}
    for body in bodies:
        truth = scene.smpl_joints_world_m[:, frame_of[body.stamp_ns]]
        nearest = int(np.argmin(np.linalg.norm(truth - body.joints_world_m[None], axis=-1).mean(axis=1)))
        person_of_track.setdefault(body.track_id, set()).add(nearest)
    assert len(person_of_track) == 2 and all(len(p) == 1 for p in person_of_track.values()), person_of_track
    standing = int(np.flatnonzero(scene.standing)[0])
    track = next(t for t, persons in person_of_track.items() if persons == {standing})
    pelvis = np.array([b.joints_world_m[0] for b in bodies if b.track_id == track])
    assert np.linalg.norm(pelvis - pelvis.mean(axis=0), axis=1).max() < 0.05

    # a set beyond the /tf received so far (and none comes): dropped after tf_timeout_s with a warning naming the
    # edge; the node lives on
    late = sets[-1].stamp_ns + 2 * TF_AHEAD_NS + 10**9
    keypoints.publish(observation_to_msg(empty_set(sets[-1], late)))
    wait_until(lambda: f"no camera poses at the set's stamp {late}" in node.log(), spin=ros_node.spin_once,
               timeout_s=60, what=lambda: f"the dropped-set warning (node log: {node.log()[-3000:]})")
    assert f"map -> {BASE_FRAME}" in node.log() and "would extrapolate" in node.log()
    node.assert_running()
