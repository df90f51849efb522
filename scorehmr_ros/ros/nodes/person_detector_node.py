"""person_detector: synchronized camera sets in, person boxes for every view out.

Subscribes (relative names) ``<cam>/image_raw`` (or ``.../compressed``) and ``<cam>/camera_info``
for each camera in ``cameras``; publishes ``detections`` (MultiViewKeypoints2D without
keypoints), ``/diagnostics`` and, when enabled, ``<cam>/debug_image``. In the ``perception``
executable a KeypointEstimatorNode is attached in-process and gets every set directly.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from sensor_msgs.msg import Image

from scorehmr_ros.msg import MultiViewKeypoints2D
from scorehmr_ros.perception.backends.config import DetectorConfig
from scorehmr_ros.perception.backends.factory import build_detector
from scorehmr_ros.perception.backends.types import PerceptionError, PersonDetections, PersonKeypoints
from scorehmr_ros.perception.drawing import draw_observation
from scorehmr_ros.perception.front import CameraFrame, FrontConfig, PerceptionFront, detection_warnings
from scorehmr_ros.perception.observations import MultiViewObservation
from scorehmr_ros.perception.synchronizer import NWaySynchronizer, SyncConfig, SyncedSet, describe_stats
from scorehmr_ros.ros.camera_intake import CameraIntake
from scorehmr_ros.ros.common import (
    ThrottledWarnings,
    declare_camera_list,
    main_for,
    output_qos,
    read_camera_list,
    run_timer_while,
)
from scorehmr_ros.ros.diagnostics import camera_status, stage_status
from scorehmr_ros.ros.geometry_conversions import ns_to_stamp
from scorehmr_ros.ros.image_conversions import numpy_to_image
from scorehmr_ros.ros.keypoint_conversions import observation_to_msg
from scorehmr_ros.ros.managed_node import LIFECYCLE_PARAMETERS, ManagedNode
from scorehmr_ros.ros.parameters import ParameterGroup, declare_groups
from scorehmr_ros.ros.set_worker import DropOldestWorker

#: How often a set past its deadline is looked for, while a message waits in the synchronizer (``run_timer_while``).
SYNC_POLL_PERIOD_S = 0.01
# The synchronizer's arrival clock is the node clock: stamps and arrivals then share one time base
# (latency = arrival - stamp), and a replayed bag with use_sim_time keeps its deadlines in bag time.
CAMERAS_DESCRIPTION = "camera names of the rig; topics <cam>/image_raw (or .../compressed) and <cam>/camera_info"

#: Every parameter of the node, each group from one config dataclass of the core.
PARAMETERS = (
    ParameterGroup("", FrontConfig),
    ParameterGroup("sync", SyncConfig, from_parameters=(("camera_names", "cameras"),)),
    ParameterGroup("detector", DetectorConfig),
    LIFECYCLE_PARAMETERS,
)


@dataclass(frozen=True)
class DetectedSet:
    """What an attached keypoint estimator receives for each set.

    Attributes:
        follow: set when the detector tracks people from set to set (an attached estimator, ``track_people``):
            the estimator calls it with its per-view results, which place the people in the next set.
    """

    detections: MultiViewObservation
    raw_detections: list[PersonDetections] | None
    frames: dict[str, CameraFrame]
    follow: Callable[[Sequence[PersonKeypoints]], None] | None = None


class PersonDetectorNode(ManagedNode):
    """Synchronizes the rig's cameras and detects people in every view of each set (a managed node)."""

    startup_errors = (ValueError, PerceptionError, OSError)

    def __init__(self, *, node_name: str = "person_detector", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        declare_camera_list(self, CAMERAS_DESCRIPTION)
        declare_groups(self, PARAMETERS)
        self.warnings = ThrottledWarnings(log=self.get_logger().warning)
        self.listeners: list = []
        self.tracking_listener = False  # an attached estimator that reports its results back (follow)
        self.front: PerceptionFront | None = None
        self.worker: DropOldestWorker | None = None
        self.start()

    def configure(self) -> None:
        """Validate the parameters, load the detector, create the publishers and the worker."""
        cameras = read_camera_list(self)
        if not cameras:
            raise ValueError("cameras: give the rig's camera names, e.g. -p cameras:=[cam0,cam1]")
        self.cameras = cameras
        self.config, self.sync_config, self.detector_config = (
            group.read(self) for group in PARAMETERS if group is not LIFECYCLE_PARAMETERS)
        self.front = PerceptionFront(detector=build_detector(self.detector_config), estimator=None,
                                     config=self.config)
        self.silent_after_s = self.sync_config.stale_s  # a camera the synchronizer stops waiting for is reported
        self.detections_publisher = self.create_output(MultiViewKeypoints2D, "detections", output_qos())
        self.diagnostics_publisher = self.create_output(DiagnosticArray, "/diagnostics", output_qos())
        self.debug_publishers = {camera: self.create_output(Image, f"{camera}/debug_image", 1)
                                 for camera in cameras} if self.config.publish_debug_image else {}
        self.worker = DropOldestWorker(self._process, capacity=self.config.processing_queue,
                                       name="person_detector", on_error=self._on_processing_error)
        self.detect_times_s: list[float] = []
        self.views_seen = self.views_detected = 0  # views of processed sets; views the detector ran on

    def activate(self) -> None:
        """Camera subscriptions and timers (one mutually exclusive group: the synchronizer needs no lock); the
        synchronizer starts afresh, so no set waits across an inactive spell."""
        self.synchronizer: NWaySynchronizer[CameraFrame] = NWaySynchronizer(self.sync_config)
        intake_group = MutuallyExclusiveCallbackGroup()
        self.intake = self.register_intake(CameraIntake(
            self, cameras=self.cameras, transport=self.config.image_transport,
            reliability=self.config.image_reliability, on_frame=self._on_frame, warnings=self.warnings,
            callback_group=intake_group))
        self.poll_timer = self.register_intake(self.create_timer(SYNC_POLL_PERIOD_S, self._poll,
                                                                 callback_group=intake_group))
        self.poll_timer.cancel()  # runs while a frame waits in the synchronizer (_on_frame, _poll)
        self.register_intake(self.create_timer(self.config.diagnostics_period_s, self._publish_diagnostics))
        cameras, sync_config = self.cameras, self.sync_config
        self.get_logger().info(
            f"ready: {len(cameras)} cameras {list(cameras)}, detector {self.detector_config.backend}, "
            f"sync slop {sync_config.slop_s * 1e3:.0f} ms, k={sync_config.required_cameras} of {len(cameras)}, "
            f"deadline {sync_config.deadline_s * 1e3:.0f} ms")

    def deactivate(self) -> None:
        """No intake, and the sets waiting for the detector are dropped."""
        super().deactivate()
        if self.worker is not None:
            self.worker.discard_pending()

    def release(self) -> None:
        if self.worker is not None:  # first: it uses the detector and the publishers
            self.worker.stop()
        self.worker = self.front = None
        super().release()

    def attach(self, listener, *, follows: bool = False) -> None:
        """Hand every detected set to ``listener(DetectedSet)`` in this process (no re-serialization).

        ``follows``: the listener estimates keypoints and calls ``DetectedSet.follow`` with its results; the
        detector then tracks people from set to set (``track_people``) and runs only on views that need it.
        """
        self.listeners.append(listener)
        self.tracking_listener = self.tracking_listener or follows

    # -- callbacks ----------------------------------------------------------------------------
    def _on_frame(self, frame: CameraFrame) -> None:
        now_ns = self.get_clock().now().nanoseconds
        resets = self.synchronizer.stats.clock_resets
        for synced in self.synchronizer.add(frame.camera, frame.stamp_ns, frame, now_ns=now_ns):
            self._submit(synced)
        run_timer_while(self.poll_timer, self.synchronizer.has_pending())
        if self.synchronizer.stats.clock_resets != resets:
            self.warnings.warn("clock", f"camera {frame.camera}: image stamps went back by more than "
                                        f"{self.synchronizer.config.clock_jump_s} s (a bag loop, a restarted "
                                        "driver); the synchronizer starts afresh")

    def _poll(self) -> None:
        for synced in self.synchronizer.poll(now_ns=self.get_clock().now().nanoseconds):
            self._submit(synced)
        run_timer_while(self.poll_timer, self.synchronizer.has_pending())

    def _submit(self, synced: SyncedSet[CameraFrame]) -> None:
        self.intake.record_set(synced.payloads, synced.missing)
        self.worker.submit(synced)

    def _process(self, synced: SyncedSet[CameraFrame]) -> None:
        frames = list(synced.payloads.values())
        start = time.perf_counter()
        front, follow = self.front, None
        if self.tracking_listener and self.config.track_people:
            observation, raw, detected_views = front.detect_tracked(synced.stamp_ns, frames, missing=synced.missing)
            follow = functools.partial(front.follow, frames, raw)
        else:
            observation, raw = front.detect(synced.stamp_ns, frames, missing=synced.missing)
            detected_views = frames
        self.views_seen += len(frames)
        self.views_detected += len(detected_views)
        self.detect_times_s = (self.detect_times_s + [time.perf_counter() - start])[-50:]
        for kind, text in detection_warnings(frames, raw):
            self.warnings.warn(kind, text)
        self.detections_publisher.publish(observation_to_msg(observation))
        for listener in self.listeners:
            listener(DetectedSet(detections=observation, raw_detections=raw, frames=dict(synced.payloads),
                                 follow=follow))
        for camera, publisher in self.debug_publishers.items():
            if camera in synced.payloads:
                frame = synced.payloads[camera]
                debug = numpy_to_image(draw_observation(frame.image_bgr, observation, camera=camera),
                                       encoding="bgr8")
                debug.header.stamp, debug.header.frame_id = ns_to_stamp(frame.stamp_ns), frame.frame_id
                publisher.publish(debug)

    def _on_processing_error(self, error: Exception) -> None:
        self.worker_failed(f"processing:{type(error).__name__}", f"detector failed on a set: {error}; set dropped")

    def _publish_diagnostics(self) -> None:
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        stats = self.synchronizer.stats
        msg.status = [stage_status(f"{self.get_name()}: detector", durations_s=self.detect_times_s,
                                   processed=self.worker.processed, dropped=self.worker.dropped,
                                   extra={**describe_stats(stats), "detector runs per view": round(
                                       self.views_detected / max(self.views_seen, 1), 3)},
                                   warnings=self.warnings.counts)]
        now_s = self.get_clock().now().nanoseconds * 1e-9
        msg.status += [camera_status(f"{self.get_name()}: camera {camera}", health=self.intake.current_health(camera),
                                     sync=stats.cameras[camera], now_s=now_s, silent_after_s=self.silent_after_s)
                       for camera in self.intake.health]
        self.diagnostics_publisher.publish(msg)

main = main_for(PersonDetectorNode)


if __name__ == "__main__":
    main()
