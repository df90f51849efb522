"""Layout of the stand-in body model: body parts, rest joints, keypoint vertices, J19 rows.

Coordinates are SMPL's template frame: metres, y up, +x the body's left, +z forward,
T-pose with palms down, pelvis near (0, -0.225, 0.025). Left-side values are listed once
and mirrored (x -> -x) for the right side.
"""

from __future__ import annotations

import numpy as np

#: SMPL's kinematic tree: parent of each of the 24 joints (official kintree_table row 0, root -1).
SMPL_JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hand", "right_hand",
)


def _mirror(point: tuple[float, float, float]) -> tuple[float, float, float]:
    return (-point[0], point[1], point[2])


# Left-side landmarks (metres).
_L_TOE = (0.125, -1.13, 0.175)
_L_HEEL = (0.085, -1.125, -0.085)
_L_FINGERTIP = (0.875, 0.205, -0.05)
_L_WRIST_START = (0.665, 0.218, -0.045)
_HEAD_START = (0.0, 0.305, 0.03)
_HEAD_END = (0.0, 0.565, 0.03)

_LEFT_JOINTS = {
    1: (0.07, -0.315, 0.02), 4: (0.105, -0.68, 0.01), 7: (0.09, -1.08, -0.03), 10: (0.115, -1.128, 0.11),
    13: (0.075, 0.20, -0.01), 16: (0.17, 0.225, -0.02), 18: (0.425, 0.21, -0.04), 20: (0.68, 0.22, -0.045),
    22: (0.765, 0.212, -0.047),
}
_RIGHT_OF = {1: 2, 4: 5, 7: 8, 10: 11, 13: 14, 16: 17, 18: 19, 20: 21, 22: 23}
_CENTER_JOINTS = {
    0: (0.0, -0.225, 0.025), 3: (0.0, -0.11, 0.0), 6: (0.0, 0.025, 0.005), 9: (0.0, 0.08, 0.02),
    12: (0.0, 0.29, -0.015), 15: (0.0, 0.38, 0.03),
}


def _rest_joints() -> np.ndarray:
    joints = np.zeros((24, 3))
    for j, p in _CENTER_JOINTS.items():
        joints[j] = p
    for j, p in _LEFT_JOINTS.items():
        joints[j] = p
        joints[_RIGHT_OF[j]] = _mirror(p)
    return joints


#: (24, 3) intended rest joint positions (the regressed ones match them to about a centimetre).
REST_JOINTS_M = _rest_joints()

#: Part of the body each joint's regressor averages rings of.
PARTS_FOR_JOINT = {
    0: "torso", 3: "torso", 6: "torso", 9: "torso", 12: "torso", 15: "head",
    1: "left_leg", 4: "left_leg", 7: "left_leg", 2: "right_leg", 5: "right_leg", 8: "right_leg",
    10: "left_foot", 11: "right_foot", 22: "left_hand", 23: "right_hand",
    13: "left_arm", 16: "left_arm", 18: "left_arm", 20: "left_arm",
    14: "right_arm", 17: "right_arm", 19: "right_arm", 21: "right_arm",
}

#: Where each joint's bone ends (a child joint index or a point), for the skinning falloff.
BONE_END_JOINT = (
    3, 4, 5, 6, 7, 8, 9, 10, 11, 12, _L_TOE, _mirror(_L_TOE), 15, 16, 17, _HEAD_END,
    18, 19, 20, 21, 22, 23, _L_FINGERTIP, _mirror(_L_FINGERTIP),
)

#: Joints whose bones may skin the vertices of each part.
ALLOWED_JOINTS = {
    "torso": (0, 3, 6, 9, 12, 13, 14), "head": (12, 15),
    "left_arm": (9, 13, 16, 18, 20), "right_arm": (9, 14, 17, 19, 21),
    "left_hand": (20, 22), "right_hand": (21, 23),
    "left_leg": (0, 1, 4, 7), "right_leg": (0, 2, 5, 8),
    "left_foot": (7, 10), "right_foot": (8, 11),
}


