#!/usr/bin/env bash
# The GPU checks of the acceleration layer in one prepared run, for a machine with an NVIDIA GPU whose Python has
# torch with CUDA, numpy, scipy, pytest and onnxruntime(-gpu) already installed (our set-up's venv is CPU-only).
# It runs, each under its own time limit so that one hang cannot eat the rest:
#   1. the versions and execution providers found (what can run at all);
#   2. the tests marked requires_cuda (engine parity on CUDA in fp32 / fp16, CUDA graphs, PARE on CUDA);
#   3. `scorehmr-ros bench accel` on the GPU in fp32 and fp16 (every backend against eager, per module and for one
#      whole streaming update).
# Logs and tables go to $OUT (the device tool's folder that comes back) or out/gpu_check. Exit status: that of the
# tests. Usage, from the repository root:  bash tools/gpu_check.sh   (about 5-8 minutes; give it 9).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${OUT:-out/gpu_check}"
PYTHON="${PYTHON:-python3}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export SCOREHMR_ENGINE_CACHE="$OUT/engine_cache"

"$PYTHON" - <<'EOF' 2>&1 | tee "$OUT/versions.txt"
import importlib
for name in ("torch", "numpy", "scipy", "pytest", "onnxruntime", "onnx", "tensorrt", "torch_tensorrt"):
    try:
        module = importlib.import_module(name)
    except Exception as error:  # a missing optional runtime is a finding, not a failure
        print(f"{name}: not importable ({type(error).__name__}: {error})")
        continue
    extra = ""
    if name == "torch":
        extra = f" cuda {module.version.cuda}, available {module.cuda.is_available()}" + (
            f", {module.cuda.get_device_name(0)}" if module.cuda.is_available() else "")
    if name == "onnxruntime":
        extra = f" providers {module.get_available_providers()}"
    print(f"{name}: {getattr(module, '__version__', '?')}{extra}")
EOF

if ! "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "gpu_check: $PYTHON has no torch with a CUDA device: nothing to check here (see $OUT/versions.txt)" >&2
    exit 2
fi

# --noconftest: the suite's conftest loads the ROS test harness, which a GPU machine without ROS cannot import; the
# selected tests need none of it (requires_cuda tests are skipped only by that conftest, and here a GPU is present).
timeout 300 "$PYTHON" -m pytest -q --noconftest -p no:cacheprovider -m requires_cuda \
    test/test_accel.py test/test_pare_model.py 2>&1 | tee "$OUT/pytest_requires_cuda.txt"
tests_status=${PIPESTATUS[0]}

for precision in fp32 fp16; do
    timeout 120 "$PYTHON" -m scorehmr_ros.cli.main bench accel --device cuda --precision "$precision" \
        --pare-batches 1,4 --table "$OUT/bench_accel_$precision.md" 2>&1 | tee "$OUT/bench_accel_$precision.txt"
done
echo "requires_cuda tests exit status: $tests_status (logs in $OUT)"
exit "$tests_status"
