"""ONNX Runtime backends: YOLOX / RTMDet person detectors and RTMPose (SimCC) keypoints.

Pre- and post-processing follow rtmlib 0.0.16 (the ONNX exports of mmdeploy / DWPose):
  detectors  image resized by r = min(H_in / h, W_in / w) into the top-left corner of an
             (H_in, W_in) canvas filled with 114; YOLOX takes raw BGR 0..255, RTMDet BGR minus mean
             (103.53, 116.28, 123.675) over std (57.375, 57.12, 58.395). Output either raw grid
             predictions (1, A, 5 + C) [dx, dy, log w, log h, objectness, class scores...] over strides
             8/16/32, decoded here and suppressed by NMS, or (1, N, 5) boxes + scores with NMS inside the
             model (optionally with a (1, N) labels output). Boxes are divided by r.
  RTMPose    person box (x1, y1, x2, y2) -> centre, size x 1.25, widened or heightened to the input
             aspect; affine crop to (H_in, W_in); minus mean (123.675, 116.28, 103.53) over std
             (58.395, 57.12, 57.375). SimCC outputs simcc_x (N, J, W_in * k), simcc_y (N, J, H_in * k)
             with k = 2: argmax / k is the input px, confidence the mean of the two maxima.
Difference from rtmlib: rtmlib feeds RTMPose the BGR image with the RGB mean; mmpose's configs convert
to RGB first, which is our default (``KeypointConfig.color_order``). IoU uses continuous coordinates
(rtmlib adds 1 px to widths).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from scorehmr_ros.base.onnx_runtime import session_options
from scorehmr_ros.body.layouts import get_layout
from scorehmr_ros.perception.backends.blazepose_math import box_iou
from scorehmr_ros.perception.backends.config import DetectorConfig, KeypointConfig
from scorehmr_ros.perception.backends.types import (
    PerceptionError,
    PersonDetections,
    PersonKeypoints,
    check_images,
)

DETECTOR_PAD_VALUE = 114
YOLOX_STRIDES = (8, 16, 32)
RTMDET_MEAN_BGR = (103.53, 116.28, 123.675)
RTMDET_STD_BGR = (57.375, 57.12, 58.395)
RTMPOSE_MEAN_RGB = (123.675, 116.28, 103.53)
RTMPOSE_STD_RGB = (58.395, 57.12, 57.375)
PERSON_CLASS = 0


def make_session(model_path: Path, *, num_threads: int, device: str):
    """An onnxruntime InferenceSession (CUDA first when ``device`` is cuda and available)."""
    try:
        import onnxruntime as ort
    except ImportError as error:
        raise PerceptionError("onnxruntime is not installed (requirements/core.txt)") from error
    options = session_options(intra_op_threads=num_threads)
    providers = ["CPUExecutionProvider"]
    if device == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise PerceptionError("device cuda asked for, but this onnxruntime has no CUDAExecutionProvider")
        providers.insert(0, "CUDAExecutionProvider")
    return ort.InferenceSession(str(model_path), sess_options=options, providers=providers)


@dataclass(frozen=True)
class ResizePad:
    """Image scaled by ``ratio`` into the top-left corner of the model input."""

    ratio: float


def resize_pad(image: np.ndarray, *, input_width_px: int, input_height_px: int) -> tuple[np.ndarray, ResizePad]:
    """(H_in, W_in, 3) uint8 canvas of 114 with the resized image at the top left, and the ratio."""
    height, width = image.shape[:2]
    ratio = min(input_height_px / height, input_width_px / width)
    canvas = np.full((input_height_px, input_width_px, 3), DETECTOR_PAD_VALUE, np.uint8)
    new_w, new_h = int(width * ratio), int(height * ratio)
    canvas[:new_h, :new_w] = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    return canvas, ResizePad(ratio=ratio)


def grid_priors(*, input_width_px: int, input_height_px: int,
                strides: tuple[int, ...] = YOLOX_STRIDES) -> tuple[np.ndarray, np.ndarray]:
    """(A, 2) cell indices (x, y) and (A, 1) strides of the YOLOX/RTMDet heads, stride by stride, row-major."""
    cells, scales = [], []
    for stride in strides:
        xs, ys = np.meshgrid(np.arange(input_width_px // stride), np.arange(input_height_px // stride))
        cells.append(np.stack([xs, ys], axis=-1).reshape(-1, 2))
        scales.append(np.full((cells[-1].shape[0], 1), stride))
    return np.concatenate(cells).astype(np.float64), np.concatenate(scales).astype(np.float64)


def decode_grid_predictions(raw: np.ndarray, *, input_width_px: int, input_height_px: int) -> tuple[np.ndarray,
                                                                                                   np.ndarray]:
    """(A, 5 + C) raw head outputs -> (A, 4) xyxy boxes in input px and (A,) person scores (obj x class 0)."""
    cells, strides = grid_priors(input_width_px=input_width_px, input_height_px=input_height_px)
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim != 2 or raw.shape[0] != cells.shape[0] or raw.shape[1] < 6:
        raise PerceptionError(f"raw detector output must be ({cells.shape[0]}, 5 + classes) for a "
                              f"{input_width_px} x {input_height_px} input, got {raw.shape}")
    centres = (raw[:, :2] + cells) * strides
    sizes = np.exp(raw[:, 2:4]) * strides
    boxes = np.concatenate([centres - 0.5 * sizes, centres + 0.5 * sizes], axis=1)
    return boxes, raw[:, 4] * raw[:, 5 + PERSON_CLASS]


def nms(boxes: np.ndarray, scores: np.ndarray, *, iou_threshold: float) -> np.ndarray:
    """Indices kept by greedy NMS, highest score first."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        keep.append(order[0])
        order = order[1:][box_iou(boxes[order[0]], boxes[order[1:]]) <= iou_threshold]
    return np.array(keep, dtype=np.int64)


