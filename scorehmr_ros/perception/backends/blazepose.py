"""The embedded default: multi-person BlazePose from the model files bundled in the mediapipe wheel.

MediaPipe's own Pose solution tracks one person. Here its two models run through a TFLite
interpreter (ai-edge-litert) with our own pre/post-processing (``blazepose_math``), so every
person the detector finds gets landmarks:
  1. ``pose_detection.tflite`` on each letterboxed 224 x 224 view -> weighted NMS -> per person the
     hip centre and a scale point (the detector's "box" is the face; the person box we report is
     the square around the alignment circle).
  2. ``pose_landmark_full.tflite`` on a 256 x 256 rotated crop per person, all people of all views in
     one batch -> 33 landmarks (layout "mediapipe33"), confidence = visibility.
The landmarker also returns, per person, the crop for the next frame from its two auxiliary landmarks
(hip centre and full-body scale point, the same alignment points as the detector's), which is how MediaPipe
tracks a person without running the detector; ``PerceptionFront`` uses it. Not done: landmark smoothing.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from scorehmr_ros.assets.registry_models import RegistryModelError, installed_file
from scorehmr_ros.perception.backends import blazepose_math as bm
from scorehmr_ros.perception.backends.config import DetectorConfig, KeypointConfig
from scorehmr_ros.perception.backends.tflite_graph import prune_tflite_outputs
from scorehmr_ros.perception.backends.types import (
    PerceptionError,
    PersonDetections,
    PersonKeypoints,
    check_images,
)

LAYOUT = "mediapipe33"
NUM_BODY_LANDMARKS = 33
#: The auxiliary landmarks after the body ones: hip centre, then the full-body scale point (the ROI of the next frame).
AUX_CENTER, AUX_SCALE_POINT = 33, 34
#: Model files inside the installed mediapipe package.
BUNDLED_DETECTOR = "modules/pose_detection/pose_detection.tflite"
BUNDLED_LANDMARKER = "modules/pose_landmark/pose_landmark_full.tflite"
#: The other landmark model sizes, as requirements/models.lock installs them under the registry folder.
REGISTRY_LANDMARKERS = {"lite": "mediapipe_pose/pose_landmark_lite.tflite",
                        "heavy": "mediapipe_pose/pose_landmark_heavy.tflite"}
#: The landmark model's outputs we read (MediaPipe's names): landmarks (N, 195) = 39 x (x, y, z, visibility,
#: presence) in crop px, pose presence logit (N, 1), heatmap logits (N, 64, 64, 39). Not read, so pruned away:
#: Identity_2, the 256 x 256 segmentation, and Identity_4, the world landmarks.
LANDMARK_OUTPUTS = ("Identity", "Identity_1", "Identity_3")


def bundled_model_path(relative: str) -> Path:
    """Path of a model file shipped in the mediapipe wheel (mediapipe itself is not imported)."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise PerceptionError("the bundled BlazePose models come with the mediapipe wheel, which is not installed; "
                              "install it with `pip install --no-deps -r requirements/nodeps.txt` "
                              "or set model_path")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise PerceptionError(f"bundled model {relative} not found in the mediapipe package at {path.parent}")
    return path


def landmark_model_path(config: KeypointConfig) -> Path:
    """The landmark model file: ``model_path``, else the size ``landmark_model`` names (full: the wheel's)."""
    if config.model_path:
        return Path(config.model_path)
    if config.landmark_model == "full":
        return bundled_model_path(BUNDLED_LANDMARKER)
    try:
        return installed_file(REGISTRY_LANDMARKERS[config.landmark_model],
                              what=f"BlazePose landmark model {config.landmark_model!r}")
    except RegistryModelError as error:
        raise PerceptionError(str(error)) from error


