"""Initial bodies for calibrated fitting: from keypoints alone (triangulation + IK) or from per-view estimates.

1. ``triangulate_bodies``: robust triangulation of every body's keypoints (geometry/triangulation.py).
2. ``chordal_mean``: weighted rotation average, the SVD projection of Σ w_i R_i onto SO(3).
3. ``combine_view_estimates``: per-view regressor estimates (camera-relative global orientation) -> one
   world-frame pose per body: G = mean_v R_vᵀ G_v, θ_j = mean_v θ_vj, β = mean_v β_v (weighted by view).
4. ``initial_bodies``: IK on the triangulated points, started from the combined estimates when given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from scorehmr_ros.body.ik import IKConfig, IKResult, solve_ik
from scorehmr_ros.body.keypoint_body import KeypointBody
from scorehmr_ros.fitting.multiview_guidance import RigTensors
from scorehmr_ros.geometry.rotations import nearest_rotation
from scorehmr_ros.geometry.triangulation import TriangulationConfig, triangulate


class InitInputError(ValueError):
    """Estimates or keypoints of a wrong shape."""


@dataclass(frozen=True)
class TriangulatedBodies:
    """points_m (B, 25, 3) world (NaN where invalid) and weights (B, 25) (confidence, 0 where invalid)."""

    points_m: np.ndarray
    weights: np.ndarray


def triangulate_bodies(keypoints_px: np.ndarray, rig: RigTensors,
                       config: TriangulationConfig | None = None) -> TriangulatedBodies:
    """(B, V, 25, 3) keypoints -> triangulated OpenPose-25 points of every body (one batched call; with per-row
    extrinsics one call per distinct set of camera poses, each row with its own cameras)."""
    keypoints = np.asarray(keypoints_px, dtype=np.float64)
    if keypoints.ndim != 4 or keypoints.shape[1] != rig.num_views or keypoints.shape[-1] != 3:
        raise InitInputError(f"keypoints_px: expected (B, {rig.num_views}, J, 3), got {keypoints.shape}")
    config = config or TriangulationConfig()
    if not rig.per_row:
        result = triangulate(keypoints_px=keypoints.transpose(1, 0, 2, 3), cameras=rig.cameras(), config=config)
        return TriangulatedBodies(points_m=result.points_world_m,
                                  weights=np.where(result.valid, result.confidence, 0.0))
    if rig.R_cam_world.shape[0] != keypoints.shape[0]:
        raise InitInputError(f"keypoints_px: {keypoints.shape[0]} bodies, the rig's extrinsics have "
                             f"{rig.R_cam_world.shape[0]} rows")
    poses = torch.cat([rig.R_cam_world.flatten(1), rig.t_cam_world_m.flatten(1)], dim=1)  # (B, V 12)
    _, group_of_row = torch.unique(poses, dim=0, return_inverse=True)
    points = np.full(keypoints.shape[:1] + (keypoints.shape[2], 3), np.nan)
    weights = np.zeros(keypoints.shape[:1] + (keypoints.shape[2],))
    for group in torch.unique(group_of_row).tolist():  # rows seen by the same camera poses: one batched call
        rows = torch.nonzero(group_of_row == group)[:, 0].numpy()
        result = triangulate(keypoints_px=keypoints[rows].transpose(1, 0, 2, 3), cameras=rig.cameras(int(rows[0])),
                             config=config)
        points[rows] = result.points_world_m
        weights[rows] = np.where(result.valid, result.confidence, 0.0)
    return TriangulatedBodies(points_m=points, weights=weights)


def chordal_mean(rotations: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """(..., N, 3, 3) rotations and (..., N) weights -> (..., 3, 3) the rotation nearest to Σ w R (Frobenius)."""
    return nearest_rotation((weights[..., None, None] * rotations).sum(dim=-3))


def view_weights(keypoints_px: torch.Tensor, *, min_joints: int = 4) -> torch.Tensor:
    """(B, V, J, 3) keypoints -> (B, V) view weight: summed confidence where >= ``min_joints`` joints are seen."""
    conf = keypoints_px[..., 2]
    seen = (conf > 0).sum(dim=-1)
    return torch.where(seen >= min_joints, conf.sum(dim=-1), torch.zeros_like(conf[..., 0]))


def combine_view_estimates(init_pose: torch.Tensor, init_betas: torch.Tensor, weights: torch.Tensor,
                           R_cam_world: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Step 4: per-view estimates -> world rotations (B, 24, 3, 3) and betas (B, 10).

    Args:
        init_pose: (B, V, 24, 3, 3), global orientation of view v in camera v's optical frame.
        init_betas: (B, V, 10).
        weights: (B, V) view weights (rows of zeros: equal weights).
        R_cam_world: (V, 3, 3), or (B, V, 3, 3) each body's cameras (a moving rig).
    """
    batch, num_views = init_pose.shape[:2]
    if tuple(init_pose.shape[2:]) != (24, 3, 3) or tuple(init_betas.shape) != (batch, num_views, 10):
        raise InitInputError(f"init_pose (B, V, 24, 3, 3) and init_betas (B, V, 10) expected, got "
                             f"{tuple(init_pose.shape)} and {tuple(init_betas.shape)}")
    total = weights.sum(dim=1, keepdim=True)
    w = torch.where(total > 0, weights / total.clamp_min(1e-12), torch.full_like(weights, 1.0 / num_views))
    world = init_pose.clone()
    R_world_cam = R_cam_world.transpose(-1, -2)
    world[:, :, 0] = (R_world_cam if R_world_cam.dim() == 4 else R_world_cam[None]) @ init_pose[:, :, 0]
    rotations = chordal_mean(world.transpose(1, 2), w[:, None].expand(-1, 24, -1))  # (B, 24, 3, 3)
    betas = (w[..., None] * init_betas).sum(dim=1)
    return rotations, betas


def initial_bodies(body: KeypointBody, *, triangulated: TriangulatedBodies, rotations: torch.Tensor | None = None,
                   betas: torch.Tensor | None = None, config: IKConfig | None = None) -> IKResult:
    """Step 5: IK on the triangulated points, from ``rotations`` (B, 24, 3, 3) / ``betas`` (B, 10) when given."""
    return solve_ik(body, points_m=torch.as_tensor(triangulated.points_m, dtype=torch.float32),
                    weights=torch.as_tensor(triangulated.weights, dtype=torch.float32),
                    init_rotations=rotations, init_betas=betas, config=config or IKConfig())
