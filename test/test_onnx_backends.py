"""ONNX Runtime backends (YOLOX / RTMDet / RTMPose) on small ONNX models the tests build."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from scorehmr_ros.perception.backends import onnx_models as om  # noqa: E402
from scorehmr_ros.perception.backends.config import DetectorConfig, KeypointConfig  # noqa: E402
from scorehmr_ros.perception.backends.factory import build_detector, build_keypoint_estimator  # noqa: E402
from scorehmr_ros.perception.backends.types import PerceptionError, PersonDetections  # noqa: E402


def _save(tmp_path, name, nodes, inputs, outputs, initializers):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    return path


def _constant_output_model(tmp_path, name, input_shape, outputs: dict[str, np.ndarray]):
    """A model that ignores its image and returns fixed tensors (output = constant + 0 * mean(input))."""
    nodes = [helper.make_node("ReduceMean", ["input"], ["mean"], keepdims=0),
             helper.make_node("Mul", ["mean", "zero"], ["nothing"])]
    inits = [numpy_helper.from_array(np.zeros((), np.float32), "zero")]
    graph_outputs = []
    for out_name, value in outputs.items():
        inits.append(numpy_helper.from_array(value, f"{out_name}_value"))
        if value.dtype == np.int64:
            nodes.append(helper.make_node("Identity", [f"{out_name}_value"], [out_name]))
            graph_outputs.append(helper.make_tensor_value_info(out_name, TensorProto.INT64, value.shape))
        else:
            nodes.append(helper.make_node("Add", [f"{out_name}_value", "nothing"], [out_name]))
            graph_outputs.append(helper.make_tensor_value_info(out_name, TensorProto.FLOAT, value.shape))
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, input_shape)]
    return _save(tmp_path, name, nodes, inputs, graph_outputs, inits)


def _column_row_simcc_model(tmp_path, *, joints=17, width=192, height=256, ratio=2, batch="N"):
    """SimCC stand-in: simcc_x[n, j, 2u] = simcc_x[n, j, 2u + 1] = mean of input column u (over channels
    and rows) + 3 (normalised black is about -2: the offset makes the maxima positive, i.e. seen);
    simcc_y likewise over rows. A bright dot's column/row is then the argmax."""
    up_x = np.repeat(np.eye(width, dtype=np.float32), ratio, axis=1)  # (W, W * ratio)
    up_y = np.repeat(np.eye(height, dtype=np.float32), ratio, axis=1)
    nodes = [
        helper.make_node("ReduceMean", ["input", "axes_x"], ["cols0"], keepdims=0),  # (N, W)
        helper.make_node("Add", ["cols0", "offset"], ["cols"]),
        helper.make_node("MatMul", ["cols", "up_x"], ["sx"]),                          # (N, W*r)
        helper.make_node("Unsqueeze", ["sx", "axis1"], ["sx1"]),                       # (N, 1, W*r)
        helper.make_node("Tile", ["sx1", "reps"], ["simcc_x"]),
        helper.make_node("ReduceMean", ["input", "axes_y"], ["rows0"], keepdims=0),
        helper.make_node("Add", ["rows0", "offset"], ["rows"]),
        helper.make_node("MatMul", ["rows", "up_y"], ["sy"]),
        helper.make_node("Unsqueeze", ["sy", "axis1"], ["sy1"]),
        helper.make_node("Tile", ["sy1", "reps"], ["simcc_y"]),
    ]
    inits = [numpy_helper.from_array(np.array([1, 2], np.int64), "axes_x"),
             numpy_helper.from_array(np.array([1, 3], np.int64), "axes_y"),
             numpy_helper.from_array(up_x, "up_x"), numpy_helper.from_array(up_y, "up_y"),
             numpy_helper.from_array(np.array([1], np.int64), "axis1"),
             numpy_helper.from_array(np.array(3.0, np.float32), "offset"),
             numpy_helper.from_array(np.array([1, joints, 1], np.int64), "reps")]
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, height, width])]
    outputs = [helper.make_tensor_value_info("simcc_x", TensorProto.FLOAT, [batch, joints, width * ratio]),
               helper.make_tensor_value_info("simcc_y", TensorProto.FLOAT, [batch, joints, height * ratio])]
    return _save(tmp_path, f"simcc_{batch}", nodes, inputs, outputs, inits)


