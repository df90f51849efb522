"""Levenberg-Marquardt inverse kinematics (body/ik_lm.py) through ``solve_ik``: exact Jacobians, convergence,
robustness to an outlier, batching, and the Adam solver it sits beside."""

import copy
from pathlib import Path

import pytest
import torch

from scorehmr_ros.assets.standin import generate_standin_body_model
from scorehmr_ros.body import ik_lm
from scorehmr_ros.body.body_model import BodyModel
from scorehmr_ros.body.ik import IKConfig, place_body, solve_ik
from scorehmr_ros.body.keypoint_body import KeypointBody
from scorehmr_ros.geometry.rotations import axis_angle_to_matrix

LM = IKConfig(solver="levenberg_marquardt")
PRIOR = Path(__file__).resolve().parents[1] / "scorehmr_ros" / "data" / "priors" / "deepmimic_prior.pt"
_NECK = 1  # OpenPose-25: placed by the shoulders and the head, so an outlier there is detectable


@pytest.fixture(scope="module")
def body() -> KeypointBody:
    return KeypointBody(BodyModel(generate_standin_body_model(seed=0), source="stand-in"))


def _bodies(body: KeypointBody, batch: int, seed: int, noise_rad: float = 0.15):
    """Random true bodies and starts near them: (true rotations, betas, transl, points (B, 25, 3), start)."""
    generator = torch.Generator().manual_seed(seed)
    pose = 0.3 * torch.randn(batch, 24, 3, generator=generator)
    pose[:, 0] += torch.tensor([1.2, 0.3, -0.4])
    rotations = axis_angle_to_matrix(pose)
    betas = 0.5 * torch.randn(batch, 10, generator=generator)
    transl = torch.randn(batch, 3, generator=generator)
    points = body(rotations=rotations, betas=betas, transl_m=transl).openpose_m
    start = axis_angle_to_matrix(pose + noise_rad * torch.randn(batch, 24, 3, generator=generator))
    return rotations, betas, transl, points, start


def test_chain_and_jacobian_match_the_body_model_and_autograd(body):
    reference = copy.deepcopy(body).double()
    generator = torch.Generator().manual_seed(0)
    batch = 2
    rotations = axis_angle_to_matrix(0.4 * torch.randn(batch, 24, 3, generator=generator, dtype=torch.float64))
    betas = torch.randn(batch, 10, generator=generator, dtype=torch.float64)
    transl = torch.randn(batch, 3, generator=generator, dtype=torch.float64)
    tables = ik_lm.body_tables(body)
    chain = ik_lm.pose_chain(tables, rotations, betas, transl)
    expected = reference(rotations=rotations, betas=betas, transl_m=transl).openpose_m
    torch.testing.assert_close(chain.openpose_m, expected, rtol=0, atol=1e-6)  # float32 tables
    pose = ik_lm.matrix_to_axis_angle(rotations[:, 1:])
    zero = torch.zeros(batch, 85, dtype=torch.float64)

    def per_body(full: torch.Tensor) -> torch.Tensor:  # (B, 25, 3, B, n) -> (B, 25, 3, n)
        return torch.stack([full[b, :, :, b] for b in range(batch)])

    def moved_axis_angle(x: torch.Tensor) -> torch.Tensor:  # the solver's columns: (δ_0, θ_1..θ_23, τ, β)
        moved = torch.cat([rotations[:, :1] @ ik_lm.exp_so3(x[:, None, :3]),
                           axis_angle_to_matrix(pose + x[:, 3:72].reshape(batch, 23, 3))], dim=1)
        return reference(rotations=moved, betas=betas + x[:, 75:], transl_m=transl + x[:, 72:75]).openpose_m

    def moved_locally(x: torch.Tensor) -> torch.Tensor:  # (δ_0..δ_23, τ, β): R_i <- R_i exp([δ_i]×)
        moved = rotations @ ik_lm.exp_so3(x[:, :72].reshape(batch, 24, 3))
        return reference(rotations=moved, betas=betas + x[:, 75:], transl_m=transl + x[:, 72:75]).openpose_m

    for moved, analytic in ((moved_axis_angle, ik_lm.chain_jacobian(tables, chain, 10, pose)),
                            (moved_locally, ik_lm.chain_jacobian(tables, chain, 10))):
        numeric = per_body(torch.autograd.functional.jacobian(moved, zero))
        assert numeric.abs().amax() > 0.5
        torch.testing.assert_close(analytic, numeric, rtol=0, atol=1e-6)
    no_betas = ik_lm.chain_jacobian(tables, chain, 0, pose)
    torch.testing.assert_close(no_betas, ik_lm.chain_jacobian(tables, chain, 10, pose)[..., :75])


