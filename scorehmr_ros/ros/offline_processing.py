"""The graph's processing on a recorded bag, without a ROS graph: camera topics in, the outputs in a new bag.

The same steps as the nodes, in bag time: per-camera images (``sensor_msgs/Image`` or
``CompressedImage``) -> the N-way synchronizer (arrival clock = the bag's receive timestamps)
-> ``PerceptionFront`` (detector + keypoints) -> ``BodyPipeline`` (association, tracking,
streaming fitting) -> ``/humans/{detections,keypoints2d,bodies,meshes}`` and ``/tf`` (REP-155
body and joint frames), plus ``/tf_static`` with the camera poses used, so the output opens in
RViz or Foxglove on its own.

Cameras are found by topic: every ``<prefix>/image_raw`` (Image) or ``<prefix>/image_raw/compressed``
(CompressedImage), with CameraInfo on ``<prefix>/camera_info``; the camera's name is the prefix
without its leading slash, ``/`` replaced by ``_`` (``/cam0/image_raw`` -> ``cam0``). Calibration
comes from a rig YAML, or from the bag: the first valid CameraInfo of each camera and the
``/tf_static`` and ``/tf`` transforms (world frame -> the CameraInfo's optical frame). Cameras on a moving
base (a chain with ``/tf`` edges, e.g. ``map -> base_link`` on ``/tf``, ``base_link -> <cam>_optical_frame``
on ``/tf_static``) are posed at each image's stamp, interpolated in the bag's ``/tf`` history (read first), and
the output then carries the input's transform chain (its ``/tf_static`` and ``/tf``) instead of fixed poses.

A bad message (undecodable image, an image whose size disagrees with the calibration, a set the
pipeline rejects) is counted by kind and skipped; the run never stops for one.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scorehmr_ros.base.config_fields import check_settings, setting
from scorehmr_ros.body.mesh_decimation import MeshDecimationConfig
from scorehmr_ros.geometry.rigs import Rig

LOGGER = logging.getLogger(__name__)
IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
TF_STATIC = "/tf_static"
TF = "/tf"


class ProcessError(ValueError):
    """The bag cannot be processed at all (no cameras, no calibration); the message says what is missing."""


@dataclass(frozen=True)
class ProcessConfig:
    """What ``scorehmr-ros process`` reads and writes."""

    rig_file: str = setting("", "rig YAML with the cameras' intrinsics and poses; empty: CameraInfo + /tf_static "
                                "of the bag. Its perception and fitting sections apply as in the launch")
    params_file: tuple[str, ...] = setting((), "the nodes' parameter YAML files (ros__parameters of scorehmr, "
                                               "person_detector, keypoint_estimator), applied after the rig file's "
                                               "sections; an option given a non-default value wins over both")
    world_frame: str = setting(Rig.world_frame,
                               "world frame of the camera poses on /tf_static and /tf (ignored with a rig file)")
    cameras: tuple[str, ...] = setting((), "cameras to use (names as found in the bag); empty: all")
    output_namespace: str = setting("/humans", "namespace of the output topics")
    storage: str = setting("mcap", "storage of the output bag", choices=("mcap", "sqlite3"))
    min_cameras: int = setting(2, "fewest cameras a synchronized set may have", minimum=1, maximum=64)
    slop_s: float = setting(0.02, "largest stamp difference within one set", unit="s", minimum=0.0, maximum=10.0)
    deadline_s: float = setting(0.1, "bag time to wait for the missing cameras of a set", unit="s", minimum=0.001,
                                maximum=60.0)
    max_sets: int = setting(0, "stop after this many synchronized sets (0: the whole bag)", minimum=0)
    prior_path: str = setting("", "diffusion prior checkpoint; empty: the bundled keypoint-only prior")
    body_model_path: str = setting("", "body model .npz; empty: the imported SMPL, else the STAND-IN")
    mesh_rate_hz: float = setting(5.0, "largest mesh rate in bag time", unit="Hz", minimum=0.1, maximum=100.0)
    mesh_decimation_m: float = setting(MeshDecimationConfig.cell_m, "mesh vertex clustering cell; 0 = full mesh",
                                       unit="m", minimum=0.0, maximum=0.5)
    joint_frames: bool = setting(True, "write <joint>_<id> TF frames (else only body_<id>)")
    progress: bool = setting(True, "show a progress bar")

    def validate(self) -> ProcessConfig:
        check_settings(self)
        if not self.world_frame:
            raise ValueError("world_frame: must not be empty")
        if self.output_namespace and not self.output_namespace.startswith("/"):
            raise ValueError(f"output_namespace: must be absolute (e.g. /humans), got {self.output_namespace!r}")
        return self


@dataclass(frozen=True)
class CameraTopics:
    """One camera's topics in the input bag."""

    name: str
    image_topic: str
    compressed: bool
    info_topic: str | None


