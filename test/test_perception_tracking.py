"""PerceptionFront.process tracks people per camera: the detector runs only where it is needed.

A fake estimator returns, like BlazePose, where each person will be in the next frame (``next_detections``);
the fake detector counts its calls per camera and finds the people the test puts in each view.
"""

import numpy as np
import pytest

from scorehmr_ros.perception.backends.types import PersonDetections, PersonKeypoints
from scorehmr_ros.perception.front import CameraFrame, FrontConfig, PerceptionFront, same_people

IMAGE = np.zeros((120, 160, 3), np.uint8)


def person(x: float, y: float = 60.0, radius: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    """(box (4,), alignment points (2, 2)) of a person whose hip centre is at (x, y)."""
    centre = np.array([x, y], np.float32)
    return (np.concatenate([centre - radius, centre + radius]),
            np.stack([centre, centre + np.array([0.0, -radius], np.float32)]))


def detections(xs: list[float]) -> PersonDetections:
    if not xs:
        return PersonDetections.empty()
    boxes, points = zip(*(person(x) for x in xs), strict=True)
    return PersonDetections(np.stack(boxes), np.full(len(xs), 0.9, np.float32), np.stack(points))


class FakeDetector:
    def __init__(self) -> None:
        self.people: dict[int, list[float]] = {}  # image id -> hip x of its people
        self.calls: list[int] = []  # image ids it ran on

    def detect(self, images):
        self.calls += [id(image) for image in images]
        return [detections(self.people.get(id(image), [])) for image in images]


class FakeEstimator:
    """Keypoints for every given person still in the image (``present``); the next crop where it is."""

    layout = "coco17"

    def __init__(self) -> None:
        self.present: dict[int, list[float]] = {}  # image id -> hip x of the people really there

    def estimate(self, images, given):
        out = []
        for image, people in zip(images, given, strict=True):
            there = self.present.get(id(image), [])
            found = [x for x in people.boxes_xyxy_px[:, [0, 2]].mean(axis=1) if min(
                [abs(x - t) for t in there] or [np.inf]) < 10]
            following = detections(found)
            out.append(PersonKeypoints("coco17", np.zeros((len(found), 17, 2), np.float32),
                                       np.ones((len(found), 17), np.float32), following.boxes_xyxy_px,
                                       following.scores, next_detections=following))
        return out


def run(front, detector, estimator, sets: list[list[list[float]]]) -> list[tuple[str, ...]]:
    """Each set: per camera the hip x of the people in view; returns the cameras the detector ran on, per set."""
    ran = []
    for t, views in enumerate(sets):
        frames = [CameraFrame(camera=f"cam{v}", frame_id=f"cam{v}", stamp_ns=t, image_bgr=IMAGE.copy())
                  for v in range(len(views))]
        for frame, xs in zip(frames, views, strict=True):
            detector.people[id(frame.image_bgr)] = xs
            estimator.present[id(frame.image_bgr)] = xs
        result = front.process(t, frames)
        assert [view.num_people for view in result.keypoints.views] == [len(xs) for xs in views]
        ran.append(result.detected_views)
    return ran


def make(**config):
    detector, estimator = FakeDetector(), FakeEstimator()
    return PerceptionFront(detector=detector, estimator=estimator, config=FrontConfig(**config)), detector, estimator


def test_the_detector_runs_first_then_only_every_detect_interval_sets():
    front, detector, estimator = make(detect_interval=3)
    ran = run(front, detector, estimator, [[[40.0], [80.0]]] * 7)
    assert ran == [("cam0", "cam1"), (), (), ("cam0", "cam1"), (), (), ("cam0", "cam1")]


def test_a_view_that_loses_someone_is_detected_again_at_once_and_a_newcomer_is_added():
    front, detector, estimator = make(detect_interval=10)
    ran = run(front, detector, estimator, [
        [[40.0, 100.0]],  # two people found by the detector
        [[40.0, 100.0]],  # tracked
        [[40.0]],  # one left: lost -> the detector runs on the next set
        [[40.0, 130.0]],  # the newcomer is found there (detector due after the loss)
        [[40.0, 130.0]],  # both tracked, no detector
    ])
    assert ran == [("cam0",), (), (), ("cam0",), ()]


def test_a_detection_of_a_tracked_person_is_not_added_twice():
    front, detector, estimator = make(detect_interval=1)
    run(front, detector, estimator, [[[40.0]], [[40.0]], [[42.0]]])  # detector every set, same person


def test_without_tracking_the_detector_runs_on_every_view_of_every_set():
    front, detector, estimator = make(track_people=False)
    assert run(front, detector, estimator, [[[40.0], [90.0]]] * 3) == [("cam0", "cam1")] * 3


def test_reset_forgets_the_tracked_people():
    front, detector, estimator = make(detect_interval=100)
    assert run(front, detector, estimator, [[[40.0]]] * 2) == [("cam0",), ()]
    front.reset()
    assert run(front, detector, estimator, [[[40.0]]]) == [("cam0",)]


def test_people_side_by_side_are_different_people_and_one_person_is_one():
    side_by_side = detections([40.0, 52.0])  # hip centres 12 px apart, radius 20: a little over half a radius
    assert not same_people(side_by_side, side_by_side)[0, 1]
    assert same_people(detections([40.0]), detections([44.0]))[0, 0]
    boxes_only = PersonDetections(side_by_side.boxes_xyxy_px, side_by_side.scores)
    assert same_people(boxes_only, boxes_only).diagonal().all()


@pytest.mark.parametrize("interval", [0, 1001])
def test_detect_interval_is_range_checked(interval):
    with pytest.raises(ValueError, match="detect_interval"):
        FrontConfig(detect_interval=interval).validate()
