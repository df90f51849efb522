"""Small numpy rotation-matrix helpers (matrices act on columns), batched over any leading dims.

Quaternions live in ``geometry/transforms.py`` (x, y, z, w), the package's one quaternion API; the torch
rotations used inside the fitter live in ``geometry/rotations.py``.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

#: Below this norm a direction has no direction.
_MIN_DIRECTION_NORM = 1e-8


class RotationError(ValueError):
    """A rotation input that cannot be interpreted (zero direction, wrong shape)."""


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
    if np.linalg.norm(a) < _MIN_DIRECTION_NORM or np.linalg.norm(b) < _MIN_DIRECTION_NORM:
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


def nearest_rotation(matrices: np.ndarray) -> np.ndarray:
    """(..., 3, 3) nearly orthonormal matrices (e.g. float32 fits) -> the nearest rotations in Frobenius norm, float64
    (the numpy twin of ``rotations.nearest_rotation``)."""
    u, _, vt = np.linalg.svd(np.asarray(matrices, dtype=np.float64))
    rotations = u @ vt
    flip = np.linalg.det(rotations) < 0
    if np.any(flip):
        u[flip, :, -1] *= -1
        rotations = u @ vt
    return rotations
