#!/usr/bin/env bash
# The main job on its embedded defaults, from nothing: set-up (idempotent), then the whole graph on a
# simulated 4-camera rig over real DDS. Writes out/demo/{bag/, overlay.mp4, overlay_frame.png,
# summary.md, summary.json}. Extra arguments go to `scorehmr-ros demo` (see --help).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
exec .venv/bin/scorehmr-ros demo "$@"
