"""``scorehmr-ros train``: train a ScoreHMR denoiser with the official recipe.

Two data sources:
  --data motion   the keypoint-only prior (no image condition): SMPL poses from the DeepMimic clips (sim/) and
                  AMASS npz files, mirrored left-right, turned by a uniformly random heading about the world
                  z axis; the last --heldout-fraction of every clip is held out and evaluated at the end.
  --data image    the image-conditioned model: official label files (body_pose (N,72), has_body_pose) with
                  their cached PARE features (pose_feats (N,128,24)) and pare_feat_stats.npz.
Checkpoints ``model-<step>.pt`` in the official format go to --out; --export writes the small EMA-only file.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from scorehmr_ros.cli.arg_types import non_negative_int, positive_int, ranged
from scorehmr_ros.training.training_config import TrainConfig

LOGGER = logging.getLogger(__name__)
_DEFAULTS = TrainConfig()
#: Architecture defaults (the official FC), repeated here to keep torch out of parser set-up; a test checks.
DEFAULT_HIDDEN_DIM = 1024
DEFAULT_NUM_BLOCKS = 3
DEFAULT_HELDOUT_FRACTION = 0.2


def _image_dataset(text: str) -> tuple[Path, Path, float]:
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise argparse.ArgumentTypeError(f"expected LABELS.npz:PARE_PREDS.npz[:WEIGHT], got {text!r}")
    weight = float(parts[2]) if len(parts) == 3 else 1.0
    if not weight > 0:
        raise argparse.ArgumentTypeError(f"weight must be > 0, got {weight}")
    return Path(parts[0]), Path(parts[1]), weight


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shown defaults, description kept as written."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train a diffusion denoiser (official recipe)", description=__doc__,
                                   formatter_class=_HelpFormatter)
    parser.add_argument("--data", choices=["motion", "image"], default="motion",
                        help="motion: keypoint-only prior from motion clips; image: PARE-conditioned model")
    parser.add_argument("--out", type=Path, required=True, help="folder for checkpoints model-<step>.pt and logs")
    motion = parser.add_argument_group("motion data (--data motion)")
    motion.add_argument("--clips", default="all",
                        help="comma-separated DeepMimic clips (sim/deepmimic.py CLIP_NAMES), 'all' or 'none'")
    motion.add_argument("--amass", type=Path, nargs="*", default=[], help="AMASS npz files (resampled to 30 Hz)")
    motion.add_argument("--no-mirror", action="store_true", help="do not add the left-right mirrored clips")
    motion.add_argument("--no-random-heading", action="store_true",
                        help="keep the clips' headings (default: uniform random heading about world z per sample)")
    motion.add_argument("--heldout-fraction", type=ranged(float, minimum=0.0, maximum=0.9),
                        default=DEFAULT_HELDOUT_FRACTION,
                        help="last fraction of every clip held out from training and evaluated at the end")
    image = parser.add_argument_group("image data (--data image)")
    image.add_argument("--image-dataset", type=_image_dataset, action="append", default=[],
                       help="LABELS.npz:PARE_PREDS.npz[:WEIGHT]; repeat for a weighted mix (official: h36m 0.5, "
                            "coco 0.3, mpi-inf 0.2)")
    image.add_argument("--feat-stats", type=Path, default=None, help="data/stats/pare_feat_stats.npz")
    model = parser.add_argument_group("model")
    model.add_argument("--hidden-dim", type=positive_int, default=DEFAULT_HIDDEN_DIM,
                       help="width of each residual block's MLP (official 1024)")
    model.add_argument("--num-blocks", type=positive_int, default=DEFAULT_NUM_BLOCKS, help="residual blocks")
    run_group = parser.add_argument_group("run")
    run_group.add_argument("--steps", type=positive_int, default=_DEFAULTS.total_steps,
                           help="total optimiser steps (a resumed run continues up to this)")
    run_group.add_argument("--batch-size", type=positive_int, default=_DEFAULTS.batch_size,
                           help="poses per step")
    run_group.add_argument("--lr", type=float, default=_DEFAULTS.learning_rate, help="Adam learning rate")
    run_group.add_argument("--seed", type=non_negative_int, default=_DEFAULTS.seed,
                           help="seed of the initial weights and of every draw")
    run_group.add_argument("--checkpoint-every", type=non_negative_int, default=_DEFAULTS.checkpoint_every,
                           help="steps between checkpoints (0: only at the end)")
    run_group.add_argument("--log-every", type=positive_int, default=_DEFAULTS.log_every,
                           help="steps between loss log lines")
    run_group.add_argument("--resume", type=Path, default=None, help="checkpoint to continue from")
    run_group.add_argument("--export", type=Path, default=None,
                           help="also write the EMA-only prior file (no Adam state, weights stored once)")
    run_group.add_argument("--device", default="cpu", help="torch device to train on")
    run_group.add_argument("--threads", type=non_negative_int, default=0,
                           help="CPU threads for torch (0: torch's default)")
    run_group.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run, parser=parser)


def _motion_data(args: argparse.Namespace):
    from scorehmr_ros.sim import deepmimic, retarget
    from scorehmr_ros.sim.motion import load_amass_npz
    from scorehmr_ros.training.training_data import MotionPoseSampler, split_clips_in_time, with_mirrored

    if args.clips == "all":
        names = list(deepmimic.CLIP_NAMES)
    elif args.clips == "none":
        names = []
    else:
        names = [n.strip() for n in args.clips.split(",") if n.strip()]
        unknown = [n for n in names if n not in deepmimic.CLIP_NAMES]
        if unknown:
            args.parser.error(f"--clips: unknown {unknown}; choose from {', '.join(deepmimic.CLIP_NAMES)}")
    clips = [retarget.load_deepmimic_clip(n) for n in names] + [load_amass_npz(p) for p in args.amass]
    if not clips:
        args.parser.error("--data motion needs at least one clip (--clips or --amass)")
    if not args.no_mirror:
        clips = with_mirrored(clips)
    split = split_clips_in_time(clips, heldout_fraction=args.heldout_fraction)
    LOGGER.info("motion data: %d clips, %d training poses, %d held-out poses", len(clips), len(split.train),
                len(split.heldout))
    return MotionPoseSampler(split.train, random_heading=not args.no_random_heading), split


def _image_data(args: argparse.Namespace):
    from scorehmr_ros.training.training_data import ImageFeatureSampler, load_official_image_dataset

    if not args.image_dataset or args.feat_stats is None:
        args.parser.error("--data image needs --image-dataset (at least one) and --feat-stats")
    sets = [load_official_image_dataset(dataset_file=labels, pare_preds_file=preds, feat_stats_file=args.feat_stats)
            for labels, preds, _ in args.image_dataset]
    for item in sets:
        LOGGER.info("image data %s: %d labelled rows of %d", item.name, item.pose_6d.shape[0], item.num_rows_in_file)
    return ImageFeatureSampler(sets, weights=[w for _, _, w in args.image_dataset])


def run(args: argparse.Namespace) -> int:
    import torch

    from scorehmr_ros.diffusion.denoiser import PARE_COND_DIM, DenoiserConfig
    from scorehmr_ros.training.training import export_prior, train

    if args.threads:
        torch.set_num_threads(args.threads)
    split = None
    if args.data == "motion":
        sampler, split = _motion_data(args)
    else:
        sampler = _image_data(args)
    config = TrainConfig(total_steps=args.steps, batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed,
                         checkpoint_every=args.checkpoint_every, log_every=args.log_every)
    try:
        config.validate()
    except ValueError as error:
        args.parser.error(str(error))
    denoiser_config = DenoiserConfig(hidden_dim=args.hidden_dim, num_blocks=args.num_blocks,
                                     cond_dim=0 if args.data == "motion" else PARE_COND_DIM)
    result = train(sampler=sampler, config=config, out_dir=args.out, denoiser_config=denoiser_config,
                   resume_from=args.resume, device=args.device, progress=not args.no_progress)
    tail = result.losses[-min(1000, len(result.losses)):] if len(result.losses) else result.losses
    summary = {"start_step": result.start_step, "final_step": result.final_step, "wall_time_s": result.wall_time_s,
               "final_loss_mean_last_1000": float(tail.mean()) if len(tail) else None,
               "checkpoint": str(result.checkpoint_path), "seed": args.seed, "config": repr(config),
               "denoiser": result.ema.model.config.as_dict(),
               "parameters": sum(p.numel() for p in result.ema.model.parameters())}
    if split is not None and len(split.heldout):
        from scorehmr_ros.training.prior_eval import evaluate_motion_prior

        evaluation = evaluate_motion_prior(result.ema, split=split, seed=args.seed)
        summary["evaluation"] = evaluation.as_dict()
        for line in evaluation.table().splitlines():
            LOGGER.info("%s", line)
    if args.export is not None:
        path = export_prior(checkpoint=result.checkpoint_path, out_path=args.export)
        summary["export"] = {"path": str(path), "bytes": path.stat().st_size}
        LOGGER.info("exported the EMA prior to %s (%d bytes)", path, path.stat().st_size)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"summary-{result.final_step}.json").write_text(json.dumps(summary, indent=2))
    torch.save(result.losses, args.out / f"losses-{result.start_step}-{result.final_step}.pt")
    return 0
