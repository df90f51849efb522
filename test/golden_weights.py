"""Deterministic random denoiser weights for the golden tests (numpy only, no torch, no repo imports).

The same function generates the weights in the tests and in the out-of-repo driver that ran the
official code (see test/fixtures/golden/README.diffusion.md), so the big weights never need to be committed:
numpy's legacy ``RandomState`` stream is stable across numpy versions.

Per tensor (keys in sorted order, one RandomState for all):
    linear weight (out, in): uniform(-1/√in, 1/√in)          (like nn.Linear's default init)
    linear bias (out,):      uniform(-1/√in, 1/√in), with `in` taken from the matching weight
    LayerNorm weight:        1 + 0.1 N(0, 1);  LayerNorm bias: 0.1 N(0, 1)
"""

from __future__ import annotations

import hashlib

import numpy as np


def random_denoiser_state(shapes: dict[str, tuple[int, ...]], *, seed: int) -> dict[str, np.ndarray]:
    """float32 arrays for the given {official key: shape}; deterministic in (shapes, seed)."""
    rng = np.random.RandomState(seed)
    state: dict[str, np.ndarray] = {}
    for key in sorted(shapes):
        shape = tuple(shapes[key])
        if "layer_norm" in key:
            base = 1.0 if key.endswith("weight") else 0.0
            value = base + 0.1 * rng.standard_normal(shape)
        else:
            weight_key = key[: -len("bias")] + "weight" if key.endswith("bias") else key
            fan_in = shapes[weight_key][1]
            bound = 1.0 / np.sqrt(fan_in)
            value = rng.uniform(-bound, bound, size=shape)
        state[key] = value.astype(np.float32)
    return state


def state_checksum(state: dict[str, np.ndarray]) -> str:
    """sha256 over the keys and float32 bytes, keys in sorted order."""
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(np.ascontiguousarray(state[key], dtype=np.float32).tobytes())
    return digest.hexdigest()
