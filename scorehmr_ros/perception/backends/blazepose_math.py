"""BlazePose pre- and post-processing as pure numpy functions (no model runtime).

The numbers are the options of MediaPipe's pose graphs (mediapipe/modules/pose_detection/
pose_detection_cpu.pbtxt, pose_landmark/pose_detection_to_roi.pbtxt,
pose_landmark/tensors_to_pose_landmarks_and_segmentation.pbtxt, MediaPipe v0.10.14), and the
steps follow its calculators: SsdAnchors, TensorsToDetections, NonMaxSuppression (weighted),
DetectionLetterboxRemoval, AlignmentPointsRects + RectTransformation, ImageToTensor (rotated
crop), TensorsToLandmarks. Coordinates here are pixels unless the name says ``_norm``
(fractions of the letterboxed detector input).

Shape letters: A anchors (2254), P people, K detector keypoints (4), L landmarks (39).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# --- pose_detection_cpu.pbtxt ---
DETECTOR_INPUT_SIZE_PX = 224          # square input, letterboxed, RGB scaled to [-1, 1]
DETECTOR_NUM_ANCHORS = 2254           # 28*28*2 + 14*14*2 + 7*7*6
DETECTOR_STRIDES = (8, 16, 32, 32, 32)
DETECTOR_NUM_KEYPOINTS = 4            # hip centre, full-body scale point, shoulder centre, upper-body scale point
DETECTOR_SCORE_CLIP = 100.0           # logits clipped to +-100 before the sigmoid
DETECTOR_MIN_SCORE = 0.5
DETECTOR_NMS_IOU = 0.3
# --- pose_detection_to_roi.pbtxt ---
ROI_TARGET_ANGLE_RAD = np.pi / 2      # hip centre -> scale point points "up" in the crop
ROI_SCALE = 1.25                      # the square ROI is 1.25 x the alignment circle's diameter
# --- pose_landmark_by_roi_cpu.pbtxt ---
LANDMARK_INPUT_SIZE_PX = 256          # square crop, RGB scaled to [0, 1]
LANDMARK_NUM_LANDMARKS = 39           # 33 body landmarks + 2 auxiliary (ROI) + 4 unused
LANDMARK_VALUES_PER_LANDMARK = 5      # x_px, y_px, z, visibility logit, presence logit
POSE_PRESENCE_THRESHOLD = 0.5
# --- tensors_to_pose_landmarks_and_segmentation.pbtxt (RefineLandmarksFromHeatmapCalculator) ---
HEATMAP_KERNEL_SIZE = 7
HEATMAP_MIN_CONFIDENCE = 0.5


def ssd_anchor_centers(*, input_size_px: int = DETECTOR_INPUT_SIZE_PX,
                       strides: tuple[int, ...] = DETECTOR_STRIDES,
                       anchors_per_layer: int = 2) -> np.ndarray:
    """(A, 2) anchor centres (x, y) as fractions of the input, in the order of the model's outputs.

    MediaPipe's SsdAnchorsCalculator with fixed_anchor_size (every anchor is 1 x 1) and offset 0.5:
    consecutive layers of the same stride share one grid, with ``anchors_per_layer`` anchors per
    layer per cell (aspect ratio 1.0 plus the interpolated scale).
    """
    centers = []
    layer = 0
    while layer < len(strides):
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            last += 1
        cells = int(np.ceil(input_size_px / strides[layer]))
        per_cell = anchors_per_layer * (last - layer)
        y, x = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        grid = np.stack([(x + 0.5) / cells, (y + 0.5) / cells], axis=-1).reshape(-1, 1, 2)
        centers.append(np.repeat(grid, per_cell, axis=1).reshape(-1, 2))
        layer = last
    return np.concatenate(centers).astype(np.float64)


@dataclass(frozen=True)
class Letterbox:
    """How an image of (width_px, height_px) sits, scaled and centred, in a square model input.

    Attributes:
        scale: input px per image px.
        pad_px: (2,) left and top padding in input px.
        input_size_px: side of the square input.
    """

    scale: float
    pad_px: np.ndarray
    input_size_px: int

    def image_to_input_affine(self) -> np.ndarray:
        """(2, 3) affine taking image px to input px."""
        return np.array([[self.scale, 0.0, self.pad_px[0]], [0.0, self.scale, self.pad_px[1]]])

    def input_norm_to_image_px(self, points_norm: np.ndarray) -> np.ndarray:
        """(..., 2) points in fractions of the input -> (..., 2) image px (undoes the letterbox)."""
        return (np.asarray(points_norm) * self.input_size_px - self.pad_px) / self.scale


def letterbox_for(*, width_px: int, height_px: int, input_size_px: int = DETECTOR_INPUT_SIZE_PX) -> Letterbox:
    """The letterbox of ImageToTensor with keep_aspect_ratio: the long side fills the input."""
    scale = input_size_px / max(width_px, height_px)
    pad = 0.5 * (input_size_px - scale * np.array([width_px, height_px], dtype=np.float64))
    return Letterbox(scale=scale, pad_px=pad, input_size_px=input_size_px)


@dataclass(frozen=True)
class RawDetections:
    """Decoded detector outputs, before NMS, in fractions of the letterboxed input.

    Attributes:
        boxes_norm: (A, 4) xmin, ymin, xmax, ymax (the box around the face).
        keypoints_norm: (A, K, 2) x, y.
        scores: (A,) in [0, 1].
    """

    boxes_norm: np.ndarray
    keypoints_norm: np.ndarray
    scores: np.ndarray


def decode_detections(*, raw_boxes: np.ndarray, raw_scores: np.ndarray, anchor_centers: np.ndarray,
                      input_size_px: int = DETECTOR_INPUT_SIZE_PX) -> RawDetections:
    """TensorsToDetections (reverse_output_order, i.e. x-first) for raw (A, 12) and (A, 1) outputs.

    Each row is [dx, dy, w, h, k0x, k0y, ..., k3x, k3y] in input px relative to its anchor centre;
    anchors have unit size, so box centre = anchor + d / input_size and box size = w / input_size.
    """
    raw_boxes = np.asarray(raw_boxes, dtype=np.float64)
    count = anchor_centers.shape[0]
    if raw_boxes.shape != (count, 4 + 2 * DETECTOR_NUM_KEYPOINTS) or np.shape(raw_scores)[0] != count:
        raise ValueError(f"raw detector outputs must be ({count}, 12) and ({count}, 1), "
                         f"got {raw_boxes.shape} and {np.shape(raw_scores)}")
    centers = raw_boxes[:, 0:2] / input_size_px + anchor_centers
    sizes = raw_boxes[:, 2:4] / input_size_px
    boxes = np.concatenate([centers - 0.5 * sizes, centers + 0.5 * sizes], axis=1)
    keypoints = raw_boxes[:, 4:].reshape(count, DETECTOR_NUM_KEYPOINTS, 2) / input_size_px + anchor_centers[:, None]
    logits = np.clip(np.asarray(raw_scores, dtype=np.float64).reshape(count), -DETECTOR_SCORE_CLIP,
                     DETECTOR_SCORE_CLIP)
    return RawDetections(boxes_norm=boxes, keypoints_norm=keypoints, scores=1.0 / (1.0 + np.exp(-logits)))


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (4,) xyxy box with (N, 4) boxes -> (N,); 0 where the union is empty."""
    lo = np.maximum(box[:2], boxes[:, :2])
    hi = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=1)
    area = np.prod(np.clip(box[2:] - box[:2], 0.0, None))
    areas = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0.0, None), axis=1)
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def weighted_nms(detections: RawDetections, *, min_score: float = DETECTOR_MIN_SCORE,
                 iou_threshold: float = DETECTOR_NMS_IOU, max_detections: int = 0) -> RawDetections:
    """MediaPipe's weighted NMS: each kept detection is the score-weighted mean of its cluster.

    Detections below ``min_score`` are dropped first; the highest remaining one and every
    detection overlapping it by IoU > ``iou_threshold`` form a cluster, whose boxes and keypoints
    are averaged with the scores as weights (the score is the top one's). ``max_detections`` 0: all.
    """
    keep = np.flatnonzero(detections.scores >= min_score)
    order = keep[np.argsort(-detections.scores[keep], kind="stable")]
    boxes, keypoints, scores = [], [], []
    while order.size and (max_detections <= 0 or len(scores) < max_detections):
        top = order[0]
        members = box_iou(detections.boxes_norm[top], detections.boxes_norm[order]) > iou_threshold
        members[0] = True
        cluster = order[members]
        weights = detections.scores[cluster] / detections.scores[cluster].sum()
        boxes.append(weights @ detections.boxes_norm[cluster])
        keypoints.append(np.einsum("c,ckd->kd", weights, detections.keypoints_norm[cluster]))
        scores.append(detections.scores[top])
        order = order[~members]
    if not scores:
        return RawDetections(np.zeros((0, 4)), np.zeros((0, DETECTOR_NUM_KEYPOINTS, 2)), np.zeros(0))
    return RawDetections(np.stack(boxes), np.stack(keypoints), np.array(scores))


