"""Detector-like 2D keypoint observations of simulated people in calibrated views.

Pipeline per frame t, view v, person p, joint j (all random draws from one numpy Generator, in a
fixed order, so a seed reproduces an observation exactly):
1. project the 3D keypoints (clean pixels, with the camera's distortion) and record camera depth;
2. truncation: joints behind the camera or outside the image (plus ``border_margin_px``) are not reported;
3. occlusion: with meshes, all bodies are rasterised at ``raster_scale`` of the image keeping every
   surface layer (``raster.py``); a keypoint is hidden when any surface of another person lies in
   front of it, or when a surface of its own body lies in front of it by more than the keypoint's
   body radius r_j + ``self_occlusion_margin_m`` (keypoints sit inside their body: r_j, from the rest
   mesh, is how far the body extends around the keypoint; a keypoint on the surface has a small r_j);
4. noise: visible joints get N(0, sigma^2) pixel noise with sigma = pixel_sigma_px +
   sigma_per_box_height x (2D box height) and a high confidence; occluded joints are reported with
   probability ``occluded_report_probability``, with larger noise and a low confidence;
5. failures: joint dropouts, a whole person missed in a view, left-right swaps of a person's
   keypoints in a view, whole views missing in a frame.
Unreported joints are (0, 0, 0), as detectors and the official code write them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scorehmr_ros.geometry.camera import Camera
from scorehmr_ros.sim.layouts import KeypointLayout
from scorehmr_ros.sim.raster import fragments_for_camera

_PROBABILITY_FIELDS = ("occluded_report_probability", "joint_dropout_probability", "person_miss_probability",
                       "swap_probability", "view_drop_probability")


class ObservationError(ValueError):
    """Inputs of the observation model with inconsistent shapes."""


@dataclass(frozen=True)
class ObservationConfig:
    """The detector error model (defaults resemble a good 2D detector on a clear view).

    Attributes:
        pixel_sigma_px: noise std of visible joints, pixels, >= 0.
        sigma_per_box_height: extra noise std per pixel of the person's 2D box height, in [0, 0.2].
        occluded_sigma_px: noise std of reported occluded joints, pixels, >= 0.
        visible_confidence: (mean, std) of visible joints' confidence, clipped to [0.05, 1].
        occluded_confidence: (mean, std) of reported occluded joints' confidence, clipped to [0.01, 1].
        occluded_report_probability: chance an occluded joint is reported at all, [0, 1].
        joint_dropout_probability: chance a visible joint is not reported, [0, 1].
        person_miss_probability: chance a person is not detected in a view, [0, 1].
        swap_probability: chance a person's left and right keypoints are swapped in a view, [0, 1].
        view_drop_probability: chance a whole view is missing in a frame, [0, 1].
        border_margin_px: joints up to this far outside the image still count as inside, pixels, >= 0.
        occlusion: run the z-buffer occlusion test (needs meshes).
        self_occlusion_margin_m: own-body surface beyond r_j + this in front of a keypoint hides it, metres, (0, 1].
        raster_scale: z-buffer resolution as a fraction of the image, (0, 1].
    """

    pixel_sigma_px: float = 2.0
    sigma_per_box_height: float = 0.005
    occluded_sigma_px: float = 10.0
    visible_confidence: tuple[float, float] = (0.85, 0.08)
    occluded_confidence: tuple[float, float] = (0.25, 0.1)
    occluded_report_probability: float = 0.5
    joint_dropout_probability: float = 0.01
    person_miss_probability: float = 0.01
    swap_probability: float = 0.01
    view_drop_probability: float = 0.0
    border_margin_px: float = 0.0
    occlusion: bool = True
    self_occlusion_margin_m: float = 0.03
    raster_scale: float = 0.25

    def validate(self) -> None:
        for name in ("pixel_sigma_px", "occluded_sigma_px", "border_margin_px"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"ObservationConfig.{name}: must be finite and >= 0, got {value}")
        if not 0.0 <= self.sigma_per_box_height <= 0.2:
            raise ValueError(f"ObservationConfig.sigma_per_box_height: must be in [0, 0.2], "
                             f"got {self.sigma_per_box_height}")
        for name in _PROBABILITY_FIELDS:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"ObservationConfig.{name}: must be a probability in [0, 1], got {value}")
        for name in ("visible_confidence", "occluded_confidence"):
            mean, std = getattr(self, name)
            if not (0.0 <= mean <= 1.0 and std >= 0.0):
                raise ValueError(f"ObservationConfig.{name}: expected (mean in [0, 1], std >= 0), got {(mean, std)}")
        if not 0.0 < self.self_occlusion_margin_m <= 1.0:
            raise ValueError(f"ObservationConfig.self_occlusion_margin_m: must be in (0, 1] m, "
                             f"got {self.self_occlusion_margin_m}")
        if not 0.0 < self.raster_scale <= 1.0:
            raise ValueError(f"ObservationConfig.raster_scale: must be in (0, 1], got {self.raster_scale}")


@dataclass(frozen=True)
class Observations:
    """Simulated 2D keypoints of P people in V views over T frames, and what happened to each joint.

    Attributes:
        layout: keypoint layout name.
        camera_names: (V,) names of the views, in order.
        keypoints_px: (T, V, P, J, 3) detector output [x, y, confidence]; unreported joints all zero.
        clean_px: (T, V, P, J, 2) exact projections (with distortion); NaN behind the camera.
        depth_m: (T, V, P, J) camera-frame z of each joint.
        in_image: (T, V, P, J) in front of the camera and inside the image (+ margin), and derivable.
        occluded: (T, V, P, J) hidden by another person or by the person's own body.
        swapped: (T, V, P) left-right swap applied.
        detected: (T, V, P) person reported in that view.
        view_present: (T, V) view delivered that frame.
    """

    layout: str
    camera_names: tuple[str, ...]
    keypoints_px: np.ndarray
    clean_px: np.ndarray
    depth_m: np.ndarray
    in_image: np.ndarray
    occluded: np.ndarray
    swapped: np.ndarray
    detected: np.ndarray
    view_present: np.ndarray


def project_keypoints(keypoints_world_m: np.ndarray, cameras: tuple[Camera, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(T, P, J, 3) world points -> clean pixels (T, V, P, J, 2) (NaN behind a camera) and depth (T, V, P, J)."""
    points = np.asarray(keypoints_world_m, dtype=np.float64)
    if points.ndim != 4 or points.shape[-1] != 3:
        raise ObservationError(f"keypoints_world_m: expected (T, P, J, 3), got {points.shape}")
    pixels = np.stack([camera.project(points) for camera in cameras], axis=1)
    depth = np.stack([camera.world_to_camera(points)[..., 2] for camera in cameras], axis=1)
    return pixels, depth


