"""2D keypoint layouts (COCO-17, MediaPipe-33, OpenPose-25, HALPE-26) and the tables between them.

Keypoints travel as an array ``(..., J, 3)`` of ``[x_px, y_px, confidence]`` plus the layout's name.
A joint a backend did not see, or a target joint the source layout does not have, has confidence 0
(and x = y = 0): positions are never invented. The one exception is an explicit opt-in
(``synthesize_neck_mid_hip=True`` in :func:`convert_keypoints`), which places OpenPose's neck and
mid-hip at the midpoint of the shoulders / hips, as OpenPose's own training data did.

Points that are only approximately the same. Every layout carries ``agreement`` (J,), a weight in
(0, 1]: 1.0 where the joint is the same anatomical point as the OpenPose-25 joint of that name
(the fitter's target, produced from SMPL by the official joint map), lower where it is only close:
  mediapipe33  BlazePose shoulders, hips and knees sit systematically off SMPL's (up to ~1.6 % of
               body height, measured on rendered stand-in bodies); its foot index (tip of the second
               toe) stands in for OpenPose's big toe.
  halpe26      its annotated neck and hip centre are not OpenPose's (shoulder / hip midpoints).
  coco17       the official ScoreHMR pipeline maps ViTPose's COCO joints onto OpenPose 1:1, so 1.0.
A :class:`LayoutMapping` carries these as per-target-joint ``weight``; the fitter may multiply
confidences by it (``LayoutMapping.apply(..., weighted=True)``).

Joint name strings match ``scorehmr_ros.sim.layouts`` where the two overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scorehmr_ros.body.joint_counts import NUM_EXTRA_JOINTS

#: Weight of a joint that is only approximately the OpenPose point of the same name.
APPROXIMATE_AGREEMENT = 0.5

OPENPOSE25_NAMES: tuple[str, ...] = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
    "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "right_eye",
    "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe", "left_heel", "right_big_toe",
    "right_small_toe", "right_heel",
)
COCO17_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
)
HALPE26_NAMES: tuple[str, ...] = COCO17_NAMES + (
    "head_top", "neck", "mid_hip", "left_big_toe", "right_big_toe", "left_small_toe", "right_small_toe",
    "left_heel", "right_heel",
)
MEDIAPIPE33_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)

#: The official ViTPose -> OpenPose map (docs/scorehmr-reference.md §6): OpenPose index of COCO joint i.
OFFICIAL_COCO17_TO_OPENPOSE25: tuple[int, ...] = (0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11)

#: Joints that are another layout's joint under a different name: (source layout, source name) -> target name.
#: MediaPipe's foot index is the tip of the second toe, the nearest point to OpenPose's big toe.
_ALIASES: dict[tuple[str, str], str] = {
    ("mediapipe33", "left_foot_index"): "left_big_toe",
    ("mediapipe33", "right_foot_index"): "right_big_toe",
}
#: Joints that are only approximately the OpenPose point of the same (or aliased) name.
_APPROXIMATE: dict[str, tuple[str, ...]] = {
    "mediapipe33": ("left_shoulder", "right_shoulder", "left_hip", "right_hip", "left_knee", "right_knee",
                    "left_foot_index", "right_foot_index"),
    "halpe26": ("neck", "mid_hip"),
}

_OPENPOSE25_EDGES = ((1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11), (8, 12),
                     (12, 13), (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18), (14, 19), (19, 20), (14, 21),
                     (11, 22), (22, 23), (11, 24))
_COCO17_EDGES = ((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8), (7, 9),
                 (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6))
_HALPE26_EDGES = ((15, 13), (13, 11), (11, 19), (16, 14), (14, 12), (12, 19), (17, 18), (18, 19), (18, 5), (5, 7),
                  (7, 9), (18, 6), (6, 8), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (0, 18), (15, 20), (15, 22),
                  (15, 24), (16, 21), (16, 23), (16, 25))
_MEDIAPIPE33_EDGES = ((0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10), (11, 12), (11, 13),
                      (13, 15), (15, 17), (15, 19), (15, 21), (17, 19), (12, 14), (14, 16), (16, 18), (16, 20),
                      (16, 22), (18, 20), (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28),
                      (27, 29), (28, 30), (29, 31), (30, 32), (27, 31), (28, 32))


class LayoutError(ValueError):
    """An unknown layout name, or keypoints whose shape does not fit the layout."""


def _swap_side(name: str) -> str:
    for a, b in (("left_", "right_"), ("right_", "left_")):
        if name.startswith(a):
            return b + name[len(a):]
    for a, b in (("_left", "_right"), ("_right", "_left")):
        if name.endswith(a):
            return name[:-len(a)] + b
    return name


@dataclass(frozen=True)
class KeypointLayout:
    """A named 2D keypoint layout.

    Attributes:
        name: layout name, e.g. "openpose25".
        joint_names: (J,) joint names in order.
        edges: skeleton edges (pairs of joint indices), for drawing.
        mirror_index: (J,) index of each joint's left/right counterpart (itself for centre joints);
            ``keypoints[..., mirror_index, :]`` is the layout of the horizontally flipped image.
        agreement: (J,) in (0, 1]: 1.0 where the joint is the same point as OpenPose's joint of that
            name, :data:`APPROXIMATE_AGREEMENT` where it is only approximately the same point.
    """

    name: str
    joint_names: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    mirror_index: np.ndarray
    agreement: np.ndarray

    def __post_init__(self) -> None:
        count = len(self.joint_names)
        for field_name in ("mirror_index", "agreement"):
            if np.shape(getattr(self, field_name)) != (count,):
                raise LayoutError(f"layout {self.name}: {field_name} must have shape ({count},), "
                                  f"got {np.shape(getattr(self, field_name))}")
        for a, b in self.edges:
            if not (0 <= a < count and 0 <= b < count):
                raise LayoutError(f"layout {self.name}: edge ({a}, {b}) outside 0..{count - 1}")

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def index(self, joint_name: str) -> int:
        """Index of ``joint_name``; the error lists the layout's names."""
        if joint_name not in self.joint_names:
            raise LayoutError(f"layout {self.name} has no joint {joint_name!r}; joints: {', '.join(self.joint_names)}")
        return self.joint_names.index(joint_name)

    def check_keypoints(self, keypoints: np.ndarray) -> np.ndarray:
        """``keypoints`` as an array after checking it is (..., J, 3) for this layout."""
        array = np.asarray(keypoints)
        if array.ndim < 2 or array.shape[-2:] != (self.num_joints, 3):
            raise LayoutError(f"layout {self.name}: expected keypoints (..., {self.num_joints}, 3) "
                              f"[x_px, y_px, confidence], got shape {array.shape}")
        return array


