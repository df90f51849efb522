"""Rendering a simulated scene: its people posed by the body model, seen by one view or all views,
as frames, a video (MP4, OpenCV ``mp4v``) or a PNG.

OpenCV's ``VideoWriter`` with the ``mp4v`` codec works with opencv-python-headless (checked with
OpenCV 5.0.0); if a build cannot open the writer, :func:`write_video` writes a numbered PNG
sequence in a folder next to the requested file instead and says so in its result.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scorehmr_ros.geometry.camera import Camera
from scorehmr_ros.sim.paint import clothed_colours, flat_colours, person_rgb
from scorehmr_ros.sim.render import Backdrop, RenderConfig, RenderError, render_backdrop, render_frame, resized_camera
from scorehmr_ros.sim.scene import Scene, pose_bodies, rest_pose

#: Paintings :func:`body_colours` knows.
PAINTINGS = ("clothed", "flat")


def body_colours(body_model, *, betas: np.ndarray, painting: str) -> np.ndarray:
    """(P, N, 3) vertex colours 0..255 of P people with shapes ``betas`` (P, 10): ``clothed`` (shirt in
    the person's colour) or ``flat`` (the whole body in the person's colour)."""
    if painting not in PAINTINGS:
        raise RenderError(f"unknown painting {painting!r}; choose from {', '.join(PAINTINGS)}")
    num_vertices = body_model.v_template.shape[0]
    if painting == "flat":
        return np.stack([flat_colours(num_vertices, person_rgb(p)) for p in range(len(betas))])
    weights = body_model.lbs_weights.detach().cpu().double().numpy()
    return np.stack([clothed_colours(lbs_weights=weights, rest_vertices_m=rest_pose(body_model, b)[0],
                                     shirt_rgb=person_rgb(p)) for p, b in enumerate(betas)])


@dataclass(frozen=True)
class SceneMeshes:
    """The people of a scene as meshes: vertices (P, T, N, 3) world metres, faces (F, 3), colours (P, N, 3)."""

    vertices_world_m: np.ndarray
    faces: np.ndarray
    colours_rgb: np.ndarray


def scene_meshes(scene: Scene, body_model, *, painting: str = "clothed") -> SceneMeshes:
    """Pose the scene's ground truth with ``body_model`` (the one the scene was made with)."""
    truth = scene.ground_truth
    vertices, _, _ = pose_bodies(body_model, global_orient=truth.global_orient, body_pose=truth.body_pose,
                                 betas=truth.betas, transl_m=truth.transl_m)
    return SceneMeshes(vertices_world_m=vertices, faces=body_model.faces.cpu().numpy(),
                       colours_rgb=body_colours(body_model, betas=truth.betas, painting=painting))


def tile_images(images: Sequence[np.ndarray], *, columns: int) -> np.ndarray:
    """Images of one size (H, W, 3) in a grid of ``columns`` columns, row by row (blank cells black)."""
    rows = -(-len(images) // columns)
    height, width = images[0].shape[:2]
    grid = np.zeros((rows * height, columns * width, 3), dtype=np.uint8)
    for k, image in enumerate(images):
        row, column = divmod(k, columns)
        grid[row * height:(row + 1) * height, column * width:(column + 1) * width] = image
    return grid


def draw_label(image: np.ndarray, text: str, *, row: int = 0) -> None:
    """Write ``text`` (dark on a light outline) in the top-left corner of the RGB ``image``, in place, on
    text line ``row``."""
    import cv2

    origin = (3, 12 + 12 * row)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.36, (255, 255, 255), 2, cv2.LINE_AA)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.36, (20, 20, 20), 1, cv2.LINE_AA)


def render_scene_frames(meshes: SceneMeshes, cameras: Sequence[Camera], *, config: RenderConfig | None = None,
                        frames: Sequence[int] | None = None, columns: int = 2) -> Iterator[np.ndarray]:
    """(H, W, 3) uint8 RGB images of frames ``frames`` (default all): one camera's view, or with several
    cameras (each resized by the caller as wanted) their views tiled ``columns`` wide, each labelled with
    its camera name."""
    config = config or RenderConfig()
    config.validate()
    num_frames = meshes.vertices_world_m.shape[1]
    frames = range(num_frames) if frames is None else frames
    for t in frames:
        if not 0 <= t < num_frames:
            raise RenderError(f"frame {t} outside 0..{num_frames - 1}")
    supersampled = [resized_camera(c, scale=config.supersample) if config.supersample > 1 else c for c in cameras]
    backdrops: list[Backdrop] = [render_backdrop(c, config) for c in supersampled]
    for t in frames:
        views = [render_frame(camera, vertices_world_m=meshes.vertices_world_m[:, t], faces=meshes.faces,
                              colours_rgb=meshes.colours_rgb, config=config, backdrop=backdrop)
                 for camera, backdrop in zip(cameras, backdrops, strict=True)]
        if len(views) == 1:
            yield views[0]
            continue
        for view, camera in zip(views, cameras, strict=True):
            draw_label(view, camera.name)
        yield tile_images(views, columns=columns)


def person_size_fraction(meshes: SceneMeshes, camera: Camera) -> np.ndarray:
    """(P, T) the longer side of each person's 2D box divided by the image's longer side (NaN when a
    vertex is behind the camera): detectors like BlazePose want >= 0.35-0.4."""
    pixels = camera.project(meshes.vertices_world_m)  # (P, T, N, 2)
    extent = np.nanmax(pixels, axis=2) - np.nanmin(pixels, axis=2)
    fraction = extent.max(axis=-1) / max(camera.width_px, camera.height_px)
    return np.where(np.all(np.isfinite(pixels), axis=(2, 3)), fraction, np.nan)


@dataclass(frozen=True)
class VideoResult:
    """What :func:`write_video` wrote: ``path`` (the MP4, or the folder of PNGs), ``num_frames``, and
    ``fallback`` True when the MP4 writer could not be opened and PNGs were written instead."""

    path: Path
    num_frames: int
    fallback: bool


def write_video(frames: Iterator[np.ndarray], path: str | Path, *, fps: float) -> VideoResult:
    """Write RGB uint8 frames (H, W, 3), all one size, as an MP4 (``mp4v``) at ``fps`` Hz; if OpenCV cannot
    open an MP4 writer, write ``<stem>_frames/000000.png, ...`` beside ``path`` instead."""
    import cv2

    if not np.isfinite(fps) or fps <= 0:
        raise RenderError(f"fps must be > 0, got {fps}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer, folder, count = None, None, 0
    try:
        for frame in frames:
            height, width = frame.shape[:2]
            if count == 0:
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (width, height))
                if not writer.isOpened():
                    writer = None
                    folder = path.with_name(f"{path.stem}_frames")
                    folder.mkdir(parents=True, exist_ok=True)
            if writer is not None:
                writer.write(np.ascontiguousarray(frame[..., ::-1]))
            else:
                cv2.imwrite(str(folder / f"{count:06d}.png"), frame[..., ::-1])
            count += 1
    finally:
        if writer is not None:
            writer.release()
    if count == 0:
        raise RenderError(f"{path}: no frames to write")
    return VideoResult(path=folder if folder is not None else path, num_frames=count, fallback=folder is not None)


def write_png(image: np.ndarray, path: str | Path) -> Path:
    """Write an RGB uint8 image (H, W, 3) as PNG (strongest compression); returns the path."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise RenderError(f"{path}: OpenCV could not write the image (is the extension .png?)")
    return path
