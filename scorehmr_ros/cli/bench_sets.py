"""Per-set latency, throughput and keypoint error of the embedded perception front on rendered rig images.

``python -m scorehmr_ros.cli.bench_sets --cameras 1,2,4``

Renders a generated scene of the simulated ``demo<N>`` rig (N = the largest camera count asked for;
640 x 480 views, people walking near the centre, the STAND-IN body model) once, then for each camera
count V feeds the first V cameras of every frame as one synchronized set through
:class:`~scorehmr_ros.perception.front.PerceptionFront` (BlazePose detector, then the landmarks of
all people of all views in one batch), one set after the other, as the perception node does, three times in the
same run: the old path as the baseline (the landmark model as shipped, segmentation included, and the detector
on every view of every set; the crop and heatmap code is today's, so the ratios are conservative), the landmark
model pruned to the outputs read (``tflite_graph``) with the detector on every set (``track_people`` off), and
pruned with people tracked from set to set (``track_people`` on, the detector only where needed: the default),
and tracked with each other landmark model size asked for (``--landmark-models``, e.g. lite and heavy: installed by
setup from requirements/models.lock).
Reports per-set latency (median and 90th percentile, milliseconds), throughput (sets per second of back-to-back
processing) and its ratio to the baseline of the same camera count, detector runs per view, people found per
view, and the keypoint error: the median over matched detections of the mean pixel distance of their confident
OpenPose-25 joints to the projected ground truth
(``perception.keypoint_eval.match_detections``). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, replace

import numpy as np

from scorehmr_ros.base.units import NS_PER_S
from scorehmr_ros.cli.arg_types import int_list, str_list
from scorehmr_ros.perception.front import CameraFrame, FrontConfig, FrontResult, PerceptionFront


@dataclass(frozen=True)
class SetTimings:
    """Timings of one camera count.

    Attributes:
        num_cameras: views per set.
        num_sets: sets timed.
        latency_ms: (num_sets,) wall time of each set, detector + landmarks, milliseconds.
        detect_ms: (num_sets,) detector part. keypoints_ms: (num_sets,) landmark part.
        people_per_view: mean people with keypoints per view.
        detector_runs_per_view: fraction of (set, view) pairs the detector ran on.
        keypoint_error_px: median over matched detections of their mean joint error (NaN without ground truth).
        path: what ran (e.g. "detect every set", "tracked").
    """

    num_cameras: int
    num_sets: int
    latency_ms: np.ndarray
    detect_ms: np.ndarray
    keypoints_ms: np.ndarray
    people_per_view: float
    detector_runs_per_view: float = 1.0
    keypoint_error_px: float = float("nan")
    path: str = "detect every set"

    @property
    def sets_per_s(self) -> float:
        """Back-to-back throughput: sets divided by their total processing time."""
        return float(self.num_sets / (self.latency_ms.sum() * 1e-3))


@dataclass(frozen=True)
class RenderedSets:
    """``sets[t][v]``: frame t of camera v; ``truth_openpose_m``: (T, P, 25, 3) ground-truth OpenPose-25 joints in
    the world; ``cameras``: the rig's cameras in view order."""

    sets: list[list[CameraFrame]]
    truth_openpose_m: np.ndarray
    cameras: tuple


def render_sets(*, num_cameras: int, num_frames: int, fps: float, seed: int) -> RenderedSets:
    """Frames of every camera of a generated ``demo<num_cameras>`` scene (2 people), BGR, with the ground truth."""
    from scorehmr_ros.assets.paths import ensure_standin_body_model
    from scorehmr_ros.body.body_model import BodyModel
    from scorehmr_ros.sim.live_rig import SimRigConfig, build_scene, published_cameras, render_rig_frames

    config = SimRigConfig(rig=f"demo{num_cameras}", num_frames=num_frames, fps=fps, num_people=2,
                          seed=seed).validate()
    body_model = BodyModel.from_file(ensure_standin_body_model())
    scene = build_scene(config, body_model)
    cameras = published_cameras(scene, render_scale=1.0)
    images = render_rig_frames(scene, body_model, cameras=cameras, painting=config.painting, encoding="bgr8")
    period_ns = int(NS_PER_S / fps)
    sets = [[CameraFrame(camera=camera.name, frame_id=camera.frame_id, stamp_ns=t * period_ns, image_bgr=image)
             for camera, image in zip(cameras, views, strict=True)] for t, views in enumerate(images)]
    truth = scene.ground_truth.joints_world_m[:, :, :25].transpose(1, 0, 2, 3)  # official 44 joints: OpenPose first
    return RenderedSets(sets=sets, truth_openpose_m=truth, cameras=tuple(cameras))


