"""``scorehmr-ros process`` on a bag from a robot whose cameras ride a moving base, written with plain ``rosbags``:
``map -> base_link`` on /tf at 30 Hz, ``base_link -> <cam>_optical_frame`` on /tf_static, CameraInfo and images.

Perception is replaced by an oracle (each image's colour names its frame and camera; the oracle returns the test
bed's simulated keypoints of that view), so the run checks the transforms and the fitting, not BlazePose.
"""

from pathlib import Path

import numpy as np
import pytest
from rclpy.serialization import serialize_message
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from tf2_msgs.msg import TFMessage

from scorehmr_ros.assets.paths import ensure_standin_body_model
from scorehmr_ros.body.body_model import BodyModel
from scorehmr_ros.diffusion.checkpoint import load_diffusion_checkpoint
from scorehmr_ros.perception.backends.types import PersonDetections, PersonKeypoints
from scorehmr_ros.pipeline.body_pipeline import BodyPipeline
from scorehmr_ros.ros.geometry_conversions import (
    camera_to_camera_info,
    matrix_to_transform,
    msg_to_body,
    ns_to_stamp,
    stamp_to_ns,
    transform_to_matrix,
)
from scorehmr_ros.ros.image_conversions import numpy_to_compressed
from scorehmr_ros.ros.offline_processing import ProcessConfig, process_bag
from scorehmr_ros.ros.recording import read_bag

from moving_base import BASE_FRAME, FPS, START_NS, base_pose, body_errors_m, moving_base_scene

PRIOR = Path(__file__).resolve().parents[1] / "scorehmr_ros" / "data" / "priors" / "deepmimic_prior.pt"
TF_RATE_HZ = 30.0
#: MPJPE of ``process`` on the moving base at most this much above the same scene through a fixed rig, metres.
MOVING_MPJPE_MARGIN_M = 0.010


class SceneOracle:
    """Detector and keypoint estimator in one: an image of colour (10 t, 50 v, 0) is frame t of camera v."""

    layout = "openpose25"

    def __init__(self, sets) -> None:
        self.views = {(t, v): view for t, observation in enumerate(sets)
                      for v, view in enumerate(sorted(observation.views, key=lambda view: view.camera))}

    def _view(self, image: np.ndarray):
        return self.views[(round(float(image[..., 0].mean()) / 10), round(float(image[..., 1].mean()) / 50))]

    def detect(self, images_bgr):
        return [PersonDetections(view.boxes_xyxy_px.astype(np.float32), view.scores.astype(np.float32))
                for view in map(self._view, images_bgr)]

    def estimate(self, images_bgr, detections):
        out = []
        for view in map(self._view, images_bgr):
            keypoints = view.keypoints.astype(np.float32)
            out.append(PersonKeypoints(self.layout, keypoints[..., :2], keypoints[..., 2],
                                       view.boxes_xyxy_px.astype(np.float32), view.scores.astype(np.float32)))
        return out


def write_robot_bag(path: Path, scene) -> None:
    """The recording of a robot's drivers, as rosbag2 MCAP written by ``rosbags`` (receive time = stamp + 5-20 ms)."""
    typestore = get_typestore(Stores.ROS2_KILTED)
    frames = len(scene.moving_sets)
    messages = []  # (receive ns, topic, type, rclpy message)
    static = TFMessage(transforms=[
        matrix_to_transform(camera.T_world_cam, parent_frame=BASE_FRAME, child_frame=camera.frame_id, stamp_ns=0)
        for camera in scene.cameras_base])  # the rig's cameras carry T_cam_base: their "world" is base_link
    messages.append((START_NS - 10**9, "/tf_static", "tf2_msgs/msg/TFMessage", static))
    period_ns = round(1e9 / TF_RATE_HZ)
    for k in range(-6, round((frames - 1) / FPS * TF_RATE_HZ) + 7):  # from 0.2 s before to 0.2 s after the images
        stamp = START_NS + k * period_ns
        transform = matrix_to_transform(base_pose((stamp - START_NS) * 1e-9), parent_frame="map",
                                        child_frame=BASE_FRAME, stamp_ns=stamp)
        messages.append((stamp + 2_000_000, "/tf", "tf2_msgs/msg/TFMessage", TFMessage(transforms=[transform])))
    for t in range(frames):
        stamp = START_NS + round(t * 1e9 / FPS)
        for v, camera in enumerate(scene.cameras_base):
            image = np.zeros((camera.height_px, camera.width_px, 3), np.uint8)
            image[..., 0], image[..., 1] = 10 * t, 50 * v
            msg = numpy_to_compressed(image, encoding="bgr8", fmt="png")
            msg.header.stamp, msg.header.frame_id = ns_to_stamp(stamp), camera.frame_id
            arrival = stamp + (5 + 5 * v) * 1_000_000
            messages.append((arrival, f"/{camera.name}/image_raw/compressed", "sensor_msgs/msg/CompressedImage", msg))
            messages.append((arrival, f"/{camera.name}/camera_info", "sensor_msgs/msg/CameraInfo",
                             camera_to_camera_info(camera, stamp_ns=stamp)))
    writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
    with writer:
        connections = {}
        for receive_ns, topic, msg_type, msg in sorted(messages, key=lambda item: item[0]):
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, msg_type, typestore=typestore)
            writer.write(connections[topic], receive_ns, serialize_message(msg))


