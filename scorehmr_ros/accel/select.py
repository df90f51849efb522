"""Choosing and building an engine: one backend by name, or ``auto`` (the fastest that passes a parity check).

Every engine is checked against eager on generated inputs when it is built: the largest absolute difference of
each output, relative to that output's largest absolute eager value, must stay within ``PARITY_TOLERANCE`` of its
precision. ``auto`` builds every candidate that can run here, times the ones that pass, keeps the fastest and says
in one log line which runs, how fast against eager, and why each other candidate was not taken.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn

from scorehmr_ros.accel.cache import EngineCache, EngineKey, model_hash
from scorehmr_ros.accel.engine import (
    BACKENDS,
    BackendUnavailableError,
    CompileEngine,
    CudaGraphEngine,
    EagerEngine,
    Engine,
    EngineError,
    EngineSpec,
    OnnxRuntimeEngine,
    TorchTensorRTEngine,
    check_available,
    time_engine_ms,
)
from scorehmr_ros.base.config_fields import check_settings, setting

LOGGER = logging.getLogger(__name__)

#: Largest output difference from eager, relative to the largest eager value, per precision.
PARITY_TOLERANCE = {"fp32": 1e-4, "fp16": 1e-2}


@dataclass(frozen=True)
class AccelConfig:
    """How the fitting models run."""

    backend: str = setting("auto", "engine of the denoiser: auto (fastest that matches eager), or one of "
                           + ", ".join(BACKENDS), choices=("auto", *BACKENDS))
    precision: str = setting("fp32", "engine precision (fp16: CUDA only)", choices=("fp32", "fp16"))
    device: str = setting("cpu", "device of the denoiser engine, e.g. cpu or cuda:0 (the rest of the fitter runs "
                          "on the CPU)")
    cache_dir: str = setting("", "engine cache folder; empty: $SCOREHMR_ENGINE_CACHE or ~/.cache/scorehmr_ros/engines")
    compile_on_cpu: bool = setting(False, "let auto try torch.compile on a CPU (compiling takes tens of seconds at "
                                   "start-up for a few per cent here; see `scorehmr-ros bench accel`)")

    def validate(self) -> AccelConfig:
        check_settings(self)
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ValueError(f"device: expected cpu or cuda[:N], got {self.device!r}")
        return self


@dataclass(frozen=True)
class Selection:
    """The engine chosen and how each candidate fared.

    Attributes:
        engine: the engine to run.
        eager_ms: eager's median time at ``batch``, milliseconds (None when nothing was timed).
        times_ms: backend -> median time of each candidate that passed parity, milliseconds.
        rejected: backend -> why it was not used (unavailable, failed parity, slower).
        parity: backend -> relative difference from eager.
        batch: the batch of the parity check and the timing (the spec's ``check_batch``).
    """

    engine: Engine
    eager_ms: float | None
    times_ms: dict[str, float]
    rejected: dict[str, str]
    parity: dict[str, float]
    batch: int = 8

    @property
    def is_the_module(self) -> bool:
        """True when the chosen engine is the module itself as given (eager, fp32, on the CPU): a caller can keep
        using the module directly."""
        engine = self.engine
        return engine.backend == "eager" and engine.device == "cpu" and engine.precision == "fp32"

    def summary(self, module: str) -> str:
        """One line: what runs, how fast against eager, and why the others do not."""
        chosen = self.engine.backend
        speed = ""
        if self.eager_ms is not None and chosen in self.times_ms:
            speed = (f": {self.times_ms[chosen]:.2f} ms vs eager {self.eager_ms:.2f} ms at batch {self.batch} "
                     f"({self.eager_ms / self.times_ms[chosen]:.2f}x)")
        parity = f", parity {self.parity[chosen]:.1e}" if chosen in self.parity else ""
        others = "; ".join(f"{backend}: {why}" for backend, why in self.rejected.items())
        return f"accel {module}: {self.engine.description}{speed}{parity}" + (f" [not used: {others}]" if others
                                                                              else "")


def relative_difference(reference: dict[str, torch.Tensor], candidate: dict[str, torch.Tensor]) -> float:
    """max over outputs of max|candidate - reference| / max|reference|."""
    worst = 0.0
    for name, expected in reference.items():
        scale = float(expected.abs().max().clamp_min(1e-12))
        worst = max(worst, float((candidate[name].cpu() - expected.cpu()).abs().max()) / scale)
    return worst


def build_engine(module: nn.Module, spec: EngineSpec, *, name: str, backend: str, precision: str = "fp32",
                 device: str = "cpu", cache: EngineCache | None = None) -> Engine:
    """One engine of ``backend`` (no parity check; see :func:`select_engine`).

    Raises:
        BackendUnavailableError: this backend cannot run here; the message says why.
        EngineError: it failed to build.
    """
    if backend == "eager":
        return EagerEngine(module, spec, device=device, precision=precision)
    if backend == "compile":
        return CompileEngine(module, spec, device=device, precision=precision)
    if backend == "cuda_graph":
        return CudaGraphEngine(module, spec, device=device, precision=precision)
    check_available(backend, device, precision)  # before the cache makes a folder for an engine that cannot run
    cache = cache or EngineCache()
    key = EngineKey(module=name, model_sha256=model_hash(module), spec=spec, backend=backend, precision=precision,
                    device=device)
    if backend == "onnxruntime":
        return OnnxRuntimeEngine(module, spec, onnx_path=cache.entry_dir(key) / "model.onnx", device=device,
                                 precision=precision)
    if backend == "torch_tensorrt":
        return TorchTensorRTEngine(module, spec, engine_path=cache.entry_dir(key) / "model.ep", device=device,
                                   precision=precision)
    raise ValueError(f"backend {backend!r}: expected one of {', '.join(BACKENDS)}")


def select_engine(module: nn.Module, spec: EngineSpec, *, name: str, config: AccelConfig,
                  cache: EngineCache | None = None, logger=None) -> Selection:
    """The engine ``config`` asks for, parity-checked against eager; ``auto``: the fastest candidate that passes.

    A named backend that cannot run or fails parity raises (the user asked for it); under ``auto`` such a candidate
    is only reported in the summary. Logs the summary line once (``logger`` or this module's).
    """
    config.validate()
    cache = cache or EngineCache(config.cache_dir or None)
    module = module.eval()
    examples = spec.examples(spec.check_batch)
    eager = EagerEngine(module, spec, device=config.device, precision="fp32")
    reference = eager(**examples)
    candidates = list(BACKENDS) if config.backend == "auto" else [config.backend]
    rejected: dict[str, str] = {}
    if config.backend == "auto" and config.device == "cpu" and not config.compile_on_cpu:
        candidates.remove("compile")
        rejected["compile"] = "not tried on a CPU (compile_on_cpu false: tens of seconds to compile)"
    engines: dict[str, Engine] = {}
    parity: dict[str, float] = {}
    for backend in candidates:
        try:
            engine = (eager if backend == "eager" and config.precision == "fp32" else
                      build_engine(module, spec, name=name, backend=backend, precision=config.precision,
                                   device=config.device, cache=cache))
            difference = relative_difference(reference, engine(**examples))
        except BackendUnavailableError as error:
            if config.backend != "auto":
                raise
            rejected[backend] = str(error)
            continue
        except EngineError as error:
            if config.backend != "auto":
                raise
            rejected[backend] = f"failed: {error}"
            continue
        parity[backend] = difference
        if difference > PARITY_TOLERANCE[config.precision]:
            message = (f"differs from eager by {difference:.1e} (relative; {config.precision} allows "
                       f"{PARITY_TOLERANCE[config.precision]:.0e})")
            if config.backend != "auto":
                raise EngineError(f"{name} on {backend}: {message}")
            rejected[backend] = message
            continue
        engines[backend] = engine
    if not engines:
        raise EngineError(f"{name}: no backend can run here ({'; '.join(f'{b}: {w}' for b, w in rejected.items())})")
    times = {backend: time_engine_ms(engine, examples) for backend, engine in engines.items()}
    eager_ms = times.get("eager")
    if eager_ms is None:
        eager_ms = time_engine_ms(eager, examples)
    chosen = min(times, key=times.get)
    for backend in times:
        if backend != chosen:
            rejected[backend] = f"slower ({times[backend]:.2f} ms)"
    selection = Selection(engine=engines[chosen], eager_ms=eager_ms, times_ms=times, rejected=rejected, parity=parity,
                          batch=spec.check_batch)
    (logger or LOGGER).info(selection.summary(name))
    return selection
