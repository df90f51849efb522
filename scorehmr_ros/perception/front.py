"""The perception front without ROS: synchronized camera frames in, detections and keypoints out.

The nodes (``ros/nodes/person_detector_node.py``, ``ros/nodes/keypoint_estimator_node.py``) convert
messages into :class:`CameraFrame` sets and call :class:`PerceptionFront`; everything here is
testable without a ROS graph.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from scorehmr_ros.base.config_fields import check_settings, setting
from scorehmr_ros.body.layouts import LAYOUTS, convert_keypoints
from scorehmr_ros.geometry.rigs import Rig
from scorehmr_ros.perception.backends.types import (
    KeypointEstimator,
    PersonDetections,
    PersonDetector,
    PersonKeypoints,
)
from scorehmr_ros.perception.observations import MultiViewObservation, ViewObservation

#: ``output_layout`` value that keeps the estimator's own layout.
NATIVE_LAYOUT = "native"


@dataclass(frozen=True)
class FrontConfig:
    """What the perception nodes publish, and where."""

    world_frame: str = setting(Rig.world_frame, "reference frame of the rig (header.frame_id of the outputs)")
    output_layout: str = setting("openpose25", "keypoint layout published (the fitter reads openpose25); "
                                 "'native' keeps the estimator's", choices=(NATIVE_LAYOUT, *LAYOUTS))
    image_transport: str = setting("raw", "camera image topics: raw (<cam>/image_raw) or compressed "
                                   "(<cam>/image_raw/compressed)", choices=("raw", "compressed"))
    image_reliability: str = setting("best_effort", "QoS reliability of the image subscriptions",
                                     choices=("best_effort", "reliable"))
    processing_queue: int = setting(2, "synchronized sets waiting for the detector; older ones are dropped",
                                    minimum=1, maximum=100)
    publish_debug_image: bool = setting(False, "publish <cam>/debug_image with boxes and skeletons")
    track_people: bool = setting(True, "crop each person where the previous set's landmarks put them and run the "
                                 "detector only on views that lost someone, have nobody, or are due for newcomers "
                                 "(detect_interval); false: the detector runs on every view of every set")
    detect_interval: int = setting(5, "sets between detector runs on a view whose people are all tracked (how soon "
                                   "a newcomer is found)", minimum=1, maximum=1000)
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
    """Detections and keypoints of one set, and how long each stage took (seconds).

    detected_views: cameras the detector ran on (the others were cropped from tracked people).
    """

    detections: MultiViewObservation
    keypoints: MultiViewObservation | None
    detect_s: float
    keypoints_s: float
    detected_views: tuple[str, ...] = ()


#: Two people whose alignment centres (BlazePose: hip centres) are closer than this fraction of the smaller alignment
#: radius are one person (people side by side are about half a radius apart; one person's crops within a tenth).
SAME_PERSON_CENTER_FRACTION = 0.3
#: Without alignment points: boxes that overlap this much are one person.
SAME_PERSON_IOU = 0.6


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


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (4,) xyxy box with (N, 4) boxes -> (N,); 0 where the union is empty."""
    lo = np.maximum(box[:2], boxes[:, :2])
    hi = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=1)
    union = np.prod(np.clip(box[2:] - box[:2], 0.0, None)) + np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0.0, None),
                                                                      axis=1) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def _select(detections: PersonDetections, keep: np.ndarray) -> PersonDetections:
    points = None if detections.keypoints_px is None else detections.keypoints_px[keep]
    return PersonDetections(detections.boxes_xyxy_px[keep], detections.scores[keep], points)


def _concat(first: PersonDetections, second: PersonDetections) -> PersonDetections:
    """Both sets of people; detector keypoints only when both have them with the same count per person."""
    if first.num_people == 0:
        return second
    if second.num_people == 0:
        return first
    points = None
    if (first.keypoints_px is not None and second.keypoints_px is not None
            and first.keypoints_px.shape[1] == second.keypoints_px.shape[1]):
        points = np.concatenate([first.keypoints_px, second.keypoints_px])
    return PersonDetections(np.concatenate([first.boxes_xyxy_px, second.boxes_xyxy_px]),
                            np.concatenate([first.scores, second.scores]), points)


