"""``scorehmr-ros bench fit``: time one official-default single-image guided fit (10 x 50/2) on this machine.

Uses the full-size denoiser (11.3M parameters, random weights, or --checkpoint) and the stand-in body
model (or --body-model): the timing does not depend on the weights. Reports wall time per fit and the
split between denoiser calls and guidance (body model + keypoint loss + gradients + Adam).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from scorehmr_ros.cli.arg_types import int_list

LOGGER = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="benchmarks", description="benchmarks of the fitting core")
    targets = parser.add_subparsers(dest="bench_target", metavar="TARGET", required=True)
    fit = targets.add_parser("fit", help="official-default single-image guided fit", description=__doc__,
                             formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    fit.add_argument("--batch-sizes", type=int_list(minimum=1), default=[1, 16], help="people per fit, comma-separated")
    fit.add_argument("--repeats", type=int, default=2, help="timed fits per batch size (after one warm-up of 1 iter)")
    fit.add_argument("--iters", type=int, default=None, help="optimisation rounds (default: official 10)")
    fit.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    fit.add_argument("--checkpoint", type=Path, default=None, help="diffusion checkpoint (default: random weights)")
    fit.add_argument("--body-model", type=Path, default=None, help="body model .npz (default: stand-in, seed 0)")
    fit.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    fit.set_defaults(run=run_fit)
    from scorehmr_ros.cli.bench_calibrated import add_target
    from scorehmr_ros.cli.bench_graph import add_target as add_graph_target
    from scorehmr_ros.cli.bench_process import add_target as add_process_target
    from scorehmr_ros.cli.engines_cli import add_target as add_accel_target

    add_target(targets)
    add_graph_target(targets)
    add_accel_target(targets)
    add_process_target(targets)


def run_fit(args: argparse.Namespace) -> int:
    import time

    import numpy as np
    import torch

    from scorehmr_ros.assets.standin import generate_standin_body_model
    from scorehmr_ros.body.body_model import BodyModel
    from scorehmr_ros.diffusion.checkpoint import load_diffusion_checkpoint
    from scorehmr_ros.diffusion.denoiser import Denoiser
    from scorehmr_ros.diffusion.diffusion import Diffusion
    from scorehmr_ros.fitting.fit_config import FitConfig
    from scorehmr_ros.fitting.fitting import FitInputs, StageTimes, guided_fit
    from scorehmr_ros.geometry.rotations import axis_angle_to_matrix

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    diffusion = load_diffusion_checkpoint(args.checkpoint) if args.checkpoint else Diffusion(denoiser=Denoiser())
    diffusion = diffusion.eval().to(args.device)
    body_model = (BodyModel.from_file(args.body_model) if args.body_model
                  else BodyModel(generate_standin_body_model(seed=0), source="stand-in seed 0")).to(args.device)
    config = FitConfig() if args.iters is None else FitConfig().replace(optim_iters=args.iters)
    rng = np.random.RandomState(0)
    lines = [f"official single-image guided fit: {config.optim_iters} x (inversion + guided) over "
             f"{config.sample_start}/{config.ddim_step}, device {args.device}, {torch.get_num_threads()} threads"]
    for batch in args.batch_sizes:
        axis_angle = 0.2 * rng.standard_normal((batch, 24, 3))
        axis_angle[:, 0] += (np.pi, 0.0, 0.0)
        inputs = FitInputs(
            pred_pose=axis_angle_to_matrix(torch.tensor(axis_angle, dtype=torch.float32)),
            pred_betas=torch.zeros(batch, 10), init_cam_t_m=torch.tensor([[0.0, 0.2, 25.0]]).repeat(batch, 1),
            keypoints_2d_px=torch.tensor(np.concatenate([rng.uniform(200, 400, (batch, 44, 2)),
                                                         np.ones((batch, 44, 1))], -1), dtype=torch.float32),
            img_size_px=torch.tensor([[640.0, 480.0]]).repeat(batch, 1),
            cond_feats=torch.randn(batch, diffusion.model.config.cond_dim) if diffusion.model.config.cond_dim else None,
        )
        inputs = FitInputs(**{k: (v.to(args.device) if v is not None else None) for k, v in vars(inputs).items()})
        guided_fit(diffusion=diffusion, body_model=body_model, inputs=inputs, config=config.replace(optim_iters=1))
        times, stages = [], StageTimes()
        for _ in range(args.repeats):
            start = time.perf_counter()
            guided_fit(diffusion=diffusion, body_model=body_model, inputs=inputs, config=config, stage_times=stages)
            times.append(time.perf_counter() - start)
        wall, fastest = float(np.mean(times)), float(np.min(times))
        denoiser = stages.seconds.get("denoiser", 0.0) / args.repeats
        guidance = stages.seconds.get("guidance", 0.0) / args.repeats
        other = max(wall - denoiser - guidance, 0.0)
        lines.append(f"batch {batch:3d}: {wall * 1000:8.1f} ms per fit (mean of {args.repeats}, fastest "
                     f"{fastest * 1000:.1f}; {wall * 1000 / batch:7.1f} ms per person); "
                     f"denoiser {denoiser * 1000:7.1f} ms ({denoiser / wall:5.1%}), body model + guidance "
                     f"{guidance * 1000:7.1f} ms ({guidance / wall:5.1%}), other {other * 1000:6.1f} ms "
                     f"({other / wall:5.1%}); guidance/denoiser ratio {guidance / max(denoiser, 1e-12):.2f}")
    for line in lines:
        LOGGER.info("%s", line)
    return 0
