"""HRNet backbone as PARE builds it (``hrnet_w32-conv``): four resolution branches brought up to 1/4 scale.

Module names and order follow the standard HRNet layout (``conv1``, ``layer1``, ``transition1``,
``stage2.0.branches.0.0.conv1``, ``stage4.2.fuse_layers.3.0.2.0``, ...), so the official PARE checkpoint loads
by key; see docs/scorehmr-reference.md §5 for the entry counts.

Shapes for a 224 px input with width C = 32:
    stem       (B, 3, 224, 224) -> (B, 64, 56, 56)   two stride-2 3x3 convolutions
    layer1     -> (B, 256, 56, 56)                   four Bottlenecks
    stage2..4  branches of C, 2C, 4C, 8C channels at 56, 28, 14, 7 px
    output     (B, 15 C, 56, 56) = (B, 480, 56, 56)  branches 1-3 upsampled by [bilinear x2, conv, BN, ReLU]^k
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

#: BatchNorm momentum of the HRNet blocks (only matters in training; kept for fidelity).
BN_MOMENTUM = 0.1
#: Channels after the stem and after layer1 (64 Bottleneck planes x expansion 4).
STEM_CHANNELS = 64
LAYER1_CHANNELS = 256


@dataclass(frozen=True)
class HrnetStageSpec:
    """One HRNet stage: ``num_modules`` exchange units over ``len(num_blocks)`` branches of BasicBlocks."""

    num_modules: int
    num_blocks: tuple[int, ...]
    num_channels: tuple[int, ...]


def hrnet_stage_specs(*, width: int) -> tuple[HrnetStageSpec, HrnetStageSpec, HrnetStageSpec]:
    """Stages 2, 3 and 4 of HRNet-W``width`` (1, 4 and 3 modules; 4 BasicBlocks per branch)."""
    return (
        HrnetStageSpec(num_modules=1, num_blocks=(4, 4), num_channels=(width, 2 * width)),
        HrnetStageSpec(num_modules=4, num_blocks=(4, 4, 4), num_channels=(width, 2 * width, 4 * width)),
        HrnetStageSpec(
            num_modules=3, num_blocks=(4, 4, 4, 4), num_channels=(width, 2 * width, 4 * width, 8 * width)
        ),
    )


def _conv_bn(in_channels: int, out_channels: int, *, kernel_size: int, stride: int = 1) -> list[nn.Module]:
    """[Conv (no bias), BN] as a two-element list, padding keeping the size for odd kernels."""
    return [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels, momentum=BN_MOMENTUM),
    ]


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity shortcut (channels unchanged in HRNet branches)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(channels, channels, kernel_size=3)
        self.conv2, self.bn2 = _conv_bn(channels, channels, kernel_size=3)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 -> 1x1 (x4 channels) with an optional projection shortcut ``downsample``."""

    expansion = 4

    def __init__(self, in_channels: int, planes: int) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1, self.bn1 = _conv_bn(in_channels, planes, kernel_size=1)
        self.conv2, self.bn2 = _conv_bn(planes, planes, kernel_size=3)
        self.conv3, self.bn3 = _conv_bn(planes, out_channels, kernel_size=1)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (
            nn.Sequential(*_conv_bn(in_channels, out_channels, kernel_size=1)) if in_channels != out_channels else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


def _fuse_path(*, from_branch: int, to_branch: int, channels: tuple[int, ...]) -> nn.Module:
    """Path from branch j to branch i of an exchange unit.

    j > i: 1x1 conv, BN, nearest upsampling by 2^(j-i). j < i: (i-j) stride-2 3x3 conv-BN, ReLU between them.
    """
    j, i = from_branch, to_branch
    if j > i:
        return nn.Sequential(
            nn.Conv2d(channels[j], channels[i], 1, bias=False),
            nn.BatchNorm2d(channels[i]),
            nn.Upsample(scale_factor=2 ** (j - i), mode="nearest"),
        )
    steps = []
    for k in range(i - j):
        last = k == i - j - 1
        out_channels = channels[i] if last else channels[j]
        layers = [
            nn.Conv2d(channels[j], out_channels, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        if not last:
            layers.append(nn.ReLU(inplace=True))
        steps.append(nn.Sequential(*layers))
    return nn.Sequential(*steps)


class HighResolutionModule(nn.Module):
    """One exchange unit: BasicBlock stacks per branch, then every branch receives the sum of all branches."""

    def __init__(self, *, num_blocks: tuple[int, ...], channels: tuple[int, ...]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(*(BasicBlock(c) for _ in range(n))) for n, c in zip(num_blocks, channels, strict=True)
        )
        num_branches = len(channels)
        self.fuse_layers = nn.ModuleList(
            nn.ModuleList(
                None if i == j else _fuse_path(from_branch=j, to_branch=i, channels=channels)
                for j in range(num_branches)
            )
            for i in range(num_branches)
        )
        self.relu = nn.ReLU(inplace=False)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs, strict=True)]
        fused = []
        for i, paths in enumerate(self.fuse_layers):
            # y_i = sum_j path_ij(x_j), with path_ii = identity; summed in j order as the official code does.
            y = xs[0] if i == 0 else paths[0](xs[0])
            for j in range(1, len(xs)):
                y = y + (xs[j] if i == j else paths[j](xs[j]))
            fused.append(self.relu(y))
        return fused


def _transition(*, previous: tuple[int, ...], current: tuple[int, ...]) -> nn.ModuleList:
    """Adapt the branches of one stage to the next: 3x3 conv-BN-ReLU where channels change, None where they
    match, and a new stride-2 branch made from the lowest-resolution previous branch."""
    layers: list[nn.Module | None] = []
    for i, out_channels in enumerate(current):
        if i < len(previous):
            if out_channels == previous[i]:
                layers.append(None)
            else:
                layers.append(
                    nn.Sequential(*_conv_bn(previous[i], out_channels, kernel_size=3), nn.ReLU(inplace=True))
                )
        else:
            steps = []
            for k in range(i + 1 - len(previous)):
                last = k == i - len(previous)
                step_out = out_channels if last else previous[-1]
                steps.append(
                    nn.Sequential(
                        nn.Conv2d(previous[-1], step_out, 3, stride=2, padding=1, bias=False),
                        nn.BatchNorm2d(step_out),
                        nn.ReLU(inplace=True),
                    )
                )
            layers.append(nn.Sequential(*steps))
    return nn.ModuleList(layers)


def _upsample_path(*, channels: int, times: int) -> nn.Sequential:
    """[bilinear x2 (align_corners=True), 3x3 conv, BN, ReLU] repeated ``times`` times (PARE's ``use_conv``)."""
    layers: list[nn.Module] = []
    for _ in range(times):
        layers += [
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
            *_conv_bn(channels, channels, kernel_size=3),
            nn.ReLU(inplace=True),
        ]
    return nn.Sequential(*layers)


class HrnetBackbone(nn.Module):
    """HRNet-W``width`` with PARE's conv upsampling head: (B, 3, H, W) -> (B, 15 width, H/4, W/4).

    ``final_layer`` (a 1x1 conv to 24 heatmaps) exists only so the checkpoint loads by key; it is not used.
    """

    def __init__(self, *, width: int = 32, num_heatmaps: int = 24) -> None:
        super().__init__()
        self.width = width
        self.conv1, self.bn1 = _conv_bn(3, STEM_CHANNELS, kernel_size=3, stride=2)
        self.conv2, self.bn2 = _conv_bn(STEM_CHANNELS, STEM_CHANNELS, kernel_size=3, stride=2)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(
            Bottleneck(STEM_CHANNELS, STEM_CHANNELS), *(Bottleneck(LAYER1_CHANNELS, STEM_CHANNELS) for _ in range(3))
        )
        stage2, stage3, stage4 = hrnet_stage_specs(width=width)
        self.transition1 = _transition(previous=(LAYER1_CHANNELS,), current=stage2.num_channels)
        self.stage2 = self._stage(stage2)
        self.transition2 = _transition(previous=stage2.num_channels, current=stage3.num_channels)
        self.stage3 = self._stage(stage3)
        self.transition3 = _transition(previous=stage3.num_channels, current=stage4.num_channels)
        self.stage4 = self._stage(stage4)
        self.final_layer = nn.Conv2d(width, num_heatmaps, kernel_size=1)
        self.upsample_stage_2 = _upsample_path(channels=stage2.num_channels[-1], times=1)
        self.upsample_stage_3 = _upsample_path(channels=stage3.num_channels[-1], times=2)
        self.upsample_stage_4 = _upsample_path(channels=stage4.num_channels[-1], times=3)

    @property
    def num_output_channels(self) -> int:
        """Channels of the concatenated output: width x (1 + 2 + 4 + 8)."""
        return 15 * self.width

    @staticmethod
    def _stage(spec: HrnetStageSpec) -> nn.Sequential:
        return nn.Sequential(
            *(
                HighResolutionModule(num_blocks=spec.num_blocks, channels=spec.num_channels)
                for _ in range(spec.num_modules)
            )
        )

    @staticmethod
    def _apply_transition(transition: nn.ModuleList, ys: list[torch.Tensor]) -> list[torch.Tensor]:
        # Existing branches pass through (or get a conv where channels change); a new branch comes from ys[-1].
        return [
            ys[i] if layer is None else layer(ys[-1] if i >= len(ys) else ys[i]) for i, layer in enumerate(transition)
        ]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised RGB crops -> (B, 15 width, H/4, W/4) features."""
        x = self.relu(self.bn1(self.conv1(images)))
        x = self.relu(self.bn2(self.conv2(x)))
        x = self.layer1(x)
        ys = self.stage2(self._apply_transition(self.transition1, [x]))
        ys = self.stage3(self._apply_transition(self.transition2, ys))
        ys = self.stage4(self._apply_transition(self.transition3, ys))
        # Bring branches 1-3 to branch 0's resolution and concatenate along channels.
        upsampled = [self.upsample_stage_2(ys[1]), self.upsample_stage_3(ys[2]), self.upsample_stage_4(ys[3])]
        return torch.cat([ys[0], *upsampled], dim=1)
