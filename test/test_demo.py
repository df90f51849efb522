"""The README's main job and the graph benchmark, small: real rclpy and DDS in a subprocess of their own."""

import json
import os
import subprocess
import sys

import pytest

from scorehmr_ros.cli.bench_graph import table_markdown

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def run_cli(*args: str, env: dict, timeout_s: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scorehmr_ros.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=timeout_s)


def test_demo_writes_bag_video_and_an_accurate_enough_summary(ros_peers, tmp_path):
    out = tmp_path / "demo"
    # Lock-step: each frame goes out once the fitter has finished the previous one, so no set is dropped however
    # slow the machine (speed is `scorehmr-ros bench graph`'s business).
    result = run_cli("demo", "--cameras", "3", "--people", "1", "--frames", "12", "--output-dir", str(out),
                     "--lockstep", env=ros_peers.env)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["lockstep"] and summary["frames_played"] == 12 and summary["keypoint_sets"] == 12
    assert summary["sets_fitted"] == 12 and summary["sets_dropped_by_fitter"] == 0  # from the fitter's diagnostics
    assert summary["sets_dropped_by_detector"] == 0 and summary["fit_time_ms"]["p50"] > 0
    # one bodies array per set, in order, except the last streaming.lag sets the fitter still holds
    lag_sets = round(summary["fixed_lag_ms"] * 1e-3 * summary["fps"])
    assert summary["fixed_lag_ms"] == 600.0 and summary["body_arrays"] == 12 - lag_sets
    assert summary["body_arrays_in_set_order"] and summary["bodies_published"] >= 4
    assert "STAND-IN" in summary["body_model"]
    assert "ready" in (out / "scorehmr_node.log").read_text()  # the fitter ran in its own process
    # A loose bound: the embedded detector on rendered stand-in bodies, 12 frames (see the README's figures).
    assert summary["accuracy"]["tracks"] == 1 and summary["accuracy"]["mpjpe_mm"] < 400
    assert (out / "bag" / "bag.mcap").stat().st_size > 10_000
    assert (out / "overlay.mp4").stat().st_size > 1000 and (out / "overlay_frame.png").exists()
    assert "accuracy against ground truth" in (out / "summary.md").read_text()
    assert summary["landmark_model"] == "full" and "landmark model full" in (out / "summary.md").read_text()
    cpu = summary["cpu_during_playback"]  # both processes worked while the rig played
    assert cpu["graph_process_percent"] > 0 and cpu["scorehmr_node_percent"] > 0 and cpu["playback_s"] > 0
    assert 0 < cpu["machine_busy_percent"] <= 100 and cpu["cores"] == os.cpu_count()
    assert "CPU while the rig played: graph process" in (out / "summary.md").read_text()


def test_graph_bench_tabulates_every_combination(ros_peers, tmp_path):
    out = tmp_path / "bench"
    # the lite landmark model (installed by setup), set as the keypoint estimator node's parameter
    result = run_cli("bench", "graph", "--cameras", "2", "--people", "1,2", "--frames", "8", "--output-dir",
                     str(out), "--landmark-model", "lite", env=ros_peers.env)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads((out / "results.json").read_text())
    assert [(r["cameras"], r["people"]) for r in rows] == [(2, 1), (2, 2)]
    assert all(r["landmark_model"] == "lite" and r["keypoint_sets"] > 0 for r in rows)
    assert "lite landmark model" in result.stderr
    assert "ready: keypoints blazepose (landmark model lite)" in result.stderr  # the node's own log line
    assert not (out / "2cam_1people" / "overlay.mp4").exists()  # no video in benchmarks
    table = (out / "table.md").read_text().splitlines()
    assert len(table) == 4 and table[2].startswith("| 2 | 1 | 8 |") and "1.00x" in table[2]
    assert (out / "latency.png").stat().st_size > 1000


def test_a_landmark_model_not_installed_stops_the_demo_and_the_bench_before_they_start(tmp_path):
    env = dict(os.environ, SCOREHMR_DATA_ROOT=str(tmp_path / "empty"))
    demo = run_cli("demo", "--landmark-model", "heavy", "--output-dir", str(tmp_path / "demo"), env=env)
    assert demo.returncode == 1 and "landmark model 'heavy' not installed" in demo.stderr
    assert "models fetch" in demo.stderr and not (tmp_path / "demo").exists()  # nothing started or written
    bench = run_cli("bench", "graph", "--landmark-model", "lite", "--output-dir", str(tmp_path / "bench"), env=env)
    assert bench.returncode == 1 and "bench graph failed: BlazePose landmark model 'lite'" in bench.stderr
    assert not (tmp_path / "bench" / "2cam_1people").exists()


def test_table_ratios_are_against_the_first_row():
    def row(cameras, p50):
        return {"cameras": cameras, "people": 1, "frames_played": 10, "sets_fitted_per_s": 4.5,
                "sets_dropped_by_detector": 0, "sets_dropped_by_fitter": 1,
                "latency_ms_camera_stamp_to_bodies": {"p50": p50, "p90": p50 + 10, "p99": p50 + 20},
                "fit_time_ms": {"p50": 50.0, "p95": 60.0}, "detector_time_ms": {"p50": 30.0},
                "accuracy": {"mpjpe_mm": 80.0}}

    busy = {**row(4, 600.0), "cpu_during_playback": {"graph_process_percent": 118.4, "scorehmr_node_percent": 45.0,
                                                      "machine_busy_percent": 86.2, "cores": 2}}
    lines = table_markdown([row(2, 400.0), busy]).splitlines()
    assert lines[2] == "| 2 | 1 | 10 | 4.50 | 0 / 1 | 400 / 410 / 420 | 1.00x | 50 / 60 | 30 | 80 | n/a |"
    assert "| 1.50x |" in lines[3] and lines[3].endswith("| 118 / 45 / 86 of 2 cores |")