@dataclass(frozen=True)
class ProcessSummary:
    """What a run read, wrote and how fast (wall clock)."""

    output: str
    cameras: tuple[str, ...]
    images: int
    sets: int
    sets_partial: int
    bodies: int
    tracks: tuple[int, ...]
    wall_s: float
    bad: dict[str, int] = field(default_factory=dict)
    stage_s: dict[str, float] = field(default_factory=dict)

    @property
    def sets_per_s(self) -> float:
        return self.sets / self.wall_s if self.wall_s > 0 else 0.0

    def line(self) -> str:
        """One line for the log."""
        bad = ", ".join(f"{kind} {count}" for kind, count in sorted(self.bad.items())) or "none"
        stages = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in self.stage_s.items())
        return (f"{self.images} images from {len(self.cameras)} cameras -> {self.sets} sets ({self.sets_partial} "
                f"partial) -> {self.bodies} bodies of {len(self.tracks)} tracks {list(self.tracks)} in "
                f"{self.wall_s:.1f} s ({self.sets_per_s:.2f} sets/s; {stages}); bad messages: {bad}; "
                f"written to {self.output}")


# -- inputs ---------------------------------------------------------------------------------
def find_cameras(topics: dict[str, str], *, wanted: tuple[str, ...] = ()) -> list[CameraTopics]:
    """Cameras of a bag from its topic -> type map (module docstring), sorted by name; ``wanted`` selects."""
    found = {}
    for topic, msg_type in topics.items():
        if topic.endswith("/image_raw") and msg_type == IMAGE_TYPE:
            prefix, compressed = topic[: -len("/image_raw")], False
        elif topic.endswith("/image_raw/compressed") and msg_type == COMPRESSED_TYPE:
            prefix, compressed = topic[: -len("/image_raw/compressed")], True
        else:
            continue
        name = prefix.strip("/").replace("/", "_")
        if not name or (name in found and not found[name].compressed):
            continue  # raw images win over their compressed copies
        info = f"{prefix}/camera_info"
        found[name] = CameraTopics(name=name, image_topic=topic, compressed=compressed,
                                   info_topic=info if topics.get(info) == CAMERA_INFO_TYPE else None)
    if wanted:
        missing = [name for name in wanted if name not in found]
        if missing:
            raise ProcessError(f"cameras {missing} are not in the bag (found: {sorted(found)})")
        return [found[name] for name in wanted]
    return [found[name] for name in sorted(found)]


def decode_bgr(msg) -> np.ndarray:
    """sensor_msgs Image or CompressedImage -> (H, W, 3) uint8 BGR (the nodes' decoder)."""
    from scorehmr_ros.ros.image_conversions import message_to_bgr

    return message_to_bgr(msg)


@dataclass(frozen=True)
class BagTransforms:
    """Every transform of a bag: ``tree`` holds /tf_static and the whole /tf history (its cache spans the bag);
    ``static`` the /tf_static messages and ``dynamic`` the (receive time ns, message) of /tf, to copy them out."""

    tree: object  # core.frame_tree.FrameTree
    static: tuple = ()
    dynamic: tuple = ()


