"""The ScoreHMR denoiser: the official fully connected noise predictor (docs/scorehmr-reference.md §2).

ε̂ = f(x_t, t, c) with x_t: (B, D) the noised 6D pose (D = 144 = 24 x 6), t: (B,) raw integer
timesteps 0..T-1 and c: (B, C) the standardised image features (C = 3072 for PARE), or no
condition at all (C = 0, the keypoint-only prior trained by this project).

Submodule names follow the official ``FC`` exactly, so the official state dict loads with
strict key checks: ``time_mlp.{1,3}``, ``init_mlp``, ``blocks.{i}.mlp.1``,
``blocks.{i}.block.{layer_norm1,linear_layer1,layer_norm2,linear_layer2}``, ``final_mlp``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from scorehmr_ros.body.joint_counts import NUM_SMPL_JOINTS

#: Size of the 6D pose vector: 24 joints (global orient + 23 body joints) x 6 numbers.
POSE_DIM_6D = NUM_SMPL_JOINTS * 6  # 144
#: Size of the official PARE condition: 128 channels x 24 parts.
PARE_COND_DIM = 128 * NUM_SMPL_JOINTS  # 3072
#: Period scale of the sinusoidal time embedding (official value).
TIME_EMBEDDING_MAX_PERIOD = 10000.0


@dataclass(frozen=True)
class DenoiserConfig:
    """Architecture of the denoiser; the defaults are the official checkpoint's."""

    pose_dim: int = POSE_DIM_6D  # D: size of x_t; also the time-embedding size (official POSE_DIM)
    hidden_dim: int = 1024  # width of the MLP inside each residual block (official HIDDEN_LAYER_DIM)
    num_blocks: int = 3  # residual blocks (official NUM_BLOCKS_POSE)
    cond_dim: int = PARE_COND_DIM  # C: condition size; 0 = unconditional (keypoint-only) prior

    def validate(self) -> None:
        """Raise ValueError naming the field, its value and the allowed range."""
        if self.pose_dim < 4 or self.pose_dim % 2:
            raise ValueError(f"DenoiserConfig.pose_dim={self.pose_dim}: must be an even integer >= 4")
        if self.hidden_dim < 1:
            raise ValueError(f"DenoiserConfig.hidden_dim={self.hidden_dim}: must be >= 1")
        if self.num_blocks < 1:
            raise ValueError(f"DenoiserConfig.num_blocks={self.num_blocks}: must be >= 1")
        if self.cond_dim < 0:
            raise ValueError(f"DenoiserConfig.cond_dim={self.cond_dim}: must be >= 0 (0 = no image condition)")

    @property
    def time_dim(self) -> int:
        """Width of the time embedding after its MLP: 4 D (576 for D = 144)."""
        return 4 * self.pose_dim

    def as_dict(self) -> dict[str, int]:
        return {"pose_dim": self.pose_dim, "hidden_dim": self.hidden_dim,
                "num_blocks": self.num_blocks, "cond_dim": self.cond_dim}


def sinusoidal_time_embedding(t: torch.Tensor, *, dim: int) -> torch.Tensor:
    """(B,) timesteps -> (B, dim) embedding [sin(t f_k), cos(t f_k)], sine first.

    f_k = exp(-k ln(10000) / (dim/2 - 1)), k = 0 .. dim/2 - 1 (72 frequencies for dim 144).
    """
    half_dim = dim // 2
    log_step = math.log(TIME_EMBEDDING_MAX_PERIOD) / (half_dim - 1)
    frequencies = torch.exp(torch.arange(half_dim, device=t.device) * -log_step)  # (dim/2,)
    phase = t[:, None] * frequencies[None, :]  # (B, dim/2)
    return torch.cat((phase.sin(), phase.cos()), dim=-1)


class SinusoidalTimeEmbedding(nn.Module):
    """Parameter-free module wrapper of :func:`sinusoidal_time_embedding` (index 0 of ``time_mlp``)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return sinusoidal_time_embedding(t, dim=self.dim)


class ConditionedMLP(nn.Module):
    """z -> LayerNorm -> Linear -> GELU -> LayerNorm -> Linear -> GELU; (B, D + C) -> (B, D)."""

    def __init__(self, *, input_dim: int, hidden_dim: int, output_dim: int) -> None:
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(input_dim)
        self.linear_layer1 = nn.Linear(input_dim, hidden_dim)
        self.layer_norm2 = nn.LayerNorm(hidden_dim)
        self.linear_layer2 = nn.Linear(hidden_dim, output_dim)
        self.act = nn.GELU()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = self.act(self.linear_layer1(self.layer_norm1(z)))
        return self.act(self.linear_layer2(self.layer_norm2(z)))


class ResidualBlock(nn.Module):
    """h <- h (1 + scale) + shift with (scale, shift) = Linear(SiLU(tt)); then h <- h + MLP([h, c])."""

    def __init__(self, *, pose_dim: int, hidden_dim: int, time_dim: int, cond_dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(time_dim, 2 * pose_dim))
        self.block = ConditionedMLP(input_dim=pose_dim + cond_dim, hidden_dim=hidden_dim, output_dim=pose_dim)

    def forward(self, h: torch.Tensor, tt: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        scale, shift = self.mlp(tt).chunk(2, dim=1)  # (B, D) each
        h = h * (scale + 1) + shift
        z = h if cond is None else torch.cat((h, cond), dim=1)  # (B, D + C)
        return h + self.block(z)


class Denoiser(nn.Module):
    """Noise predictor ε̂ = f(x_t, t, c) of the official ``FC`` (objective ``pred_noise``)."""

    def __init__(self, config: DenoiserConfig | None = None) -> None:
        super().__init__()
        config = config or DenoiserConfig()
        config.validate()
        self.config = config
        d, time_dim = config.pose_dim, config.time_dim
        self.time_mlp = nn.Sequential(
            SinusoidalTimeEmbedding(d), nn.Linear(d, time_dim), nn.GELU(), nn.Linear(time_dim, time_dim)
        )
        self.init_mlp = nn.Linear(d, d)
        self.blocks = nn.ModuleList(
            ResidualBlock(pose_dim=d, hidden_dim=config.hidden_dim, time_dim=time_dim, cond_dim=config.cond_dim)
            for _ in range(config.num_blocks)
        )
        self.final_mlp = nn.Linear(d, d)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Predict the noise.

        Args:
            x_t: (B, D) noised 6D pose.
            t: (B,) integer timesteps, raw 0..T-1 (not normalised).
            cond: (B, C) standardised image features; None (or (B, 0)) for an unconditional model.
        Returns:
            (B, D) predicted noise ε̂.
        """
        cond_dim = self.config.cond_dim
        if cond is not None and cond.shape[-1] == 0:
            cond = None
        if cond_dim == 0 and cond is not None:
            raise ValueError(f"this denoiser has no image condition (cond_dim 0) but got cond {tuple(cond.shape)}")
        if cond_dim > 0 and (cond is None or cond.shape != (x_t.shape[0], cond_dim)):
            got = None if cond is None else tuple(cond.shape)
            raise ValueError(f"cond: expected shape ({x_t.shape[0]}, {cond_dim}), got {got}")
        h = self.init_mlp(x_t)
        tt = self.time_mlp(t)  # (B, 4 D)
        for block in self.blocks:
            h = block(h, tt, cond)
        return self.final_mlp(h)
