"""Calibrated multi-view fitting: reduced body model, per-view score combination, translation steps, fits, CLI."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import torch

from scorehmr_ros.assets.standin import generate_standin_body_model
from scorehmr_ros.body.body_model import BodyModel
from scorehmr_ros.body.keypoint_body import KeypointBody
from scorehmr_ros.diffusion.denoiser import Denoiser, DenoiserConfig
from scorehmr_ros.diffusion.diffusion import Diffusion
from scorehmr_ros.fitting.calibrated_fitting import (
    BodyParams,
    CalibratedFitConfig,
    CalibratedObservations,
    calibrated_guided_fit,
)
from scorehmr_ros.fitting.multiview_guidance import (
    RigTensors,
    project_to_views,
    reprojection_loss,
    rotate_global_orient_6d,
    translation_hessian,
    view_combined_noise,
)
from scorehmr_ros.geometry.rigs import make_rig
from scorehmr_ros.geometry.rotations import axis_angle_to_matrix, rot6d_to_matrix

PRIORS = Path(__file__).resolve().parents[1] / "scorehmr_ros" / "data" / "priors"


@functools.lru_cache(maxsize=1)
def _body_model() -> BodyModel:
    return BodyModel(generate_standin_body_model(seed=0), source="stand-in seed 0")


def _random_pose(batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    rotations = axis_angle_to_matrix(torch.tensor(0.4 * rng.standard_normal((batch, 24, 3)), dtype=torch.float32))
    return rotations, torch.tensor(rng.standard_normal((batch, 10)), dtype=torch.float32), torch.tensor(
        rng.standard_normal((batch, 3)), dtype=torch.float32)


def test_keypoint_body_matches_the_full_body_model():
    rotations, betas, transl = _random_pose(5, 0)
    with torch.no_grad():
        full = _body_model()(global_orient=rotations[:, :1], body_pose=rotations[:, 1:], betas=betas, transl_m=transl)
        reduced = KeypointBody(_body_model())(rotations=rotations, betas=betas, transl_m=transl)
    assert torch.allclose(full.joints_m[:, :25], reduced.openpose_m, atol=1e-5)
    assert torch.allclose(full.smpl_joints_m, reduced.smpl_joints_m, atol=1e-5)


def test_projection_matches_camera_project_with_distortion():
    rig = make_rig("ring4")
    cameras = list(rig.cameras)
    cameras[1] = type(cameras[1])(name="d", K=cameras[1].K, width_px=1280, height_px=720,
                                  R_cam_world=cameras[1].R_cam_world, t_cam_world_m=cameras[1].t_cam_world_m,
                                  distortion_model="plumb_bob", distortion=np.array([-0.2, 0.05, 1e-3, -1e-3, 0.01]))
    points = np.random.default_rng(1).uniform(-0.8, 0.8, (3, 7, 3)) + np.array([0, 0, 1.0])
    pixels, _ = project_to_views(torch.tensor(points, dtype=torch.float32), RigTensors.from_cameras(cameras))
    for v, camera in enumerate(cameras):
        np.testing.assert_allclose(pixels[:, v].numpy(), camera.project(points), atol=0.05)


def test_view_combination_rotates_the_global_orientation_back_to_the_world():
    torch.manual_seed(0)
    denoiser = Denoiser(DenoiserConfig(hidden_dim=32, num_blocks=1, cond_dim=8)).eval()
    rig = RigTensors.from_cameras(make_rig("ring4").cameras)
    x_t = torch.randn(3, 144)
    t = torch.tensor([5, 20, 40])
    cond = torch.randn(3, 4, 8)
    weight = torch.tensor([[1.0, 0, 0, 0], [0.5, 0.5, 0, 0], [0, 0, 0, 0]])
    with torch.no_grad():
        combined = view_combined_noise(denoiser, x_t, t, cond=cond, view_weight=weight, R_cam_world=rig.R_cam_world)
        # row 0: only view 0 counts -> the network's view-0 prediction, rotated back
        view0 = denoiser(rotate_global_orient_6d(x_t, rig.R_cam_world[:1].expand(3, -1, -1)), t, cond[:, 0])
        back = rotate_global_orient_6d(view0, rig.R_cam_world[:1].transpose(1, 2).expand(3, -1, -1))
    assert torch.allclose(combined[0], back[0], atol=1e-5)
    # a world rotation Q (x -> Q x, cameras R -> R Qᵀ) turns the combined prediction's orientation columns by Q
    Q = axis_angle_to_matrix(torch.tensor([0.3, -0.2, 1.1]))
    with torch.no_grad():
        turned = view_combined_noise(denoiser, rotate_global_orient_6d(x_t, Q.expand(3, -1, -1)), t, cond=cond,
                                     view_weight=weight, R_cam_world=rig.R_cam_world @ Q.T)
    assert torch.allclose(turned, rotate_global_orient_6d(combined, Q.expand(3, -1, -1)), atol=1e-4)


def test_translation_gauss_newton_step_nearly_solves_an_offset():
    rig = RigTensors.from_cameras(make_rig("ring4").cameras)
    rotations, betas, _ = _random_pose(2, 3)
    body = KeypointBody(_body_model())
    truth = torch.tensor([[0.2, -0.3, 1.0], [-0.5, 0.4, 0.9]])
    with torch.no_grad():
        joints = body(rotations=rotations, betas=betas, transl_m=truth).openpose_m
        pixels, _ = project_to_views(joints, rig)
    keypoints = torch.cat([pixels, torch.ones_like(pixels[..., :1])], dim=-1)
    transl = (truth + torch.tensor([0.05, -0.04, 0.03])).requires_grad_(True)
    moved = body(rotations=rotations, betas=betas, transl_m=transl).openpose_m
    loss = reprojection_loss(moved, keypoints, rig, sigma_px=50.0).sum()
    (gradient,) = torch.autograd.grad(loss, transl)
    hessian = translation_hessian(moved.detach(), keypoints, rig, sigma_px=50.0)
    step = torch.linalg.solve(hessian, gradient[..., None])[..., 0]
    assert torch.allclose(transl.detach() - step, truth, atol=5e-3)


def test_reprojection_terms_are_autograds_gradient_and_jacobian_with_distortion():
    from scorehmr_ros.fitting.multiview_guidance import reprojection_terms

    rig = RigTensors.from_cameras(make_rig("ring4").cameras)
    distortion = torch.tensor([[-0.3, 0.1, 0.002, -0.001, -0.02]]).expand(rig.K.shape[0], -1)
    rig = RigTensors(K=rig.K, distortion=distortion, R_cam_world=rig.R_cam_world, t_cam_world_m=rig.t_cam_world_m,
                     image_size_px=rig.image_size_px)
    rotations, betas, transl = _random_pose(2, 5)
    body = KeypointBody(_body_model())
    with torch.no_grad():
        joints = body(rotations=rotations, betas=betas, transl_m=0.2 * transl).openpose_m.double()
        pixels, _ = project_to_views(joints.float(), rig)
    generator = torch.Generator().manual_seed(0)
    noisy = pixels.double() + 40 * torch.randn(pixels.shape, generator=generator, dtype=torch.float64)
    keypoints = torch.cat([noisy, torch.rand(pixels.shape[:-1] + (1,), generator=generator,
                                             dtype=torch.float64)], dim=-1)
    rig64 = RigTensors(*(t.double() for t in (rig.K, rig.distortion, rig.R_cam_world, rig.t_cam_world_m,
                                              rig.image_size_px)))
    terms = reprojection_terms(joints, keypoints, rig64, sigma_px=50.0)
    points = joints.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(reprojection_loss(points, keypoints, rig64, sigma_px=50.0).sum(), points)
    torch.testing.assert_close(terms.gradient, gradient, rtol=1e-9, atol=1e-9)
    jacobian = torch.autograd.functional.jacobian(lambda x: project_to_views(x[None], rig64)[0][0], joints[0])
    # (V, J, 2, J, 3): each pixel depends on its own joint only
    own = jacobian.diagonal(dim1=1, dim2=3).permute(0, 3, 1, 2)  # (V, J, 2, 3)
    torch.testing.assert_close(terms.jacobian[0], own, rtol=1e-9, atol=1e-9)


def _zero_noise_diffusion() -> Diffusion:
    """A prior that predicts ε̂ = 0: the guided DDIM then reduces to gradient steps on the calibrated loss."""
    diffusion = Diffusion(denoiser=Denoiser(DenoiserConfig(hidden_dim=16, num_blocks=1, cond_dim=0))).eval()
    with torch.no_grad():
        diffusion.model.final_mlp.weight.zero_()
        diffusion.model.final_mlp.bias.zero_()
    return diffusion


@functools.lru_cache(maxsize=1)
def _small_case():
    from scorehmr_ros.cli import bench_methods
    from scorehmr_ros.sim.scene import SceneConfig, generate_scene

    scene = generate_scene(config=SceneConfig(num_people=2, clips=("walk", "run"), num_frames=6, seed=3),
                           cameras=make_rig("ring4").cameras, body_model=_body_model())
    return bench_methods.make_case(scene, noise=bench_methods.RegressorNoise(), rng=np.random.default_rng(3))


def _mpjpe_mm(joints: np.ndarray, case) -> float:
    return float(np.linalg.norm(joints - case.gt_joints_m, axis=-1).mean() * 1000)


def test_calibrated_fit_improves_on_triangulation_and_ik():
    from scorehmr_ros.cli import bench_methods

    case = _small_case()
    body = KeypointBody(_body_model())
    ik_joints, _ = bench_methods.run_triangulation_ik(body, case)
    fit_joints, _ = bench_methods.run_calibrated(_zero_noise_diffusion(), body, case,
                                                 config=CalibratedFitConfig(gradient_scale=0.3))
    assert _mpjpe_mm(fit_joints, case) < _mpjpe_mm(ik_joints, case)
    assert _mpjpe_mm(fit_joints, case) < 60.0


def test_calibrated_fit_checks_shapes_and_cond():
    rig = RigTensors.from_cameras(make_rig("ring4").cameras)
    init = BodyParams(rotations=torch.eye(3).repeat(2, 24, 1, 1), betas=torch.zeros(2, 10), transl_m=torch.zeros(2, 3))
    with pytest.raises(ValueError, match="keypoints_px: expected shape \\(2, 4, 25, 3\\)"):
        calibrated_guided_fit(diffusion=_zero_noise_diffusion(), body=KeypointBody(_body_model()),
                              observations=CalibratedObservations(keypoints_px=torch.zeros(2, 3, 25, 3), rig=rig),
                              init=init)


def test_streaming_emits_every_frame_once_and_flags_unseen_frames():
    from scorehmr_ros.pipeline.streaming import StreamingConfig, StreamingFitter

    case = _small_case()
    keypoints = case.keypoints_px.copy()
    keypoints[3, 1] = 0.0  # person 1 seen by no camera in frame 3
    fitter = StreamingFitter(diffusion=_zero_noise_diffusion(), body=KeypointBody(_body_model()), rig=case.rig,
                             config=StreamingConfig(window=4, lag=1, betas_frames=2))
    outputs = []
    betas = []
    for t in range(keypoints.shape[0]):
        outputs += fitter.step(track_ids=[0, 1], keypoints_px=keypoints[t])
        assert all(len(track.frames) <= 4 for track in fitter.tracks.values())
        betas.append(fitter.tracks[0].betas.clone())
    # track 0 is seen in every set: its betas average its first 2 per-frame fits, then stay fixed
    assert not torch.equal(betas[0], betas[1]) and all(torch.equal(betas[1], b) for b in betas[2:])
    outputs += fitter.flush()
    emitted = sorted((o.track_id, o.frame_index) for o in outputs)
    assert emitted == sorted((p, t) for p in range(2) for t in range(keypoints.shape[0]))
    flags = {(o.track_id, o.frame_index): o.observed for o in outputs}
    assert flags[(1, 3)] is False and flags[(1, 2)] is True and flags[(0, 3)] is True
    assert not fitter.tracks


def test_fixed_lag_smoother_holds_fixed_rows_and_keeps_straight_lines():
    from scorehmr_ros.fitting.fixed_lag import fixed_lag_smooth, second_difference_matrix

    line = torch.arange(6, dtype=torch.float64)[:, None] * torch.tensor([[0.5, -1.0]]) + 2.0
    fixed = torch.tensor([True, True, False, False, False, False])
    ones = torch.ones(6)
    # a straight line has no second difference: unchanged for any smoothness
    assert torch.allclose(fixed_lag_smooth(line, anchor_weight=ones, fixed=fixed, smoothness=50.0), line)
    noisy = line + 0.3 * torch.randn(6, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    smoothed = fixed_lag_smooth(noisy, anchor_weight=ones, fixed=fixed, smoothness=3.0)
    assert torch.equal(smoothed[:2], noisy[:2])
    D = second_difference_matrix(6)
    assert (D @ smoothed).norm() < 0.5 * (D @ noisy).norm()
    # no anchor on the free rows (predictions): the fixed rows' line is continued
    held = line.clone()
    held[2:] = 0.0
    continued = fixed_lag_smooth(held, anchor_weight=torch.zeros(6), fixed=fixed, smoothness=1.0)
    assert torch.allclose(continued, line, atol=1e-3)  # up to the ridge ε
    with pytest.raises(ValueError, match="anchor_weight"):
        fixed_lag_smooth(line, anchor_weight=torch.ones(5), fixed=fixed, smoothness=1.0)


def test_fixed_lag_smoother_of_several_windows_is_each_window_alone():
    from scorehmr_ros.fitting.fixed_lag import fixed_lag_smooth

    generator = torch.Generator().manual_seed(3)
    values = torch.randn(3, 7, 4, generator=generator, dtype=torch.float64)
    anchors = torch.rand(3, 7, generator=generator, dtype=torch.float64)
    fixed = torch.tensor([[True, True, False, False, False, False, False]] * 2 + [[True] + [False] * 6])
    times = [torch.tensor([0.0, 0.1, 0.15, 0.3, 0.35, 0.5, 0.6]), None, torch.arange(7) / 10.0]  # one without stamps
    together = fixed_lag_smooth(values, anchor_weight=anchors, fixed=fixed, smoothness=2.0, times_s=times)
    for window in range(3):
        alone = fixed_lag_smooth(values[window], anchor_weight=anchors[window], fixed=fixed[window], smoothness=2.0,
                                 times_s=times[window])
        torch.testing.assert_close(together[window], alone)


def test_rigid_polish_removes_a_rigid_error():
    from scorehmr_ros.fitting.fit_polish import rigid_polish

    rig = RigTensors.from_cameras(make_rig("ring4").cameras)
    rotations, betas, _ = _random_pose(3, 5)
    body = KeypointBody(_body_model())
    truth = torch.tensor([[0.2, -0.3, 1.0], [-0.5, 0.4, 0.9], [0.0, 0.0, 1.1]])
    with torch.no_grad():
        pixels, _ = project_to_views(body(rotations=rotations, betas=betas, transl_m=truth).openpose_m, rig)
    keypoints = torch.cat([pixels, torch.ones_like(pixels[..., :1])], dim=-1)
    turned = rotations.clone()
    turned[:, 0] = axis_angle_to_matrix(torch.tensor([0.08, -0.05, 0.1])) @ rotations[:, 0]
    orient, transl = rigid_polish(body, rotations=turned, betas=betas, transl_m=truth + 0.05, keypoints_px=keypoints,
                                  rig=rig, iterations=3, sigma_px=50.0, data_weight_px=1000.0)
    assert torch.allclose(orient, rotations[:, 0], atol=2e-3)
    assert torch.allclose(transl, truth, atol=2e-3)


def test_pose_gauss_newton_polish_pulls_the_body_joints_onto_exact_keypoints():
    from scorehmr_ros.fitting.fit_polish import pose_gauss_newton_polish

    rig = RigTensors.from_cameras(make_rig("ring4").cameras)
    rotations, betas, _ = _random_pose(3, 6)
    body = KeypointBody(_body_model())
    transl = torch.tensor([[0.2, -0.3, 1.0], [-0.5, 0.4, 0.9], [0.0, 0.0, 1.1]])
    with torch.no_grad():
        truth = body(rotations=rotations, betas=betas, transl_m=transl)
        pixels, _ = project_to_views(truth.openpose_m, rig)
    keypoints = torch.cat([pixels, torch.ones_like(pixels[..., :1])], dim=-1)
    bent = rotations.clone()  # 0.1 rad off at every body joint, the global orientation right
    bent[:, 1:] = bent[:, 1:] @ axis_angle_to_matrix(torch.full((3, 23, 3), 0.1 / 3**0.5))
    kwargs = dict(betas=betas, keypoints_px=keypoints, rig=rig, sigma_px=50.0, data_weight_px=1000.0, damping=0.03)

    def joint_error_m(rot, trans):
        with torch.no_grad():
            return (body(rotations=rot, betas=betas, transl_m=trans).openpose_m - truth.openpose_m).norm(dim=-1).mean()

    before = joint_error_m(bent, transl + 0.02)
    fitted, moved = pose_gauss_newton_polish(body, rotations=bent, transl_m=transl + 0.02, iterations=3, **kwargs)
    assert torch.equal(fitted[:, 0], bent[:, 0])  # the global orientation is the rigid polish's
    assert joint_error_m(fitted, moved) < 0.1 * before
    # no data: nothing moves and nothing is NaN
    still, kept = pose_gauss_newton_polish(body, rotations=bent, transl_m=transl, iterations=1,
                                           **{**kwargs, "keypoints_px": keypoints * 0})
    assert torch.allclose(still, bent, atol=1e-6) and torch.allclose(kept, transl)
    # the whole body at once: a turned global orientation as well as bent joints
    turned = bent.clone()
    turned[:, 0] = axis_angle_to_matrix(torch.tensor([0.08, -0.05, 0.1])) @ rotations[:, 0]
    before = joint_error_m(turned, transl + 0.02)
    whole, placed = pose_gauss_newton_polish(body, rotations=turned, transl_m=transl + 0.02, iterations=8, orient=True,
                                             **kwargs)
    assert joint_error_m(whole, placed) < 0.1 * before
    orient_error = float((turned[:, 0] - rotations[:, 0]).abs().max())
    assert float((whole[:, 0] - rotations[:, 0]).abs().max()) < 0.6 * orient_error  # it moved the orientation too


@functools.lru_cache(maxsize=1)
def _bound_case():
    """The fixed scene of the accuracy bounds: seed 4, dance_a + kick, 20 frames (not a tuning scene)."""
    from scorehmr_ros.cli import bench_methods
    from scorehmr_ros.sim.scene import SceneConfig, generate_scene

    scene = generate_scene(config=SceneConfig(num_people=2, clips=("dance_a", "kick"), num_frames=20, seed=4),
                           cameras=make_rig("ring4").cameras, body_model=_body_model())
    return bench_methods.make_case(scene, noise=bench_methods.RegressorNoise(), rng=np.random.default_rng(4))


@pytest.mark.skipif(not (PRIORS / "deepmimic_prior.pt").exists(), reason="the committed keypoint-only prior is absent")
def test_accuracy_bounds_with_the_committed_prior():
    """Issue 5's bounds: (d) <= 0.7 (c) and below (a), (b); (e) accel <= 0.5 (d) with MPJPE no worse."""
    from scorehmr_ros.cli import bench_methods
    from scorehmr_ros.diffusion.checkpoint import load_diffusion_checkpoint
    from scorehmr_ros.pipeline.streaming import StreamingConfig
    from scorehmr_ros.sim.metrics import evaluate

    case = _bound_case()
    body = KeypointBody(_body_model())
    diffusion = load_diffusion_checkpoint(PRIORS / "deepmimic_prior.pt")
    joints = {
        "a": bench_methods.run_triangulation_ik(body, case)[0],
        "b": bench_methods.run_without_prior(body, case, config=CalibratedFitConfig(), iterations=100)[0],
        "c": bench_methods.run_paper_multiview(diffusion, _body_model(), body, case)[0],
        "d": bench_methods.run_calibrated(diffusion, body, case, config=CalibratedFitConfig())[0],
        "e": bench_methods.run_streaming(diffusion, body, case, config=StreamingConfig())[0],
    }
    reports = {key: evaluate(value, case.gt_joints_m, fps=case.fps) for key, value in joints.items()}
    mpjpe = {key: report.mpjpe.mean for key, report in reports.items()}
    assert mpjpe["d"] <= 0.7 * mpjpe["c"], mpjpe
    assert mpjpe["d"] < mpjpe["a"] and mpjpe["d"] < mpjpe["b"], mpjpe
    assert reports["e"].accel.mean <= 0.5 * reports["d"].accel.mean, (reports["e"].accel, reports["d"].accel)
    assert mpjpe["e"] <= mpjpe["d"], mpjpe