def _pinhole_px(camera: Camera, points_world_m: np.ndarray) -> np.ndarray:
    """Undistorted pixels (..., 2) of world points (the z-buffer's image)."""
    p = camera.world_to_camera(points_world_m)
    with np.errstate(divide="ignore", invalid="ignore"):
        xy = p[..., :2] / np.where(p[..., 2] > 0, p[..., 2], np.nan)[..., None]
    return xy * camera.K[[0, 1], [0, 1]] + camera.K[:2, 2]


def keypoint_radii_m(*, rest_vertices_m: np.ndarray, rest_keypoints_m: np.ndarray, percentile: float = 90.0,
                     bounds_m: tuple[float, float] = (0.02, 0.25)) -> np.ndarray:
    """(J,) how far the body extends around each keypoint: the ``percentile`` of the distances from the
    keypoint to the rest-mesh vertices nearer to it than to any other keypoint, clipped to ``bounds_m``.

    Args:
        rest_vertices_m: (N, 3) one person's mesh; rest_keypoints_m: (J, 3) its keypoints (same pose).
    """
    vertices = np.asarray(rest_vertices_m, dtype=np.float64)
    keypoints = np.asarray(rest_keypoints_m, dtype=np.float64)
    distance = np.linalg.norm(vertices[:, None] - keypoints[None], axis=-1)  # (N, J)
    nearest = distance.argmin(axis=1)
    radii = np.full(keypoints.shape[0], bounds_m[0])
    for joint in range(keypoints.shape[0]):
        mine = distance[nearest == joint, joint]
        if mine.size:
            radii[joint] = np.percentile(mine, percentile)
    return np.clip(radii, *bounds_m)


