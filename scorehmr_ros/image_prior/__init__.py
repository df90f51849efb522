"""PARE (mkocabas/PARE, as vendored by ScoreHMR): HRNet-W32 + part-attention head.

ScoreHMR conditions its denoiser on PARE's pose features (``PareOutput.cond_feats``); PARE's own SMPL regression
(pose, shape, weak-perspective camera) can serve as the initial estimate where no other regressor runs.

Modules: hrnet.py (backbone), head.py (part attention + regression), model.py (PareModel, PareOutput,
PareConfig), checkpoint.py (official Lightning checkpoint), feature_stats.py (pare_feat_stats.npz),
preprocess.py (official crop), synthetic_weights.py (deterministic random weights for tests).
"""

from scorehmr_ros.image_prior.checkpoint import PareCheckpointError, PareLoadReport, load_pare_checkpoint
from scorehmr_ros.image_prior.feature_stats import PareFeatureStats, PareFeatureStatsError, load_pare_feature_stats
from scorehmr_ros.image_prior.model import PARE_INPUT_SIZE_PX, PareConfig, PareInputError, PareModel, PareOutput
from scorehmr_ros.image_prior.preprocess import PareCropError, PareCrops, make_pare_crops

__all__ = [
    "PARE_INPUT_SIZE_PX",
    "PareCheckpointError",
    "PareConfig",
    "PareCropError",
    "PareCrops",
    "PareFeatureStats",
    "PareFeatureStatsError",
    "PareInputError",
    "PareLoadReport",
    "PareModel",
    "PareOutput",
    "load_pare_checkpoint",
    "load_pare_feature_stats",
    "make_pare_crops",
]
