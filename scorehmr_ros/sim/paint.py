"""Vertex colours for rendered bodies: flat, or painted like a clothed person by skinning weight.

Keypoint detectors find a person painted with skin on head, forearms and hands, a shirt, dark
trousers and shoes, hair on the top and back of the head and dark eyes and mouth far more often
than a flat grey body (BlazePose: 98% vs about 50%; docs/sim.md, "Renderer"), and the
hair and face tell a back view from a front view.

Regions by SMPL joint (a vertex's colour is a mix of its joints' colours weighted by the skinning
weights raised to ``SHARPNESS``, so region borders are soft but narrow, as sleeves and waistbands are):
    skin      neck, head, elbows (forearms), wrists, hands      (12, 15, 18-23)
    shirt     spine1-3, collars, shoulders (upper arms)         (3, 6, 9, 13, 14, 16, 17)
    trousers  pelvis, hips, knees                               (0, 1, 2, 4, 5)
    shoes     ankles, feet                                      (7, 8, 10, 11)
Hair, eyes and mouth are placed on the head part (vertices whose largest weight is the head's) in
its rest-pose bounding box (canonical frame: x left, y up, z forward): hair over the top fifth and
the back half, eyes and mouth as discs on the front surface.
"""

from __future__ import annotations

import numpy as np

#: Shirt colours of persons 0, 1, 2, ... (RGB 0..255), distinct and saturated; repeated beyond six.
PERSON_RGB: tuple[tuple[int, int, int], ...] = (
    (200, 60, 50), (45, 110, 200), (60, 160, 80), (220, 160, 40), (150, 70, 180), (40, 170, 170),
)
SKIN_RGB = (224, 172, 140)
TROUSERS_RGB = (45, 50, 70)
SHOES_RGB = (30, 28, 26)
HAIR_RGB = (60, 40, 25)
FACE_FEATURE_RGB = (40, 22, 20)
#: SMPL joints painted with skin, shirt, trousers and shoes.
SKIN_JOINTS = (12, 15, 18, 19, 20, 21, 22, 23)
SHIRT_JOINTS = (3, 6, 9, 13, 14, 16, 17)
TROUSER_JOINTS = (0, 1, 2, 4, 5)
SHOE_JOINTS = (7, 8, 10, 11)
HEAD_JOINT = 15
#: Skinning weights are raised to this power before mixing region colours (1: the raw, wide blend).
SHARPNESS = 4.0


class PaintError(ValueError):
    """Skinning weights or rest vertices of the wrong shape."""


def person_rgb(person: int) -> tuple[int, int, int]:
    """The colour of person ``person`` (>= 0): shirt colour when clothed, body colour when flat."""
    return PERSON_RGB[person % len(PERSON_RGB)]


def flat_colours(num_vertices: int, rgb: tuple[int, int, int]) -> np.ndarray:
    """(N, 3) one colour for every vertex, 0..255."""
    return np.broadcast_to(np.asarray(rgb, dtype=np.float64), (num_vertices, 3)).copy()


def joint_colours(shirt_rgb: tuple[int, int, int]) -> np.ndarray:
    """(24, 3) colour of each SMPL joint's region, 0..255."""
    colours = np.zeros((24, 3))
    for joints, rgb in ((SKIN_JOINTS, SKIN_RGB), (SHIRT_JOINTS, shirt_rgb), (TROUSER_JOINTS, TROUSERS_RGB),
                        (SHOE_JOINTS, SHOES_RGB)):
        colours[list(joints)] = rgb
    return colours


def head_feature_masks(rest_vertices_m: np.ndarray, lbs_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N,) hair mask and (N,) eyes-and-mouth mask from the rest pose (N, 3) and weights (N, 24).

    In the head part's bounding box [x0, x1] x [y0, y1] x [z0, z1] with size (w, h, d): hair where
    y > y1 - 0.2 h or z < z0 + 0.45 d (top and back); eyes are discs of radius 0.11 w around
    (centre x +- 0.2 w, y0 + 0.58 h) and the mouth a flat ellipse around (centre x, y0 + 0.3 h),
    both only on the front surface (z > z1 - 0.3 d).
    """
    head = np.argmax(lbs_weights, axis=1) == HEAD_JOINT
    points = rest_vertices_m[head]
    lower, upper = points.min(axis=0), points.max(axis=0)
    width, height, depth = upper - lower
    centre_x = 0.5 * (lower[0] + upper[0])
    x, y, z = rest_vertices_m[:, 0], rest_vertices_m[:, 1], rest_vertices_m[:, 2]
    hair = head & ((y > upper[1] - 0.2 * height) | (z < lower[2] + 0.45 * depth))
    front = head & (z > upper[2] - 0.3 * depth)
    eye_y = lower[1] + 0.58 * height
    eyes = np.zeros_like(head)
    for side in (-1.0, 1.0):
        eyes |= (x - (centre_x + side * 0.2 * width)) ** 2 + (y - eye_y) ** 2 < (0.11 * width) ** 2
    mouth = ((x - centre_x) / (0.2 * width)) ** 2 + ((y - (lower[1] + 0.3 * height)) / (0.05 * height)) ** 2 < 1.0
    return hair & ~front, front & (eyes | mouth)


def clothed_colours(*, lbs_weights: np.ndarray, rest_vertices_m: np.ndarray,
                    shirt_rgb: tuple[int, int, int]) -> np.ndarray:
    """(N, 3) vertex colours 0..255 of a body painted as a clothed person (regions in the module docstring).

    Args:
        lbs_weights: (N, 24) skinning weights of the body model.
        rest_vertices_m: (N, 3) rest-pose vertices (canonical frame: x left, y up, z forward), metres.
        shirt_rgb: the shirt colour (e.g. :func:`person_rgb`).
    """
    weights = np.asarray(lbs_weights, dtype=np.float64)
    rest = np.asarray(rest_vertices_m, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[1] != 24 or rest.shape != (weights.shape[0], 3):
        raise PaintError(f"expected lbs_weights (N, 24) and rest_vertices_m (N, 3), got {weights.shape} and "
                         f"{rest.shape}")
    sharp = np.clip(weights, 0.0, None) ** SHARPNESS
    colours = sharp @ joint_colours(shirt_rgb) / np.maximum(sharp.sum(axis=1, keepdims=True), 1e-12)
    hair, features = head_feature_masks(rest, weights)
    colours[hair] = HAIR_RGB
    colours[features] = FACE_FEATURE_RGB
    return colours
