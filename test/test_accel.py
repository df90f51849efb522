"""The acceleration layer: engines agree with eager, auto picks a passing backend and says why, the cache is keyed
by everything an engine depends on, and the fitters run unchanged on an accelerated denoiser.

Backends that cannot run here are tested for their refusal (a clear reason); GPU parity tests carry
``requires_cuda`` and run on a machine with a GPU.
"""

import importlib.util
import json
import logging
import subprocess
import sys

import numpy as np
import pytest
import torch

from scorehmr_ros.accel.cache import EngineCache, EngineKey, model_hash
from scorehmr_ros.accel.denoiser import EngineDenoiser, accelerate_diffusion, denoiser_spec
from scorehmr_ros.accel.engine import (
    BackendUnavailableError,
    EagerEngine,
    Engine,
    EngineError,
    EngineSpec,
    TensorSpec,
    check_available,
)
from scorehmr_ros.accel.select import PARITY_TOLERANCE, AccelConfig, build_engine, relative_difference, select_engine
from scorehmr_ros.diffusion.denoiser import Denoiser, DenoiserConfig
from scorehmr_ros.diffusion.diffusion import Diffusion

SMALL = DenoiserConfig(hidden_dim=32, num_blocks=2, cond_dim=0)
SMALL_COND = DenoiserConfig(hidden_dim=32, num_blocks=2, cond_dim=12)


def small_diffusion(config: DenoiserConfig = SMALL, seed: int = 0) -> Diffusion:
    torch.manual_seed(seed)
    return Diffusion(denoiser=Denoiser(config), timesteps=100).eval()


@pytest.mark.parametrize("config", [SMALL, SMALL_COND], ids=["keypoint-only", "image-conditioned"])
def test_onnxruntime_matches_eager_at_every_batch(config, tmp_path):
    diffusion = small_diffusion(config)
    spec = denoiser_spec(config, timesteps=100)
    engine = build_engine(diffusion.model, spec, name="denoiser", backend="onnxruntime", cache=EngineCache(tmp_path))
    eager = EagerEngine(diffusion.model, spec)
    for batch in (1, 5, 64):
        inputs = spec.examples(batch, seed=batch)
        assert relative_difference(eager(**inputs), engine(**inputs)) <= PARITY_TOLERANCE["fp32"]


def test_onnxruntime_sessions_sleep_between_runs(tmp_path):
    # spinning threads took the cores of the torch steps between the denoiser's runs (2x slower streaming update)
    spec = denoiser_spec(SMALL, timesteps=100)
    engine = build_engine(small_diffusion().model, spec, name="denoiser", backend="onnxruntime",
                          cache=EngineCache(tmp_path))
    options = engine.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.intra_op_num_threads == 1  # the denoiser's spec: small batches run best on one thread


def test_engines_refuse_inputs_that_do_not_match_their_specs(tmp_path):
    spec = denoiser_spec(SMALL, timesteps=100)
    engine = EagerEngine(small_diffusion().model, spec)
    good = spec.examples(3)
    with pytest.raises(EngineError, match=r"takes \['x_t', 't'\]"):
        engine(x_t=good["x_t"])
    with pytest.raises(EngineError, match=r"x_t: expected shape \(B, 144\)"):
        engine(x_t=torch.zeros(3, 143), t=good["t"])
    with pytest.raises(EngineError, match="batch 2, the other inputs have 3"):
        engine(x_t=good["x_t"], t=good["t"][:2])
    with pytest.raises(EngineError, match="takes 1 to"):
        engine(x_t=torch.zeros(spec.max_batch + 1, 144), t=torch.zeros(spec.max_batch + 1, dtype=torch.long))


def test_what_cannot_run_here_says_why():
    with pytest.raises(BackendUnavailableError, match="CUDA devices only"):
        check_available("eager", "cpu", "fp16")
    with pytest.raises(BackendUnavailableError, match="CUDA devices only"):
        check_available("torch_tensorrt", "cpu", "fp32")
    with pytest.raises(BackendUnavailableError, match="cuda_graph runs on CUDA devices only"):
        check_available("cuda_graph", "cpu", "fp32")
    with pytest.raises(ValueError, match="expected one of"):
        check_available("tensorflow", "cpu", "fp32")
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailableError, match="no CUDA device"):
            check_available("onnxruntime", "cuda", "fp32")


