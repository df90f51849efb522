"""From one synchronized set's 2D keypoints to tracked SMPL bodies in the world frame (ROS-free).

associate across views (calibrated) -> track (stable ids, tracked / searching / terminated)
-> streaming fitter (per-track sliding window, fixed lag) -> BodyEstimate per emitted frame.
The scorehmr node and ``scorehmr-ros process`` both run this object.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from scorehmr_ros.core.body_model import SMPL_TO_OPENPOSE, BodyModel
from scorehmr_ros.core.body_state import NUM_SMPL_JOINTS, BodyEstimate, TrackingState
from scorehmr_ros.core.camera import Camera
from scorehmr_ros.core.diffusion import Diffusion
from scorehmr_ros.core.keypoint_body import KeypointBody
from scorehmr_ros.core.mesh_decimation import DecimatedMesh, decimate
from scorehmr_ros.core.multiview_guidance import RigTensors, project_to_views
from scorehmr_ros.core.streaming import StreamingConfig, StreamingFitter, StreamOutput
from scorehmr_ros.perception.association import AssociationConfig, associate
from scorehmr_ros.perception.layouts import OPENPOSE25_NAMES, convert_keypoints
from scorehmr_ros.perception.observations import MultiViewObservation
from scorehmr_ros.perception.tracking import Tracker, TrackerConfig

NUM_OPENPOSE = 25
#: SMPL joint -> OpenPose-25 joint at the same place (official joint map), for per-joint confidence.
_OPENPOSE_OF_SMPL = {smpl: op for op, smpl in enumerate(SMPL_TO_OPENPOSE) if smpl < NUM_SMPL_JOINTS}


class PipelineInputError(ValueError):
    """A set that does not fit the rig (unknown camera, image size that disagrees with the calibration)."""


@dataclass(frozen=True)
class PipelineResult:
    """What one set produced.

    Attributes:
        bodies: fitted bodies emitted by this set (fixed lag), plus the last report of tracks that ended.
        groups: people associated across views in this set.
        unassociated: detections that matched nobody.
        timings_s: seconds per stage ("associate", "track", "fit").
    """

    bodies: tuple[BodyEstimate, ...]
    groups: int
    unassociated: int
    timings_s: dict[str, float] = field(default_factory=dict)


class BodyPipeline:
    """Association, tracking and streaming fitting for one calibrated rig."""

    def __init__(self, *, cameras: Sequence[Camera], diffusion: Diffusion, body_model: BodyModel,
                 association: AssociationConfig | None = None, tracker: TrackerConfig | None = None,
                 streaming: StreamingConfig | None = None) -> None:
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
        self._frames: dict[int, tuple[int, dict[int, np.ndarray]]] = {}  # frame index -> (stamp, track -> (V,25,3))
        self._history = streaming.window + streaming.lag + 2

    # -- one set ----------------------------------------------------------------------------
    def view_keypoints(self, observation: MultiViewObservation) -> list[np.ndarray]:
        """Per rig camera (in rig order), (P_v, 25, 3) OpenPose-25 keypoints; cameras not in the set are empty."""
        per_view = [np.zeros((0, NUM_OPENPOSE, 3)) for _ in self.cameras]
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
                keypoints = convert_keypoints(keypoints, source=view.layout, target="openpose25", weighted=True)
            per_view[index] = keypoints
        return per_view

    def process(self, observation: MultiViewObservation) -> PipelineResult:
        """Associate, track and fit one set; returns the bodies this set makes due."""
        stamp_ns = observation.stamp_ns
        per_view = self.view_keypoints(observation)
        start = time.perf_counter()
        predictions = self.tracker.predictions(stamp_ns=stamp_ns)
        association = associate(keypoints_px=per_view, cameras=self.cameras, config=self.association_config,
                                predictions=predictions, joint_names=OPENPOSE25_NAMES)
        associated = time.perf_counter()
        groups = association.groups
        update = self.tracker.update(
            joints_world_m=np.stack([g.joints_world_m for g in groups]) if groups else np.zeros((0, NUM_OPENPOSE, 3)),
            joint_valid=np.stack([g.joint_valid for g in groups]) if groups else np.zeros((0, NUM_OPENPOSE), bool),
            stamp_ns=stamp_ns, seed_track_ids=np.array([g.seed_track_id for g in groups], dtype=np.int64))
        tracked = time.perf_counter()

        ended: list[StreamOutput] = []
        ids, keypoints = [], []
        for track in update.tracks:
            if track.state == TrackingState.TERMINATED:
                ended += self.fitter.end_track(track.track_id)
                continue
            frame = np.zeros((len(self.cameras), NUM_OPENPOSE, 3))
            if track.state == TrackingState.TRACKED and track.group_index >= 0:
                for view, detection in groups[track.group_index].detections.items():
                    frame[view] = per_view[view][detection]
            ids.append(track.track_id)
            keypoints.append(frame)
        outputs = self.fitter.step(track_ids=ids, keypoints_px=np.array(keypoints).reshape(len(ids), len(self.cameras),
                                                                                          NUM_OPENPOSE, 3))
        self._remember(stamp_ns, dict(zip(ids, keypoints, strict=True)))
        bodies = self._bodies(outputs) + self._bodies(ended, terminated=True)
        done = time.perf_counter()
        return PipelineResult(bodies=tuple(bodies), groups=len(groups), unassociated=len(association.unassociated),
                              timings_s={"associate": associated - start, "track": tracked - associated,
                                         "fit": done - tracked})

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
        for _ in range(frames):
            self.fitter.step(track_ids=[0], keypoints_px=keypoints.numpy())
        self.fitter = StreamingFitter(diffusion=self.fitter.diffusion, body=self.keypoint_body, rig=self.rig,
                                      config=self.fitter.config)
        return time.perf_counter() - start

    def flush(self) -> tuple[BodyEstimate, ...]:
        """End every track (end of a recording); the frames still in the windows, last ones TERMINATED."""
        return tuple(self._bodies(self.fitter.flush(), terminated=True))

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
    def _remember(self, stamp_ns: int, keypoints: dict[int, np.ndarray]) -> None:
        self._frames[self.fitter.frame_index] = (stamp_ns, keypoints)
        for index in [i for i in self._frames if i <= self.fitter.frame_index - self._history]:
            del self._frames[index]

    def _bodies(self, outputs: list[StreamOutput], *, terminated: bool = False) -> list[BodyEstimate]:
        if not outputs:
            return []
        frames = [self._frames.get(out.frame_index, (0, {})) for out in outputs]
        observed = np.stack([frame[1].get(out.track_id, np.zeros((len(self.cameras), NUM_OPENPOSE, 3)))
                             for out, frame in zip(outputs, frames, strict=True)])  # (B, V, 25, 3)
        residual = self._residuals_px(outputs, observed)
        last_of_track = {out.track_id: index for index, out in enumerate(outputs)}
        bodies = []
        for index, (out, frame) in enumerate(zip(outputs, frames, strict=True)):
            seen = observed[index, ..., 2] > 0  # (V, 25)
            state = TrackingState.TRACKED if out.observed else TrackingState.SEARCHING
            if terminated and last_of_track[out.track_id] == index:
                state = TrackingState.TERMINATED
            bodies.append(BodyEstimate(
                track_id=out.track_id, tracking_state=state, betas=out.betas, rotations=out.rotations,
                translation_world_m=out.transl_m, joints_world_m=out.smpl_joints_m, joint_layout="smpl24",
                joint_confidence=self._joint_confidence(observed[index]), fit_residual_px=residual[index],
                num_views=int(seen.any(axis=1).sum()), stamp_ns=frame[0]))
        return bodies

    @staticmethod
    def _joint_confidence(observed: np.ndarray) -> np.ndarray:
        """(24,) per SMPL joint: best view confidence of the OpenPose joint at the same place, else their mean."""
        best = observed[..., 2].max(axis=0) if observed.size else np.zeros(NUM_OPENPOSE)  # (25,)
        mapped = {smpl: best[op] for smpl, op in _OPENPOSE_OF_SMPL.items()}
        fallback = float(np.mean(list(mapped.values()))) if mapped else 0.0
        return np.clip(np.array([mapped.get(j, fallback) for j in range(NUM_SMPL_JOINTS)]), 0.0, 1.0)

    def _residuals_px(self, outputs: list[StreamOutput], observed: np.ndarray) -> np.ndarray:
        """(B,) confidence-weighted mean reprojection error of each emitted frame (0 when unobserved)."""
        with torch.inference_mode():
            joints = self.keypoint_body(
                rotations=torch.as_tensor(np.stack([o.rotations for o in outputs]), dtype=torch.float32),
                betas=torch.as_tensor(np.stack([o.betas for o in outputs]), dtype=torch.float32),
                transl_m=torch.as_tensor(np.stack([o.transl_m for o in outputs]), dtype=torch.float32)).openpose_m
            pixels, _ = project_to_views(joints, self.rig)  # (B, V, 25, 2)
        error = np.linalg.norm(pixels.numpy() - observed[..., :2], axis=-1)  # (B, V, 25)
        weight = observed[..., 2]
        total = weight.sum(axis=(1, 2))
        return np.where(total > 0, (error * weight).sum(axis=(1, 2)) / np.maximum(total, 1e-12), 0.0)


@dataclass(frozen=True)
class FittingModels:
    """Everything a pipeline loads from disk, loaded once and shared by the pipelines built from it."""

    diffusion: Diffusion
    body_model: BodyModel
    mesh: DecimatedMesh
    prior_description: str
    body_description: str

    def make_pipeline(self, cameras: Sequence[Camera], association: AssociationConfig | None = None,
                      tracker: TrackerConfig | None = None, streaming: StreamingConfig | None = None) -> BodyPipeline:
        return BodyPipeline(cameras=cameras, diffusion=self.diffusion, body_model=self.body_model,
                            association=association, tracker=tracker, streaming=streaming)


def load_fitting_models(*, prior_path: str = "", body_model_path: str = "", mesh_decimation_m: float = 0.03,
                        logger=None) -> FittingModels:
    """Load the prior (default: the bundled keypoint-only prior) and the body model (default: imported SMPL,
    else the generated stand-in, announced loudly), and decimate the mesh topology for visualisation."""
    from scorehmr_ros.assets.paths import bundled_prior_path, resolve_body_model
    from scorehmr_ros.core.checkpoint import load_diffusion_checkpoint

    prior = Path(prior_path) if prior_path else bundled_prior_path()
    diffusion = load_diffusion_checkpoint(prior)
    if diffusion.model.config.cond_dim != 0:
        raise ValueError(f"prior {prior} is image-conditioned (cond dim {diffusion.model.config.cond_dim}); the "
                         "multi-view node runs keypoint-only priors (cond dim 0), e.g. the bundled one")
    body_model = BodyModel.from_file(resolve_body_model(body_model_path))
    if body_model.is_standin and logger is not None:
        logger.warning("using the STAND-IN body model (not SMPL): shapes and joints are approximate; import "
                       "your licensed SMPL with `scorehmr-ros models import-smpl`")
    template = body_model.v_template.numpy().astype(np.float64)
    mesh = decimate(template, body_model.faces.numpy(), cell_m=mesh_decimation_m)
    return FittingModels(diffusion=diffusion, body_model=body_model, mesh=mesh,
                         prior_description=f"{prior.name} (hidden {diffusion.model.config.hidden_dim}, "
                                           f"cond {diffusion.model.config.cond_dim})",
                         body_description=body_model.description)


def rig_cameras(rig_file: str | Path, names: Sequence[str] = ()) -> tuple[Camera, ...]:
    """Cameras of a rig YAML, all or those named (in the given order); errors name what is missing."""
    from scorehmr_ros.sim.rig_io import load_rig

    rig = load_rig(rig_file)
    if not names:
        return rig.cameras
    by_name = {camera.name: camera for camera in rig.cameras}
    missing = [name for name in names if name not in by_name]
    if missing:
        raise ValueError(f"{rig_file}: no cameras {missing} (it has {sorted(by_name)})")
    return tuple(by_name[name] for name in names)
