"""PARE (HRNet-W32 + part-attention head): ScoreHMR's image conditioning and an initial SMPL estimate.

    images (B, 3, 224, 224) normalised RGB crops (see preprocess.py)
      -> HrnetBackbone -> (B, 480, 56, 56) -> PareHead
      -> pose_feats (B, 128, 24) -> cond_feats (B, 3072) = (flatten_c-major(pose_feats) - mean) / std
      -> PARE's own regression: pose (B, 24, 3, 3), betas (B, 10), weak-perspective crop camera (B, 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from scorehmr_ros.image_prior.checkpoint import PareLoadReport, load_pare_checkpoint
from scorehmr_ros.image_prior.feature_stats import (
    POSE_FEATS_SIZE,
    PareFeatureStats,
    flatten_pose_feats,
    load_pare_feature_stats,
    standardize,
)
from scorehmr_ros.image_prior.head import PareHead, interleaved_rot6d_to_matrix
from scorehmr_ros.image_prior.hrnet import HrnetBackbone

#: Side of the square input crop, pixels.
PARE_INPUT_SIZE_PX = 224
#: Size of the conditioning vector with the official configuration (128 channels x 24 joints).
PARE_COND_SIZE = POSE_FEATS_SIZE


class PareInputError(ValueError):
    """Images of the wrong shape or dtype for PARE."""


@dataclass(frozen=True)
class PareConfig:
    """Architecture of the PARE network. The defaults are the official ``hrnet_w32-conv`` model; other values
    only make small networks for tests (they cannot load the official checkpoint).

    Attributes:
        hrnet_width: channels of the highest-resolution HRNet branch (32 for HRNet-W32); branches have
            width x (1, 2, 4, 8) channels and the backbone outputs 15 x width.
        num_deconv_filters: filters of the head's 3x3 conv layers; also the pose-feature channels (128).
        num_deconv_layers: conv-BN-ReLU layers per head branch (2).
        num_features_smpl: channels of the camera/shape features per joint (64).
    """

    hrnet_width: int = 32
    num_deconv_filters: int = 128
    num_deconv_layers: int = 2
    num_features_smpl: int = 64

    def validate(self) -> PareConfig:
        """Raise ValueError naming the field, its value and the allowed range; return self."""
        for name, low, high in (("hrnet_width", 1, 256), ("num_deconv_filters", 1, 1024),
                                ("num_deconv_layers", 1, 8), ("num_features_smpl", 1, 1024)):
            value = getattr(self, name)
            if not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"PareConfig.{name} = {value!r}: expected an integer in [{low}, {high}]")
        return self

    @property
    def is_official(self) -> bool:
        return self == PareConfig()

    @property
    def cond_size(self) -> int:
        """Length of the flattened pose features (the image condition): channels x 24 joints."""
        return self.num_deconv_filters * 24


@dataclass(frozen=True)
class PareOutput:
    """PARE results for B crops (all tensors on the model's device).

    Attributes:
        pred_pose: (B, 24, 3, 3) SMPL joint rotations ([0] global orientation in the crop camera frame),
            decoded from PARE's interleaved 6D output as PARE does.
        pred_betas: (B, 10) SMPL shape coefficients.
        pred_cam: (B, 3) weak-perspective crop camera [s, tx, ty] (see projection.cam_crop_to_full).
        pose_feats: (B, 128, 24) attention-pooled pose features.
        cond_feats: (B, 3072) pose_feats flattened channel-major (index c * 24 + j), standardised when the model
            has feature statistics (``is_standardized``), raw otherwise.
        is_standardized: whether ``cond_feats`` was standardised.
        pred_pose_6d: (B, 24, 6) the raw head output, interleaved order (SPIN's [R00, R01, R10, R11, R20, R21]).
        cam_shape_feats: (B, 64, 24) attention-pooled camera/shape features.
    """

    pred_pose: torch.Tensor
    pred_betas: torch.Tensor
    pred_cam: torch.Tensor
    pose_feats: torch.Tensor
    cond_feats: torch.Tensor
    is_standardized: bool
    pred_pose_6d: torch.Tensor
    cam_shape_feats: torch.Tensor


class PareModel(nn.Module):
    """The PARE network; its ``state_dict`` has exactly the official keys (1905 with the default config).

    Feature statistics, when set, are non-persistent buffers: they move with ``.to(device)`` and stay out of the
    state_dict.
    """

    feat_mean: torch.Tensor | None
    feat_std: torch.Tensor | None

    def __init__(self, *, config: PareConfig = PareConfig()) -> None:
        super().__init__()
        self.config = config.validate()
        self.backbone = HrnetBackbone(width=config.hrnet_width)
        self.head = PareHead(
            num_input_channels=self.backbone.num_output_channels,
            num_deconv_filters=config.num_deconv_filters,
            num_deconv_layers=config.num_deconv_layers,
            num_features_smpl=config.num_features_smpl,
        )
        self.register_buffer("feat_mean", None, persistent=False)
        self.register_buffer("feat_std", None, persistent=False)

    @classmethod
    def from_checkpoint(
        cls, checkpoint_path: str | Path, *, feature_stats_path: str | Path | None = None,
        config: PareConfig = PareConfig(),
    ) -> tuple[PareModel, PareLoadReport]:
        """Build the model, load the official Lightning checkpoint and (optionally) the feature statistics.

        Returns the model in eval mode on the CPU (BatchNorm must use its running statistics) and the load report.
        """
        model = cls(config=config)
        report = load_pare_checkpoint(model, checkpoint_path)
        if feature_stats_path is not None:
            model.set_feature_stats(load_pare_feature_stats(feature_stats_path))
        return model.eval(), report

    def set_feature_stats(self, stats: PareFeatureStats) -> None:
        """Use ``stats`` to standardise ``cond_feats`` (pose statistics; 3072 values with the default config)."""
        expected = self.config.cond_size
        if stats.pose_feats_mean.size != expected:
            raise ValueError(f"feature statistics from {stats.source} have {stats.pose_feats_mean.size} pose "
                             f"elements; this model's pose features have {expected}")
        device = self.head.init_pose.device
        self.feat_mean = torch.as_tensor(stats.pose_feats_mean, dtype=torch.float32, device=device)
        self.feat_std = torch.as_tensor(stats.pose_feats_std, dtype=torch.float32, device=device)

    def forward(self, images: torch.Tensor) -> PareOutput:
        """(B, 3, 224, 224) float normalised RGB crops -> :class:`PareOutput` (use eval mode for inference)."""
        if images.ndim != 4 or images.shape[1] != 3 or not images.is_floating_point():
            raise PareInputError(f"images: expected a float tensor (B, 3, H, W), got {tuple(images.shape)} "
                                 f"{images.dtype}")
        head_out = self.head(self.backbone(images))
        return self.output_from_head(pose_6d=head_out.pose_6d, betas=head_out.betas, cam_crop=head_out.cam_crop,
                                     pose_feats=head_out.pose_feats, cam_shape_feats=head_out.cam_shape_feats)

    def output_from_head(self, *, pose_6d: torch.Tensor, betas: torch.Tensor, cam_crop: torch.Tensor,
                         pose_feats: torch.Tensor, cam_shape_feats: torch.Tensor) -> PareOutput:
        """The raw head outputs of B crops (see :class:`~scorehmr_ros.image_prior.head.PareHeadOutput`) ->
        :class:`PareOutput`: rotations decoded, features flattened and standardised (also used when the network runs
        on an engine, ``scorehmr_ros.accel.pare``)."""
        flat = flatten_pose_feats(pose_feats)
        standardized = self.feat_mean is not None
        if standardized:
            flat = standardize(flat, mean=self.feat_mean.to(flat.device), std=self.feat_std.to(flat.device))
        return PareOutput(
            pred_pose=interleaved_rot6d_to_matrix(pose_6d).reshape(pose_6d.shape[0], 24, 3, 3),
            pred_betas=betas,
            pred_cam=cam_crop,
            pose_feats=pose_feats,
            cond_feats=flat,
            is_standardized=standardized,
            pred_pose_6d=pose_6d,
            cam_shape_feats=cam_shape_feats,
        )

    @torch.inference_mode()
    def predict(self, images: torch.Tensor) -> PareOutput:
        """Inference: eval mode is required (raises otherwise), no autograd; see :meth:`forward`."""
        if self.training:
            raise RuntimeError("PareModel.predict needs eval mode (BatchNorm running statistics); call .eval()")
        return self(images)
