"""Results and interfaces shared by every perception backend.

Images come in as a list, one BGR uint8 (H, W, 3) array per view of a synchronized set; results
come out as a list of the same length. Boxes are xyxy in image px, keypoints in image px.
Shape letters: V views, P people (in one view), J joints, K detector keypoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from scorehmr_ros.body.layouts import get_layout


class PerceptionError(RuntimeError):
    """A backend could not be built or run (missing model file, runtime or optional package)."""


def check_images(images_bgr: Sequence[np.ndarray]) -> None:
    """Raise ValueError unless every image is a (H, W, 3) uint8 array."""
    for view, image in enumerate(images_bgr):
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            shape = getattr(image, "shape", None)
            dtype = getattr(image, "dtype", type(image).__name__)
            raise ValueError(f"image {view}: expected a BGR uint8 (H, W, 3) array, got shape {shape}, dtype {dtype}")


@dataclass(frozen=True)
class PersonDetections:
    """People found in one image.

    Attributes:
        boxes_xyxy_px: (P, 4) float32 person boxes.
        scores: (P,) float32 in [0, 1], highest first.
        keypoints_px: (P, K, 2) float32 detector keypoints, or None when the detector has none.
            BlazePose: hip centre, full-body scale point, shoulder centre, upper-body scale point.
        num_found: people the detector found before its ``max_people`` cap (None: P).
    """

    boxes_xyxy_px: np.ndarray
    scores: np.ndarray
    keypoints_px: np.ndarray | None = None
    num_found: int | None = None

    def __post_init__(self) -> None:
        count = np.shape(self.scores)[0] if np.ndim(self.scores) == 1 else -1
        if np.shape(self.boxes_xyxy_px) != (count, 4):
            raise ValueError(f"boxes_xyxy_px must be (P, 4) with P = len(scores) = {count}, "
                             f"got {np.shape(self.boxes_xyxy_px)}")
        if self.keypoints_px is not None and (np.ndim(self.keypoints_px) != 3 or
                                              np.shape(self.keypoints_px)[0] != count or
                                              np.shape(self.keypoints_px)[2] != 2):
            raise ValueError(f"keypoints_px must be (P={count}, K, 2), got {np.shape(self.keypoints_px)}")

    @property
    def num_people(self) -> int:
        return int(self.scores.shape[0])

    @property
    def capped(self) -> bool:
        """True when more people were found than kept (the ``max_people`` cap dropped some)."""
        return self.num_found is not None and self.num_found > self.num_people

    @staticmethod
    def empty() -> PersonDetections:
        return PersonDetections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))


@dataclass(frozen=True)
class PersonKeypoints:
    """2D keypoints of the people in one image, in a named layout.

    Attributes:
        layout: layout name (see perception.layouts), e.g. "mediapipe33" or "coco17".
        keypoints_px: (P, J, 2) float32 x, y; zero where confidence is 0.
        confidence: (P, J) float32 in [0, 1]; 0 for a joint not seen.
        boxes_xyxy_px: (P, 4) float32 the box each person was estimated in.
        scores: (P,) float32 person score.
        next_detections: where to look for these P people in the next frame of the same camera, as detections
            the estimator takes (BlazePose: the crop from its auxiliary landmarks, as MediaPipe tracks a person);
            None when the backend cannot say (the detector then runs on every frame).
    """

    layout: str
    keypoints_px: np.ndarray
    confidence: np.ndarray
    boxes_xyxy_px: np.ndarray
    scores: np.ndarray
    next_detections: PersonDetections | None = None

    def __post_init__(self) -> None:
        joints = get_layout(self.layout).num_joints
        count = np.shape(self.scores)[0] if np.ndim(self.scores) == 1 else -1
        expected = {"keypoints_px": (count, joints, 2), "confidence": (count, joints), "boxes_xyxy_px": (count, 4)}
        for name, shape in expected.items():
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(f"{name} must be {shape} for {count} people in layout {self.layout}, "
                                 f"got {np.shape(getattr(self, name))}")
        if self.next_detections is not None and self.next_detections.num_people != count:
            raise ValueError(f"next_detections must hold the {count} people, got {self.next_detections.num_people}")

    @property
    def num_people(self) -> int:
        return int(self.scores.shape[0])

    def as_array(self) -> np.ndarray:
        """(P, J, 3) [x_px, y_px, confidence], the form perception.layouts converts."""
        return np.concatenate([self.keypoints_px, self.confidence[..., None]], axis=-1)

    @staticmethod
    def empty(layout: str) -> PersonKeypoints:
        joints = get_layout(layout).num_joints
        return PersonKeypoints(layout, np.zeros((0, joints, 2), np.float32), np.zeros((0, joints), np.float32),
                               np.zeros((0, 4), np.float32), np.zeros(0, np.float32))


class PersonDetector(Protocol):
    """Finds people: one PersonDetections per image."""

    def detect(self, images_bgr: Sequence[np.ndarray]) -> list[PersonDetections]:
        ...


class KeypointEstimator(Protocol):
    """Estimates keypoints of given people: one PersonKeypoints per image, in ``layout``."""

    layout: str

    def estimate(self, images_bgr: Sequence[np.ndarray],
                 detections: Sequence[PersonDetections]) -> list[PersonKeypoints]:
        ...