@pytest.fixture(scope="module")
def scene():
    return moving_base_scene(BodyModel.from_file(ensure_standin_body_model()))


@pytest.fixture(scope="module")
def fixed_mpjpe_m(scene) -> float:
    """The same scene through BodyPipeline with the rig held fixed."""
    body_model = BodyModel.from_file(ensure_standin_body_model())
    pipeline = BodyPipeline(cameras=scene.cameras_base, diffusion=load_diffusion_checkpoint(PRIOR),
                            body_model=body_model)
    bodies = [b for observation in scene.fixed_sets for b in pipeline.process(observation).bodies]
    bodies += [b for fitted in pipeline.flush() for b in fitted.bodies]
    return float(body_errors_m(bodies, scene.fixed_sets, scene.smpl_joints_world_m).mean())


def test_process_poses_each_set_from_tf_and_keeps_the_chain(tmp_path, scene, fixed_mpjpe_m, record_property):
    source, output = tmp_path / "robot", tmp_path / "out"
    write_robot_bag(source, scene)
    oracle = SceneOracle(scene.moving_sets)
    summary = process_bag(source, output, config=ProcessConfig(progress=False, min_cameras=4), detector=oracle,
                          estimator=oracle)
    assert summary.sets == len(scene.moving_sets) and "no_camera_pose" not in summary.bad, summary.line()

    bodies = [msg_to_body(body) for m in read_bag(output, topics=["/humans/bodies"]) for body in m.message.bodies]
    errors = body_errors_m(bodies, scene.moving_sets, scene.smpl_joints_world_m)
    mpjpe_m = float(errors.mean())
    record_property("moving_mpjpe_mm", round(mpjpe_m * 1e3, 1))
    record_property("fixed_mpjpe_mm", round(fixed_mpjpe_m * 1e3, 1))
    assert len(bodies) >= 2 * 20
    assert mpjpe_m <= fixed_mpjpe_m + MOVING_MPJPE_MARGIN_M, (
        f"MPJPE moving {mpjpe_m * 1e3:.1f} mm, fixed {fixed_mpjpe_m * 1e3:.1f} mm")
    assert len({b.track_id for b in bodies}) == 2  # one id per person, no ghost from the ego-motion

    # the output carries the input's chain: base_link -> cameras static, map -> base_link on /tf
    (static,) = [m.message for m in read_bag(output, topics=["/tf_static"])]
    assert {(t.header.frame_id, t.child_frame_id) for t in static.transforms} == {
        (BASE_FRAME, camera.frame_id) for camera in scene.cameras_base}
    base = [(stamp_to_ns(t.header.stamp), transform_to_matrix(t)) for m in read_bag(output, topics=["/tf"])
            for t in m.message.transforms if t.child_frame_id == BASE_FRAME]
    assert len(base) >= (len(scene.moving_sets) - 1) / FPS * TF_RATE_HZ
    stamp, T = base[len(base) // 2]
    np.testing.assert_allclose(T, base_pose((stamp - START_NS) * 1e-9), atol=1e-6)
    assert not np.allclose(base[0][1], base[-1][1], atol=0.5)  # it did move