class OnnxBoxDetector:
    """YOLOX or RTMDet person detector from an ONNX file (rtmlib / mmdeploy export)."""

    def __init__(self, *, config: DetectorConfig, model_path: Path) -> None:
        self.config = config.validate()
        self._session = make_session(model_path, num_threads=config.num_threads, device=config.device)
        self._input_name = self._session.get_inputs()[0].name
        self._output_names = [o.name for o in self._session.get_outputs()]

    def detect(self, images_bgr: Sequence[np.ndarray]) -> list[PersonDetections]:
        """One PersonDetections per image (the exports have batch 1: one run per view)."""
        check_images(images_bgr)
        return [self._detect_one(image) for image in images_bgr]

    def input_tensor(self, image_bgr: np.ndarray) -> tuple[np.ndarray, ResizePad]:
        """(1, 3, H_in, W_in) float32 model input and the resize."""
        canvas, resize = resize_pad(image_bgr, input_width_px=self.config.input_width_px,
                                    input_height_px=self.config.input_height_px)
        tensor = canvas.astype(np.float32)
        if self.config.backend == "rtmdet_onnx":
            tensor = (tensor - np.array(RTMDET_MEAN_BGR, np.float32)) / np.array(RTMDET_STD_BGR, np.float32)
        return tensor.transpose(2, 0, 1)[None], resize

    def _detect_one(self, image_bgr: np.ndarray) -> PersonDetections:
        tensor, resize = self.input_tensor(image_bgr)
        outputs = dict(zip(self._output_names, self._session.run(None, {self._input_name: tensor}), strict=True))
        first = outputs[self._output_names[0]][0]
        if first.ndim == 2 and first.shape[1] > 5:
            boxes, scores = decode_grid_predictions(first, input_width_px=self.config.input_width_px,
                                                    input_height_px=self.config.input_height_px)
            candidates = np.flatnonzero(scores > self.config.score_threshold)
            kept = candidates[nms(boxes[candidates], scores[candidates], iou_threshold=self.config.nms_iou_threshold)]
        elif first.ndim == 2 and first.shape[1] == 5:
            boxes, scores = first[:, :4].astype(np.float64), first[:, 4].astype(np.float64)
            person = np.ones(scores.shape, bool)
            if len(self._output_names) > 1:
                person = outputs[self._output_names[1]][0].reshape(-1) == PERSON_CLASS
            kept = np.flatnonzero((scores > self.config.score_threshold) & person)
            kept = kept[np.argsort(-scores[kept], kind="stable")]
        else:
            raise PerceptionError(f"unexpected detector output shape {outputs[self._output_names[0]].shape}: "
                                  "expected (1, A, 5 + classes) or (1, N, 5)")
        num_found = int(kept.size)
        kept = kept[:self.config.max_people]
        height, width = image_bgr.shape[:2]
        boxes_px = np.clip(boxes[kept] / resize.ratio, 0.0, [width, height, width, height])
        return PersonDetections(boxes_px.astype(np.float32), scores[kept].astype(np.float32), num_found=num_found)


def box_center_scale(box_xyxy_px: np.ndarray, *, padding: float, aspect_w_over_h: float) -> tuple[np.ndarray,
                                                                                                 np.ndarray]:
    """(2,) centre and (2,) size (w, h) of the crop: box x padding, grown to the input aspect."""
    box = np.asarray(box_xyxy_px, dtype=np.float64)
    center = 0.5 * (box[:2] + box[2:])
    width, height = (box[2:] - box[:2]) * padding
    if width > height * aspect_w_over_h:
        return center, np.array([width, width / aspect_w_over_h])
    return center, np.array([height * aspect_w_over_h, height])


def crop_affine(center_px: np.ndarray, scale_px: np.ndarray, *, input_width_px: int) -> np.ndarray:
    """(2, 3) affine image px -> input px: the crop of size ``scale_px`` around ``center_px`` fills the input."""
    s = input_width_px / scale_px[0]
    return np.array([[s, 0.0, 0.5 * input_width_px - s * center_px[0]],
                     [0.0, s, 0.5 * input_width_px * scale_px[1] / scale_px[0] - s * center_px[1]]])


