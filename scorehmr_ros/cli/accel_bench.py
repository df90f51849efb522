"""Measurements behind ``scorehmr-ros bench accel``: each engine backend against eager in the same process.

Three kinds of rows: the denoiser and PARE's network alone at several batch sizes (median of repeated calls), and
whole streaming updates (association-free: ``BodyPipeline.warm_up``'s synthetic person on a 4-camera ring, a
track of ``sets`` sets from its start, so IK initialisation, guided DDIM steps, polish and smoothing are all in).
Backends that cannot run here are listed with the reason instead of a time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from scorehmr_ros.accel.cache import EngineCache
from scorehmr_ros.accel.denoiser import accelerate_diffusion, denoiser_spec
from scorehmr_ros.accel.engine import EngineError, time_engine_ms
from scorehmr_ros.accel.select import AccelConfig, build_engine, relative_difference
from scorehmr_ros.diffusion.diffusion import Diffusion


@dataclass(frozen=True)
class BenchRow:
    """One measurement: ``what`` on ``backend``; ``ms`` None with ``note`` saying why it did not run."""

    what: str
    backend: str
    ms: float | None
    eager_ms: float | None
    parity: float | None = None
    note: str = ""


def bench_denoiser(diffusion: Diffusion, *, backends: list[str], batches: list[int], device: str = "cpu",
                   precision: str = "fp32", cache_dir: Path | None = None) -> list[BenchRow]:
    denoiser = diffusion.model
    return bench_module(denoiser, denoiser_spec(denoiser.config, timesteps=diffusion.num_timesteps), name="denoiser",
                        label="denoiser", backends=backends, batches=batches, device=device, precision=precision,
                        cache_dir=cache_dir)


def bench_pare(*, backends: list[str], batches: list[int], device: str = "cpu", precision: str = "fp32",
               cache_dir: Path | None = None) -> list[BenchRow]:
    """PARE's network with the official architecture (HRNet-W32) and random weights: the time does not depend on
    the weights, which cannot be downloaded here."""
    from scorehmr_ros.accel.pare import PareNetwork, pare_spec
    from scorehmr_ros.image_prior.model import PareModel

    torch.manual_seed(0)
    model = PareModel().eval()
    return bench_module(PareNetwork(model), pare_spec(model), name="pare", label="PARE (HRNet-W32)", backends=backends,
                        batches=batches, device=device, precision=precision, cache_dir=cache_dir)


def bench_module(module: torch.nn.Module, spec, *, name: str, label: str, backends: list[str], batches: list[int],
                 device: str = "cpu", precision: str = "fp32", cache_dir: Path | None = None) -> list[BenchRow]:
    """``module`` (engine spec ``spec``, cache name ``name``) on each backend against eager at each batch size; rows
    named ``label, batch N``. Raises EngineError when eager itself cannot run (e.g. ``device`` cuda without a GPU).
    """
    cache = EngineCache(cache_dir)
    engines, notes = {}, {}
    for backend in backends:
        try:
            engines[backend] = build_engine(module, spec, name=name, backend=backend,
                                            precision="fp32" if backend == "eager" else precision, device=device,
                                            cache=cache)
        except EngineError as error:
            notes[backend] = str(error)
    if "eager" not in engines:  # every figure is a ratio to it
        raise EngineError(f"{label}: the eager baseline cannot run: {notes.get('eager', 'not asked for')}")
    rows = []
    for batch in batches:
        inputs = spec.examples(batch)
        reference = engines["eager"](**inputs)
        eager_ms = time_engine_ms(engines["eager"], inputs)
        for backend in backends:
            what = f"{label}, batch {batch}"
            if backend not in engines:
                rows.append(BenchRow(what, backend, None, eager_ms, note=notes[backend]))
                continue
            ms = eager_ms if backend == "eager" else time_engine_ms(engines[backend], inputs)
            rows.append(BenchRow(what, backend, ms, eager_ms,
                                 parity=relative_difference(reference, engines[backend](**inputs))))
    return rows


def _streaming_ms_per_set(diffusion: Diffusion, *, sets: int) -> float:
    from scorehmr_ros.geometry.rigs import ring_rig
    from scorehmr_ros.pipeline.body_pipeline import load_fitting_models

    models = load_fitting_models()
    pipeline = models.make_pipeline(ring_rig(num_cameras=4).cameras)
    pipeline.fitter.diffusion = diffusion
    pipeline.warm_up(frames=3)  # torch's one-off costs
    pipeline.fitter.diffusion = diffusion
    start = time.perf_counter()
    pipeline.warm_up(frames=sets)
    return (time.perf_counter() - start) / sets * 1e3


def bench_streaming(diffusion: Diffusion, *, backends: list[str], sets: int, device: str = "cpu",
                    precision: str = "fp32", cache_dir: Path | None = None) -> list[BenchRow]:
    """Mean milliseconds per streaming update (one person, 4 views) with the denoiser on each backend."""
    if diffusion.model.config.cond_dim:
        return [BenchRow("streaming update", backend, None, None, note="needs a keypoint-only prior (no PARE here)")
                for backend in backends]
    if device != "cpu":
        return [BenchRow("streaming update", backend, None, None, note="the streaming fitter runs on the CPU here")
                for backend in backends]
    what = f"streaming update, 1 person x 4 views (mean of {sets} sets)"
    eager_ms = _streaming_ms_per_set(diffusion, sets=sets)
    rows = [BenchRow(what, "eager", eager_ms, eager_ms)]
    for backend in backends:
        if backend == "eager":
            continue
        try:
            accelerated, _ = accelerate_diffusion(diffusion, config=AccelConfig(backend=backend, precision=precision,
                                                                                 device=device,
                                                                                 cache_dir=str(cache_dir or "")))
        except EngineError as error:
            rows.append(BenchRow(what, backend, None, eager_ms, note=str(error)))
            continue
        rows.append(BenchRow(what, backend, _streaming_ms_per_set(accelerated, sets=sets), eager_ms))
    return rows


def format_table(rows: list[BenchRow], *, threads: int, device: str) -> str:
    lines = [f"device {device}, torch {torch.__version__}, {threads} thread(s); ratios against eager in this run", "",
             "| what | backend | ms | vs eager | parity (rel.) | note |", "|---|---|---|---|---|---|"]
    for row in rows:
        ms = "-" if row.ms is None else f"{row.ms:.2f}"
        ratio = "-" if row.ms is None or not row.eager_ms else f"{row.eager_ms / row.ms:.2f}x"
        parity = "-" if row.parity is None else f"{row.parity:.1e}"
        lines.append(f"| {row.what} | {row.backend} | {ms} | {ratio} | {parity} | {row.note} |")
    return "\n".join(lines) + "\n"