def make_tflite_interpreter(model_path: Path, *, num_threads: int, model_content: bytes | None = None):
    """A TFLite interpreter for ``model_path``, or for ``model_content`` (the model's bytes) when given
    (ai-edge-litert, else tflite-runtime)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError as error:
            raise PerceptionError("no TFLite runtime: install ai-edge-litert (requirements/core.txt)") from error
    if model_content is not None:
        return Interpreter(model_content=model_content, num_threads=num_threads)
    return Interpreter(model_path=str(model_path), num_threads=num_threads)


class _TfliteModel:
    """One TFLite model with a float input; runs a batch, resizing the input when the batch changes.

    ``outputs``: the output names to compute (the model is pruned to them, :mod:`tflite_graph`); None: all.
    """

    def __init__(self, model_path: Path, *, num_threads: int, outputs: Sequence[str] | None = None) -> None:
        content = None
        if outputs is not None:
            try:
                content = prune_tflite_outputs(model_path.read_bytes(), outputs)
            except PerceptionError as error:
                raise PerceptionError(f"{model_path}: {error}") from error
        self._interpreter = make_tflite_interpreter(model_path, num_threads=num_threads, model_content=content)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        self._outputs = sorted(self._interpreter.get_output_details(), key=lambda d: d["name"])
        self.output_names = [d["name"] for d in self._outputs]
        self.input_shape = tuple(int(v) for v in self._input["shape"])
        self._batch = self.input_shape[0]

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """(N, H, W, 3) float32 -> outputs sorted by tensor name (``output_names``: Identity, Identity_1, ...)."""
        if batch.shape[0] != self._batch:
            self._interpreter.resize_tensor_input(self._input["index"], list(batch.shape))
            self._interpreter.allocate_tensors()
            self._batch = batch.shape[0]
        self._interpreter.set_tensor(self._input["index"], np.ascontiguousarray(batch, dtype=np.float32))
        self._interpreter.invoke()
        return [self._interpreter.get_tensor(d["index"]) for d in self._outputs]  # get_tensor returns a copy


def detector_input(image_bgr: np.ndarray) -> tuple[np.ndarray, bm.Letterbox]:
    """(224, 224, 3) float32 RGB in [-1, 1], letterboxed with black borders, and the letterbox."""
    height, width = image_bgr.shape[:2]
    box = bm.letterbox_for(width_px=width, height_px=height)
    size = bm.DETECTOR_INPUT_SIZE_PX
    rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
    warped = cv2.warpAffine(rgb, box.image_to_input_affine(), (size, size), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    return warped.astype(np.float32) / 127.5 - 1.0, box


def landmark_input(image_bgr: np.ndarray, roi: bm.RotatedRoi, out: np.ndarray | None = None) -> np.ndarray:
    """(256, 256, 3) float32 RGB in [0, 1]: the rotated square ROI, edge pixels replicated outside the image.
    The crop is cut from the BGR image and then turned to RGB: the same pixels as converting the whole image first
    (the interpolation is per channel), without converting a whole HD image per person. ``out``: a (256, 256, 3)
    float32 array to write into (a row of the batch), else a new one."""
    size = bm.LANDMARK_INPUT_SIZE_PX
    crop = cv2.warpAffine(image_bgr, roi.image_to_crop_affine(size), (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    rgb = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
    if out is None:
        out = np.empty(rgb.shape, dtype=np.float32)
    return np.divide(rgb, np.float32(255.0), out=out)  # in float32, as rgb.astype(np.float32) / 255.0


def alignment_box_xyxy_px(keypoints_px: np.ndarray) -> np.ndarray:
    """(4,) the square around the circle centred on the hip centre through the full-body scale point."""
    radius = float(np.hypot(*(keypoints_px[1] - keypoints_px[0])))
    return np.concatenate([keypoints_px[0] - radius, keypoints_px[0] + radius])


class BlazePoseDetector:
    """Multi-person BlazePose detector (``pose_detection.tflite``)."""

    def __init__(self, *, config: DetectorConfig) -> None:
        self.config = config.validate()
        path = Path(config.model_path) if config.model_path else bundled_model_path(BUNDLED_DETECTOR)
        self._model = _TfliteModel(path, num_threads=config.num_threads)
        if self._model.input_shape[1:] != (bm.DETECTOR_INPUT_SIZE_PX, bm.DETECTOR_INPUT_SIZE_PX, 3):
            raise PerceptionError(f"{path}: expected a 224 x 224 x 3 pose detector, input is {self._model.input_shape}")
        self._anchors = bm.ssd_anchor_centers()

    def detect(self, images_bgr: Sequence[np.ndarray]) -> list[PersonDetections]:
        """One PersonDetections per image; the detector runs one view at a time (its graph has batch 1)."""
        check_images(images_bgr)
        return [self._detect_one(image) for image in images_bgr]

    def _detect_one(self, image_bgr: np.ndarray) -> PersonDetections:
        tensor, box = detector_input(image_bgr)
        outputs = self._model.run(tensor[None])
        raw_boxes, raw_scores = (o[0] for o in sorted(outputs, key=lambda o: o.shape[-1], reverse=True))
        decoded = bm.decode_detections(raw_boxes=raw_boxes, raw_scores=raw_scores, anchor_centers=self._anchors)
        found = bm.weighted_nms(decoded, min_score=self.config.score_threshold,
                                iou_threshold=self.config.nms_iou_threshold)
        if found.scores.size == 0:
            return PersonDetections.empty()
        cap = slice(0, self.config.max_people)  # weighted_nms returns the best first
        keypoints = box.input_norm_to_image_px(found.keypoints_norm[cap])
        boxes = np.stack([alignment_box_xyxy_px(k) for k in keypoints])
        return PersonDetections(boxes.astype(np.float32), found.scores[cap].astype(np.float32),
                                keypoints.astype(np.float32), num_found=int(found.scores.size))


class BlazePoseLandmarker:
    """BlazePose landmarks (``pose_landmark_full.tflite``, or the lite / heavy size) for given people, all views in
    one batch.

    A person's crop comes from the detector's alignment keypoints when present (rotation-aware, as
    MediaPipe does), else from its box (upright square, long side x box_padding). The model runs pruned to
    ``LANDMARK_OUTPUTS`` (``prune_unused_outputs`` False: as shipped, e.g. for a benchmark's baseline).
    """

    layout = LAYOUT

    def __init__(self, *, config: KeypointConfig, prune_unused_outputs: bool = True) -> None:
        self.config = config.validate()
        path = landmark_model_path(self.config)
        self._model = _TfliteModel(path, num_threads=config.num_threads,
                                   outputs=LANDMARK_OUTPUTS if prune_unused_outputs else None)
        missing = sorted(set(LANDMARK_OUTPUTS) - set(self._model.output_names))
        if missing:
            raise PerceptionError(f"{path}: outputs {self._model.output_names}, expected {list(LANDMARK_OUTPUTS)}")
        if self._model.input_shape[1:] != (bm.LANDMARK_INPUT_SIZE_PX, bm.LANDMARK_INPUT_SIZE_PX, 3):
            raise PerceptionError(f"{path}: expected a 256 x 256 x 3 landmark model, "
                                  f"input is {self._model.input_shape}")

    def rois_for(self, detections: PersonDetections) -> list[bm.RotatedRoi]:
        """The crop of each detected person."""
        if detections.keypoints_px is not None and detections.keypoints_px.shape[1] >= 2:
            return [bm.roi_from_alignment_points(center_px=k[0], scale_point_px=k[1]) for k in detections.keypoints_px]
        return [bm.roi_from_box(b, scale=self.config.box_padding) for b in detections.boxes_xyxy_px]

    def estimate(self, images_bgr: Sequence[np.ndarray],
                 detections: Sequence[PersonDetections]) -> list[PersonKeypoints]:
        """One PersonKeypoints ("mediapipe33") per image; people whose pose presence is low are dropped."""
        check_images(images_bgr)
        if len(detections) != len(images_bgr):
            raise ValueError(f"got {len(images_bgr)} images but {len(detections)} detection sets")
        rois = [self.rois_for(d) for d in detections]
        to_crop = [(image, roi) for image, view_rois in zip(images_bgr, rois, strict=True) for roi in view_rois]
        if not to_crop:
            return [PersonKeypoints.empty(LAYOUT) for _ in images_bgr]
        size = bm.LANDMARK_INPUT_SIZE_PX
        crops = np.empty((len(to_crop), size, size, 3), dtype=np.float32)  # filled in place: no stacking copy
        for crop, (image, roi) in zip(crops, to_crop, strict=True):
            landmark_input(image, roi, out=crop)
        outputs = dict(zip(self._model.output_names, self._model.run(crops), strict=True))
        raw_landmarks, presence, heatmaps = (outputs[name] for name in LANDMARK_OUTPUTS)
        presence = presence.reshape(-1)
        flat_rois = [roi for view_rois in rois for roi in view_rois]
        landmarks = bm.decode_landmarks(raw_landmarks=raw_landmarks, rois=flat_rois, heatmap_logits=heatmaps)
        results, start = [], 0
        for view, dets in zip(rois, detections, strict=True):
            people = slice(start, start + len(view))
            start += len(view)
            results.append(self._view_result(landmarks, presence, people, dets))
        return results

    def _view_result(self, landmarks: bm.Landmarks, presence: np.ndarray, people: slice,
                     detections: PersonDetections) -> PersonKeypoints:
        keep = presence[people] >= self.config.presence_threshold
        points = landmarks.points_px[people][keep, :NUM_BODY_LANDMARKS]
        confidence = landmarks.visibility[people][keep, :NUM_BODY_LANDMARKS]
        scores = (detections.scores[keep] * presence[people][keep]).astype(np.float32)
        alignment = landmarks.points_px[people][keep][:, [AUX_CENTER, AUX_SCALE_POINT]].astype(np.float32)  # (P, 2, 2)
        next_boxes = np.stack([alignment_box_xyxy_px(k) for k in alignment]) if len(alignment) else np.zeros((0, 4))
        following = PersonDetections(next_boxes.astype(np.float32), presence[people][keep].astype(np.float32),
                                     alignment)
        return PersonKeypoints(LAYOUT, points.astype(np.float32), confidence.astype(np.float32),
                               detections.boxes_xyxy_px[keep].astype(np.float32), scores, next_detections=following)
