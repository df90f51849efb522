"""``models`` subcommand: argument parsing and the three actions on a temporary data root."""

import argparse
import logging

import numpy as np

from scorehmr_ros.assets import paths
from scorehmr_ros.cli import models_cli


def _parse(argv):
    parser = argparse.ArgumentParser()
    models_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_standin_then_import_then_list(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    args = _parse(["models", "--data-root", str(tmp_path), "standin", "--official-layout", str(tmp_path)])
    assert args.run(args) == 0
    assert paths.standin_body_model_path(root=tmp_path).is_file()
    assert paths.model_file_path("smpl_neutral", root=tmp_path).is_file()
    args = _parse(["models", "--data-root", str(tmp_path), "import-smpl"])
    assert args.run(args) == 0
    with np.load(paths.converted_smpl_path(root=tmp_path), allow_pickle=False) as data:
        assert data["J19"].shape == (19, 6890) and bool(data["is_standin"])
    args = _parse(["models", "--data-root", str(tmp_path), "list"])
    assert args.run(args) == 0
    assert "MISSING" in caplog.text and "smpl_neutral     present" in caplog.text


def test_import_of_a_bad_file_fails_cleanly(tmp_path, caplog):
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"nope")
    args = _parse(["models", "import-smpl", "--smpl", str(bad), "--out", str(tmp_path / "x.npz")])
    assert args.run(args) == 1
    assert "not a readable SMPL pickle" in caplog.text and not (tmp_path / "x.npz").exists()
