"""PARE head: part attention over 56x56 feature maps, per-joint pose features, and PARE's SMPL regression.

Official configuration (docs/scorehmr-reference.md §5): two 3x3 conv-BN-ReLU layers of 128 filters per branch,
``part_segm`` heatmaps (25 channels, channel 0 background), softmax keypoint attention, no iterative regression,
no mean-parameter offsets. Shapes with B crops, J = 24 joints, C = 128 pose-feature channels, HW = 56 x 56:

    part branch   features (B, 480, 56, 56) -> part logits (B, 25, 56, 56) -> attention A (B, J, HW)
    SMPL branch   features -> smpl feats F (B, C, HW);  cam/shape maps G = smpl_final(F) (B, 64, HW)
    pose_feats    = F A^T       (B, C, J)     the ScoreHMR conditioning
    cam_shape     = G A^T       (B, 64, J)    flattened channel-major to (B, 1536)
    pose (6D)     = per-joint linear map of pose_feats (locally connected, no bias)   (B, J, 6)
    betas, cam    = Linear(1536 -> 10), Linear(1536 -> 3)   (weak perspective [s, tx, ty])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional

from scorehmr_ros.body.joint_counts import NUM_BETAS, NUM_SMPL_JOINTS
from scorehmr_ros.geometry.rotations import rot6d_to_matrix
from scorehmr_ros.image_prior.hrnet import BN_MOMENTUM

#: Part-segmentation channels: background + one per SMPL joint regressed by PARE.
NUM_PART_CHANNELS = NUM_SMPL_JOINTS + 1
#: Weak-perspective crop camera [s, tx, ty].
NUM_CAMERA_PARAMS = 3
ROT6D_SIZE = 6
#: PARE's head outputs 6D rotations interleaved, SPIN style: the six numbers read as a (3, 2) matrix
#: [[R00, R01], [R10, R11], [R20, R21]] row by row. This reorders them to [R00, R10, R20, R01, R11, R21],
#: the column-major order of :func:`scorehmr_ros.geometry.rotations.rot6d_to_matrix` (ScoreHMR's diffusion order).
INTERLEAVED_TO_COLUMN_ORDER = (0, 2, 4, 1, 3, 5)


def interleaved_rot6d_to_matrix(x6d_interleaved: torch.Tensor) -> torch.Tensor:
    """(..., 6) SPIN/PARE interleaved 6D rotations -> (..., 3, 3) rotation matrices.

    PARE (mkocabas/PARE ``rot6d_to_rotmat``) reads its 6 outputs as a (3, 2) array whose columns are a1, a2.
    ScoreHMR's vendored copy decodes the same outputs with the column order instead; that output is never used
    by ScoreHMR, and the PARE weights were trained with the interleaved order, so this is the one to use.
    """
    return rot6d_to_matrix(x6d_interleaved[..., list(INTERLEAVED_TO_COLUMN_ORDER)])


def soft_attention_pool(features: torch.Tensor, attention_logits: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) features, (B, J, H, W) logits -> (B, C, J): features averaged under softmax_HW(logits).

    pooled[b, c, j] = sum_p softmax_p(logits[b, j])[p] * features[b, c, p]   (PARE's keypoint attention)
    """
    batch_size, num_parts = attention_logits.shape[:2]
    attention = functional.softmax(attention_logits.reshape(batch_size, num_parts, -1), dim=-1)  # (B, J, HW)
    flat_features = features.reshape(batch_size, features.shape[1], -1)  # (B, C, HW)
    return torch.matmul(attention, flat_features.transpose(2, 1)).transpose(2, 1)  # (B, C, J)


