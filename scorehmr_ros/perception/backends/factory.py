"""Backends from their settings: the one place that knows which class implements which ``backend`` name.

Kept apart from the settings (``config.py``) so that the backends may import their settings types without a
cycle; each runtime is imported only when its backend is built.
"""

from __future__ import annotations

from pathlib import Path

from scorehmr_ros.perception.backends.config import DetectorConfig, KeypointConfig
from scorehmr_ros.perception.backends.types import KeypointEstimator, PersonDetector


def _existing(path: str, what: str) -> Path:
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"{what} not found: {file}")
    return file


def build_detector(config: DetectorConfig) -> PersonDetector:
    """The person detector ``config`` describes (validated first)."""
    config.validate()
    if config.backend == "blazepose":
        from scorehmr_ros.perception.backends.blazepose import BlazePoseDetector
        return BlazePoseDetector(config=config)
    if config.backend in ("yolox_onnx", "rtmdet_onnx"):
        from scorehmr_ros.perception.backends.onnx_models import OnnxBoxDetector
        return OnnxBoxDetector(config=config, model_path=_existing(config.model_path, "detector model"))
    from scorehmr_ros.perception.backends.mmpose_backend import MMDetDetector
    return MMDetDetector(config=config)


def build_keypoint_estimator(config: KeypointConfig) -> KeypointEstimator:
    """The keypoint estimator ``config`` describes (validated first)."""
    config.validate()
    if config.backend == "blazepose":
        from scorehmr_ros.perception.backends.blazepose import BlazePoseLandmarker
        return BlazePoseLandmarker(config=config)
    if config.backend == "rtmpose_onnx":
        from scorehmr_ros.perception.backends.onnx_models import RTMPoseEstimator
        return RTMPoseEstimator(config=config, model_path=_existing(config.model_path, "keypoint model"))
    from scorehmr_ros.perception.backends.mmpose_backend import MMPoseEstimator
    return MMPoseEstimator(config=config)
