"""A node never dies and never stalls on its input: malformed messages, clock jumps, a silent camera, start-up
errors and Ctrl-C (message conversions and diagnostics without a graph; the rest over real DDS)."""

import signal
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from scorehmr_ros.base.units import NS_PER_S
from scorehmr_ros.msg import MultiViewKeypoints2D, PersonKeypoints2D, SMPLBodyArray, ViewKeypoints2D
from scorehmr_ros.perception.synchronizer import CameraSyncStats
from scorehmr_ros.ros.camera_intake import HEALTH_WINDOW_S, CameraHealth
from scorehmr_ros.ros.common import ThrottledWarnings
from scorehmr_ros.ros.diagnostics import camera_status
from scorehmr_ros.ros.geometry_conversions import MessageConversionError, ns_to_stamp, stamp_to_ns
from scorehmr_ros.ros.image_conversions import numpy_to_image
from scorehmr_ros.ros.keypoint_conversions import (
    MAX_PEOPLE_PER_VIEW,
    msg_to_detections,
    msg_to_observation,
    observation_to_msg,
)

from ros_harness import wait_until


# -- throttled warnings -------------------------------------------------------------------------------
def test_a_suppressed_count_is_never_attached_to_another_text():
    logged, now = [], [0.0]
    warnings = ThrottledWarnings(log=logged.append, period_s=5.0, clock=lambda: now[0])
    for _ in range(5):  # NaN in five sets: one line, four suppressed
        warnings.warn("keypoints", "bad keypoints message: NaN")
    now[0] = 6.0
    warnings.warn("keypoints", "bad keypoints message: inf")
    assert logged == ["bad keypoints message: NaN", "bad keypoints message: inf (4 other warnings of this kind "
                      "since the last report, the last: bad keypoints message: NaN)"]
    now[0] = 12.0
    warnings.warn("keypoints", "bad keypoints message: inf")
    assert logged[-1] == "bad keypoints message: inf"  # nothing was suppressed meanwhile
    warnings.warn("keypoints", "bad keypoints message: inf")
    now[0] = 18.0
    warnings.warn("keypoints", "bad keypoints message: inf")
    assert logged[-1] == "bad keypoints message: inf (1 more since the last report)"


# -- message conversions ------------------------------------------------------------------------------
def person(joints=25, layout="openpose25", x=None, y=None, confidence=None, box=(10.0, 10.0, 50.0, 90.0)):
    return PersonKeypoints2D(box_xyxy_px=list(box), score=0.9, keypoint_layout=layout,
                             keypoints_x_px=[20.0] * joints if x is None else x,
                             keypoints_y_px=[30.0] * joints if y is None else y,
                             keypoints_confidence=[0.5] * joints if confidence is None else confidence)


def keypoints_msg(*people, width=640, height=480):
    msg = MultiViewKeypoints2D()
    msg.header.stamp.sec = 100
    msg.header.frame_id = "map"
    msg.views = [ViewKeypoints2D(camera_name="cam0", frame_id="cam0_optical_frame", image_width=width,
                                 image_height=height, people=list(people))]
    msg.views[0].image_stamp.sec = 100
    return msg


