"""Offline diagnostics of 2D keypoints against a known ground truth (numpy, ROS-free).

Used by ``tools/eval_demo_keypoints.py`` to find what makes a keypoint source worse for the fitter
than another: per view, each detection is matched to the ground-truth person whose projected
OpenPose-25 joints it is nearest to, and it counts as left/right *swapped* when its mirrored joints
(left and right labels exchanged, positions unchanged) are nearer, by a margin. Per joint type the
2D offsets from the projected ground truth are reported in units of the person's apparent height
(pixels / pixel height), so that different views and distances can be pooled.
Shape letters: P people (ground truth), D detections, J joints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from scorehmr_ros.geometry.camera import Camera


class KeypointEvalError(ValueError):
    """Inputs of the keypoint diagnostics with inconsistent shapes."""


def mirror_index_from_names(joint_names: Sequence[str]) -> np.ndarray:
    """(J,) index of each joint's left/right counterpart by name (``left_x`` <-> ``right_x``; itself for a
    centre joint or a side joint whose counterpart is not in the list)."""
    index = {name: i for i, name in enumerate(joint_names)}
    out = np.arange(len(joint_names), dtype=np.int64)
    for i, name in enumerate(joint_names):
        for a, b in (("left_", "right_"), ("right_", "left_")):
            if name.startswith(a) and b + name[len(a):] in index:
                out[i] = index[b + name[len(a):]]
    return out


@dataclass(frozen=True)
class DetectionMatch:
    """Per detection of one view against the projected ground truth.

    Attributes:
        person: (D,) matched ground-truth person, -1 where none is within reach.
        error_px: (D,) mean pixel distance of the confident joints to the matched person as detected.
        mirrored_error_px: (D,) the same with left/right labels exchanged.
        swapped: (D,) True where the mirrored joints fit clearly better (see :func:`match_detections`).
    """

    person: np.ndarray
    error_px: np.ndarray
    mirrored_error_px: np.ndarray
    swapped: np.ndarray


def _mean_distance(keypoints: np.ndarray, truth_px: np.ndarray, visible: np.ndarray,
                   min_confidence: float) -> np.ndarray:
    """(D, P) mean over confident, visible joints of the distance of (D, J, 3) keypoints to (P, J, 2) pixels."""
    used = (keypoints[:, None, :, 2] > min_confidence) & visible[None]  # (D, P, J)
    distance = np.linalg.norm(keypoints[:, None, :, :2] - truth_px[None], axis=-1)
    count = used.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count >= 3, np.sum(np.where(used, distance, 0.0), axis=-1) / count, np.inf)


def match_detections(*, keypoints_px: np.ndarray, truth_px: np.ndarray, truth_visible: np.ndarray,
                     mirror_index: np.ndarray, min_confidence: float = 0.05, max_error_px: float = 150.0,
                     swap_margin: float = 0.7) -> DetectionMatch:
    """Match one view's (D, J, 3) detections to (P, J, 2) projected ground-truth joints.

    A detection's person is the one of least mean distance (as detected or mirrored), if below
    ``max_error_px``. It is *swapped* when mirrored error < ``swap_margin`` x the as-detected error.
    ``truth_visible`` (P, J) marks ground-truth joints in front of the camera.
    """
    keypoints = np.asarray(keypoints_px, dtype=np.float64)
    truth = np.asarray(truth_px, dtype=np.float64)
    if keypoints.ndim != 3 or keypoints.shape[-1] != 3:
        raise KeypointEvalError(f"keypoints_px: expected shape (D, J, 3), got {keypoints.shape}")
    if truth.ndim != 3 or truth.shape[1:] != (keypoints.shape[1], 2):
        raise KeypointEvalError(f"truth_px: expected shape (P, {keypoints.shape[1]}, 2), got {truth.shape}")
    direct = _mean_distance(keypoints, truth, truth_visible, min_confidence)
    mirrored = _mean_distance(keypoints[:, mirror_index], truth, truth_visible, min_confidence)
    best = np.minimum(direct, mirrored)
    person = np.argmin(best, axis=1) if truth.shape[0] else np.zeros(keypoints.shape[0], dtype=np.int64)
    rows = np.arange(keypoints.shape[0])
    reach = best[rows, person] < max_error_px if truth.shape[0] else np.zeros(keypoints.shape[0], dtype=bool)
    error = np.where(reach, direct[rows, person] if truth.shape[0] else np.inf, np.inf)
    mirrored_error = np.where(reach, mirrored[rows, person] if truth.shape[0] else np.inf, np.inf)
    return DetectionMatch(person=np.where(reach, person, -1), error_px=error, mirrored_error_px=mirrored_error,
                          swapped=reach & (mirrored_error < swap_margin * error))


def project_people(points_world_m: np.ndarray, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """(P, J, 3) world points -> (P, J, 2) pixels and (P, J) in-front-and-inside mask."""
    pixels = camera.project(points_world_m)
    depth = camera.world_to_camera(points_world_m)[..., 2]
    inside = (depth > 0) & np.all(np.isfinite(pixels), axis=-1)
    inside &= (pixels[..., 0] >= 0) & (pixels[..., 0] < camera.width_px)
    inside &= (pixels[..., 1] >= 0) & (pixels[..., 1] < camera.height_px)
    return np.nan_to_num(pixels), inside


def apparent_height_px(truth_px: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """(P,) vertical extent of each person's visible projected joints, pixels (NaN with < 2 visible)."""
    y = np.where(visible, truth_px[..., 1], np.nan)
    with np.errstate(invalid="ignore"), np.testing.suppress_warnings() as sup:
        sup.filter(RuntimeWarning)
        extent = np.nanmax(y, axis=1) - np.nanmin(y, axis=1)
    return np.where(visible.sum(axis=1) >= 2, extent, np.nan)
