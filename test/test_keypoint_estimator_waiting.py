"""The standalone keypoint_estimator waits briefly for images that arrive after their detections."""

import time

import numpy as np
import pytest
import rclpy
from rclpy.parameter import Parameter

from scorehmr_ros.perception.front import CameraFrame
from scorehmr_ros.perception.observations import MultiViewObservation, ViewObservation
from scorehmr_ros.ros.keypoint_conversions import observation_to_msg
from scorehmr_ros.ros.nodes import keypoint_estimator_node
from scorehmr_ros.ros.nodes.keypoint_estimator_node import IMAGE_WAIT_S, KeypointEstimatorNode

pytestmark = pytest.mark.ros
CAMERAS = ("cam0", "cam1")


@pytest.fixture
def estimator(ros_domain):
    context = rclpy.Context()
    rclpy.init(context=context)
    node = KeypointEstimatorNode(context=context, parameter_overrides=[Parameter("cameras", value=list(CAMERAS))])
    node.worker.stop()
    node.submitted = []
    node.worker.submit = node.submitted.append  # what would reach the estimator thread, in order
    yield node
    node.destroy_node()
    rclpy.shutdown(context=context)


def detections(stamp_ns: int):
    views = tuple(ViewObservation(camera=c, frame_id=f"{c}_optical_frame", image_stamp_ns=stamp_ns, width_px=64,
                                  height_px=48, boxes_xyxy_px=np.array([[4.0, 4.0, 40.0, 44.0]]),
                                  scores=np.array([0.9]), layout="", keypoints=np.zeros((1, 0, 3)))
                  for c in CAMERAS)
    return observation_to_msg(MultiViewObservation(stamp_ns=stamp_ns, frame_id="map", views=views))


def image(camera: str, stamp_ns: int) -> CameraFrame:
    return CameraFrame(camera=camera, frame_id=f"{camera}_optical_frame", stamp_ns=stamp_ns,
                       image_bgr=np.zeros((48, 64, 3), np.uint8))


def test_detections_before_their_images_wait_for_them(estimator):
    estimator._on_detections(detections(100))
    estimator._on_frame(image("cam0", 100))
    assert estimator.submitted == []
    estimator._on_frame(image("cam1", 100))
    (detected,) = estimator.submitted
    assert sorted(detected.frames) == ["cam0", "cam1"] and detected.detections.stamp_ns == 100


def test_a_missing_image_is_given_up_after_the_wait_and_sets_stay_in_order(estimator):
    estimator._on_detections(detections(100))  # cam1's image of 100 never comes
    estimator._on_frame(image("cam0", 100))
    estimator._on_frame(image("cam0", 200))
    estimator._on_frame(image("cam1", 200))
    estimator._on_detections(detections(200))  # complete, but behind the waiting set
    assert estimator.submitted == []
    time.sleep(IMAGE_WAIT_S + 0.05)
    estimator._release_waiting()
    assert [d.detections.stamp_ns for d in estimator.submitted] == [100, 200]
    assert sorted(estimator.submitted[0].frames) == ["cam0"] and sorted(estimator.submitted[1].frames) == list(CAMERAS)
    assert estimator.warnings.counts.get("no_image:cam1") == 1


def test_the_wait_is_bounded_in_sets(estimator):
    for stamp in range(keypoint_estimator_node.MAX_WAITING_SETS + 3):
        estimator._on_detections(detections(stamp))  # no images at all
    assert [d.detections.stamp_ns for d in estimator.submitted] == [0, 1, 2]
    assert len(estimator.waiting) == keypoint_estimator_node.MAX_WAITING_SETS
