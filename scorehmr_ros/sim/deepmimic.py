"""DeepMimic humanoid motion clips (shipped with pybullet_data): parsing, resampling, cycling, kinematics.

A clip file is JSON with "Loop" ("wrap" or "none") and "Frames", each frame 44 numbers:
duration_s, root position (3), root quaternion, then chest, neck, right hip, right knee (1 angle),
right ankle, right shoulder, right elbow (1 angle), left hip, left knee, left ankle, left shoulder,
left elbow (1 angle). The file's quaternions are (w, x, y, z), some not unit length: they are reordered to the
package's (x, y, z, w) and normalised where they are read.
The DeepMimic world and body frames are Y-up; at rest the humanoid faces +x with its right side
at +z and its arms hanging down. Joint offsets come from ``humanoid/humanoid.urdf`` scaled by 0.25
(pybullet loads it with globalScaling=0.25); the file ends with a NUL byte.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scorehmr_ros.geometry.transforms import normalize_quaternion_xyzw, quaternion_xyzw_to_matrix, slerp_xyzw

#: pybullet loads humanoid.urdf with globalScaling=0.25; motion root positions are already metres.
URDF_SCALE = 0.25
#: Joints of a frame after the root, in file order, with their degrees of freedom (4 quaternion, 1 angle).
FRAME_JOINTS: tuple[tuple[str, int], ...] = (
    ("chest", 4), ("neck", 4),
    ("right_hip", 4), ("right_knee", 1), ("right_ankle", 4), ("right_shoulder", 4), ("right_elbow", 1),
    ("left_hip", 4), ("left_knee", 1), ("left_ankle", 4), ("left_shoulder", 4), ("left_elbow", 1),
)
#: Numbers per frame: duration + root position + root quaternion + joints.
FRAME_SIZE = 1 + 3 + 4 + sum(dof for _, dof in FRAME_JOINTS)  # 44
#: Kinematic tree used for forward kinematics: joint -> parent (wrists are fixed end points).
PARENTS: dict[str, str | None] = {
    "root": None, "chest": "root", "neck": "chest",
    "right_hip": "root", "right_knee": "right_hip", "right_ankle": "right_knee",
    "right_shoulder": "chest", "right_elbow": "right_shoulder", "right_wrist": "right_elbow",
    "left_hip": "root", "left_knee": "left_hip", "left_ankle": "left_knee",
    "left_shoulder": "chest", "left_elbow": "left_shoulder", "left_wrist": "left_elbow",
}
#: Joint order of :func:`forward_kinematics` output (parents before children).
FK_JOINTS: tuple[str, ...] = tuple(PARENTS)
#: The clips pybullet_data ships, by short name (file ``humanoid3d_<name>.txt``).
CLIP_NAMES: tuple[str, ...] = (
    "backflip", "cartwheel", "crawl", "dance_a", "dance_b", "getup_facedown", "getup_faceup", "jump",
    "kick", "punch", "roll", "run", "spin", "spinkick", "walk",
)


class DeepMimicError(ValueError):
    """A DeepMimic clip or humanoid description that cannot be parsed."""


@dataclass(frozen=True)
class DeepMimicSkeleton:
    """Joint offsets of the DeepMimic humanoid, metres, in the parent's frame (Y-up body frame).

    Attributes:
        offsets_m: joint name -> (3,) position of the joint in its parent's frame (root: zeros).
        revolute_axes: joint name -> (3,) unit axis of the 1-angle joints (knees, elbows).
    """

    offsets_m: dict[str, np.ndarray]
    revolute_axes: dict[str, np.ndarray]


@dataclass(frozen=True)
class DeepMimicMotion:
    """A DeepMimic clip as arrays, Y-up DeepMimic world frame.

    Attributes:
        name: clip name (e.g. "walk").
        times_s: (K,) knot times, seconds, starting at 0, strictly increasing.
        root_position_m: (K, 3) root (pelvis) position, metres.
        root_quaternion_xyzw: (K, 4) root orientation (x, y, z, w), unit.
        joint_quaternions_xyzw: (K, 12, 4) parent-relative rotations of ``FRAME_JOINTS`` (revolute joints
            converted to quaternions about their axis), unit.
        loops: True for "wrap" clips whose last frame repeats the first pose.
    """

    name: str
    times_s: np.ndarray
    root_position_m: np.ndarray
    root_quaternion_xyzw: np.ndarray
    joint_quaternions_xyzw: np.ndarray
    loops: bool

    @property
    def duration_s(self) -> float:
        return float(self.times_s[-1])


def pybullet_data_dir() -> Path:
    """The pybullet_data directory (needs the ``pybullet`` package)."""
    try:
        import pybullet_data
    except ImportError as error:
        raise DeepMimicError(
            "the DeepMimic clips come with pybullet: pip install pybullet==3.2.7 (see requirements/core.txt)"
        ) from error
    return Path(pybullet_data.getDataPath())


def clip_path(name: str) -> Path:
    """Path of the shipped clip ``name`` (one of ``CLIP_NAMES``)."""
    if name not in CLIP_NAMES:
        raise DeepMimicError(f"unknown DeepMimic clip {name!r}; available: {', '.join(CLIP_NAMES)}")
    return pybullet_data_dir() / "data" / "motions" / f"humanoid3d_{name}.txt"


def load_skeleton(urdf_path: str | Path | None = None) -> DeepMimicSkeleton:
    """Parse joint offsets and revolute axes from the DeepMimic ``humanoid.urdf`` (scaled by 0.25)."""
    path = Path(urdf_path) if urdf_path is not None else pybullet_data_dir() / "humanoid" / "humanoid.urdf"
    text = path.read_bytes().replace(b"\x00", b"").decode("utf-8")
    try:
        robot = ET.fromstring(text)
    except ET.ParseError as error:
        raise DeepMimicError(f"{path}: not valid URDF XML: {error}") from error
    offsets = {"root": np.zeros(3)}
    axes: dict[str, np.ndarray] = {}
    for joint in robot.iter("joint"):
        name = joint.get("name")
        if name not in PARENTS or name == "root":
            continue
        parent = joint.find("parent").get("link")
        if parent != PARENTS[name]:
            raise DeepMimicError(f"{path}: joint {name!r} has parent {parent!r}, expected {PARENTS[name]!r}")
        origin = joint.find("origin")
        offsets[name] = np.array([float(v) for v in origin.get("xyz").split()]) * URDF_SCALE
        if joint.get("type") == "revolute":
            axes[name] = np.array([float(v) for v in joint.find("axis").get("xyz").split()])
    missing = sorted(set(PARENTS) - set(offsets))
    if missing:
        raise DeepMimicError(f"{path}: joints missing from the URDF: {missing}")
    return DeepMimicSkeleton(offsets_m=offsets, revolute_axes=axes)


def _file_quaternion_to_xyzw(quaternion_wxyz: np.ndarray) -> np.ndarray:
    """(K, 4) quaternions as a DeepMimic file stores them (w, x, y, z) -> unit (x, y, z, w)."""
    return normalize_quaternion_xyzw(np.roll(quaternion_wxyz, -1, axis=-1))


def parse_motion(data: dict, *, name: str, skeleton: DeepMimicSkeleton) -> DeepMimicMotion:
    """Arrays from a parsed clip JSON dict ({"Loop": ..., "Frames": [[44 numbers], ...]})."""
    frames = np.asarray(data.get("Frames", []), dtype=np.float64)
    if frames.ndim != 2 or frames.shape[1] != FRAME_SIZE or frames.shape[0] < 2:
        raise DeepMimicError(f"clip {name!r}: expected at least 2 frames of {FRAME_SIZE} numbers, got {frames.shape}")
    durations = frames[:-1, 0]
    if np.any(durations <= 0):
        raise DeepMimicError(f"clip {name!r}: frame durations must be > 0, got min {durations.min()}")
    times = np.concatenate([[0.0], np.cumsum(durations)])
    quats = []
    column = 8
    for joint, dof in FRAME_JOINTS:
        if dof == 4:
            quats.append(_file_quaternion_to_xyzw(frames[:, column:column + 4]))
        else:
            half = 0.5 * frames[:, column]
            axis = skeleton.revolute_axes[joint]
            quats.append(np.concatenate([np.sin(half)[:, None] * axis, np.cos(half)[:, None]], axis=1))
        column += dof
    return DeepMimicMotion(
        name=name, times_s=times, root_position_m=frames[:, 1:4].copy(),
        root_quaternion_xyzw=_file_quaternion_to_xyzw(frames[:, 4:8]), joint_quaternions_xyzw=np.stack(quats, axis=1),
        loops=data.get("Loop", "none") == "wrap",
    )


def load_motion(name: str, *, skeleton: DeepMimicSkeleton | None = None) -> DeepMimicMotion:
    """Load the shipped clip ``name`` (see ``CLIP_NAMES``)."""
    skeleton = skeleton if skeleton is not None else load_skeleton()
    with open(clip_path(name), encoding="utf-8") as stream:
        return parse_motion(json.load(stream), name=name, skeleton=skeleton)


def resample(motion: DeepMimicMotion, times_s: np.ndarray) -> DeepMimicMotion:
    """Interpolate a clip at ``times_s`` (M,) within [0, duration]: positions linearly, rotations by slerp.

    At a knot time the result equals that knot exactly.
    """
    t = np.asarray(times_s, dtype=np.float64)
    if t.ndim != 1 or t.size == 0 or t.min() < 0 or t.max() > motion.duration_s + 1e-9:
        raise DeepMimicError(f"resample: times must be a non-empty (M,) array in [0, {motion.duration_s}] s")
    t = np.clip(t, 0.0, motion.duration_s)
    upper = np.clip(np.searchsorted(motion.times_s, t, side="right"), 1, motion.times_s.size - 1)
    lower = upper - 1
    span = motion.times_s[upper] - motion.times_s[lower]
    fraction = np.clip((t - motion.times_s[lower]) / span, 0.0, 1.0)
    weight = fraction[:, None]
    position = (1 - weight) * motion.root_position_m[lower] + weight * motion.root_position_m[upper]
    root = slerp_xyzw(motion.root_quaternion_xyzw[lower], motion.root_quaternion_xyzw[upper], fraction)
    joints = slerp_xyzw(motion.joint_quaternions_xyzw[lower], motion.joint_quaternions_xyzw[upper], fraction[:, None])
    return DeepMimicMotion(name=motion.name, times_s=t, root_position_m=position, root_quaternion_xyzw=root,
                           joint_quaternions_xyzw=joints, loops=False)


def repeat_cycles(motion: DeepMimicMotion, num_cycles: int) -> DeepMimicMotion:
    """A looping clip played ``num_cycles`` times, each cycle continuing where the last one ended.

    As DeepMimic does, each cycle is shifted by the horizontal root displacement of one cycle
    (last frame minus first frame, height unchanged); orientations are not turned.
    """
    if not motion.loops:
        raise DeepMimicError(f"clip {motion.name!r} does not loop (Loop != 'wrap'); it cannot be cycled")
    if num_cycles < 1:
        raise DeepMimicError(f"num_cycles must be >= 1, got {num_cycles}")
    shift = motion.root_position_m[-1] - motion.root_position_m[0]
    shift[1] = 0.0
    cycles = range(1, num_cycles)
    return DeepMimicMotion(
        name=motion.name,
        times_s=np.concatenate([motion.times_s] + [motion.times_s[1:] + c * motion.duration_s for c in cycles]),
        root_position_m=np.concatenate([motion.root_position_m] + [motion.root_position_m[1:] + c * shift
                                                                   for c in cycles]),
        root_quaternion_xyzw=np.concatenate([motion.root_quaternion_xyzw]
                                            + [motion.root_quaternion_xyzw[1:] for _ in cycles]),
        joint_quaternions_xyzw=np.concatenate([motion.joint_quaternions_xyzw]
                                              + [motion.joint_quaternions_xyzw[1:] for _ in cycles]),
        loops=True,
    )


def forward_kinematics(motion: DeepMimicMotion, skeleton: DeepMimicSkeleton) -> np.ndarray:
    """(K, 15, 3) joint positions in the DeepMimic world, metres, in ``FK_JOINTS`` order."""
    joint_index = {name: i for i, (name, _) in enumerate(FRAME_JOINTS)}
    rotations: dict[str, np.ndarray] = {"root": quaternion_xyzw_to_matrix(motion.root_quaternion_xyzw)}
    positions: dict[str, np.ndarray] = {"root": motion.root_position_m}
    for name in FK_JOINTS[1:]:
        parent = PARENTS[name]
        positions[name] = positions[parent] + rotations[parent] @ skeleton.offsets_m[name]
        local = (quaternion_xyzw_to_matrix(motion.joint_quaternions_xyzw[:, joint_index[name]])
                 if name in joint_index else np.eye(3))
        rotations[name] = rotations[parent] @ local
    return np.stack([positions[name] for name in FK_JOINTS], axis=1)
