"""Throttled warnings and QoS helpers."""

import time

import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import ReliabilityPolicy

from scorehmr_ros.ros.common import ThrottledWarnings, image_qos, run_timer_while


def test_warnings_are_throttled_per_kind_and_count_what_was_suppressed():
    logged, now = [], [0.0]
    warnings = ThrottledWarnings(log=logged.append, period_s=5.0, clock=lambda: now[0])
    assert warnings.warn("encoding", "bad encoding yuv422")
    assert not warnings.warn("encoding", "bad encoding yuv422")
    assert warnings.warn("size", "size mismatch")  # another kind is logged at once
    now[0] = 4.9
    assert not warnings.warn("encoding", "bad encoding yuv422")
    now[0] = 5.1
    assert warnings.warn("encoding", "bad encoding yuv422")
    assert logged == ["bad encoding yuv422", "size mismatch", "bad encoding yuv422 (2 more since the last report)"]
    assert warnings.counts == {"encoding": 4, "size": 1}


def test_image_qos():
    assert image_qos().reliability == ReliabilityPolicy.BEST_EFFORT and image_qos().depth == 1
    assert image_qos(reliability="reliable", depth=3).reliability == ReliabilityPolicy.RELIABLE
    with pytest.raises(ValueError, match="image reliability must be one of best_effort, reliable; got 'x'"):
        image_qos(reliability="x")


def test_a_timer_runs_only_while_needed():
    """run_timer_while cancels a polling timer when nothing waits (no executor wake-ups) and restarts it."""
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("timer_probe", context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        ticks = []
        timer = node.create_timer(0.01, lambda: ticks.append(1))

        def spin_for(seconds: float, *, until_ticks: int | None = None) -> int:
            before, end = len(ticks), time.monotonic() + seconds
            while time.monotonic() < end and (until_ticks is None or len(ticks) - before < until_ticks):
                executor.spin_once(timeout_sec=0.01)
            return len(ticks) - before

        run_timer_while(timer, False)
        assert timer.is_canceled() and spin_for(0.2) == 0
        run_timer_while(timer, False)  # idempotent
        assert timer.is_canceled()
        run_timer_while(timer, True)
        assert not timer.is_canceled() and spin_for(10.0, until_ticks=2) == 2  # ticks again (however slow)
        run_timer_while(timer, True)
        assert not timer.is_canceled()
        executor.shutdown()
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
