"""Training the diffusion denoiser with the official recipe (docs/scorehmr-reference.md §9).

Each step (official ``Trainer.train`` + ``GaussianDiffusion.p_losses``, objective ``pred_noise``, l2, p2 weight 1):

    x_0, c ~ data;  t ~ U{0, ..., T-1};  ε ~ N(0, I)
    x_t = √ᾱ_t x_0 + √(1 - ᾱ_t) ε                                   (forward process E2, docs/scorehmr-reference.md)
    (E19) L = mean_{b, d} (f(x_t, t, c) - ε)²                          (noise-prediction MSE)
    Adam(lr 1e-4, betas (0.9, 0.99)) step on L after clipping the gradient's global L2 norm to 1.0,
    then the EMA update (training/ema.py).

Reproducibility: all draws of step s (batch rows, augmentation, t, ε) come from a CPU generator seeded with
(seed, s), so a run resumed from a checkpoint at step s continues exactly as the uninterrupted run (the
checkpoint holds the online weights, the EMA weights and step, and Adam's state).

Checkpoints are the official format (diffusion/checkpoint.py): ``model-<step>.pt`` with step, model, ema, opt.
:func:`export_prior` writes the small shipped form: EMA weights only, referenced from ``model``,
``ema_model.*`` and ``online_model.*`` alike (torch.save stores a shared tensor once), ``opt`` empty.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from scorehmr_ros.diffusion.checkpoint import (
    ARCH_KEY,
    EMA_PREFIX,
    ONLINE_PREFIX,
    CheckpointError,
    check_state_dict,
    config_from_checkpoint,
    read_checkpoint_file,
    save_diffusion_checkpoint,
)
from scorehmr_ros.diffusion.denoiser import Denoiser, DenoiserConfig
from scorehmr_ros.diffusion.diffusion import NUM_TIMESTEPS, Diffusion
from scorehmr_ros.training.ema import ExponentialMovingAverage
from scorehmr_ros.training.training_config import TrainConfig
from scorehmr_ros.training.training_data import PoseSampler

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """The outcome of :func:`train`.

    Attributes:
        online: the trained (non-averaged) diffusion model.
        ema: the EMA diffusion model (the weights to use).
        start_step / final_step: optimiser steps before and after this call.
        losses: (final_step - start_step,) float64 loss of each step of this call.
        checkpoint_path: the last checkpoint written (always written at the end).
        wall_time_s: seconds spent in the loop.
    """

    online: Diffusion
    ema: Diffusion
    start_step: int
    final_step: int
    losses: torch.Tensor
    checkpoint_path: Path
    wall_time_s: float


def step_generator(*, seed: int, step: int) -> torch.Generator:
    """The CPU generator of all random draws of optimiser step ``step`` (0-based)."""
    return torch.Generator().manual_seed(seed * 2**32 + step)


def noise_prediction_loss(diffusion: Diffusion, *, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor,
                          cond: torch.Tensor | None) -> torch.Tensor:
    """Equation E19: mean squared error between f(q_sample(x_0, t, ε), t, c) and ε; x0, noise (B, D), t (B,)."""
    x_t = diffusion.q_sample(x0, t, noise)
    return torch.mean((diffusion.model(x_t, t, cond) - noise) ** 2)


def checkpoint_path(out_dir: str | Path, step: int) -> Path:
    """``<out_dir>/model-<step>.pt`` (the official trainer names files by milestone = step // 10000)."""
    return Path(out_dir) / f"model-{step}.pt"


def new_diffusion(config: DenoiserConfig, *, seed: int, timesteps: int = NUM_TIMESTEPS) -> Diffusion:
    """A freshly initialised model; the initial weights depend only on ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Diffusion(denoiser=Denoiser(config), timesteps=timesteps)


def make_optimizer(diffusion: Diffusion, config: TrainConfig) -> torch.optim.Adam:
    return torch.optim.Adam(diffusion.parameters(), lr=config.learning_rate,
                            betas=(config.adam_beta1, config.adam_beta2))


@dataclass(frozen=True)
class TrainingState:
    """What a checkpoint restores: online and EMA models, EMA bookkeeping, Adam state, step."""

    online: Diffusion
    ema_model: Diffusion
    ema_step: int
    optimizer_state: Mapping
    step: int


def load_training_state(path: str | Path) -> TrainingState:
    """Read a checkpoint of the official format for resuming (online weights from ``model``, EMA from ``ema``).

    Raises:
        CheckpointError: unreadable file, missing entries, or weights that do not match the recorded architecture.
    """
    data = read_checkpoint_file(path)
    for key in ("step", "model", "ema"):
        if key not in data:
            raise CheckpointError(f"{path}: no '{key}' entry; cannot resume from it")
    config, timesteps = config_from_checkpoint(data, path=path)
    online = Diffusion(denoiser=Denoiser(config), timesteps=timesteps)
    check_state_dict(online.state_dict(), data["model"], where=f"{path} ['model']")
    online.load_state_dict(data["model"], strict=True)
    ema_model = Diffusion(denoiser=Denoiser(config), timesteps=timesteps)
    ema_state = {k[len(EMA_PREFIX):]: v for k, v in data["ema"].items() if k.startswith(EMA_PREFIX)}
    check_state_dict(ema_model.state_dict(), ema_state, where=f"{path} ['ema'][{EMA_PREFIX}*]")
    ema_model.load_state_dict(ema_state, strict=True)
    ema_step = int(data["ema"].get("step", torch.tensor(int(data["step"]))))
    return TrainingState(online=online, ema_model=ema_model, ema_step=ema_step,
                         optimizer_state=data.get("opt") or {}, step=int(data["step"]))


def _save(out_dir: Path, *, online: Diffusion, ema: ExponentialMovingAverage, optimizer: torch.optim.Adam,
          step: int) -> Path:
    path = checkpoint_path(out_dir, step)
    save_diffusion_checkpoint(path, online=online, ema=ema.ema_model, step=step,
                              optimizer_state=optimizer.state_dict())
    LOGGER.info("wrote checkpoint %s", path)
    return path


def train(*, sampler: PoseSampler, config: TrainConfig, out_dir: str | Path,
          denoiser_config: DenoiserConfig | None = None, resume_from: str | Path | None = None,
          device: str | torch.device = "cpu", progress: bool = True) -> TrainResult:
    """Train a denoiser on ``sampler``'s poses up to ``config.total_steps``; write checkpoints to ``out_dir``.

    Args:
        sampler: the data (its ``cond_dim`` must equal the denoiser's).
        config: optimiser, batch, length, seed, checkpoint period.
        out_dir: folder for ``model-<step>.pt``.
        denoiser_config: architecture of a new model (ignored when resuming: the checkpoint's is used).
        resume_from: a checkpoint of a previous run (same data and seed reproduce the uninterrupted run).
        device: where the model trains; random draws are made on the CPU and moved.
        progress: show a tqdm bar.
    Raises:
        ValueError: invalid config, or a condition size that does not match the denoiser.
        CheckpointError: ``resume_from`` unreadable or not a training checkpoint.
    """
    from tqdm import tqdm

    config.validate()
    out_dir = Path(out_dir)
    if resume_from is not None:
        state = load_training_state(resume_from)
        online, start_step = state.online, state.step
        ema = ExponentialMovingAverage(online, config=config.ema)
        ema.ema_model.load_state_dict(state.ema_model.state_dict())
        ema.step, ema.initted = state.ema_step, state.ema_step > 0
        LOGGER.info("resuming from %s at step %d", resume_from, start_step)
    else:
        denoiser_config = denoiser_config or DenoiserConfig()
        online, start_step, state = new_diffusion(denoiser_config, seed=config.seed), 0, None
        ema = ExponentialMovingAverage(online, config=config.ema)
    if online.model.config.cond_dim != sampler.cond_dim:
        raise ValueError(f"data condition size {sampler.cond_dim} != denoiser cond_dim {online.model.config.cond_dim}")
    online.to(device).train()
    ema.ema_model.to(device)
    optimizer = make_optimizer(online, config)
    if state is not None and state.optimizer_state:
        optimizer.load_state_dict(state.optimizer_state)
    elif state is not None:
        LOGGER.warning("%s holds no optimiser state (an exported prior?); Adam restarts from zero moments",
                       resume_from)
    losses: list[float] = []
    last_path = None
    started = time.monotonic()
    bar = tqdm(initial=start_step, total=config.total_steps, disable=not progress, dynamic_ncols=True)
    for step in range(start_step, config.total_steps):
        generator = step_generator(seed=config.seed, step=step)
        x0, cond = sampler.sample(batch_size=config.batch_size, generator=generator)
        t = torch.randint(0, online.num_timesteps, (config.batch_size,), generator=generator)
        noise = torch.randn(x0.shape, generator=generator)
        x0, t, noise = x0.to(device), t.to(device), noise.to(device)
        cond = None if cond is None else cond.to(device)
        loss = noise_prediction_loss(online, x0=x0, t=t, noise=noise, cond=cond)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(online.parameters(), config.grad_clip_norm)
        optimizer.step()
        ema.update(online)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"training loss is {value} at step {step}; stopping")
        losses.append(value)
        done = step + 1
        bar.set_description(f"loss: {value:.4f}")
        bar.update(1)
        if done % config.log_every == 0:
            window = losses[-config.log_every:]
            LOGGER.info("step %d: loss %.5f (mean of the last %d steps)", done, sum(window) / len(window), len(window))
        if config.checkpoint_every and done % config.checkpoint_every == 0 and done < config.total_steps:
            last_path = _save(out_dir, online=online, ema=ema, optimizer=optimizer, step=done)
    bar.close()
    final_step = max(config.total_steps, start_step)
    if last_path is None or last_path != checkpoint_path(out_dir, final_step):
        last_path = _save(out_dir, online=online, ema=ema, optimizer=optimizer, step=final_step)
    online.eval()
    ema.ema_model.eval()
    return TrainResult(online=online, ema=ema.ema_model, start_step=start_step, final_step=final_step,
                       losses=torch.tensor(losses, dtype=torch.float64), checkpoint_path=last_path,
                       wall_time_s=time.monotonic() - started)


def export_prior(*, checkpoint: str | Path, out_path: str | Path) -> Path:
    """Write the shipped form of a checkpoint: its EMA weights in the official layout, stored once, no Adam state.

    ``model``, ``ema["ema_model.*"]`` and ``ema["online_model.*"]`` all reference the EMA tensors (torch.save
    writes a shared tensor once), so the file is about one copy of the weights; the raw online weights are
    not kept. Loads with :func:`core.checkpoint.load_diffusion_checkpoint` and the official loader.
    """
    data = read_checkpoint_file(checkpoint)
    ema = data.get("ema")
    if not isinstance(ema, Mapping) or ARCH_KEY not in data:
        raise CheckpointError(f"{checkpoint}: expected one of our training checkpoints ('ema' and '{ARCH_KEY}')")
    weights = {k[len(EMA_PREFIX):]: v.contiguous() for k, v in ema.items() if k.startswith(EMA_PREFIX)}
    slim_ema: dict[str, torch.Tensor] = {"initted": torch.tensor(True),
                                         "step": torch.tensor(int(data["step"]), dtype=torch.int64)}
    slim_ema.update({EMA_PREFIX + k: v for k, v in weights.items()})
    slim_ema.update({ONLINE_PREFIX + k: v for k, v in weights.items()})
    slim = {"step": int(data["step"]), "model": dict(weights), "ema": slim_ema, "opt": {},
            ARCH_KEY: dict(data[ARCH_KEY])}
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(slim, out_path)
    return out_path
