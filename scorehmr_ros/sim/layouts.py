"""2D keypoint layouts the simulator can emit, derived from the body model's official 44 joints.

The body model returns the official ScoreHMR 44-joint layout: OpenPose-25 followed by 19 extra
joints. From it we derive:
  openpose25   rows 0..24 as they are.
  coco17       the COCO order; COCO joint i is OpenPose joint COCO_FROM_OPENPOSE[i] (the official
               ViTPose -> OpenPose map read backwards).
  mediapipe33  MediaPipe Pose landmarks where OpenPose has the same point: face centre points, arms,
               legs, heels, and the foot index taken as the big toe. Eye corners, mouth corners and
               the hand points (pinky, index, thumb) have no counterpart: they are reported missing
               (zero confidence), never invented.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OPENPOSE25_NAMES: tuple[str, ...] = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
    "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "right_eye",
    "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe", "left_heel", "right_big_toe",
    "right_small_toe", "right_heel",
)
COCO17_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
)
#: OpenPose index of each COCO joint (reference doc, "ViTPose -> OpenPose-25").
COCO_FROM_OPENPOSE: tuple[int, ...] = (0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11)
MEDIAPIPE33_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)
#: MediaPipe landmark -> OpenPose name for the landmarks OpenPose also has.
_MEDIAPIPE_FROM_OPENPOSE_NAME = {
    "nose": "nose", "left_eye": "left_eye", "right_eye": "right_eye", "left_ear": "left_ear",
    "right_ear": "right_ear", "left_shoulder": "left_shoulder", "right_shoulder": "right_shoulder",
    "left_elbow": "left_elbow", "right_elbow": "right_elbow", "left_wrist": "left_wrist", "right_wrist": "right_wrist",
    "left_hip": "left_hip", "right_hip": "right_hip", "left_knee": "left_knee", "right_knee": "right_knee",
    "left_ankle": "left_ankle", "right_ankle": "right_ankle", "left_heel": "left_heel", "right_heel": "right_heel",
    "left_foot_index": "left_big_toe", "right_foot_index": "right_big_toe",
}
#: Rows of the official layout.
NUM_OFFICIAL_JOINTS = 44


class LayoutError(ValueError):
    """An unknown layout name or joints that do not have the official 44-joint shape."""


def _mirror_permutation(names: tuple[str, ...]) -> np.ndarray:
    def swap(name: str) -> str:
        if name.startswith("left_"):
            return "right_" + name[len("left_"):]
        if name.startswith("right_"):
            return "left_" + name[len("right_"):]
        if name.endswith("_left"):
            return name[:-len("_left")] + "_right"
        if name.endswith("_right"):
            return name[:-len("_right")] + "_left"
        return name

    return np.array([names.index(swap(name)) for name in names])


@dataclass(frozen=True)
class KeypointLayout:
    """A named 2D keypoint layout.

    Attributes:
        name: layout name ("openpose25", "coco17", "mediapipe33").
        joint_names: (J,) names in order.
        source_index: (J,) row of the official 44-joint layout for each joint, -1 where not derivable.
        mirror_index: (J,) index of each joint's left-right counterpart (itself for centre joints).
    """

    name: str
    joint_names: tuple[str, ...]
    source_index: np.ndarray
    mirror_index: np.ndarray

    def __post_init__(self) -> None:
        count = len(self.joint_names)
        for field_name in ("source_index", "mirror_index"):
            if np.shape(getattr(self, field_name)) != (count,):
                raise LayoutError(f"layout {self.name}: {field_name} must have shape ({count},), "
                                  f"got {np.shape(getattr(self, field_name))}")

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def available(self) -> np.ndarray:
        """(J,) True where the joint is derived from the body model; False: always zero confidence."""
        return self.source_index >= 0

    def from_official(self, joints_official: np.ndarray) -> np.ndarray:
        """(..., 44, D) official joints -> (..., J, D) in this layout; unavailable rows are zero."""
        joints = np.asarray(joints_official)
        if joints.ndim < 2 or joints.shape[-2] != NUM_OFFICIAL_JOINTS:
            raise LayoutError(f"layout {self.name}: expected (..., {NUM_OFFICIAL_JOINTS}, D) joints, "
                              f"got {joints.shape}")
        out = joints[..., np.maximum(self.source_index, 0), :].copy()
        out[..., ~self.available, :] = 0
        return out


def _openpose_index(names: tuple[str, ...], source: dict[str, str] | None = None) -> np.ndarray:
    source = source or {name: name for name in names}
    return np.array([OPENPOSE25_NAMES.index(source[n]) if n in source else -1 for n in names])


LAYOUTS: dict[str, KeypointLayout] = {
    "openpose25": KeypointLayout("openpose25", OPENPOSE25_NAMES, np.arange(25), _mirror_permutation(OPENPOSE25_NAMES)),
    "coco17": KeypointLayout("coco17", COCO17_NAMES, np.array(COCO_FROM_OPENPOSE), _mirror_permutation(COCO17_NAMES)),
    "mediapipe33": KeypointLayout("mediapipe33", MEDIAPIPE33_NAMES,
                                  _openpose_index(MEDIAPIPE33_NAMES, _MEDIAPIPE_FROM_OPENPOSE_NAME),
                                  _mirror_permutation(MEDIAPIPE33_NAMES)),
}


def get_layout(name: str) -> KeypointLayout:
    """The layout called ``name``; the error lists the known ones."""
    if name not in LAYOUTS:
        raise LayoutError(f"unknown keypoint layout {name!r}; available: {', '.join(LAYOUTS)}")
    return LAYOUTS[name]
