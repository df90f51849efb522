"""Offline evaluation of a demo bag's 2D keypoints through the body pipeline, against the recorded ground truth.

Reads ``/humans/keypoints2d`` (MultiViewKeypoints2D), ``/sim/ground_truth`` (SMPLBodyArray, SMPL-24 world
joints, rotations, betas, translation) and the rig calibration (``<cam>/camera_info`` + ``/tf_static``) of a
bag written by ``scorehmr-ros demo``; then
1. diagnoses the keypoints per view against the ground-truth OpenPose-25 joints (the fitter's targets, from
   the ground-truth body through the body model), projected with the rig's cameras: how many detections are
   left/right swapped, per joint type the 2D error and the 3D offset of the triangulated joint from the
   target in the person's body frame (left, forward, up);
2. runs ``BodyPipeline`` over every set (nothing dropped) and reports MPJPE / PA-MPJPE per person and per
   SMPL joint.

Usage (ROS 2 sourced, from the repository root):
    .venv/bin/python tools/eval_demo_keypoints.py out/demo/bag [--json out.json] [--no-swap-resolution]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from scorehmr_ros.body.body_frames import SMPL_JOINT_NAMES
from scorehmr_ros.body.layouts import OPENPOSE25_NAMES, convert_keypoints
from scorehmr_ros.geometry.triangulation import TriangulationConfig, triangulate
from scorehmr_ros.perception.keypoint_eval import (
    apparent_height_px,
    match_detections,
    mirror_index_from_names,
    project_people,
)
from scorehmr_ros.pipeline.association import AssociationConfig
from scorehmr_ros.sim.metrics import mpjpe, pa_mpjpe


def load_bag(path: Path, *, world_frame: str):
    """(sets, truth by stamp, cameras) of a demo bag."""
    from scorehmr_ros.ros.geometry_conversions import msg_to_body, stamp_to_ns
    from scorehmr_ros.ros.keypoint_conversions import msg_to_observation
    from scorehmr_ros.ros.offline_processing import CameraTopics, bag_calibration
    from scorehmr_ros.ros.recording import bag_topics, read_bag

    topics = bag_topics(path)
    names = sorted(t[1:-len("/camera_info")] for t, kind in topics.items()
                   if t.endswith("/camera_info") and kind == "sensor_msgs/msg/CameraInfo")
    cameras = bag_calibration(path, [CameraTopics(name=n, image_topic="", compressed=False,
                                                  info_topic=f"/{n}/camera_info") for n in names],
                              world_frame=world_frame)
    sets, truth = [], {}
    for message in read_bag(path, topics=["/humans/keypoints2d", "/sim/ground_truth"]):
        if message.topic == "/humans/keypoints2d":
            sets.append(msg_to_observation(message.message))
        else:
            truth[stamp_to_ns(message.message.header.stamp)] = [msg_to_body(b) for b in message.message.bodies]
    sets.sort(key=lambda s: s.stamp_ns)
    return sets, truth, cameras


def truth_of(truth: dict, stamp_ns: int, tolerance_ns: int = 20_000_000):
    """The ground-truth bodies nearest in time to ``stamp_ns`` (within the tolerance), else None."""
    stamps = np.array(sorted(truth))
    nearest = int(stamps[np.argmin(np.abs(stamps - stamp_ns))])
    return truth[nearest] if abs(nearest - stamp_ns) <= tolerance_ns else None


def openpose_targets(keypoint_body, bodies) -> np.ndarray:
    """(P, 25, 3) OpenPose-25 joints of the ground-truth bodies (the fitter's targets), world metres."""
    with torch.inference_mode():
        out = keypoint_body(rotations=torch.as_tensor(np.stack([b.rotations for b in bodies]), dtype=torch.float32),
                            betas=torch.as_tensor(np.stack([b.betas for b in bodies]), dtype=torch.float32),
                            transl_m=torch.as_tensor(np.stack([b.translation_world_m for b in bodies]),
                                                     dtype=torch.float32))
    return out.openpose_m.numpy().astype(np.float64)


def body_axes(joints_op: np.ndarray) -> np.ndarray:
    """(3, 3) rows: left, forward, up unit vectors of a person from its (25, 3) OpenPose joints."""
    index = {n: i for i, n in enumerate(OPENPOSE25_NAMES)}
    left = joints_op[index["left_hip"]] - joints_op[index["right_hip"]]
    up = joints_op[index["neck"]] - joints_op[index["mid_hip"]]
    up /= np.linalg.norm(up)
    left -= up * (left @ up)
    left /= np.linalg.norm(left)
    return np.stack([left, np.cross(up, left), up])


def diagnose(sets, truth, cameras, keypoint_body) -> dict:
    """Swaps, per-joint 2D errors and 3D offsets of the raw keypoints against the ground truth."""
    mirror = mirror_index_from_names(OPENPOSE25_NAMES)
    J = len(OPENPOSE25_NAMES)
    camera_of = {c.name: i for i, c in enumerate(cameras)}
    detections = swapped = unmatched = 0
    swaps = []
    err_2d = [[] for _ in range(J)]  # per joint: error / apparent height
    offsets = [[] for _ in range(J)]  # per joint: 3D offset (left, forward, up), metres
    missing = np.zeros(J)
    for observation in sets:
        bodies = truth_of(truth, observation.stamp_ns)
        if bodies is None:
            continue
        targets = openpose_targets(keypoint_body, bodies)  # (P, 25, 3)
        per_person = [dict() for _ in bodies]  # view -> (25, 3) keypoints as labelled
        for view in observation.views:
            if view.num_people == 0:
                continue
            camera = cameras[camera_of[view.camera]]
            kp = convert_keypoints(view.keypoints.astype(np.float64), source=view.layout, target="openpose25")
            truth_px, visible = project_people(targets, camera)
            match = match_detections(keypoints_px=kp, truth_px=truth_px, truth_visible=visible, mirror_index=mirror)
            height = apparent_height_px(truth_px, visible)
            for d in range(kp.shape[0]):
                detections += 1
                missing += kp[d, :, 2] <= 0.05
                p = int(match.person[d])
                if p < 0:
                    unmatched += 1
                    continue
                if match.swapped[d]:
                    swapped += 1
                    swaps.append({"stamp_ns": observation.stamp_ns, "camera": view.camera, "person": p,
                                  "error_px": round(float(match.error_px[d]), 1),
                                  "mirrored_error_px": round(float(match.mirrored_error_px[d]), 1)})
                    continue
                per_person[p][camera_of[view.camera]] = kp[d]
                seen = (kp[d, :, 2] > 0.05) & visible[p]
                for j in np.nonzero(seen)[0]:
                    err_2d[j].append(np.linalg.norm(kp[d, j, :2] - truth_px[p, j]) / height[p])
        for p, views in enumerate(per_person):
            if len(views) < 2:
                continue
            order = sorted(views)
            tri = triangulate(keypoints_px=np.stack([views[v] for v in order])[:, None],
                              cameras=[cameras[v] for v in order], config=TriangulationConfig(robust_method="none"))
            axes = body_axes(targets[p])
            for j in np.nonzero(tri.valid[0])[0]:
                offsets[j].append(axes @ (tri.points_world_m[0, j] - targets[p, j]))
    per_joint = {}
    for j, name in enumerate(OPENPOSE25_NAMES):
        entry = {"missing_fraction": round(float(missing[j] / max(detections, 1)), 3)}
        if err_2d[j]:
            entry["error_2d_per_height"] = round(float(np.median(err_2d[j])), 4)
        if offsets[j]:
            mean = np.mean(offsets[j], axis=0)
            entry["offset_3d_mm_left_fwd_up"] = [round(float(x) * 1e3, 1) for x in mean]
            entry["offset_3d_norm_mm"] = round(float(np.linalg.norm(mean)) * 1e3, 1)
            entry["error_3d_median_mm"] = round(float(np.median(np.linalg.norm(offsets[j], axis=1))) * 1e3, 1)
        per_joint[name] = entry
    return {"detections": detections, "swapped": swapped, "unmatched": unmatched, "swaps": swaps,
            "per_joint": per_joint}


def substitute(sets, truth, cameras, keypoint_body, mode: str):
    """Sets whose matched detections are replaced, to isolate an error source (``--substitute``):
    "truth": every joint at the projected ground truth (confidence 0.9 where in view);
    "truth_masked": the projected ground truth, only where the detection has the joint (its confidence);
    "unswapped": the detections, with the ones that fit the ground truth better mirrored, mirrored back."""
    from scorehmr_ros.perception.observations import MultiViewObservation, ViewObservation

    mirror = mirror_index_from_names(OPENPOSE25_NAMES)
    camera_of = {c.name: i for i, c in enumerate(cameras)}
    out = []
    for observation in sets:
        bodies = truth_of(truth, observation.stamp_ns)
        if bodies is None:
            out.append(observation)
            continue
        targets = openpose_targets(keypoint_body, bodies)
        views = []
        for view in observation.views:
            if view.num_people == 0:
                views.append(view)
                continue
            kp = convert_keypoints(view.keypoints.astype(np.float64), source=view.layout, target="openpose25",
                                   weighted=True)
            truth_px, visible = project_people(targets, cameras[camera_of[view.camera]])
            match = match_detections(keypoints_px=kp, truth_px=truth_px, truth_visible=visible, mirror_index=mirror)
            for d, p in enumerate(match.person):
                if p < 0:
                    continue
                if mode == "unswapped":
                    if match.swapped[d]:
                        kp[d] = kp[d, mirror]
                    continue
                confidence = 0.9 * visible[p] if mode == "truth" else np.where(visible[p], kp[d, :, 2], 0.0)
                kp[d] = np.concatenate([truth_px[p], confidence[:, None]], axis=-1) * (confidence > 0)[:, None]
            views.append(ViewObservation(camera=view.camera, frame_id=view.frame_id,
                                         image_stamp_ns=view.image_stamp_ns, width_px=view.width_px,
                                         height_px=view.height_px, boxes_xyxy_px=view.boxes_xyxy_px,
                                         scores=view.scores, layout="openpose25", keypoints=kp.astype(np.float32)))
        out.append(MultiViewObservation(stamp_ns=observation.stamp_ns, frame_id=observation.frame_id,
                                        views=tuple(views), missing_cameras=observation.missing_cameras))
    return out


def run_pipeline(sets, truth, cameras, models, association: AssociationConfig, streaming=None) -> dict:
    """Every set through BodyPipeline; MPJPE / PA-MPJPE of the observed bodies against the ground truth,
    and how many member views association used with mirrored parts."""
    import scorehmr_ros.pipeline.body_pipeline as pipeline_module

    swapped: dict[str, int] = {}
    associate = pipeline_module.associate

    def counting_associate(**kwargs):
        result = associate(**kwargs)
        for group in result.groups:
            for parts in group.swapped_parts.values():
                key = "+".join(parts)
                swapped[key] = swapped.get(key, 0) + 1
        return result

    pipeline = models.make_pipeline(cameras, association=association, streaming=streaming)
    pipeline_module.associate = counting_associate
    try:
        bodies = [b for s in sets for b in pipeline.process(s).bodies] + list(pipeline.flush())
    finally:
        pipeline_module.associate = associate
    pred, gt, person_of = [], [], []
    for body in bodies:
        truth_bodies = truth_of(truth, body.stamp_ns)
        if body.num_views == 0 or truth_bodies is None:
            continue
        gt_joints = np.stack([b.joints_world_m for b in truth_bodies])  # (P, 24, 3)
        person = int(np.argmin(np.linalg.norm(gt_joints - body.joints_world_m[None], axis=-1).mean(axis=1)))
        pred.append(body.joints_world_m)
        gt.append(gt_joints[person])
        person_of.append(person)
    pred, gt, person_of = np.array(pred), np.array(gt), np.array(person_of)
    report = {"bodies": int(len(pred)), "tracks": len({b.track_id for b in bodies}), "mirrored_parts": swapped,
              "mpjpe_mm": round(mpjpe(pred, gt).mean * 1e3, 1), "pa_mpjpe_mm": round(pa_mpjpe(pred, gt).mean * 1e3, 1),
              "per_person": {}, "per_joint_mpjpe_mm": {}}
    for person in np.unique(person_of):
        sel = person_of == person
        report["per_person"][int(person)] = {"bodies": int(sel.sum()),
                                             "mpjpe_mm": round(mpjpe(pred[sel], gt[sel]).mean * 1e3, 1),
                                             "pa_mpjpe_mm": round(pa_mpjpe(pred[sel], gt[sel]).mean * 1e3, 1)}
    per_joint = mpjpe(pred, gt).per_joint
    report["per_joint_mpjpe_mm"] = {n: round(float(e) * 1e3, 1) for n, e in zip(SMPL_JOINT_NAMES, per_joint,
                                                                                 strict=True)}
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bag", type=Path, help="bag folder written by `scorehmr-ros demo` (e.g. out/demo/bag)")
    parser.add_argument("--world-frame", default="map", help="world frame of the camera poses (default: map)")
    parser.add_argument("--json", type=Path, default=None, help="also write the full report here")
    parser.add_argument("--no-swap-resolution", action="store_true",
                        help="run the pipeline with AssociationConfig.resolve_swaps off (default: on)")
    parser.add_argument("--substitute", choices=("none", "truth", "truth_masked", "unswapped"), default="none",
                        help="replace the matched detections before the pipeline (diagnosis; default: none)")
    parser.add_argument("--smoothness", type=float, default=None,
                        help="StreamingConfig.smoothness for the run (default: the config's default)")
    parser.add_argument("--no-pipeline", action="store_true", help="only the keypoint diagnostics")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    from scorehmr_ros.body.keypoint_body import KeypointBody
    from scorehmr_ros.pipeline.body_pipeline import load_fitting_models

    sets, truth, cameras = load_bag(args.bag, world_frame=args.world_frame)
    models = load_fitting_models()
    keypoint_body = KeypointBody(models.body_model)
    report = {"bag": str(args.bag), "sets": len(sets), "cameras": [c.name for c in cameras],
              "keypoints": diagnose(sets, truth, cameras, keypoint_body)}
    association = AssociationConfig()
    if args.no_swap_resolution and hasattr(association, "resolve_swaps"):
        association = replace(association, resolve_swaps=False)
    if not args.no_pipeline:
        if args.substitute != "none":
            sets = substitute(sets, truth, cameras, keypoint_body, args.substitute)
        report["substitute"] = args.substitute
        from scorehmr_ros.pipeline.streaming import StreamingConfig

        streaming = StreamingConfig() if args.smoothness is None else StreamingConfig(smoothness=args.smoothness)
        report["pipeline"] = run_pipeline(sets, truth, cameras, models, association, streaming)
    kp = report["keypoints"]
    lines = [f"sets {len(sets)}, detections {kp['detections']}, L/R swapped {kp['swapped']}, "
             f"unmatched {kp['unmatched']}",
             f"{'joint':16s} {'missing':>7s} {'2D err/h':>8s} {'3D off (left, fwd, up) mm':>28s} {'|off|':>6s} "
             f"{'med 3D err':>10s}"]
    for name, entry in kp["per_joint"].items():
        offset = entry.get("offset_3d_mm_left_fwd_up")
        error_2d = entry.get("error_2d_per_height", float("nan"))
        lines.append(f"{name:16s} {entry['missing_fraction']:7.2f} {error_2d:8.4f}"
                     f" {str(offset) if offset else '-':>28s} {entry.get('offset_3d_norm_mm', float('nan')):6.1f} "
                     f"{entry.get('error_3d_median_mm', float('nan')):10.1f}")
    if "pipeline" in report:
        pipe = report["pipeline"]
        lines.append(f"pipeline: {pipe['bodies']} bodies, {pipe['tracks']} tracks, MPJPE {pipe['mpjpe_mm']} mm, "
                     f"PA-MPJPE {pipe['pa_mpjpe_mm']} mm; per person {pipe['per_person']}; "
                     f"member views used with mirrored parts {pipe['mirrored_parts']}")
        lines.append("per joint MPJPE mm: " + ", ".join(f"{n} {e}" for n, e in pipe["per_joint_mpjpe_mm"].items()))
    sys.stdout.write("\n".join(lines) + "\n")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
