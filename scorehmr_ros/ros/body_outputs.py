"""SMPL bodies -> RViz meshes (MarkerArray), REP-155 TF frames and skeleton markers.

Meshes are TRIANGLE_LIST markers with a fixed namespace and id per track (never
MESH_RESOURCE: RViz caches those by name), decimated, one colour per id; a terminated track
gets a DELETE so nothing lingers in RViz.
"""

from __future__ import annotations

import colorsys
import re

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from scorehmr_ros.body.body_frames import SMPL_JOINT_NAMES, body_frames, rep155_joint_name
from scorehmr_ros.body.body_state import BodyEstimate, TrackingState
from scorehmr_ros.body.joint_counts import SMPL_PARENTS
from scorehmr_ros.body.mesh_decimation import DecimatedMesh
from scorehmr_ros.ros.geometry_conversions import matrices_to_transforms, ns_to_stamp
from scorehmr_ros.ros.marker_cdr import marker_array_cdr, marker_fields

MESH_NAMESPACE = "smpl_mesh"
SKELETON_NAMESPACE = "smpl_skeleton"
#: Markers disappear by themselves if the node stops publishing (s).
MARKER_LIFETIME_S = 1.0


def track_color(track_id: int, *, alpha: float = 0.85) -> ColorRGBA:
    """A distinct, stable colour per track id (golden-ratio hue steps)."""
    hue = (0.1 + 0.61803398875 * track_id) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.65, 0.95)
    return ColorRGBA(r=r, g=g, b=b, a=alpha)


def _marker(body: BodyEstimate, *, frame_id: str, namespace: str, marker_type: int) -> Marker:
    marker = Marker()
    marker.header.frame_id = frame_id
    marker.header.stamp = ns_to_stamp(body.stamp_ns)
    marker.ns, marker.id = namespace, int(body.track_id)
    if body.tracking_state == TrackingState.TERMINATED:
        marker.action = Marker.DELETE
        return marker
    marker.type, marker.action = marker_type, Marker.ADD
    marker.pose.orientation.w = 1.0
    marker.lifetime = Duration(sec=int(MARKER_LIFETIME_S), nanosec=int(MARKER_LIFETIME_S % 1 * 1e9))
    marker.color = track_color(body.track_id, alpha=0.85 if body.tracking_state == TrackingState.TRACKED else 0.35)
    return marker


def _mesh_parts(bodies: list[BodyEstimate], vertices_world_m: list[np.ndarray | None], *, mesh: DecimatedMesh,
                frame_id: str) -> list[tuple[Marker, np.ndarray]]:
    """Per body: its mesh marker without points, and the (3 F', 3) TRIANGLE_LIST points (none for a DELETE)."""
    parts = []
    for body, vertices in zip(bodies, vertices_world_m, strict=True):
        marker = _marker(body, frame_id=frame_id, namespace=MESH_NAMESPACE, marker_type=Marker.TRIANGLE_LIST)
        points = np.zeros((0, 3))
        if marker.action == Marker.ADD and vertices is not None:
            marker.scale.x = marker.scale.y = marker.scale.z = 1.0
            points = mesh.triangle_points(vertices)
        parts.append((marker, points))
    return parts


def mesh_markers(bodies: list[BodyEstimate], vertices_world_m: list[np.ndarray | None], *, mesh: DecimatedMesh,
                 frame_id: str) -> MarkerArray:
    """One TRIANGLE_LIST per body (vertices (N, 3) in ``frame_id``); DELETE for terminated tracks."""
    markers = MarkerArray()
    for marker, points in _mesh_parts(bodies, vertices_world_m, mesh=mesh, frame_id=frame_id):
        marker.points = [Point(x=x, y=y, z=z) for x, y, z in points.tolist()]
        markers.markers.append(marker)
    return markers


def mesh_markers_cdr(bodies: list[BodyEstimate], vertices_world_m: list[np.ndarray | None], *, mesh: DecimatedMesh,
                     frame_id: str) -> bytes:
    """:func:`mesh_markers` serialized, built without a Python object per point (``ros/marker_cdr.py``)."""
    return marker_array_cdr([marker_fields(marker, points_m=points)
                             for marker, points in _mesh_parts(bodies, vertices_world_m, mesh=mesh, frame_id=frame_id)])


def skeleton_markers(bodies: list[BodyEstimate], *, frame_id: str, line_width_m: float = 0.02) -> MarkerArray:
    """One LINE_LIST per body over its 24 SMPL joints (joint_layout must be smpl24)."""
    markers = MarkerArray()
    for body in bodies:
        marker = _marker(body, frame_id=frame_id, namespace=SKELETON_NAMESPACE, marker_type=Marker.LINE_LIST)
        if marker.action == Marker.ADD:
            marker.scale.x = line_width_m
            joints = body.joints_world_m
            for child, parent in enumerate(SMPL_PARENTS):
                if parent >= 0:
                    marker.points += [Point(x=float(joints[parent, 0]), y=float(joints[parent, 1]),
                                            z=float(joints[parent, 2])),
                                      Point(x=float(joints[child, 0]), y=float(joints[child, 1]),
                                            z=float(joints[child, 2]))]
        markers.markers.append(marker)
    return markers


def body_frame_name(track_id: int) -> str:
    """The TF frame of a body: ``body_<id>``."""
    return f"body_{track_id}"


def joint_frame_name(joint: int, track_id: int) -> str:
    """The TF frame of SMPL joint ``joint`` of a body: ``<REP-155 joint name>_<id>``."""
    return f"{rep155_joint_name(SMPL_JOINT_NAMES[joint])}_{track_id}"


_BODY_FRAME = re.compile("(body|" + "|".join(re.escape(rep155_joint_name(name)) for name in SMPL_JOINT_NAMES)
                         + r")_\d+")


def is_body_frame(frame: str) -> bool:
    """Whether ``frame`` is one of the frames :func:`body_transforms` publishes (a body's or one of its joints')."""
    return _BODY_FRAME.fullmatch(frame) is not None


def body_transforms(bodies: list[BodyEstimate], *, frame_id: str, joint_frames: bool = True) -> list:
    """REP-155 TF: ``frame_id`` -> ``body_<id>`` -> ``<joint>_<id>`` for every live body (smpl24 joints)."""
    live = [body for body in bodies if body.tracking_state != TrackingState.TERMINATED]
    if not live:
        return []
    rotations = np.stack([body.rotations for body in live])
    joints = np.stack([body.joints_world_m for body in live])
    T_world_body, T_body_joint = body_frames(rotations, joints)
    matrices, parents, children, stamps = [], [], [], []
    for index, body in enumerate(live):
        body_frame = body_frame_name(body.track_id)
        matrices.append(T_world_body[index][None])
        parents.append(frame_id)
        children.append(body_frame)
        if joint_frames:
            matrices.append(T_body_joint[index])
            parents += [body_frame] * len(SMPL_JOINT_NAMES)
            children += [joint_frame_name(joint, body.track_id) for joint in range(len(SMPL_JOINT_NAMES))]
        stamps += [body.stamp_ns] * (1 + (len(SMPL_JOINT_NAMES) if joint_frames else 0))
    return matrices_to_transforms(np.concatenate(matrices), parent_frames=parents, child_frames=children,
                                  stamps_ns=stamps)
