"""``scorehmr-ros fit --mode calibrated``: the issue's file format, outputs and errors naming key and shape."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from scorehmr_ros.assets.standin import write_standin_npz
from scorehmr_ros.cli.fit_calibrated_cli import CalibratedFileError, read_calibrated_file
from scorehmr_ros.cli.main import main
from scorehmr_ros.diffusion.checkpoint import save_diffusion_checkpoint
from scorehmr_ros.diffusion.denoiser import Denoiser, DenoiserConfig
from scorehmr_ros.diffusion.diffusion import Diffusion
from scorehmr_ros.geometry.rigs import make_rig

T, P, V = 5, 2, 4


@functools.lru_cache(maxsize=1)
def _observations() -> dict[str, np.ndarray]:
    from scorehmr_ros.assets.standin import generate_standin_body_model
    from scorehmr_ros.body.body_model import BodyModel
    from scorehmr_ros.sim.scene import SceneConfig, generate_scene

    cameras = make_rig("ring4").cameras
    body_model = BodyModel(generate_standin_body_model(seed=0), source="stand-in")
    scene = generate_scene(config=SceneConfig(num_people=P, num_frames=T, seed=5), cameras=cameras,
                           body_model=body_model)
    keypoints = scene.observations.keypoints_px.transpose(0, 2, 1, 3, 4).copy()  # (T, P, V, 25, 3)
    keypoints[2, 1] = 0.0
    return {"cam_K": np.stack([c.K for c in cameras]), "cam_dist": np.zeros((V, 5)),
            "cam_R": np.stack([c.R_cam_world for c in cameras]), "cam_t": np.stack([c.t_cam_world_m for c in cameras]),
            "img_size": np.array([[c.width_px, c.height_px] for c in cameras], dtype=float),
            "keypoints_2d": keypoints, "layout": np.array("openpose25"), "fps": np.array(30.0)}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("calibrated")
    diffusion = Diffusion(denoiser=Denoiser(DenoiserConfig(hidden_dim=16, num_blocks=1, cond_dim=0)))
    with torch.no_grad():
        diffusion.model.final_mlp.weight.zero_()
        diffusion.model.final_mlp.bias.zero_()
    save_diffusion_checkpoint(root / "prior.pt", online=diffusion)
    write_standin_npz(root / "body.npz")
    np.savez(root / "obs.npz", **_observations())
    return root


@pytest.mark.parametrize("streaming", [False, True])
def test_calibrated_cli_writes_the_issue_keys(files, streaming):
    out = files / f"out_{streaming}.npz"
    argv = ["fit", "--mode", "calibrated", "--prior", str(files / "prior.pt"), "--body-model", str(files / "body.npz"),
            "--input", str(files / "obs.npz"), "--output", str(out), "--no-progress"]
    if streaming:
        argv += ["--streaming", "--window", "3", "--lag", "1"]
    assert main(argv) == 0
    with np.load(out) as data:
        shapes = {k: data[k].shape for k in data.files}
        valid = data["valid"]
        joints = data["joints"]
    assert shapes["global_orient"] == (T, P, 3, 3) and shapes["body_pose"] == (T, P, 23, 3, 3)
    assert shapes["betas"] == (T, P, 10) and shapes["transl"] == (T, P, 3) and shapes["joints"] == (T, P, 24, 3)
    assert not valid[2, 1] and valid.sum() == T * P - 1
    assert np.all(np.isfinite(joints[valid]))


@pytest.mark.parametrize(("key", "value", "message"), [
    ("cam_R", np.zeros((3, 3, 3)), "key 'cam_R' has shape \\(3, 3, 3\\), expected \\(V, 3, 3\\)"),
    ("keypoints_2d", np.zeros((T, P, V, 17, 3)), "key 'keypoints_2d' has shape .* expected \\(T, P, V=4, J=25, 3\\)"),
    ("layout", np.array("body99"), "key 'layout' is 'body99'"),
    ("init_pose", np.zeros((T, P, V, 24, 3, 3)), "give both 'init_pose'"),
])
def test_bad_files_name_the_key_and_shape(tmp_path, key, value, message):
    arrays = dict(_observations())
    arrays[key] = value
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(CalibratedFileError, match=message):
        read_calibrated_file(tmp_path / "bad.npz")


def test_missing_key_is_named(tmp_path):
    arrays = {k: v for k, v in _observations().items() if k != "cam_t"}
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(CalibratedFileError, match="missing key 'cam_t' \\(expected shape \\(V, 3\\)\\)"):
        read_calibrated_file(tmp_path / "bad.npz")
