"""sim_rig: a simulated, calibrated camera rig with people walking in front of it, and their ground truth.

Publishes (relative names unless absolute), for every camera ``<cam>`` of the rig, at the scene's fps:
  ``<cam>/image_raw``    sensor_msgs/Image (bgr8 or rgb8), frame_id ``<cam>_optical_frame``, keep last 1,
                         reliable by default (served to best-effort and reliable subscribers alike;
                         measured here: best-effort bursts of four 640x480 images lost most frames
                         across processes on a loaded 2-core machine)
  ``<cam>/camera_info``  sensor_msgs/CameraInfo with the same header
and once, latched: ``/tf_static`` (tf2_msgs/TFMessage) ``<world_frame>`` -> ``<cam>_optical_frame`` per camera;
and per frame the ground truth: ``sim/ground_truth`` (scorehmr_ros/SMPLBodyArray, world frame, joints
``smpl24``, track id = person index), with the frame's stamp.

Every camera of one frame carries the same stamp (a perfectly synchronized rig; optional per-camera
jitter), taken from the node clock when the frame is published: wall time, or /clock under
``use_sim_time``; so "camera stamp -> output publish time" downstream is the end-to-end latency.
With ``lockstep`` the rig instead sends a frame only once the graph has finished the one before (the perception
front's keypoints of each set on ``lockstep_keypoints_topic``, the fitter's bodies array on ``lockstep_topic``),
and stamps frame k at k / fps after the first frame (a virtual clock): the graph then sees the same sets and
stamps on any machine (``sim/live_rig.LockstepGate``).
All frames are rendered before playback starts, in a worker thread with progress in the log
(about 0.05-0.12 s per 640x480 view on one CPU core); playback only copies finished images, so the
publish rate is steady. ``ready`` and ``finished`` are events for in-process users (the demo).
"""

from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np
from rclpy.context import Context
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from tf2_msgs.msg import TFMessage

from scorehmr_ros.msg import MultiViewKeypoints2D, SMPLBodyArray
from scorehmr_ros.ros.common import image_qos, main_for, output_qos
from scorehmr_ros.ros.geometry_conversions import (
    body_to_msg,
    camera_to_camera_info,
    matrix_to_transform,
    ns_to_stamp,
    stamp_to_ns,
)
from scorehmr_ros.ros.image_conversions import numpy_to_image
from scorehmr_ros.ros.parameters import declare_config, read_config
from scorehmr_ros.sim.live_rig import (
    FrameSchedule,
    LockstepGate,
    SimRigConfig,
    build_scene,
    camera_stamps_ns,
    ground_truth_bodies,
    published_cameras,
    render_rig_frames,
)
from scorehmr_ros.sim.scene import Scene

GROUND_TRUTH_TOPIC = "sim/ground_truth"
#: Progress is logged about this often while rendering, seconds.
PROGRESS_PERIOD_S = 5.0
#: Publish times kept for rate statistics.
PUBLISH_TIMES_KEPT = 1000
#: How often the rig looks whether the graph has finished a frame in lock-step, seconds.
LOCKSTEP_POLL_S = 0.01


