"""Calibrated multi-view guided fitting: ScoreHMR's guided DDIM over world-frame bodies seen by V cameras.

"Multi-view" here means calibrated reprojection (known camera poses, one body in the world frame), not the paper's
uncalibrated multi-view consistency mode (``FitConfig.multiview_guidance``, E13 of docs/scorehmr-reference.md).

State per body b (B = people x frames, flattened; windows: B = P x W, frame-major per person):
x_b (D = 144, 6D world-frame global orientation then 23 body joints), β (per body, or shared per group
such as a person's window), τ_b (world translation, metres).

Algorithm (η = 0), the official ``ddim_with_guidance`` with the calibrated loss (E-numbers: docs/scorehmr-reference.md):
    repeat optim_iters times:
        inversion, (t, t') = (0, k) ... (S-k, S):  ε̂ = f(x, t) [no autograd; or carried, :class:`InversionNoise`];
            x ← √ᾱ_t' x̂_0 + √(1-ᾱ_t') ε̂
        guided sampling, (t, t') = (S, S-k) ... (k, 0):
            ε̂ = f(x, t)  [torch.inference_mode; per-view combination for an image-conditioned denoiser]
            x̂_0 = x̂_0(x, ε̂);  L = w_r Σ_b L_reproj(J(x̂_0, β, τ)) + w_a Σ_p A_p(J)     (multiview_guidance.py)
            ∇_{x_t} L = √(1/ᾱ_t) ∇_{x̂_0} L  (E8, ε̂ held constant: autograd only through body model and loss)
            ε̃ = ε̂ + √(1-ᾱ_t) λ ∇_{x_t} L (E7);  x ← √ᾱ_t' x̂_0(x, ε̃) + √(1-ᾱ_t') ε̃
            τ, β: ``inner_steps`` Gauss-Newton steps (τ, with the window's acceleration term), Adam steps (β)
    output: the x̂_0 of the last guided call, β, τ, then the data-term polish of :mod:`fit_polish`
    (rigid Gauss-Newton on global orientation + translation, a few Adam steps on the body joints).
The same loss minimised by Adam directly on (x, β, τ), without the prior, is :func:`fit_without_prior`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from scorehmr_ros.base.config_fields import check_settings, setting
from scorehmr_ros.body.ik_lm import body_tables, chain_jacobian, chain_vjp, pose_chain
from scorehmr_ros.body.joint_counts import NUM_SMPL_JOINTS
from scorehmr_ros.body.keypoint_body import KeypointBody, KeypointJoints
from scorehmr_ros.diffusion.diffusion import Diffusion, ddim_inversion_pairs, ddim_time_pairs, extract
from scorehmr_ros.fitting.fit_polish import PER_FRAME_DTYPE, pose_gauss_newton_polish, pose_polish, rigid_polish
from scorehmr_ros.fitting.fitting import StageTimes
from scorehmr_ros.fitting.multiview_guidance import (
    RigTensors,
    acceleration_loss,
    gauss_newton_hessian,
    reprojection_loss,
    reprojection_terms,
    second_difference_gram,
    translation_hessian,
    view_combined_noise,
)
from scorehmr_ros.geometry.rotations import matrix_to_rot6d, rot6d_gradient, rot6d_to_matrix


class CalibratedFitError(ValueError):
    """Inputs of the calibrated fit with wrong shapes."""


@dataclass(frozen=True)
class CalibratedFitConfig:
    """Calibrated guided fitting; the schedule defaults were chosen by measurement (docs/fitting.md)."""

    optim_iters: int = setting(1, "inversion + guided-sampling rounds", minimum=1, maximum=100)
    sample_start: int = setting(50, "S: highest DDIM timestep", unit="steps", minimum=1, maximum=999)
    ddim_step: int = setting(10, "k: DDIM grid spacing", unit="steps", minimum=1, maximum=999)
    gradient_scale: float = setting(1.0, "λ in ε̃ = ε̂ + √(1-ᾱ_t) λ ∇L", minimum=0.0, maximum=1e4)
    w_reprojection: float = setting(0.003, "weight of the reprojection loss", minimum=0.0, maximum=1e3)
    w_accel: float = setting(300.0, "weight of the joint acceleration loss over a window (1/m²)", minimum=0.0,
                             maximum=1e6)
    gm_sigma_px: float = setting(50.0, "Geman-McClure scale", unit="px", minimum=1.0, maximum=1000.0)
    data_weight_px: float = setting(1000.0, "numerator of the resolution weight (1000 / max(W, H))²", unit="px",
                                    minimum=1.0, maximum=1e5)
    optimize_betas: bool = setting(True, "optimise the shape jointly (else keep the initial betas)")
    transl_damping: float = setting(1e-3, "Levenberg damping of the translation's Gauss-Newton step, relative to "
                                    "the Hessian's trace", minimum=0.0, maximum=1e3)
    betas_lr: float = setting(0.02, "Adam step size of the betas", minimum=0.0, maximum=1.0)
    inner_steps: int = setting(1, "translation (Gauss-Newton) and betas (Adam) steps per guided step", minimum=0,
                               maximum=100)
    preconditioner: str = setting("none", "scaling of ∇_{x̂_0} L: none (paper) or rms (per-element running RMS, as "
                                  "Adam's second moment)", choices=("none", "rms"))
    orient_gradient_scale: float = setting(0.03, "factor on the global orientation's gradient (it moves every joint: "
                                           "a larger curvature than any body joint)", minimum=0.0, maximum=1.0)
    rms_decay: float = setting(0.9, "decay of the running mean of squared gradients (rms)", minimum=0.0,
                               maximum=0.9999)
    polish_rigid_iters: int = setting(2, "rigid (global orientation + translation) Gauss-Newton iterations after "
                                      "the guided steps (fit_polish.py)", minimum=0, maximum=100)
    polish_pose_steps: int = setting(10, "Adam steps on the body joints and translation after the rigid polish",
                                     minimum=0, maximum=1000)
    polish_pose_lr: float = setting(0.003, "Adam step size of the pose polish (6D units)", minimum=0.0, maximum=1.0)
    polish_transl_lr: float = setting(0.001, "Adam step size of the translation in the pose polish", unit="m",
                                      minimum=0.0, maximum=1.0)
    polish_pose_solver: str = setting("adam", "pose polish: Adam steps (polish_pose_steps, polish_pose_lr) or damped "
                                              "Gauss-Newton iterations with the analytic chain Jacobian "
                                              "(polish_pose_gn_iters, polish_pose_gn_damping)",
                                      choices=("adam", "gauss_newton"))
    polish_pose_gn_iters: int = setting(1, "Gauss-Newton iterations of the pose polish", minimum=0, maximum=100)
    polish_pose_gn_damping: float = setting(1.0, "Levenberg damping of the pose polish, relative to the mean "
                                                 "diagonal of its Hessian", minimum=0.0, maximum=1e6)
    polish_pose_gn_orient: bool = setting(False, "the Gauss-Newton pose polish also moves the global orientation "
                                                 "(with polish_rigid_iters 0: one step for the whole body)")

    def validate(self) -> CalibratedFitConfig:
        """Raise ValueError naming a field outside its range; return self."""
        check_settings(self)
        if self.ddim_step > self.sample_start:
            raise ValueError(f"ddim_step={self.ddim_step}: must be <= sample_start={self.sample_start}")
        return self

    @property
    def denoiser_calls(self) -> int:
        """Denoiser calls per body: optim_iters x 2 x (S // k)."""
        return self.optim_iters * 2 * (self.sample_start // self.ddim_step)


@dataclass(frozen=True)
class BodyParams:
    """World-frame bodies: rotations (B, 24, 3, 3) global orientation first, betas (B, 10), transl_m (B, 3)."""

    rotations: torch.Tensor
    betas: torch.Tensor
    transl_m: torch.Tensor

    @property
    def batch_size(self) -> int:
        return int(self.rotations.shape[0])


@dataclass(frozen=True)
class CalibratedObservations:
    """What guides B bodies.

    keypoints_px: (B, V, 25, 3) OpenPose-25 (x, y, confidence) per view, pixels; 0 confidence = missing.
    rig: the V cameras.
    window: W when the B rows are P windows of W frames (person-major), enabling the acceleration term; else 1.
    cond: (B, V, C) per-view image features for an image-conditioned denoiser, else None.
    view_weight: (B, V) view weights of the per-view score combination (None: from the keypoints).
    frame_mask: (B,) bool, False for padding rows of a window (excluded from the acceleration term); None: all real.
    """

    keypoints_px: torch.Tensor
    rig: RigTensors
    window: int = 1
    cond: torch.Tensor | None = None
    view_weight: torch.Tensor | None = None
    frame_mask: torch.Tensor | None = None


def check_observations(observations: CalibratedObservations, params: BodyParams) -> None:
    """Raise CalibratedFitError naming an input of the wrong shape."""
    batch, views = params.batch_size, observations.rig.num_views
    expected = {"keypoints_px": (batch, views, 25, 3)}
    if observations.keypoints_px.dim() != 4 or tuple(observations.keypoints_px.shape) != expected["keypoints_px"]:
        raise CalibratedFitError(f"keypoints_px: expected shape {expected['keypoints_px']}, "
                                 f"got {tuple(observations.keypoints_px.shape)}")
    for name, tensor, shape in (("rotations", params.rotations, (batch, 24, 3, 3)),
                                ("betas", params.betas, (batch, 10)),
                                ("transl_m", params.transl_m, (batch, 3))):
        if tuple(tensor.shape) != shape:
            raise CalibratedFitError(f"{name}: expected shape {shape}, got {tuple(tensor.shape)}")
    if observations.window < 1 or batch % observations.window:
        raise CalibratedFitError(f"window={observations.window}: must divide the batch size {batch}")
    cond = observations.cond
    if cond is not None and (cond.dim() != 3 or cond.shape[:2] != (batch, views)):
        raise CalibratedFitError(f"cond: expected shape ({batch}, {views}, C), got {tuple(cond.shape)}")


def calibrated_loss(joints: KeypointJoints, observations: CalibratedObservations,
                    config: CalibratedFitConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(total scalar L, per-body reprojection loss (B,)) of the module docstring."""
    reproj = reprojection_loss(joints.openpose_m, observations.keypoints_px, observations.rig,
                               sigma_px=config.gm_sigma_px, data_weight_px=config.data_weight_px)
    total = config.w_reprojection * reproj.sum()
    if observations.window >= 3 and config.w_accel > 0:
        windows = joints.smpl_joints_m.reshape(-1, observations.window, 24, 3)
        mask = None if observations.frame_mask is None else observations.frame_mask.reshape(-1, observations.window)
        total = total + config.w_accel * acceleration_loss(windows, frame_mask=mask).sum()
    return total, reproj


class _ShapeAndPlacement:
    """Translation (Gauss-Newton steps) and (shared) betas (Adam steps), updated inside the loop."""

    def __init__(self, params: BodyParams, config: CalibratedFitConfig, betas_group: torch.Tensor | None,
                 fixed_betas: torch.Tensor | None = None) -> None:
        self.group = betas_group
        self.betas_free = None if fixed_betas is None else (~fixed_betas).float()[:, None]
        if betas_group is None:
            betas = params.betas
        else:  # one betas row per group: the mean of its members
            count = torch.bincount(betas_group).clamp_min(1).float()[:, None]
            betas = torch.zeros(int(betas_group.max()) + 1, 10).index_add_(0, betas_group, params.betas) / count
        self.betas = betas.detach().clone().float().requires_grad_(config.optimize_betas)
        self.transl_m = params.transl_m.detach().clone().float().requires_grad_(True)
        self.optimizer = _Adam(self.betas, lr=config.betas_lr) if config.optimize_betas else None
        self.trainable = [self.transl_m] + ([self.betas] if config.optimize_betas else [])
        self.config = config

    def step(self, gradients: tuple[torch.Tensor, ...], hessian: torch.Tensor,
             observations: CalibratedObservations) -> None:
        """One Gauss-Newton step of the translation (windows: jointly over each window, with the acceleration
        term) and one Adam step of the betas, from the loss gradients (translation, [betas]) and the reprojection
        term's translation Hessian per body (B, 3, 3)."""
        config = self.config
        window = observations.window
        num = hessian.shape[0] // window
        if window == 1:  # per-frame fits (the streaming fitter): the blocks are the whole system
            full = hessian
        else:
            full = torch.zeros(num, window, 3, window, 3)
            blocks = hessian.reshape(num, window, 3, 3)
            index = torch.arange(window)
            full[:, index, :, index, :] = blocks.transpose(0, 1)
            if window >= 3 and config.w_accel > 0:
                mask = None if observations.frame_mask is None else observations.frame_mask.reshape(num, window)
                gram = 2 * 24 * config.w_accel * second_difference_gram(window, mask)  # (P, W, W), 24 joints move
                full = full + gram[:, :, None, :, None] * torch.eye(3)[None, None, :, None, :]
            full = full.reshape(num, 3 * window, 3 * window)
        trace = torch.diagonal(full, dim1=1, dim2=2).mean(dim=1).clamp_min(1e-9)
        full = full + (config.transl_damping * trace)[:, None, None] * torch.eye(3 * window)
        step = torch.linalg.solve(full, gradients[0].reshape(num, 3 * window, 1)).reshape(-1, 3)
        with torch.no_grad():
            self.transl_m -= step
        if self.optimizer is not None:
            self.optimizer.step(gradients[1] if self.betas_free is None else gradients[1] * self.betas_free)

    def body_betas(self) -> torch.Tensor:
        return self.betas if self.group is None else self.betas[self.group]


class _Adam:
    """Adam (β = 0.9, 0.999, ε = 1e-8, bias-corrected, as torch.optim.Adam's defaults) on one tensor, in a few torch
    calls: torch's optimizer costs ~0.2 ms of bookkeeping per step, a fifth of a streaming update's translation
    step."""

    def __init__(self, param: torch.Tensor, *, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.param, self.lr, self.betas, self.eps, self.count = param, lr, betas, eps, 0
        self.mean = torch.zeros_like(param)
        self.mean_sq = torch.zeros_like(param)

    @torch.no_grad()
    def step(self, gradient: torch.Tensor) -> None:
        beta1, beta2 = self.betas
        self.count += 1
        self.mean.mul_(beta1).add_(gradient, alpha=1 - beta1)
        self.mean_sq.mul_(beta2).addcmul_(gradient, gradient, value=1 - beta2)
        denominator = (self.mean_sq / (1 - beta2**self.count)).sqrt_().add_(self.eps)
        self.param.addcdiv_(self.mean, denominator, value=-self.lr / (1 - beta1**self.count))


class _RMSPreconditioner:
    """g ↦ g / (√v + ε), v ← ρ v + (1 - ρ) g² (bias-corrected): equal step sizes across joints whose losses
    have very different curvature (the global orientation moves every joint, a wrist only one)."""

    def __init__(self, decay: float, eps: float = 1e-8) -> None:
        self.decay, self.eps, self.count, self.mean_sq = decay, eps, 0, None

    def __call__(self, gradient: torch.Tensor) -> torch.Tensor:
        self.count += 1
        squared = gradient**2
        self.mean_sq = squared if self.mean_sq is None else self.decay * self.mean_sq + (1 - self.decay) * squared
        corrected = self.mean_sq / (1 - self.decay**self.count) if self.count > 1 else self.mean_sq
        return gradient / (corrected.sqrt() + self.eps)


def analytic_loss_gradients(tables, x0: torch.Tensor, betas: torch.Tensor, transl_m: torch.Tensor,
                            observations: CalibratedObservations, config: CalibratedFitConfig, *,
                            betas_needed: bool = True) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """The gradients of :func:`calibrated_loss` for per-frame fits (window 1: the reprojection term only) without
    autograd: the exact point gradient of :func:`~scorehmr_ros.fitting.multiview_guidance.reprojection_terms`
    through the body chain (:func:`~scorehmr_ros.body.ik_lm.chain_vjp`; the whole ``chain_jacobian`` when the betas
    need their columns), the rotation increments' gradient turned into the 6D one by
    :func:`~scorehmr_ros.geometry.rotations.rot6d_gradient`. ``tables``: ``ik_lm.body_tables`` of the body.

    Returns ((∂L/∂x0 (B, 144), ∂L/∂τ (B, 3)[, ∂L/∂β (B, S) when the betas are optimised]), the translation's
    Gauss-Newton Hessian w_reprojection Σ s JᵀJ (B, 3, 3)), float32. ``betas_needed`` False (every row's betas
    held): ∂L/∂β is zeros, and the Jacobian skips its β columns.
    """
    batch = x0.shape[0]
    pose_6d = x0.reshape(batch, NUM_SMPL_JOINTS, 6)
    num_betas = betas.shape[1] if config.optimize_betas and betas_needed else 0
    dtype = tables.joint_template.dtype  # the chain's: PER_FRAME_DTYPE in the fit
    chain = pose_chain(tables, rot6d_to_matrix(pose_6d).to(dtype), betas.to(dtype), transl_m.to(dtype))
    terms = reprojection_terms(chain.openpose_m.float(), observations.keypoints_px, observations.rig,
                               sigma_px=config.gm_sigma_px, data_weight_px=config.data_weight_px)
    point_gradient = config.w_reprojection * terms.gradient.to(dtype)  # (B, 25, 3)
    if num_betas:  # the β columns come with the whole Jacobian (B, 25, 3, 72 + 3 + S): δ_0..δ_23, τ, β
        gradient = (point_gradient.reshape(batch, 1, -1) @ chain_jacobian(tables, chain, num_betas).flatten(1, 2))
        gradient = gradient[:, 0].float()  # (B, 75 + S)
    else:
        gradient = chain_vjp(tables, chain, point_gradient).float()  # (B, 75)
    rotation_columns = 3 * NUM_SMPL_JOINTS
    grads = (rot6d_gradient(pose_6d, gradient[:, :rotation_columns].reshape(batch, NUM_SMPL_JOINTS, 3)).reshape(
        batch, -1), gradient[:, rotation_columns:rotation_columns + 3])
    if config.optimize_betas:
        grads += (gradient[:, rotation_columns + 3:] if num_betas else torch.zeros_like(betas),)
    return grads, config.w_reprojection * gauss_newton_hessian(terms.scale, terms.jacobian)


@functools.lru_cache(maxsize=32)
def _validated(config: CalibratedFitConfig) -> CalibratedFitConfig:
    """``config.validate()`` once per distinct (frozen) config: a streaming update fits with the same config every
    set, and checking its 25 settings each time cost ~0.1 ms of a ~7 ms update."""
    return config.validate()


@dataclass
class InversionNoise:
    """The inversion's ε̂ carried from one per-frame fit of a body to its next (the streaming fitter's tracks).

    Rows marked ``known`` take ``noise`` as the first round's inversion ε̂ instead of a denoiser call on their start
    x_0: the ε̂ of the previous frame's last guided step, f(x_k, k) at the neighbouring pose, stands in for f(x_0, 0)
    (measured on the grid of docs/fitting.md: no less accurate, one of the streaming update's two denoiser calls
    saved). When no row is known the denoiser runs as usual. After the fit ``noise`` holds each row's ε̂ of the last
    guided step (the denoiser's, before guidance) and ``known`` is all True.

    Attributes:
        noise: (B, D) ε̂ per body row.
        known: (B,) bool, rows whose ``noise`` is to be used.
    """

    noise: torch.Tensor
    known: torch.Tensor


def _pose_joints(body: KeypointBody, pose_6d: torch.Tensor, betas: torch.Tensor,
                 transl_m: torch.Tensor) -> KeypointJoints:
    return body(rotations=rot6d_to_matrix(pose_6d.reshape(-1, NUM_SMPL_JOINTS, 6)), betas=betas, transl_m=transl_m)


def calibrated_guided_fit(
    *, diffusion: Diffusion, body: KeypointBody, observations: CalibratedObservations, init: BodyParams,
    config: CalibratedFitConfig = CalibratedFitConfig(), betas_group: torch.Tensor | None = None,
    fixed_betas: torch.Tensor | None = None, stage_times: StageTimes | None = None,
    on_iteration: Callable[[int], None] | None = None, inversion_noise: InversionNoise | None = None,
) -> BodyParams:
    """Guided DDIM fit of world-frame bodies to calibrated views (module docstring).

    Args:
        diffusion: schedule + denoiser (keypoint-only prior: cond_dim 0; image-conditioned: observations.cond).
        body: reduced body model.
        observations: keypoints, rig, window (see :class:`CalibratedObservations`).
        init: start bodies (B rows).
        config: schedule and weights.
        betas_group: (B,) long group index sharing one betas row (e.g. the person of a window row); None: per row.
        fixed_betas: (B,) bool, True for rows whose betas stay as given (no betas_group then); None: all free.
        stage_times: accumulates "denoiser" and "guidance" seconds.
        on_iteration: called after each round.
        inversion_noise: ε̂ carried between fits of the same bodies (:class:`InversionNoise`, updated in place).
    """
    _validated(config)
    check_observations(observations, init)
    batch = init.batch_size
    timer = time.perf_counter
    cond = observations.cond
    if (cond is None) != (diffusion.model.config.cond_dim == 0):
        raise CalibratedFitError(f"cond: the denoiser has cond_dim {diffusion.model.config.cond_dim}, "
                                 f"got {'no cond' if cond is None else tuple(cond.shape)}")
    view_weight = observations.view_weight
    if cond is not None and view_weight is None:
        view_weight = observations.keypoints_px[..., 2].sum(dim=-1)
    if fixed_betas is not None and (betas_group is not None or tuple(fixed_betas.shape) != (batch,)):
        raise CalibratedFitError(f"fixed_betas: expected shape ({batch},) and no betas_group, got "
                                 f"{tuple(fixed_betas.shape)}")
    if inversion_noise is not None and (tuple(inversion_noise.noise.shape) != (batch, NUM_SMPL_JOINTS * 6)
                                        or tuple(inversion_noise.known.shape) != (batch,)):
        raise CalibratedFitError(f"inversion_noise: expected noise ({batch}, {NUM_SMPL_JOINTS * 6}) and known "
                                 f"({batch},), got {tuple(inversion_noise.noise.shape)} and "
                                 f"{tuple(inversion_noise.known.shape)}")
    state = _ShapeAndPlacement(init, config, betas_group, fixed_betas)

    def denoise(x: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        start = timer()
        t_batch = torch.full((batch,), t, dtype=torch.long)
        with torch.inference_mode():
            noise = view_combined_noise(diffusion.model, x, t_batch, cond=cond, view_weight=view_weight,
                                        R_cam_world=observations.rig.R_cam_world)
        if stage_times is not None:
            stage_times.add("denoiser", timer() - start)
        return t_batch, noise.clone()

    carried = None if inversion_noise is None or not bool(inversion_noise.known.any()) else inversion_noise

    def inversion_step_noise(x: torch.Tensor, t: int, iteration: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The inversion's ε̂ at (x, t): the carried rows' noise in the first round, else the denoiser's."""
        if carried is None or iteration > 0:
            return denoise(x, t)
        if bool(carried.known.all()):
            return torch.full((batch,), t, dtype=torch.long), carried.noise
        t_batch, noise = denoise(x, t)
        return t_batch, torch.where(carried.known[:, None], carried.noise, noise)

    # per-frame fits (no acceleration term, betas per row): the gradients from the analytic chain Jacobian
    analytic = observations.window == 1 and betas_group is None
    tables = body_tables(body, PER_FRAME_DTYPE) if analytic else None
    betas_needed = config.optimize_betas and (fixed_betas is None or not bool(fixed_betas.all()))

    def loss_gradients(x0: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        """((∂L/∂x0 (B, D), ∂L/∂τ (B, 3)[, ∂L/∂β]), the translation's Gauss-Newton Hessian (B, 3, 3)) at x0."""
        if analytic:
            return analytic_loss_gradients(tables, x0.detach(), state.body_betas().detach(), state.transl_m.detach(),
                                           observations, config, betas_needed=betas_needed)
        with torch.enable_grad():
            x = x0.detach().requires_grad_(True)
            joints = _pose_joints(body, x, state.body_betas(), state.transl_m)
            total, _ = calibrated_loss(joints, observations, config)
            grads = torch.autograd.grad(total, [x, *state.trainable])
        hessian = config.w_reprojection * translation_hessian(
            joints.openpose_m.detach(), observations.keypoints_px, observations.rig, sigma_px=config.gm_sigma_px,
            data_weight_px=config.data_weight_px)
        return grads, hessian

    x_t = matrix_to_rot6d(init.rotations.float()).reshape(batch, -1)
    pred_x0 = x_t
    preconditioner = _RMSPreconditioner(config.rms_decay) if config.preconditioner == "rms" else None
    for iteration in range(config.optim_iters):
        with torch.no_grad():
            for t, t_next in ddim_inversion_pairs(sample_start=config.sample_start, step=config.ddim_step):
                t_batch, noise = inversion_step_noise(x_t, t, iteration)
                x_t = diffusion.ddim_step(diffusion.predict_start_from_noise(x_t, t_batch, noise), noise, t_next)
        for t, t_next in ddim_time_pairs(sample_start=config.sample_start, step=config.ddim_step):
            t_batch, noise = denoise(x_t, t)
            prior_noise = noise
            start = timer()
            with torch.no_grad():
                x0_hat = diffusion.predict_start_from_noise(x_t, t_batch, noise)
            grads, hessian = loss_gradients(x0_hat)
            shape_grads = grads[1:]
            for inner in range(config.inner_steps):
                if inner > 0:  # later inner steps: the loss again at the moved translation/betas, x̂_0 fixed
                    inner_grads, hessian = loss_gradients(x0_hat)
                    shape_grads = inner_grads[1:]
                state.step(shape_grads, hessian, observations)
            with torch.no_grad():
                # ∇_{x_t} L = √(1/ᾱ_t) ∇_{x̂_0} L; ε̃ = ε̂ + √(1-ᾱ_t) λ ∇_{x_t} L (E8, E7)
                grad_x0 = grads[0] if preconditioner is None else preconditioner(grads[0])
                grad_x0 = torch.cat([config.orient_gradient_scale * grad_x0[:, :6], grad_x0[:, 6:]], dim=1)
                grad_xt = extract(diffusion.sqrt_recip_alphas_cumprod, t_batch, x_t.shape) * grad_x0
                noise = noise + extract(diffusion.sqrt_one_minus_alphas_cumprod, t_batch, x_t.shape) * (
                    config.gradient_scale * grad_xt)
                pred_x0 = diffusion.predict_start_from_noise(x_t, t_batch, noise)
                x_t = diffusion.ddim_step(pred_x0, noise, t_next)
            if stage_times is not None:
                stage_times.add("guidance", timer() - start)
        if on_iteration is not None:
            on_iteration(iteration)
    rotations = rot6d_to_matrix(pred_x0.reshape(batch, NUM_SMPL_JOINTS, 6)).detach()
    betas = state.body_betas().detach().clone()
    start = timer()
    rotations, transl = polish(body, BodyParams(rotations=rotations, betas=betas, transl_m=state.transl_m.detach()),
                               observations, config)
    if stage_times is not None:
        stage_times.add("polish", timer() - start)
    if inversion_noise is not None:
        inversion_noise.noise, inversion_noise.known = prior_noise, torch.ones(batch, dtype=torch.bool)
    return BodyParams(rotations=rotations, betas=betas, transl_m=transl)


def polish(body: KeypointBody, params: BodyParams, observations: CalibratedObservations,
           config: CalibratedFitConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The data-term polish of :mod:`~scorehmr_ros.fitting.fit_polish` (rigid Gauss-Newton, then Adam on the body
    joints); returns (rotations (B, 24, 3, 3), transl_m (B, 3))."""
    orient, transl = rigid_polish(body, rotations=params.rotations, betas=params.betas, transl_m=params.transl_m,
                                  keypoints_px=observations.keypoints_px, rig=observations.rig,
                                  iterations=config.polish_rigid_iters, sigma_px=config.gm_sigma_px,
                                  data_weight_px=config.data_weight_px, damping=config.transl_damping)
    rotations = torch.cat([orient[:, None], params.rotations[:, 1:]], dim=1)
    if config.polish_pose_solver == "gauss_newton":
        return pose_gauss_newton_polish(body, rotations=rotations, betas=params.betas, transl_m=transl,
                                        keypoints_px=observations.keypoints_px, rig=observations.rig,
                                        iterations=config.polish_pose_gn_iters, sigma_px=config.gm_sigma_px,
                                        data_weight_px=config.data_weight_px, damping=config.polish_pose_gn_damping,
                                        orient=config.polish_pose_gn_orient)
    return pose_polish(body, rotations=rotations, betas=params.betas, transl_m=transl,
                       loss_fn=lambda joints: calibrated_loss(joints, observations, config)[0],
                       steps=config.polish_pose_steps, pose_lr=config.polish_pose_lr,
                       transl_lr=config.polish_transl_lr)


def fit_without_prior(*, body: KeypointBody, observations: CalibratedObservations, init: BodyParams,
                      config: CalibratedFitConfig = CalibratedFitConfig(), iterations: int = 100,
                      learning_rate: float = 0.01, betas_group: torch.Tensor | None = None) -> BodyParams:
    """The same calibrated loss minimised by Adam on (6D pose, betas, translation), no diffusion prior."""
    check_observations(observations, init)
    state = _ShapeAndPlacement(init, config, betas_group)
    pose = matrix_to_rot6d(init.rotations.float()).reshape(init.batch_size, -1).detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([pose, state.transl_m], lr=learning_rate)
    with torch.enable_grad():
        for _ in range(iterations):
            optimizer.zero_grad()
            joints = _pose_joints(body, pose, state.body_betas(), state.transl_m)
            total, _ = calibrated_loss(joints, observations, config)
            grads = torch.autograd.grad(total, [pose, *state.trainable])
            pose.grad, state.transl_m.grad = grads[0], grads[1]
            optimizer.step()
            if state.optimizer is not None:
                state.optimizer.step(grads[2])
    rotations = rot6d_to_matrix(pose.detach().reshape(-1, NUM_SMPL_JOINTS, 6))
    return BodyParams(rotations=rotations, betas=state.body_betas().detach().clone(),
                      transl_m=state.transl_m.detach().clone())
