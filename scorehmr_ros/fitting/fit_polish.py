"""Data-term polish after the guided diffusion steps: rigid Gauss-Newton, then a few Adam steps on the body pose.

The guided DDIM moves the body joints but barely the global orientation (its gradient is damped, see
``CalibratedFitConfig.orient_gradient_scale``), so the fit keeps most of the initial orientation error. The
polish removes it with the calibrated reprojection loss (:func:`multiview_guidance.reprojection_loss`: the
official keypoint loss E12 of docs/scorehmr-reference.md summed over calibrated views). Steps, numbered within
this module only:
    (1) rigid update of a posed body about its root p₀ (world position of SMPL joint 0):
        X' = exp([ω]ₓ)(X - p₀) + p₀ + δ,  so  G' = exp([ω]ₓ) G,  τ' = τ + δ  (the root does not move with G);
        ∂X/∂(ω, δ) = [-[X - p₀]ₓ, I]  (3 x 6)
    (2) Gauss-Newton with the robust loss's IRLS weights (as ``translation_hessian``):
        H = Σ_{v,j} w c² (2σ⁴/(σ² + r²)²) (J_p ∂X/∂ξ)ᵀ (J_p ∂X/∂ξ),  g = Σ_j (∂X_j/∂ξ)ᵀ ∂L/∂X_j,
        ξ = -(H + μ tr(H)/6 I)⁻¹ g  (Levenberg damping μ), a few iterations on the fixed posed joints
        (no body model call: the pose does not change);
    (3) ``pose_steps`` Adam steps on the 23 body joints' 6D rotations (step ``pose_lr``) and the translation,
        starting from the result of (2): local refinement of the prior's pose on the data term; or
    (4) the same refinement by damped Gauss-Newton: the analytic chain Jacobian of the body
        (:func:`~scorehmr_ros.body.ik_lm.chain_jacobian`, increments R_i <- R_i exp([δ_i]ₓ) of joints 1..23, and the
        translation) times the pinhole Jacobian, with the robust loss's IRLS weights as in (2),
        ξ = -(H + μ mean(diag H) I)⁻¹ g with g the exact loss gradient: no autograd at all.
Shape letters: B bodies, V views, J joints (``scorehmr_ros.core``).
"""

from __future__ import annotations

import torch

from scorehmr_ros.body.ik_lm import body_tables, chain_jacobian, exp_so3, pose_chain, skew
from scorehmr_ros.body.keypoint_body import KeypointBody
from scorehmr_ros.fitting.multiview_guidance import (
    RigTensors,
    point_information,
    reprojection_terms,
)
from scorehmr_ros.geometry.rotations import axis_angle_to_matrix, matrix_to_rot6d, rot6d_to_matrix

#: dtype of the per-frame fits' body chain, Jacobian and Gauss-Newton step (the polish here and the guidance
#: gradient of ``calibrated_fitting.analytic_loss_gradients``): float32 gave the grid's figures of float64 to 0.01 mm
#: at 15 % less time per streaming update (docs/fitting.md). The IK solver (``ik_lm.solve_lm``: many iterations of
#: its 75-parameter normal equations) stays float64.
PER_FRAME_DTYPE = torch.float32


def rigid_jacobian(points_m: torch.Tensor, root_m: torch.Tensor) -> torch.Tensor:
    """Step (1) above: (B, J, 3) points and (B, 3) roots -> ∂X/∂(ω, δ), (B, J, 3, 6)."""
    eye = torch.eye(3, dtype=points_m.dtype).expand(*points_m.shape[:2], 3, 3)
    return torch.cat([-skew(points_m - root_m[:, None]), eye], dim=-1)


def damped_gauss_newton_step(points_m: torch.Tensor, point_jacobian: torch.Tensor, keypoints_px: torch.Tensor,
                             rig: RigTensors, *, sigma_px: float, data_weight_px: float,
                             damping: float) -> torch.Tensor:
    """One damped Gauss-Newton step ξ (B, K) of the reprojection loss for points (B, J, 3) that move by
    ``point_jacobian`` ∂X/∂ξ (B, J, 3, K), computed in the Jacobian's dtype (steps (2) and (4) above):
    g = Σ_j (∂X_j/∂ξ)ᵀ ∂L/∂X_j and H from :func:`reprojection_terms` (exact gradient, distortion included),
    ξ = -(H + μ mean(diag H) I)⁻¹ g."""
    dtype = point_jacobian.dtype
    with torch.no_grad():
        terms = reprojection_terms(points_m.detach(), keypoints_px, rig, sigma_px=sigma_px,
                                   data_weight_px=data_weight_px)
        batch, num_params = point_jacobian.shape[0], point_jacobian.shape[-1]
        gradient = (terms.gradient.to(dtype).reshape(batch, 1, -1)
                    @ point_jacobian.reshape(batch, -1, num_params))[:, 0]  # (B, K)
        information = point_information(terms.scale.to(dtype), terms.jacobian.to(dtype))  # (B, J, 3, 3)
        hessian = (point_jacobian.reshape(batch, -1, num_params).transpose(1, 2)
                   @ (information @ point_jacobian).reshape(batch, -1, num_params))  # Σ_j dX_jᵀ A_j dX_j
        level = torch.diagonal(hessian, dim1=1, dim2=2).mean(dim=1).clamp_min(1e-9)
        hessian = hessian + (damping * level)[:, None, None] * torch.eye(hessian.shape[-1], dtype=dtype)
        return -torch.linalg.solve(hessian, gradient[..., None])[..., 0]


