"""The embedded BlazePose backend on the real bundled models (mediapipe wheel + ai-edge-litert)."""

from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pytest

pytest.importorskip("ai_edge_litert", reason="ai-edge-litert (TFLite runtime) not installed")
from scorehmr_ros.perception.backends import blazepose  # noqa: E402
from scorehmr_ros.perception.backends.config import DetectorConfig, KeypointConfig  # noqa: E402
from scorehmr_ros.perception.backends.factory import build_detector, build_keypoint_estimator  # noqa: E402
from scorehmr_ros.perception.backends.types import PersonDetections  # noqa: E402

#: A photograph that ships with matplotlib (a core dependency): one person, upper body.
PORTRAIT = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def detector():
    return build_detector(DetectorConfig())


@pytest.fixture(scope="module")
def landmarker():
    return build_keypoint_estimator(KeypointConfig())


@pytest.fixture(scope="module")
def portrait():
    image = cv2.imread(str(PORTRAIT))
    assert image is not None, f"cannot read {PORTRAIT}"
    return image


def test_bundled_models_load_with_the_expected_input_sizes():
    for relative, size in ((blazepose.BUNDLED_DETECTOR, 224), (blazepose.BUNDLED_LANDMARKER, 256)):
        model = blazepose._TfliteModel(blazepose.bundled_model_path(relative), num_threads=1)
        assert model.input_shape == (1, size, size, 3)


def test_blank_and_noise_images_have_no_people(detector, landmarker):
    rng = np.random.default_rng(0)
    images = [np.zeros((480, 640, 3), np.uint8), np.full((300, 200, 3), 255, np.uint8),
              rng.integers(0, 256, (360, 480, 3), dtype=np.uint8)]
    detections = detector.detect(images)
    assert [d.num_people for d in detections] == [0, 0, 0]
    assert [k.num_people for k in landmarker.estimate(images, detections)] == [0, 0, 0]


def test_one_person_and_two_people(detector, landmarker, portrait):
    one = detector.detect([portrait])[0]
    assert one.num_people == 1 and one.keypoints_px.shape == (1, 4, 2)
    pair = np.concatenate([portrait, portrait[:, ::-1]], axis=1)
    two = detector.detect([pair])[0]
    assert two.num_people == 2
    centres = np.sort(two.keypoints_px[:, 0, 0])
    assert centres[0] < portrait.shape[1] < centres[1]  # one hip centre in each half
    keypoints = landmarker.estimate([pair], [two])[0]
    assert keypoints.layout == "mediapipe33" and keypoints.num_people == 2
    nose = keypoints.keypoints_px[:, 0]
    # the mirrored copy's nose is near the mirror image of the first copy's nose (the models are not
    # exactly mirror-symmetric and the two crops differ: 25 px is ~4 % of the person's 600 px)
    order = np.argsort(nose[:, 0])
    np.testing.assert_allclose(nose[order[1], 0], pair.shape[1] - nose[order[0], 0], atol=25.0)
    np.testing.assert_allclose(nose[order[1], 1], nose[order[0], 1], atol=25.0)


def test_views_batched_equal_views_one_at_a_time(detector, landmarker, portrait):
    small = cv2.resize(portrait, (256, 300))
    images = [portrait, np.zeros((200, 200, 3), np.uint8), small]
    detections = detector.detect(images)
    batched = landmarker.estimate(images, detections)
    for image, dets, result in zip(images, detections, batched, strict=True):
        alone = landmarker.estimate([image], [dets])[0]
        np.testing.assert_allclose(result.keypoints_px, alone.keypoints_px, atol=1e-3)
        np.testing.assert_allclose(result.confidence, alone.confidence, atol=1e-5)


def test_box_only_detections_use_an_upright_crop(detector, landmarker, portrait):
    with_points = detector.detect([portrait])[0]
    box_only = PersonDetections(with_points.boxes_xyxy_px, with_points.scores)  # as from any box detector
    rotated = landmarker.estimate([portrait], [with_points])[0]
    upright = landmarker.estimate([portrait], [box_only])[0]
    assert upright.num_people == 1
    visible = rotated.confidence[0] > 0.9
    error_px = np.linalg.norm(upright.keypoints_px[0][visible] - rotated.keypoints_px[0][visible], axis=1)
    assert np.median(error_px) < 10.0  # the person is nearly upright: nearly the same crop


def test_agrees_with_mediapipe_pose_solution(detector, landmarker, portrait):
    mp = pytest.importorskip("mediapipe")
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
        result = pose.process(cv2.cvtColor(portrait, cv2.COLOR_BGR2RGB))
    height, width = portrait.shape[:2]
    reference = np.array([[p.x * width, p.y * height, p.visibility] for p in result.pose_landmarks.landmark])
    ours = landmarker.estimate([portrait], detector.detect([portrait]))[0]
    visible = reference[:, 2] > 0.9
    assert visible.sum() >= 13
    error_px = np.linalg.norm(ours.keypoints_px[0][visible] - reference[visible, :2], axis=1)
    assert np.median(error_px) < 2.0 and error_px.max() < 5.0  # on a 512 x 600 image
    np.testing.assert_allclose(ours.confidence[0], reference[:, 2], atol=0.1)


def test_bad_images_are_rejected(detector):
    with pytest.raises(ValueError, match="image 1: expected a BGR uint8"):
        detector.detect([np.zeros((10, 10, 3), np.uint8), np.zeros((10, 10), np.uint8)])
