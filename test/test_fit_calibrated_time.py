"""``fit --mode calibrated --streaming`` smooths in the recording's time: stamps_s, else k / fps."""

from __future__ import annotations

import numpy as np
import pytest
from test_fit_calibrated_cli import T, _observations, files  # noqa: F401 (fixture)

from scorehmr_ros.cli.fit_calibrated_cli import CalibratedFileError, read_calibrated_file
from scorehmr_ros.cli.main import main
from scorehmr_ros.pipeline.streaming import StreamingFitter


@pytest.fixture
def stamps_seen(monkeypatch):
    seen = []
    step = StreamingFitter.step

    def spy(self, **kwargs):
        seen.append(kwargs.get("stamp_s"))
        return step(self, **kwargs)

    monkeypatch.setattr(StreamingFitter, "step", spy)
    return seen


def _fit(files, tmp_path, name, **arrays):  # noqa: F811
    content = {**_observations(), **arrays}
    content = {key: value for key, value in content.items() if value is not None}
    np.savez(tmp_path / f"{name}.npz", **content)
    out = tmp_path / f"{name}_out.npz"
    argv = ["fit", "--mode", "calibrated", "--prior", str(files / "prior.pt"), "--body-model",
            str(files / "body.npz"), "--input", str(tmp_path / f"{name}.npz"), "--output", str(out), "--no-progress",
            "--streaming", "--window", "3", "--lag", "1"]
    assert main(argv) == 0
    with np.load(out) as data:
        return data["transl"]


def test_the_smoother_gets_k_over_fps(files, tmp_path, stamps_seen):  # noqa: F811
    _fit(files, tmp_path, "fps15", fps=np.array(15.0))
    assert stamps_seen == pytest.approx([k / 15.0 for k in range(T)])


def test_stamps_in_the_file_win_over_fps(files, tmp_path, stamps_seen):  # noqa: F811
    stamps = np.array([10.0, 10.1, 10.3, 10.35, 10.5])[:T]
    _fit(files, tmp_path, "stamped", stamps_s=stamps)
    assert stamps_seen == pytest.approx(stamps.tolist())


def test_bad_time_keys_are_named(tmp_path):
    for name, arrays, message in (
            ("none", {"fps": None}, "'fps' .* or 'stamps_s'"),
            ("zero", {"fps": np.array(0.0)}, "'fps' must be > 0"),
            ("back", {"stamps_s": np.array([0.0, 0.1, 0.05, 0.2, 0.3])[:T]}, "'stamps_s' must be strictly increasing"),
            ("short", {"stamps_s": np.zeros(2)}, "'stamps_s' has shape")):
        content = {key: value for key, value in {**_observations(), **arrays}.items() if value is not None}
        np.savez(tmp_path / f"{name}.npz", **content)
        with pytest.raises(CalibratedFileError, match=message):
            read_calibrated_file(tmp_path / f"{name}.npz")
