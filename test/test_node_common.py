"""Throttled warnings and QoS helpers."""

import pytest
from rclpy.qos import ReliabilityPolicy

from scorehmr_ros.ros.common import ThrottledWarnings, image_qos


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
