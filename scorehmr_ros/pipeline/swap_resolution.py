"""Left/right swap resolution of one person's detections across calibrated views (numpy, ROS-free).

2D pose estimators sometimes label a body part with the wrong side: the whole body (a person seen
from behind taken as seen from the front), or only the legs or only the arms (BlazePose on the
demo's rendered people: 18 of 141 detections had at least one part that fits the ground truth
clearly better mirrored). The positions are right, the labels are exchanged, so triangulation
pairs a left knee with a right knee and the fitter bends the body the wrong way.

A part (head, arms, legs: the side joints whose names share the suffix lists of :data:`SWAP_PARTS`)
of one view is used *mirrored* (its left and right joints exchanged) when the mirrored joints lie
closer to a 3D reference projected into that view, by a margin:
    mean_j |m_j - pi_v(X_j)| < margin x mean_j |k_j - pi_v(X_j)|
over the part's joints seen in the view and present in the reference (at least
:data:`MIN_PART_JOINTS`), with k_j the keypoint as detected and m_j its mirrored counterpart.
The reference X is the person triangulated from the *other* views (at least two of them), else
the track's predicted joints, else nothing (no change: with two views and no track neither view
can tell which of the two is mirrored).
Shape letters: V views, J joints, K parts, H hypotheses, P detections.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import combinations

import numpy as np

from scorehmr_ros.geometry.camera import Camera
from scorehmr_ros.geometry.triangulation import TriangulationConfig, reprojection_errors_px, triangulate

#: Body parts resolved independently: part name -> joint-name suffixes after ``left_`` / ``right_``.
SWAP_PARTS: dict[str, tuple[str, ...]] = {
    "head": ("eye", "ear", "eye_inner", "eye_outer", "mouth"),
    "arms": ("shoulder", "elbow", "wrist", "pinky", "index", "thumb"),
    "legs": ("hip", "knee", "ankle", "big_toe", "small_toe", "heel", "foot_index"),
}
#: A part is judged only when at least this many of its joints are seen (and in the reference).
MIN_PART_JOINTS = 2


class SwapResolutionError(ValueError):
    """Keypoints, cameras or references of inconsistent shapes."""


@dataclass(frozen=True)
class SwapParts:
    """The mirror structure of a joint layout.

    Attributes:
        names: (K,) part names.
        mirror_index: (J,) index of each joint's left/right counterpart (itself for centre joints).
        members: (K, J) True for the side joints of each part (both sides).
    """

    names: tuple[str, ...]
    mirror_index: np.ndarray
    members: np.ndarray

    @classmethod
    def from_joint_names(cls, joint_names: Sequence[str]) -> SwapParts:
        """Parts of :data:`SWAP_PARTS` that the layout has (a side joint of no listed part is never mirrored)."""
        index = {name: i for i, name in enumerate(joint_names)}
        mirror = np.arange(len(joint_names), dtype=np.int64)
        for i, name in enumerate(joint_names):
            for a, b in (("left_", "right_"), ("right_", "left_")):
                if name.startswith(a) and b + name[len(a):] in index:
                    mirror[i] = index[b + name[len(a):]]
        names, members = [], []
        for part, suffixes in SWAP_PARTS.items():
            mask = np.array([mirror[i] != i and name.split("_", 1)[1] in suffixes
                             for i, name in enumerate(joint_names)], dtype=bool)
            if mask.any():
                names.append(part)
                members.append(mask)
        return cls(tuple(names), mirror, np.array(members, dtype=bool).reshape(len(names), len(joint_names)))

    @property
    def num_parts(self) -> int:
        return len(self.names)

    def flip_joints(self, flips: np.ndarray) -> np.ndarray:
        """(..., K) part flips -> (..., J) source joint index of each joint (mirrored inside flipped parts)."""
        flipped_joint = np.any(np.asarray(flips, dtype=bool)[..., :, None] & self.members, axis=-2)  # (..., J)
        return np.where(flipped_joint, self.mirror_index, np.arange(self.mirror_index.shape[0]))

    def apply(self, keypoints: np.ndarray, flips: np.ndarray) -> np.ndarray:
        """(..., J, C) keypoints with the flipped parts' left and right rows exchanged; (..., K) flips."""
        source = self.flip_joints(flips)  # (..., J)
        return np.take_along_axis(keypoints, source[..., None], axis=-2)


