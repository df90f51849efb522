"""SMPL importer: a pickle with the official file's structure (chumpy objects, scipy sparse), bad files."""

import os
import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse

from scorehmr_ros.assets.smpl_import import SmplImportError, convert_smpl, import_smpl, read_restricted_pickle
from scorehmr_ros.assets.standin import (
    generate_standin_body_model,
    write_standin_j19_pkl,
    write_standin_official_pkl,
)
from scorehmr_ros.body.body_model import BodyModel


def _fake_module(name: str, **classes) -> types.ModuleType:
    module = types.ModuleType(name)
    for class_name, cls in classes.items():
        cls.__module__, cls.__qualname__, cls.__name__ = name, class_name, class_name
        setattr(module, class_name, cls)
    return module


class _Ch:
    """Pickles like chumpy.ch.Ch: an instance whose __dict__ holds the value in 'x' plus bookkeeping."""

    def __init__(self, x):
        self.__dict__.update(x=x, _dirty_vars=set(), _itr=None, _depends_on_deps={},
                             _make_dense=False, _make_sparse=False)


class _ChAdd(_Ch):
    """Like chumpy.ch_ops.add: a derived Ch whose value must be computed."""


class _OldCsc:
    """Pickles like a scipy < 1.8 csc_matrix (class path scipy.sparse.csc.csc_matrix)."""

    def __init__(self, dense):
        m = scipy.sparse.csc_matrix(dense)
        self.__dict__.update(_shape=m.shape, maxprint=50, indptr=m.indptr, indices=m.indices, data=m.data,
                             format="csc")


@pytest.fixture(scope="module")
def model():
    return generate_standin_body_model()


def _official_like_dict(model, *, shapedirs=None):
    """The official SMPL_NEUTRAL.pkl structure: chumpy shapedirs, sparse J_regressor, extra keys."""
    return {
        "J_regressor_prior": _OldCsc(model["J_regressor"]),
        "f": model["f"].astype(np.uint32),
        "J_regressor": _OldCsc(model["J_regressor"]),
        "kintree_table": model["kintree_table"],
        "J": model["J_regressor"] @ model["v_template"],
        "weights_prior": model["weights"],
        "weights": model["weights"],
        "vert_sym_idxs": np.arange(6890),
        "posedirs": model["posedirs"],
        "pose_training_info": {"lambda": 1.0, "dataset": "fake"},
        "bs_style": "lbs",
        "v_template": model["v_template"],
        "shapedirs": _Ch(model["shapedirs"] if shapedirs is None else shapedirs),
        "bs_type": "lrotmin",
    }


def _write_with_fake_classes(monkeypatch, path, content, protocol=2):
    """Pickle with fake chumpy / old-scipy modules installed, then remove them again."""
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "chumpy", _fake_module("chumpy"))
        patch.setitem(sys.modules, "chumpy.ch", _fake_module("chumpy.ch", Ch=_Ch))
        patch.setitem(sys.modules, "chumpy.ch_ops", _fake_module("chumpy.ch_ops", add=_ChAdd))
        patch.setitem(sys.modules, "scipy.sparse.csc", _fake_module("scipy.sparse.csc", csc_matrix=_OldCsc))
        with open(path, "wb") as stream:
            pickle.dump(content, stream, protocol=protocol)
    assert "chumpy" not in sys.modules
    return path


@pytest.mark.parametrize("protocol", [0, 2])
def test_official_structure_imports(tmp_path, monkeypatch, model, protocol):
    path = _write_with_fake_classes(monkeypatch, tmp_path / "SMPL_NEUTRAL.pkl", _official_like_dict(model), protocol)
    raw = path.read_bytes()
    assert b"chumpy.ch" in raw and b"scipy.sparse.csc" in raw
    j19 = write_standin_j19_pkl(tmp_path / "SMPL_to_J19.pkl")
    arrays = import_smpl(path, j19_pkl=j19)
    for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "J19"):
        np.testing.assert_array_equal(arrays[key], model[key], err_msg=key)
        assert arrays[key].dtype == np.float64
    np.testing.assert_array_equal(arrays["f"], model["f"])
    np.testing.assert_array_equal(arrays["kintree_table"], model["kintree_table"])
    assert not bool(arrays["is_standin"]) and "imported from SMPL_NEUTRAL.pkl" in str(arrays["description"])


