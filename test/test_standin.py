"""Stand-in body model: SMPL format, a closed mesh, human proportions, keypoints on the right parts."""

import collections
import hashlib
import pickle

import numpy as np
import pytest
import scipy.sparse

from scorehmr_ros.assets import paths, standin
from scorehmr_ros.assets.standin import (
    STANDIN_DESCRIPTION,
    generate_standin_body_model,
    write_standin_j19_pkl,
    write_standin_npz,
    write_standin_official_layout,
    write_standin_official_pkl,
)
from scorehmr_ros.body.body_model import KEYPOINT_VERTEX_IDS, check_model_arrays

OFFICIAL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
VID = dict(KEYPOINT_VERTEX_IDS)


@pytest.fixture(scope="module")
def model():
    return generate_standin_body_model(seed=0)


def _shaped(model, betas):
    betas = np.asarray(betas, dtype=np.float64)
    return model["v_template"] + model["shapedirs"][:, :, : betas.size] @ betas


def _height(vertices):
    return float(np.ptp(vertices[:, 1]))


def test_format_shapes_and_tree(model):
    check_model_arrays(model, source="stand-in")
    assert model["v_template"].shape == (6890, 3)
    assert model["f"].shape == (13776, 3)
    assert model["shapedirs"].shape == (6890, 3, 10)
    assert model["J19"].shape == (19, 6890)
    assert np.all(model["posedirs"] == 0)
    assert model["kintree_table"][0, 0] == 4294967295
    assert model["kintree_table"][0, 1:].tolist() == OFFICIAL_PARENTS[1:]
    assert model["kintree_table"][1].tolist() == list(range(24))
    assert bool(model["is_standin"])
    assert str(model["description"]).startswith(STANDIN_DESCRIPTION)


def test_mesh_is_closed_oriented_genus_zero(model):
    faces, vertices = model["f"], model["v_template"]
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    counts = collections.Counter(map(tuple, directed.tolist()))
    assert max(counts.values()) == 1  # no edge used twice in the same direction
    assert all((b, a) in counts for a, b in counts)  # every edge has its opposite
    num_edges = len(counts) // 2
    assert 6890 - num_edges + 13776 == 2  # Euler characteristic of a sphere
    assert np.unique(faces).size == 6890
    area = 0.5 * np.linalg.norm(np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]],
                                         vertices[faces[:, 2]] - vertices[faces[:, 0]]), axis=1)
    assert area.min() > 1e-7
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    volume = np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6
    assert 0.04 < volume < 0.1  # m³: outward faces, a human-sized body (SMPL's is about 0.07)


def test_deterministic_and_seeded(model):
    again = standin._generate_cached.__wrapped__(0)  # a real second generation, not the cached one
    for key in model:
        np.testing.assert_array_equal(model[key], again[key], err_msg=key)
    other = generate_standin_body_model(seed=1)
    np.testing.assert_array_equal(other["v_template"], model["v_template"])
    assert not np.array_equal(other["shapedirs"][:, :, 9], model["shapedirs"][:, :, 9])
    np.testing.assert_array_equal(other["shapedirs"][:, :, :9], model["shapedirs"][:, :, :9])


def test_regressors_are_convex_averages(model):
    for key in ("J_regressor", "J19"):
        assert np.all(model[key] >= 0)
        np.testing.assert_allclose(model[key].sum(axis=1), 1.0, atol=1e-12)
    weights = model["weights"]
    assert np.all(weights >= 0)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-12)


def test_human_proportions_and_smpl_like_joints(model):
    vertices = model["v_template"]
    joints = model["J_regressor"] @ vertices
    assert 1.6 < _height(vertices) < 1.9
    np.testing.assert_allclose(joints[0], [0.0, -0.22, 0.03], atol=0.03)  # pelvis, as SMPL's template
    assert joints[15, 1] > joints[12, 1] > joints[9, 1] > joints[6, 1] > joints[3, 1] > joints[0, 1]
    assert joints[0, 1] > joints[1, 1] > joints[4, 1] > joints[7, 1]
    # T-pose: arms horizontal, the left arm along +x.
    assert abs(joints[20, 1] - joints[16, 1]) < 0.03 and joints[20, 0] > joints[18, 0] > joints[16, 0] > 0.1
    # Mirror symmetry of left/right joints.
    left, right = [1, 4, 7, 10, 13, 16, 18, 20, 22], [2, 5, 8, 11, 14, 17, 19, 21, 23]
    np.testing.assert_allclose(joints[left] * [-1, 1, 1], joints[right], atol=1e-9)


