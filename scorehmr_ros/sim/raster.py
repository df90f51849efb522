"""A small numpy rasteriser: triangle meshes at low resolution, for occlusion tests.

It keeps every surface layer at every pixel (a depth-peeled buffer), not only the nearest, so
that a joint inside a closed body mesh can be tested by counting the surface layers between it
and the camera: an interior joint is visible when exactly one layer of its own body (where the
ray leaves the body) lies in front of it, a joint on the surface when none does.

Pixel (row i, column j) covers [j, j+1) x [i, i+1) in (downscaled) pixel units and is tested at
its centre (j + 0.5, i + 0.5). Depth is the camera-frame z interpolated linearly in the image
(exact enough for the sub-pixel triangles of a body mesh at low resolution). Distortion is ignored:
occlusion is decided in the ideal pinhole image, where the joints are tested too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Triangles with a vertex closer than this to the camera plane are skipped, metres.
NEAR_PLANE_M = 0.05


class RasterError(ValueError):
    """Mesh arrays of the wrong shape, or an image size that cannot be rasterised."""


#: Two fragments of one mesh at one pixel closer than this are one layer (a pixel centre on a shared edge).
_SAME_LAYER_M = 1e-4
#: Packing of (pixel, owner) and depth into one sortable float: depth must stay below this, metres.
_DEPTH_RANGE_M = 1000.0


@dataclass(frozen=True)
class Fragments:
    """All surface layers of a rasterised scene, sorted by (pixel, owner, depth).

    Attributes:
        pixel: (K,) flat buffer pixel index (row * width + column).
        depth_m: (K,) camera-frame z of the layer, metres.
        owner: (K,) mesh id of the layer.
        width_px, height_px: buffer size.
        num_owners: mesh ids are 0..num_owners-1.
        scale: image pixels -> buffer pixels factor.
    """

    pixel: np.ndarray
    depth_m: np.ndarray
    owner: np.ndarray
    width_px: int
    height_px: int
    num_owners: int
    scale: float

    def _keys(self) -> np.ndarray:
        return (self.pixel * self.num_owners + self.owner) * _DEPTH_RANGE_M + np.minimum(self.depth_m, _DEPTH_RANGE_M)

    def nearest(self) -> tuple[np.ndarray, np.ndarray]:
        """Depth (H, W) of the nearest layer (+inf where empty) and its owner (H, W) (-1 where empty)."""
        depth = np.full(self.height_px * self.width_px, np.inf)
        owner = np.full(self.height_px * self.width_px, -1, dtype=np.int64)
        order = np.lexsort((self.depth_m, self.pixel))
        first = np.ones(order.size, dtype=bool)
        first[1:] = self.pixel[order][1:] != self.pixel[order][:-1]
        depth[self.pixel[order][first]] = self.depth_m[order][first]
        owner[self.pixel[order][first]] = self.owner[order][first]
        return depth.reshape(self.height_px, self.width_px), owner.reshape(self.height_px, self.width_px)

    def count_in_front(self, *, points_px: np.ndarray, owner: np.ndarray | int, depth_m: np.ndarray) -> np.ndarray:
        """Number of layers of mesh ``owner`` strictly nearer than ``depth_m`` at full-resolution pinhole
        pixels ``points_px`` (..., 2); 0 outside the buffer or for NaN points. owner, depth_m: (...)."""
        scaled = np.asarray(points_px, dtype=np.float64) * self.scale
        finite = np.all(np.isfinite(scaled), axis=-1)
        column = np.floor(np.where(finite, scaled[..., 0], -1)).astype(np.int64)
        row = np.floor(np.where(finite, scaled[..., 1], -1)).astype(np.int64)
        inside = finite & (column >= 0) & (column < self.width_px) & (row >= 0) & (row < self.height_px)
        key = (row * self.width_px + column) * self.num_owners + np.asarray(owner, dtype=np.int64)
        base = key * _DEPTH_RANGE_M
        limit = base + np.clip(np.asarray(depth_m, dtype=np.float64), 0.0, _DEPTH_RANGE_M)
        keys = self._keys()
        count = np.searchsorted(keys, limit, side="left") - np.searchsorted(keys, base, side="left")
        return np.where(inside, count, 0)


def rasterize_fragments(*, points_px: np.ndarray, depth_m: np.ndarray, faces: np.ndarray,
                        owner_of_face: np.ndarray, width_px: int, height_px: int, scale: float = 1.0) -> Fragments:
    """Every surface layer of the triangles at every pixel centre they cover.

    Args:
        points_px: (N, 2) vertex positions in buffer pixels (x right, y down).
        depth_m: (N,) vertex depths (camera z), metres; triangles with a vertex below NEAR_PLANE_M are skipped.
        faces: (F, 3) vertex indices.
        owner_of_face: (F,) mesh id of each triangle, 0..max.
        width_px, height_px: buffer size; scale: recorded for lookups at full resolution.
    """
    if width_px <= 0 or height_px <= 0:
        raise RasterError(f"buffer size must be positive, got {width_px}x{height_px}")
    faces = np.asarray(faces, dtype=np.int64)
    owner_of_face = np.asarray(owner_of_face, dtype=np.int64)
    if faces.ndim != 2 or faces.shape[1] != 3 or owner_of_face.shape != (faces.shape[0],):
        raise RasterError(f"faces (F, 3) and owner_of_face (F,) expected, got {faces.shape} and {owner_of_face.shape}")
    tri_xy = points_px[faces]  # (F, 3, 2)
    tri_z = depth_m[faces]  # (F, 3)
    keep = np.all(tri_z > NEAR_PLANE_M, axis=1) & np.all(np.isfinite(tri_xy), axis=(1, 2))
    tri_xy = np.where(keep[:, None, None], tri_xy, 0.0)
    lo = np.floor(tri_xy.min(axis=1) - 0.5).astype(np.int64) + 1  # first pixel whose centre may be inside
    hi = np.floor(tri_xy.max(axis=1) - 0.5).astype(np.int64)  # last pixel whose centre may be inside
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, [width_px - 1, height_px - 1])
    extent = hi - lo + 1
    keep &= np.all(extent > 0, axis=1)
    size = extent.max(axis=1)
    pixels, depths, owners = [np.zeros(0, np.int64)], [np.zeros(0)], [np.zeros(0, np.int64)]
    box, largest = 1, int(size[keep].max()) if np.any(keep) else 0
    while box // 2 < largest:  # bounding boxes bucketed by size: (box/2, box] pixels per side
        selected = np.flatnonzero(keep & (size <= box) & (size > box // 2))
        if selected.size:
            index, depth, face = _fill_boxes(tri_xy[selected], tri_z[selected], lo[selected], box, width_px, height_px)
            pixels.append(index)
            depths.append(depth)
            owners.append(owner_of_face[selected][face])
        box *= 2
    pixel, depth, owner = np.concatenate(pixels), np.concatenate(depths), np.concatenate(owners)
    order = np.lexsort((depth, owner, pixel))
    pixel, depth, owner = pixel[order], depth[order], owner[order]
    duplicate = np.zeros(pixel.size, dtype=bool)
    duplicate[1:] = (pixel[1:] == pixel[:-1]) & (owner[1:] == owner[:-1]) & (depth[1:] - depth[:-1] < _SAME_LAYER_M)
    num_owners = int(owner_of_face.max()) + 1 if owner_of_face.size else 1
    return Fragments(pixel=pixel[~duplicate], depth_m=depth[~duplicate], owner=owner[~duplicate], width_px=width_px,
                     height_px=height_px, num_owners=num_owners, scale=scale)


def _edge(p0: np.ndarray, p1: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Twice the signed area of the triangles (p0, p1, q), (..., 2) points."""
    return ((p1[..., 0] - p0[..., 0]) * (q[..., 1] - p0[..., 1])
            - (p1[..., 1] - p0[..., 1]) * (q[..., 0] - p0[..., 0]))


