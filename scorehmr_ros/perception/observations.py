"""What the perception front hands to the fitter: per-view people with boxes and 2D keypoints.

These are the core types behind the ``MultiViewKeypoints2D`` message (converted at the node
edge by ``ros/keypoint_conversions.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scorehmr_ros.body.layouts import get_layout


class ObservationError(ValueError):
    """Observation arrays with inconsistent shapes or invalid values."""


@dataclass(frozen=True)
class ViewObservation:
    """The people found in one camera image of a synchronized set.

    Attributes:
        camera: camera name in the rig.
        frame_id: the camera's optical frame.
        image_stamp_ns: stamp of the image, nanoseconds.
        width_px, height_px: image size.
        boxes_xyxy_px: (P, 4) person boxes.
        scores: (P,) detector scores in [0, 1].
        layout: keypoint layout name, or "" when there are no keypoints (detections only).
        keypoints: (P, J, 3) x_px, y_px, confidence in [0, 1]; (P, 0, 3) without keypoints.
    """

    camera: str
    frame_id: str
    image_stamp_ns: int
    width_px: int
    height_px: int
    boxes_xyxy_px: np.ndarray
    scores: np.ndarray
    layout: str = ""
    keypoints: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 3), np.float32))

    def __post_init__(self) -> None:
        scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        people = scores.shape[0]
        boxes = np.asarray(self.boxes_xyxy_px, dtype=np.float32).reshape(-1, 4) if people else np.zeros((0, 4),
                                                                                                      np.float32)
        if boxes.shape != (people, 4):
            raise ObservationError(f"view {self.camera!r}: {people} scores but boxes of shape {boxes.shape}")
        joints = get_layout(self.layout).num_joints if self.layout else 0
        keypoints = np.asarray(self.keypoints, dtype=np.float32)
        if keypoints.size == 0:
            keypoints = np.zeros((people, joints, 3), np.float32)
        if keypoints.shape != (people, joints, 3):
            raise ObservationError(f"view {self.camera!r}: keypoints must be ({people}, {joints}, 3) for layout "
                                   f"{self.layout or 'none'!r}, got {keypoints.shape}")
        for name, array in (("boxes", boxes), ("scores", scores), ("keypoints", keypoints)):
            if not np.all(np.isfinite(array)):
                raise ObservationError(f"view {self.camera!r}: {name} contain NaN or infinite values")
        if np.any(keypoints[..., 2] < 0) or np.any(keypoints[..., 2] > 1):
            raise ObservationError(f"view {self.camera!r}: keypoint confidence must be in [0, 1]")
        if self.width_px <= 0 or self.height_px <= 0:
            raise ObservationError(f"view {self.camera!r}: image size {self.width_px}x{self.height_px}")
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "boxes_xyxy_px", boxes)
        object.__setattr__(self, "keypoints", keypoints)

    @property
    def num_people(self) -> int:
        return int(self.scores.shape[0])


@dataclass(frozen=True)
class MultiViewObservation:
    """All views of one synchronized set.

    Attributes:
        stamp_ns: the set stamp.
        frame_id: the rig's reference (world) frame.
        views: one entry per camera that delivered an image.
        missing_cameras: rig cameras that missed the set.
    """

    stamp_ns: int
    frame_id: str
    views: tuple[ViewObservation, ...]
    missing_cameras: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        cameras = [view.camera for view in self.views]
        if len(set(cameras)) != len(cameras):
            raise ObservationError(f"a camera appears twice in one set: {cameras}")
        object.__setattr__(self, "views", tuple(self.views))
        object.__setattr__(self, "missing_cameras", tuple(self.missing_cameras))
