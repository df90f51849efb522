"""``scorehmr-ros bench calibrated``: accuracy and cost of calibrated multi-view and streaming fitting.

On synthetic scenes (4-camera ring, 2 people, detector-like noise and occlusion, several seeds and clips) it
runs, in one process, methods (a)-(e) of :mod:`scorehmr_ros.cli.bench_methods` and the official-default
single-image fit at batch 16 (10 x 50/2 with the full-size image-conditioned denoiser, random weights: the
timing does not depend on the weights), and reports MPJPE, PA-MPJPE, acceleration error and time per
person-frame, each also as a ratio. Writes a markdown table and a PNG plot (accuracy vs cost).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from scorehmr_ros.cli.arg_types import int_list

LOGGER = logging.getLogger(__name__)
METHODS = ("a", "b", "c", "d", "e")
NAMES = {"a": "(a) triangulation + IK", "b": "(b) calibrated loss, no prior", "c": "(c) paper multi-view mode",
         "d": "(d) calibrated guided fit, per frame", "e": "(e) streaming fitter"}


def add_target(targets: argparse._SubParsersAction) -> None:
    """Register ``bench calibrated`` on the ``bench`` target subparsers."""
    parser = targets.add_parser("calibrated", help="calibrated multi-view and streaming fitting vs baselines",
                                description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--prior", type=Path, required=True, help="keypoint-only prior checkpoint (cond_dim 0)")
    parser.add_argument("--body-model", type=Path, default=None, help="body model .npz (default: stand-in, seed 0)")
    parser.add_argument("--seeds", type=int_list(), default=[1, 2], help="scene seeds, comma-separated")
    parser.add_argument("--clips", default="walk+run,dance_a+kick",
                        help="comma-separated clip pairs (one scene per pair and seed), people joined by '+'")
    parser.add_argument("--frames", type=int, default=40, help="frames per scene")
    parser.add_argument("--window", type=int, default=8, help="streaming window, frames")
    parser.add_argument("--lag", type=int, default=3, help="streaming output lag, frames")
    parser.add_argument("--no-prior-iters", type=int, default=100, help="Adam iterations of method (b)")
    parser.add_argument("--official-repeats", type=int, default=1, help="timed official fits at batch 16")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--accel", default="auto",
                        help="denoiser engine of our fitters (d) and (e), as the scorehmr node's accel.backend (auto, "
                             "eager, compile, onnxruntime, torch_tensorrt); the official fit and (c) run eager")
    parser.add_argument("--table", type=Path, default=None, help="write the markdown table here")
    parser.add_argument("--plot", type=Path, default=None, help="write the accuracy-vs-cost PNG here")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run_calibrated_bench)


def official_seconds_per_person(*, batch: int = 16, repeats: int = 1) -> float:
    """Wall time of the official-default single-image fit per person at ``batch`` (full-size denoiser)."""
    import time

    import numpy as np
    import torch

    from scorehmr_ros.assets.standin import generate_standin_body_model
    from scorehmr_ros.body.body_model import BodyModel
    from scorehmr_ros.diffusion.denoiser import Denoiser
    from scorehmr_ros.diffusion.diffusion import Diffusion
    from scorehmr_ros.fitting.fit_config import FitConfig
    from scorehmr_ros.fitting.fitting import FitInputs, guided_fit
    from scorehmr_ros.geometry.rotations import axis_angle_to_matrix

    torch.manual_seed(0)
    diffusion = Diffusion(denoiser=Denoiser()).eval()
    body_model = BodyModel(generate_standin_body_model(seed=0), source="stand-in seed 0")
    rng = np.random.RandomState(0)
    axis_angle = 0.2 * rng.standard_normal((batch, 24, 3))
    axis_angle[:, 0] += (np.pi, 0.0, 0.0)
    inputs = FitInputs(
        pred_pose=axis_angle_to_matrix(torch.tensor(axis_angle, dtype=torch.float32)),
        pred_betas=torch.zeros(batch, 10), init_cam_t_m=torch.tensor([[0.0, 0.2, 25.0]]).repeat(batch, 1),
        keypoints_2d_px=torch.tensor(np.concatenate([rng.uniform(200, 400, (batch, 44, 2)), np.ones((batch, 44, 1))],
                                                    -1), dtype=torch.float32),
        img_size_px=torch.tensor([[640.0, 480.0]]).repeat(batch, 1), cond_feats=torch.randn(batch, 3072))
    guided_fit(diffusion=diffusion, body_model=body_model, inputs=inputs, config=FitConfig(optim_iters=1))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        guided_fit(diffusion=diffusion, body_model=body_model, inputs=inputs, config=FitConfig())
        times.append(time.perf_counter() - start)
    return float(np.mean(times)) / batch


def format_table(rows: dict[str, dict[str, float]], official_s: float) -> str:
    """Markdown table of the aggregated results (metrics in mm, mm, m/s², ms)."""
    ref_c = rows["c"]["mpjpe"] if "c" in rows else float("nan")
    lines = ["| method | MPJPE mm | PA-MPJPE mm | accel m/s² | ms / person-frame | MPJPE / (c) | cost / official |",
             "|---|---|---|---|---|---|---|"]
    for key, row in rows.items():
        lines.append(f"| {NAMES[key]} | {row['mpjpe']:.1f} | {row['pa_mpjpe']:.1f} | {row['accel']:.2f} | "
                     f"{row['ms']:.1f} | {row['mpjpe'] / ref_c:.2f} | 1/{official_s * 1000 / row['ms']:.0f} |")
    lines.append(f"| official single-image fit, batch 16 (10 x 50/2) | - | - | - | {official_s * 1000:.0f} | - | 1 |")
    return "\n".join(lines)


def write_plot(rows: dict[str, dict[str, float]], official_s: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.5, 4.2))
    for key, row in rows.items():
        axis.scatter(row["ms"], row["mpjpe"], s=40)
        axis.annotate(NAMES[key], (row["ms"], row["mpjpe"]), textcoords="offset points", xytext=(5, 4), fontsize=8)
    axis.axvline(official_s * 1000, color="grey", linestyle="--", linewidth=1)
    axis.axvline(official_s * 1000 / 30, color="grey", linestyle=":", linewidth=1)
    axis.text(official_s * 1000, axis.get_ylim()[1], " official fit/person", fontsize=7, va="top")
    axis.text(official_s * 1000 / 30, axis.get_ylim()[1], " 1/30", fontsize=7, va="top")
    axis.set_xscale("log")
    axis.set_xlabel("time per person-frame, ms (log)")
    axis.set_ylabel("MPJPE, mm (world frame, SMPL joints)")
    axis.set_title("Calibrated 4-camera ring, 2 people, detector noise + occlusion")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def run_calibrated_bench(args: argparse.Namespace) -> int:
    import numpy as np
    import torch
    from tqdm import tqdm

    from scorehmr_ros.accel.denoiser import accelerate_diffusion
    from scorehmr_ros.accel.select import AccelConfig
    from scorehmr_ros.assets.standin import generate_standin_body_model
    from scorehmr_ros.body.body_model import BodyModel
    from scorehmr_ros.body.keypoint_body import KeypointBody
    from scorehmr_ros.cli import bench_methods as methods
    from scorehmr_ros.diffusion.checkpoint import load_diffusion_checkpoint
    from scorehmr_ros.fitting.calibrated_fitting import CalibratedFitConfig
    from scorehmr_ros.geometry.rigs import make_rig
    from scorehmr_ros.pipeline.streaming import StreamingConfig
    from scorehmr_ros.sim.metrics import evaluate
    from scorehmr_ros.sim.scene import SceneConfig, generate_scene

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    body_model = (BodyModel.from_file(args.body_model) if args.body_model
                  else BodyModel(generate_standin_body_model(seed=0), source="stand-in seed 0"))
    body = KeypointBody(body_model)
    diffusion = load_diffusion_checkpoint(args.prior)
    # our fitters run the denoiser on the engine the node would pick (one log line says which and why)
    ours, _ = accelerate_diffusion(diffusion, config=AccelConfig(backend=args.accel).validate(), logger=LOGGER)
    fit_config = CalibratedFitConfig()
    stream_config = StreamingConfig(window=args.window, lag=args.lag)
    rig = make_rig("ring4")
    jobs = [(seed, tuple(pair.split("+"))) for seed in args.seeds for pair in args.clips.split(",")]
    sums: dict[str, dict[str, list[float]]] = {k: {"mpjpe": [], "pa_mpjpe": [], "accel": [], "s": [], "n": []}
                                               for k in METHODS}
    for seed, clips in tqdm(jobs, desc="scenes", disable=args.no_progress):
        scene = generate_scene(config=SceneConfig(num_people=2, clips=clips, num_frames=args.frames, seed=seed),
                               cameras=rig.cameras, body_model=body_model, rig_name=rig.name)
        case = methods.make_case(scene, noise=methods.RegressorNoise(), rng=np.random.default_rng(seed))
        results = {
            "a": methods.run_triangulation_ik(body, case),
            "b": methods.run_without_prior(body, case, config=fit_config, iterations=args.no_prior_iters),
            "c": methods.run_paper_multiview(diffusion, body_model, body, case),
            "d": methods.run_calibrated(ours, body, case, config=fit_config),
            "e": methods.run_streaming(ours, body, case, config=stream_config),
        }
        for key, (joints, seconds) in results.items():
            report = evaluate(joints, case.gt_joints_m, fps=case.fps)
            LOGGER.info("seed %d %s %s: MPJPE %.1f mm, PA %.1f mm, accel %.2f m/s², %.1f ms/person-frame", seed,
                        "+".join(clips), key, report.mpjpe.mean * 1000, report.pa_mpjpe.mean * 1000,
                        report.accel.mean, seconds * 1000 / joints.shape[0] / joints.shape[1])
            for name, value in (("mpjpe", report.mpjpe.mean * 1000), ("pa_mpjpe", report.pa_mpjpe.mean * 1000),
                                ("accel", report.accel.mean), ("s", seconds),
                                ("n", joints.shape[0] * joints.shape[1])):
                sums[key][name].append(value)
    LOGGER.info("timing the official-default single-image fit at batch 16 ...")
    official_s = official_seconds_per_person(repeats=args.official_repeats)
    rows = {key: {"mpjpe": float(np.mean(v["mpjpe"])), "pa_mpjpe": float(np.mean(v["pa_mpjpe"])),
                  "accel": float(np.mean(v["accel"])), "ms": 1000 * float(np.sum(v["s"]) / np.sum(v["n"]))}
            for key, v in sums.items()}
    table = format_table(rows, official_s)
    for line in table.splitlines():
        LOGGER.info("%s", line)
    if args.table is not None:
        args.table.parent.mkdir(parents=True, exist_ok=True)
        args.table.write_text(table + "\n")
    if args.plot is not None:
        write_plot(rows, official_s, args.plot)
    return 0
