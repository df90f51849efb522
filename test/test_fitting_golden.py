"""Guided fitting against the official ``ddim_with_guidance`` (fixtures in test/fixtures/golden).

The official code ran with random denoiser weights (hidden 64, regenerated here from the seed)
and the stand-in body model of seed 0; see test/fixtures/golden/README.diffusion.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from scorehmr_ros.assets.standin import generate_standin_body_model
from scorehmr_ros.body.body_model import BodyModel
from scorehmr_ros.diffusion.denoiser import Denoiser, DenoiserConfig
from scorehmr_ros.diffusion.diffusion import Diffusion
from scorehmr_ros.fitting.fit_config import FitConfig
from scorehmr_ros.fitting.fitting import FitInputError, FitInputs, guided_fit

from golden_weights import random_denoiser_state, state_checksum

GOLDEN = Path(__file__).parent / "fixtures" / "golden"
TOLERANCE_M = 1e-4  # 0.1 mm


@pytest.fixture(scope="module")
def body_model() -> BodyModel:
    return BodyModel(generate_standin_body_model(seed=0), source="stand-in seed 0")


def _case(name: str) -> dict[str, np.ndarray]:
    with np.load(GOLDEN / f"diffusion_fit_{name}.npz") as data:
        return dict(data)


def _diffusion(case) -> Diffusion:
    config = DenoiserConfig(hidden_dim=int(case["hidden_dim"]))
    diffusion = Diffusion(denoiser=Denoiser(config))
    shapes = {k: tuple(v.shape) for k, v in diffusion.model.state_dict().items()}
    state = random_denoiser_state(shapes, seed=int(case["weights_seed"]))
    assert state_checksum(state) == str(case["weights_sha256"])
    diffusion.model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    return diffusion.eval()


def _config(case) -> FitConfig:
    kwargs = json.loads(str(case["official_kwargs"]))
    config = FitConfig(keypoint_guidance=kwargs.get("keypoint_guidance", False),
                       multiview_guidance=kwargs.get("multiview_guidance", False),
                       temporal_guidance=kwargs.get("temporal_guidance", False),
                       early_stopping=kwargs.get("early_stopping", False))
    schedule = {k: kwargs[o] for k, o in (("optim_iters", "optim_iters"), ("sample_start", "sample_start"),
                                          ("ddim_step", "ddim_step_size")) if o in kwargs}
    return config.replace(**schedule)


def _inputs(case) -> FitInputs:
    inputs = FitInputs(pred_pose=torch.from_numpy(case["pred_pose"]), pred_betas=torch.from_numpy(case["pred_betas"]),
                       init_cam_t_m=torch.from_numpy(case["pred_cam_t"]),
                       keypoints_2d_px=torch.from_numpy(case["keypoints_2d"]),
                       img_size_px=torch.from_numpy(case["img_size"]), cond_feats=torch.from_numpy(case["cond_feats"]))
    return inputs.with_mean_betas() if bool(case["average_betas"]) else inputs


def _check_against_official(name: str, body_model: BodyModel) -> None:
    case = _case(name)
    result = guided_fit(diffusion=_diffusion(case), body_model=body_model, inputs=_inputs(case), config=_config(case))
    joints_error = np.abs(result.joints_m.numpy() - case["out_joints"]).max()
    camera_error = np.abs(result.camera_translation_m.numpy() - case["out_camera_translation"]).max()
    assert joints_error <= TOLERANCE_M, f"{name}: joints differ by {joints_error * 1000:.4f} mm"
    assert camera_error <= TOLERANCE_M, f"{name}: camera differs by {camera_error * 1000:.4f} mm"
    np.testing.assert_allclose(result.pose_6d.numpy(), case["out_x0"], atol=1e-4)
    if "out_vertices" in case:
        assert np.abs(result.vertices_m.numpy() - case["out_vertices"]).max() <= TOLERANCE_M
    # the fit moved the body: the comparison is not between two unchanged inputs
    assert np.abs(result.pose_6d.numpy() - case["pred_pose"][..., :2].swapaxes(-1, -2).reshape(len(case["pred_pose"]),
                                                                                          -1)).max() > 1e-3


@pytest.mark.parametrize("name", ["single", "single_early_stop", "multiview", "video"])
def test_fit_matches_official(name, body_model):
    _check_against_official(name, body_model)


def test_fit_official_default_schedule_matches(body_model):
    """Official default 10 x 50/2 (hidden 64 keeps it at a few seconds)."""
    _check_against_official("single_default", body_model)


def test_bad_inputs_name_the_problem(body_model):
    case = _case("single")
    diffusion = _diffusion(case)
    good = _inputs(case)
    bad = FitInputs(pred_pose=good.pred_pose, pred_betas=good.pred_betas[:, :5], init_cam_t_m=good.init_cam_t_m,
                    keypoints_2d_px=good.keypoints_2d_px, img_size_px=good.img_size_px, cond_feats=good.cond_feats)
    with pytest.raises(FitInputError, match=r"pred_betas: expected shape \(3, 10\), got \(3, 5\)"):
        guided_fit(diffusion=diffusion, body_model=body_model, inputs=bad)
    no_cond = FitInputs(pred_pose=good.pred_pose, pred_betas=good.pred_betas, init_cam_t_m=good.init_cam_t_m,
                        keypoints_2d_px=good.keypoints_2d_px, img_size_px=good.img_size_px)
    with pytest.raises(FitInputError, match="cond_feats: required"):
        guided_fit(diffusion=diffusion, body_model=body_model, inputs=no_cond)
    with pytest.raises(FitInputError, match="multiview guidance needs >= 2 views"):
        one = FitInputs(pred_pose=good.pred_pose[:1], pred_betas=good.pred_betas[:1], cond_feats=good.cond_feats[:1])
        guided_fit(diffusion=diffusion, body_model=body_model, inputs=one, config=FitConfig.for_mode("multiview"))


def test_batched_equals_looped(body_model):
    """Single-image mode is independent per sample: a batch of 3 equals 3 fits of 1."""
    case = _case("single")
    diffusion, inputs = _diffusion(case), _inputs(case)
    config = _config(case).replace(optim_iters=1)
    batched = guided_fit(diffusion=diffusion, body_model=body_model, inputs=inputs, config=config)
    for b in range(inputs.batch_size):
        one = FitInputs(**{f: getattr(inputs, f)[b:b + 1] for f in ("pred_pose", "pred_betas", "init_cam_t_m",
                                                                      "keypoints_2d_px", "img_size_px", "cond_feats")})
        single = guided_fit(diffusion=diffusion, body_model=body_model, inputs=one, config=config)
        np.testing.assert_allclose(single.joints_m.numpy()[0], batched.joints_m.numpy()[b], atol=1e-5)
        np.testing.assert_allclose(single.camera_translation_m.numpy()[0], batched.camera_translation_m.numpy()[b],
                                   atol=1e-5)


def test_early_stopping_caches_the_converged_sample(body_model):
    """Sample 2 of the early-stop case has no confident keypoint: its loss stays 0, so it stops at once."""
    case = _case("single_early_stop")
    diffusion, inputs, config = _diffusion(case), _inputs(case), _config(case)
    stopped = guided_fit(diffusion=diffusion, body_model=body_model, inputs=inputs, config=config)
    free = guided_fit(diffusion=diffusion, body_model=body_model, inputs=inputs,
                      config=config.replace(early_stopping=False))
    np.testing.assert_array_equal(stopped.pose_6d.numpy()[:2], free.pose_6d.numpy()[:2])
    assert np.abs(stopped.pose_6d.numpy()[2] - free.pose_6d.numpy()[2]).max() > 1e-4