def part_ratios(distance_px: np.ndarray, mirrored_distance_px: np.ndarray, weights: np.ndarray,
                parts: SwapParts) -> np.ndarray:
    """(..., K) mirrored / as-detected mean distance of each part's joints (inf with < MIN_PART_JOINTS joints).

    ``distance_px`` / ``mirrored_distance_px`` (..., J): per joint distance of the keypoint as detected /
    of its mirrored counterpart to the reference (NaN where the reference has no joint); ``weights`` (..., J)
    > 0 where the joint (and its counterpart) is seen.
    """
    used = (weights[..., None, :] > 0) & parts.members & np.isfinite(distance_px)[..., None, :] \
        & np.isfinite(mirrored_distance_px)[..., None, :]  # (..., K, J)
    direct = np.sum(np.where(used, np.nan_to_num(distance_px)[..., None, :], 0.0), axis=-1)
    mirrored = np.sum(np.where(used, np.nan_to_num(mirrored_distance_px)[..., None, :], 0.0), axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = mirrored / direct
    return np.where((used.sum(axis=-1) >= MIN_PART_JOINTS) & (direct > 0), ratio, np.inf)


def choose_flips(distance_px: np.ndarray, mirrored_distance_px: np.ndarray, weights: np.ndarray,
                 parts: SwapParts, *, margin: float) -> np.ndarray:
    """(..., K) True where a part's mirrored joints fit clearly better: :func:`part_ratios` < ``margin``."""
    return part_ratios(distance_px, mirrored_distance_px, weights, parts) < margin


def reference_ratios(keypoints_px: np.ndarray, reference_px: np.ndarray, parts: SwapParts, *,
                     min_confidence: float) -> np.ndarray:
    """(..., K) :func:`part_ratios` of (..., J, 3) keypoints against (..., J, 2) reference pixels (NaN: no
    reference joint). A joint takes part when both it and its counterpart are seen (a mirror needs both sides)."""
    seen = keypoints_px[..., 2] > min_confidence
    seen &= seen[..., parts.mirror_index]
    mirrored = keypoints_px[..., parts.mirror_index, :2]
    distance = np.linalg.norm(keypoints_px[..., :2] - reference_px, axis=-1)
    mirrored_distance = np.linalg.norm(mirrored - reference_px, axis=-1)
    return part_ratios(distance, mirrored_distance, np.where(seen, 1.0, 0.0), parts)


def reference_flips(keypoints_px: np.ndarray, reference_px: np.ndarray, parts: SwapParts, *, margin: float,
                    min_confidence: float) -> np.ndarray:
    """(..., K) flips of (..., J, 3) keypoints against (..., J, 2) reference pixels: ratios < ``margin``."""
    return reference_ratios(keypoints_px, reference_px, parts, min_confidence=min_confidence) < margin


def _project(points_world_m: np.ndarray, camera: Camera) -> np.ndarray:
    """(J, 3) -> (J, 2) pixels, NaN for missing points and points behind the camera."""
    finite = np.all(np.isfinite(points_world_m), axis=-1)
    safe = np.where(finite[:, None], points_world_m, 0.0)
    depth = camera.world_to_camera(safe)[..., 2]
    pixels = camera.project(safe)
    return np.where((finite & (depth > 1e-6))[:, None], pixels, np.nan)


def minority_subsets(num_views: int) -> list[tuple[int, ...]]:
    """Every set of views smaller than half of ``num_views`` (the empty set first): the labelings a part can have
    without the mirror ambiguity (flipping a set S or its complement gives the same geometry, so the views
    in the majority decide which side is left)."""
    return [subset for size in range((num_views + 1) // 2) for subset in combinations(range(num_views), size)]


def consistency_cost_px(keypoints_px: np.ndarray, cameras: Sequence[Camera], joints: np.ndarray,
                        triangulation: TriangulationConfig) -> np.ndarray:
    """(C,) mean reprojection error, clipped at twice the outlier threshold, of candidate labelings (V, C, J, 3)
    of one person triangulated from all V views (no robust estimator), over the seen ``joints`` (J,) bool."""
    tri = triangulate(keypoints_px=keypoints_px, cameras=cameras, config=replace(triangulation, robust_method="none"))
    clip = 2.0 * triangulation.outlier_threshold_px
    errors = reprojection_errors_px(tri.points_world_m, keypoints_px, cameras)  # (V, C, J)
    used = (keypoints_px[..., 2] > triangulation.min_confidence) & joints
    clipped = np.minimum(np.nan_to_num(errors, nan=clip), clip)
    count = used.sum(axis=(0, 2))
    return np.where(count > 0, np.sum(np.where(used, clipped, 0.0), axis=(0, 2)) / np.maximum(count, 1), np.inf)


def resolve_group_swaps(*, keypoints_px: np.ndarray, cameras: Sequence[Camera], parts: SwapParts, margin: float,
                        triangulation: TriangulationConfig, reference_world_m: np.ndarray | None = None,
                        ) -> np.ndarray:
    """(V, K) part flips of one person's (V, J, 3) detections in ``cameras``.

    With four or more views, each view's parts are compared (:func:`reference_ratios`) with the robust
    triangulation of the other views; the clearest mirrored part (least ratio, below ``margin``) is
    mirrored and the comparison repeated, until none is left. With three, the
    other two cannot outvote a mirrored one, so per part every labeling that mirrors one view or none
    (:func:`minority_subsets`) is triangulated from all three; the one of least :func:`consistency_cost_px`
    is taken when its cost is below ``margin`` x the as-detected cost. With fewer views, each view is
    judged against ``reference_world_m`` (J, 3) (NaN rows: no joint; a track's prediction) when given
    (:func:`reference_flips`), else left alone: two views cannot tell which of them is mirrored.
    """
    keypoints = np.asarray(keypoints_px, dtype=np.float64)
    V = keypoints.shape[0] if keypoints.ndim == 3 else -1
    if keypoints.ndim != 3 or keypoints.shape[-1] != 3 or len(cameras) != V:
        raise SwapResolutionError(f"keypoints_px: expected ({len(cameras)}, J, 3) for {len(cameras)} cameras, "
                                  f"got {keypoints.shape}")
    if reference_world_m is not None and np.shape(reference_world_m) != keypoints.shape[1:2] + (3,):
        raise SwapResolutionError(f"reference_world_m: expected ({keypoints.shape[1]}, 3), "
                                  f"got {np.shape(reference_world_m)}")
    flips = np.zeros((V, parts.num_parts), dtype=bool)
    if parts.num_parts == 0 or V == 0:
        return flips
    if V < 3:
        if reference_world_m is None:
            return flips
        reference = np.asarray(reference_world_m, dtype=np.float64)
        return np.stack([reference_flips(keypoints[v], _project(reference, cameras[v]), parts, margin=margin,
                                         min_confidence=triangulation.min_confidence) for v in range(V)])
    if V == 3:
        return _minority_flips(keypoints, cameras, parts, margin=margin, triangulation=triangulation)
    rows = np.arange(V)
    for _ in range(V):  # four or more: greedily, the clearest mirrored part against the other views' triangulation
        current = parts.apply(keypoints, flips)
        # every view's "other views" in one triangulation: row v holds all views with view v unseen (confidence 0)
        leave_one_out = np.repeat(current[:, None], V, axis=1)  # (V views, V rows, J, 3)
        leave_one_out[rows, rows, :, 2] = 0.0
        others = triangulate(keypoints_px=leave_one_out, cameras=cameras, config=triangulation).points_world_m
        ratios = np.stack([reference_ratios(current[v], _project(others[v], cameras[v]), parts,
                                            min_confidence=triangulation.min_confidence) for v in range(V)])
        ratios[flips] = np.inf  # a part is mirrored at most once
        v, k = np.unravel_index(int(np.argmin(ratios)), ratios.shape)
        if not ratios[v, k] < margin:
            break
        flips[v, k] = True
    return flips


def _minority_flips(keypoints: np.ndarray, cameras: Sequence[Camera], parts: SwapParts, *, margin: float,
                    triangulation: TriangulationConfig) -> np.ndarray:
    """(V, K) flips: per part the minority labeling of least :func:`consistency_cost_px`, if below ``margin`` x
    the as-detected cost."""
    V = keypoints.shape[0]
    flips = np.zeros((V, parts.num_parts), dtype=bool)
    subsets = minority_subsets(V)
    for k in range(parts.num_parts):
        labelings = np.zeros((len(subsets), V, parts.num_parts), dtype=bool)
        for c, subset in enumerate(subsets):
            labelings[c, list(subset), k] = True
        candidates = parts.apply(np.broadcast_to(keypoints, (len(subsets),) + keypoints.shape), labelings)
        cost = consistency_cost_px(np.swapaxes(candidates, 0, 1), cameras, parts.members[k], triangulation)
        best = int(np.argmin(cost))
        if best != 0 and cost[best] < margin * cost[0]:
            flips[list(subsets[best]), k] = True
    return flips


@dataclass(frozen=True)
class SupportSwaps:
    """Swap state of one association: the layout's parts and the (H, J, 3) hypotheses (pair triangulations, then
    track predictions) whose track predictions judge groups of fewer than three views."""

    parts: SwapParts
    hypotheses_m: np.ndarray

    def member_keypoints(self, members: dict[int, int], keypoints: Sequence[np.ndarray], cameras: Sequence[Camera],
                         *, margin: float, triangulation: TriangulationConfig, reference: int = -1,
                         ) -> dict[int, np.ndarray]:
        """{view: (J, 3)} keypoints of the ``members`` that have a mirrored part, by :func:`resolve_group_swaps`
        on the detections as detected (the support flips only let a mirrored detection join: a pair hypothesis
        may itself hold a mirrored view); ``reference``: index of the hypothesis (a track's prediction) that
        judges groups of fewer than three views, -1 for none."""
        order = sorted(members)
        detected = np.stack([keypoints[v][members[v]] for v in order])  # (V', J, 3)
        flips = resolve_group_swaps(keypoints_px=detected, cameras=[cameras[v] for v in order], parts=self.parts,
                                    margin=margin, triangulation=triangulation,
                                    reference_world_m=self.hypotheses_m[reference] if reference >= 0 else None)
        return {v: self.parts.apply(detected[k], flips[k]) for k, v in enumerate(order) if flips[k].any()}


def flipped_part_names(parts: SwapParts, detected: np.ndarray, corrected: np.ndarray) -> tuple[str, ...]:
    """Names of the parts whose rows differ between (J, 3) detected and corrected keypoints."""
    changed = np.any(detected != corrected, axis=-1)  # (J,)
    return tuple(name for name, mask in zip(parts.names, parts.members, strict=True) if np.any(changed & mask))
