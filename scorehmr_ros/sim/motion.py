"""SMPL motion clips in the world frame: the type, resampling, mirroring, and an AMASS loader.

World frame per REP-103: z up, metres. ``global_orient`` maps SMPL's canonical body frame
(x left, y up, z forward) into the world, so an upright person has global_orient @ [0,1,0] = [0,0,1].
Translations follow smplx: the pelvis is at J_0(betas) + transl_m.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scorehmr_ros.body.joint_counts import NUM_BETAS, NUM_BODY_JOINTS
from scorehmr_ros.geometry.rotations_np import axis_angle_to_matrix, is_rotation
from scorehmr_ros.geometry.transforms import matrix_to_quaternion_xyzw, quaternion_xyzw_to_matrix, slerp_xyzw
from scorehmr_ros.sim.kinematics import SMPL_MIRROR

#: Reflection used by :func:`mirror`: the world plane x = 0 and the body's sagittal plane (x = 0).
WORLD_MIRROR = np.diag([-1.0, 1.0, 1.0])
BODY_MIRROR = np.diag([-1.0, 1.0, 1.0])
#: Columns of an AMASS ``poses`` row: 3 root + 21 body joints for SMPL-H/SMPL-X, 3 + 23 x 3 for SMPL.
AMASS_SMPLH_BODY_JOINTS = 21


class MotionError(ValueError):
    """A motion clip whose arrays are inconsistent or not rotations, or an unreadable motion file."""


@dataclass(frozen=True)
class MotionClip:
    """One person's SMPL motion, sampled uniformly.

    Attributes:
        name: clip name (e.g. "walk", "walk_mirrored", an AMASS file stem).
        fps: frames per second (> 0).
        global_orient: (T, 3, 3) root rotation, canonical body frame -> z-up world.
        body_pose: (T, 23, 3, 3) parent-relative rotations of SMPL joints 1..23.
        transl_m: (T, 3) SMPL translation, world frame, metres.
        betas: (10,) SMPL shape coefficients.
    """

    name: str
    fps: float
    global_orient: np.ndarray
    body_pose: np.ndarray
    transl_m: np.ndarray
    betas: np.ndarray

    def __post_init__(self) -> None:
        if not np.isfinite(self.fps) or self.fps <= 0:
            raise MotionError(f"clip {self.name!r}: fps must be > 0, got {self.fps}")
        go = np.asarray(self.global_orient, dtype=np.float64)
        num_frames = go.shape[0] if go.ndim == 3 else -1
        expected = {"global_orient": (num_frames, 3, 3), "body_pose": (num_frames, NUM_BODY_JOINTS, 3, 3),
                    "transl_m": (num_frames, 3), "betas": (NUM_BETAS,)}
        for field_name, shape in expected.items():
            array = np.asarray(getattr(self, field_name), dtype=np.float64)
            if num_frames < 1 or array.shape != shape:
                raise MotionError(f"clip {self.name!r}: {field_name} expected shape {shape} with T >= 1, "
                                  f"got {array.shape}")
            if not np.all(np.isfinite(array)):
                raise MotionError(f"clip {self.name!r}: {field_name} contains NaN or infinite values")
            object.__setattr__(self, field_name, array)
        if not is_rotation(self.global_orient, atol=1e-5) or not is_rotation(self.body_pose, atol=1e-5):
            raise MotionError(f"clip {self.name!r}: global_orient/body_pose contain non-rotation matrices")
        object.__setattr__(self, "fps", float(self.fps))

    @property
    def num_frames(self) -> int:
        return int(self.global_orient.shape[0])

    @property
    def rotations(self) -> np.ndarray:
        """(T, 24, 3, 3) global_orient followed by the body pose."""
        return np.concatenate([self.global_orient[:, None], self.body_pose], axis=1)

    def slice(self, start: int, stop: int) -> MotionClip:
        """Frames [start, stop) as a new clip."""
        if not 0 <= start < stop <= self.num_frames:
            raise MotionError(f"clip {self.name!r}: slice [{start}, {stop}) outside 0..{self.num_frames}")
        return MotionClip(name=self.name, fps=self.fps, global_orient=self.global_orient[start:stop],
                          body_pose=self.body_pose[start:stop], transl_m=self.transl_m[start:stop], betas=self.betas)


def resample_clip(clip: MotionClip, *, fps: float) -> MotionClip:
    """The clip at ``fps`` over the same time span: rotations by slerp, translation linearly.

    Output frame n is at time n / fps; where that equals an input frame time the value is exact.
    """
    if not np.isfinite(fps) or fps <= 0:
        raise MotionError(f"resample_clip: fps must be > 0, got {fps}")
    duration_s = (clip.num_frames - 1) / clip.fps
    num_out = int(np.floor(duration_s * fps + 1e-9)) + 1
    source = np.arange(num_out) / fps * clip.fps  # fractional input frame index
    lower = np.minimum(np.floor(source + 1e-9).astype(int), clip.num_frames - 1)
    upper = np.minimum(lower + 1, clip.num_frames - 1)
    fraction = np.where(upper > lower, np.clip(source - lower, 0.0, 1.0), 0.0)
    quats = matrix_to_quaternion_xyzw(clip.rotations)
    rotations = quaternion_xyzw_to_matrix(slerp_xyzw(quats[lower], quats[upper], fraction[:, None]))
    exact = fraction < 1e-9
    rotations[exact] = clip.rotations[lower[exact]]
    weight = fraction[:, None]
    transl = (1 - weight) * clip.transl_m[lower] + weight * clip.transl_m[upper]
    transl[exact] = clip.transl_m[lower[exact]]
    return MotionClip(name=clip.name, fps=fps, global_orient=rotations[:, 0], body_pose=rotations[:, 1:],
                      transl_m=transl, betas=clip.betas)


def mirror(clip: MotionClip, *, pelvis_rest_m: np.ndarray | None = None) -> MotionClip:
    """The left-right mirror image of a clip, reflected in the world plane x = 0.

    Left and right joints swap; each rotation R becomes S R S with S the body reflection, the root
    W R S with W the world reflection. The pelvis P = J_0 + transl maps to W P, so
    transl' = W transl + (W - I) J_0; pass the body's rest pelvis J_0 (3,) for an exact mirror image
    of that body (default zeros: exact when J_0 lies on the body's symmetry plane, as for SMPL's
    mean shape within millimetres). Mirroring twice gives the clip back exactly, for any J_0.
    """
    pelvis = np.zeros(3) if pelvis_rest_m is None else np.asarray(pelvis_rest_m, dtype=np.float64)
    if pelvis.shape != (3,):
        raise MotionError(f"mirror: pelvis_rest_m expected shape (3,), got {pelvis.shape}")
    swap = [SMPL_MIRROR[j] - 1 for j in range(1, NUM_BODY_JOINTS + 1)]
    body_pose = BODY_MIRROR @ clip.body_pose[:, swap] @ BODY_MIRROR
    global_orient = WORLD_MIRROR @ clip.global_orient @ BODY_MIRROR
    transl = clip.transl_m @ WORLD_MIRROR.T + (WORLD_MIRROR - np.eye(3)) @ pelvis
    name = clip.name[:-len("_mirrored")] if clip.name.endswith("_mirrored") else f"{clip.name}_mirrored"
    return MotionClip(name=name, fps=clip.fps, global_orient=global_orient, body_pose=body_pose,
                      transl_m=transl, betas=clip.betas)


def load_amass_npz(path: str | Path, *, fps: float | None = 30.0, name: str | None = None) -> MotionClip:
    """A clip from an AMASS-style npz: ``poses`` (T, 72 | >= 66) axis-angle, ``trans`` (T, 3),
    ``betas`` (>= 0 values, first 10 used, zero-padded), ``mocap_framerate`` (or ``mocap_frame_rate``).

    AMASS is z-up already, so the root rotation is the world orientation. With 72 columns (SMPL)
    all 23 body joints are read; otherwise (SMPL-H 156, SMPL-X 165) the 21 body joints are read and
    SMPL's hand joints 22, 23 stay at identity. ``fps`` resamples (None keeps the mocap rate).
    Note: AMASS ``trans`` assumes the J_0 of its own body model; another model shifts the pelvis slightly.
    """
    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise MotionError(f"{path}: not a readable npz file: {error}") from error
    with data:
        missing = [key for key in ("poses", "trans") if key not in data.files]
        rate_key = next((k for k in ("mocap_framerate", "mocap_frame_rate") if k in data.files), None)
        if missing or rate_key is None:
            raise MotionError(f"{path}: AMASS npz needs poses, trans and mocap_framerate; missing "
                              f"{missing + ([] if rate_key else ['mocap_framerate'])} (has {data.files})")
        poses = np.asarray(data["poses"], dtype=np.float64)
        trans = np.asarray(data["trans"], dtype=np.float64)
        betas_in = np.asarray(data["betas"], dtype=np.float64).reshape(-1) if "betas" in data.files else np.zeros(0)
        rate = float(data[rate_key])
    if poses.ndim != 2 or (poses.shape[1] != 72 and poses.shape[1] < 66) or trans.shape != (poses.shape[0], 3):
        raise MotionError(f"{path}: expected poses (T, 72) or (T, >=66) and trans (T, 3), "
                          f"got {poses.shape} and {trans.shape}")
    num_body = NUM_BODY_JOINTS if poses.shape[1] == 72 else AMASS_SMPLH_BODY_JOINTS
    rotations = axis_angle_to_matrix(poses[:, :3 * (num_body + 1)].reshape(-1, num_body + 1, 3))
    body_pose = np.tile(np.eye(3), (poses.shape[0], NUM_BODY_JOINTS, 1, 1))
    body_pose[:, :num_body] = rotations[:, 1:]
    betas = np.zeros(NUM_BETAS)
    betas[:min(NUM_BETAS, betas_in.size)] = betas_in[:NUM_BETAS]
    clip = MotionClip(name=name or path.stem, fps=rate, global_orient=rotations[:, 0], body_pose=body_pose,
                      transl_m=trans, betas=betas)
    return clip if fps is None else resample_clip(clip, fps=fps)


def transform_clip(clip: MotionClip, *, yaw_rad: float, offset_m: np.ndarray,
                   pelvis_rest_m: np.ndarray | None = None) -> MotionClip:
    """The clip turned by ``yaw_rad`` about the world z axis through the origin, then shifted by ``offset_m`` (3,).

    The pelvis P = J_0 + transl moves to Rz P + offset, so transl' = Rz (J_0 + transl) + offset - J_0;
    pass the body's rest pelvis J_0 (3,) (default zeros).
    """
    pelvis = np.zeros(3) if pelvis_rest_m is None else np.asarray(pelvis_rest_m, dtype=np.float64)
    offset = np.asarray(offset_m, dtype=np.float64)
    if pelvis.shape != (3,) or offset.shape != (3,):
        raise MotionError(f"transform_clip: pelvis_rest_m and offset_m must have shape (3,), got "
                          f"{pelvis.shape} and {offset.shape}")
    c, s = np.cos(yaw_rad), np.sin(yaw_rad)
    Rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    transl = (pelvis + clip.transl_m) @ Rz.T + offset - pelvis
    return MotionClip(name=clip.name, fps=clip.fps, global_orient=Rz @ clip.global_orient, body_pose=clip.body_pose,
                      transl_m=transl, betas=clip.betas)