@dataclass(frozen=True)
class RotatedRoi:
    """A square, rotated region of an image (MediaPipe's NormalizedRect, in px).

    Attributes:
        center_px: (2,) x, y.
        size_px: side length.
        rotation_rad: angle of the crop's x axis from the image's x axis (clockwise on screen, y down).
    """

    center_px: np.ndarray
    size_px: float
    rotation_rad: float

    def rotation_matrix(self) -> np.ndarray:
        """(2, 2) crop axes expressed in image axes."""
        c, s = np.cos(self.rotation_rad), np.sin(self.rotation_rad)
        return np.array([[c, -s], [s, c]])

    def image_to_crop_affine(self, crop_size_px: int) -> np.ndarray:
        """(2, 3) affine: image px -> crop px, crop = S / size * R^T (p - c) + S / 2."""
        scale = crop_size_px / self.size_px
        linear = scale * self.rotation_matrix().T
        offset = 0.5 * crop_size_px - linear @ self.center_px
        return np.concatenate([linear, offset[:, None]], axis=1)

    def crop_to_image_px(self, points_crop_px: np.ndarray, crop_size_px: int) -> np.ndarray:
        """(..., 2) crop px -> (..., 2) image px, the inverse of :meth:`image_to_crop_affine`."""
        local = (np.asarray(points_crop_px, dtype=np.float64) - 0.5 * crop_size_px) * (self.size_px / crop_size_px)
        return local @ self.rotation_matrix().T + self.center_px

    def bounding_box_xyxy_px(self) -> np.ndarray:
        """(4,) axis-aligned box around the rotated square."""
        half = 0.5 * self.size_px
        corners = np.array([[-half, -half], [half, -half], [half, half], [-half, half]]) @ self.rotation_matrix().T
        corners = corners + self.center_px
        return np.concatenate([corners.min(axis=0), corners.max(axis=0)])