def _make_layout(name: str, joint_names: tuple[str, ...], edges: tuple[tuple[int, int], ...]) -> KeypointLayout:
    mirror = np.array([joint_names.index(_swap_side(n)) for n in joint_names], dtype=np.int64)
    approximate = _APPROXIMATE.get(name, ())
    agreement = np.array([APPROXIMATE_AGREEMENT if n in approximate else 1.0 for n in joint_names])
    return KeypointLayout(name, joint_names, edges, mirror, agreement)


LAYOUTS: dict[str, KeypointLayout] = {
    layout.name: layout for layout in (
        _make_layout("openpose25", OPENPOSE25_NAMES, _OPENPOSE25_EDGES),
        _make_layout("coco17", COCO17_NAMES, _COCO17_EDGES),
        _make_layout("halpe26", HALPE26_NAMES, _HALPE26_EDGES),
        _make_layout("mediapipe33", MEDIAPIPE33_NAMES, _MEDIAPIPE33_EDGES),
    )
}


def get_layout(name: str) -> KeypointLayout:
    """The layout called ``name``; the error lists the known ones."""
    if name not in LAYOUTS:
        raise LayoutError(f"unknown keypoint layout {name!r}; available: {', '.join(LAYOUTS)}")
    return LAYOUTS[name]


@dataclass(frozen=True)
class LayoutMapping:
    """How to read a target layout's joints out of a source layout's.

    Attributes:
        source: source layout name.
        target: target layout name.
        source_index: (J_target,) source row of each target joint, -1 where the source has none.
        weight: (J_target,) agreement of the pair in [0, 1]: 1.0 same point, <1 only approximately the
            same point, 0 where the target joint is missing.
    """

    source: str
    target: str
    source_index: np.ndarray
    weight: np.ndarray

    @property
    def available(self) -> np.ndarray:
        """(J_target,) True where the target joint is read from the source."""
        return self.source_index >= 0

    def apply(self, keypoints: np.ndarray, *, weighted: bool = False) -> np.ndarray:
        """(..., J_source, 3) -> (..., J_target, 3); missing joints are all-zero rows.

        With ``weighted`` the confidence is multiplied by :attr:`weight` (approximate points count less).
        """
        array = get_layout(self.source).check_keypoints(keypoints)
        out = array[..., np.maximum(self.source_index, 0), :].astype(np.float64, copy=True)
        out[..., ~self.available, :] = 0.0
        if weighted:
            out[..., 2] *= self.weight
        return out


def _canonical_name(layout: str, joint_name: str) -> str:
    """The OpenPose-style name a joint is matched by (its alias, else its own name)."""
    return _ALIASES.get((layout, joint_name), joint_name)


