#!/usr/bin/env bash
# Refreshes requirements/lock.txt: a clean venv, a fresh install of requirements/*.txt (the ranges there, no lock),
# then `pip freeze` of it (scripts/lock.py freeze). Review the diff, run the tests (the golden fixtures depend on
# exact versions, e.g. OpenCV's warpAffine rounding), then commit the lock.
#   bash scripts/lock.sh            (PYTHON=python3.11 by default)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3.11}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
"$PYTHON" -m venv "$TMP/venv"
PIP=("$TMP/venv/bin/python" -m pip install --disable-pip-version-check -q)
"${PIP[@]}" -r "$ROOT/requirements/core.txt" -r "$ROOT/requirements/ros.txt" -r "$ROOT/requirements/build.txt" \
    -r "$ROOT/requirements/test.txt"
"${PIP[@]}" --no-deps -r "$ROOT/requirements/nodeps.txt"
{
    echo "# Every Python package of the venv, pinned: \`pip freeze\` of a clean install of requirements/*.txt"
    echo "# (scripts/lock.py freeze). Made by \`bash scripts/lock.sh\`; scripts/setup.sh installs with it as pip"
    echo "# constraints and refuses a venv that does not match it. Edit requirements/*.txt, then re-run lock.sh."
    "$TMP/venv/bin/python" "$ROOT/scripts/lock.py" freeze
} >"$ROOT/requirements/lock.txt"
echo "[lock] wrote $ROOT/requirements/lock.txt ($(grep -vc '^#' "$ROOT/requirements/lock.txt") packages)"
