"""PareModel properties on a small configuration: batching, eval/inference mode, decoding, config checks."""

import numpy as np
import pytest
import torch

from scorehmr_ros.image_prior import PareConfig, PareFeatureStats, PareInputError, PareModel
from scorehmr_ros.image_prior.head import interleaved_rot6d_to_matrix
from scorehmr_ros.image_prior.synthetic_weights import randomize_weights

TINY = PareConfig(hrnet_width=4, num_deconv_filters=8, num_features_smpl=4)


@pytest.fixture(scope="module")
def model():
    model = PareModel(config=TINY)
    randomize_weights(model, seed=3)
    return model.eval()


@pytest.fixture(scope="module")
def images():
    return torch.from_numpy(np.random.default_rng(0).normal(size=(3, 3, 224, 224)).astype(np.float32))


def test_output_shapes(model, images):
    out = model.predict(images)
    assert out.pred_pose.shape == (3, 24, 3, 3)
    assert out.pred_betas.shape == (3, 10) and out.pred_cam.shape == (3, 3)
    assert out.pose_feats.shape == (3, 8, 24) and out.cam_shape_feats.shape == (3, 4, 24)
    assert out.cond_feats.shape == (3, 8 * 24) and not out.is_standardized
    assert out.pred_pose_6d.shape == (3, 24, 6)


def test_batched_equals_one_by_one(model, images):
    batched = model.predict(images)
    for index in range(images.shape[0]):
        single = model.predict(images[index : index + 1])
        torch.testing.assert_close(single.pose_feats[0], batched.pose_feats[index], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(single.pred_pose[0], batched.pred_pose[index], rtol=1e-4, atol=1e-5)


def test_rotations_are_proper(model, images):
    R = model.predict(images).pred_pose.double()
    torch.testing.assert_close(R @ R.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand_as(R),
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(R.shape[:-2], dtype=torch.float64), atol=1e-5, rtol=0)


def test_interleaved_decoding_reads_a_3x2_matrix():
    """PARE's order: the 6 numbers are rows of [a1 a2]; an exact rotation's first two columns decode to itself."""
    R = torch.linalg.qr(torch.randn(5, 3, 3, dtype=torch.float64)).Q
    R = R * torch.linalg.det(R)[:, None, None]  # proper rotations
    interleaved = R[:, :, :2].reshape(5, 6)
    torch.testing.assert_close(interleaved_rot6d_to_matrix(interleaved), R)


def test_standardised_conditioning(model, images):
    raw = model.predict(images).cond_feats
    size = raw.shape[1]
    mean, std = np.linspace(-1, 1, size, dtype=np.float32), np.linspace(0.5, 2, size, dtype=np.float32)
    standardized = PareModel(config=TINY)
    standardized.load_state_dict(model.state_dict())
    standardized.set_feature_stats(PareFeatureStats(mean, std, None, None, "test"))
    out = standardized.eval().predict(images)
    assert out.is_standardized
    torch.testing.assert_close(out.cond_feats, (raw - torch.from_numpy(mean)) / torch.from_numpy(std))
    assert "feat_mean" not in standardized.state_dict()


def test_predict_is_inference_mode_and_needs_eval(images):
    model = PareModel(config=TINY)
    with pytest.raises(RuntimeError, match="eval mode"):
        model.predict(images)
    out = model.eval().predict(images)
    assert out.pose_feats.is_inference()


def test_feature_stats_of_wrong_size_are_rejected(model):
    stats = PareFeatureStats(np.zeros(3072, np.float32), np.ones(3072, np.float32), None, None, "official")
    with pytest.raises(ValueError, match="3072 pose elements; this model's pose features have 192"):
        PareModel(config=TINY).set_feature_stats(stats)


@pytest.mark.parametrize("shape", [(2, 224, 224), (2, 1, 224, 224)])
def test_bad_images_are_rejected(model, shape):
    with pytest.raises(PareInputError, match="expected a float tensor"):
        model.predict(torch.zeros(shape))


@pytest.mark.parametrize(("field", "value"), [("hrnet_width", 0), ("num_deconv_layers", 9), ("num_features_smpl", 2.5)])
def test_config_validation_names_the_field(field, value):
    with pytest.raises(ValueError, match=f"PareConfig.{field} = {value}"):
        PareConfig(**{field: value}).validate()


def test_default_config_is_official():
    assert PareConfig().is_official and not TINY.is_official


@pytest.mark.requires_cuda
def test_cuda_matches_cpu(model, images):
    cpu = model.predict(images)
    stats_model = PareModel(config=TINY)
    stats_model.load_state_dict(model.state_dict())
    size = cpu.cond_feats.shape[1]
    stats_model.set_feature_stats(PareFeatureStats(np.zeros(size, np.float32), np.ones(size, np.float32), None, None,
                                                   "test"))
    gpu = stats_model.eval().to("cuda").predict(images.to("cuda"))
    assert gpu.cond_feats.device.type == "cuda"
    torch.testing.assert_close(gpu.pose_feats.cpu(), cpu.pose_feats, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(gpu.cond_feats.cpu(), cpu.cond_feats, rtol=1e-3, atol=1e-4)
