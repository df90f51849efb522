"""Cross-view association: group one synchronized set's detections into people (numpy, ROS-free).

Input: per view v a (P_v, J, 3) array of detections (x_px, y_px, confidence; confidence 0 = missing
joint), the V calibrated cameras and, optionally, the 3D joints predicted by existing tracks.

Steps:
1. Undistort every keypoint (``core.triangulation.undistort_pixels``).
2. Pair gate: for every pair of views, the symmetric epipolar distance (fundamental matrix from the
   camera poses) of the joints both detections see, averaged with a clip; the affinity is
   max(0, 1 - mean / epipolar_threshold_px). A pair with affinity > 0 is triangulated from its two
   views and kept as a *person hypothesis* when it lies in front of both cameras within
   [min_depth_m, max_depth_m] and, given joint names, its bone lengths have a plausible scale.
3. Every track prediction is a hypothesis too (its predicted joints, no seed detections).
4. Support: each hypothesis is projected into every view; a view supports it with its unused
   detection of least mean distance, if below ``support_threshold_px`` (``track_gate_px`` for
   track hypotheses). A pair hypothesis always contains its two seed detections.
5. Greedy selection: the hypothesis with most supporting views (then least normalized distance) is
   triangulated robustly from its members; a member view whose confident joints are mostly outliers
   is detached (worst first); with at least two views left it becomes a group and its detections are
   used. The group is labelled with the track whose prediction at least half of its members support
   (each track labels at most one group). Repeat until no hypothesis with two unused views is left.
6. Detections in no group are reported as unassociated: never fused.
Pixel thresholds scale with the camera: they hold as given up to a focal length of ``reference_focal_px``; a
camera with a longer focal length (the same view at a higher resolution) measures its distances in units of
focal / reference_focal_px pixels (``core.triangulation.focal_scales``), so a 1080p rig groups as the same rig at
VGA does. The symmetric epipolar distance averages each image's distance in that image's units.
Left/right swaps (``resolve_swaps``, joint names needed): in step 4 a detection may support a hypothesis
with a body part (head, arms, legs) left/right-mirrored when that part's mirrored joints are clearly
nearer the projected hypothesis; a group of three or more views then takes, per part, the labeling (a
minority of its views mirrored) that triangulates most consistently, see ``perception.swap_resolution``.
A group's mirrored parts are in ``PersonGroup.swapped_parts`` and its keypoints as used in
``PersonGroup.corrected_keypoints_px``.
Shape letters: V views, P people (detections), T tracks, J joints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from scorehmr_ros.base.config_fields import check_settings, setting
from scorehmr_ros.geometry.camera import Camera
from scorehmr_ros.geometry.triangulation import (
    REFERENCE_FOCAL_PX,
    Triangulation,
    TriangulationConfig,
    focal_scales,
    projection_matrices,
    triangulate,
    triangulate_dlt,
    undistort_normalized,
)
from scorehmr_ros.pipeline.swap_resolution import SupportSwaps, SwapParts, choose_flips, flipped_part_names

#: Typical adult bone lengths by joint names (shared by OpenPose-25, COCO-17, MediaPipe-33), metres.
NOMINAL_BONES_M: dict[tuple[str, str], float] = {
    ("left_shoulder", "right_shoulder"): 0.36, ("left_hip", "right_hip"): 0.20, ("neck", "mid_hip"): 0.55,
    ("left_shoulder", "left_elbow"): 0.29, ("right_shoulder", "right_elbow"): 0.29,
    ("left_elbow", "left_wrist"): 0.26, ("right_elbow", "right_wrist"): 0.26,
    ("left_hip", "left_knee"): 0.43, ("right_hip", "right_knee"): 0.43,
    ("left_knee", "left_ankle"): 0.44, ("right_knee", "right_ankle"): 0.44,
}


class AssociationError(ValueError):
    """Detections, cameras or predictions that do not fit together."""


@dataclass(frozen=True)
class AssociationConfig:
    """Cross-view association parameters.

    Attributes:
        min_confidence: a keypoint with confidence <= this is missing.
        min_common_joints: joints two detections (or a detection and a hypothesis) must share to be compared.
        epipolar_threshold_px: mean symmetric epipolar distance at which the pair affinity reaches 0, pixels.
        support_threshold_px: mean distance between a detection and a projected hypothesis for support, pixels.
        track_gate_px: the same for hypotheses predicted by tracks (predictions are coarser), pixels.
        reprojection_threshold_px: outlier threshold of the verifying triangulation, pixels.
        reference_focal_px: focal length up to which the pixel thresholds hold as given; a camera with a longer
            one scales them by its focal / this (they are then angles), pixels. 0: fixed pixels.
        min_inlier_fraction: least fraction of a member view's confident joints that must be inliers.
        min_depth_m, max_depth_m: plausible depth of a person in front of a camera, metres.
        min_bone_scale, max_bone_scale: plausible median ratio of bone lengths to NOMINAL_BONES_M.
        resolve_swaps: use a view's body part (head, arms, legs) left/right-mirrored where the mirrored
            joints fit the other views clearly better (needs joint names).
        swap_margin: a part is mirrored when its mirrored mean distance < swap_margin x its as-detected one.
    """

    min_confidence: float = setting(0.05, "a keypoint with confidence <= this is missing", minimum=0.0, maximum=1.0)
    min_common_joints: int = setting(4, "joints two detections must share to be compared", minimum=1, maximum=200)
    epipolar_threshold_px: float = setting(20.0, "mean symmetric epipolar distance at which a pair's affinity is 0",
                                           unit="px", minimum=0.1, maximum=1000.0)
    support_threshold_px: float = setting(30.0, "mean distance of a detection to a projected hypothesis for support",
                                          unit="px", minimum=0.1, maximum=1000.0)
    track_gate_px: float = setting(80.0, "mean distance of a detection to a projected track prediction for support",
                                   unit="px", minimum=0.1, maximum=2000.0)
    reprojection_threshold_px: float = setting(20.0, "outlier threshold of the verifying triangulation", unit="px",
                                               minimum=0.1, maximum=1000.0)
    reference_focal_px: float = setting(REFERENCE_FOCAL_PX, "focal length up to which the pixel thresholds hold as "
                                        "given; a camera with a longer one scales them by its focal / this (0: "
                                        "never)", unit="px", minimum=0.0, maximum=100000.0)
    min_inlier_fraction: float = setting(0.5, "least fraction of a member view's joints that must be inliers",
                                         minimum=0.0, maximum=1.0)
    min_depth_m: float = setting(0.3, "nearest plausible depth of a person in front of a camera", unit="m",
                                 minimum=0.0, maximum=100.0)
    max_depth_m: float = setting(30.0, "farthest plausible depth of a person in front of a camera", unit="m",
                                 minimum=0.1, maximum=1000.0)
    min_bone_scale: float = setting(0.4, "least plausible median ratio of bone lengths to nominal ones",
                                    minimum=0.0, maximum=10.0)
    max_bone_scale: float = setting(1.8, "largest plausible median ratio of bone lengths to nominal ones",
                                    minimum=0.0, maximum=10.0)
    resolve_swaps: bool = setting(True, "use a view's body part (head, arms, legs) left/right-mirrored where the "
                                        "mirrored joints fit the other views clearly better")
    swap_margin: float = setting(0.6, "a part is mirrored when its mirrored mean distance to the reference is below "
                                      "this fraction of the as-detected one", minimum=0.05, maximum=1.0)

    def validate(self) -> AssociationConfig:
        """Raise ValueError naming a field outside its range or an inconsistent pair; return self."""
        check_settings(self)
        if self.min_depth_m >= self.max_depth_m:
            raise ValueError(f"min_depth_m ({self.min_depth_m}) must be < max_depth_m ({self.max_depth_m})")
        if self.min_bone_scale >= self.max_bone_scale:
            raise ValueError(f"min_bone_scale ({self.min_bone_scale}) must be < max_bone_scale ({self.max_bone_scale})")
        return self

    def triangulation_config(self) -> TriangulationConfig:
        """The triangulation settings association verifies groups with."""
        return TriangulationConfig(min_confidence=self.min_confidence,
                                   outlier_threshold_px=self.reprojection_threshold_px,
                                   reference_focal_px=self.reference_focal_px).validate()


@dataclass(frozen=True)
class TrackPredictions:
    """3D joints predicted by existing tracks for the time of a set (seeds for association).

    Attributes:
        track_ids: (T,) track ids.
        joints_world_m: (T, J, 3) predicted joints, metres.
        joint_valid: (T, J) True where a prediction exists.
    """

    track_ids: np.ndarray
    joints_world_m: np.ndarray
    joint_valid: np.ndarray

    def __post_init__(self) -> None:
        ids = np.asarray(self.track_ids, dtype=np.int64).reshape(-1)
        joints = np.asarray(self.joints_world_m, dtype=np.float64)
        valid = np.asarray(self.joint_valid, dtype=bool)
        if joints.ndim != 3 or joints.shape[0] != ids.shape[0] or joints.shape[2] != 3:
            raise AssociationError(f"joints_world_m: expected shape ({ids.shape[0]}, J, 3), got {joints.shape}")
        if valid.shape != joints.shape[:2]:
            raise AssociationError(f"joint_valid: expected shape {joints.shape[:2]}, got {valid.shape}")
        object.__setattr__(self, "track_ids", ids)
        object.__setattr__(self, "joints_world_m", joints)
        object.__setattr__(self, "joint_valid", valid & np.all(np.isfinite(joints), axis=-1))


@dataclass(frozen=True)
class PersonGroup:
    """One person's detections across views, triangulated.

    Attributes:
        detections: {view_index: detection_index}, at most one detection per view, at least two views.
        joints_world_m: (J, 3) triangulated joints, metres; NaN where not valid.
        joint_valid: (J,) True where the joint was triangulated from >= 2 agreeing views.
        joint_confidence: (J,) mean confidence of the inlier views (0 where not valid).
        num_views: (J,) inlier views per joint.
        reprojection_error_px: (J,) mean reprojection error of the inlier views; NaN where not valid.
        score: mean epipolar affinity of the member pairs, in [0, 1].
        seed_track_id: id of the track whose prediction attracted the group, -1 if none.
        swapped_parts: {view_index: part names} of the member views used with those parts left/right-mirrored.
        corrected_keypoints_px: {view_index: (J, 3) keypoints as used} for the views in ``swapped_parts``.
    """

    detections: dict[int, int]
    joints_world_m: np.ndarray
    joint_valid: np.ndarray
    joint_confidence: np.ndarray
    num_views: np.ndarray
    reprojection_error_px: np.ndarray
    score: float
    seed_track_id: int = -1
    swapped_parts: dict[int, tuple[str, ...]] = field(default_factory=dict)
    corrected_keypoints_px: dict[int, np.ndarray] = field(default_factory=dict)

    def keypoints_of(self, view: int, keypoints_px: np.ndarray) -> np.ndarray:
        """(J, 3) keypoints of member ``view`` as the group uses them (``keypoints_px``: that view's (P_v, J, 3))."""
        corrected = self.corrected_keypoints_px.get(view)
        return corrected if corrected is not None else keypoints_px[self.detections[view]]


@dataclass(frozen=True)
class Association:
    """The grouping of one synchronized set.

    Attributes:
        groups: the people found, each seen by at least two views.
        unassociated: (view_index, detection_index) of every detection in no group.
    """

    groups: tuple[PersonGroup, ...]
    unassociated: tuple[tuple[int, int], ...] = field(default=())


# -- epipolar geometry ----------------------------------------------------------------------


def _skew(t: np.ndarray) -> np.ndarray:
    return np.array([[0.0, -t[2], t[1]], [t[2], 0.0, -t[0]], [-t[1], t[0], 0.0]])


def fundamental_matrix(camera_a: Camera, camera_b: Camera) -> np.ndarray:
    """(3, 3) F with x_b^T F x_a = 0 for undistorted pixel points x_a of camera a and x_b of camera b.

    With X_b = R_ba X_a + t_ba (R_ba = R_b R_a^T, t_ba = t_b - R_ba t_a): F = K_b^-T [t_ba]x R_ba K_a^-1.
    """
    R_ba = camera_b.R_cam_world @ camera_a.R_cam_world.T
    t_ba = camera_b.t_cam_world_m - R_ba @ camera_a.t_cam_world_m
    return np.linalg.inv(camera_b.K).T @ _skew(t_ba) @ R_ba @ np.linalg.inv(camera_a.K)


def epipolar_distances_px(F: np.ndarray, points_a_px: np.ndarray,
                          points_b_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(...) distances of x_b to the line F x_a (in image b) and of x_a to the line F^T x_b (in image a), pixels.

    ``points_a_px`` and ``points_b_px`` are (..., 2) undistorted pixels that broadcast together.
    """
    xa = np.concatenate([points_a_px, np.ones(points_a_px.shape[:-1] + (1,))], axis=-1)
    xb = np.concatenate([points_b_px, np.ones(points_b_px.shape[:-1] + (1,))], axis=-1)
    line_b = xa @ F.T  # (..., 3) lines in image b
    line_a = xb @ F  # (..., 3) lines in image a
    algebraic = np.abs(np.sum(xb * line_b, axis=-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return (algebraic / np.linalg.norm(line_b[..., :2], axis=-1),
                algebraic / np.linalg.norm(line_a[..., :2], axis=-1))


def symmetric_epipolar_distance_px(F: np.ndarray, points_a_px: np.ndarray, points_b_px: np.ndarray) -> np.ndarray:
    """(...) mean of the distances of x_b to the line F x_a and of x_a to the line F^T x_b, pixels.

    ``points_a_px`` and ``points_b_px`` are (..., 2) undistorted pixels that broadcast together.
    """
    in_b, in_a = epipolar_distances_px(F, points_a_px, points_b_px)
    return 0.5 * (in_b + in_a)


def _clipped_mean(distances: np.ndarray, weights: np.ndarray, clip: float, min_count: int) -> np.ndarray:
    """Weighted mean over the last axis of min(distance, clip); inf where fewer than ``min_count`` weights > 0."""
    used = weights > 0
    clipped = np.minimum(np.nan_to_num(distances, nan=clip), clip)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.sum(np.where(used, weights * clipped, 0.0), axis=-1) / np.sum(weights, axis=-1)
    return np.where(np.sum(used, axis=-1) >= min_count, mean, np.inf)


# -- hypotheses ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Views:
    """Per view: detections' undistorted pixels (P_v, J, 2), normalized coordinates, joint weights (P_v, J);
    ``scales`` (V,): each view's distances are divided by its scale before they meet a threshold."""

    pixels: tuple[np.ndarray, ...]
    normalized: tuple[np.ndarray, ...]
    weights: tuple[np.ndarray, ...]
    scales: np.ndarray


def _bone_scale(points_px: np.ndarray, seen: np.ndarray, depth_m: np.ndarray, focal_px: float,
                joint_names: Sequence[str] | None) -> np.ndarray:
    """(...) apparent body scale: median over bones of (2D bone length x depth / focal) / NOMINAL_BONES_M.

    ``points_px`` (..., J, 2) and ``seen`` (..., J) are one view's keypoints, ``depth_m`` (...) the
    person's depth in that view. Per-joint depth is not used: it is noisy for short baselines.
    NaN where no bone is seen or no names are given.
    """
    if joint_names is None:
        return np.full(points_px.shape[:-2], np.nan)
    index = {name: i for i, name in enumerate(joint_names)}
    bones = [(index[a], index[b], length) for (a, b), length in NOMINAL_BONES_M.items() if a in index and b in index]
    if not bones:
        return np.full(points_px.shape[:-2], np.nan)
    first, second, nominal = (np.array(column) for column in zip(*bones, strict=True))
    length_px = np.linalg.norm(points_px[..., first, :] - points_px[..., second, :], axis=-1)
    length_px = np.where(seen[..., first] & seen[..., second], length_px, np.nan)
    return _nanmedian(length_px * depth_m[..., None] / (focal_px * nominal))


def _nanmedian(values: np.ndarray) -> np.ndarray:
    """(...) median over the last axis of the finite entries of (..., N) values, NaN where none (sort-based:
    np.nanmedian is slow on small batched arrays)."""
    ordered = np.sort(np.where(np.isfinite(values), values, np.nan), axis=-1)  # NaN sort last
    count = np.sum(np.isfinite(values), axis=-1)
    lower = np.take_along_axis(ordered, np.maximum((count - 1) // 2, 0)[..., None], axis=-1)[..., 0]
    upper = np.take_along_axis(ordered, np.minimum(count // 2, values.shape[-1] - 1)[..., None], axis=-1)[..., 0]
    return np.where(count > 0, 0.5 * (lower + upper), np.nan)


def _pair_hypotheses(views: _Views, cameras: Sequence[Camera], config: AssociationConfig,
                     joint_names: Sequence[str] | None) -> tuple[list[dict[int, int]], list[np.ndarray], dict]:
    """Seed pairs passing the epipolar gate and the plausibility checks: (seeds, (J, 3) joints, affinities)."""
    seeds: list[dict[int, int]] = []
    joints: list[np.ndarray] = []
    affinity: dict[tuple[int, int, int, int], float] = {}
    projections = projection_matrices(cameras)
    V = len(cameras)
    for a in range(V):
        for b in range(a + 1, V):
            if views.pixels[a].shape[0] == 0 or views.pixels[b].shape[0] == 0:
                continue
            F = fundamental_matrix(cameras[a], cameras[b])
            in_b, in_a = epipolar_distances_px(F, views.pixels[a][:, None], views.pixels[b][None])
            distance = 0.5 * (in_b / views.scales[b] + in_a / views.scales[a])
            weights = np.minimum(views.weights[a][:, None], views.weights[b][None])  # (P_a, P_b, J)
            mean = _clipped_mean(distance, weights, 2.0 * config.epipolar_threshold_px, config.min_common_joints)
            pair_affinity = np.maximum(0.0, 1.0 - mean / config.epipolar_threshold_px)
            ia, ib = np.nonzero(pair_affinity > 0)
            if ia.size == 0:
                continue
            xy = np.stack([views.normalized[a][ia], views.normalized[b][ib]])  # (2, C, J, 2)
            w = np.stack([weights[ia, ib], weights[ia, ib]])
            points = triangulate_dlt(xy, w, projections[[a, b]])  # (C, J, 3)
            depth_a = cameras[a].world_to_camera(points)[..., 2]
            depth_b = cameras[b].world_to_camera(points)[..., 2]
            seen = np.isfinite(depth_a)
            in_range = ((depth_a > config.min_depth_m) & (depth_a < config.max_depth_m)
                        & (depth_b > config.min_depth_m) & (depth_b < config.max_depth_m))
            plausible = np.sum(seen & in_range, axis=-1) >= np.maximum(0.5 * np.sum(seen, axis=-1), 1)
            focal_px = float(np.sqrt(cameras[a].K[0, 0] * cameras[a].K[1, 1]))
            scale = _bone_scale(views.pixels[a][ia], views.weights[a][ia] > 0, _nanmedian(depth_a), focal_px,
                                joint_names)
            plausible &= np.isnan(scale) | ((scale >= config.min_bone_scale) & (scale <= config.max_bone_scale))
            for c in np.nonzero(plausible)[0]:
                seeds.append({a: int(ia[c]), b: int(ib[c])})
                joints.append(points[c])
                affinity[(a, int(ia[c]), b, int(ib[c]))] = float(pair_affinity[ia[c], ib[c]])
    return seeds, joints, affinity


def _support_distances(hypotheses_m: np.ndarray, views: _Views, cameras: Sequence[Camera],
                       config: AssociationConfig, threshold_px: np.ndarray,
                       parts: SwapParts | None) -> list[np.ndarray]:
    """Per view (H, P_v) mean pixel distance of each detection to each projected (H, J, 3) hypothesis, in units
    of the hypothesis' (H,) threshold (so support is < 1), clipped at 2; inf with too few shared joints.
    With ``parts``, a part whose mirrored joints are clearly nearer counts with its mirrored distances."""
    out = []
    finite = np.all(np.isfinite(hypotheses_m), axis=-1)
    for v, cam in enumerate(cameras):
        p_cam = cam.world_to_camera(hypotheses_m)
        in_front = finite & (p_cam[..., 2] > 1e-6)
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = (p_cam[..., :2] / p_cam[..., 2:3]) * np.diag(cam.K)[:2] + cam.K[:2, 2]
        distance = np.linalg.norm(uv[:, None] - views.pixels[v][None], axis=-1)  # (H, P_v, J)
        weights = np.where(in_front[:, None], views.weights[v][None], 0.0)
        if parts is not None and parts.num_parts and distance.size:
            mirror = parts.mirror_index
            mirrored = np.linalg.norm(uv[:, None] - views.pixels[v][None][:, :, mirror], axis=-1)
            both = (weights > 0) & (weights[..., mirror] > 0)
            flips = choose_flips(np.where(both, distance, np.nan), np.where(both, mirrored, np.nan),
                                 np.where(both, 1.0, 0.0), parts, margin=config.swap_margin)
            source = parts.flip_joints(flips)  # (H, P_v, J)
            distance = np.take_along_axis(np.stack([distance, mirrored], -1), (source != np.arange(mirror.size))
                                          [..., None].astype(np.int64), axis=-1)[..., 0]
            weights = np.take_along_axis(weights, source, axis=-1)
        mean = _clipped_mean(distance / (views.scales[v] * threshold_px[:, None, None]), weights, 2.0,
                             config.min_common_joints)
        out.append(mean)
    return out


# -- verification and selection -------------------------------------------------------------


def _verify(members: dict[int, int], keypoints_px: Sequence[np.ndarray], cameras: Sequence[Camera],
            config: AssociationConfig, member_keypoints: dict[int, np.ndarray] | None = None,
            ) -> tuple[dict[int, int], Triangulation] | None:
    """Triangulate a candidate group robustly; detach the worst view while a view's confident joints are mostly
    outliers. Returns the kept members and their triangulation, or None when fewer than two views agree.
    ``member_keypoints`` {view: (J, 3)} replaces a member's detection (its swap-corrected keypoints)."""
    members = dict(members)
    member_keypoints = member_keypoints or {}
    tri_config = config.triangulation_config()
    while len(members) >= 2:
        order = sorted(members)
        stacked = np.stack([member_keypoints[v] if v in member_keypoints else keypoints_px[v][members[v]]
                            for v in order])[:, None]  # (V', 1, J, 3)
        tri = triangulate(keypoints_px=stacked, cameras=[cameras[v] for v in order], config=tri_config)
        seen = stacked[:, 0, :, 2] > config.min_confidence  # (V', J)
        shared = seen & (np.sum(seen, axis=0) >= 2)[None]
        with np.errstate(divide="ignore", invalid="ignore"):
            fraction = np.sum(tri.inlier_mask[:, 0] & shared, axis=-1) / np.sum(shared, axis=-1)
        fraction = np.nan_to_num(fraction, nan=0.0)
        worst = int(np.argmin(fraction))
        if fraction[worst] >= config.min_inlier_fraction and np.sum(tri.valid) >= config.min_common_joints:
            return members, tri
        if len(members) == 2:
            return None
        del members[order[worst]]
    return None


def _make_views(keypoints_px: Sequence[np.ndarray], cameras: Sequence[Camera], config: AssociationConfig,
                num_joints: int) -> _Views:
    pixels, normalized, weights = [], [], []
    for v, (kp, cam) in enumerate(zip(keypoints_px, cameras, strict=True)):
        if kp.ndim != 3 or kp.shape[1:] != (num_joints, 3):
            raise AssociationError(f"keypoints_px[{v}]: expected shape (P_v, {num_joints}, 3), got {kp.shape}")
        seen = (kp[..., 2] > config.min_confidence) & np.all(np.isfinite(kp), axis=-1)
        xy = undistort_normalized(np.where(seen[..., None], kp[..., :2], 0.0), cam)
        normalized.append(xy)
        pixels.append(xy * np.diag(cam.K)[:2] + cam.K[:2, 2])
        weights.append(np.where(seen, kp[..., 2], 0.0))
    return _Views(tuple(pixels), tuple(normalized), tuple(weights), focal_scales(cameras, config.reference_focal_px))


def _group_score(members: dict[int, int], affinity: dict[tuple[int, int, int, int], float]) -> float:
    order = sorted(members)
    pairs = [(a, members[a], b, members[b]) for i, a in enumerate(order) for b in order[i + 1:]]
    return float(np.mean([affinity.get(pair, 0.0) for pair in pairs])) if pairs else 0.0


def associate(*, keypoints_px: Sequence[np.ndarray], cameras: Sequence[Camera],
              config: AssociationConfig = AssociationConfig(), predictions: TrackPredictions | None = None,
              joint_names: Sequence[str] | None = None) -> Association:
    """Group the detections of one synchronized set into people.

    Args:
        keypoints_px: per view v, (P_v, J, 3) raw pixel keypoints x_px, y_px, confidence (P_v may be 0).
        cameras: the V cameras, in the same order.
        config: see :class:`AssociationConfig`.
        predictions: optional 3D joints predicted by existing tracks; they attract detections.
        joint_names: (J,) names of the keypoint layout; enables the bone-length plausibility check.
    Returns:
        :class:`Association`: groups (>= 2 views each) and the unassociated detections.
    """
    if len(keypoints_px) != len(cameras):
        raise AssociationError(f"{len(keypoints_px)} views of keypoints but {len(cameras)} cameras")
    keypoints = [np.asarray(kp, dtype=np.float64) for kp in keypoints_px]
    num_joints = next((kp.shape[1] for kp in keypoints if kp.ndim == 3), 0)
    if joint_names is not None and len(joint_names) != num_joints:
        raise AssociationError(f"joint_names has {len(joint_names)} names but keypoints have {num_joints} joints")
    if predictions is not None and predictions.joints_world_m.shape[1] != num_joints and predictions.track_ids.size:
        raise AssociationError(f"predictions have {predictions.joints_world_m.shape[1]} joints, "
                               f"keypoints have {num_joints}")
    views = _make_views(keypoints, cameras, config, num_joints)
    seeds, pair_joints, affinity = _pair_hypotheses(views, cameras, config, joint_names)
    parts = SwapParts.from_joint_names(joint_names) if config.resolve_swaps and joint_names is not None else None

    track_ids = np.zeros(0, dtype=np.int64) if predictions is None else predictions.track_ids
    hypotheses = pair_joints + ([] if predictions is None else list(
        np.where(predictions.joint_valid[..., None], predictions.joints_world_m, np.nan)))
    groups: list[PersonGroup] = []
    used = [np.zeros(kp.shape[0], dtype=bool) for kp in keypoints]
    if hypotheses:
        threshold = np.array([config.support_threshold_px] * len(seeds) + [config.track_gate_px] * len(track_ids))
        distance = _support_distances(np.stack(hypotheses), views, cameras, config, threshold, parts)
        for h, seed in enumerate(seeds):  # a pair hypothesis always holds its own two detections
            for v, i in seed.items():
                distance[v][h] = np.inf
                distance[v][h, i] = 0.0
        groups = _select(distance, seeds, track_ids, used, keypoints, cameras, config, affinity,
                         SupportSwaps(parts, np.stack(hypotheses)) if parts is not None else None)
    unassociated = tuple((v, i) for v, mask in enumerate(used) for i in np.nonzero(~mask)[0].tolist())
    return Association(groups=tuple(groups), unassociated=unassociated)


def _supporting_track(distance: list[np.ndarray], members: dict[int, int], alive_tracks: np.ndarray) -> int:
    """Index of the live track hypothesis (the last T rows of ``distance``) that at least half of the group's
    members support, most members then least mean distance first; -1 if none."""
    num_tracks = alive_tracks.shape[0]
    support = np.stack([distance[v][-num_tracks:, i] for v, i in members.items()])  # (members, T)
    count = np.sum(support < 1.0, axis=0)
    mean = np.sum(np.where(support < 1.0, support, 0.0), axis=0) / np.maximum(count, 1)
    eligible = np.nonzero(alive_tracks & (2 * count >= len(members)))[0]
    if eligible.size == 0:
        return -1
    return int(eligible[np.lexsort((mean[eligible], -count[eligible]))[0]])


def _select(distance: list[np.ndarray], seeds: list[dict[int, int]], track_ids: np.ndarray,
            used: list[np.ndarray], keypoints: list[np.ndarray], cameras: Sequence[Camera],
            config: AssociationConfig, affinity: dict, swaps: SupportSwaps | None = None) -> list[PersonGroup]:
    """Greedy selection of hypotheses (most supporting views, then least distance); marks ``used`` in place."""
    num_hypotheses = distance[0].shape[0]
    alive = np.ones(num_hypotheses, dtype=bool)
    groups: list[PersonGroup] = []
    while True:
        best_det, best_distance = [], []
        for v, d in enumerate(distance):
            masked = np.where(used[v][None], np.inf, d) if d.shape[1] else np.full((num_hypotheses, 1), np.inf)
            best_det.append(np.argmin(masked, axis=1))
            best_distance.append(np.min(masked, axis=1))
        best_distance = np.stack(best_distance)  # (V, H)
        supports = best_distance < 1.0
        for h, seed in enumerate(seeds):
            if alive[h] and any(used[v][i] for v, i in seed.items()):
                alive[h] = False
        num_views = np.sum(supports, axis=0)
        candidates = np.nonzero(alive & (num_views >= 2))[0]
        if candidates.size == 0:
            return groups
        cost = np.sum(np.where(supports, best_distance, 0.0), axis=0) / np.maximum(num_views, 1)
        h = candidates[np.lexsort((cost[candidates], -num_views[candidates]))[0]]
        alive[h] = False
        members = {v: int(best_det[v][h]) for v in range(len(distance)) if supports[v, h]}
        corrected = {}
        if swaps is not None:
            reference = h if h >= len(seeds) else -1
            if reference < 0 and len(members) < 3 and track_ids.size:
                track = _supporting_track(distance, members, alive[len(seeds):])
                reference = len(seeds) + track if track >= 0 else -1
            corrected = swaps.member_keypoints(members, keypoints, cameras, margin=config.swap_margin,
                                               triangulation=config.triangulation_config(), reference=reference)
        verified = _verify(members, keypoints, cameras, config, corrected)
        if verified is None:
            continue
        members, tri = verified
        corrected = {v: kp for v, kp in corrected.items() if v in members}
        for v, i in members.items():
            used[v][i] = True
        seed_track = -1
        if track_ids.size:
            track = h - len(seeds) if h >= len(seeds) else _supporting_track(distance, members, alive[len(seeds):])
            if track >= 0:
                seed_track = int(track_ids[track])
                alive[len(seeds) + track] = False
        groups.append(PersonGroup(
            detections=dict(sorted(members.items())), joints_world_m=tri.points_world_m[0], joint_valid=tri.valid[0],
            joint_confidence=tri.confidence[0], num_views=tri.num_views[0],
            reprojection_error_px=tri.reprojection_error_px[0], score=_group_score(members, affinity),
            seed_track_id=seed_track, corrected_keypoints_px=corrected,
            swapped_parts={v: flipped_part_names(swaps.parts, keypoints[v][members[v]], kp)
                           for v, kp in corrected.items()}))