def normalize_radians(angle_rad: float) -> float:
    """Angle wrapped into [-pi, pi)."""
    return float(angle_rad - 2 * np.pi * np.floor((angle_rad + np.pi) / (2 * np.pi)))


def roi_from_alignment_points(*, center_px: np.ndarray, scale_point_px: np.ndarray,
                              target_angle_rad: float = ROI_TARGET_ANGLE_RAD, scale: float = ROI_SCALE) -> RotatedRoi:
    """AlignmentPointsRects + RectTransformation(scale 1.25, square_long).

    The circle around ``center_px`` through ``scale_point_px`` gives the size (its diameter, times
    ``scale``); the rotation brings the centre -> scale-point direction to ``target_angle_rad``
    (measured counter-clockwise on screen, so pi/2 is "up").
    """
    center = np.asarray(center_px, dtype=np.float64)
    delta = np.asarray(scale_point_px, dtype=np.float64) - center
    size = 2.0 * float(np.hypot(*delta)) * scale
    rotation = normalize_radians(target_angle_rad - np.arctan2(-delta[1], delta[0]))
    return RotatedRoi(center_px=center, size_px=size, rotation_rad=rotation)


def roi_from_box(box_xyxy_px: np.ndarray, *, scale: float = ROI_SCALE) -> RotatedRoi:
    """An upright square ROI around a person box: its long side times ``scale``.

    Used when the detector gives no alignment keypoints (any box detector).
    """
    box = np.asarray(box_xyxy_px, dtype=np.float64)
    size = float(max(box[2] - box[0], box[3] - box[1])) * scale
    return RotatedRoi(center_px=0.5 * (box[:2] + box[2:]), size_px=size, rotation_rad=0.0)


