"""Mesh decimation for visualisation: vertex clustering on the template, reused every frame.

A full SMPL mesh is 13776 triangles (~41k TRIANGLE_LIST points, ~0.5-1 MB per person per
frame); RViz slows down under continuous large list markers. Clustering the template's vertices
on a grid once gives a fixed vertex subset and face list, so each frame only gathers vertices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scorehmr_ros.base.config_fields import setting


@dataclass(frozen=True)
class MeshDecimationConfig:
    """How the visualisation mesh is decimated: the one home of the default cell the nodes and the pipeline use."""

    cell_m: float = setting(0.03, "mesh vertex clustering cell; 0 = full mesh", unit="m", minimum=0.0, maximum=0.5)


@dataclass(frozen=True)
class DecimatedMesh:
    """A fixed decimation of a mesh topology.

    Attributes:
        vertex_index: (N',) indices into the full mesh's vertices (one representative per cluster).
        faces: (F', 3) triangles over the decimated vertices (indices into ``vertex_index``).
    """

    vertex_index: np.ndarray
    faces: np.ndarray

    def triangle_points(self, vertices: np.ndarray) -> np.ndarray:
        """(N, 3) full-mesh vertices of one body -> (3 F', 3) TRIANGLE_LIST points."""
        return vertices[self.vertex_index][self.faces].reshape(-1, 3)


def decimate(template_vertices: np.ndarray, faces: np.ndarray, *, cell_m: float) -> DecimatedMesh:
    """Cluster ``template_vertices`` (N, 3) on a grid of ``cell_m`` metres; keep non-degenerate faces.

    ``cell_m`` 0 keeps the full mesh.
    """
    faces = np.asarray(faces, dtype=np.int64)
    if cell_m < 0:
        raise ValueError(f"cell_m: must be >= 0 m, got {cell_m}")
    if cell_m == 0:
        return DecimatedMesh(np.arange(len(template_vertices)), faces)
    cells = np.floor(np.asarray(template_vertices, dtype=np.float64) / cell_m).astype(np.int64)
    _, first_index, cluster = np.unique(cells, axis=0, return_index=True, return_inverse=True)
    cluster = cluster.reshape(-1)
    clustered = cluster[faces]  # (F, 3) cluster ids
    keep = ((clustered[:, 0] != clustered[:, 1]) & (clustered[:, 1] != clustered[:, 2])
            & (clustered[:, 0] != clustered[:, 2]))
    clustered = clustered[keep]
    # Two triangles over the same three clusters draw the same thing: keep one.
    _, unique_faces = np.unique(np.sort(clustered, axis=1), axis=0, return_index=True)
    return DecimatedMesh(vertex_index=first_index, faces=clustered[np.sort(unique_faces)])
