"""Multi-view triangulation of 2D keypoints with calibrated cameras (numpy, ROS-free).

Steps, each one function:
1. ``undistort_normalized``: pixels -> normalized image coordinates (x/z, y/z), inverting
   plumb-bob distortion by Newton iterations.
2. ``triangulate_dlt``: confidence-weighted direct linear transform per joint over any subset of
   views, batched over people and joints (batched 3x3 normal equations); ``triangulate_reweighted`` iterates it
   with rows divided by depth so that it minimizes image-plane rather than algebraic residuals.
3. ``reprojection_errors_px``: distance between each view's keypoint and the reprojected point.
4. ``triangulate``: the robust estimate. ``view_pairs`` (default) scores every pair of views as a
   hypothesis with the MSAC cost sum_v c_v min(e_v^2, tau^2) over all views, keeps the best pair's
   inlier views (e_v < tau) and re-triangulates from them; ``drop_worst`` drops the view with the
   largest error while it exceeds tau and more than two views remain (cheaper, but a gross outlier
   among few views can pull the least-squares point so that a good view has the largest error);
   ``none`` uses every view.

A joint seen (confidence > ``min_confidence``) by fewer than two inlier views, or whose point lies
behind an inlier camera, is invalid: NaN coordinates, ``valid`` False. Nothing is invented.
Shape letters: V views, P people, J joints (see ``scorehmr_ros.core``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from scorehmr_ros.base.config_fields import check_settings, setting
from scorehmr_ros.geometry.camera import Camera

#: Robust estimators ``triangulate`` offers.
ROBUST_METHODS = ("view_pairs", "drop_worst", "none")
#: det(M) / (trace(M) / 3)^3 below this means (nearly) parallel rays: no point is triangulated.
_MIN_CONDITION = 1e-12


class TriangulationError(ValueError):
    """Keypoints and cameras that do not fit together (shapes, counts, non-finite values)."""


#: Focal length up to which pixel thresholds are used as given; a camera with a longer focal length (more pixels per
#: radian, e.g. the same view at a higher resolution) scales them by its focal length / this, so that they are the
#: same angles there. Keypoint error grows with the person's size in pixels, but not below a few pixels, hence
#: no scaling down. 1000 px: a 1280-px-wide camera with a 65 deg horizontal field of view.
REFERENCE_FOCAL_PX = 1000.0


def focal_scales(cameras: Sequence[Camera], reference_focal_px: float) -> np.ndarray:
    """(V,) factor of each camera's pixel thresholds: max(1, focal / ``reference_focal_px``), focal = sqrt(fx fy);
    all 1 when ``reference_focal_px`` is 0 (fixed pixels)."""
    if reference_focal_px <= 0:
        return np.ones(len(cameras))
    focal_px = np.array([np.sqrt(camera.K[0, 0] * camera.K[1, 1]) for camera in cameras], dtype=np.float64)
    return np.maximum(1.0, focal_px / reference_focal_px)


@dataclass(frozen=True)
class TriangulationConfig:
    """Triangulation parameters.

    Attributes:
        min_confidence: a keypoint with confidence <= this is missing.
        outlier_threshold_px: tau, the reprojection error above which a view is an outlier, pixels (at a focal length
            up to ``reference_focal_px``; see :func:`focal_scales`).
        reference_focal_px: focal length up to which tau is in pixels; longer focal lengths scale it (0: never).
        robust_method: "view_pairs" (MSAC over view pairs), "drop_worst" or "none".
        undistort_iterations: Newton iterations inverting plumb-bob distortion.
    """

    min_confidence: float = setting(0.05, "a keypoint with confidence <= this is missing", minimum=0.0, maximum=1.0)
    outlier_threshold_px: float = setting(20.0, "reprojection error above which a view is an outlier", unit="px",
                                          minimum=0.1, maximum=1000.0)
    reference_focal_px: float = setting(REFERENCE_FOCAL_PX, "focal length up to which outlier_threshold_px is in "
                                        "pixels; a camera with a longer one scales it by focal / this (0: never)",
                                        unit="px", minimum=0.0, maximum=100000.0)
    robust_method: str = setting("view_pairs", "robust estimator over views", choices=ROBUST_METHODS)
    undistort_iterations: int = setting(20, "Newton iterations inverting plumb-bob distortion", minimum=1,
                                        maximum=100)

    def validate(self) -> TriangulationConfig:
        """Raise ValueError naming a field outside its range; return self."""
        check_settings(self)
        return self


@dataclass(frozen=True)
class Triangulation:
    """Triangulated joints of P people.

    Attributes:
        points_world_m: (P, J, 3) world points, metres; NaN where not valid.
        valid: (P, J) True where at least two inlier views agree within the threshold.
        inlier_mask: (V, P, J) the views used for each point.
        num_views: (P, J) number of inlier views (0 where not valid).
        confidence: (P, J) mean keypoint confidence of the inlier views (0 where not valid).
        reprojection_error_px: (P, J) mean reprojection error over the inlier views, pixels; NaN where not valid.
    """

    points_world_m: np.ndarray
    valid: np.ndarray
    inlier_mask: np.ndarray
    num_views: np.ndarray
    confidence: np.ndarray
    reprojection_error_px: np.ndarray


# -- 1. undistortion ---------------------------------------------------------------------


def _plumb_bob_and_jacobian(xy: np.ndarray, coeffs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Plumb-bob distortion of (..., 2) normalized points and its (..., 2, 2) Jacobian d x_d / d x."""
    k1, k2, p1, p2, k3 = coeffs
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    d_radial = k1 + r2 * (2.0 * k2 + 3.0 * k3 * r2)  # d radial / d r^2
    distorted = np.stack([x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x),
                          y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y], axis=-1)
    cross = 2.0 * x * y * d_radial + 2.0 * p1 * x + 2.0 * p2 * y  # d x_d / d y = d y_d / d x
    jacobian = np.stack([
        np.stack([radial + 2.0 * x * x * d_radial + 2.0 * p1 * y + 6.0 * p2 * x, cross], axis=-1),
        np.stack([cross, radial + 2.0 * y * y * d_radial + 6.0 * p1 * y + 2.0 * p2 * x], axis=-1),
    ], axis=-2)
    return distorted, jacobian


