"""Streaming calibrated fitting: per track a fixed-lag smoother over per-frame guided fits.

Each :meth:`StreamingFitter.step` (one synchronised set of views):
1. start: a new track (seen, enough triangulated joints) starts from triangulation + placement on the combined
   per-view estimates when given (else triangulation + IK from keypoints alone, ``ik``); a known track seen in
   this set starts its new frame from this set's combined per-view estimates when given
   (``init_from="view_estimates"``, the same start as the per-frame fit), else from its previous (smoothed)
   frames by constant-velocity extrapolation (rotations held, or at constant velocity by option); the
   translation is extrapolated (2 τ_{t-1} - τ_{t-2}) unless ``update_triangulation`` places the body on
   this set's triangulated joints (+ ``update_ik`` steps);
2. per-frame fit: only the newest frames, of all tracks seen in this set, in one batch, by
   :func:`calibrated_guided_fit` with the data term (and its polish) — each frame fitted to its own keypoints
   once (an image-conditioned prior gets this set's per-view features, views without them at weight 0);
   a track's betas are the mean of its first ``betas_frames`` per-frame fits, then held fixed;
   a known track seen by no camera gets the extrapolated frame as a prediction (flagged ``observed=False``);
   a frame whose previous frame was fitted takes that fit's last denoiser output as its inversion noise
   (``carry_inversion_noise``, :class:`~scorehmr_ros.fitting.calibrated_fitting.InversionNoise`);
3. smoothing: per track, the closed-form fixed-lag smoother of :mod:`~scorehmr_ros.fitting.fixed_lag` over the
   window (per-frame fits as anchors, acceleration penalty on rotation matrices and translation; frames
   already emitted held at their emitted values, so the emitted sequence is itself smooth);
4. each track emits the frame ``lag`` frames behind its newest (0 = newest); frames older than W are dropped
   (memory bounded by W per track). A track ends only when told (:meth:`end_track`, :meth:`flush`: its
   remaining frames are emitted): the tracker owns a track's life (``TrackerConfig.prediction_timeout_s``), so
   the fitter never drops a track the tracker still reports.
The per-frame fits are never refitted, so a window cannot drift; the window costs one small linear solve.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from scorehmr_ros.base.config_fields import check_settings, setting
from scorehmr_ros.body.ik import IKConfig
from scorehmr_ros.body.keypoint_body import KeypointBody
from scorehmr_ros.diffusion.diffusion import Diffusion
from scorehmr_ros.fitting.calibrated_fitting import (
    BodyParams,
    CalibratedFitConfig,
    CalibratedObservations,
    InversionNoise,
    calibrated_guided_fit,
)
from scorehmr_ros.fitting.fit_init import combine_view_estimates, initial_bodies, triangulate_bodies, view_weights
from scorehmr_ros.fitting.fitting import StageTimes
from scorehmr_ros.fitting.fixed_lag import fixed_lag_smooth
from scorehmr_ros.fitting.multiview_guidance import RigTensors
from scorehmr_ros.geometry.rotations import nearest_rotation

#: Per-frame schedule of the streaming fitter, chosen by measurement (docs/fitting.md): S = 10, k = 10 (2 denoiser
#: calls, 1 when the inversion's noise is carried from the track's previous frame; S = 20 was 0.2 mm better on
#: the 4-camera scenes and 1.6 mm on a stereo pair, at 1.4x the time), then one damped Gauss-Newton iteration on
#: the whole body (global orientation, joints, translation) with the analytic chain Jacobian: it replaced a rigid
#: iteration followed by 5 Adam steps through autograd (lower error, 2x less time).
STREAMING_FIT = CalibratedFitConfig(sample_start=10, ddim_step=10, polish_rigid_iters=0,
                                    polish_pose_solver="gauss_newton", polish_pose_gn_iters=1,
                                    polish_pose_gn_damping=0.03, polish_pose_gn_orient=True)


class StreamingError(ValueError):
    """Inputs of a streaming step with wrong shapes or ids."""


@dataclass(frozen=True)
class StreamingConfig:
    """Streaming fitter settings (defaults chosen by measurement, docs/fitting.md)."""

    window: int = setting(8, "frames per track window", unit="frames", minimum=1, maximum=256)
    lag: int = setting(3, "output delay behind the newest frame (0 = newest)", unit="frames", minimum=0,
                       maximum=255)
    min_start_points: int = setting(6, "triangulated joints needed to start a track", minimum=1, maximum=25)
    smoothness: float = setting(1.0, "λ of the fixed-lag smoother (accelerations in 30 fps frame units; with set "
                                "stamps the same λ holds at any rate)",
                                minimum=0.0, maximum=1e6)
    prediction_weight: float = setting(1e-3, "anchor weight of a frame no camera saw (its extrapolation)",
                                       minimum=0.0, maximum=1.0)
    betas_frames: int = setting(10, "per-frame fits averaged into a track's betas, then held fixed",
                                unit="frames", minimum=1, maximum=10000)
    init_from: str = setting("view_estimates", "start of a known track's new frame: this set's per-view estimates "
                             "when given (else extrapolation), or always the extrapolation",
                             choices=("extrapolation", "view_estimates"))
    fit: CalibratedFitConfig = field(default_factory=lambda: STREAMING_FIT)
    # keypoints alone: Levenberg-Marquardt (more accurate than Adam at a tenth of the IK time, docs/fitting.md);
    # a track's start from the rest pose, a known track's new frame from its extrapolation in 2 iterations (3 were
    # no more accurate once the pose polish became Gauss-Newton, docs/fitting.md)
    ik: IKConfig = field(default_factory=lambda: IKConfig(solver="levenberg_marquardt"))
    update_ik: IKConfig = field(default_factory=lambda: IKConfig(solver="levenberg_marquardt", lm_iterations=2,
                                                                 iterations=20))
    estimates_ik: IKConfig = field(default_factory=lambda: IKConfig(iterations=0))  # start / new frame, estimates
    update_triangulation: bool = setting(False, "with per-view estimates: place a known track's new frame on this "
                                         "set's triangulated joints (+ ``estimates_ik`` steps; else the "
                                         "extrapolated translation)")
    rotation_velocity: bool = setting(False, "extrapolate joint rotations at constant velocity (else hold them)")
    carry_inversion_noise: bool = setting(True, "a frame following a fitted frame of its track takes that fit's "
                                          "last denoiser output as its DDIM inversion noise (one denoiser call "
                                          "less per update; else the inversion calls the denoiser)")

    def validate(self) -> StreamingConfig:
        check_settings(self)
        if self.lag >= self.window:
            raise ValueError(f"lag={self.lag}: must be < window={self.window}")
        self.fit.validate()
        self.ik.validate()
        self.update_ik.validate()
        self.estimates_ik.validate()
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
    fit_rotations: torch.Tensor  # (24, 3, 3) per-frame fit (or prediction): the smoother's anchor
    fit_transl_m: torch.Tensor  # (3,)
    observed: bool
    rotations: torch.Tensor | None = None  # (24, 3, 3) smoothed
    transl_m: torch.Tensor | None = None  # (3,) smoothed
    emitted: bool = False
    time_s: float | None = None  # the set's stamp, seconds (None: not given)
    prior_noise: torch.Tensor | None = None  # (D,) the denoiser's ε̂ of this frame's last guided step (fitted frames)

    def __post_init__(self) -> None:
        if self.rotations is None:
            self.rotations, self.transl_m = self.fit_rotations, self.fit_transl_m


@dataclass
class _Track:
    betas: torch.Tensor  # (10,)
    frames: deque
    betas_sum: torch.Tensor = field(default_factory=lambda: torch.zeros(10))
    betas_count: int = 0


def extrapolate(previous: _Frame, last: _Frame, *, rotation_velocity: bool = False,
                time_s: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Constant velocity on the smoothed frames: translation τ_last + (τ_last - τ_prev) r with r the ratio of the
    time steps (new - last) / (last - prev) when the three times are known and increasing, else 1; rotations
    (24, 3, 3) R_last (R_prevᵀ R_last) when ``rotation_velocity``, else R_last (measured: extrapolating noisy
    joint rotations amplifies their noise)."""
    rotations = last.rotations @ (previous.rotations.transpose(-1, -2) @ last.rotations) if rotation_velocity \
        else last.rotations
    ratio = 1.0
    if time_s is not None and previous.time_s is not None and last.time_s is not None \
            and previous.time_s < last.time_s < time_s:
        ratio = (time_s - last.time_s) / (last.time_s - previous.time_s)
    return rotations, last.transl_m + ratio * (last.transl_m - previous.transl_m)


