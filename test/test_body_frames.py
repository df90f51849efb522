"""REP-155 body/joint frames from SMPL rotations, checked against the body model's own FK; decimation."""

import numpy as np
import pytest
import torch

from scorehmr_ros.assets.standin import generate_standin_body_model
from scorehmr_ros.body.body_frames import SMPL_JOINT_NAMES, body_frames, global_rotations, rep155_joint_name
from scorehmr_ros.body.body_model import BodyModel
from scorehmr_ros.body.mesh_decimation import decimate
from scorehmr_ros.geometry.rotations import axis_angle_to_matrix
from scorehmr_ros.geometry.transforms import invert_transform


@pytest.fixture(scope="module")
def body_model():
    return BodyModel(generate_standin_body_model(seed=0), source="stand-in")


def pose(body_model, local_rotations):
    batch = local_rotations.shape[0]
    rotations = torch.from_numpy(local_rotations).float()
    out = body_model(global_orient=rotations[:, :1], body_pose=rotations[:, 1:], betas=torch.zeros(batch, 10))
    return out


def test_global_rotations_match_the_body_models_forward_kinematics(body_model):
    rng = np.random.default_rng(0)
    local = axis_angle_to_matrix(torch.from_numpy(rng.normal(0, 0.4, (2, 24, 3)))).numpy()
    rest = pose(body_model, np.tile(np.eye(3), (1, 24, 1, 1))).smpl_joints_m.numpy()[0].astype(np.float64)
    posed = pose(body_model, local).smpl_joints_m.numpy().astype(np.float64)
    world = global_rotations(local)
    parents = body_model.parents.numpy()
    for child in range(1, 24):
        parent = parents[child]
        expected = np.einsum("pij,j->pi", world[:, parent], rest[child] - rest[parent])
        np.testing.assert_allclose(posed[:, child] - posed[:, parent], expected, atol=2e-5)


def test_body_frame_at_hip_midpoint_and_joint_frames_compose_to_world():
    rng = np.random.default_rng(1)
    local = axis_angle_to_matrix(torch.from_numpy(rng.normal(0, 0.5, (3, 24, 3)))).numpy()
    joints = rng.normal(0, 1, (3, 24, 3))
    T_world_body, T_body_joint = body_frames(local, joints)
    np.testing.assert_allclose(T_world_body[:, :3, 3], 0.5 * (joints[:, 1] + joints[:, 2]))
    np.testing.assert_allclose(T_world_body[:, :3, :3], local[:, 0], atol=1e-12)
    T_world_joint = T_world_body[:, None] @ T_body_joint
    np.testing.assert_allclose(T_world_joint[..., :3, 3], joints, atol=1e-12)
    np.testing.assert_allclose(T_world_joint[..., :3, :3], global_rotations(local), atol=1e-12)
    np.testing.assert_allclose(invert_transform(T_world_body[0]) @ T_world_body[0], np.eye(4), atol=1e-12)
    assert body_frames(np.zeros((0, 24, 3, 3)), np.zeros((0, 24, 3)))[1].shape == (0, 24, 4, 4)


def test_rep155_names():
    names = [rep155_joint_name(n) for n in SMPL_JOINT_NAMES]
    assert names[:3] == ["pelvis", "l_hip", "r_hip"] and "l_wrist" in names and "head" in names
    assert len(set(names)) == 24


def test_decimation_keeps_a_valid_smaller_mesh():
    model = generate_standin_body_model(seed=0)
    vertices, faces = model["v_template"], model["f"].astype(np.int64)
    full = decimate(vertices, faces, cell_m=0.0)
    assert len(full.faces) == 13776
    coarse = decimate(vertices, faces, cell_m=0.04)
    assert 500 < len(coarse.faces) < 13776 / 4
    assert coarse.faces.max() < len(coarse.vertex_index) and coarse.vertex_index.max() < len(vertices)
    assert np.all((coarse.faces[:, 0] != coarse.faces[:, 1]) & (coarse.faces[:, 1] != coarse.faces[:, 2]))
    points = coarse.triangle_points(vertices)
    assert points.shape == (3 * len(coarse.faces), 3)
    # The decimated body spans the same extent as the full one (within a cell).
    np.testing.assert_allclose(points.min(0), vertices.min(0), atol=0.04)
    np.testing.assert_allclose(points.max(0), vertices.max(0), atol=0.04)
    with pytest.raises(ValueError, match="cell_m: must be >= 0 m"):
        decimate(vertices, faces, cell_m=-1.0)


def test_float32_rotations_give_exact_rigid_frames():
    rng = np.random.default_rng(5)
    local = axis_angle_to_matrix(torch.from_numpy(rng.normal(0, 1.0, (8, 24, 3))).float()).numpy()
    local = local + rng.normal(0, 3e-6, local.shape).astype(np.float32)  # float32 fit output, slightly off
    T_world_body, T_body_joint = body_frames(local, rng.normal(0, 1, (8, 24, 3)))
    R = T_body_joint[..., :3, :3]
    np.testing.assert_allclose(R @ np.swapaxes(R, -1, -2), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(T_world_body[:, :3, :3]), 1.0, atol=1e-12)
