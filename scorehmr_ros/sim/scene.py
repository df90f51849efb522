"""Synthetic scenes with ground truth: people following motion clips on a floor, seen by a rig.

A scene is generated from a :class:`SceneConfig` and a body model (``BodyModel`` from
``scorehmr_ros.body.body_model``; the generated stand-in when no SMPL is imported):
1. each person p gets betas ~ N(0, betas_sigma^2), a clip (``clips`` cycled over the people,
   every second person mirrored), a random start phase and a placement: ``circle`` gives a random
   heading and a place on a circle of ``room_radius_m`` (re-drawn until no two pelvises come closer
   than ``min_separation_m``); ``crossing`` turns every clip so that its net displacement points
   along its own direction (P directions spread over 180 degrees) and shifts it so that person p
   passes the room centre at (p + 1) / (P + 1) of the sequence: their paths cross, one after the other;
2. the body model poses every person and frame; each person is lifted or lowered once so that
   the lowest vertex over the sequence touches the floor z = 0;
3. the rig observes the layout's keypoints through the detector model of ``observation.py``.
World frame REP-103: z up, metres.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from scorehmr_ros.geometry.camera import Camera
from scorehmr_ros.geometry.rigs import Rig
from scorehmr_ros.sim.layouts import get_layout
from scorehmr_ros.sim.motion import MotionClip, mirror, resample_clip, transform_clip
from scorehmr_ros.sim.observation import ObservationConfig, Observations, keypoint_radii_m, observe
from scorehmr_ros.sim.retarget import load_deepmimic_clip

#: Most people a scene may hold.
MAX_PEOPLE = 6
#: How people are placed in the room (see the module docstring).
PLACEMENTS = ("circle", "crossing")
#: Body-model forward passes are run in chunks of this many (person, frame) pairs.
_BATCH = 256
#: Placement attempts before giving up on ``min_separation_m``.
_PLACEMENT_TRIES = 50


class SceneError(ValueError):
    """A scene that cannot be built (bad configuration, people that cannot be separated)."""


@dataclass(frozen=True)
class SceneConfig:
    """What to simulate.

    Attributes:
        num_people: people in the scene, 1..6.
        clips: DeepMimic clip names, assigned to the people in turn.
        mirror_alternate: mirror the clip of every second person (left-right variety).
        num_frames: frames to simulate, >= 1.
        fps: frame rate, Hz, > 0.
        room_radius_m: people's trajectories are centred on a circle of this radius, metres, [0, 5].
        min_separation_m: smallest allowed horizontal pelvis distance between two people, metres, >= 0.
        placement: "circle" (spread around the room) or "crossing" (paths through the centre, see above).
        betas_sigma: std of the random shape coefficients, [0, 3].
        layout: keypoint layout of the observations.
        seed: seed of the one numpy Generator behind every random choice.
        observation: the detector error model.
    """

    num_people: int = 2
    clips: tuple[str, ...] = ("walk",)
    mirror_alternate: bool = True
    num_frames: int = 60
    fps: float = 30.0
    room_radius_m: float = 1.2
    min_separation_m: float = 0.6
    placement: str = "circle"
    betas_sigma: float = 0.5
    layout: str = "openpose25"
    seed: int = 0
    observation: ObservationConfig = field(default_factory=ObservationConfig)

    def validate(self) -> None:
        if not 1 <= self.num_people <= MAX_PEOPLE:
            raise ValueError(f"SceneConfig.num_people: must be in [1, {MAX_PEOPLE}], got {self.num_people}")
        if not self.clips:
            raise ValueError("SceneConfig.clips: needs at least one clip name")
        if self.num_frames < 1:
            raise ValueError(f"SceneConfig.num_frames: must be >= 1, got {self.num_frames}")
        if not np.isfinite(self.fps) or self.fps <= 0:
            raise ValueError(f"SceneConfig.fps: must be > 0, got {self.fps}")
        if not 0.0 <= self.room_radius_m <= 5.0:
            raise ValueError(f"SceneConfig.room_radius_m: must be in [0, 5] m, got {self.room_radius_m}")
        if self.min_separation_m < 0:
            raise ValueError(f"SceneConfig.min_separation_m: must be >= 0 m, got {self.min_separation_m}")
        if self.placement not in PLACEMENTS:
            raise ValueError(f"SceneConfig.placement: must be one of {PLACEMENTS}, got {self.placement!r}")
        if not 0.0 <= self.betas_sigma <= 3.0:
            raise ValueError(f"SceneConfig.betas_sigma: must be in [0, 3], got {self.betas_sigma}")
        get_layout(self.layout)
        self.observation.validate()


@dataclass(frozen=True)
class GroundTruth:
    """Ground-truth SMPL parameters and joints of P people over T frames (world frame).

    Attributes:
        clip_names: (P,) clip each person follows ("walk", "walk_mirrored", ...).
        global_orient: (P, T, 3, 3); body_pose: (P, T, 23, 3, 3); betas: (P, 10); transl_m: (P, T, 3).
        joints_world_m: (P, T, 44, 3) official 44-joint layout from the body model.
        smpl_joints_world_m: (P, T, 24, 3).
    """

    clip_names: tuple[str, ...]
    global_orient: np.ndarray
    body_pose: np.ndarray
    betas: np.ndarray
    transl_m: np.ndarray
    joints_world_m: np.ndarray
    smpl_joints_world_m: np.ndarray


@dataclass(frozen=True)
class Scene:
    """A simulated scene: cameras, ground truth, observations, and how it was made.

    Attributes:
        rig_name, world_frame: the rig and the frame its poses are in.
        cameras: the V cameras.
        fps: frame rate, Hz.
        seed: generator seed.
        body_model_description: the body model used ("STAND-IN body model (not SMPL)..." for the stand-in).
        ground_truth: see :class:`GroundTruth`.
        observations: see :class:`~scorehmr_ros.sim.observation.Observations`.
    """

    rig_name: str
    world_frame: str
    cameras: tuple[Camera, ...]
    fps: float
    seed: int
    body_model_description: str
    ground_truth: GroundTruth
    observations: Observations


def rest_pose(body_model, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The body with ``betas`` (10,) in its rest pose, canonical frame, float64: vertices (N, 3),
    official joints (44, 3), SMPL joints (24, 3)."""
    eye = torch.eye(3, dtype=torch.float32)
    with torch.no_grad():
        out = body_model(global_orient=eye.expand(1, 1, 3, 3), body_pose=eye.expand(1, 23, 3, 3),
                         betas=torch.as_tensor(betas, dtype=torch.float32)[None])
    return tuple(x[0].double().numpy() for x in (out.vertices_m, out.joints_m, out.smpl_joints_m))