def test_smoother_rows_are_accelerations_in_30_fps_units_at_any_frame_times():
    from scorehmr_ros.fitting.fixed_lag import fixed_lag_smooth, second_difference_matrix

    at_30 = torch.arange(5, dtype=torch.float64) / 30
    assert torch.allclose(second_difference_matrix(5, times_s=at_30), second_difference_matrix(5))
    # a parabola x = t² has acceleration 2 everywhere: every row gives 2 Δ² (Δ = 1/30 s), at any spacing
    irregular = torch.tensor([0.0, 0.2, 0.3, 0.7, 0.75, 1.4], dtype=torch.float64)
    rows = second_difference_matrix(6, times_s=irregular) @ irregular**2
    assert torch.allclose(rows, torch.full((4,), 2.0 / 30**2, dtype=torch.float64))
    # a line at irregular times stays a line; at 5 Hz the same λ smooths the same motion as at 30 Hz would in
    # seconds: noise is reduced, but a steadily accelerating track is not flattened toward a line
    assert torch.allclose(second_difference_matrix(6, times_s=irregular) @ (3 * irregular - 1), torch.zeros(4,
                          dtype=torch.float64), atol=1e-12)
    times = torch.arange(8, dtype=torch.float64) / 5
    fall = (-4.9 * times**2)[:, None]  # free fall, metres
    fixed, ones = torch.zeros(8, dtype=torch.bool), torch.ones(8)
    timed = fixed_lag_smooth(fall, anchor_weight=ones, fixed=fixed, smoothness=1.0, times_s=times)
    untimed = fixed_lag_smooth(fall, anchor_weight=ones, fixed=fixed, smoothness=1.0)
    assert (timed - fall).abs().max() < 0.01 < (untimed - fall).abs().max()
    with pytest.raises(ValueError, match="strictly increasing"):
        second_difference_matrix(3, times_s=torch.tensor([0.0, 0.1, 0.1]))


