"""scorehmr: 2D keypoints of every view in, tracked SMPL bodies in the world frame out.

Subscribes ``keypoints2d`` (MultiViewKeypoints2D); cameras come from the rig YAML
(``rig_file``) or from ``<cam>/camera_info`` plus TF (``<world_frame>`` -> the CameraInfo's
optical frame, from /tf_static and /tf); cameras on a moving base (a chain with /tf edges) are
looked up at each view's image stamp, interpolated in the /tf history. Publishes ``bodies`` (SMPLBodyArray), ``meshes``
(MarkerArray, decimated TRIANGLE_LIST per track, rate-limited), optional ``skeletons``, REP-155
TF on /tf and /diagnostics with end-to-end latency (camera stamp -> publish).
Fitting runs on a worker thread with a bounded drop-oldest queue, so intake never blocks.
An image-conditioned prior (the official ScoreHMR one) also subscribes to every camera's images
(``image_topic``), keeps the last ``image_buffer_size`` per camera, and hands the fitter the images whose
stamps match each view's ``image_stamp_ns`` (PARE features); a view without its image gets weight 0.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import MarkerArray

from scorehmr_ros.accel.select import AccelConfig
from scorehmr_ros.base.config_fields import check_settings, setting
from scorehmr_ros.body.body_state import TrackingState
from scorehmr_ros.body.mesh_decimation import MeshDecimationConfig
from scorehmr_ros.diffusion.checkpoint import CheckpointError
from scorehmr_ros.geometry.frame_tree import ExtrapolationError, FrameLookupError, FrameTree, poses_at
from scorehmr_ros.geometry.rigs import Rig
from scorehmr_ros.image_prior.view_regressor import ViewRegressorError
from scorehmr_ros.msg import MultiViewKeypoints2D, SMPLBodyArray
from scorehmr_ros.perception.observations import MultiViewObservation
from scorehmr_ros.pipeline.association import AssociationConfig
from scorehmr_ros.pipeline.body_pipeline import FittedSet, PipelineInputError
from scorehmr_ros.pipeline.streaming import StreamingConfig
from scorehmr_ros.pipeline.tracking import TrackerConfig
from scorehmr_ros.ros.body_outputs import body_transforms, is_body_frame, mesh_markers_cdr, skeleton_markers
from scorehmr_ros.ros.common import (
    ThrottledWarnings,
    declare_camera_list,
    image_qos,
    main_for,
    output_qos,
    read_camera_list,
)
from scorehmr_ros.ros.diagnostics import percentile_ms, stage_status
from scorehmr_ros.ros.geometry_conversions import (
    MessageConversionError,
    body_to_msg,
    camera_info_to_camera,
    ns_to_stamp,
    stamp_to_ns,
    transform_to_matrix,
)
from scorehmr_ros.ros.image_buffer import StampedBuffer
from scorehmr_ros.ros.image_conversions import ImageConversionError, message_to_bgr
from scorehmr_ros.ros.keypoint_conversions import msg_to_observation
from scorehmr_ros.ros.managed_node import LIFECYCLE_PARAMETERS, ManagedNode
from scorehmr_ros.ros.parameters import ParameterGroup, declare_groups
from scorehmr_ros.ros.set_worker import DropOldestWorker

CAMERAS_DESCRIPTION = "camera names of the rig (CameraInfo on <cam>/camera_info when rig_file is empty)"


@dataclass(frozen=True)
class ScoreHMRNodeConfig:
    """The scorehmr node's own settings (fitting, association and tracking have their own groups)."""

    world_frame: str = setting(Rig.world_frame, "reference frame of the bodies, meshes and TF (REP-105)")
    rig_file: str = setting("", "rig YAML with intrinsics and extrinsics; empty: CameraInfo topics + TF")
    prior_path: str = setting("", "diffusion prior checkpoint; empty: the bundled keypoint-only DeepMimic prior")
    body_model_path: str = setting("", "body model .npz; empty: the imported SMPL, else the generated STAND-IN")
    pare_checkpoint: str = setting("", "PARE checkpoint for an image-conditioned prior; empty: "
                                   "<data root>/data/model_weights/pare/pare_checkpoint.ckpt")
    pare_feature_stats: str = setting("", "PARE feature statistics for an image-conditioned prior; empty: "
                                      "<data root>/data/stats/pare_feat_stats.npz")
    image_topic: str = setting("{camera}/image_raw", "each camera's images, image-conditioned prior only ({camera} "
                               "= camera name; a name ending in /compressed: CompressedImage)")
    image_reliability: str = setting("best_effort", "QoS reliability of the image subscriptions",
                                     choices=("best_effort", "reliable"))
    image_buffer_size: int = setting(30, "images kept per camera to find each keypoint set's images by stamp",
                                     minimum=1, maximum=1000)
    image_stamp_tolerance_s: float = setting(0.001, "largest difference between a view's image stamp and the "
                                             "image used", unit="s", minimum=0.0, maximum=1.0)
    processing_queue: int = setting(2, "keypoint sets waiting for the fitter; older ones are dropped", minimum=1,
                                    maximum=100)
    publish_meshes: bool = setting(True, "publish meshes (MarkerArray TRIANGLE_LIST per person)")
    mesh_rate_hz: float = setting(5.0, "mesh publish rate in set-stamp time (at most the body rate)", unit="Hz",
                                  minimum=0.1, maximum=100.0)
    mesh_decimation_m: float = setting(MeshDecimationConfig.cell_m, "mesh vertex clustering cell; 0 = full mesh",
                                       unit="m", minimum=0.0,
                                       maximum=0.5)
    publish_skeletons: bool = setting(False, "publish LINE_LIST skeletons")
    publish_joint_frames: bool = setting(True, "publish <joint>_<id> TF frames (else only body_<id>)")
    diagnostics_period_s: float = setting(1.0, "period of /diagnostics", unit="s", minimum=0.1, maximum=60.0)
    torch_threads: int = setting(1, "CPU threads of the fitter's torch ops (the fitter's batches are small; more "
                                 "threads mostly compete with the detector)", minimum=1, maximum=256)
    tf_timeout_s: float = setting(0.2, "longest wait for /tf to reach a set's stamp (cameras on a moving base) "
                                  "before the set is dropped", unit="s", minimum=0.0, maximum=5.0)

    def validate(self) -> ScoreHMRNodeConfig:
        check_settings(self)
        if not self.world_frame:
            raise ValueError("world_frame: must not be empty")
        if "{camera}" not in self.image_topic:
            raise ValueError(f"image_topic={self.image_topic!r}: must contain {{camera}}")
        return self


