"""Unit conversion factors: their one home (names carry the units, e.g. ``stamp_ns``, ``slop_s``)."""

from __future__ import annotations

#: Nanoseconds per second: ROS stamps and all ``_ns`` values are integer nanoseconds.
NS_PER_S = 1_000_000_000
