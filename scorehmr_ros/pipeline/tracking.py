"""Multi-person 3D tracking with stable ids across cameras and time (numpy + scipy, ROS-free).

Per track: a constant-velocity Kalman filter on the anchor position (mean of ``anchor_joints``,
e.g. the hips; the centroid of the valid joints when none is valid) and the last 3D joints.
Each ``update`` with the triangulated groups of one synchronized set:
1. predicts every track to the set's stamp;
2. assigns groups to live tracks (TRACKED or SEARCHING) by the Hungarian method on anchor distance,
   gated at gate_m + gate_growth_m_per_s x (time unseen); a group whose association seed is the
   track costs half its distance;
3. assigns the rest to tentative tracks (gate_m); a tentative track seen in ``confirmations``
   consecutive sets is born as TRACKED with the next id of a monotonic counter (ids are never reused
   within a run; the first id is drawn from the wall clock, so a restarted node does not reuse the ids of
   its previous run either: see :func:`automatic_first_track_id`);
   an unmatched tentative track is dropped, the rest of the groups start tentative tracks;
4. a live track without a group is SEARCHING while unseen for at most ``prediction_timeout_s``,
   then TERMINATED: reported once in that state and removed. A SEARCHING track that is assigned a
   group again is TRACKED with its id (re-identification after a short occlusion).
Times are integer nanoseconds. Shape letters: G groups, J joints.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from scorehmr_ros.base.config_fields import check_settings, setting
from scorehmr_ros.base.units import NS_PER_S
from scorehmr_ros.body.body_state import TrackingState
from scorehmr_ros.pipeline.association import TrackPredictions

#: Track ids lie in [0, TRACK_ID_LIMIT) and wrap there: SMPLBody.track_id is a uint32, and a track's mesh marker
#: id (visualization_msgs/Marker.id) an int32.
TRACK_ID_LIMIT = 2**31
#: ``first_track_id`` value that draws the first id from the wall clock.
AUTOMATIC_FIRST_TRACK_ID = -1
#: Cost given to gated-out pairs so that the Hungarian method never prefers them.
_FORBIDDEN_COST = 1e9


class TrackingError(ValueError):
    """Inputs the tracker cannot use (shapes, stamps going back in time, anchors outside the layout)."""


@dataclass(frozen=True)
class TrackerConfig:
    """Tracker parameters.

    Attributes:
        prediction_timeout_s: time a track may stay unseen (SEARCHING) before it is TERMINATED, seconds.
        confirmations: consecutive sets a new person must be seen in before its track is born.
        gate_m: largest anchor distance for assigning a group to a track, metres.
        gate_growth_m_per_s: gate growth per second a track has been unseen, metres per second.
        acceleration_noise_m_s2: process noise of the constant-velocity model (acceleration std), m/s^2.
        measurement_noise_m: std of a measured anchor position, metres.
        max_speed_m_s: speeds above this are clamped, metres per second.
        anchor_joints: joints whose mean is the track position (default: OpenPose-25 mid/right/left hip).
        min_valid_joints: groups with fewer valid joints are ignored.
        first_track_id: id of the first track born; -1: :func:`automatic_first_track_id`.
        clock_jump_s: set stamps jumping forward by more than this (or going back at all) mean a new time line
            (a bag loop, a driver restart, a clock switch): the pipeline ends every track and starts afresh.
    """

    prediction_timeout_s: float = setting(0.5, "time a track may stay unseen (SEARCHING) before it is TERMINATED",
                                          unit="s", minimum=0.0, maximum=60.0)
    confirmations: int = setting(2, "consecutive sets a new person must be seen in before its track is born",
                                 minimum=1, maximum=100)
    gate_m: float = setting(0.8, "largest anchor distance for assigning a group to a track", unit="m",
                            minimum=0.01, maximum=10.0)
    gate_growth_m_per_s: float = setting(1.5, "gate growth per second a track has been unseen", unit="m/s",
                                         minimum=0.0, maximum=20.0)
    acceleration_noise_m_s2: float = setting(3.0, "process noise of the constant-velocity model (acceleration std)",
                                             unit="m/s^2", minimum=0.0, maximum=100.0)
    measurement_noise_m: float = setting(0.05, "std of a measured anchor position", unit="m", minimum=1e-4,
                                         maximum=5.0)
    max_speed_m_s: float = setting(4.0, "speeds above this are clamped", unit="m/s", minimum=0.1, maximum=50.0)
    anchor_joints: tuple[int, ...] = setting((8, 9, 12), "joints whose mean is the track position "
                                             "(default: OpenPose-25 mid_hip, right_hip, left_hip)")
    min_valid_joints: int = setting(3, "groups with fewer valid joints are ignored", minimum=1, maximum=200)
    first_track_id: int = setting(AUTOMATIC_FIRST_TRACK_ID, "id of the first track born; -1: the wall clock in "
                                  "milliseconds modulo 2^31, so that a restarted node never reuses the ids of its "
                                  "previous run", minimum=AUTOMATIC_FIRST_TRACK_ID, maximum=TRACK_ID_LIMIT - 1)
    clock_jump_s: float = setting(3.0, "set stamps jumping forward by more than this (or going back at all) end "
                                  "every track and start afresh (bag loop, driver restart, clock switch); at least "
                                  "prediction_timeout_s", unit="s", minimum=0.0, maximum=86400.0)

    def validate(self) -> TrackerConfig:
        """Raise ValueError naming a field outside its range; return self."""
        check_settings(self)
        if not self.anchor_joints or any(int(j) < 0 for j in self.anchor_joints):
            raise ValueError(f"anchor_joints: must be a non-empty tuple of joint indices >= 0, "
                             f"got {self.anchor_joints}")
        if self.clock_jump_s < self.prediction_timeout_s:
            # a smaller jump would end tracks that the timeout keeps alive
            raise ValueError(f"clock_jump_s: must be >= prediction_timeout_s ({self.prediction_timeout_s} s), "
                             f"got {self.clock_jump_s}")
        return self


def automatic_first_track_id(wall_clock_ns: int | None = None) -> int:
    """The wall clock in milliseconds modulo :data:`TRACK_ID_LIMIT` (wraps every 24.8 days).

    A run that starts later starts beyond every id an earlier run gave, unless that run made more tracks than
    the milliseconds between the two starts (one per millisecond: far beyond any rig).
    """
    if wall_clock_ns is None:
        wall_clock_ns = time.time_ns()
    return (int(wall_clock_ns) // 1_000_000) % TRACK_ID_LIMIT


@dataclass(frozen=True)
class TrackEstimate:
    """One track after an update.

    Attributes:
        track_id: stable id in [0, TRACK_ID_LIMIT) (never reused within a run).
        state: TRACKED (assigned a group in this set), SEARCHING (predicted) or TERMINATED (last report).
        position_world_m: (3,) anchor position (filtered, or predicted when not TRACKED), metres.
        velocity_world_m_s: (3,) anchor velocity, metres per second.
        joints_world_m: (J, 3) joints: measured when TRACKED, else the last ones moved with the anchor; NaN
            where not valid.
        joint_valid: (J,) validity of ``joints_world_m``.
        group_index: index of the assigned group in this update, -1 if none.
        last_seen_ns: stamp of the last set the track was assigned a group in.
        stamp_ns: stamp of this estimate.
    """

    track_id: int
    state: TrackingState
    position_world_m: np.ndarray
    velocity_world_m_s: np.ndarray
    joints_world_m: np.ndarray
    joint_valid: np.ndarray
    group_index: int
    last_seen_ns: int
    stamp_ns: int


@dataclass(frozen=True)
class TrackerUpdate:
    """Result of one update.

    Attributes:
        tracks: the live tracks (TRACKED, SEARCHING) and those TERMINATED in this update, by id.
        group_track_ids: (G,) id of the track each group was assigned to, -1 for none (tentative or ignored).
    """

    tracks: tuple[TrackEstimate, ...]
    group_track_ids: np.ndarray


class _Track:
    """Mutable filter state of one track (private to the tracker)."""

    def __init__(self, *, position_m: np.ndarray, joints_m: np.ndarray, joint_valid: np.ndarray, stamp_ns: int,
                 config: TrackerConfig) -> None:
        self.track_id = -1  # -1 while tentative
        self.position_m = position_m.copy()
        self.velocity_m_s = np.zeros(3)
        # shared per-axis covariance of (position, velocity): the model is isotropic
        self.covariance = np.diag([config.measurement_noise_m**2, (0.5 * config.max_speed_m_s) ** 2])
        self.joints_m = joints_m.copy()
        self.joint_valid = joint_valid.copy()
        self.anchor_at_joints_m = position_m.copy()
        self.stamp_ns = stamp_ns
        self.last_seen_ns = stamp_ns
        self.hits = 1
        self.group_index = -1  # group assigned in the current update, -1 for none

    def predict(self, *, stamp_ns: int, config: TrackerConfig) -> None:
        """Kalman prediction x <- F x, P <- F P F^T + Q with F = [[1, dt], [0, 1]] (per axis)."""
        dt = (stamp_ns - self.stamp_ns) / NS_PER_S
        F = np.array([[1.0, dt], [0.0, 1.0]])
        q = config.acceleration_noise_m_s2**2
        Q = q * np.array([[dt**4 / 4, dt**3 / 2], [dt**3 / 2, dt**2]])
        self.position_m = self.position_m + dt * self.velocity_m_s
        self.covariance = F @ self.covariance @ F.T + Q
        self.stamp_ns = stamp_ns
        self.group_index = -1

    def correct(self, *, position_m: np.ndarray, joints_m: np.ndarray, joint_valid: np.ndarray, group_index: int,
                config: TrackerConfig) -> None:
        """Kalman update with a measured anchor (H = [1, 0]); speed clamped to max_speed_m_s."""
        gain = self.covariance[:, 0] / (self.covariance[0, 0] + config.measurement_noise_m**2)
        innovation = position_m - self.position_m
        self.position_m = self.position_m + gain[0] * innovation
        self.velocity_m_s = self.velocity_m_s + gain[1] * innovation
        speed = np.linalg.norm(self.velocity_m_s)
        if speed > config.max_speed_m_s:
            self.velocity_m_s *= config.max_speed_m_s / speed
        self.covariance = self.covariance - np.outer(gain, self.covariance[0])
        self.joints_m, self.joint_valid = joints_m.copy(), joint_valid.copy()
        self.anchor_at_joints_m = position_m.copy()
        self.last_seen_ns = self.stamp_ns
        self.hits += 1
        self.group_index = group_index

    def predicted_joints_m(self, position_m: np.ndarray) -> np.ndarray:
        """(J, 3) the last joints moved with the anchor to ``position_m``; NaN where not valid."""
        moved = self.joints_m + (position_m - self.anchor_at_joints_m)
        return np.where(self.joint_valid[:, None], moved, np.nan)


def anchor_positions_m(joints_world_m: np.ndarray, joint_valid: np.ndarray,
                       anchor_joints: tuple[int, ...]) -> np.ndarray:
    """(G, 3) mean of the valid anchor joints of each (G, J, 3) group, else the centroid of its valid joints;
    NaN for groups without valid joints."""
    anchors = np.asarray(anchor_joints, dtype=np.int64)
    valid = joint_valid.astype(np.float64)
    anchor_valid = valid[:, anchors]
    with np.errstate(invalid="ignore", divide="ignore"):
        on_anchors = (np.einsum("gj,gjk->gk", anchor_valid, np.nan_to_num(joints_world_m[:, anchors]))
                      / np.sum(anchor_valid, axis=1, keepdims=True))
        centroid = (np.einsum("gj,gjk->gk", valid, np.nan_to_num(joints_world_m))
                    / np.sum(valid, axis=1, keepdims=True))
    return np.where(np.sum(anchor_valid, axis=1, keepdims=True) > 0, on_anchors, centroid)


def _assign(cost: np.ndarray, gate: np.ndarray) -> list[tuple[int, int]]:
    """Hungarian assignment of rows to columns on ``cost`` (R, C); pairs with cost > gate (R,) are dropped."""
    if cost.size == 0:
        return []
    gated = np.where(cost <= gate[:, None], cost, _FORBIDDEN_COST)
    rows, cols = linear_sum_assignment(gated)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if gated[r, c] < _FORBIDDEN_COST]


class Tracker:
    """Stable ids for the people of consecutive synchronized sets (see the module docstring)."""

    def __init__(self, *, config: TrackerConfig = TrackerConfig()) -> None:
        self._config = config.validate()
        self._tracks: list[_Track] = []  # live tracks, TRACKED or SEARCHING
        self._tentative: list[_Track] = []
        first = config.first_track_id
        self._next_id = automatic_first_track_id() if first == AUTOMATIC_FIRST_TRACK_ID else first
        self._stamp_ns: int | None = None

    @property
    def config(self) -> TrackerConfig:
        return self._config

    def reset(self) -> None:
        """Forget every track (e.g. after a clock jump); ids keep counting up."""
        self._tracks, self._tentative, self._stamp_ns = [], [], None

    def predictions(self, *, stamp_ns: int) -> TrackPredictions:
        """3D joints of the live tracks predicted to ``stamp_ns`` (seeds for association); no state changes."""
        ids, joints, valid = [], [], []
        for track in self._tracks:
            dt = (int(stamp_ns) - track.stamp_ns) / NS_PER_S
            joints.append(track.predicted_joints_m(track.position_m + dt * track.velocity_m_s))
            valid.append(track.joint_valid)
            ids.append(track.track_id)
        num_joints = self._tracks[0].joints_m.shape[0] if self._tracks else 0
        return TrackPredictions(track_ids=np.array(ids, dtype=np.int64),
                                joints_world_m=np.array(joints).reshape(len(ids), num_joints, 3),
                                joint_valid=np.array(valid, dtype=bool).reshape(len(ids), num_joints))

    def update(self, *, joints_world_m: np.ndarray, joint_valid: np.ndarray, stamp_ns: int,
               seed_track_ids: np.ndarray | None = None) -> TrackerUpdate:
        """Assign the (G, J, 3) triangulated groups of the set at ``stamp_ns`` to tracks.

        Args:
            joints_world_m: (G, J, 3) joints per group, metres (NaN where not valid).
            joint_valid: (G, J) validity.
            stamp_ns: the set's stamp; must not go back in time.
            seed_track_ids: (G,) track whose prediction attracted each group in association, -1 for none.
        Returns:
            :class:`TrackerUpdate`.
        """
        joints, valid, seeds = self._check(joints_world_m, joint_valid, stamp_ns, seed_track_ids)
        stamp_ns = int(stamp_ns)
        self._stamp_ns = stamp_ns
        config = self._config
        for track in self._tracks + self._tentative:
            track.predict(stamp_ns=stamp_ns, config=config)
        usable = np.sum(valid, axis=1) >= config.min_valid_joints
        anchors = anchor_positions_m(joints, valid, config.anchor_joints)
        free = [g for g in range(joints.shape[0]) if usable[g]]
        assigned: dict[int, int] = {}  # index in self._tracks -> group

        # 1. live tracks
        if self._tracks and free:
            positions = np.stack([t.position_m for t in self._tracks])
            cost = np.linalg.norm(positions[:, None] - anchors[free][None], axis=-1)
            ids = np.array([t.track_id for t in self._tracks])
            cost = np.where(ids[:, None] == seeds[free][None], 0.5 * cost, cost)
            unseen_s = np.array([(stamp_ns - t.last_seen_ns) / NS_PER_S for t in self._tracks])
            for r, c in _assign(cost, config.gate_m + config.gate_growth_m_per_s * unseen_s):
                assigned[r] = free[c]
        for r, g in assigned.items():
            self._tracks[r].correct(position_m=anchors[g], joints_m=joints[g], joint_valid=valid[g], group_index=g,
                                    config=config)
        free = [g for g in free if g not in assigned.values()]

        # 2. tentative tracks, then births
        kept: list[_Track] = []
        if self._tentative and free:
            positions = np.stack([t.position_m for t in self._tentative])
            cost = np.linalg.norm(positions[:, None] - anchors[free][None], axis=-1)
            matches = _assign(cost, np.full(len(self._tentative), config.gate_m))
            for r, c in matches:
                track = self._tentative[r]
                track.correct(position_m=anchors[free[c]], joints_m=joints[free[c]], joint_valid=valid[free[c]],
                              group_index=free[c], config=config)
                kept.append(track)
            free = [g for i, g in enumerate(free) if i not in {c for _, c in matches}]
        self._tentative = kept
        for g in free:
            track = _Track(position_m=anchors[g], joints_m=joints[g], joint_valid=valid[g], stamp_ns=stamp_ns,
                           config=config)
            track.group_index = g
            self._tentative.append(track)
        for track in self._tentative:
            if track.hits >= config.confirmations:
                track.track_id = self._next_id
                self._next_id = (self._next_id + 1) % TRACK_ID_LIMIT
                self._tracks.append(track)
        self._tentative = [t for t in self._tentative if t.hits < config.confirmations]
        return self._report(num_groups=joints.shape[0])

    def _report(self, *, num_groups: int) -> TrackerUpdate:
        """States of every live track after an update; TERMINATED tracks are reported and removed."""
        group_track_ids = np.full(num_groups, -1, dtype=np.int64)
        estimates, alive = [], []
        timeout_ns = round(self._config.prediction_timeout_s * NS_PER_S)
        for track in self._tracks:
            group = track.group_index
            if group >= 0:
                state = TrackingState.TRACKED
                group_track_ids[group] = track.track_id
            else:
                unseen_ns = self._stamp_ns - track.last_seen_ns
                state = TrackingState.SEARCHING if unseen_ns <= timeout_ns else TrackingState.TERMINATED
            if state != TrackingState.TERMINATED:
                alive.append(track)
            joints_m = track.predicted_joints_m(track.position_m)
            estimates.append(TrackEstimate(
                track_id=track.track_id, state=state, position_world_m=track.position_m.copy(),
                velocity_world_m_s=track.velocity_m_s.copy(), joints_world_m=joints_m,
                joint_valid=track.joint_valid.copy(), group_index=group, last_seen_ns=track.last_seen_ns,
                stamp_ns=track.stamp_ns))
        self._tracks = alive
        return TrackerUpdate(tracks=tuple(sorted(estimates, key=lambda e: e.track_id)), group_track_ids=group_track_ids)

    def _check(self, joints_world_m, joint_valid, stamp_ns, seed_track_ids):
        joints = np.asarray(joints_world_m, dtype=np.float64)
        if joints.ndim != 3 or joints.shape[-1] != 3:
            raise TrackingError(f"joints_world_m: expected shape (G, J, 3), got {joints.shape}")
        valid = np.asarray(joint_valid, dtype=bool)
        if valid.shape != joints.shape[:2]:
            raise TrackingError(f"joint_valid: expected shape {joints.shape[:2]}, got {valid.shape}")
        valid = valid & np.all(np.isfinite(joints), axis=-1)
        if joints.shape[0] and max(self._config.anchor_joints) >= joints.shape[1]:
            raise TrackingError(f"anchor_joints {self._config.anchor_joints} outside a layout of {joints.shape[1]} "
                                "joints")
        if self._stamp_ns is not None and int(stamp_ns) < self._stamp_ns:
            raise TrackingError(f"stamp_ns {int(stamp_ns)} is before the previous update's {self._stamp_ns}; "
                                "call reset() after a clock jump")
        tracked_joints = next((t.joints_m.shape[0] for t in self._tracks + self._tentative), joints.shape[1])
        if joints.shape[0] and joints.shape[1] != tracked_joints:
            raise TrackingError(f"groups have {joints.shape[1]} joints, tracks have {tracked_joints}")
        seeds = (np.full(joints.shape[0], -1, dtype=np.int64) if seed_track_ids is None
                 else np.asarray(seed_track_ids, dtype=np.int64).reshape(-1))
        if seeds.shape != (joints.shape[0],):
            raise TrackingError(f"seed_track_ids: expected shape ({joints.shape[0]},), got {seeds.shape}")
        return joints, valid, seeds
