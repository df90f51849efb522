"""``scorehmr-ros fit`` end to end on the golden single-image case: the file path equals the official result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from scorehmr_ros.assets.standin import write_standin_npz
from scorehmr_ros.cli.fit_cli import FitFileError, read_fit_file
from scorehmr_ros.cli.main import main
from scorehmr_ros.diffusion.checkpoint import save_diffusion_checkpoint
from scorehmr_ros.diffusion.denoiser import Denoiser, DenoiserConfig
from scorehmr_ros.diffusion.diffusion import Diffusion

from golden_weights import random_denoiser_state

GOLDEN = Path(__file__).parent / "fixtures" / "golden"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fit_cli")
    with np.load(GOLDEN / "diffusion_fit_single.npz") as data:
        case = dict(data)
    diffusion = Diffusion(denoiser=Denoiser(DenoiserConfig(hidden_dim=int(case["hidden_dim"]))))
    shapes = {k: tuple(v.shape) for k, v in diffusion.model.state_dict().items()}
    state = random_denoiser_state(shapes, seed=int(case["weights_seed"]))
    diffusion.model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    save_diffusion_checkpoint(root / "model.pt", online=diffusion)
    np.savez(root / "in.npz", **{k: case[k] for k in ("pred_pose", "pred_betas", "pred_cam_t", "keypoints_2d",
                                                        "img_size", "cond_feats")})
    np.savez(root / "expected.npz", joints=case["out_joints"], camera_translation=case["out_camera_translation"],
             vertices=case["out_vertices"])
    return {"checkpoint": root / "model.pt", "body": write_standin_npz(root / "body.npz"), "input": root / "in.npz",
            "expected": root / "expected.npz", "root": root}


def _argv(files, output: Path, *extra: str) -> list[str]:
    return ["fit", "--checkpoint", str(files["checkpoint"]), "--body-model", str(files["body"]), "--input",
            str(files["input"]), "--output", str(output), "--iters", "2", "--sample-start", "10", "--step", "2",
            "--no-progress", *extra]


def test_fit_cli_matches_official(files):
    output = files["root"] / "out.npz"
    assert main(_argv(files, output)) == 0
    with np.load(output) as out, np.load(files["expected"]) as expected:
        assert set(out.files) == {"global_orient", "body_pose", "betas", "camera_translation", "joints", "vertices",
                                  "body_model"}
        assert "STAND-IN" in str(out["body_model"])
        assert out["global_orient"].shape == (3, 1, 3, 3) and out["body_pose"].shape == (3, 23, 3, 3)
        assert np.abs(out["joints"] - expected["joints"]).max() <= 1e-4
        assert np.abs(out["camera_translation"] - expected["camera_translation"]).max() <= 1e-4
        assert np.abs(out["vertices"] - expected["vertices"]).max() <= 1e-4


def test_bad_input_names_key_and_shape(files, tmp_path, caplog):
    with np.load(files["input"]) as data:
        arrays = dict(data)
    arrays["pred_cam_t"] = arrays["pred_cam_t"][:, :2]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(FitFileError, match=r"key 'pred_cam_t' has shape \(3, 2\), expected \(B, 3\) with B = 3"):
        read_fit_file(tmp_path / "bad.npz", need_keypoints=True)
    del arrays["pred_cam_t"]
    np.savez(tmp_path / "missing.npz", **arrays)
    with pytest.raises(FitFileError, match=r"missing key 'pred_cam_t' \(expected shape \(B, 3\)\)"):
        read_fit_file(tmp_path / "missing.npz", need_keypoints=True)
    arrays.pop("cond_feats")
    np.savez(tmp_path / "imgs_only.npz", **{**arrays, "img": np.zeros((3, 3, 224, 224), np.float32),
                                            "pred_cam_t": np.zeros((3, 3), np.float32)})
    argv = _argv(files, tmp_path / "o.npz")
    argv[argv.index("--input") + 1] = str(tmp_path / "imgs_only.npz")
    assert main(argv) == 2
    assert "--pare-checkpoint" in caplog.text


def test_wrong_checkpoint_is_a_clear_cli_error(files, tmp_path, caplog):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    argv = _argv(files, tmp_path / "o.npz")
    argv[argv.index("--checkpoint") + 1] = str(tmp_path / "junk.pt")
    assert main(argv) == 2
    assert "not a torch checkpoint" in caplog.text


def test_openpose25_keypoints_equal_44_with_missing_extra_joints(files, tmp_path):
    """Only the 25 OpenPose joints guide, so a 25-joint file must give the 44-joint result."""
    with np.load(files["input"]) as data:
        arrays = dict(data)
    arrays["keypoints_2d"] = arrays["keypoints_2d"][:, :25]
    np.savez(tmp_path / "kp25.npz", **arrays)
    assert read_fit_file(tmp_path / "kp25.npz", need_keypoints=True)["keypoints_2d"].shape == (3, 44, 3)
    argv = _argv(files, tmp_path / "out25.npz")
    argv[argv.index("--input") + 1] = str(tmp_path / "kp25.npz")
    assert main(argv) == 0
    with np.load(tmp_path / "out25.npz") as out, np.load(files["expected"]) as expected:
        assert np.abs(out["joints"] - expected["joints"]).max() <= 1e-4
