"""N-way synchronizer on synthetic stamp streams: jitter, drops, bursts, dead cameras, clock jumps."""

import numpy as np
import pytest

from scorehmr_ros.perception.synchronizer import NWaySynchronizer, SyncConfig, UnknownCameraError

MS = 1_000_000
CAMERAS = ("cam0", "cam1", "cam2", "cam3")


def run_streams(sync, events):
    """events: (arrival_ns, camera, stamp_ns); returns every emitted set, polling every 5 ms too."""
    events = sorted(events)
    sets = []
    end = events[-1][0] + 2_000 * MS if events else 0
    poll_times = iter(range(0, end, 5 * MS))
    next_poll = next(poll_times, None)
    for arrival, camera, stamp in events:
        while next_poll is not None and next_poll < arrival:
            sets += sync.poll(now_ns=next_poll)
            next_poll = next(poll_times, None)
        sets += sync.add(camera, stamp, (camera, stamp), now_ns=arrival)
    while next_poll is not None:
        sets += sync.poll(now_ns=next_poll)
        next_poll = next(poll_times, None)
    return sets


def camera_stream(camera, *, frames, period_ms=33.3, offset_ms=0.0, jitter_ms=0.0, latency_ms=10.0, seed=0,
                  drop=()):
    rng = np.random.default_rng(seed)
    events = []
    for frame in range(frames):
        if frame in drop:
            continue
        stamp = round((1000 + frame * period_ms + offset_ms + rng.uniform(-jitter_ms, jitter_ms)) * MS)
        events.append((stamp + round(latency_ms * MS), camera, stamp))
    return events


def test_jittered_cameras_give_complete_sets_within_slop():
    sync = NWaySynchronizer(SyncConfig(camera_names=CAMERAS, slop_s=0.02))
    events = []
    for index, camera in enumerate(CAMERAS):
        events += camera_stream(camera, frames=60, offset_ms=2 * index, jitter_ms=3, seed=index)
    sets = run_streams(sync, events)
    assert len(sets) == 60 and all(s.complete for s in sets)
    for s in sets:
        stamps = list(s.stamps_ns.values())
        assert max(stamps) - min(stamps) <= 20 * MS
        assert s.stamp_ns == min(stamps)
        assert list(s.payloads) == list(CAMERAS)
        assert all(s.payloads[c] == (c, s.stamps_ns[c]) for c in CAMERAS)
    assert [s.stamp_ns for s in sets] == sorted(s.stamp_ns for s in sets)
    assert sync.stats.sets_complete == 60 and sync.pending() == dict.fromkeys(CAMERAS, 0)


def test_dropped_frames_give_partial_sets_that_name_the_missing_camera():
    sync = NWaySynchronizer(SyncConfig(camera_names=CAMERAS, min_cameras=3))
    events = []
    for index, camera in enumerate(CAMERAS):
        events += camera_stream(camera, frames=30, seed=index, drop={10, 11} if camera == "cam2" else ())
    sets = run_streams(sync, events)
    assert len(sets) == 30
    partial = [s for s in sets if not s.complete]
    assert len(partial) == 2 and all(s.missing == ("cam2",) for s in partial)
    assert sync.stats.cameras["cam2"].missing_from_sets == 2


def test_a_dead_camera_never_stalls_the_rig_and_stops_costing_latency():
    config = SyncConfig(camera_names=CAMERAS, min_cameras=2, deadline_s=0.1, stale_s=0.5)
    sync = NWaySynchronizer(config)
    events = []
    for index, camera in enumerate(CAMERAS):
        events += camera_stream(camera, frames=90 if camera != "cam3" else 20, seed=index, latency_ms=5)
    emitted_at = {}
    original_emit = sync._emit

    def recording_emit(matches):
        result = original_emit(matches)
        emitted_at[result.stamp_ns] = current_time[0]
        return result

    sync._emit = recording_emit
    current_time = [0]
    original_add, original_poll = sync.add, sync.poll
    sync.add = lambda c, s, p, now_ns: (current_time.__setitem__(0, now_ns), original_add(c, s, p, now_ns=now_ns))[1]
    sync.poll = lambda now_ns: (current_time.__setitem__(0, now_ns), original_poll(now_ns=now_ns))[1]
    sets = run_streams(sync, events)
    assert len(sets) == 90
    assert all(s.complete for s in sets[:20]) and all(s.missing == ("cam3",) for s in sets[20:])
    # After cam3 has been silent for stale_s, sets leave as soon as the live cameras arrive.
    late = [emitted_at[s.stamp_ns] - s.stamp_ns for s in sets[40:]]
    assert max(late) <= 10 * MS


