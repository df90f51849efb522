"""PARE's network behind an engine: a drop-in for :class:`~scorehmr_ros.image_prior.model.PareModel` in the view
regressor (``feat_mean``, ``predict``).

Engine input ``images`` (B, 3, 224, 224) normalised RGB crops; outputs the raw head tensors ``pose_6d`` (B, 24, 6),
``betas`` (B, 10), ``cam_crop`` (B, 3), ``pose_feats`` (B, C, 24) and ``cam_shape_feats`` (B, F, 24). The part
logits (B, 25, 56, 56) stay inside the engine: nothing downstream uses them. Decoding the rotations and
standardising the features stays in torch (``PareModel.output_from_head``), the same code as eager.
"""

from __future__ import annotations

import torch
from torch import nn

from scorehmr_ros.accel.cache import EngineCache
from scorehmr_ros.accel.engine import Engine, EngineSpec, TensorSpec
from scorehmr_ros.accel.select import AccelConfig, Selection, select_engine
from scorehmr_ros.body.joint_counts import NUM_BETAS, NUM_SMPL_JOINTS
from scorehmr_ros.image_prior.model import PARE_INPUT_SIZE_PX, PareModel, PareOutput

#: Largest batch of crops: people x views of one set, with room.
PARE_MAX_BATCH = 64
#: Normalised crops span about (0 - 0.485) / 0.229 to (1 - 0.406) / 0.225 (ImageNet statistics).
_CROP_VALUE_RANGE = (-2.2, 2.7)
_RAW_OUTPUTS = ("pose_6d", "betas", "cam_crop", "pose_feats", "cam_shape_feats")


def pare_spec(model: PareModel) -> EngineSpec:
    """The engine spec of ``model``'s network (its config sets the feature channels). Parity and timing at batch 2:
    one eager HRNet-W32 call at batch 8 takes seconds on a CPU."""
    config = model.config
    size = PARE_INPUT_SIZE_PX
    return EngineSpec(
        inputs=(TensorSpec("images", (3, size, size), value_range=_CROP_VALUE_RANGE),),
        outputs=(TensorSpec("pose_6d", (NUM_SMPL_JOINTS, 6)), TensorSpec("betas", (NUM_BETAS,)),
                 TensorSpec("cam_crop", (3,)), TensorSpec("pose_feats", (config.num_deconv_filters, NUM_SMPL_JOINTS)),
                 TensorSpec("cam_shape_feats", (config.num_features_smpl, NUM_SMPL_JOINTS))),
        max_batch=PARE_MAX_BATCH, opt_batch=8, check_batch=2)


class PareNetwork(nn.Module):
    """Backbone + head of a PareModel (shared parameters), returning the raw outputs as a tuple in spec order."""

    def __init__(self, model: PareModel) -> None:
        super().__init__()
        self.backbone = model.backbone
        self.head = model.head

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.head(self.backbone(images))
        return tuple(getattr(out, name) for name in _RAW_OUTPUTS)


class EnginePare(nn.Module):
    """PARE whose network runs on an engine; outputs on the CPU, post-processed by the eager model's own code."""

    def __init__(self, engine: Engine, model: PareModel) -> None:
        super().__init__()
        self.engine = engine
        self.model = model.eval()
        self.config = model.config
        self.eval()

    @property
    def feat_mean(self) -> torch.Tensor | None:
        return self.model.feat_mean

    @property
    def feat_std(self) -> torch.Tensor | None:
        return self.model.feat_std

    def forward(self, images: torch.Tensor) -> PareOutput:
        """(B, 3, 224, 224) normalised crops -> :class:`PareOutput` (as ``PareModel.forward``)."""
        raw = self.engine(images=images)
        return self.model.output_from_head(**{name: raw[name].to(images.device) for name in _RAW_OUTPUTS})

    @torch.inference_mode()
    def predict(self, images: torch.Tensor) -> PareOutput:
        return self(images)


def accelerate_pare(model: PareModel, *, config: AccelConfig, cache: EngineCache | None = None,
                    logger=None) -> tuple[PareModel | EnginePare, Selection]:
    """PARE on the engine ``config`` selects (one log line says which and why); with eager chosen on the CPU in
    fp32, ``model`` itself. The feature statistics and the post-processing stay ``model``'s."""
    if model.training:
        raise ValueError("accelerate_pare: PARE must be in eval mode (BatchNorm running statistics)")
    selection = select_engine(PareNetwork(model), pare_spec(model), name="pare", config=config, cache=cache,
                              logger=logger)
    if selection.is_the_module:
        return model, selection
    return EnginePare(selection.engine, model), selection
