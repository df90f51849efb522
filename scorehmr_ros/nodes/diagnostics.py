"""diagnostic_msgs/DiagnosticStatus builders for the nodes' /diagnostics."""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

from scorehmr_ros.perception.synchronizer import CameraSyncStats

#: A camera delivering less than this fraction of its sets is reported as WARN.
MIN_CAMERA_SHARE = 0.5


def _values(pairs: dict) -> list[KeyValue]:
    return [KeyValue(key=str(key), value=f"{value:.4g}" if isinstance(value, float) else str(value))
            for key, value in pairs.items()]


def percentile_ms(durations_s: list[float], q: float) -> float:
    if not durations_s:
        return 0.0
    ordered = sorted(durations_s)
    return 1e3 * ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def stage_status(name: str, *, durations_s: list[float], processed: int, dropped: int, extra: dict | None = None,
                 warnings: dict[str, int] | None = None) -> DiagnosticStatus:
    """One processing stage: time per set (p50/p95), sets processed and dropped, warning counts."""
    values = {"sets processed": processed, "sets dropped (queue full)": dropped,
              "time p50 ms": percentile_ms(durations_s, 50), "time p95 ms": percentile_ms(durations_s, 95)}
    for key, value in (extra or {}).items():
        if not isinstance(value, dict):
            values[key] = value
    for kind, count in (warnings or {}).items():
        values[f"warnings {kind}"] = count
    level = DiagnosticStatus.WARN if dropped or warnings else DiagnosticStatus.OK
    message = "dropping sets: processing is slower than the cameras" if dropped else "running"
    return DiagnosticStatus(level=level, name=name, message=message, values=_values(values))


def camera_status(name: str, *, health, sync: CameraSyncStats, rate_hz: float) -> DiagnosticStatus:
    """One camera: rate, latency, frames used/missing/dropped, rejected messages."""
    values = {"rate Hz": rate_hz, "frames": health.frames, "rejected messages": health.rejected,
              "used in sets": sync.used, "missing from sets": sync.missing_from_sets, "dropped": sync.dropped,
              "mean latency ms": 1e3 * (sync.mean_latency_s or 0.0)}
    if health.last_problem:
        values["last problem"] = health.last_problem
    if health.frames == 0:
        return DiagnosticStatus(level=DiagnosticStatus.ERROR, name=name, message="no images received",
                                values=_values(values))
    share = sync.used / max(1, sync.used + sync.missing_from_sets)
    level = DiagnosticStatus.WARN if share < MIN_CAMERA_SHARE or health.rejected else DiagnosticStatus.OK
    message = "ok" if level == DiagnosticStatus.OK else (health.last_problem or "missing from most sets")
    return DiagnosticStatus(level=level, name=name, message=message, values=_values(values))