#: Newton undistortion stops when no normalized coordinate moves by more than this (1e-12 of the focal length:
#: far below a pixel at any resolution).
UNDISTORT_STEP_TOLERANCE = 1e-12


def undistort_normalized(points_px: np.ndarray, camera: Camera, *, iterations: int = 20) -> np.ndarray:
    """(..., 2) pixel points of ``camera`` -> (..., 2) undistorted normalized coordinates (x/z, y/z).

    Without distortion this is K^-1 [u, v, 1]. With plumb-bob it solves distort(x) = x_d by Newton
    iterations from x = x_d (2x2 solves in closed form, batched), at most ``iterations``: it stops once no point
    moves by more than :data:`UNDISTORT_STEP_TOLERANCE` (Newton converges in a few steps for real lenses; the
    fixed 20 iterations were most of the association's time on 1080p footage).
    """
    points = np.asarray(points_px, dtype=np.float64)
    if points.shape[-1:] != (2,):
        raise TriangulationError(f"points_px: expected shape (..., 2), got {points.shape}")
    fx, fy, cx, cy = camera.K[0, 0], camera.K[1, 1], camera.K[0, 2], camera.K[1, 2]
    target = np.stack([(points[..., 0] - cx) / fx, (points[..., 1] - cy) / fy], axis=-1)
    if camera.distortion_model != "plumb_bob" or not np.any(camera.distortion):
        return target
    xy = target.copy()
    for _ in range(iterations):
        distorted, jac = _plumb_bob_and_jacobian(xy, camera.distortion)
        residual = target - distorted
        det = jac[..., 0, 0] * jac[..., 1, 1] - jac[..., 0, 1] * jac[..., 1, 0]
        det = np.where(np.abs(det) > 1e-12, det, 1e-12)
        step_x = (jac[..., 1, 1] * residual[..., 0] - jac[..., 0, 1] * residual[..., 1]) / det
        step_y = (jac[..., 0, 0] * residual[..., 1] - jac[..., 1, 0] * residual[..., 0]) / det
        xy = xy + np.stack([step_x, step_y], axis=-1)
        if max(np.abs(step_x).max(initial=0.0), np.abs(step_y).max(initial=0.0)) < UNDISTORT_STEP_TOLERANCE:
            break
    return xy