#: Fitted sets waiting to be published (bodies, TF, meshes) before the oldest is dropped: publishing runs on a
#: thread of its own because a DDS write can block (reliable readers that are slow to acknowledge; up to
#: 0.9 s seen in the demo), and the fitter must go on meanwhile.
PUBLISH_BACKLOG = 30

#: Every parameter of the node (plus ``cameras``), each group from one config dataclass of the core.
PARAMETERS = (
    ParameterGroup("", ScoreHMRNodeConfig),
    ParameterGroup("association", AssociationConfig),
    ParameterGroup("tracking", TrackerConfig),
    ParameterGroup("streaming", StreamingConfig),
    ParameterGroup("accel", AccelConfig),
    LIFECYCLE_PARAMETERS,
)


class ScoreHMRNode(ManagedNode):
    """Fits one SMPL body per tracked person from the multi-view keypoints of each set (a managed node)."""

    #: A bad parameter or model file (CheckpointError is a RuntimeError): one "configure failed" / "cannot start" line.
    startup_errors = (ValueError, OSError, LookupError, CheckpointError)

    def __init__(self, *, node_name: str = "scorehmr", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        declare_camera_list(self, CAMERAS_DESCRIPTION)
        declare_groups(self, PARAMETERS)
        self.warnings = ThrottledWarnings(log=self.get_logger().warning)
        self.models = self.pipeline = self.image_buffer = None
        self.worker: DropOldestWorker | None = None
        self.publish_worker: DropOldestWorker | None = None
        self.start()

    def configure(self) -> None:
        """Validate the parameters, load the models and warm the fitter up (never inside a callback)."""
        self.camera_names = read_camera_list(self)
        self.config, self.association_config, self.tracker_config, self.streaming_config, self.accel_config = (
            group.read(self) for group in PARAMETERS if group is not LIFECYCLE_PARAMETERS)
        if not self.camera_names and not self.config.rig_file:
            raise ValueError("cameras: give the rig's camera names, or a rig_file")
        import torch

        from scorehmr_ros.pipeline.body_pipeline import (  # torch: imported when configuring
            load_fitting_models,
            rig_cameras,
        )

        torch.set_num_threads(self.config.torch_threads)

        self.models = load_fitting_models(
            prior_path=self.config.prior_path, body_model_path=self.config.body_model_path,
            mesh_decimation_m=self.config.mesh_decimation_m, pare_checkpoint=self.config.pare_checkpoint,
            pare_feature_stats=self.config.pare_feature_stats, accel=self.accel_config, logger=self.get_logger())
        self.pipeline = None
        self.frame_tree = FrameTree()  # /tf history + /tf_static: each set's camera poses at its stamps
        self.tf_arrived = threading.Condition()  # wakes a fitter waiting for /tf to reach a set's stamp
        self.camera_frames: dict[str, str] = {}  # camera -> optical frame, once calibrated from CameraInfo + TF
        self.camera_infos: dict[str, CameraInfo] = {}
        if self.config.rig_file:
            cameras = rig_cameras(self.config.rig_file, self.camera_names)
            self.camera_names = tuple(camera.name for camera in cameras)
            self.pipeline = self.models.make_pipeline(cameras, self.association_config, self.tracker_config,
                                                      self.streaming_config)
            self.get_logger().info(f"fitter warmed up in {self.pipeline.warm_up():.1f} s")
        else:  # warm up now: calibrating later must not stall the intake
            warm_s = self.models.warm_up(num_views=len(self.camera_names), streaming=self.streaming_config)
            self.get_logger().info(f"fitter warmed up in {warm_s:.1f} s (placeholder rig until CameraInfo + TF)")
        self.bodies_publisher = self.create_output(SMPLBodyArray, "bodies", output_qos())
        self.mesh_publisher = self.create_output(MarkerArray, "meshes", output_qos(depth=2))
        self.skeleton_publisher = self.create_output(MarkerArray, "skeletons", output_qos(depth=2))
        self.tf_publisher = self.create_output(TFMessage, "/tf", output_qos(depth=100))
        self.diagnostics_publisher = self.create_output(DiagnosticArray, "/diagnostics", output_qos())
        self.publish_worker = DropOldestWorker(self._publish, capacity=PUBLISH_BACKLOG, name="scorehmr_publish",
                                               on_error=self._on_publish_error)
        self.worker = DropOldestWorker(self._process, capacity=self.config.processing_queue, name="scorehmr",
                                       on_error=self._on_processing_error)
        self.latencies_s: list[float] = []
        self.fit_times_s: list[float] = []
        self.next_mesh_ns: int | None = None  # set stamp from which the next mesh array is due
        self.image_buffer: StampedBuffer | None = None  # image-conditioned prior: camera -> recent image messages
        if self.models.image_conditioned:
            self.image_buffer = StampedBuffer(self.camera_names, capacity=self.config.image_buffer_size)

    def activate(self) -> None:
        """Subscriptions (keypoints; images, CameraInfo and TF when needed) and the diagnostics timer."""
        group = MutuallyExclusiveCallbackGroup()

        def subscribe(msg_type, topic: str, callback, qos) -> None:
            self.register_intake(self.create_subscription(msg_type, topic, callback, qos, callback_group=group))

        subscribe(MultiViewKeypoints2D, "keypoints2d", self._on_keypoints, output_qos())
        if self.image_buffer is not None:
            compressed = self.config.image_topic.endswith("/compressed")
            qos = image_qos(reliability=self.config.image_reliability, depth=2)
            topics = [self.config.image_topic.format(camera=camera) for camera in self.camera_names]
            for camera, topic in zip(self.camera_names, topics, strict=True):
                subscribe(CompressedImage if compressed else Image, topic,
                          lambda msg, c=camera: self._on_image(c, msg), qos)
            self.get_logger().info(f"image-conditioned prior: PARE features from {topics}")
        if self.pipeline is None or self.camera_frames:  # TF mode: calibration, and moving cameras' poses
            static = QoSProfile(depth=100, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                                reliability=ReliabilityPolicy.RELIABLE)
            subscribe(TFMessage, "/tf_static", lambda msg: self._on_tf(msg, static=True), static)
            subscribe(TFMessage, "/tf", self._on_tf, output_qos(depth=100))
            for camera in self.camera_names:
                subscribe(CameraInfo, f"{camera}/camera_info", lambda msg, c=camera: self._on_camera_info(c, msg), 1)
        self.register_intake(self.create_timer(self.config.diagnostics_period_s, self._publish_diagnostics))
        source = f"rig file {self.config.rig_file}" if self.config.rig_file else "CameraInfo + TF"
        self.get_logger().info(f"ready: {len(self.camera_names)} cameras {list(self.camera_names)} from {source}; "
                               f"prior {self.models.prior_description}; body model {self.models.body_description}")

    def deactivate(self) -> None:
        """No intake, and the sets waiting for the fitter or for publishing are dropped."""
        super().deactivate()
        for worker in (self.worker, self.publish_worker):
            if worker is not None:
                worker.discard_pending()

    def release(self) -> None:
        for worker in (self.worker, self.publish_worker):  # first: they use the models and the publishers
            if worker is not None:
                worker.stop()
        self.worker = self.publish_worker = None
        self.models = self.pipeline = self.image_buffer = None
        super().release()

    # -- intake -----------------------------------------------------------------------------
    def _on_tf(self, msg: TFMessage, *, static: bool = False) -> None:
        for transform in msg.transforms:
            if is_body_frame(transform.child_frame_id):  # our own bodies' frames come back on /tf: never a camera's
                continue
            try:
                self.frame_tree.set_transform(parent=transform.header.frame_id, child=transform.child_frame_id,
                                              T_parent_child=transform_to_matrix(transform),
                                              stamp_ns=stamp_to_ns(transform.header.stamp), static=static)
            except (MessageConversionError, ValueError) as error:
                self.warnings.warn("tf", f"bad transform {transform.header.frame_id} -> {transform.child_frame_id}: "
                                         f"{error}; ignored")
        with self.tf_arrived:
            self.tf_arrived.notify_all()

    def _camera_poses(self, observation: MultiViewObservation) -> dict | None:
        """camera -> (4, 4) T_cam_world at its view's image stamp (the set's stamp for a camera not in the set), from
        /tf + /tf_static, waiting up to ``tf_timeout_s`` for /tf to reach the stamps; None for a rig file or a rig
        whose chains are all static (the calibrated poses hold, at no cost).

        Raises:
            FrameLookupError: no chain, or ExtrapolationError when /tf does not cover a stamp (in time).
        """
        if not self.camera_frames:
            return None
        stamps = {view.camera: view.image_stamp_ns for view in observation.views}
        stamps = {name: stamps.get(name) or observation.stamp_ns for name in self.camera_frames}
        deadline = time.monotonic() + self.config.tf_timeout_s
        while True:
            try:
                return poses_at(self.frame_tree, frames=self.camera_frames, target=self.config.world_frame,
                                stamps_ns=stamps)
            except ExtrapolationError as error:
                remaining = deadline - time.monotonic()
                if not error.future or remaining <= 0:
                    raise
                with self.tf_arrived:  # short waits: a sample that arrived just before the wait is not missed long
                    self.tf_arrived.wait(min(remaining, 0.02))

    def _calibrated_pipeline(self):
        """The pipeline, built once every camera's CameraInfo and TF pose are known (None until then)."""
        if self.pipeline is not None:
            return self.pipeline
        cameras, waiting = [], []
        for name in self.camera_names:
            info = self.camera_infos.get(name)
            if info is None:
                waiting.append(f"{name}/camera_info")
                continue
            frame = info.header.frame_id or f"{name}_optical_frame"
            try:
                T_cam_world = self.frame_tree.lookup(frame, self.config.world_frame)
                cameras.append(camera_info_to_camera(info, name=name, T_cam_world=T_cam_world))
            except FrameLookupError:
                waiting.append(f"TF {self.config.world_frame} -> {frame}")
            except MessageConversionError as error:
                waiting.append(str(error))
        if waiting:
            self.warnings.warn("calibration", f"waiting for the rig calibration: {', '.join(waiting)}; set dropped")
            return None
        pipeline = self.models.make_pipeline(cameras, self.association_config, self.tracker_config,
                                             self.streaming_config)
        self.camera_frames = {name: self.camera_infos[name].header.frame_id or f"{name}_optical_frame"
                              for name in self.camera_names}
        self.pipeline = pipeline
        self.get_logger().info(f"rig calibrated from CameraInfo + TF: {[c.name for c in cameras]}")
        return self.pipeline

    def _on_camera_info(self, camera: str, msg: CameraInfo) -> None:
        """Keep the camera's newest usable CameraInfo; a malformed one is a throttled warning, the previous stays."""
        try:
            camera_info_to_camera(msg, name=camera)
        except MessageConversionError as error:
            self.warnings.warn(f"camera_info:{camera}", f"bad CameraInfo: {error}; ignored")
            return
        self.camera_infos[camera] = msg

    def _on_image(self, camera: str, msg: Image | CompressedImage) -> None:
        self.image_buffer.add(camera, stamp_to_ns(msg.header.stamp), msg)  # decoded on the worker, when used

    def _on_keypoints(self, msg: MultiViewKeypoints2D) -> None:
        try:
            observation = msg_to_observation(msg)
        except MessageConversionError as error:
            self.warnings.warn("keypoints", f"bad keypoints message: {error}; set dropped")
            return
        if self._calibrated_pipeline() is not None:
            self.worker.submit(observation)

    # -- processing (worker thread) --------------------------------------------------------------
    def _set_images(self, observation: MultiViewObservation) -> dict | None:
        """camera -> BGR image of each view of the set, found by its image stamp (image-conditioned prior; else
        None). A view whose image is not buffered (or cannot be decoded) is left out: weight 0, throttled warning."""
        if self.image_buffer is None:
            return None
        tolerance_ns = round(self.config.image_stamp_tolerance_s * 1e9)
        match = self.image_buffer.match([(v.camera, v.image_stamp_ns) for v in observation.views if v.num_people],
                                        tolerance_ns=tolerance_ns)
        for camera, stamp_ns, newest_ns in match.missing:
            newest = "none yet" if newest_ns is None else f"newest {(newest_ns - stamp_ns) * 1e-9:+.3f} s from it"
            self.warnings.warn(f"image:{camera}", f"no {camera} image at the keypoints' stamp {stamp_ns} ({newest}); "
                                                  "that view has no image features (weight 0)")
        images = {}
        for camera, msg in match.found.items():
            try:
                image = message_to_bgr(msg)
            except ImageConversionError as error:
                self.warnings.warn(f"image:{camera}", f"{camera} image unusable: {error}; that view has no image "
                                                      "features (weight 0)")
                continue
            calibrated = self.pipeline.cameras[self.pipeline.camera_index[camera]]
            if image.shape[:2] != (calibrated.height_px, calibrated.width_px):
                self.warnings.warn(f"image:{camera}", f"{camera} image is {image.shape[1]}x{image.shape[0]}, "
                                                      f"calibration {calibrated.width_px}x{calibrated.height_px}; "
                                                      "that view has no image features (weight 0)")
                continue
            images[camera] = image
        return images

    def _process(self, observation: MultiViewObservation) -> None:
        try:
            poses = self._camera_poses(observation)
        except FrameLookupError as error:
            self.warnings.warn("camera poses", f"no camera poses at the set's stamp {observation.stamp_ns}: {error}; "
                                               "set dropped")
            return
        try:
            result = self.pipeline.process(observation, self._set_images(observation), camera_poses=poses)
        except (PipelineInputError, ViewRegressorError) as error:
            self.warnings.warn("set", f"{error}; set dropped")
            return
        if result.clock_jump:  # one warning per jump: a bag loop, a restarted driver, a clock switch
            self.get_logger().warning(f"{result.clock_jump}: every track ended, tracking starts afresh")
        self.fit_times_s = (self.fit_times_s + [sum(result.timings_s.values())])[-100:]
        for fitted in result.sets:  # one message per input set, also an empty one, in stamp order
            self.publish_worker.submit(fitted)

    def _publish(self, fitted: FittedSet) -> None:
        """One released set: its SMPLBodyArray (stamped with the set), TF and skeletons of its bodies, meshes at
        ``mesh_rate_hz`` of set-stamp time, and a mesh DELETE for each TERMINATED body whenever it comes."""
        frame, bodies = self.config.world_frame, list(fitted.bodies)
        msg = SMPLBodyArray(bodies=[body_to_msg(body) for body in bodies])
        msg.header.stamp, msg.header.frame_id = ns_to_stamp(fitted.stamp_ns), frame
        self.bodies_publisher.publish(msg)
        transforms = body_transforms(bodies, frame_id=frame, joint_frames=self.config.publish_joint_frames)
        if transforms:
            self.tf_publisher.publish(TFMessage(transforms=transforms))
        ended = [b for b in bodies if b.tracking_state == TrackingState.TERMINATED]
        due = self.config.publish_meshes and len(ended) < len(bodies) and self._mesh_due(fitted.stamp_ns)
        if self.config.publish_meshes and (ended or due):
            shown = bodies if due else ended
            live = [b for b in shown if b.tracking_state != TrackingState.TERMINATED]
            vertex_of = {id(b): v for b, v in zip(live, self.pipeline.vertices(live, self.models.body_model),
                                                  strict=True)}
            self.mesh_publisher.publish(mesh_markers_cdr(shown, [vertex_of.get(id(b)) for b in shown],
                                                         mesh=self.models.mesh, frame_id=frame))
        if self.config.publish_skeletons:
            self.skeleton_publisher.publish(skeleton_markers(bodies, frame_id=frame))
        now_ns = self.get_clock().now().nanoseconds
        self.latencies_s = (self.latencies_s + [(now_ns - fitted.stamp_ns) * 1e-9])[-200:]

    def _mesh_due(self, stamp_ns: int) -> bool:
        """Whether the set at ``stamp_ns`` gets meshes (``mesh_rate_hz`` in set-stamp time, so the same sets get
        them however fast the node runs). Due stamps advance by the period, not from the set, so sets faster than
        the mesh rate give meshes at that rate on average; a set a period late, or stamps going back, restart."""
        period_ns = round(1e9 / self.config.mesh_rate_hz)
        due_ns = self.next_mesh_ns
        if due_ns is not None and due_ns - period_ns <= stamp_ns < due_ns:
            return False
        in_step = due_ns is not None and due_ns <= stamp_ns < due_ns + period_ns
        self.next_mesh_ns = (due_ns if in_step else stamp_ns) + period_ns
        return True

    def _on_publish_error(self, error: Exception) -> None:
        self.worker_failed(f"publish:{type(error).__name__}", f"publishing a fitted set failed: {error}; skipped")

    def _on_processing_error(self, error: Exception) -> None:
        self.worker_failed(f"processing:{type(error).__name__}", f"fitting failed on a set: {error}; set dropped")

    def _publish_diagnostics(self) -> None:
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        fit = stage_status(f"{self.get_name()}: fitting", durations_s=self.fit_times_s,
                           processed=self.worker.processed, dropped=self.worker.dropped,
                           extra={"outputs dropped (publishing backlog)": self.publish_worker.dropped},
                           warnings=self.warnings.counts)
        latency = DiagnosticStatus(
            level=DiagnosticStatus.OK, name=f"{self.get_name()}: latency",
            message="camera stamp -> publish (includes the fixed lag)",
            values=[KeyValue(key=f"p{q} ms", value=f"{percentile_ms(self.latencies_s, q):.1f}") for q in (50, 90, 99)])
        calibrated = DiagnosticStatus(
            level=DiagnosticStatus.OK if self.pipeline is not None else DiagnosticStatus.WARN,
            name=f"{self.get_name()}: rig", message="calibrated" if self.pipeline is not None else "waiting for "
            "CameraInfo / TF", values=[KeyValue(key="cameras", value=",".join(self.camera_names)),
                                       KeyValue(key="prior", value=self.models.prior_description),
                                       KeyValue(key="body model", value=self.models.body_description)])
        msg.status = [fit, latency, calibrated]
        self.diagnostics_publisher.publish(msg)


main = main_for(ScoreHMRNode)

if __name__ == "__main__":
    main()