def test_auto_picks_the_fastest_passing_backend_and_logs_one_line(tmp_path, caplog):
    diffusion = small_diffusion()
    with caplog.at_level(logging.INFO, logger="scorehmr_ros.accel.select"):
        selection = select_engine(diffusion.model, denoiser_spec(SMALL, timesteps=100), name="denoiser",
                                  config=AccelConfig(), cache=EngineCache(tmp_path))
    assert set(selection.times_ms) == {"eager", "onnxruntime"}  # what runs on this CPU
    assert selection.engine.backend == min(selection.times_ms, key=selection.times_ms.get)
    assert {"compile", "torch_tensorrt", "cuda_graph"} <= set(selection.rejected)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("accel denoiser")]
    assert len(lines) == 1 and selection.engine.backend in lines[0] and "torch_tensorrt:" in lines[0]


class _WrongEngine(Engine):
    """An engine that computes something else: parity must catch it."""

    backend = "onnxruntime"

    def _run(self, inputs):
        return (torch.ones(inputs[0].shape[0], 144),)


def test_a_backend_that_disagrees_with_eager_is_never_used(tmp_path, monkeypatch):
    import scorehmr_ros.accel.select as select

    spec = denoiser_spec(SMALL, timesteps=100)
    monkeypatch.setattr(select, "build_engine",
                        lambda module, spec, **kw: _WrongEngine(spec, device="cpu", precision="fp32"))
    auto = select_engine(small_diffusion().model, spec, name="denoiser", config=AccelConfig(),
                         cache=EngineCache(tmp_path))
    assert auto.engine.backend == "eager" and "differs from eager" in auto.rejected["onnxruntime"]
    with pytest.raises(EngineError, match="differs from eager"):
        select_engine(small_diffusion().model, spec, name="denoiser", config=AccelConfig(backend="onnxruntime"),
                      cache=EngineCache(tmp_path))


def test_the_cache_key_changes_with_weights_shapes_backend_and_precision(tmp_path):
    spec = denoiser_spec(SMALL, timesteps=100)
    base = dict(module="denoiser", model_sha256=model_hash(small_diffusion().model), spec=spec, backend="onnxruntime",
                precision="fp32", device="cpu")
    digests = {EngineKey(**base).digest}
    digests.add(EngineKey(**{**base, "model_sha256": model_hash(small_diffusion(seed=1).model)}).digest)
    digests.add(EngineKey(**{**base, "spec": denoiser_spec(SMALL, timesteps=50)}).digest)
    digests.add(EngineKey(**{**base, "backend": "torch_tensorrt"}).digest)
    digests.add(EngineKey(**{**base, "precision": "fp16"}).digest)
    digests.add(EngineKey(**{**base, "device": "cuda:0"}).digest)
    assert len(digests) == 6
    assert model_hash(small_diffusion().model) == base["model_sha256"]  # same weights, same hash


def test_a_cached_export_is_reused_listed_and_cleared(tmp_path):
    cache = EngineCache(tmp_path)
    diffusion = small_diffusion()
    spec = denoiser_spec(SMALL, timesteps=100)
    build_engine(diffusion.model, spec, name="denoiser", backend="onnxruntime", cache=cache)
    (entry,) = cache.entries()
    onnx_file = entry.path / "model.onnx"
    built = onnx_file.stat().st_mtime_ns
    build_engine(diffusion.model, spec, name="denoiser", backend="onnxruntime", cache=cache)
    assert onnx_file.stat().st_mtime_ns == built and len(cache.entries()) == 1
    assert entry.key["backend"] == "onnxruntime" and entry.key["model_sha256"] == model_hash(diffusion.model)
    with pytest.raises(BackendUnavailableError):
        build_engine(diffusion.model, spec, name="denoiser", backend="torch_tensorrt", cache=cache)
    assert len(cache.entries()) == 1  # no folder for an engine that cannot run
    assert cache.clear() == 1 and cache.entries() == []


def test_a_stale_cache_entry_with_other_inputs_is_refused(tmp_path):
    cache = EngineCache(tmp_path)
    spec = denoiser_spec(SMALL, timesteps=100)
    engine = build_engine(small_diffusion().model, spec, name="denoiser", backend="onnxruntime", cache=cache)
    assert engine.backend == "onnxruntime"
    (entry,) = cache.entries()
    renamed = EngineSpec(inputs=(TensorSpec("x", (144,)), spec.inputs[1]), outputs=spec.outputs)
    from scorehmr_ros.accel.engine import OnnxRuntimeEngine

    with pytest.raises(EngineError, match="stale cache entry"):
        OnnxRuntimeEngine(small_diffusion().model, renamed, onnx_path=entry.path / "model.onnx")


