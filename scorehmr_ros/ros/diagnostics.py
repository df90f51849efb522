"""diagnostic_msgs/DiagnosticStatus builders for the nodes' /diagnostics."""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

from scorehmr_ros.perception.synchronizer import CameraSyncStats
from scorehmr_ros.ros.camera_intake import HEALTH_WINDOW_S, CameraHealth

#: A camera in less than this fraction of the recent sets is reported as WARN.
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


def camera_status(name: str, *, health: CameraHealth, sync: CameraSyncStats, now_s: float,
                  silent_after_s: float) -> DiagnosticStatus:
    """One camera as it is now: ERROR when it sent nothing for ``silent_after_s`` (arrival clock) or never; WARN
    when it was in fewer than MIN_CAMERA_SHARE of the recent sets or had frames rejected recently (the last
    HEALTH_WINDOW_S; ``health`` with older events dropped); totals since the start as values."""
    last_arrival_s = health.last_arrival_s()
    share = health.share_of_sets()
    values = {"rate Hz": health.rate_hz(), "frames": health.frames, "rejected messages": health.rejected,
              "rejected recently": len(health.rejection_times_s), "used in sets": sync.used,
              "missing from sets": sync.missing_from_sets, "dropped": sync.dropped,
              "mean latency ms": 1e3 * (sync.mean_latency_s or 0.0),
              "share of recent sets": -1.0 if share is None else share,
              "seconds since last image": -1.0 if last_arrival_s is None else now_s - last_arrival_s}
    if health.last_problem:
        values["last problem"] = health.last_problem
    if health.frames == 0:
        return DiagnosticStatus(level=DiagnosticStatus.ERROR, name=name, message="no images received",
                                values=_values(values))
    if last_arrival_s is None or now_s - last_arrival_s > silent_after_s:
        silent = f"{now_s - last_arrival_s:.1f} s" if last_arrival_s is not None else f"over {HEALTH_WINDOW_S} s"
        return DiagnosticStatus(level=DiagnosticStatus.ERROR, name=name, message=f"silent: no image for {silent}",
                                values=_values(values))
    level, message = DiagnosticStatus.OK, "ok"
    if health.rejection_times_s:
        level, message = DiagnosticStatus.WARN, health.last_problem or "messages rejected"
    elif share is not None and share < MIN_CAMERA_SHARE:
        level, message = DiagnosticStatus.WARN, f"in {share:.0%} of the recent sets"
    return DiagnosticStatus(level=level, name=name, message=message, values=_values(values))
