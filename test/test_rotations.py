"""Rotation conversions: official golden values, round trips, conventions, shapes."""

from pathlib import Path

import numpy as np
import pytest
import torch

from scorehmr_ros.geometry.rotations import (
    RotationShapeError,
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    matrix_to_rot6d,
    quaternion_to_matrix,
    rot6d_to_matrix,
)

GOLDEN = Path(__file__).parent / "fixtures" / "golden" / "geometry_official.npz"


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN, allow_pickle=False) as data:
        return {k: torch.from_numpy(data[k]) for k in data.files}


def _random_rotations(n: int, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(n, 4, generator=generator, dtype=dtype)
    return quaternion_to_matrix(q)


def test_axis_angle_to_matrix_matches_official(golden):
    R = axis_angle_to_matrix(golden["axis_angle"])
    torch.testing.assert_close(R, golden["axis_angle_rotmat"], rtol=0, atol=1e-6)


def test_quaternion_to_matrix_matches_official(golden):
    R = quaternion_to_matrix(golden["quaternion"])
    torch.testing.assert_close(R, golden["quaternion_rotmat"], rtol=0, atol=1e-6)


def test_rot6d_to_matrix_matches_official(golden):
    R = rot6d_to_matrix(golden["rot6d"])
    torch.testing.assert_close(R, golden["rot6d_rotmat"], rtol=0, atol=1e-6)


def test_rot6d_element_order_is_column_major():
    R = torch.arange(9, dtype=torch.float64).reshape(3, 3)
    x6d = matrix_to_rot6d(R)
    expected = torch.tensor([R[0, 0], R[1, 0], R[2, 0], R[0, 1], R[1, 1], R[2, 1]], dtype=torch.float64)
    torch.testing.assert_close(x6d, expected)


def test_rot6d_round_trip_and_orthonormal():
    R = _random_rotations(100).reshape(4, 25, 3, 3)
    back = rot6d_to_matrix(matrix_to_rot6d(R))
    torch.testing.assert_close(back, R, rtol=0, atol=1e-12)
    x6d = torch.randn(50, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    R2 = rot6d_to_matrix(x6d)
    torch.testing.assert_close(R2 @ R2.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand(50, 3, 3))
    assert torch.allclose(torch.linalg.det(R2), torch.ones(50, dtype=torch.float64))


def test_axis_angle_round_trip_including_small_and_pi():
    generator = torch.Generator().manual_seed(1)
    axes = torch.nn.functional.normalize(torch.randn(200, 3, generator=generator, dtype=torch.float64), dim=-1)
    angles = torch.rand(200, 1, generator=generator, dtype=torch.float64) * (np.pi - 1e-3)
    angles[:4, 0] = torch.tensor([1e-7, 1e-4, 0.5, np.pi - 1e-3], dtype=torch.float64)
    aa = axes * angles
    back = matrix_to_axis_angle(axis_angle_to_matrix(aa))
    torch.testing.assert_close(back, aa, rtol=0, atol=1e-7)


def test_matrix_to_axis_angle_at_identity_and_half_turn():
    assert torch.allclose(matrix_to_axis_angle(torch.eye(3, dtype=torch.float64)), torch.zeros(3, dtype=torch.float64))
    half_turn_x = torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64))
    aa = matrix_to_axis_angle(half_turn_x)
    torch.testing.assert_close(aa.abs(), torch.tensor([np.pi, 0.0, 0.0], dtype=torch.float64))


def test_quaternion_round_trip_and_sign():
    R = _random_rotations(300, seed=5)
    q = matrix_to_quaternion(R)
    assert torch.all(q[:, 0] >= 0)
    torch.testing.assert_close(q.norm(dim=-1), torch.ones(300, dtype=torch.float64))
    torch.testing.assert_close(quaternion_to_matrix(q), R, rtol=0, atol=1e-12)


def test_axis_angle_rotates_vectors_right_handed():
    R = axis_angle_to_matrix(torch.tensor([0.0, 0.0, np.pi / 2], dtype=torch.float64))
    torch.testing.assert_close(R @ torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64),
                               torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64), rtol=0, atol=1e-7)


