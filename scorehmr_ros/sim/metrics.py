"""Accuracy metrics against ground truth: MPJPE, PA-MPJPE, PVE, acceleration error.

Conventions: inputs are (..., J, 3) points in metres; leading dims are flattened into samples S
(people x frames). Acceleration uses the time axis, (..., T, J, 3). ``valid`` (..., J) masks
joints without ground truth. Every function returns an :class:`ErrorSummary`; world-frame results
come from the points as given, camera-frame results from :func:`camera_frame_errors`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scorehmr_ros.geometry.camera import Camera


class MetricsError(ValueError):
    """Prediction and ground truth that cannot be compared (shapes, NaN, too few frames)."""


@dataclass(frozen=True)
class ErrorSummary:
    """One error metric over a set of samples.

    Attributes:
        name: metric name ("mpjpe", "pa_mpjpe", "pve", "accel", with a "root_aligned_" prefix where so).
        unit: "m" for positions, "m/s^2" for acceleration.
        mean: mean over all valid (sample, joint) pairs, in ``unit`` (NaN when nothing is valid).
        per_joint: (J,) mean per joint (or vertex) over samples, NaN where a joint is never valid.
        per_sample: (S,) mean per sample over its valid joints, NaN where none is valid.
        num_valid: number of valid (sample, joint) pairs.
    """

    name: str
    unit: str
    mean: float
    per_joint: np.ndarray
    per_sample: np.ndarray
    num_valid: int


@dataclass(frozen=True)
class MetricsReport:
    """The standard set in the world frame; ``pve`` and ``accel`` are None when not computable."""

    mpjpe: ErrorSummary
    pa_mpjpe: ErrorSummary
    pve: ErrorSummary | None
    accel: ErrorSummary | None


@dataclass(frozen=True)
class ViewErrors:
    """Camera-frame errors of one view's prediction (a single-view fit) against ground truth."""

    camera_name: str
    mpjpe: ErrorSummary
    root_aligned_mpjpe: ErrorSummary
    pa_mpjpe: ErrorSummary


