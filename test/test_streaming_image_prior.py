"""StreamingFitter with an image-conditioned prior: cond shapes and errors, cond reaching the denoiser, view masks."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from scorehmr_ros.assets.standin import generate_standin_body_model
from scorehmr_ros.body.body_model import BodyModel
from scorehmr_ros.body.keypoint_body import KeypointBody
from scorehmr_ros.diffusion.denoiser import Denoiser, DenoiserConfig
from scorehmr_ros.diffusion.diffusion import Diffusion
from scorehmr_ros.geometry.rigs import make_rig
from scorehmr_ros.pipeline.streaming import StreamingConfig, StreamingError, StreamingFitter

COND_DIM = 8
CONFIG = StreamingConfig(window=4, lag=1, betas_frames=2)


@functools.lru_cache(maxsize=1)
def _body_model() -> BodyModel:
    return BodyModel(generate_standin_body_model(seed=0), source="stand-in seed 0")


@functools.lru_cache(maxsize=1)
def _body() -> KeypointBody:
    return KeypointBody(_body_model())


@functools.lru_cache(maxsize=1)
def _case():
    from scorehmr_ros.cli import bench_methods
    from scorehmr_ros.sim.scene import SceneConfig, generate_scene

    scene = generate_scene(config=SceneConfig(num_people=2, clips=("walk", "run"), num_frames=3, seed=3),
                           cameras=make_rig("ring4").cameras, body_model=_body_model())
    return bench_methods.make_case(scene, noise=bench_methods.RegressorNoise(), rng=np.random.default_rng(3))


def _diffusion(cond_dim: int) -> Diffusion:
    """A small random denoiser; its output is scaled up so that the condition visibly moves the fit."""
    torch.manual_seed(0)
    diffusion = Diffusion(denoiser=Denoiser(DenoiserConfig(hidden_dim=32, num_blocks=1, cond_dim=cond_dim))).eval()
    with torch.no_grad():
        diffusion.model.final_mlp.weight.mul_(5.0)
    return diffusion


def _features(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _run(cond_of_frame, *, view_valid=None, frames: int = 3, estimates: bool = True) -> list:
    """Outputs of a fitter over the case's first frames; cond_of_frame(t) -> (P, V, C)."""
    case = _case()
    fitter = StreamingFitter(diffusion=_diffusion(COND_DIM), body=_body(), rig=case.rig, config=CONFIG)
    outputs = []
    for t in range(frames):
        outputs += fitter.step(track_ids=[0, 1], keypoints_px=case.keypoints_px[t],
                               init_pose=case.init_pose[t] if estimates else None,
                               init_betas=case.init_betas[t] if estimates else None,
                               cond=cond_of_frame(t), view_valid=view_valid)
    outputs += fitter.flush()
    return sorted(outputs, key=lambda o: (o.track_id, o.frame_index))


def _rotations(outputs) -> np.ndarray:
    return np.stack([o.rotations for o in outputs])


def test_cond_shape_and_prior_kind_errors():
    case = _case()
    views = case.rig.num_views
    conditioned = StreamingFitter(diffusion=_diffusion(COND_DIM), body=_body(), rig=case.rig, config=CONFIG)
    keypoints = case.keypoints_px[0]
    with pytest.raises(StreamingError, match="image-conditioned \\(cond_dim 8\\)"):
        conditioned.step(track_ids=[0, 1], keypoints_px=keypoints)
    with pytest.raises(StreamingError, match=f"cond: expected shape \\(2, {views}, 8\\), got \\(2, {views}, 7\\)"):
        conditioned.step(track_ids=[0, 1], keypoints_px=keypoints, cond=np.zeros((2, views, 7)))
    with pytest.raises(StreamingError, match="view_valid: expected a bool array"):
        conditioned.step(track_ids=[0, 1], keypoints_px=keypoints, cond=np.zeros((2, views, 8)),
                         view_valid=np.ones((2, views)))
    keypoint_only = StreamingFitter(diffusion=_diffusion(0), body=_body(), rig=case.rig, config=CONFIG)
    with pytest.raises(StreamingError, match="keypoint-only \\(cond_dim 0\\)"):
        keypoint_only.step(track_ids=[0, 1], keypoints_px=keypoints, cond=np.zeros((2, views, 8)))
    assert conditioned.frame_index == -1 and not conditioned.tracks  # a refused set changes nothing


def test_every_frame_is_emitted_once_with_finite_bodies():
    case = _case()
    views = case.rig.num_views
    outputs = _run(lambda t: _features(t, (2, views, COND_DIM)))
    assert [(o.track_id, o.frame_index) for o in outputs] == [(p, t) for p in range(2) for t in range(3)]
    rotations = _rotations(outputs)
    assert np.all(np.isfinite(rotations))
    np.testing.assert_allclose(rotations @ rotations.swapaxes(-1, -2), np.broadcast_to(np.eye(3), rotations.shape),
                               atol=1e-4)


def test_the_condition_reaches_the_denoiser():
    views = _case().rig.num_views
    first = _rotations(_run(lambda t: _features(t, (2, views, COND_DIM)), frames=2))
    again = _rotations(_run(lambda t: _features(t, (2, views, COND_DIM)), frames=2))
    other = _rotations(_run(lambda t: _features(100 + t, (2, views, COND_DIM)), frames=2))
    np.testing.assert_array_equal(first, again)  # deterministic
    assert np.abs(first - other).max() > 1e-3


def test_an_invalid_views_features_and_estimates_do_not_count():
    case = _case()
    views = case.rig.num_views
    valid = np.ones((2, views), bool)
    valid[0, 1] = valid[1, 2] = False

    def cond(seed_of_invalid: int):
        def of_frame(t: int) -> np.ndarray:
            features = _features(t, (2, views, COND_DIM))
            features[0, 1] = features[1, 2] = _features(seed_of_invalid + t, (COND_DIM,))
            return features
        return of_frame

    base = _rotations(_run(cond(1000), view_valid=valid, frames=2))
    changed = _rotations(_run(cond(2000), view_valid=valid, frames=2))
    np.testing.assert_allclose(base, changed, atol=1e-6)
    # the same change in a valid view moves the fit
    everything = _rotations(_run(cond(1000), frames=2))
    assert np.abs(everything - _rotations(_run(cond(2000), frames=2))).max() > 1e-3


def test_a_person_without_any_valid_view_starts_from_keypoints():
    """Person 1 has no image in any view: its (here absurd) estimates are unused, the start is keypoints-only."""
    from scorehmr_ros.geometry.rotations import axis_angle_to_matrix

    case = _case()
    views = case.rig.num_views
    valid = np.ones((2, views), bool)
    valid[1] = False
    starts = []
    for garbage in (np.zeros((views, 24, 3, 3), np.float32),
                    axis_angle_to_matrix(torch.tensor(_features(5, (views, 24, 3)))).numpy()):
        pose = case.init_pose[0].copy()
        pose[1] = garbage
        fitter = StreamingFitter(diffusion=_diffusion(COND_DIM), body=_body(), rig=case.rig, config=CONFIG)
        fitter.step(track_ids=[0, 1], keypoints_px=case.keypoints_px[0], init_pose=pose,
                    init_betas=case.init_betas[0], cond=_features(0, (2, views, COND_DIM)), view_valid=valid)
        assert set(fitter.tracks) == {0, 1}
        starts.append(torch.stack([fitter.tracks[p].frames[-1].rotations for p in (0, 1)]).numpy())
    np.testing.assert_allclose(starts[0], starts[1], atol=1e-6)
    assert np.all(np.isfinite(starts[0]))
