"""Guided DDIM fitting: the official ``ddim_with_guidance`` of ScoreHMR (docs/scorehmr-reference.md §3, §4).

Algorithm (η = 0, one sample per input, clip_x0 off; E-numbers are those of docs/scorehmr-reference.md):
    x ← 6D of the regressor pose (the clean pose is treated as noise level t = 0)
    repeat optim_iters times:
        inversion, for (t, t') in (0, k), ..., (S-k, S):  ε̂ = f(x, t, c); x ← √ᾱ_t' x̂_0(ε̂) + √(1-ᾱ_t') ε̂
        guided sampling, for (t, t') in (S, S-k), ..., (k, 0):
            ε̂ = f(x, t, c)
            ∇ = λ ∇_x L(x̂_0(x, ε̂))       (ε̂ held constant; the keypoint term also takes one Adam step
                                           on the camera with the unweighted keypoint loss, before ∇)
            ε̃ = ε̂ + √(1-ᾱ_t) ∇ (E7);  x̂_0 = x̂_0(x, ε̃);  x ← √ᾱ_t' x̂_0 + √(1-ᾱ_t') ε̃
    output: the x̂_0 of the last guided call (t = k), the optimised camera (or the early-stop cache).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from scorehmr_ros.base.arrays import check_shape
from scorehmr_ros.body.body_model import BodyModel
from scorehmr_ros.body.joint_counts import NUM_BETAS, NUM_SMPL_JOINTS
from scorehmr_ros.diffusion.diffusion import Diffusion, ddim_inversion_pairs, ddim_time_pairs, extract
from scorehmr_ros.fitting.fit_config import FitConfig
from scorehmr_ros.fitting.guidance import (
    EarlyStopping,
    guiding_confidences,
    keypoint_fitting_loss,
    multiview_consistency_loss,
    smoothness_loss,
)
from scorehmr_ros.geometry.rotations import matrix_to_rot6d, rot6d_to_matrix


class FitInputError(ValueError):
    """Fit inputs with a wrong shape, or missing for the guidance terms that are on."""


@dataclass(frozen=True)
class FitInputs:
    """Regressor output and observations for one batch (B = people, frames or views), float32 tensors.

    pred_pose: (B, 24, 3, 3) rotation matrices, global orientation first.
    pred_betas: (B, 10) shape; kept fixed (official USE_BETAS False).
    init_cam_t_m: (B, 3) full-image camera translation, metres (f = focal_length_px); None without keypoints.
    keypoints_2d_px: (B, J, 3) keypoints (x, y, confidence), full-image pixels, J = 25 or 44; None without keypoints.
    img_size_px: (B, 2) image sizes (W, H), pixels; None without keypoints.
    cond_feats: (B, C) standardised image features; None for an unconditional denoiser.
    """

    pred_pose: torch.Tensor
    pred_betas: torch.Tensor
    init_cam_t_m: torch.Tensor | None = None
    keypoints_2d_px: torch.Tensor | None = None
    img_size_px: torch.Tensor | None = None
    cond_feats: torch.Tensor | None = None

    @property
    def batch_size(self) -> int:
        return int(self.pred_pose.shape[0])

    def with_mean_betas(self) -> FitInputs:
        """Same inputs with the betas averaged over the batch (official eval_multiview / eval_video)."""
        mean = self.pred_betas.mean(dim=0, keepdim=True).repeat(self.batch_size, 1)
        return FitInputs(pred_pose=self.pred_pose, pred_betas=mean, init_cam_t_m=self.init_cam_t_m,
                         keypoints_2d_px=self.keypoints_2d_px, img_size_px=self.img_size_px,
                         cond_feats=self.cond_feats)


@dataclass(frozen=True)
class FitResult:
    """Fitted bodies, (B, ...) tensors, detached; joints/vertices in the body frame (add the camera translation)."""

    pose_6d: torch.Tensor  # (B, 144) final x̂_0
    global_orient: torch.Tensor  # (B, 1, 3, 3)
    body_pose: torch.Tensor  # (B, 23, 3, 3)
    betas: torch.Tensor  # (B, 10)
    camera_translation_m: torch.Tensor  # (B, 3) optimised (the input one when keypoint guidance is off)
    joints_m: torch.Tensor  # (B, 44, 3)
    vertices_m: torch.Tensor  # (B, 6890, 3)


@dataclass
class StageTimes:
    """Wall time spent per stage of a fit, seconds (for the benchmark)."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds


def _check_shape(name: str, tensor: torch.Tensor | None, shape: tuple[int | None, ...]) -> None:
    if tensor is None:
        expected = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise FitInputError(f"{name}: required for the guidance that is on, expected shape {expected}")
    check_shape(name, tensor.shape, shape, error=FitInputError)


