"""DeepMimic humanoid clips -> SMPL motion clips (z-up world, 30 Hz).

Mapping onto SMPL's 24-joint tree (DeepMimic joint -> SMPL joints):

    root           -> pelvis (0) as global_orient; root position -> pelvis position
    chest          -> spine1, spine2, spine3 (3, 6, 9): the rotation split by ``spine_split``
                      (default a third each: R^(1/3) three times)
    neck           -> neck, head (12, 15): split by ``neck_split`` (default half each)
    hip/knee/ankle -> hip/knee/ankle (1/2, 4/5, 7/8); knees are DeepMimic's 1-angle joints
    shoulder/elbow -> shoulder/elbow (16/17, 18/19); DeepMimic's wrists are fixed
    unmapped       -> identity: collars (13, 14), feet (10, 11), wrists (20, 21), hands (22, 23)

Rest-pose alignment: DeepMimic's rest pose has the arms hanging down, SMPL's is a T-pose, and
the bones of the two rest skeletons point in slightly different directions. For each mapped limb
joint i we take A_i, the smallest rotation carrying SMPL's rest bone (i -> child) onto DeepMimic's,
and require the SMPL bone frame to be the DeepMimic bone frame times A_i: G_smpl_i = G_dm_i A_i.
The local rotation is then L_smpl_i = A_parent^T L_dm_i A_i (A = I for root, spine, neck, head).
Frames: SMPL canonical (x left, y up, z forward) -> DeepMimic body (x forward, y up, z right) is
B = [[0,0,1],[0,1,0],[-1,0,0]]; DeepMimic's Y-up world -> our z-up world is M (x, y, z) -> (x, -z, y).
So global_orient = M G_dm_root B and every local rotation is expressed as B^T L B.
The root trajectory is scaled by the ratio of SMPL's leg length to DeepMimic's, then lowered or
raised once per clip so that the lowest foot joint over the clip is ``foot_clearance_m`` above z = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scorehmr_ros.body.joint_counts import NUM_BETAS, NUM_BODY_JOINTS
from scorehmr_ros.geometry.rotations_np import fractional_rotation, minimal_rotation
from scorehmr_ros.geometry.transforms import quaternion_xyzw_to_matrix
from scorehmr_ros.sim import deepmimic
from scorehmr_ros.sim.kinematics import (
    SMPL_FOOT_JOINTS,
    leg_length_m,
    smpl_forward_kinematics,
)
from scorehmr_ros.sim.motion import MotionClip

#: SMPL canonical body frame -> DeepMimic body frame.
B_DM_SMPL = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
#: DeepMimic Y-up world -> REP-103 z-up world.
M_WORLD_DM = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
#: SMPL limb joint -> (DeepMimic joint, SMPL child joint, DeepMimic child joint or a fixed DM direction).
_LIMBS: dict[int, tuple[str, int, str]] = {
    1: ("left_hip", 4, "left_knee"), 2: ("right_hip", 5, "right_knee"),
    4: ("left_knee", 7, "left_ankle"), 5: ("right_knee", 8, "right_ankle"),
    7: ("left_ankle", 10, "foot"), 8: ("right_ankle", 11, "foot"),
    16: ("left_shoulder", 18, "left_elbow"), 17: ("right_shoulder", 19, "right_elbow"),
    18: ("left_elbow", 20, "left_wrist"), 19: ("right_elbow", 21, "right_wrist"),
}
#: Effective SMPL parent of each limb joint for the alignment (collars and spine carry A = I).
_LIMB_PARENT = {1: 0, 2: 0, 4: 1, 5: 2, 7: 4, 8: 5, 16: 9, 17: 9, 18: 16, 19: 17}
#: DeepMimic foot direction from the ankle (the foot box centre, DeepMimic body frame).
_DM_FOOT_DIRECTION = np.array([0.18, -0.09, 0.0])


class RetargetError(ValueError):
    """Retargeting options or a rest skeleton that cannot be used."""


@dataclass(frozen=True)
class RetargetConfig:
    """Options of the DeepMimic -> SMPL conversion.

    Attributes:
        fps: output frame rate, Hz (> 0).
        spine_split: (3,) fractions of the chest rotation given to spine1, spine2, spine3; sum 1.
        neck_split: (2,) fractions of the neck rotation given to neck and head; sum 1.
        foot_clearance_m: height of the lowest foot joint over the clip above the floor, metres, in [0, 0.3].
        scale_trajectory: scale the root trajectory by the leg-length ratio SMPL / DeepMimic.
    """

    fps: float = 30.0
    spine_split: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)
    neck_split: tuple[float, float] = (0.5, 0.5)
    foot_clearance_m: float = 0.03
    scale_trajectory: bool = True

    def validate(self) -> None:
        if not np.isfinite(self.fps) or self.fps <= 0:
            raise ValueError(f"RetargetConfig.fps: must be > 0, got {self.fps}")
        for field_name, value, size in (("spine_split", self.spine_split, 3), ("neck_split", self.neck_split, 2)):
            if len(value) != size or min(value) < 0 or abs(sum(value) - 1.0) > 1e-9:
                raise ValueError(f"RetargetConfig.{field_name}: expected {size} fractions >= 0 summing to 1, "
                                 f"got {value}")
        if not 0.0 <= self.foot_clearance_m <= 0.3:
            raise ValueError(f"RetargetConfig.foot_clearance_m: must be in [0, 0.3] m, got {self.foot_clearance_m}")


def deepmimic_rest_joints(skeleton: deepmimic.DeepMimicSkeleton) -> np.ndarray:
    """(24, 3) an SMPL-tree rest skeleton (T-pose, canonical frame) with DeepMimic's bone lengths.

    Joints DeepMimic has sit exactly where DeepMimic puts them (arms turned out to the T-pose);
    the others are placed plausibly: spine1/2 on the pelvis-chest segment, collars between chest and
    shoulders, head above the neck, feet ahead of the ankles, hands beyond the wrists. Used when no
    body model is at hand, and to check the mapping against DeepMimic's own kinematics.
    """
    off = {name: B_DM_SMPL.T @ value for name, value in skeleton.offsets_m.items()}
    joints = np.zeros((24, 3))
    joints[9] = off["chest"]
    joints[3], joints[6] = off["chest"] / 3, 2 * off["chest"] / 3
    joints[12] = joints[9] + off["neck"]
    joints[15] = joints[12] + np.array([0.0, 0.09, 0.03])
    for side, (hip, knee, ankle, foot, collar, shoulder, elbow, wrist, hand) in (
        ("left", (1, 4, 7, 10, 13, 16, 18, 20, 22)), ("right", (2, 5, 8, 11, 14, 17, 19, 21, 23)),
    ):
        joints[hip] = off[f"{side}_hip"]
        joints[knee] = joints[hip] + off[f"{side}_knee"]
        joints[ankle] = joints[knee] + off[f"{side}_ankle"]
        joints[foot] = joints[ankle] + np.array([0.0, -0.05, 0.10])
        joints[shoulder] = joints[9] + off[f"{side}_shoulder"]
        joints[collar] = joints[9] + off[f"{side}_shoulder"] * np.array([0.4, 0.8, 1.0])
        outward = np.sign(joints[shoulder][0]) * np.array([1.0, 0.0, 0.0])
        joints[elbow] = joints[shoulder] + outward * np.linalg.norm(off[f"{side}_elbow"])
        joints[wrist] = joints[elbow] + outward * np.linalg.norm(off[f"{side}_wrist"])
        joints[hand] = joints[wrist] + outward * 0.08
    return joints


def _alignment_rotations(rest_joints_m: np.ndarray, skeleton: deepmimic.DeepMimicSkeleton) -> dict[int, np.ndarray]:
    """SMPL joint -> A_i (3, 3) in the DeepMimic body frame (identity for joints not listed)."""
    align = {}
    for joint, (_, smpl_child, dm_child) in _LIMBS.items():
        smpl_bone = B_DM_SMPL @ (rest_joints_m[smpl_child] - rest_joints_m[joint])
        dm_bone = _DM_FOOT_DIRECTION if dm_child == "foot" else skeleton.offsets_m[dm_child]
        align[joint] = minimal_rotation(smpl_bone, dm_bone)
    return align


def _smpl_local_rotations(motion: deepmimic.DeepMimicMotion, align: dict[int, np.ndarray],
                          config: RetargetConfig) -> np.ndarray:
    """(K, 23, 3, 3) SMPL body pose in SMPL's canonical frame from DeepMimic joint quaternions."""
    names = [name for name, _ in deepmimic.FRAME_JOINTS]
    local_dm = quaternion_xyzw_to_matrix(motion.joint_quaternions_xyzw)  # (K, 12, 3, 3) DeepMimic body frame
    num_frames = local_dm.shape[0]
    pose = np.tile(np.eye(3), (num_frames, NUM_BODY_JOINTS + 1, 1, 1))
    chest = local_dm[:, names.index("chest")]
    for joint, fraction in zip((3, 6, 9), config.spine_split, strict=True):
        pose[:, joint] = fractional_rotation(chest, fraction)
    neck = local_dm[:, names.index("neck")]
    for joint, fraction in zip((12, 15), config.neck_split, strict=True):
        pose[:, joint] = fractional_rotation(neck, fraction)
    for joint, (dm_joint, _, _) in _LIMBS.items():
        parent_align = align.get(_LIMB_PARENT[joint], np.eye(3))
        pose[:, joint] = parent_align.T @ local_dm[:, names.index(dm_joint)] @ align[joint]
    return B_DM_SMPL.T @ pose[:, 1:] @ B_DM_SMPL


