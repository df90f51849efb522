"""A simulated camera rig played back live (ROS-free part of ``ros/testbed/sim_rig_node.py``).

What the rig node publishes comes from here:
1. a scene with ground truth, loaded from a file of ``scorehmr-ros sim scene`` or generated from
   :class:`SimRigConfig` (people walking near the room centre of a ring of cameras);
2. every frame of every camera rendered once, before playback (``render_rig_frames``, with a
   progress callback): rendering costs about 0.05-0.12 s per 640x480 view on a CPU core, far too
   slow to render live, so playback only copies finished images;
3. per published frame: the frame index (looping or not, :class:`FrameSchedule`), one stamp per
   camera (equal for all cameras, a perfectly synchronized rig, plus an optional uniform jitter,
   :func:`camera_stamps_ns`), which cameras are dropped (:meth:`SimRigConfig.camera_dropped`), and
   the ground-truth bodies (:func:`ground_truth_bodies`).

Stamps come from the node clock when the frame is published (wall time, or /clock under
``use_sim_time``), so camera stamp -> output publish time is the true end-to-end latency.

Lock-step (``lockstep``, for tests and reproducible runs): frame k+1 goes out only once the graph has finished
frame k (:class:`LockstepGate`), and frame stamps are k / fps after the first one on a virtual clock, so every
run gives the same sets, stamps and results however fast the machine is (latency then means nothing).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields, replace

import numpy as np

from scorehmr_ros.base.config_fields import check_settings, setting
from scorehmr_ros.body.body_state import BodyEstimate, TrackingState
from scorehmr_ros.geometry.camera import Camera
from scorehmr_ros.geometry.rigs import Rig, ring_rig
from scorehmr_ros.pipeline.streaming import StreamingConfig
from scorehmr_ros.sim.render import RenderConfig, render_backdrop, render_frame, resized_camera
from scorehmr_ros.sim.scene import GroundTruth, Scene, SceneConfig, generate_scene
from scorehmr_ros.sim.scene_render import PAINTINGS, scene_meshes

#: Frame rate the motion clips are retargeted at (sim/retarget.RetargetConfig.fps), Hz.
NATIVE_CLIP_FPS = 30.0
#: Encodings the rig publishes.
RIG_ENCODINGS = ("bgr8", "rgb8")
#: ``demo<N>``: N cameras on a 3.5 m ring at 2 m height, 640x480, 45 deg horizontal field of view. People walking
#: within 0.6 m of the centre fill about half of each image, where BlazePose finds them (38 of 40 renders).
DEMO_RING = {"radius_m": 3.5, "height_m": 2.0, "width_px": 640, "height_px": 480, "horizontal_fov_deg": 45.0}


@dataclass(frozen=True)
class SimRigConfig:
    """What the simulated rig shows and how it publishes (every field is a ROS parameter of sim_rig)."""

    rig: str = setting("demo4", "rig: demo<N> (N cameras sized for the embedded detector), ring<N>, stereo, wide3, "
                                "or a rig YAML path; ignored when scene_path is set (the scene holds its cameras)")
    scene_path: str = setting("", "scene npz written by 'scorehmr-ros sim scene'; empty: generate the scene")
    body_model_path: str = setting("", "body model .npz used to pose and render people; empty: the generated "
                                       "STAND-IN body model (not SMPL)")
    num_people: int = setting(2, "people in a generated scene", minimum=1, maximum=6)
    clips: tuple[str, ...] = setting(("walk",), "motion clips of a generated scene, assigned to people in turn")
    num_frames: int = setting(60, "frames of a generated scene", minimum=1, maximum=3000)
    fps: float = setting(15.0, "frame rate of a generated scene and of publishing; must divide the clips' 30 Hz "
                               "(30, 15, 10, 7.5, 6, 5, ...)", unit="Hz", minimum=0.5, maximum=30.0)
    seed: int = setting(0, "seed of the generated scene and of the stamp jitter", minimum=0)
    room_radius_m: float = setting(0.6, "people of a generated scene walk around a circle of this radius",
                                   unit="m", minimum=0.0, maximum=5.0)
    loop: bool = setting(True, "start again at frame 0 after the last frame (else stop publishing)")
    render_scale: float = setting(1.0, "published image size relative to the rig's cameras (same field of view)",
                                  minimum=0.1, maximum=4.0)
    painting: str = setting("clothed", "how people are painted", choices=PAINTINGS)
    encoding: str = setting("bgr8", "encoding of the published images", choices=RIG_ENCODINGS)
    image_reliability: str = setting("reliable", "QoS reliability of images and CameraInfo (keep last 1, volatile); "
                                                 "reliable (image_transport's default) also serves best-effort "
                                                 "subscribers and RViz", choices=("best_effort", "reliable"))
    stamp_jitter_s: float = setting(0.0, "each camera's stamp is offset by a uniform draw in +-this from the "
                                         "frame's stamp (0: perfectly synchronized)", unit="s", minimum=0.0,
                                    maximum=0.1)
    start_delay_s: float = setting(0.0, "wait this long after rendering before the first frame (lets subscribers "
                                        "connect)", unit="s", minimum=0.0, maximum=60.0)
    dropout_camera: str = setting("", "camera that stops publishing for dropout_frames frames (empty: none)")
    dropout_start_frame: int = setting(0, "first published frame (counted over loops) of the dropout", minimum=0)
    dropout_frames: int = setting(0, "frames the dropout lasts", minimum=0)
    lockstep: bool = setting(False, "publish frame k+1 only once the graph has finished frame k (the keypoints of "
                                    "frame k arrived on lockstep_keypoints_topic and the fitter's bodies array of "
                                    "frame k - lockstep_lag on lockstep_topic), frames stamped k / fps apart on a "
                                    "virtual clock: the same run on any machine (needs reliable QoS and fitter "
                                    "queues that hold lockstep_lag + 1 sets)")
    lockstep_topic: str = setting("bodies", "the fitter's per-set SMPLBodyArray output the lock-step waits for "
                                            "(empty: no fitter, only the keypoints)")
    lockstep_keypoints_topic: str = setting("keypoints2d", "the perception front's per-set MultiViewKeypoints2D the "
                                            "lock-step waits for (empty: only the fitter's output)")
    lockstep_lag: int = setting(StreamingConfig().lag, "sets the fitter holds back before releasing a set (its "
                                "streaming.lag)", unit="frames", minimum=0, maximum=255)
    lockstep_timeout_s: float = setting(60.0, "longest wait for the graph in lock-step; then a warning and the next "
                                              "frame", unit="s", minimum=0.1, maximum=3600.0)

    def validate(self) -> SimRigConfig:
        check_settings(self)
        if not self.clips:
            raise ValueError("clips: needs at least one clip name")
        clip_stride(self.fps)
        if not self.scene_path:
            resolve_rig(self.rig)  # names the problem early
        if self.lockstep and not (self.lockstep_topic or self.lockstep_keypoints_topic):
            raise ValueError("lockstep_topic, lockstep_keypoints_topic: lock-step needs an output to wait for")
        return self

    def camera_dropped(self, camera: str, published_frame: int) -> bool:
        """True when ``camera`` publishes nothing in the ``published_frame``-th frame (0-based, over loops)."""
        return (camera == self.dropout_camera
                and self.dropout_start_frame <= published_frame < self.dropout_start_frame + self.dropout_frames)


def clip_stride(fps: float) -> int:
    """Scene frames at :data:`NATIVE_CLIP_FPS` per published frame at ``fps``; ValueError unless it is an integer.

    (Scenes are generated at the clips' own rate and subsampled: ``generate_scene`` at a lower rate
    currently runs out of clip frames.)"""
    ratio = NATIVE_CLIP_FPS / fps
    stride = int(round(ratio))
    if stride < 1 or abs(ratio - stride) > 1e-6:
        raise ValueError(f"fps: must be {NATIVE_CLIP_FPS:g} Hz divided by a whole number (30, 15, 10, 7.5, 6, 5, ...), "
                         f"got {fps}")
    return stride


def resolve_rig(spec: str) -> Rig:
    """``demo<N>`` (:data:`DEMO_RING`), any name of ``sim.rigs.make_rig``, or a rig YAML path (*.yaml, *.yml)."""
    from scorehmr_ros.geometry.rig_io import load_rig
    from scorehmr_ros.geometry.rigs import make_rig

    if spec.endswith((".yaml", ".yml")):
        return load_rig(spec)
    match = re.fullmatch(r"demo(\d+)", spec)
    if match:
        return replace(ring_rig(num_cameras=int(match.group(1)), **DEMO_RING), name=spec)
    return make_rig(spec)


def subsample_scene(scene: Scene, *, stride: int) -> Scene:
    """Every ``stride``-th frame of a scene (ground truth and observations), at fps / stride."""
    if stride == 1:
        return scene
    truth = scene.ground_truth
    per_frame = {f.name: getattr(truth, f.name)[:, ::stride] for f in fields(GroundTruth)
                 if f.name not in ("clip_names", "betas")}
    observations = scene.observations
    sliced = {f.name: getattr(observations, f.name)[::stride] for f in fields(observations)
              if isinstance(getattr(observations, f.name), np.ndarray)}
    return replace(scene, fps=scene.fps / stride, ground_truth=replace(truth, **per_frame),
                   observations=replace(observations, **sliced))


def build_scene(config: SimRigConfig, body_model) -> Scene:
    """The scene of ``config``: loaded from ``scene_path``, or generated on ``config.rig`` with the people,
    clips, frames, rate, seed and room radius of the config."""
    if config.scene_path:
        from scorehmr_ros.sim.scene_io import load_scene

        return load_scene(config.scene_path)
    rig = resolve_rig(config.rig)
    stride = clip_stride(config.fps)
    scene_config = SceneConfig(num_people=config.num_people, clips=config.clips, num_frames=(config.num_frames - 1)
                               * stride + 1, fps=NATIVE_CLIP_FPS, room_radius_m=config.room_radius_m,
                               seed=config.seed)
    scene = generate_scene(config=scene_config, cameras=rig.cameras, body_model=body_model, rig_name=rig.name,
                           world_frame=rig.world_frame)
    return subsample_scene(scene, stride=stride)


def published_cameras(scene: Scene, *, render_scale: float) -> tuple[Camera, ...]:
    """The scene's cameras at the published image size."""
    if render_scale == 1.0:
        return scene.cameras
    return tuple(resized_camera(camera, scale=render_scale) for camera in scene.cameras)


