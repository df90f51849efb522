"""Rigid transforms and quaternions in numpy (float64), for frames, TF and messages.

This is the package's one quaternion API, (x, y, z, w) as geometry_msgs/Quaternion and tf2 order them; files
that store another order (DeepMimic clips, w first) are reordered where they are read. The only other
quaternions are internal to the official axis-angle -> matrix conversion in ``geometry/rotations.py`` (torch),
which keeps the official code's w-first order so that its golden test compares like with like.
"""

from __future__ import annotations

import numpy as np

from scorehmr_ros.base.arrays import checked_array


class TransformError(ValueError):
    """A rotation, quaternion or transform that is not valid (NaN, zero norm, not rigid)."""


def quaternion_xyzw_to_matrix(quaternion_xyzw: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions (x, y, z, w) -> (..., 3, 3) rotation matrices.

    Non-unit quaternions are normalised (:func:`normalize_quaternion_xyzw`; the matrix does not depend on the sign);
    zero or non-finite ones raise TransformError.
    """
    x, y, z, w = np.moveaxis(normalize_quaternion_xyzw(quaternion_xyzw), -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], axis=-1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], axis=-1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], axis=-1),
        ],
        axis=-2,
    )


def normalize_quaternion_xyzw(quaternion_xyzw: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions (x, y, z, w) -> the same rotations as unit quaternions with w >= 0.

    Zero or non-finite quaternions raise TransformError.
    """
    q = np.asarray(quaternion_xyzw, dtype=np.float64)
    if q.shape[-1:] != (4,):
        raise TransformError(f"quaternion: expected shape (..., 4), got {q.shape}")
    if not np.all(np.isfinite(q)):
        raise TransformError("quaternion: contains NaN or infinite values")
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    if np.any(norm < 1e-12):
        raise TransformError("quaternion: zero norm, not a rotation")
    q = q / norm
    return np.where(q[..., 3:] < 0, -q, q)


#: Quaternions closer than this (1 - |cos|) are interpolated linearly (slerp's sine ratio is 0/0 there).
_SLERP_LINEAR_BELOW = 1e-9


def slerp_xyzw(q0_xyzw: np.ndarray, q1_xyzw: np.ndarray, fraction: np.ndarray | float) -> np.ndarray:
    """Spherical linear interpolation of (..., 4) quaternions (x, y, z, w) along the shorter arc.

    q(s) = sin((1 - s) θ) / sin θ · q0 + sin(s θ) / sin θ · q1, cos θ = |q0 · q1| (q1 negated when q0 · q1 < 0: q and
    -q are one rotation); linear and renormalised where θ is tiny. ``fraction`` s broadcasts against (...,);
    s = 0 gives q0 and s = 1 gives q1 (up to sign). Returns unit quaternions.
    """
    q0 = normalize_quaternion_xyzw(q0_xyzw)
    q1 = normalize_quaternion_xyzw(q1_xyzw)
    s = np.asarray(fraction, dtype=np.float64)[..., None]
    cos = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(cos < 0.0, -q1, q1)
    cos = np.minimum(np.abs(cos), 1.0)
    near = 1.0 - cos < _SLERP_LINEAR_BELOW
    angle = np.arccos(cos)
    sin = np.where(near, 1.0, np.sin(angle))
    w0 = np.where(near, 1.0 - s, np.sin((1.0 - s) * angle) / sin)
    w1 = np.where(near, s, np.sin(s * angle) / sin)
    q = w0 * q0 + w1 * q1
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def matrix_to_quaternion_xyzw(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions (x, y, z, w) with w >= 0.

    Shepperd's method: pick the largest of (trace, R00, R11, R22) for numerical stability.
    """
    R = np.asarray(R, dtype=np.float64)
    if R.shape[-2:] != (3, 3):
        raise TransformError(f"rotation: expected shape (..., 3, 3), got {R.shape}")
    if not np.all(np.isfinite(R)):
        raise TransformError("rotation: contains NaN or infinite values")
    m = R.reshape(-1, 3, 3)
    trace = m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]
    diag = np.stack([trace, m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], axis=-1)
    case = np.argmax(diag, axis=-1)
    q = np.empty((m.shape[0], 4))
    for index in range(4):
        sel = case == index
        if not np.any(sel):
            continue
        r = m[sel]
        if index == 0:
            s = 2.0 * np.sqrt(1.0 + trace[sel])
            q[sel] = np.stack([(r[:, 2, 1] - r[:, 1, 2]) / s, (r[:, 0, 2] - r[:, 2, 0]) / s,
                               (r[:, 1, 0] - r[:, 0, 1]) / s, 0.25 * s], axis=-1)
        else:
            i = index - 1
            j, k = (i + 1) % 3, (i + 2) % 3
            s = 2.0 * np.sqrt(np.maximum(1.0 + r[:, i, i] - r[:, j, j] - r[:, k, k], 1e-300))
            part = np.empty((r.shape[0], 4))
            part[:, i] = 0.25 * s
            part[:, j] = (r[:, j, i] + r[:, i, j]) / s
            part[:, k] = (r[:, k, i] + r[:, i, k]) / s
            part[:, 3] = (r[:, k, j] - r[:, j, k]) / s
            q[sel] = part
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    q *= np.where(q[:, 3:4] < 0, -1.0, 1.0)
    return q.reshape(R.shape[:-2] + (4,))


def make_transform(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(3, 3) rotation and (3,) translation -> (4, 4) homogeneous transform."""
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = t
    return T


def rigid_transform_checks(T: np.ndarray, *, atol: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """For (..., 4, 4) finite float transforms: (rotation_ok (...), last_row_ok (...)). The rotation block R is one
    when R Rᵀ is close to I (``np.allclose``'s test elementwise: |R Rᵀ - I| <= atol + 1e-5 |I|) and det R > 0; the
    last row when it is close to [0, 0, 0, 1] (``np.allclose``'s default tolerances)."""
    R = T[..., :3, :3]
    eye, last_row = np.eye(3), np.array([0.0, 0.0, 0.0, 1.0])
    rotation_ok = (np.all(np.abs(R @ np.swapaxes(R, -1, -2) - eye) <= atol + 1e-5 * eye, axis=(-2, -1))
                   & (np.linalg.det(R) > 0))
    last_row_ok = np.all(np.abs(T[..., 3, :] - last_row) <= 1e-8 + 1e-5 * last_row, axis=-1)
    return rotation_ok, last_row_ok


def check_rigid_transform(T: np.ndarray, *, name: str = "transform", atol: float = 1e-6) -> np.ndarray:
    """Validate a (4, 4) rigid transform and return it as float64; raise TransformError otherwise."""
    T = checked_array(name, T, (4, 4), error=TransformError)
    rotation_ok, last_row_ok = rigid_transform_checks(T, atol=atol)
    if not rotation_ok:
        raise TransformError(f"{name}: upper-left 3x3 block is not a rotation matrix")
    if not last_row_ok:
        raise TransformError(f"{name}: last row must be [0, 0, 0, 1], got {T[3].tolist()}")
    return T


def invert_transform(T: np.ndarray) -> np.ndarray:
    """Inverse of a (4, 4) rigid transform."""
    R, t = T[:3, :3], T[:3, 3]
    return make_transform(R.T, -R.T @ t)
