"""From one synchronized set's 2D keypoints to tracked SMPL bodies in the world frame (ROS-free).

associate across views (calibrated) -> track (stable ids, tracked / searching / terminated)
-> streaming fitter (per-track sliding window, fixed lag) -> BodyEstimate per emitted frame.
The scorehmr node and ``scorehmr-ros process`` both run this object.

Output, one :class:`FittedSet` per input set: each set is released exactly once, ``streaming.lag`` sets after
it came in (the fixed lag), with every body of its stamp (at most one per track), also when it has none, so a
consumer publishes one message per set. The tracker alone decides when a track ends
(``TrackerConfig.prediction_timeout_s``, seconds of set stamps): its frames still in the fitter's window go into
the sets they belong to, and the set in which the tracker ended it carries one TERMINATED body (the track's last
pose). :meth:`BodyPipeline.flush` (end of a recording) releases the remaining sets in stamp order, each live
track's last frame TERMINATED.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from scorehmr_ros.body.body_model import SMPL_TO_OPENPOSE, BodyModel
from scorehmr_ros.body.body_state import BodyEstimate, TrackingState
from scorehmr_ros.body.joint_counts import NUM_OPENPOSE_JOINTS, NUM_SMPL_JOINTS
from scorehmr_ros.body.keypoint_body import KeypointBody
from scorehmr_ros.body.layouts import OPENPOSE25_NAMES, to_openpose25
from scorehmr_ros.body.mesh_decimation import DecimatedMesh, MeshDecimationConfig, decimate
from scorehmr_ros.diffusion.diffusion import Diffusion
from scorehmr_ros.fitting.multiview_guidance import RigTensors, project_to_views
from scorehmr_ros.geometry.camera import Camera, CameraError
from scorehmr_ros.perception.observations import MultiViewObservation
from scorehmr_ros.pipeline.association import AssociationConfig, associate
from scorehmr_ros.pipeline.streaming import StreamingConfig, StreamingFitter, StreamOutput
from scorehmr_ros.pipeline.tracking import Tracker, TrackerConfig

if TYPE_CHECKING:
    from scorehmr_ros.accel.select import AccelConfig
    from scorehmr_ros.image_prior import PareConfig, PareModel
    from scorehmr_ros.image_prior.view_regressor import ViewEstimates

#: SMPL joint -> OpenPose-25 joint at the same place (official joint map), for per-joint confidence.
_OPENPOSE_OF_SMPL = {smpl: op for op, smpl in enumerate(SMPL_TO_OPENPOSE) if smpl < NUM_SMPL_JOINTS}


class PipelineInputError(ValueError):
    """A set that does not fit the rig (unknown camera, image size that disagrees with the calibration)."""


class DuplicateSetError(PipelineInputError):
    """A set with the same stamp as the previous one (a duplicated message): fitting it again would give a second
    body for the same (track, stamp)."""


@dataclass(frozen=True)
class FittedSet:
    """The bodies of one input set, released after the fixed lag.

    Attributes:
        stamp_ns: the input set's stamp.
        bodies: the bodies at that stamp, at most one per track, by track id: fitted frames (TRACKED, or SEARCHING
            when no camera saw the person), and TERMINATED for a track the tracker ended in this set (with the
            track's last pose) or, at :meth:`BodyPipeline.flush`, for the last frame of a track still alive.
    """

    stamp_ns: int
    bodies: tuple[BodyEstimate, ...]


@dataclass(frozen=True)
class PipelineResult:
    """What one set produced.

    Attributes:
        sets: the input sets released by this call, oldest first: none while the first ``streaming.lag`` sets come
            in, then one per call (each input set exactly once, ``lag`` sets after it).
        groups: people associated across views in this set.
        unassociated: detections that matched nobody.
        timings_s: seconds per stage ("associate", "track", "regress" (PARE, image-conditioned prior only),
            "fit").
        clock_jump: why this set started a new time line (:meth:`BodyPipeline.clock_jump`), "" when it did not;
            then :attr:`sets` begins with the sets that :meth:`BodyPipeline.reset` released.
    """

    sets: tuple[FittedSet, ...]
    groups: int
    unassociated: int
    timings_s: dict[str, float] = field(default_factory=dict)
    clock_jump: str = ""

    @property
    def bodies(self) -> tuple[BodyEstimate, ...]:
        """Every body of :attr:`sets`, flattened (for metrics; publish per set)."""
        return tuple(body for fitted in self.sets for body in fitted.bodies)


@dataclass
class _PendingSet:
    """An input set waiting for its fixed lag: its stamp and its bodies so far, by track id."""

    stamp_ns: int
    bodies: dict[int, BodyEstimate] = field(default_factory=dict)


class BodyPipeline:
    """Association, tracking and streaming fitting for one calibrated rig."""

    def __init__(self, *, cameras: Sequence[Camera], diffusion: Diffusion, body_model: BodyModel,
                 association: AssociationConfig | None = None, tracker: TrackerConfig | None = None,
                 streaming: StreamingConfig | None = None, pare: PareModel | None = None) -> None:
        """pare: PARE with feature statistics, required by an image-conditioned prior (cond_dim > 0), whose
        per-view features and estimates it computes from each set's images; unused by a keypoint-only prior."""
        association = association or AssociationConfig()
        streaming = streaming or StreamingConfig()
        association.validate()
        self.cameras = tuple(cameras)
        self.camera_index = {camera.name: index for index, camera in enumerate(self.cameras)}
        self.association_config = association
        self.tracker = Tracker(config=tracker or TrackerConfig())
        self.rig = RigTensors.from_cameras(self.cameras)
        self.keypoint_body = KeypointBody(body_model)
        self.fitter = StreamingFitter(diffusion=diffusion, body=self.keypoint_body, rig=self.rig, config=streaming)
        # frame index -> (stamp, track -> (V, 25, 3) keypoints, that set's rig when the cameras moved, else None)
        self._frames: dict[int, tuple[int, dict[int, np.ndarray], RigTensors | None]] = {}
        self._history = streaming.window + streaming.lag + 2
        self._lag = streaming.lag
        self._pending: dict[int, _PendingSet] = {}  # fitter frame index -> set not yet released
        self._last_body: dict[int, BodyEstimate] = {}  # fitter track -> its newest body (the TERMINATED pose)
        self._last_stamp_ns: int | None = None
        self.view_regressor = _view_regressor(pare, self.cameras, diffusion.model.config.cond_dim)

    @property
    def needs_images(self) -> bool:
        """True for an image-conditioned prior: :meth:`process` then needs the set's images."""
        return self.view_regressor is not None

    # -- one set ----------------------------------------------------------------------------
    def view_keypoints(self, observation: MultiViewObservation) -> list[np.ndarray]:
        """Per rig camera (in rig order), (P_v, 25, 3) OpenPose-25 keypoints; cameras not in the set are empty."""
        per_view = [np.zeros((0, NUM_OPENPOSE_JOINTS, 3)) for _ in self.cameras]
        for view in observation.views:
            index = self.camera_index.get(view.camera)
            if index is None:
                raise PipelineInputError(f"camera {view.camera!r} is not in the rig ({', '.join(self.camera_index)})")
            camera = self.cameras[index]
            if (view.width_px, view.height_px) != (camera.width_px, camera.height_px):
                raise PipelineInputError(f"camera {view.camera!r}: keypoints from a {view.width_px}x{view.height_px} "
                                         f"image, calibration is {camera.width_px}x{camera.height_px}")
            if not view.layout or view.num_people == 0:
                continue
            keypoints = view.keypoints.astype(np.float64)
            if view.layout != "openpose25":
                keypoints = to_openpose25(keypoints, view.layout)
            per_view[index] = keypoints
        return per_view

    def set_cameras(self, camera_poses: Mapping[str, np.ndarray] | None) -> tuple[tuple[Camera, ...], RigTensors]:
        """The rig posed for one set: ``camera_poses`` maps every rig camera's name to its (4, 4) T_cam_world at
        the set's stamp (intrinsics stay the calibration's); None: the calibrated cameras and rig themselves.

        Raises:
            PipelineInputError: a rig camera without a pose, an unknown camera, or a pose that is not rigid.
        """
        if camera_poses is None:
            return self.cameras, self.rig
        missing = [name for name in self.camera_index if name not in camera_poses]
        unknown = [name for name in camera_poses if name not in self.camera_index]
        if missing or unknown:
            raise PipelineInputError(f"camera_poses: need exactly the rig's cameras ({', '.join(self.camera_index)});"
                                     f" missing {missing}, unknown {unknown}")
        try:
            poses = [np.asarray(camera_poses[camera.name], dtype=np.float64) for camera in self.cameras]
            if any(T.shape != (4, 4) for T in poses):
                raise PipelineInputError(f"camera_poses: expected (4, 4) T_cam_world per camera, got "
                                         f"{[T.shape for T in poses]}")
            cameras = tuple(replace(camera, R_cam_world=T[:3, :3], t_cam_world_m=T[:3, 3])
                            for camera, T in zip(self.cameras, poses, strict=True))
        except CameraError as error:
            raise PipelineInputError(f"camera_poses: {error}") from error
        rig = self.rig.with_extrinsics(R_cam_world=np.stack([c.R_cam_world for c in cameras]),
                                       t_cam_world_m=np.stack([c.t_cam_world_m for c in cameras]))
        return cameras, rig

    def process(self, observation: MultiViewObservation,
                images: dict[str, np.ndarray | None] | None = None, *,
                camera_poses: Mapping[str, np.ndarray] | None = None) -> PipelineResult:
        """Associate, track and fit one set; returns the sets the fixed lag releases now (module docstring).

        images: camera name -> (H, W, 3) uint8 BGR image of this set (None or absent: that view gets weight 0 in
        the image condition); required with an image-conditioned prior (:attr:`needs_images`), else unused.
        camera_poses: camera name -> (4, 4) T_cam_world of every rig camera at this set's stamp, for cameras that
        move (a robot's); association, tracking and fitting then work against the cameras as they were, so the
        bodies, tracks and windows stay in the world frame and ego-motion is not taken for people's motion.
        None: the calibrated poses (a fixed rig).

        Raises:
            DuplicateSetError: the set has the previous set's stamp (nothing changed; drop it).
            PipelineInputError: the set does not fit the rig.
        """
        if self.needs_images and images is None:
            raise PipelineInputError("images: the prior is image-conditioned; give this set's images by camera")
        stamp_ns = observation.stamp_ns
        if stamp_ns == self._last_stamp_ns:
            raise DuplicateSetError(f"stamp_ns {stamp_ns}: the previous set had the same stamp (a duplicate)")
        per_view = self.view_keypoints(observation)
        set_cameras, set_rig = self.set_cameras(camera_poses)
        clock_jump = self.clock_jump(stamp_ns)
        before_jump = self.reset() if clock_jump else ()
        start = time.perf_counter()
        predictions = self.tracker.predictions(stamp_ns=stamp_ns)
        association = associate(keypoints_px=per_view, cameras=set_cameras, config=self.association_config,
                                predictions=predictions, joint_names=OPENPOSE25_NAMES)
        associated = time.perf_counter()
        groups = association.groups
        num_joints = NUM_OPENPOSE_JOINTS
        update = self.tracker.update(
            joints_world_m=np.stack([g.joints_world_m for g in groups]) if groups else np.zeros((0, num_joints, 3)),
            joint_valid=np.stack([g.joint_valid for g in groups]) if groups else np.zeros((0, num_joints), bool),
            stamp_ns=stamp_ns, seed_track_ids=np.array([g.seed_track_id for g in groups], dtype=np.int64))
        self._last_stamp_ns = stamp_ns
        tracked = time.perf_counter()

        ended: dict[int, list[StreamOutput]] = {}  # track the tracker ended -> its frames not yet emitted
        ids, keypoints = [], []
        for track in update.tracks:
            if track.state == TrackingState.TERMINATED:
                ended[track.track_id] = self.fitter.end_track(track.track_id)
                continue
            frame = np.zeros((len(self.cameras), NUM_OPENPOSE_JOINTS, 3))
            if track.state == TrackingState.TRACKED and track.group_index >= 0:
                group = groups[track.group_index]
                for view in group.detections:
                    frame[view] = group.keypoints_of(view, per_view[view])  # left/right swaps corrected
            ids.append(track.track_id)
            keypoints.append(frame)
        view = self._view_estimates(observation, update.tracks, groups, images)  # None: keypoint-only prior
        regressed = time.perf_counter()
        outputs = self.fitter.step(track_ids=ids, keypoints_px=np.array(keypoints).reshape(len(ids), len(self.cameras),
                                                                                          NUM_OPENPOSE_JOINTS, 3),
                                   init_pose=None if view is None else view.rotations,
                                   init_betas=None if view is None else view.betas,
                                   cond=None if view is None else view.cond,
                                   view_valid=None if view is None else view.valid, stamp_s=stamp_ns * 1e-9,
                                   rig=None if camera_poses is None else set_rig)
        self._remember(stamp_ns, dict(zip(ids, keypoints, strict=True)), None if camera_poses is None else set_rig)
        index = self.fitter.frame_index
        self._pending[index] = _PendingSet(stamp_ns)
        self._place(outputs + [out for tail in ended.values() for out in tail])
        for track_id in ended:  # after its tail: the TERMINATED body is the track's last word
            last = self._last_body.pop(track_id, None)  # None: the fitter never started it (no body went out)
            if last is not None:
                self._pending[index].bodies[track_id] = _terminated(last, stamp_ns=stamp_ns)
        released = self._release(up_to=index - self._lag)
        done = time.perf_counter()
        timings = {"associate": associated - start, "track": tracked - associated, "fit": done - regressed}
        if view is not None:
            timings["regress"] = regressed - tracked
        return PipelineResult(sets=before_jump + released, groups=len(groups),
                              unassociated=len(association.unassociated), timings_s=timings, clock_jump=clock_jump)

    def clock_jump(self, stamp_ns: int) -> str:
        """Why a set at ``stamp_ns`` cannot continue the current tracks and windows, "" when it can: the stamps
        went back (a bag played in a loop, a restarted driver, a switch to or from sim time) or jumped forward by
        more than ``TrackerConfig.clock_jump_s`` (longer than any track survives unseen)."""
        last = self._last_stamp_ns
        if last is None:
            return ""
        if stamp_ns < last:
            return f"set stamps went back by {(last - stamp_ns) * 1e-9:.3f} s"
        limit_s = self.tracker.config.clock_jump_s
        if stamp_ns - last > round(limit_s * 1e9):
            return f"set stamps jumped forward by {(stamp_ns - last) * 1e-9:.3f} s (more than clock_jump_s {limit_s} s)"
        return ""

    def reset(self) -> tuple[FittedSet, ...]:
        """Start a new time line: end every track as :meth:`flush` does (returns the sets it releases, each live
        track's last frame TERMINATED) and forget tracks, windows and pending sets; track ids keep counting up."""
        released = self.flush()
        self.fitter = StreamingFitter(diffusion=self.fitter.diffusion, body=self.keypoint_body, rig=self.rig,
                                      config=self.fitter.config)
        self._forget_sets()
        return released

    def warm_up(self, *, frames: int = 3) -> float:
        """Run the fitter on a synthetic person standing at the world origin, then start afresh.

        The first track start pays torch's one-off costs (~1 s here against ~0.15 s after); a node
        calls this while configuring so that the first real person does not stall the queue.
        Returns the seconds it took.
        """
        start = time.perf_counter()
        standing = torch.eye(3).repeat(1, 24, 1, 1)
        standing[0, 0] = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # SMPL y-up -> world z-up
        with torch.inference_mode():
            joints = self.keypoint_body(rotations=standing, betas=torch.zeros(1, 10),
                                        transl_m=torch.tensor([[0.0, 0.0, 1.0]])).openpose_m
            pixels, depth = project_to_views(joints, self.rig)  # (1, V, 25, 2), (1, V, 25)
        inside = (depth > 0) & (pixels >= 0).all(-1) & (pixels < self.rig.image_size_px[None, :, None]).all(-1)
        keypoints = torch.cat([pixels, inside[..., None].float()], dim=-1) * inside[..., None]
        cond = None
        if self.view_regressor is not None:
            self.view_regressor.warm_up()
            cond = np.zeros((1, self.rig.num_views, self.view_regressor.cond_dim), np.float32)
        for _ in range(frames):
            self.fitter.step(track_ids=[0], keypoints_px=keypoints.numpy(), cond=cond)
        self.fitter = StreamingFitter(diffusion=self.fitter.diffusion, body=self.keypoint_body, rig=self.rig,
                                      config=self.fitter.config)
        self._forget_sets()
        return time.perf_counter() - start

    def flush(self) -> tuple[FittedSet, ...]:
        """End every track (end of a recording): every set not yet released, oldest first, with the frames still
        in the windows; each track's last frame is TERMINATED (with ``lag`` 0 every frame is already out, and the
        tracks end without one). The tracker forgets its tracks (ids keep counting up), so a later set starts
        new ones."""
        tails = self.fitter.flush()
        self._place(tails)
        newest = {out.track_id: out.frame_index for out in tails}  # a track's frames come oldest first
        for track_id, index in newest.items():
            bodies = self._pending[index].bodies
            bodies[track_id] = replace(bodies[track_id], tracking_state=TrackingState.TERMINATED)
        self.tracker.reset()
        self._last_body.clear()
        return self._release(up_to=self.fitter.frame_index)

    def vertices(self, bodies: Sequence[BodyEstimate], body_model: BodyModel) -> list[np.ndarray]:
        """(N, 3) world-frame mesh vertices of each body (one batched body-model call)."""
        if not bodies:
            return []
        rotations = torch.as_tensor(np.stack([b.rotations for b in bodies]), dtype=torch.float32)
        with torch.inference_mode():
            out = body_model(global_orient=rotations[:, :1], body_pose=rotations[:, 1:],
                             betas=torch.as_tensor(np.stack([b.betas for b in bodies]), dtype=torch.float32),
                             transl_m=torch.as_tensor(np.stack([b.translation_world_m for b in bodies]),
                                                      dtype=torch.float32))
        return list(out.vertices_m.numpy().astype(np.float64))

    # -- internals ----------------------------------------------------------------------------
    def _view_estimates(self, observation: MultiViewObservation, tracks: Sequence, groups: Sequence,
                        images: dict[str, np.ndarray | None] | None) -> ViewEstimates | None:
        """PARE on every (track, view) box of the set, tracks in the order the fitter gets them (not TERMINATED);
        None for a keypoint-only prior."""
        if self.view_regressor is None:
            return None
        boxes_of_view = [np.zeros((0, 4), np.float32) for _ in self.cameras]
        for view in observation.views:
            boxes_of_view[self.camera_index[view.camera]] = view.boxes_xyxy_px
        live = [track for track in tracks if track.state != TrackingState.TERMINATED]
        boxes = np.zeros((len(live), len(self.cameras), 4), np.float32)
        present = np.zeros((len(live), len(self.cameras)), bool)
        for row, track in enumerate(live):
            if track.state == TrackingState.TRACKED and track.group_index >= 0:
                for view, detection in groups[track.group_index].detections.items():
                    boxes[row, view], present[row, view] = boxes_of_view[view][detection], True
        return self.view_regressor(images=[images.get(camera.name) for camera in self.cameras], boxes_xyxy_px=boxes,
                                   present=present)

    def _remember(self, stamp_ns: int, keypoints: dict[int, np.ndarray], rig: RigTensors | None) -> None:
        self._frames[self.fitter.frame_index] = (stamp_ns, keypoints, rig)
        for index in [i for i in self._frames if i <= self.fitter.frame_index - self._history]:
            del self._frames[index]

    def _forget_sets(self) -> None:
        """Drop the sets not yet released and the fitter's frame history (a fresh fitter numbers from 0)."""
        self._pending.clear()
        self._last_body.clear()
        self._frames.clear()
        self._last_stamp_ns = None

    def _place(self, outputs: list[StreamOutput]) -> None:
        """Put each emitted frame's body into the pending set it belongs to (frames of a track oldest first)."""
        for out, body in zip(outputs, self._bodies(outputs), strict=True):
            pending = self._pending.get(out.frame_index)
            if pending is None or out.track_id in pending.bodies:  # unreachable while lag < window (validated)
                raise RuntimeError(f"track {out.track_id}: a body for set {out.frame_index}, which is released or "
                                   "has one already")
            pending.bodies[out.track_id] = body
            self._last_body[out.track_id] = body

    def _release(self, *, up_to: int) -> tuple[FittedSet, ...]:
        """The pending sets with fitter frame index <= ``up_to``, oldest first, bodies by track id."""
        due = sorted(index for index in self._pending if index <= up_to)
        released = [self._pending.pop(index) for index in due]
        return tuple(FittedSet(stamp_ns=pending.stamp_ns,
                               bodies=tuple(pending.bodies[track] for track in sorted(pending.bodies)))
                     for pending in released)

    def _bodies(self, outputs: list[StreamOutput]) -> list[BodyEstimate]:
        if not outputs:
            return []
        frames = [self._frames.get(out.frame_index, (0, {}, None)) for out in outputs]
        observed = np.stack([frame[1].get(out.track_id, np.zeros((len(self.cameras), NUM_OPENPOSE_JOINTS, 3)))
                             for out, frame in zip(outputs, frames, strict=True)])  # (B, V, 25, 3)
        residual = self._residuals_px(outputs, observed, [frame[2] for frame in frames])
        bodies = []
        for index, (out, frame) in enumerate(zip(outputs, frames, strict=True)):
            seen = observed[index, ..., 2] > 0  # (V, 25)
            state = TrackingState.TRACKED if out.observed else TrackingState.SEARCHING
            bodies.append(BodyEstimate(
                track_id=out.track_id, tracking_state=state, betas=out.betas, rotations=out.rotations,
                translation_world_m=out.transl_m, joints_world_m=out.smpl_joints_m, joint_layout="smpl24",
                joint_confidence=self._joint_confidence(observed[index]), fit_residual_px=residual[index],
                num_views=int(seen.any(axis=1).sum()), stamp_ns=frame[0]))
        return bodies

    @staticmethod
    def _joint_confidence(observed: np.ndarray) -> np.ndarray:
        """(24,) per SMPL joint: best view confidence of the OpenPose joint at the same place, else their mean."""
        best = observed[..., 2].max(axis=0) if observed.size else np.zeros(NUM_OPENPOSE_JOINTS)  # (25,)
        mapped = {smpl: best[op] for smpl, op in _OPENPOSE_OF_SMPL.items()}
        fallback = float(np.mean(list(mapped.values()))) if mapped else 0.0
        return np.clip(np.array([mapped.get(j, fallback) for j in range(NUM_SMPL_JOINTS)]), 0.0, 1.0)

    def _residuals_px(self, outputs: list[StreamOutput], observed: np.ndarray,
                      rigs: list[RigTensors | None]) -> np.ndarray:
        """(B,) confidence-weighted mean reprojection error of each emitted frame (0 when unobserved), each
        against the cameras of its set (``rigs``: that set's rig when the cameras moved, else None)."""
        rig = self.rig
        if any(r is not None for r in rigs):  # each row projected into its own set's cameras
            rigs = [self.rig if r is None else r for r in rigs]
            rig = self.rig.with_extrinsics(R_cam_world=torch.stack([r.R_cam_world for r in rigs]),
                                           t_cam_world_m=torch.stack([r.t_cam_world_m for r in rigs]))
        with torch.inference_mode():
            joints = self.keypoint_body(
                rotations=torch.as_tensor(np.stack([o.rotations for o in outputs]), dtype=torch.float32),
                betas=torch.as_tensor(np.stack([o.betas for o in outputs]), dtype=torch.float32),
                transl_m=torch.as_tensor(np.stack([o.transl_m for o in outputs]), dtype=torch.float32)).openpose_m
            pixels, _ = project_to_views(joints, rig)  # (B, V, 25, 2)
        error = np.linalg.norm(pixels.numpy() - observed[..., :2], axis=-1)  # (B, V, 25)
        weight = observed[..., 2]
        total = weight.sum(axis=(1, 2))
        return np.where(total > 0, (error * weight).sum(axis=(1, 2)) / np.maximum(total, 1e-12), 0.0)


def _terminated(last: BodyEstimate, *, stamp_ns: int) -> BodyEstimate:
    """The TERMINATED body of a track the tracker ended in the set at ``stamp_ns``: its last pose, no support."""
    return replace(last, tracking_state=TrackingState.TERMINATED, stamp_ns=stamp_ns, num_views=0, fit_residual_px=0.0,
                   joint_confidence=np.zeros_like(last.joint_confidence))


def _view_regressor(pare: PareModel | None, cameras: Sequence[Camera], cond_dim: int):
    """The per-view PARE regressor an image-conditioned prior needs (None for a keypoint-only prior)."""
    if cond_dim == 0:
        return None
    if pare is None:
        raise ValueError(f"the prior is image-conditioned (cond dim {cond_dim}): give the PARE model (with its "
                         "feature statistics) that computes its image features")
    from scorehmr_ros.image_prior.view_regressor import PareViewRegressor

    regressor = PareViewRegressor(model=pare, cameras=cameras)
    if regressor.cond_dim != cond_dim:
        raise ValueError(f"PARE gives {regressor.cond_dim} features per crop, the prior's cond dim is {cond_dim}")
    return regressor


@dataclass(frozen=True)
class FittingModels:
    """Everything a pipeline loads from disk, loaded once and shared by the pipelines built from it.

    pare: PARE with feature statistics for an image-conditioned prior, else None.
    """

    diffusion: Diffusion
    body_model: BodyModel
    mesh: DecimatedMesh
    prior_description: str
    body_description: str
    pare: PareModel | None = None

    @property
    def image_conditioned(self) -> bool:
        """Whether the prior takes image features (pipelines then need each set's images)."""
        return self.diffusion.model.config.cond_dim > 0

    def make_pipeline(self, cameras: Sequence[Camera], association: AssociationConfig | None = None,
                      tracker: TrackerConfig | None = None, streaming: StreamingConfig | None = None) -> BodyPipeline:
        return BodyPipeline(cameras=cameras, diffusion=self.diffusion, body_model=self.body_model,
                            association=association, tracker=tracker, streaming=streaming, pare=self.pare)

    def warm_up(self, *, num_views: int, streaming: StreamingConfig | None = None) -> float:
        """Pay torch's one-off costs before the rig's calibration is known: warm a throwaway pipeline on a
        placeholder ring of ``num_views`` cameras (the costs depend on tensor shapes, not on the cameras).
        Returns the seconds it took."""
        from scorehmr_ros.geometry.rigs import ring_rig

        placeholder = ring_rig(num_cameras=num_views)
        return self.make_pipeline(placeholder.cameras, streaming=streaming).warm_up()


def load_pare(*, cond_dim: int, pare_checkpoint: str = "", pare_feature_stats: str = "",
              pare_config: PareConfig | None = None) -> tuple[PareModel, str]:
    """PARE + feature statistics for an image-conditioned prior of ``cond_dim`` features (empty paths: the
    official files under the data root); returns the model (eval, CPU) and a description.

    Raises:
        FileNotFoundError: naming the missing file and the parameter that sets it.
        ValueError: PARE's feature size differs from ``cond_dim``.
    """
    from scorehmr_ros.assets.paths import model_file_path
    from scorehmr_ros.image_prior import PareConfig, PareModel

    checkpoint = Path(pare_checkpoint).expanduser() if pare_checkpoint else model_file_path("pare")
    stats = Path(pare_feature_stats).expanduser() if pare_feature_stats else model_file_path("pare_feat_stats")
    for path, parameter in ((checkpoint, "pare_checkpoint"), (stats, "pare_feature_stats")):
        if not path.is_file():
            raise FileNotFoundError(f"the prior is image-conditioned (cond dim {cond_dim}) and needs PARE: {path} "
                                    f"does not exist (set {parameter}, or put the official file there; a "
                                    "keypoint-only prior needs no PARE)")
    config = pare_config or PareConfig()
    if config.cond_size != cond_dim:
        raise ValueError(f"PARE ({config}) gives {config.cond_size} features per crop; the prior's cond dim is "
                         f"{cond_dim}")
    pare, report = PareModel.from_checkpoint(checkpoint, feature_stats_path=stats, config=config)
    return pare, f"PARE {checkpoint.name} ({report.num_loaded} tensors) + {stats.name}"


def load_fitting_models(*, prior_path: str = "", body_model_path: str = "",
                        mesh_decimation_m: float = MeshDecimationConfig.cell_m, pare_checkpoint: str = "",
                        pare_feature_stats: str = "", pare_config: PareConfig | None = None,
                        accel: AccelConfig | None = None, logger=None) -> FittingModels:
    """Load the prior (default: the bundled keypoint-only prior), PARE for an image-conditioned prior (see
    :func:`load_pare`; ``pare_config`` only for small test networks), and the body model (default: imported SMPL,
    else the generated stand-in, announced loudly), and decimate the mesh topology for visualisation.

    accel: the engine of the denoiser and of PARE (``scorehmr_ros.accel``; one log line each says which runs and
        why); None: eager.
    """
    from scorehmr_ros.assets.paths import bundled_prior_path, resolve_body_model
    from scorehmr_ros.diffusion.checkpoint import load_diffusion_checkpoint

    prior = Path(prior_path) if prior_path else bundled_prior_path()
    diffusion = load_diffusion_checkpoint(prior)
    engine = "eager"
    if accel is not None:
        from scorehmr_ros.accel.denoiser import accelerate_diffusion

        diffusion, selection = accelerate_diffusion(diffusion, config=accel, logger=logger)
        engine = selection.engine.description
    cond_dim = diffusion.model.config.cond_dim
    pare, kind = None, "keypoint-only"
    if cond_dim > 0:
        pare, pare_description = load_pare(cond_dim=cond_dim, pare_checkpoint=pare_checkpoint,
                                           pare_feature_stats=pare_feature_stats, pare_config=pare_config)
        pare_engine = "eager"
        if accel is not None:
            from scorehmr_ros.accel.pare import accelerate_pare

            pare, selection = accelerate_pare(pare, config=accel, logger=logger)
            pare_engine = selection.engine.description
        kind = f"image-conditioned, {pare_description} on {pare_engine}"
    body_model = BodyModel.from_file(resolve_body_model(body_model_path))
    if body_model.is_standin and logger is not None:
        logger.warning("using the STAND-IN body model (not SMPL): shapes and joints are approximate; import "
                       "your licensed SMPL with `scorehmr-ros models import-smpl`")
    template = body_model.v_template.numpy().astype(np.float64)
    mesh = decimate(template, body_model.faces.numpy(), cell_m=mesh_decimation_m)
    return FittingModels(diffusion=diffusion, body_model=body_model, mesh=mesh,
                         prior_description=f"{prior.name} ({kind}; hidden {diffusion.model.config.hidden_dim}, "
                                           f"cond {cond_dim}; denoiser on {engine})",
                         body_description=body_model.description, pare=pare)


def rig_cameras(rig_file: str | Path, names: Sequence[str] = ()) -> tuple[Camera, ...]:
    """Cameras of a rig YAML, all or those named (in the given order); errors name what is missing."""
    from scorehmr_ros.geometry.rig_io import load_rig

    rig = load_rig(rig_file)
    if not names:
        return rig.cameras
    by_name = {camera.name: camera for camera in rig.cameras}
    missing = [name for name in names if name not in by_name]
    if missing:
        raise ValueError(f"{rig_file}: no cameras {missing} (it has {sorted(by_name)})")
    return tuple(by_name[name] for name in names)