def occlusion_mask(*, keypoints_world_m: np.ndarray, radii_m: np.ndarray, vertices_world_m: np.ndarray,
                   faces: np.ndarray, cameras: tuple[Camera, ...], config: ObservationConfig) -> np.ndarray:
    """(T, V, P, J) True where a keypoint is hidden by a body in that view (rule in the module docstring).

    Args:
        keypoints_world_m: (T, P, J, 3) keypoints; radii_m: (P, J) body radius around each keypoint.
        vertices_world_m: (T, P, N, 3) each person's mesh; faces: (F, 3) indices into one person's N vertices.
    """
    keypoints = np.asarray(keypoints_world_m, dtype=np.float64)
    vertices = np.asarray(vertices_world_m, dtype=np.float64)
    num_frames, num_people = keypoints.shape[:2]
    if vertices.ndim != 4 or vertices.shape[:2] != (num_frames, num_people):
        raise ObservationError(f"vertices_world_m: expected ({num_frames}, {num_people}, N, 3), got {vertices.shape}")
    if np.shape(radii_m) != keypoints.shape[1:3]:
        raise ObservationError(f"radii_m: expected shape {keypoints.shape[1:3]}, got {np.shape(radii_m)}")
    num_vertices = vertices.shape[2]
    faces = np.asarray(faces, dtype=np.int64)
    all_faces = np.concatenate([faces + p * num_vertices for p in range(num_people)])
    owner_of_face = np.repeat(np.arange(num_people), faces.shape[0])
    occluded = np.zeros((num_frames, len(cameras)) + keypoints.shape[1:3], dtype=bool)
    person = np.broadcast_to(np.arange(num_people)[:, None], keypoints.shape[1:3])
    own_margin_m = np.asarray(radii_m, dtype=np.float64) + config.self_occlusion_margin_m
    for t in range(num_frames):
        for v, camera in enumerate(cameras):
            fragments = fragments_for_camera(
                vertices_cam_m=camera.world_to_camera(vertices[t].reshape(-1, 3)), faces=all_faces,
                owner_of_face=owner_of_face, K=camera.K, width_px=camera.width_px, height_px=camera.height_px,
                scale=config.raster_scale)
            pixels = _pinhole_px(camera, keypoints[t])
            depth = camera.world_to_camera(keypoints[t])[..., 2]
            hidden = fragments.count_in_front(points_px=pixels, owner=person, depth_m=depth - own_margin_m) > 0
            for other in range(num_people):
                others = fragments.count_in_front(points_px=pixels, owner=np.full_like(person, other), depth_m=depth)
                hidden |= (person != other) & (others > 0)
            occluded[t, v] = hidden
    return occluded


def _box_height_px(clean_px: np.ndarray, in_image: np.ndarray) -> np.ndarray:
    """(T, V, P) vertical extent of the in-image joints, pixels (0 when fewer than 2)."""
    y = clean_px[..., 1]
    top = np.where(in_image, y, np.inf).min(axis=-1)
    bottom = np.where(in_image, y, -np.inf).max(axis=-1)
    return np.where(in_image.sum(axis=-1) >= 2, bottom - top, 0.0)