def check_fit_inputs(inputs: FitInputs, *, config: FitConfig, cond_dim: int) -> None:
    """Raise FitInputError naming the first input of a wrong shape or missing."""
    b = inputs.batch_size
    _check_shape("pred_pose", inputs.pred_pose, (b, NUM_SMPL_JOINTS, 3, 3))
    _check_shape("pred_betas", inputs.pred_betas, (b, NUM_BETAS))
    if config.keypoint_guidance:
        _check_shape("init_cam_t_m", inputs.init_cam_t_m, (b, 3))
        _check_shape("keypoints_2d_px", inputs.keypoints_2d_px, (b, None, 3))
        if inputs.keypoints_2d_px.shape[1] not in (25, 44):
            raise FitInputError(f"keypoints_2d_px: expected 25 or 44 joints, got {inputs.keypoints_2d_px.shape[1]}")
        _check_shape("img_size_px", inputs.img_size_px, (b, 2))
    if cond_dim > 0:
        _check_shape("cond_feats", inputs.cond_feats, (b, cond_dim))
    elif inputs.cond_feats is not None and inputs.cond_feats.numel() > 0:
        raise FitInputError("cond_feats: the denoiser is unconditional (cond_dim 0), "
                            f"got {tuple(inputs.cond_feats.shape)}")
    if config.multiview_guidance and b < 2:
        raise FitInputError(f"multiview guidance needs >= 2 views in the batch, got {b}")
    if config.temporal_guidance and b < 2:
        raise FitInputError(f"temporal guidance needs >= 2 frames in the batch, got {b}")


class _KeypointTarget:
    """Keypoint observations and the camera translation optimised by Adam inside the loop."""

    def __init__(self, inputs: FitInputs, config: FitConfig) -> None:
        keypoints = inputs.keypoints_2d_px.float()
        self.keypoints_px = keypoints[..., :2]
        self.conf = guiding_confidences(keypoints[..., 2:], use_hips=config.use_hips,
                                        num_guiding_joints=config.num_guiding_joints)
        self.image_size_px = inputs.img_size_px.float()
        self.principal_point_px = self.image_size_px / 2
        self.focal_length_px = torch.full_like(self.principal_point_px, config.focal_length_px)
        self.camera_m = inputs.init_cam_t_m.detach().float().clone().requires_grad_(True)
        self.optimizer = torch.optim.Adam([self.camera_m], lr=config.camera_lr)


def _body_joints(body_model: BodyModel, pose_6d: torch.Tensor, betas: torch.Tensor):
    rotmats = rot6d_to_matrix(pose_6d.reshape(-1, NUM_SMPL_JOINTS, 6))  # (B, 24, 3, 3)
    return body_model(global_orient=rotmats[:, [0]], body_pose=rotmats[:, 1:], betas=betas), rotmats


