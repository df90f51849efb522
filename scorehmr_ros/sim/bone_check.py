"""Bone-direction check of the DeepMimic -> SMPL conversion against the source skeleton.

For every frame of every source clip, each mapped bone's direction in the world is compared with
the same bone of the converted clip: DeepMimic forward kinematics of the source frame (mapped into
the z-up world) against the SMPL joints the *body model* puts out for the converted pose (its own
rest pose and skinning, not the retargeting's arithmetic). To convert exactly the source frames
(not 30 Hz samples between them), the clip's knots are re-timed to 1/30 s apart before conversion;
bone directions do not depend on timing.

Bones come in three kinds (thresholds and measured figures: docs/sim.md, test/test_sim_bones.py):
    limb      the converted direction must equal the source's (the retargeting aligns each limb's
              rest bone to DeepMimic's): hips/knees/shoulders/elbows, and the left-right axes of
              hips and shoulders (the pelvis and chest orientation)
    trunk     pelvis -> neck: the chest rotation is spread over spine1-3, whose rest joints sit
              elsewhere than DeepMimic's one chest joint, so the direction differs a little
    rigid     bones whose rest directions differ between the skeletons (pelvis -> hip,
              chest -> shoulder, chest -> neck): the angle is the constant rest-pose offset, so it
              must not vary over the frames (checked as max - min)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from scorehmr_ros.sim import deepmimic
from scorehmr_ros.sim.retarget import M_WORLD_DM, retarget
from scorehmr_ros.sim.scene import pose_bodies

#: Bone name -> (kind, (DeepMimic joint, DeepMimic joint), (SMPL joint, SMPL joint)).
BONES: dict[str, tuple[str, tuple[str, str], tuple[int, int]]] = {
    "left_hip->left_knee": ("limb", ("left_hip", "left_knee"), (1, 4)),
    "right_hip->right_knee": ("limb", ("right_hip", "right_knee"), (2, 5)),
    "left_knee->left_ankle": ("limb", ("left_knee", "left_ankle"), (4, 7)),
    "right_knee->right_ankle": ("limb", ("right_knee", "right_ankle"), (5, 8)),
    "left_shoulder->left_elbow": ("limb", ("left_shoulder", "left_elbow"), (16, 18)),
    "right_shoulder->right_elbow": ("limb", ("right_shoulder", "right_elbow"), (17, 19)),
    "left_elbow->left_wrist": ("limb", ("left_elbow", "left_wrist"), (18, 20)),
    "right_elbow->right_wrist": ("limb", ("right_elbow", "right_wrist"), (19, 21)),
    "left_hip->right_hip": ("limb", ("left_hip", "right_hip"), (1, 2)),
    "left_shoulder->right_shoulder": ("limb", ("left_shoulder", "right_shoulder"), (16, 17)),
    "pelvis->neck": ("trunk", ("root", "neck"), (0, 12)),
    "pelvis->left_hip": ("rigid", ("root", "left_hip"), (0, 1)),
    "pelvis->right_hip": ("rigid", ("root", "right_hip"), (0, 2)),
    "chest->neck": ("rigid", ("chest", "neck"), (9, 12)),
    "chest->left_shoulder": ("rigid", ("chest", "left_shoulder"), (9, 16)),
    "chest->right_shoulder": ("rigid", ("chest", "right_shoulder"), (9, 17)),
}


class BoneCheckError(RuntimeError):
    """The conversion did not give one frame per source frame (a retargeting timing change)."""


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(...) angle between the vectors a and b (..., 3), degrees (stable for tiny angles: atan2 form)."""
    cross = np.linalg.norm(np.cross(a, b), axis=-1)
    return np.degrees(np.arctan2(cross, np.sum(a * b, axis=-1)))


def clip_bone_angles(name: str, *, body_model, skeleton: deepmimic.DeepMimicSkeleton,
                     rest_joints_m: np.ndarray) -> dict[str, np.ndarray]:
    """Bone name -> (K,) angle, degrees, between source and converted bone at each of the K source frames of
    clip ``name``, converted onto ``body_model`` with rest joints ``rest_joints_m`` (24, 3) at betas 0."""
    motion = deepmimic.load_motion(name, skeleton=skeleton)
    fps = 30.0
    knots = replace(motion, times_s=np.arange(motion.times_s.size) / fps)  # one converted frame per source frame
    clip = retarget(knots, skeleton=skeleton, rest_joints_m=rest_joints_m)
    if clip.num_frames != motion.times_s.size:
        raise BoneCheckError(f"clip {name!r}: {clip.num_frames} converted frames for {motion.times_s.size} "
                             "source frames")
    source = deepmimic.forward_kinematics(motion, skeleton) @ M_WORLD_DM.T  # (K, 15, 3) z-up world
    _, _, smpl = pose_bodies(body_model, global_orient=clip.global_orient[None], body_pose=clip.body_pose[None],
                             betas=clip.betas[None], transl_m=clip.transl_m[None])
    smpl = smpl[0]
    index = {joint: k for k, joint in enumerate(deepmimic.FK_JOINTS)}
    return {bone: angle_deg(source[:, index[b]] - source[:, index[a]], smpl[:, j] - smpl[:, i])
            for bone, (_, (a, b), (i, j)) in BONES.items()}


@dataclass(frozen=True)
class BoneStats:
    """Angles of one bone over all frames of all clips, degrees: max, mean, 95th percentile, and the
    spread max - min (the figure that matters for rigid bones)."""

    kind: str
    max_deg: float
    mean_deg: float
    p95_deg: float
    spread_deg: float


def bone_statistics(angles_per_clip: list[dict[str, np.ndarray]]) -> dict[str, BoneStats]:
    """Per bone, statistics over the concatenated frames of every clip's angles."""
    stats = {}
    for bone, (kind, _, _) in BONES.items():
        values = np.concatenate([angles[bone] for angles in angles_per_clip])
        stats[bone] = BoneStats(kind=kind, max_deg=float(values.max()), mean_deg=float(values.mean()),
                                p95_deg=float(np.percentile(values, 95)),
                                spread_deg=float(values.max() - values.min()))
    return stats


def statistics_table(stats: dict[str, BoneStats]) -> list[str]:
    """Markdown table lines of :func:`bone_statistics` (degrees)."""
    lines = ["| bone | kind | max (deg) | mean (deg) | p95 (deg) | max - min (deg) |", "|---|---|---|---|---|---|"]
    lines += [f"| {bone} | {s.kind} | {s.max_deg:.3g} | {s.mean_deg:.3g} | {s.p95_deg:.3g} | {s.spread_deg:.2g} |"
              for bone, s in stats.items()]
    return lines
