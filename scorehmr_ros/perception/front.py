"""The perception front without ROS: synchronized camera frames in, detections and keypoints out.

The nodes (``nodes/person_detector_node.py``, ``nodes/keypoint_estimator_node.py``) convert
messages into :class:`CameraFrame` sets and call :class:`PerceptionFront`; everything here is
testable without a ROS graph.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from scorehmr_ros.core.config_fields import check_settings, setting
from scorehmr_ros.perception.backends.types import KeypointEstimator, PersonDetections, PersonDetector
from scorehmr_ros.perception.layouts import LAYOUTS, convert_keypoints
from scorehmr_ros.perception.observations import MultiViewObservation, ViewObservation

#: ``output_layout`` value that keeps the estimator's own layout.
NATIVE_LAYOUT = "native"


@dataclass(frozen=True)
class FrontConfig:
    """What the perception nodes publish, and where."""

    world_frame: str = setting("map", "reference frame of the rig (header.frame_id of the outputs)")
    output_layout: str = setting("openpose25", "keypoint layout published (the fitter reads openpose25); "
                                 "'native' keeps the estimator's", choices=(NATIVE_LAYOUT, *LAYOUTS))
    image_transport: str = setting("raw", "camera image topics: raw (<cam>/image_raw) or compressed "
                                   "(<cam>/image_raw/compressed)", choices=("raw", "compressed"))
    image_reliability: str = setting("best_effort", "QoS reliability of the image subscriptions",
                                     choices=("best_effort", "reliable"))
    processing_queue: int = setting(2, "synchronized sets waiting for the detector; older ones are dropped",
                                    minimum=1, maximum=100)
    publish_debug_image: bool = setting(False, "publish <cam>/debug_image with boxes and skeletons")
    diagnostics_period_s: float = setting(1.0, "period of /diagnostics", unit="s", minimum=0.1, maximum=60.0)

    def validate(self) -> FrontConfig:
        check_settings(self)
        if not self.world_frame:
            raise ValueError("world_frame: must not be empty")
        return self


@dataclass(frozen=True)
class CameraFrame:
    """One camera image of a synchronized set, decoded.

    Attributes:
        camera: camera name. frame_id: its optical frame. stamp_ns: image stamp.
        image_bgr: (H, W, 3) uint8 BGR.
    """

    camera: str
    frame_id: str
    stamp_ns: int
    image_bgr: np.ndarray


@dataclass(frozen=True)
class FrontResult:
    """Detections and keypoints of one set, and how long each stage took (seconds)."""

    detections: MultiViewObservation
    keypoints: MultiViewObservation | None
    detect_s: float
    keypoints_s: float


def detections_observation(stamp_ns: int, frames: Sequence[CameraFrame], detections: Sequence[PersonDetections],
                           *, world_frame: str, missing: Sequence[str]) -> MultiViewObservation:
    """Boxes only (no keypoints) for every view of a set."""
    views = tuple(
        ViewObservation(camera=f.camera, frame_id=f.frame_id, image_stamp_ns=f.stamp_ns,
                        width_px=f.image_bgr.shape[1], height_px=f.image_bgr.shape[0],
                        boxes_xyxy_px=d.boxes_xyxy_px, scores=d.scores)
        for f, d in zip(frames, detections, strict=True))
    return MultiViewObservation(stamp_ns=stamp_ns, frame_id=world_frame, views=views, missing_cameras=tuple(missing))


def detection_warnings(frames: Sequence[CameraFrame], detections: Sequence[PersonDetections]
                       ) -> list[tuple[str, str]]:
    """(kind, text) for each view where the detector found more people than ``max_people`` keeps."""
    return [(f"capped:{frame.camera}", f"camera {frame.camera}: {found.num_found} people found, kept the "
             f"{found.num_people} best (raise detector.max_people to keep more)")
            for frame, found in zip(frames, detections, strict=True) if found.capped]


class PerceptionFront:
    """Detector and keypoint estimator over the views of a set, batched across views."""

    def __init__(self, *, detector: PersonDetector | None, estimator: KeypointEstimator | None,
                 config: FrontConfig) -> None:
        self.detector = detector
        self.estimator = estimator
        self.config = config.validate()

    def detect(self, stamp_ns: int, frames: Sequence[CameraFrame], *, missing: Sequence[str] = ()
               ) -> tuple[MultiViewObservation, list[PersonDetections]]:
        """Boxes for every view (one batched detector call)."""
        if self.detector is None:
            raise RuntimeError("this front has no detector")
        detections = self.detector.detect([frame.image_bgr for frame in frames])
        observation = detections_observation(stamp_ns, frames, detections, world_frame=self.config.world_frame,
                                             missing=missing)
        return observation, detections

    def estimate(self, detections: MultiViewObservation, frames: Mapping[str, CameraFrame],
                 raw_detections: Sequence[PersonDetections] | None = None) -> MultiViewObservation:
        """Keypoints for the detected people of every view whose frame is given (one batched call).

        ``raw_detections`` (the detector's own results, with its alignment keypoints) is used when
        the detector ran in this process; otherwise the boxes of ``detections`` are used.
        """
        if self.estimator is None:
            raise RuntimeError("this front has no keypoint estimator")
        views = [view for view in detections.views if view.camera in frames]
        if raw_detections is None:
            raw_detections = [PersonDetections(view.boxes_xyxy_px, view.scores) for view in views]
        images = [frames[view.camera].image_bgr for view in views]
        estimated = self.estimator.estimate(images, raw_detections)
        output = []
        for view, people in zip(views, estimated, strict=True):
            keypoints, layout = people.as_array(), people.layout
            if self.config.output_layout != NATIVE_LAYOUT and layout != self.config.output_layout:
                keypoints = convert_keypoints(keypoints, source=layout, target=self.config.output_layout)
                layout = self.config.output_layout
            output.append(ViewObservation(
                camera=view.camera, frame_id=view.frame_id, image_stamp_ns=view.image_stamp_ns,
                width_px=view.width_px, height_px=view.height_px, boxes_xyxy_px=people.boxes_xyxy_px,
                scores=people.scores, layout=layout, keypoints=keypoints))
        return MultiViewObservation(stamp_ns=detections.stamp_ns, frame_id=detections.frame_id,
                                    views=tuple(output), missing_cameras=detections.missing_cameras)

    def process(self, stamp_ns: int, frames: Sequence[CameraFrame], *, missing: Sequence[str] = ()) -> FrontResult:
        """Both stages on one synchronized set."""
        start = time.perf_counter()
        detections, raw = self.detect(stamp_ns, frames, missing=missing)
        middle = time.perf_counter()
        keypoints = None
        if self.estimator is not None:
            keypoints = self.estimate(detections, {frame.camera: frame for frame in frames}, raw)
        return FrontResult(detections=detections, keypoints=keypoints, detect_s=middle - start,
                           keypoints_s=time.perf_counter() - middle)
