"""PARE against the official implementation (fixture from tools/make_pare_golden.py; see test/fixtures/golden)."""

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from scorehmr_ros.geometry.rotations import rot6d_to_matrix
from scorehmr_ros.image_prior import PareFeatureStats, PareModel, make_pare_crops
from scorehmr_ros.image_prior.preprocess import crop_bgr
from scorehmr_ros.image_prior.synthetic_weights import randomize_weights, state_dict_checksum

FIXTURE = Path(__file__).parent / "fixtures" / "golden" / "pare_official.npz"


def _relative_error(ours: torch.Tensor, official: np.ndarray) -> float:
    ours = ours.detach().cpu().numpy().astype(np.float64)
    return float(np.linalg.norm(ours - official) / np.linalg.norm(official))


@pytest.fixture(scope="module")
def golden():
    with np.load(FIXTURE) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def model_and_checksum(golden):
    model = PareModel()
    checksum = randomize_weights(model, seed=int(golden["seed"]))
    model.set_feature_stats(PareFeatureStats(golden["feat_mean"], golden["feat_std"], None, None, "fixture"))
    return model.eval(), checksum


@pytest.fixture(scope="module")
def output(model_and_checksum, golden):
    model, _ = model_and_checksum
    return model.predict(torch.from_numpy(golden["crop_normalized"]))


def test_state_dict_matches_official_keys_and_shapes(model_and_checksum, golden):
    state = model_and_checksum[0].state_dict()
    assert len(state) == 1905
    groups = Counter(key.split(".")[0] for key in state)
    assert groups == {"backbone": 1868, "head": 37}
    assert sorted(state) == golden["state_dict_keys"].tolist()
    shapes = [str(tuple(state[key].shape)) for key in golden["state_dict_keys"]]
    assert shapes == golden["state_dict_shapes"].tolist()


def test_generated_weights_match_the_fixture_checksum(model_and_checksum, golden):
    model, checksum = model_and_checksum
    assert checksum == str(golden["weights_checksum"])
    assert state_dict_checksum(model.state_dict()) == checksum


def test_crops_equal_the_official_crop(golden):
    for index in range(2):
        crops = make_pare_crops(golden[f"image_{index}"], golden[f"boxes_xyxy_{index}"])
        np.testing.assert_array_equal(crops.box_center_px[0], golden["box_center"][index])
        assert crops.box_size_px[0] == golden["box_size"][index]
        np.testing.assert_allclose(crops.images[0].numpy(), golden["crop_normalized"][index], rtol=0, atol=1e-6)
        crop_u8 = crop_bgr(golden[f"image_{index}"], center_px=crops.box_center_px[0], size_px=crops.box_size_px[0])
        np.testing.assert_array_equal(crop_u8, golden["crop_bgr_u8"][index])  # exact, bilinear + zero border


def test_pose_feats_and_conditioning_match_official(output, golden):
    assert output.pose_feats.shape == (2, 128, 24)
    assert _relative_error(output.pose_feats, golden["pose_feats"]) <= 1e-4
    assert _relative_error(output.cam_shape_feats, golden["cam_shape_feats"]) <= 1e-4
    assert output.is_standardized
    assert _relative_error(output.cond_feats, golden["cond_feats"]) <= 1e-4


def test_regression_matches_official(output, golden):
    assert _relative_error(output.pred_pose_6d, golden["pred_pose_6d"]) <= 1e-4
    assert _relative_error(output.pred_betas, golden["pred_shape"]) <= 1e-4
    assert _relative_error(output.pred_cam, golden["pred_cam"]) <= 1e-4
    # Our pred_pose decodes as PARE does (interleaved); the ScoreHMR copy decodes the same 6D in column order.
    assert _relative_error(output.pred_pose, golden["pred_pose_pare_order"]) <= 1e-4
    assert _relative_error(rot6d_to_matrix(output.pred_pose_6d), golden["pred_pose_scorehmr_copy"]) <= 1e-4
    assert _relative_error(output.pred_pose, golden["pred_pose_scorehmr_copy"]) > 1e-2


def test_pipeline_from_image_to_features(model_and_checksum, golden):
    """Our crop feeding our model reproduces the official features end to end."""
    model, _ = model_and_checksum
    images = torch.cat([make_pare_crops(golden[f"image_{i}"], golden[f"boxes_xyxy_{i}"]).images for i in range(2)])
    assert _relative_error(model.predict(images).pose_feats, golden["pose_feats"]) <= 1e-4
