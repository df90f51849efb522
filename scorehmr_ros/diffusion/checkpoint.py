"""Load and save diffusion checkpoints in the official ``model-*.pt`` format (docs/scorehmr-reference.md §2).

Format (a torch pickle of plain containers and tensors, loadable with ``weights_only=True``)::

    {"step": int,
     "model": {<51 keys of the online Diffusion: 13 schedule buffers + "model.*">},
     "ema": {"initted": bool tensor, "step": int64 tensor,
             "ema_model.<51 keys>", "online_model.<51 keys>"},
     "opt": <Adam state dict, or {}>,
     "scorehmr_ros_arch": {"pose_dim", "hidden_dim", "num_blocks", "cond_dim", "timesteps"}}  # ours only

The official loader reads only ``["ema"]``, so the extra top-level ``scorehmr_ros_arch`` key keeps
our files loadable by it. Files without that key are official ones: the default architecture.
We use the EMA weights (``ema_model.*``), as the official code does.
"""

from __future__ import annotations

import logging
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch

from scorehmr_ros.diffusion.denoiser import Denoiser, DenoiserConfig
from scorehmr_ros.diffusion.diffusion import NUM_TIMESTEPS, Diffusion

LOGGER = logging.getLogger(__name__)

#: Top-level key of our own checkpoints that records the architecture.
ARCH_KEY = "scorehmr_ros_arch"
EMA_PREFIX = "ema_model."
ONLINE_PREFIX = "online_model."
#: How many key names an error message lists before "... and N more".
_MAX_LISTED_KEYS = 8


class CheckpointError(RuntimeError):
    """A checkpoint file that is missing, unreadable, or not of the expected format/architecture."""


def _listed(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_LISTED_KEYS])
    return shown + (f" ... and {len(keys) - _MAX_LISTED_KEYS} more" if len(keys) > _MAX_LISTED_KEYS else "")


