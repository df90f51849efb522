"""Synthetic camera rigs as core ``Camera`` objects (world frame REP-103: z up, metres).

Rigs by name (``make_rig``): ``ring<N>`` (N = 1..32 cameras on a circle around the room, looking
at its centre), ``stereo`` (a robot head's forward-looking stereo pair), ``wide3`` (three cameras
spread along one wall). Camera optical frames follow OpenCV: x right, y down, z forward.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from scorehmr_ros.base.config_fields import setting
from scorehmr_ros.geometry.camera import Camera

#: Point every ring and wall camera looks at: the room centre, about chest height, metres.
ROOM_CENTER_M = (0.0, 0.0, 1.0)
#: Most cameras a ring rig may have.
MAX_RING_CAMERAS = 32


class RigError(ValueError):
    """An unknown rig name or impossible rig geometry."""


@dataclass(frozen=True)
class Rig:
    """A named set of calibrated cameras sharing one world frame.

    Attributes:
        name: rig name (e.g. "ring4").
        cameras: the cameras, in a fixed order (the V axis of observations).
        world_frame: the frame the camera poses are expressed in (REP-105 name); its default is the one home
            of the default world frame (``Rig.world_frame``) of the nodes, the rig files and the simulator.
    """

    name: str
    cameras: tuple[Camera, ...]
    world_frame: str = setting("map", "frame the camera poses are expressed in (REP-105 name)")

    def __post_init__(self) -> None:
        if not self.cameras:
            raise RigError(f"rig {self.name!r}: needs at least one camera")
        names = [camera.name for camera in self.cameras]
        if len(set(names)) != len(names):
            raise RigError(f"rig {self.name!r}: camera names must be unique, got {names}")
        object.__setattr__(self, "cameras", tuple(self.cameras))


def intrinsics_from_fov(*, width_px: int, height_px: int, horizontal_fov_deg: float) -> np.ndarray:
    """(3, 3) K of an ideal pinhole with square pixels and the principal point at the image centre."""
    if not 1.0 <= horizontal_fov_deg <= 170.0:
        raise RigError(f"horizontal_fov_deg: must be in [1, 170] degrees, got {horizontal_fov_deg}")
    focal_px = 0.5 * width_px / np.tan(np.radians(horizontal_fov_deg) / 2)
    return np.array([[focal_px, 0.0, width_px / 2], [0.0, focal_px, height_px / 2], [0.0, 0.0, 1.0]])


def look_at(*, position_world_m: np.ndarray, target_world_m: np.ndarray,
            up_world: np.ndarray = (0.0, 0.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """World -> optical-frame pose (R_cam_world (3, 3), t_cam_world_m (3,)) of a camera at
    ``position_world_m`` whose optical axis (z) points at ``target_world_m`` and whose image y axis
    points down along -``up_world``."""
    position = np.asarray(position_world_m, dtype=np.float64)
    forward = np.asarray(target_world_m, dtype=np.float64) - position
    if np.linalg.norm(forward) < 1e-9:
        raise RigError("look_at: camera position and target coincide")
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, np.asarray(up_world, dtype=np.float64))
    if np.linalg.norm(right) < 1e-9:
        raise RigError("look_at: viewing direction is parallel to the up vector")
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    R_world_cam = np.stack([right, down, forward], axis=1)
    return R_world_cam.T, -R_world_cam.T @ position


def _camera(name: str, *, position: np.ndarray, target: np.ndarray, width_px: int, height_px: int,
            horizontal_fov_deg: float) -> Camera:
    R, t = look_at(position_world_m=position, target_world_m=target)
    K = intrinsics_from_fov(width_px=width_px, height_px=height_px, horizontal_fov_deg=horizontal_fov_deg)
    return Camera(name=name, K=K, width_px=width_px, height_px=height_px, R_cam_world=R, t_cam_world_m=t)


def ring_rig(*, num_cameras: int = 4, radius_m: float = 4.0, height_m: float = 2.5, width_px: int = 1280,
             height_px: int = 720, horizontal_fov_deg: float = 70.0) -> Rig:
    """``num_cameras`` cameras evenly spaced on a circle of ``radius_m`` at ``height_m``, each looking at
    the room centre; camera k sits at angle 2 pi k / N from the world +x axis."""
    if not 1 <= num_cameras <= MAX_RING_CAMERAS:
        raise RigError(f"ring rig: num_cameras must be in [1, {MAX_RING_CAMERAS}], got {num_cameras}")
    if radius_m <= 0.5 or height_m <= 0:
        raise RigError(f"ring rig: radius_m must be > 0.5 and height_m > 0, got {radius_m}, {height_m}")
    cameras = []
    for k in range(num_cameras):
        angle = 2 * np.pi * k / num_cameras
        position = np.array([radius_m * np.cos(angle), radius_m * np.sin(angle), height_m])
        cameras.append(_camera(f"cam{k}", position=position, target=np.array(ROOM_CENTER_M), width_px=width_px,
                               height_px=height_px, horizontal_fov_deg=horizontal_fov_deg))
    return Rig(name=f"ring{num_cameras}", cameras=tuple(cameras))


def stereo_head_rig(*, baseline_m: float = 0.12, head_position_m: tuple[float, float, float] = (-3.5, 0.0, 1.6),
                    tilt_down_deg: float = 10.0, width_px: int = 1280, height_px: int = 720,
                    horizontal_fov_deg: float = 80.0) -> Rig:
    """A robot head's stereo pair: two parallel cameras ``baseline_m`` apart (left camera on the +y side),
    looking along world +x from ``head_position_m``, tilted down by ``tilt_down_deg``."""
    if not 0.01 <= baseline_m <= 1.0:
        raise RigError(f"stereo rig: baseline_m must be in [0.01, 1.0], got {baseline_m}")
    head = np.asarray(head_position_m, dtype=np.float64)
    tilt = np.radians(tilt_down_deg)
    direction = np.array([np.cos(tilt), 0.0, -np.sin(tilt)])
    cameras = []
    for name, side in (("left", 0.5), ("right", -0.5)):
        position = head + np.array([0.0, side * baseline_m, 0.0])
        cameras.append(_camera(name, position=position, target=position + direction, width_px=width_px,
                               height_px=height_px, horizontal_fov_deg=horizontal_fov_deg))
    return Rig(name="stereo", cameras=tuple(cameras))


def wide_baseline_rig(*, spacing_m: float = 3.0, wall_distance_m: float = 4.0, height_m: float = 2.2,
                      width_px: int = 1280, height_px: int = 720, horizontal_fov_deg: float = 70.0) -> Rig:
    """Three cameras along a wall (y = -``wall_distance_m``) at x = -spacing, 0, +spacing, all looking at
    the room centre: wide baselines, but all from one side (people occlude each other)."""
    if spacing_m <= 0 or wall_distance_m <= 0.5:
        raise RigError(f"wide rig: spacing_m must be > 0 and wall_distance_m > 0.5, got {spacing_m}, "
                       f"{wall_distance_m}")
    cameras = [
        _camera(f"cam{k}", position=np.array([x, -wall_distance_m, height_m]), target=np.array(ROOM_CENTER_M),
                width_px=width_px, height_px=height_px, horizontal_fov_deg=horizontal_fov_deg)
        for k, x in enumerate((-spacing_m, 0.0, spacing_m))
    ]
    return Rig(name="wide3", cameras=tuple(cameras))


#: Rig names ``make_rig`` understands (ring takes any N in 1..32).
RIG_NAMES = ("ring<N>", "stereo", "wide3")


def make_rig(name: str) -> Rig:
    """A rig by name: ``ring<N>`` (e.g. ring4), ``stereo`` or ``wide3``, with default geometry."""
    match = re.fullmatch(r"ring(\d+)", name)
    if match:
        return ring_rig(num_cameras=int(match.group(1)))
    if name == "stereo":
        return stereo_head_rig()
    if name == "wide3":
        return wide_baseline_rig()
    raise RigError(f"unknown rig {name!r}; available: {', '.join(RIG_NAMES)}")
