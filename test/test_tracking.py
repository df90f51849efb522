"""Tracking: stable ids, state transitions with timeouts, births after confirmations, re-identification."""

import numpy as np
import pytest

from scorehmr_ros.body.body_state import TrackingState
from scorehmr_ros.body.layouts import OPENPOSE25_NAMES
from scorehmr_ros.geometry.rigs import ring_rig
from scorehmr_ros.pipeline.association import associate
from scorehmr_ros.pipeline.tracking import (
    TRACK_ID_LIMIT,
    Tracker,
    TrackerConfig,
    TrackingError,
    anchor_positions_m,
    automatic_first_track_id,
)

from multiview_synth import observe, walkers

FRAME_NS = 33_333_333  # 30 fps


def _states(update) -> dict[int, TrackingState]:
    return {t.track_id: t.state for t in update.tracks}


def _run_pipeline(*, starts_m, velocities_m_s, num_frames, seed=0, cameras=None, **observe_kwargs):
    """Association + tracking over a walking scene; returns per frame the GT person -> track id map."""
    cameras = ring_rig(num_cameras=4).cameras if cameras is None else cameras
    rng = np.random.default_rng(seed)
    tracker = Tracker(config=TrackerConfig(first_track_id=0, confirmations=2))
    history = []
    for frame in range(num_frames):
        stamp_ns = frame * FRAME_NS
        people = walkers(starts_m=starts_m, velocities_m_s=velocities_m_s, time_s=stamp_ns / 1e9)
        observed = observe(joints_world_m=people, cameras=cameras, rng=rng, **observe_kwargs)
        association = associate(keypoints_px=observed.keypoints_px, cameras=cameras, joint_names=OPENPOSE25_NAMES,
                                predictions=tracker.predictions(stamp_ns=stamp_ns))
        groups = association.groups
        joints = np.stack([g.joints_world_m for g in groups]) if groups else np.zeros((0, 25, 3))
        valid = np.stack([g.joint_valid for g in groups]) if groups else np.zeros((0, 25), dtype=bool)
        update = tracker.update(joints_world_m=joints, joint_valid=valid, stamp_ns=stamp_ns,
                                seed_track_ids=np.array([g.seed_track_id for g in groups], dtype=np.int64))
        person_to_track = {}
        for g, group in enumerate(groups):
            owners = {int(observed.person_of_detection[v][i]) for v, i in group.detections.items()}
            if len(owners) == 1 and update.group_track_ids[g] >= 0:
                person_to_track[owners.pop()] = int(update.group_track_ids[g])
        history.append(person_to_track)
    return history


def _id_switches(history) -> int:
    switches, last = 0, {}
    for frame in history:
        for person, track in frame.items():
            if person in last and last[person] != track:
                switches += 1
            last[person] = track
    return switches


def test_easy_walking_scene_has_stable_ids():
    history = _run_pipeline(starts_m=[[-1.5, -1.0], [1.5, 0.5], [0.0, 1.5]],
                            velocities_m_s=[[1.0, 0.2], [-0.8, 0.1], [0.1, -1.0]], num_frames=60, noise_px=2.0)
    assert _id_switches(history) == 0
    assert all(len(frame) == 3 for frame in history[1:])  # born at the second set (confirmations=2)
    assert history[0] == {}
    assert sorted(history[-1].values()) == [0, 1, 2]


def test_two_people_passing_close_keep_their_ids():
    # they cross the room in opposite directions 0.4 m apart (shoulders almost touching) at t = 1 s
    history = _run_pipeline(starts_m=[[-1.2, -0.2], [1.2, 0.2]], velocities_m_s=[[1.2, 0.0], [-1.2, 0.0]],
                            num_frames=60, noise_px=2.0, seed=1)
    assert _id_switches(history) == 0
    assert sum(len(frame) == 2 for frame in history) >= 57


def test_missed_and_spurious_detections_do_not_switch_ids():
    history = _run_pipeline(starts_m=[[-1.5, -1.0], [1.5, 0.5], [0.0, 1.5], [0.5, -1.5]],
                            velocities_m_s=[[1.0, 0.2], [-0.8, 0.1], [0.1, -1.0], [0.0, 0.8]], num_frames=45,
                            noise_px=3.0, seed=2, miss_probability=0.15, joint_drop_probability=0.1, num_spurious=1)
    assert _id_switches(history) == 0
    assert len({track for frame in history for track in frame.values()}) == 4