def _conv_bn_relu_layers(*, in_channels: int, num_filters: int, num_layers: int) -> nn.Sequential:
    """``num_layers`` x [3x3 conv (no bias, padding 1), BN, ReLU]; keys .0/.1 (conv/BN), .3/.4, ..."""
    layers: list[nn.Module] = []
    for _ in range(num_layers):
        layers += [
            nn.Conv2d(in_channels, num_filters, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(num_filters, momentum=BN_MOMENTUM),
            nn.ReLU(inplace=True),
        ]
        in_channels = num_filters
    return nn.Sequential(*layers)


class LocallyConnectedPoseMlp(nn.Module):
    """A separate linear map per joint, no bias: (B, C, J) -> (B, J, 6).

    ``weight`` keeps the official locally connected layout (1, 6, C, J, 1, 1) (kernel 1, output size (J, 1)).
    pose[b, j, o] = sum_c weight[0, o, c, j, 0, 0] * pose_feats[b, c, j]
    """

    def __init__(self, *, num_channels: int, num_joints: int = NUM_SMPL_JOINTS, num_outputs: int = ROT6D_SIZE) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, num_outputs, num_channels, num_joints, 1, 1))

    def forward(self, pose_feats: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bcj,ocj->bjo", pose_feats, self.weight[0, :, :, :, 0, 0])


@dataclass(frozen=True)
class PareHeadOutput:
    """Raw head outputs for B crops.

    Attributes:
        pose_6d: (B, 24, 6) per-joint 6D rotations in PARE's interleaved order (see INTERLEAVED_TO_COLUMN_ORDER).
        betas: (B, 10) SMPL shape coefficients.
        cam_crop: (B, 3) weak-perspective crop camera [s, tx, ty].
        pose_feats: (B, 128, 24) attention-pooled pose features (the ScoreHMR conditioning before flattening).
        cam_shape_feats: (B, 64, 24) attention-pooled camera/shape features.
        part_logits: (B, 25, 56, 56) part-segmentation logits, channel 0 background.
    """

    pose_6d: torch.Tensor
    betas: torch.Tensor
    cam_crop: torch.Tensor
    pose_feats: torch.Tensor
    cam_shape_feats: torch.Tensor
    part_logits: torch.Tensor


class PareHead(nn.Module):
    """PARE's part-attention head with its own SMPL regression (official ``hrnet_w32-conv`` configuration).

    The buffers ``temperature``, ``init_pose`` (1, 144), ``init_shape`` (1, 10) and ``init_cam`` (1, 3) exist so
    the checkpoint loads by key; the official configuration never reads them (no mean offsets, no softargmax).
    """

    def __init__(
        self,
        *,
        num_input_channels: int = 480,
        num_deconv_filters: int = 128,
        num_deconv_layers: int = 2,
        num_features_smpl: int = 64,
    ) -> None:
        super().__init__()
        self.keypoint_deconv_layers = _conv_bn_relu_layers(
            in_channels=num_input_channels, num_filters=num_deconv_filters, num_layers=num_deconv_layers
        )
        self.smpl_deconv_layers = _conv_bn_relu_layers(
            in_channels=num_input_channels, num_filters=num_deconv_filters, num_layers=num_deconv_layers
        )
        self.keypoint_final_layer = nn.Conv2d(num_deconv_filters, NUM_PART_CHANNELS, kernel_size=1)
        self.smpl_final_layer = nn.Conv2d(num_deconv_filters, num_features_smpl, kernel_size=1)
        self.register_buffer("temperature", torch.tensor(1.0))
        self.register_buffer("init_pose", torch.zeros(1, NUM_SMPL_JOINTS * ROT6D_SIZE))
        self.register_buffer("init_shape", torch.zeros(1, NUM_BETAS))
        self.register_buffer("init_cam", torch.zeros(1, NUM_CAMERA_PARAMS))
        cam_shape_size = NUM_SMPL_JOINTS * num_features_smpl
        self.shape_mlp = nn.Linear(cam_shape_size, NUM_BETAS)
        self.cam_mlp = nn.Linear(cam_shape_size, NUM_CAMERA_PARAMS)
        self.pose_mlp = LocallyConnectedPoseMlp(num_channels=num_deconv_filters)

    def forward(self, features: torch.Tensor) -> PareHeadOutput:
        """(B, C_in, 56, 56) backbone features -> :class:`PareHeadOutput`."""
        # 1. Part branch: logits per part; the background channel 0 takes no part in the attention.
        part_logits = self.keypoint_final_layer(self.keypoint_deconv_layers(features))  # (B, 25, 56, 56)
        part_attention_logits = part_logits[:, 1:]  # (B, 24, 56, 56)
        # 2. SMPL branch and its 1x1 reduction for camera and shape.
        smpl_feats = self.smpl_deconv_layers(features)  # (B, 128, 56, 56)
        cam_shape_maps = self.smpl_final_layer(smpl_feats)  # (B, 64, 56, 56)
        # 3. Attention pooling per joint.
        pose_feats = soft_attention_pool(smpl_feats, part_attention_logits)  # (B, 128, 24)
        cam_shape_feats = soft_attention_pool(cam_shape_maps, part_attention_logits)  # (B, 64, 24)
        # 4. Regression: per-joint 6D pose; camera and shape from the channel-major flattening (index c*24 + j).
        cam_shape_flat = torch.flatten(cam_shape_feats, start_dim=1)  # (B, 1536)
        return PareHeadOutput(
            pose_6d=self.pose_mlp(pose_feats),
            betas=self.shape_mlp(cam_shape_flat),
            cam_crop=self.cam_mlp(cam_shape_flat),
            pose_feats=pose_feats,
            cam_shape_feats=cam_shape_feats,
            part_logits=part_logits,
        )
