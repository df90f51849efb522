"""2D keypoint layouts the simulator can emit, derived from the body model's official 44 joints.

The layouts themselves (joint names, mirror pairs, mappings) live in ``body/layouts.py``;
here each one gets the rows of the official 44-joint layout it is read from. OpenPose-25 is
rows 0..24 of that layout, so a layout's rows are its mapping from OpenPose-25: COCO-17 through
the official ViTPose map read backwards; MediaPipe-33 where OpenPose has the same point (its
foot index taken as the big toe). Joints OpenPose does not have (eye corners, mouth, hand
points) are reported missing (zero confidence), never invented.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scorehmr_ros.body import layouts as perception_layouts
from scorehmr_ros.body.joint_counts import NUM_OFFICIAL_JOINTS
from scorehmr_ros.body.layouts import LayoutError

#: Layouts the simulator emits.
SIMULATED_LAYOUTS = ("openpose25", "coco17", "mediapipe33")


@dataclass(frozen=True)
class KeypointLayout:
    """A named 2D keypoint layout as the simulator derives it.

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


def _simulated(name: str) -> KeypointLayout:
    layout = perception_layouts.get_layout(name)
    mapping = perception_layouts.get_mapping("openpose25", name)
    return KeypointLayout(name, layout.joint_names, mapping.source_index.copy(), layout.mirror_index.copy())


LAYOUTS: dict[str, KeypointLayout] = {name: _simulated(name) for name in SIMULATED_LAYOUTS}


def get_layout(name: str) -> KeypointLayout:
    """The simulated layout called ``name``; the error lists the ones the simulator emits."""
    if name not in LAYOUTS:
        raise LayoutError(f"unknown keypoint layout {name!r}; available: {', '.join(LAYOUTS)}")
    return LAYOUTS[name]
