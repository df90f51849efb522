"""Backend configuration (frozen dataclasses) and the factory that builds backends from it.

Every default lives here once; nodes and the CLI declare their parameters from these fields.
Heavy runtimes (TFLite, ONNX Runtime, mmpose) are imported only when a backend is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scorehmr_ros.base.config_fields import check_settings, setting
from scorehmr_ros.body.layouts import LAYOUTS

DETECTOR_BACKENDS = ("blazepose", "yolox_onnx", "rtmdet_onnx", "mmdet")
KEYPOINT_BACKENDS = ("blazepose", "rtmpose_onnx", "mmpose")
#: Backends that ship their model with an installed package: an empty model_path means "bundled".
_BUNDLED = ("blazepose",)
#: BlazePose landmark model sizes (one input and output layout): full comes with the mediapipe wheel, lite and heavy
#: are installed by setup from requirements/models.lock (docs/perception.md, "Landmark model sizes").
BLAZEPOSE_LANDMARK_MODELS = ("full", "lite", "heavy")


def _check_files(backend: str, model_path: str, config_path: str) -> None:
    if backend in ("mmdet", "mmpose") and not config_path:
        raise ValueError(f"config_path: backend {backend} needs a model config file (.py), got ''")
    if not model_path and backend not in _BUNDLED:
        raise ValueError(f"model_path: backend {backend} has no bundled model; give a model file")


@dataclass(frozen=True)
class DetectorConfig:
    """Person detector settings."""

    backend: str = setting("blazepose", "person detector backend", choices=DETECTOR_BACKENDS)
    model_path: str = setting("", "model file (.tflite/.onnx/.pth); empty: the bundled model (blazepose only)")
    config_path: str = setting("", "model config file (mmdet only)")
    input_width_px: int = setting(640, "model input width (ONNX detectors; BlazePose is fixed at 224)",
                                  unit="px", minimum=32, maximum=4096)
    input_height_px: int = setting(640, "model input height (ONNX detectors)", unit="px", minimum=32, maximum=4096)
    score_threshold: float = setting(0.5, "minimum person score", minimum=0.0, maximum=1.0)
    nms_iou_threshold: float = setting(0.3, "boxes overlapping more than this IoU are merged or suppressed",
                                       minimum=0.0, maximum=1.0)
    max_people: int = setting(5, "at most this many people per image (highest scores)", minimum=1, maximum=100)
    num_threads: int = setting(2, "CPU threads of the runtime", minimum=1, maximum=256)
    device: str = setting("cpu", "device of the runtime: cpu or cuda", choices=("cpu", "cuda"))

    def validate(self) -> DetectorConfig:
        """Raise ValueError naming the bad field; returns self."""
        check_settings(self)
        _check_files(self.backend, self.model_path, self.config_path)
        return self


@dataclass(frozen=True)
class KeypointConfig:
    """Keypoint estimator settings."""

    backend: str = setting("blazepose", "keypoint estimator backend", choices=KEYPOINT_BACKENDS)
    model_path: str = setting("", "model file (.tflite/.onnx/.pth); empty: the bundled model (blazepose only)")
    landmark_model: str = setting("full", "BlazePose landmark model size when model_path is empty: full, lite "
                                  "(about 2/3 of full's time per person, less accurate) or heavy (about 5x the "
                                  "time, more accurate)", choices=BLAZEPOSE_LANDMARK_MODELS)
    config_path: str = setting("", "model config file (mmpose only)")
    layout: str = setting("coco17", "keypoint layout the model outputs (ONNX/mmpose; blazepose: always mediapipe33)",
                          choices=tuple(LAYOUTS))
    input_width_px: int = setting(192, "model input width (RTMPose)", unit="px", minimum=16, maximum=2048)
    input_height_px: int = setting(256, "model input height (RTMPose)", unit="px", minimum=16, maximum=2048)
    simcc_split_ratio: float = setting(2.0, "SimCC bins per input px (RTMPose)", minimum=0.1, maximum=16.0)
    box_padding: float = setting(1.25, "person box enlarged by this factor before cropping", minimum=1.0,
                                 maximum=3.0)
    presence_threshold: float = setting(0.5, "people whose pose-presence score is lower are dropped (BlazePose)",
                                        minimum=0.0, maximum=1.0)
    color_order: str = setting("rgb", "channel order the model expects (RTMPose: rgb as in mmpose configs; "
                                      "rtmlib feeds bgr)", choices=("rgb", "bgr"))
    num_threads: int = setting(2, "CPU threads of the runtime", minimum=1, maximum=256)
    device: str = setting("cpu", "device of the runtime: cpu or cuda", choices=("cpu", "cuda"))

    @property
    def description(self) -> str:
        """What runs, for logs: "blazepose (landmark model lite)", "rtmpose_onnx (rtmpose-m.onnx)"."""
        if self.model_path:
            return f"{self.backend} ({Path(self.model_path).name})"
        return f"{self.backend} (landmark model {self.landmark_model})" if self.backend == "blazepose" else self.backend

    def validate(self) -> KeypointConfig:
        """Raise ValueError naming the bad field; returns self."""
        check_settings(self)
        _check_files(self.backend, self.model_path, self.config_path)
        if self.landmark_model != "full" and (self.backend != "blazepose" or self.model_path):
            raise ValueError(f"landmark_model: {self.landmark_model!r} picks a BlazePose model of the registry; "
                             f"it needs backend blazepose and an empty model_path (got backend {self.backend!r}, "
                             f"model_path {self.model_path!r})")
        return self
