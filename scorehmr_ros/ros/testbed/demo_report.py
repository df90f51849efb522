"""What the demo measured: accuracy against ground truth, latency, throughput; overlay video and summary."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node

from scorehmr_ros.msg import MultiViewKeypoints2D, SMPLBodyArray
from scorehmr_ros.pipeline.streaming import StreamingConfig
from scorehmr_ros.ros.common import output_qos
from scorehmr_ros.ros.geometry_conversions import msg_to_body, stamp_to_ns

LOGGER = logging.getLogger(__name__)
KEY_RGB = (255, 0, 255)  # background of the body-only render; everything else is a body
OVERLAY_ALPHA = 0.55


#: Names of the scorehmr node's diagnostics statuses (node name "scorehmr").
FITTER_STATUS, FITTER_RIG_STATUS = "scorehmr: fitting", "scorehmr: rig"


class Collector(Node):
    """Subscribes to the outputs and the ground truth and keeps them with their receipt times."""

    def __init__(self) -> None:
        super().__init__("demo_collector")
        self.bodies: list = []  # (receipt_ns, BodyEstimate)
        self.body_array_stamps: list[int] = []  # header stamp of each SMPLBodyArray (one per fitted set)
        self.truth: list = []  # SMPLBodyArray, one per played frame, in order
        self.keypoint_sets: list = []  # MultiViewKeypoints2D
        self.wall_duration_s = 0.0
        self.diagnostics: dict[str, dict[str, str]] = {}  # status name -> its latest key/values
        self.create_subscription(SMPLBodyArray, "/humans/bodies", self._on_bodies, output_qos(depth=100))
        self.create_subscription(SMPLBodyArray, "/sim/ground_truth", lambda m: self.truth.append(m),
                                 output_qos(depth=100))
        self.create_subscription(MultiViewKeypoints2D, "/humans/keypoints2d", self.keypoint_sets.append,
                                 output_qos(depth=100))
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, output_qos(depth=100))

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            self.diagnostics[status.name] = {value.key: value.value for value in status.values}

    def _on_bodies(self, msg: SMPLBodyArray) -> None:
        now = self.get_clock().now().nanoseconds
        self.body_array_stamps.append(stamp_to_ns(msg.header.stamp))
        self.bodies += [(now, msg_to_body(body)) for body in msg.bodies]


@dataclass(frozen=True)
class FitterReport:
    """What the scorehmr node (a process of its own) last reported on /diagnostics.

    Attributes: processed, dropped: sets fitted / dropped by its queue; time_ms: fit time per set
    percentiles ("p50", "p95"); prior, body_model: descriptions of its models.
    """

    processed: int
    dropped: int
    time_ms: dict[str, float]
    prior: str
    body_model: str

    @classmethod
    def from_diagnostics(cls, diagnostics: dict[str, dict[str, str]]) -> FitterReport:
        fitting, rig = diagnostics.get(FITTER_STATUS, {}), diagnostics.get(FITTER_RIG_STATUS, {})
        time_ms = {q: float(fitting[f"time {q} ms"]) for q in ("p50", "p95") if f"time {q} ms" in fitting}
        return cls(processed=int(fitting.get("sets processed", 0)), dropped=int(fitting.get(
            "sets dropped (queue full)", 0)), time_ms=time_ms, prior=rig.get("prior", "unknown"),
            body_model=rig.get("body model", "unknown"))


def _percentiles_ms(values_s: list[float]) -> dict[str, float]:
    if not values_s:
        return {}
    return {f"p{q}": float(np.percentile(values_s, q) * 1e3) for q in (50, 90, 99)}


def _match_tracks(tracks: dict[int, list], gt_joints: np.ndarray, frame_of: dict[int, int]) -> dict[int, int]:
    """Track id -> ground-truth person, by least mean joint distance (Hungarian)."""
    from scipy.optimize import linear_sum_assignment

    ids = sorted(tracks)
    cost = np.full((len(ids), gt_joints.shape[0]), 1e3)
    for row, track_id in enumerate(ids):
        for person in range(gt_joints.shape[0]):
            errors = [np.linalg.norm(b.joints_world_m - gt_joints[person, frame_of[b.stamp_ns]], axis=-1).mean()
                      for b in tracks[track_id]]
            cost[row, person] = float(np.mean(errors))
    rows, cols = linear_sum_assignment(cost)
    return {ids[r]: int(c) for r, c in zip(rows, cols, strict=True) if cost[r, c] < 0.5}


def accuracy(collector: Collector, scene) -> dict:
    """MPJPE / PA-MPJPE / acceleration error of the published bodies against the scene's ground truth."""
    from scorehmr_ros.body.body_state import TrackingState
    from scorehmr_ros.sim.metrics import accel_error, mpjpe, pa_mpjpe

    frame_of = {stamp_to_ns(msg.header.stamp): index for index, msg in enumerate(collector.truth)}
    gt = scene.ground_truth.smpl_joints_world_m  # (P, T, 24, 3)
    tracks: dict[int, list] = {}
    for _, body in collector.bodies:
        if body.tracking_state == TrackingState.TRACKED and body.stamp_ns in frame_of:
            tracks.setdefault(body.track_id, []).append(body)
    if not tracks:
        return {"bodies_evaluated": 0}
    match = _match_tracks(tracks, gt, frame_of)
    if not match:
        return {"bodies_evaluated": 0, "tracks": len(tracks), "tracks_matched": 0}
    pred, truth, accel = [], [], []
    for track_id, person in match.items():
        bodies = sorted(tracks[track_id], key=lambda b: b.stamp_ns)
        frames = np.array([frame_of[b.stamp_ns] for b in bodies])
        joints = np.stack([b.joints_world_m for b in bodies])
        pred.append(joints)
        truth.append(gt[person, frames])
        # acceleration over runs of consecutive frames only (dropped sets break the finite differences)
        breaks = np.flatnonzero(np.diff(frames) != 1) + 1
        for run in np.split(np.arange(len(frames)), breaks):
            if len(run) >= 3:
                accel.append(accel_error(joints[run], gt[person, frames[run]], fps=scene.fps).mean)
    pred, truth = np.concatenate(pred), np.concatenate(truth)
    return {"bodies_evaluated": int(len(pred)), "tracks": len(tracks), "tracks_matched": len(match),
            "mpjpe_mm": mpjpe(pred, truth).mean * 1e3, "pa_mpjpe_mm": pa_mpjpe(pred, truth).mean * 1e3,
            "accel_error_m_s2": float(np.mean(accel)) if accel else float("nan")}


