"""Training: EMA against ema-pytorch, the training loop (determinism, loss, checkpoints, resume), data loaders,
and the committed keypoint-only prior."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from scorehmr_ros.diffusion.checkpoint import CheckpointError, load_diffusion_checkpoint, read_checkpoint_file
from scorehmr_ros.diffusion.denoiser import PARE_COND_DIM, DenoiserConfig
from scorehmr_ros.geometry.rotations import axis_angle_to_matrix, matrix_to_rot6d
from scorehmr_ros.training.ema import ExponentialMovingAverage, ema_decay
from scorehmr_ros.training.training import export_prior, load_training_state, train
from scorehmr_ros.training.training_config import EMAConfig, TrainConfig
from scorehmr_ros.training.training_data import (
    ImageFeatureSampler,
    MotionPoseSampler,
    TrainingDataError,
    apply_heading,
    load_official_image_dataset,
    split_clips_in_time,
    with_mirrored,
)

GOLDEN = Path(__file__).parent / "fixtures" / "golden"
PRIOR = Path(__file__).parents[1] / "scorehmr_ros" / "data" / "priors" / "deepmimic_prior.pt"
TINY = DenoiserConfig(hidden_dim=16, num_blocks=1, cond_dim=0)


@pytest.fixture(autouse=True)
def _one_thread():
    """The host's 2 cores are shared; one torch thread keeps these small models fast (and results reproducible)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _random_rotations(num: int, seed: int) -> np.ndarray:
    generator = torch.Generator().manual_seed(seed)
    axis_angle = torch.randn((num, 24, 3), generator=generator, dtype=torch.float64) * 0.3
    return axis_angle_to_matrix(axis_angle).numpy()


# --- EMA ---------------------------------------------------------------------------------------------------------


def test_ema_matches_ema_pytorch_golden():
    golden = np.load(GOLDEN / "training_ema.npz")
    module = torch.nn.Linear(1, 3, bias=False)
    ema = ExponentialMovingAverage(module, config=EMAConfig())
    ours = []
    for online in golden["online"]:
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(online)[:, None])
        ema.update(module)
        ours.append(ema.ema_model.weight[:, 0].numpy().copy())
    np.testing.assert_allclose(np.stack(ours), golden["ema"], rtol=0, atol=1e-6)
    assert ema.step == int(golden["ema_step"])


def test_ema_decay_warmup_values():
    config = EMAConfig()
    assert ema_decay(num_updates=101, config=config) == 0.0
    assert ema_decay(num_updates=111, config=config) == pytest.approx(1 - 11 ** (-2 / 3))
    assert ema_decay(num_updates=10**6, config=config) == config.beta


@pytest.mark.parametrize("field, value", [("beta", 1.5), ("update_every", 0), ("power", 0.0)])
def test_ema_config_rejects(field, value):
    with pytest.raises(ValueError, match=field):
        EMAConfig(**{field: value}).validate()


def test_train_config_rejects_bad_values():
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0).validate()
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig(learning_rate=-1.0).validate()


# --- motion data ---------------------------------------------------------------------------------------------------


def test_heading_turns_global_orient_about_world_z_only():
    rotations = torch.from_numpy(_random_rotations(5, seed=1))
    angle = torch.linspace(0.1, 3.0, 5, dtype=torch.float64)
    turned = apply_heading(rotations, angle)
    assert torch.equal(turned[:, 1:], rotations[:, 1:])
    # the world height of every body axis is unchanged; its horizontal direction turns by the angle
    torch.testing.assert_close(turned[:, 0, 2], rotations[:, 0, 2])
    before = torch.atan2(rotations[:, 0, 1, 0], rotations[:, 0, 0, 0])
    after = torch.atan2(turned[:, 0, 1, 0], turned[:, 0, 0, 0])
    torch.testing.assert_close(torch.remainder(after - before, 2 * math.pi), angle)


