"""The on-disk engine cache: one folder per (model, input shapes, precision, backend, device).

An entry holds what its backend builds once and reuses (``model.onnx``, ONNX Runtime's TensorRT engines,
``model.ep`` of torch-tensorrt) and ``entry.json`` with the key in readable form. The folder name is
``<module>-<backend>-<precision>-<device>-<digest>``, the digest a sha256 of the key, so a changed weight, shape,
precision, backend, device or library version never reuses a stale engine.

Root: ``$SCOREHMR_ENGINE_CACHE``, else ``~/.cache/scorehmr_ros/engines``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from scorehmr_ros.accel.engine import EngineSpec

CACHE_ENV = "SCOREHMR_ENGINE_CACHE"
ENTRY_FILE = "entry.json"


def default_cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "scorehmr_ros" / "engines").expanduser()


def model_hash(module: nn.Module) -> str:
    """sha256 of the module's class and its state dict (names, dtypes, shapes and values, in name order)."""
    digest = hashlib.sha256(type(module).__qualname__.encode())
    for name, tensor in sorted(module.state_dict().items()):
        value = tensor.detach().cpu().contiguous().reshape(-1)  # 0-d tensors (BatchNorm's counters) too
        digest.update(f"{name}:{value.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(value.view(torch.uint8).numpy().tobytes() if value.numel() else b"")
    return digest.hexdigest()


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine depends on."""

    module: str  # a readable name, e.g. "denoiser"
    model_sha256: str
    spec: EngineSpec
    backend: str
    precision: str
    device: str
    versions: str = f"torch {torch.__version__}"

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True, default=str).encode()).hexdigest()

    @property
    def folder_name(self) -> str:
        device = self.device.replace(":", "")
        return f"{self.module}-{self.backend}-{self.precision}-{device}-{self.digest[:16]}"


@dataclass(frozen=True)
class CacheEntry:
    path: Path
    key: dict
    size_bytes: int


class EngineCache:
    """Engine folders under one root (see the module docstring)."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root).expanduser() if root else default_cache_root()

    def entry_dir(self, key: EngineKey) -> Path:
        """The entry's folder, created with its ``entry.json`` on first use."""
        path = self.root / key.folder_name
        if not (path / ENTRY_FILE).is_file():
            path.mkdir(parents=True, exist_ok=True)
            (path / ENTRY_FILE).write_text(json.dumps(asdict(key), indent=1, sort_keys=True, default=str))
        return path

    def entries(self) -> list[CacheEntry]:
        """Every entry under the root, by folder name; a folder whose entry.json is unreadable is listed with an
        empty key (``clear`` removes it)."""
        if not self.root.is_dir():
            return []
        out = []
        for path in sorted(p for p in self.root.iterdir() if p.is_dir()):
            try:
                key = json.loads((path / ENTRY_FILE).read_text())
            except (OSError, ValueError):
                key = {}
            size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
            out.append(CacheEntry(path=path, key=key, size_bytes=size))
        return out

    def clear(self) -> int:
        """Remove every entry; returns how many."""
        entries = self.entries()
        for entry in entries:
            shutil.rmtree(entry.path)
        return len(entries)