def test_simcc_argmax_decodes_to_known_coordinates():
    simcc_x = np.full((2, 3, 384), -1.0)
    simcc_y = np.full((2, 3, 512), -1.0)
    simcc_x[0, 0, 101], simcc_y[0, 0, 40] = 0.8, 0.6     # -> (50.5, 20) px, confidence 0.7
    simcc_x[1, 2, 0], simcc_y[1, 2, 511] = 0.9, 0.9      # -> (0, 255.5)
    simcc_x[1, 1, 7], simcc_y[1, 1, 9] = 0.2, -0.5       # mean <= 0: not seen
    locs, confidence = om.decode_simcc(simcc_x, simcc_y, split_ratio=2.0)
    np.testing.assert_allclose(locs[0, 0], [50.5, 20.0])
    np.testing.assert_allclose(locs[1, 2], [0.0, 255.5])
    np.testing.assert_allclose(locs[1, 1], [-0.5, -0.5])  # -1 / split ratio, as rtmlib
    assert confidence[0, 0] == pytest.approx(0.7) and confidence[1, 1] <= 0


def test_crop_centre_and_aspect_match_rtmlib_conventions():
    center, scale = om.box_center_scale(np.array([100.0, 50.0, 200.0, 450.0]), padding=1.25, aspect_w_over_h=0.75)
    np.testing.assert_allclose(center, [150.0, 250.0])
    np.testing.assert_allclose(scale, [375.0, 500.0])  # height 400 x 1.25 = 500 fixes the size; width 0.75 x 500
    affine = om.crop_affine(center, scale, input_width_px=192)
    corners = np.array([[150 - 187.5, 0.0], [150.0, 250.0], [150 + 187.5, 500.0]])
    np.testing.assert_allclose(corners @ affine[:, :2].T + affine[:, 2], [[0, 0], [96, 128], [192, 256]], atol=1e-9)


def test_grid_decoding_on_hand_made_outputs():
    cells, strides = om.grid_priors(input_width_px=64, input_height_px=32)
    assert cells.shape == (8 * 4 + 4 * 2 + 2 * 1, 2)
    raw = np.zeros((cells.shape[0], 7))
    index = 8 * 4 + 5  # stride 16: grid 4 x 2, cell (1, 1)
    np.testing.assert_allclose(cells[index], [1, 1])
    raw[index] = [0.5, 0.25, np.log(2.0), 0.0, 0.9, 0.5, 0.99]
    boxes, scores = om.decode_grid_predictions(raw, input_width_px=64, input_height_px=32)
    np.testing.assert_allclose(boxes[index], [24 - 16, 20 - 8, 24 + 16, 20 + 8])
    assert scores[index] == pytest.approx(0.45)  # objectness x person class, not the other class


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30]], float)
    assert om.nms(boxes, np.array([0.5, 0.9, 0.7]), iou_threshold=0.45).tolist() == [1, 2]


def test_yolox_raw_export_end_to_end(tmp_path):
    anchors = (80 * 80 + 40 * 40 + 20 * 20)
    raw = np.zeros((1, anchors, 6), np.float32)
    index = 80 * 80 + 40 * 10 + 20  # stride 16, cell (20, 10) -> centre (320, 160) px in the input (no half cell)
    raw[0, index] = [0.0, 0.0, np.log(4.0), np.log(8.0), 0.95, 0.9]
    raw[0, index + 1] = [0.0, 0.0, np.log(4.0), np.log(8.0), 0.9, 0.9]  # neighbour, IoU 0.6: suppressed
    path = _constant_output_model(tmp_path, "yolox", [1, 3, 640, 640], {"output": raw})
    detector = build_detector(DetectorConfig(backend="yolox_onnx", model_path=str(path), nms_iou_threshold=0.45))
    image = np.zeros((960, 1280, 3), np.uint8)  # ratio 0.5: boxes come back doubled
    result = detector.detect([image, image[:480, :640]])
    np.testing.assert_allclose(result[0].boxes_xyxy_px, [[2 * (320 - 32), 2 * (160 - 64), 2 * (320 + 32),
                                                          2 * (160 + 64)]], rtol=1e-5)
    np.testing.assert_allclose(result[0].scores, [0.95 * 0.9], rtol=1e-5)
    np.testing.assert_allclose(result[1].boxes_xyxy_px, result[0].boxes_xyxy_px / 2, rtol=1e-5)