@dataclass(frozen=True)
class Landmarks:
    """Decoded landmark-model outputs for P people, in image px.

    Attributes:
        points_px: (P, L, 2) x, y.
        depth: (P, L) relative depth, in the model's crop px scale (not metric).
        visibility: (P, L) in [0, 1].
        presence: (P, L) in [0, 1].
    """

    points_px: np.ndarray
    depth: np.ndarray
    visibility: np.ndarray
    presence: np.ndarray


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, elementwise."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def refine_from_heatmaps(points_norm: np.ndarray, heatmap_logits: np.ndarray, *,
                         kernel_size: int = HEATMAP_KERNEL_SIZE,
                         min_confidence: float = HEATMAP_MIN_CONFIDENCE) -> np.ndarray:
    """RefineLandmarksFromHeatmap for P people at once: (P, L, 2) crop-normalised points, (P, h, w, L) logits ->
    (P, L, 2).

    Each point moves to the sigmoid-weighted mean cell of the kernel around it (cells outside the
    heatmap skipped) when the window's largest confidence reaches ``min_confidence``. As in
    MediaPipe, the mean cell index divided by the heatmap size is the new coordinate (no half-cell
    offset); points outside the heatmap stay. All windows are gathered in one indexing (cells outside the
    heatmap weigh 0, which is skipping them: every cell inside has a confidence > 0).
    """
    num, height, width, count = heatmap_logits.shape
    if points_norm.shape != (num, count, 2):
        raise ValueError(f"points_norm must be ({num}, {count}, 2) for {num} heatmaps with {count} layers, got "
                         f"{points_norm.shape}")
    refined = np.array(points_norm, dtype=np.float64)
    cols = np.trunc(refined[..., 0] * width).astype(np.int64)  # C++ float -> int truncates toward zero
    rows = np.trunc(refined[..., 1] * height).astype(np.int64)
    inside = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)  # (P, L)
    offsets = np.arange(kernel_size) - (kernel_size - 1) // 2
    window_rows, window_cols = rows[..., None] + offsets, cols[..., None] + offsets  # (P, L, k)
    row_ok = (window_rows >= 0) & (window_rows < height)
    col_ok = (window_cols >= 0) & (window_cols < width)
    person = np.arange(num)[:, None, None, None]
    layer = np.arange(count)[None, :, None, None]
    logits = heatmap_logits[person, np.clip(window_rows, 0, height - 1)[..., :, None],
                            np.clip(window_cols, 0, width - 1)[..., None, :], layer]  # (P, L, k, k)
    confidence = sigmoid(logits) * (row_ok[..., :, None] & col_ok[..., None, :])
    total = confidence.sum(axis=(-2, -1))
    move = inside & (confidence.max(axis=(-2, -1)) >= min_confidence) & (total > 0)
    safe_total = np.where(total > 0, total, 1.0)
    mean_col = (confidence.sum(axis=-2) * window_cols).sum(axis=-1) / safe_total
    mean_row = (confidence.sum(axis=-1) * window_rows).sum(axis=-1) / safe_total
    refined[move] = np.stack([mean_col / width, mean_row / height], axis=-1)[move]
    return refined


def decode_landmarks(*, raw_landmarks: np.ndarray, rois: list[RotatedRoi], heatmap_logits: np.ndarray | None = None,
                     crop_size_px: int = LANDMARK_INPUT_SIZE_PX) -> Landmarks:
    """TensorsToLandmarks (+ heatmap refinement) + inverse projection, one ROI per person.

    Args:
        raw_landmarks: (P, L*5) model output, x, y in crop px.
        rois: the P crops the model saw.
        heatmap_logits: (P, h, w, L) model heatmaps; None skips the refinement.
    """
    raw = np.asarray(raw_landmarks, dtype=np.float64)
    expected = LANDMARK_NUM_LANDMARKS * LANDMARK_VALUES_PER_LANDMARK
    if raw.ndim != 2 or raw.shape != (len(rois), expected):
        raise ValueError(f"raw landmarks must be ({len(rois)}, {expected}), got {raw.shape}")
    values = raw.reshape(len(rois), LANDMARK_NUM_LANDMARKS, LANDMARK_VALUES_PER_LANDMARK)
    points_norm = values[:, :, :2] / crop_size_px
    if heatmap_logits is not None:
        points_norm = refine_from_heatmaps(points_norm, np.asarray(heatmap_logits)) if rois else points_norm
    points = np.stack([roi.crop_to_image_px(p * crop_size_px, crop_size_px)
                       for roi, p in zip(rois, points_norm, strict=True)]) \
        if rois else np.zeros((0, LANDMARK_NUM_LANDMARKS, 2))
    sizes = np.array([roi.size_px for roi in rois]).reshape(-1, 1)
    return Landmarks(points_px=points, depth=values[:, :, 2] * sizes / crop_size_px,
                     visibility=sigmoid(values[:, :, 3]), presence=sigmoid(values[:, :, 4]))
