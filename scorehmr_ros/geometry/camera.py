"""The one camera type of the core: intrinsics, distortion, world->camera pose, image size.

Conventions (REP-103 optical frame, as OpenCV): x right, y down, z forward, metres.
A world point X_world_m maps to the camera as X_cam_m = R_cam_world @ X_world_m + t_cam_world_m
and to pixels as u = fx * x/z + cx, v = fy * y/z + cy (plus plumb-bob distortion).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scorehmr_ros.base.arrays import checked_array

#: Distortion models the core understands (sensor_msgs/CameraInfo names).
DISTORTION_MODELS = ("none", "plumb_bob")
#: plumb_bob coefficients in order (k1, k2, p1, p2, k3).
PLUMB_BOB_SIZE = 5


class CameraError(ValueError):
    """A camera description that cannot be used (bad shape, non-finite, inconsistent)."""


def _as_array(name: str, value, shape: tuple[int, ...]) -> np.ndarray:
    return checked_array(name, value, shape, error=CameraError, show_values=True)


@dataclass(frozen=True)
class Camera:
    """A calibrated pinhole camera.

    Attributes:
        name: camera name (used for topics, ``<name>_optical_frame``).
        K: (3, 3) intrinsic matrix [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] in pixels.
        width_px, height_px: image size in pixels.
        R_cam_world: (3, 3) rotation world -> camera optical frame.
        t_cam_world_m: (3,) translation world -> camera optical frame, metres.
        distortion_model: "none" or "plumb_bob".
        distortion: (0,) or (5,) coefficients (k1, k2, p1, p2, k3).
        frame_id: optical frame name; defaults to ``<name>_optical_frame``.
    """

    name: str
    K: np.ndarray
    width_px: int
    height_px: int
    R_cam_world: np.ndarray = field(default_factory=lambda: np.eye(3))
    t_cam_world_m: np.ndarray = field(default_factory=lambda: np.zeros(3))
    distortion_model: str = "none"
    distortion: np.ndarray = field(default_factory=lambda: np.zeros(0))
    frame_id: str = ""

    def __post_init__(self) -> None:
        K = _as_array(f"camera {self.name!r} K", self.K, (3, 3))
        if K[0, 0] <= 0 or K[1, 1] <= 0:
            raise CameraError(f"camera {self.name!r} K: focal lengths must be > 0, got fx={K[0, 0]}, fy={K[1, 1]}")
        if not np.allclose(K[2], [0.0, 0.0, 1.0]) or K[1, 0] != 0 or K[0, 1] != 0:
            raise CameraError(f"camera {self.name!r} K: expected [[fx,0,cx],[0,fy,cy],[0,0,1]], got {K.tolist()}")
        if int(self.width_px) <= 0 or int(self.height_px) <= 0:
            raise CameraError(
                f"camera {self.name!r}: image size must be positive, got {self.width_px}x{self.height_px}"
            )
        R = _as_array(f"camera {self.name!r} R_cam_world", self.R_cam_world, (3, 3))
        if not np.allclose(R @ R.T, np.eye(3), atol=1e-6) or np.linalg.det(R) < 0:
            raise CameraError(f"camera {self.name!r} R_cam_world: not a rotation matrix")
        t = _as_array(f"camera {self.name!r} t_cam_world_m", self.t_cam_world_m, (3,))
        if self.distortion_model not in DISTORTION_MODELS:
            raise CameraError(
                f"camera {self.name!r}: distortion model {self.distortion_model!r} is not supported "
                f"(supported: {', '.join(DISTORTION_MODELS)})"
            )
        expected = (PLUMB_BOB_SIZE,) if self.distortion_model == "plumb_bob" else (0,)
        dist = np.asarray(self.distortion, dtype=np.float64).reshape(-1)
        if self.distortion_model == "none" and dist.size and np.allclose(dist, 0.0):
            dist = np.zeros(0)
        dist = _as_array(f"camera {self.name!r} distortion ({self.distortion_model})", dist, expected)
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "R_cam_world", R)
        object.__setattr__(self, "t_cam_world_m", t)
        object.__setattr__(self, "distortion", dist)
        object.__setattr__(self, "width_px", int(self.width_px))
        object.__setattr__(self, "height_px", int(self.height_px))
        if not self.frame_id:
            object.__setattr__(self, "frame_id", f"{self.name}_optical_frame")

    # -- pose helpers -------------------------------------------------------------------
    @property
    def T_cam_world(self) -> np.ndarray:
        """(4, 4) homogeneous transform world -> camera."""
        T = np.eye(4)
        T[:3, :3] = self.R_cam_world
        T[:3, 3] = self.t_cam_world_m
        return T

    @property
    def T_world_cam(self) -> np.ndarray:
        """(4, 4) homogeneous transform camera -> world (the camera's pose in the world)."""
        T = np.eye(4)
        T[:3, :3] = self.R_cam_world.T
        T[:3, 3] = -self.R_cam_world.T @ self.t_cam_world_m
        return T

    @property
    def center_world_m(self) -> np.ndarray:
        """(3,) camera centre in world coordinates, metres."""
        return -self.R_cam_world.T @ self.t_cam_world_m

    # -- projection ---------------------------------------------------------------------
    def world_to_camera(self, points_world_m: np.ndarray) -> np.ndarray:
        """(..., 3) world points -> (..., 3) camera-frame points, metres."""
        return points_world_m @ self.R_cam_world.T + self.t_cam_world_m

    def project(self, points_world_m: np.ndarray) -> np.ndarray:
        """(..., 3) world points -> (..., 2) pixel coordinates (with distortion).

        Points at or behind the camera plane (z <= 0) give NaN.
        """
        p_cam = self.world_to_camera(np.asarray(points_world_m, dtype=np.float64))
        z = p_cam[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            xy = p_cam[..., :2] / np.where(z > 0, z, np.nan)[..., None]
        if self.distortion_model == "plumb_bob":
            xy = apply_plumb_bob(xy, self.distortion)
        fx, fy, cx, cy = self.K[0, 0], self.K[1, 1], self.K[0, 2], self.K[1, 2]
        return np.stack([fx * xy[..., 0] + cx, fy * xy[..., 1] + cy], axis=-1)


def apply_plumb_bob(xy_normalized: np.ndarray, coeffs: np.ndarray) -> np.ndarray:
    """Brown-Conrady (OpenCV plumb_bob) distortion of (..., 2) normalized image points.

    x_d = x (1 + k1 r^2 + k2 r^4 + k3 r^6) + 2 p1 x y + p2 (r^2 + 2 x^2), and symmetric for y.
    """
    k1, k2, p1, p2, k3 = coeffs
    x, y = xy_normalized[..., 0], xy_normalized[..., 1]
    r2 = x * x + y * y
    radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    x_d = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x)
    y_d = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y
    return np.stack([x_d, y_d], axis=-1)
