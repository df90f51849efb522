"""BodyModel: agreement with smplx's SMPLLayer, the official 44-joint map, inputs and files."""

import numpy as np
import pytest
import torch

from scorehmr_ros.assets.standin import (
    STANDIN_DESCRIPTION,
    generate_standin_body_model,
    write_standin_npz,
    write_standin_official_pkl,
)
from scorehmr_ros.body.body_model import (
    KEYPOINT_VERTEX_IDS,
    SMPL_TO_OPENPOSE,
    BodyModel,
    BodyModelFileError,
    BodyModelInputError,
)
from scorehmr_ros.geometry.rotations import axis_angle_to_matrix

smplx = pytest.importorskip("smplx")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("body")
    return {"npz": write_standin_npz(root / "standin.npz"),
            "pkl": write_standin_official_pkl(root / "smpl" / "SMPL_NEUTRAL.pkl")}


@pytest.fixture(scope="module")
def body(files):
    return BodyModel.from_file(files["npz"])


def _random_inputs(batch: int, seed: int = 0, scale: float = 0.6):
    generator = torch.Generator().manual_seed(seed)
    pose = axis_angle_to_matrix(torch.randn(batch, 24, 3, generator=generator) * scale)
    return dict(global_orient=pose[:, :1], body_pose=pose[:, 1:],
                betas=torch.randn(batch, 10, generator=generator),
                transl_m=torch.randn(batch, 3, generator=generator))


def test_agrees_with_smplx_smpllayer_and_official_wrapper(files, body):
    layer = smplx.SMPLLayer(model_path=str(files["pkl"].parent), gender="neutral")
    inputs = _random_inputs(5)
    ours = body(**inputs)
    theirs = layer(global_orient=inputs["global_orient"], body_pose=inputs["body_pose"], betas=inputs["betas"],
                   transl=inputs["transl_m"])
    assert (ours.vertices_m - theirs.vertices).abs().max() < 1e-5
    assert (ours.smpl_joints_m - theirs.joints[:, :24]).abs().max() < 1e-5
    # The official wrapper: SMPLLayer's 45 joints through the OpenPose map, then J19 on the vertices.
    j19 = torch.from_numpy(generate_standin_body_model()["J19"]).float()
    expected = torch.cat([theirs.joints[:, list(SMPL_TO_OPENPOSE)], torch.einsum("jv,bvk->bjk", j19, theirs.vertices)],
                         dim=1)
    assert ours.joints_m.shape == (5, 44, 3)
    assert (ours.joints_m - expected).abs().max() < 1e-5


def test_joint_map_semantics(body):
    out = body(**_random_inputs(3, seed=1))
    vid = dict(KEYPOINT_VERTEX_IDS)
    torch.testing.assert_close(out.joints_m[:, 1], out.smpl_joints_m[:, 12])  # Neck = SMPL neck
    torch.testing.assert_close(out.joints_m[:, 8], out.smpl_joints_m[:, 0])  # MidHip = pelvis
    torch.testing.assert_close(out.joints_m[:, 2], out.smpl_joints_m[:, 17])  # RShoulder
    torch.testing.assert_close(out.joints_m[:, 12], out.smpl_joints_m[:, 1])  # LHip
    torch.testing.assert_close(out.joints_m[:, 0], out.vertices_m[:, vid["nose"]])
    torch.testing.assert_close(out.joints_m[:, 24], out.vertices_m[:, vid["RHeel"]])
    # Stand-in J19 rows copy SMPL joint regressor rows: R ankle (25) = SMPL 8, L wrist (36) = 20, pelvis (39) = 0.
    # J19 acts on posed vertices, so posed they agree only approximately (skinning blends bones near joints).
    for extra, smpl in ((25, 8), (36, 20), (39, 0)):
        torch.testing.assert_close(out.joints_m[:, extra], out.smpl_joints_m[:, smpl], atol=0.02, rtol=0)
    eye = torch.eye(3).expand(1, 24, 3, 3)
    rest = body(global_orient=eye[:, :1], body_pose=eye[:, 1:], betas=torch.randn(1, 10))
    for extra, smpl in ((25, 8), (36, 20), (39, 0)):
        torch.testing.assert_close(rest.joints_m[:, extra], rest.smpl_joints_m[:, smpl], atol=1e-5, rtol=0)