def test_keypoint_vertices_on_the_right_parts(model):
    v = model["v_template"]
    joints = model["J_regressor"] @ v
    assert v[VID["nose"], 1] > joints[12, 1] and v[VID["nose"], 2] > joints[15, 2] + 0.05
    assert v[VID["leye"], 0] > 0 > v[VID["reye"], 0]
    assert v[VID["lear"], 0] > v[VID["leye"], 0] and v[VID["rear"], 0] < v[VID["reye"], 0]
    assert v[VID["leye"], 1] > v[VID["nose"], 1]
    for side, sign in (("L", 1), ("R", -1)):
        big, small, heel = v[VID[f"{side}BigToe"]], v[VID[f"{side}SmallToe"]], v[VID[f"{side}Heel"]]
        assert sign * big[0] > 0 and sign * heel[0] > 0
        assert big[2] > heel[2] + 0.15 and small[2] > heel[2] + 0.15  # toes in front of heels
        assert sign * small[0] > sign * big[0]  # small toe lateral
        assert big[1] < joints[7 if side == "L" else 8, 1]
    for side, sign, wrist in (("l", 1, 20), ("r", -1, 21)):
        tips = np.stack([v[VID[f"{side}{name}"]] for name in ("thumb", "index", "middle", "ring", "pinky")])
        assert np.all(sign * tips[:, 0] > sign * joints[wrist, 0])
        assert np.all(np.diff(tips[:, 2]) < 0)  # thumb forward, pinky back (palms down)


def test_beta0_stature_and_beta1_girth(model):
    heights = [_height(_shaped(model, [b])) for b in np.linspace(-3, 3, 7)]
    assert np.all(np.diff(heights) > 0.03)
    thin, thick = _shaped(model, [0, -2]), _shaped(model, [0, 2])
    joints_thin, joints_thick = model["J_regressor"] @ thin, model["J_regressor"] @ thick
    waist = np.abs(model["v_template"][:, 1] - joints_thin[3, 1]) < 0.02
    torso_width = lambda v: np.ptp(v[waist & (np.abs(model["v_template"][:, 0]) < 0.25), 0])  # noqa: E731
    assert torso_width(thick) > 1.3 * torso_width(thin)
    assert abs(_height(thick) - _height(thin)) < 0.02
    np.testing.assert_allclose(joints_thin, joints_thick, atol=1e-9)  # girth leaves the skeleton alone


def test_skinning_follows_the_limbs(model):
    v, weights = model["v_template"], model["weights"]
    joints = model["J_regressor"] @ v
    forearm = np.linalg.norm(v - 0.5 * (joints[18] + joints[20]), axis=1) < 0.06
    assert weights[forearm, 18].mean() > 0.8
    shin = np.linalg.norm(v - 0.5 * (joints[5] + joints[8]), axis=1) < 0.07
    assert weights[shin, 5].mean() > 0.8
    left_side = v[:, 0] > 0.3
    assert weights[left_side][:, [14, 17, 19, 21, 23]].max() == 0


def test_official_pkl_loads_in_smplx_and_is_byte_stable(tmp_path, model):
    smplx = pytest.importorskip("smplx")
    first = write_standin_official_pkl(tmp_path / "a" / "SMPL_NEUTRAL.pkl")
    second = write_standin_official_pkl(tmp_path / "b" / "SMPL_NEUTRAL.pkl")
    assert hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest()
    with open(first, "rb") as stream:
        data = pickle.load(stream, encoding="latin1")
    assert isinstance(data["J_regressor"], scipy.sparse.csc_matrix)
    assert data["f"].dtype == np.uint32
    layer = smplx.SMPLLayer(model_path=str(first.parent), gender="neutral")
    np.testing.assert_allclose(layer.v_template.numpy(), model["v_template"], atol=1e-6)
    np.testing.assert_allclose(layer.J_regressor.numpy(), model["J_regressor"], atol=1e-7)
    assert layer.parents.tolist() == OFFICIAL_PARENTS
    j19 = write_standin_j19_pkl(tmp_path / "SMPL_to_J19.pkl")
    with open(j19, "rb") as stream:
        np.testing.assert_array_equal(pickle.load(stream, encoding="latin1"), model["J19"])


def test_official_layout_and_paths(tmp_path, monkeypatch):
    smpl, j19 = write_standin_official_layout(tmp_path)
    assert smpl == tmp_path / "data" / "smpl" / "SMPL_NEUTRAL.pkl" and smpl.is_file()
    assert j19 == tmp_path / "data" / "SMPL_to_J19.pkl" and j19.is_file()
    monkeypatch.setenv(paths.DATA_ROOT_ENV, str(tmp_path))
    assert paths.data_root() == tmp_path
    assert paths.model_file_path("smpl_neutral") == smpl
    assert paths.model_file_path("smpl_to_j19", root=tmp_path) == j19
    relative = paths.model_file_path("score_hmr").relative_to(tmp_path).as_posix()
    assert relative == "data/model_weights/score_hmr/model-100.pt"
    with pytest.raises(KeyError, match="known: smpl_neutral"):
        paths.model_file_path("smpl_male")
    generated = paths.ensure_standin_body_model()
    assert generated == paths.standin_body_model_path() and generated.is_file()
    with np.load(generated, allow_pickle=False) as data:
        assert bool(data["is_standin"])


def test_npz_round_trip(tmp_path, model):
    path = write_standin_npz(tmp_path / "standin.npz")
    with np.load(path, allow_pickle=False) as data:
        for key in model:
            np.testing.assert_array_equal(data[key], model[key], err_msg=key)
    assert list(tmp_path.iterdir()) == [path]  # no partial file left behind