def bag_transforms(path: Path) -> BagTransforms:
    """Read /tf_static and /tf of the bag (all of it: a set's camera poses may need /tf recorded after its images);
    bad transforms are skipped with a warning."""
    from scorehmr_ros.geometry.frame_tree import FrameTree
    from scorehmr_ros.ros.body_outputs import is_body_frame
    from scorehmr_ros.ros.geometry_conversions import MessageConversionError, stamp_to_ns, transform_to_matrix
    from scorehmr_ros.ros.recording import bag_topics, read_bag

    topics = [topic for topic in (TF_STATIC, TF) if topic in bag_topics(path)]
    messages = list(read_bag(path, topics=topics)) if topics else []
    stamps = [stamp_to_ns(t.header.stamp) for m in messages if m.topic == TF for t in m.message.transforms]
    span_s = (max(stamps) - min(stamps)) * 1e-9 if stamps else 0.0
    tree = FrameTree(cache_duration_s=span_s + 1.0)  # offline: nothing ages out before the bag ends
    for message in messages:
        for transform in message.message.transforms:
            if is_body_frame(transform.child_frame_id):  # bodies a scorehmr node published into the recording
                continue
            try:
                tree.set_transform(parent=transform.header.frame_id, child=transform.child_frame_id,
                                   T_parent_child=transform_to_matrix(transform),
                                   stamp_ns=stamp_to_ns(transform.header.stamp), static=message.topic == TF_STATIC)
            except (MessageConversionError, ValueError) as error:
                LOGGER.warning("bad transform on %s ignored: %s", message.topic, error)
    return BagTransforms(tree=tree, static=tuple(m.message for m in messages if m.topic == TF_STATIC),
                         dynamic=tuple((m.timestamp_ns, m.message) for m in messages if m.topic == TF))


def bag_calibration(path: Path, cameras: list[CameraTopics], *, world_frame: str,
                    transforms: BagTransforms | None = None):
    """Cameras (core ``Camera``, in ``cameras`` order) from the bag's CameraInfo and TF (``transforms``: the bag's,
    read here when not given); a moving camera gets its newest pose (each set is posed at its own stamps)."""
    from scorehmr_ros.geometry.frame_tree import FrameLookupError
    from scorehmr_ros.ros.geometry_conversions import MessageConversionError, camera_info_to_camera
    from scorehmr_ros.ros.recording import read_bag

    without_info = [c.name for c in cameras if c.info_topic is None]
    if without_info:
        raise ProcessError(f"cameras {without_info} have no <camera>/camera_info in the bag; give --rig")
    tree = (transforms or bag_transforms(path)).tree
    infos = {}
    by_info_topic = {c.info_topic: c.name for c in cameras}
    for message in read_bag(path, topics=[c.info_topic for c in cameras]):
        infos.setdefault(by_info_topic[message.topic], message.message)
    result, problems = [], []
    for camera in cameras:
        info = infos.get(camera.name)
        if info is None:
            problems.append(f"{camera.name}: no CameraInfo message")
            continue
        frame = info.header.frame_id or f"{camera.name}_optical_frame"
        try:
            T_cam_world = tree.lookup(frame, world_frame)
            result.append(camera_info_to_camera(info, name=camera.name, T_cam_world=T_cam_world))
        except FrameLookupError as error:
            problems.append(f"{camera.name}: no pose {world_frame} -> {frame} on /tf_static or /tf ({error})")
        except MessageConversionError as error:
            problems.append(str(error))
    if problems:
        raise ProcessError("cannot calibrate the rig from the bag: " + "; ".join(problems) + " (or give --rig)")
    return tuple(result)


def _message_count(path: Path, topics: list[str]) -> int:
    from rosbags.rosbag2 import Reader

    with Reader(path) as reader:
        return sum(c.msgcount for c in reader.connections if c.topic in topics)