def test_rest_pose_is_the_template(body):
    eye = torch.eye(3).expand(2, 24, 3, 3)
    out = body(global_orient=eye[:, :1], body_pose=eye[:, 1:], betas=torch.zeros(2, 10))
    torch.testing.assert_close(out.vertices_m[0], body.v_template)
    torch.testing.assert_close(out.smpl_joints_m[0], body.J_regressor @ body.v_template)


def test_batched_equals_looped_and_translation(body):
    inputs = _random_inputs(4, seed=2)
    batched = body(**inputs)
    for i in range(4):
        single = body(**{k: v[i:i + 1] for k, v in inputs.items()})
        torch.testing.assert_close(single.joints_m, batched.joints_m[i:i + 1], atol=1e-6, rtol=0)
    no_transl = body(**{k: v for k, v in inputs.items() if k != "transl_m"})
    torch.testing.assert_close(batched.vertices_m - no_transl.vertices_m,
                               inputs["transl_m"][:, None].expand(4, 6890, 3), atol=1e-5, rtol=0)


def test_fewer_betas_use_the_first_directions(body):
    inputs = _random_inputs(2, seed=3)
    inputs["betas"][:, 4:] = 0
    full = body(**inputs)
    short = body(**{**inputs, "betas": inputs["betas"][:, :4]})
    torch.testing.assert_close(full.vertices_m, short.vertices_m)


def test_without_j19_extra_joints_are_zero(tmp_path):
    arrays = generate_standin_body_model()
    del arrays["J19"]
    model = BodyModel(arrays)
    out = model(**_random_inputs(2, seed=4))
    assert not model.has_extra_joints
    assert torch.all(out.joints_m[:, 25:] == 0) and torch.all(out.joints_m[:, :25].abs().sum(-1) > 0)


def test_standin_flag_buffers_dtype_and_gradients(body):
    assert body.is_standin and body.description.startswith(STANDIN_DESCRIPTION)
    assert body.faces.dtype == torch.int64 and body.faces.shape == (13776, 3)
    assert body.v_template.dtype == torch.float32
    names = {name for name, _ in body.named_buffers()}
    assert {"v_template", "shapedirs", "posedirs", "J_regressor", "lbs_weights", "faces"} <= names
    double = BodyModel(generate_standin_body_model()).double()
    inputs = {k: v.double().requires_grad_(True) for k, v in _random_inputs(2, seed=5).items()}
    out = double(**inputs)
    assert out.joints_m.dtype == torch.float64
    out.joints_m.sum().backward()
    assert inputs["betas"].grad.abs().sum() > 0 and inputs["body_pose"].grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("name", "bad", "match"),
    [("global_orient", torch.zeros(2, 3, 3), "global_orient"),
     ("body_pose", torch.zeros(2, 24, 3, 3), "body_pose"),
     ("betas", torch.zeros(2, 11), "betas"),
     ("betas", torch.zeros(3, 10), "betas"),
     ("transl_m", torch.zeros(2, 2), "transl_m")],
)
def test_bad_inputs_raise(body, name, bad, match):
    inputs = _random_inputs(2)
    inputs[name] = bad
    with pytest.raises(BodyModelInputError, match=match):
        body(**inputs)


def test_bad_files_raise(tmp_path):
    with pytest.raises(BodyModelFileError, match="not found"):
        BodyModel.from_file(tmp_path / "missing.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip file")
    with pytest.raises(BodyModelFileError, match="not a plain-array"):
        BodyModel.from_file(garbage)
    arrays = generate_standin_body_model()
    wrong = dict(arrays, weights=arrays["weights"][:, :23])
    np.savez(tmp_path / "wrong.npz", **wrong)
    with pytest.raises(BodyModelFileError, match=r"weights has shape \(6890, 23\)"):
        BodyModel.from_file(tmp_path / "wrong.npz")
    missing = {k: v for k, v in arrays.items() if k != "J_regressor"}
    np.savez(tmp_path / "missing_key.npz", **missing)
    with pytest.raises(BodyModelFileError, match="missing array 'J_regressor'"):
        BodyModel.from_file(tmp_path / "missing_key.npz")
    np.savez(tmp_path / "objects.npz", **dict(arrays, v_template=np.array([object()], dtype=object)))
    with pytest.raises(BodyModelFileError, match="not a plain-array"):
        BodyModel.from_file(tmp_path / "objects.npz")