MALFORMED = {
    "people of different joint counts": (keypoints_msg(person(25), person(17)), "each have 25 values"),
    "x, y and confidence of different lengths": (keypoints_msg(person(x=[1.0] * 24)), "x 24, y 25, confidence 25"),
    "the layout's joint count": (keypoints_msg(person(17)), "each have 25 values for layout 'openpose25'"),
    "an unknown layout": (keypoints_msg(person(layout="body99")), "unknown keypoint layout 'body99'"),
    "two layouts in a view": (keypoints_msg(person(), person(17, layout="coco17")), "different keypoint layouts"),
    "NaN": (keypoints_msg(person(x=[float("nan")] * 25)), "NaN or infinite"),
    "inf box": (keypoints_msg(person(box=(0.0, 0.0, float("inf"), 5.0))), "NaN or infinite"),
    "confidence above 1": (keypoints_msg(person(confidence=[2.0] * 25)), r"confidence must be in \[0, 1\]"),
    "no image size": (keypoints_msg(person(), width=0), "image size 0x480"),
    "too many people": (keypoints_msg(*[person()] * (MAX_PEOPLE_PER_VIEW + 1)), "at most 100"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_every_malformed_keypoints_message_is_one_conversion_error(case):
    msg, expected = MALFORMED[case]
    with pytest.raises(MessageConversionError, match=expected):
        msg_to_observation(msg)


def test_negative_stamps_and_a_duplicate_camera_are_conversion_errors():
    msg = keypoints_msg(person())
    msg.header.stamp.sec = -5
    with pytest.raises(MessageConversionError, match="header.stamp is negative"):
        msg_to_observation(msg)
    msg = keypoints_msg(person())
    msg.views = [msg.views[0], msg.views[0]]
    with pytest.raises(MessageConversionError, match="a camera appears twice"):
        msg_to_observation(msg)


def test_good_messages_round_trip():
    msg = keypoints_msg(person(), person())
    observation = msg_to_observation(msg)
    assert observation.views[0].keypoints.shape == (2, 25, 3)
    assert msg_to_observation(observation_to_msg(observation)).views[0].keypoints.tobytes() == \
        observation.views[0].keypoints.tobytes()
    assert msg_to_observation(keypoints_msg()).views[0].num_people == 0


@pytest.mark.parametrize("box", [(50.0, 10.0, 10.0, 90.0), (10.0, 90.0, 50.0, 10.0), (700.0, 10.0, 800.0, 90.0),
                                 (-90.0, 10.0, -10.0, 90.0), (10.0, 500.0, 50.0, 600.0)])
def test_detections_must_have_ordered_boxes_that_overlap_their_image(box):
    msg = keypoints_msg(person(0, layout="", box=box))
    assert msg_to_observation(msg).views[0].num_people == 1  # a plain observation does not look at the boxes
    with pytest.raises(MessageConversionError, match="box_xyxy_px .* must have x_min < x_max"):
        msg_to_detections(msg)
    assert msg_to_detections(keypoints_msg(person(0, layout="", box=(-5.0, -5.0, 20.0, 20.0)))).views[0].num_people


# -- camera health ------------------------------------------------------------------------------------
def health_of(arrivals_s, sets=()):
    health = CameraHealth(frames=len(arrivals_s))
    health.arrival_times_s.extend(arrivals_s)
    health.sets.extend(sets)
    return health


def test_a_camera_that_stops_is_reported_however_long_it_ran_before():
    arrivals = list(np.arange(0.0, 600.0, 0.1))  # ten minutes at 10 Hz, then nothing
    sync = CameraSyncStats(received=6000, used=6000)
    for now_s, level in ((600.0, DiagnosticStatus.OK), (601.5, DiagnosticStatus.ERROR),
                         (620.0, DiagnosticStatus.ERROR)):
        health = health_of(arrivals)
        health.forget_before(now_s)
        status = camera_status("cam0", health=health, sync=sync, now_s=now_s, silent_after_s=1.0)
        assert status.level == level, (now_s, status.message)
    assert status.message == f"silent: no image for over {HEALTH_WINDOW_S} s"
    health = health_of(arrivals)
    health.forget_before(601.5)
    assert camera_status("cam0", health=health, sync=sync, now_s=601.5, silent_after_s=1.0).message == \
        "silent: no image for 1.6 s"
    assert 9.9 < health.rate_hz() < 10.1


def test_the_share_of_sets_and_rejections_count_recent_ones_only():
    arrivals = list(np.arange(0.0, 100.0, 0.1))
    # in every set for 90 s, then missing from every set: the cumulative share would still be 0.9
    sets = [(t, t < 90.0) for t in arrivals]
    health = health_of(arrivals, sets)
    health.forget_before(100.0)
    status = camera_status("cam0", health=health, sync=CameraSyncStats(used=900, missing_from_sets=100), now_s=100.0,
                           silent_after_s=1.0)
    assert status.level == DiagnosticStatus.WARN and status.message == "in 0% of the recent sets"
    health = health_of(arrivals)
    health.rejected, health.last_problem = 1, "unsupported image encoding 'yuv422'"
    health.rejection_times_s.append(10.0)  # a minute and a half ago
    health.forget_before(100.0)
    assert camera_status("cam0", health=health, sync=CameraSyncStats(), now_s=100.0,
                         silent_after_s=1.0).level == DiagnosticStatus.OK


# -- the executor boundary ---------------------------------------------------------------------------------
@pytest.fixture
def default_context():
    import rclpy

    rclpy.init()
    yield
    rclpy.try_shutdown()


def test_a_callback_that_fails_on_a_message_does_not_stop_the_node(default_context):
    import rclpy

    from scorehmr_ros.ros.common import spin_nodes

    node = rclpy.create_node("failing_callbacks")
    calls = []

    def on_timer():
        calls.append(len(calls))
        if len(calls) <= 3:
            raise ValueError(f"bad message {len(calls)}")
        rclpy.shutdown()  # the fourth call ends the test's spin

    node.create_timer(0.01, on_timer)
    logged = []
    node.get_logger().error = logged.append  # type: ignore[method-assign]
    spin_nodes([node])
    assert len(calls) == 4
    assert logged == ["a callback failed on a message: ValueError: bad message 1; message dropped"]  # throttled


def test_ctrl_c_while_the_executor_builds_its_wait_set_is_a_clean_stop(default_context, monkeypatch):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from scorehmr_ros.ros.common import spin_nodes

    def spin_interrupted(executor):
        # what rclpy does when Ctrl-C's handler shuts the context down between two waits
        rclpy.shutdown()
        raise RuntimeError("failed to initialize wait set: the given context is not valid")

    monkeypatch.setattr(SingleThreadedExecutor, "spin", spin_interrupted)
    spin_nodes([rclpy.create_node("interrupted")])  # returns, no exception


# -- over real DDS --------------------------------------------------------------------------------------
def statuses(diagnostics, suffix):
    return [s for d in diagnostics for s in d.status if s.name.endswith(suffix)]


@pytest.mark.ros
def test_a_silent_camera_shows_in_diagnostics(ros_node, ros_peers):
    node = ros_peers.start_module("scorehmr_ros.ros.nodes.person_detector_node", "--ros-args", "-p",
                                  "cameras:=[cam0,cam1]", "-p", "sync.min_cameras:=1", "-p",
                                  "detector.num_threads:=1", "-p", "diagnostics_period_s:=0.2")
    publishers = {c: ros_node.create_publisher(Image, f"{c}/image_raw", qos_profile_sensor_data)
                  for c in ("cam0", "cam1")}
    diagnostics = []
    ros_node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 50)
    pixels = np.full((48, 64, 3), 90, np.uint8)

    def publish(cameras, back_s=0):
        stamp = ns_to_stamp(ros_node.get_clock().now().nanoseconds - back_s * NS_PER_S)
        for camera in cameras:
            image = numpy_to_image(pixels, encoding="bgr8")
            image.header.stamp, image.header.frame_id = stamp, f"{camera}_optical_frame"
            publishers[camera].publish(image)
        ros_node.spin_once(0.1)

    def both_ok():
        publish(("cam0", "cam1"))
        return any(s.level == DiagnosticStatus.OK for s in statuses(diagnostics[-2:], "camera cam1"))

    wait_until(both_ok, timeout_s=60, what=lambda: f"cam1 reported OK (node log: {node.log()[-2000:]})")
    seen = len(diagnostics)

    def cam1_silent():
        publish(("cam0",))
        return any(s.level == DiagnosticStatus.ERROR and s.message.startswith("silent: no image for")
                   for s in statuses(diagnostics[seen:], "camera cam1"))

    wait_until(cam1_silent, timeout_s=30, what=lambda: f"cam1 reported silent: {statuses(diagnostics[-1:], 'cam1')}")
    assert all(s.level == DiagnosticStatus.OK for s in statuses(diagnostics[-1:], "camera cam0"))
    # the camera driver restarts with a clock an hour behind: one warning, and sets again
    detections = []
    ros_node.create_subscription(MultiViewKeypoints2D, "detections", detections.append, 10)
    jumped_ns = ros_node.get_clock().now().nanoseconds - 1800 * NS_PER_S

    def sets_after_the_jump():
        publish(("cam0", "cam1"), back_s=3600)
        return any(stamp_to_ns(d.header.stamp) < jumped_ns for d in detections)

    wait_until(sets_after_the_jump, timeout_s=30,
               what=lambda: f"sets after the clock went back (node log: {node.log()[-2000:]})")
    assert node.log().count("image stamps went back by more than") == 1
    node.assert_running()


@pytest.mark.ros
def test_a_bad_prior_file_is_one_line_and_exit_status_1(ros_peers, tmp_path):
    prior = tmp_path / "prior.pt"
    prior.write_text("not a checkpoint")
    node = ros_peers.start_module("scorehmr_ros.ros.nodes.scorehmr_node", "--ros-args", "-p", "cameras:=[cam0]",
                                  "-p", f"prior_path:={prior}")
    assert node.process.wait(timeout=120) == 1
    log = node.log()
    assert f"cannot start: {prior}: not a torch checkpoint" in log and "Traceback" not in log, log


def write_rig(path):
    from scorehmr_ros.geometry.rig_io import save_rig
    from scorehmr_ros.geometry.rigs import ring_rig

    rig = ring_rig(num_cameras=4, radius_m=3.5, height_m=2.0, width_px=640, height_px=480, horizontal_fov_deg=60)
    save_rig(rig, path)
    return rig


@pytest.mark.ros
@pytest.mark.slow
def test_every_node_stops_cleanly_on_ctrl_c(ros_node, ros_peers, tmp_path):
    write_rig(tmp_path / "rig.yaml")
    cameras = ("cam0", "cam1")
    # busy callbacks and workers: Ctrl-C then often lands while the executor is between waits (the RCLError case)
    ros_peers.start("publish_cameras.py", "--cameras", ",".join(cameras), "--rate", "30")
    perception = ("cameras:=[cam0,cam1]", "detector.num_threads:=1", "keypoints.num_threads:=1")
    nodes = [*[("perception_node", perception)] * 4, ("person_detector_node", perception[:2]),
             ("keypoint_estimator_node", perception[::2]), ("scorehmr_node", (f"rig_file:={tmp_path / 'rig.yaml'}",))]
    for module, params in nodes:
        args = [arg for param in params for arg in ("-p", param)]
        node = ros_peers.start_module(f"scorehmr_ros.ros.nodes.{module}", "--ros-args", *args)
        wait_until(lambda n=node: "ready:" in n.log() or n.process.poll() is not None, timeout_s=120,
                   what=lambda n=node, m=module: f"{m} ready: {n.log()[-2000:]}")
        node.assert_running()
        time.sleep(2.0)  # let images flow through the node's workers (not a speed assumption: any amount will do)
        node.process.send_signal(signal.SIGINT)
        status = node.process.wait(timeout=30)
        log = node.log()
        assert status == 0 and "Traceback" not in log and "RCLError" not in log, f"{module}: {status}\n{log}"


@pytest.mark.ros
@pytest.mark.slow
def test_the_scorehmr_node_starts_afresh_after_a_jump_ahead_and_a_loop_back(ros_node, ros_peers, tmp_path):
    from scorehmr_ros.assets.paths import ensure_standin_body_model
    from scorehmr_ros.body.body_model import BodyModel
    from scorehmr_ros.pipeline.streaming import StreamingConfig
    from scorehmr_ros.sim.scene import SceneConfig, generate_scene

    from scene_observations import restamped, scene_sets

    rig = write_rig(tmp_path / "rig.yaml")
    scene = generate_scene(config=SceneConfig(num_people=2, num_frames=10, clips=("walk", "run"), seed=3),
                           cameras=rig.cameras, body_model=BodyModel.from_file(ensure_standin_body_model()))
    sets = scene_sets(scene, seed=1)
    node = ros_peers.start_module("scorehmr_ros.ros.nodes.scorehmr_node", "--ros-args", "-p",
                                  f"rig_file:={tmp_path / 'rig.yaml'}", "-p", "diagnostics_period_s:=0.1")
    publisher = ros_node.create_publisher(MultiViewKeypoints2D, "keypoints2d", 10)
    bodies, diagnostics = [], []
    ros_node.create_subscription(SMPLBodyArray, "bodies", bodies.append, 100)
    ros_node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 100)
    wait_until(lambda: publisher.get_subscription_count() > 0 and "ready:" in node.log(), spin=ros_node.spin_once,
               timeout_s=120, what=lambda: f"the node ready (log: {node.log()[-2000:]})")

    def processed() -> int:
        values = [dict((v.key, v.value) for v in s.values) for s in statuses(diagnostics[-1:], "fitting")]
        return int(values[0]["sets processed"]) if values else 0

    published = 0

    def play(timeline):
        """Publish the sets one at a time, each once the node has processed the one before (lock-step)."""
        nonlocal published
        for observation in timeline:
            publisher.publish(observation_to_msg(observation))
            published += 1
            wait_until(lambda count=published: processed() >= count, spin=ros_node.spin_once, timeout_s=60,
                       what=lambda count=published: f"set {count} processed (log: {node.log()[-2000:]})")

    window = StreamingConfig().window
    offsets = (0, sets[-1].stamp_ns - sets[0].stamp_ns + 3600 * NS_PER_S, 0)  # start, an hour ahead, back to the start
    for timeline, offset in enumerate(offsets):
        start_ns = sets[0].stamp_ns + offset
        received = len(bodies)
        play([restamped(s, offset) for s in sets[:window]])
        live = [b for msg in bodies[received:] for b in msg.bodies
                if b.tracking_state != b.TRACKING_STATE_TERMINATED and stamp_to_ns(b.stamp) >= start_ns]
        assert live, f"timeline {timeline}: no bodies within {window} sets (log: {node.log()[-3000:]})"
        play([restamped(s, offset) for s in sets[window:]])
    node.assert_running()
    log = node.log()
    assert log.count("set stamps jumped forward by") == 1 and log.count("set stamps went back by") == 1, log
