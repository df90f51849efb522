"""N-way approximate-time synchronization with k-of-N and a deadline (ROS-free).

Semantics (message_filters' ApproximateTime, plus a deadline so one slow camera never
stalls the rig):

* Each camera has a queue of at most ``queue_size`` pending messages (oldest dropped first).
* The *pivot* is the oldest pending message of all cameras. A camera *matches* the pivot
  with its oldest message whose stamp is within ``slop_s`` after the pivot's stamp; it has
  *passed* the pivot when it holds a message newer than ``pivot + slop_s`` without a match
  (stamps of one camera only grow, so no match can still come).
* A set is emitted as soon as every camera matches; or, once every camera has matched or
  passed, with the matching cameras if there are at least ``min_cameras`` of them; or, when
  ``deadline_s`` of arrival time has gone by since the pivot arrived, with whatever matches
  then (again at least ``min_cameras``). Otherwise the pivot is dropped and the next one tried.
* Emitting consumes the matched messages and drops anything older in the same queues.
* A camera that has delivered nothing for ``stale_s`` of arrival time (stopped, unplugged)
  is not waited for when the set has ``min_cameras`` without it, so a dead camera costs no latency
  after that; a set that needs it waits for it until the deadline (a slow or triggered rig whose
  frames come further apart than ``stale_s`` still gets every set).
* A stamp that jumps back by more than ``clock_jump_s`` (a replayed bag, a sim reset) clears
  every queue; smaller out-of-order stamps are dropped as late.

Times are integer nanoseconds. ``now_ns`` is the caller's arrival clock (monotonic), passed
in so that behaviour is deterministic and testable.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from scorehmr_ros.base.config_fields import check_settings, setting
from scorehmr_ros.base.units import NS_PER_S

Payload = TypeVar("Payload")


@dataclass(frozen=True)
class SyncConfig:
    """Synchronizer parameters.

    Attributes:
        camera_names: the N cameras of the rig, in output order.
        queue_size: pending messages kept per camera (message_filters' queue size).
        slop_s: largest stamp difference within one set, seconds.
        min_cameras: k, the fewest cameras a set may have; 0 means all N.
        deadline_s: arrival time to wait for the missing cameras of a set, seconds.
        clock_jump_s: a stamp this far behind the newest one resets the synchronizer, seconds.
        stale_s: a camera silent for this long (arrival time) is not waited for, seconds.
    """

    camera_names: tuple[str, ...]
    queue_size: int = setting(10, "pending messages kept per camera (message_filters' queue size)",
                              minimum=1, maximum=1000)
    slop_s: float = setting(0.02, "largest stamp difference within one synchronized set", unit="s",
                            minimum=0.0, maximum=10.0)
    min_cameras: int = setting(0, "fewest cameras a set may have (k of N); 0 means all", minimum=0, maximum=1000)
    deadline_s: float = setting(0.1, "arrival time to wait for the missing cameras of a set", unit="s",
                                minimum=0.001, maximum=60.0)
    clock_jump_s: float = setting(1.0, "a stamp this far behind the newest one resets the synchronizer", unit="s",
                                  minimum=0.001, maximum=3600.0)
    stale_s: float = setting(1.0, "a camera silent this long (arrival time) is not waited for", unit="s",
                             minimum=0.001, maximum=3600.0)

    def validate(self) -> SyncConfig:
        names = tuple(self.camera_names)
        if not names:
            raise ValueError("camera_names: at least one camera is needed, got none")
        if len(set(names)) != len(names):
            raise ValueError(f"camera_names: names must be unique, got {list(names)}")
        check_settings(self)
        if self.min_cameras > len(names):
            raise ValueError(f"min_cameras: must be in [0, {len(names)}] (0 = all), got {self.min_cameras}")
        if self.stale_s < self.deadline_s:
            raise ValueError(f"stale_s: must be >= deadline_s ({self.deadline_s}), got {self.stale_s}")
        if self.clock_jump_s <= self.slop_s:
            raise ValueError(f"clock_jump_s: must be > slop_s ({self.slop_s}), got {self.clock_jump_s}")
        return self

    @property
    def required_cameras(self) -> int:
        return self.min_cameras or len(self.camera_names)


@dataclass(frozen=True)
class SyncedSet(Generic[Payload]):
    """One synchronized set.

    Attributes:
        stamp_ns: the set stamp: the oldest stamp in the set.
        payloads: camera name -> payload, for the cameras in the set, in rig order.
        stamps_ns: camera name -> that camera's message stamp.
        missing: the rig's cameras that are not in this set.
        complete: True when every camera is in the set.
    """

    stamp_ns: int
    payloads: dict[str, Payload]
    stamps_ns: dict[str, int]
    missing: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.missing


@dataclass
class CameraSyncStats:
    """Counters and latency of one camera (arrival time minus stamp)."""

    received: int = 0
    used: int = 0
    missing_from_sets: int = 0
    dropped_overflow: int = 0
    dropped_unmatched: int = 0
    dropped_late: int = 0
    last_arrival_ns: int | None = None
    last_latency_s: float | None = None
    latency_sum_s: float = 0.0

    @property
    def dropped(self) -> int:
        return self.dropped_overflow + self.dropped_unmatched + self.dropped_late

    @property
    def mean_latency_s(self) -> float | None:
        return self.latency_sum_s / self.received if self.received else None


@dataclass
class _Pending(Generic[Payload]):
    stamp_ns: int
    arrival_ns: int
    payload: Payload


@dataclass
class SyncStats:
    """Whole-rig counters."""

    sets_complete: int = 0
    sets_partial: int = 0
    clock_resets: int = 0
    cameras: dict[str, CameraSyncStats] = field(default_factory=dict)


class UnknownCameraError(KeyError):
    """A message from a camera that is not part of the rig."""


class NWaySynchronizer(Generic[Payload]):
    """Groups per-camera messages into synchronized sets; see the module docstring."""

    def __init__(self, config: SyncConfig) -> None:
        self.config = config.validate()
        self._slop_ns = round(config.slop_s * NS_PER_S)
        self._deadline_ns = round(config.deadline_s * NS_PER_S)
        self._jump_ns = round(config.clock_jump_s * NS_PER_S)
        self._stale_ns = round(config.stale_s * NS_PER_S)
        self._queues: dict[str, deque[_Pending[Payload]]] = {name: deque() for name in config.camera_names}
        self._newest_stamp_ns: dict[str, int] = {}
        self._first_arrival_ns: int | None = None
        self.stats = SyncStats(cameras={name: CameraSyncStats() for name in config.camera_names})

    def add(self, camera: str, stamp_ns: int, payload: Payload, *, now_ns: int) -> list[SyncedSet[Payload]]:
        """Queue one camera's message; return the sets it completes (possibly several, or none)."""
        if camera not in self._queues:
            raise UnknownCameraError(f"camera {camera!r} is not in the rig ({', '.join(self._queues)})")
        if self._first_arrival_ns is None:
            self._first_arrival_ns = now_ns
        stats = self.stats.cameras[camera]
        stats.received += 1
        stats.last_arrival_ns = now_ns
        stats.last_latency_s = (now_ns - stamp_ns) / NS_PER_S
        stats.latency_sum_s += stats.last_latency_s
        newest = max(self._newest_stamp_ns.values(), default=None)
        if newest is not None and stamp_ns < newest - self._jump_ns:
            self.reset()
            self.stats.clock_resets += 1
        queue = self._queues[camera]
        if camera in self._newest_stamp_ns and stamp_ns <= self._newest_stamp_ns[camera]:
            stats.dropped_late += 1
            return self.poll(now_ns=now_ns)
        self._newest_stamp_ns[camera] = stamp_ns
        queue.append(_Pending(stamp_ns, now_ns, payload))
        if len(queue) > self.config.queue_size:
            queue.popleft()
            stats.dropped_overflow += 1
        return self.poll(now_ns=now_ns)

    def poll(self, *, now_ns: int) -> list[SyncedSet[Payload]]:
        """Emit every set that is decided at arrival time ``now_ns`` (call it from a timer too)."""
        emitted = []
        while True:
            pivot_camera = self._pivot_camera()
            if pivot_camera is None:
                return emitted
            pivot = self._queues[pivot_camera][0]
            matches, undecided, silent = self._match(pivot.stamp_ns, now_ns)
            deadline_passed = now_ns - pivot.arrival_ns >= self._deadline_ns
            needs_silent = bool(silent) and len(matches) < self.config.required_cameras
            if (undecided or needs_silent) and not deadline_passed:
                return emitted
            if len(matches) >= self.config.required_cameras:
                emitted.append(self._emit(matches))
            else:
                self._queues[pivot_camera].popleft()
                self.stats.cameras[pivot_camera].dropped_unmatched += 1

    def reset(self) -> None:
        """Forget every pending message (the counters stay)."""
        for queue in self._queues.values():
            queue.clear()
        self._newest_stamp_ns.clear()

    def pending(self) -> dict[str, int]:
        """Camera name -> number of queued messages."""
        return {name: len(queue) for name, queue in self._queues.items()}

    def has_pending(self) -> bool:
        """Whether any message is queued: only then can :meth:`poll` emit a set (a node polls only then)."""
        return any(self._queues.values())

    # -- internals ------------------------------------------------------------------------
    def _pivot_camera(self) -> str | None:
        heads = [(queue[0].stamp_ns, name) for name, queue in self._queues.items() if queue]
        return min(heads)[1] if heads else None

    def _match(self, pivot_stamp_ns: int, now_ns: int) -> tuple[dict[str, int], list[str], list[str]]:
        """Camera -> queue index of its match within the slop; the live cameras not yet decided; the silent ones."""
        candidates: dict[str, list[int]] = {}
        undecided: list[str] = []
        silent: list[str] = []
        for name, queue in self._queues.items():
            last_arrival = self.stats.cameras[name].last_arrival_ns
            if last_arrival is None:
                last_arrival = self._first_arrival_ns  # never heard from: silent since the rig started
            if not queue and now_ns - last_arrival >= self._stale_ns:
                silent.append(name)  # not waited for unless the set needs it
                continue
            window = [i for i, item in enumerate(queue) if 0 <= item.stamp_ns - pivot_stamp_ns <= self._slop_ns]
            if window:
                candidates[name] = window
            elif not queue or queue[-1].stamp_ns < pivot_stamp_ns:
                undecided.append(name)  # nothing at or after the pivot yet: a match may still come
        # Within the window, each camera takes the message closest to the latest first candidate:
        # a small-spread set (message_filters minimises the spread exactly; this is its cheap cousin).
        reference = max((self._queues[name][window[0]].stamp_ns for name, window in candidates.items()), default=0)
        matches = {
            name: min(window, key=lambda i, q=self._queues[name]: abs(q[i].stamp_ns - reference))
            for name, window in candidates.items()
        }
        return matches, undecided, silent

    def _emit(self, matches: dict[str, int]) -> SyncedSet[Payload]:
        payloads, stamps = {}, {}
        for name, index in matches.items():
            queue, stats = self._queues[name], self.stats.cameras[name]
            for _ in range(index):  # older than the match: it can never be part of a later set
                queue.popleft()
                stats.dropped_unmatched += 1
            item = queue.popleft()
            payloads[name], stamps[name] = item.payload, item.stamp_ns
            stats.used += 1
        missing = tuple(name for name in self._queues if name not in matches)
        set_stamp_ns = min(stamps.values())
        for name in missing:
            self.stats.cameras[name].missing_from_sets += 1
        if missing:
            self.stats.sets_partial += 1
        else:
            self.stats.sets_complete += 1
        return SyncedSet(stamp_ns=set_stamp_ns, payloads=payloads, stamps_ns=stamps, missing=missing)


def describe_stats(stats: SyncStats) -> dict[str, Any]:
    """Plain-dict summary of the counters (for logs and diagnostics)."""
    return {
        "sets_complete": stats.sets_complete,
        "sets_partial": stats.sets_partial,
        "clock_resets": stats.clock_resets,
        "cameras": {
            name: {"received": s.received, "used": s.used, "missing_from_sets": s.missing_from_sets,
                   "dropped": s.dropped, "mean_latency_s": s.mean_latency_s}
            for name, s in stats.cameras.items()
        },
    }