def overlay_frames(collector: Collector, rig, body_model, *, max_frames: int | None = None):
    """Per played frame with bodies: the camera images with the fitted bodies blended over them, tiled."""
    import torch

    from scorehmr_ros.body.body_state import TrackingState
    from scorehmr_ros.ros.body_outputs import track_color
    from scorehmr_ros.sim.paint import flat_colours
    from scorehmr_ros.sim.render import RenderConfig, render_frame
    from scorehmr_ros.sim.scene_render import draw_label, tile_images

    frame_of = {stamp_to_ns(msg.header.stamp): index for index, msg in enumerate(collector.truth)}
    by_frame: dict[int, list] = {}
    for _, body in collector.bodies:
        if body.stamp_ns in frame_of and body.tracking_state != TrackingState.TERMINATED:
            by_frame.setdefault(frame_of[body.stamp_ns], []).append(body)
    config = RenderConfig(floor=False, wall_rgb=KEY_RGB, shadow_strength=0.0)
    faces = body_model.faces.numpy()
    for frame in sorted(by_frame)[:max_frames]:
        bodies = by_frame[frame]
        rotations = torch.as_tensor(np.stack([b.rotations for b in bodies]), dtype=torch.float32)
        with torch.inference_mode():
            vertices = body_model(global_orient=rotations[:, :1], body_pose=rotations[:, 1:],
                                  betas=torch.as_tensor(np.stack([b.betas for b in bodies]), dtype=torch.float32),
                                  transl_m=torch.as_tensor(np.stack([b.translation_world_m for b in bodies]),
                                                           dtype=torch.float32)).vertices_m.numpy()
        colours = np.stack([flat_colours(vertices.shape[1], tuple(int(255 * c) for c in (
            track_color(b.track_id).r, track_color(b.track_id).g, track_color(b.track_id).b))) for b in bodies])
        views = []
        for camera, image in zip(rig.cameras, rig.images[frame], strict=True):
            photo = image[:, :, ::-1] if rig.config.encoding == "bgr8" else image
            drawn = render_frame(camera, vertices_world_m=vertices, faces=faces, colours_rgb=colours, config=config)
            mask = np.any(drawn != np.array(KEY_RGB, np.uint8), axis=-1, keepdims=True)
            view = np.where(mask, (OVERLAY_ALPHA * drawn + (1 - OVERLAY_ALPHA) * photo).astype(np.uint8), photo)
            draw_label(view, camera.name)
            views.append(np.ascontiguousarray(view))
        tiled = tile_images(views, columns=2)
        draw_label(tiled, f"frame {frame}  tracks {sorted(b.track_id for b in bodies)}", row=1)
        if body_model.is_standin:
            draw_label(tiled, "STAND-IN body model (not SMPL)", row=2)
        yield frame, tiled