def _frame_times_s(motion: deepmimic.DeepMimicMotion, *, fps: float, num_frames: int | None) -> np.ndarray:
    """Sample times at ``fps``; past the clip's end a looping clip cycles, another plays back and forth."""
    natural = int(np.floor(motion.duration_s * fps + 1e-9)) + 1
    count = natural if num_frames is None else num_frames
    times = np.arange(count) / fps
    if motion.loops:
        return times
    period = 2.0 * motion.duration_s
    phase = np.mod(times, period)
    return np.where(phase <= motion.duration_s, phase, period - phase)


def retarget(motion: deepmimic.DeepMimicMotion, *, skeleton: deepmimic.DeepMimicSkeleton,
             rest_joints_m: np.ndarray, betas: np.ndarray | None = None, num_frames: int | None = None,
             config: RetargetConfig | None = None) -> MotionClip:
    """An SMPL clip at ``config.fps`` from a DeepMimic clip (mapping in the module docstring).

    Args:
        motion: the DeepMimic clip (Y-up, any knot times).
        skeleton: the DeepMimic humanoid's offsets.
        rest_joints_m: (24, 3) the SMPL body's rest joints, canonical frame (from the body model with
            these betas, or :func:`deepmimic_rest_joints`).
        betas: (10,) stored in the clip (zeros by default); must match ``rest_joints_m``.
        num_frames: frames to produce (default: the clip's own length at ``fps``); longer than the
            clip, looping clips repeat cycle after cycle, others play back and forth.
    """
    config = config or RetargetConfig()
    config.validate()
    rest = np.asarray(rest_joints_m, dtype=np.float64)
    if rest.shape != (24, 3) or not np.all(np.isfinite(rest)):
        raise RetargetError(f"rest_joints_m: expected finite (24, 3), got {rest.shape}")
    if num_frames is not None and num_frames < 1:
        raise RetargetError(f"num_frames must be >= 1, got {num_frames}")
    times = _frame_times_s(motion, fps=config.fps, num_frames=num_frames)
    if motion.loops and times[-1] > motion.duration_s:
        motion = deepmimic.repeat_cycles(motion, int(np.ceil(times[-1] / motion.duration_s - 1e-9)))
    sampled = deepmimic.resample(motion, times)
    align = _alignment_rotations(rest, skeleton)
    body_pose = _smpl_local_rotations(sampled, align, config)
    global_orient = M_WORLD_DM @ quaternion_xyzw_to_matrix(sampled.root_quaternion_xyzw) @ B_DM_SMPL
    dm_leg = np.mean([np.linalg.norm(skeleton.offsets_m[f"{s}_knee"]) + np.linalg.norm(skeleton.offsets_m[f"{s}_ankle"])
                      for s in ("left", "right")])
    scale = leg_length_m(rest) / dm_leg if config.scale_trajectory else 1.0
    pelvis_world = scale * sampled.root_position_m @ M_WORLD_DM.T
    transl = pelvis_world - rest[0]
    joints = smpl_forward_kinematics(global_orient=global_orient, body_pose=body_pose, transl_m=transl,
                                     rest_joints_m=rest)
    transl[:, 2] += config.foot_clearance_m - joints[:, SMPL_FOOT_JOINTS, 2].min()
    betas_out = np.zeros(NUM_BETAS) if betas is None else np.asarray(betas, dtype=np.float64)
    return MotionClip(name=motion.name, fps=config.fps, global_orient=global_orient, body_pose=body_pose,
                      transl_m=transl, betas=betas_out)


def load_deepmimic_clip(name: str, *, rest_joints_m: np.ndarray | None = None, betas: np.ndarray | None = None,
                        num_frames: int | None = None, config: RetargetConfig | None = None) -> MotionClip:
    """The shipped DeepMimic clip ``name`` as an SMPL clip (default rest skeleton: DeepMimic's own)."""
    skeleton = deepmimic.load_skeleton()
    rest = deepmimic_rest_joints(skeleton) if rest_joints_m is None else rest_joints_m
    return retarget(deepmimic.load_motion(name, skeleton=skeleton), skeleton=skeleton, rest_joints_m=rest,
                    betas=betas, num_frames=num_frames, config=config)
