"""Fast inverse kinematics: triangulated OpenPose-25 joints -> SMPL pose, shape and translation (torch).

Steps (batched over B bodies):
1. ``torso_orientation``: the global orientation from the torso, in closed form: SMPL's canonical body
   frame has x to the body's left, y up, z forward, so G = [l, u, l × u] with l the (right hip -> left hip)
   direction and u the (mid-hip -> neck) direction made orthogonal to l (shoulders stand in for missing hips);
2. ``place_body``: the translation that best aligns the posed joints with the points (weighted mean offset);
3. ``solve_ik``: minimise Σ_j w_j ρ(‖J_j(θ, β) + τ - X_j‖) + λ_θ ‖θ - θ_0‖² + λ_β ‖β‖², with ρ Geman-McClure
   in metres, over (global orientation, body pose, translation, optionally betas) of the reduced body model
   (:class:`~scorehmr_ros.body.keypoint_body.KeypointBody`): a few Adam steps with autograd, or
   Levenberg-Marquardt with analytic Jacobians (:mod:`scorehmr_ros.body.ik_lm`; ``IKConfig.solver``, the
   streaming fitter's choice: more accurate in a tenth of the time, docs/fitting.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from scorehmr_ros.base.config_fields import check_settings, setting
from scorehmr_ros.body.ik_lm import place_body, solve_lm
from scorehmr_ros.body.keypoint_body import KeypointBody
from scorehmr_ros.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle, matrix_to_rot6d, rot6d_to_matrix

# OpenPose-25 indices used by the closed-form orientation.
_NECK, _R_SHOULDER, _L_SHOULDER, _MID_HIP, _R_HIP, _L_HIP = 1, 2, 5, 8, 9, 12
#: World z-up orientation of an upright body facing +y, used where the torso is not seen.
UPRIGHT_ORIENTATION = ((-1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, 1.0, 0.0))


class IKInputError(ValueError):
    """Points or weights of a wrong shape."""


@dataclass(frozen=True)
class IKConfig:
    """Inverse-kinematics settings."""

    solver: str = setting("adam", "Adam with autograd, or Levenberg-Marquardt with analytic Jacobians (converges "
                          "in a few iterations: the streaming fitter's choice, docs/fitting.md)",
                          choices=("adam", "levenberg_marquardt"))
    lm_iterations: int = setting(10, "Levenberg-Marquardt iterations (at most: stops once no body moves)",
                                 minimum=0, maximum=1000)
    iterations: int = setting(40, "Adam steps (solver adam)", minimum=0, maximum=10000)
    learning_rate: float = setting(0.05, "Adam step size", minimum=1e-5, maximum=1.0)
    sigma_m: float = setting(0.1, "Geman-McClure scale of the joint distance", unit="m", minimum=1e-3, maximum=10.0)
    pose_weight: float = setting(1e-3, "weight of ‖θ - θ_0‖² (rad²) against the joint term (m²)", minimum=0.0,
                                 maximum=100.0)
    betas_weight: float = setting(1e-4, "weight of ‖β‖² against the joint term (m²)", minimum=0.0, maximum=100.0)
    optimize_betas: bool = setting(True, "solve for the shape (else keep the initial betas)")

    def validate(self) -> IKConfig:
        check_settings(self)
        return self


@dataclass(frozen=True)
class IKResult:
    """Solved bodies: rotations (B, 24, 3, 3) (global orientation first), betas (B, 10), transl_m (B, 3),
    and the mean joint distance to the valid points per body, residual_m (B,) (NaN without valid points)."""

    rotations: torch.Tensor
    betas: torch.Tensor
    transl_m: torch.Tensor
    residual_m: torch.Tensor


def _normalize(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    norm = v.norm(dim=-1, keepdim=True)
    return v / norm.clamp_min(1e-9), norm[..., 0] > 1e-6


def torso_orientation(points_m: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Step 1: (B, 25, 3) OpenPose-25 points and (B, 25) weights -> (B, 3, 3) global orientation.

    Bodies without a usable torso get :data:`UPRIGHT_ORIENTATION`.
    """
    seen = weights > 0
    points = torch.nan_to_num(points_m)

    def pair(a: int, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        return points[:, b] - points[:, a], seen[:, a] & seen[:, b]

    hips, hips_ok = pair(_R_HIP, _L_HIP)
    shoulders, shoulders_ok = pair(_R_SHOULDER, _L_SHOULDER)
    left = torch.where(hips_ok[:, None], hips, shoulders)
    left_ok = hips_ok | shoulders_ok
    hip_centre = torch.where(hips_ok[:, None], 0.5 * (points[:, _R_HIP] + points[:, _L_HIP]), points[:, _MID_HIP])
    hip_ok = hips_ok | seen[:, _MID_HIP]
    shoulder_centre = torch.where(seen[:, _NECK, None], points[:, _NECK],
                                  0.5 * (points[:, _R_SHOULDER] + points[:, _L_SHOULDER]))
    up_ok = hip_ok & (seen[:, _NECK] | shoulders_ok)
    left, ok_l = _normalize(left)
    up, ok_u = _normalize(shoulder_centre - hip_centre)
    up, ok_u2 = _normalize(up - (up * left).sum(-1, keepdim=True) * left)
    forward = torch.linalg.cross(left, up, dim=-1)
    rotation = torch.stack([left, up, forward], dim=-1)  # columns: canonical x, y, z in the world
    ok = left_ok & up_ok & ok_l & ok_u & ok_u2
    upright = torch.tensor(UPRIGHT_ORIENTATION, dtype=points.dtype, device=points.device)
    return torch.where(ok[:, None, None], rotation, upright)


def solve_ik(body: KeypointBody, *, points_m: torch.Tensor, weights: torch.Tensor,
             init_rotations: torch.Tensor | None = None, init_betas: torch.Tensor | None = None,
             config: IKConfig | None = None) -> IKResult:
    """Step 3: SMPL parameters whose OpenPose-25 joints match ``points_m``.

    Args:
        body: the reduced body model.
        points_m: (B, 25, 3) world points (NaN allowed where the weight is 0), metres.
        weights: (B, 25) >= 0 per-point weights (e.g. triangulation confidence; 0 = missing).
        init_rotations: (B, 24, 3, 3) start pose (e.g. a regressor's); None: closed-form orientation, rest pose.
        init_betas: (B, 10) start shape; None: zeros.
        config: see :class:`IKConfig`.
    """
    config = (config or IKConfig()).validate()
    batch = points_m.shape[0]
    if points_m.dim() != 3 or tuple(points_m.shape[1:]) != (25, 3):
        raise IKInputError(f"points_m: expected shape (B, 25, 3), got {tuple(points_m.shape)}")
    if tuple(weights.shape) != (batch, 25):
        raise IKInputError(f"weights: expected shape ({batch}, 25), got {tuple(weights.shape)}")
    weights = torch.where(torch.isfinite(points_m).all(dim=-1), weights, torch.zeros_like(weights))
    points = torch.nan_to_num(points_m)
    if init_rotations is None:
        init_rotations = torch.eye(3, dtype=points.dtype).repeat(batch, 24, 1, 1)
        init_rotations[:, 0] = torso_orientation(points, weights)
    betas0 = torch.zeros(batch, 10, dtype=points.dtype) if init_betas is None else init_betas.detach().clone()
    if config.solver == "adam":
        with torch.no_grad():
            transl0 = place_body(body(rotations=init_rotations, betas=betas0).openpose_m, points, weights)
        rotations, betas, transl = _adam(body, points=points, weights=weights, rotations0=init_rotations,
                                         betas0=betas0, transl0=transl0, config=config)
        with torch.no_grad():
            joints = body(rotations=rotations, betas=betas, transl_m=transl).openpose_m
    else:
        solved = solve_lm(body, points_m=points, weights=weights, rotations=init_rotations.detach(), betas=betas0,
                          transl_m=None, iterations=config.lm_iterations, sigma_m=config.sigma_m,
                          pose_weight=config.pose_weight, betas_weight=config.betas_weight,
                          optimize_betas=config.optimize_betas)
        rotations, betas, transl, joints = solved.rotations, solved.betas, solved.transl_m, solved.openpose_m
    with torch.no_grad():
        dist = (joints - points).norm(dim=-1)
        residual = (weights > 0).float()
        residual = torch.where(residual.sum(1) > 0, (dist * residual).sum(1) / residual.sum(1).clamp_min(1),
                               torch.full((batch,), float("nan")))
    return IKResult(rotations=rotations.detach(), betas=betas.detach(), transl_m=transl.detach(), residual_m=residual)


def _adam(body: KeypointBody, *, points: torch.Tensor, weights: torch.Tensor, rotations0: torch.Tensor,
          betas0: torch.Tensor, transl0: torch.Tensor,
          config: IKConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``config.iterations`` Adam steps with autograd on (global orientation 6D, body pose axis-angle, betas,
    translation) -> rotations (B, 24, 3, 3), betas (B, 10), transl_m (B, 3)."""
    orient = matrix_to_rot6d(rotations0[:, 0]).detach().clone().requires_grad_(True)
    pose0 = matrix_to_axis_angle(rotations0[:, 1:]).detach()
    pose = pose0.clone().requires_grad_(True)
    betas = betas0.clone().requires_grad_(config.optimize_betas)
    transl = transl0.clone().requires_grad_(True)
    params = [orient, pose, transl] + ([betas] if config.optimize_betas else [])
    sigma_sq = config.sigma_m**2

    def rotations_now() -> torch.Tensor:
        return torch.cat([rot6d_to_matrix(orient)[:, None], axis_angle_to_matrix(pose)], dim=1)

    if config.iterations == 0:  # no optimiser: its first construction imports torch._dynamo (seconds)
        with torch.no_grad():
            return rotations_now(), betas.detach(), transl.detach()
    optimizer = torch.optim.Adam(params, lr=config.learning_rate)
    with torch.enable_grad():
        for _ in range(config.iterations):
            optimizer.zero_grad()
            joints = body(rotations=rotations_now(), betas=betas, transl_m=transl).openpose_m
            dist_sq = ((joints - points) ** 2).sum(-1)
            loss = (weights * sigma_sq * dist_sq / (sigma_sq + dist_sq)).sum()
            loss = loss + config.pose_weight * ((pose - pose0) ** 2).sum() + config.betas_weight * (betas**2).sum()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        return rotations_now(), betas.detach(), transl.detach()
