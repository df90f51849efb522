"""The denoiser behind an engine: a drop-in for :class:`~scorehmr_ros.diffusion.denoiser.Denoiser` in every fitter.

Engine inputs: ``x_t`` (B, D) float32, ``t`` (B,) int64 timesteps in [0, T), and for an image-conditioned prior
``cond`` (B, C) float32; output ``noise`` (B, D).
"""

from __future__ import annotations

import torch
from torch import nn

from scorehmr_ros.accel.cache import EngineCache
from scorehmr_ros.accel.engine import Engine, EngineSpec, TensorSpec
from scorehmr_ros.accel.select import AccelConfig, Selection, select_engine
from scorehmr_ros.diffusion.denoiser import Denoiser, DenoiserConfig
from scorehmr_ros.diffusion.diffusion import Diffusion

#: Largest batch a denoiser engine accepts: people x window frames x views of one streaming step, with room.
DENOISER_MAX_BATCH = 1024


def denoiser_spec(config: DenoiserConfig, *, timesteps: int) -> EngineSpec:
    inputs = [TensorSpec("x_t", (config.pose_dim,), value_range=(-1.0, 1.0)),
              TensorSpec("t", (), dtype="int64", value_range=(0, timesteps))]
    if config.cond_dim:
        inputs.append(TensorSpec("cond", (config.cond_dim,)))
    # one CPU thread: a streaming step's batches are a few rows, and waking a second thread for each of the MLP's
    # small ops cost more than it saved (ONNX Runtime, batch 2: 0.37 ms on 1 thread, 0.54 ms on 2; 2-core machine)
    return EngineSpec(inputs=tuple(inputs), outputs=(TensorSpec("noise", (config.pose_dim,)),),
                      max_batch=DENOISER_MAX_BATCH, cpu_threads=1)


class EngineDenoiser(nn.Module):
    """ε̂ = f(x_t, t, c) computed by an engine (no gradients); same call and checks as the eager Denoiser."""

    def __init__(self, engine: Engine, config: DenoiserConfig) -> None:
        super().__init__()
        self.engine = engine
        self.config = config

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """x_t: (B, D), t: (B,) integer timesteps, cond: (B, C) or None -> (B, D) predicted noise."""
        if cond is not None and cond.shape[-1] == 0:
            cond = None
        if (cond is None) != (self.config.cond_dim == 0):
            raise ValueError(f"cond: this denoiser has cond_dim {self.config.cond_dim}, got "
                             f"{None if cond is None else tuple(cond.shape)}")
        inputs = {"x_t": x_t, "t": t.long()}
        if cond is not None:
            inputs["cond"] = cond
        return self.engine(**inputs)["noise"].to(x_t.device)


def accelerate_diffusion(diffusion: Diffusion, *, config: AccelConfig, cache: EngineCache | None = None,
                         logger=None) -> tuple[Diffusion, Selection]:
    """A Diffusion with the same schedule whose denoiser runs on the engine ``config`` selects (the given one is
    left unchanged). With the eager backend chosen, the original denoiser module is kept (gradients and all).

    The schedule and everything around the denoiser stay on the CPU with the rest of the fitter (body model,
    projection, guidance); only the engine runs on ``config.device``, taking its inputs there and giving its
    outputs back on the caller's device."""
    denoiser = diffusion.model
    if not isinstance(denoiser, Denoiser):
        raise TypeError(f"accelerate_diffusion: expected an eager Denoiser, got {type(denoiser).__name__}")
    selection = select_engine(denoiser, denoiser_spec(denoiser.config, timesteps=diffusion.num_timesteps),
                              name="denoiser", config=config, cache=cache, logger=logger)
    if selection.is_the_module:
        return diffusion, selection
    accelerated = Diffusion(denoiser=EngineDenoiser(selection.engine, denoiser.config),
                            timesteps=diffusion.num_timesteps)
    return accelerated, selection