def _mirror_points(points):
    return [_mirror(p) for p in points]


_TORSO_POINTS = [
    (0.0, -0.36, 0.02), (0.0, -0.30, 0.025), _CENTER_JOINTS[0], _CENTER_JOINTS[3], _CENTER_JOINTS[6],
    _CENTER_JOINTS[9], (0.0, 0.18, 0.0), (0.0, 0.245, -0.01), _CENTER_JOINTS[12], (0.0, 0.34, -0.005),
]
#: Semi-axes (depth along z, width along x) at each torso point.
_TORSO_RADII = [
    (0.07, 0.10), (0.10, 0.15), (0.105, 0.165), (0.10, 0.145), (0.105, 0.15),
    (0.11, 0.16), (0.10, 0.175), (0.075, 0.12), (0.055, 0.055), (0.05, 0.05),
]
_L_LEG_POINTS = [(0.08, -0.25, 0.02), _LEFT_JOINTS[1], (0.085, -0.47, 0.02), _LEFT_JOINTS[4],
                 (0.10, -0.82, -0.01), _LEFT_JOINTS[7]]
_LEG_RADII = [(0.085, 0.085), (0.088, 0.088), (0.075, 0.072), (0.052, 0.05), (0.055, 0.048), (0.034, 0.032)]
_L_ARM_POINTS = [_LEFT_JOINTS[13], _LEFT_JOINTS[16], (0.30, 0.22, -0.03), _LEFT_JOINTS[18],
                 (0.55, 0.215, -0.042), _LEFT_JOINTS[20]]
#: Semi-axes (vertical thickness, depth) along the arm.
_ARM_RADII = [(0.05, 0.055), (0.055, 0.055), (0.045, 0.047), (0.038, 0.04), (0.036, 0.038), (0.024, 0.032)]

_RING_SIZE = 30
_UP, _FORWARD = (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)

#: Body parts: a tube along points (with caps) or an ellipsoid between two poles.
#: Ring counts are chosen so the parts total 6890 vertices (229 rings x 30 + 10 x 2 poles).
PARTS = {
    "torso": dict(kind="tube", points=_TORSO_POINTS, radii=_TORSO_RADII, rings=45, cap_m=0.015,
                  reference=_FORWARD, ring_size=_RING_SIZE, attach_to=None),
    "head": dict(kind="ellipsoid", start=_HEAD_START, end=_HEAD_END, radii=(0.10, 0.078), rings=24,
                 reference=_FORWARD, ring_size=_RING_SIZE, attach_to="torso"),
    "left_arm": dict(kind="tube", points=_L_ARM_POINTS, radii=_ARM_RADII, rings=24, cap_m=0.015,
                     reference=_UP, ring_size=_RING_SIZE, attach_to="torso"),
    "right_arm": dict(kind="tube", points=_mirror_points(_L_ARM_POINTS), radii=_ARM_RADII, rings=24, cap_m=0.015,
                      reference=_UP, ring_size=_RING_SIZE, attach_to="torso"),
    "left_hand": dict(kind="ellipsoid", start=_L_WRIST_START, end=_L_FINGERTIP, radii=(0.022, 0.052), rings=14,
                      reference=_UP, ring_size=_RING_SIZE, attach_to="left_arm"),
    "right_hand": dict(kind="ellipsoid", start=_mirror(_L_WRIST_START), end=_mirror(_L_FINGERTIP),
                       radii=(0.022, 0.052), rings=14, reference=_UP, ring_size=_RING_SIZE, attach_to="right_arm"),
    "left_leg": dict(kind="tube", points=_L_LEG_POINTS, radii=_LEG_RADII, rings=30, cap_m=0.02,
                     reference=_FORWARD, ring_size=_RING_SIZE, attach_to="torso"),
    "right_leg": dict(kind="tube", points=_mirror_points(_L_LEG_POINTS), radii=_LEG_RADII, rings=30, cap_m=0.02,
                      reference=_FORWARD, ring_size=_RING_SIZE, attach_to="torso"),
    "left_foot": dict(kind="ellipsoid", start=_L_HEEL, end=_L_TOE, radii=(0.042, 0.048), rings=12,
                      reference=_UP, ring_size=_RING_SIZE, attach_to="left_leg"),
    "right_foot": dict(kind="ellipsoid", start=_mirror(_L_HEEL), end=_mirror(_L_TOE), radii=(0.042, 0.048),
                       rings=12, reference=_UP, ring_size=_RING_SIZE, attach_to="right_leg"),
}
PART_ORDER = tuple(PARTS)

