"""Guidance losses of ScoreHMR and the early-stopping bookkeeping (docs/scorehmr-reference.md §3, §4).

Each loss is one function of the one-step estimate x̂_0 (or of the body it implies); equation numbers are those of
docs/scorehmr-reference.md (P is the official projection E10):
    (E11) ρ(r) = σ² r² / (σ² + r²)                                     Geman-McClure, per coordinate
    (E12) L_kp[b] = Σ_j (1000 / max(W, H))² conf_j² Σ_{x,y} ρ(P(X_j + t_cam) - ĵ)   per sample
    (E13) L_mv = w_c² Σ_{v,j} ‖θ_vj - θ̄_j‖²,  θ̄ = mean over views                  one scalar
          (the paper's uncalibrated multi-view consistency: no cameras, only the body poses of the V views;
          not the calibrated reprojection of :mod:`~scorehmr_ros.fitting.multiview_guidance`)
    (E14) l_i = ‖x̂_0[i+1] - x̂_0[i]‖²,  i = 0 .. B-2                                per frame pair
"""

from __future__ import annotations

import torch

from scorehmr_ros.body.joint_counts import NUM_OPENPOSE_JOINTS
from scorehmr_ros.geometry.projection import perspective_projection

#: Hip joints zeroed when use_hips is off: OP MidHip, RHip, LHip; GT R/L hip; MPII pelvis.
HIP_JOINT_INDICES: tuple[int, ...] = (8, 9, 12) + tuple(NUM_OPENPOSE_JOINTS + i for i in (2, 3, 14))


def geman_mcclure(residual: torch.Tensor, *, sigma: float) -> torch.Tensor:
    """Equation E11, elementwise: σ² r² / (σ² + r²), same shape and unit² as the residual."""
    residual_sq = residual**2
    sigma_sq = sigma**2
    return (sigma_sq * residual_sq) / (sigma_sq + residual_sq)


def guiding_confidences(joints_conf: torch.Tensor, *, use_hips: bool,
                        num_guiding_joints: int = NUM_OPENPOSE_JOINTS) -> torch.Tensor:
    """(B, J, 1) keypoint confidences -> a copy with the official edits: hips (optional) and joints 25+ zeroed."""
    conf = joints_conf.clone()
    if not use_hips:
        hips = [j for j in HIP_JOINT_INDICES if j < conf.shape[1]]
        conf[:, hips] *= 0.0
    conf[:, num_guiding_joints:] = 0.0
    return conf


def keypoint_fitting_loss(
    joints_m: torch.Tensor, *, camera_translation_m: torch.Tensor, keypoints_px: torch.Tensor,
    keypoints_conf: torch.Tensor, focal_length_px: torch.Tensor, principal_point_px: torch.Tensor,
    image_size_px: torch.Tensor, sigma_px: float, data_weight_px: float = 1000.0,
) -> torch.Tensor:
    """Equation E12: per-sample robust reprojection loss, (B,).

    Args:
        joints_m: (B, J, 3) body joints, body frame (no translation), metres.
        camera_translation_m: (B, 3) body-to-camera translation, metres (identity rotation).
        keypoints_px: (B, J, 2) target keypoints, full-image pixels.
        keypoints_conf: (B, J, 1) target confidences.
        focal_length_px: (B, 2) focal lengths.
        principal_point_px: (B, 2) principal points (official: image size / 2).
        image_size_px: (B, 2) image sizes (W, H); the weight uses max(W, H).
        sigma_px: Geman-McClure scale.
        data_weight_px: SMPLify-X resolution heuristic numerator (weight = (1000 / max(W, H))²).
    """
    data_weight = (data_weight_px / image_size_px.max(dim=-1)[0]).reshape(-1, 1, 1).repeat(1, 1, 2)  # (B, 1, 2)
    projected_px = perspective_projection(joints_m, translation_m=camera_translation_m,
                                          focal_length_px=focal_length_px, principal_point_px=principal_point_px)
    robust_error = geman_mcclure(projected_px - keypoints_px, sigma=sigma_px)  # (B, J, 2)
    return ((data_weight**2) * (keypoints_conf**2) * robust_error).sum(dim=(1, 2))


def multiview_consistency_loss(body_pose_6d: torch.Tensor, *, consistency_weight: float) -> torch.Tensor:
    """Equation E13, uncalibrated multi-view consistency: scalar loss for (V, 23, 6) body poses (global orientation
    excluded) of one person seen in V views; no camera is involved."""
    mean_pose = body_pose_6d.mean(dim=0, keepdim=True)  # (1, 23, 6)
    squared_distance = ((body_pose_6d - mean_pose) ** 2).sum(dim=-1)  # (V, 23)
    return consistency_weight**2 * squared_distance.sum()


def smoothness_loss(pose_6d: torch.Tensor) -> torch.Tensor:
    """Equation E14: (T - 1,) squared distances between consecutive (T, D) pose vectors (all D dims)."""
    return ((pose_6d[1:] - pose_6d[:-1]) ** 2).sum(dim=-1)


class EarlyStopping:
    """Per-sample early stopping of the official keypoint fitting (``EarlyStopping`` of the eval script).

    At each guided step: rel = |L_prev - L| / max(L_prev, L, 1) (E9); the first call only stores L.
    A sample whose rel < tolerance has its keypoint loss zeroed for that step, and its x̂_0 (and
    camera) are cached the first time (a slot is empty while its cached row sums to 0).
    Samples never cached take the final values.
    """

    def __init__(self, *, batch_size: int, pose_dim: int, tolerance: float, track_camera: bool,
                 device: torch.device | str = "cpu") -> None:
        self.tolerance = tolerance
        self.previous_loss: torch.Tensor | None = None
        self.x0_cached = torch.zeros((batch_size, pose_dim), device=device)
        self.camera_cached = torch.zeros((batch_size, 3), device=device) if track_camera else None

    def stop_mask(self, loss: torch.Tensor) -> torch.Tensor:
        """(B,) per-sample keypoint loss -> (B,) bool mask of samples that converged at this step."""
        current = loss.detach().clone()
        if self.previous_loss is None:
            self.previous_loss = current
            return torch.zeros_like(current, dtype=torch.bool)
        scale = torch.clamp_min(torch.maximum(self.previous_loss, current), 1.0)
        relative_change = torch.abs(self.previous_loss - current) / scale
        self.previous_loss = current
        return relative_change < self.tolerance

    def _empty_slots(self) -> torch.Tensor:
        return self.x0_cached.sum(dim=-1) == 0

    def cache(self, mask: torch.Tensor, x0: torch.Tensor, camera_m: torch.Tensor | None) -> None:
        """Store x̂_0 (B, D) and camera (B, 3) of newly converged samples not cached before."""
        use = self._empty_slots() & mask
        self.x0_cached[use] = x0[use].detach().clone()
        if camera_m is not None and self.camera_cached is not None:
            self.camera_cached[use] = camera_m[use].detach().clone()

    def final(self, x0: torch.Tensor, camera_m: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Fill the still-empty slots with the final values; returns (x0 (B, D), camera (B, 3) or None)."""
        empty = self._empty_slots()
        self.x0_cached[empty] = x0[empty].detach().clone()
        if camera_m is not None and self.camera_cached is not None:
            self.camera_cached[empty] = camera_m[empty].detach().clone()
            return self.x0_cached, self.camera_cached
        return self.x0_cached, camera_m
