"""Pruning a TFLite model to the outputs read: the bundled BlazePose landmark model, pruned and not."""

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert", reason="ai-edge-litert (TFLite runtime) not installed")
from scorehmr_ros.perception.backends import blazepose  # noqa: E402
from scorehmr_ros.perception.backends.config import KeypointConfig  # noqa: E402
from scorehmr_ros.perception.backends.tflite_graph import prune_tflite_outputs, tflite_output_names  # noqa: E402
from scorehmr_ros.perception.backends.types import PerceptionError  # noqa: E402


def _operator_count(model_bytes: bytes) -> int:
    from ai_edge_litert import schema_py_generated as schema

    return schema.Model.GetRootAs(model_bytes, 0).Subgraphs(0).OperatorsLength()


def test_pruned_landmark_model_computes_the_kept_outputs_bit_for_bit_with_fewer_operators():
    path = blazepose.bundled_model_path(blazepose.BUNDLED_LANDMARKER)
    original = path.read_bytes()
    assert tflite_output_names(original) == ["Identity", "Identity_1", "Identity_2", "Identity_3", "Identity_4"]
    pruned = prune_tflite_outputs(original, blazepose.LANDMARK_OUTPUTS)
    assert sorted(tflite_output_names(pruned)) == sorted(blazepose.LANDMARK_OUTPUTS)
    assert _operator_count(pruned) < _operator_count(original) - 40  # the segmentation's decoder is gone
    full = blazepose._TfliteModel(path, num_threads=1)
    small = blazepose._TfliteModel(path, num_threads=1, outputs=blazepose.LANDMARK_OUTPUTS)
    assert small.output_names == list(blazepose.LANDMARK_OUTPUTS)
    crops = np.random.default_rng(0).random((2, 256, 256, 3), dtype=np.float32)
    full_outputs = dict(zip(full.output_names, full.run(crops), strict=True))
    for name, output in zip(small.output_names, small.run(crops), strict=True):
        np.testing.assert_array_equal(output, full_outputs[name])


def test_pruning_refuses_unknown_outputs_and_files_that_are_not_tflite():
    path = blazepose.bundled_model_path(blazepose.BUNDLED_LANDMARKER)
    with pytest.raises(PerceptionError, match=r"outputs \['Identity', .*\]: \['segmentation'\] not among them"):
        prune_tflite_outputs(path.read_bytes(), ["Identity", "segmentation"])
    with pytest.raises(PerceptionError, match="not a TFLite model"):
        prune_tflite_outputs(b"\x00" * 64, ["Identity"])


def test_a_landmark_model_without_the_outputs_read_is_refused_naming_the_file():
    detector_path = blazepose.bundled_model_path(blazepose.BUNDLED_DETECTOR)  # outputs Identity, Identity_1 only
    with pytest.raises(PerceptionError, match=r"pose_detection.tflite: .*\['Identity_3'\] not among them"):
        blazepose.BlazePoseLandmarker(config=KeypointConfig(model_path=str(detector_path)))


def test_landmarks_of_the_pruned_and_the_shipped_model_are_the_same():
    from pathlib import Path

    import cv2
    import matplotlib

    from scorehmr_ros.perception.backends.blazepose_math import RotatedRoi
    from scorehmr_ros.perception.backends.config import DetectorConfig
    from scorehmr_ros.perception.backends.factory import build_detector

    image = cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))
    detections = build_detector(DetectorConfig()).detect([image])
    pruned = blazepose.BlazePoseLandmarker(config=KeypointConfig()).estimate([image], detections)[0]
    shipped = blazepose.BlazePoseLandmarker(config=KeypointConfig(), prune_unused_outputs=False).estimate(
        [image], detections)[0]
    assert pruned.num_people == shipped.num_people == 1
    np.testing.assert_array_equal(pruned.keypoints_px, shipped.keypoints_px)
    np.testing.assert_array_equal(pruned.confidence, shipped.confidence)
    # the crop cut from BGR, then turned to RGB: the pixels of turning the whole image to RGB first
    roi = RotatedRoi(center_px=np.array([250.0, 300.0]), size_px=380.0, rotation_rad=0.3)
    whole_rgb_first = cv2.warpAffine(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), roi.image_to_crop_affine(256), (256, 256),
                                     flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    np.testing.assert_array_equal(blazepose.landmark_input(image, roi), whole_rgb_first.astype(np.float32) / 255.0)
    batch = np.full((2, 256, 256, 3), np.nan, dtype=np.float32)  # written in place, as estimate() fills its batch
    assert np.shares_memory(blazepose.landmark_input(image, roi, out=batch[1]), batch)
    np.testing.assert_array_equal(batch[1], whole_rgb_first.astype(np.float32) / 255.0)
    assert np.isnan(batch[0]).all()


def test_a_runs_outputs_are_its_own_after_the_next_run():
    """run() hands out the interpreter's outputs without copying them again: they must not change when the next
    batch runs (LiteRT's get_tensor copies; the batch of the next run has another size and other pixels)."""
    model = blazepose._TfliteModel(blazepose.bundled_model_path(blazepose.BUNDLED_LANDMARKER), num_threads=1,
                                   outputs=blazepose.LANDMARK_OUTPUTS)
    rng = np.random.default_rng(1)
    first = model.run(rng.random((2, 256, 256, 3), dtype=np.float32))
    kept = [output.copy() for output in first]
    model.run(rng.random((1, 256, 256, 3), dtype=np.float32))
    model.run(rng.random((2, 256, 256, 3), dtype=np.float32))
    for output, copy in zip(first, kept, strict=True):
        np.testing.assert_array_equal(output, copy)
