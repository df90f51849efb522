#!/usr/bin/env bash
# The full test suite from nothing: set-up (idempotent), lint, then every test, slow ones included.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -m "not slow"` for a quick local run).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
echo "[test] ruff"
.venv/bin/ruff check .
echo "[test] pytest"
exec .venv/bin/python -m pytest test "$@"
