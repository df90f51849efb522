"""MultiViewKeypoints2D <-> MultiViewObservation, both ways, and bad messages."""

import numpy as np
import pytest

from scorehmr_ros.perception.observations import MultiViewObservation, ObservationError, ViewObservation
from scorehmr_ros.ros.geometry_conversions import MessageConversionError
from scorehmr_ros.ros.keypoint_conversions import msg_to_observation, observation_to_msg

RNG = np.random.default_rng(3)


def example_view(camera: str, people: int, layout: str = "coco17", joints: int = 17) -> ViewObservation:
    keypoints = np.concatenate([RNG.uniform(0, 640, (people, joints, 2)), RNG.uniform(0, 1, (people, joints, 1))], -1)
    boxes = np.concatenate([RNG.uniform(0, 300, (people, 2)), RNG.uniform(300, 600, (people, 2))], -1)
    return ViewObservation(camera=camera, frame_id=f"{camera}_optical_frame", image_stamp_ns=1_000_000_007,
                           width_px=640, height_px=480, boxes_xyxy_px=boxes, scores=RNG.uniform(0, 1, people),
                           layout=layout, keypoints=keypoints)


def test_round_trip():
    observation = MultiViewObservation(stamp_ns=1_000_000_000, frame_id="map",
                                       views=(example_view("a", 2), example_view("b", 0), example_view("c", 1)),
                                       missing_cameras=("d",))
    back = msg_to_observation(observation_to_msg(observation))
    assert (back.stamp_ns, back.frame_id, back.missing_cameras) == (1_000_000_000, "map", ("d",))
    for original, converted in zip(observation.views, back.views, strict=True):
        if original.num_people == 0:  # the layout travels with the people: an empty view has none
            assert converted.layout == "" and converted.keypoints.shape == (0, 0, 3)
            continue
        assert (converted.camera, converted.frame_id, converted.image_stamp_ns) == (
            original.camera, original.frame_id, original.image_stamp_ns)
        np.testing.assert_array_equal(converted.keypoints, original.keypoints)
        np.testing.assert_array_equal(converted.boxes_xyxy_px, original.boxes_xyxy_px)
        np.testing.assert_array_equal(converted.scores, original.scores)
    assert back.views[1].layout == "" and back.views[1].keypoints.shape == (0, 0, 3)


def test_detections_without_keypoints():
    view = ViewObservation(camera="a", frame_id="a_optical_frame", image_stamp_ns=5, width_px=64, height_px=48,
                           boxes_xyxy_px=[[1, 2, 30, 40]], scores=[0.9])
    back = msg_to_observation(observation_to_msg(MultiViewObservation(stamp_ns=5, frame_id="map", views=(view,))))
    assert back.views[0].keypoints.shape == (1, 0, 3) and back.views[0].layout == ""


def test_bad_messages_are_named():
    msg = observation_to_msg(MultiViewObservation(stamp_ns=1, frame_id="map", views=(example_view("a", 2),)))
    msg.views[0].people[1].keypoints_confidence = msg.views[0].people[1].keypoints_confidence[:-1]
    with pytest.raises(MessageConversionError, match="person 1: keypoint arrays must each have 17 .* 16"):
        msg_to_observation(msg)
    msg = observation_to_msg(MultiViewObservation(stamp_ns=1, frame_id="map", views=(example_view("a", 1),)))
    msg.views[0].people[0].keypoint_layout = "openpose25"
    with pytest.raises(MessageConversionError, match="must each have 25 values for layout 'openpose25'; got x 17"):
        msg_to_observation(msg)
    msg.views[0].people[0].keypoint_layout = "skeleton99"
    with pytest.raises(MessageConversionError, match="unknown keypoint layout 'skeleton99'"):
        msg_to_observation(msg)
    msg = observation_to_msg(MultiViewObservation(stamp_ns=1, frame_id="map", views=(example_view("a", 1),)))
    msg.views[0].people[0].keypoints_x_px[3] = float("nan")
    with pytest.raises(MessageConversionError, match="keypoints contain NaN"):
        msg_to_observation(msg)
    msg.views[0].people[0].keypoints_x_px[3] = 1.0
    msg.views[0].people[0].keypoints_confidence[2] = 1.5
    with pytest.raises(MessageConversionError, match=r"confidence must be in \[0, 1\]"):
        msg_to_observation(msg)


def test_duplicate_camera_is_rejected():
    with pytest.raises(ObservationError, match="a camera appears twice"):
        MultiViewObservation(stamp_ns=1, frame_id="map", views=(example_view("a", 1), example_view("a", 1)))
