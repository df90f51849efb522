"""Fuzz: randomly malformed messages of every input type to every node, interleaved with good sets (seeded).

One process per node, each in its own namespace: scorehmr (keypoints2d, camera_info, /tf, /tf_static), perception
(raw images, camera_info), person_detector (compressed images) and keypoint_estimator (detections, raw images).
Lock-step: after each bad message the test waits until the node's /diagnostics count that message's kind of
warning once more (each bad message is a warning), after each good set until its output is out (good sets after
bad ones are still processed). At the end every node is alive and answers a good set.
"""

import array

import cv2
import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import TransformStamped
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from tf2_msgs.msg import TFMessage

from scorehmr_ros.assets.paths import ensure_standin_body_model
from scorehmr_ros.base.units import NS_PER_S
from scorehmr_ros.body.body_model import BodyModel
from scorehmr_ros.geometry.camera import Camera
from scorehmr_ros.geometry.rigs import ring_rig
from scorehmr_ros.msg import MultiViewKeypoints2D, PersonKeypoints2D, SMPLBodyArray, ViewKeypoints2D
from scorehmr_ros.ros.geometry_conversions import (
    camera_to_camera_info,
    matrix_to_transform,
    stamp_to_ns,
)
from scorehmr_ros.ros.image_conversions import numpy_to_compressed, numpy_to_image
from scorehmr_ros.ros.keypoint_conversions import MAX_PEOPLE_PER_VIEW, observation_to_msg
from scorehmr_ros.sim.scene import SceneConfig, generate_scene

from ros_harness import wait_until
from scene_observations import restamped, scene_sets

pytestmark = [pytest.mark.ros, pytest.mark.slow]

SEED = 20261202
EVENTS = 300  # bad messages and good sets: about half a minute here
CAMERAS = ("cam0", "cam1")
WIDTH, HEIGHT = 64, 48
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
STATIC = QoSProfile(depth=100, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)


class FuzzedNode:
    """A node process and what its /diagnostics say (stage status ``status_name``)."""

    def __init__(self, peer, status_name, diagnostics):
        self.peer, self.status_name, self.diagnostics = peer, status_name, diagnostics
        self.sent: dict[str, int] = {}  # warning kind -> bad messages of that kind sent

    def values(self) -> dict[str, str]:
        for msg in reversed(self.diagnostics):
            for status in msg.status:
                if status.name == self.status_name:
                    return {value.key: value.value for value in status.values}
        return {}

    def count(self, kind: str) -> int:
        return int(self.values().get(f"warnings {kind}", 0))


# -- message makers ---------------------------------------------------------------------------------------
def image(stamp, camera, *, width=WIDTH, height=HEIGHT):
    msg = numpy_to_image(np.full((height, width, 3), 90, np.uint8), encoding="bgr8")
    msg.header.stamp, msg.header.frame_id = stamp, f"{camera}_optical_frame"
    return msg


def compressed(stamp, camera, *, width=WIDTH, height=HEIGHT):
    msg = numpy_to_compressed(np.full((height, width, 3), 90, np.uint8), encoding="bgr8")
    msg.header.stamp, msg.header.frame_id = stamp, f"{camera}_optical_frame"
    return msg


def info(camera, *, width=WIDTH, height=HEIGHT):
    return camera_to_camera_info(Camera(name=camera, K=np.array([[50.0, 0, width / 2], [0, 50.0, height / 2],
                                                                 [0, 0, 1]]), width_px=width, height_px=height))