_LEFT_KEYPOINTS = {
    # smplx vertex id: target point (left side); the right side mirrors with its own id.
    "eye": (2800, 6260, (0.033, 0.455, 0.12)),
    "ear": (583, 4071, (0.08, 0.44, 0.03)),
    "big_toe": (3216, 6617, (0.105, -1.14, 0.18)),
    "small_toe": (3226, 6624, (0.155, -1.14, 0.15)),
    "heel": (3387, 6787, (0.085, -1.16, -0.10)),
    "thumb": (2746, 6191, (0.76, 0.205, 0.005)),
    "index": (2319, 5782, (0.86, 0.207, -0.02)),
    "middle": (2445, 5905, (0.873, 0.205, -0.047)),
    "ring": (2556, 6016, (0.862, 0.205, -0.07)),
    "pinky": (2673, 6133, (0.84, 0.205, -0.09)),
}
_KEYPOINT_PART = {"eye": "head", "ear": "head", "big_toe": "foot", "small_toe": "foot", "heel": "foot"}


def _keypoint_targets() -> dict[int, tuple[str, tuple[float, float, float]]]:
    targets = {332: ("head", (0.0, 0.42, 0.14))}  # nose
    for name, (left_id, right_id, point) in _LEFT_KEYPOINTS.items():
        part = _KEYPOINT_PART.get(name, "hand")
        targets[left_id] = (part if part == "head" else f"left_{part}", point)
        targets[right_id] = (part if part == "head" else f"right_{part}", _mirror(point))
    return targets


#: smplx keypoint vertex id -> (part, target point): the part's vertex nearest the target gets the id.
KEYPOINT_TARGETS = _keypoint_targets()

#: The 19 extra joints (official J19 order): a blend of SMPL joints, or head rings around a point.
J19_SPEC = (
    ("joints", ((8, 1.0),)), ("joints", ((5, 1.0),)), ("joints", ((2, 1.0),)),   # R ankle, knee, hip
    ("joints", ((1, 1.0),)), ("joints", ((4, 1.0),)), ("joints", ((7, 1.0),)),   # L hip, knee, ankle
    ("joints", ((21, 1.0),)), ("joints", ((19, 1.0),)), ("joints", ((17, 1.0),)),  # R wrist, elbow, shoulder
    ("joints", ((16, 1.0),)), ("joints", ((18, 1.0),)), ("joints", ((20, 1.0),)),  # L shoulder, elbow, wrist
    ("joints", ((12, 1.0),)),                                                     # neck (LSP)
    ("part", ("head", (0.0, 0.55, 0.03))),                                        # head top (LSP)
    ("joints", ((0, 1.0),)),                                                      # pelvis (MPII)
    ("joints", ((12, 0.5), (9, 0.5))),                                            # thorax (MPII)
    ("joints", ((6, 1.0),)),                                                      # spine (H36M)
    ("part", ("head", (0.0, 0.36, 0.03))),                                        # jaw (H36M)
    ("part", ("head", (0.0, 0.45, 0.03))),                                        # head (H36M)
)
