"""Training data for the diffusion prior: clean 6D poses x_0 (B, D) and, for the image model, conditions (B, C).

Two sources, each a :class:`PoseSampler` that draws a batch from a ``torch.Generator`` (so a run is
reproducible from its seed and step alone):

* :class:`ImageFeatureSampler`, the official image-conditioned set-up (docs/scorehmr-reference.md §9): per dataset a
  label file in the official layout (``body_pose`` (N, 72) axis-angle, global orient first, ``has_body_pose``
  (N,)) and the cached PARE predictions of ``data_preprocessing/cache_pare_preds.py`` (``pose_feats``
  (N, 128, 24)). Only rows with ``has_body_pose > 0`` are kept; features are standardised with
  ``pare_feat_stats.npz``; datasets are mixed by weight, as the official ``MixedDataset`` does. No
  augmentation (the official training crops with ``do_augment=False``).
* :class:`MotionPoseSampler`, the keypoint-only prior (no condition): SMPL rotations from motion clips
  (DeepMimic via ``sim``, AMASS files), mirrored left-right, with a uniformly random heading about the
  world vertical axis. Frame: ``global_orient`` maps SMPL's canonical body frame into the z-up world
  (REP-103), the frame of the calibrated multi-view fitter; the prior is heading-invariant by
  construction, while the tilt of the body (upright, lying, upside-down) remains part of what it learns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from scorehmr_ros.body.joint_counts import NUM_SMPL_JOINTS
from scorehmr_ros.diffusion.denoiser import PARE_COND_DIM, POSE_DIM_6D
from scorehmr_ros.geometry.rotations import axis_angle_to_matrix, matrix_to_rot6d

#: Columns of the official ``body_pose`` label: 24 joints x 3 axis-angle values.
AXIS_ANGLE_POSE_SIZE = 3 * NUM_SMPL_JOINTS


class TrainingDataError(ValueError):
    """A training file or pose array that is missing keys, has wrong shapes, or holds no usable rows."""


class PoseSampler(Protocol):
    """A source of training batches."""

    cond_dim: int  # C: 0 for the unconditional prior

    def sample(self, *, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(x_0 (B, D) float32, cond (B, C) float32 or None)."""
        ...


def rotations_to_pose_6d(rotations: torch.Tensor) -> torch.Tensor:
    """(B, 24, 3, 3) rotation matrices -> (B, 144) diffusion vector: 6D of each joint, global orient first."""
    if rotations.dim() != 4 or tuple(rotations.shape[1:]) != (NUM_SMPL_JOINTS, 3, 3):
        raise TrainingDataError(f"rotations: expected shape (B, 24, 3, 3), got {tuple(rotations.shape)}")
    return matrix_to_rot6d(rotations).reshape(rotations.shape[0], POSE_DIM_6D)


def axis_angle_pose_to_6d(body_pose_aa: torch.Tensor) -> torch.Tensor:
    """(B, 72) official axis-angle label (radians; global orient, then 23 joints) -> (B, 144) 6D vector.

    Same conversion as the official ``p_losses``: axis-angle -> matrix via quaternion -> first two columns.
    """
    if body_pose_aa.dim() != 2 or body_pose_aa.shape[1] != AXIS_ANGLE_POSE_SIZE:
        raise TrainingDataError(f"body_pose: expected shape (B, 72), got {tuple(body_pose_aa.shape)}")
    rotations = axis_angle_to_matrix(body_pose_aa.reshape(-1, NUM_SMPL_JOINTS, 3))
    return rotations_to_pose_6d(rotations)


def heading_rotations(angle_rad: torch.Tensor) -> torch.Tensor:
    """(B,) angles -> (B, 3, 3) rotations about the world z axis (REP-103 up): [[c, -s, 0], [s, c, 0], [0, 0, 1]]."""
    c, s = angle_rad.cos(), angle_rad.sin()
    zero, one = torch.zeros_like(c), torch.ones_like(c)
    return torch.stack((c, -s, zero, s, c, zero, zero, zero, one), dim=-1).reshape(-1, 3, 3)


def apply_heading(rotations: torch.Tensor, angle_rad: torch.Tensor) -> torch.Tensor:
    """Turn whole bodies about the world vertical: global_orient' = R_z(angle) global_orient; body pose unchanged.

    Args:
        rotations: (B, 24, 3, 3), joint 0 the global orientation (body frame -> z-up world).
        angle_rad: (B,) heading change.
    """
    turned = rotations.clone()
    turned[:, 0] = heading_rotations(angle_rad).to(rotations.dtype) @ rotations[:, 0]
    return turned


# --------------------------------------------------------------------------------------------------------------
# Keypoint-only prior: motion clips


