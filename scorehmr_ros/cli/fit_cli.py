"""``scorehmr-ros fit``: run the official guided fit on a file of regressor outputs (npz in, npz out).

Input keys (the official batch): pred_pose (B,24,3,3), pred_betas (B,10), pred_cam_t (B,3) metres,
keypoints_2d (B,25|44,3) full-image pixels + confidence, img_size (B,2) as (W,H) pixels, and either
cond_feats (B,3072) standardised PARE features or img (B,3,224,224) normalised crops (with --pare-checkpoint
and --pare-stats). Output keys: global_orient (B,1,3,3), body_pose (B,23,3,3), betas (B,10),
camera_translation (B,3) metres, joints (B,44,3) and vertices (B,6890,3) metres in the body frame.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from scorehmr_ros.cli.fit_calibrated_cli import load_input_npz, run_calibrated

LOGGER = logging.getLogger(__name__)

#: key -> expected shape after the batch dimension (None = any size); J may be 25 or 44.
INPUT_SHAPES: dict[str, tuple[int | None, ...]] = {
    "pred_pose": (24, 3, 3),
    "pred_betas": (10,),
    "pred_cam_t": (3,),
    "keypoints_2d": (None, 3),
    "img_size": (2,),
    "cond_feats": (None,),
    "img": (3, 224, 224),
}


class FitFileError(ValueError):
    """An input file that is missing a key or has a key of the wrong shape."""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fit", help="guided ScoreHMR fit of a file of regressor outputs (npz -> npz)", description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--mode", choices=["single", "multiview", "video", "calibrated"], default="single",
                        help="single: per-person keypoint fit (demo_image); multiview: the B rows are views of one "
                             "person, pose consistency only (eval_multiview); video: the B rows are frames, "
                             "keypoints + smoothness (eval_video); calibrated: world-frame bodies from calibrated "
                             "views (input keys in cli/fit_calibrated_cli.py)")
    parser.add_argument("--checkpoint", "--prior", dest="checkpoint", type=Path, required=True,
                        help="diffusion checkpoint model-*.pt (calibrated: the keypoint-only prior)")
    parser.add_argument("--body-model", type=Path, required=True, help="body model .npz (imported SMPL or stand-in)")
    parser.add_argument("--input", type=Path, required=True, help="input .npz (keys in the description)")
    parser.add_argument("--output", type=Path, required=True, help="output .npz")
    parser.add_argument("--iters", type=_positive_int, default=None,
                        help="optimisation rounds (default: the mode's official value, 10; multiview 2)")
    parser.add_argument("--sample-start", type=_positive_int, default=None,
                        help="highest DDIM timestep, steps (default: official 50; multiview 100)")
    parser.add_argument("--step", type=_positive_int, default=None,
                        help="DDIM step, timesteps (default: official 2; multiview 10)")
    parser.add_argument("--per-frame-betas", action="store_true",
                        help="multiview/video: keep each row's betas instead of the batch mean (official eval "
                             "scripts average them)")
    parser.add_argument("--pare-checkpoint", type=Path, default=None,
                        help="PARE Lightning checkpoint, to compute cond_feats from the input's img crops")
    parser.add_argument("--pare-stats", type=Path, default=None, help="pare_feat_stats.npz for --pare-checkpoint")
    parser.add_argument("--streaming", action="store_true", help="calibrated: streaming fitter (sliding window)")
    parser.add_argument("--window", type=_positive_int, default=8, help="calibrated --streaming: window, frames")
    parser.add_argument("--lag", type=int, default=3, help="calibrated --streaming: output lag, frames (0 = newest)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def read_fit_file(path: Path, *, need_keypoints: bool) -> dict[str, np.ndarray]:
    """Load the input npz (no pickles) and check every key's shape; raises FitFileError naming the key."""
    arrays = load_input_npz(path, error=FitFileError)
    required = ["pred_pose", "pred_betas"] + (["pred_cam_t", "keypoints_2d", "img_size"] if need_keypoints else [])
    for key in required:
        if key not in arrays:
            tail = ", ".join("*" if e is None else str(e) for e in INPUT_SHAPES[key])
            raise FitFileError(f"{path}: missing key '{key}' (expected shape (B, {tail}))")
    if "cond_feats" not in arrays and "img" not in arrays:
        raise FitFileError(f"{path}: needs 'cond_feats' (B, 3072) standardised features or 'img' (B, 3, 224, 224) "
                           "crops (with --pare-checkpoint and --pare-stats)")
    batch = arrays["pred_pose"].shape[0] if arrays["pred_pose"].ndim else 0
    for key, tail in INPUT_SHAPES.items():
        if key not in arrays:
            continue
        shape = arrays[key].shape
        if len(shape) != len(tail) + 1 or shape[0] != batch or any(e is not None and e != s
                                                                     for e, s in zip(tail, shape[1:], strict=True)):
            expected = "(" + ", ".join(["B"] + ["*" if e is None else str(e) for e in tail]) + ")"
            raise FitFileError(f"{path}: key '{key}' has shape {shape}, expected {expected} with B = {batch}")
    if "keypoints_2d" in arrays and arrays["keypoints_2d"].shape[1] not in (25, 44):
        raise FitFileError(f"{path}: key 'keypoints_2d' has {arrays['keypoints_2d'].shape[1]} joints, "
                           "expected 25 or 44")
    if "keypoints_2d" in arrays and arrays["keypoints_2d"].shape[1] == 25:
        # OpenPose-25 only: append the 19 extra joints as missing (zero), as the official demos do.
        keypoints = arrays["keypoints_2d"]
        arrays["keypoints_2d"] = np.concatenate([keypoints, np.zeros((keypoints.shape[0], 19, 3), keypoints.dtype)], 1)
    return arrays