def test_motion_sampler_is_seeded_and_gives_valid_6d():
    sampler = MotionPoseSampler(_random_rotations(20, seed=2))
    a, cond = sampler.sample(batch_size=8, generator=torch.Generator().manual_seed(3))
    b, _ = sampler.sample(batch_size=8, generator=torch.Generator().manual_seed(3))
    assert cond is None and a.shape == (8, 144) and torch.equal(a, b)
    columns = a.reshape(8, 24, 2, 3)
    torch.testing.assert_close(columns.norm(dim=-1), torch.ones(8, 24, 2), atol=1e-5, rtol=0)


def test_split_clips_holds_out_the_end_of_each_clip():
    from scorehmr_ros.sim import retarget

    clips = with_mirrored([retarget.load_deepmimic_clip("walk"), retarget.load_deepmimic_clip("kick")])
    split = split_clips_in_time(clips, heldout_fraction=0.25)
    assert len(split.clip_names) == 4 and split.clip_names[2] == "walk_mirrored"
    assert sum(split.train_frames) + sum(split.heldout_frames) == sum(c.num_frames for c in clips)
    walk = clips[0]
    np.testing.assert_array_equal(split.heldout[:split.heldout_frames[0]], walk.rotations[split.train_frames[0]:])
    with pytest.raises(TrainingDataError, match="heldout_fraction"):
        split_clips_in_time(clips, heldout_fraction=0.95)


# --- training loop -------------------------------------------------------------------------------------------------


def _tiny_run(out_dir: Path, *, steps: int, resume: Path | None = None, checkpoint_every: int = 0):
    sampler = MotionPoseSampler(_random_rotations(64, seed=4))
    config = TrainConfig(total_steps=steps, batch_size=32, learning_rate=1e-3, seed=7,
                         checkpoint_every=checkpoint_every, log_every=10)
    return train(sampler=sampler, config=config, out_dir=out_dir, denoiser_config=TINY, resume_from=resume,
                 progress=False)


def test_tiny_training_is_deterministic_decreases_loss_and_resumes(tmp_path):
    first = _tiny_run(tmp_path / "a", steps=150, checkpoint_every=120)
    second = _tiny_run(tmp_path / "b", steps=150)
    assert torch.equal(first.losses, second.losses)
    for p, q in zip(first.ema.parameters(), second.ema.parameters(), strict=True):
        assert torch.equal(p, q)
    assert first.losses[-30:].mean() < 0.8 * first.losses[:30].mean()
    # the checkpoint loads through the official-format loader and holds the EMA weights
    loaded = load_diffusion_checkpoint(first.checkpoint_path)
    assert loaded.model.config == TINY
    for key, value in first.ema.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    data = read_checkpoint_file(first.checkpoint_path)
    assert data["step"] == 150 and int(data["ema"]["step"]) == 150 and data["opt"]["state"]
    # resuming from step 120 reproduces the uninterrupted run exactly
    resumed = _tiny_run(tmp_path / "c", steps=150, resume=tmp_path / "a" / "model-120.pt")
    assert resumed.start_step == 120
    assert torch.equal(resumed.losses, first.losses[120:])
    for p, q in zip(resumed.ema.parameters(), first.ema.parameters(), strict=True):
        assert torch.equal(p, q)
    for p, q in zip(resumed.online.parameters(), first.online.parameters(), strict=True):
        assert torch.equal(p, q)


def test_export_prior_stores_weights_once_and_loads(tmp_path):
    run = _tiny_run(tmp_path / "run", steps=3)
    exported = export_prior(checkpoint=run.checkpoint_path, out_path=tmp_path / "prior.pt")
    weight_bytes = sum(v.numel() * v.element_size() for v in run.ema.state_dict().values())
    assert exported.stat().st_size < 1.2 * weight_bytes < run.checkpoint_path.stat().st_size
    loaded = load_diffusion_checkpoint(exported)
    online = load_diffusion_checkpoint(exported, use_ema=False)
    for key, value in run.ema.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value) and torch.equal(online.state_dict()[key], value)
    assert load_training_state(exported).step == 3