def render_rig_frames(scene: Scene, body_model, *, cameras: tuple[Camera, ...], painting: str, encoding: str,
                      progress: Callable[[int, int], None] | None = None) -> list[list[np.ndarray]]:
    """Every frame of every camera: ``images[t][v]`` (H, W, 3) uint8 in ``encoding`` (bgr8 or rgb8) order.

    ``progress(done, total)`` is called after each rendered frame (all cameras)."""
    if encoding not in RIG_ENCODINGS:
        raise ValueError(f"encoding: must be one of {', '.join(RIG_ENCODINGS)}, got {encoding!r}")
    meshes = scene_meshes(scene, body_model, painting=painting)
    config = RenderConfig()
    backdrops = [render_backdrop(camera, config) for camera in cameras]
    num_frames = meshes.vertices_world_m.shape[1]
    images = []
    for t in range(num_frames):
        views = []
        for camera, backdrop in zip(cameras, backdrops, strict=True):
            rgb = render_frame(camera, vertices_world_m=meshes.vertices_world_m[:, t], faces=meshes.faces,
                               colours_rgb=meshes.colours_rgb, config=config, backdrop=backdrop)
            views.append(np.ascontiguousarray(rgb[..., ::-1]) if encoding == "bgr8" else rgb)
        images.append(views)
        if progress is not None:
            progress(t + 1, num_frames)
    return images


