"""keypoint_estimator: detections + camera images in, 2D keypoints for every detected person out.

Standalone, it subscribes ``detections`` and the rig's camera topics (keeping the last images
of each camera), finds each view's image by camera and stamp (a set whose images have not arrived
yet waits for them up to IMAGE_WAIT_S, then goes on without the missing views), and publishes ``keypoints2d``
(MultiViewKeypoints2D in ``output_layout``). In the ``perception`` executable it is attached to a
PersonDetectorNode in the same process and receives the decoded images with each set directly.
"""

from __future__ import annotations

import time
from collections import deque

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup

from scorehmr_ros.msg import MultiViewKeypoints2D
from scorehmr_ros.perception.backends.config import KeypointConfig
from scorehmr_ros.perception.backends.factory import build_keypoint_estimator
from scorehmr_ros.perception.backends.types import PerceptionError
from scorehmr_ros.perception.front import CameraFrame, FrontConfig, PerceptionFront
from scorehmr_ros.perception.observations import MultiViewObservation
from scorehmr_ros.ros.camera_intake import CameraIntake
from scorehmr_ros.ros.common import (
    ThrottledWarnings,
    clean_shared_memory,
    declare_camera_list,
    freeze_startup_objects,
    main_for,
    output_qos,
    read_camera_list,
    run_timer_while,
    spin_nodes,
)
from scorehmr_ros.ros.diagnostics import stage_status
from scorehmr_ros.ros.geometry_conversions import MessageConversionError
from scorehmr_ros.ros.image_buffer import StampedBuffer
from scorehmr_ros.ros.keypoint_conversions import msg_to_detections, observation_to_msg
from scorehmr_ros.ros.managed_node import LIFECYCLE_PARAMETERS, ManagedNode
from scorehmr_ros.ros.nodes.person_detector_node import DetectedSet, PersonDetectorNode
from scorehmr_ros.ros.parameters import ParameterGroup, declare_groups
from scorehmr_ros.ros.set_worker import PROCESSING_ERRORS, DropOldestWorker

#: Images kept per camera to match detections that arrive later (standalone mode).
IMAGE_CACHE_PER_CAMERA = 30
#: How long a detection set waits for its images (standalone mode): the detector's output can overtake the
#: estimator's own copy of the images, which travel separately.
IMAGE_WAIT_S = 0.3
#: Detection sets waiting for images at most; the oldest goes on without its missing views beyond this.
MAX_WAITING_SETS = 8

#: Every parameter of the node (plus ``cameras``), each group from one config dataclass of the core.
PARAMETERS = (ParameterGroup("", FrontConfig), ParameterGroup("keypoints", KeypointConfig), LIFECYCLE_PARAMETERS)


