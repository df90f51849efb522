"""PARE feature statistics (``data/stats/pare_feat_stats.npz``) and the standardisation of the conditioning.

cond_feats = (pose_feats.reshape(B, 3072) - mean) / std, with index c * 24 + j (channel-major, c < 128, j < 24).
The official file holds ``pose_feats_mean``/``pose_feats_std`` (3072 values each) and ``cam_shape_feats_mean``/
``cam_shape_feats_std`` (1536 each, used only with USE_BETAS). Each is flattened in C order whatever its stored
shape (the official code calls ``reshape(-1)``).

dtype: the official code never casts, so a float64 file would promote cond_feats to float64 and then fail in the
denoiser's float32 LayerNorm. We cast to float32 and log that we did.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from scorehmr_ros.body.joint_counts import NUM_SMPL_JOINTS

_LOG = logging.getLogger(__name__)

#: Pose features per crop: 128 channels x 24 joints, and camera/shape features: 64 x 24.
POSE_FEATS_SIZE = 128 * NUM_SMPL_JOINTS
CAM_SHAPE_FEATS_SIZE = 64 * NUM_SMPL_JOINTS


class PareFeatureStatsError(ValueError):
    """A feature-statistics file that is missing keys, has the wrong sizes or unusable values."""


@dataclass(frozen=True)
class PareFeatureStats:
    """Per-element statistics of PARE's features, float32, flattened channel-major.

    Attributes:
        pose_feats_mean: (3072,) mean of pose_feats, index c * 24 + j.
        pose_feats_std: (3072,) standard deviation of pose_feats, all > 0.
        cam_shape_feats_mean: (1536,) or None when the file has no camera/shape statistics.
        cam_shape_feats_std: (1536,) or None.
        source: where the statistics came from (file path or a description).
    """

    pose_feats_mean: np.ndarray
    pose_feats_std: np.ndarray
    cam_shape_feats_mean: np.ndarray | None
    cam_shape_feats_std: np.ndarray | None
    source: str


def _float32_vector(name: str, value: np.ndarray, *, size: int, source: str) -> np.ndarray:
    array = np.asarray(value)
    if not np.issubdtype(array.dtype, np.floating):
        raise PareFeatureStatsError(f"{source}: '{name}' has dtype {array.dtype}, expected a floating-point array")
    if array.size != size:
        raise PareFeatureStatsError(f"{source}: '{name}' has {array.size} elements (shape {array.shape}), "
                                    f"expected {size}")
    if array.dtype != np.float32:
        _LOG.info("%s: '%s' is %s; cast to float32 (the official code would promote the conditioning)",
                  source, name, array.dtype)
    vector = array.reshape(-1).astype(np.float32)
    if not np.all(np.isfinite(vector)):
        raise PareFeatureStatsError(f"{source}: '{name}' contains NaN or infinite values")
    return vector


def _checked_std(name: str, vector: np.ndarray, *, source: str) -> np.ndarray:
    if np.any(vector <= 0.0):
        bad = int(np.flatnonzero(vector <= 0.0)[0])
        raise PareFeatureStatsError(f"{source}: '{name}' must be > 0 everywhere; element {bad} is {vector[bad]}")
    return vector


def load_pare_feature_stats(path: str | Path) -> PareFeatureStats:
    """Read ``pare_feat_stats.npz``; pose statistics are required, camera/shape statistics optional (both or none).

    Raises:
        FileNotFoundError: no file at ``path``.
        PareFeatureStatsError: missing keys, wrong element counts, non-finite values, or std <= 0.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"PARE feature statistics not found: {path} (expected data/stats/pare_feat_stats.npz)")
    source = str(path)
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    missing = [key for key in ("pose_feats_mean", "pose_feats_std") if key not in arrays]
    if missing:
        raise PareFeatureStatsError(f"{source}: missing keys {missing}; found {sorted(arrays)}")
    pose_mean = _float32_vector("pose_feats_mean", arrays["pose_feats_mean"], size=POSE_FEATS_SIZE, source=source)
    pose_std = _checked_std(
        "pose_feats_std",
        _float32_vector("pose_feats_std", arrays["pose_feats_std"], size=POSE_FEATS_SIZE, source=source),
        source=source,
    )
    cam_keys = [key for key in ("cam_shape_feats_mean", "cam_shape_feats_std") if key in arrays]
    cam_mean = cam_std = None
    if len(cam_keys) == 1:
        raise PareFeatureStatsError(f"{source}: has '{cam_keys[0]}' without its counterpart")
    if cam_keys:
        cam_mean = _float32_vector("cam_shape_feats_mean", arrays["cam_shape_feats_mean"],
                                   size=CAM_SHAPE_FEATS_SIZE, source=source)
        cam_std = _checked_std(
            "cam_shape_feats_std",
            _float32_vector("cam_shape_feats_std", arrays["cam_shape_feats_std"],
                            size=CAM_SHAPE_FEATS_SIZE, source=source),
            source=source,
        )
    return PareFeatureStats(pose_mean, pose_std, cam_mean, cam_std, source)


def flatten_pose_feats(pose_feats: torch.Tensor) -> torch.Tensor:
    """(B, 128, 24) -> (B, 3072), channel-major: element [b, c, j] goes to index c * 24 + j."""
    return pose_feats.reshape(pose_feats.shape[0], -1)


def standardize(flat_feats: torch.Tensor, *, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """(B, F) features -> (B, F) standardised features (x - mean) / std."""
    return (flat_feats - mean) / std