# -- the run --------------------------------------------------------------------------------
class _Outputs:
    """Writes the outputs of one rig to the bag (as the scorehmr node publishes them)."""

    def __init__(self, writer, *, config: ProcessConfig, models, pipeline, world_frame: str) -> None:
        self.writer, self.config, self.models, self.pipeline = writer, config, models, pipeline
        self.world_frame = world_frame
        self.last_mesh_ns: int | None = None
        self.bodies = 0
        self.tracks: set[int] = set()
        namespace = config.output_namespace
        self.topic = {name: f"{namespace}/{name}" for name in ("detections", "keypoints2d", "bodies", "meshes")}

    def observations(self, detections, keypoints, *, now_ns: int) -> None:
        from scorehmr_ros.ros.keypoint_conversions import observation_to_msg

        self.writer.write_message(self.topic["detections"], observation_to_msg(detections), timestamp_ns=now_ns)
        self.writer.write_message(self.topic["keypoints2d"], observation_to_msg(keypoints), timestamp_ns=now_ns)

    def bodies_out(self, fitted, *, now_ns: int) -> None:
        """One released set (``pipeline.FittedSet``): one bodies message with the set's stamp (also when empty),
        its TF, and meshes at ``mesh_rate_hz`` of set-stamp time plus a DELETE for each TERMINATED body."""
        from tf2_msgs.msg import TFMessage

        from scorehmr_ros.body.body_state import TrackingState
        from scorehmr_ros.msg import SMPLBodyArray
        from scorehmr_ros.ros.body_outputs import body_transforms, mesh_markers_cdr
        from scorehmr_ros.ros.geometry_conversions import body_to_msg, ns_to_stamp

        frame, bodies, stamp_ns = self.world_frame, list(fitted.bodies), fitted.stamp_ns
        msg = SMPLBodyArray(bodies=[body_to_msg(body) for body in bodies])
        msg.header.stamp = ns_to_stamp(stamp_ns)
        msg.header.frame_id = frame
        self.writer.write_message(self.topic["bodies"], msg, timestamp_ns=now_ns)
        self.bodies += len(bodies)
        self.tracks |= {b.track_id for b in bodies}
        transforms = body_transforms(bodies, frame_id=frame, joint_frames=self.config.joint_frames)
        if transforms:
            self.writer.write_message("/tf", TFMessage(transforms=transforms), timestamp_ns=now_ns)
        ended = [b for b in bodies if b.tracking_state == TrackingState.TERMINATED]
        period_ns = 1e9 / self.config.mesh_rate_hz
        # due after a period of set stamps, or when the stamps went back (a new time line)
        due = self.last_mesh_ns is None or not 0 <= stamp_ns - self.last_mesh_ns < period_ns
        due = due and len(ended) < len(bodies)
        if ended or due:
            self.last_mesh_ns = stamp_ns if due else self.last_mesh_ns
            shown = bodies if due else ended
            live = [b for b in shown if b.tracking_state != TrackingState.TERMINATED]
            vertex_of = {id(b): v for b, v in zip(live, self.pipeline.vertices(live, self.models.body_model),
                                                  strict=True)}
            markers = mesh_markers_cdr(shown, [vertex_of.get(id(b)) for b in shown], mesh=self.models.mesh,
                                       frame_id=frame)
            self.writer.write(self.topic["meshes"], markers, timestamp_ns=now_ns)


def _output_topics(config: ProcessConfig):
    from scorehmr_ros.ros.recording import TopicSpec

    namespace = config.output_namespace
    return [TopicSpec(f"{namespace}/detections", "scorehmr_ros/msg/MultiViewKeypoints2D"),
            TopicSpec(f"{namespace}/keypoints2d", "scorehmr_ros/msg/MultiViewKeypoints2D"),
            TopicSpec(f"{namespace}/bodies", "scorehmr_ros/msg/SMPLBodyArray"),
            TopicSpec(f"{namespace}/meshes", "visualization_msgs/msg/MarkerArray"),
            TopicSpec("/tf", "tf2_msgs/msg/TFMessage"),
            TopicSpec(TF_STATIC, "tf2_msgs/msg/TFMessage", "static")]


