"""Small numpy rotation helpers for the simulator (quaternions w, x, y, z; matrices act on columns).

The core's torch rotations live in ``scorehmr_ros.geometry.rotations``; the simulator prepares data
offline in float64 numpy and needs only these few, batched over any leading dims.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

#: Below this norm a quaternion cannot be normalized.
_MIN_QUAT_NORM = 1e-8


class RotationError(ValueError):
    """A rotation input that cannot be interpreted (zero quaternion, wrong shape)."""


def normalize_quaternion(q_wxyz: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions -> unit quaternions with w >= 0 (the same rotation)."""
    q = np.asarray(q_wxyz, dtype=np.float64)
    if q.shape[-1] != 4:
        raise RotationError(f"quaternions: expected shape (..., 4), got {q.shape}")
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    if np.any(norm < _MIN_QUAT_NORM):
        raise RotationError("quaternions: found a zero-length quaternion, which is no rotation")
    q = q / norm
    return np.where(q[..., :1] < 0, -q, q)


def quaternion_to_matrix(q_wxyz: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions (w, x, y, z; normalized here) -> (..., 3, 3) rotation matrices."""
    w, x, y, z = np.moveaxis(normalize_quaternion(q_wxyz), -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], axis=-1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], axis=-1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=-1),
    ], axis=-2)


def matrix_to_quaternion(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions (w, x, y, z), w >= 0."""
    R = np.asarray(R, dtype=np.float64)
    xyzw = Rotation.from_matrix(R.reshape(-1, 3, 3)).as_quat()
    return normalize_quaternion(np.concatenate([xyzw[:, 3:], xyzw[:, :3]], axis=-1)).reshape(R.shape[:-2] + (4,))


def quaternion_multiply(a_wxyz: np.ndarray, b_wxyz: np.ndarray) -> np.ndarray:
    """Hamilton product a * b of (..., 4) quaternions (the rotation b first, then a)."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a_wxyz, dtype=np.float64), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b_wxyz, dtype=np.float64), -1, 0)
    return np.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], axis=-1)


def quaternion_slerp(q0_wxyz: np.ndarray, q1_wxyz: np.ndarray, fraction: np.ndarray) -> np.ndarray:
    """Spherical interpolation between (..., 4) unit quaternions; ``fraction`` (...,) in [0, 1].

    Takes the short way (flips q1 when q0 . q1 < 0); fraction 0 gives q0 exactly, 1 gives q1 exactly
    (up to sign). Falls back to normalized linear interpolation for nearly equal quaternions.
    """
    q0 = normalize_quaternion(q0_wxyz)
    q1 = normalize_quaternion(q1_wxyz)
    s = np.asarray(fraction, dtype=np.float64)[..., None]
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)
    dot = np.clip(np.abs(dot), -1.0, 1.0)
    theta = np.arccos(dot)
    sin_theta = np.sin(theta)
    small = sin_theta < 1e-9
    safe_sin = np.where(small, 1.0, sin_theta)
    w0 = np.where(small, 1.0 - s, np.sin((1.0 - s) * theta) / safe_sin)
    w1 = np.where(small, s, np.sin(s * theta) / safe_sin)
    return normalize_quaternion(w0 * q0 + w1 * q1)


def axis_angle_to_matrix(axis_angle_rad: np.ndarray) -> np.ndarray:
    """(..., 3) rotation vectors (axis * angle, radians) -> (..., 3, 3) matrices."""
    v = np.asarray(axis_angle_rad, dtype=np.float64)
    if v.shape[-1] != 3:
        raise RotationError(f"axis-angle: expected shape (..., 3), got {v.shape}")
    return Rotation.from_rotvec(v.reshape(-1, 3)).as_matrix().reshape(v.shape[:-1] + (3, 3))


def matrix_to_axis_angle(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 3) rotation vectors, radians, angle in [0, pi]."""
    R = np.asarray(R, dtype=np.float64)
    return Rotation.from_matrix(R.reshape(-1, 3, 3)).as_rotvec().reshape(R.shape[:-2] + (3,))


def fractional_rotation(R: np.ndarray, fraction: float) -> np.ndarray:
    """(..., 3, 3) rotations -> the same axis with the angle scaled by ``fraction`` (R^fraction)."""
    return axis_angle_to_matrix(matrix_to_axis_angle(R) * fraction)


def minimal_rotation(from_dir: np.ndarray, to_dir: np.ndarray) -> np.ndarray:
    """(3, 3) rotation of smallest angle taking direction ``from_dir`` (3,) onto ``to_dir`` (3,)."""
    a = np.asarray(from_dir, dtype=np.float64)
    b = np.asarray(to_dir, dtype=np.float64)
    if np.linalg.norm(a) < _MIN_QUAT_NORM or np.linalg.norm(b) < _MIN_QUAT_NORM:
        raise RotationError("minimal_rotation: directions must be non-zero")
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    axis = np.cross(a, b)
    sin_angle = np.linalg.norm(axis)
    cos_angle = float(np.dot(a, b))
    if sin_angle < 1e-12:
        if cos_angle > 0:
            return np.eye(3)
        # Opposite directions: half turn about any axis perpendicular to a.
        helper = np.eye(3)[np.argmin(np.abs(a))]
        axis = np.cross(a, helper)
        return axis_angle_to_matrix(axis / np.linalg.norm(axis) * np.pi)
    return axis_angle_to_matrix(axis / sin_angle * np.arctan2(sin_angle, cos_angle))


def rotation_about_axis(axis: str, angle_rad: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations by ``angle_rad`` (...,) about the coordinate axis "x", "y" or "z"."""
    if axis not in ("x", "y", "z"):
        raise RotationError(f"rotation_about_axis: axis must be 'x', 'y' or 'z', got {axis!r}")
    angle = np.asarray(angle_rad, dtype=np.float64)
    unit = np.zeros(angle.shape + (3,))
    unit[..., "xyz".index(axis)] = 1.0
    return axis_angle_to_matrix(unit * angle[..., None])


def is_rotation(R: np.ndarray, *, atol: float = 1e-6) -> bool:
    """True when every (..., 3, 3) matrix is orthonormal with determinant +1 within ``atol``."""
    R = np.asarray(R, dtype=np.float64)
    identity_error = np.abs(R @ np.swapaxes(R, -1, -2) - np.eye(3)).max(initial=0.0)
    return bool(identity_error < atol and np.all(np.abs(np.linalg.det(R) - 1.0) < atol))
