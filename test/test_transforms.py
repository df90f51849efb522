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
