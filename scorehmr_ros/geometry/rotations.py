"""Rotation conversions (torch), batched over any leading dimensions.

Conventions match the official ScoreHMR code (docs/scorehmr-reference.md §3, E6):

* rotation matrices act on column vectors, ``x' = R @ x``;
* quaternions are ``(w, x, y, z)``, scalar first;
* the 6D representation is the first two columns of ``R``, column by column:
  ``[R00, R10, R20, R01, R11, R21]`` (Zhou et al., CVPR 2019; the 4D-Humans/HMR2 order,
  not SPIN/PARE's interleaved ``[R00, R01, R10, R11, R20, R21]``);
* axis-angle goes to a matrix through a quaternion, with the angle taken as the norm of
  ``theta + 1e-8`` (the epsilon is added to each component, as in the official code).
"""

from __future__ import annotations

import torch
from torch.nn import functional

#: Added to each axis-angle component before the norm, as the official ``aa_to_rotmat``.
AXIS_ANGLE_EPS = 1e-8
#: Floor of the vector norms in the 6D Gram-Schmidt (``F.normalize``'s default eps).
ROT6D_NORM_EPS = 1e-12


class RotationShapeError(ValueError):
    """A rotation tensor whose trailing dimensions do not match its representation."""


def _check_trailing(name: str, tensor: torch.Tensor, trailing: tuple[int, ...]) -> None:
    if tensor.dim() < len(trailing) or tuple(tensor.shape[-len(trailing):]) != trailing:
        shown = "(..., " + ", ".join(str(s) for s in trailing) + ")"
        raise RotationShapeError(f"{name}: expected shape {shown}, got {tuple(tensor.shape)}")