def pose_bodies(body_model, *, global_orient: np.ndarray, body_pose: np.ndarray, betas: np.ndarray,
                transl_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the body model on (P, T) poses in chunks: vertices (P, T, N, 3), joints (P, T, 44, 3),
    SMPL joints (P, T, 24, 3), float64 arrays (computed in float32)."""
    num_people, num_frames = global_orient.shape[:2]
    flat = {
        "global_orient": global_orient.reshape(-1, 1, 3, 3),
        "body_pose": body_pose.reshape(-1, 23, 3, 3),
        "betas": np.repeat(betas, num_frames, axis=0),
        "transl_m": transl_m.reshape(-1, 3),
    }
    outputs = []
    with torch.no_grad():
        for start in range(0, num_people * num_frames, _BATCH):
            chunk = {k: torch.as_tensor(v[start:start + _BATCH], dtype=torch.float32) for k, v in flat.items()}
            out = body_model(**chunk)
            outputs.append((out.vertices_m.numpy(), out.joints_m.numpy(), out.smpl_joints_m.numpy()))
    return tuple(np.concatenate([o[i] for o in outputs]).astype(np.float64).reshape((num_people, num_frames)
                                                                                    + outputs[0][i].shape[1:])
                 for i in range(3))


def _person_clip(config: SceneConfig, person: int, rest: np.ndarray, betas: np.ndarray,
                 rng: np.random.Generator) -> MotionClip:
    name = config.clips[person % len(config.clips)]
    natural = load_deepmimic_clip(name, rest_joints_m=rest, betas=betas)
    start = int(rng.integers(0, natural.num_frames))
    # Frames at the clip's own rate that cover num_frames at config.fps (one spare for the resampling).
    native_frames = int(np.ceil((config.num_frames - 1) * natural.fps / config.fps)) + 2
    clip = load_deepmimic_clip(name, rest_joints_m=rest, betas=betas, num_frames=start + native_frames)
    clip = clip.slice(start, start + native_frames)
    if config.fps != clip.fps:
        clip = resample_clip(clip, fps=config.fps)
    clip = clip.slice(0, config.num_frames)
    if config.mirror_alternate and person % 2 == 1:
        clip = mirror(clip, pelvis_rest_m=rest[0])
    return clip


def _pelvis_xy(clips: list[MotionClip], rests: list[np.ndarray]) -> np.ndarray:
    """(P, T, 2) horizontal pelvis positions, metres."""
    return np.stack([c.transl_m[:, :2] + r[0, :2] for c, r in zip(clips, rests, strict=True)])


def _smallest_gap_m(clips: list[MotionClip], rests: list[np.ndarray]) -> float:
    """Smallest horizontal pelvis distance between two people at the same frame, metres (inf for one person)."""
    pelvis_xy = _pelvis_xy(clips, rests)
    gaps = np.linalg.norm(pelvis_xy[:, None] - pelvis_xy[None], axis=-1) + np.eye(len(clips))[..., None] * 1e9
    return float(gaps.min())


def _place_crossing(clips: list[MotionClip], rests: list[np.ndarray], config: SceneConfig,
                    rng: np.random.Generator) -> list[MotionClip]:
    """Paths through the room centre in P directions over 180 degrees, passed one after the other."""
    count = len(clips)
    phase = rng.uniform(0, 2 * np.pi)
    placed = []
    for person, (clip, rest) in enumerate(zip(clips, rests, strict=True)):
        pelvis_xy = clip.transl_m[:, :2] + rest[0, :2]
        heading = float(np.arctan2(*(pelvis_xy[-1] - pelvis_xy[0])[::-1]))
        turned = transform_clip(clip, yaw_rad=phase + np.pi * person / count - heading, offset_m=np.zeros(3),
                                pelvis_rest_m=rest[0])
        at_centre = round((person + 1) / (count + 1) * (clip.num_frames - 1))
        pelvis = turned.transl_m[at_centre] + rest[0]
        placed.append(transform_clip(turned, yaw_rad=0.0, offset_m=np.array([-pelvis[0], -pelvis[1], 0.0]),
                                     pelvis_rest_m=rest[0]))
    if _smallest_gap_m(placed, rests) < config.min_separation_m:
        raise SceneError(f"crossing paths bring two of the {count} people closer than {config.min_separation_m} m; "
                         "use more frames (people further apart in time), fewer people or lower min_separation_m")
    return placed


def _place(clips: list[MotionClip], rests: list[np.ndarray], config: SceneConfig,
           rng: np.random.Generator) -> list[MotionClip]:
    """Turn and shift every clip so its mean pelvis lies on the room circle, people kept apart."""
    if config.placement == "crossing":
        return _place_crossing(clips, rests, config, rng)
    count = len(clips)
    for _ in range(_PLACEMENT_TRIES):
        phase = rng.uniform(0, 2 * np.pi)
        placed = []
        for person, (clip, rest) in enumerate(zip(clips, rests, strict=True)):
            yaw = rng.uniform(-np.pi, np.pi)
            angle = phase + 2 * np.pi * person / count
            radius = config.room_radius_m if count > 1 else 0.0
            turned = transform_clip(clip, yaw_rad=yaw, offset_m=np.zeros(3), pelvis_rest_m=rest[0])
            centre = (turned.transl_m + rest[0]).mean(axis=0)
            target = np.array([radius * np.cos(angle), radius * np.sin(angle), centre[2]])
            placed.append(transform_clip(turned, yaw_rad=0.0, offset_m=target - centre, pelvis_rest_m=rest[0]))
        if _smallest_gap_m(placed, rests) >= config.min_separation_m:
            return placed
    raise SceneError(f"could not keep {count} people {config.min_separation_m} m apart within "
                     f"{config.room_radius_m} m of the centre in {_PLACEMENT_TRIES} tries; "
                     "raise room_radius_m or lower min_separation_m")


def generate_scene(*, config: SceneConfig, cameras: tuple[Camera, ...], body_model, rig_name: str = "custom",
                   world_frame: str = Rig.world_frame) -> Scene:
    """Simulate ``config`` seen by ``cameras`` with ``body_model`` (steps in the module docstring)."""
    config.validate()
    rng = np.random.default_rng(config.seed)
    betas = rng.normal(scale=config.betas_sigma, size=(config.num_people, 10))
    layout = get_layout(config.layout)
    rest_bodies = [rest_pose(body_model, b) for b in betas]
    rests = [smpl_joints for _, _, smpl_joints in rest_bodies]
    radii = np.stack([keypoint_radii_m(rest_vertices_m=vertices, rest_keypoints_m=layout.from_official(joints))
                      for vertices, joints, _ in rest_bodies])
    clips = [_person_clip(config, p, rests[p], betas[p], rng) for p in range(config.num_people)]
    clips = _place(clips, rests, config, rng)
    global_orient = np.stack([c.global_orient for c in clips])
    body_pose = np.stack([c.body_pose for c in clips])
    transl = np.stack([c.transl_m for c in clips])
    vertices, joints, smpl_joints = pose_bodies(body_model, global_orient=global_orient, body_pose=body_pose,
                                                betas=betas, transl_m=transl)
    lift = -vertices[..., 2].min(axis=(1, 2))  # (P,) lowest vertex of each person onto the floor
    transl[..., 2] += lift[:, None]
    vertices[..., 2] += lift[:, None, None]
    joints[..., 2] += lift[:, None, None]
    smpl_joints[..., 2] += lift[:, None, None]
    observations = observe(
        keypoints_world_m=layout.from_official(joints).transpose(1, 0, 2, 3), layout=layout, cameras=cameras,
        config=config.observation, rng=rng, vertices_world_m=vertices.transpose(1, 0, 2, 3),
        faces=body_model.faces.cpu().numpy(), keypoint_radii_m=radii)
    truth = GroundTruth(clip_names=tuple(c.name for c in clips), global_orient=global_orient, body_pose=body_pose,
                        betas=betas, transl_m=transl, joints_world_m=joints, smpl_joints_world_m=smpl_joints)
    return Scene(rig_name=rig_name, world_frame=world_frame, cameras=tuple(cameras), fps=config.fps,
                 seed=config.seed, body_model_description=str(body_model.description), ground_truth=truth,
                 observations=observations)
