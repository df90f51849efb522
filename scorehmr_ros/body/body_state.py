"""The fitted state of one person: what the core hands to the nodes for publishing."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from scorehmr_ros.base.arrays import checked_array
from scorehmr_ros.body.joint_counts import NUM_SMPL_JOINTS


class TrackingState(enum.IntEnum):
    """Per-body tracking state, with the meaning ZED users know.

    TRACKED: observed in the latest set. SEARCHING: predicted, not observed, still alive.
    TERMINATED: the track ended; this is its last message.
    """

    TRACKED = 0
    SEARCHING = 1
    TERMINATED = 2


class BodyStateError(ValueError):
    """A body state whose arrays have the wrong shape or contain NaN."""


@dataclass(frozen=True)
class BodyEstimate:
    """One fitted SMPL body in the world (reference) frame.

    Attributes:
        track_id: stable id of the person for the life of the track (``body_<id>``).
        tracking_state: see :class:`TrackingState`.
        betas: (S,) SMPL shape coefficients, usually S = 10.
        rotations: (24, 3, 3) SMPL joint rotations; [0] is the global orientation
            relative to the world frame, [1:] are parent-relative body joint rotations.
        translation_world_m: (3,) SMPL translation in the world frame, metres.
        joints_world_m: (J, 3) 3D joints in the world frame, metres.
        joint_layout: name of the layout of ``joints_world_m`` (e.g. "smpl24", "openpose25").
        joint_confidence: (J,) per-joint confidence in [0, 1].
        fit_residual_px: mean reprojection residual of the fit, pixels.
        num_views: number of camera views that supported this fit.
        stamp_ns: time of the synchronized camera set, nanoseconds.
    """

    track_id: int
    tracking_state: TrackingState
    betas: np.ndarray
    rotations: np.ndarray
    translation_world_m: np.ndarray
    joints_world_m: np.ndarray
    joint_layout: str
    joint_confidence: np.ndarray
    fit_residual_px: float
    num_views: int
    stamp_ns: int

    def __post_init__(self) -> None:
        if int(self.track_id) < 0:
            raise BodyStateError(f"track_id must be >= 0, got {self.track_id}")
        object.__setattr__(self, "tracking_state", TrackingState(self.tracking_state))
        object.__setattr__(self, "betas", checked_array("betas", self.betas, (None,), error=BodyStateError))
        rotations = checked_array("rotations", self.rotations, (NUM_SMPL_JOINTS, 3, 3), error=BodyStateError)
        object.__setattr__(self, "rotations", rotations)
        translation = checked_array("translation_world_m", self.translation_world_m, (3,), error=BodyStateError)
        object.__setattr__(self, "translation_world_m", translation)
        joints = checked_array("joints_world_m", self.joints_world_m, (None, 3), error=BodyStateError)
        object.__setattr__(self, "joints_world_m", joints)
        confidence = checked_array("joint_confidence", self.joint_confidence, (joints.shape[0],), error=BodyStateError)
        object.__setattr__(self, "joint_confidence", confidence)
        residual = float(self.fit_residual_px)
        if not np.isfinite(residual) or residual < 0:
            raise BodyStateError(f"fit_residual_px must be finite and >= 0, got {self.fit_residual_px}")
        object.__setattr__(self, "fit_residual_px", residual)
        if int(self.num_views) < 0:
            raise BodyStateError(f"num_views must be >= 0, got {self.num_views}")
        if int(self.stamp_ns) < 0:
            raise BodyStateError(f"stamp_ns must be >= 0, got {self.stamp_ns}")