def test_the_guided_fit_is_the_same_on_an_accelerated_denoiser(tmp_path):
    from scorehmr_ros.geometry.rigs import ring_rig
    from scorehmr_ros.pipeline.body_pipeline import load_fitting_models

    models = load_fitting_models()
    accelerated, selection = accelerate_diffusion(models.diffusion, config=AccelConfig(backend="onnxruntime"),
                                                  cache=EngineCache(tmp_path))
    assert isinstance(accelerated.model, EngineDenoiser) and selection.engine.backend == "onnxruntime"
    assert models.diffusion.model is not accelerated.model  # the eager diffusion is left as it was
    outputs = {}
    for name, diffusion in (("eager", models.diffusion), ("onnxruntime", accelerated)):
        pipeline = models.make_pipeline(ring_rig(num_cameras=3).cameras)
        pipeline.fitter.diffusion = diffusion
        keypoints = _standing_keypoints(pipeline)
        emitted = [out for _ in range(4) for out in pipeline.fitter.step(track_ids=[0], keypoints_px=keypoints)]
        emitted += pipeline.fitter.flush()
        outputs[name] = torch.as_tensor(np.array([out.smpl_joints_m for out in emitted]), dtype=torch.float32)
    assert outputs["eager"].shape == (4, 24, 3)
    # Tiny denoiser differences (~1e-6) move Adam's steps on an already fitted body by up to its step size, so the
    # two fits are compared by their accuracy, and loosely by their joints.
    truth = _standing_joints(pipeline)
    errors_mm = {name: float((joints - truth).norm(dim=-1).mean()) * 1e3 for name, joints in outputs.items()}
    assert errors_mm["eager"] < 15 and abs(errors_mm["onnxruntime"] - errors_mm["eager"]) < 2.0, errors_mm
    assert float((outputs["eager"] - outputs["onnxruntime"]).norm(dim=-1).mean()) < 0.01  # metres


def _standing(pipeline):
    """The body model standing at the origin (z up): its OpenPose-25 and SMPL-24 joints, (1, J, 3) metres."""
    standing = torch.eye(3).repeat(1, 24, 1, 1)
    standing[0, 0] = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # SMPL y-up -> world z-up
    with torch.inference_mode():
        return pipeline.keypoint_body(rotations=standing, betas=torch.zeros(1, 10),
                                      transl_m=torch.tensor([[0.0, 0.0, 1.0]]))


def _standing_joints(pipeline) -> torch.Tensor:
    return _standing(pipeline).smpl_joints_m[0].float()


def _standing_keypoints(pipeline):
    """(1, V, 25, 3) exact keypoints of the standing body in every view, confidence 1 in front of the camera."""
    from scorehmr_ros.fitting.multiview_guidance import project_to_views

    pixels, depth = project_to_views(_standing(pipeline).openpose_m, pipeline.rig)
    return torch.cat([pixels, (depth > 0).float()[..., None]], dim=-1).numpy()


def test_engines_cli_builds_lists_and_clears(tmp_path):
    command = [sys.executable, "-m", "scorehmr_ros.cli.main", "engines"]
    cache = ["--cache-dir", str(tmp_path)]
    built = subprocess.run([*command, "build", *cache, "--backends", "onnxruntime,torch_tensorrt"],
                           capture_output=True, text=True, check=False)
    assert built.returncode == 1  # torch_tensorrt cannot run here, and says so
    assert "accel denoiser: onnxruntime" in built.stdout and "torch_tensorrt:" in built.stderr
    listed = subprocess.run([*command, "list", *cache], capture_output=True, text=True, check=True)
    assert listed.stdout.startswith(f"1 engine(s) in {tmp_path}") and "denoiser-onnxruntime-fp32-cpu-" in listed.stdout
    entry = json.loads(next(tmp_path.glob("*/entry.json")).read_text())
    assert entry["spec"]["inputs"][0]["name"] == "x_t"
    cleared = subprocess.run([*command, "clear", *cache], capture_output=True, text=True, check=True)
    assert cleared.stdout.startswith("removed 1 engine(s)")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_bench_accel_on_a_missing_gpu_is_one_clear_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "scorehmr_ros.cli.main", "bench", "accel", "--device", "cuda",
                             "--cache-dir", str(tmp_path), "--batches", "1", "--pare-batches", "0"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "bench accel: denoiser: the eager baseline cannot run:" in result.stderr and "cuda" in result.stderr


