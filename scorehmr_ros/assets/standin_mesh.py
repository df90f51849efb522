"""Mesh primitives of the stand-in body model: ring tubes along a polyline, and connected sums.

A *tube* is a closed genus-0 triangle mesh: R rings of M vertices around a polyline of
ring centres, closed by one pole vertex at each end. It has V = R M + 2 vertices and
F = 2 R M = 2 V - 4 faces. Joining two closed meshes by a *connected sum* (remove one
triangle from each, connect the two triangular holes with 6 triangles) keeps the result a
closed genus-0 surface, so a body made of k tubes joined by k - 1 sums has exactly
F = 2 V - 4 faces, like SMPL (6890 vertices, 13776 faces).

Everything here is numpy, float64, deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tube:
    """One closed tube mesh.

    Attributes:
        vertices_m: (V, 3) vertex positions, V = R M + 2 (rings first, then start and end pole).
        faces: (2 R M, 3) int64 triangles, outward (counter-clockwise seen from outside).
        ring_centers_m: (R, 3) centre of each ring (the mean of its vertices).
        axis_center_m: (V, 3) the ring centre of each vertex (a pole is its own centre).
        ring_size: M, vertices per ring.
    """

    vertices_m: np.ndarray
    faces: np.ndarray
    ring_centers_m: np.ndarray
    axis_center_m: np.ndarray
    ring_size: int

    @property
    def num_rings(self) -> int:
        return self.ring_centers_m.shape[0]

    def ring_vertex_ids(self, ring: int) -> np.ndarray:
        """(M,) local vertex ids of ring ``ring``."""
        return np.arange(ring * self.ring_size, (ring + 1) * self.ring_size)


def resample_polyline(points_m: np.ndarray, radii_m: np.ndarray, num_rings: int) -> tuple[np.ndarray, np.ndarray]:
    """Resample a (C, 3) polyline with (C, 2) radii to ``num_rings`` points evenly spaced in arc length.

    Returns (num_rings, 3) centres and (num_rings, 2) radii, linearly interpolated.
    """
    segment = np.linalg.norm(np.diff(points_m, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(segment)])
    samples = np.linspace(0.0, arc[-1], num_rings)
    centers = np.stack([np.interp(samples, arc, points_m[:, k]) for k in range(3)], axis=1)
    radii = np.stack([np.interp(samples, arc, radii_m[:, k]) for k in range(2)], axis=1)
    return centers, radii


def ellipsoid_profile(
    start_m: np.ndarray, end_m: np.ndarray, radii_m: np.ndarray, num_rings: int
) -> tuple[np.ndarray, np.ndarray]:
    """Ring centres and radii of an ellipsoid between two poles.

    The rings sit at the Chebyshev-like positions s_k = -cos(pi (k + 1) / (R + 1)) along the
    axis (denser near the poles), with radii r sqrt(1 - s²).
    Returns (R, 3) centres and (R, 2) radii.
    """
    s = -np.cos(np.pi * (np.arange(num_rings) + 1) / (num_rings + 1))
    centers = start_m[None] + (0.5 * (s + 1.0))[:, None] * (end_m - start_m)[None]
    radii = np.sqrt(1.0 - s**2)[:, None] * np.asarray(radii_m, dtype=np.float64)[None]
    return centers, radii


def _ring_frames(centers_m: np.ndarray, reference_axis: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-ring tangent t, first axis a (reference axis made orthogonal to t), second axis b = t x a."""
    tangent = np.gradient(centers_m, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    ref = np.broadcast_to(np.asarray(reference_axis, dtype=np.float64), tangent.shape)
    first = ref - np.sum(ref * tangent, axis=1, keepdims=True) * tangent
    first /= np.linalg.norm(first, axis=1, keepdims=True)
    second = np.cross(tangent, first)
    return tangent, first, second


def _signed_volume(vertices_m: np.ndarray, faces: np.ndarray) -> float:
    """Signed volume enclosed by a closed mesh (positive when faces are outward)."""
    a, b, c = (vertices_m[faces[:, k]] for k in range(3))
    return float(np.sum(np.einsum("ij,ij->i", a, np.cross(b, c))) / 6.0)


def make_tube(
    centers_m: np.ndarray,
    radii_m: np.ndarray,
    *,
    ring_size: int,
    reference_axis: np.ndarray,
    start_pole_m: np.ndarray,
    end_pole_m: np.ndarray,
) -> Tube:
    """Build a closed tube: elliptic rings around ``centers_m`` capped by two poles.

    Args:
        centers_m: (R, 3) ring centres.
        radii_m: (R, 2) semi-axes along the frame axes a (``reference_axis`` made orthogonal
            to the tangent) and b (tangent x a).
        ring_size: M, vertices per ring.
        reference_axis: (3,) direction of each ring's first semi-axis before orthogonalisation.
        start_pole_m, end_pole_m: (3,) the two cap vertices.
    """
    num_rings = centers_m.shape[0]
    _, first, second = _ring_frames(centers_m, reference_axis)
    phi = 2.0 * np.pi * np.arange(ring_size) / ring_size
    ring = (
        centers_m[:, None, :]
        + radii_m[:, None, 0:1] * np.cos(phi)[None, :, None] * first[:, None, :]
        + radii_m[:, None, 1:2] * np.sin(phi)[None, :, None] * second[:, None, :]
    )  # (R, M, 3)
    vertices = np.concatenate([ring.reshape(-1, 3), start_pole_m[None], end_pole_m[None]], axis=0)
    start, end = num_rings * ring_size, num_rings * ring_size + 1
    i = np.arange(ring_size)
    j = (i + 1) % ring_size
    faces = []
    for r in range(num_rings - 1):
        lo, hi = r * ring_size, (r + 1) * ring_size
        faces.append(np.stack([lo + i, lo + j, hi + j], axis=1))
        faces.append(np.stack([lo + i, hi + j, hi + i], axis=1))
    last = (num_rings - 1) * ring_size
    faces.append(np.stack([np.full(ring_size, start), j, i], axis=1))
    faces.append(np.stack([np.full(ring_size, end), last + i, last + j], axis=1))
    faces = np.concatenate(faces, axis=0).astype(np.int64)
    if _signed_volume(vertices, faces) < 0:
        faces = faces[:, ::-1].copy()
    axis_center = np.concatenate(
        [np.repeat(centers_m, ring_size, axis=0), start_pole_m[None], end_pole_m[None]], axis=0
    )
    return Tube(vertices_m=vertices, faces=faces, ring_centers_m=centers_m, axis_center_m=axis_center,
                ring_size=ring_size)


def connected_sum_faces(
    vertices_m: np.ndarray, faces: np.ndarray, component: np.ndarray, first: int, second: int,
    used_faces: set[int],
) -> tuple[np.ndarray, int, int]:
    """Join two components of a closed mesh through their closest pair of triangles.

    The two triangles with the closest centroids (one per component, not in ``used_faces``)
    are removed and their holes joined by 6 triangles, oriented consistently with the rest.

    Args:
        vertices_m: (V, 3) vertices.
        faces: (F, 3) faces (components outward).
        component: (F,) component id of each face.
        first, second: the component ids to join.
        used_faces: face ids already touched by another sum (kept away from).
    Returns:
        (6, 3) new faces, and the ids of the two removed faces.
    """
    centroids = vertices_m[faces].mean(axis=1)
    ids_a = np.array([f for f in np.flatnonzero(component == first) if f not in used_faces])
    ids_b = np.array([f for f in np.flatnonzero(component == second) if f not in used_faces])
    distance = np.linalg.norm(centroids[ids_a][:, None, :] - centroids[ids_b][None, :, :], axis=-1)
    ia, ib = np.unravel_index(np.argmin(distance), distance.shape)
    face_a, face_b = int(ids_a[ia]), int(ids_b[ib])
    a = faces[face_a]
    # Traverse the second hole backwards so each quad pairs edge a_i -> a_i+1 with b'_i+1 -> b'_i.
    b_reversed = faces[face_b][[0, 2, 1]]
    best, best_length = None, np.inf
    for offset in range(3):
        b = np.roll(b_reversed, offset)
        length = np.linalg.norm(vertices_m[a] - vertices_m[b], axis=1).sum()
        if length < best_length:
            best, best_length = b, length
    new_faces = []
    for k in range(3):
        a0, a1 = a[k], a[(k + 1) % 3]
        b0, b1 = best[k], best[(k + 1) % 3]
        new_faces.append([a0, a1, b1])
        new_faces.append([a0, b1, b0])
    return np.asarray(new_faces, dtype=np.int64), face_a, face_b
