"""Loading the official PARE Lightning checkpoint: strict on our keys, clear errors, restricted unpickling."""

import logging
import pickle
from pathlib import Path

import pytest
import torch

from scorehmr_ros.image_prior import PareCheckpointError, PareConfig, PareModel, load_pare_checkpoint
from scorehmr_ros.image_prior.synthetic_weights import random_state_dict, state_dict_checksum

TINY = PareConfig(hrnet_width=4, num_deconv_filters=8, num_features_smpl=4)


class _ConfigNode(dict):
    """Stands in for yacs' CfgNode in Lightning's hyper_parameters (a class weights_only refuses)."""


class _Exploit:
    """A pickle that would run a command if its globals were resolved."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _lightning_checkpoint(path: Path, state_dict: dict, **extra) -> Path:
    content = {"state_dict": {f"model.{key}": value for key, value in state_dict.items()}, "epoch": 1, **extra}
    content["state_dict"]["loss.smpl.J_regressor"] = torch.zeros(3, 3)
    torch.save(content, path)
    return path


@pytest.fixture()
def weights():
    return random_state_dict(PareModel(config=TINY).state_dict(), seed=7)


def test_round_trip_loads_every_key_and_reports_ignored(tmp_path, weights):
    path = _lightning_checkpoint(tmp_path / "pare.ckpt", weights)
    model = PareModel(config=TINY)
    report = load_pare_checkpoint(model, path)
    assert report.num_loaded == len(weights)
    assert report.ignored_keys == ("loss.smpl.J_regressor",)
    assert not report.used_restricted_unpickler
    assert state_dict_checksum(model.state_dict()) == state_dict_checksum(weights)


def test_from_checkpoint_returns_eval_model(tmp_path, weights):
    path = _lightning_checkpoint(tmp_path / "pare.ckpt", weights)
    model, report = PareModel.from_checkpoint(path, config=TINY)
    assert not model.training and report.num_loaded == len(weights)


def test_missing_keys_are_named(tmp_path, weights):
    del weights["head.pose_mlp.weight"], weights["backbone.stage4.2.fuse_layers.3.0.2.0.weight"]
    path = _lightning_checkpoint(tmp_path / "pare.ckpt", weights)
    with pytest.raises(PareCheckpointError, match="2 of .* model keys missing") as info:
        load_pare_checkpoint(PareModel(config=TINY), path)
    assert "head.pose_mlp.weight" in str(info.value)
    assert "backbone.stage4.2.fuse_layers.3.0.2.0.weight" in str(info.value)


def test_wrong_shapes_are_named(tmp_path, weights):
    weights["head.cam_mlp.weight"] = torch.zeros(3, 7)
    path = _lightning_checkpoint(tmp_path / "pare.ckpt", weights)
    with pytest.raises(PareCheckpointError, match=r"head.cam_mlp.weight: checkpoint \(3, 7\) vs model \(3, 96\)"):
        load_pare_checkpoint(PareModel(config=TINY), path)


def test_many_mismatches_are_counted(tmp_path, weights):
    wider = random_state_dict(PareModel(config=PareConfig(hrnet_width=6, num_deconv_filters=8,
                                                          num_features_smpl=4)).state_dict(), seed=1)
    path = _lightning_checkpoint(tmp_path / "pare.ckpt", wider)
    with pytest.raises(PareCheckpointError, match=r"shape mismatches: .*\(\d+ more\)") as info:
        load_pare_checkpoint(PareModel(config=TINY), path)
    assert "backbone.stage2.0.branches.0.0.conv1.weight: checkpoint (6, 6, 3, 3) vs model (4, 4, 3, 3)" in str(
        info.value)


@pytest.mark.parametrize("content", [{"model": {}}, [1, 2, 3], {"state_dict": [1, 2]}])
def test_not_a_lightning_checkpoint(tmp_path, content):
    path = tmp_path / "not_lightning.ckpt"
    torch.save(content, path)
    with pytest.raises(PareCheckpointError, match="state_dict"):
        load_pare_checkpoint(PareModel(config=TINY), path)


def test_not_a_torch_file(tmp_path):
    path = tmp_path / "garbage.ckpt"
    path.write_bytes(b"this is not a checkpoint at all")
    with pytest.raises(PareCheckpointError, match="not a"):
        load_pare_checkpoint(PareModel(config=TINY), path)


def test_missing_file_names_the_expected_location(tmp_path):
    with pytest.raises(FileNotFoundError, match="pare_checkpoint.ckpt"):
        load_pare_checkpoint(PareModel(config=TINY), tmp_path / "absent.ckpt")


def test_foreign_objects_are_read_inertly(tmp_path, weights, caplog):
    marker = tmp_path / "exploited"
    hyper = _ConfigNode(MODEL=_ConfigNode(BACKBONE="hrnet_w32-conv"))
    path = _lightning_checkpoint(tmp_path / "pare.ckpt", weights, hyper_parameters=hyper, callbacks=_Exploit(marker))
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)  # what a real Lightning checkpoint does too
    model = PareModel(config=TINY)
    with caplog.at_level(logging.INFO):
        report = load_pare_checkpoint(model, path)
    assert report.used_restricted_unpickler
    assert not marker.exists()
    assert state_dict_checksum(model.state_dict()) == state_dict_checksum(weights)
    assert "restricted unpickler" in caplog.text