@dataclass(frozen=True)
class FrameSchedule:
    """Which scene frame the k-th published frame shows: k mod T when looping, else k up to T - 1."""

    num_frames: int
    loop: bool

    def frame(self, published: int) -> int | None:
        """Scene frame of the ``published``-th frame (0-based), or None when playback has ended."""
        if self.loop:
            return published % self.num_frames
        return published if published < self.num_frames else None


class LockstepGate:
    """When the next frame may go out in lock-step, from the frames sent and the graph's per-set outputs.

    Each output stream (a topic with one message per set, stamped with it) has a lag: the sets it holds back
    before releasing one (0 for the perception front, ``streaming.lag`` for the fitter), so the graph has finished
    frame k once every stream's output of frame k - lag is out. Frame n may go out when, for every stream, n <= lag
    or an output stamped at or after frame n - 1 - lag (less ``tolerance_ns``, the stamp jitter) has arrived (at or
    after: a set lost on the way costs one timeout, not the run), or ``timeout_s`` after frame n - 1 went out.
    Times are the caller's (monotonic seconds); stamps nanoseconds.
    """

    def __init__(self, *, lags: dict[str, int], timeout_s: float, tolerance_ns: int = 0) -> None:
        self.lags, self.timeout_s, self.tolerance_ns = dict(lags), timeout_s, tolerance_ns
        self.stamps_ns: list[int] = []  # of the frames sent, in order
        self.newest_ns: dict[str, int] = {}  # stream -> newest output stamp
        self._sent_at_s: float | None = None
        self.timeouts = 0

    def sent(self, stamp_ns: int, *, now_s: float) -> None:
        """A frame stamped ``stamp_ns`` went out."""
        self.stamps_ns.append(int(stamp_ns))
        self._sent_at_s = now_s

    def output(self, stream: str, stamp_ns: int) -> None:
        """``stream``'s output for the set stamped ``stamp_ns`` arrived."""
        self.newest_ns[stream] = max(int(stamp_ns), self.newest_ns.get(stream, int(stamp_ns)))

    def finished(self) -> bool:
        """Whether the graph has finished every frame sent (by its outputs, without the timeout)."""
        for stream, lag in self.lags.items():
            waiting_for = len(self.stamps_ns) - 1 - lag
            if waiting_for >= 0 and self.newest_ns.get(stream, -1) < self.stamps_ns[waiting_for] - self.tolerance_ns:
                return False
        return True

    def ready(self, *, now_s: float) -> bool:
        """Whether the next frame may go out now (a timeout counts in :attr:`timeouts` and lets it go)."""
        if self.finished():
            return True
        if now_s - self._sent_at_s >= self.timeout_s:
            self.timeouts += 1
            self._sent_at_s = now_s  # the next frame starts its own wait
            return True
        return False


