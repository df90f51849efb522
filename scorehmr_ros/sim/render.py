"""Shaded body meshes seen by a core ``Camera``, on a textured floor: numpy only, no GPU or display.

Method (chosen over OpenCV's ``fillConvexPoly`` with a painter's sort, which cannot resolve
interpenetrating limbs or two people overlapping in depth correctly):
1. every vertex is projected with :meth:`Camera.project` (so plumb-bob distortion bends the mesh
   at the vertex level; triangle edges stay straight between distorted vertices);
2. triangles facing away from the camera (by their winding on screen; meshes are outward
   counter-clockwise, as SMPL's) or crossing the near plane are dropped;
3. the remaining triangles are rasterised in a z-buffer, vectorised over triangles: triangles are
   bucketed by bounding-box size and every pixel centre of every box is tested at once; depth and
   attributes are interpolated perspective-correctly (linearly in 1/z);
4. vertex colours and normals are interpolated; shading is Lambert with one light fixed in the
   camera frame (above, left of and behind the camera, so every view is lit) plus ambient;
5. the floor (plane z = 0, checkerboard, faded with distance) and the wall colour above the horizon
   are computed once per camera by casting each pixel's ray (undistorted with OpenCV), with a soft
   contact shadow under each person.
Pixel centres are at integer coordinates, as in OpenCV and ``Camera.project``: pixel (row i,
column j) is sampled at u = j, v = i. Images are RGB uint8 (H, W, 3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scorehmr_ros.geometry.camera import Camera

#: Triangles with a vertex closer than this to the camera plane are dropped, metres.
NEAR_PLANE_M = 0.05


class RenderError(ValueError):
    """Render options or mesh arrays that cannot be rendered."""


@dataclass(frozen=True)
class RenderConfig:
    """How a frame looks.

    Attributes:
        supersample: render at this many times the resolution per axis and average down, 1..4.
        light_direction_cam: (3,) direction towards the light in the camera frame (x right, y down, z forward).
        ambient: light reaching surfaces that face away from the light, [0, 1].
        floor: draw the floor plane z = 0 (else the wall colour everywhere).
        checker_size_m: side of one floor square, metres, > 0.
        floor_rgb: (2, 3) colours of the floor squares, 0..255.
        wall_rgb: (3,) colour above the horizon, 0..255.
        fog_distance_m: the floor fades into the wall colour with exp(-distance / this), metres, > 0.
        shadow_strength: darkening of the floor under each pelvis, [0, 1]; shadow_radius_m: its std, metres, > 0.
    """

    supersample: int = 1
    light_direction_cam: tuple[float, float, float] = (-0.35, -0.6, -0.7)
    ambient: float = 0.35
    floor: bool = True
    checker_size_m: float = 0.5
    floor_rgb: tuple[tuple[int, int, int], tuple[int, int, int]] = ((196, 188, 172), (150, 144, 134))
    wall_rgb: tuple[int, int, int] = (206, 214, 222)
    fog_distance_m: float = 25.0
    shadow_strength: float = 0.35
    shadow_radius_m: float = 0.35

    def validate(self) -> None:
        if not 1 <= self.supersample <= 4:
            raise ValueError(f"RenderConfig.supersample: must be in [1, 4], got {self.supersample}")
        light = np.asarray(self.light_direction_cam, dtype=np.float64)
        if light.shape != (3,) or not np.all(np.isfinite(light)) or np.linalg.norm(light) < 1e-9:
            raise ValueError(f"RenderConfig.light_direction_cam: must be a non-zero 3-vector, got "
                             f"{self.light_direction_cam}")
        if not 0.0 <= self.ambient <= 1.0:
            raise ValueError(f"RenderConfig.ambient: must be in [0, 1], got {self.ambient}")
        for name in ("checker_size_m", "fog_distance_m", "shadow_radius_m"):
            if not getattr(self, name) > 0:
                raise ValueError(f"RenderConfig.{name}: must be > 0, got {getattr(self, name)}")
        if not 0.0 <= self.shadow_strength <= 1.0:
            raise ValueError(f"RenderConfig.shadow_strength: must be in [0, 1], got {self.shadow_strength}")
        colours = np.asarray(self.floor_rgb + (self.wall_rgb,), dtype=np.float64)
        if colours.shape != (3, 3) or colours.min() < 0 or colours.max() > 255:
            raise ValueError(f"RenderConfig.floor_rgb/wall_rgb: expected RGB triples in 0..255, got "
                             f"{self.floor_rgb}, {self.wall_rgb}")


def resized_camera(camera: Camera, *, scale: float) -> Camera:
    """The camera with its image scaled by ``scale`` (> 0): same field of view, pixel centres kept at
    integer coordinates (u' = s u + (s - 1) / 2), same pose and distortion."""
    if not np.isfinite(scale) or scale <= 0:
        raise RenderError(f"scale must be > 0, got {scale}")
    K = camera.K.copy()
    K[:2, :2] *= scale
    K[:2, 2] = scale * K[:2, 2] + 0.5 * (scale - 1.0)
    return Camera(name=camera.name, K=K, width_px=max(1, int(round(camera.width_px * scale))),
                  height_px=max(1, int(round(camera.height_px * scale))), R_cam_world=camera.R_cam_world,
                  t_cam_world_m=camera.t_cam_world_m, distortion_model=camera.distortion_model,
                  distortion=camera.distortion, frame_id=camera.frame_id)


def vertex_normals(vertices_m: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(N, 3) unit vertex normals of one mesh (N, 3): area-weighted sums of the normals of the faces
    (F, 3) around each vertex, counter-clockwise faces pointing outward."""
    a, b, c = (vertices_m[faces[:, k]] for k in range(3))
    face_normal = np.cross(b - a, c - a)  # (F, 3), length = twice the area
    corners = faces.reshape(-1)
    normals = np.stack([np.bincount(corners, weights=np.repeat(face_normal[:, axis], 3),
                                    minlength=vertices_m.shape[0]) for axis in range(3)], axis=-1)
    return normals / np.maximum(np.linalg.norm(normals, axis=-1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class ZBuffer:
    """The nearest triangle at each covered pixel.

    Attributes:
        pixel: (K,) flat pixel index (row * width + column) of each covered pixel.
        face: (K,) index of the nearest triangle there.
        barycentric: (K, 3) perspective-correct barycentric coordinates of the pixel in that triangle.
        depth_m: (K,) camera-frame z of the surface, metres.
    """

    pixel: np.ndarray
    face: np.ndarray
    barycentric: np.ndarray
    depth_m: np.ndarray


def _edge(p0: np.ndarray, p1: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Twice the signed area of the triangles (p0, p1, q), (..., 2) points."""
    return (p1[..., 0] - p0[..., 0]) * (q[..., 1] - p0[..., 1]) - (p1[..., 1] - p0[..., 1]) * (q[..., 0] - p0[..., 0])


def _cover(tri_px: np.ndarray, lo: np.ndarray, box: int, width_px: int,
           height_px: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels covered by triangles (F, 3, 2) whose boxes from ``lo`` (F, 2) fit in box x box pixels:
    (triangle (K,), flat pixel (K,), screen-space barycentric (K, 3))."""
    offsets = np.stack(np.meshgrid(np.arange(box), np.arange(box), indexing="xy"), axis=-1).reshape(-1, 2)
    pixel = lo[:, None, :] + offsets[None]  # (F, box*box, 2) column, row = the pixel centre's coordinates
    a, b, c = tri_px[:, None, 0], tri_px[:, None, 1], tri_px[:, None, 2]
    area = _edge(a, b, c)  # (F, 1), < 0 after culling (image y points down)
    w0 = _edge(b, c, pixel) / area
    w1 = _edge(c, a, pixel) / area
    w2 = 1.0 - w0 - w1
    inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0) & (pixel[..., 0] < width_px) & (pixel[..., 1] < height_px)
    face, slot = np.nonzero(inside)
    flat = pixel[face, slot, 1] * width_px + pixel[face, slot, 0]
    return face, flat, np.stack([w0[face, slot], w1[face, slot], w2[face, slot]], axis=-1)


def rasterize(*, points_px: np.ndarray, depth_m: np.ndarray, faces: np.ndarray, width_px: int,
              height_px: int) -> ZBuffer:
    """Z-buffer of triangles given by projected vertices.

    Args:
        points_px: (N, 2) vertex pixel positions (u right, v down; NaN for vertices behind the camera).
        depth_m: (N,) vertex camera-frame z, metres.
        faces: (F, 3) vertex indices. Not drawn: triangles facing away (meshes are outward counter-clockwise;
            a front-facing triangle has a negative signed area on screen, image y pointing down), with a
            vertex nearer than NEAR_PLANE_M, or with a NaN vertex.
        width_px, height_px: image size.
    """
    if width_px <= 0 or height_px <= 0:
        raise RenderError(f"image size must be positive, got {width_px}x{height_px}")
    tri_px = points_px[faces]  # (F, 3, 2)
    tri_z = depth_m[faces]  # (F, 3)
    area = _edge(tri_px[:, 0], tri_px[:, 1], tri_px[:, 2])
    # A triangle facing the camera (outward normal towards it, z < 0) has a negative signed area on screen.
    keep = np.all(tri_z > NEAR_PLANE_M, axis=1) & np.isfinite(area) & (area < -1e-12)
    lo = np.ceil(np.nan_to_num(tri_px.min(axis=1))).astype(np.int64)
    hi = np.floor(np.nan_to_num(tri_px.max(axis=1))).astype(np.int64)
    lo, hi = np.maximum(lo, 0), np.minimum(hi, [width_px - 1, height_px - 1])
    size = (hi - lo + 1).max(axis=1)
    keep &= np.all(hi >= lo, axis=1)
    faces_out, pixels, weights = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros((0, 3))]
    box, largest = 1, int(size[keep].max()) if np.any(keep) else 0
    while box // 2 < largest:  # bounding boxes bucketed by size: (box/2, box] pixels per side
        selected = np.flatnonzero(keep & (size <= box) & (size > box // 2))
        for chunk in np.array_split(selected, max(1, selected.size * box * box // 2_000_000)):
            if chunk.size:
                face, flat, w = _cover(tri_px[chunk], lo[chunk], box, width_px, height_px)
                faces_out.append(chunk[face])
                pixels.append(flat)
                weights.append(w)
        box *= 2
    face, pixel, screen_w = np.concatenate(faces_out), np.concatenate(pixels), np.concatenate(weights)
    # Perspective-correct interpolation: 1/z is linear on screen; attribute weights are (w_k / z_k) z.
    w_over_z = screen_w / tri_z[face]
    inverse_depth = w_over_z.sum(axis=1)
    order = np.lexsort((-inverse_depth, pixel))  # per pixel, nearest (largest 1/z) first
    first = np.ones(order.size, dtype=bool)
    first[1:] = pixel[order][1:] != pixel[order][:-1]
    winner = order[first]
    return ZBuffer(pixel=pixel[winner], face=face[winner],
                   barycentric=w_over_z[winner] / inverse_depth[winner, None], depth_m=1.0 / inverse_depth[winner])


def pixel_rays_world(camera: Camera) -> np.ndarray:
    """(H, W, 3) unit world-frame directions of the rays through every pixel centre (distortion undone)."""
    import cv2

    u, v = np.meshgrid(np.arange(camera.width_px, dtype=np.float64), np.arange(camera.height_px, dtype=np.float64))
    pixels = np.stack([u, v], axis=-1).reshape(-1, 1, 2)
    if camera.distortion_model == "plumb_bob":
        normalized = cv2.undistortPoints(pixels, camera.K, camera.distortion).reshape(-1, 2)
    else:
        normalized = (pixels.reshape(-1, 2) - camera.K[:2, 2]) / camera.K[[0, 1], [0, 1]]
    rays_cam = np.concatenate([normalized, np.ones((normalized.shape[0], 1))], axis=1)
    rays_world = rays_cam @ camera.R_cam_world  # R^T d for each row d
    rays_world /= np.linalg.norm(rays_world, axis=1, keepdims=True)
    return rays_world.reshape(camera.height_px, camera.width_px, 3)


@dataclass(frozen=True)
class Backdrop:
    """What a camera sees without people: the image (H, W, 3) float RGB 0..255, and the floor point
    (H, W, 2) world x, y of each floor pixel (NaN above the horizon or without floor)."""

    image: np.ndarray
    floor_xy_m: np.ndarray


def render_backdrop(camera: Camera, config: RenderConfig) -> Backdrop:
    """Floor checkerboard (faded into the wall colour with distance) below the horizon, wall above."""
    rays = pixel_rays_world(camera)
    origin = camera.center_world_m
    wall = np.asarray(config.wall_rgb, dtype=np.float64)
    image = np.broadcast_to(wall, rays.shape).copy()
    floor_xy = np.full(rays.shape[:2] + (2,), np.nan)
    if config.floor and origin[2] > 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            distance = np.where(rays[..., 2] < -1e-9, -origin[2] / rays[..., 2], np.inf)  # (H, W) metres
        hit = np.isfinite(distance)
        point = origin + distance[hit][:, None] * rays[hit]
        square = (np.floor(point[:, 0] / config.checker_size_m) + np.floor(point[:, 1] / config.checker_size_m)) % 2
        colours = np.asarray(config.floor_rgb, dtype=np.float64)[square.astype(np.int64)]
        fade = np.exp(-distance[hit] / config.fog_distance_m)[:, None]
        image[hit] = fade * colours + (1.0 - fade) * wall
        floor_xy[hit] = point[:, :2]
    return Backdrop(image=image, floor_xy_m=floor_xy)


def shade(*, zbuffer: ZBuffer, faces: np.ndarray, normals_cam: np.ndarray, colours: np.ndarray,
          config: RenderConfig) -> np.ndarray:
    """(K, 3) RGB 0..255 of the z-buffer's pixels: interpolated colour (N, 3) times Lambert shading of the
    interpolated camera-frame normal (N, 3) with ambient light."""
    corners = faces[zbuffer.face]  # (K, 3)
    weights = zbuffer.barycentric[..., None]
    normal = np.sum(normals_cam[corners] * weights, axis=1)
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
    light = np.asarray(config.light_direction_cam, dtype=np.float64)
    light = light / np.linalg.norm(light)
    lambert = np.clip(normal @ light, 0.0, 1.0)
    albedo = np.sum(colours[corners] * weights, axis=1)
    return albedo * (config.ambient + (1.0 - config.ambient) * lambert)[:, None]


def render_frame(camera: Camera, *, vertices_world_m: np.ndarray, faces: np.ndarray, colours_rgb: np.ndarray,
                 config: RenderConfig | None = None, backdrop: Backdrop | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB image of P meshes seen by ``camera``.

    Args:
        vertices_world_m: (P, N, 3) world-frame vertices of P meshes sharing ``faces`` (F, 3).
        colours_rgb: (P, N, 3) vertex colours 0..255 (see ``paint.py``).
        backdrop: :func:`render_backdrop` of the (supersampled) camera, to reuse over frames; computed when None.
    """
    config = config or RenderConfig()
    config.validate()
    vertices = np.asarray(vertices_world_m, dtype=np.float64)
    colours = np.asarray(colours_rgb, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    if vertices.ndim != 3 or vertices.shape[-1] != 3 or colours.shape != vertices.shape:
        raise RenderError(f"vertices_world_m and colours_rgb must both be (P, N, 3), got {vertices.shape} and "
                          f"{colours.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3 or (faces.size and (faces.min() < 0 or faces.max() >= vertices.shape[1])):
        raise RenderError(f"faces must be (F, 3) indices into {vertices.shape[1]} vertices, got {faces.shape}")
    scaled = resized_camera(camera, scale=config.supersample) if config.supersample > 1 else camera
    if backdrop is None:
        backdrop = render_backdrop(scaled, config)
    if backdrop.image.shape != (scaled.height_px, scaled.width_px, 3):
        raise RenderError(f"backdrop is {backdrop.image.shape[:2]}, the camera renders "
                          f"{(scaled.height_px, scaled.width_px)} (supersample {config.supersample})")
    image = backdrop.image.copy()
    num_people, num_vertices = vertices.shape[:2]
    if num_people and config.shadow_strength > 0:
        floor = backdrop.floor_xy_m[..., None, :]  # (H, W, 1, 2)
        centre = vertices.mean(axis=1)[:, :2]  # (P, 2)
        squared = np.sum((floor - centre) ** 2, axis=-1)  # (H, W, P)
        darkening = np.nansum(np.exp(-squared / (2 * config.shadow_radius_m ** 2)), axis=-1)
        image *= (1.0 - config.shadow_strength * np.clip(darkening, 0.0, 1.0))[..., None]
    if num_people:
        all_faces = (faces[None] + num_vertices * np.arange(num_people)[:, None, None]).reshape(-1, 3)
        points_cam = scaled.world_to_camera(vertices.reshape(-1, 3))
        normals_cam = np.concatenate([vertex_normals(v, faces) for v in vertices]) @ scaled.R_cam_world.T
        zbuffer = rasterize(points_px=scaled.project(vertices.reshape(-1, 3)), depth_m=points_cam[:, 2],
                            faces=all_faces, width_px=scaled.width_px, height_px=scaled.height_px)
        pixels = shade(zbuffer=zbuffer, faces=all_faces, normals_cam=normals_cam, colours=colours.reshape(-1, 3),
                       config=config)
        image.reshape(-1, 3)[zbuffer.pixel] = pixels
    if config.supersample > 1:
        image = image.reshape(camera.height_px, config.supersample, camera.width_px, config.supersample, 3)
        image = image.mean(axis=(1, 3))
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)
