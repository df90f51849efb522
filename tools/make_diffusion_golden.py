"""Produce test/fixtures/golden/diffusion_*.npz by running the OFFICIAL ScoreHMR code.

Run it OUTSIDE the project venv, in a venv with torch==2.13.0, ema-pytorch, einops, yacs, smplx,
scipy, with a checkout of statho/ScoreHMR (commit f623ed1) and a stand-in body model written in the
official layout (``scorehmr_ros.assets.standin.write_standin_official_layout(ROOT)``)::

    python tools/make_diffusion_golden.py --official /tmp/official/ScoreHMR --data-root ROOT \
        --out test/fixtures/golden [--part schedule|fit|all]

This file contains no official code: it imports the official modules from --official, with
two import stubs (the package ``__init__`` files that pull in the trainer/renderers, and the
PARE module that model_utils imports but the diffusion model never uses). Random weights come
from test/golden_weights.py (numpy RandomState), so the tests regenerate them bit-exactly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import types
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "test"))
from golden_weights import random_denoiser_state, state_checksum  # noqa: E402

DENOISER_SEED = 0
FIT_DENOISER_SEED = 1
FIT_HIDDEN_DIM = 64


def import_official(repo: Path):
    """Import the official modules needed, stubbing the package __init__ files and PARE."""
    sys.path.insert(0, str(repo))
    for name, sub in (("score_hmr", "score_hmr"), ("score_hmr.utils", "score_hmr/utils")):
        module = types.ModuleType(name)
        module.__path__ = [str(repo / sub)]
        sys.modules[name] = module
    pare_stub = types.ModuleType("score_hmr.models.pare")
    pare_stub.PARE = None
    sys.modules["score_hmr.models.pare"] = pare_stub
    from score_hmr.configs import model_config
    from score_hmr.diffusion import GaussianDiffusion
    from score_hmr.models import FC
    from score_hmr.models.model_utils import load_diffusion_model
    from score_hmr.utils.utils import prepare_smpl_params
    return model_config, GaussianDiffusion, FC, load_diffusion_model, prepare_smpl_params


def official_cfg(model_config, *, hidden_dim: int | None = None):
    cfg = model_config()
    cfg.defrost()
    if hidden_dim is not None:
        cfg.MODEL.DENOISING_MODEL.HIDDEN_LAYER_DIM = hidden_dim
    cfg.freeze()
    return cfg


def write_official_checkpoint(GaussianDiffusion, FC, cfg, state: dict[str, np.ndarray], path: Path) -> dict:
    """Save random weights as an official model-*.pt (EMA of GaussianDiffusion); returns the key layout."""
    from ema_pytorch import EMA

    diffusion = GaussianDiffusion(cfg, FC(cfg), device="cpu")
    diffusion.model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    ema = EMA(diffusion, beta=0.995, update_every=10)
    ema.ema_model.load_state_dict(diffusion.state_dict())
    data = {"step": 1_000_000, "model": diffusion.state_dict(), "ema": ema.state_dict(),
            "opt": torch.optim.Adam(diffusion.parameters(), lr=1e-4, betas=(0.9, 0.99)).state_dict()}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, path)
    return {k: [list(v.shape), str(v.dtype)] for k, v in data["ema"].items()}


def make_schedule_and_denoiser(official, out: Path, work: Path) -> None:
    model_config, GaussianDiffusion, FC, load_diffusion_model, _ = official
    cfg = official_cfg(model_config)
    model = FC(cfg)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    state = random_denoiser_state(shapes, seed=DENOISER_SEED)
    ckpt_dir = work / "data" / "model_weights" / "score_hmr"
    layout = write_official_checkpoint(GaussianDiffusion, FC, cfg, state, ckpt_dir / "model-100.pt")
    cwd = os.getcwd()
    os.chdir(work)
    try:  # the official loader, on the official-format file (SMPL is attached after loading: stand-in files)
        diffusion = load_diffusion_model(cfg, use_default_ckpt=True, device=torch.device("cpu"))
    finally:
        os.chdir(cwd)
    rng = np.random.RandomState(100)
    x_t = rng.standard_normal((4, 144)).astype(np.float32)
    t = np.array([0, 2, 50, 999], dtype=np.int64)
    cond = rng.standard_normal((4, 3072)).astype(np.float32)
    with torch.no_grad():
        eps = diffusion.model(torch.from_numpy(x_t), torch.from_numpy(t), torch.from_numpy(cond)).numpy()
    buffers = {f"schedule_{name}": diffusion.get_buffer(name).numpy() for name, _ in diffusion.named_buffers()
               if not name.startswith(("smpl.", "model."))}
    np.savez_compressed(out / "diffusion_denoiser.npz", x_t=x_t, t=t, cond=cond, pred_noise=eps,
                        weights_seed=np.int64(DENOISER_SEED), weights_sha256=np.array(state_checksum(state)),
                        **buffers)
    (out / "diffusion_checkpoint_layout.json").write_text(json.dumps(layout, indent=0, sort_keys=True))
    print(f"denoiser: |eps| mean {np.abs(eps).mean():.4f}, {len(layout)} ema keys")  # noqa: T201


#: name -> (official sample() kwargs, batch size, average betas as eval_multiview/eval_video, keep vertices)
FIT_CASES = {
    "single": (dict(keypoint_guidance=True, optim_iters=2, sample_start=10, ddim_step_size=2), 3, False, True),
    "single_early_stop": (dict(keypoint_guidance=True, early_stopping=True, optim_iters=2, sample_start=10,
                               ddim_step_size=2), 3, False, False),
    "multiview": (dict(multiview_guidance=True, optim_iters=2, sample_start=100, ddim_step_size=10), 4, True, False),
    "video": (dict(keypoint_guidance=True, temporal_guidance=True, optim_iters=2, sample_start=10,
                   ddim_step_size=2), 5, True, False),
}
SLOW_CASES = {"single_default": (dict(keypoint_guidance=True), 2, False, False)}


def _random_inputs(smpl, batch_size: int, seed: int, *, zero_conf_sample: int | None) -> dict[str, np.ndarray]:
    """Plausible regressor output and noisy keypoints of a perturbed body (all float32)."""
    from score_hmr.utils.geometry import aa_to_rotmat

    rng = np.random.RandomState(seed)
    aa = 0.2 * rng.standard_normal((batch_size, 24, 3))
    aa[:, 0] = [np.pi, 0, 0] + 0.2 * rng.standard_normal((batch_size, 3))  # upright in the OpenCV camera
    aa_true = aa + 0.15 * rng.standard_normal(aa.shape)
    betas = (0.8 * rng.standard_normal((batch_size, 10))).astype(np.float32)
    cam_t = np.stack([0.2 * rng.standard_normal(batch_size), 0.2 * rng.standard_normal(batch_size),
                      rng.uniform(15, 30, batch_size)], axis=1).astype(np.float32)
    cam_t_true = cam_t + np.array([0.05, -0.05, 1.0], np.float32) * rng.standard_normal(cam_t.shape).astype(np.float32)
    img_size = np.tile(np.array([[640.0, 480.0]], np.float32), (batch_size, 1))
    img_size[0] = (1280.0, 720.0)

    def rotmats(axis_angle):
        return aa_to_rotmat(torch.from_numpy(axis_angle.reshape(-1, 3)).float()).reshape(batch_size, 24, 3, 3)

    with torch.no_grad():
        true = smpl(global_orient=rotmats(aa_true)[:, [0]], body_pose=rotmats(aa_true)[:, 1:],
                    betas=torch.from_numpy(betas), pose2rot=False).joints.numpy()
    points = true + cam_t_true[:, None]
    uv = 5000.0 * points[..., :2] / points[..., 2:] + img_size[:, None] / 2
    uv += 3.0 * rng.standard_normal(uv.shape)
    conf = rng.uniform(0.4, 1.0, (batch_size, 44, 1))
    conf[rng.uniform(size=conf.shape) < 0.1] = 0.0
    if zero_conf_sample is not None:
        conf[zero_conf_sample] = 0.0
    return {"pred_pose": rotmats(aa).numpy(), "pred_betas": betas, "pred_cam_t": cam_t,
            "keypoints_2d": np.concatenate([uv, conf], axis=-1).astype(np.float32), "img_size": img_size,
            "cond_feats": rng.standard_normal((batch_size, 3072)).astype(np.float32)}


def _run_official(diffusion, prepare_smpl_params, inputs: dict[str, np.ndarray], average_betas: bool) -> dict:
    batch = {k: torch.from_numpy(v.copy()) for k, v in inputs.items() if k != "cond_feats"}
    size = batch["pred_pose"].shape[0]
    if average_betas:  # as eval_multiview.py / eval_video.py
        batch["pred_betas"] = batch["pred_betas"].mean(dim=0).unsqueeze(dim=0).repeat(size, 1)
    batch["camera_center"] = batch["img_size"] / 2  # as demo_image.py
    batch["joints_2d"] = batch["keypoints_2d"][:, :, :2]
    batch["joints_conf"] = batch["keypoints_2d"][:, :, [2]]
    batch["focal_length"] = 5000.0 * torch.ones(size, 2, dtype=batch["keypoints_2d"].dtype)
    batch["init_cam_t"] = batch["pred_cam_t"].clone()
    with torch.no_grad():
        out = diffusion.sample(batch, torch.from_numpy(inputs["cond_feats"]), batch_size=size)
        params = prepare_smpl_params(out["x_0"], num_samples=1, use_betas=False, pred_betas=batch["pred_betas"])
        body = diffusion.smpl(**params, pose2rot=False)
    camera = out["camera_translation"]
    return {"out_x0": out["x_0"].numpy(), "out_joints": body.joints.numpy(), "out_vertices": body.vertices.numpy(),
            "out_camera_translation": (camera if camera is not None else batch["init_cam_t"]).numpy()}


def make_fit_goldens(official, out: Path, work: Path, *, slow: bool) -> None:
    model_config, GaussianDiffusion, FC, load_diffusion_model, prepare_smpl_params = official
    sys.path.insert(0, str(HERE.parent))
    from scorehmr_ros.diffusion.checkpoint import (
        save_diffusion_checkpoint,  # our writer: the official loader must read it
    )
    from scorehmr_ros.diffusion.denoiser import Denoiser, DenoiserConfig
    from scorehmr_ros.diffusion.diffusion import Diffusion as OurDiffusion

    cfg = official_cfg(model_config, hidden_dim=FIT_HIDDEN_DIM)
    shapes = {k: tuple(v.shape) for k, v in FC(cfg).state_dict().items()}
    state = random_denoiser_state(shapes, seed=FIT_DENOISER_SEED)
    ours = OurDiffusion(denoiser=Denoiser(DenoiserConfig(hidden_dim=FIT_HIDDEN_DIM)))
    ours.model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    save_diffusion_checkpoint(work / "logs" / "checkpoints" / "fit_golden" / "model-100.pt", online=ours, step=1)
    cases = {**FIT_CASES, **(SLOW_CASES if slow else {})}
    cwd = os.getcwd()
    os.chdir(work)
    try:
        for index, (name, (kwargs, batch_size, average_betas, keep_vertices)) in enumerate(cases.items()):
            diffusion = load_diffusion_model(cfg, name="fit_golden", device=torch.device("cpu"), **kwargs)
            inputs = _random_inputs(diffusion.smpl, batch_size, seed=200 + index,
                                    zero_conf_sample=2 if kwargs.get("early_stopping") else None)
            result = _run_official(diffusion, prepare_smpl_params, inputs, average_betas)
            if not keep_vertices:
                del result["out_vertices"]
            np.savez_compressed(out / f"diffusion_fit_{name}.npz", **inputs, **result,
                                weights_seed=np.int64(FIT_DENOISER_SEED), hidden_dim=np.int64(FIT_HIDDEN_DIM),
                                weights_sha256=np.array(state_checksum(state)), average_betas=np.bool_(average_betas),
                                official_kwargs=np.array(json.dumps(kwargs)))
            moved = np.abs(result["out_joints"] - inputs_joints(diffusion, inputs, average_betas)).max()
            print(f"{name}: B={batch_size}, max joint change {moved * 1000:.1f} mm")  # noqa: T201
    finally:
        os.chdir(cwd)


def inputs_joints(diffusion, inputs: dict[str, np.ndarray], average_betas: bool) -> np.ndarray:
    pose = torch.from_numpy(inputs["pred_pose"])
    betas = torch.from_numpy(inputs["pred_betas"])
    if average_betas:
        betas = betas.mean(dim=0, keepdim=True).repeat(len(betas), 1)
    with torch.no_grad():
        body = diffusion.smpl(global_orient=pose[:, [0]], body_pose=pose[:, 1:], betas=betas, pose2rot=False)
    return body.joints.numpy()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--official", type=Path, required=True, help="checkout of statho/ScoreHMR")
    parser.add_argument("--data-root", type=Path, required=True, help="folder with data/smpl/SMPL_NEUTRAL.pkl etc.")
    parser.add_argument("--out", type=Path, required=True, help="fixture folder")
    parser.add_argument("--part", choices=["schedule", "fit", "all"], default="all")
    parser.add_argument("--slow", action="store_true", help="also the official-default 10/50/2 single-image case")
    args = parser.parse_args()
    torch.manual_seed(0)
    official = import_official(args.official.resolve())
    args.out.mkdir(parents=True, exist_ok=True)
    if args.part in ("schedule", "all"):
        make_schedule_and_denoiser(official, args.out.resolve(), args.data_root.resolve())
    if args.part in ("fit", "all"):
        make_fit_goldens(official, args.out.resolve(), args.data_root.resolve(), slow=args.slow)
    return 0


if __name__ == "__main__":
    sys.exit(main())
