"""Exponential moving average of the diffusion weights, with the semantics of ``ema_pytorch.EMA``.

See docs/scorehmr-reference.md §9; the decay is its equation E20.

The official trainer keeps ``EMA(diffusion, beta=0.995, update_every=10)`` (defaults update_after_step 100,
inv_gamma 1, power 2/3, min_value 0) and calls ``update()`` after every optimiser step. With k the number
of ``update()`` calls so far (k = 0 on the first call):

    k = 0:                               θ_ema <- θ                       (initialisation)
    k % update_every != 0:               nothing
    k <= update_after_step:              θ_ema <- θ                       (copy during warm-up)
    otherwise:                           θ_ema <- θ_ema + (1 - d) (θ - θ_ema),  with the warm-up decay
    (E20) d = clip(1 - (1 + e / inv_gamma)^(-power), min_value, beta),  e = k - update_after_step  (d = 0 if e <= 0)

Parameters and floating-point buffers are both averaged (the schedule buffers never change). The state
saved in a checkpoint is ``initted`` and ``step`` (= number of ``update()`` calls).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from scorehmr_ros.training.training_config import EMAConfig


def ema_decay(*, num_updates: int, config: EMAConfig) -> float:
    """Equation E20: the decay used by the averaging step once ``num_updates`` update() calls have been counted.

    ``num_updates`` is k + 1 for the k-th call (ema-pytorch increments its counter before computing the decay).
    """
    epoch = max(num_updates - config.update_after_step - 1, 0)
    if epoch <= 0:
        return 0.0
    value = 1.0 - (1.0 + epoch / config.inv_gamma) ** (-config.power)
    return min(max(value, config.min_value), config.beta)


def _float_tensors(module: nn.Module) -> list[torch.Tensor]:
    """Parameters then floating-point buffers, in registration order."""
    tensors = [p.data for p in module.parameters()]
    tensors += [b.data for b in module.buffers() if b.dtype.is_floating_point]
    return tensors


class ExponentialMovingAverage:
    """An averaged copy ``ema_model`` of an online module (same architecture), updated by :meth:`update`."""

    def __init__(self, online: nn.Module, *, config: EMAConfig | None = None) -> None:
        self.config = config or EMAConfig()
        self.config.validate()
        self.ema_model = copy.deepcopy(online)
        self.ema_model.requires_grad_(False)
        self.step = 0  # update() calls so far
        self.initted = False

    @torch.no_grad()
    def copy_from(self, online: nn.Module) -> None:
        """θ_ema <- θ."""
        for target, source in zip(_float_tensors(self.ema_model), _float_tensors(online), strict=True):
            target.copy_(source)

    @torch.no_grad()
    def update(self, online: nn.Module) -> None:
        """One call per optimiser step (see the module docstring)."""
        call_index = self.step
        self.step += 1
        if not self.initted:
            self.copy_from(online)
            self.initted = True
            return
        if call_index % self.config.update_every != 0:
            return
        if call_index <= self.config.update_after_step:
            self.copy_from(online)
            return
        decay = ema_decay(num_updates=self.step, config=self.config)
        targets, sources = _float_tensors(self.ema_model), _float_tensors(online)
        torch._foreach_lerp_(targets, sources, 1.0 - decay)  # θ_ema + (1 - d)(θ - θ_ema)