def bad_raw_image(rng, stamp, camera):
    """(message, warning kind) for a malformed sensor_msgs/Image."""
    msg = image(stamp, camera)
    variant = rng.integers(5)
    if variant == 0:
        msg.encoding = "yuv422"
    elif variant == 1:
        msg.data = msg.data[:-7]
    elif variant == 2:
        msg.step = 10
    elif variant == 3:
        msg.width = msg.height = 0
        msg.data = array.array("B")
    else:
        return image(stamp, camera, width=WIDTH // 2, height=HEIGHT // 2), f"{camera}:size"
    return msg, f"{camera}:decode"


def bad_compressed_image(rng, stamp, camera):
    msg = compressed(stamp, camera)
    variant = rng.integers(5)
    if variant == 0:
        msg.data = array.array("B", rng.integers(0, 256, 500, dtype=np.uint8).tobytes())
    elif variant == 1:
        msg.format = "webp"
    elif variant == 2:
        msg.data = array.array("B")
    elif variant == 3:
        ok, png = cv2.imencode(".png", np.full((HEIGHT, WIDTH), 4000, np.uint16))
        msg.format, msg.data = "mono16; png compressed mono16", array.array("B", png.tobytes())
    else:
        return compressed(stamp, camera, width=WIDTH // 2, height=HEIGHT // 2), f"{camera}:size"
    return msg, f"{camera}:decode"


def bad_fitting_camera_info(rng, camera):
    msg = info(camera)
    variant = rng.integers(5)
    if variant == 0:
        msg.k = [0.0] * 9
    elif variant == 1:
        msg.k = [float("nan")] * 9
    elif variant == 2:
        msg.width = 0
    elif variant == 3:
        msg.distortion_model, msg.d = "plumb_bob", [0.1, 0.2]
    else:
        msg.distortion_model, msg.d = "fisheye", [0.1, 0.2, 0.0, 0.0]
    return msg


def bad_transform(rng, stamp):
    transform = TransformStamped()
    transform.header.stamp, transform.header.frame_id, transform.child_frame_id = stamp, "map", "base_link"
    transform.transform.rotation.w = 1.0
    variant = rng.integers(4)
    if variant == 0:
        transform.transform.translation.x = float("nan")
    elif variant == 1:
        transform.transform.rotation.w = 0.0
    elif variant == 2:
        transform.child_frame_id = ""
    else:
        transform.child_frame_id = "map"
    return TFMessage(transforms=[transform])


def bad_people(rng, msg):
    """Corrupt the people of a keypoints or detections message in place (each variant is a conversion error)."""
    view = msg.views[int(rng.integers(len(msg.views)))]
    if not view.people:
        view.people = [PersonKeypoints2D(box_xyxy_px=[1.0, 1.0, 20.0, 20.0], score=0.5)]
    person = view.people[0]
    variant = rng.integers(6)
    if variant == 0:
        person.keypoint_layout = "coco17"
        person.keypoints_x_px, person.keypoints_y_px = [1.0] * 17, [1.0] * 16
        person.keypoints_confidence = [0.5] * 17
    elif variant == 1:
        view.people = [person, PersonKeypoints2D(box_xyxy_px=[1.0, 1.0, 20.0, 20.0], score=0.5,
                                                 keypoint_layout=person.keypoint_layout or "coco17",
                                                 keypoints_x_px=[1.0] * 3, keypoints_y_px=[1.0] * 3,
                                                 keypoints_confidence=[0.5] * 3)]
    elif variant == 2:
        person.score = float("nan")
    elif variant == 3:
        msg.header.stamp.sec = -3
    elif variant == 4:
        view.image_width = 0
    else:
        view.people = [person] * (MAX_PEOPLE_PER_VIEW + 1)


def detections(stamp, *, box=(5.0, 5.0, 40.0, 40.0)):
    msg = MultiViewKeypoints2D()
    msg.header.stamp, msg.header.frame_id = stamp, "map"
    msg.views = [ViewKeypoints2D(camera_name=c, frame_id=f"{c}_optical_frame", image_stamp=stamp, image_width=WIDTH,
                                 image_height=HEIGHT, people=[PersonKeypoints2D(box_xyxy_px=list(box), score=0.9)])
                 for c in CAMERAS]
    return msg


# -- the test ---------------------------------------------------------------------------------------------
def test_malformed_messages_of_every_type_are_warnings_and_every_node_goes_on(ros_node, ros_peers, tmp_path):
    rng = np.random.default_rng(SEED)
    rig = ring_rig(num_cameras=4, radius_m=3.5, height_m=2.0, width_px=640, height_px=480, horizontal_fov_deg=60)
    scene = generate_scene(config=SceneConfig(num_people=2, num_frames=30, clips=("walk", "run"), seed=3),
                           cameras=rig.cameras, body_model=BodyModel.from_file(ensure_standin_body_model()))
    fitting_sets = scene_sets(scene, seed=1)
    fit_cameras = [camera.name for camera in rig.cameras]

    diagnostics = []
    ros_node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 200)
    perception_params = ["-p", f"cameras:=[{','.join(CAMERAS)}]", "-p", "image_reliability:=reliable",
                         "-p", "diagnostics_period_s:=0.2"]
    fit = FuzzedNode(ros_peers.start_module(
        "scorehmr_ros.ros.nodes.scorehmr_node", "--ros-args", "-r", "__ns:=/fz_fit", "-p",
        f"cameras:=[{','.join(fit_cameras)}]", "-p", "diagnostics_period_s:=0.2"), "scorehmr: fitting", diagnostics)
    perception = FuzzedNode(ros_peers.start_module(
        "scorehmr_ros.ros.nodes.perception_node", "--ros-args", "-r", "__ns:=/fz_perc", *perception_params,
        "-p", "detector.num_threads:=1", "-p", "keypoints.num_threads:=1"), "person_detector: detector", diagnostics)
    detector = FuzzedNode(ros_peers.start_module(
        "scorehmr_ros.ros.nodes.person_detector_node", "--ros-args", "-r", "__ns:=/fz_det", "-r", "__node:=fz_detector",
        *perception_params, "-p", "image_transport:=compressed", "-p", "detector.num_threads:=1"),
        "fz_detector: detector", diagnostics)
    estimator = FuzzedNode(ros_peers.start_module(
        "scorehmr_ros.ros.nodes.keypoint_estimator_node", "--ros-args", "-r", "__ns:=/fz_kpe", "-r",
        "__node:=fz_estimator", *perception_params, "-p", "keypoints.num_threads:=1"),
        "fz_estimator: keypoints", diagnostics)
    nodes = (fit, perception, detector, estimator)

    def publisher(msg_type, topic, qos=RELIABLE):
        return ros_node.create_publisher(msg_type, topic, qos)

    keypoints_in = publisher(MultiViewKeypoints2D, "/fz_fit/keypoints2d")
    fit_info = {c: publisher(CameraInfo, f"/fz_fit/{c}/camera_info") for c in fit_cameras}
    tf, tf_static = publisher(TFMessage, "/tf"), publisher(TFMessage, "/tf_static", STATIC)
    perception_images = {c: publisher(Image, f"/fz_perc/{c}/image_raw") for c in CAMERAS}
    perception_info = {c: publisher(CameraInfo, f"/fz_perc/{c}/camera_info") for c in CAMERAS}
    detector_images = {c: publisher(CompressedImage, f"/fz_det/{c}/image_raw/compressed") for c in CAMERAS}
    detector_info = {c: publisher(CameraInfo, f"/fz_det/{c}/camera_info") for c in CAMERAS}
    estimator_images = {c: publisher(Image, f"/fz_kpe/{c}/image_raw") for c in CAMERAS}
    estimator_info = {c: publisher(CameraInfo, f"/fz_kpe/{c}/camera_info") for c in CAMERAS}
    detections_in = publisher(MultiViewKeypoints2D, "/fz_kpe/detections")
    outputs = {"fit": [], "perception": [], "detector": [], "estimator": []}
    for key, msg_type, topic in (("fit", SMPLBodyArray, "/fz_fit/bodies"),
                                 ("perception", MultiViewKeypoints2D, "/fz_perc/keypoints2d"),
                                 ("detector", MultiViewKeypoints2D, "/fz_det/detections"),
                                 ("estimator", MultiViewKeypoints2D, "/fz_kpe/keypoints2d")):
        ros_node.create_subscription(msg_type, topic, outputs[key].append, 100)

    def logs() -> str:
        return "\n".join(f"--- {n.peer.name}:\n{n.peer.log()[-1500:]}" for n in nodes)

    wait_until(lambda: all("ready:" in n.peer.log() for n in nodes) and keypoints_in.get_subscription_count()
               and detections_in.get_subscription_count() and all(n.values() for n in nodes),
               spin=ros_node.spin_once, timeout_s=180, what=lambda: f"every node ready: {logs()}")
    for camera in rig.cameras:
        fit_info[camera.name].publish(camera_to_camera_info(camera))
    tf_static.publish(TFMessage(transforms=[matrix_to_transform(c.T_world_cam, parent_frame="map",
                                                                child_frame=c.frame_id, stamp_ns=0)
                                            for c in rig.cameras]))
    for camera in CAMERAS:
        for infos in (perception_info, detector_info, estimator_info):
            infos[camera].publish(info(camera))

    def now():
        return ros_node.get_clock().now().to_msg()

    def fitted() -> int:
        return int(fit.values().get("sets processed", 0))

    next_set = [0, 0]  # index into the scene's sets, sets handed to the fitter
    set_offset_ns = stamp_to_ns(now()) - fitting_sets[0].stamp_ns

    def good_fit_set(wait=True):
        index = next_set[0] % len(fitting_sets)
        if index == 0 and next_set[0]:  # the scene again, later: the people jump back to their start
            nonlocal set_offset_ns
            set_offset_ns += fitting_sets[-1].stamp_ns - fitting_sets[0].stamp_ns + NS_PER_S // 5
        next_set[0] += 1
        observation = restamped(fitting_sets[index], set_offset_ns)
        keypoints_in.publish(observation_to_msg(observation))
        if not wait:
            return observation.stamp_ns
        next_set[1] += 1
        expected = next_set[1]
        wait_until(lambda: fitted() >= expected, spin=ros_node.spin_once, timeout_s=60,
                   what=lambda: f"the fitter to process set {expected}: {logs()}")
        return observation.stamp_ns

    def good_image_set(images, make, output):
        stamp = now()
        for camera in CAMERAS:
            images[camera].publish(make(stamp, camera))
        if output is outputs["estimator"]:
            detections_in.publish(detections(stamp))
        wait_until(lambda: any(m.header.stamp == stamp for m in output), spin=ros_node.spin_once, timeout_s=60,
                   what=lambda: f"the output of a good set at {stamp} (outputs so far at "
                                f"{[stamp_to_ns(m.header.stamp) for m in output[-3:]]}): {logs()}")

    def bad(node, kind, send):
        node.sent[kind] = node.sent.get(kind, 0) + 1
        send()
        wait_until(lambda: node.count(kind) >= node.sent[kind], spin=ros_node.spin_once, timeout_s=60,
                   what=lambda: f"warning {kind} #{node.sent[kind]} of {node.peer.name}: {node.values()} {logs()}")

    def bad_keypoints():
        msg = observation_to_msg(restamped(fitting_sets[0], set_offset_ns))
        if rng.integers(4) == 0:  # converts, but does not fit the rig
            msg.header.stamp = msg.views[0].image_stamp = now()
            msg.views[0].camera_name = "cam_unknown"
            next_set[1] += 1  # it reaches the fitter
            bad(fit, "set", lambda: keypoints_in.publish(msg))
            return
        bad_people(rng, msg)
        bad(fit, "keypoints", lambda: keypoints_in.publish(msg))

    def bad_detections():
        msg = detections(now())
        if rng.integers(4) == 0:
            msg.views[0].camera_name = "cam_unknown"
            bad(estimator, "no_image:cam_unknown", lambda: detections_in.publish(msg))
            return
        if rng.integers(2) == 0:
            bad_people(rng, msg)
        else:  # a box that is reversed or outside the image
            msg.views[0].people[0].box_xyxy_px = [40.0, 5.0, 5.0, 40.0] if rng.integers(2) else \
                [WIDTH + 5.0, 5.0, WIDTH + 50.0, 40.0]
        bad(estimator, "detections", lambda: detections_in.publish(msg))

    def bad_images(node, images, infos, maker):
        camera = CAMERAS[int(rng.integers(len(CAMERAS)))]
        if rng.integers(6) == 0:
            msg = info(camera)
            msg.width = msg.height = 0
            bad(node, f"{camera}:camera_info", lambda: infos[camera].publish(msg))
            return
        msg, kind = maker(rng, now(), camera)
        bad(node, kind, lambda: images[camera].publish(msg))

    def bad_fit_info():
        camera = fit_cameras[int(rng.integers(len(fit_cameras)))]
        msg = bad_fitting_camera_info(rng, camera)
        bad(fit, f"camera_info:{camera}", lambda: fit_info[camera].publish(msg))

    def bad_tf():
        msg = bad_transform(rng, now())
        bad(fit, "tf", lambda: (tf_static if rng.integers(2) else tf).publish(msg))

    # the rig is calibrated from CameraInfo + /tf_static (when a set comes) before the fuzz; sets that come before
    # both are dropped uncounted, so the count of sets processed starts from what the node says then
    def calibrated() -> bool:
        good_fit_set(wait=False)
        for _ in range(10):
            ros_node.spin_once(0.03)
        return "rig calibrated" in fit.peer.log()

    wait_until(calibrated, timeout_s=60, what=lambda: f"the fitter calibrated: {logs()}")
    wait_until(lambda: fitted() >= 1, spin=ros_node.spin_once, timeout_s=60, what=lambda: f"a set fitted: {logs()}")
    next_set[1] = fitted()
    events = [
        bad_keypoints, bad_fit_info, bad_tf, bad_detections,
        lambda: bad_images(perception, perception_images, perception_info, bad_raw_image),
        lambda: bad_images(detector, detector_images, detector_info, bad_compressed_image),
        lambda: bad_images(estimator, estimator_images, estimator_info, bad_raw_image),
        good_fit_set, good_fit_set,
        lambda: good_image_set(perception_images, image, outputs["perception"]),
        lambda: good_image_set(detector_images, compressed, outputs["detector"]),
        lambda: good_image_set(estimator_images, image, outputs["estimator"]),
    ]
    for _ in range(EVENTS):
        events[int(rng.integers(len(events)))]()

    # every node alive, every kind of bad input sent and logged, and good sets still processed after all of it
    for node in nodes:
        node.peer.assert_running()
        assert node.sent, f"{node.peer.name} got no bad messages"
        assert "Traceback" not in node.peer.log(), node.peer.log()
    assert {"keypoints", "set", "tf"} <= set(fit.sent) and any(k.startswith("camera_info:") for k in fit.sent)
    for node in (perception, detector, estimator):
        assert any(k.endswith(":decode") for k in node.sent) and any(k.endswith(":size") for k in node.sent)
    fuzz_end_ns = good_fit_set()  # bodies of later sets: fitted after all of the fuzz
    for _ in range(2 * 8):  # two windows at most
        good_fit_set()
        if any(b.tracking_state != b.TRACKING_STATE_TERMINATED and stamp_to_ns(b.stamp) > fuzz_end_ns
               for m in outputs["fit"] for b in m.bodies):
            break
    wait_until(lambda: any(stamp_to_ns(b.stamp) > fuzz_end_ns for m in outputs["fit"] for b in m.bodies),
               spin=ros_node.spin_once, timeout_s=60, what=lambda: f"bodies after the fuzz: {logs()}")
    good_image_set(perception_images, image, outputs["perception"])
    good_image_set(detector_images, compressed, outputs["detector"])
    good_image_set(estimator_images, image, outputs["estimator"])
