"""Streaming calibrated fitting: per track a sliding window of W frames, refined jointly, output at a fixed lag.

Each :meth:`StreamingFitter.step` (one synchronised set of views):
1. every track seen in this set gets a new window frame started from its previous window by constant-velocity
   extrapolation (rotations: R_t = R_{t-1} (R_{t-2}ᵀ R_{t-1}); translation: 2 τ_{t-1} - τ_{t-2}); a new track
   starts from triangulation + IK (from per-view estimates when given); a known track seen by no camera gets
   the extrapolated frame, flagged ``observed=False``;
2. the windows of all tracks (padded to W at the start of a track, padding excluded from the smoothness
   term) are refined together by one :func:`calibrated_guided_fit` over P x W rows, with the joint
   acceleration term and one betas row per track;
3. each track emits the frame ``lag`` frames behind its newest (0 = newest) once it exists; frames older
   than W are dropped (memory is bounded by W per track). A track not seen for ``max_missing_frames``
   consecutive sets ends; :meth:`end_track` and :meth:`flush` emit its remaining frames.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import torch

from scorehmr_ros.core.calibrated_fitting import (
    BodyParams,
    CalibratedFitConfig,
    CalibratedObservations,
    calibrated_guided_fit,
)
from scorehmr_ros.core.config_fields import check_settings, setting
from scorehmr_ros.core.diffusion import Diffusion
from scorehmr_ros.core.fit_init import combine_view_estimates, initial_bodies, triangulate_bodies, view_weights
from scorehmr_ros.core.fitting import StageTimes
from scorehmr_ros.core.ik import IKConfig
from scorehmr_ros.core.keypoint_body import KeypointBody
from scorehmr_ros.core.multiview_guidance import RigTensors

#: Streaming schedule chosen by measurement (docs/fitting.md): one round of 2 + 2 denoiser calls per window.
STREAMING_FIT = CalibratedFitConfig(optim_iters=1, sample_start=20, ddim_step=10, w_accel=3.0)


class StreamingError(ValueError):
    """Inputs of a streaming step with wrong shapes or ids."""


@dataclass(frozen=True)
class StreamingConfig:
    """Streaming fitter settings."""

    window: int = setting(8, "frames per track window", unit="frames", minimum=1, maximum=256)
    lag: int = setting(3, "output delay behind the newest frame (0 = newest)", unit="frames", minimum=0,
                       maximum=255)
    max_missing_frames: int = setting(15, "sets without any view before a track ends", unit="frames", minimum=0,
                                      maximum=10000)
    min_start_points: int = setting(6, "triangulated joints needed to start a track", minimum=1, maximum=25)
    fit: CalibratedFitConfig = field(default_factory=lambda: STREAMING_FIT)
    ik: IKConfig = field(default_factory=IKConfig)
    update_ik: IKConfig = field(default_factory=lambda: IKConfig(iterations=10, learning_rate=0.05))
    rotation_velocity: bool = setting(False, "extrapolate joint rotations at constant velocity (else hold them)")

    def validate(self) -> StreamingConfig:
        check_settings(self)
        if self.lag >= self.window:
            raise ValueError(f"lag={self.lag}: must be < window={self.window}")
        self.fit.validate()
        self.ik.validate()
        return self


@dataclass(frozen=True)
class StreamOutput:
    """One emitted frame of one track (world frame).

    frame_index: index of the synchronised set this frame belongs to. observed: False when no camera saw
    the person (the frame is a prediction). rotations (24, 3, 3), betas (10,), transl_m (3,), smpl_joints_m (24, 3).
    """

    track_id: int
    frame_index: int
    observed: bool
    rotations: np.ndarray
    betas: np.ndarray
    transl_m: np.ndarray
    smpl_joints_m: np.ndarray


@dataclass
class _Frame:
    index: int
    rotations: torch.Tensor  # (24, 3, 3)
    transl_m: torch.Tensor  # (3,)
    keypoints_px: torch.Tensor  # (V, 25, 3)
    observed: bool
    emitted: bool = False


@dataclass
class _Track:
    betas: torch.Tensor  # (10,)
    frames: deque
    missing: int = 0


def extrapolate(previous: _Frame, last: _Frame, *,
                rotation_velocity: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Constant velocity: translation 2 τ_last - τ_prev; rotations (24, 3, 3) R_last (R_prevᵀ R_last) when
    ``rotation_velocity``, else R_last (measured: extrapolating noisy joint rotations amplifies their noise)."""
    rotations = last.rotations @ (previous.rotations.transpose(-1, -2) @ last.rotations) if rotation_velocity \
        else last.rotations
    return rotations, 2 * last.transl_m - previous.transl_m