@dataclass(frozen=True)
class MotionSplit:
    """Rotations of a set of clips split in time: the first (1 - f) of each clip trains, the last f is held out.

    Attributes:
        train: (N_train, 24, 3, 3) float64 rotations, global orient (body -> z-up world) first.
        heldout: (N_heldout, 24, 3, 3) float64.
        clip_names: the clips, in order.
        train_frames / heldout_frames: frames per clip in each part.
    """

    train: np.ndarray
    heldout: np.ndarray
    clip_names: tuple[str, ...]
    train_frames: tuple[int, ...]
    heldout_frames: tuple[int, ...]


def split_clips_in_time(clips: Sequence, *, heldout_fraction: float) -> MotionSplit:
    """Hold out the last ``heldout_fraction`` of every clip (at least 1 frame each when the fraction is > 0).

    Args:
        clips: ``sim.motion.MotionClip`` objects (``rotations``: (T, 24, 3, 3)).
        heldout_fraction: in [0, 0.9].
    """
    if not 0.0 <= heldout_fraction <= 0.9:
        raise TrainingDataError(f"heldout_fraction={heldout_fraction}: must be in [0, 0.9]")
    if not clips:
        raise TrainingDataError("no motion clips given")
    train, heldout, train_frames, heldout_frames = [], [], [], []
    for clip in clips:
        rotations = clip.rotations
        num_heldout = 0 if heldout_fraction == 0 else max(1, int(round(heldout_fraction * clip.num_frames)))
        if clip.num_frames - num_heldout < 1:
            raise TrainingDataError(f"clip {clip.name!r}: {clip.num_frames} frames, too short to hold out "
                                    f"{num_heldout}")
        cut = clip.num_frames - num_heldout
        train.append(rotations[:cut])
        heldout.append(rotations[cut:])
        train_frames.append(cut)
        heldout_frames.append(num_heldout)
    empty = np.zeros((0, NUM_SMPL_JOINTS, 3, 3))
    return MotionSplit(train=np.concatenate(train), heldout=np.concatenate(heldout) if heldout else empty,
                       clip_names=tuple(c.name for c in clips), train_frames=tuple(train_frames),
                       heldout_frames=tuple(heldout_frames))


def with_mirrored(clips: Sequence) -> list:
    """The clips followed by their left-right mirror images (``sim.motion.mirror``)."""
    from scorehmr_ros.sim.motion import mirror

    return [*clips, *(mirror(clip) for clip in clips)]


class MotionPoseSampler:
    """Uniform draws from a pool of rotations, each turned by a uniform random heading in [0, 2π)."""

    cond_dim = 0

    def __init__(self, rotations: np.ndarray | torch.Tensor, *, random_heading: bool = True) -> None:
        """rotations: (N, 24, 3, 3) global orient (body -> z-up world) then the 23 body joints; N >= 1."""
        pool = torch.as_tensor(np.asarray(rotations), dtype=torch.float64)
        if pool.dim() != 4 or tuple(pool.shape[1:]) != (NUM_SMPL_JOINTS, 3, 3) or pool.shape[0] < 1:
            raise TrainingDataError(f"rotations: expected shape (N >= 1, 24, 3, 3), got {tuple(pool.shape)}")
        self.rotations = pool
        self.random_heading = random_heading

    def __len__(self) -> int:
        return int(self.rotations.shape[0])

    def sample(self, *, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, None]:
        index = torch.randint(0, len(self), (batch_size,), generator=generator)
        rotations = self.rotations[index]
        if self.random_heading:
            angle = torch.rand(batch_size, generator=generator, dtype=torch.float64) * (2 * math.pi)
            rotations = apply_heading(rotations, angle)
        return rotations_to_pose_6d(rotations).float(), None


# --------------------------------------------------------------------------------------------------------------
# Image-conditioned model: the official dataset layout with cached PARE features