def test_frame_times_fill_bad_steps_and_extrapolation_follows_the_time_steps():
    from scorehmr_ros.pipeline.streaming import _Frame, extrapolate, frame_times_s

    times = frame_times_s([10.0, 10.2, None, 10.6, 10.6, 11.0])  # a missing stamp and a repeated one
    # the good steps are 0.2 and 0.4 s: each bad one takes their median, 0.3 s
    assert torch.allclose(times, torch.tensor([0.0, 0.2, 0.5, 0.8, 1.1, 1.5], dtype=torch.float64))
    assert frame_times_s([None, None, 3.0]) is None
    eye = torch.eye(3).repeat(24, 1, 1)
    previous = _Frame(0, eye, torch.tensor([0.0, 0.0, 1.0]), True, time_s=1.0)
    last = _Frame(1, eye, torch.tensor([0.1, 0.0, 1.0]), True, time_s=1.1)
    _, after_double_gap = extrapolate(previous, last, time_s=1.3)
    assert torch.allclose(after_double_gap, torch.tensor([0.3, 0.0, 1.0]))
    _, untimed = extrapolate(previous, last)
    assert torch.allclose(untimed, torch.tensor([0.2, 0.0, 1.0]))


def test_the_small_adam_takes_torchs_adam_steps():
    from scorehmr_ros.fitting.calibrated_fitting import _Adam

    generator = torch.Generator().manual_seed(0)
    target = torch.randn(4, 10, generator=generator)
    ours = torch.zeros(4, 10)
    reference = torch.zeros(4, 10, requires_grad=True)
    adam, optimizer = _Adam(ours, lr=0.02), torch.optim.Adam([reference], lr=0.02)
    for _ in range(25):
        adam.step(2 * (ours - target))
        reference.grad = 2 * (reference.detach() - target)
        optimizer.step()
    torch.testing.assert_close(ours, reference.detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])  # float32: the fit's PER_FRAME_DTYPE
