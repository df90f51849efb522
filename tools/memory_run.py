"""Resident memory of the live graph over a long run: does anything grow?

Starts the graph as a user would, three processes over real DDS on loopback: the simulated rig (demo4 ring,
2 people, a 30-frame clip looped at 5 Hz), the composed ``perception`` executable and the ``scorehmr`` node. It
samples each process's resident set size (``VmRSS`` of /proc/<pid>/status) every ``--period-s`` for
``--minutes`` and writes a CSV and a PNG plot, then prints the growth per minute after the first minute (start-up
allocations and torch's caches settle in it).

    .venv/bin/python tools/memory_run.py --minutes 10 --output docs/memory_rss
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scorehmr_ros.base.processes import stop_process_group
from scorehmr_ros.ros.dds import dds_environment

CAMERAS = "[cam0,cam1,cam2,cam3]"


def rss_mb(pid: int) -> float:
    """Resident set size of a process, MB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def start(module: str, args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    with open(log, "wb") as stream:
        return subprocess.Popen([sys.executable, "-m", module, "--ros-args", *args], stdout=stream,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, env=env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--period-s", type=float, default=5.0)
    parser.add_argument("--output", type=Path, default=Path("memory_rss"), help="writes <output>.csv and .png")
    args = parser.parse_args()
    env = {**os.environ, **dds_environment({}), "ROS_DOMAIN_ID": str(random.randint(100, 200)),
           "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "PYTHONUNBUFFERED": "1"}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    logs = Path(tempfile.mkdtemp(prefix="memory_run_"))  # the nodes' logs
    sys.stdout.write(f"node logs in {logs}\n")
    processes = {
        "scorehmr": start("scorehmr_ros.ros.nodes.scorehmr_node", ["-p", f"cameras:={CAMERAS}"],
                          logs / "memory_scorehmr.log", env),
        "perception": start("scorehmr_ros.ros.nodes.perception_node", ["-p", f"cameras:={CAMERAS}"],
                            logs / "memory_perception.log", env),
        "sim_rig": start("scorehmr_ros.ros.testbed.sim_rig_node",
                         ["-p", "rig:=demo4", "-p", "num_people:=2", "-p", "num_frames:=30", "-p", "fps:=5.0",
                          "-p", "loop:=true"], logs / "memory_sim_rig.log", env),
    }
    rows = []
    start_s = time.monotonic()
    try:
        while time.monotonic() - start_s < args.minutes * 60:
            for name, process in processes.items():
                if process.poll() is not None:
                    raise SystemExit(f"{name} exited with {process.returncode}; see {logs}/memory_{name}.log")
            rows.append([time.monotonic() - start_s] + [rss_mb(p.pid) for p in processes.values()])
            time.sleep(args.period_s)
    finally:
        for process in processes.values():
            stop_process_group(process, timeout_s=10.0)
    names = list(processes)
    with open(args.output.with_suffix(".csv"), "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["t_s"] + [f"{name}_rss_mb" for name in names])
        writer.writerows([[f"{value:.1f}" for value in row] for row in rows])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 4))
    times_min = [row[0] / 60 for row in rows]
    for index, name in enumerate(names, start=1):
        axis.plot(times_min, [row[index] for row in rows], label=name)
    axis.set_xlabel("minutes")
    axis.set_ylabel("resident memory, MB")
    axis.set_title(f"live graph at 5 Hz, 4 cameras x 2 people, {args.minutes:g} min")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(args.output.with_suffix(".png"), dpi=100)
    settled = [row for row in rows if row[0] >= 60.0]
    for index, name in enumerate(names, start=1):
        if len(settled) >= 2:
            span_min = (settled[-1][0] - settled[0][0]) / 60
            slope = (settled[-1][index] - settled[0][index]) / span_min if span_min > 0 else 0.0
            sys.stdout.write(f"{name}: {settled[0][index]:.0f} MB at 1 min, {settled[-1][index]:.0f} MB at the end, "
                             f"{slope:+.2f} MB/min\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