def _load_npz(path: Path, *, what: str) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise TrainingDataError(f"{what} not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: np.asarray(data[key]) for key in data.files if key != "imgname"}
    except (OSError, ValueError) as error:
        raise TrainingDataError(f"{path}: not a readable .npz {what} ({error})") from None


@dataclass(frozen=True)
class ImageFeatureSet:
    """One official dataset with its cached features, rows without a pose label removed.

    Attributes:
        pose_6d: (N, 144) float32 clean diffusion vectors.
        cond: (N, 3072) float32 standardised PARE pose features (channel-major).
        name: the label file's stem.
        num_rows_in_file: rows before filtering by ``has_body_pose``.
    """

    pose_6d: torch.Tensor
    cond: torch.Tensor
    name: str
    num_rows_in_file: int


def load_official_image_dataset(*, dataset_file: str | Path, pare_preds_file: str | Path,
                                feat_stats_file: str | Path) -> ImageFeatureSet:
    """Read one official training set: labels + cached PARE predictions + feature statistics.

    Args:
        dataset_file: ``data/datasets/<name>.npz`` with ``body_pose`` (N, 72) axis-angle radians and
            ``has_body_pose`` (N,) (rows with 0 are dropped; the official loader's default when the keys are
            absent is "no pose", which leaves nothing to train on and raises here).
        pare_preds_file: ``cache/pare/<name>.npz`` with ``pose_feats`` (N, 128, 24) (any shape with
            3072 values per row, flattened in C order as the official ``reshape``).
        feat_stats_file: ``data/stats/pare_feat_stats.npz`` (``pose_feats_mean`` / ``pose_feats_std``).
    Raises:
        TrainingDataError: missing files or keys, row counts that disagree, wrong sizes, no labelled rows.
    """
    from scorehmr_ros.image_prior.feature_stats import load_pare_feature_stats

    dataset_file, pare_preds_file = Path(dataset_file), Path(pare_preds_file)
    labels = _load_npz(dataset_file, what="dataset label file")
    preds = _load_npz(pare_preds_file, what="cached PARE predictions")
    for key, source, arrays in (("body_pose", dataset_file, labels), ("has_body_pose", dataset_file, labels),
                                ("pose_feats", pare_preds_file, preds)):
        if key not in arrays:
            raise TrainingDataError(f"{source}: missing key {key!r} (keys: {sorted(arrays)})")
    body_pose = labels["body_pose"].astype(np.float32)
    has_pose = labels["has_body_pose"].astype(np.float32).reshape(-1)
    num_rows = body_pose.shape[0]
    if body_pose.shape != (num_rows, AXIS_ANGLE_POSE_SIZE):
        raise TrainingDataError(f"{dataset_file}: 'body_pose' expected shape (N, 72), got {body_pose.shape}")
    if has_pose.shape != (num_rows,):
        raise TrainingDataError(f"{dataset_file}: 'has_body_pose' expected {num_rows} values, got {has_pose.shape}")
    feats = preds["pose_feats"]
    if feats.shape[0] != num_rows or feats[0].size != PARE_COND_DIM:
        raise TrainingDataError(f"{pare_preds_file}: 'pose_feats' expected shape ({num_rows}, 128, 24), "
                                f"got {feats.shape}")
    stats = load_pare_feature_stats(feat_stats_file)
    keep = has_pose > 0
    if not keep.any():
        raise TrainingDataError(f"{dataset_file}: no row has has_body_pose > 0; nothing to train on")
    flat = feats.reshape(num_rows, PARE_COND_DIM)[keep].astype(np.float32)
    cond = (flat - stats.pose_feats_mean) / stats.pose_feats_std
    pose_6d = axis_angle_pose_to_6d(torch.from_numpy(body_pose[keep]))
    return ImageFeatureSet(pose_6d=pose_6d.float(), cond=torch.from_numpy(cond.astype(np.float32)),
                           name=dataset_file.stem, num_rows_in_file=num_rows)


class ImageFeatureSampler:
    """Mix of official datasets: pick a dataset by weight, then a row uniformly (official ``MixedDataset``)."""

    cond_dim = PARE_COND_DIM

    def __init__(self, datasets: Sequence[ImageFeatureSet], *, weights: Sequence[float] | None = None) -> None:
        if not datasets:
            raise TrainingDataError("no image datasets given")
        weights = [1.0] * len(datasets) if weights is None else [float(w) for w in weights]
        if len(weights) != len(datasets) or any(not math.isfinite(w) or w <= 0 for w in weights):
            raise TrainingDataError(f"weights {weights}: need one positive weight per dataset ({len(datasets)})")
        self.datasets = tuple(datasets)
        self.weights = torch.tensor(weights, dtype=torch.float64) / sum(weights)
        sizes = torch.tensor([int(d.pose_6d.shape[0]) for d in datasets])
        self._sizes = sizes  # (K,) rows per dataset
        self._offsets = torch.cumsum(sizes, dim=0) - sizes  # (K,) first row of each dataset in the pool
        self._pose_6d = torch.cat([d.pose_6d for d in datasets])  # (N, D)
        self._cond = torch.cat([d.cond for d in datasets])  # (N, C)

    def __len__(self) -> int:
        return int(self._sizes.sum())

    def sample(self, *, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        which = torch.multinomial(self.weights, batch_size, replacement=True, generator=generator)  # (B,)
        u = torch.rand(batch_size, generator=generator, dtype=torch.float64)
        sizes = self._sizes[which]
        row = self._offsets[which] + torch.minimum((u * sizes).long(), sizes - 1)
        return self._pose_6d[row], self._cond[row]
