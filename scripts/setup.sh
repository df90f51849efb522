#!/usr/bin/env bash
# One set-up entry point for a pip-only environment (no system ROS 2 needed):
#   .venv with every package at the version requirements/lock.txt names (torch, ROS 2 Kilted wheels, build
#   tools; refreshed by scripts/lock.sh), checked against the lock after installing,
#   the wheels' CMake include paths repaired, msg/ built into the venv,
#   a minimal tf2_msgs built only when no tf2_msgs exists,
#   the model files no wheel carries (requirements/models.lock) fetched from their registry into the data root.
# Idempotent: every step is skipped when its inputs have not changed (a second run takes seconds).
#
# Environment: PYTHON (default python3.11), VENV (default <repo>/.venv).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3.11}"
BUILD="$ROOT/build/venv"
LOG_DIR="$ROOT/build/logs"
mkdir -p "$LOG_DIR"

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# Runs a noisy command with its output in a log file; shows the log's end on failure.
logged() {
    local name="$1"; shift
    if ! "$@" >"$LOG_DIR/$name.log" 2>&1; then
        tail -n 40 "$LOG_DIR/$name.log" >&2
        die "$name failed (full log: $LOG_DIR/$name.log)"
    fi
}

# sha256 of the named files' contents; files that do not exist count as empty.
hash_of() {
    local f
    for f in "$@"; do if [ -f "$f" ]; then cat "$f"; fi; done | sha256sum | cut -d' ' -f1
}

# Debian packages the build needs: a C/C++ compiler for the rosidl type support, and venv.
apt_install() {
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "installing Debian packages: $*"
        logged apt-get-update apt-get update
        logged apt-get-install env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
    else
        die "missing system packages ($*); install them (sudo apt-get install $*) and run again"
    fi
}

command -v "$PYTHON" >/dev/null || die "$PYTHON not found (set PYTHON=/path/to/python3.11)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
    || die "$PYTHON is not Python 3.11 (the ROS 2 Kilted wheels are cp311)"
missing=()
command -v cc >/dev/null || missing+=(gcc)
command -v c++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"

# 1. The virtual environment.
if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    "$PYTHON" -m venv "$VENV" 2>/dev/null || { apt_install python3-venv; "$PYTHON" -m venv "$VENV"; }
fi
VPY="$VENV/bin/python"

# 2. Dependencies at the lock's versions: requirements/*.txt say what we need, requirements/lock.txt (pip
#    constraints) the exact version of every package, transitive ones included.
REQS=("$ROOT"/requirements/core.txt "$ROOT"/requirements/ros.txt "$ROOT"/requirements/build.txt "$ROOT"/requirements/test.txt)
NODEPS="$ROOT/requirements/nodeps.txt"  # packages whose declared dependencies we must not take
LOCK="$ROOT/requirements/lock.txt"
[ -f "$LOCK" ] || die "$LOCK is missing (make it with: bash scripts/lock.sh)"
req_hash="$(hash_of "${REQS[@]}" "$NODEPS" "$LOCK")"
if [ "$(cat "$VENV/.scorehmr-requirements" 2>/dev/null)" != "$req_hash" ]; then
    say "installing Python dependencies at the versions of $LOCK; log: $LOG_DIR/pip.log"
    logged pip "$VPY" -m pip install --disable-pip-version-check -c "$LOCK" \
        -r "${REQS[0]}" -r "${REQS[1]}" -r "${REQS[2]}" -r "${REQS[3]}"
    logged pip-nodeps "$VPY" -m pip install --disable-pip-version-check --no-deps -c "$LOCK" -r "$NODEPS"
    echo "$req_hash" >"$VENV/.scorehmr-requirements"
fi
# Every run: a venv changed by hand (or made before the lock) is named, not silently used.
if ! "$VPY" "$ROOT/scripts/lock.py" check "$LOCK" 2>"$LOG_DIR/lock-check.log"; then
    cat "$LOG_DIR/lock-check.log" >&2
    die "the venv $VENV does not match $LOCK; remove it (rm -rf $VENV) and run again, or refresh the lock (bash scripts/lock.sh)"
fi

# 3. The ROS wheels export CMake files with their builder's include paths; point them at ours.
py_include="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
np_include="$("$VPY" -c 'import numpy; print(numpy.get_include())')"
mapfile -t stale < <(grep -rl '/opt/python/cp311-cp311/' "$VENV/share" --include='*.cmake' 2>/dev/null || true)
if [ ${#stale[@]} -gt 0 ]; then
    say "repairing include paths in ${#stale[@]} CMake files of the ROS wheels"
    sed -i -e "s#/opt/python/cp311-cp311/include/python3.11#$py_include#g" \
           -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$np_include#g" \
           "${stale[@]}"
fi

# Configures, builds and installs one CMake package into the venv, skipped when unchanged.
build_interfaces() {
    local name="$1" src="$2"; shift 2
    local stamp="$VENV/.scorehmr-built-$name" inputs_hash
    inputs_hash="$(hash_of "$src/CMakeLists.txt" "$src/package.xml" "$src"/msg/*.msg "$src/$name/__init__.py" "$VENV/.scorehmr-requirements")"
    if [ "$(cat "$stamp" 2>/dev/null)" = "$inputs_hash" ]; then
        return 0
    fi
    say "building interfaces: $name (log: $LOG_DIR/build-$name.log)"
    local env_vars=(AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV" PATH="$VENV/bin:$PATH")
    logged "build-$name" env "${env_vars[@]}" cmake -S "$src" -B "$BUILD/$name" \
        -DCMAKE_INSTALL_PREFIX="$VENV" -DPython3_EXECUTABLE="$VPY" -DBUILD_TESTING=OFF "$@"
    logged "build-$name" env "${env_vars[@]}" cmake --build "$BUILD/$name" -j "$(nproc)"
    logged "install-$name" env "${env_vars[@]}" cmake --install "$BUILD/$name"
    echo "$inputs_hash" >"$stamp"
}

# 4. tf2_msgs only where the environment has none: never shadow a system install.
if [ -f "$VENV/.scorehmr-built-tf2_msgs" ] || ! "$VPY" -c 'import tf2_msgs.msg' 2>/dev/null; then
    build_interfaces tf2_msgs "$ROOT/interfaces/tf2_msgs"
fi

# 5. Our interfaces; the Python sources stay in the checkout (joined by scorehmr_ros/__init__.py).
build_interfaces scorehmr_ros "$ROOT" -DSCOREHMR_INSTALL_PYTHON_SOURCES=OFF

# 6. The checkout on the venv's path (a .pth entry, which the package __init__ extends into)
#    and the scorehmr-ros command. Not `pip install -e`: pip would uninstall the egg-info that
#    the interface build registered under the same distribution name, and the messages with it.
site_dir="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$ROOT" >"$site_dir/scorehmr_ros_checkout.pth"
install -m 755 "$ROOT/scripts/scorehmr-ros" "$VENV/bin/scorehmr-ros"
sed -i "1s|.*|#!$VPY|" "$VENV/bin/scorehmr-ros"

# 7. Model files no wheel carries (requirements/models.lock: BlazePose landmark models lite and heavy), from
#    their package registry into the data root, checked by hash; nothing is downloaded when they are in place.
say "model files of requirements/models.lock (log: $LOG_DIR/models-fetch.log)"
logged models-fetch "$VENV/bin/scorehmr-ros" models fetch --no-progress
say "ready: $VENV"
