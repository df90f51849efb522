"""Engines: one interface for running a gradient-free torch module on eager torch, torch.compile, ONNX Runtime or
TensorRT (torch-tensorrt).

An engine has named inputs and outputs. Every tensor's first axis is the batch, dynamic between 1 and
``max_batch``; the other axes are fixed by its :class:`TensorSpec`. The module behind an engine takes its inputs
positionally in spec order and returns one tensor or a tuple in output order. Engines never record gradients (the
fitters differentiate the body model and the loss, not the denoiser).

Backends (``BACKENDS``):
    eager           the module itself (the reference every other backend is checked against)
    compile         ``torch.compile(dynamic=True)`` (Inductor; compiles on the first call, tens of seconds on a CPU)
    onnxruntime     an ONNX export run by ONNX Runtime, with the best execution provider installed: TensorRT, CUDA,
                    then CPU (``providers`` overrides); the export lives in the engine cache
    torch_tensorrt  ``torch_tensorrt.compile(ir="dynamo")`` with a dynamic-batch profile, saved as an exported
                    program in the engine cache (optional extra: requirements/gpu.txt, CUDA only)
    cuda_graph      the module's forward captured as CUDA graphs, one per batch bucket (1, 2, 4, ... up to
                    ``max_batch``: a call is padded up to its bucket, rows being independent in an eval-mode
                    network), replayed with one launch instead of one per kernel (CUDA only; the small denoiser's
                    calls are launch-bound on a GPU)
Precisions: ``fp32`` everywhere; ``fp16`` on CUDA devices only (eager, compile, cuda_graph, torch_tensorrt, and
onnxruntime through the TensorRT execution provider).
"""

from __future__ import annotations

import importlib.util
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from scorehmr_ros.base.onnx_runtime import session_options

BACKENDS = ("eager", "compile", "onnxruntime", "torch_tensorrt", "cuda_graph")
PRECISIONS = ("fp32", "fp16")
#: ONNX opset of our exports (ONNX Runtime 1.32 runs up to 23; 17 has LayerNormalization).
ONNX_OPSET = 17
_DTYPES = {"float32": torch.float32, "int64": torch.int64}


class EngineError(RuntimeError):
    """An engine cannot be built or was called with inputs that do not match its specs."""


class BackendUnavailableError(EngineError):
    """This backend cannot run here (not installed, no GPU, unsupported precision); the message says why."""