class StreamingFitter:
    """Per-track sliding-window fitting of world-frame bodies (module docstring)."""

    def __init__(self, *, diffusion: Diffusion, body: KeypointBody, rig: RigTensors,
                 config: StreamingConfig = StreamingConfig()) -> None:
        self.config = config.validate()
        self.diffusion = diffusion
        self.body = body
        self.rig = rig
        self.tracks: dict[int, _Track] = {}
        self.frame_index = -1
        self.stage_times = StageTimes()

    @property
    def active_tracks(self) -> tuple[int, ...]:
        return tuple(self.tracks)

    def _start_tracks(self, ids: list[int], keypoints: torch.Tensor, init_pose: torch.Tensor | None,
                      init_betas: torch.Tensor | None) -> None:
        triangulated = triangulate_bodies(keypoints.numpy(), self.rig)
        rotations = betas = None
        if init_pose is not None:
            rotations, betas = combine_view_estimates(init_pose, init_betas, view_weights(keypoints),
                                                      self.rig.R_cam_world)
        solved = initial_bodies(self.body, triangulated=triangulated, rotations=rotations, betas=betas,
                                config=self.config.ik)
        enough = (triangulated.weights > 0).sum(axis=1) >= self.config.min_start_points
        for row, track_id in enumerate(ids):
            if enough[row]:
                frame = _Frame(self.frame_index, solved.rotations[row], solved.transl_m[row], keypoints[row], True)
                frames = deque([frame], maxlen=self.config.window)
                self.tracks[track_id] = _Track(betas=solved.betas[row], frames=frames)

    def step(self, *, track_ids: list[int], keypoints_px: np.ndarray, init_pose: np.ndarray | None = None,
             init_betas: np.ndarray | None = None) -> list[StreamOutput]:
        """Add one synchronised set and return the frames it makes due.

        Args:
            track_ids: the P people observed in this set (stable ids).
            keypoints_px: (P, V, 25, 3) OpenPose-25 keypoints per view (confidence 0 = missing).
            init_pose: (P, V, 24, 3, 3) per-view estimates (camera-relative global orientation), optional; used
                to start new tracks.
            init_betas: (P, V, 10), with init_pose.
        """
        keypoints = torch.as_tensor(np.asarray(keypoints_px), dtype=torch.float32)
        num = len(track_ids)
        if tuple(keypoints.shape) != (num, self.rig.num_views, 25, 3):
            raise StreamingError(f"keypoints_px: expected shape ({num}, {self.rig.num_views}, 25, 3), "
                                 f"got {tuple(keypoints.shape)}")
        if len(set(track_ids)) != num:
            raise StreamingError(f"track_ids: must be unique, got {track_ids}")
        if (init_pose is None) != (init_betas is None):
            raise StreamingError("init_pose and init_betas: give both or neither")
        self.frame_index += 1
        seen = (keypoints[..., 2] > 0).flatten(1).any(dim=1)
        new_rows = [i for i, tid in enumerate(track_ids) if tid not in self.tracks and bool(seen[i])]
        if new_rows:
            pose = None if init_pose is None else torch.as_tensor(np.asarray(init_pose)[new_rows], dtype=torch.float32)
            betas = None if init_betas is None else torch.as_tensor(np.asarray(init_betas)[new_rows],
                                                                    dtype=torch.float32)
            self._start_tracks([track_ids[i] for i in new_rows], keypoints[new_rows], pose, betas)
        row_of = {tid: i for i, tid in enumerate(track_ids)}
        outputs: list[StreamOutput] = []
        continuing: list[int] = []
        for track_id in list(self.tracks):
            track = self.tracks[track_id]
            if track.frames[-1].index == self.frame_index:
                continue  # started this set
            row = row_of.get(track_id)
            observed = row is not None and bool(seen[row])
            track.missing = 0 if observed else track.missing + 1
            if track.missing > self.config.max_missing_frames:
                outputs += self.end_track(track_id)
                continue
            last = track.frames[-1]
            previous = track.frames[-2] if len(track.frames) > 1 else last
            rotations, transl = extrapolate(previous, last, rotation_velocity=self.config.rotation_velocity)
            kp = keypoints[row] if observed else torch.zeros_like(last.keypoints_px)
            if len(track.frames) == track.frames.maxlen and not track.frames[0].emitted:
                outputs.append(self._emit(track_id, track, track.frames[0]))
            track.frames.append(_Frame(self.frame_index, rotations, transl, kp, observed))
            if observed:
                continuing.append(track_id)
        if continuing:
            self._warm_start(continuing)
        if self.tracks:
            self._refine()
        for track_id, track in self.tracks.items():
            position = len(track.frames) - 1 - self.config.lag
            if position >= 0 and not track.frames[position].emitted:
                outputs.append(self._emit(track_id, track, track.frames[position]))
        return outputs

    def _warm_start(self, track_ids: list[int]) -> None:
        """Step 1b: a few IK steps from the extrapolated frames towards their triangulated keypoints (one batch)."""
        frames = [self.tracks[t].frames[-1] for t in track_ids]
        triangulated = triangulate_bodies(torch.stack([f.keypoints_px for f in frames]).numpy(), self.rig)
        solved = initial_bodies(self.body, triangulated=triangulated,
                                rotations=torch.stack([f.rotations for f in frames]),
                                betas=torch.stack([self.tracks[t].betas for t in track_ids]),
                                config=self.config.update_ik)
        usable = (triangulated.weights > 0).sum(axis=1) >= self.config.min_start_points
        for row, frame in enumerate(frames):
            if usable[row]:
                frame.rotations, frame.transl_m = solved.rotations[row], solved.transl_m[row]

    def _refine(self) -> None:
        """Step 2: one guided fit over all tracks' windows, written back into the windows."""
        window = self.config.window
        ids = list(self.tracks)
        rotations, transl, keypoints, real, group, betas = [], [], [], [], [], []
        for number, track_id in enumerate(ids):
            frames = list(self.tracks[track_id].frames)
            pad = [frames[0]] * (window - len(frames))
            for position, frame in enumerate(pad + frames):
                rotations.append(frame.rotations)
                transl.append(frame.transl_m)
                keypoints.append(frame.keypoints_px if position >= len(pad) else torch.zeros_like(frame.keypoints_px))
                real.append(position >= len(pad))
                group.append(number)
                betas.append(self.tracks[track_id].betas)
        init = BodyParams(rotations=torch.stack(rotations), betas=torch.stack(betas), transl_m=torch.stack(transl))
        observations = CalibratedObservations(keypoints_px=torch.stack(keypoints), rig=self.rig, window=window,
                                              frame_mask=torch.tensor(real))
        fitted = calibrated_guided_fit(diffusion=self.diffusion, body=self.body, observations=observations, init=init,
                                       config=self.config.fit, betas_group=torch.tensor(group),
                                       stage_times=self.stage_times)
        for number, track_id in enumerate(ids):
            track = self.tracks[track_id]
            track.betas = fitted.betas[number * window]
            offset = number * window + window - len(track.frames)
            for position, frame in enumerate(track.frames):
                frame.rotations = fitted.rotations[offset + position]
                frame.transl_m = fitted.transl_m[offset + position]

    def _emit(self, track_id: int, track: _Track, frame: _Frame) -> StreamOutput:
        frame.emitted = True
        with torch.no_grad():
            joints = self.body(rotations=frame.rotations[None], betas=track.betas[None],
                               transl_m=frame.transl_m[None]).smpl_joints_m[0]
        return StreamOutput(track_id=track_id, frame_index=frame.index, observed=frame.observed,
                            rotations=frame.rotations.numpy().copy(), betas=track.betas.numpy().copy(),
                            transl_m=frame.transl_m.numpy().copy(), smpl_joints_m=joints.numpy().copy())

    def end_track(self, track_id: int) -> list[StreamOutput]:
        """End a track now; returns its frames not yet emitted (oldest first)."""
        track = self.tracks.pop(track_id, None)
        if track is None:
            return []
        return [self._emit(track_id, track, frame) for frame in track.frames if not frame.emitted]

    def flush(self) -> list[StreamOutput]:
        """End every track (end of the stream); returns all frames not yet emitted."""
        outputs: list[StreamOutput] = []
        for track_id in list(self.tracks):
            outputs += self.end_track(track_id)
        return outputs
