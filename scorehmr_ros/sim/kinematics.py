"""SMPL's 24-joint kinematic tree in numpy: names, parents, left-right pairs, forward kinematics.

The simulator uses this to check motion (feet on the floor, heading) without a body model file;
it follows smplx semantics exactly: the root joint stays at its rest position J_0, every other
joint rotates about its parent, and the translation is added last, so the pelvis lands at
J_0 + transl. Rest joints are in SMPL's canonical frame (x left, y up, z forward of the body).
"""

from __future__ import annotations

import numpy as np

from scorehmr_ros.body.joint_counts import NUM_BODY_JOINTS, NUM_SMPL_JOINTS, SMPL_PARENTS

#: SMPL joint names in index order.
SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hand", "right_hand",
)
#: Parent index of each SMPL joint (-1 for the root).
#: Index of each joint's mirror image (left <-> right; centre joints map to themselves).
SMPL_MIRROR: tuple[int, ...] = tuple(
    SMPL_JOINT_NAMES.index(n.replace("left_", "@").replace("right_", "left_").replace("@", "right_"))
    for n in SMPL_JOINT_NAMES
)
#: Joints that touch the floor when standing: ankles and feet (toe bases).
SMPL_FOOT_JOINTS: tuple[int, ...] = (7, 8, 10, 11)


class KinematicsError(ValueError):
    """Pose arrays whose shapes do not fit the SMPL tree."""


def smpl_forward_kinematics(*, global_orient: np.ndarray, body_pose: np.ndarray, transl_m: np.ndarray,
                            rest_joints_m: np.ndarray) -> np.ndarray:
    """Posed SMPL joints, metres, in the frame ``global_orient`` maps into (the world).

    Args:
        global_orient: (..., 3, 3) root rotation, canonical body frame -> world.
        body_pose: (..., 23, 3, 3) parent-relative rotations of joints 1..23.
        transl_m: (..., 3) SMPL translation.
        rest_joints_m: (24, 3) rest-pose joints of the body, canonical frame (e.g. J_regressor @ v_shaped).

    Returns:
        (..., 24, 3) joints: J_0 + transl for the root, parent + G_parent (J_i - J_parent) for the rest.
    """
    rest = np.asarray(rest_joints_m, dtype=np.float64)
    if rest.shape != (NUM_SMPL_JOINTS, 3):
        raise KinematicsError(f"rest_joints_m: expected shape (24, 3), got {rest.shape}")
    if body_pose.shape[-3:] != (NUM_BODY_JOINTS, 3, 3) or global_orient.shape[-2:] != (3, 3):
        raise KinematicsError(f"expected global_orient (...,3,3) and body_pose (...,23,3,3), got "
                              f"{global_orient.shape} and {body_pose.shape}")
    rotations = [np.asarray(global_orient, dtype=np.float64)]
    positions = [np.broadcast_to(rest[0], global_orient.shape[:-2] + (3,))]
    for joint in range(1, NUM_SMPL_JOINTS):
        parent = SMPL_PARENTS[joint]
        bone = rest[joint] - rest[parent]
        positions.append(positions[parent] + rotations[parent] @ bone)
        rotations.append(rotations[parent] @ body_pose[..., joint - 1, :, :])
    return np.stack(positions, axis=-2) + np.asarray(transl_m, dtype=np.float64)[..., None, :]


def leg_length_m(rest_joints_m: np.ndarray) -> float:
    """Mean over both legs of hip->knee + knee->ankle rest lengths, metres."""
    j = np.asarray(rest_joints_m, dtype=np.float64)
    lengths = [np.linalg.norm(j[knee] - j[hip]) + np.linalg.norm(j[ankle] - j[knee])
               for hip, knee, ankle in ((1, 4, 7), (2, 5, 8))]
    return float(np.mean(lengths))
