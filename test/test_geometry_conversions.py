"""CameraInfo, TransformStamped, stamps and SMPLBody <-> core types, both ways, and bad inputs."""

import math

import numpy as np
import pytest
from geometry_msgs.msg import Quaternion, TransformStamped
from sensor_msgs.msg import CameraInfo

from scorehmr_ros.body.body_state import BodyEstimate, TrackingState
from scorehmr_ros.geometry.camera import Camera
from scorehmr_ros.geometry.transforms import make_transform, quaternion_xyzw_to_matrix
from scorehmr_ros.msg import SMPLBody
from scorehmr_ros.ros.geometry_conversions import (
    MessageConversionError,
    body_to_msg,
    camera_info_to_camera,
    camera_to_camera_info,
    matrix_to_transform,
    msg_to_body,
    ns_to_stamp,
    stamp_to_ns,
    transform_to_matrix,
)

RNG = np.random.default_rng(1)


def random_rotations(count: int) -> np.ndarray:
    q = RNG.standard_normal((count, 4))
    return quaternion_xyzw_to_matrix(q)


def example_camera_info() -> CameraInfo:
    msg = CameraInfo(width=640, height=480, distortion_model="plumb_bob")
    msg.header.frame_id = "cam0_optical_frame"
    msg.k = [500.0, 0.0, 320.0, 0.0, 505.0, 240.0, 0.0, 0.0, 1.0]
    msg.d = [0.1, -0.05, 0.001, 0.002, 0.01]
    return msg


def test_stamps_round_trip():
    for ns in (0, 1, 999_999_999, 1_700_000_000_123_456_789):
        assert stamp_to_ns(ns_to_stamp(ns)) == ns
    with pytest.raises(MessageConversionError, match="stamp must be >= 0"):
        ns_to_stamp(-1)


def test_camera_info_round_trip_with_pose():
    T_cam_world = make_transform(random_rotations(1)[0], np.array([0.1, -2.0, 3.0]))
    camera = camera_info_to_camera(example_camera_info(), name="cam0", T_cam_world=T_cam_world)
    assert camera.frame_id == "cam0_optical_frame" and camera.distortion_model == "plumb_bob"
    np.testing.assert_allclose(camera.T_cam_world, T_cam_world, atol=1e-12)
    back = camera_info_to_camera(camera_to_camera_info(camera), name="cam0", T_cam_world=T_cam_world)
    np.testing.assert_array_equal(back.K, camera.K)
    np.testing.assert_array_equal(back.distortion, camera.distortion)
    assert (back.width_px, back.height_px) == (640, 480)


def test_camera_projection_matches_pinhole_and_distortion():
    camera = Camera(name="c", K=np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]]), width_px=640, height_px=480)
    np.testing.assert_allclose(camera.project(np.array([[0.2, -0.1, 2.0]])), [[370.0, 215.0]])
    assert np.isnan(camera.project(np.array([0.0, 0.0, -1.0]))).all()
    distorted = Camera(name="c", K=camera.K, width_px=640, height_px=480,
                       distortion_model="plumb_bob", distortion=np.array([0.1, 0, 0, 0, 0]))
    # x = 0.1, r^2 = 0.01 -> x_d = 0.1 * (1 + 0.1 * 0.01) = 0.1001
    np.testing.assert_allclose(distorted.project(np.array([0.2, 0.0, 2.0])), [320 + 500 * 0.1001, 240.0])


def test_camera_info_without_distortion():
    msg = example_camera_info()
    msg.distortion_model, msg.d = "", []
    assert camera_info_to_camera(msg, name="cam0").distortion_model == "none"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("k", [1.0] * 8, "k must have 9 elements, got 8"),
        ("k", [0.0] * 9, "not calibrated"),
        ("k", [500.0, 0, 320, 0, 500, 240, 0, 0, float("nan")], "NaN"),
        ("k", [-500.0, 0, 320, 0, 500, 240, 0, 0, 1], "focal lengths must be > 0"),
        ("d", [0.1, 0.2, 0.3], "plumb_bob needs 5 coefficients in d, got 3"),
        ("d", [0.1, float("nan"), 0, 0, 0], "NaN"),
        ("distortion_model", "equidistant", "distortion model 'equidistant' is not supported"),
        ("width", 0, "image size is 0x480"),
    ],
)
def test_bad_camera_info_is_named(field, value, message):
    msg = example_camera_info()
    setattr(msg, field, value)
    with pytest.raises(MessageConversionError, match=message):
        camera_info_to_camera(msg, name="cam0")