def test_batched_equals_looped():
    R = _random_rotations(12, seed=7).reshape(3, 4, 3, 3)
    batched = matrix_to_axis_angle(R)
    looped = torch.stack([matrix_to_axis_angle(R[i, j]) for i in range(3) for j in range(4)]).reshape(3, 4, 3)
    torch.testing.assert_close(batched, looped)


@pytest.mark.parametrize(
    ("function", "shape"),
    [(axis_angle_to_matrix, (5, 4)), (matrix_to_axis_angle, (5, 3)), (matrix_to_rot6d, (3, 2)),
     (rot6d_to_matrix, (5, 9)), (quaternion_to_matrix, (5, 3)), (matrix_to_quaternion, (2, 2))],
)
def test_wrong_shape_raises(function, shape):
    with pytest.raises(RotationShapeError, match="expected shape"):
        function(torch.zeros(shape))


def test_gradients_flow_through_rot6d():
    x6d = torch.randn(8, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(rot6d_to_matrix, (x6d,))


def test_nearest_rotation_in_torch_and_numpy():
    from scorehmr_ros.geometry import rotations_np
    from scorehmr_ros.geometry.rotations import nearest_rotation

    generator = torch.Generator().manual_seed(0)
    truth = axis_angle_to_matrix(torch.randn(50, 3, generator=generator, dtype=torch.float64))
    noisy = truth + 0.01 * torch.randn(50, 3, 3, generator=generator, dtype=torch.float64)
    projected = nearest_rotation(noisy)
    eye = torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(projected @ projected.transpose(-1, -2), eye.expand(50, 3, 3))
    assert bool((torch.linalg.det(projected) > 0).all())
    assert float((projected - truth).abs().max()) < 0.03
    np.testing.assert_allclose(rotations_np.nearest_rotation(noisy.numpy()), projected.numpy(), atol=1e-12)
    reflected = truth.clone()
    reflected[:, :, 2] *= -1  # det -1: the nearest rotation, not the reflection
    assert bool((torch.linalg.det(nearest_rotation(reflected)) > 0).all())
    # far from any rotation (Newton does not converge in its iterations, or det <= 0): the SVD answer
    from scorehmr_ros.geometry.rotations import _nearest_rotation_svd

    arbitrary = torch.randn(200, 3, 3, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(nearest_rotation(arbitrary), _nearest_rotation_svd(arbitrary))
    # a weighted sum of rotations: the chordal mean (two rotations about z by ±0.2 rad average to the identity)
    pair = axis_angle_to_matrix(torch.tensor([[0.0, 0.0, 0.2], [0.0, 0.0, -0.2]], dtype=torch.float64))
    torch.testing.assert_close(nearest_rotation(pair.sum(dim=0)), eye)


def test_rot6d_gradient_from_the_tangent_gradient_is_autograds():
    from scorehmr_ros.geometry.rotations import rot6d_gradient

    generator = torch.Generator().manual_seed(1)
    x6d = torch.randn(7, 24, 6, generator=generator, dtype=torch.float64, requires_grad=True)
    target = torch.randn(7, 24, 3, 3, generator=generator, dtype=torch.float64)
    R = rot6d_to_matrix(x6d)
    loss = (R * target).sum() + (R**2 * target).sum()  # any function of R
    (expected,) = torch.autograd.grad(loss, x6d, retain_graph=True)
    (grad_R,) = torch.autograd.grad(loss, R)
    # ∂L/∂δ_a = <∂L/∂R, R [e_a]×>
    generators = torch.zeros(3, 3, 3, dtype=torch.float64)
    generators[0, 2, 1], generators[0, 1, 2] = 1.0, -1.0
    generators[1, 0, 2], generators[1, 2, 0] = 1.0, -1.0
    generators[2, 1, 0], generators[2, 0, 1] = 1.0, -1.0
    tangent = torch.stack([(grad_R * (R.detach() @ generators[a])).sum(dim=(-1, -2)) for a in range(3)], dim=-1)
    torch.testing.assert_close(rot6d_gradient(x6d.detach(), tangent), expected)
