"""Where the cores went: CPU time of processes and of the whole machine, from Linux's /proc.

A benchmark that drops sets should say whether the machine was full. ``sample`` reads, for given process ids, the
user + system CPU time of all their threads (``/proc/<pid>/stat`` fields 14 and 15, ``utime`` and ``stime``, in
clock ticks; children not included) and the machine's busy and total time over all cores (the first ``cpu`` line
of ``/proc/stat``: user, nice, system, idle, iowait, irq, softirq, steal; busy = all but idle and iowait).
:func:`cpu_use_percent` turns two samples into percentages. Where /proc cannot be read (not Linux, a process that
has exited) the figure is None, never an error: it is a report, not a measurement anything depends on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

#: /proc/stat's cpu line: the columns that count as idle (idle, iowait), by index after the "cpu" label.
_IDLE_COLUMNS = (3, 4)
#: How many of /proc/stat's cpu columns are summed (user .. steal; guest time is already in user).
_STAT_COLUMNS = 8


def clock_ticks_per_s() -> int:
    """The kernel's USER_HZ: the unit of /proc's CPU times."""
    return os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSample:
    """One reading.

    Attributes:
        wall_s: monotonic clock, seconds.
        process_cpu_s: pid -> user + system CPU seconds of the process (all threads); None where it could not be read.
        machine_busy_s / machine_total_s: CPU seconds of all cores, busy and in all (None where /proc/stat is absent).
    """

    wall_s: float
    process_cpu_s: dict[int, float | None]
    machine_busy_s: float | None
    machine_total_s: float | None


def process_cpu_s(pid: int, *, proc_root: Path = Path("/proc")) -> float | None:
    """User + system CPU seconds of process ``pid`` (all its threads), None where its stat cannot be read."""
    try:
        text = (proc_root / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[-1].split()  # the command name (in parentheses) may hold spaces
    try:
        return (int(fields[11]) + int(fields[12])) / clock_ticks_per_s()  # fields 14 and 15 of the whole line
    except (IndexError, ValueError):
        return None


def machine_cpu_s(*, proc_root: Path = Path("/proc")) -> tuple[float, float] | None:
    """(busy, total) CPU seconds summed over all cores since boot, None where /proc/stat cannot be read."""
    try:
        first = (proc_root / "stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if not first or first[0] != "cpu":
        return None
    try:
        columns = [int(value) for value in first[1:1 + _STAT_COLUMNS]]
    except ValueError:
        return None
    total = sum(columns)
    idle = sum(columns[i] for i in _IDLE_COLUMNS if i < len(columns))
    return (total - idle) / clock_ticks_per_s(), total / clock_ticks_per_s()


def sample(pids: Iterable[int], *, proc_root: Path = Path("/proc")) -> CpuSample:
    """The CPU time of ``pids`` and of the machine now."""
    machine = machine_cpu_s(proc_root=proc_root)
    return CpuSample(wall_s=time.monotonic(),
                     process_cpu_s={pid: process_cpu_s(pid, proc_root=proc_root) for pid in pids},
                     machine_busy_s=machine[0] if machine else None, machine_total_s=machine[1] if machine else None)


def cpu_use_percent(before: CpuSample, after: CpuSample) -> dict:
    """Between two samples: {"processes": {pid: percent of one core or None}, "machine_busy_percent": percent of
    all cores or None, "cores": the machine's CPU count, "wall_s": seconds between the samples}."""
    wall_s = after.wall_s - before.wall_s
    processes: dict[int, float | None] = {}
    for pid, end in after.process_cpu_s.items():
        start = before.process_cpu_s.get(pid)
        processes[pid] = (100.0 * (end - start) / wall_s
                          if start is not None and end is not None and wall_s > 0 else None)
    machine = None
    if None not in (before.machine_busy_s, after.machine_busy_s, before.machine_total_s, after.machine_total_s):
        total = after.machine_total_s - before.machine_total_s
        machine = 100.0 * (after.machine_busy_s - before.machine_busy_s) / total if total > 0 else None
    return {"processes": processes, "machine_busy_percent": machine, "cores": os.cpu_count(), "wall_s": wall_s}