def test_bad_camera_pose_is_named():
    with pytest.raises(MessageConversionError, match="not a rotation matrix"):
        camera_info_to_camera(example_camera_info(), name="cam0", T_cam_world=np.diag([2.0, 1, 1, 1]))


def test_transform_round_trip():
    for R in random_rotations(20):
        T = make_transform(R, RNG.standard_normal(3))
        msg = matrix_to_transform(T, parent_frame="map", child_frame="body_3", stamp_ns=42)
        assert (msg.header.frame_id, msg.child_frame_id, msg.header.stamp.nanosec) == ("map", "body_3", 42)
        np.testing.assert_allclose(transform_to_matrix(msg), T, atol=1e-12)
        np.testing.assert_allclose(transform_to_matrix(msg.transform), T, atol=1e-12)


def test_transform_normalises_quaternion_and_matches_known_rotation():
    msg = TransformStamped()
    msg.transform.rotation = Quaternion(x=0.0, y=0.0, z=2 * math.sin(math.pi / 4), w=2 * math.cos(math.pi / 4))
    R = transform_to_matrix(msg)[:3, :3]  # 90 degrees about z: x -> y
    np.testing.assert_allclose(R @ [1.0, 0, 0], [0, 1.0, 0], atol=1e-12)


def test_bad_transforms_are_named():
    msg = TransformStamped()
    msg.transform.rotation = Quaternion(x=0.0, y=0.0, z=0.0, w=0.0)
    with pytest.raises(MessageConversionError, match="zero norm"):
        transform_to_matrix(msg)
    msg.transform.rotation.w = 1.0
    msg.transform.translation.y = float("nan")
    with pytest.raises(MessageConversionError, match="translation contains NaN"):
        transform_to_matrix(msg)
    with pytest.raises(MessageConversionError, match="not a rotation matrix"):
        matrix_to_transform(np.diag([1.0, 1, -1, 1]), parent_frame="a", child_frame="b", stamp_ns=0)
    with pytest.raises(MessageConversionError, match=r"expected shape \(4, 4\)"):
        matrix_to_transform(np.eye(3), parent_frame="a", child_frame="b", stamp_ns=0)


def example_body(num_joints: int = 24) -> BodyEstimate:
    return BodyEstimate(
        track_id=7, tracking_state=TrackingState.SEARCHING, betas=RNG.standard_normal(10),
        rotations=random_rotations(24), translation_world_m=np.array([1.0, 2.0, 0.9]),
        joints_world_m=RNG.standard_normal((num_joints, 3)), joint_layout="smpl24",
        joint_confidence=RNG.uniform(0, 1, num_joints), fit_residual_px=3.5, num_views=3,
        stamp_ns=1_700_000_000_000_000_001,
    )


def test_body_round_trip():
    body = example_body()
    back = msg_to_body(body_to_msg(body))
    assert (back.track_id, back.tracking_state, back.joint_layout, back.num_views, back.stamp_ns) == (
        7, TrackingState.SEARCHING, "smpl24", 3, body.stamp_ns)
    np.testing.assert_allclose(back.rotations, body.rotations, atol=1e-12)
    np.testing.assert_allclose(back.betas, body.betas, atol=1e-6)  # float32 in the message
    np.testing.assert_allclose(back.joints_world_m, body.joints_world_m, atol=1e-12)
    np.testing.assert_allclose(back.joint_confidence, body.joint_confidence, atol=1e-6)
    np.testing.assert_array_equal(back.translation_world_m, body.translation_world_m)
    assert back.fit_residual_px == pytest.approx(3.5)


def test_bad_body_messages_are_named():
    msg = body_to_msg(example_body())
    msg.joint_confidence = msg.joint_confidence[:-1]
    with pytest.raises(MessageConversionError, match="24 joints but 23 joint_confidence"):
        msg_to_body(msg)
    msg = body_to_msg(example_body())
    msg.tracking_state = 9
    with pytest.raises(MessageConversionError, match="unknown tracking_state 9"):
        msg_to_body(msg)
    msg = body_to_msg(example_body())
    msg.translation.x = float("nan")
    with pytest.raises(MessageConversionError, match="translation_world_m: contains NaN"):
        msg_to_body(msg)
    msg = body_to_msg(example_body())
    msg.joint_rotations[3] = Quaternion(x=0.0, y=0.0, z=0.0, w=0.0)
    with pytest.raises(MessageConversionError, match="zero norm"):
        msg_to_body(msg)
    with pytest.raises(ValueError, match=r"rotations: expected shape \(24, 3, 3\)"):
        BodyEstimate(**{**example_body().__dict__, "rotations": np.zeros((23, 3, 3))})


def test_smpl_body_message_has_fixed_rotation_count():
    assert len(SMPLBody().joint_rotations) == 24
