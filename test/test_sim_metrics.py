"""Metrics on cases with known answers."""

import numpy as np
import pytest

from scorehmr_ros.geometry.rigs import make_rig
from scorehmr_ros.geometry.rotations_np import axis_angle_to_matrix
from scorehmr_ros.sim.metrics import (
    MetricsError,
    accel_error,
    camera_frame_errors,
    evaluate,
    mpjpe,
    pa_mpjpe,
    procrustes_align,
    pve,
)


@pytest.fixture
def joints():
    return np.random.default_rng(0).normal(size=(5, 8, 24, 3))  # (P, T, J, 3)


def test_mpjpe_zero_for_identical_and_exact_for_a_shift(joints):
    assert mpjpe(joints, joints).mean == 0.0
    shifted = joints + np.array([0.03, -0.04, 0.0])  # 5 cm everywhere
    result = mpjpe(shifted, joints)
    assert result.mean == pytest.approx(0.05)
    np.testing.assert_allclose(result.per_joint, 0.05)
    assert result.per_sample.shape == (40,) and result.num_valid == 40 * 24
    assert mpjpe(shifted, joints, root_index=0).mean == pytest.approx(0.0, abs=1e-12)


def test_mpjpe_per_joint_and_mask(joints):
    pred = joints.copy()
    pred[..., 3, :] += [0.1, 0.0, 0.0]
    valid = np.ones(joints.shape[:-1], dtype=bool)
    valid[0, 0, :] = False
    result = mpjpe(pred, joints, valid=valid)
    np.testing.assert_allclose(result.per_joint[3], 0.1)
    np.testing.assert_allclose(np.delete(result.per_joint, 3), 0.0)
    assert result.mean == pytest.approx(0.1 / 24)
    assert np.isnan(result.per_sample[0]) and result.num_valid == 39 * 24
    valid[..., 3] = False
    assert np.isnan(mpjpe(pred, joints, valid=valid).per_joint[3])


def test_pa_mpjpe_invariant_to_similarity_transform(joints):
    rng = np.random.default_rng(1)
    R = axis_angle_to_matrix(rng.normal(size=3))
    moved = 2.7 * joints @ R.T + rng.normal(size=3)
    assert pa_mpjpe(moved, joints).mean == pytest.approx(0.0, abs=1e-10)
    noisy = joints + rng.normal(scale=0.02, size=joints.shape)
    moved_noisy = 0.4 * noisy @ R.T - 3.0
    assert pa_mpjpe(moved_noisy, joints).mean == pytest.approx(pa_mpjpe(noisy, joints).mean, rel=1e-9)
    assert pa_mpjpe(noisy, joints).mean < mpjpe(noisy, joints).mean
    assert mpjpe(moved, joints).mean > 0.5


def test_procrustes_excludes_reflections_and_ignores_invalid_joints(joints):
    mirrored = joints * np.array([-1.0, 1.0, 1.0])
    aligned = procrustes_align(mirrored, joints)
    assert mpjpe(aligned, joints).mean > 0.1  # a reflection cannot be undone by a rotation
    pred = joints.copy()
    pred[..., 0, :] += 100.0  # an outlier at an invalid joint must not affect the fit
    valid = np.ones(joints.shape[:-1], dtype=bool)
    valid[..., 0] = False
    assert pa_mpjpe(pred, joints, valid=valid).mean == pytest.approx(0.0, abs=1e-10)


def test_accel_error_zero_for_constant_velocity_and_exact_for_a_parabola():
    fps = 30.0
    t = np.arange(20) / fps
    start = np.random.default_rng(2).normal(size=(24, 3))
    velocity = np.random.default_rng(3).normal(size=(24, 3))
    gt = start + t[:, None, None] * velocity  # (T, J, 3) constant velocity
    still = np.broadcast_to(start, gt.shape)
    assert accel_error(gt, still, fps=fps).mean == pytest.approx(0.0, abs=1e-9)
    falling = gt + 0.5 * np.array([0.0, 0.0, -9.81]) * t[:, None, None] ** 2
    result = accel_error(falling, gt, fps=fps)
    assert result.mean == pytest.approx(9.81, rel=1e-6)
    assert result.unit == "m/s^2" and result.per_sample.shape == (18,)
    with pytest.raises(MetricsError, match="T>=3"):
        accel_error(gt[:2], gt[:2], fps=fps)


def test_pve_and_report(joints):
    vertices = np.random.default_rng(4).normal(size=(8, 100, 3))
    assert pve(vertices + [0, 0, 0.01], vertices).mean == pytest.approx(0.01)
    report = evaluate(joints[0], joints[0], fps=30.0, pred_vertices_m=vertices, gt_vertices_m=vertices)
    assert report.mpjpe.mean == report.pve.mean == report.accel.mean == 0.0
    assert report.pa_mpjpe.mean == pytest.approx(0.0, abs=1e-12)
    assert evaluate(joints[0, 0], joints[0, 0], fps=30.0).accel is None


def test_camera_frame_errors_match_world_frame(joints):
    cameras = make_rig("ring3").cameras
    gt_world = joints[0] + [0.0, 0.0, 1.0]
    noise = np.random.default_rng(5).normal(scale=0.01, size=(3,) + gt_world.shape)
    pred_cam = np.stack([camera.world_to_camera(gt_world + noise[v]) for v, camera in enumerate(cameras)])
    for view, result in enumerate(camera_frame_errors(pred_cam, gt_world, cameras)):
        world = mpjpe(gt_world + noise[view], gt_world)
        assert result.camera_name == cameras[view].name
        assert result.mpjpe.mean == pytest.approx(world.mean, rel=1e-9)  # rigid motion keeps distances
        assert result.pa_mpjpe.mean <= result.mpjpe.mean
    with pytest.raises(MetricsError, match="pred_cam_m"):
        camera_frame_errors(pred_cam[:2], gt_world, cameras)


def test_shape_mismatch_is_reported():
    with pytest.raises(MetricsError, match=r"\(\.\.\., J, 3\)"):
        mpjpe(np.zeros((2, 24, 3)), np.zeros((2, 23, 3)))