def test_birth_needs_consecutive_confirmations():
    person = walkers(starts_m=[[0.0, 0.0]], velocities_m_s=[[0.5, 0.0]], time_s=0.0)
    for confirmations in (1, 2, 3):
        tracker = Tracker(config=TrackerConfig(first_track_id=0, confirmations=confirmations))
        for frame in range(confirmations):
            update = tracker.update(joints_world_m=person, joint_valid=np.ones((1, 25), bool),
                                    stamp_ns=frame * FRAME_NS)
            expected = [0] if frame == confirmations - 1 else []
            assert [t.track_id for t in update.tracks] == expected
            assert update.group_track_ids.tolist() == ([0] if expected else [-1])
    # a one-set blip never becomes a track
    tracker = Tracker(config=TrackerConfig(confirmations=2))
    tracker.update(joints_world_m=person, joint_valid=np.ones((1, 25), bool), stamp_ns=0)
    update = tracker.update(joints_world_m=np.zeros((0, 25, 3)), joint_valid=np.zeros((0, 25), bool),
                            stamp_ns=FRAME_NS)
    update = tracker.update(joints_world_m=person, joint_valid=np.ones((1, 25), bool), stamp_ns=2 * FRAME_NS)
    assert update.tracks == ()


def _walk(tracker, *, frames, visible, start_frame=0):
    updates = []
    for frame in range(start_frame, start_frame + frames):
        stamp_ns = frame * FRAME_NS
        person = walkers(starts_m=[[-1.0, 0.0]], velocities_m_s=[[1.0, 0.0]], time_s=stamp_ns / 1e9)
        joints = person if visible(frame) else np.zeros((0, 25, 3))
        updates.append(tracker.update(joints_world_m=joints, joint_valid=np.ones(joints.shape[:2], bool),
                                      stamp_ns=stamp_ns))
    return updates


def test_short_occlusion_searches_then_reidentifies():
    tracker = Tracker(config=TrackerConfig(first_track_id=0, confirmations=1, prediction_timeout_s=0.5))
    hidden = range(20, 29)  # 9 frames = 0.3 s < 0.5 s
    updates = _walk(tracker, frames=40, visible=lambda f: f not in hidden)
    states = [_states(u).get(0) for u in updates]
    assert states[:20] == [TrackingState.TRACKED] * 20
    assert states[20:29] == [TrackingState.SEARCHING] * 9
    assert states[29:] == [TrackingState.TRACKED] * 11
    assert all(set(_states(u)) == {0} for u in updates)
    # the prediction kept moving with the walker while unseen
    searching = updates[28].tracks[0]
    truth = walkers(starts_m=[[-1.0, 0.0]], velocities_m_s=[[1.0, 0.0]], time_s=28 * FRAME_NS / 1e9)
    assert np.linalg.norm(searching.position_world_m - truth[0, [8, 9, 12]].mean(axis=0)) < 0.15
    np.testing.assert_allclose(updates[19].tracks[0].velocity_world_m_s, [1.0, 0.0, 0.0], atol=0.2)


