"""The diffusion process of ScoreHMR: cosine schedule, x0/ε reparameterisations, DDIM (docs/scorehmr-reference.md §3).

``Diffusion`` mirrors the official ``GaussianDiffusion``: 13 schedule buffers named after their
symbols plus the denoiser under ``model``, so its state dict is exactly the official
``ema_model.*`` layout. Schedule terms are computed in float64 and stored as float32 buffers.

Equations, numbered as in docs/scorehmr-reference.md (Ho et al. 2020, Song et al. 2021, Nichol & Dhariwal 2021):
    (E1) ᾱ(x) = cos²(((x/T + s) / (1 + s)) π/2) / ᾱ(0),  β_t = clip(1 - ᾱ(t+1)/ᾱ(t), 0, 0.999)
    (E2) q(x_t | x_0):  x_t = √ᾱ_t x_0 + √(1 - ᾱ_t) ε
    (E3) x̂_0 = √(1/ᾱ_t) x_t - √(1/ᾱ_t - 1) ε̂
    (E4) ε = (√(1/ᾱ_t) x_t - x_0) / √(1/ᾱ_t - 1)
    (E5) DDIM (η = 0):  x_t' = √ᾱ_t' x̂_0 + √(1 - ᾱ_t') ε̂
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from scorehmr_ros.diffusion.denoiser import Denoiser

#: Diffusion steps of the official model.
NUM_TIMESTEPS = 1000
#: Offset s of the cosine schedule (official value).
COSINE_SCHEDULE_OFFSET = 0.008
#: Largest β (official clip).
MAX_BETA = 0.999
#: Floor of the posterior variance before its log (official value).
POSTERIOR_VARIANCE_FLOOR = 1e-20


def cosine_beta_schedule(timesteps: int, *, s: float = COSINE_SCHEDULE_OFFSET) -> torch.Tensor:
    """(T,) float64 β_t of the cosine schedule, equation E1 (Nichol & Dhariwal 2021)."""
    x = torch.linspace(0, timesteps, timesteps + 1, dtype=torch.float64)
    alphas_cumprod = torch.cos(((x / timesteps) + s) / (1 + s) * math.pi * 0.5) ** 2
    alphas_cumprod = alphas_cumprod / alphas_cumprod[0]
    betas = 1 - (alphas_cumprod[1:] / alphas_cumprod[:-1])
    return torch.clip(betas, 0, MAX_BETA)


def schedule_buffers(betas: torch.Tensor) -> dict[str, torch.Tensor]:
    """All schedule terms from (T,) float64 β, in float64, keyed by the official buffer names."""
    alphas = 1.0 - betas
    alphas_cumprod = torch.cumprod(alphas, dim=0)
    alphas_cumprod_prev = torch.cat((alphas_cumprod.new_ones(1), alphas_cumprod[:-1]))
    # posterior q(x_{t-1} | x_t, x_0)
    posterior_variance = betas * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod)
    return {
        "betas": betas,
        "alphas_cumprod": alphas_cumprod,
        "alphas_cumprod_prev": alphas_cumprod_prev,
        # q(x_t | x_0), equation E2
        "sqrt_alphas_cumprod": torch.sqrt(alphas_cumprod),
        "sqrt_one_minus_alphas_cumprod": torch.sqrt(1.0 - alphas_cumprod),
        "log_one_minus_alphas_cumprod": torch.log(1.0 - alphas_cumprod),
        # x_0 from ε, equation E3
        "sqrt_recip_alphas_cumprod": torch.sqrt(1.0 / alphas_cumprod),
        "sqrt_recipm1_alphas_cumprod": torch.sqrt(1.0 / alphas_cumprod - 1),
        "posterior_variance": posterior_variance,
        "posterior_log_variance_clipped": torch.log(posterior_variance.clamp(min=POSTERIOR_VARIANCE_FLOOR)),
        "posterior_mean_coef1": betas * torch.sqrt(alphas_cumprod_prev) / (1.0 - alphas_cumprod),
        "posterior_mean_coef2": (1.0 - alphas_cumprod_prev) * torch.sqrt(alphas) / (1.0 - alphas_cumprod),
        # training-loss weight with γ = 0: all ones
        "p2_loss_weight": (1.0 + alphas_cumprod / (1 - alphas_cumprod)) ** -0.0,
    }


#: The 13 buffer names, in registration order (the official order).
SCHEDULE_BUFFER_NAMES: tuple[str, ...] = tuple(schedule_buffers(cosine_beta_schedule(4)).keys())


def extract(a: torch.Tensor, t: torch.Tensor, x_shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
    """Gather a[t] for a (T,) buffer and (B,) timesteps, shaped (B, 1, ..., 1) to broadcast over x_shape."""
    return a.gather(-1, t).reshape(t.shape[0], *((1,) * (len(x_shape) - 1)))


def ddim_time_pairs(*, sample_start: int, step: int) -> list[tuple[int, int]]:
    """Sampling pairs (t, t') going down: [(S, S-k), ..., (k, 0)] over times range(0, S+1, k).

    When S is not on the grid the first pair starts at the largest grid point below S
    (official: SAMPLE_START 999, STEP 50 starts at 950).
    """
    if step < 1 or sample_start < step:
        raise ValueError(f"ddim_time_pairs: need 1 <= step <= sample_start, "
                         f"got step={step}, sample_start={sample_start}")
    times = list(range(0, sample_start + 1, step))
    return [(t, t_prev) for t, t_prev in zip(reversed(times[1:]), reversed(times[:-1]), strict=True)]


def ddim_inversion_pairs(*, sample_start: int, step: int) -> list[tuple[int, int]]:
    """Inversion pairs (t, t') going up: [(0, k), ..., (S-k, S)]; the reverse of :func:`ddim_time_pairs`."""
    return [(t_prev, t) for t, t_prev in reversed(ddim_time_pairs(sample_start=sample_start, step=step))]


@dataclass(frozen=True)
class ModelPrediction:
    """One denoiser call: ε̂ (B, D) and the one-step estimate x̂_0 (B, D)."""

    pred_noise: torch.Tensor
    pred_x0: torch.Tensor


class Diffusion(nn.Module):
    """Cosine-schedule diffusion around a :class:`Denoiser` (objective ``pred_noise``)."""

    betas: torch.Tensor
    alphas_cumprod: torch.Tensor
    sqrt_alphas_cumprod: torch.Tensor
    sqrt_one_minus_alphas_cumprod: torch.Tensor
    sqrt_recip_alphas_cumprod: torch.Tensor
    sqrt_recipm1_alphas_cumprod: torch.Tensor

    def __init__(self, *, denoiser: Denoiser, timesteps: int = NUM_TIMESTEPS) -> None:
        super().__init__()
        if timesteps < 2:
            raise ValueError(f"Diffusion.timesteps={timesteps}: must be >= 2")
        self.num_timesteps = timesteps
        for name, value in schedule_buffers(cosine_beta_schedule(timesteps)).items():
            self.register_buffer(name, value.to(torch.float32))
        self.model = denoiser

    @property
    def pose_dim(self) -> int:
        return self.model.config.pose_dim

    def predict_start_from_noise(self, x_t: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Equation E3: x̂_0 from x_t (B, D), t (B,) and ε (B, D)."""
        return (extract(self.sqrt_recip_alphas_cumprod, t, x_t.shape) * x_t
                - extract(self.sqrt_recipm1_alphas_cumprod, t, x_t.shape) * noise)

    def predict_noise_from_start(self, x_t: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        """Equation E4: ε from x_t (B, D), t (B,) and x_0 (B, D)."""
        return ((extract(self.sqrt_recip_alphas_cumprod, t, x_t.shape) * x_t - x0)
                / extract(self.sqrt_recipm1_alphas_cumprod, t, x_t.shape))

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Equation E2: x_t from x_0 (B, D), t (B,) and ε (B, D)."""
        return (extract(self.sqrt_alphas_cumprod, t, x0.shape) * x0
                + extract(self.sqrt_one_minus_alphas_cumprod, t, x0.shape) * noise)

    def ddim_step(self, pred_x0: torch.Tensor, pred_noise: torch.Tensor, t_next: int) -> torch.Tensor:
        """Equation E5, η = 0: x_{t'} = √ᾱ_t' x̂_0 + √(1 - ᾱ_t') ε̂ (same form for inversion and sampling)."""
        alpha_next = self.alphas_cumprod[t_next]
        return pred_x0 * alpha_next.sqrt() + pred_noise * (1 - alpha_next).sqrt()

    def predict(self, x_t: torch.Tensor, t: int, cond: torch.Tensor | None, *, clip_x0: bool) -> ModelPrediction:
        """One denoiser call at the integer step t for the whole batch; x̂_0 clamped to [-1, 1] if clip_x0."""
        t_batch = torch.full((x_t.shape[0],), t, device=x_t.device, dtype=torch.long)
        pred_noise = self.model(x_t, t_batch, cond)
        pred_x0 = self.predict_start_from_noise(x_t, t_batch, pred_noise)
        if clip_x0:
            pred_x0 = pred_x0.clamp(-1.0, 1.0)
        return ModelPrediction(pred_noise=pred_noise, pred_x0=pred_x0)

    @torch.inference_mode()
    def ddim_sample(
        self, cond: torch.Tensor | None, *, batch_size: int, sample_start: int, step: int,
        generator: torch.Generator | None = None, clip_x0: bool = True,
    ) -> torch.Tensor:
        """Vanilla DDIM (η = 0) from x ~ N(0, I) at the first grid step; returns the last x̂_0, (B, D).

        Official defaults for unguided sampling: sample_start 999, step 50 (starts at t = 950).
        """
        x_t = torch.randn((batch_size, self.pose_dim), generator=generator, device=self.betas.device)
        prediction = None
        for t, t_next in ddim_time_pairs(sample_start=sample_start, step=step):  # (S, S-k), ..., (k, 0)
            prediction = self.predict(x_t, t, cond, clip_x0=clip_x0)
            x_t = self.ddim_step(prediction.pred_x0, prediction.pred_noise, t_next)
        return prediction.pred_x0