def keypoint_errors_px(result: FrontResult, truth_openpose_m: np.ndarray, cameras: dict) -> list[float]:
    """Mean joint error of every detection of the set matched to a ground-truth person (pixels)."""
    from scorehmr_ros.body.layouts import OPENPOSE25_NAMES, convert_keypoints
    from scorehmr_ros.perception.keypoint_eval import match_detections, mirror_index_from_names, project_people

    mirror = mirror_index_from_names(OPENPOSE25_NAMES)
    errors = []
    for view in result.keypoints.views:
        if view.num_people == 0:
            continue
        keypoints = view.keypoints.astype(np.float64)
        if view.layout != "openpose25":
            keypoints = convert_keypoints(keypoints, source=view.layout, target="openpose25")
        truth_px, visible = project_people(truth_openpose_m, cameras[view.camera])
        match = match_detections(keypoints_px=keypoints, truth_px=truth_px, truth_visible=visible,
                                 mirror_index=mirror)
        errors += [float(e) for e, p in zip(match.error_px, match.person, strict=True) if p >= 0 and np.isfinite(e)]
    return errors


def time_sets(front: PerceptionFront, sets: list[list[CameraFrame]], *, num_cameras: int,
              warmup: int = 2, truth_openpose_m: np.ndarray | None = None, cameras: tuple = (),
              path: str | None = None) -> SetTimings:
    """Run ``front.process`` on the first ``num_cameras`` views of every set; the first ``warmup`` are untimed.

    truth_openpose_m: (T, P, 25, 3) ground truth per set with the rig's ``cameras``: keypoint errors are measured.
    path: the row's label; None: "tracked" or "detect every set" from the front's ``track_people``.
    """
    if not 1 <= num_cameras <= len(sets[0]):
        raise ValueError(f"num_cameras: must be in [1, {len(sets[0])}] (cameras rendered), got {num_cameras}")
    if len(sets) <= warmup:
        raise ValueError(f"sets: need more than warmup={warmup} sets, got {len(sets)}")
    front.reset()
    for frames in sets[:warmup]:
        front.process(frames[0].stamp_ns, frames[:num_cameras])
    camera_of = {camera.name: camera for camera in cameras}
    latency, detect, keypoints, people, detected, errors = [], [], [], [], 0, []
    for t, frames in enumerate(sets[warmup:], start=warmup):
        start = time.perf_counter()
        result: FrontResult = front.process(frames[0].stamp_ns, frames[:num_cameras])
        latency.append(time.perf_counter() - start)
        detect.append(result.detect_s)
        keypoints.append(result.keypoints_s)
        people += [view.num_people for view in result.keypoints.views]
        detected += len(result.detected_views)
        if truth_openpose_m is not None:
            errors += keypoint_errors_px(result, truth_openpose_m[t], camera_of)
    return SetTimings(num_cameras=num_cameras, num_sets=len(latency), latency_ms=1e3 * np.asarray(latency),
                      detect_ms=1e3 * np.asarray(detect), keypoints_ms=1e3 * np.asarray(keypoints),
                      people_per_view=float(np.mean(people)), detector_runs_per_view=detected / len(people),
                      keypoint_error_px=float(np.median(errors)) if errors else float("nan"),
                      path=path or ("tracked" if front.config.track_people else "detect every set"))