def test_analytic_loss_gradients_are_autograds_for_per_frame_fits(dtype):
    from scorehmr_ros.body.ik_lm import body_tables
    from scorehmr_ros.fitting.calibrated_fitting import analytic_loss_gradients, calibrated_loss
    from scorehmr_ros.fitting.multiview_guidance import translation_hessian

    rig = RigTensors.from_cameras(make_rig("ring4").cameras)
    rig = RigTensors(K=rig.K, distortion=torch.tensor([[-0.2, 0.05, 0.001, -0.002, 0.0]]).expand(4, -1),
                     R_cam_world=rig.R_cam_world, t_cam_world_m=rig.t_cam_world_m, image_size_px=rig.image_size_px)
    rotations, betas, transl = _random_pose(3, 8)
    body = KeypointBody(_body_model())
    transl = 0.3 * transl
    with torch.no_grad():
        pixels, _ = project_to_views(body(rotations=rotations, betas=betas, transl_m=transl).openpose_m, rig)
    generator = torch.Generator().manual_seed(2)
    keypoints = torch.cat([pixels + 30 * torch.randn(pixels.shape, generator=generator),
                           torch.rand(pixels.shape[:-1] + (1,), generator=generator)], dim=-1)
    observations = CalibratedObservations(keypoints_px=keypoints, rig=rig)
    config = CalibratedFitConfig()
    x0 = torch.tensor(0.3 * np.random.default_rng(3).standard_normal((3, 144)), dtype=torch.float32)
    x0 = x0 + torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0] * 24)  # near-identity rotations, bent
    moved = transl + 0.05
    (grad_x0, grad_transl, grad_betas), hessian = analytic_loss_gradients(
        body_tables(body, dtype), x0, betas, moved, observations, config)
    x, beta, tau = (t.clone().requires_grad_(True) for t in (x0, betas, moved))
    joints = body(rotations=rot6d_to_matrix(x.reshape(3, 24, 6)), betas=beta, transl_m=tau)
    total, _ = calibrated_loss(joints, observations, config)
    expected = torch.autograd.grad(total, [x, tau, beta])
    for got, want in zip((grad_x0, grad_transl, grad_betas), expected, strict=True):
        scale = float(want.abs().max())
        assert float((got - want).abs().max()) <= 1e-4 * scale, (float((got - want).abs().max()), scale)
    want_hessian = config.w_reprojection * translation_hessian(joints.openpose_m.detach(), keypoints, rig,
                                                              sigma_px=config.gm_sigma_px)
    torch.testing.assert_close(hessian, want_hessian, rtol=1e-4, atol=1e-6)
    # betas held: the same pose and translation gradients without the Jacobian's β columns (chain_vjp)
    (held_x0, held_transl, held_betas), _ = analytic_loss_gradients(
        body_tables(body, dtype), x0, betas, moved, observations, config, betas_needed=False)
    torch.testing.assert_close(held_x0, grad_x0, rtol=1e-5, atol=1e-6 * float(grad_x0.abs().max()))
    torch.testing.assert_close(held_transl, grad_transl, rtol=1e-5, atol=1e-6 * float(grad_transl.abs().max()))
    assert not bool(held_betas.any())