def static_tf_qos() -> QoSProfile:
    """/tf_static as tf2's StaticTransformBroadcaster offers it: reliable, transient local, keep last 1."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)


class SimRigNode(Node):
    """Publishes a rendered scene as a calibrated camera rig, with its ground truth.

    Args:
        config: the rig's settings; None reads them from ROS parameters (the fields of SimRigConfig).
            When given, the parameters are declared with its values as defaults (a parameter file still wins).
        scene: a scene to play (skips loading or generating); its cameras are the rig.
        body_model: the body model to pose the people with (skips loading ``body_model_path``).
        node_name, namespace, context: as for rclpy's Node.
    Raises:
        ValueError: a setting is invalid (the message names it); scene or body-model files that cannot be read.
    """

    def __init__(self, *, config: SimRigConfig | None = None, scene: Scene | None = None, body_model=None,
                 node_name: str = "sim_rig", namespace: str | None = None, context: Context | None = None) -> None:
        super().__init__(node_name, namespace=namespace, context=context)
        declare_config(self, SimRigConfig, prefix="", defaults=config)
        self.config: SimRigConfig = read_config(self, SimRigConfig, prefix="")

        # Configure: body model, scene, cameras, publishers.
        if body_model is None:
            body_model = _load_body_model(self.config.body_model_path)
        if "STAND-IN" in str(body_model.description):
            self.get_logger().warning(f"people are posed with the {body_model.description}")
        self.scene = scene if scene is not None else build_scene(self.config, body_model)
        self.cameras = published_cameras(self.scene, render_scale=self.config.render_scale)
        self.world_frame = self.scene.world_frame
        self.schedule = FrameSchedule(num_frames=self.scene.ground_truth.transl_m.shape[1], loop=self.config.loop)
        self._rng = np.random.default_rng(self.config.seed)
        qos = image_qos(reliability=self.config.image_reliability, depth=1)
        self.image_publishers = {c.name: self.create_publisher(Image, f"{c.name}/image_raw", qos) for c in self.cameras}
        self.info_publishers = {c.name: self.create_publisher(CameraInfo, f"{c.name}/camera_info", qos)
                                for c in self.cameras}
        self.truth_publisher = self.create_publisher(SMPLBodyArray, GROUND_TRUTH_TOPIC, output_qos())
        self.tf_static_publisher = self.create_publisher(TFMessage, "/tf_static", static_tf_qos())
        self.tf_static_publisher.publish(self.static_transforms(self.get_clock().now().nanoseconds))

        # Render every frame in a worker thread; the timer publishes once they are ready.
        self.images: list[list[np.ndarray]] = []
        self.ready = threading.Event()
        self.finished = threading.Event()
        self.frames_published = 0
        self.publish_times_s: deque[float] = deque(maxlen=PUBLISH_TIMES_KEPT)  # monotonic, seconds
        self.body_model = body_model  # the people's body model (also for overlays)
        self._renderer = threading.Thread(target=self._render_all, name="sim_rig_render", daemon=True)
        self._renderer.start()
        self.gate: LockstepGate | None = None
        self._first_stamp_ns: int | None = None
        self._outputs: list = []  # lock-step: the subscriptions to the graph's per-set outputs
        if self.config.lockstep:
            lags = {}
            if self.config.lockstep_topic:
                lags[self.config.lockstep_topic] = self.config.lockstep_lag
                self._outputs.append(self.create_subscription(
                    SMPLBodyArray, self.config.lockstep_topic,
                    lambda msg: self.gate.output(self.config.lockstep_topic, stamp_to_ns(msg.header.stamp)),
                    output_qos(depth=100)))
            if self.config.lockstep_keypoints_topic:
                lags[self.config.lockstep_keypoints_topic] = 0
                self._outputs.append(self.create_subscription(
                    MultiViewKeypoints2D, self.config.lockstep_keypoints_topic,
                    lambda msg: self.gate.output(self.config.lockstep_keypoints_topic, stamp_to_ns(msg.header.stamp)),
                    output_qos(depth=100)))
            self.gate = LockstepGate(lags=lags, timeout_s=self.config.lockstep_timeout_s,
                                     tolerance_ns=round(self.config.stamp_jitter_s * 1e9))
        self._timer = self.create_timer(LOCKSTEP_POLL_S if self.gate else 1.0 / self.scene.fps, self._publish_frame)
        self.get_logger().info(
            f"rig {self.scene.rig_name}: {len(self.cameras)} cameras {[c.name for c in self.cameras]} "
            f"{self.cameras[0].width_px}x{self.cameras[0].height_px}, {self.scene.ground_truth.betas.shape[0]} people, "
            f"{self.schedule.num_frames} frames at {self.scene.fps:g} Hz{' (looping)' if self.config.loop else ''}, "
            f"world frame {self.world_frame}; rendering")

    def static_transforms(self, stamp_ns: int) -> TFMessage:
        """One transform per camera: world frame -> the camera's optical frame (the camera's pose)."""
        return TFMessage(transforms=[
            matrix_to_transform(camera.T_world_cam, parent_frame=self.world_frame, child_frame=camera.frame_id,
                                stamp_ns=stamp_ns) for camera in self.cameras])

    # -- rendering (worker thread) ----------------------------------------------------------
    def _render_all(self) -> None:
        start = time.perf_counter()
        last_log = [start]

        def progress(done: int, total: int) -> None:
            if time.perf_counter() - last_log[0] > PROGRESS_PERIOD_S:
                last_log[0] = time.perf_counter()
                self.get_logger().info(f"rendered {done}/{total} frames")

        self.images = render_rig_frames(self.scene, self.body_model, cameras=self.cameras,
                                        painting=self.config.painting, encoding=self.config.encoding,
                                        progress=progress)
        elapsed = time.perf_counter() - start
        views = len(self.images) * len(self.cameras)
        self.get_logger().info(f"ready: rendered {views} views in {elapsed:.1f} s ({elapsed / views * 1e3:.0f} ms per "
                               f"view); publishing in {self.config.start_delay_s:g} s")
        time.sleep(self.config.start_delay_s)
        self.ready.set()

    # -- playback (timer) --------------------------------------------------------------------
    def _lockstep_ready(self) -> bool:
        """Lock-step: the outputs waited for have publishers (before the first frame) and the graph has finished
        the frames sent so far (or timed out on one: a warning)."""
        if self._first_stamp_ns is None and any(self.count_publishers(sub.topic_name) == 0 for sub in self._outputs):
            return False
        timeouts = self.gate.timeouts
        ready = self.gate.ready(now_s=time.monotonic())
        if self.gate.timeouts > timeouts:
            self.get_logger().warning(f"lock-step: the graph gave no output on {sorted(self.gate.lags)} for frame "
                                      f"{len(self.gate.stamps_ns) - 1} within {self.gate.timeout_s:g} s (a set lost "
                                      "on the way?); going on")
        return ready

    def _publish_frame(self) -> None:
        if not self.ready.is_set() or self.finished.is_set():
            return
        if self.gate is not None and not self._lockstep_ready():
            return
        frame = self.schedule.frame(self.frames_published)
        if frame is None:
            self.finished.set()
            self._timer.cancel()
            self.get_logger().info(f"played all {self.frames_published} frames; not looping, publishing stopped")
            return
        stamp_ns = self.get_clock().now().nanoseconds
        if self.gate is not None:  # a virtual clock: k / fps after the first frame, however long the graph took
            self._first_stamp_ns = stamp_ns if self._first_stamp_ns is None else self._first_stamp_ns
            stamp_ns = self._first_stamp_ns + round(self.frames_published * 1e9 / self.scene.fps)
        stamps = camera_stamps_ns(stamp_ns, num_cameras=len(self.cameras), jitter_s=self.config.stamp_jitter_s,
                                  rng=self._rng)
        for camera, image, camera_stamp in zip(self.cameras, self.images[frame], stamps, strict=True):
            if self.config.camera_dropped(camera.name, self.frames_published):
                continue
            msg = numpy_to_image(image, encoding=self.config.encoding)
            msg.header.stamp, msg.header.frame_id = ns_to_stamp(int(camera_stamp)), camera.frame_id
            self.image_publishers[camera.name].publish(msg)
            self.info_publishers[camera.name].publish(camera_to_camera_info(camera, stamp_ns=int(camera_stamp)))
        truth = SMPLBodyArray(bodies=[body_to_msg(body) for body in ground_truth_bodies(
            self.scene.ground_truth, frame=frame, stamp_ns=stamp_ns, num_views=len(self.cameras))])
        truth.header.stamp, truth.header.frame_id = ns_to_stamp(stamp_ns), self.world_frame
        self.truth_publisher.publish(truth)
        self.frames_published += 1
        self.publish_times_s.append(time.monotonic())
        if self.gate is not None:
            self.gate.sent(stamp_ns, now_s=time.monotonic())


def _load_body_model(path: str):
    from scorehmr_ros.assets.paths import ensure_standin_body_model
    from scorehmr_ros.body.body_model import BodyModel

    return BodyModel.from_file(path or ensure_standin_body_model())


main = main_for(SimRigNode, startup_errors=(ValueError, OSError))


if __name__ == "__main__":
    main()
