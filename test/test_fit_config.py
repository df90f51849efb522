"""FitConfig / DenoiserConfig defaults and validation; the unconditional (keypoint-only) prior path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scorehmr_ros.assets.standin import generate_standin_body_model
from scorehmr_ros.body.body_model import BodyModel
from scorehmr_ros.diffusion.denoiser import Denoiser, DenoiserConfig
from scorehmr_ros.diffusion.diffusion import Diffusion
from scorehmr_ros.fitting.fit_config import FitConfig
from scorehmr_ros.fitting.fitting import FitInputs, guided_fit
from scorehmr_ros.fitting.guidance import geman_mcclure, guiding_confidences
from scorehmr_ros.geometry.rotations import axis_angle_to_matrix


def test_defaults_are_official():
    config = FitConfig()
    config.validate()
    assert (config.optim_iters, config.sample_start, config.ddim_step) == (10, 50, 2)
    assert (config.gradient_scale, config.w_kp2d, config.w_multiview, config.w_smooth) == (1.0, 0.003, 0.005, 30.0)
    assert (config.gm_sigma_px, config.camera_lr, config.focal_length_px) == (100.0, 1e-2, 5000.0)
    assert config.use_hips and config.early_stopping_tolerance == 1e-5
    multiview = FitConfig.for_mode("multiview")
    assert (multiview.optim_iters, multiview.sample_start, multiview.ddim_step) == (2, 100, 10)
    assert not multiview.keypoint_guidance and multiview.multiview_guidance
    assert FitConfig.for_mode("video").temporal_guidance and FitConfig.for_mode("keypoint_eval").early_stopping
    DenoiserConfig().validate()


@pytest.mark.parametrize(("changes", "message"), [
    ({"sample_start": 1000}, r"sample_start=1000: must be in \[ddim_step=2, 999\]"),
    ({"ddim_step": 0}, "ddim_step=0: must be >= 1"),
    ({"w_kp2d": -1.0}, r"w_kp2d=-1.0: must be >= 0"),
    ({"gm_sigma_px": 0.0}, r"gm_sigma_px=0.0: must be > 0"),
    ({"keypoint_guidance": False}, "at least one of"),
    ({"keypoint_guidance": False, "temporal_guidance": True, "early_stopping": True}, "early_stopping=True needs"),
])
def test_validate_names_field_and_range(changes, message):
    with pytest.raises(ValueError, match=message):
        FitConfig().replace(**changes)
    with pytest.raises(ValueError, match="unknown fit mode 'x'"):
        FitConfig.for_mode("x")
    with pytest.raises(ValueError, match="DenoiserConfig.cond_dim=-1"):
        DenoiserConfig(cond_dim=-1).validate()


def test_guidance_helpers():
    residual = torch.tensor([0.0, 10.0, 100.0, 1e4])
    np.testing.assert_allclose(geman_mcclure(residual, sigma=100.0).numpy(),
                               [0.0, 1e6 / 10100, 1e8 / 2e4, 1e12 / (1e4 + 1e8)], rtol=1e-6)
    conf = torch.ones(1, 44, 1)
    edited = guiding_confidences(conf, use_hips=False)
    assert edited[0, :25, 0].sum() == 22 and edited[0, 25:].sum() == 0 and conf.sum() == 44


def test_unconditional_prior_fits_keypoints():
    """cond_dim 0 (the keypoint-only prior): the fit runs without image features and lowers the keypoint error."""
    torch.manual_seed(0)
    diffusion = Diffusion(denoiser=Denoiser(DenoiserConfig(hidden_dim=32, num_blocks=2, cond_dim=0))).eval()
    for parameter in diffusion.model.final_mlp.parameters():
        parameter.data.zero_()  # ε̂ = 0: a flat prior, so only the guidance moves the body
    body_model = BodyModel(generate_standin_body_model(seed=0), source="stand-in")
    axis_angle = torch.zeros(2, 24, 3)
    axis_angle[:, 0, 0] = torch.pi
    pose = axis_angle_to_matrix(axis_angle)
    betas = torch.zeros(2, 10)
    cam_true = torch.tensor([[0.1, 0.2, 20.0], [-0.1, 0.0, 25.0]])
    joints = body_model(global_orient=pose[:, [0]], body_pose=pose[:, 1:], betas=betas).joints_m
    points = joints + cam_true[:, None]
    uv = 5000 * points[..., :2] / points[..., 2:] + torch.tensor([320.0, 240.0])
    keypoints = torch.cat([uv, torch.ones(2, 44, 1)], dim=-1)
    inputs = FitInputs(pred_pose=pose, pred_betas=betas, init_cam_t_m=cam_true + torch.tensor([0.05, -0.05, 0.5]),
                       keypoints_2d_px=keypoints, img_size_px=torch.tensor([[640.0, 480.0]] * 2))
    result = guided_fit(diffusion=diffusion, body_model=body_model, inputs=inputs,
                        config=FitConfig(optim_iters=3, sample_start=10))
    before = (inputs.init_cam_t_m - cam_true).norm(dim=-1)
    after = (result.camera_translation_m - cam_true).norm(dim=-1)
    assert torch.all(after < before)
    assert result.vertices_m.shape == (2, 6890, 3) and result.joints_m.shape == (2, 44, 3)
    sample = diffusion.ddim_sample(None, batch_size=3, sample_start=999, step=50,
                                   generator=torch.Generator().manual_seed(0))
    assert sample.shape == (3, 144) and sample.abs().max() <= 1.0
