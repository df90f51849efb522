"""Training settings (no torch import, so the CLI can take its defaults from here): the official recipe.

Official values (docs/scorehmr-reference.md §9; ``score_hmr/configs/base.yaml`` and ``trainer.py``): Adam lr 1e-4 with
betas (0.9, 0.99), batch 128, 1,000,000 steps, gradient-norm clip 1.0, EMA beta 0.995 updated every 10 steps
after step 100 with the power-2/3 warm-up of ema-pytorch.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EMAConfig:
    """EMA settings; the defaults are the official trainer's (ema-pytorch defaults except beta and update_every)."""

    beta: float = 0.995  # largest decay
    update_every: int = 10  # average every this many update() calls
    update_after_step: int = 100  # before this, copy the weights instead of averaging
    inv_gamma: float = 1.0  # warm-up time scale
    power: float = 2.0 / 3.0  # warm-up exponent
    min_value: float = 0.0  # smallest decay

    def validate(self) -> None:
        """Raise ValueError naming the field, its value and the allowed range."""
        if not 0.0 <= self.beta <= 1.0:
            raise ValueError(f"EMAConfig.beta={self.beta}: must be in [0, 1]")
        if self.update_every < 1:
            raise ValueError(f"EMAConfig.update_every={self.update_every}: must be >= 1")
        if self.update_after_step < 0:
            raise ValueError(f"EMAConfig.update_after_step={self.update_after_step}: must be >= 0")
        if self.inv_gamma <= 0:
            raise ValueError(f"EMAConfig.inv_gamma={self.inv_gamma}: must be > 0")
        if self.power <= 0:
            raise ValueError(f"EMAConfig.power={self.power}: must be > 0")
        if not 0.0 <= self.min_value <= self.beta:
            raise ValueError(f"EMAConfig.min_value={self.min_value}: must be in [0, beta={self.beta}]")


@dataclass(frozen=True)
class TrainConfig:
    """One training run: optimiser, batch, length, seed, checkpointing."""

    total_steps: int = 1_000_000  # optimiser steps to reach (a resumed run continues up to this)
    batch_size: int = 128  # poses per step
    learning_rate: float = 1e-4  # Adam step size
    adam_beta1: float = 0.9  # Adam first-moment decay
    adam_beta2: float = 0.99  # Adam second-moment decay
    grad_clip_norm: float = 1.0  # largest global gradient L2 norm
    seed: int = 0  # every random draw of step s comes from a generator seeded with (seed, s)
    checkpoint_every: int = 100_000  # steps between checkpoints (0: only at the end); official 100k
    log_every: int = 1000  # steps between log lines (running mean of the loss)
    ema: EMAConfig = field(default_factory=EMAConfig)

    def validate(self) -> None:
        """Raise ValueError naming the field, its value and the allowed range."""
        if self.total_steps < 1:
            raise ValueError(f"TrainConfig.total_steps={self.total_steps}: must be >= 1")
        if self.batch_size < 1:
            raise ValueError(f"TrainConfig.batch_size={self.batch_size}: must be >= 1")
        if not 0.0 < self.learning_rate < 1.0:
            raise ValueError(f"TrainConfig.learning_rate={self.learning_rate}: must be in (0, 1)")
        for name in ("adam_beta1", "adam_beta2"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"TrainConfig.{name}={value}: must be in [0, 1)")
        if self.grad_clip_norm <= 0:
            raise ValueError(f"TrainConfig.grad_clip_norm={self.grad_clip_norm}: must be > 0")
        if not 0 <= self.seed < 2**31:
            raise ValueError(f"TrainConfig.seed={self.seed}: must be in [0, 2^31)")
        if self.checkpoint_every < 0:
            raise ValueError(f"TrainConfig.checkpoint_every={self.checkpoint_every}: must be >= 0 (0: only at the end)")
        if self.log_every < 1:
            raise ValueError(f"TrainConfig.log_every={self.log_every}: must be >= 1")
        self.ema.validate()
