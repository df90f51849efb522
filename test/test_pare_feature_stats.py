"""pare_feat_stats.npz: float32 flattening c * 24 + j, float64 cast with a log line, bad files named."""

import logging

import numpy as np
import pytest
import torch

from scorehmr_ros.image_prior import PareFeatureStatsError, load_pare_feature_stats
from scorehmr_ros.image_prior.feature_stats import flatten_pose_feats, standardize


def _write(path, **arrays):
    rng = np.random.default_rng(0)
    content = {
        "pose_feats_mean": rng.normal(size=3072).astype(np.float32),
        "pose_feats_std": rng.uniform(0.5, 2.0, size=3072).astype(np.float32),
        "cam_shape_feats_mean": np.zeros(1536, np.float32),
        "cam_shape_feats_std": np.ones(1536, np.float32),
    }
    content.update(arrays)
    np.savez(path, **{key: value for key, value in content.items() if value is not None})
    return path


def test_loads_float32_and_flattens_in_c_order(tmp_path):
    grid = np.arange(3072, dtype=np.float32).reshape(128, 24)
    stats = load_pare_feature_stats(_write(tmp_path / "s.npz", pose_feats_mean=grid))
    assert stats.pose_feats_mean.dtype == np.float32 and stats.pose_feats_mean.shape == (3072,)
    assert stats.pose_feats_mean[5 * 24 + 7] == grid[5, 7]
    assert stats.cam_shape_feats_std.shape == (1536,)


def test_float64_is_cast_to_float32_and_logged(tmp_path, caplog):
    mean64 = np.random.default_rng(1).normal(size=3072)
    with caplog.at_level(logging.INFO):
        stats = load_pare_feature_stats(_write(tmp_path / "s.npz", pose_feats_mean=mean64))
    assert stats.pose_feats_mean.dtype == np.float32
    np.testing.assert_array_equal(stats.pose_feats_mean, mean64.astype(np.float32))
    assert "pose_feats_mean" in caplog.text and "float64" in caplog.text


def test_camera_statistics_are_optional(tmp_path):
    stats = load_pare_feature_stats(_write(tmp_path / "s.npz", cam_shape_feats_mean=None, cam_shape_feats_std=None))
    assert stats.cam_shape_feats_mean is None and stats.cam_shape_feats_std is None


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"pose_feats_std": None}, "missing keys \\['pose_feats_std'\\]"),
        ({"pose_feats_mean": np.zeros(3000, np.float32)}, "'pose_feats_mean' has 3000 elements"),
        ({"pose_feats_std": np.zeros(3072, np.float32)}, "'pose_feats_std' must be > 0 everywhere; element 0"),
        ({"pose_feats_mean": np.full(3072, np.nan, np.float32)}, "NaN"),
        ({"pose_feats_mean": np.arange(3072)}, "dtype int64"),
        ({"cam_shape_feats_std": None}, "'cam_shape_feats_mean' without its counterpart"),
    ],
)
def test_bad_files_are_named(tmp_path, arrays, message):
    with pytest.raises(PareFeatureStatsError, match=message):
        load_pare_feature_stats(_write(tmp_path / "s.npz", **arrays))


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="pare_feat_stats.npz"):
        load_pare_feature_stats(tmp_path / "absent.npz")


def test_standardize_is_channel_major():
    pose_feats = torch.arange(2 * 128 * 24, dtype=torch.float32).reshape(2, 128, 24)
    flat = flatten_pose_feats(pose_feats)
    assert flat[1, 3 * 24 + 5] == pose_feats[1, 3, 5]
    mean, std = torch.full((3072,), 2.0), torch.full((3072,), 4.0)
    torch.testing.assert_close(standardize(flat, mean=mean, std=std), (flat - 2.0) / 4.0)