def camera_stamps_ns(stamp_ns: int, *, num_cameras: int, jitter_s: float, rng: np.random.Generator) -> np.ndarray:
    """(V,) int64 stamps: ``stamp_ns`` for every camera, each offset by a uniform draw in [-jitter_s, jitter_s]
    when jitter_s > 0 (clipped at 0)."""
    stamps = np.full(num_cameras, int(stamp_ns), dtype=np.int64)
    if jitter_s > 0:
        stamps += np.round(rng.uniform(-jitter_s, jitter_s, size=num_cameras) * 1e9).astype(np.int64)
    return np.maximum(stamps, 0)


#: Joint layout of the ground-truth joints (the SMPL joints, matching the published rotations).
GROUND_TRUTH_LAYOUT = "smpl24"


def ground_truth_bodies(truth: GroundTruth, *, frame: int, stamp_ns: int, num_views: int) -> list[BodyEstimate]:
    """The P ground-truth bodies of ``frame`` as BodyEstimates: track id = person index, TRACKED, SMPL
    rotations (global orientation first), translation, SMPL joints (``smpl24``), confidence 1, residual 0."""
    bodies = []
    for person in range(truth.betas.shape[0]):
        rotations = np.concatenate([truth.global_orient[person, frame][None], truth.body_pose[person, frame]])
        joints = truth.smpl_joints_world_m[person, frame]
        bodies.append(BodyEstimate(
            track_id=person, tracking_state=TrackingState.TRACKED, betas=truth.betas[person], rotations=rotations,
            translation_world_m=truth.transl_m[person, frame], joints_world_m=joints,
            joint_layout=GROUND_TRUTH_LAYOUT, joint_confidence=np.ones(joints.shape[0]), fit_residual_px=0.0,
            num_views=num_views, stamp_ns=stamp_ns))
    return bodies