def write_report(output: Path, *, collector: Collector, rig, fitter: FitterReport, detector, config,
                 cpu: dict | None = None) -> dict:
    """Summary (JSON + Markdown), overlay video and one overlay frame as PNG; returns the summary. ``cpu``: CPU use
    during playback (``demo.playback_cpu_use``), None when unknown."""
    from scorehmr_ros.sim.scene_render import write_png, write_video

    # lock-step stamps are on a virtual clock: receipt - stamp is no latency then
    latencies = [] if config.lockstep else [(receipt - body.stamp_ns) * 1e-9 for receipt, body in collector.bodies]
    views = [view for msg in collector.keypoint_sets for view in msg.views]
    summary = {
        "cameras": config.cameras, "people": config.people, "frames_played": rig.frames_published,
        "fps": config.fps, "body_model": fitter.body_model, "prior": fitter.prior,
        "landmark_model": config.landmark_model,
        "keypoint_sets": len(collector.keypoint_sets),
        "views_with_people_fraction": float(np.mean([len(v.people) > 0 for v in views])) if views else 0.0,
        "people_per_view": float(np.mean([len(v.people) for v in views])) if views else 0.0,
        "sets_fitted": fitter.processed, "sets_dropped_by_fitter": fitter.dropped,
        "sets_fitted_per_s": fitter.processed / (rig.frames_published / config.fps)
        if rig.frames_published else 0.0,
        "sets_dropped_by_detector": detector.worker.dropped,
        "bodies_published": len(collector.bodies),
        "body_arrays": len(collector.body_array_stamps),
        "body_arrays_in_set_order": collector.body_array_stamps == sorted(set(collector.body_array_stamps)),
        "lockstep": config.lockstep,
        "latency_ms_camera_stamp_to_bodies": _percentiles_ms(latencies),
        "fixed_lag_ms": 1e3 * StreamingConfig().lag / config.fps,  # the node's default streaming.lag, in frames
        "fit_time_ms": fitter.time_ms,
        "detector_time_ms": _percentiles_ms(detector.detect_times_s),
        "accuracy": accuracy(collector, rig.scene),
        "cpu_during_playback": cpu,
    }
    video_frames = list(overlay_frames(collector, rig, rig.body_model)) if config.video else []
    if video_frames:
        result = write_video((image for _, image in video_frames), output / "overlay.mp4", fps=config.fps)
        summary["video"] = str(result.path if hasattr(result, "path") else output / "overlay.mp4")
        write_png(video_frames[len(video_frames) // 2][1], output / "overlay_frame.png")
    (output / "summary.json").write_text(json.dumps(summary, indent=2, default=float), encoding="utf-8")
    (output / "summary.md").write_text(summary_markdown(summary), encoding="utf-8")
    return summary


def _format_ms(percentiles: dict[str, float]) -> str:
    """{"p50": 12.3, "p90": 45.6} -> "p50 12 / p90 46 ms" ("n/a" when empty)."""
    if not percentiles:
        return "n/a"
    return " / ".join(f"{q} {v:.0f}" for q, v in percentiles.items()) + " ms"


def summary_markdown(summary: dict) -> str:
    accuracy_ = summary["accuracy"]
    lines = [
        "# scorehmr_ros demo summary", "",
        f"- rig: {summary['cameras']} simulated cameras, {summary['people']} people, "
        f"{summary['frames_played']} frames at {summary['fps']:g} Hz",
        f"- body model: {summary['body_model']}", f"- prior: {summary['prior']}",
        f"- detection: BlazePose, landmark model {summary.get('landmark_model', 'full')}; "
        f"{summary['views_with_people_fraction']:.0%} of views had people, "
        f"{summary['people_per_view']:.2f} people per view",
        f"- sets: {summary['keypoint_sets']} keypoint sets, {summary['sets_fitted']} fitted, "
        f"{summary['sets_dropped_by_detector']} dropped by the detector queue, "
        f"{summary['sets_dropped_by_fitter']} by the fitter queue",
        f"- bodies published: {summary['bodies_published']}",
        f"- latency camera stamp -> bodies (includes the fixed lag of {summary.get('fixed_lag_ms', 0):.0f} ms): "
        f"{_format_ms(summary['latency_ms_camera_stamp_to_bodies'])}; fitted sets per second: "
        f"{summary['sets_fitted_per_s']:.2f}",
        f"- fit time per set: {_format_ms(summary['fit_time_ms'])}; detector time per set: "
        f"{_format_ms(summary['detector_time_ms'])}",
    ]
    if accuracy_.get("bodies_evaluated"):
        lines.append(f"- accuracy against ground truth ({accuracy_['bodies_evaluated']} bodies, "
                     f"{accuracy_['tracks']} tracks): MPJPE {accuracy_['mpjpe_mm']:.1f} mm, PA-MPJPE "
                     f"{accuracy_['pa_mpjpe_mm']:.1f} mm, acceleration error {accuracy_['accel_error_m_s2']:.2f} m/s^2")
    else:
        lines.append("- accuracy: no tracked bodies matched the ground truth")
    lines.append(f"- CPU while the rig played: {cpu_use_text(summary.get('cpu_during_playback'))}")
    return "\n".join(lines) + "\n"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} %"


def cpu_use_text(cpu: dict | None) -> str:
    """"graph process 118 % / scorehmr node 45 % of one core; machine 86 % of 2 cores" ("n/a" when unknown)."""
    if not cpu:
        return "n/a"
    return (f"graph process (rig, perception, recorder) {_percent(cpu.get('graph_process_percent'))} / scorehmr "
            f"node {_percent(cpu.get('scorehmr_node_percent'))} of one core; machine "
            f"{_percent(cpu.get('machine_busy_percent'))} of {cpu.get('cores')} cores")