class KeypointEstimatorNode(ManagedNode):
    """Estimates 2D keypoints of the detected people in every view of a set (a managed node)."""

    startup_errors = (ValueError, PerceptionError, OSError)

    def __init__(self, *, node_name: str = "keypoint_estimator", attached: bool = False, **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        self.attached = attached
        declare_camera_list(self, "camera names of the rig (standalone mode)")
        declare_groups(self, PARAMETERS)
        self.warnings = ThrottledWarnings(log=self.get_logger().warning)
        self.front: PerceptionFront | None = None
        self.worker: DropOldestWorker | None = None
        self.waiting: deque[tuple[float, MultiViewObservation]] = deque()  # (monotonic deadline, detections)
        self.start()

    def configure(self) -> None:
        """Validate the parameters, load the keypoint model, create the publishers (and, standalone, the worker)."""
        cameras = read_camera_list(self)
        if not self.attached and not cameras:
            raise ValueError("cameras: give the rig's camera names, e.g. -p cameras:=[cam0,cam1]")
        self.cameras = cameras
        self.config, self.keypoint_config = (
            group.read(self) for group in PARAMETERS if group is not LIFECYCLE_PARAMETERS)
        self.front = PerceptionFront(detector=None, estimator=build_keypoint_estimator(self.keypoint_config),
                                     config=self.config)
        self.keypoints_publisher = self.create_output(MultiViewKeypoints2D, "keypoints2d", output_qos())
        self.diagnostics_publisher = self.create_output(DiagnosticArray, "/diagnostics", output_qos())
        self.estimate_times_s: list[float] = []
        self.processed = 0
        self.images: StampedBuffer[CameraFrame] | None = None  # standalone: each camera's recent frames
        self.waiting.clear()
        if not self.attached:
            self.images = StampedBuffer(cameras, capacity=IMAGE_CACHE_PER_CAMERA)
            self.worker = DropOldestWorker(self.on_detected_set, capacity=self.config.processing_queue,
                                           name="keypoint_estimator", on_error=self.report_processing_error)

    def activate(self) -> None:
        """Standalone: camera and detections subscriptions and the waiting sets' timer; diagnostics."""
        if not self.attached:
            group = MutuallyExclusiveCallbackGroup()
            self.intake = self.register_intake(CameraIntake(
                self, cameras=self.cameras, transport=self.config.image_transport,
                reliability=self.config.image_reliability, on_frame=self._on_frame, warnings=self.warnings,
                callback_group=group))
            self.register_intake(self.create_subscription(MultiViewKeypoints2D, "detections", self._on_detections,
                                                          output_qos(), callback_group=group))
            self.wait_timer = self.register_intake(self.create_timer(IMAGE_WAIT_S / 4, self._release_waiting,
                                                                     callback_group=group))
            self.wait_timer.cancel()  # runs while a detections set waits for its images (_release_waiting)
        self.register_intake(self.create_timer(self.config.diagnostics_period_s, self._publish_diagnostics))
        self.get_logger().info(f"ready: keypoints {self.keypoint_config.description} -> {self.config.output_layout}"
                               f"{' (in-process with the detector)' if self.attached else ''}")

    def deactivate(self) -> None:
        """No intake; the sets waiting for images or for the estimator are dropped."""
        super().deactivate()
        self.waiting.clear()
        if self.worker is not None:
            self.worker.discard_pending()

    def release(self) -> None:
        if self.worker is not None:  # first: it uses the model and the publishers
            self.worker.stop()
        self.worker = self.front = None
        super().release()

    # -- standalone intake ------------------------------------------------------------------
    def _on_frame(self, frame: CameraFrame) -> None:
        self.images.add(frame.camera, frame.stamp_ns, frame)
        self._release_waiting()

    def _on_detections(self, msg: MultiViewKeypoints2D) -> None:
        try:
            detections = msg_to_detections(msg)
        except MessageConversionError as error:
            self.warnings.warn("detections", f"bad detections message: {error}; dropped")
            return
        self.waiting.append((time.monotonic() + IMAGE_WAIT_S, detections))
        self._release_waiting()

    def _release_waiting(self) -> None:
        """Submit the waiting sets, oldest first, whose images are all here or whose wait is over (then without
        the missing views); a set still waiting holds the newer ones back, so sets stay in stamp order."""
        now = time.monotonic()
        while self.waiting:
            deadline, detections = self.waiting[0]
            frames = {view.camera: self.images.lookup(view.camera, view.image_stamp_ns, tolerance_ns=0)
                      for view in detections.views}
            missing = [camera for camera, frame in frames.items() if frame is None]
            if missing and now < deadline and len(self.waiting) <= MAX_WAITING_SETS:
                break
            self.waiting.popleft()
            for camera in missing:
                self.warnings.warn(f"no_image:{camera}", f"no image of camera {camera} at the detections' stamp "
                                                         f"within {IMAGE_WAIT_S} s (dropped or late); view skipped")
            self.worker.submit(DetectedSet(detections=detections, raw_detections=None,
                                           frames={c: f for c, f in frames.items() if f is not None}))
        run_timer_while(self.wait_timer, bool(self.waiting))

    # -- processing (worker thread, or the detector's worker when attached) ------------------
    def on_detected_set(self, detected: DetectedSet) -> None:
        """Estimate and publish one set's keypoints; ignored unless active (attached: the detector's worker calls
        this whatever this node's state)."""
        front = self.front
        if front is None or not self.is_active:
            return
        start = time.perf_counter()
        keypoints, estimated = front.estimate_with_results(detected.detections, detected.frames,
                                                           detected.raw_detections)
        if detected.follow is not None:  # composed: the detector places this set's people in the next set
            detected.follow(estimated)
        self.estimate_times_s = (self.estimate_times_s + [time.perf_counter() - start])[-50:]
        self.processed += 1
        self.keypoints_publisher.publish(observation_to_msg(keypoints))

    def report_processing_error(self, error: Exception) -> None:
        self.worker_failed(f"processing:{type(error).__name__}", f"keypoints failed on a set: {error}; set dropped")

    def _publish_diagnostics(self) -> None:
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [stage_status(f"{self.get_name()}: keypoints", durations_s=self.estimate_times_s,
                                   processed=self.processed, dropped=self.worker.dropped if self.worker else 0,
                                   warnings=self.warnings.counts)]
        self.diagnostics_publisher.publish(msg)

main = main_for(KeypointEstimatorNode)


def attach_estimator(detector: PersonDetectorNode, estimator: KeypointEstimatorNode) -> None:
    """Run ``estimator`` on every set of ``detector`` in this process (the composed ``perception`` executable, the
    demo): images are decoded once, a failing set is one throttled warning, and people are tracked from set to set
    (the estimator's results place them in the next set, so the detector runs only where needed)."""

    def on_set(detected: DetectedSet) -> None:
        try:
            estimator.on_detected_set(detected)
        except PROCESSING_ERRORS as error:
            estimator.report_processing_error(error)

    detector.attach(on_set, follows=True)


def perception_main(args: list[str] | None = None) -> None:
    """person_detector and keypoint_estimator in one process: images are decoded once, never re-sent."""
    import rclpy

    with rclpy.init(args=args):
        clean_shared_memory("perception")
        try:
            detector = PersonDetectorNode()
            estimator = KeypointEstimatorNode(attached=True)
        except (*PersonDetectorNode.startup_errors, *KeypointEstimatorNode.startup_errors) as error:
            rclpy.logging.get_logger("perception").fatal(f"cannot start: {error}")
            raise SystemExit(1) from None

        attach_estimator(detector, estimator)
        freeze_startup_objects()
        spin_nodes([detector, estimator])


if __name__ == "__main__":
    main()