def test_long_occlusion_terminates_and_a_new_id_is_born():
    tracker = Tracker(config=TrackerConfig(first_track_id=0, confirmations=1, prediction_timeout_s=0.5))
    hidden = range(10, 40)  # 1 s
    updates = _walk(tracker, frames=50, visible=lambda f: f not in hidden)
    states = [_states(u) for u in updates]
    timeout_frames = int(0.5e9 // FRAME_NS)  # unseen for <= 0.5 s: still searching
    first_terminated = next(i for i, s in enumerate(states) if s.get(0) == TrackingState.TERMINATED)
    assert first_terminated == 9 + timeout_frames + 1
    assert all(s.get(0) == TrackingState.SEARCHING for s in states[10:first_terminated])
    assert all(0 not in s for s in states[first_terminated + 1:])  # reported once, then gone
    assert states[40] == {1: TrackingState.TRACKED}  # ids are never reused


def test_predictions_move_joints_with_the_anchor():
    tracker = Tracker(config=TrackerConfig(first_track_id=0, confirmations=1))
    _walk(tracker, frames=15, visible=lambda f: True)
    stamp_ns = 20 * FRAME_NS
    predictions = tracker.predictions(stamp_ns=stamp_ns)
    truth = walkers(starts_m=[[-1.0, 0.0]], velocities_m_s=[[1.0, 0.0]], time_s=stamp_ns / 1e9)
    assert predictions.track_ids.tolist() == [0]
    assert np.median(np.linalg.norm(predictions.joints_world_m[0] - truth[0], axis=-1)) < 0.15
    assert tracker.predictions(stamp_ns=stamp_ns).joints_world_m.tobytes() == predictions.joints_world_m.tobytes()


def test_anchor_falls_back_to_centroid():
    joints = np.arange(2 * 25 * 3, dtype=float).reshape(2, 25, 3)
    valid = np.ones((2, 25), bool)
    valid[1, [8, 9, 12]] = False
    anchors = anchor_positions_m(joints, valid, (8, 9, 12))
    np.testing.assert_allclose(anchors[0], joints[0, [8, 9, 12]].mean(axis=0))
    np.testing.assert_allclose(anchors[1], joints[1, valid[1]].mean(axis=0))


def test_bad_inputs_and_config_raise():
    tracker = Tracker()
    person = walkers(starts_m=[[0.0, 0.0]], velocities_m_s=[[0.0, 0.0]], time_s=0.0)
    tracker.update(joints_world_m=person, joint_valid=np.ones((1, 25), bool), stamp_ns=10 * FRAME_NS)
    with pytest.raises(TrackingError, match="before the previous update"):
        tracker.update(joints_world_m=person, joint_valid=np.ones((1, 25), bool), stamp_ns=FRAME_NS)
    with pytest.raises(TrackingError, match="joint_valid"):
        tracker.update(joints_world_m=person, joint_valid=np.ones((1, 24), bool), stamp_ns=11 * FRAME_NS)
    with pytest.raises(TrackingError, match="anchor_joints"):
        Tracker().update(joints_world_m=person[:, :5], joint_valid=np.ones((1, 5), bool), stamp_ns=0)
    with pytest.raises(ValueError, match="prediction_timeout_s"):
        TrackerConfig(prediction_timeout_s=-1.0).validate()
    with pytest.raises(ValueError, match="confirmations"):
        TrackerConfig(confirmations=0).validate()


def _born_ids(tracker, births: int) -> list[int]:
    """Ids of ``births`` people born one after the other (each seen once: confirmations=1, far apart)."""
    ids = []
    for birth in range(births):
        person = walkers(starts_m=[[10.0 * birth, 0.0]], velocities_m_s=[[0.0, 0.0]], time_s=0.0)
        update = tracker.update(joints_world_m=person, joint_valid=np.ones((1, 25), bool), stamp_ns=birth * FRAME_NS)
        ids += [t.track_id for t in update.tracks if t.state == TrackingState.TRACKED and t.track_id not in ids]
    return ids


def test_a_restarted_tracker_does_not_reuse_the_ids_of_the_previous_run(monkeypatch):
    import scorehmr_ros.pipeline.tracking as tracking

    start_ns = 1_796_000_000_123_000_000  # a wall clock in 2026
    monkeypatch.setattr(tracking.time, "time_ns", lambda: start_ns)
    first_run = _born_ids(Tracker(config=TrackerConfig(confirmations=1)), 3)
    monkeypatch.setattr(tracking.time, "time_ns", lambda: start_ns + 2_000_000_000)  # restarted 2 s later
    second_run = _born_ids(Tracker(config=TrackerConfig(confirmations=1)), 3)
    assert first_run == [automatic_first_track_id(start_ns) + i for i in range(3)]
    assert second_run[0] > first_run[-1] and not set(first_run) & set(second_run)
    assert all(0 <= i < TRACK_ID_LIMIT for i in first_run + second_run)


def test_track_ids_wrap_below_the_int32_limit_and_can_be_fixed():
    assert _born_ids(Tracker(config=TrackerConfig(confirmations=1, first_track_id=TRACK_ID_LIMIT - 2)), 3) == [
        TRACK_ID_LIMIT - 2, TRACK_ID_LIMIT - 1, 0]
    assert _born_ids(Tracker(config=TrackerConfig(confirmations=1, first_track_id=7)), 2) == [7, 8]
    with pytest.raises(ValueError, match="first_track_id"):
        TrackerConfig(first_track_id=TRACK_ID_LIMIT).validate()
    with pytest.raises(ValueError, match="clock_jump_s: must be >= prediction_timeout_s"):
        TrackerConfig(prediction_timeout_s=2.0, clock_jump_s=1.0).validate()
