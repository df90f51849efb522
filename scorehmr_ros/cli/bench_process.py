"""``scorehmr-ros bench process``: ``scorehmr-ros process`` on a recording like a real rig's, timed per stage.

For each people count it renders a simulated 4-camera rig of portrait HD cameras (1080 x 1920 by default, a ring
of radius 3.5 m) at 30 Hz, writes what a camera driver would record — JPEG ``CompressedImage``, ``CameraInfo``
and the rig on ``/tf_static``, each image arriving a few milliseconds after its stamp — and runs
:func:`~scorehmr_ros.ros.offline_processing.process_bag` on it with the default settings (the embedded BlazePose
front, the bundled prior, the STAND-IN body unless SMPL is imported). It reports sets per second, each stage's
milliseconds per set (decode, perception, fitting), fitting milliseconds per person per set, and the bodies'
MPJPE against the ground truth (24 SMPL joints, each body matched to the nearest person by pelvis) with the
number of track ids. Rendering happens before the clock starts and is not counted. The machine's speed is given
by a reference in the same process (50 products of 1024 x 1024 float32 matrices), since machines of one kind
differ about 3x.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from scorehmr_ros.cli.arg_types import int_list, positive_int, ranged

LOGGER = logging.getLogger(__name__)
START_NS = 1_700_000_000_000_000_000


def add_target(targets: argparse._SubParsersAction) -> None:
    """Register ``bench process`` on the ``bench`` target subparsers."""
    parser = targets.add_parser("process", help="scorehmr-ros process on a rendered HD 4-camera recording, per stage",
                                description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--people", type=int_list(minimum=1, maximum=6), default=[1, 3],
                        help="people counts, comma-separated (one recording each)")
    parser.add_argument("--frames", type=positive_int, default=30, help="frames per recording")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate, Hz (must divide 30)")
    parser.add_argument("--cameras", type=ranged(int, minimum=2, maximum=8), default=4, help="cameras on the ring")
    parser.add_argument("--width", type=positive_int, default=1080, help="image width, pixels")
    parser.add_argument("--height", type=positive_int, default=1920, help="image height, pixels")
    parser.add_argument("--render-scale", type=ranged(float, minimum=0.1, maximum=1.0), default=0.5,
                        help="render at this scale and upscale to the full size (rendering is not timed)")
    parser.add_argument("--jpeg-quality", type=ranged(int, minimum=10, maximum=100), default=90, help="JPEG quality")
    parser.add_argument("--seed", type=int, default=0, help="scene seed")
    parser.add_argument("--table", type=Path, default=None, help="write the markdown table here")
    parser.add_argument("--keep", type=Path, default=None, help="keep the input and output bags in this folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(run=run_process_bench)


@dataclass(frozen=True)
class ProcessRun:
    """One recording through ``process``."""

    people: int
    sets: int
    wall_s: float
    stage_s: dict[str, float]
    bodies: int
    tracks: int
    mpjpe_mm: float

    @property
    def sets_per_s(self) -> float:
        return self.sets / self.wall_s if self.wall_s > 0 else 0.0

    def stage_ms_per_set(self, stage: str) -> float:
        return 1000 * self.stage_s.get(stage, 0.0) / max(self.sets, 1)


def reference_matmul_s() -> float:
    """Seconds for 50 products of two 1024 x 1024 float32 matrices (this machine's speed, for comparisons)."""
    import torch

    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    a @ b  # noqa: B018  (first call pays the thread pool's start)
    start = time.perf_counter()
    for _ in range(50):
        a @ b  # noqa: B018
    return time.perf_counter() - start


def write_recording(path: Path, *, people: int, args: argparse.Namespace):
    """Render the scene and write the bag; returns the scene (ground truth)."""
    import cv2
    from tqdm import tqdm

    from scorehmr_ros.assets.paths import ensure_standin_body_model
    from scorehmr_ros.body.body_model import BodyModel
    from scorehmr_ros.geometry.rig_io import save_rig
    from scorehmr_ros.geometry.rigs import Rig, ring_rig
    from scorehmr_ros.ros.geometry_conversions import camera_to_camera_info, ns_to_stamp
    from scorehmr_ros.ros.image_conversions import numpy_to_compressed
    from scorehmr_ros.ros.nodes.rig_tf_node import rig_static_transforms
    from scorehmr_ros.ros.recording import BagWriter, TopicSpec
    from scorehmr_ros.sim.live_rig import SimRigConfig, build_scene, published_cameras, render_rig_frames

    rig_file = path.with_suffix(".rig.yaml")
    save_rig(ring_rig(num_cameras=args.cameras, radius_m=3.5, height_m=1.6, width_px=args.width,
                      height_px=args.height, horizontal_fov_deg=55.0), rig_file)
    body_model = BodyModel.from_file(ensure_standin_body_model())
    clips = ("walk", "run", "dance_a", "walk", "run", "dance_a")[:people]
    scene = build_scene(SimRigConfig(rig=str(rig_file), num_people=people, clips=clips, num_frames=args.frames,
                                     fps=args.fps, seed=args.seed, room_radius_m=0.8), body_model)
    cameras = scene.cameras
    with tqdm(total=args.frames, desc=f"rendering {people} people", unit="frame", disable=args.no_progress) as bar:
        frames = render_rig_frames(scene, body_model, cameras=published_cameras(scene, render_scale=args.render_scale),
                                   painting="clothed", encoding="bgr8", progress=lambda done, total: bar.update(1))
    specs = [TopicSpec(f"/{c.name}/image_raw/compressed", "sensor_msgs/msg/CompressedImage", "sensor_data")
             for c in cameras]
    specs += [TopicSpec(f"/{c.name}/camera_info", "sensor_msgs/msg/CameraInfo", "sensor_data") for c in cameras]
    specs.append(TopicSpec("/tf_static", "tf2_msgs/msg/TFMessage", "static"))
    period_ns = round(1e9 / args.fps)
    with BagWriter(path, topics=specs, storage="mcap") as writer:
        rig = Rig(name="bench", cameras=cameras, world_frame=scene.world_frame)
        writer.write_message("/tf_static", rig_static_transforms(rig, stamp_ns=START_NS), timestamp_ns=START_NS)
        for t, views in enumerate(frames):
            stamp_ns = START_NS + t * period_ns
            for v, (camera, image) in enumerate(zip(cameras, views, strict=True)):
                full = cv2.resize(image, (camera.width_px, camera.height_px), interpolation=cv2.INTER_LINEAR)
                msg = numpy_to_compressed(full, encoding="bgr8", jpeg_quality=args.jpeg_quality)
                msg.header.stamp, msg.header.frame_id = ns_to_stamp(stamp_ns), camera.frame_id
                arrival_ns = stamp_ns + (4 + 3 * v) * 1_000_000  # a driver's transport delay
                writer.write_message(f"/{camera.name}/image_raw/compressed", msg, timestamp_ns=arrival_ns)
                writer.write_message(f"/{camera.name}/camera_info", camera_to_camera_info(camera, stamp_ns=stamp_ns),
                                     timestamp_ns=arrival_ns)
    return scene, period_ns


def bodies_mpjpe_mm(output: Path, scene, period_ns: int) -> tuple[int, int, float]:
    """(bodies, track ids, mean MPJPE in mm over the 24 SMPL joints) of the output bag against the ground truth."""
    import numpy as np

    from scorehmr_ros.ros.geometry_conversions import msg_to_body
    from scorehmr_ros.ros.recording import read_bag

    truth = scene.ground_truth.smpl_joints_world_m  # (P, T, 24, 3)
    errors, tracks = [], set()
    for message in read_bag(output, topics=["/humans/bodies"]):
        for body in map(msg_to_body, message.message.bodies):
            frame = round((body.stamp_ns - START_NS) / period_ns)
            if body.joint_layout != "smpl24" or not 0 <= frame < truth.shape[1]:
                continue
            tracks.add(body.track_id)
            person = int(np.argmin(np.linalg.norm(truth[:, frame, 0] - body.joints_world_m[0], axis=-1)))
            errors.append(np.linalg.norm(truth[person, frame] - body.joints_world_m, axis=-1).mean())
    return len(errors), len(tracks), 1000 * float(np.mean(errors)) if errors else float("nan")


def format_table(runs: list[ProcessRun], *, reference_s: float, args: argparse.Namespace) -> str:
    lines = [f"`scorehmr-ros bench process`: {args.cameras} cameras {args.width}x{args.height} JPEG at "
             f"{args.fps:g} Hz, {args.frames} frames; reference: 50 x 1024² matmul {reference_s:.2f} s",
             "",
             "| people | sets/s | decode ms/set | perception ms/set | fitting ms/set | fitting ms/person/set | bodies "
             "| track ids | MPJPE mm |",
             "|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        lines.append(f"| {run.people} | {run.sets_per_s:.2f} | {run.stage_ms_per_set('decode'):.0f} | "
                     f"{run.stage_ms_per_set('perception'):.0f} | {run.stage_ms_per_set('fitting'):.0f} | "
                     f"{run.stage_ms_per_set('fitting') / run.people:.0f} | {run.bodies} | {run.tracks} | "
                     f"{run.mpjpe_mm:.1f} |")
    return "\n".join(lines)


def run_process_bench(args: argparse.Namespace) -> int:
    from scorehmr_ros.ros.offline_processing import ProcessConfig, process_bag

    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-process-") as temporary:
        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        for people in args.people:
            recording = folder / f"rig_{people}p.mcap.d"
            output = folder / f"out_{people}p"
            scene, period_ns = write_recording(recording, people=people, args=args)
            summary = process_bag(recording, output, config=ProcessConfig(progress=not args.no_progress))
            LOGGER.info("%d people: %s", people, summary.line())
            bodies, tracks, mpjpe_mm = bodies_mpjpe_mm(output, scene, period_ns)
            runs.append(ProcessRun(people=people, sets=summary.sets, wall_s=summary.wall_s,
                                   stage_s=dict(summary.stage_s), bodies=bodies, tracks=tracks, mpjpe_mm=mpjpe_mm))
    table = format_table(runs, reference_s=reference_matmul_s(), args=args)
    for line in table.splitlines():
        LOGGER.info("%s", line)
    if args.table is not None:
        args.table.parent.mkdir(parents=True, exist_ok=True)
        args.table.write_text(table + "\n")
    return 0