def _counting_diffusion(seed: int) -> tuple[Diffusion, list[torch.Tensor]]:
    """A small random prior whose denoiser outputs are recorded (one entry per call)."""
    torch.manual_seed(seed)
    diffusion = Diffusion(denoiser=Denoiser(DenoiserConfig(hidden_dim=16, num_blocks=1, cond_dim=0))).eval()
    outputs: list[torch.Tensor] = []
    forward = diffusion.model.forward

    def counted(*args, **kwargs):
        outputs.append(forward(*args, **kwargs).clone())
        return outputs[-1]

    diffusion.model.forward = counted
    return diffusion, outputs


def test_carried_inversion_noise_takes_the_place_of_the_inversions_denoiser_call():
    from scorehmr_ros.fitting.calibrated_fitting import InversionNoise
    from scorehmr_ros.geometry.rotations import matrix_to_rot6d

    case = _small_case()
    body = KeypointBody(_body_model())
    diffusion, outputs = _counting_diffusion(seed=5)
    observations = CalibratedObservations(keypoints_px=torch.as_tensor(case.keypoints_px[0], dtype=torch.float32),
                                          rig=case.rig)
    rotations, betas, _ = _random_pose(2, seed=6)
    init = BodyParams(rotations=rotations, betas=0.1 * betas, transl_m=torch.tensor([[0.5, 0.0, 0.0], [-0.5, 0, 0]]))
    config = CalibratedFitConfig(sample_start=10, ddim_step=10, polish_pose_solver="gauss_newton")

    def fit(carry=None) -> BodyParams:
        outputs.clear()
        return calibrated_guided_fit(diffusion=diffusion, body=body, observations=observations, init=init,
                                     config=config, inversion_noise=carry)

    plain = fit()
    assert len(outputs) == 2  # inversion, then the guided step
    x0 = matrix_to_rot6d(rotations).reshape(2, -1)
    with torch.no_grad():
        inversion_noise = diffusion.model(x0, torch.zeros(2, dtype=torch.long), None)
    # the carried ε̂ equal to the denoiser's at the start: the same fit with one call
    carry = InversionNoise(noise=inversion_noise, known=torch.tensor([True, True]))
    carried = fit(carry)
    assert len(outputs) == 1
    torch.testing.assert_close(carried.rotations, plain.rotations, rtol=0, atol=1e-6)
    torch.testing.assert_close(carried.transl_m, plain.transl_m, rtol=0, atol=1e-6)
    # afterwards the carry holds the guided step's denoiser output for the next fit
    assert bool(carry.known.all()) and torch.equal(carry.noise, outputs[-1])
    # rows not known take the denoiser's inversion; a known row's noise is used as given
    carry = InversionNoise(noise=torch.full((2, 144), 0.5), known=torch.tensor([True, False]))
    mixed = fit(carry)
    assert len(outputs) == 2
    torch.testing.assert_close(mixed.rotations[1], plain.rotations[1], rtol=0, atol=1e-6)
    assert (mixed.rotations[0] - plain.rotations[0]).abs().max() > 1e-3
    with pytest.raises(ValueError, match="inversion_noise: expected noise \\(2, 144\\)"):
        fit(InversionNoise(noise=torch.zeros(3, 144), known=torch.ones(3, dtype=torch.bool)))