def rigid_gauss_newton_step(points_m: torch.Tensor, root_m: torch.Tensor, keypoints_px: torch.Tensor,
                            rig: RigTensors, *, sigma_px: float, data_weight_px: float,
                            damping: float) -> torch.Tensor:
    """Step (2) above: the rigid step ξ = (ω, δ), (B, 6), for posed joints (B, 25, 3) with roots (B, 3) (a rig
    with per-row extrinsics: each row against its own cameras)."""
    points = points_m.detach()
    return damped_gauss_newton_step(points, rigid_jacobian(points, root_m), keypoints_px, rig, sigma_px=sigma_px,
                                    data_weight_px=data_weight_px, damping=damping)


def rigid_polish(body: KeypointBody, *, rotations: torch.Tensor, betas: torch.Tensor, transl_m: torch.Tensor,
                 keypoints_px: torch.Tensor, rig: RigTensors, iterations: int, sigma_px: float,
                 data_weight_px: float, damping: float = 1e-3) -> tuple[torch.Tensor, torch.Tensor]:
    """Steps (1)-(2) above, ``iterations`` times: new (global orientations (B, 3, 3), translations (B, 3))."""
    orient, transl = rotations[:, 0].detach(), transl_m.detach()
    if iterations < 1:
        return orient, transl
    with torch.no_grad():
        joints = body(rotations=rotations, betas=betas, transl_m=transl)
    points, root = joints.openpose_m, joints.smpl_joints_m[:, 0]
    for _ in range(iterations):
        step = rigid_gauss_newton_step(points, root, keypoints_px, rig, sigma_px=sigma_px,
                                       data_weight_px=data_weight_px, damping=damping)
        turn = axis_angle_to_matrix(step[:, :3])
        points = (points - root[:, None]) @ turn.transpose(-1, -2) + root[:, None] + step[:, None, 3:]
        root = root + step[:, 3:]
        orient = turn @ orient
        transl = transl + step[:, 3:]
    return orient, transl


def pose_polish(body: KeypointBody, *, rotations: torch.Tensor, betas: torch.Tensor, transl_m: torch.Tensor,
                loss_fn, steps: int, pose_lr: float, transl_lr: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Step (3) above: ``steps`` Adam steps on the body joints (6D) and translation; global orientation kept.

    loss_fn(joints) -> scalar loss of :class:`~scorehmr_ros.body.keypoint_body.KeypointJoints`.
    Returns (rotations (B, 24, 3, 3), transl_m (B, 3)).
    """
    if steps < 1:
        return rotations.detach(), transl_m.detach()
    orient = rotations[:, :1].detach()
    pose = matrix_to_rot6d(rotations[:, 1:].detach()).clone().requires_grad_(True)
    transl = transl_m.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([{"params": [pose], "lr": pose_lr}, {"params": [transl], "lr": transl_lr}])
    with torch.enable_grad():
        for _ in range(steps):
            optimizer.zero_grad()
            full = torch.cat([orient, rot6d_to_matrix(pose)], dim=1)
            loss = loss_fn(body(rotations=full, betas=betas.detach(), transl_m=transl))
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        return torch.cat([orient, rot6d_to_matrix(pose)], dim=1), transl.detach()


def pose_gauss_newton_polish(body: KeypointBody, *, rotations: torch.Tensor, betas: torch.Tensor,
                             transl_m: torch.Tensor, keypoints_px: torch.Tensor, rig: RigTensors, iterations: int,
                             sigma_px: float, data_weight_px: float, damping: float,
                             orient: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Step (4) above, ``iterations`` times on the body joints and translation; the global orientation too with
    ``orient`` (else kept: the rigid polish's).

    Returns (rotations (B, 24, 3, 3), transl_m (B, 3)) in the inputs' dtype.
    """
    dtype = rotations.dtype
    if iterations < 1:
        return rotations.detach(), transl_m.detach()
    tables = body_tables(body, PER_FRAME_DTYPE)
    rotations, betas, transl = (t.detach().to(PER_FRAME_DTYPE) for t in (rotations, betas, transl_m))
    for _ in range(iterations):
        chain = pose_chain(tables, rotations, betas, transl)
        dX = chain_jacobian(tables, chain, 0)  # (B, 25, 3, 75): δ_0..δ_23, τ
        first = 0 if orient else 1  # without orient, δ_0 (the global orientation) is the rigid polish's
        dX = dX[..., 3 * first:]
        step = damped_gauss_newton_step(chain.openpose_m.to(dtype), dX, keypoints_px, rig, sigma_px=sigma_px,
                                        data_weight_px=data_weight_px, damping=damping)  # (B, 75 or 72)
        with torch.no_grad():
            turned = exp_so3(step[:, :-3].reshape(-1, 24 - first, 3))  # (B, 24 or 23, 3, 3)
            rotations = torch.cat([rotations[:, :first], rotations[:, first:] @ turned], dim=1)
            transl = transl + step[:, -3:]
    return rotations.to(dtype), transl.to(dtype)