def read_checkpoint_file(path: str | Path) -> dict:
    """torch.load(path, weights_only=True) with readable errors; returns the top-level dict."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"diffusion checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if not zipfile.is_zipfile(path):
            raise CheckpointError(f"{path}: not a torch checkpoint (not the zip container that torch.save writes; "
                                  "expected a ScoreHMR model-*.pt)") from None
        detail = next((line.strip() for line in str(error).splitlines() if "Unsupported" in line),
                      str(error).split(". ")[0])
        raise CheckpointError(
            f"{path}: refused to load: the pickle holds objects other than tensors and plain containers "
            f"(weights_only=True). A ScoreHMR model-*.pt holds only tensors and dicts; this file is of another "
            f"format or needs arbitrary code to load, which we never run. Detail: {detail}"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError, TypeError, zipfile.BadZipFile) as error:
        raise CheckpointError(
            f"{path}: not a torch checkpoint (expected a ScoreHMR model-*.pt written by torch.save): "
            f"{str(error).splitlines()[0] if str(error) else type(error).__name__}"
        ) from None
    if not isinstance(data, Mapping):
        raise CheckpointError(f"{path}: expected a dict with keys 'step', 'model', 'ema', 'opt'; "
                              f"got {type(data).__name__}")
    return dict(data)


def config_from_checkpoint(data: Mapping, *, path: str | Path = "<checkpoint>") -> tuple[DenoiserConfig, int]:
    """(denoiser config, timesteps) recorded under ``scorehmr_ros_arch``; official defaults when absent."""
    arch = data.get(ARCH_KEY)
    if arch is None:
        return DenoiserConfig(), NUM_TIMESTEPS
    if not isinstance(arch, Mapping):
        raise CheckpointError(f"{path}: '{ARCH_KEY}' must be a dict, got {type(arch).__name__}")
    fields = ("pose_dim", "hidden_dim", "num_blocks", "cond_dim")
    missing = [f for f in (*fields, "timesteps") if f not in arch]
    if missing:
        raise CheckpointError(f"{path}: '{ARCH_KEY}' lacks {missing}")
    try:
        config = DenoiserConfig(**{f: int(arch[f]) for f in fields})
        config.validate()
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: invalid architecture record: {error}") from None
    return config, int(arch["timesteps"])


def check_state_dict(expected: Mapping[str, torch.Tensor], found: Mapping[str, object], *, where: str) -> None:
    """Strict key and shape check; raises CheckpointError listing missing, unexpected and mismatched keys."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    mismatched = []
    for key, reference in expected.items():
        value = found.get(key)
        if value is None:
            continue
        if not isinstance(value, torch.Tensor):
            mismatched.append(f"{key} (not a tensor: {type(value).__name__})")
        elif tuple(value.shape) != tuple(reference.shape):
            mismatched.append(f"{key} (file {tuple(value.shape)}, model {tuple(reference.shape)})")
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing: {_listed(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected: {_listed(unexpected)}")
    if mismatched:
        problems.append(f"{len(mismatched)} with another shape: {_listed(mismatched)}")
    if problems:
        raise CheckpointError(f"{where} does not match the model: " + "; ".join(problems))


def _strip_prefix(state: Mapping[str, object], prefix: str) -> dict[str, object]:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def load_diffusion_checkpoint(path: str | Path, *, use_ema: bool = True) -> Diffusion:
    """Build a :class:`Diffusion` from an official ``model-*.pt`` or one of ours; returns it in eval mode, on CPU.

    Args:
        path: checkpoint file.
        use_ema: take the EMA weights ``ema["ema_model.*"]`` (official behaviour); else ``ema["online_model.*"]``.
    Raises:
        CheckpointError: unreadable file, wrong format, or keys/shapes that do not match the architecture.
    """
    data = read_checkpoint_file(path)
    ema = data.get("ema")
    if not isinstance(ema, Mapping):
        raise CheckpointError(
            f"{path}: no 'ema' dict (top-level keys: {_listed(sorted(map(str, data)))}); "
            "expected a ScoreHMR diffusion checkpoint with keys 'step', 'model', 'ema', 'opt'"
        )
    config, timesteps = config_from_checkpoint(data, path=path)
    diffusion = Diffusion(denoiser=Denoiser(config), timesteps=timesteps)
    prefix = EMA_PREFIX if use_ema else ONLINE_PREFIX
    state = _strip_prefix(ema, prefix)
    check_state_dict(diffusion.state_dict(), state, where=f"{path} ['ema'][{prefix}*] ({config})")
    diffusion.load_state_dict(state, strict=True)
    diffusion.eval()
    LOGGER.info("loaded diffusion checkpoint %s (step %s, %s, %s weights)", path, data.get("step"), config,
                "EMA" if use_ema else "online")
    return diffusion


def save_diffusion_checkpoint(
    path: str | Path, *, online: Diffusion, ema: Diffusion | None = None, step: int = 0,
    optimizer_state: Mapping | None = None,
) -> None:
    """Write a checkpoint in the official format (plus ``scorehmr_ros_arch``); ema defaults to the online model."""
    ema = online if ema is None else ema
    if online.model.config != ema.model.config or online.num_timesteps != ema.num_timesteps:
        raise ValueError(f"online and EMA models differ: {online.model.config} vs {ema.model.config}")
    online_state = {k: v.detach().cpu().clone() for k, v in online.state_dict().items()}
    ema_state = {k: v.detach().cpu().clone() for k, v in ema.state_dict().items()}
    ema_dict: dict[str, torch.Tensor] = {
        "initted": torch.tensor(True),
        "step": torch.tensor(int(step), dtype=torch.int64),
    }
    ema_dict.update({EMA_PREFIX + k: v for k, v in ema_state.items()})
    ema_dict.update({ONLINE_PREFIX + k: v.clone() for k, v in online_state.items()})
    data = {
        "step": int(step),
        "model": online_state,
        "ema": ema_dict,
        "opt": dict(optimizer_state) if optimizer_state is not None else {},
        ARCH_KEY: {**online.model.config.as_dict(), "timesteps": online.num_timesteps},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, path)
