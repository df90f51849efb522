"""Reading the official PARE checkpoint (``data/model_weights/pare/pare_checkpoint.ckpt``, PyTorch Lightning).

Official rule (ScoreHMR ``load_pare``): take ``ckpt["state_dict"]``, drop the ``"model."`` prefix from keys that
start with it, keep other keys as they are, and ``load_state_dict(..., strict=False)``. strict=False silently
tolerates:
  * missing keys: the module keeps its random initialisation (or, for ``head.init_*``, the values read from
    ``data/smpl_mean_params.npz``), so a truncated or mismatched checkpoint still "loads";
  * unexpected keys: e.g. the loss module's SMPL buffers stored beside ``model.*`` in the Lightning state_dict.
It does not tolerate shape mismatches (PyTorch raises on those even with strict=False).

We are strict about what our model needs: every one of its keys must be present with the right shape, and the
error names the missing and mismatched keys. Keys our model does not have are ignored and reported.

Loading first tries ``torch.load(weights_only=True)``. A real Lightning checkpoint also pickles its hyper-parameters
(e.g. yacs ``CfgNode``) and callback states, which weights_only refuses; then a restricted unpickler reads it, which
builds tensors and plain containers only and turns every other class into an inert placeholder, never calling it.
"""

from __future__ import annotations

import logging
import pickle
import types
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

_LOG = logging.getLogger(__name__)

#: Prefix of the PARE module's keys inside the Lightning state_dict.
LIGHTNING_MODEL_PREFIX = "model."
#: How many key names an error message lists before summarising the rest.
MAX_KEYS_SHOWN = 12


class PareCheckpointError(ValueError):
    """A file that is not a usable PARE checkpoint: not a Lightning dict, or missing or mis-shaped weights."""


@dataclass(frozen=True)
class PareLoadReport:
    """What loading did.

    Attributes:
        source: checkpoint path.
        num_loaded: number of state_dict entries copied into the model.
        ignored_keys: checkpoint keys (after prefix removal) that the model does not have, sorted.
        used_restricted_unpickler: True when weights_only loading refused the file and the restricted unpickler
            read it (non-tensor objects in it were replaced by inert placeholders).
    """

    source: str
    num_loaded: int
    ignored_keys: tuple[str, ...]
    used_restricted_unpickler: bool


class _InertObject:
    """Stand-in for a pickled object of a class we do not load (config nodes, callback states, numpy scalars).

    It records constructor arguments and state so unpickling can complete; it has no behaviour.
    """

    def __init__(self, *args, **kwargs) -> None:
        self.pickled_args = args
        self.pickled_kwargs = kwargs

    def __setstate__(self, state) -> None:
        self.pickled_state = state

    def __call__(self, *args, **kwargs) -> _InertObject:  # an inert "function" applied by REDUCE
        return _InertObject(*args, **kwargs)

    def __setitem__(self, key, value) -> None:  # dict subclasses (e.g. CfgNode) are rebuilt with SETITEMS
        self.__dict__.setdefault("pickled_items", {})[key] = value

    def append(self, value) -> None:  # list subclasses are rebuilt with APPENDS
        self.__dict__.setdefault("pickled_list", []).append(value)

    def extend(self, values) -> None:
        self.__dict__.setdefault("pickled_list", []).extend(values)


_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch", "Size"): torch.Size,
    ("torch", "device"): torch.device,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Builds tensors, dtypes and plain containers; every other global becomes an inert placeholder class."""

    def find_class(self, module: str, name: str):
        allowed = _ALLOWED_GLOBALS.get((module, name))
        if allowed is not None:
            return allowed
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        return type(name, (_InertObject,), {"__module__": f"inert.{module}"})


_RESTRICTED_PICKLE = types.ModuleType("scorehmr_restricted_pickle")
_RESTRICTED_PICKLE.Unpickler = _RestrictedUnpickler
_RESTRICTED_PICKLE.load = lambda file, **kwargs: _RestrictedUnpickler(file, **kwargs).load()
_RESTRICTED_PICKLE.__name__ = "scorehmr_restricted_pickle"


#: What unpickling a file that is not a torch checkpoint raises (beyond pickle.UnpicklingError).
_READ_ERRORS = (RuntimeError, EOFError, IndexError, KeyError, ValueError, TypeError)


def read_checkpoint_file(path: str | Path) -> tuple[object, bool]:
    """Unpickle a torch checkpoint on the CPU: (content, used_restricted_unpickler).

    Raises:
        FileNotFoundError: no file at ``path``.
        PareCheckpointError: the file is not a torch checkpoint at all.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"PARE checkpoint not found: {path} (expected data/model_weights/pare/"
                                "pare_checkpoint.ckpt)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True), False
    except pickle.UnpicklingError as weights_only_error:
        _LOG.info("%s: weights_only load refused (%s); reading with the restricted unpickler",
                  path, str(weights_only_error).splitlines()[0])
    except _READ_ERRORS as error:
        raise PareCheckpointError(f"{path}: not a torch checkpoint ({type(error).__name__}: {error})") from error
    try:
        return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_RESTRICTED_PICKLE), True
    except (pickle.UnpicklingError, *_READ_ERRORS) as error:
        raise PareCheckpointError(f"{path}: not a readable torch checkpoint ({type(error).__name__}: {error})") \
            from error


