"""``python -m scorehmr_ros.cli.ik_bench``: cost and residual of ``solve_ik``, Levenberg-Marquardt against Adam.

Both solvers run in one process on the same bodies (the stand-in body model, random poses and shapes, points
with 1 cm noise), as the streaming fitter calls them: a known track's new frame (start 0.1 rad from the answer,
betas held; StreamingConfig.update_ik) and a track's start (rest pose and the closed-form orientation, betas
solved; StreamingConfig.ik). Writes a markdown table; only the ratios within one run mean anything.

``--streaming PRIOR``: instead, the keypoint-only streaming fitter (no per-view estimates, so every set runs
``ik`` / ``update_ik``) on the test bed's scenes (ring of 4 cameras, 2 people, 30 frames, detector-like noise;
seeds 1 and 2 with walk+run and dance_a+kick), with the old IK settings (Adam: 40 steps at a track's start, 20
per new frame) and with ``StreamingConfig()``'s: MPJPE, PA-MPJPE (mm), acceleration error (m/s²) and the whole
fitter's ms per person-frame.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

from scorehmr_ros.body.ik import IKConfig, solve_ik
from scorehmr_ros.cli.arg_types import int_list

#: (case, old config, new config, start from the answer): the streaming fitter's two uses.
CASES = (
    ("new frame (update_ik)", IKConfig(solver="adam", iterations=20, optimize_betas=False),
     IKConfig(solver="levenberg_marquardt", lm_iterations=3, optimize_betas=False), True),
    ("track start (ik)", IKConfig(solver="adam"), IKConfig(solver="levenberg_marquardt"), False),
)


def _time_ms(body, config: IKConfig, inputs: dict, repeats: int) -> tuple[float, float]:
    """Mean ms per call and mean residual (mm) over ``repeats`` calls after one untimed call."""
    solve_ik(body, config=config, **inputs)
    start = time.perf_counter()
    for _ in range(repeats):
        solved = solve_ik(body, config=config, **inputs)
    return (time.perf_counter() - start) * 1000 / repeats, float(solved.residual_m.mean()) * 1000


def streaming_table(prior: str, frames: int) -> str:
    """The ``--streaming`` comparison as a markdown table."""
    import numpy as np

    from scorehmr_ros.assets.standin import generate_standin_body_model
    from scorehmr_ros.body.body_model import BodyModel
    from scorehmr_ros.body.keypoint_body import KeypointBody
    from scorehmr_ros.cli import bench_methods as methods
    from scorehmr_ros.diffusion.checkpoint import load_diffusion_checkpoint
    from scorehmr_ros.geometry.rigs import make_rig
    from scorehmr_ros.pipeline.streaming import StreamingConfig, StreamingFitter
    from scorehmr_ros.sim.metrics import evaluate
    from scorehmr_ros.sim.scene import SceneConfig, generate_scene

    body_model = BodyModel(generate_standin_body_model(seed=0), source="stand-in seed 0")
    body = KeypointBody(body_model)
    diffusion = load_diffusion_checkpoint(prior)
    rig = make_rig("ring4")
    cases = []
    for seed, clips in ((1, ("walk", "run")), (2, ("dance_a", "kick"))):
        scene = generate_scene(config=SceneConfig(num_people=2, clips=clips, num_frames=frames, seed=seed),
                               cameras=rig.cameras, body_model=body_model, rig_name=rig.name)
        cases.append(methods.make_case(scene, noise=methods.RegressorNoise(), rng=np.random.default_rng(seed)))
    configs = (("Adam: 40 steps (start), 20 (new frame)",
                StreamingConfig(ik=IKConfig(solver="adam"), update_ik=IKConfig(solver="adam", iterations=20))),
               ("StreamingConfig() (Levenberg-Marquardt)", StreamingConfig()))
    lines = ["| IK | MPJPE mm | PA-MPJPE mm | accel m/s² | fitter ms / person-frame |", "|---|---|---|---|---|"]
    for name, config in configs:
        rows = []
        for case in cases:
            num_frames, num_people = case.keypoints_px.shape[:2]
            joints = np.full((num_people, num_frames, 24, 3), np.nan)
            fitter = StreamingFitter(diffusion=diffusion, body=body, rig=case.rig, config=config)
            start = time.perf_counter()
            outputs = [out for t in range(num_frames)
                       for out in fitter.step(track_ids=list(range(num_people)), keypoints_px=case.keypoints_px[t])]
            outputs += fitter.flush()
            seconds = time.perf_counter() - start
            for out in outputs:
                joints[out.track_id, out.frame_index] = out.smpl_joints_m
            report = evaluate(joints, case.gt_joints_m, fps=case.fps)
            rows.append((report.mpjpe.mean * 1000, report.pa_mpjpe.mean * 1000, report.accel.mean,
                         seconds * 1000 / num_frames / num_people))
        mpjpe, pa_mpjpe, accel, ms = np.mean(rows, axis=0)
        lines.append(f"| {name} | {mpjpe:.1f} | {pa_mpjpe:.1f} | {accel:.2f} | {ms:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from scorehmr_ros.assets.standin import generate_standin_body_model
    from scorehmr_ros.body.body_model import BodyModel
    from scorehmr_ros.body.keypoint_body import KeypointBody
    from scorehmr_ros.geometry.rotations import axis_angle_to_matrix

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bodies", type=int_list(minimum=1, maximum=256), default=[1, 2, 4],
                        help="bodies per call, comma-separated (default: 1,2,4)")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per solver and case (default: 20)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    parser.add_argument("--streaming", metavar="PRIOR", default=None,
                        help="keypoint-only prior checkpoint: compare the streaming fitter's accuracy and cost "
                             "instead (default: off)")
    parser.add_argument("--frames", type=int, default=30, help="frames per scene with --streaming (default: 30)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats: at least 1, got {args.repeats}")
    if args.frames < 4:
        parser.error(f"--frames: at least 4, got {args.frames}")
    torch.set_num_threads(args.threads)
    if args.streaming is not None:
        sys.stdout.write(f"keypoint-only streaming, {args.threads} torch thread(s)\n"
                         f"{streaming_table(args.streaming, args.frames)}\n")
        return 0
    body = KeypointBody(BodyModel(generate_standin_body_model(seed=0), source="stand-in seed 0"))
    generator = torch.Generator().manual_seed(0)
    lines = ["| case | bodies | Adam ms | Adam residual mm | LM ms | LM residual mm | LM / Adam time |",
             "|---|---|---|---|---|---|---|"]
    for name, old, new, warm in CASES:
        for batch in args.bodies:
            pose = 0.3 * torch.randn(batch, 24, 3, generator=generator)
            betas = 0.5 * torch.randn(batch, 10, generator=generator)
            points = body(rotations=axis_angle_to_matrix(pose), betas=betas,
                          transl_m=torch.randn(batch, 3, generator=generator)).openpose_m
            points = points + 0.01 * torch.randn(points.shape, generator=generator)
            start = axis_angle_to_matrix(pose + 0.1 * torch.randn(batch, 24, 3, generator=generator))
            inputs = dict(points_m=points, weights=torch.ones(batch, 25), init_rotations=start if warm else None,
                          init_betas=betas if warm else None)
            old_ms, old_mm = _time_ms(body, old, inputs, args.repeats)
            new_ms, new_mm = _time_ms(body, new, inputs, args.repeats)
            lines.append(f"| {name} | {batch} | {old_ms:.1f} | {old_mm:.1f} | {new_ms:.1f} | {new_mm:.1f} | "
                         f"{new_ms / old_ms:.2f} |")
    load = os.getloadavg()
    sys.stdout.write(f"solve_ik, {args.threads} torch thread(s), {args.repeats} calls each, load average "
                     f"{load[0]:.2f}\n" + "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