@pytest.mark.parametrize("carry", [True, False])
def test_streaming_carries_the_inversion_noise_from_a_tracks_fitted_previous_frame(carry):
    from scorehmr_ros.pipeline.streaming import StreamingConfig, StreamingFitter

    case = _small_case()
    keypoints = case.keypoints_px.copy()
    keypoints[2, 1] = 0.0  # person 1 seen by no camera in frame 2: frame 3 has no fitted previous frame
    diffusion, outputs = _counting_diffusion(seed=7)
    fitter = StreamingFitter(diffusion=diffusion, body=KeypointBody(_body_model()), rig=case.rig,
                             config=StreamingConfig(window=4, lag=1, carry_inversion_noise=carry))
    calls = []
    for t in range(keypoints.shape[0]):
        outputs.clear()
        fitter.step(track_ids=[0, 1], keypoints_px=keypoints[t])
        calls.append(len(outputs))
    # new tracks (set 0) and a frame after a prediction (set 3) invert with the denoiser; the others carry
    assert calls == ([2, 1, 1, 2, 1, 1] if carry else [2] * 6)
    newest = fitter.tracks[0].frames[-1]
    assert (newest.prior_noise is not None) == carry


def test_point_information_gives_the_gauss_newton_hessian_of_any_point_parameters():
    from scorehmr_ros.fitting.multiview_guidance import gauss_newton_hessian, point_information

    generator = torch.Generator().manual_seed(11)
    scale = torch.rand(2, 4, 25, 2, generator=generator, dtype=torch.float64)
    pixel_jacobian = torch.randn(2, 4, 25, 2, 3, generator=generator, dtype=torch.float64)
    point_jacobian = torch.randn(2, 25, 3, 7, generator=generator, dtype=torch.float64)  # ∂X/∂ξ, 7 parameters
    information = point_information(scale, pixel_jacobian)
    hessian = point_jacobian.flatten(1, 2).transpose(1, 2) @ (information @ point_jacobian).flatten(1, 2)
    torch.testing.assert_close(hessian, gauss_newton_hessian(scale, pixel_jacobian @ point_jacobian[:, None]))


def test_body_tables_are_cached_per_dtype():
    from scorehmr_ros.body.ik_lm import body_tables

    body = KeypointBody(_body_model())
    double, single = body_tables(body), body_tables(body, torch.float32)
    assert double.vertex_posedirs.dtype == torch.float64 and single.vertex_posedirs.dtype == torch.float32
    assert body_tables(body) is double and body_tables(body, torch.float32) is single
    torch.testing.assert_close(single.weights_below, double.weights_below.float())
