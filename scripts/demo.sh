#!/usr/bin/env bash
# The main job: builds what is missing, then tunes a simulated Nexmark-shaped job live
# through a real StreamTune endpoint (ZeroMQ + SQLite history), with progress per window,
# and writes runs/demo/{history.sqlite,windows.csv,summary.json}.
# Extra arguments go to `streamtune demo` (see `build/streamtune demo --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

echo "== building (Release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target streamtune_cli streamtune >/dev/null

echo "== running"
build/streamtune demo "$@"
