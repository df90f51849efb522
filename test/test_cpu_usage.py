"""CPU time of processes and of the machine from /proc (base.cpu_usage), on /proc trees the tests write."""

import os
import sys
from pathlib import Path

import pytest

from scorehmr_ros.base import cpu_usage


def _write_proc(root: Path, *, pid: int, utime: int, stime: int, machine: list[int]) -> None:
    (root / str(pid)).mkdir(parents=True, exist_ok=True)
    # a command name with a space and a parenthesis, as /proc shows it: the fields are counted after the last ')'
    fields = ["S", "1", "1", "0", "0", "-1", "4194304", "100", "0", "0", "0", str(utime), str(stime), "0", "0"]
    (root / str(pid) / "stat").write_text(f"{pid} (python (x) y) " + " ".join(fields) + "\n")
    (root / "stat").write_text("cpu  " + " ".join(str(v) for v in machine) + " 0 0\ncpu0 1 2 3\n")


def test_process_and_machine_times_are_read_in_seconds(tmp_path):
    ticks = cpu_usage.clock_ticks_per_s()
    _write_proc(tmp_path, pid=42, utime=3 * ticks, stime=ticks, machine=[10, 0, 5, 80, 5, 0, 0, 0])
    assert cpu_usage.process_cpu_s(42, proc_root=tmp_path) == pytest.approx(4.0)
    busy, total = cpu_usage.machine_cpu_s(proc_root=tmp_path)
    assert busy == pytest.approx(15 / ticks) and total == pytest.approx(100 / ticks)  # idle and iowait are not busy


def test_percentages_between_two_samples():
    before = cpu_usage.CpuSample(wall_s=10.0, process_cpu_s={1: 2.0, 2: 0.5, 3: None}, machine_busy_s=100.0,
                                 machine_total_s=400.0)
    after = cpu_usage.CpuSample(wall_s=12.0, process_cpu_s={1: 4.4, 2: 0.5, 3: 1.0}, machine_busy_s=103.0,
                                machine_total_s=404.0)
    use = cpu_usage.cpu_use_percent(before, after)
    assert use["processes"][1] == pytest.approx(120.0)  # 2.4 CPU s in 2 s: more than one core
    assert use["processes"][2] == 0.0 and use["processes"][3] is None  # unknown at the start: no figure
    assert use["machine_busy_percent"] == pytest.approx(75.0) and use["wall_s"] == pytest.approx(2.0)


def test_what_cannot_be_read_is_none_not_an_error(tmp_path):
    assert cpu_usage.process_cpu_s(7, proc_root=tmp_path) is None  # no such process (exited)
    assert cpu_usage.machine_cpu_s(proc_root=tmp_path) is None  # no /proc/stat (not Linux)
    (tmp_path / "stat").write_text("intr 1 2 3\n")
    assert cpu_usage.machine_cpu_s(proc_root=tmp_path) is None
    sample = cpu_usage.sample([7], proc_root=tmp_path)
    assert sample.process_cpu_s == {7: None} and sample.machine_busy_s is None
    use = cpu_usage.cpu_use_percent(sample, sample)
    assert use["processes"] == {7: None} and use["machine_busy_percent"] is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_this_process_is_seen_working():
    before = cpu_usage.sample([os.getpid()])
    total, start = 0, before.process_cpu_s[os.getpid()]
    while cpu_usage.process_cpu_s(os.getpid()) == start:  # work until the kernel has counted a tick (no time bound)
        total += sum(range(10_000))
    after = cpu_usage.sample([os.getpid()])
    use = cpu_usage.cpu_use_percent(before, after)
    # the machine's counters move per tick of each core, not with the process's: they only never go back
    assert use["processes"][os.getpid()] > 0 and after.machine_total_s >= before.machine_total_s