def guidance_gradient(
    *, diffusion: Diffusion, body_model: BodyModel, x_t: torch.Tensor, t_batch: torch.Tensor,
    pred_noise: torch.Tensor, betas: torch.Tensor, config: FitConfig, keypoints: _KeypointTarget | None,
    early_stopping: EarlyStopping | None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """λ ∇_{x_t} L of E7 with ε̂ held constant (E8); also steps the camera (official cond_fn).

    Returns the (B, D) scaled gradient and the (B,) early-stop mask (None without early stopping).
    """
    mask = None
    loss: torch.Tensor | None = None
    with torch.enable_grad():
        x_leaf = x_t.detach().requires_grad_(True)
        pred_x0 = diffusion.predict_start_from_noise(x_leaf, t_batch, pred_noise)  # (B, D)
        if keypoints is not None:
            body, _ = _body_joints(body_model, pred_x0, betas)
            loss_kp = keypoint_fitting_loss(
                body.joints_m, camera_translation_m=keypoints.camera_m, keypoints_px=keypoints.keypoints_px,
                keypoints_conf=keypoints.conf, focal_length_px=keypoints.focal_length_px,
                principal_point_px=keypoints.principal_point_px, image_size_px=keypoints.image_size_px,
                sigma_px=config.gm_sigma_px, data_weight_px=config.data_weight_px,
            )  # (B,)
            if early_stopping is not None:
                mask = early_stopping.stop_mask(loss_kp)
                loss_kp = torch.where(mask, torch.zeros_like(loss_kp), loss_kp)
            # camera: one Adam step on the unweighted loss; the x gradient below uses the graph of the old camera
            keypoints.optimizer.zero_grad()
            (camera_grad,) = torch.autograd.grad(loss_kp.sum(), keypoints.camera_m, retain_graph=True)
            keypoints.camera_m.grad = camera_grad
            keypoints.optimizer.step()
            loss = config.w_kp2d * loss_kp
        if config.multiview_guidance:
            body_pose_6d = pred_x0.reshape(pred_x0.shape[0], NUM_SMPL_JOINTS, 6)[:, 1:]  # (V, 23, 6)
            loss = config.w_multiview * multiview_consistency_loss(
                body_pose_6d, consistency_weight=config.multiview_consistency_weight)
        if config.temporal_guidance:
            loss_smooth = config.w_smooth * smoothness_loss(pred_x0)  # (B - 1,)
            total = loss.sum() + loss_smooth.sum() if keypoints is not None else loss_smooth.sum()
        else:
            total = loss.sum()
        (gradient,) = torch.autograd.grad(total, x_leaf)
    return config.gradient_scale * gradient, mask


@torch.no_grad()
def guided_fit(
    *, diffusion: Diffusion, body_model: BodyModel, inputs: FitInputs, config: FitConfig | None = None,
    on_iteration: Callable[[int], None] | None = None, stage_times: StageTimes | None = None,
) -> FitResult:
    """Run the official guided DDIM fit on one batch; see the module docstring.

    Args:
        diffusion: schedule + denoiser (eval mode).
        body_model: body model giving the 44-joint layout.
        inputs: regressor output and observations; shapes in :class:`FitInputs`.
        config: hyperparameters (official single-image defaults when None).
        on_iteration: called with the iteration index after each of the optim_iters rounds (progress bars).
        stage_times: if given, accumulates wall time of "denoiser" and "guidance" (body model + loss + grads).
    Raises:
        FitInputError: inputs of a wrong shape or missing for the guidance that is on.
        ValueError: an invalid config.
    """
    config = config or FitConfig()
    config.validate()
    check_fit_inputs(inputs, config=config, cond_dim=diffusion.model.config.cond_dim)
    device = diffusion.betas.device
    batch_size = inputs.batch_size
    cond = inputs.cond_feats.float().to(device) if diffusion.model.config.cond_dim > 0 else None
    betas = inputs.pred_betas.float().to(device)
    keypoints = _KeypointTarget(inputs, config) if config.keypoint_guidance else None
    early_stopping = (EarlyStopping(batch_size=batch_size, pose_dim=diffusion.pose_dim,
                                    tolerance=config.early_stopping_tolerance, track_camera=True, device=device)
                      if config.early_stopping else None)
    timer = time.perf_counter

    def denoise(x: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        start = timer()
        t_batch = torch.full((batch_size,), t, device=device, dtype=torch.long)
        pred_noise = diffusion.model(x, t_batch, cond)
        if stage_times is not None:
            stage_times.add("denoiser", timer() - start)
        return t_batch, pred_noise

    x_t = matrix_to_rot6d(inputs.pred_pose.float().to(device)).reshape(batch_size, -1)  # (B, 144) clean pose
    pred_x0 = x_t
    for iteration in range(config.optim_iters):
        for t, t_next in ddim_inversion_pairs(sample_start=config.sample_start, step=config.ddim_step):
            t_batch, pred_noise = denoise(x_t, t)
            x_t = diffusion.ddim_step(diffusion.predict_start_from_noise(x_t, t_batch, pred_noise), pred_noise, t_next)
        for t, t_next in ddim_time_pairs(sample_start=config.sample_start, step=config.ddim_step):
            t_batch, pred_noise = denoise(x_t, t)
            start = timer()
            gradient, mask = guidance_gradient(
                diffusion=diffusion, body_model=body_model, x_t=x_t, t_batch=t_batch, pred_noise=pred_noise,
                betas=betas, config=config, keypoints=keypoints, early_stopping=early_stopping)
            if stage_times is not None:
                stage_times.add("guidance", timer() - start)
            # modified noise prediction ε̃ = ε̂ + √(1-ᾱ_t) λ∇ (E7)
            pred_noise = pred_noise + extract(diffusion.sqrt_one_minus_alphas_cumprod, t_batch, x_t.shape) * gradient
            pred_x0 = diffusion.predict_start_from_noise(x_t, t_batch, pred_noise)
            if early_stopping is not None and mask is not None and bool(mask.any()):
                early_stopping.cache(mask, pred_x0, keypoints.camera_m)
            x_t = diffusion.ddim_step(pred_x0, pred_noise, t_next)
        if on_iteration is not None:
            on_iteration(iteration)

    camera = keypoints.camera_m.detach() if keypoints is not None else None
    if early_stopping is not None:
        pred_x0, camera = early_stopping.final(pred_x0, camera)
    if camera is None:
        camera = (inputs.init_cam_t_m.detach().float().to(device) if inputs.init_cam_t_m is not None
                  else torch.zeros((batch_size, 3), device=device))
    start = timer()
    body, rotmats = _body_joints(body_model, pred_x0, betas)
    if stage_times is not None:
        stage_times.add("guidance", timer() - start)
    return FitResult(pose_6d=pred_x0.detach(), global_orient=rotmats[:, [0]], body_pose=rotmats[:, 1:],
                     betas=betas, camera_translation_m=camera.detach().clone(), joints_m=body.joints_m.detach(),
                     vertices_m=body.vertices_m.detach())