def test_converges_on_a_noiseless_body_to_under_a_millimetre(body):
    _, _, _, points, start = _bodies(body, batch=3, seed=1)
    config = IKConfig(solver="levenberg_marquardt", lm_iterations=40, pose_weight=0.0, betas_weight=0.0)
    solved = solve_ik(body, points_m=points, weights=torch.ones(3, 25), init_rotations=start, config=config)
    joints = body(rotations=solved.rotations, betas=solved.betas, transl_m=solved.transl_m).openpose_m
    assert float((joints - points).norm(dim=-1).amax()) < 1e-3
    assert float(solved.residual_m.amax()) < 1e-3


def test_few_iterations_fit_closer_than_twenty_adam_steps(body):
    """The streaming use: noisy points, a start near the answer, betas held."""
    _, betas, _, points, start = _bodies(body, batch=3, seed=2)
    noisy = points + 0.01 * torch.randn(points.shape, generator=torch.Generator().manual_seed(3))
    common = dict(points_m=noisy, weights=torch.ones(3, 25), init_rotations=start, init_betas=betas)
    lm = solve_ik(body, config=IKConfig(solver="levenberg_marquardt", lm_iterations=3, optimize_betas=False),
                  **common)
    adam = solve_ik(body, config=IKConfig(solver="adam", iterations=20, optimize_betas=False), **common)
    assert torch.all(lm.residual_m < adam.residual_m)
    torch.testing.assert_close(lm.betas, betas)


def test_an_outlier_joint_does_not_pull_the_body(body):
    _, betas, _, points, start = _bodies(body, batch=1, seed=4, noise_rad=0.1)
    corrupted = points.clone()
    corrupted[:, _NECK] += torch.tensor([0.0, 0.5, 0.3])
    solved = solve_ik(body, points_m=corrupted, weights=torch.ones(1, 25), init_rotations=start, init_betas=betas,
                      config=IKConfig(solver="levenberg_marquardt", lm_iterations=20, optimize_betas=False))
    joints = body(rotations=solved.rotations, betas=solved.betas, transl_m=solved.transl_m).openpose_m
    error_m = (joints - points).norm(dim=-1)[0]
    inliers = torch.ones(25, dtype=torch.bool)
    inliers[_NECK] = False
    # least squares (sigma_m = 10 m) misses the inliers by 28 mm and the neck by 12 cm here
    assert float(error_m[inliers].mean()) < 3e-3
    assert float(error_m[_NECK]) < 0.01  # at the true neck, not at the corrupted point 58 cm away


def test_batched_bodies_solve_as_each_alone(body):
    _, betas, _, points, start = _bodies(body, batch=3, seed=5, noise_rad=0.3)
    weights = torch.ones(3, 25)
    weights[1, 15:] = 0.0  # no face or feet points
    points[1, 15:] = float("nan")
    weights[2] = torch.linspace(0.2, 1.0, 25)
    config = IKConfig(solver="levenberg_marquardt", lm_iterations=4)
    together = solve_ik(body, points_m=points, weights=weights, init_rotations=start, init_betas=betas,
                        config=config)
    for row in range(3):
        alone = solve_ik(body, points_m=points[row:row + 1], weights=weights[row:row + 1],
                         init_rotations=start[row:row + 1], init_betas=betas[row:row + 1], config=config)
        torch.testing.assert_close(alone.rotations[0], together.rotations[row], rtol=0, atol=1e-5)
        torch.testing.assert_close(alone.transl_m[0], together.transl_m[row], rtol=0, atol=1e-5)
        torch.testing.assert_close(alone.betas[0], together.betas[row], rtol=0, atol=1e-5)


