"""Write test/fixtures/golden/pare_official.npz by running the official PARE code (as vendored by ScoreHMR).

Usage (in a separate venv with torch==2.13.0, numpy, opencv-python-headless, yacs, loguru; run from anywhere):
    python tools/make_pare_golden.py --scorehmr /path/to/ScoreHMR --hmr2 /path/to/4D-Humans \
        --pare /path/to/PARE --workdir /tmp/pare_work --out test/fixtures/golden/pare_official.npz

Nothing of the official code is copied here: the modules are imported from the given checkouts. Modules they
import but that the PARE path does not use (SMPL wrapper, denoiser, diffusion, ema_pytorch, skimage) are replaced
by empty stand-ins. The official ``load_pare`` and ``StandarizeImageFeatures`` read fixed relative paths, so the
script chdirs to ``--workdir`` and writes there: a Lightning-style checkpoint with our deterministic random weights
(scorehmr_ros.image_prior.synthetic_weights, seed SEED), a random ``data/smpl_mean_params.npz`` and random
float32 ``data/stats/pare_feat_stats.npz``.

Inputs: two synthetic BGR images with one box each (the second box reaches outside its image), cropped by the
official demo dataset (``demo/videt_dataset.py`` with ``is_hmr2=False``, 224 px).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import types
from pathlib import Path

import numpy as np
import torch

SEED = 20240605
REPO_ROOT = Path(__file__).resolve().parents[1]


def _stub(name: str, path: Path | None = None, **attributes) -> types.ModuleType:
    module = types.ModuleType(name)
    if path is not None:
        module.__path__ = [str(path)]
    for key, value in attributes.items():
        setattr(module, key, value)
    sys.modules[name] = module
    return module


def _install_stubs(scorehmr: Path, hmr2: Path) -> None:
    sys.path[:0] = [str(scorehmr), str(REPO_ROOT)]
    unused = lambda *args, **kwargs: None  # noqa: E731
    _stub("skimage")
    _stub("skimage.transform", rotate=unused, resize=unused)
    _stub("skimage.filters", gaussian=unused)
    _stub("ema_pytorch", EMA=unused)
    _stub("score_hmr", scorehmr / "score_hmr")
    _stub("score_hmr.models", scorehmr / "score_hmr" / "models", SMPL=unused, FC=unused)
    _stub("score_hmr.utils", scorehmr / "score_hmr" / "utils")
    _stub("score_hmr.diffusion", GaussianDiffusion=unused)
    _stub("hmr2", hmr2 / "hmr2")
    _stub("hmr2.datasets", hmr2 / "hmr2" / "datasets")


def _synthetic_image(rng: np.random.RandomState, height: int, width: int) -> np.ndarray:
    """Smooth colour gradients, a few bright discs and noise: plausible texture for a crop test."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    image = np.stack([xx / width * 200, yy / height * 180, (xx + yy) / (width + height) * 150 + 40], axis=-1)
    for _ in range(6):
        cx, cy, radius = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(10, 50)
        image[(xx - cx) ** 2 + (yy - cy) ** 2 < radius**2] = rng.uniform(0, 255, size=3)
    image += rng.normal(0, 12, size=image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _write_inputs(workdir: Path, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    (workdir / "data" / "stats").mkdir(parents=True, exist_ok=True)
    np.savez(workdir / "data" / "smpl_mean_params.npz", pose=rng.normal(0, 0.1, 144), shape=rng.normal(0, 0.1, 10),
             cam=np.array([0.9, 0.0, 0.0]))
    feat_mean = rng.normal(0.0, 0.05, 3072).astype(np.float32)
    feat_std = rng.uniform(0.02, 0.2, 3072).astype(np.float32)
    np.savez(workdir / "data" / "stats" / "pare_feat_stats.npz", pose_feats_mean=feat_mean,
             pose_feats_std=feat_std, cam_shape_feats_mean=np.zeros(1536, np.float32),
             cam_shape_feats_std=np.ones(1536, np.float32))
    return feat_mean, feat_std


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scorehmr", type=Path, required=True, help="ScoreHMR checkout (statho/ScoreHMR)")
    parser.add_argument("--hmr2", type=Path, required=True, help="4D-Humans checkout (hmr2/datasets/utils.py)")
    parser.add_argument("--pare", type=Path, required=True, help="PARE checkout (pare/utils/geometry.py)")
    parser.add_argument("--workdir", type=Path, required=True, help="scratch directory (official relative paths)")
    parser.add_argument("--out", type=Path, required=True, help="output .npz")
    args = parser.parse_args()
    out_path = args.out.resolve()
    _install_stubs(args.scorehmr.resolve(), args.hmr2.resolve())
    from scorehmr_ros.image_prior.synthetic_weights import random_state_dict, state_dict_checksum

    args.workdir.mkdir(parents=True, exist_ok=True)
    os.chdir(args.workdir)
    rng = np.random.RandomState(SEED + 1)
    feat_mean, feat_std = _write_inputs(Path("."), rng)

    # 1. The official model with deterministic random weights, saved as a Lightning checkpoint, read by load_pare.
    pare_module = importlib.import_module("score_hmr.models.pare")
    model_utils = importlib.import_module("score_hmr.models.model_utils")
    constants = importlib.import_module("constants")
    reference = pare_module.PARE(backbone="hrnet_w32-conv", shape_input_type="feats.shape.cam",
                                 pose_input_type="feats.self_pose.shape.cam", use_heatmaps="part_segm",
                                 use_keypoint_attention=True, num_deconv_layers=2, num_deconv_filters=128)
    weights = random_state_dict(reference.state_dict(), seed=SEED)
    lightning_state = {f"model.{key}": value for key, value in weights.items()}
    lightning_state["loss_fn.smpl.some_buffer"] = torch.zeros(4)  # a non-model key, as Lightning stores the loss
    Path(constants.PARE_CHECKPOINT).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": lightning_state, "epoch": 3, "global_step": 1234,
                "pytorch-lightning_version": "1.1.8"}, constants.PARE_CHECKPOINT)
    pare = model_utils.load_pare({}).eval()
    loaded = {key: value for key, value in pare.state_dict().items()}
    checksum = state_dict_checksum(loaded)
    if checksum != state_dict_checksum(weights):
        raise RuntimeError("official load_pare did not reproduce the generated weights")

    # 2. Official crops (demo dataset, is_hmr2=False -> 224 px, tight box, constant-0 border).
    videt = importlib.import_module("demo.videt_dataset")
    hmr2_utils = importlib.import_module("hmr2.datasets.utils")
    images = [_synthetic_image(rng, 240, 320), _synthetic_image(rng, 200, 260)]
    boxes = [np.array([[60.3, 20.7, 190.2, 230.9]]), np.array([[-30.5, 40.25, 150.75, 170.0]])]
    items, crops_u8 = [], []
    for image, box in zip(images, boxes, strict=True):
        dataset = videt.ViTDetDataset(None, image, box, np.zeros((1, 25, 3)), is_hmr2=False)
        item = dataset[0]
        items.append(item)
        patch, _ = hmr2_utils.generate_image_patch_cv2(image.copy(), *item["box_center"], item["box_size"],
                                                       item["box_size"], 224, 224, False, 1.0, 0)
        crops_u8.append(patch)
    batch = torch.from_numpy(np.stack([item["img"] for item in items]))

    # 3. Official forward (eval, no grad), the raw 6D head output captured from pose_mlp, and standardisation.
    captured = {}
    pare.head.pose_mlp.register_forward_hook(lambda module, inputs, output: captured.update(raw=output))
    with torch.no_grad():
        out = pare(batch)
    pose_6d = captured["raw"].squeeze(-1).transpose(2, 1)  # (B, 24, 6), as the head itself reshapes it
    standardizer = importlib.import_module("score_hmr.utils.utils").StandarizeImageFeatures(
        backbone="pare", use_betas=False, device=torch.device("cpu"))
    cond_feats = standardizer(out["pose_feats"].reshape(batch.shape[0], -1))
    sys.path.insert(0, str(args.pare.resolve()))
    pare_geometry = importlib.import_module("pare.utils.geometry")
    pose_pare_order = pare_geometry.rot6d_to_rotmat(pose_6d.reshape(-1, 6)).reshape(-1, 24, 3, 3)

    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out_path,
        seed=np.int64(SEED),
        weights_checksum=np.array(checksum),
        state_dict_keys=np.array(sorted(weights)),
        state_dict_shapes=np.array([str(tuple(weights[key].shape)) for key in sorted(weights)]),
        image_0=images[0], image_1=images[1], boxes_xyxy_0=boxes[0], boxes_xyxy_1=boxes[1],
        box_center=np.stack([item["box_center"] for item in items]),
        box_size=np.array([item["box_size"] for item in items], dtype=np.float32),
        crop_bgr_u8=np.stack(crops_u8), crop_normalized=batch.numpy(),
        feat_mean=feat_mean, feat_std=feat_std,
        pose_feats=out["pose_feats"].numpy(), cam_shape_feats=out["cam_shape_feats"].numpy(),
        cond_feats=cond_feats.numpy(), pred_pose_6d=pose_6d.numpy(),
        pred_pose_scorehmr_copy=out["pred_pose"].numpy(), pred_pose_pare_order=pose_pare_order.numpy(),
        pred_shape=out["pred_shape"].numpy(), pred_cam=out["pred_cam"].numpy(),
    )
    print(f"wrote {out_path} (weights checksum {checksum[:16]}...)")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