def lightning_model_state_dict(content: object, *, source: str) -> dict[str, object]:
    """``content["state_dict"]`` with the ``"model."`` prefix removed where present (the official rule)."""
    if not isinstance(content, Mapping) or "state_dict" not in content:
        found = sorted(map(str, content.keys()))[:MAX_KEYS_SHOWN] if isinstance(content, Mapping) else type(content)
        raise PareCheckpointError(f"{source}: not a PyTorch Lightning checkpoint: expected a dict with a "
                                  f"'state_dict' entry, found {found}")
    state_dict = content["state_dict"]
    if not isinstance(state_dict, Mapping):
        raise PareCheckpointError(f"{source}: 'state_dict' is a {type(state_dict).__name__}, expected a dict")
    return {
        (key[len(LIGHTNING_MODEL_PREFIX):] if key.startswith(LIGHTNING_MODEL_PREFIX) else key): value
        for key, value in state_dict.items()
    }


def _listed(keys: list[str]) -> str:
    shown = ", ".join(keys[:MAX_KEYS_SHOWN])
    return shown + (f", ... ({len(keys) - MAX_KEYS_SHOWN} more)" if len(keys) > MAX_KEYS_SHOWN else "")


def check_state_dict(
    provided: Mapping[str, object], *, expected: Mapping[str, torch.Tensor], source: str
) -> tuple[str, ...]:
    """Check that ``provided`` has every key of ``expected`` as a tensor of the same shape.

    Returns the sorted keys of ``provided`` that ``expected`` does not have (ignored on load).

    Raises:
        PareCheckpointError: naming the missing keys, the non-tensor entries and the shape mismatches
            (checkpoint shape vs model shape).
    """
    missing = sorted(key for key in expected if key not in provided)
    not_tensors = sorted(key for key in expected if key in provided and not isinstance(provided[key], torch.Tensor))
    mismatched = sorted(
        f"{key}: checkpoint {tuple(provided[key].shape)} vs model {tuple(tensor.shape)}"
        for key, tensor in expected.items()
        if isinstance(provided.get(key), torch.Tensor) and provided[key].shape != tensor.shape
    )
    problems = []
    if missing:
        problems.append(f"{len(missing)} of {len(expected)} model keys missing: {_listed(missing)}")
    if not_tensors:
        problems.append(f"entries that are not tensors: {_listed(not_tensors)}")
    if mismatched:
        problems.append(f"shape mismatches: {_listed(mismatched)}")
    if problems:
        raise PareCheckpointError(f"{source}: " + "; ".join(problems))
    return tuple(sorted(key for key in provided if key not in expected))


def load_pare_checkpoint(model: torch.nn.Module, path: str | Path) -> PareLoadReport:
    """Copy the PARE weights of a Lightning checkpoint into ``model`` (strict on the model's keys).

    Tensors are cast to the model's dtypes (e.g. float64 ``head.init_pose`` into our float32 buffer).
    """
    source = str(path)
    content, restricted = read_checkpoint_file(path)
    provided = lightning_model_state_dict(content, source=source)
    expected = model.state_dict()
    ignored = check_state_dict(provided, expected=expected, source=source)
    if ignored:
        _LOG.info("%s: ignored %d checkpoint keys the model does not have (e.g. %s)", source, len(ignored),
                  _listed(list(ignored)))
    model.load_state_dict({key: provided[key] for key in expected}, strict=True)
    return PareLoadReport(source=source, num_loaded=len(expected), ignored_keys=ignored,
                          used_restricted_unpickler=restricted)
