"""PARE on every (person, view) crop of a synchronised set: the image condition and per-view estimates.

For P people and V calibrated views (one BGR image per view, one box per person in each view that sees them):
1. crop every present (person, view) box with the official crop (preprocess.py: square of side max(w, h) around
   the box centre, 224 px, ImageNet normalisation);
2. one batched PARE call over all crops (model.py); the condition is ScoreHMR's: ``pose_feats`` (128, 24)
   flattened channel-major and standardised with ``pare_feat_stats.npz`` (docs/scorehmr-reference.md E17);
3. PARE's global orientation is relative to its crop camera, whose optical axis is the ray through the box
   centre; it is turned into the view's optical frame by the rotation taking the optical axis onto that ray
   (``ray_rotation``): R_cam_body = R_ray R_crop_body. (ScoreHMR's own setting, f = 5000 px, makes R_ray ≈ I.)
Absent (person, view) pairs get zeros and ``valid`` False (weight 0 downstream).
Shape letters: P people, V views, C condition size (3072 with the official PARE).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from scorehmr_ros.body.joint_counts import NUM_BETAS, NUM_SMPL_JOINTS
from scorehmr_ros.geometry.camera import Camera
from scorehmr_ros.image_prior.model import PARE_INPUT_SIZE_PX, PareModel
from scorehmr_ros.image_prior.preprocess import PareCropError, crop_bgr, normalize_crop_bgr, square_box_from_xyxy


class ViewRegressorError(ValueError):
    """Images, boxes or masks that do not fit the rig (wrong count, shape, dtype or image size)."""


@dataclass(frozen=True)
class ViewEstimates:
    """PARE's output for every (person, view) pair of one set (numpy, float32).

    Attributes:
        cond: (P, V, C) standardised pose features (the denoiser's condition); zeros where not valid.
        rotations: (P, V, 24, 3, 3) global orientation in the view's optical frame, then the 23 body joints;
            identity where not valid.
        betas: (P, V, 10) shape coefficients; zeros where not valid.
        valid: (P, V) bool, True where the person was cropped from that view's image.
        seconds: wall time of cropping and the network call.
    """

    cond: np.ndarray
    rotations: np.ndarray
    betas: np.ndarray
    valid: np.ndarray
    seconds: float = 0.0


def ray_rotation(center_px: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(N, 2) pixels and (3, 3) intrinsics -> (N, 3, 3) the smallest rotation taking the optical axis e_z onto the
    ray d = K⁻¹ [u, v, 1] / ‖·‖ (Rodrigues about e_z × d; lens distortion neglected)."""
    homogeneous = np.concatenate([np.asarray(center_px, np.float64), np.ones((len(center_px), 1))], axis=1)
    rays = homogeneous @ np.linalg.inv(np.asarray(K, np.float64)).T
    rays /= np.linalg.norm(rays, axis=1, keepdims=True)
    axis = np.cross(np.array([0.0, 0.0, 1.0]), rays)  # (N, 3), |axis| = sin θ
    sin, cos = np.linalg.norm(axis, axis=1), rays[:, 2]
    unit = axis / np.maximum(sin, 1e-12)[:, None]
    skew = np.zeros((len(rays), 3, 3))
    skew[:, 0, 1], skew[:, 0, 2], skew[:, 1, 2] = -unit[:, 2], unit[:, 1], -unit[:, 0]
    skew = skew - skew.transpose(0, 2, 1)
    return np.eye(3) + sin[:, None, None] * skew + (1 - cos)[:, None, None] * (skew @ skew)


class PareViewRegressor:
    """Runs a :class:`PareModel` (eval mode, with feature statistics) on all (person, view) crops of a set."""

    def __init__(self, *, model: PareModel, cameras: Sequence[Camera], ray_correction: bool = True) -> None:
        """model: PARE with feature statistics set (the condition must be standardised); cameras: the V views
        (intrinsics for the ray correction, image sizes checked); ray_correction: see the module docstring."""
        if model.feat_mean is None:
            raise ViewRegressorError("model: PARE has no feature statistics; the image condition must be "
                                     "standardised (load pare_feat_stats.npz)")
        if model.training:
            raise ViewRegressorError("model: PARE must be in eval mode (BatchNorm running statistics)")
        self.model = model
        self.cameras = tuple(cameras)
        self.ray_correction = ray_correction
        self.cond_dim = int(model.feat_mean.numel())

    def _checked_image(self, view: int, image: np.ndarray) -> np.ndarray:
        camera = self.cameras[view]
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ViewRegressorError(f"image of camera {camera.name!r}: expected (H, W, 3) uint8 BGR, got "
                                     f"{image.shape} {image.dtype}")
        if image.shape[:2] != (camera.height_px, camera.width_px):
            raise ViewRegressorError(f"image of camera {camera.name!r}: {image.shape[1]}x{image.shape[0]}, "
                                     f"calibration is {camera.width_px}x{camera.height_px}")
        return np.ascontiguousarray(image)

    def __call__(self, *, images: Sequence[np.ndarray | None], boxes_xyxy_px: np.ndarray,
                 present: np.ndarray) -> ViewEstimates:
        """Estimate every present (person, view) pair.

        Args:
            images: V BGR uint8 images in rig order; None for a view without an image (its pairs become invalid).
            boxes_xyxy_px: (P, V, 4) person boxes (x0, y0, x1, y1), pixels; ignored where not present.
            present: (P, V) bool, the person was detected in the view.
        """
        start = time.perf_counter()
        views = len(self.cameras)
        boxes = np.asarray(boxes_xyxy_px, dtype=np.float32)
        present = np.asarray(present, dtype=bool)
        num = present.shape[0] if present.ndim == 2 else -1
        if len(images) != views:
            raise ViewRegressorError(f"images: expected {views} (one per rig camera, None if missing), "
                                     f"got {len(images)}")
        if present.shape != (num, views) or boxes.shape != (num, views, 4):
            raise ViewRegressorError(f"present (P, {views}) and boxes_xyxy_px (P, {views}, 4) expected, got "
                                     f"{present.shape} and {boxes.shape}")
        valid = present & np.array([image is not None for image in images])[None]
        checked = [None if image is None else self._checked_image(v, image) for v, image in enumerate(images)]
        people, view_of = np.nonzero(valid)
        crops, centers = [], []
        for person, view in zip(people, view_of, strict=True):
            try:
                center, size = square_box_from_xyxy(boxes[person, view][None])
            except PareCropError as error:
                raise ViewRegressorError(f"box of person {person} in camera {self.cameras[view].name!r}: "
                                         f"{error}") from None
            crops.append(normalize_crop_bgr(crop_bgr(checked[view], center_px=center[0], size_px=float(size[0]))))
            centers.append(center[0])
        cond = np.zeros((num, views, self.cond_dim), np.float32)
        rotations = np.tile(np.eye(3, dtype=np.float32), (num, views, NUM_SMPL_JOINTS, 1, 1))
        betas = np.zeros((num, views, NUM_BETAS), np.float32)
        if crops:
            device = self.model.feat_mean.device
            out = self.model.predict(torch.from_numpy(np.stack(crops)).to(device))
            pose = out.pred_pose.cpu().numpy().astype(np.float64)  # (N, 24, 3, 3)
            if self.ray_correction:
                for view in np.unique(view_of):
                    rows = np.flatnonzero(view_of == view)
                    pose[rows, 0] = ray_rotation(np.array(centers)[rows], self.cameras[view].K) @ pose[rows, 0]
            cond[people, view_of] = out.cond_feats.cpu().numpy()
            rotations[people, view_of] = pose.astype(np.float32)
            betas[people, view_of] = out.pred_betas.cpu().numpy()
        return ViewEstimates(cond=cond, rotations=rotations, betas=betas, valid=valid,
                             seconds=time.perf_counter() - start)

    def warm_up(self) -> None:
        """One network call on a blank crop (torch's first-call costs)."""
        size = PARE_INPUT_SIZE_PX
        self.model.predict(torch.zeros(1, 3, size, size, device=self.model.feat_mean.device))