def same_people(candidates: PersonDetections, reference: PersonDetections) -> np.ndarray:
    """(C, R) True where candidate c and reference person r are the same person: alignment centres within
    SAME_PERSON_CENTER_FRACTION of the smaller radius (centre -> scale point) when both have detector keypoints,
    else boxes overlapping by SAME_PERSON_IOU."""
    if candidates.num_people == 0 or reference.num_people == 0:
        return np.zeros((candidates.num_people, reference.num_people), bool)
    if candidates.keypoints_px is not None and reference.keypoints_px is not None:
        def centre_radius(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return points[:, 0], np.linalg.norm(points[:, 1] - points[:, 0], axis=-1)

        (centre_c, radius_c), (centre_r, radius_r) = (centre_radius(candidates.keypoints_px),
                                                      centre_radius(reference.keypoints_px))
        distance = np.linalg.norm(centre_c[:, None] - centre_r[None], axis=-1)
        return distance < SAME_PERSON_CENTER_FRACTION * np.minimum(radius_c[:, None], radius_r[None])
    return np.stack([box_iou(box, reference.boxes_xyxy_px) for box in candidates.boxes_xyxy_px]) >= SAME_PERSON_IOU


def distinct_people(detections: PersonDetections) -> PersonDetections:
    """Drop a person who is the same as a higher-scored one (two crops converged on one person)."""
    order = np.argsort(-detections.scores, kind="stable")
    kept: list[int] = []
    for index in order:
        if not kept or not same_people(_select(detections, np.array([index])), _select(detections, np.array(kept))
                                       ).any():
            kept.append(int(index))
    return _select(detections, np.array(sorted(kept), dtype=np.int64))


class PerceptionFront:
    """Detector and keypoint estimator over the views of a set, batched across views.

    :meth:`process` tracks people per camera (``track_people``): a person found in one set is cropped in the next
    where the estimator's ``next_detections`` put them, and the detector runs only on a view that has nobody
    tracked, lost someone in the previous set, or has gone ``detect_interval`` sets without it (newcomers); its
    new people are added to the tracked ones they do not overlap. The two halves are public for a detector and an
    estimator that run one after the other in one process (the composed ``perception`` executable):
    :meth:`detect_tracked`, then the estimator, then :meth:`follow` with its results. :meth:`detect` and
    :meth:`estimate` (the separate detector and keypoint nodes, which run in two processes) never track.
    """

    def __init__(self, *, detector: PersonDetector | None, estimator: KeypointEstimator | None,
                 config: FrontConfig) -> None:
        self.detector = detector
        self.estimator = estimator
        self.config = config.validate()
        self._tracked: dict[str, PersonDetections] = {}  # camera -> where its people are expected in the next set
        self._sets_since_detector: dict[str, int] = {}  # camera -> sets since the detector last ran on it

    def reset(self) -> None:
        """Forget the tracked people (after a clock jump or a camera restart): the next set detects afresh."""
        self._tracked.clear()
        self._sets_since_detector.clear()

    def _needs_detector(self, camera: str) -> bool:
        tracked = self._tracked.get(camera)
        return (not self.config.track_people or tracked is None or tracked.num_people == 0
                or self._sets_since_detector.get(camera, 0) + 1 >= self.config.detect_interval)

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
        return self.estimate_with_results(detections, frames, raw_detections)[0]

    def estimate_with_results(self, detections: MultiViewObservation, frames: Mapping[str, CameraFrame],
                              raw_detections: Sequence[PersonDetections] | None
                              ) -> tuple[MultiViewObservation, list[PersonKeypoints]]:
        """:meth:`estimate`, also returning the estimator's own result per view (in the order of the views), which
        :meth:`follow` takes."""
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
                keypoints = convert_keypoints(keypoints, source=layout, target=self.config.output_layout, weighted=True)
                layout = self.config.output_layout
            output.append(ViewObservation(
                camera=view.camera, frame_id=view.frame_id, image_stamp_ns=view.image_stamp_ns,
                width_px=view.width_px, height_px=view.height_px, boxes_xyxy_px=people.boxes_xyxy_px,
                scores=people.scores, layout=layout, keypoints=keypoints))
        return MultiViewObservation(stamp_ns=detections.stamp_ns, frame_id=detections.frame_id,
                                    views=tuple(output), missing_cameras=detections.missing_cameras), estimated

    def process(self, stamp_ns: int, frames: Sequence[CameraFrame], *, missing: Sequence[str] = ()) -> FrontResult:
        """Both stages on one synchronized set, tracking people per camera (see the class docstring)."""
        start = time.perf_counter()
        detections, people, found = self.detect_tracked(stamp_ns, frames, missing=missing)
        middle = time.perf_counter()
        keypoints = None
        if self.estimator is not None:
            keypoints, estimated = self.estimate_with_results(detections, {frame.camera: frame for frame in frames},
                                                              people)
            self.follow(frames, people, estimated)
        return FrontResult(detections=detections, keypoints=keypoints, detect_s=middle - start,
                           keypoints_s=time.perf_counter() - middle, detected_views=found)

    def detect_tracked(self, stamp_ns: int, frames: Sequence[CameraFrame], *, missing: Sequence[str] = ()
                       ) -> tuple[MultiViewObservation, list[PersonDetections], tuple[str, ...]]:
        """The people of every view: where the previous set's landmarks put them, plus the detector's new ones on
        the views that need it. Returns (detections, people per frame in the order of ``frames``, the cameras the
        detector ran on). The tracked people are used up: only :meth:`follow` with this set's estimates tracks
        them into the next set, so a set whose estimates never come is detected afresh."""
        if self.detector is None:
            raise RuntimeError("this front has no detector")
        for camera in set(self._tracked) - {frame.camera for frame in frames}:
            del self._tracked[camera]  # a camera missing from a set is detected afresh when it returns
        to_detect = [frame for frame in frames if self._needs_detector(frame.camera)]
        found = dict(zip([f.camera for f in to_detect], self.detector.detect([f.image_bgr for f in to_detect])
                         if to_detect else [], strict=True))
        people = []
        for frame in frames:
            tracked = self._tracked.get(frame.camera, PersonDetections.empty()) if self.config.track_people \
                else PersonDetections.empty()
            new = found.get(frame.camera, PersonDetections.empty())
            if tracked.num_people and new.num_people:  # a detection of a tracked person is that person
                new = _select(new, np.flatnonzero(~same_people(new, tracked).any(axis=1)))
            people.append(_concat(tracked, new))
            self._tracked.pop(frame.camera, None)
            self._sets_since_detector[frame.camera] = (0 if frame.camera in found
                                                       else self._sets_since_detector.get(frame.camera, 0) + 1)
        detections = detections_observation(stamp_ns, frames, people, world_frame=self.config.world_frame,
                                            missing=missing)
        return detections, people, tuple(found)

    def follow(self, frames: Sequence[CameraFrame], people: Sequence[PersonDetections],
               estimated: Sequence[PersonKeypoints]) -> None:
        """Where each camera's people are expected next; a view that lost someone gets the detector next set."""
        for frame, cropped, result in zip(frames, people, estimated, strict=True):
            following = result.next_detections
            if not self.config.track_people or following is None:
                self._tracked.pop(frame.camera, None)
                continue
            following = distinct_people(following)
            self._tracked[frame.camera] = following
            if following.num_people < cropped.num_people:
                self._sets_since_detector[frame.camera] = self.config.detect_interval  # look again next set