def test_resume_from_a_non_training_file_fails(tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save({"ema": {}}, bad)
    with pytest.raises(CheckpointError, match="step"):
        load_training_state(bad)


def test_condition_size_mismatch_is_rejected(tmp_path):
    sampler = MotionPoseSampler(_random_rotations(4, seed=5))
    with pytest.raises(ValueError, match="cond_dim"):
        train(sampler=sampler, config=TrainConfig(total_steps=1, batch_size=2), out_dir=tmp_path,
              denoiser_config=DenoiserConfig(hidden_dim=8, num_blocks=1), progress=False)


# --- official image-conditioned layout -----------------------------------------------------------------------------


def _write_official_files(root: Path, *, num: int, seed: int) -> tuple[Path, Path, Path]:
    rng = np.random.default_rng(seed)
    labels, preds, stats = root / f"set{seed}.npz", root / f"pare{seed}.npz", root / "pare_feat_stats.npz"
    has_pose = (np.arange(num) % 3 != 1).astype(np.float64)  # every third row unlabelled
    np.savez(labels, imgname=np.array([f"img{i}.jpg" for i in range(num)]), center=rng.random((num, 2)),
             scale=rng.random(num), body_pose=rng.normal(0, 0.5, (num, 72)), has_body_pose=has_pose,
             betas=rng.normal(0, 1, (num, 10)), has_betas=np.ones(num))
    np.savez(preds, pose_feats=rng.normal(2, 3, (num, 128, 24)).astype(np.float32),
             cam_shape_feats=rng.normal(0, 1, (num, 64, 24)).astype(np.float32), pred_betas=np.zeros((num, 10)))
    np.savez(stats, pose_feats_mean=rng.normal(2, 0.1, 3072).astype(np.float32),
             pose_feats_std=rng.uniform(2, 4, 3072).astype(np.float32),
             cam_shape_feats_mean=np.zeros(1536, np.float32), cam_shape_feats_std=np.ones(1536, np.float32))
    return labels, preds, stats


def test_official_image_dataset_loader(tmp_path):
    labels, preds, stats = _write_official_files(tmp_path, num=7, seed=0)
    dataset = load_official_image_dataset(dataset_file=labels, pare_preds_file=preds, feat_stats_file=stats)
    keep = np.arange(7) % 3 != 1
    assert dataset.num_rows_in_file == 7 and dataset.pose_6d.shape == (5, 144) and dataset.cond.shape == (5, 3072)
    body_pose = np.load(labels)["body_pose"][keep].astype(np.float32)
    expected_6d = matrix_to_rot6d(axis_angle_to_matrix(torch.from_numpy(body_pose).reshape(5, 24, 3))).reshape(5, 144)
    torch.testing.assert_close(dataset.pose_6d, expected_6d)
    feats = np.load(preds)["pose_feats"][keep]
    with np.load(stats) as s:
        expected_cond = (feats.reshape(5, -1) - s["pose_feats_mean"]) / s["pose_feats_std"]
    assert dataset.cond[0, 24 * 3 + 5] == pytest.approx(expected_cond[0, 24 * 3 + 5])  # channel 3, joint 5
    torch.testing.assert_close(dataset.cond, torch.from_numpy(expected_cond.astype(np.float32)))


def test_official_image_dataset_errors(tmp_path):
    labels, preds, stats = _write_official_files(tmp_path, num=4, seed=1)
    data = dict(np.load(labels))
    del data["has_body_pose"]
    np.savez(tmp_path / "nolabel.npz", **data)
    with pytest.raises(TrainingDataError, match="has_body_pose"):
        load_official_image_dataset(dataset_file=tmp_path / "nolabel.npz", pare_preds_file=preds, feat_stats_file=stats)
    np.savez(tmp_path / "short.npz", pose_feats=np.zeros((3, 128, 24), np.float32))
    with pytest.raises(TrainingDataError, match="pose_feats"):
        load_official_image_dataset(dataset_file=labels, pare_preds_file=tmp_path / "short.npz", feat_stats_file=stats)


def test_image_sampler_mixes_by_weight_and_trains(tmp_path):
    files = [_write_official_files(tmp_path, num=6, seed=2), _write_official_files(tmp_path, num=9, seed=3)]
    sets = [load_official_image_dataset(dataset_file=labels, pare_preds_file=preds, feat_stats_file=stats)
            for labels, preds, stats in files]
    sampler = ImageFeatureSampler(sets, weights=[0.8, 0.2])
    pose, cond = sampler.sample(batch_size=2000, generator=torch.Generator().manual_seed(0))
    from_first = (cond[:, None, :] == sets[0].cond[None]).all(-1).any(-1).float().mean()
    assert abs(float(from_first) - 0.8) < 0.04
    config = TrainConfig(total_steps=3, batch_size=4, seed=1, checkpoint_every=0)
    result = train(sampler=sampler, config=config, out_dir=tmp_path / "run",
                   denoiser_config=DenoiserConfig(hidden_dim=8, num_blocks=1, cond_dim=PARE_COND_DIM), progress=False)
    assert load_diffusion_checkpoint(result.checkpoint_path).model.config.cond_dim == PARE_COND_DIM


# --- the committed prior -------------------------------------------------------------------------------------------


def test_committed_prior_loads_and_separates_heldout_from_random():
    from scorehmr_ros.sim import deepmimic, retarget
    from scorehmr_ros.training.prior_eval import evaluate_motion_prior

    assert PRIOR.stat().st_size < 5_000_000
    prior = load_diffusion_checkpoint(PRIOR)
    assert prior.model.config.cond_dim == 0
    clips = with_mirrored([retarget.load_deepmimic_clip(n) for n in deepmimic.CLIP_NAMES])
    split = split_clips_in_time(clips, heldout_fraction=0.2)
    report = evaluate_motion_prior(prior, split=split, seed=0, timesteps=(50, 250), noise_draws=1)
    heldout_50, random_50 = report.heldout_mse[0], report.random_mse[0]
    assert heldout_50 < 0.5 * random_50
    assert report.heldout_mse[1] < report.mean_pose_heldout_mse[1]


def test_cli_defaults_match_the_configs():
    from scorehmr_ros.cli import train_cli

    assert DenoiserConfig().hidden_dim == train_cli.DEFAULT_HIDDEN_DIM
    assert DenoiserConfig().num_blocks == train_cli.DEFAULT_NUM_BLOCKS


def test_cli_trains_both_data_sources(tmp_path):
    import json

    from scorehmr_ros.cli.main import main

    labels, preds, stats = _write_official_files(tmp_path, num=6, seed=4)
    common = ["--hidden-dim", "8", "--num-blocks", "1", "--steps", "2", "--batch-size", "4", "--checkpoint-every", "0",
              "--no-progress"]
    assert main(["train", "--data", "image", "--image-dataset", f"{labels}:{preds}:1", "--feat-stats", str(stats),
                 "--out", str(tmp_path / "image"), *common]) == 0
    assert load_diffusion_checkpoint(tmp_path / "image" / "model-2.pt").model.config.cond_dim == PARE_COND_DIM
    assert main(["train", "--data", "motion", "--clips", "walk,kick", "--out", str(tmp_path / "motion"),
                 "--export", str(tmp_path / "prior.pt"), *common]) == 0
    summary = json.loads((tmp_path / "motion" / "summary-2.json").read_text())
    assert summary["evaluation"]["num_heldout"] == 2 * (8 + 9)  # 20% of walk (38) and kick (46), mirrored too
    assert load_diffusion_checkpoint(tmp_path / "prior.pt").model.config.cond_dim == 0