def _fill_boxes(tri_xy: np.ndarray, tri_z: np.ndarray, lo: np.ndarray, box: int, width_px: int,
                height_px: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels covered by triangles whose bounding boxes fit in box x box: (flat index, depth, triangle)."""
    offsets = np.stack(np.meshgrid(np.arange(box), np.arange(box), indexing="xy"), axis=-1).reshape(-1, 2)
    pixel = lo[:, None, :] + offsets[None]  # (F, box*box, 2) integer column, row
    centre = pixel + 0.5
    a, b, c = tri_xy[:, 0], tri_xy[:, 1], tri_xy[:, 2]

    area = _edge(a, b, c)[:, None]
    safe_area = np.where(np.abs(area) > 1e-12, area, 1.0)
    w0 = _edge(b[:, None], c[:, None], centre) / safe_area
    w1 = _edge(c[:, None], a[:, None], centre) / safe_area
    w2 = 1.0 - w0 - w1
    inside = (w0 >= -1e-9) & (w1 >= -1e-9) & (w2 >= -1e-9) & (np.abs(area) > 1e-12)
    inside &= (pixel[..., 0] < width_px) & (pixel[..., 1] < height_px)
    depth = w0 * tri_z[:, 0:1] + w1 * tri_z[:, 1:2] + w2 * tri_z[:, 2:3]
    face, slot = np.nonzero(inside)
    flat = pixel[face, slot, 1] * width_px + pixel[face, slot, 0]
    return flat, depth[face, slot], face


def fragments_for_camera(*, vertices_cam_m: np.ndarray, faces: np.ndarray, owner_of_face: np.ndarray,
                         K: np.ndarray, width_px: int, height_px: int, scale: float) -> Fragments:
    """Surface layers of meshes given in a camera's optical frame, at ``scale`` times the image resolution.

    Args:
        vertices_cam_m: (N, 3) all meshes' vertices in the camera frame, metres.
        faces: (F, 3) indices into ``vertices_cam_m``; owner_of_face: (F,) mesh id per triangle.
        K: (3, 3) intrinsics of the full-resolution image.
    """
    if not 0.0 < scale <= 1.0:
        raise RasterError(f"scale must be in (0, 1], got {scale}")
    z = vertices_cam_m[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        xy = vertices_cam_m[:, :2] / np.where(z > NEAR_PLANE_M, z, np.nan)[:, None]
    points = (xy * K[[0, 1], [0, 1]] + K[:2, 2]) * scale
    width, height = max(1, int(round(width_px * scale))), max(1, int(round(height_px * scale)))
    return rasterize_fragments(points_px=points, depth_m=z, faces=faces, owner_of_face=owner_of_face,
                               width_px=width, height_px=height, scale=scale)