def observe(*, keypoints_world_m: np.ndarray, layout: KeypointLayout, cameras: tuple[Camera, ...],
            config: ObservationConfig, rng: np.random.Generator, vertices_world_m: np.ndarray | None = None,
            faces: np.ndarray | None = None, keypoint_radii_m: np.ndarray | None = None) -> Observations:
    """Simulate a 2D keypoint detector on every view (steps in the module docstring).

    Args:
        keypoints_world_m: (T, P, J, 3) keypoints in ``layout`` (e.g. ``layout.from_official(joints_m)``).
        layout: gives the derivable joints and the left-right permutation for swaps.
        cameras: the V views.
        config: the error model (validated here).
        rng: the only source of randomness.
        vertices_world_m, faces: (T, P, N, 3) meshes and (F, 3) triangles for the occlusion test; without
            them (or with ``config.occlusion`` False) nothing is occluded.
        keypoint_radii_m: (P, J) body radius around each keypoint (:func:`keypoint_radii_m`); default zeros
            (any own surface more than ``self_occlusion_margin_m`` in front hides a keypoint).
    """
    config.validate()
    clean, depth = project_keypoints(keypoints_world_m, cameras)
    num_frames, num_views, num_people, num_joints = depth.shape
    if num_joints != layout.num_joints:
        raise ObservationError(f"keypoints have {num_joints} joints, layout {layout.name} has {layout.num_joints}")
    margin = config.border_margin_px
    width = np.array([c.width_px for c in cameras], dtype=np.float64)[None, :, None, None]
    height = np.array([c.height_px for c in cameras], dtype=np.float64)[None, :, None, None]
    with np.errstate(invalid="ignore"):
        in_image = ((depth > 0) & np.all(np.isfinite(clean), axis=-1) & (clean[..., 0] >= -margin)
                    & (clean[..., 0] < width + margin) & (clean[..., 1] >= -margin) & (clean[..., 1] < height + margin))
    in_image &= layout.available
    if config.occlusion and vertices_world_m is not None and faces is not None:
        radii = np.zeros(depth.shape[2:]) if keypoint_radii_m is None else keypoint_radii_m
        occluded = occlusion_mask(keypoints_world_m=keypoints_world_m, radii_m=radii, vertices_world_m=vertices_world_m,
                                  faces=faces, cameras=cameras, config=config) & in_image
    else:
        occluded = np.zeros_like(in_image)
    visible = in_image & ~occluded

    shape = depth.shape
    noise = rng.standard_normal(shape + (2,))
    confidence_draw = rng.standard_normal(shape)
    report_draw = rng.random(shape)
    dropout_draw = rng.random(shape)
    miss_draw = rng.random(shape[:3])
    swap_draw = rng.random(shape[:3])
    view_draw = rng.random(shape[:2])

    sigma_visible = config.pixel_sigma_px + config.sigma_per_box_height * _box_height_px(clean, in_image)
    sigma = np.where(visible, sigma_visible[..., None], config.occluded_sigma_px)
    mean_v, std_v = config.visible_confidence
    mean_o, std_o = config.occluded_confidence
    confidence = np.where(visible, np.clip(mean_v + std_v * confidence_draw, 0.05, 1.0),
                          np.clip(mean_o + std_o * confidence_draw, 0.01, 1.0))
    reported = (visible & (dropout_draw >= config.joint_dropout_probability)) | (
        occluded & (report_draw < config.occluded_report_probability))
    view_present = view_draw >= config.view_drop_probability
    detected = (miss_draw >= config.person_miss_probability) & view_present[..., None] & reported.any(axis=-1)
    reported &= detected[..., None]
    xy = np.where(np.isfinite(clean), clean, 0.0) + sigma[..., None] * noise
    xy[..., 0] = np.clip(xy[..., 0], 0.0, width - 1e-6)
    xy[..., 1] = np.clip(xy[..., 1], 0.0, height - 1e-6)
    keypoints = np.where(reported[..., None], np.concatenate([xy, confidence[..., None]], axis=-1), 0.0)
    swapped = (swap_draw < config.swap_probability) & detected
    keypoints[swapped] = keypoints[swapped][:, layout.mirror_index]
    return Observations(layout=layout.name, camera_names=tuple(c.name for c in cameras), keypoints_px=keypoints,
                        clean_px=clean, depth_m=depth, in_image=in_image, occluded=occluded, swapped=swapped,
                        detected=detected, view_present=view_present)