def process_bag(input_path: str | Path, output_path: str | Path, *, config: ProcessConfig, detector=None,
                estimator=None) -> ProcessSummary:
    """Run perception and fitting over every synchronized camera set of ``input_path``; write ``output_path``.

    Args:
        detector, estimator: perception backends (default: the embedded BlazePose ones).
    Raises:
        ProcessError: no cameras, no calibration, or the output exists.
        BagError: the input cannot be read (a corrupt chunk is skipped with a warning and counted as bad).
        ParameterFileError: the rig file's sections or a params file hold a bad or unknown setting.
    """
    from tqdm import tqdm

    from scorehmr_ros.geometry.frame_tree import FrameLookupError, poses_at
    from scorehmr_ros.geometry.rigs import Rig
    from scorehmr_ros.perception.backends.factory import build_detector, build_keypoint_estimator
    from scorehmr_ros.perception.backends.types import PerceptionError
    from scorehmr_ros.perception.front import CameraFrame, PerceptionFront
    from scorehmr_ros.perception.synchronizer import NWaySynchronizer
    from scorehmr_ros.pipeline.body_pipeline import (
        DuplicateSetError,
        PipelineInputError,
        load_fitting_models,
        rig_cameras,
    )
    from scorehmr_ros.pipeline.tracking import AUTOMATIC_FIRST_TRACK_ID
    from scorehmr_ros.ros.geometry_conversions import stamp_to_ns
    from scorehmr_ros.ros.image_conversions import ImageConversionError
    from scorehmr_ros.ros.nodes.rig_tf_node import rig_static_transforms
    from scorehmr_ros.ros.process_settings import resolve_process_settings
    from scorehmr_ros.ros.recording import BagWriter, bag_topics, read_bag

    config, settings = resolve_process_settings(config.validate())
    input_path, output_path = Path(input_path), Path(output_path)
    if output_path.exists():
        raise ProcessError(f"output {output_path} exists; choose a new folder")
    cameras_found = find_cameras(bag_topics(input_path), wanted=config.cameras)
    if not cameras_found:
        raise ProcessError(f"no camera topics in {input_path} (<prefix>/image_raw as Image, or "
                           "<prefix>/image_raw/compressed as CompressedImage)")
    world_frame = config.world_frame
    transforms = None  # the bag's TF when the calibration comes from the bag
    if config.rig_file:
        from scorehmr_ros.geometry.rig_io import load_rig

        cameras = rig_cameras(config.rig_file, [c.name for c in cameras_found])
        world_frame = load_rig(config.rig_file).world_frame
    else:
        transforms = bag_transforms(input_path)
        cameras = bag_calibration(input_path, cameras_found, world_frame=world_frame, transforms=transforms)
    camera_frames = {camera.name: camera.frame_id for camera in cameras}
    moving = transforms is not None and not all(transforms.tree.is_static(frame, world_frame)
                                                for frame in camera_frames.values())
    names = tuple(camera.name for camera in cameras)
    synchronizer = NWaySynchronizer(settings.sync_config(names, min_cameras=config.min_cameras,
                                                         slop_s=config.slop_s, deadline_s=config.deadline_s))
    front = PerceptionFront(detector=detector or build_detector(settings.detector),
                            estimator=estimator or build_keypoint_estimator(settings.keypoints),
                            config=dataclasses.replace(settings.front, world_frame=world_frame))
    models = load_fitting_models(prior_path=config.prior_path, body_model_path=config.body_model_path,
                                 mesh_decimation_m=config.mesh_decimation_m, pare_checkpoint=settings.pare_checkpoint,
                                 pare_feature_stats=settings.pare_feature_stats, accel=settings.accel,
                                 logger=LOGGER)
    tracking = settings.tracking
    if tracking.first_track_id == AUTOMATIC_FIRST_TRACK_ID:
        # ids from the wall clock keep a restarted live node from reusing ids; a recording has no previous run to
        # collide with, and the same bag processed twice should give the same output: its tracks count from 0
        tracking = dataclasses.replace(tracking, first_track_id=0)
    pipeline = models.make_pipeline(cameras, association=settings.association, tracker=tracking,
                                    streaming=settings.streaming)
    if settings.applied:
        LOGGER.info("settings from %s: %s", ", ".join(settings.sources), "; ".join(settings.applied))
    if settings.unused:
        LOGGER.info("parameters only a live node uses, ignored: %s", ", ".join(settings.unused))
    LOGGER.info("cameras %s; keypoints %s; prior %s; body model %s", list(names),
                "given" if estimator is not None else settings.keypoints.description, models.prior_description,
                models.body_description)
    # torch's one-off costs (first autograd pass, the optimiser's lazy imports: seconds) are paid here, as the node
    # pays them while configuring, not by the first person's set
    LOGGER.info("warmed up the fitter in %.1f s", pipeline.warm_up())

    by_topic = {c.image_topic: c.name for c in cameras_found}
    size_of = {camera.name: (camera.width_px, camera.height_px) for camera in cameras}
    bad: Counter[str] = Counter()
    stage_s = {"decode": 0.0, "perception": 0.0, "fitting": 0.0}
    images = sets = partial = 0
    start = time.perf_counter()
    with BagWriter(output_path, topics=_output_topics(config), storage=config.storage) as writer:
        outputs = _Outputs(writer, config=config, models=models, pipeline=pipeline, world_frame=world_frame)
        first_write = True

        def run_set(synced, now_ns: int) -> None:
            nonlocal sets, partial
            sets += 1
            partial += bool(synced.missing)
            try:  # cameras on a moving base: each posed at its image's stamp (None: fixed poses)
                stamps = {frame.camera: frame.stamp_ns for frame in synced.payloads.values()}
                camera_poses = None if not moving else poses_at(
                    transforms.tree, frames=camera_frames, target=world_frame,
                    stamps_ns={name: stamps.get(name, synced.stamp_ns) for name in camera_frames})
            except FrameLookupError as error:
                bad["no_camera_pose"] += 1
                LOGGER.warning("set at %d skipped: %s", synced.stamp_ns, error)
                return
            tick = time.perf_counter()
            try:
                result = front.process(synced.stamp_ns, list(synced.payloads.values()), missing=synced.missing)
            except (PerceptionError, ValueError, RuntimeError) as error:
                bad[f"perception:{type(error).__name__}"] += 1
                LOGGER.debug("perception failed on the set at %d: %s", synced.stamp_ns, error)
                return
            stage_s["perception"] += time.perf_counter() - tick
            outputs.observations(result.detections, result.keypoints, now_ns=now_ns)
            tick = time.perf_counter()
            try:
                images = {frame.camera: frame.image_bgr for frame in synced.payloads.values()}
                fitted = pipeline.process(result.keypoints, images if pipeline.needs_images else None,
                                          camera_poses=camera_poses)
            except DuplicateSetError as error:  # a second set with the previous stamp: its bodies are out already
                bad["duplicate_set"] += 1
                LOGGER.debug("set at %d skipped: %s", synced.stamp_ns, error)
                return
            except PipelineInputError as error:
                bad["set_rejected"] += 1
                LOGGER.warning("set at %d rejected: %s", synced.stamp_ns, error)
                return
            stage_s["fitting"] += time.perf_counter() - tick
            for released in fitted.sets:  # one message per input set, after the fixed lag
                outputs.bodies_out(released, now_ns=now_ns)

        image_topics = list(by_topic)
        now_ns = 0
        progress = tqdm(total=_message_count(input_path, image_topics), unit="img", disable=not config.progress,
                        desc="process", dynamic_ncols=True)
        input_tf = deque(transforms.dynamic if moving else ())  # a moving rig: the input's chain, copied in order
        for message in read_bag(input_path, topics=image_topics,
                                on_skipped_chunk=lambda _: bad.update(corrupt_chunk=1)):
            progress.update(1)
            now_ns = message.timestamp_ns
            if first_write:  # the camera poses first, so the output stands on its own
                static = list(transforms.static) if moving else [rig_static_transforms(
                    Rig(name="processed", cameras=cameras, world_frame=world_frame), stamp_ns=now_ns)]
                for tf_static in static:
                    writer.write_message(TF_STATIC, tf_static, timestamp_ns=now_ns)
                first_write = False
            while input_tf and input_tf[0][0] <= now_ns:
                writer.write_message(TF, input_tf.popleft()[1], timestamp_ns=now_ns)
            camera = by_topic[message.topic]
            images += 1
            tick = time.perf_counter()
            try:
                image = decode_bgr(message.message)
            except ImageConversionError as error:
                bad["undecodable_image"] += 1
                LOGGER.debug("%s: %s", message.topic, error)
                continue
            stage_s["decode"] += time.perf_counter() - tick
            if (image.shape[1], image.shape[0]) != size_of[camera]:
                bad["image_size_mismatch"] += 1
                continue
            frame = CameraFrame(camera=camera, frame_id=message.message.header.frame_id or f"{camera}_optical_frame",
                                stamp_ns=stamp_to_ns(message.message.header.stamp), image_bgr=image)
            for synced in synchronizer.add(camera, frame.stamp_ns, frame, now_ns=now_ns):
                run_set(synced, now_ns)
            if config.max_sets and sets >= config.max_sets:
                break
            progress.set_postfix(sets=sets, bodies=outputs.bodies, refresh=False)
        progress.close()
        if not (config.max_sets and sets >= config.max_sets):
            for synced in synchronizer.poll(now_ns=now_ns + 10**12):  # the end of the bag decides the rest
                run_set(synced, now_ns)
        for timestamp_ns, tf_message in input_tf:  # the rest of the input's chain
            writer.write_message(TF, tf_message, timestamp_ns=max(timestamp_ns, now_ns))
        for released in pipeline.flush():  # the sets still in the fixed lag, in stamp order
            outputs.bodies_out(released, now_ns=now_ns)
    stats = synchronizer.stats
    unmatched = sum(s.dropped for s in stats.cameras.values())
    if unmatched:
        bad["images_not_synchronized"] += unmatched
    return ProcessSummary(output=str(output_path), cameras=names, images=images, sets=sets, sets_partial=partial,
                          bodies=outputs.bodies, tracks=tuple(sorted(outputs.tracks)),
                          wall_s=time.perf_counter() - start, bad=dict(bad), stage_s=stage_s)