def test_rtmdet_export_with_nms_and_labels(tmp_path):
    dets = np.array([[[10, 20, 110, 220, 0.9], [0, 0, 50, 50, 0.8], [5, 5, 15, 15, 0.1]]], np.float32)
    labels = np.array([[0, 3, 0]], np.int64)  # the second box is not a person, the third too weak
    path = _constant_output_model(tmp_path, "rtmdet", [1, 3, 640, 640], {"dets": dets, "labels": labels})
    detector = build_detector(DetectorConfig(backend="rtmdet_onnx", model_path=str(path)))
    result = detector.detect([np.zeros((320, 320, 3), np.uint8)])[0]  # ratio 2
    np.testing.assert_allclose(result.boxes_xyxy_px, [[5, 10, 55, 110]])
    np.testing.assert_allclose(result.scores, [0.9])
    tensor, _ = detector.input_tensor(np.full((640, 640, 3), 114, np.uint8))
    np.testing.assert_allclose(tensor[0, :, 0, 0], (114 - np.array(om.RTMDET_MEAN_BGR)) / om.RTMDET_STD_BGR,
                               rtol=1e-5)


@pytest.mark.parametrize("batch", ["N", 1])
def test_rtmpose_finds_a_bright_dot_through_crop_and_decoding(tmp_path, batch):
    path = _column_row_simcc_model(tmp_path, batch=batch)
    estimator = build_keypoint_estimator(KeypointConfig(backend="rtmpose_onnx", model_path=str(path)))
    images, boxes, dots = [], [], [(217.0, 143.0), (60.0, 300.0)]
    for x, y in dots:
        image = np.zeros((400, 320, 3), np.uint8)
        image[int(y) - 1:int(y) + 2, int(x) - 1:int(x) + 2] = 255
        images.append(image)
        boxes.append(PersonDetections(np.array([[x - 70, y - 90, x + 50, y + 80]], np.float32),
                                      np.array([0.8], np.float32)))
    boxes[1] = PersonDetections(np.concatenate([boxes[1].boxes_xyxy_px, [[0, 0, 320, 400]]]).astype(np.float32),
                                np.array([0.8, 0.6], np.float32))
    results = estimator.estimate(images, boxes)
    assert [r.num_people for r in results] == [1, 2]
    # argmax / split ratio is the integer input px (as rtmlib and mmpose decode), so up to 1.5 input px
    crop_px = 170 * 1.25 / 256  # image px per input px for the 170 px tall boxes
    np.testing.assert_allclose(results[0].keypoints_px[0, 5], dots[0], atol=1.5 * crop_px)
    np.testing.assert_allclose(results[1].keypoints_px[0, 5], dots[1], atol=1.5 * crop_px)
    np.testing.assert_allclose(results[1].keypoints_px[1, 5], dots[1], atol=1.5 * 500 * 1.25 / 256)
    assert results[0].layout == "coco17" and (results[0].confidence > 0).all()
    alone = estimator.estimate(images[1:], boxes[1:])[0]
    np.testing.assert_allclose(alone.keypoints_px, results[1].keypoints_px, atol=1e-4)


def test_rtmpose_layout_must_match_the_model(tmp_path):
    path = _column_row_simcc_model(tmp_path, joints=26)
    estimator = build_keypoint_estimator(KeypointConfig(backend="rtmpose_onnx", model_path=str(path)))
    image = np.zeros((100, 100, 3), np.uint8)
    with pytest.raises(PerceptionError, match="26 joints, layout coco17 has 17"):
        estimator.estimate([image], [PersonDetections(np.array([[0, 0, 50, 90]], np.float32),
                                                      np.array([1.0], np.float32))])
    assert estimator.estimate([image], [PersonDetections.empty()])[0].num_people == 0


def test_config_errors_name_the_field(tmp_path):
    with pytest.raises(ValueError, match="model_path: backend yolox_onnx has no bundled model"):
        DetectorConfig(backend="yolox_onnx").validate()
    with pytest.raises(ValueError, match="backend: must be one of"):
        DetectorConfig(backend="yolo9").validate()
    with pytest.raises(ValueError, match="score_threshold: must be <= 1.0"):
        DetectorConfig(score_threshold=1.5).validate()
    with pytest.raises(FileNotFoundError, match="keypoint model not found"):
        build_keypoint_estimator(KeypointConfig(backend="rtmpose_onnx", model_path=str(tmp_path / "none.onnx")))
