"""Camera subscriptions of a rig: images (raw or compressed) and CameraInfo per camera, decoded.

Each camera ``<cam>`` is read from the relative topics ``<cam>/image_raw`` (or
``<cam>/image_raw/compressed``) and ``<cam>/camera_info``. Every decoded frame goes to
``on_frame``; a bad message (unknown encoding, undecodable data, CameraInfo that disagrees with
the image size) is dropped with a throttled warning, and the node goes on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from rclpy.callback_groups import CallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from scorehmr_ros.perception.front import CameraFrame
from scorehmr_ros.ros.common import ThrottledWarnings, image_qos
from scorehmr_ros.ros.geometry_conversions import stamp_to_ns
from scorehmr_ros.ros.image_conversions import ImageConversionError, message_to_bgr

#: Seconds of recent history the camera health is judged on (rate, rejections, share of sets): a camera that
#: stops or recovers shows within this, however long it ran before.
HEALTH_WINDOW_S = 5.0


@dataclass
class CameraHealth:
    """Per-camera intake counters for diagnostics: totals since the start, and events of the last
    :data:`HEALTH_WINDOW_S` (arrival clock, seconds) that say how the camera is doing now."""

    frames: int = 0
    rejected: int = 0
    last_problem: str = ""
    info: CameraInfo | None = None
    arrival_times_s: deque[float] = field(default_factory=deque)
    rejection_times_s: deque[float] = field(default_factory=deque)
    sets: deque[tuple[float, bool]] = field(default_factory=deque)  # (arrival time, in the set) per emitted set

    def forget_before(self, now_s: float) -> None:
        """Drop the events older than the window (also after the arrival clock went back)."""
        for events, time_of in ((self.arrival_times_s, float), (self.rejection_times_s, float),
                                (self.sets, lambda event: event[0])):
            while events and not now_s - HEALTH_WINDOW_S <= time_of(events[0]) <= now_s:
                events.popleft()

    def last_arrival_s(self) -> float | None:
        return self.arrival_times_s[-1] if self.arrival_times_s else None

    def rate_hz(self) -> float:
        """Arrival rate over the window's frames (0 when fewer than two)."""
        times = self.arrival_times_s
        return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0

    def share_of_sets(self) -> float | None:
        """Fraction of the window's synchronized sets this camera was in; None without sets."""
        return sum(used for _, used in self.sets) / len(self.sets) if self.sets else None



class CameraIntake:
    """Subscribes to every camera of the rig and hands decoded frames to ``on_frame``."""

    def __init__(self, node: Node, *, cameras: tuple[str, ...], transport: str, reliability: str,
                 on_frame: Callable[[CameraFrame], None], warnings: ThrottledWarnings,
                 callback_group: CallbackGroup | None = None) -> None:
        self._node = node
        self._on_frame = on_frame
        self._warnings = warnings
        self.health = {camera: CameraHealth() for camera in cameras}
        qos = image_qos(reliability=reliability, depth=1)
        image_type, suffix = (CompressedImage, "/compressed") if transport == "compressed" else (Image, "")
        self._subscriptions = []
        for camera in cameras:
            self._subscriptions.append(node.create_subscription(
                image_type, f"{camera}/image_raw{suffix}", lambda msg, c=camera: self._on_image(c, msg), qos,
                callback_group=callback_group))
            self._subscriptions.append(node.create_subscription(
                CameraInfo, f"{camera}/camera_info", lambda msg, c=camera: self._on_info(c, msg), qos,
                callback_group=callback_group))

    def destroy(self) -> None:
        for subscription in self._subscriptions:
            self._node.destroy_subscription(subscription)
        self._subscriptions.clear()

    def _now_s(self) -> float:
        return self._node.get_clock().now().nanoseconds * 1e-9

    def record_set(self, cameras: Iterable[str], missing: Iterable[str]) -> None:
        """Note one synchronized set: ``cameras`` were in it, ``missing`` were not."""
        now_s = self._now_s()
        for camera, used in [(c, True) for c in cameras] + [(c, False) for c in missing]:
            if camera in self.health:
                self.health[camera].sets.append((now_s, used))
                self.health[camera].forget_before(now_s)

    def _reject(self, camera: str, kind: str, text: str) -> None:
        health = self.health[camera]
        health.rejected += 1
        health.last_problem = text
        health.rejection_times_s.append(self._now_s())
        self._warnings.warn(f"{camera}:{kind}", f"camera {camera}: {text}; frame dropped")

    def _on_info(self, camera: str, msg: CameraInfo) -> None:
        """Keep the CameraInfo whose image size the frames are checked against (intrinsics are not used here)."""
        if not (msg.width and msg.height):
            self._warnings.warn(f"{camera}:camera_info", f"camera {camera}: CameraInfo with image size "
                                                         f"{msg.width}x{msg.height} ignored")
            return
        self.health[camera].info = msg

    def _on_image(self, camera: str, msg: Image | CompressedImage) -> None:
        try:
            image_bgr = message_to_bgr(msg)
        except ImageConversionError as error:
            self._reject(camera, "decode", str(error))
            return
        info = self.health[camera].info
        height, width = image_bgr.shape[:2]
        if info is not None and (info.width, info.height) != (width, height):
            self._reject(camera, "size", f"CameraInfo says {info.width}x{info.height} but the image is "
                                         f"{width}x{height}")
            return
        health = self.health[camera]
        health.frames += 1
        now_s = self._now_s()
        health.arrival_times_s.append(now_s)
        health.forget_before(now_s)
        frame_id = msg.header.frame_id or f"{camera}_optical_frame"
        self._on_frame(CameraFrame(camera=camera, frame_id=frame_id, stamp_ns=stamp_to_ns(msg.header.stamp),
                                   image_bgr=image_bgr))

    def current_health(self, camera: str) -> CameraHealth:
        """The camera's health with the events older than the window dropped (call before reporting)."""
        health = self.health[camera]
        health.forget_before(self._now_s())
        return health