def undistort_pixels(points_px: np.ndarray, camera: Camera, *, iterations: int = 20) -> np.ndarray:
    """(..., 2) pixel points -> (..., 2) pixels of the ideal (distortion-free) pinhole with the same K."""
    xy = undistort_normalized(points_px, camera, iterations=iterations)
    return np.stack([camera.K[0, 0] * xy[..., 0] + camera.K[0, 2], camera.K[1, 1] * xy[..., 1] + camera.K[1, 2]],
                    axis=-1)


# -- 2. weighted DLT ---------------------------------------------------------------------


def projection_matrices(cameras: Sequence[Camera]) -> np.ndarray:
    """(V, 3, 4) normalized projection matrices [R_cam_world | t_cam_world_m]."""
    return np.stack([np.concatenate([c.R_cam_world, c.t_cam_world_m[:, None]], axis=1) for c in cameras])


def triangulate_dlt(xy_normalized: np.ndarray, weights: np.ndarray, projections: np.ndarray) -> np.ndarray:
    """Confidence-weighted DLT.

    Each view v adds the rows a = w_v (x_v P_v^3 - P_v^1) and w_v (y_v P_v^3 - P_v^2) to A; with
    A = [A_X | a_4] the point solves the normal equations (A_X^T A_X) X = -A_X^T a_4 (the linear
    least-squares DLT with the homogeneous coordinate fixed to 1; 3x3 solves, batched).

    Args:
        xy_normalized: (V, ..., 2) normalized image coordinates.
        weights: (V, ...) row weights, 0 for views that do not take part.
        projections: (V, 3, 4) normalized projection matrices.
    Returns:
        (..., 3) points, metres; NaN where fewer than two views have weight > 0 or the rays are (nearly) parallel.
    """
    batch = xy_normalized.shape[1:-1]
    w = np.where(np.isfinite(weights) & np.all(np.isfinite(xy_normalized), axis=-1), weights, 0.0)
    xy = np.where(w[..., None] > 0, xy_normalized, 0.0)
    proj = projections.reshape((projections.shape[0],) + (1,) * len(batch) + (3, 4))
    rows = (xy[..., :, None] * proj[..., 2:3, :] - proj[..., 0:2, :]) * w[..., None, None]  # (V, ..., 2, 4)
    rows = np.moveaxis(rows, 0, -3).reshape(batch + (-1, 4))  # (..., 2V, 4): A = [A_X | a_4]
    normal = np.swapaxes(rows[..., :3], -1, -2) @ rows  # (..., 3, 4): [A_Xᵀ A_X | A_Xᵀ a_4]
    # the symmetric 3x3 solve in closed form (adjugate / determinant): one matmul and a few elementwise products
    # instead of numpy's batched LAPACK solve and det, which cost more than the arithmetic at these sizes
    m00, m01, m02, m11, m12, m22 = (normal[..., i, j] for i, j in ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)))
    r0, r1, r2 = (-normal[..., i, 3] for i in range(3))
    a00, a01, a02 = m11 * m22 - m12 * m12, m02 * m12 - m01 * m22, m01 * m12 - m02 * m11
    a11, a12, a22 = m00 * m22 - m02 * m02, m01 * m02 - m00 * m12, m00 * m11 - m01 * m01
    det = m00 * a00 + m01 * a01 + m02 * a02
    # conditioning: det(M) against the cube of its mean eigenvalue (both 0 for parallel rays)
    mean_eigenvalue = (m00 + m11 + m22) / 3.0
    ok = (np.sum(w > 0, axis=0) >= 2) & (det > _MIN_CONDITION * mean_eigenvalue**3)
    inverse_det = 1.0 / np.where(ok, det, 1.0)
    points = np.stack([a00 * r0 + a01 * r1 + a02 * r2, a01 * r0 + a11 * r1 + a12 * r2,
                       a02 * r0 + a12 * r1 + a22 * r2], axis=-1) * inverse_det[..., None]
    return np.where(ok[..., None], points, np.nan)


