"""Optional OpenMMLab backends: mmdet person detectors and mmpose top-down keypoints (RTMDet, RTMPose,
ViTPose configs shipped inside the mmdet / mmpose wheels, checkpoints supplied by the user).

mmpose and mmdet are not project dependencies: installing them needs an mmcv build (about 17 min on
2 cores) and a torchvision build that matches torch (see docs/perception.md). Importing this module
costs nothing; building a backend imports them and fails with PerceptionError when they are missing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scorehmr_ros.body.layouts import get_layout
from scorehmr_ros.perception.backends.config import DetectorConfig, KeypointConfig
from scorehmr_ros.perception.backends.types import (
    PerceptionError,
    PersonDetections,
    PersonKeypoints,
    check_images,
)

INSTALL_HINT = "see docs/perception.md, section 'mmpose backend' (mmcv, mmdet, mmpose and torchvision)"


def _import(module: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as error:
        raise PerceptionError(f"the mmpose backend needs {module.split('.')[0]}, which is not importable "
                              f"({error}); {INSTALL_HINT}") from error


def _device(name: str) -> str:
    return "cuda:0" if name == "cuda" else "cpu"


class MMDetDetector:
    """Person boxes from an mmdet model (config + checkpoint), class 0 = person (COCO)."""

    def __init__(self, *, config: DetectorConfig) -> None:
        self.config = config.validate()
        apis = _import("mmdet.apis")
        self._inference = apis.inference_detector
        self._model = apis.init_detector(config.config_path, config.model_path, device=_device(config.device))

    def detect(self, images_bgr: Sequence[np.ndarray]) -> list[PersonDetections]:
        """One PersonDetections per image (mmdet batches a list of images itself)."""
        check_images(images_bgr)
        if not images_bgr:
            return []
        results = self._inference(self._model, list(images_bgr))
        return [self._to_detections(r.pred_instances) for r in results]

    def _to_detections(self, instances) -> PersonDetections:
        boxes = instances.bboxes.cpu().numpy().astype(np.float32)
        scores = instances.scores.cpu().numpy().astype(np.float32)
        labels = instances.labels.cpu().numpy()
        keep = np.flatnonzero((labels == 0) & (scores > self.config.score_threshold))
        found = keep[np.argsort(-scores[keep], kind="stable")]
        keep = found[:self.config.max_people]
        return PersonDetections(boxes[keep], scores[keep], num_found=int(found.size))


class MMPoseEstimator:
    """Top-down keypoints from an mmpose model (config + checkpoint) in ``config.layout``."""

    def __init__(self, *, config: KeypointConfig) -> None:
        self.config = config.validate()
        self.layout = config.layout
        apis = _import("mmpose.apis")
        self._inference = apis.inference_topdown
        self._model = apis.init_model(config.config_path, config.model_path, device=_device(config.device))
        joints = self._model.dataset_meta.get("num_keypoints") if self._model.dataset_meta else None
        if joints is not None and joints != get_layout(self.layout).num_joints:
            raise PerceptionError(f"model has {joints} keypoints, layout {self.layout} has "
                                  f"{get_layout(self.layout).num_joints}")

    def estimate(self, images_bgr: Sequence[np.ndarray],
                 detections: Sequence[PersonDetections]) -> list[PersonKeypoints]:
        """One PersonKeypoints per image (one mmpose call per view, all its people batched)."""
        check_images(images_bgr)
        if len(detections) != len(images_bgr):
            raise ValueError(f"got {len(images_bgr)} images but {len(detections)} detection sets")
        return [self._estimate_one(image, dets) for image, dets in zip(images_bgr, detections, strict=True)]

    def _estimate_one(self, image_bgr: np.ndarray, detections: PersonDetections) -> PersonKeypoints:
        if detections.num_people == 0:
            return PersonKeypoints.empty(self.layout)
        samples = self._inference(self._model, image_bgr, bboxes=detections.boxes_xyxy_px, bbox_format="xyxy")
        points = np.concatenate([s.pred_instances.keypoints for s in samples]).astype(np.float32)
        confidence = np.concatenate([s.pred_instances.keypoint_scores for s in samples]).astype(np.float32)
        return PersonKeypoints(self.layout, points, np.clip(confidence, 0.0, 1.0), detections.boxes_xyxy_px,
                               detections.scores)
