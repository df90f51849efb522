"""``scorehmr-ros engines list|build|clear`` (the engine cache) and ``scorehmr-ros bench accel`` (every backend against
eager, per module and for whole streaming updates).

The denoiser of a prior (default: the bundled keypoint-only prior; ``--prior`` for the official one) is the module
these commands build engines for; an image-conditioned prior's denoiser takes its 3,072 PARE features as ``cond``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from scorehmr_ros.cli.arg_types import int_list

LOGGER = logging.getLogger(__name__)
#: accel.engine.BACKENDS, kept import-free (the CLI starts without torch); a test holds the two equal
BACKEND_CHOICES = ("eager", "compile", "onnxruntime", "torch_tensorrt", "cuda_graph")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prior", type=Path, default=None, help="diffusion prior checkpoint (default: bundled)")
    parser.add_argument("--device", default="cpu", help="torch device: cpu or cuda[:N]")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "fp16"), help="engine precision")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="engine cache (default: $SCOREHMR_ENGINE_CACHE or ~/.cache/scorehmr_ros/engines)")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("engines", help="the accelerated-engine cache", description=__doc__,
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    actions = parser.add_subparsers(dest="engines_action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list cached engines")
    listing.add_argument("--cache-dir", type=Path, default=None, help="engine cache folder")
    listing.set_defaults(run=run_list)
    build = actions.add_parser("build", help="build (and parity-check) the denoiser engines",
                               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_common(build)
    build.add_argument("--backends", default="onnxruntime",
                       help=f"comma-separated backends to build, from {', '.join(BACKEND_CHOICES)}")
    build.set_defaults(run=run_build)
    clear = actions.add_parser("clear", help="remove every cached engine")
    clear.add_argument("--cache-dir", type=Path, default=None, help="engine cache folder")
    clear.set_defaults(run=run_clear)


def add_target(targets: argparse._SubParsersAction) -> None:
    """Register ``bench accel`` on the ``bench`` target subparsers."""
    parser = targets.add_parser("accel", help="every engine backend against eager", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_common(parser)
    parser.add_argument("--batches", type=int_list(minimum=1), default=[1, 8, 64],
                        help="denoiser batch sizes (people x window frames x views in one streaming step)")
    parser.add_argument("--backends", default="eager,onnxruntime,compile,torch_tensorrt,cuda_graph",
                        help="comma-separated backends; those that cannot run here are reported, not timed")
    parser.add_argument("--pare-batches", type=int_list(minimum=0), default=[1, 4],
                        help="PARE batch sizes (crops: people x views); 0 skips PARE (seconds per call on a CPU)")
    parser.add_argument("--stream-sets", type=int, default=12, help="sets of the timed streaming track")
    parser.add_argument("--threads", type=int, default=1, help="torch (and ONNX Runtime) CPU threads")
    parser.add_argument("--table", type=Path, default=None, help="also write the markdown table here")
    parser.set_defaults(run=run_bench)


def _backends(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",")]
    unknown = [name for name in names if name not in BACKEND_CHOICES]
    if unknown or not all(names):
        raise SystemExit(f"--backends: unknown {unknown or 'empty entry'}; choose from {', '.join(BACKEND_CHOICES)}")
    return names


def _denoiser(prior: Path | None):
    from scorehmr_ros.assets.paths import bundled_prior_path
    from scorehmr_ros.diffusion.checkpoint import load_diffusion_checkpoint

    return load_diffusion_checkpoint(prior or bundled_prior_path())


def run_list(args: argparse.Namespace) -> int:
    from scorehmr_ros.accel.cache import EngineCache

    cache = EngineCache(args.cache_dir)
    entries = cache.entries()
    sys.stdout.write(f"{len(entries)} engine(s) in {cache.root}\n")
    for entry in entries:
        key = entry.key
        sys.stdout.write(f"  {entry.path.name}  {entry.size_bytes / 1e6:.1f} MB  "
                         f"model {str(key.get('model_sha256', '?'))[:12]}  {key.get('versions', '?')}\n")
    return 0


def run_clear(args: argparse.Namespace) -> int:
    from scorehmr_ros.accel.cache import EngineCache

    cache = EngineCache(args.cache_dir)
    sys.stdout.write(f"removed {cache.clear()} engine(s) from {cache.root}\n")
    return 0


def run_build(args: argparse.Namespace) -> int:
    from scorehmr_ros.accel.cache import EngineCache
    from scorehmr_ros.accel.denoiser import accelerate_diffusion
    from scorehmr_ros.accel.engine import EngineError
    from scorehmr_ros.accel.select import AccelConfig

    diffusion = _denoiser(args.prior)
    cache = EngineCache(args.cache_dir)
    failed = 0
    for backend in _backends(args.backends):
        config = AccelConfig(backend=backend, precision=args.precision, device=args.device)
        try:
            _, selection = accelerate_diffusion(diffusion, config=config, cache=cache)
        except EngineError as error:  # BackendUnavailableError included: say why, go on with the others
            sys.stderr.write(f"{backend}: {error}\n")
            failed += 1
            continue
        sys.stdout.write(selection.summary("denoiser") + "\n")
    return 1 if failed else 0


def run_bench(args: argparse.Namespace) -> int:
    import torch

    from scorehmr_ros.accel.engine import EngineError
    from scorehmr_ros.cli.accel_bench import bench_denoiser, bench_pare, bench_streaming, format_table

    torch.set_num_threads(args.threads)
    diffusion = _denoiser(args.prior)
    backends = _backends(args.backends)
    if "eager" not in backends:
        backends.insert(0, "eager")
    try:
        rows = bench_denoiser(diffusion, backends=backends, batches=args.batches, device=args.device,
                              precision=args.precision, cache_dir=args.cache_dir)
        pare_batches = [batch for batch in args.pare_batches if batch > 0]
        if pare_batches:
            rows += bench_pare(backends=backends, batches=pare_batches, device=args.device,
                               precision=args.precision, cache_dir=args.cache_dir)
    except EngineError as error:  # one line, not a traceback: e.g. --device cuda on a machine without a GPU
        sys.stderr.write(f"bench accel: {error}\n")
        return 2
    rows += bench_streaming(diffusion, backends=backends, sets=args.stream_sets, device=args.device,
                            precision=args.precision, cache_dir=args.cache_dir)
    table = format_table(rows, threads=args.threads, device=args.device)
    sys.stdout.write(table)
    if args.table:
        args.table.write_text(table)
    return 0