def test_a_rig_slower_than_stale_s_still_gets_every_set():
    # a triggered rig at 0.5 Hz: each camera is 'silent' for 2 s before every frame, longer than stale_s
    config = SyncConfig(camera_names=("a", "b"), deadline_s=0.1, stale_s=1.0)
    events = camera_stream("a", frames=5, period_ms=2000, latency_ms=5) + \
        camera_stream("b", frames=5, period_ms=2000, latency_ms=30)
    sets = run_streams(NWaySynchronizer(config), events)
    assert len(sets) == 5 and all(s.complete for s in sets)


def test_too_few_cameras_drops_the_pivot_and_counts_it():
    sync = NWaySynchronizer(SyncConfig(camera_names=("a", "b"), deadline_s=0.05))
    assert sync.add("a", 1000 * MS, "a0", now_ns=1000 * MS) == []
    assert sync.poll(now_ns=1040 * MS) == [] and sync.has_pending()  # still inside the deadline: poll again
    assert sync.poll(now_ns=1060 * MS) == []  # deadline passed, only 1 of 2 cameras: dropped
    assert sync.stats.cameras["a"].dropped_unmatched == 1 and sync.pending() == {"a": 0, "b": 0}
    assert not sync.has_pending()  # nothing left that a poll could emit


def test_burst_overflows_the_queue_and_keeps_the_newest():
    sync = NWaySynchronizer(SyncConfig(camera_names=("a", "b"), queue_size=3, deadline_s=1.0, stale_s=1.0))
    for frame in range(10):  # a burst from a alone
        sync.add("a", (1000 + frame) * MS, frame, now_ns=1000 * MS)
    assert sync.pending()["a"] == 3 and sync.stats.cameras["a"].dropped_overflow == 7
    (synced,) = sync.add("b", 1009 * MS, "b", now_ns=1001 * MS)
    assert synced.payloads == {"a": 9, "b": "b"} and synced.complete
    assert sync.stats.cameras["a"].dropped_unmatched == 2  # frames 7 and 8 passed without b


def test_clock_jump_back_resets_and_late_messages_are_dropped():
    sync = NWaySynchronizer(SyncConfig(camera_names=("a", "b")))
    sync.add("a", 100_000 * MS, 0, now_ns=0)
    sync.add("a", 100_033 * MS, 1, now_ns=1)
    sync.add("a", 100_020 * MS, 2, now_ns=2)  # out of order, small: late
    assert sync.stats.cameras["a"].dropped_late == 1
    sync.add("b", 10 * MS, 0, now_ns=3)  # 100 s back: replayed bag
    assert sync.stats.clock_resets == 1 and sync.pending() == {"a": 0, "b": 1}
    (synced,) = sync.add("a", 12 * MS, 3, now_ns=4)
    assert synced.stamps_ns == {"a": 12 * MS, "b": 10 * MS}


def test_no_cap_on_camera_count():
    names = tuple(f"cam{i:02d}" for i in range(24))  # message_filters stops at 9
    sync = NWaySynchronizer(SyncConfig(camera_names=names))
    events = []
    for index, name in enumerate(names):
        events += camera_stream(name, frames=5, jitter_ms=4, seed=index)
    sets = run_streams(sync, events)
    assert len(sets) == 5 and all(len(s.payloads) == 24 for s in sets)


def test_latency_statistics():
    sync = NWaySynchronizer(SyncConfig(camera_names=("a",)))
    sync.add("a", 1000 * MS, None, now_ns=1030 * MS)
    sync.add("a", 1033 * MS, None, now_ns=1043 * MS)
    stats = sync.stats.cameras["a"]
    assert stats.last_latency_s == pytest.approx(0.010) and stats.mean_latency_s == pytest.approx(0.020)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"camera_names": ()}, "camera_names: at least one camera"),
        ({"camera_names": ("a", "a")}, "names must be unique"),
        ({"queue_size": 0}, "queue_size: must be >= 1, got 0"),
        ({"slop_s": -1.0}, "slop_s: must be >= 0.0 s, got -1.0"),
        ({"min_cameras": 5}, r"min_cameras: must be in \[0, 2\]"),
        ({"deadline_s": 0.0}, "deadline_s"),
        ({"stale_s": 0.01}, "stale_s: must be >= deadline_s"),
    ],
)
def test_bad_config_is_named(changes, message):
    config = SyncConfig(**{"camera_names": ("a", "b"), **changes})
    with pytest.raises(ValueError, match=message):
        NWaySynchronizer(config)


def test_unknown_camera_is_named():
    sync = NWaySynchronizer(SyncConfig(camera_names=("a",)))
    with pytest.raises(UnknownCameraError, match="camera 'z' is not in the rig"):
        sync.add("z", 0, None, now_ns=0)