def markdown_table(timings: list[SetTimings]) -> str:
    """One row per camera count and path: sets/s (and its ratio to the first row of the same count, the
    baseline), latency p50/p90, detector and landmark medians, detector runs per view, people per view, keypoint
    error."""
    baseline: dict[int, float] = {}
    for t in timings:
        baseline.setdefault(t.num_cameras, t.sets_per_s)
    lines = ["| cameras | path | sets/s | vs the count's first row | latency p50 ms | latency p90 ms | detector p50 ms "
             "| landmarks p50 ms | detector runs per view | people per view | keypoint error px |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for t in timings:
        ratio = f"{t.sets_per_s / baseline[t.num_cameras]:.2f}x"
        lines.append(f"| {t.num_cameras} | {t.path} | {t.sets_per_s:.1f} | {ratio} | {np.median(t.latency_ms):.1f} | "
                     f"{np.percentile(t.latency_ms, 90):.1f} | {np.median(t.detect_ms):.1f} | "
                     f"{np.median(t.keypoints_ms):.1f} | {t.detector_runs_per_view:.2f} | {t.people_per_view:.2f} | "
                     f"{t.keypoint_error_px:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from scorehmr_ros.perception.backends.blazepose import BlazePoseLandmarker
    from scorehmr_ros.perception.backends.config import BLAZEPOSE_LANDMARK_MODELS, DetectorConfig, KeypointConfig
    from scorehmr_ros.perception.backends.factory import build_detector, build_keypoint_estimator
    from scorehmr_ros.perception.backends.types import PerceptionError

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int_list(minimum=1, maximum=16), default=[1, 2, 4],
                        help="camera counts to time, comma-separated (default: 1,2,4)")
    parser.add_argument("--frames", type=int, default=32, help="rendered frames (sets) per count, the first 2 "
                                                              "untimed (default: 32)")
    parser.add_argument("--fps", type=float, default=10.0, help="frame rate of the generated scene, Hz; sets "
                                                                "are processed back to back (default: 10)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of each TFLite model (default: 2)")
    parser.add_argument("--seed", type=int, default=0, help="scene seed (default: 0)")
    parser.add_argument("--landmark-models", type=str_list(choices=BLAZEPOSE_LANDMARK_MODELS), default=["full"],
                        help="BlazePose landmark model sizes to time tracked, comma-separated; the old path and "
                             "\"detect every set\" always use full (default: full)")
    args = parser.parse_args(argv)
    if args.frames < 3:
        parser.error(f"--frames: at least 3, got {args.frames}")

    detector = build_detector(DetectorConfig(num_threads=args.threads))
    keypoint_config = KeypointConfig(num_threads=args.threads)
    estimator = build_keypoint_estimator(keypoint_config)
    shipped = BlazePoseLandmarker(config=keypoint_config, prune_unused_outputs=False)
    fronts = {"old: whole model, detect every set":
              PerceptionFront(detector=detector, estimator=shipped, config=FrontConfig(track_people=False)),
              "detect every set": PerceptionFront(detector=detector, estimator=estimator,
                                                  config=FrontConfig(track_people=False)),
              "tracked": PerceptionFront(detector=detector, estimator=estimator, config=FrontConfig(track_people=True))}
    for size in args.landmark_models:
        if size != "full":
            try:
                sized = build_keypoint_estimator(replace(keypoint_config, landmark_model=size))
            except PerceptionError as error:  # lite / heavy not installed: one line, before the rendering
                parser.exit(2, f"bench_sets: {error}\n")
            fronts[f"tracked, {size} model"] = PerceptionFront(detector=detector, estimator=sized,
                                                              config=FrontConfig(track_people=True))
    start = time.perf_counter()
    rendered = render_sets(num_cameras=max(args.cameras), num_frames=args.frames, fps=args.fps, seed=args.seed)
    render_s = time.perf_counter() - start
    timings = [time_sets(front, rendered.sets, num_cameras=count, truth_openpose_m=rendered.truth_openpose_m,
                         cameras=rendered.cameras, path=path)
               for count in args.cameras for path, front in fronts.items()]
    load = os.getloadavg()
    sys.stdout.write(f"demo{max(args.cameras)} rig, 640x480 views, 2 people, {args.frames} frames rendered in "
                     f"{render_s:.1f} s; PerceptionFront (BlazePose detector + landmarks), {args.threads} threads, "
                     f"{os.cpu_count()} CPUs, load average after the run {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n"
                     f"{markdown_table(timings)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
