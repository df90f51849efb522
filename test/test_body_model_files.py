"""Body-model files in other layouts: the extra-joint regressor under smplx's / the official code's name is
loaded (never silently zero), and a deeply nested pickle is refused with a clear error."""

import argparse
import logging
import pickle
import struct

import numpy as np
import pytest
import torch

from scorehmr_ros.assets.smpl_import import SmplImportError, import_smpl, read_restricted_pickle
from scorehmr_ros.assets.standin import generate_standin_body_model
from scorehmr_ros.body.body_model import BodyModel, BodyModelFileError
from scorehmr_ros.cli import models_cli


@pytest.fixture(scope="module")
def arrays():
    model = generate_standin_body_model()
    model["J19"] = np.random.default_rng(0).dirichlet(np.ones(6890), size=19)  # rows sum to 1 like a regressor
    return model


def _npz(path, arrays, **renamed):
    content = {key: value for key, value in arrays.items() if key not in renamed}
    content.update({new: arrays[old] for old, new in renamed.items()})
    np.savez(path, **content)
    return path


def _extra_joints(model):
    with torch.no_grad():
        return model(global_orient=torch.eye(3).expand(1, 1, 3, 3), body_pose=torch.eye(3).expand(1, 23, 3, 3),
                     betas=torch.zeros(1, 10)).joints_m[0, 25:]


def test_the_smplx_key_name_loads_the_extra_joints(tmp_path, arrays):
    ours = BodyModel.from_file(_npz(tmp_path / "ours.npz", arrays))
    smplx_style = BodyModel.from_file(_npz(tmp_path / "smplx.npz", arrays, J19="J_regressor_extra"))
    assert smplx_style.has_extra_joints
    extra = _extra_joints(smplx_style)
    assert torch.all(extra.abs().sum(-1) > 0), "extra joints are zero"
    torch.testing.assert_close(extra, _extra_joints(ours))


def test_an_extra_regressor_under_an_unknown_name_is_refused(tmp_path, arrays):
    path = _npz(tmp_path / "odd.npz", arrays, J19="regressor_19")
    with pytest.raises(BodyModelFileError, match="'regressor_19'.*J19.*J_regressor_extra"):
        BodyModel.from_file(path)


def test_two_different_extra_regressors_are_refused(tmp_path, arrays):
    content = dict(arrays, J_regressor_extra=arrays["J19"][::-1].copy())
    with pytest.raises(BodyModelFileError, match="different extra-joint regressors"):
        BodyModel(content, source="both.npz")


def test_the_importer_keeps_an_extra_regressor_inside_the_pickle(tmp_path, arrays):
    content = {key: arrays[key] for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights",
                                            "kintree_table", "f")}
    content["J_regressor_extra"] = arrays["J19"]
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(pickle.dumps(content, protocol=2))
    np.testing.assert_allclose(import_smpl(path)["J19"], arrays["J19"])


def _deep_dict_pickle(depth: int) -> bytes:
    """{'a': {'a': ...}} ``depth`` levels deep, written opcode by opcode (pickle.dumps itself would recurse)."""
    key = b"X" + struct.pack("<I", 1) + b"a"
    return b"\x80\x02}" + (key + b"}") * depth + b"s" * depth + b"."


def test_a_deeply_nested_pickle_is_refused_clearly(tmp_path, caplog):
    path = tmp_path / "deep.pkl"
    path.write_bytes(_deep_dict_pickle(100_000))
    with pytest.raises(SmplImportError, match="deep.pkl.*nested"):
        read_restricted_pickle(path)
    parser = argparse.ArgumentParser()
    models_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["models", "import-smpl", "--smpl", str(path), "--out", str(tmp_path / "x.npz")])
    caplog.set_level(logging.ERROR)
    assert args.run(args) == 1
    assert "nested" in caplog.text and not (tmp_path / "x.npz").exists()
