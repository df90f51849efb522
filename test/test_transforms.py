"""numpy quaternion/matrix conversions: every branch of Shepperd's method, and bad inputs."""

import numpy as np
import pytest

from scorehmr_ros.geometry.transforms import (
    TransformError,
    check_rigid_transform,
    invert_transform,
    make_transform,
    matrix_to_quaternion_xyzw,
    quaternion_xyzw_to_matrix,
)


def test_round_trip_random_and_half_turns():
    rng = np.random.default_rng(0)
    q = rng.standard_normal((200, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    half_turns = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]])
    q = np.concatenate([q, half_turns])  # w = 0 rows exercise the diagonal branches
    R = quaternion_xyzw_to_matrix(q)
    np.testing.assert_allclose(R @ np.swapaxes(R, -1, -2), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
    back = matrix_to_quaternion_xyzw(R)
    same_sign = np.where(np.sum(back * q, axis=1, keepdims=True) < 0, -1.0, 1.0)
    np.testing.assert_allclose(back * same_sign, q, atol=1e-12)
    np.testing.assert_allclose(quaternion_xyzw_to_matrix(back), R, atol=1e-12)


def test_batch_shape_is_kept():
    R = quaternion_xyzw_to_matrix(np.tile([0.0, 0.0, 0.0, 1.0], (2, 3, 1)))
    assert R.shape == (2, 3, 3, 3)
    assert matrix_to_quaternion_xyzw(R).shape == (2, 3, 4)


def test_inverse_transform():
    T = make_transform(quaternion_xyzw_to_matrix(np.array([0.1, 0.2, 0.3, 0.9])), np.array([1.0, -2.0, 0.5]))
    np.testing.assert_allclose(invert_transform(T) @ T, np.eye(4), atol=1e-12)


def test_bad_inputs_are_named():
    with pytest.raises(TransformError, match="zero norm"):
        quaternion_xyzw_to_matrix(np.zeros(4))
    with pytest.raises(TransformError, match=r"expected shape \(\.\.\., 4\)"):
        quaternion_xyzw_to_matrix(np.zeros(3))
    with pytest.raises(TransformError, match="NaN"):
        matrix_to_quaternion_xyzw(np.full((3, 3), np.nan))
    with pytest.raises(TransformError, match="last row"):
        check_rigid_transform(np.vstack([np.eye(4)[:3], [1.0, 0, 0, 1]]))


def test_slerp_is_batched_takes_the_short_arc_and_hits_both_ends():
    from scipy.spatial.transform import Rotation

    from scorehmr_ros.geometry.transforms import normalize_quaternion_xyzw, slerp_xyzw

    q0 = Rotation.from_euler("z", [[0.0], [10.0], [170.0]], degrees=True).as_quat()  # (3, 4) x, y, z, w
    q1 = Rotation.from_euler("z", [[90.0], [10.0], [-170.0]], degrees=True).as_quat()
    half = slerp_xyzw(q0, -q1, np.array([0.5, 0.5, 0.5]))  # -q1: the same rotations, the long way round
    expected = Rotation.from_euler("z", [[45.0], [10.0], [180.0]], degrees=True)
    np.testing.assert_allclose((expected.inv() * Rotation.from_quat(half)).magnitude(), 0.0, atol=1e-9)
    np.testing.assert_allclose(np.abs(np.sum(slerp_xyzw(q0, q1, 0.0) * q0, axis=-1)), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.abs(np.sum(slerp_xyzw(q0, q1, 1.0) * q1, axis=-1)), 1.0, atol=1e-12)
    assert np.all(normalize_quaternion_xyzw(-q0)[:, 3] >= 0)
    with pytest.raises(TransformError, match="zero norm"):
        normalize_quaternion_xyzw(np.zeros(4))
