"""``scorehmr-ros bench graph``: end-to-end latency and throughput of the whole graph on this machine.

Runs the demo graph (simulated rig rendering images -> embedded detector + keypoints -> scorehmr node,
real rclpy and DDS, the scorehmr node in a process of its own) once per camera count x people count,
without the overlay video, and tabulates: sets played / fitted per second, drops, latency camera stamp ->
published bodies (p50/p90/p99, includes the fixed lag of ``streaming.lag`` frames), fit time per set (p50/p95, from the
scorehmr node's diagnostics) and detector time per set,
MPJPE against ground truth, and the CPU used while the rig played (the graph process and the scorehmr node in % of
one core, the machine in % of all its cores: when sets drop with the machine near 100 %, the cores are full).
Ratios are against the first combination (the baseline), measured in the same process.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace
from pathlib import Path

from scorehmr_ros.cli.arg_types import int_list, positive_int
from scorehmr_ros.perception.backends.config import BLAZEPOSE_LANDMARK_MODELS

LOGGER = logging.getLogger(__name__)


def add_target(targets: argparse._SubParsersAction) -> None:
    """Register ``bench graph`` on the ``bench`` target subparsers."""
    parser = targets.add_parser("graph", help="end-to-end latency and throughput of the whole graph",
                                description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--cameras", type=int_list(minimum=1), default=[2, 4], help="camera counts, comma-separated")
    parser.add_argument("--people", type=int_list(minimum=1), default=[1, 3], help="people counts, comma-separated")
    parser.add_argument("--frames", type=positive_int, default=30, help="frames played per combination")
    parser.add_argument("--fps", type=float, default=5.0, help="camera rate (30 Hz divided by a whole number) [Hz]")
    parser.add_argument("--landmark-model", choices=BLAZEPOSE_LANDMARK_MODELS, default="full",
                        help="BlazePose landmark model size of the keypoint estimator")
    parser.add_argument("--output-dir", type=Path, default=Path("out/bench_graph"),
                        help="one demo folder per combination, plus table.md, results.json and latency.png")
    parser.set_defaults(run=run_graph_bench)


def _triple(percentiles: dict | None, keys: tuple[str, ...]) -> str:
    return " / ".join(f"{percentiles[k]:.0f}" for k in keys) if percentiles else "n/a"


def _cpu_cell(cpu: dict | None) -> str:
    """"118 / 45 / 86 of 2 cores": the graph process and the scorehmr node in % of one core, the machine in % of
    all its cores, while the rig played."""
    if not cpu:
        return "n/a"
    values = (cpu.get("graph_process_percent"), cpu.get("scorehmr_node_percent"), cpu.get("machine_busy_percent"))
    return " / ".join("n/a" if v is None else f"{v:.0f}" for v in values) + f" of {cpu.get('cores')} cores"


def table_markdown(rows: list[dict]) -> str:
    """Markdown table of the per-combination summaries (the first row is the baseline of the ratios)."""
    base_latency = (rows[0]["latency_ms_camera_stamp_to_bodies"] or {}).get("p50")
    lines = ["| cameras | people | sets played | fitted/s | dropped (detector / fitter) | latency p50 / p90 / p99 ms "
             "| latency p50 vs baseline | fit p50 / p95 ms | detector p50 ms | MPJPE mm "
             "| CPU % graph process / scorehmr / machine |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        latency = row["latency_ms_camera_stamp_to_bodies"] or {}
        ratio = f"{latency['p50'] / base_latency:.2f}x" if latency and base_latency else "n/a"
        mpjpe = row["accuracy"].get("mpjpe_mm")
        cells = (row["cameras"], row["people"], row["frames_played"], f"{row['sets_fitted_per_s']:.2f}",
                 f"{row['sets_dropped_by_detector']} / {row['sets_dropped_by_fitter']}",
                 _triple(latency, ("p50", "p90", "p99")), ratio, _triple(row["fit_time_ms"], ("p50", "p95")),
                 _triple(row["detector_time_ms"], ("p50",)), f"{mpjpe:.0f}" if mpjpe is not None else "n/a",
                 _cpu_cell(row.get("cpu_during_playback")))
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def plot_latency(rows: list[dict], path: Path) -> None:
    """Bar chart of the latency percentiles per combination."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    labels = [f"{r['cameras']} cam x {r['people']} ppl" for r in rows]
    figure, axis = plt.subplots(figsize=(7, 3.5))
    for offset, quantile in zip((-0.25, 0.0, 0.25), ("p50", "p90", "p99"), strict=True):
        values = [(r["latency_ms_camera_stamp_to_bodies"] or {}).get(quantile, np.nan) for r in rows]
        axis.bar(np.arange(len(rows)) + offset, values, width=0.25, label=quantile)
    axis.set_xticks(np.arange(len(rows)), labels)
    axis.set_ylabel("camera stamp -> bodies [ms]")
    axis.set_title("end-to-end latency (includes the streaming lag)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def run_graph_bench(args: argparse.Namespace) -> int:
    from scorehmr_ros.ros.testbed.demo import DemoConfig, run_demo

    rows = []
    args.output_dir.mkdir(parents=True, exist_ok=True)
    combinations = [(c, p) for c in args.cameras for p in args.people]
    for index, (cameras, people) in enumerate(combinations):
        LOGGER.info("[%d/%d] %d cameras x %d people, %d frames at %g Hz", index + 1, len(combinations), cameras,
                    people, args.frames, args.fps)
        config = replace(DemoConfig(), cameras=cameras, people=people, frames=args.frames, fps=args.fps, video=False,
                         landmark_model=args.landmark_model,
                         output_dir=str(args.output_dir / f"{cameras}cam_{people}people"))
        try:
            config.validate()
        except ValueError as error:
            LOGGER.error("%s", error)
            return 2
        try:
            rows.append(run_demo(config))
        except RuntimeError as error:  # a model not installed, or a node of the graph that could not start
            LOGGER.error("bench graph failed: %s", error)
            return 1
    table = table_markdown(rows)
    (args.output_dir / "table.md").write_text(table, encoding="utf-8")
    (args.output_dir / "results.json").write_text(json.dumps(rows, indent=2, default=float), encoding="utf-8")
    plot_latency(rows, args.output_dir / "latency.png")
    LOGGER.info("end-to-end graph on this machine, %s landmark model (baseline: the first row):\n%s",
                args.landmark_model, table)
    return 0