@dataclass(frozen=True)
class TensorSpec:
    """One named engine input or output.

    Attributes:
        name: the name (ONNX input/output name).
        shape: the axes after the batch axis, e.g. (144,) for a (B, 144) tensor; () for a (B,) tensor.
        dtype: "float32" or "int64".
        value_range: (low, high) of generated example values: uniform for floats, integers in [low, high) for int64;
            None for floats means standard normal.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    value_range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.dtype not in _DTYPES:
            raise ValueError(f"TensorSpec {self.name!r}: dtype {self.dtype!r} not in {sorted(_DTYPES)}")
        if self.dtype == "int64" and self.value_range is None:
            raise ValueError(f"TensorSpec {self.name!r}: an int64 input needs value_range (low, high)")

    @property
    def torch_dtype(self) -> torch.dtype:
        return _DTYPES[self.dtype]

    def example(self, batch: int, *, generator: torch.Generator) -> torch.Tensor:
        """(batch, *shape) example values (see ``value_range``)."""
        shape = (batch, *self.shape)
        if self.dtype == "int64":
            low, high = self.value_range
            return torch.randint(int(low), int(high), shape, generator=generator, dtype=torch.int64)
        if self.value_range is None:
            return torch.randn(shape, generator=generator)
        low, high = self.value_range
        return low + (high - low) * torch.rand(shape, generator=generator)


@dataclass(frozen=True)
class EngineSpec:
    """What an engine computes: a module's named inputs and outputs and the batch range it must accept.

    Attributes:
        max_batch: largest batch the engine accepts.
        opt_batch: the batch TensorRT optimises for.
        check_batch: the batch of the parity check against eager and of ``auto``'s timing (small for big networks,
            whose eager calls on a CPU take seconds).
        cpu_threads: intra-op threads of a CPU backend that has its own pool (ONNX Runtime); 0: torch's number.
    """

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    max_batch: int = 256
    opt_batch: int = 16
    check_batch: int = 8
    cpu_threads: int = 0

    def examples(self, batch: int, *, seed: int = 0) -> dict[str, torch.Tensor]:
        generator = torch.Generator().manual_seed(seed)
        return {spec.name: spec.example(batch, generator=generator) for spec in self.inputs}


def check_device_precision(backend: str, device: str, precision: str) -> None:
    """Raise BackendUnavailableError for a precision this device cannot run, ValueError for unknown names."""
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BackendUnavailableError(f"device {device}: torch sees no CUDA device")
    if precision == "fp16" and not device.startswith("cuda"):
        raise BackendUnavailableError("fp16 runs on CUDA devices only (half-precision matmuls on a CPU are slow)")


def check_available(backend: str, device: str, precision: str) -> None:
    """Raise BackendUnavailableError, saying why, when ``backend`` cannot run ``precision`` on ``device`` here."""
    check_device_precision(backend, device, precision)
    if backend == "cuda_graph" and not device.startswith("cuda"):
        raise BackendUnavailableError("cuda_graph runs on CUDA devices only")
    if backend == "torch_tensorrt":
        if not device.startswith("cuda"):
            raise BackendUnavailableError("torch_tensorrt runs on CUDA devices only")
        if importlib.util.find_spec("torch_tensorrt") is None:
            raise BackendUnavailableError("torch_tensorrt is not installed (pip install -r requirements/gpu.txt)")
    if backend == "onnxruntime" and importlib.util.find_spec("onnxruntime") is None:
        raise BackendUnavailableError("onnxruntime is not installed")


class Engine(ABC):
    """A module behind named inputs and outputs (see the module docstring)."""

    backend: str = ""

    def __init__(self, spec: EngineSpec, *, device: str, precision: str, detail: str = "") -> None:
        self.spec = spec
        self.device = device
        self.precision = precision
        self.detail = detail  # e.g. the ONNX Runtime execution provider

    @property
    def description(self) -> str:
        extra = f", {self.detail}" if self.detail else ""
        return f"{self.backend} ({self.precision} on {self.device}{extra})"

    def __call__(self, **inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named (B, ...) inputs -> named (B, ...) float32 outputs on the engine's device."""
        ordered = self._checked(inputs)
        with torch.inference_mode():
            outputs = self._run(ordered)
        return {spec.name: out.float() for spec, out in zip(self.spec.outputs, outputs, strict=True)}

    def _checked(self, inputs: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        names = [spec.name for spec in self.spec.inputs]
        if sorted(inputs) != sorted(names):
            raise EngineError(f"inputs {sorted(inputs)}: this engine takes {names}")
        batch = None
        ordered = []
        for spec in self.spec.inputs:
            tensor = inputs[spec.name]
            if tensor.dim() != 1 + len(spec.shape) or tuple(tensor.shape[1:]) != spec.shape:
                raise EngineError(f"input {spec.name}: expected shape (B, {', '.join(map(str, spec.shape))}), got "
                                  f"{tuple(tensor.shape)}")
            batch = tensor.shape[0] if batch is None else batch
            if tensor.shape[0] != batch:
                raise EngineError(f"input {spec.name}: batch {tensor.shape[0]}, the other inputs have {batch}")
            if not 1 <= batch <= self.spec.max_batch:
                raise EngineError(f"batch {batch}: this engine takes 1 to {self.spec.max_batch}")
            dtype = spec.torch_dtype
            if dtype.is_floating_point and self.precision == "fp16":
                dtype = torch.float16
            ordered.append(tensor.to(device=self.device, dtype=dtype))
        return ordered

    @abstractmethod
    def _run(self, inputs: list[torch.Tensor]) -> Sequence[torch.Tensor]:
        """Outputs in spec order for inputs in spec order (already on the device, in the engine's precision)."""


def _as_tuple(output) -> tuple[torch.Tensor, ...]:
    return output if isinstance(output, tuple) else (output,)


class EagerEngine(Engine):
    """The module itself: the reference."""

    backend = "eager"

    def __init__(self, module: nn.Module, spec: EngineSpec, *, device: str = "cpu", precision: str = "fp32") -> None:
        check_device_precision(self.backend, device, precision)
        super().__init__(spec, device=device, precision=precision)
        self.module = module.eval().to(device)
        if precision == "fp16":
            self.module = self.module.half()

    def _run(self, inputs: list[torch.Tensor]) -> Sequence[torch.Tensor]:
        return _as_tuple(self.module(*inputs))


class CompileEngine(EagerEngine):
    """``torch.compile(dynamic=True)`` of the module (Inductor; the first call compiles)."""

    backend = "compile"

    def __init__(self, module: nn.Module, spec: EngineSpec, *, device: str = "cpu", precision: str = "fp32") -> None:
        super().__init__(module, spec, device=device, precision=precision)
        self.module = torch.compile(self.module, dynamic=True)


def batch_bucket(batch: int, max_batch: int) -> int:
    """The captured batch a call of ``batch`` rows runs at: the next power of two, at most ``max_batch``."""
    if not 1 <= batch <= max_batch:
        raise EngineError(f"batch {batch}: this engine takes 1 to {max_batch}")
    return min(1 << (batch - 1).bit_length(), max_batch)


class CudaGraphEngine(EagerEngine):
    """The module's forward captured as one CUDA graph per batch bucket (:func:`batch_bucket`), captured on first use
    of the bucket. A call copies its inputs into the bucket's static buffers (padding rows repeat the last row),
    replays the graph and returns copies of the outputs' first ``batch`` rows. The module must treat rows
    independently (true of eval-mode networks: no batch statistics)."""

    backend = "cuda_graph"

    def __init__(self, module: nn.Module, spec: EngineSpec, *, device: str = "cuda", precision: str = "fp32") -> None:
        check_available(self.backend, device, precision)
        super().__init__(module, spec, device=device, precision=precision)
        self._graphs: dict[int, tuple[torch.cuda.CUDAGraph, list[torch.Tensor], tuple[torch.Tensor, ...]]] = {}

    def _capture(self, bucket: int, inputs: list[torch.Tensor]):
        static = [tensor[:1].expand(bucket, *tensor.shape[1:]).clone() for tensor in inputs]
        stream = torch.cuda.Stream(device=self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):  # warm-up off the capture (lazy initialisation, cuBLAS workspaces)
            for _ in range(2):
                self.module(*static)
        torch.cuda.current_stream(self.device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            outputs = _as_tuple(self.module(*static))
        self._graphs[bucket] = (graph, static, outputs)
        return self._graphs[bucket]

    def _run(self, inputs: list[torch.Tensor]) -> Sequence[torch.Tensor]:
        batch = inputs[0].shape[0]
        bucket = batch_bucket(batch, self.spec.max_batch)
        graph, static, outputs = self._graphs.get(bucket) or self._capture(bucket, inputs)
        for buffer, tensor in zip(static, inputs, strict=True):
            buffer[:batch].copy_(tensor)
            if batch < bucket:
                buffer[batch:].copy_(tensor[-1:].expand(bucket - batch, *tensor.shape[1:]))
        graph.replay()
        return tuple(output[:batch].clone() for output in outputs)


class _Positional(nn.Module):
    """Calls the wrapped module with the engine's inputs in spec order (a clean signature for export)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.inner = module

    def forward(self, *inputs: torch.Tensor):
        return self.inner(*inputs)


def export_onnx(module: nn.Module, spec: EngineSpec, path: Path) -> None:
    """Export ``module`` (fp32, CPU) to ``path`` with a dynamic batch axis named B on every input and output."""
    examples = spec.examples(min(2, spec.max_batch))
    dynamic = {tensor.name: {0: "B"} for tensor in (*spec.inputs, *spec.outputs)}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    cpu_module = _Positional(module).eval().to("cpu").float()
    with torch.no_grad():
        # The TorchScript-based exporter: the torch.export one needs onnxscript, which we do not install.
        torch.onnx.export(cpu_module, tuple(examples[t.name] for t in spec.inputs), str(partial),
                          input_names=[t.name for t in spec.inputs], output_names=[t.name for t in spec.outputs],
                          dynamic_axes=dynamic, opset_version=ONNX_OPSET, dynamo=False)
    partial.replace(path)  # a crash mid-export never leaves a truncated model in the cache


def onnxruntime_providers(device: str, precision: str, *, cache_dir: Path) -> list:
    """Execution providers for ONNX Runtime in preference order (TensorRT, CUDA, CPU), those installed only."""
    import onnxruntime

    available = set(onnxruntime.get_available_providers())
    providers: list = []
    if device.startswith("cuda"):
        device_id = int(device.split(":")[1]) if ":" in device else 0
        if "TensorrtExecutionProvider" in available:
            providers.append(("TensorrtExecutionProvider", {
                "device_id": device_id, "trt_fp16_enable": precision == "fp16", "trt_engine_cache_enable": True,
                "trt_engine_cache_path": str(cache_dir)}))
        if "CUDAExecutionProvider" in available and precision == "fp32":
            providers.append(("CUDAExecutionProvider", {"device_id": device_id}))
        if not providers:
            raise BackendUnavailableError(f"onnxruntime: no GPU execution provider for {precision} on {device} "
                                     f"(installed: {', '.join(sorted(available))})")
    if precision == "fp32":
        providers.append("CPUExecutionProvider")
    return providers


class OnnxRuntimeEngine(Engine):
    """An ONNX export of the module run by ONNX Runtime (the export is made once and kept at ``onnx_path``)."""

    backend = "onnxruntime"

    def __init__(self, module: nn.Module, spec: EngineSpec, *, onnx_path: Path, device: str = "cpu",
                 precision: str = "fp32", threads: int = 0) -> None:
        """threads: ONNX Runtime intra-op threads (0: the spec's ``cpu_threads``, else torch's current number, so both
        libraries share the CPU alike)."""
        check_device_precision(self.backend, device, precision)
        import onnxruntime

        if not onnx_path.is_file():
            export_onnx(module, spec, onnx_path)
        providers = onnxruntime_providers(device, precision, cache_dir=onnx_path.parent)
        options = session_options(intra_op_threads=threads or spec.cpu_threads or torch.get_num_threads())
        from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

        load_errors = (ort_errors.Fail, ort_errors.InvalidGraph, ort_errors.InvalidProtobuf, ort_errors.NoSuchFile,
                       ort_errors.EPFail, ort_errors.InvalidArgument, ort_errors.NotImplemented,
                       ort_errors.RuntimeException)
        try:
            self.session = onnxruntime.InferenceSession(str(onnx_path), sess_options=options, providers=providers)
        except load_errors as error:
            raise EngineError(f"onnxruntime could not load {onnx_path}: {error}") from error
        names = [tensor.name for tensor in self.session.get_inputs()]
        if names != [tensor.name for tensor in spec.inputs]:
            raise EngineError(f"{onnx_path}: inputs {names}, expected {[t.name for t in spec.inputs]} (a stale cache "
                              "entry? `scorehmr-ros engines clear`)")
        super().__init__(spec, device=device, precision=precision, detail=self.session.get_providers()[0])

    def _run(self, inputs: list[torch.Tensor]) -> Sequence[torch.Tensor]:
        feeds = {spec.name: tensor.detach().cpu().numpy() for spec, tensor in zip(self.spec.inputs, inputs,
                                                                                  strict=True)}
        outputs = self.session.run([spec.name for spec in self.spec.outputs], feeds)
        return [torch.from_numpy(np.ascontiguousarray(out)).to(self.device) for out in outputs]


class TorchTensorRTEngine(Engine):
    """torch-tensorrt (dynamo IR) with a dynamic-batch profile, saved as an exported program at ``engine_path``."""

    backend = "torch_tensorrt"

    def __init__(self, module: nn.Module, spec: EngineSpec, *, engine_path: Path, device: str = "cuda",
                 precision: str = "fp32") -> None:
        check_available(self.backend, device, precision)
        import torch_tensorrt
        half = precision == "fp16"
        if engine_path.is_file():
            program = torch.export.load(str(engine_path)).module()
        else:
            reference = module.eval().to(device)
            reference = reference.half() if half else reference.float()

            def dtype_of(tensor: TensorSpec) -> torch.dtype:
                return torch.float16 if half and tensor.torch_dtype.is_floating_point else tensor.torch_dtype

            profile = [torch_tensorrt.Input(min_shape=(1, *t.shape), opt_shape=(spec.opt_batch, *t.shape),
                                            max_shape=(spec.max_batch, *t.shape), dtype=dtype_of(t))
                       for t in spec.inputs]
            program = torch_tensorrt.compile(_Positional(reference), ir="dynamo", inputs=profile)
            examples = [tensor.to(device=device, dtype=dtype_of(t))
                        for t, tensor in zip(spec.inputs, spec.examples(spec.opt_batch).values(), strict=True)]
            engine_path.parent.mkdir(parents=True, exist_ok=True)
            torch_tensorrt.save(program, str(engine_path), inputs=examples)
        self.program = program
        super().__init__(spec, device=device, precision=precision)

    def _run(self, inputs: list[torch.Tensor]) -> Sequence[torch.Tensor]:
        return _as_tuple(self.program(*inputs))


def time_engine_ms(engine: Engine, inputs: dict[str, torch.Tensor], *, repeats: int = 20,
                   budget_s: float = 2.0) -> float:
    """Median milliseconds of one call (after two warm-up calls; CUDA work is synchronised): ``repeats`` calls, fewer
    (at least 3) when they would take longer than ``budget_s`` by the second warm-up call's time."""
    for _ in range(2):
        start = time.perf_counter()
        engine(**inputs)
        warm_s = time.perf_counter() - start
    repeats = max(3, min(repeats, int(budget_s / max(warm_s, 1e-9))))
    samples = []
    for _ in range(repeats):
        if engine.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        engine(**inputs)
        if engine.device.startswith("cuda"):
            torch.cuda.synchronize()
        samples.append(time.perf_counter() - start)
    return float(np.median(samples) * 1e3)
