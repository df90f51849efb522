"""A contact sheet of the converted DeepMimic motion: every clip, a few frames each, rendered.

One row per clip, frames evenly spread over the clip's natural length. Each tile has its own
camera: it looks at the body's box centre from the front-left of the clip's *first-frame* heading
(so a turn within a clip shows as a turn), ``elevation_deg`` above the horizontal, at one distance
per clip at which the body of every frame of the row fits its tile, so sizes are comparable along a row. The
floor is drawn, so a body below the floor or upside down shows. Labels: clip name and time in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scorehmr_ros.geometry.camera import Camera
from scorehmr_ros.geometry.rigs import intrinsics_from_fov, look_at
from scorehmr_ros.sim.deepmimic import CLIP_NAMES
from scorehmr_ros.sim.render import RenderConfig, render_frame
from scorehmr_ros.sim.retarget import load_deepmimic_clip
from scorehmr_ros.sim.scene import pose_bodies, rest_pose
from scorehmr_ros.sim.scene_render import body_colours, draw_label, tile_images

#: Fraction of the tile's half-size the body may reach from the tile centre.
FILL = 0.9


@dataclass(frozen=True)
class ContactSheetConfig:
    """Layout of the sheet.

    Attributes:
        clips: clip names, one row each.
        frames_per_clip: tiles per row, >= 1.
        tile_width_px, tile_height_px: tile size, pixels, >= 32.
        azimuth_deg: camera direction from the body, degrees counter-clockwise from the first frame's facing.
        elevation_deg: camera direction above the horizontal, degrees, [-10, 80].
        horizontal_fov_deg: tile camera field of view, degrees, (1, 120).
        painting: "clothed" or "flat".
        supersample: anti-aliasing factor of the render, 1..4.
    """

    clips: tuple[str, ...] = CLIP_NAMES
    frames_per_clip: int = 6
    tile_width_px: int = 128
    tile_height_px: int = 160
    azimuth_deg: float = 35.0
    elevation_deg: float = 12.0
    horizontal_fov_deg: float = 40.0
    painting: str = "clothed"
    supersample: int = 2

    def validate(self) -> None:
        unknown = [name for name in self.clips if name not in CLIP_NAMES]
        if not self.clips or unknown:
            raise ValueError(f"ContactSheetConfig.clips: unknown or no clips {unknown}; choose from {CLIP_NAMES}")
        if self.frames_per_clip < 1:
            raise ValueError(f"ContactSheetConfig.frames_per_clip: must be >= 1, got {self.frames_per_clip}")
        if min(self.tile_width_px, self.tile_height_px) < 32:
            raise ValueError(f"ContactSheetConfig.tile_width_px/tile_height_px: must be >= 32, got "
                             f"{self.tile_width_px}x{self.tile_height_px}")
        if not -10.0 <= self.elevation_deg <= 80.0:
            raise ValueError(f"ContactSheetConfig.elevation_deg: must be in [-10, 80], got {self.elevation_deg}")
        if not 1.0 < self.horizontal_fov_deg < 120.0:
            raise ValueError(f"ContactSheetConfig.horizontal_fov_deg: must be in (1, 120), got "
                             f"{self.horizontal_fov_deg}")
        RenderConfig(supersample=self.supersample).validate()


def tile_camera(*, target_world_m: np.ndarray, direction_world: np.ndarray, distance_m: float,
                config: ContactSheetConfig) -> Camera:
    """A tile's camera at ``target + distance * direction`` (direction (3,) unit) looking at the target."""
    R, t = look_at(position_world_m=target_world_m + distance_m * direction_world, target_world_m=target_world_m)
    K = intrinsics_from_fov(width_px=config.tile_width_px, height_px=config.tile_height_px,
                            horizontal_fov_deg=config.horizontal_fov_deg)
    return Camera(name="tile", K=K, width_px=config.tile_width_px, height_px=config.tile_height_px,
                  R_cam_world=R, t_cam_world_m=t)


def _fit_distance(vertices_m: np.ndarray, *, centres: np.ndarray, direction: np.ndarray,
                  config: ContactSheetConfig) -> float:
    """One camera distance, metres, at which every frame's body (K, N, 3), seen from ``direction`` (3,) towards
    its centre (K, 3), fills at most ``FILL`` of the tile's half-width and half-height (two secant steps)."""
    distance = 4.0 * float(np.max(vertices_m.max(axis=1) - vertices_m.min(axis=1)))
    for _ in range(3):
        reach = 0.0
        for points, centre in zip(vertices_m, centres, strict=True):
            camera = tile_camera(target_world_m=centre, direction_world=direction, distance_m=distance, config=config)
            offset = np.abs(camera.project(points) - camera.K[:2, 2]) / camera.K[:2, 2]
            reach = max(reach, float(np.nanmax(offset)))
        distance *= reach / FILL
    return distance


def clip_row(body_model, name: str, *, config: ContactSheetConfig, colours_rgb: np.ndarray,
             rest_joints_m: np.ndarray) -> list[np.ndarray]:
    """The tiles (H, W, 3) uint8 RGB of one clip, labelled."""
    clip = load_deepmimic_clip(name, rest_joints_m=rest_joints_m)
    frames = np.unique(np.linspace(0, clip.num_frames - 1, config.frames_per_clip).round().astype(int))
    vertices, _, _ = pose_bodies(body_model, global_orient=clip.global_orient[None, frames],
                                 body_pose=clip.body_pose[None, frames], betas=clip.betas[None],
                                 transl_m=clip.transl_m[None, frames])
    vertices = vertices[0]  # (K, N, 3)
    lower, upper = vertices.min(axis=1), vertices.max(axis=1)
    centres = 0.5 * (lower + upper)
    facing = clip.global_orient[0] @ np.array([0.0, 0.0, 1.0])  # SMPL forward is canonical +z
    heading = np.arctan2(facing[1], facing[0]) + np.radians(config.azimuth_deg)
    elevation = np.radians(config.elevation_deg)
    direction = np.array([np.cos(elevation) * np.cos(heading), np.cos(elevation) * np.sin(heading),
                          np.sin(elevation)])
    distance = _fit_distance(vertices, centres=centres, direction=direction, config=config)
    colours = colours_rgb[None]
    render_config = RenderConfig(supersample=config.supersample)
    tiles = []
    for k, frame in enumerate(frames):
        camera = tile_camera(target_world_m=centres[k], direction_world=direction, distance_m=distance, config=config)
        tile = render_frame(camera, vertices_world_m=vertices[k][None], faces=body_model.faces.cpu().numpy(),
                            colours_rgb=colours, config=render_config)
        if k == 0:
            draw_label(tile, name, row=0)
        draw_label(tile, f"{frame / clip.fps:.2f} s", row=1 if k == 0 else 0)
        tiles.append(tile)
    blank = np.zeros_like(tiles[0])
    return tiles + [blank] * (config.frames_per_clip - len(tiles))


def motion_contact_sheet(body_model, *, config: ContactSheetConfig | None = None) -> np.ndarray:
    """(rows * H, frames_per_clip * W, 3) uint8 RGB sheet of ``config.clips`` on ``body_model`` (betas 0)."""
    config = config or ContactSheetConfig()
    config.validate()
    betas = np.zeros((1, 10))
    rest_joints = rest_pose(body_model, betas[0])[2]
    colours = body_colours(body_model, betas=betas, painting=config.painting)[0]
    tiles = []
    for name in config.clips:
        tiles.extend(clip_row(body_model, name, config=config, colours_rgb=colours, rest_joints_m=rest_joints))
    return tile_images(tiles, columns=config.frames_per_clip)
