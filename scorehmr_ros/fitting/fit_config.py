"""Every hyperparameter of ScoreHMR's guided fitting, with the official defaults (docs/scorehmr-reference.md §3, §4).

The defaults are the single-image mode of ``demo_image.py`` (base.yaml GUIDANCE section and the
hard-coded constants of the official code). ``FitConfig.for_mode`` gives the other official
modes; change single values with ``dataclasses.replace``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from scorehmr_ros.body.joint_counts import NUM_OPENPOSE_JOINTS
from scorehmr_ros.diffusion.diffusion import NUM_TIMESTEPS
from scorehmr_ros.geometry.projection import OFFICIAL_FOCAL_LENGTH_PX

#: Names accepted by FitConfig.for_mode.
FIT_MODES: tuple[str, ...] = ("single", "multiview", "video", "keypoint_eval")


@dataclass(frozen=True)
class FitConfig:
    """Guided DDIM fitting (``ddim_with_guidance``); defaults = official single-image mode."""

    # which guidance terms are on (official kwargs keypoint_guidance / multiview_guidance / temporal_guidance)
    keypoint_guidance: bool = True
    multiview_guidance: bool = False  # uncalibrated multi-view: replaces the keypoint term for x when both are on
    temporal_guidance: bool = False  # smoothness over the batch (= frames)
    early_stopping: bool = False  # per-sample stop on relative keypoint-loss change (eval_keypoint_fitting only)
    # schedule (GUIDANCE.OPTIM_ITERS / SAMPLE_START / DDIM_STEP_SIZE)
    optim_iters: int = 10  # inversion + guided-sampling rounds
    sample_start: int = 50  # S: highest timestep of the DDIM grid, steps
    ddim_step: int = 2  # k: spacing of the DDIM grid, steps (25 network calls each way for 50 / 2)
    # guidance strength and weights (GUIDANCE.*)
    gradient_scale: float = 1.0  # λ in ε̃ = ε̂ + √(1-ᾱ_t) λ ∇L (E7)
    w_kp2d: float = 0.003  # keypoint term weight in the guidance gradient (not in the camera update)
    w_multiview: float = 0.005  # uncalibrated multi-view consistency term weight (E13)
    w_smooth: float = 30.0  # temporal smoothness term weight
    multiview_consistency_weight: float = 300.0  # w_c inside L_mv = w_c² Σ‖θ - θ̄‖² (E13)
    # keypoint loss (keypoint_fitting_loss)
    gm_sigma_px: float = 100.0  # Geman-McClure scale, pixels
    data_weight_px: float = 1000.0  # weight (1000 / max(W, H))², pixels
    use_hips: bool = True  # False zeroes the hip joints' confidences
    num_guiding_joints: int = NUM_OPENPOSE_JOINTS  # joints [25:] never guide (OpenPose-25 only)
    # camera translation, optimised in the loop by Adam on the unweighted keypoint loss
    camera_lr: float = 1e-2  # Adam learning rate, metres per step scale
    focal_length_px: float = OFFICIAL_FOCAL_LENGTH_PX  # full-image focal length, pixels
    early_stopping_tolerance: float = 1e-5  # relative loss change below which a sample stops
    timesteps: int = NUM_TIMESTEPS  # T of the diffusion model, for range checks

    def validate(self) -> None:
        """Raise ValueError naming the field, its value and the allowed range."""
        if not (self.keypoint_guidance or self.multiview_guidance or self.temporal_guidance):
            raise ValueError("FitConfig: at least one of keypoint_guidance, multiview_guidance, "
                             "temporal_guidance must be True")
        if self.early_stopping and not self.keypoint_guidance:
            raise ValueError("FitConfig.early_stopping=True needs keypoint_guidance=True "
                             "(it watches the keypoint loss)")
        if self.optim_iters < 1:
            raise ValueError(f"FitConfig.optim_iters={self.optim_iters}: must be >= 1")
        if self.ddim_step < 1:
            raise ValueError(f"FitConfig.ddim_step={self.ddim_step}: must be >= 1")
        if not self.ddim_step <= self.sample_start <= self.timesteps - 1:
            raise ValueError(f"FitConfig.sample_start={self.sample_start}: must be in "
                             f"[ddim_step={self.ddim_step}, {self.timesteps - 1}]")
        for name in ("gradient_scale", "w_kp2d", "w_multiview", "w_smooth", "multiview_consistency_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"FitConfig.{name}={getattr(self, name)}: must be >= 0")
        for name in ("gm_sigma_px", "data_weight_px", "camera_lr", "focal_length_px", "early_stopping_tolerance"):
            if not getattr(self, name) > 0:
                raise ValueError(f"FitConfig.{name}={getattr(self, name)}: must be > 0")
        if self.num_guiding_joints < 1:
            raise ValueError(f"FitConfig.num_guiding_joints={self.num_guiding_joints}: must be >= 1")

    @classmethod
    def for_mode(cls, mode: str) -> FitConfig:
        """Official settings of a mode.

        single: demo_image (keypoints, 10 / 50 / 2). keypoint_eval: eval_keypoint_fitting (+ early stopping).
        multiview: eval_multiview (uncalibrated pose consistency only, no camera, 2 / 100 / 10).
        video: eval_video (keypoints + smoothness, 10 / 50 / 2).
        """
        if mode == "single":
            return cls()
        if mode == "keypoint_eval":
            return cls(early_stopping=True)
        if mode == "multiview":
            return cls(keypoint_guidance=False, multiview_guidance=True, optim_iters=2, sample_start=100, ddim_step=10)
        if mode == "video":
            return cls(temporal_guidance=True)
        raise ValueError(f"unknown fit mode {mode!r}; expected one of {FIT_MODES}")

    def replace(self, **changes: object) -> FitConfig:
        """A validated copy with some fields changed."""
        config = dataclasses.replace(self, **changes)
        config.validate()
        return config