def _build_mapping(source: KeypointLayout, target: KeypointLayout) -> LayoutMapping:
    by_name = {_canonical_name(source.name, n): i for i, n in enumerate(source.joint_names)}
    source_index = np.full(target.num_joints, -1, dtype=np.int64)
    weight = np.zeros(target.num_joints)
    for j, target_name in enumerate(target.joint_names):
        i = by_name.get(_canonical_name(target.name, target_name))
        if i is not None:
            source_index[j] = i
            weight[j] = min(source.agreement[i], target.agreement[j])
    return LayoutMapping(source.name, target.name, source_index, weight)


def get_mapping(source: str, target: str) -> LayoutMapping:
    """The mapping from layout ``source`` to layout ``target`` (joints matched by name and aliases)."""
    return _build_mapping(get_layout(source), get_layout(target))


def _midpoint_rows(keypoints: np.ndarray, a: int, b: int) -> np.ndarray:
    """(..., 3) midpoint of joints a and b with confidence min(conf_a, conf_b); zero where either is missing."""
    both = (keypoints[..., a, 2] > 0) & (keypoints[..., b, 2] > 0)
    mid = 0.5 * (keypoints[..., a, :2] + keypoints[..., b, :2])
    conf = np.minimum(keypoints[..., a, 2], keypoints[..., b, 2])
    return np.where(both[..., None], np.concatenate([mid, conf[..., None]], axis=-1), 0.0)


def convert_keypoints(keypoints: np.ndarray, *, source: str, target: str, weighted: bool = False,
                      synthesize_neck_mid_hip: bool = False) -> np.ndarray:
    """Keypoints (..., J_source, 3) in layout ``source`` -> (..., J_target, 3) in layout ``target``.

    Args:
        keypoints: [x_px, y_px, confidence] per joint.
        source, target: layout names.
        weighted: multiply confidences by the mapping's agreement weight.
        synthesize_neck_mid_hip: opt-in, only for target "openpose25": where the source has no neck
            (mid-hip), fill it with the midpoint of the target's shoulders (hips), confidence the
            smaller of the two, scaled by :data:`APPROXIMATE_AGREEMENT` when ``weighted``. Off by
            default: the official pipeline leaves these rows at zero.
    """
    mapping = get_mapping(source, target)
    out = mapping.apply(keypoints, weighted=weighted)
    if synthesize_neck_mid_hip:
        if target != "openpose25":
            raise LayoutError(f"synthesize_neck_mid_hip applies to target 'openpose25' only, not {target!r}")
        scale = APPROXIMATE_AGREEMENT if weighted else 1.0
        for joint, (a, b) in (("neck", ("left_shoulder", "right_shoulder")), ("mid_hip", ("left_hip", "right_hip"))):
            j = OPENPOSE25_NAMES.index(joint)
            if not mapping.available[j]:
                mid = _midpoint_rows(out, OPENPOSE25_NAMES.index(a), OPENPOSE25_NAMES.index(b))
                mid[..., 2] *= scale
                out[..., j, :] = mid
    return out


def to_openpose25(keypoints: np.ndarray, layout: str) -> np.ndarray:
    """Keypoints (..., J, 3) in ``layout`` -> (..., 25, 3) OpenPose-25, the layout the fitters guide with.

    The one conversion every path uses (perception front, pipeline, ``fit --mode calibrated``): confidences
    are weighted by the mapping's agreement, rows the layout lacks are zero (never invented).
    """
    get_layout(layout).check_keypoints(keypoints)
    return convert_keypoints(np.asarray(keypoints, dtype=np.float64), source=layout, target="openpose25",
                             weighted=True)


def openpose25_to_official44(keypoints_openpose25: np.ndarray) -> np.ndarray:
    """(..., 25, 3) OpenPose-25 keypoints -> (..., 44, 3) official layout (19 zero rows appended)."""
    array = get_layout("openpose25").check_keypoints(keypoints_openpose25)
    pad = np.zeros(array.shape[:-2] + (NUM_EXTRA_JOINTS, 3), dtype=array.dtype)
    return np.concatenate([array, pad], axis=-2)


def mirror_keypoints(keypoints: np.ndarray, *, layout: str, image_width_px: float) -> np.ndarray:
    """Keypoints of the horizontally flipped image: x -> W - x, left/right joints swapped.

    Missing joints (confidence 0) stay all-zero rows.
    """
    spec = get_layout(layout)
    array = spec.check_keypoints(keypoints)[..., spec.mirror_index, :].astype(np.float64, copy=True)
    seen = array[..., 2] > 0
    array[..., 0] = np.where(seen, image_width_px - array[..., 0], 0.0)
    return array
