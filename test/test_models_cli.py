"""``models`` subcommand: argument parsing and the three actions on a temporary data root."""

import argparse
import base64
import hashlib
import io
import logging
import re
import tarfile

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
    assert "MISSING" in caplog.text and re.search(r"smpl_neutral +present", caplog.text)
    assert re.search(r"pose_landmark_lite +absent \(optional\)", caplog.text)  # not fetched into this root
    changed = tmp_path / "registry" / "mediapipe_pose" / "pose_landmark_heavy.tflite"
    changed.parent.mkdir(parents=True)
    changed.write_bytes(b"not the locked model")
    caplog.clear()
    assert args.run(args) == 0
    assert re.search(r"pose_landmark_heavy +DIFFERS", caplog.text)


def test_fetch_installs_a_locks_files_and_says_so(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    content = b"a model file"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("package/model.tflite")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    archive = tmp_path / "pkg.tgz"
    archive.write_bytes(buffer.getvalue())
    integrity = "sha256-" + base64.b64encode(hashlib.sha256(archive.read_bytes()).digest()).decode()
    lock = tmp_path / "models.lock"
    lock.write_text(f"archive pkg@1 {archive.as_uri()} {integrity}\n"
                    f"file pkg@1 package/model.tflite pkg/model.tflite {hashlib.sha256(content).hexdigest()}\n")
    args = _parse(["models", "--data-root", str(tmp_path / "root"), "fetch", "--lock", str(lock), "--no-progress"])
    assert args.run(args) == 0
    assert (tmp_path / "root" / "registry" / "pkg" / "model.tflite").read_bytes() == content
    assert "installed " in caplog.text
    assert args.run(args) == 0 and "every file of the models lock is installed" in caplog.text
    lock.write_text(lock.read_text().replace("sha256-", "sha512-"))  # another hash: refused, exit 1
    (tmp_path / "root" / "registry" / "pkg" / "model.tflite").unlink()
    assert args.run(args) == 1 and "the lock says" in caplog.text


def test_import_of_a_bad_file_fails_cleanly(tmp_path, caplog):
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"nope")
    args = _parse(["models", "import-smpl", "--smpl", str(bad), "--out", str(tmp_path / "x.npz")])
    assert args.run(args) == 1
    assert "not a readable SMPL pickle" in caplog.text and not (tmp_path / "x.npz").exists()