def decode_simcc(simcc_x: np.ndarray, simcc_y: np.ndarray, *, split_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """(N, J, Wx), (N, J, Wy) logits -> (N, J, 2) input px and (N, J) confidence (mean of the two maxima).

    Joints whose confidence is <= 0 get location -1, as in rtmlib.
    """
    if simcc_x.ndim != 3 or simcc_y.shape[:2] != simcc_x.shape[:2]:
        raise PerceptionError(f"SimCC outputs must be (N, J, Wx) and (N, J, Wy), got {simcc_x.shape}, {simcc_y.shape}")
    locs = np.stack([simcc_x.argmax(axis=-1), simcc_y.argmax(axis=-1)], axis=-1).astype(np.float64)
    confidence = 0.5 * (simcc_x.max(axis=-1) + simcc_y.max(axis=-1)).astype(np.float64)
    locs[confidence <= 0] = -1.0
    return locs / split_ratio, confidence


class RTMPoseEstimator:
    """RTMPose (SimCC) keypoints from an ONNX file; every person of every view in one run when the
    export has a dynamic batch, else one run per person."""

    def __init__(self, *, config: KeypointConfig, model_path: Path) -> None:
        self.config = config.validate()
        self.layout = config.layout
        self._session = make_session(model_path, num_threads=config.num_threads, device=config.device)
        model_input = self._session.get_inputs()[0]
        self._input_name = model_input.name
        self._dynamic_batch = not isinstance(model_input.shape[0], int)

    def crops(self, image_bgr: np.ndarray, boxes_xyxy_px: np.ndarray) -> tuple[np.ndarray, list[tuple]]:
        """(P, 3, H_in, W_in) float32 normalized crops and the (centre, scale) of each."""
        width, height = self.config.input_width_px, self.config.input_height_px
        image = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB) if self.config.color_order == "rgb" else image_bgr
        mean = np.array(RTMPOSE_MEAN_RGB, np.float32)
        std = np.array(RTMPOSE_STD_RGB, np.float32)
        tensors, frames = [], []
        for box in boxes_xyxy_px:
            center, scale = box_center_scale(box, padding=self.config.box_padding, aspect_w_over_h=width / height)
            crop = cv2.warpAffine(image, crop_affine(center, scale, input_width_px=width), (width, height),
                                  flags=cv2.INTER_LINEAR)
            tensors.append(((crop.astype(np.float32) - mean) / std).transpose(2, 0, 1))
            frames.append((center, scale))
        return np.stack(tensors) if tensors else np.zeros((0, 3, height, width), np.float32), frames

    def estimate(self, images_bgr: Sequence[np.ndarray],
                 detections: Sequence[PersonDetections]) -> list[PersonKeypoints]:
        """One PersonKeypoints per image in ``config.layout``; confidence is the SimCC score clipped to [0, 1]."""
        check_images(images_bgr)
        if len(detections) != len(images_bgr):
            raise ValueError(f"got {len(images_bgr)} images but {len(detections)} detection sets")
        per_view = [self.crops(image, d.boxes_xyxy_px) for image, d in zip(images_bgr, detections, strict=True)]
        batch = np.concatenate([t for t, _ in per_view])
        joints = get_layout(self.layout).num_joints
        if batch.shape[0] == 0:
            return [PersonKeypoints.empty(self.layout) for _ in images_bgr]
        simcc_x, simcc_y = self._run(batch)
        if simcc_x.shape[1] != joints:
            raise PerceptionError(f"model outputs {simcc_x.shape[1]} joints, layout {self.layout} has {joints}")
        locs, confidence = decode_simcc(simcc_x, simcc_y, split_ratio=self.config.simcc_split_ratio)
        results, start = [], 0
        for (_, frames), dets in zip(per_view, detections, strict=True):
            people = slice(start, start + len(frames))
            start += len(frames)
            results.append(self._to_image(locs[people], confidence[people], frames, dets))
        return results

    def _run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._dynamic_batch:
            simcc_x, simcc_y = self._session.run(None, {self._input_name: batch})[:2]
            return simcc_x, simcc_y
        runs = [self._session.run(None, {self._input_name: crop[None]})[:2] for crop in batch]
        return np.concatenate([r[0] for r in runs]), np.concatenate([r[1] for r in runs])

    def _to_image(self, locs: np.ndarray, confidence: np.ndarray, frames: list[tuple],
                  detections: PersonDetections) -> PersonKeypoints:
        input_size = np.array([self.config.input_width_px, self.config.input_height_px], np.float64)
        points = np.stack([loc / input_size * scale + center - 0.5 * scale
                           for loc, (center, scale) in zip(locs, frames, strict=True)])
        seen = confidence > 0
        points = np.where(seen[..., None], points, 0.0)
        return PersonKeypoints(self.layout, points.astype(np.float32),
                               np.clip(confidence, 0.0, 1.0).astype(np.float32),
                               detections.boxes_xyxy_px.astype(np.float32), detections.scores.astype(np.float32))
