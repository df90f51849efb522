"""Schedule, denoiser and checkpoint format against the official ScoreHMR (fixtures in test/fixtures/golden)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from scorehmr_ros.diffusion.checkpoint import (
    ARCH_KEY,
    CheckpointError,
    load_diffusion_checkpoint,
    save_diffusion_checkpoint,
)
from scorehmr_ros.diffusion.denoiser import Denoiser, DenoiserConfig
from scorehmr_ros.diffusion.diffusion import SCHEDULE_BUFFER_NAMES, Diffusion, ddim_inversion_pairs, ddim_time_pairs

from golden_weights import random_denoiser_state, state_checksum

GOLDEN = Path(__file__).parent / "fixtures" / "golden"


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(GOLDEN / "diffusion_denoiser.npz") as data:
        return dict(data)


@pytest.fixture(scope="module")
def official_layout() -> dict[str, tuple[list[int], str]]:
    return json.loads((GOLDEN / "diffusion_checkpoint_layout.json").read_text())


def _golden_state(golden) -> dict[str, torch.Tensor]:
    shapes = {k: tuple(v.shape) for k, v in Denoiser().state_dict().items()}
    state = random_denoiser_state(shapes, seed=int(golden["weights_seed"]))
    assert state_checksum(state) == str(golden["weights_sha256"]), "weight generator drifted from the fixture"
    return {k: torch.from_numpy(v) for k, v in state.items()}


def _official_format_file(path: Path, layout, model_state: dict[str, torch.Tensor]) -> Path:
    """A file with exactly the official key layout (recorded from the official EMA) and our weights."""
    diffusion = Diffusion(denoiser=Denoiser())
    diffusion.model.load_state_dict(model_state)
    full = diffusion.state_dict()
    ema = {}
    for key, (shape, dtype) in layout.items():
        if key == "initted":
            ema[key] = torch.tensor(True)
        elif key == "step":
            ema[key] = torch.tensor(1_000_000)
        else:
            ema[key] = full[key.split(".", 1)[1]].clone()
        assert list(ema[key].shape) == shape and str(ema[key].dtype) == dtype
    torch.save({"step": 1_000_000, "model": dict(full), "ema": ema, "opt": {}}, path)
    return path


def test_schedule_buffers_equal_official(golden):
    diffusion = Diffusion(denoiser=Denoiser(DenoiserConfig(hidden_dim=4)))
    assert tuple(name for name, _ in diffusion.named_buffers() if "." not in name) == SCHEDULE_BUFFER_NAMES
    for name in SCHEDULE_BUFFER_NAMES:
        ours = diffusion.get_buffer(name)
        assert ours.dtype == torch.float32
        np.testing.assert_array_equal(ours.numpy(), golden[f"schedule_{name}"], err_msg=name)
    # reference values (docs/scorehmr-reference.md §3)
    assert diffusion.betas[0].item() == pytest.approx(4.1284e-5, rel=1e-4)
    assert diffusion.betas[-1].item() == pytest.approx(0.999)
    assert diffusion.alphas_cumprod[50].item() == pytest.approx(0.9917247, abs=1e-7)


def test_denoiser_matches_official(golden):
    denoiser = Denoiser()
    denoiser.load_state_dict(_golden_state(golden), strict=True)
    assert sum(p.numel() for p in denoiser.parameters()) == 11_307_024
    with torch.no_grad():
        eps = denoiser(torch.from_numpy(golden["x_t"]), torch.from_numpy(golden["t"]), torch.from_numpy(golden["cond"]))
    assert np.abs(eps.numpy() - golden["pred_noise"]).max() <= 1e-5


def test_official_checkpoint_loads_and_matches(golden, official_layout, tmp_path):
    path = _official_format_file(tmp_path / "model-100.pt", official_layout, _golden_state(golden))
    diffusion = load_diffusion_checkpoint(path)
    assert not diffusion.training
    with torch.no_grad():
        eps = diffusion.model(torch.from_numpy(golden["x_t"]), torch.from_numpy(golden["t"]),
                              torch.from_numpy(golden["cond"]))
    assert np.abs(eps.numpy() - golden["pred_noise"]).max() <= 1e-5


def test_our_checkpoint_has_official_layout(golden, official_layout, tmp_path):
    diffusion = Diffusion(denoiser=Denoiser())
    diffusion.model.load_state_dict(_golden_state(golden))
    path = tmp_path / "ours.pt"
    save_diffusion_checkpoint(path, online=diffusion, step=7)
    data = torch.load(path, weights_only=True)
    assert {k: [list(v.shape), str(v.dtype)] for k, v in data["ema"].items()} == official_layout
    assert set(data) == {"step", "model", "ema", "opt", ARCH_KEY}
    reloaded = load_diffusion_checkpoint(path)
    for key, value in diffusion.state_dict().items():
        torch.testing.assert_close(reloaded.state_dict()[key], value, rtol=0, atol=0)


@pytest.mark.parametrize("cond_dim", [0, 16])
def test_round_trip_small_architectures(tmp_path, cond_dim):
    config = DenoiserConfig(hidden_dim=32, num_blocks=2, cond_dim=cond_dim)
    torch.manual_seed(3)
    online, ema = Diffusion(denoiser=Denoiser(config)), Diffusion(denoiser=Denoiser(config))
    optimizer = torch.optim.Adam(online.parameters(), lr=1e-4)
    save_diffusion_checkpoint(tmp_path / "m.pt", online=online, ema=ema, step=5,
                              optimizer_state=optimizer.state_dict())
    loaded = load_diffusion_checkpoint(tmp_path / "m.pt")
    assert loaded.model.config == config
    online_loaded = load_diffusion_checkpoint(tmp_path / "m.pt", use_ema=False)
    x, t = torch.randn(3, 144), torch.tensor([0, 10, 500])
    cond = torch.randn(3, cond_dim) if cond_dim else None
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x, t, cond), ema.model(x, t, cond), rtol=0, atol=0)
        torch.testing.assert_close(online_loaded.model(x, t, cond), online.model(x, t, cond), rtol=0, atol=0)


def test_wrong_architecture_names_the_keys(tmp_path):
    small = Diffusion(denoiser=Denoiser(DenoiserConfig(hidden_dim=32)))
    save_diffusion_checkpoint(tmp_path / "m.pt", online=small)
    data = torch.load(tmp_path / "m.pt", weights_only=True)
    del data[ARCH_KEY]  # now it claims to be the official default architecture
    torch.save(data, tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match=r"another shape: .*linear_layer1\.weight \(file \(32, 3216\), model "
                                              r"\(1024, 3216\)\)"):
        load_diffusion_checkpoint(tmp_path / "m.pt")
    save_diffusion_checkpoint(tmp_path / "m.pt", online=small)
    data = torch.load(tmp_path / "m.pt", weights_only=True)
    del data["ema"]["ema_model.model.final_mlp.bias"]
    data["ema"]["ema_model.extra.weight"] = torch.zeros(1)
    torch.save(data, tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match=r"1 missing: model\.final_mlp\.bias; 1 unexpected: extra\.weight"):
        load_diffusion_checkpoint(tmp_path / "m.pt")


class ArbitraryObject:
    """Something a weights_only load must refuse."""


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_wrong_format_files_fail_clearly(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_diffusion_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(CheckpointError, match="not a torch checkpoint"):
        load_diffusion_checkpoint(tmp_path / "text.pt")
    torch.save({"ema": ArbitraryObject()}, tmp_path / "pickle.pt")
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_diffusion_checkpoint(tmp_path / "pickle.pt")
    with open(tmp_path / "plain.pkl", "wb") as stream:
        pickle.dump({"a": 1}, stream)
    with pytest.raises(CheckpointError, match="(not a torch checkpoint|refused to load)"):
        load_diffusion_checkpoint(tmp_path / "plain.pkl")
    torch.save({"state_dict": {}}, tmp_path / "lightning.ckpt")
    with pytest.raises(CheckpointError, match="no 'ema' dict"):
        load_diffusion_checkpoint(tmp_path / "lightning.ckpt")


def test_time_pairs_official():
    pairs = ddim_time_pairs(sample_start=50, step=2)
    assert len(pairs) == 25 and pairs[0] == (50, 48) and pairs[-1] == (2, 0)
    assert ddim_inversion_pairs(sample_start=50, step=2)[0] == (0, 2)
    assert ddim_time_pairs(sample_start=999, step=50)[0] == (950, 900)
    with pytest.raises(ValueError, match="step"):
        ddim_time_pairs(sample_start=5, step=0)