def _flatten(pred_m: np.ndarray, gt_m: np.ndarray, valid: np.ndarray | None) -> tuple[np.ndarray, ...]:
    pred = np.asarray(pred_m, dtype=np.float64)
    gt = np.asarray(gt_m, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim < 2 or pred.shape[-1] != 3:
        raise MetricsError(f"prediction {pred.shape} and ground truth {gt.shape} must both be (..., J, 3)")
    mask = np.ones(pred.shape[:-1], dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    if mask.shape != pred.shape[:-1]:
        raise MetricsError(f"valid: expected shape {pred.shape[:-1]}, got {mask.shape}")
    if not np.all(np.isfinite(gt[mask])):
        raise MetricsError("ground truth has NaN or infinite values at valid joints")
    num_joints = pred.shape[-2]
    return pred.reshape(-1, num_joints, 3), gt.reshape(-1, num_joints, 3), mask.reshape(-1, num_joints)


def summarize(errors: np.ndarray, valid: np.ndarray, *, name: str, unit: str) -> ErrorSummary:
    """An :class:`ErrorSummary` from per-(sample, joint) errors (S, J) and their validity (S, J)."""
    masked = np.where(valid, errors, 0.0)
    count_joint = valid.sum(axis=0)
    count_sample = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_joint = masked.sum(axis=0) / count_joint
        per_sample = masked.sum(axis=1) / count_sample
    total = int(valid.sum())
    mean = float(masked.sum() / total) if total else float("nan")
    return ErrorSummary(name=name, unit=unit, mean=mean, per_joint=per_joint, per_sample=per_sample,
                        num_valid=total)


def joint_errors_m(pred_m: np.ndarray, gt_m: np.ndarray) -> np.ndarray:
    """(..., J) Euclidean distance per joint, metres."""
    return np.linalg.norm(np.asarray(pred_m, dtype=np.float64) - np.asarray(gt_m, dtype=np.float64), axis=-1)


def procrustes_align(pred_m: np.ndarray, gt_m: np.ndarray, *, valid: np.ndarray | None = None) -> np.ndarray:
    """(S, J, 3) ``pred_m`` moved by the similarity s R x + t that best fits it to ``gt_m`` in least squares
    over the valid joints (Umeyama 1991, reflections excluded). Samples with < 3 valid joints stay as they are.
    """
    pred, gt, mask = _flatten(pred_m, gt_m, valid)
    weight = mask[..., None].astype(np.float64)
    count = np.maximum(weight.sum(axis=1, keepdims=True), 1.0)
    mu_pred = (pred * weight).sum(axis=1, keepdims=True) / count
    mu_gt = (np.where(mask[..., None], gt, 0.0)).sum(axis=1, keepdims=True) / count
    x = (pred - mu_pred) * weight
    y = (np.where(mask[..., None], gt, 0.0) - mu_gt) * weight
    covariance = np.swapaxes(y, 1, 2) @ x  # (S, 3, 3) sum_j y_j x_j^T
    U, singular, Vt = np.linalg.svd(covariance)
    sign = np.sign(np.linalg.det(U @ Vt))
    sign = np.where(sign == 0, 1.0, sign)
    D = np.tile(np.eye(3), (pred.shape[0], 1, 1))
    D[:, 2, 2] = sign
    R = U @ D @ Vt
    variance = np.sum(x * x, axis=(1, 2))
    trace = np.sum(singular * np.diagonal(D, axis1=1, axis2=2), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(variance > 0, trace / variance, 1.0)
    aligned = scale[:, None, None] * (pred - mu_pred) @ np.swapaxes(R, 1, 2) + mu_gt
    enough = mask.sum(axis=1) >= 3
    return np.where(enough[:, None, None], aligned, pred).reshape(np.shape(pred_m))


def mpjpe(pred_m: np.ndarray, gt_m: np.ndarray, *, valid: np.ndarray | None = None,
          root_index: int | None = None) -> ErrorSummary:
    """Mean per-joint position error, metres; with ``root_index`` both sets are first moved so that
    that joint is at the origin (the usual single-view protocol)."""
    pred, gt, mask = _flatten(pred_m, gt_m, valid)
    name = "mpjpe"
    if root_index is not None:
        if not -pred.shape[1] <= root_index < pred.shape[1]:
            raise MetricsError(f"root_index {root_index} outside 0..{pred.shape[1] - 1}")
        pred = pred - pred[:, root_index:root_index + 1]
        gt = gt - gt[:, root_index:root_index + 1]
        mask = mask & mask[:, root_index:root_index + 1]
        name = "root_aligned_mpjpe"
    return summarize(joint_errors_m(pred, gt), mask, name=name, unit="m")


def pa_mpjpe(pred_m: np.ndarray, gt_m: np.ndarray, *, valid: np.ndarray | None = None) -> ErrorSummary:
    """MPJPE after Procrustes alignment with scale per sample (invariant to a similarity of ``pred_m``)."""
    pred, gt, mask = _flatten(pred_m, gt_m, valid)
    aligned = procrustes_align(pred, gt, valid=mask)
    return summarize(joint_errors_m(aligned, gt), mask, name="pa_mpjpe", unit="m")


def pve(pred_vertices_m: np.ndarray, gt_vertices_m: np.ndarray) -> ErrorSummary:
    """Per-vertex error, metres: mean distance between corresponding mesh vertices (..., N, 3)."""
    pred, gt, mask = _flatten(pred_vertices_m, gt_vertices_m, None)
    return summarize(joint_errors_m(pred, gt), mask, name="pve", unit="m")


def acceleration_m_s2(points_m: np.ndarray, *, fps: float) -> np.ndarray:
    """(..., T-2, J, 3) central second difference (x[t-1] - 2 x[t] + x[t+1]) fps^2 along the time axis -3."""
    points = np.asarray(points_m, dtype=np.float64)
    return (points[..., :-2, :, :] - 2.0 * points[..., 1:-1, :, :] + points[..., 2:, :, :]) * fps**2


def accel_error(pred_m: np.ndarray, gt_m: np.ndarray, *, fps: float, valid: np.ndarray | None = None) -> ErrorSummary:
    """Mean norm of the acceleration difference, m/s^2 (papers report mm/frame^2 = 1000 / fps^2 of this).

    Inputs are (..., T, J, 3) with T >= 3; a frame counts when it and both neighbours are valid.
    """
    pred = np.asarray(pred_m, dtype=np.float64)
    gt = np.asarray(gt_m, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim < 3 or pred.shape[-3] < 3 or pred.shape[-1] != 3:
        raise MetricsError(f"accel_error: expected matching (..., T>=3, J, 3), got {pred.shape} and {gt.shape}")
    if not np.isfinite(fps) or fps <= 0:
        raise MetricsError(f"accel_error: fps must be > 0, got {fps}")
    mask = np.ones(pred.shape[:-1], dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    if mask.shape != pred.shape[:-1]:
        raise MetricsError(f"valid: expected shape {pred.shape[:-1]}, got {mask.shape}")
    mask = mask[..., :-2, :] & mask[..., 1:-1, :] & mask[..., 2:, :]
    errors = joint_errors_m(acceleration_m_s2(pred, fps=fps), acceleration_m_s2(gt, fps=fps))
    num_joints = pred.shape[-2]
    return summarize(errors.reshape(-1, num_joints), mask.reshape(-1, num_joints), name="accel", unit="m/s^2")


def evaluate(pred_joints_m: np.ndarray, gt_joints_m: np.ndarray, *, fps: float | None = None,
             valid: np.ndarray | None = None, pred_vertices_m: np.ndarray | None = None,
             gt_vertices_m: np.ndarray | None = None) -> MetricsReport:
    """World-frame MPJPE and PA-MPJPE of (..., T, J, 3) joints; PVE when both vertex sets are given,
    acceleration error when ``fps`` is given and there are at least 3 frames."""
    accel = None
    if fps is not None and np.ndim(pred_joints_m) >= 3 and np.shape(pred_joints_m)[-3] >= 3:
        accel = accel_error(pred_joints_m, gt_joints_m, fps=fps, valid=valid)
    vertices = None
    if pred_vertices_m is not None and gt_vertices_m is not None:
        vertices = pve(pred_vertices_m, gt_vertices_m)
    return MetricsReport(mpjpe=mpjpe(pred_joints_m, gt_joints_m, valid=valid),
                         pa_mpjpe=pa_mpjpe(pred_joints_m, gt_joints_m, valid=valid), pve=vertices, accel=accel)


def camera_frame_errors(pred_cam_m: np.ndarray, gt_world_m: np.ndarray, cameras: tuple[Camera, ...], *,
                        valid: np.ndarray | None = None, root_index: int = 0) -> tuple[ViewErrors, ...]:
    """Errors of per-view predictions in each camera's optical frame.

    Args:
        pred_cam_m: (V, ..., J, 3) prediction of view v in camera v's frame (e.g. single-view fits).
        gt_world_m: (..., J, 3) ground truth in the world frame.
        cameras: the V cameras.
        valid: (V, ..., J) or (..., J) validity.
        root_index: joint used for root alignment (0: SMPL pelvis; 8: OpenPose MidHip).
    """
    pred = np.asarray(pred_cam_m, dtype=np.float64)
    gt = np.asarray(gt_world_m, dtype=np.float64)
    if pred.shape[0] != len(cameras) or pred.shape[1:] != gt.shape:
        raise MetricsError(f"pred_cam_m: expected ({len(cameras)}, *{gt.shape}), got {pred.shape}")
    mask = None if valid is None else np.broadcast_to(np.asarray(valid, dtype=bool), pred.shape[:-1])
    results = []
    for view, camera in enumerate(cameras):
        gt_cam = camera.world_to_camera(gt)
        view_valid = None if mask is None else mask[view]
        results.append(ViewErrors(
            camera_name=camera.name,
            mpjpe=mpjpe(pred[view], gt_cam, valid=view_valid),
            root_aligned_mpjpe=mpjpe(pred[view], gt_cam, valid=view_valid, root_index=root_index),
            pa_mpjpe=pa_mpjpe(pred[view], gt_cam, valid=view_valid),
        ))
    return tuple(results)
