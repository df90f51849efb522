"""Deterministic random PARE weights for tests and golden fixtures (the official weights cannot be shipped).

Every state_dict tensor is filled in sorted key order from one ``numpy.random.RandomState(seed)`` (its streams
are stable across numpy versions), drawn in float64 and cast to the tensor's dtype. The scales keep activations
of order one through the whole HRNet in eval mode:
    conv / linear weights  N(0, 2 / fan_in)       (the locally connected pose weight: fan_in = its 128 channels)
    BN weight (gamma)      U(0.2, 0.6)            BN bias, conv/linear bias   U(-0.1, 0.1)
    BN running_mean        U(-0.1, 0.1)           BN running_var              U(0.5, 1.5)
    num_batches_tracked    integers in [0, 1000)  other buffers               N(0, 0.1^2); scalars U(0.5, 1.5)
Any model with the same key names, shapes and dtypes gets the same tensors, so the official module and ours can
be given identical weights from the seed alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np
import torch


def _fan_in(key: str, shape: tuple[int, ...]) -> int:
    if key.endswith("pose_mlp.weight") and len(shape) == 6:
        return shape[2]  # (1, out, in, J, 1, 1): a separate in -> out map per joint
    return int(np.prod(shape[1:]))


def _draw(rng: np.random.RandomState, key: str, shape: tuple[int, ...], dtype: torch.dtype) -> np.ndarray:
    """One tensor's values; which law depends on the key's last component and the tensor's rank."""
    last = key.rsplit(".", 1)[-1]
    if not dtype.is_floating_point:
        return rng.randint(0, 1000, size=shape)
    if len(shape) == 0:
        return np.asarray(rng.uniform(0.5, 1.5))
    if last == "running_mean":
        return rng.uniform(-0.1, 0.1, size=shape)
    if last == "running_var":
        return rng.uniform(0.5, 1.5, size=shape)
    if last == "weight" and len(shape) == 1:
        return rng.uniform(0.2, 0.6, size=shape)
    if last == "bias":
        return rng.uniform(-0.1, 0.1, size=shape)
    if last == "weight":
        return rng.standard_normal(size=shape) * np.sqrt(2.0 / _fan_in(key, shape))
    return rng.standard_normal(size=shape) * 0.1


def random_state_dict(reference: Mapping[str, torch.Tensor], *, seed: int) -> dict[str, torch.Tensor]:
    """Tensors with the keys, shapes and dtypes of ``reference``, filled deterministically from ``seed``."""
    rng = np.random.RandomState(seed)
    out = {}
    for key in sorted(reference):
        tensor = reference[key]
        values = _draw(rng, key, tuple(tensor.shape), tensor.dtype)
        out[key] = torch.from_numpy(np.array(values, dtype=np.float64 if tensor.dtype.is_floating_point else np.int64))
        out[key] = out[key].reshape(tuple(tensor.shape)).to(tensor.dtype)
    return out


def state_dict_checksum(state_dict: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over the sorted keys, each with its shape and values as float32 (floating) or int64 (integer),
    C order. Storage dtype does not enter: the official head keeps ``init_pose``/``init_cam`` in float64 (they
    come from a float64 npz) where ours are float32, and the generated values agree after the cast."""
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        tensor = state_dict[key].detach().cpu().reshape(-1)
        canonical = tensor.to(torch.float32 if tensor.is_floating_point() else torch.int64)
        digest.update(f"{key}|{tuple(state_dict[key].shape)}|".encode())
        digest.update(canonical.numpy().tobytes())
    return digest.hexdigest()


def randomize_weights(model: torch.nn.Module, *, seed: int) -> str:
    """Load deterministic random weights into ``model`` (every state_dict entry); return their checksum."""
    weights = random_state_dict(model.state_dict(), seed=seed)
    model.load_state_dict(weights, strict=True)
    return state_dict_checksum(weights)
