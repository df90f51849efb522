"""BlazePose pre/post-processing math on hand-made tensors (no model runtime)."""

import cv2
import numpy as np
import pytest

from scorehmr_ros.perception.backends import blazepose_math as bm


def test_anchor_count_and_positions_match_the_224_pose_detector():
    anchors = bm.ssd_anchor_centers()
    assert anchors.shape == (bm.DETECTOR_NUM_ANCHORS, 2) == (2254, 2)
    # stride 8: 28 x 28 cells, 2 anchors per cell, row-major (y outer, x inner)
    np.testing.assert_allclose(anchors[0], [0.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(anchors[1], anchors[0])
    np.testing.assert_allclose(anchors[2], [1.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(anchors[2 * 28], [0.5 / 28, 1.5 / 28])
    # stride 16 starts after 28*28*2 = 1568 anchors
    np.testing.assert_allclose(anchors[1568], [0.5 / 14, 0.5 / 14])
    # the three stride-32 layers share one 7 x 7 grid with 6 anchors per cell, from 1568 + 392 = 1960
    np.testing.assert_allclose(anchors[1960:1966], np.tile([0.5 / 7, 0.5 / 7], (6, 1)))
    np.testing.assert_allclose(anchors[1966], [1.5 / 7, 0.5 / 7])
    np.testing.assert_allclose(anchors[-1], [6.5 / 7, 6.5 / 7])


def test_box_decoding_on_hand_made_outputs():
    anchors = bm.ssd_anchor_centers()
    raw = np.zeros((2254, 12))
    scores = np.full((2254, 1), -50.0)
    # anchor 1568 sits at (8, 8) px in the 224 input; shift by (+22.4, -11.2) px, size 44.8 x 67.2 px
    raw[1568, :4] = [22.4, -11.2, 44.8, 67.2]
    raw[1568, 4:] = [0.0, 22.4, 0.0, -22.4, 11.2, 0.0, 0.0, 0.0]
    scores[1568] = 2.0
    scores[0] = 1000.0  # clipped to 100 before the sigmoid: finite
    decoded = bm.decode_detections(raw_boxes=raw, raw_scores=scores, anchor_centers=anchors)
    cx, cy = 8 / 224 + 0.1, 8 / 224 - 0.05
    np.testing.assert_allclose(decoded.boxes_norm[1568], [cx - 0.1, cy - 0.15, cx + 0.1, cy + 0.15])
    np.testing.assert_allclose(decoded.keypoints_norm[1568, 0], [8 / 224, 8 / 224 + 0.1])
    np.testing.assert_allclose(decoded.keypoints_norm[1568, 2], [8 / 224 + 0.05, 8 / 224])
    assert decoded.scores[1568] == pytest.approx(1 / (1 + np.exp(-2.0)))
    assert decoded.scores[0] == pytest.approx(1.0) and np.isfinite(decoded.scores).all()
    with pytest.raises(ValueError, match=r"\(2254, 12\)"):
        bm.decode_detections(raw_boxes=raw[:, :10], raw_scores=scores, anchor_centers=anchors)


def test_weighted_nms_averages_each_cluster_with_score_weights():
    boxes = np.array([[0.0, 0.0, 1.0, 1.0], [0.1, 0.0, 1.1, 1.0], [5.0, 5.0, 6.0, 6.0], [0.0, 0.0, 1.0, 1.0]])
    keypoints = np.arange(4 * 4 * 2, dtype=float).reshape(4, 4, 2)
    scores = np.array([0.9, 0.6, 0.7, 0.2])
    kept = bm.weighted_nms(bm.RawDetections(boxes, keypoints, scores), min_score=0.5, iou_threshold=0.3)
    assert kept.scores.tolist() == [0.9, 0.7]
    w = np.array([0.9, 0.6]) / 1.5
    np.testing.assert_allclose(kept.boxes_norm[0], w @ boxes[:2])
    np.testing.assert_allclose(kept.keypoints_norm[0], np.einsum("c,ckd->kd", w, keypoints[:2]))
    np.testing.assert_allclose(kept.boxes_norm[1], boxes[2])
    assert bm.weighted_nms(bm.RawDetections(boxes, keypoints, scores), max_detections=1).scores.tolist() == [0.9]
    assert bm.weighted_nms(bm.RawDetections(boxes, keypoints, scores * 0.1)).scores.size == 0


def test_letterbox_round_trip():
    box = bm.letterbox_for(width_px=640, height_px=480)
    assert box.scale == pytest.approx(224 / 640)
    np.testing.assert_allclose(box.pad_px, [0.0, 0.5 * (224 - 168)])
    points_px = np.array([[0.0, 0.0], [640.0, 480.0], [100.0, 300.0]])
    affine = box.image_to_input_affine()
    points_in = points_px @ affine[:, :2].T + affine[:, 2]
    np.testing.assert_allclose(box.input_norm_to_image_px(points_in / 224), points_px)


def test_roi_rotation_follows_the_alignment_points():
    upright = bm.roi_from_alignment_points(center_px=np.array([100.0, 200.0]), scale_point_px=np.array([100.0, 120.0]))
    assert upright.rotation_rad == pytest.approx(0.0)
    assert upright.size_px == pytest.approx(2 * 80 * 1.25)
    head_right = bm.roi_from_alignment_points(center_px=np.array([100.0, 200.0]),
                                              scale_point_px=np.array([180.0, 200.0]))
    assert head_right.rotation_rad == pytest.approx(np.pi / 2)
    # the crop's "up" (-y) points from the hip centre towards the scale point
    up_in_image = head_right.crop_to_image_px(np.array([128.0, 0.0]), 256) - head_right.center_px
    np.testing.assert_allclose(up_in_image / np.linalg.norm(up_in_image), [1.0, 0.0], atol=1e-12)


@pytest.mark.parametrize("rotation_rad", [0.0, 0.7, -2.5])
def test_crop_affine_and_inverse_agree_with_warp_affine(rotation_rad):
    roi = bm.RotatedRoi(center_px=np.array([150.0, 110.0]), size_px=120.0, rotation_rad=rotation_rad)
    affine = roi.image_to_crop_affine(256)
    image_points = np.array([[150.0, 110.0], [170.0, 90.0], [120.0, 140.0]])
    crop_points = image_points @ affine[:, :2].T + affine[:, 2]
    np.testing.assert_allclose(roi.crop_to_image_px(crop_points, 256), image_points, atol=1e-9)
    np.testing.assert_allclose(crop_points[0], [128.0, 128.0])
    image = np.zeros((240, 320), np.uint8)
    cv2.circle(image, (170, 90), 3, 255, -1)
    crop = cv2.warpAffine(image, affine, (256, 256), flags=cv2.INTER_LINEAR)
    ys, xs = np.nonzero(crop > 127)
    np.testing.assert_allclose([xs.mean(), ys.mean()], crop_points[1], atol=1.0)
    box = roi.bounding_box_xyxy_px()
    assert box[2] - box[0] == pytest.approx(120 * (abs(np.cos(rotation_rad)) + abs(np.sin(rotation_rad))))


def test_heatmap_refinement_moves_points_to_the_weighted_peak():
    heatmap = np.full((64, 64, 2), -20.0)
    heatmap[10, 20, 0] = 20.0  # a sharp peak at column 20, row 10 for landmark 0
    heatmap[10, 22, 0] = 20.0  # and at column 22: the mean column is 21
    points = np.array([[21.6 / 64, 11.2 / 64], [0.5, 0.5]])
    refined = bm.refine_from_heatmaps(points[None], heatmap[None])[0]
    np.testing.assert_allclose(refined[0], [21 / 64, 10 / 64], atol=1e-6)
    np.testing.assert_allclose(refined[1], points[1])  # landmark 1: no confident cell, unchanged
    outside = bm.refine_from_heatmaps(np.array([[[1.2, 0.5], [0.5, -0.1]]]), heatmap[None])[0]
    np.testing.assert_allclose(outside, [[1.2, 0.5], [0.5, -0.1]])


def test_landmark_decoding_projects_through_the_roi():
    roi = bm.RotatedRoi(center_px=np.array([300.0, 200.0]), size_px=512.0, rotation_rad=np.pi / 2)
    raw = np.zeros((1, 39 * 5))
    values = raw.reshape(1, 39, 5)
    values[0, 0, :2] = [128.0, 0.0]   # top centre of the crop
    values[0, 1, :2] = [128.0, 128.0]  # crop centre
    values[0, 0, 3:] = [0.0, 100.0]
    decoded = bm.decode_landmarks(raw_landmarks=raw, rois=[roi])
    # crop up (-y) is image +x for rotation pi/2; half the crop = 256 px
    np.testing.assert_allclose(decoded.points_px[0, 0], [556.0, 200.0], atol=1e-9)
    np.testing.assert_allclose(decoded.points_px[0, 1], [300.0, 200.0], atol=1e-9)
    assert decoded.visibility[0, 0] == pytest.approx(0.5) and decoded.presence[0, 0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"\(1, 195\)"):
        bm.decode_landmarks(raw_landmarks=raw[:, :100], rois=[roi])


def test_batched_heatmap_refinement_is_the_per_point_rule():
    """All people and landmarks at once equal the rule applied point by point (written out here)."""
    rng = np.random.default_rng(4)
    heatmaps = rng.normal(-2.0, 3.0, size=(3, 64, 64, 5))
    points = rng.uniform(-0.1, 1.1, size=(3, 5, 2))
    points[0, 0] = [-0.005, 0.5]  # truncation toward zero: column 0, inside
    points[0, 1] = [0.01, 0.999]  # window clipped at the left and bottom edges

    def one_point(x, y, heatmap):
        col, row = int(x * 64), int(y * 64)
        if not (0 <= col < 64 and 0 <= row < 64):
            return x, y
        rows, cols = np.arange(max(0, row - 3), min(64, row + 4)), np.arange(max(0, col - 3), min(64, col + 4))
        confidence = 1.0 / (1.0 + np.exp(-heatmap[rows[:, None], cols[None, :]]))
        if confidence.max() < 0.5:
            return x, y
        return (confidence.sum(0) @ cols / confidence.sum() / 64, confidence.sum(1) @ rows / confidence.sum() / 64)

    expected = np.array([[one_point(*points[p, j], heatmaps[p, :, :, j]) for j in range(5)] for p in range(3)])
    refined = bm.refine_from_heatmaps(points, heatmaps)
    np.testing.assert_allclose(refined, expected, rtol=0, atol=1e-12)
    assert not np.allclose(refined, points)  # some points moved