def triangulate_reweighted(xy_normalized: np.ndarray, weights: np.ndarray, projections: np.ndarray, *,
                           iterations: int = 2) -> np.ndarray:
    """DLT with each view's rows divided by the depth z_v of the previous estimate, so that the algebraic
    residual w_v z_v |x_v - pi_v(X)| becomes the image-plane residual w_v |x_v - pi_v(X)| (iterated).

    Shapes as :func:`triangulate_dlt`; views with the point behind them keep their previous weight.
    """
    points = triangulate_dlt(xy_normalized, weights, projections)
    for _ in range(iterations):
        depth = (np.einsum("...k,vk->v...", points, projections[:, 2, :3])
                 + projections[:, 2, 3].reshape((-1,) + (1,) * (points.ndim - 1)))
        scale = np.where(np.isfinite(depth) & (depth > 1e-6), 1.0 / np.maximum(np.nan_to_num(depth), 1e-6), 1.0)
        refined = triangulate_dlt(xy_normalized, weights * scale, projections)
        points = np.where(np.isfinite(refined), refined, points)
    return points


# -- 3. reprojection ---------------------------------------------------------------------


def reprojection_errors_px(points_world_m: np.ndarray, keypoints_px: np.ndarray,
                           cameras: Sequence[Camera]) -> np.ndarray:
    """(V, ...) pixel distance between keypoints (V, ..., 2+) and the projection of points (..., 3).

    The projection includes distortion. Points behind a camera, or NaN points, give NaN.
    """
    errors = [np.linalg.norm(cam.project(points_world_m) - keypoints_px[v, ..., :2], axis=-1)
              for v, cam in enumerate(cameras)]
    return np.stack(errors)


def _depths_m(points_world_m: np.ndarray, cameras: Sequence[Camera]) -> np.ndarray:
    """(V, ...) depth z of (..., 3) points in each camera frame, metres."""
    return np.stack([cam.world_to_camera(points_world_m)[..., 2] for cam in cameras])


# -- 4. robust estimate --------------------------------------------------------------------


def _check_inputs(keypoints_px: np.ndarray, cameras: Sequence[Camera]) -> np.ndarray:
    keypoints = np.asarray(keypoints_px, dtype=np.float64)
    if keypoints.ndim != 4 or keypoints.shape[-1] != 3:
        raise TriangulationError(f"keypoints_px: expected shape (V, P, J, 3), got {keypoints.shape}")
    if keypoints.shape[0] != len(cameras):
        raise TriangulationError(f"keypoints_px has {keypoints.shape[0]} views but {len(cameras)} cameras were given")
    if not np.all(np.isfinite(keypoints[..., 2])):
        raise TriangulationError("keypoints_px: confidences must be finite")
    return keypoints


def _pair_hypotheses(xy: np.ndarray, weights: np.ndarray, seen: np.ndarray, keypoints: np.ndarray,
                     cameras: Sequence[Camera], projections: np.ndarray, threshold_px: float,
                     scale: np.ndarray) -> np.ndarray:
    """(V, P, J) inlier views of the MSAC-best view-pair hypothesis (all False where no pair exists); a view's
    errors count divided by its (V,) ``scale``."""
    V = len(cameras)
    pairs = list(combinations(range(V), 2))
    pair_weights = np.zeros((V, len(pairs)) + weights.shape[1:])
    for k, (a, b) in enumerate(pairs):
        pair_weights[a, k] = weights[a]
        pair_weights[b, k] = weights[b]
    xy_pairs = np.broadcast_to(xy[:, None], (V, len(pairs)) + xy.shape[1:])
    candidates = triangulate_dlt(xy_pairs, pair_weights, projections)  # (K, P, J, 3)
    errors = reprojection_errors_px(candidates, keypoints[:, None], cameras)  # (V, K, P, J)
    errors = errors / scale[:, None, None, None]
    errors = np.where(_depths_m(candidates, cameras) > 0, errors, np.inf)
    inlier = seen[:, None] & (errors < threshold_px)
    cost = np.sum(np.where(seen[:, None], weights[:, None] * np.minimum(np.nan_to_num(errors, nan=np.inf),
                                                                        threshold_px) ** 2, 0.0), axis=0)
    cost = np.where(np.all(np.isfinite(candidates), axis=-1), cost, np.inf)  # (K, P, J)
    best = np.argmin(cost, axis=0)
    chosen = np.take_along_axis(inlier, best[None, None], axis=1)[:, 0]
    return chosen & np.isfinite(np.min(cost, axis=0))[None]


