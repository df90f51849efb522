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


#: MediaPipe's Pose solution's model_complexity for each landmark model size.
MODEL_COMPLEXITY = {"lite": 0, "full": 1, "heavy": 2}


@pytest.fixture
def mediapipe_model_of_size(request):
    """The size's model where MediaPipe's Pose solution looks for it (it would download lite and heavy from
    Google storage, which tests cannot reach): our installed, hash-checked copy, removed again afterwards (full is
    the wheel's own file, already there)."""
    size = request.param
    installed = blazepose.landmark_model_path(KeypointConfig(landmark_model=size))
    target = blazepose.bundled_model_path(blazepose.BUNDLED_LANDMARKER).with_name(installed.name)
    placed = not target.exists()
    if placed:
        target.write_bytes(installed.read_bytes())
    yield size
    if placed:
        target.unlink()


@pytest.mark.parametrize("mediapipe_model_of_size", ["full", "lite", "heavy"], indirect=True)
def test_agrees_with_mediapipe_pose_solution(detector, portrait, mediapipe_model_of_size):
    mp = pytest.importorskip("mediapipe")
    size = mediapipe_model_of_size
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=MODEL_COMPLEXITY[size]) as pose:
        result = pose.process(cv2.cvtColor(portrait, cv2.COLOR_BGR2RGB))
    height, width = portrait.shape[:2]
    reference = np.array([[p.x * width, p.y * height, p.visibility] for p in result.pose_landmarks.landmark])
    estimator = build_keypoint_estimator(KeypointConfig(landmark_model=size))
    ours = estimator.estimate([portrait], detector.detect([portrait]))[0]
    visible = reference[:, 2] > 0.9
    assert visible.sum() >= 13
    error_px = np.linalg.norm(ours.keypoints_px[0][visible] - reference[visible, :2], axis=1)
    # our crops differ from MediaPipe's by sub-pixel resampling; lite moves about twice as much with them
    # (measured on this portrait: median / max 1.2 / 3.0 px full, 2.6 / 4.6 lite, 0.8 / 1.9 heavy)
    median_px, max_px = {"full": (2.0, 5.0), "lite": (3.5, 7.0), "heavy": (2.0, 5.0)}[size]
    assert np.median(error_px) < median_px and error_px.max() < max_px  # on a 512 x 600 image
    np.testing.assert_allclose(ours.confidence[0], reference[:, 2], atol=0.1)


def test_landmark_model_sizes_are_distinct_models_with_one_layout(detector, landmarker, portrait):
    detections = detector.detect([portrait])
    full = landmarker.estimate([portrait], detections)[0]
    for size in ("lite", "heavy"):
        path = blazepose.landmark_model_path(KeypointConfig(landmark_model=size))
        assert path.name == f"pose_landmark_{size}.tflite"
        other = build_keypoint_estimator(KeypointConfig(landmark_model=size)).estimate([portrait], detections)[0]
        assert other.layout == full.layout and other.keypoints_px.shape == full.keypoints_px.shape
        visible = full.confidence[0] > 0.9
        error_px = np.linalg.norm(other.keypoints_px[0][visible] - full.keypoints_px[0][visible], axis=1)
        assert 0.0 < np.median(error_px) < 15.0  # another network, the same person


def test_a_size_that_is_not_installed_names_the_command(monkeypatch, tmp_path):
    from scorehmr_ros.assets.paths import DATA_ROOT_ENV
    from scorehmr_ros.perception.backends.types import PerceptionError

    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path))
    with pytest.raises(PerceptionError, match="BlazePose landmark model 'lite' not installed: .*models fetch"):
        build_keypoint_estimator(KeypointConfig(landmark_model="lite"))


@pytest.mark.parametrize("fields", [dict(landmark_model="lite", model_path="/tmp/model.tflite"),
                                    dict(landmark_model="heavy", backend="rtmpose_onnx", model_path="m.onnx")])
def test_a_size_with_another_model_is_refused(fields):
    with pytest.raises(ValueError, match="landmark_model: .* needs backend blazepose and an empty model_path"):
        KeypointConfig(**fields).validate()
    with pytest.raises(ValueError, match="landmark_model: must be one of"):
        KeypointConfig(landmark_model="medium").validate()


def test_the_description_in_logs_names_the_model():
    assert KeypointConfig().description == "blazepose (landmark model full)"
    assert KeypointConfig(landmark_model="lite").description == "blazepose (landmark model lite)"
    assert KeypointConfig(model_path="/m/pose_landmark_heavy.tflite").description == \
        "blazepose (pose_landmark_heavy.tflite)"
    assert KeypointConfig(backend="rtmpose_onnx", model_path="/m/rtmpose-m.onnx").description == \
        "rtmpose_onnx (rtmpose-m.onnx)"


def test_bad_images_are_rejected(detector):
    with pytest.raises(ValueError, match="image 1: expected a BGR uint8"):
        detector.detect([np.zeros((10, 10, 3), np.uint8), np.zeros((10, 10), np.uint8)])