def test_converted_npz_drives_the_body_model(tmp_path, monkeypatch, model):
    path = _write_with_fake_classes(monkeypatch, tmp_path / "SMPL_NEUTRAL.pkl", _official_like_dict(model))
    out = convert_smpl(path, tmp_path / "converted" / "smpl.npz", j19_pkl=write_standin_j19_pkl(tmp_path / "j19.pkl"))
    with np.load(out, allow_pickle=False) as data:
        assert set(data.files) >= {"v_template", "J19", "description"}
    body = BodyModel.from_file(out)
    reference = BodyModel(model)
    assert not body.is_standin and body.has_extra_joints
    for name, buffer in reference.named_buffers():
        assert (getattr(body, name) == buffer).all(), name


def test_more_shape_directions_are_kept(tmp_path, monkeypatch, model):
    wide = np.concatenate([model["shapedirs"], model["shapedirs"][:, :, :6]], axis=2)
    path = _write_with_fake_classes(monkeypatch, tmp_path / "m.pkl", _official_like_dict(model, shapedirs=wide))
    assert import_smpl(path)["shapedirs"].shape == (6890, 3, 16)
    narrow = _write_with_fake_classes(monkeypatch, tmp_path / "n.pkl",
                                      _official_like_dict(model, shapedirs=model["shapedirs"][:, :, :8]))
    with pytest.raises(SmplImportError, match="8 shape directions, need at least 10"):
        import_smpl(narrow)


def test_standin_official_pkl_round_trip_keeps_the_flag(tmp_path, model):
    arrays = import_smpl(write_standin_official_pkl(tmp_path / "SMPL_NEUTRAL.pkl"))
    assert bool(arrays["is_standin"]) and str(arrays["description"]).startswith("STAND-IN body model (not SMPL)")
    np.testing.assert_allclose(arrays["J_regressor"], model["J_regressor"])


def test_not_a_pickle(tmp_path):
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(b"\x00\x01garbage that is not a pickle")
    with pytest.raises(SmplImportError, match="not a readable SMPL pickle"):
        import_smpl(path)
    with pytest.raises(SmplImportError, match="file not found"):
        import_smpl(tmp_path / "absent.pkl")


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_foreign_globals_are_refused_and_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"v_template": _Exploit(str(marker))}, protocol=2))
    with pytest.raises(SmplImportError, match="refusing to load it"):
        import_smpl(path)
    assert not marker.exists()


def test_derived_chumpy_objects_are_refused(tmp_path, monkeypatch, model):
    content = _official_like_dict(model)
    content["shapedirs"] = _ChAdd(model["shapedirs"])
    path = _write_with_fake_classes(monkeypatch, tmp_path / "m.pkl", content)
    with pytest.raises(SmplImportError, match="chumpy.ch_ops.add.*only plain chumpy.ch.Ch"):
        import_smpl(path)


def test_wrong_content_and_shapes(tmp_path, monkeypatch, model):
    listing = tmp_path / "list.pkl"
    listing.write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(SmplImportError, match="expected a dict of SMPL arrays, got list"):
        import_smpl(listing)
    content = _official_like_dict(model)
    del content["weights"]
    path = _write_with_fake_classes(monkeypatch, tmp_path / "missing.pkl", content)
    with pytest.raises(SmplImportError, match="missing weights"):
        import_smpl(path)
    content = _official_like_dict(model)
    content["v_template"] = model["v_template"][:, :2]
    path = _write_with_fake_classes(monkeypatch, tmp_path / "shape.pkl", content)
    with pytest.raises(SmplImportError, match=r"v_template has shape \(6890, 2\), expected \(6890, 3\)"):
        import_smpl(path)
    good = _write_with_fake_classes(monkeypatch, tmp_path / "good.pkl", _official_like_dict(model))
    bad_j19 = tmp_path / "j19.pkl"
    bad_j19.write_bytes(pickle.dumps(np.zeros((17, 6890)), protocol=2))
    with pytest.raises(SmplImportError, match=r"expected a \(19, 6890\) J19 regressor, got \(17, 6890\)"):
        import_smpl(good, j19_pkl=bad_j19)


def test_read_restricted_pickle_plain_arrays(tmp_path):
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps({"a": np.arange(5.0), "s": np.float32(2.5), "t": {1, 2}}, protocol=2))
    content = read_restricted_pickle(path)
    np.testing.assert_array_equal(content["a"], np.arange(5.0))
    assert content["s"] == np.float32(2.5) and content["t"] == {1, 2}
