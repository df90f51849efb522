"""PerceptionFront without ROS: batching across views, layout conversion, capped-detection warnings."""

import numpy as np
import pytest

from scorehmr_ros.body.layouts import get_layout
from scorehmr_ros.perception.backends.types import PersonDetections, PersonKeypoints
from scorehmr_ros.perception.front import CameraFrame, FrontConfig, PerceptionFront, detection_warnings


class FakeDetector:
    """Two people per image, found among ``found`` candidates; records each call's batch."""

    def __init__(self, found: int = 2) -> None:
        self.found = found
        self.batches: list[int] = []

    def detect(self, images_bgr):
        self.batches.append(len(images_bgr))
        boxes = np.array([[10, 10, 50, 90], [60, 10, 100, 90]], np.float32)
        return [PersonDetections(boxes, np.array([0.9, 0.8], np.float32), num_found=self.found)
                for _ in images_bgr]


class FakeCocoEstimator:
    layout = "coco17"

    def __init__(self) -> None:
        self.batches: list[int] = []

    def estimate(self, images_bgr, detections):
        self.batches.append(len(images_bgr))
        results = []
        for found in detections:
            people = found.num_people
            keypoints = np.tile(np.arange(17, dtype=np.float32)[None, :, None], (people, 1, 2))
            results.append(PersonKeypoints("coco17", keypoints, np.full((people, 17), 0.9, np.float32),
                                           found.boxes_xyxy_px, found.scores))
        return results


def frames(count: int) -> list[CameraFrame]:
    return [CameraFrame(camera=f"cam{i}", frame_id=f"cam{i}_optical_frame", stamp_ns=100 + i,
                        image_bgr=np.zeros((120, 160, 3), np.uint8)) for i in range(count)]


def test_one_batched_call_per_stage_and_openpose_output():
    detector, estimator = FakeDetector(), FakeCocoEstimator()
    front = PerceptionFront(detector=detector, estimator=estimator, config=FrontConfig())
    result = front.process(100, frames(3), missing=("cam3",))
    assert detector.batches == [3] and estimator.batches == [3]
    assert result.detections.missing_cameras == ("cam3",) and result.keypoints.missing_cameras == ("cam3",)
    view = result.keypoints.views[1]
    assert (view.camera, view.image_stamp_ns, view.layout, view.keypoints.shape) == ("cam1", 101, "openpose25",
                                                                                     (2, 25, 3))
    openpose = get_layout("openpose25")
    # COCO joint 5 (left shoulder) lands on OpenPose's left shoulder; OpenPose's neck is missing, not invented.
    assert view.keypoints[0, openpose.index("left_shoulder"), 0] == 5.0
    assert view.keypoints[0, openpose.index("neck"), 2] == 0.0


def test_native_layout_is_kept():
    front = PerceptionFront(detector=FakeDetector(), estimator=FakeCocoEstimator(),
                            config=FrontConfig(output_layout="native"))
    assert front.process(1, frames(1)).keypoints.views[0].layout == "coco17"


def test_capped_detections_are_reported_per_camera():
    warnings = detection_warnings(frames(2), FakeDetector(found=20).detect([None, None]))
    assert warnings == [(f"capped:cam{i}", f"camera cam{i}: 20 people found, kept the 2 best "
                         "(raise detector.max_people to keep more)") for i in range(2)]
    assert detection_warnings(frames(1), FakeDetector(found=2).detect([None])) == []


def test_bad_config_is_named():
    with pytest.raises(ValueError, match="output_layout: must be one of"):
        FrontConfig(output_layout="body99").validate()