def _cond_from_images(images: np.ndarray, args: argparse.Namespace) -> np.ndarray:
    if args.pare_checkpoint is None or args.pare_stats is None:
        raise FitFileError("the input has 'img' crops but no 'cond_feats': pass --pare-checkpoint and --pare-stats")
    try:
        from scorehmr_ros.image_prior import PareModel
    except ImportError as error:
        raise FitFileError(f"PARE is not available in this installation ({error}); give 'cond_feats' instead") from None
    import torch

    pare, _ = PareModel.from_checkpoint(args.pare_checkpoint, feature_stats_path=args.pare_stats)
    return pare.predict(torch.from_numpy(images.astype(np.float32))).cond_feats.numpy()


def run(args: argparse.Namespace) -> int:
    if args.mode == "calibrated":
        return run_calibrated(args)
    import torch
    from tqdm import tqdm

    from scorehmr_ros.body.body_model import BodyModel
    from scorehmr_ros.diffusion.checkpoint import CheckpointError, load_diffusion_checkpoint
    from scorehmr_ros.fitting.fit_config import FitConfig
    from scorehmr_ros.fitting.fitting import FitInputError, FitInputs, guided_fit

    config = FitConfig.for_mode(args.mode)
    changes = {k: v for k, v in (("optim_iters", args.iters), ("sample_start", args.sample_start),
                                 ("ddim_step", args.step)) if v is not None}
    try:
        config = config.replace(**changes)
        arrays = read_fit_file(args.input, need_keypoints=config.keypoint_guidance)
        diffusion = load_diffusion_checkpoint(args.checkpoint)
        body_model = BodyModel.from_file(args.body_model)
        cond = arrays.get("cond_feats")
        if cond is None and diffusion.model.config.cond_dim > 0:
            cond = _cond_from_images(arrays["img"], args)

        def tensor(key: str) -> torch.Tensor | None:
            return torch.from_numpy(arrays[key].astype(np.float32)) if key in arrays else None

        inputs = FitInputs(pred_pose=tensor("pred_pose"), pred_betas=tensor("pred_betas"),
                           init_cam_t_m=tensor("pred_cam_t"), keypoints_2d_px=tensor("keypoints_2d"),
                           img_size_px=tensor("img_size"),
                           cond_feats=None if cond is None else torch.from_numpy(cond.astype(np.float32)))
        if args.mode in ("multiview", "video") and not args.per_frame_betas:
            inputs = inputs.with_mean_betas()
        LOGGER.info("fitting %d rows, mode %s (%d x %d/%d), body model: %s", inputs.batch_size, args.mode,
                    config.optim_iters, config.sample_start, config.ddim_step, body_model.description)
        with tqdm(total=config.optim_iters, desc="fit", unit="iter", disable=args.no_progress) as bar:
            result = guided_fit(diffusion=diffusion, body_model=body_model, inputs=inputs, config=config,
                                on_iteration=lambda _: bar.update(1))
    except (FitFileError, FitInputError, CheckpointError, ValueError, OSError) as error:
        LOGGER.error("%s", error)
        return 2
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.output, global_orient=result.global_orient.numpy(), body_pose=result.body_pose.numpy(),
        betas=result.betas.numpy(), camera_translation=result.camera_translation_m.numpy(),
        joints=result.joints_m.numpy(), vertices=result.vertices_m.numpy(),
        body_model=np.array(body_model.description))  # says "STAND-IN" when the stand-in was used
    LOGGER.info("wrote %s (body model: %s)", args.output, body_model.description)
    return 0
