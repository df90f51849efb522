"""``visualization_msgs/MarkerArray`` serialized straight from numpy, for the mesh markers.

A mesh marker holds ~14k ``geometry_msgs/Point`` per person; building them as Python objects and having
rclpy serialize them costs ~33 ms per set for two people on this CPU (and the allocations wake the
garbage collector). Here the points go into the CDR buffer as one float64 block: the bytes have the
layout ``rclpy.serialization.serialize_message`` produces for the same message and decode to the same
message (tested; only padding bytes differ, which CDR leaves unspecified and we write as zeros), and
``Publisher.publish`` sends them as they are.

Encoding: CDR little endian (encapsulation 00 01 00 00), every primitive aligned to its size relative
to the start of the payload after those 4 bytes; strings are a uint32 length counting a NUL, then the
bytes and the NUL; sequences a uint32 count, then the elements. Only the fields our markers set are
given here; the rest are written empty (colors, texture, uv_coordinates, text, mesh_resource,
mesh_file) or zero.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from scorehmr_ros.base.units import NS_PER_S

_ENCAPSULATION_CDR_LE = b"\x00\x01\x00\x00"


@dataclass(frozen=True)
class MarkerFields:
    """The fields of one marker that the mesh markers set (units as in visualization_msgs/Marker).

    Attributes:
        stamp_ns: header stamp, nanoseconds. frame_id, ns, id, type, action: as in the message.
        position_xyz_m, orientation_xyzw: the pose. scale_xyz, color_rgba: as in the message.
        lifetime_ns: marker lifetime, nanoseconds (0: forever).
        points_m: (N, 3) TRIANGLE_LIST points, metres (N = 0 for DELETE markers).
    """

    stamp_ns: int
    frame_id: str
    ns: str
    id: int
    type: int
    action: int
    position_xyz_m: tuple[float, float, float] = (0.0, 0.0, 0.0)
    orientation_xyzw: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)
    scale_xyz: tuple[float, float, float] = (0.0, 0.0, 0.0)
    color_rgba: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    lifetime_ns: int = 0
    points_m: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))


def marker_fields(marker, *, points_m: np.ndarray) -> MarkerFields:
    """The :class:`MarkerFields` of a ``visualization_msgs/Marker`` (its own points ignored) with ``points_m``."""
    stamp, position, orientation = marker.header.stamp, marker.pose.position, marker.pose.orientation
    scale, color = marker.scale, marker.color
    return MarkerFields(
        stamp_ns=stamp.sec * NS_PER_S + stamp.nanosec, frame_id=marker.header.frame_id, ns=marker.ns,
        id=marker.id, type=marker.type, action=marker.action,
        position_xyz_m=(position.x, position.y, position.z),
        orientation_xyzw=(orientation.x, orientation.y, orientation.z, orientation.w),
        scale_xyz=(scale.x, scale.y, scale.z), color_rgba=(color.r, color.g, color.b, color.a),
        lifetime_ns=marker.lifetime.sec * NS_PER_S + marker.lifetime.nanosec, points_m=points_m)


class _CdrWriter:
    """Appends CDR-aligned values to a list of byte chunks."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0  # bytes after the encapsulation header

    def _put(self, data: bytes) -> None:
        self.chunks.append(data)
        self.size += len(data)

    def align(self, boundary: int) -> None:
        padding = -self.size % boundary
        if padding:
            self._put(b"\x00" * padding)

    def pack(self, fmt: str, *values) -> None:
        """Little-endian primitives of one size, aligned to it (e.g. "iI" for a Time, "dd" for two float64)."""
        self.align(struct.calcsize("<" + fmt[0]))
        self._put(struct.pack("<" + fmt, *values))

    def string(self, text: str) -> None:
        data = text.encode("utf-8") + b"\x00"
        self.pack("I", len(data))
        self._put(data)

    def float64_block(self, values: np.ndarray) -> None:
        """A sequence of fixed-size float64 structs: count, then the values row by row."""
        rows = np.ascontiguousarray(values, dtype="<f8")
        self.pack("I", rows.shape[0])
        if rows.size:
            self.align(8)
            self._put(rows.tobytes())

    def payload(self) -> bytes:
        return _ENCAPSULATION_CDR_LE + b"".join(self.chunks)


def _time(writer: _CdrWriter, stamp_ns: int) -> None:
    seconds, nanoseconds = divmod(int(stamp_ns), NS_PER_S)
    writer.pack("iI", seconds, nanoseconds)


def _marker(writer: _CdrWriter, marker: MarkerFields) -> None:
    points = np.asarray(marker.points_m, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"marker {marker.ns}/{marker.id}: points_m must be (N, 3), got {points.shape}")
    _time(writer, marker.stamp_ns)  # header
    writer.string(marker.frame_id)
    writer.string(marker.ns)
    writer.pack("iii", marker.id, marker.type, marker.action)
    writer.pack("ddddddd", *marker.position_xyz_m, *marker.orientation_xyzw)  # pose
    writer.pack("ddd", *marker.scale_xyz)
    writer.pack("ffff", *marker.color_rgba)
    _time(writer, marker.lifetime_ns)  # builtin_interfaces/Duration has the layout of Time
    writer.pack("?", False)  # frame_locked
    writer.float64_block(points)
    writer.pack("I", 0)  # colors
    writer.string("")  # texture_resource
    _time(writer, 0)  # texture: header stamp, frame_id, format, data
    writer.string("")
    writer.string("")
    writer.pack("I", 0)
    writer.pack("I", 0)  # uv_coordinates
    writer.string("")  # text
    writer.string("")  # mesh_resource
    writer.string("")  # mesh_file: filename, data
    writer.pack("I", 0)
    writer.pack("?", False)  # mesh_use_embedded_materials


def marker_array_cdr(markers: list[MarkerFields]) -> bytes:
    """The serialized ``visualization_msgs/MarkerArray`` of ``markers``, ready for ``Publisher.publish``."""
    writer = _CdrWriter()
    writer.pack("I", len(markers))
    for marker in markers:
        _marker(writer, marker)
    return writer.payload()