def test_zero_iterations_place_the_start_and_an_unseen_body_stays_put(body):
    _, betas, _, points, start = _bodies(body, batch=2, seed=6)
    weights = torch.ones(2, 25)
    weights[1] = 0.0
    points[1] = float("nan")
    placed = solve_ik(body, points_m=points, weights=weights, init_rotations=start, init_betas=betas,
                      config=IKConfig(solver="levenberg_marquardt", lm_iterations=0))
    torch.testing.assert_close(placed.rotations, start, rtol=0, atol=1e-5)
    expected = place_body(body(rotations=start, betas=betas).openpose_m, points, weights)
    torch.testing.assert_close(placed.transl_m, expected, rtol=0, atol=1e-5)
    solved = solve_ik(body, points_m=points, weights=weights, init_rotations=start, init_betas=betas, config=LM)
    assert torch.isfinite(solved.rotations).all() and torch.isfinite(solved.transl_m).all()
    torch.testing.assert_close(solved.rotations[1], start[1], rtol=0, atol=1e-5)
    assert torch.isnan(solved.residual_m[1])


def test_adam_with_zero_steps_builds_no_optimiser(body, monkeypatch):
    """Its first construction imports torch._dynamo (seconds at a node's first set)."""

    def refuse(*args, **kwargs):
        raise AssertionError("torch.optim.Adam constructed for zero steps")

    monkeypatch.setattr(torch.optim, "Adam", refuse)
    _, betas, _, points, start = _bodies(body, batch=1, seed=7)
    solved = solve_ik(body, points_m=points, weights=torch.ones(1, 25), init_rotations=start, init_betas=betas,
                      config=IKConfig(solver="adam", iterations=0))
    torch.testing.assert_close(solved.rotations, start, rtol=0, atol=1e-5)


def test_ik_bench_writes_one_row_per_case_and_batch(capsys):
    from scorehmr_ros.cli import ik_bench

    assert ik_bench.main(["--bodies", "1,2", "--repeats", "1"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + 2 * len(ik_bench.CASES)  # header + cases x batch sizes
    assert all(len(row.split("|")) == 9 for row in rows)


def test_ik_bench_streaming_compares_both_settings(capsys):
    from scorehmr_ros.cli import ik_bench

    assert ik_bench.main(["--streaming", str(PRIOR), "--frames", "4"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "---" not in line]
    assert [row.split("|")[1].strip() for row in rows[1:]] == ["Adam: 40 steps (start), 20 (new frame)",
                                                              "StreamingConfig() (Levenberg-Marquardt)"]
    assert all(float(value) > 0 for row in rows[1:] for value in row.split("|")[2:6])


def test_chain_vjp_is_the_jacobian_contracted(body):
    from scorehmr_ros.body.ik_lm import body_tables, chain_jacobian, chain_vjp, pose_chain

    tables = body_tables(body)
    generator = torch.Generator().manual_seed(4)
    rotations = axis_angle_to_matrix(0.5 * torch.randn(3, 24, 3, generator=generator, dtype=torch.float64))
    betas = torch.randn(3, 10, generator=generator, dtype=torch.float64)
    chain = pose_chain(tables, rotations, betas, torch.randn(3, 3, generator=generator, dtype=torch.float64))
    g = torch.randn(3, 25, 3, generator=generator, dtype=torch.float64)
    expected = (g.reshape(3, 1, -1) @ chain_jacobian(tables, chain, 0).flatten(1, 2))[:, 0]
    torch.testing.assert_close(chain_vjp(tables, chain, g), expected)
