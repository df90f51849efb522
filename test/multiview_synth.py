"""Synthetic multi-view keypoint sets for the triangulation, association and tracking tests.

Stick figures in the OpenPose-25 layout walk on the floor (world frame REP-103, z up, metres);
the rig's cameras see them with pixel noise, missed detections and spurious detections. Every
view's detections are shuffled; the ground truth says which person each detection is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from scorehmr_ros.geometry.camera import Camera

#: OpenPose-25 joints of a 1.75 m person standing at the origin facing +x (body frame), metres.
OPENPOSE25_TEMPLATE_M = np.array([
    [0.08, 0.0, 1.62], [0.0, 0.0, 1.50], [0.0, -0.18, 1.47], [0.0, -0.20, 1.18], [0.05, -0.20, 0.93],
    [0.0, 0.18, 1.47], [0.0, 0.20, 1.18], [0.05, 0.20, 0.93], [0.0, 0.0, 0.95], [0.0, -0.10, 0.95],
    [0.02, -0.10, 0.52], [0.0, -0.10, 0.08], [0.0, 0.10, 0.95], [0.02, 0.10, 0.52], [0.0, 0.10, 0.08],
    [0.07, -0.035, 1.66], [0.07, 0.035, 1.66], [0.0, -0.075, 1.63], [0.0, 0.075, 1.63], [0.15, 0.12, 0.0],
    [0.13, 0.16, 0.0], [-0.05, 0.10, 0.02], [0.15, -0.12, 0.0], [0.13, -0.16, 0.0], [-0.05, -0.10, 0.02],
])
#: Joints below the hips swung by the legs, and the arm joints swung by the shoulders.
_RIGHT_LEG = (10, 11, 22, 23, 24)
_LEFT_LEG = (13, 14, 19, 20, 21)
_RIGHT_ARM = (3, 4)
_LEFT_ARM = (6, 7)
_HIP_HEIGHT_M = 0.95
_SHOULDER_HEIGHT_M = 1.47


def _swing(joints: np.ndarray, indices: tuple[int, ...], pivot_z_m: float, angle_rad: float) -> None:
    """Rotate joints about the body y axis through a pivot at height ``pivot_z_m`` (in place)."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    for i in indices:
        x, z = joints[i, 0], joints[i, 2] - pivot_z_m
        joints[i, 0], joints[i, 2] = c * x + s * z, -s * x + c * z + pivot_z_m


def stick_figure(*, position_m: np.ndarray, heading_rad: float, scale: float, phase_rad: float) -> np.ndarray:
    """(25, 3) world joints of a walking stick figure: pelvis over ``position_m`` (x, y), facing ``heading_rad``."""
    joints = OPENPOSE25_TEMPLATE_M.copy()
    swing = 0.45 * np.sin(phase_rad)
    _swing(joints, _RIGHT_LEG, _HIP_HEIGHT_M, swing)
    _swing(joints, _LEFT_LEG, _HIP_HEIGHT_M, -swing)
    _swing(joints, _RIGHT_ARM, _SHOULDER_HEIGHT_M, -0.6 * swing)
    _swing(joints, _LEFT_ARM, _SHOULDER_HEIGHT_M, 0.6 * swing)
    joints *= scale
    c, s = np.cos(heading_rad), np.sin(heading_rad)
    R = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return joints @ R.T + np.array([position_m[0], position_m[1], 0.0])


@dataclass(frozen=True)
class SyntheticSet:
    """One synchronized set.

    Attributes:
        keypoints_px: per view, (P_v, 25, 3) detections (shuffled).
        person_of_detection: per view, (P_v,) ground-truth person index, -1 for spurious detections.
        joints_world_m: (P, 25, 3) ground-truth joints.
    """

    keypoints_px: tuple[np.ndarray, ...]
    person_of_detection: tuple[np.ndarray, ...]
    joints_world_m: np.ndarray


