"""The one-command demo: the whole graph on a simulated rig, over real DDS; the scorehmr fitter in its own process.

sim_rig (rendered cameras, CameraInfo, /tf_static, ground truth) -> person_detector +
keypoint_estimator (embedded BlazePose) -> scorehmr (keypoint-only prior, stand-in body unless
SMPL is imported) -> /humans/{detections,keypoints2d,bodies,meshes}, /tf; a recorder writes
every output to an MCAP bag. Afterwards ``demo_report`` writes the overlay video and the summary.

By default the rig plays in real time and a slow machine drops sets (the benchmark measures that). With
``lockstep`` the rig sends frame k+1 only once the fitter has finished frame k, on a virtual clock (frame k
stamped k / fps after the first), and every queue on the way holds what lock-step can have in flight: the same
sets, stamps and bodies on any machine, for tests (latency is then not measured).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from scorehmr_ros.base import cpu_usage
from scorehmr_ros.base.config_fields import check_settings, setting
from scorehmr_ros.base.processes import stop_process_group
from scorehmr_ros.perception.backends.config import BLAZEPOSE_LANDMARK_MODELS, KeypointConfig
from scorehmr_ros.ros.dds import apply_dds_environment, remove_stale_shm_segments

LOGGER = logging.getLogger(__name__)

#: Topics the demo records (all outputs, the ground truth and the rig calibration).
RECORDED_TOPICS = (
    ("/humans/detections", "scorehmr_ros/msg/MultiViewKeypoints2D"),
    ("/humans/keypoints2d", "scorehmr_ros/msg/MultiViewKeypoints2D"),
    ("/humans/bodies", "scorehmr_ros/msg/SMPLBodyArray"),
    ("/humans/meshes", "visualization_msgs/msg/MarkerArray"),
    ("/tf", "tf2_msgs/msg/TFMessage"),
    ("/tf_static", "tf2_msgs/msg/TFMessage"),
    ("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray"),
    ("/sim/ground_truth", "scorehmr_ros/msg/SMPLBodyArray"),
)


@dataclass(frozen=True)
class DemoConfig:
    """What the demo simulates and where it writes."""

    output_dir: str = setting("out/demo", "folder for the bag, the video and the summary (replaced)")
    cameras: int = setting(4, "cameras on the ring", minimum=1, maximum=8)
    people: int = setting(2, "people walking in the room", minimum=1, maximum=6)
    # Clips that stay near their start: walking people leave the 4 views of the demo rig within a few seconds.
    clips: tuple[str, ...] = setting(("punch", "dance_b"), "DeepMimic clips, one per person in turn")
    frames: int = setting(30, "frames to play", minimum=5, maximum=3000)
    fps: float = setting(5.0, "camera rate; 30 Hz divided by a whole number (5 Hz keeps up on 2 CPU cores)",
                         unit="Hz", minimum=1.0, maximum=30.0)
    seed: int = setting(0, "seed of the scene", minimum=0)
    record_images: bool = setting(False, "also record the camera images in the bag (large)")
    video: bool = setting(True, "render the overlay video and frame (off for benchmarks)")
    timeout_s: float = setting(600.0, "give up after this long", unit="s", minimum=10.0, maximum=86400.0)
    lockstep: bool = setting(False, "send each frame only once the fitter has finished the previous one (virtual "
                                    "clock, no dropped sets): the same results on any machine; no latency figures")
    landmark_model: str = setting("full", "BlazePose landmark model size of the keypoint estimator (lite and heavy: "
                                          "installed by setup)", choices=BLAZEPOSE_LANDMARK_MODELS)

    def validate(self) -> DemoConfig:
        check_settings(self)
        return self


def _isolated_dds_environment() -> None:
    """Large images over Fast DDS, loopback discovery, a domain of our own unless one is set; shared-memory
    segments of dead processes removed."""
    apply_dds_environment()
    remove_stale_shm_segments()
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 200))


def demo_room_radius_m(people: int) -> float:
    """Radius of the circle the demo's people stand around: 0.6 m for up to two, then 0.3 m per person (the
    clips move the people by up to ~0.3 m; with 45-degree cameras 3.5 m out, 1.8 m for six stays in view)."""
    return 0.6 if people <= 2 else 0.3 * people


def run_demo(config: DemoConfig) -> dict:
    """Run the graph until the rig has played every frame and the outputs have drained; return the report.
    Raises PerceptionError (a RuntimeError) before anything starts when the landmark model is not installed."""
    config.validate()
    from scorehmr_ros.perception.backends.blazepose import landmark_model_path

    landmark_model_path(KeypointConfig(landmark_model=config.landmark_model))
    _isolated_dds_environment()
    import shutil

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from scorehmr_ros.ros.common import freeze_startup_objects
    from scorehmr_ros.ros.nodes.bag_recorder_node import BagRecorderNode
    from scorehmr_ros.ros.nodes.keypoint_estimator_node import KeypointEstimatorNode, attach_estimator
    from scorehmr_ros.ros.nodes.person_detector_node import PersonDetectorNode
    from scorehmr_ros.ros.testbed.demo_report import FITTER_RIG_STATUS, Collector, FitterReport, write_report
    from scorehmr_ros.ros.testbed.sim_rig_node import SimRigNode
    from scorehmr_ros.sim.live_rig import SimRigConfig

    output = Path(config.output_dir)
    if output.exists():
        shutil.rmtree(output)
    output.mkdir(parents=True)
    topics = list(RECORDED_TOPICS)
    rclpy.init()
    nodes, fitter = [], None
    try:
        rig = SimRigNode(config=SimRigConfig(
            rig=f"demo{config.cameras}", num_people=config.people, clips=config.clips, num_frames=config.frames,
            fps=config.fps, seed=config.seed, loop=False, start_delay_s=3.0,
            room_radius_m=demo_room_radius_m(config.people), lockstep=config.lockstep,
            lockstep_topic="/humans/bodies", lockstep_keypoints_topic="/humans/keypoints2d"))
        cameras = [camera.name for camera in rig.cameras]
        if config.record_images:
            topics += [(f"/{c}/image_raw", "sensor_msgs/msg/Image") for c in cameras]
        topics += [(f"/{c}/camera_info", "sensor_msgs/msg/CameraInfo") for c in cameras]
        camera_list = Parameter("cameras", value=cameras)
        remap = ["--ros-args", "-r", "detections:=/humans/detections", "-r", "keypoints2d:=/humans/keypoints2d",
                 "-r", "bodies:=/humans/bodies", "-r", "meshes:=/humans/meshes", "-r", "skeletons:=/humans/skeletons"]
        # The detector and landmark runtimes keep their default threads (2): with the fitter at ~65 ms per set they
        # no longer compete for long, and two threads cut the landmarks' share of the latency.
        perception = [Parameter("image_reliability", value="reliable"), Parameter("sync.min_cameras", value=2)]
        fitter_args = []
        if config.lockstep:  # queues never drop; the rig may pause for long: cameras never count as stale
            perception += [Parameter("processing_queue", value=LOCKSTEP_QUEUE),
                           Parameter("sync.deadline_s", value=LOCKSTEP_SYNC_DEADLINE_S),
                           Parameter("sync.stale_s", value=LOCKSTEP_SYNC_STALE_S)]
            fitter_args = ["-p", f"processing_queue:={LOCKSTEP_QUEUE}"]
        detector = PersonDetectorNode(parameter_overrides=[camera_list, *perception], cli_args=remap)
        estimator = KeypointEstimatorNode(attached=True, parameter_overrides=[
            camera_list, *perception, Parameter("keypoints.landmark_model", value=config.landmark_model)],
            cli_args=remap)
        attach_estimator(detector, estimator)
        # The fitter in a process of its own, as the launch graph runs it: in this one it would share the Python
        # interpreter (the GIL) with the detector, the recorder and the rig.
        fitter = NodeProcess.start("scorehmr_ros.ros.nodes.scorehmr_node", [
            *remap, "-p", f"cameras:=[{','.join(cameras)}]", "-p", f"diagnostics_period_s:={FITTER_DIAGNOSTICS_S}",
            *fitter_args], log_path=output / "scorehmr_node.log")
        from scorehmr_ros.ros.recording import TopicSpec

        specs = [TopicSpec(topic, msg_type, "static" if topic == "/tf_static" else "reliable")
                 for topic, msg_type in topics]
        recorder = BagRecorderNode(path=str(output / "bag"), topics=specs)
        collector = Collector()
        nodes = [rig, detector, estimator, recorder, collector]
        freeze_startup_objects()
        executor = SingleThreadedExecutor()
        executor.add_node(collector)
        ready_by = time.monotonic() + FITTER_START_TIMEOUT_S
        while FITTER_RIG_STATUS not in collector.diagnostics:  # the rig waits (not spun) until the fitter is up
            fitter.check_running()
            if time.monotonic() > ready_by:
                raise RuntimeError(f"the scorehmr node did not come up in {FITTER_START_TIMEOUT_S:.0f} s; its log: "
                                   f"{fitter.log_path}\n{fitter.log_tail()}")
            executor.spin_once(timeout_sec=0.1)
        for node in nodes[:-1]:
            executor.add_node(node)
        start = time.monotonic()
        LOGGER.info("rendering %d frames x %d cameras, then playing them at %g Hz", config.frames, config.cameras,
                    config.fps)
        drained_at = None
        processes = {"graph_process": os.getpid(), "scorehmr_node": fitter.process.pid}
        playback_cpu: list[cpu_usage.CpuSample] = []  # at the first frame published and after the last
        while time.monotonic() - start < config.timeout_s:
            executor.spin_once(timeout_sec=0.05)
            if not playback_cpu and rig.frames_published:
                playback_cpu.append(cpu_usage.sample(processes.values()))
            if rig.finished.is_set():
                if drained_at is None and playback_cpu:
                    playback_cpu.append(cpu_usage.sample(processes.values()))
                drained_at = drained_at or time.monotonic()
                if config.lockstep:  # the fitter is done with every set; wait for its report of them
                    reported = FitterReport.from_diagnostics(collector.diagnostics).processed
                    waited_s = time.monotonic() - drained_at
                    # (a set the fitter refused before its queue, e.g. before calibration, is never reported)
                    if waited_s > 2 * FITTER_DIAGNOSTICS_S and (reported >= len(collector.keypoint_sets)
                                                                or waited_s > 10.0):
                        break
                elif time.monotonic() - drained_at > 4.0 + FITTER_DIAGNOSTICS_S:  # fixed lag, queues, last report
                    break
        else:
            LOGGER.warning("timed out after %.0f s; reporting what arrived", config.timeout_s)
        collector.wall_duration_s = (time.monotonic() - drained_at) if drained_at else 0.0
        report = write_report(output, collector=collector, rig=rig, detector=detector, config=config,
                              fitter=FitterReport.from_diagnostics(collector.diagnostics),
                              cpu=playback_cpu_use(playback_cpu, processes))
    finally:
        if fitter is not None:
            fitter.stop()
        for node in reversed(nodes):
            node.destroy_node()
        rclpy.try_shutdown()
    return report


def playback_cpu_use(samples: list[cpu_usage.CpuSample], processes: dict[str, int]) -> dict | None:
    """CPU use while the rig played (first frame published -> last): each process in percent of one core, the
    machine in percent of all its cores; None when playback never started or never ended."""
    if len(samples) != 2:
        return None
    use = cpu_usage.cpu_use_percent(*samples)
    return {**{f"{name}_percent": use["processes"][pid] for name, pid in processes.items()},
            "machine_busy_percent": use["machine_busy_percent"], "cores": use["cores"],
            "playback_s": use["wall_s"]}


#: How long the fitter process may take to load its models and warm up, seconds.
FITTER_START_TIMEOUT_S = 120.0
#: The fitter's diagnostics period in the demo (its statistics reach the summary through them), seconds.
FITTER_DIAGNOSTICS_S = 0.5
#: Lock-step: queue capacity of the detector and the fitter (at most streaming.lag + 1 sets are ever in flight).
LOCKSTEP_QUEUE = 100
#: Lock-step: the synchronizer waits this long for a frame's missing cameras (they come at once), seconds.
LOCKSTEP_SYNC_DEADLINE_S = 5.0
#: Lock-step: the rig pauses while the graph works; no camera counts as stopped within this, seconds.
LOCKSTEP_SYNC_STALE_S = 3600.0


@dataclass
class NodeProcess:
    """One of our nodes in a subprocess (same environment: domain and DDS settings), its output in a log file."""

    process: subprocess.Popen
    log_path: Path

    @classmethod
    def start(cls, module: str, ros_args: list[str], *, log_path: Path) -> NodeProcess:
        with open(log_path, "wb") as log:
            process = subprocess.Popen([sys.executable, "-m", module, *ros_args], stdout=log,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        return cls(process=process, log_path=log_path)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def check_running(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.process.args[2]} exited with {self.process.returncode}; its log "
                               f"({self.log_path}):\n{self.log_tail()}")

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ctrl-C (SIGINT to its process group), then SIGKILL if it does not exit in time."""
        stop_process_group(self.process, timeout_s=timeout_s)