def triangulate(*, keypoints_px: np.ndarray, cameras: Sequence[Camera],
                config: TriangulationConfig = TriangulationConfig()) -> Triangulation:
    """Robust triangulation of P people's joints seen in V views.

    Args:
        keypoints_px: (V, P, J, 3) x_px, y_px, confidence per view, person and joint (raw, distorted
            pixels). A view that does not see a person has confidence 0 there.
        cameras: the V cameras.
        config: see :class:`TriangulationConfig`.
    Returns:
        :class:`Triangulation`.
    """
    keypoints = _check_inputs(keypoints_px, cameras)
    tau = config.outlier_threshold_px
    scale = focal_scales(cameras, config.reference_focal_px)  # errors compare with tau divided by this
    seen = (keypoints[..., 2] > config.min_confidence) & np.all(np.isfinite(keypoints[..., :2]), axis=-1)
    weights = np.where(seen, keypoints[..., 2], 0.0)
    xy = np.stack([undistort_normalized(np.where(seen[v, ..., None], keypoints[v, ..., :2], 0.0), cam,
                                        iterations=config.undistort_iterations) for v, cam in enumerate(cameras)])
    projections = projection_matrices(cameras)

    if config.robust_method == "view_pairs" and len(cameras) > 2:
        inliers = _pair_hypotheses(xy, weights, seen, keypoints, cameras, projections, tau, scale)
    else:
        inliers = seen.copy()
    scale = scale[:, None, None]

    def scaled_errors(points: np.ndarray) -> np.ndarray:
        return reprojection_errors_px(points, keypoints, cameras) / scale

    points = triangulate_reweighted(xy, np.where(inliers, weights, 0.0), projections)
    errors = scaled_errors(points)
    if config.robust_method == "view_pairs" and len(cameras) > 2:
        # one refinement: the inliers of the refined point, where it still has two of them
        refined = seen & (errors < tau)
        use = np.sum(refined, axis=0) >= 2
        inliers = np.where(use[None], refined, inliers)
        points = triangulate_reweighted(xy, np.where(inliers, weights, 0.0), projections)
        errors = scaled_errors(points)
    elif config.robust_method == "drop_worst":
        for _ in range(len(cameras) - 2):
            masked = np.where(inliers, np.nan_to_num(errors, nan=np.inf), -1.0)
            worst = np.argmax(masked, axis=0)
            worst_error = np.max(masked, axis=0)
            drop = (worst_error > tau) & (np.sum(inliers, axis=0) > 2)
            if not np.any(drop):
                break
            inliers &= ~(drop[None] & (np.arange(len(cameras)).reshape((-1,) + (1,) * drop.ndim) == worst[None]))
            points = triangulate_reweighted(xy, np.where(inliers, weights, 0.0), projections)
            errors = scaled_errors(points)
    return _result(points, errors, inliers, keypoints, cameras, tau, scale)


def _result(points: np.ndarray, errors: np.ndarray, inliers: np.ndarray, keypoints: np.ndarray,
            cameras: Sequence[Camera], threshold_px: float, scale: np.ndarray) -> Triangulation:
    """``errors`` (V, P, J): pixels divided by the views' ``scale`` (V, 1, 1), as compared with ``threshold_px``."""
    num_views = np.sum(inliers, axis=0)
    in_front = np.all(~inliers | (_depths_m(points, cameras) > 0), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled_error = np.sum(np.where(inliers, errors, 0.0), axis=0) / num_views
        mean_error = np.sum(np.where(inliers, errors * scale, 0.0), axis=0) / num_views
        confidence = np.sum(np.where(inliers, keypoints[..., 2], 0.0), axis=0) / num_views
    valid = (num_views >= 2) & np.all(np.isfinite(points), axis=-1) & in_front & (scaled_error <= threshold_px)
    return Triangulation(
        points_world_m=np.where(valid[..., None], points, np.nan),
        valid=valid,
        inlier_mask=inliers & valid[None],
        num_views=np.where(valid, num_views, 0),
        confidence=np.where(valid, confidence, 0.0),
        reprojection_error_px=np.where(valid, mean_error, np.nan),
    )