def observe(*, joints_world_m: np.ndarray, cameras: Sequence[Camera], rng: np.random.Generator,
            noise_px: float = 2.0, miss_probability: float = 0.0, joint_drop_probability: float = 0.0,
            num_spurious: int = 0, min_visible_joints: int = 6) -> SyntheticSet:
    """Detections of (P, 25, 3) people in every camera (joints outside the image have confidence 0)."""
    keypoints, owners = [], []
    for cam in cameras:
        detections, owner = [], []
        for p, joints in enumerate(joints_world_m):
            if rng.random() < miss_probability:
                continue
            uv = cam.project(joints) + rng.normal(0.0, noise_px, (joints.shape[0], 2))
            inside = (np.all(np.isfinite(uv), axis=-1) & (uv[:, 0] >= 0) & (uv[:, 0] < cam.width_px)
                      & (uv[:, 1] >= 0) & (uv[:, 1] < cam.height_px))
            confidence = np.where(inside & (rng.random(joints.shape[0]) >= joint_drop_probability),
                                  rng.uniform(0.5, 1.0, joints.shape[0]), 0.0)
            if np.sum(confidence > 0) < min_visible_joints:
                continue
            detections.append(np.concatenate([np.nan_to_num(uv) * (confidence[:, None] > 0), confidence[:, None]],
                                             axis=1))
            owner.append(p)
        for _ in range(num_spurious):
            detections.append(_spurious_detection(cam, rng))
            owner.append(-1)
        order = rng.permutation(len(detections))
        keypoints.append(np.array([detections[i] for i in order]).reshape(-1, 25, 3))
        owners.append(np.array([owner[i] for i in order], dtype=int))
    return SyntheticSet(tuple(keypoints), tuple(owners), joints_world_m)


def _spurious_detection(cam: Camera, rng: np.random.Generator) -> np.ndarray:
    """(25, 3) a person-shaped 2D detection at a random place and size (a false positive)."""
    template = OPENPOSE25_TEMPLATE_M[:, [1, 2]] * np.array([1.0, -1.0])
    size_px = rng.uniform(80.0, 300.0)
    center = rng.uniform([0.2 * cam.width_px, 0.2 * cam.height_px], [0.8 * cam.width_px, 0.8 * cam.height_px])
    uv = template * size_px / 1.75 + center + rng.normal(0.0, 4.0, (25, 2))
    return np.concatenate([uv, rng.uniform(0.3, 0.9, (25, 1))], axis=1)


def random_people(*, num_people: int, rng: np.random.Generator, room_radius_m: float = 2.0,
                  min_separation_m: float = 0.8) -> np.ndarray:
    """(P, 25, 3) people at random places in the room, at least ``min_separation_m`` apart."""
    positions: list[np.ndarray] = []
    while len(positions) < num_people:
        candidate = rng.uniform(-room_radius_m, room_radius_m, 2)
        if np.linalg.norm(candidate) <= room_radius_m and all(
                np.linalg.norm(candidate - p) >= min_separation_m for p in positions):
            positions.append(candidate)
    return np.stack([stick_figure(position_m=p, heading_rad=rng.uniform(-np.pi, np.pi), scale=rng.uniform(0.9, 1.1),
                                  phase_rad=rng.uniform(0, 2 * np.pi)) for p in positions])


def detections_as_group_array(synthetic: SyntheticSet, num_people: int) -> np.ndarray:
    """(V, P, 25, 3) the ground-truth grouping of a set's detections (zeros where a view misses a person)."""
    out = np.zeros((len(synthetic.keypoints_px), num_people, 25, 3))
    for v, (keypoints, owner) in enumerate(zip(synthetic.keypoints_px, synthetic.person_of_detection, strict=True)):
        for i, p in enumerate(owner):
            if p >= 0:
                out[v, p] = keypoints[i]
    return out


def walkers(*, starts_m: np.ndarray, velocities_m_s: np.ndarray, time_s: float, step_hz: float = 0.9) -> np.ndarray:
    """(P, 25, 3) people walking in straight lines from (P, 2) ``starts_m`` with (P, 2) ``velocities_m_s``."""
    people = []
    for start, velocity in zip(np.asarray(starts_m, float), np.asarray(velocities_m_s, float), strict=True):
        heading = np.arctan2(velocity[1], velocity[0]) if np.linalg.norm(velocity) > 0 else 0.0
        people.append(stick_figure(position_m=start + velocity * time_s, heading_rad=heading, scale=1.0,
                                   phase_rad=2 * np.pi * step_hz * time_s))
    return np.stack(people)
