"""The optional mmpose/mmdet backend: a clear error without mmpose; a real run only where it is installed."""

import importlib.util

import numpy as np
import pytest

from scorehmr_ros.perception.backends.config import KeypointConfig
from scorehmr_ros.perception.backends.factory import build_keypoint_estimator
from scorehmr_ros.perception.backends.types import PerceptionError, PersonDetections

HAVE_MMPOSE = importlib.util.find_spec("mmpose") is not None


@pytest.mark.skipif(HAVE_MMPOSE, reason="mmpose is installed: the missing-package error cannot be shown")
def test_missing_mmpose_gives_an_install_hint(tmp_path):
    checkpoint = tmp_path / "rtmpose.pth"
    checkpoint.write_bytes(b"")
    config = KeypointConfig(backend="mmpose", model_path=str(checkpoint), config_path=str(tmp_path / "cfg.py"))
    with pytest.raises(PerceptionError, match=r"needs mmpose.*docs/perception.md"):
        build_keypoint_estimator(config)


def test_mmpose_needs_a_config_file():
    with pytest.raises(ValueError, match="config_path: backend mmpose needs a model config file"):
        KeypointConfig(backend="mmpose", model_path="x.pth").validate()


@pytest.mark.skipif(not HAVE_MMPOSE, reason="mmpose not installed (optional backend, see docs/perception.md)")
def test_rtmpose_config_with_random_weights_runs(tmp_path):
    import torch
    from mmengine.config import Config
    from mmpose.apis import init_model

    config_dir = importlib.util.find_spec("mmpose").submodule_search_locations[0] + "/.mim/configs"
    config_path = f"{config_dir}/body_2d_keypoint/rtmpose/coco/rtmpose-t_8xb256-420e_coco-256x192.py"
    config = Config.fromfile(config_path)
    config.model.backbone.init_cfg = None
    model = init_model(config, None, device="cpu")
    checkpoint = tmp_path / "random.pth"
    torch.save({"state_dict": model.state_dict(), "meta": {"dataset_meta": model.dataset_meta}}, checkpoint)
    estimator = build_keypoint_estimator(KeypointConfig(backend="mmpose", model_path=str(checkpoint),
                                                        config_path=config_path))
    image = np.zeros((240, 320, 3), np.uint8)
    boxes = PersonDetections(np.array([[10, 10, 120, 230], [150, 20, 300, 220]], np.float32),
                             np.array([0.9, 0.8], np.float32))
    result = estimator.estimate([image], [boxes])[0]
    assert result.keypoints_px.shape == (2, 17, 2) and result.layout == "coco17"
