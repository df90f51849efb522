"""REP-155 body and joint frames of fitted SMPL bodies (numpy, float64).

``body_<id>`` sits at the hip midpoint with the pelvis's world orientation; each SMPL joint
``<joint>_<id>`` is a child of it, at the joint's position with its global orientation. Joint
names follow REP-155's short sides (``l_wrist``, ``r_knee``).
"""

from __future__ import annotations

import numpy as np

from scorehmr_ros.body.joint_counts import SMPL_PARENTS
from scorehmr_ros.geometry.rotations_np import nearest_rotation
from scorehmr_ros.geometry.transforms import invert_transform, make_transform

#: SMPL's 24 joints in order.
SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle", "right_ankle",
    "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)
#: SMPL's kinematic tree: parent of each joint (-1 for the pelvis).
LEFT_HIP, RIGHT_HIP = 1, 2


def rep155_joint_name(smpl_name: str) -> str:
    """SMPL joint name -> REP-155 style frame stem (``left_wrist`` -> ``l_wrist``)."""
    for side, short in (("left_", "l_"), ("right_", "r_")):
        if smpl_name.startswith(side):
            return short + smpl_name[len(side):]
    return smpl_name


def global_rotations(local_rotations: np.ndarray, parents: tuple[int, ...] = SMPL_PARENTS) -> np.ndarray:
    """(..., 24, 3, 3) parent-relative rotations ([0] = global orientation) -> (..., 24, 3, 3) world rotations.

    R_world[j] = R_world[parent(j)] @ R_local[j], down the kinematic tree. The inputs are first projected
    onto exact rotations, so float32 rounding does not accumulate down the 24-joint chains.
    """
    local_rotations = nearest_rotation(local_rotations)
    world = np.empty_like(local_rotations, dtype=np.float64)
    for joint, parent in enumerate(parents):
        world[..., joint, :, :] = (local_rotations[..., joint, :, :] if parent < 0
                                   else world[..., parent, :, :] @ local_rotations[..., joint, :, :])
    return world


def body_frames(local_rotations: np.ndarray, joints_world_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frames of P bodies.

    Args:
        local_rotations: (P, 24, 3, 3) SMPL rotations, [0] the global orientation in the world frame.
        joints_world_m: (P, 24, 3) SMPL joint positions in the world frame, metres.
    Returns:
        T_world_body: (P, 4, 4) ``body_<id>`` in the world: hip midpoint, pelvis orientation.
        T_body_joint: (P, 24, 4, 4) each joint frame relative to ``body_<id>``.
    """
    rotations = global_rotations(np.asarray(local_rotations, dtype=np.float64))
    joints = np.asarray(joints_world_m, dtype=np.float64)
    people = joints.shape[0]
    T_world_body = np.stack([make_transform(rotations[p, 0], 0.5 * (joints[p, LEFT_HIP] + joints[p, RIGHT_HIP]))
                             for p in range(people)]) if people else np.zeros((0, 4, 4))
    T_world_joint = np.zeros((people, len(SMPL_JOINT_NAMES), 4, 4))
    T_world_joint[..., :3, :3] = rotations
    T_world_joint[..., :3, 3] = joints
    T_world_joint[..., 3, 3] = 1.0
    T_body_world = np.stack([invert_transform(T) for T in T_world_body]) if people else np.zeros((0, 4, 4))
    return T_world_body, T_body_world[:, None] @ T_world_joint
