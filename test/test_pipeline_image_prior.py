"""The body pipeline with an image-conditioned prior: model files (official layout), images in, errors named.

Small random networks in the official file formats: a Lightning PARE checkpoint of a narrow HRNet whose head keeps
the official 128 feature channels (so the condition has the official 3072 values and the official stats file
layout), a float32 ``pare_feat_stats.npz`` and a ScoreHMR checkpoint with cond_dim 3072.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from scorehmr_ros.assets.paths import DATA_ROOT_ENV, ensure_standin_body_model
from scorehmr_ros.diffusion.checkpoint import save_diffusion_checkpoint
from scorehmr_ros.diffusion.denoiser import Denoiser, DenoiserConfig
from scorehmr_ros.diffusion.diffusion import Diffusion
from scorehmr_ros.geometry.rigs import ring_rig
from scorehmr_ros.image_prior import PareConfig, PareModel
from scorehmr_ros.image_prior.feature_stats import POSE_FEATS_SIZE
from scorehmr_ros.image_prior.synthetic_weights import random_state_dict
from scorehmr_ros.pipeline.body_pipeline import BodyPipeline, PipelineInputError, load_fitting_models
from scorehmr_ros.pipeline.streaming import StreamingConfig
from scorehmr_ros.sim.scene import SceneConfig, generate_scene

from scene_observations import scene_sets

#: Narrow HRNet, one conv layer per head branch, official 128 pose-feature channels -> 3072 condition values.
SMALL_PARE = PareConfig(hrnet_width=4, num_deconv_filters=128, num_deconv_layers=1, num_features_smpl=4)
STREAMING = StreamingConfig(window=4, lag=1)


def write_model_files(root) -> dict[str, str]:
    """PARE checkpoint + stats in the official layout under ``root``, and a conditioned prior beside them."""
    pare_dir, stats_dir = root / "data" / "model_weights" / "pare", root / "data" / "stats"
    pare_dir.mkdir(parents=True)
    stats_dir.mkdir(parents=True)
    weights = random_state_dict(PareModel(config=SMALL_PARE).state_dict(), seed=5)
    torch.save({"state_dict": {f"model.{key}": value for key, value in weights.items()}, "epoch": 0},
               pare_dir / "pare_checkpoint.ckpt")
    rng = np.random.default_rng(2)
    np.savez(stats_dir / "pare_feat_stats.npz",
             pose_feats_mean=rng.normal(0, 0.1, POSE_FEATS_SIZE).astype(np.float32),
             pose_feats_std=rng.uniform(0.5, 1.5, POSE_FEATS_SIZE).astype(np.float32))
    torch.manual_seed(0)
    prior = Diffusion(denoiser=Denoiser(DenoiserConfig(hidden_dim=32, num_blocks=1, cond_dim=POSE_FEATS_SIZE)))
    save_diffusion_checkpoint(root / "conditioned_prior.pt", online=prior)
    return {"prior_path": str(root / "conditioned_prior.pt"),
            "pare_checkpoint": str(pare_dir / "pare_checkpoint.ckpt"),
            "pare_feature_stats": str(stats_dir / "pare_feat_stats.npz")}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("image_prior")
    return root, write_model_files(root)


@pytest.fixture(scope="module")
def models(files):
    _, paths = files
    return load_fitting_models(**paths, body_model_path=str(ensure_standin_body_model()), pare_config=SMALL_PARE)


@functools.lru_cache(maxsize=1)
def _scene():
    from scorehmr_ros.body.body_model import BodyModel

    rig = ring_rig(num_cameras=3, radius_m=3.5, height_m=2.0, width_px=320, height_px=240, horizontal_fov_deg=60)
    scene = generate_scene(config=SceneConfig(num_people=1, num_frames=4, clips=("walk",), seed=3),
                           cameras=rig.cameras, body_model=BodyModel.from_file(ensure_standin_body_model()))
    return rig, scene_sets(scene, seed=1)


def _images(rig, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {c.name: rng.integers(0, 256, (c.height_px, c.width_px, 3), dtype=np.uint8) for c in rig.cameras}


def _run(models, images_of_set) -> list:
    rig, sets = _scene()
    pipeline = models.make_pipeline(rig.cameras, streaming=STREAMING)
    results = [pipeline.process(observation, images_of_set(t)) for t, observation in enumerate(sets)]
    return results + [type(results[0])(sets=pipeline.flush(), groups=0, unassociated=0)]


def test_models_load_from_the_official_layout_and_say_which_prior(files, models, monkeypatch):
    root, paths = files
    assert models.image_conditioned and models.pare is not None and not models.pare.training
    assert "image-conditioned" in models.prior_description and "pare_checkpoint.ckpt" in models.prior_description
    monkeypatch.setenv(DATA_ROOT_ENV, str(root))  # empty paths: the official files under the data root
    defaults = load_fitting_models(prior_path=paths["prior_path"], body_model_path=str(ensure_standin_body_model()),
                                   pare_config=SMALL_PARE)
    assert defaults.image_conditioned
    bundled = load_fitting_models(body_model_path=str(ensure_standin_body_model()))
    assert not bundled.image_conditioned and bundled.pare is None and "keypoint-only" in bundled.prior_description


def test_missing_or_mismatched_pare_files_are_named(files, tmp_path, monkeypatch):
    _, paths = files
    body = str(ensure_standin_body_model())
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="data/model_weights/pare/pare_checkpoint.ckpt does not exist "
                                                "\\(set pare_checkpoint"):
        load_fitting_models(prior_path=paths["prior_path"], body_model_path=body)
    with pytest.raises(FileNotFoundError, match="data/stats/pare_feat_stats.npz does not exist \\(set "
                                                "pare_feature_stats"):
        load_fitting_models(prior_path=paths["prior_path"], pare_checkpoint=paths["pare_checkpoint"],
                            body_model_path=body)
    with pytest.raises(ValueError, match="gives 192 features per crop; the prior's cond dim is 3072"):
        load_fitting_models(**paths, body_model_path=body, pare_config=PareConfig(num_deconv_filters=8))


def test_pipeline_needs_pare_and_images(models):
    rig, sets = _scene()
    with pytest.raises(ValueError, match="image-conditioned \\(cond dim 3072\\): give the PARE model"):
        BodyPipeline(cameras=rig.cameras, diffusion=models.diffusion, body_model=models.body_model)
    pipeline = models.make_pipeline(rig.cameras, streaming=STREAMING)
    assert pipeline.needs_images
    with pytest.raises(PipelineInputError, match="images: the prior is image-conditioned"):
        pipeline.process(sets[0])
    small = _images(rig, 0)
    small["cam0"] = small["cam0"][:100]
    with pytest.raises(ValueError, match="image of camera 'cam0': 320x100, calibration is 320x240"):
        pipeline.process(sets[0], small)
    assert pipeline.warm_up(frames=1) > 0


def test_images_reach_the_fit_and_missing_images_are_tolerated(models):
    rig, _ = _scene()
    base = _run(models, lambda t: _images(rig, t))
    bodies = [b for r in base for b in r.bodies]
    assert len(bodies) >= 3 and all(np.all(np.isfinite(b.rotations)) and np.all(np.isfinite(b.joints_world_m))
                                    for b in bodies)
    assert all("regress" in r.timings_s and r.timings_s["regress"] > 0 for r in base[:-1])
    other_cam1 = _run(models, lambda t: {**_images(rig, t), "cam1": _images(rig, 100 + t)["cam1"]})
    moved = max(np.abs(a.rotations - b.rotations).max()
                for a, b in zip(bodies, [b for r in other_cam1 for b in r.bodies], strict=True))
    assert moved > 1e-3  # another image in one view changes the bodies
    no_cam1 = _run(models, lambda t: {**_images(rig, t), "cam1": None})
    assert len([b for r in no_cam1 for b in r.bodies]) == len(bodies)
    nothing = _run(models, lambda t: {})  # no image at all: the keypoints alone start the track
    assert all(np.all(np.isfinite(b.rotations)) for r in nothing for b in r.bodies)


def test_pare_and_the_image_conditioned_denoiser_run_on_onnxruntime_as_on_eager(files, models, tmp_path):
    from scorehmr_ros.accel.cache import EngineCache
    from scorehmr_ros.accel.pare import EnginePare
    from scorehmr_ros.accel.select import AccelConfig

    _, paths = files
    fast = load_fitting_models(**paths, body_model_path=str(ensure_standin_body_model()), pare_config=SMALL_PARE,
                               accel=AccelConfig(backend="onnxruntime", cache_dir=str(tmp_path)))
    assert isinstance(fast.pare, EnginePare) and EngineCache(tmp_path).entries()
    assert fast.prior_description.count("on onnxruntime") == 2, fast.prior_description  # PARE and the denoiser
    crops = torch.rand(3, 3, 224, 224, generator=torch.Generator().manual_seed(0)) * 4.9 - 2.2
    eager_out, fast_out = models.pare.predict(crops), fast.pare.predict(crops)
    for name in ("cond_feats", "pred_pose", "pred_betas", "pred_cam"):
        expected, got = getattr(eager_out, name), getattr(fast_out, name)
        assert float((got - expected).abs().max() / expected.abs().max()) <= 1e-4, name
    # the whole image-conditioned pipeline: the same tracks, bodies within a millimetre
    rig, _ = _scene()
    eager_bodies = [b for r in _run(models, lambda t: _images(rig, t)) for b in r.bodies]
    fast_bodies = [b for r in _run(fast, lambda t: _images(rig, t)) for b in r.bodies]
    def relative_ids(bodies):  # ids start at the wall clock: compare them by order of appearance
        order = list(dict.fromkeys(b.track_id for b in bodies))
        return [order.index(b.track_id) for b in bodies]

    assert relative_ids(fast_bodies) == relative_ids(eager_bodies) and eager_bodies
    assert max(np.abs(a.joints_world_m - b.joints_world_m).max()
               for a, b in zip(eager_bodies, fast_bodies, strict=True)) < 1e-3
