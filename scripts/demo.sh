#!/usr/bin/env bash
# The main job: builds what is missing, then runs the Nexmark showcase on Timely: Q3, Q5 and
# Q8 under a rate step (1 -> 1.6 -> 0.8 of 4,000 events/s), each tuned live by StreamTune
# (with the shipped default model), DS2 and the Flink autoscaler, the nine jobs at once, on 8
# workers each with emulated operator capacities. Progress per window; at the end a table, and
# runs/showcase/{summary.json,q3.png,q5.png,q8.png,*.windows.csv,*.history.sqlite}.
# Extra arguments go to `nexmark showcase` (see `target/release/nexmark --help`),
# e.g. --seconds 120 or --workers 16.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

echo "== building the plugin (Release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target streamtune_cli streamtune >/dev/null
echo "== building the Nexmark harness (Release)"
cargo build --release -p streamtune-nexmark --bin nexmark

echo "== running"
exec target/release/nexmark showcase "$@"