def quaternion_to_matrix(quaternion_wxyz: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternions (w, x, y, z), normalised here, -> (..., 3, 3) rotation matrices.

    R = [[w²+x²-y²-z², 2xy-2wz, 2wy+2xz], [2wz+2xy, w²-x²+y²-z², 2yz-2wx], [2xz-2wy, 2wx+2yz, w²-x²-y²+z²]]
    """
    _check_trailing("quaternion_wxyz", quaternion_wxyz, (4,))
    q = quaternion_wxyz / quaternion_wxyz.norm(p=2, dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    w2, x2, y2, z2 = w * w, x * x, y * y, z * z
    wx, wy, wz = w * x, w * y, w * z
    xy, xz, yz = x * y, x * z, y * z
    entries = [
        w2 + x2 - y2 - z2, 2 * xy - 2 * wz, 2 * wy + 2 * xz,
        2 * wz + 2 * xy, w2 - x2 + y2 - z2, 2 * yz - 2 * wx,
        2 * xz - 2 * wy, 2 * wx + 2 * yz, w2 - x2 - y2 + z2,
    ]
    return torch.stack(entries, dim=-1).reshape(*q.shape[:-1], 3, 3)


def axis_angle_to_quaternion(axis_angle_rad: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle (axis times angle, radians) -> (..., 4) unit quaternions (w, x, y, z).

    angle = |theta + 1e-8| (official epsilon), q = (cos(angle/2), sin(angle/2) * theta / angle).
    """
    _check_trailing("axis_angle_rad", axis_angle_rad, (3,))
    angle = torch.norm(axis_angle_rad + AXIS_ANGLE_EPS, p=2, dim=-1, keepdim=True)
    axis = axis_angle_rad / angle
    half = 0.5 * angle
    return torch.cat([torch.cos(half), torch.sin(half) * axis], dim=-1)


def axis_angle_to_matrix(axis_angle_rad: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle in radians -> (..., 3, 3) rotation matrices (official: via a quaternion)."""
    return quaternion_to_matrix(axis_angle_to_quaternion(axis_angle_rad))


def matrix_to_quaternion(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions (w, x, y, z) with w >= 0.

    Shepperd's method: the largest of 4w², 4x², 4y², 4z² (from the trace and the diagonal)
    picks the numerically safe formula, so every rotation, including 180 degrees, converts.
    """
    _check_trailing("R", R, (3, 3))
    m00, m01, m02 = R[..., 0, 0], R[..., 0, 1], R[..., 0, 2]
    m10, m11, m12 = R[..., 1, 0], R[..., 1, 1], R[..., 1, 2]
    m20, m21, m22 = R[..., 2, 0], R[..., 2, 1], R[..., 2, 2]
    # 4 q_i² for i = w, x, y, z (clamped: rounding can make them slightly negative).
    four_sq = torch.stack(
        [
            1.0 + m00 + m11 + m22,
            1.0 + m00 - m11 - m22,
            1.0 - m00 + m11 - m22,
            1.0 - m00 - m11 + m22,
        ],
        dim=-1,
    ).clamp_min(0.0)
    # Candidate quaternions, each scaled by 4 q_i (row i divides by the i-th diagonal term).
    candidates = torch.stack(
        [
            torch.stack([four_sq[..., 0], m21 - m12, m02 - m20, m10 - m01], dim=-1),
            torch.stack([m21 - m12, four_sq[..., 1], m10 + m01, m02 + m20], dim=-1),
            torch.stack([m02 - m20, m10 + m01, four_sq[..., 2], m12 + m21], dim=-1),
            torch.stack([m10 - m01, m20 + m02, m21 + m12, four_sq[..., 3]], dim=-1),
        ],
        dim=-2,
    )  # (..., 4 candidates, 4 components)
    best = four_sq.argmax(dim=-1, keepdim=True)  # (..., 1)
    chosen = torch.gather(candidates, -2, best[..., None].expand(*best.shape[:-1], 1, 4)).squeeze(-2)
    q = chosen / chosen.norm(p=2, dim=-1, keepdim=True)
    return torch.where(q[..., :1] < 0, -q, q)


def quaternion_to_axis_angle(quaternion_wxyz: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternions (w, x, y, z) -> (..., 3) axis-angle in radians, angle in [0, pi].

    angle = 2 atan2(|v|, w) for the vector part v, taken with w >= 0; the axis-angle is
    v * angle / |v|, whose small-angle limit 2 v / w is used where |v| is tiny.
    """
    _check_trailing("quaternion_wxyz", quaternion_wxyz, (4,))
    q = quaternion_wxyz / quaternion_wxyz.norm(p=2, dim=-1, keepdim=True)
    q = torch.where(q[..., :1] < 0, -q, q)
    w, v = q[..., :1], q[..., 1:]
    sin_half = v.norm(p=2, dim=-1, keepdim=True)
    angle = 2.0 * torch.atan2(sin_half, w)
    small = sin_half < 1e-6
    safe_sin = torch.where(small, torch.ones_like(sin_half), sin_half)
    # Taylor: angle/sin(angle/2) = 2/w (1 + sin²/(6 w²) ...) near zero; 2/w is exact to 1e-12 there.
    scale = torch.where(small, 2.0 / w, angle / safe_sin)
    return v * scale


def matrix_to_axis_angle(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle in radians, angle in [0, pi]."""
    return quaternion_to_axis_angle(matrix_to_quaternion(R))


def matrix_to_rot6d(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 6): the first two columns, [R00, R10, R20, R01, R11, R21]."""
    _check_trailing("R", R, (3, 3))
    return R[..., :, :2].transpose(-1, -2).reshape(*R.shape[:-2], 6)


def rot6d_to_matrix(x6d: torch.Tensor) -> torch.Tensor:
    """(..., 6) 6D rotations -> (..., 3, 3) rotation matrices by Gram-Schmidt.

    a1 = x[..., :3], a2 = x[..., 3:]; b1 = a1/|a1|; b2 = normalise(a2 - (b1·a2) b1); b3 = b1 × b2;
    R = [b1 b2 b3] as columns. Norms are floored at 1e-12 as ``F.normalize`` does.
    """
    _check_trailing("x6d", x6d, (6,))
    a1, a2 = x6d[..., :3], x6d[..., 3:]
    b1 = functional.normalize(a1, dim=-1, eps=ROT6D_NORM_EPS)
    b2 = functional.normalize(a2 - (b1 * a2).sum(dim=-1, keepdim=True) * b1, dim=-1, eps=ROT6D_NORM_EPS)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


def rot6d_gradient(x6d: torch.Tensor, tangent_gradient: torch.Tensor) -> torch.Tensor:
    """∂L/∂x (..., 6) for R = rot6d_to_matrix(x) from ∂L/∂δ (..., 3), δ the body-frame increment R <- R exp([δ]×).

    Every x maps onto SO(3), so a change dx moves R along its tangent only, by δ = vee(Rᵀ dR); with n1 = |a1|,
    n2 = |a2 - (b1·a2) b1| of the Gram-Schmidt above:
        δ_x = (b3·da2 - (b1·a2)/n1 b3·da1) / n2,   δ_y = -b3·da1 / n1,   δ_z = b2·da1 / n1,
    and ∂L/∂x = (∂δ/∂x)ᵀ ∂L/∂δ. Lets a fitter get the 6D gradient from an analytic chain Jacobian, no autograd.
    """
    _check_trailing("x6d", x6d, (6,))
    _check_trailing("tangent_gradient", tangent_gradient, (3,))
    a1, a2 = x6d[..., :3], x6d[..., 3:]
    n1 = a1.norm(dim=-1, keepdim=True).clamp_min(ROT6D_NORM_EPS)
    b1 = a1 / n1
    along = (b1 * a2).sum(dim=-1, keepdim=True)
    u = a2 - along * b1
    n2 = u.norm(dim=-1, keepdim=True).clamp_min(ROT6D_NORM_EPS)
    b2 = u / n2
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    gx, gy, gz = tangent_gradient[..., :1], tangent_gradient[..., 1:2], tangent_gradient[..., 2:]
    grad_a1 = (gz * b2 - (gy + gx * along / n2) * b3) / n1
    grad_a2 = gx * b3 / n2
    return torch.cat([grad_a1, grad_a2], dim=-1)


#: Newton iterations of :func:`nearest_rotation` at most, checked every second one, before its SVD fallback
#: (near-rotations, e.g. smoothed ones, converge to float32 precision in 2; singular values within a factor ~1.5 of
#: each other in 4).
POLAR_ITERATIONS = 6


def nearest_rotation(matrices: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> the nearest rotations in Frobenius norm (a weighted sum of rotations gives their chordal mean; a
    smoothed or float32 rotation its rotation again).

    The orthogonal polar factor by Newton's iteration X <- (X + X⁻ᵀ) / 2 from X = √3 M / ‖M‖, with X⁻ᵀ from the
    rows' cross products (cofactors): a few elementwise torch calls instead of a batched SVD, faster on the
    streaming fitter's batches. Matrices with det <= 0 or not converged after ``POLAR_ITERATIONS`` take the SVD,
    U diag(1, 1, det(U Vᵀ)) Vᵀ.
    """
    _check_trailing("matrices", matrices, (3, 3))
    shape = matrices.shape
    flat = matrices.reshape(-1, 3, 3)
    X = flat * (3.0**0.5 / flat.flatten(1).norm(dim=1).clamp_min(1e-30))[:, None, None]  # singular values ~1
    tolerance = 1e-5 if flat.dtype == torch.float32 else 1e-10
    eye = torch.eye(3, dtype=X.dtype, device=X.device)
    for iteration in range(1, POLAR_ITERATIONS + 1):
        a, b, c = X[:, 0], X[:, 1], X[:, 2]
        cofactors = torch.stack([torch.linalg.cross(b, c), torch.linalg.cross(c, a), torch.linalg.cross(a, b)], dim=1)
        det = (a * cofactors[:, 0]).sum(dim=-1)  # keeps the sign of det(M)
        X = 0.5 * (X + cofactors / det[:, None, None])
        if iteration % 2 == 0 or iteration == POLAR_ITERATIONS:
            residual = (X.transpose(1, 2) @ X - eye).abs().amax(dim=(1, 2))
            converged = (det > 0) & (residual < tolerance)  # NaN residuals fail
            if bool(converged.all()):
                break
    failed = ~converged
    if bool(failed.any()):
        X = X.clone()
        X[failed] = _nearest_rotation_svd(flat[failed])
    return X.reshape(shape)


def _nearest_rotation_svd(matrices: torch.Tensor) -> torch.Tensor:
    U, _, Vh = torch.linalg.svd(matrices)
    sign = torch.sign(torch.linalg.det(U @ Vh))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    ones = torch.ones_like(sign)
    return U @ torch.diag_embed(torch.stack([ones, ones, sign], dim=-1)) @ Vh