def frame_times_s(times: list[float | None]) -> torch.Tensor | None:
    """(n,) strictly increasing times for the smoother from the frames' stamps: a missing or non-increasing
    step takes the median of the good steps; None when no step is good (the smoother then assumes 30 fps)."""
    steps = [b - a for a, b in zip(times[:-1], times[1:], strict=True) if a is not None and b is not None and b > a]
    if not steps:
        return None
    typical = float(np.median(steps))
    out = [0.0]
    for a, b in zip(times[:-1], times[1:], strict=True):
        out.append(out[-1] + (b - a if a is not None and b is not None and b > a else typical))
    return torch.tensor(out, dtype=torch.float64)


class StreamingFitter:
    """Per-track fixed-lag smoothing of per-frame calibrated fits of world-frame bodies (module docstring)."""

    def __init__(self, *, diffusion: Diffusion, body: KeypointBody, rig: RigTensors,
                 config: StreamingConfig = StreamingConfig()) -> None:
        self.config = config.validate()
        self.diffusion = diffusion
        self.body = body
        self.rig = rig
        self.set_rig = rig  # the current set's cameras (a moving rig: posed at its stamp)
        self.tracks: dict[int, _Track] = {}
        self.frame_index = -1
        self.stamp_s: float | None = None  # the current set's stamp, seconds
        self.stage_times = StageTimes()

    @property
    def active_tracks(self) -> tuple[int, ...]:
        return tuple(self.tracks)

    def step(self, *, track_ids: list[int], keypoints_px: np.ndarray, init_pose: np.ndarray | None = None,
             init_betas: np.ndarray | None = None, cond: np.ndarray | None = None,
             view_valid: np.ndarray | None = None, stamp_s: float | None = None,
             rig: RigTensors | None = None) -> list[StreamOutput]:
        """Add one synchronised set and return the frames it makes due.

        Args:
            track_ids: the P people observed in this set (stable ids).
            keypoints_px: (P, V, 25, 3) OpenPose-25 keypoints per view (confidence 0 = missing).
            init_pose: (P, V, 24, 3, 3) per-view estimates (camera-relative global orientation), optional; they
                start new tracks (and every frame with ``init_from="view_estimates"``).
            init_betas: (P, V, 10), with init_pose.
            cond: (P, V, C) per-view image features, C the denoiser's cond_dim: required by an image-conditioned
                prior, refused by a keypoint-only one (cond_dim 0).
            view_valid: (P, V) bool, the views whose ``cond`` / estimates exist (others get weight 0); None: all.
            stamp_s: the set's stamp, seconds: the smoother and the extrapolation then use the real time steps
                (``smoothness`` is in 30 fps units); None: sets 1/30 s apart.
            rig: this set's cameras (the fitter's rig posed at the set's stamp, :meth:`RigTensors.with_extrinsics`,
                one pose per camera): a moving rig's frames are fitted and started against the cameras as they
                were, so the world-frame windows and their smoothing never see the ego-motion; None: ``self.rig``.
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
        pose = None if init_pose is None else torch.as_tensor(np.asarray(init_pose), dtype=torch.float32)
        betas = None if init_betas is None else torch.as_tensor(np.asarray(init_betas), dtype=torch.float32)
        features, valid = self._checked_cond(num, cond, view_valid)
        for name, tensor, tail in (("init_pose", pose, (24, 3, 3)), ("init_betas", betas, (10,))):
            if tensor is not None and tuple(tensor.shape) != (num, self.rig.num_views, *tail):
                raise StreamingError(f"{name}: expected shape ({num}, {self.rig.num_views}, "
                                     f"{', '.join(map(str, tail))}), got {tuple(tensor.shape)}")
        if stamp_s is not None and not np.isfinite(stamp_s):
            raise StreamingError(f"stamp_s: must be finite seconds, got {stamp_s}")
        if rig is not None and (rig.per_row or rig.num_views != self.rig.num_views):
            raise StreamingError(f"rig: expected one pose per camera of the {self.rig.num_views} views, got "
                                 f"{rig.num_views} views{' with per-row poses' if rig.per_row else ''}")
        self.set_rig = self.rig if rig is None else rig
        self.frame_index += 1
        self.stamp_s = stamp_s
        seen = (keypoints[..., 2] > 0).flatten(1).any(dim=1)
        # per-view estimates count only where valid; a person with none falls back to keypoints alone
        estimate_weight = view_weights(keypoints) * valid
        has_estimates = estimate_weight.sum(dim=1) > 0 if pose is not None else torch.zeros(num, dtype=torch.bool)
        row_of = {tid: i for i, tid in enumerate(track_ids)}
        outputs: list[StreamOutput] = []
        fit_ids: list[int] = []
        fit_rows: list[int] = []
        for track_id in list(self.tracks):  # step 1 (known tracks) and the predictions of step 2
            track = self.tracks[track_id]
            row = row_of.get(track_id)
            observed = row is not None and bool(seen[row])
            if len(track.frames) == track.frames.maxlen and not track.frames[0].emitted:
                outputs += self._emit([(track_id, track, track.frames[0])])
            last = track.frames[-1]
            previous = track.frames[-2] if len(track.frames) > 1 else last
            rotations, transl = extrapolate(previous, last, rotation_velocity=self.config.rotation_velocity,
                                            time_s=stamp_s)
            track.frames.append(_Frame(self.frame_index, rotations, transl, observed, time_s=stamp_s))
            if observed:
                fit_ids.append(track_id)
                fit_rows.append(row)
        new_ids = [tid for i, tid in enumerate(track_ids) if tid not in self.tracks and bool(seen[i])]
        for with_estimates in (True, False):
            starting = [t for t in new_ids if bool(has_estimates[row_of[t]]) == with_estimates]
            if starting:
                rows = [row_of[t] for t in starting]
                fit_ids += self._start_tracks(starting, rows, keypoints, pose if with_estimates else None, betas,
                                              estimate_weight)
        fit_rows = [row_of[t] for t in fit_ids]
        if fit_ids:
            self._fit_newest(fit_ids, keypoints[fit_rows], None if pose is None else pose[fit_rows],
                             None if betas is None else betas[fit_rows], valid[fit_rows],
                             None if features is None else features[fit_rows])
        self._smooth(list(self.tracks.values()))  # step 3
        due = []  # step 4
        for track_id, track in self.tracks.items():
            position = len(track.frames) - 1 - self.config.lag
            if position >= 0 and not track.frames[position].emitted:
                due.append((track_id, track, track.frames[position]))
        return outputs + self._emit(due)

    def _checked_cond(self, num: int, cond: np.ndarray | None,
                      view_valid: np.ndarray | None) -> tuple[torch.Tensor | None, torch.Tensor]:
        """cond (P, V, C) as a tensor (None for a keypoint-only prior) and the (P, V) float view mask."""
        cond_dim, views = self.diffusion.model.config.cond_dim, self.rig.num_views
        if cond is None and cond_dim > 0:
            raise StreamingError(f"cond: the prior is image-conditioned (cond_dim {cond_dim}); give per-view "
                                 f"features ({num}, {views}, {cond_dim})")
        if cond is not None and cond_dim == 0:
            raise StreamingError("cond: the prior is keypoint-only (cond_dim 0) and takes no image features")
        features = None if cond is None else torch.as_tensor(np.asarray(cond), dtype=torch.float32)
        if features is not None and tuple(features.shape) != (num, views, cond_dim):
            raise StreamingError(f"cond: expected shape ({num}, {views}, {cond_dim}), got {tuple(features.shape)}")
        if view_valid is None:
            return features, torch.ones(num, views)
        valid = np.asarray(view_valid)
        if valid.shape != (num, views) or valid.dtype != bool:
            raise StreamingError(f"view_valid: expected a bool array ({num}, {views}), got {valid.shape} "
                                 f"{valid.dtype}")
        return features, torch.as_tensor(valid, dtype=torch.float32)

    def _start_tracks(self, ids: list[int], rows: list[int], keypoints: torch.Tensor, pose: torch.Tensor | None,
                      betas: torch.Tensor | None, estimate_weight: torch.Tensor) -> list[int]:
        """Step 1, new tracks: triangulation + IK (from the combined valid per-view estimates when ``pose`` is
        given); returns the ids that started."""
        triangulated = triangulate_bodies(keypoints[rows].numpy(), self.set_rig)
        rotations = start_betas = None
        if pose is not None:
            rotations, start_betas = combine_view_estimates(pose[rows], betas[rows], estimate_weight[rows],
                                                            self.set_rig.R_cam_world)
        solved = initial_bodies(self.body, triangulated=triangulated, rotations=rotations, betas=start_betas,
                                config=self.config.ik if pose is None else self.config.estimates_ik)
        enough = (triangulated.weights > 0).sum(axis=1) >= self.config.min_start_points
        started = []
        for number, track_id in enumerate(ids):
            if enough[number]:
                frame = _Frame(self.frame_index, solved.rotations[number], solved.transl_m[number], True,
                               time_s=self.stamp_s)
                self.tracks[track_id] = _Track(betas=solved.betas[number],
                                               frames=deque([frame], maxlen=self.config.window))
                started.append(track_id)
        return started

    def _fit_newest(self, ids: list[int], keypoints: torch.Tensor, pose: torch.Tensor | None,
                    betas: torch.Tensor | None, valid: torch.Tensor, cond: torch.Tensor | None) -> None:
        """Steps 1 (warm start of known tracks) and 2: one batched per-frame fit of the tracks' newest frames.

        valid (B, V): 1 where the view's estimates / features exist. cond (B, V, C) for an image-conditioned
        prior: its views weighted by their summed keypoint confidence x valid.
        """
        estimate_weight = view_weights(keypoints) * valid
        has_estimates = estimate_weight.sum(dim=1) > 0
        tracks = [self.tracks[t] for t in ids]
        frames = [track.frames[-1] for track in tracks]
        track_betas = torch.stack([track.betas for track in tracks])
        fixed = torch.tensor([track.betas_count >= self.config.betas_frames for track in tracks])
        known = torch.tensor([len(track.frames) > 1 for track in tracks])
        start_rotations = torch.stack([f.fit_rotations for f in frames])
        start_transl = torch.stack([f.fit_transl_m for f in frames])
        rotations = start_rotations  # extrapolated
        estimates = self.config.init_from == "view_estimates" and pose is not None and bool(has_estimates.any())
        if estimates:
            combined, _ = combine_view_estimates(pose, betas, estimate_weight, self.set_rig.R_cam_world)
            rotations = torch.where(has_estimates[:, None, None, None], combined, start_rotations)
        if self.config.update_triangulation or not estimates:
            triangulated = triangulate_bodies(keypoints.numpy(), self.set_rig)
            solved = initial_bodies(self.body, triangulated=triangulated, rotations=rotations, betas=track_betas,
                                    config=replace(self.config.estimates_ik if estimates else self.config.update_ik,
                                                   optimize_betas=False))
            usable = torch.as_tensor((triangulated.weights > 0).sum(axis=1) >= self.config.min_start_points)
            rotations, transl = solved.rotations, solved.transl_m
        else:  # this set's rotations, the extrapolated translation (the fit's Gauss-Newton steps place the body)
            usable, transl = torch.ones(len(ids), dtype=torch.bool), start_transl
        warm = (known & usable)[:, None]
        init = BodyParams(rotations=torch.where(warm[..., None, None], rotations, start_rotations),
                          betas=track_betas, transl_m=torch.where(warm, transl, start_transl))
        view_weight = None if cond is None else keypoints[..., 2].sum(dim=-1) * valid
        carry = self._inversion_noise(tracks) if self.config.carry_inversion_noise else None
        observations = CalibratedObservations(keypoints_px=keypoints, rig=self.set_rig, cond=cond,
                                              view_weight=view_weight)
        fitted = calibrated_guided_fit(diffusion=self.diffusion, body=self.body, observations=observations,
                                       init=init, config=self.config.fit, fixed_betas=fixed,
                                       stage_times=self.stage_times, inversion_noise=carry)
        for number, (track, frame) in enumerate(zip(tracks, frames, strict=True)):
            frame.prior_noise = None if carry is None else carry.noise[number]
            frame.fit_rotations = frame.rotations = fitted.rotations[number]
            frame.fit_transl_m = frame.transl_m = fitted.transl_m[number]
            if not bool(fixed[number]):
                track.betas_sum = track.betas_sum + fitted.betas[number]
                track.betas_count += 1
                track.betas = track.betas_sum / track.betas_count

    def _inversion_noise(self, tracks: list[_Track]) -> InversionNoise:
        """The newest frames' carried inversion noise: their track's previous frame's ε̂ when that frame was fitted
        (a new track, or one whose previous frame was a prediction, calls the denoiser)."""
        previous = [track.frames[-2].prior_noise if len(track.frames) > 1 else None for track in tracks]
        size = self.diffusion.model.config.pose_dim
        return InversionNoise(noise=torch.stack([torch.zeros(size) if p is None else p for p in previous]),
                              known=torch.tensor([p is not None for p in previous]))

    def _smooth(self, tracks: list[_Track]) -> None:
        """Step 3: the fixed-lag smoother over each track's window (emitted frames held), windows of one length
        in one batched solve; the frames not yet emitted of all tracks brought back to rotations in one batch."""
        if self.config.smoothness <= 0:
            return
        by_length: dict[int, list[list[_Frame]]] = {}
        for track in tracks:
            if len(track.frames) >= 3:
                by_length.setdefault(len(track.frames), []).append(list(track.frames))
        pending: list[tuple[_Frame, torch.Tensor]] = []  # (frame, its smoothed 9 x 24 + 3 row)
        for windows in by_length.values():
            frames = [frame for window in windows for frame in window]
            shape = (len(windows), len(windows[0]))
            fixed = torch.tensor([f.emitted for f in frames]).reshape(shape)
            anchor = torch.tensor([1.0 if f.observed else self.config.prediction_weight for f in frames]).reshape(shape)
            values = torch.stack([torch.cat([(f.rotations if f.emitted else f.fit_rotations).reshape(-1),
                                             f.transl_m if f.emitted else f.fit_transl_m]) for f in frames])
            smoothed = fixed_lag_smooth(values.reshape(*shape, -1), anchor_weight=anchor, fixed=fixed,
                                        smoothness=self.config.smoothness,
                                        times_s=[frame_times_s([f.time_s for f in window]) for window in windows])
            pending += [(frame, row) for frame, row in zip(frames, smoothed.reshape(len(frames), -1), strict=True)
                        if not frame.emitted]
        if not pending:
            return
        rows = torch.stack([row for _, row in pending])
        rotations = nearest_rotation(rows[:, :-3].reshape(-1, 24, 3, 3))
        for number, (frame, row) in enumerate(pending):
            frame.rotations, frame.transl_m = rotations[number], row[-3:]

    def _emit(self, due: list[tuple[int, _Track, _Frame]]) -> list[StreamOutput]:
        """Mark (track id, track, frame) emitted and return their outputs (the joints in one body call)."""
        if not due:
            return []
        with torch.no_grad():
            joints = self.body(rotations=torch.stack([frame.rotations for _, _, frame in due]),
                               betas=torch.stack([track.betas for _, track, _ in due]),
                               transl_m=torch.stack([frame.transl_m for _, _, frame in due])).smpl_joints_m
        outputs = []
        for number, (track_id, track, frame) in enumerate(due):
            frame.emitted = True
            outputs.append(StreamOutput(track_id=track_id, frame_index=frame.index, observed=frame.observed,
                                        rotations=frame.rotations.numpy().copy(), betas=track.betas.numpy().copy(),
                                        transl_m=frame.transl_m.numpy().copy(),
                                        smpl_joints_m=joints[number].numpy().copy()))
        return outputs

    def end_track(self, track_id: int) -> list[StreamOutput]:
        """End a track now; returns its frames not yet emitted (oldest first)."""
        track = self.tracks.pop(track_id, None)
        if track is None:
            return []
        return self._emit([(track_id, track, frame) for frame in track.frames if not frame.emitted])

    def flush(self) -> list[StreamOutput]:
        """End every track (end of the stream); returns all frames not yet emitted."""
        outputs: list[StreamOutput] = []
        for track_id in list(self.tracks):
            outputs += self.end_track(track_id)
        return outputs