@pytest.mark.slow
def test_torch_compile_matches_eager(tmp_path):
    diffusion = small_diffusion()
    spec = denoiser_spec(SMALL, timesteps=100)
    engine = build_engine(diffusion.model, spec, name="denoiser", backend="compile")
    eager = EagerEngine(diffusion.model, spec)
    for batch in (2, 9):
        inputs = spec.examples(batch, seed=batch)
        assert relative_difference(eager(**inputs), engine(**inputs)) <= PARITY_TOLERANCE["fp32"]


@pytest.mark.requires_cuda
@pytest.mark.parametrize("backend,precision", [("eager", "fp16"), ("compile", "fp32"), ("onnxruntime", "fp32"),
                                               ("onnxruntime", "fp16"), ("torch_tensorrt", "fp32"),
                                               ("torch_tensorrt", "fp16"), ("cuda_graph", "fp32"),
                                               ("cuda_graph", "fp16")])
def test_gpu_backends_match_eager(backend, precision, tmp_path):
    if backend == "torch_tensorrt" and importlib.util.find_spec("torch_tensorrt") is None:
        pytest.skip("torch_tensorrt is not installed (requirements/gpu.txt)")
    diffusion = small_diffusion(SMALL_COND)
    spec = denoiser_spec(SMALL_COND, timesteps=100)
    try:
        engine = build_engine(diffusion.model, spec, name="denoiser", backend=backend, precision=precision,
                              device="cuda", cache=EngineCache(tmp_path))
    except BackendUnavailableError as error:  # e.g. onnxruntime without a GPU execution provider installed
        pytest.skip(str(error))
    eager = EagerEngine(diffusion.model, spec)
    for batch in (1, 37):
        inputs = spec.examples(batch, seed=batch)
        assert relative_difference(eager(**inputs), engine(**inputs)) <= PARITY_TOLERANCE[precision]


@pytest.mark.requires_cuda
@pytest.mark.parametrize("backend,precision", [("onnxruntime", "fp32"), ("torch_tensorrt", "fp32"),
                                               ("torch_tensorrt", "fp16")])
def test_pare_on_gpu_backends_matches_eager(backend, precision, tmp_path):
    from scorehmr_ros.accel.pare import PareNetwork, pare_spec
    from scorehmr_ros.image_prior import PareConfig, PareModel

    if backend == "torch_tensorrt" and importlib.util.find_spec("torch_tensorrt") is None:
        pytest.skip("torch_tensorrt is not installed (requirements/gpu.txt)")
    torch.manual_seed(0)
    model = PareModel(config=PareConfig(hrnet_width=4, num_deconv_filters=16, num_deconv_layers=1,
                                        num_features_smpl=4)).eval()
    spec = pare_spec(model)
    try:
        engine = build_engine(PareNetwork(model), spec, name="pare", backend=backend, precision=precision,
                              device="cuda", cache=EngineCache(tmp_path))
    except BackendUnavailableError as error:
        pytest.skip(str(error))
    eager = EagerEngine(PareNetwork(model), spec)
    inputs = spec.examples(3, seed=3)
    assert relative_difference(eager(**inputs), engine(**inputs)) <= PARITY_TOLERANCE[precision]


def test_batch_buckets_of_the_cuda_graph_engine():
    from scorehmr_ros.accel.engine import batch_bucket

    assert [batch_bucket(b, 100) for b in (1, 2, 3, 4, 5, 8, 9, 64, 65, 100)] == [1, 2, 4, 4, 8, 8, 16, 64, 100, 100]
    with pytest.raises(EngineError, match="takes 1 to 100"):
        batch_bucket(101, 100)


@pytest.mark.requires_cuda
def test_cuda_graph_engine_replays_new_inputs_in_every_bucket():
    from scorehmr_ros.accel.engine import CudaGraphEngine

    diffusion = small_diffusion(SMALL_COND)
    spec = denoiser_spec(SMALL_COND, timesteps=100)
    engine = CudaGraphEngine(diffusion.model, spec, device="cuda")
    eager = EagerEngine(diffusion.model, spec)
    for seed, batch in enumerate((3, 4, 3, 1, 5, 4)):  # buckets 4, 4, 4, 1, 8, 4: replays after the first capture
        inputs = spec.examples(batch, seed=seed)
        assert relative_difference(eager(**inputs), engine(**inputs)) <= PARITY_TOLERANCE["fp32"]
    assert sorted(engine._graphs) == [1, 4, 8]


def test_the_cli_offers_every_backend():
    from scorehmr_ros.accel.engine import BACKENDS
    from scorehmr_ros.cli.engines_cli import BACKEND_CHOICES

    assert BACKEND_CHOICES == BACKENDS
