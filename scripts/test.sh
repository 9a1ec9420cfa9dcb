#!/usr/bin/env bash
# Builds everything and runs every test: the release build (-Werror) and the
# AddressSanitizer+UBSan build of the C suite, a bounded libFuzzer run of every fuzz target,
# and the Rust workspace (tests, clippy -D warnings, fmt --check).
# Usage: scripts/test.sh            (FUZZ_SECONDS=60 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

jobs=$(nproc)
fuzz_seconds=${FUZZ_SECONDS:-60}

echo "== C: release build, -Werror"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSTN_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== C: AddressSanitizer + UndefinedBehaviorSanitizer build"
cmake -S . -B build-san -DCMAKE_BUILD_TYPE=Debug -DSTN_WERROR=ON \
  -DSTN_SANITIZE_ADDRESS=ON -DSTN_SANITIZE_UNDEFINED=ON >/dev/null
cmake --build build-san -j"$jobs"
ctest --test-dir build-san --output-on-failure -j"$jobs"

echo "== C: libFuzzer, ${fuzz_seconds} s over all targets"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DSTN_FUZZ=ON \
  -DSTN_SANITIZE_ADDRESS=ON -DSTN_SANITIZE_UNDEFINED=ON >/dev/null
cmake --build build-fuzz -j"$jobs"
fuzzers=(build-fuzz/tests/fuzz_*)
if [ -e "${fuzzers[0]}" ]; then
  per=$(( fuzz_seconds / ${#fuzzers[@]} )); [ "$per" -ge 5 ] || per=5
  for f in "${fuzzers[@]}"; do
    name=$(basename "$f")
    corpus=$(mktemp -d)
    seeds=()
    dict=(); [ -f "tests/fuzz/${name}.dict" ] && dict=(-dict="tests/fuzz/${name}.dict")
    [ -d "proto/vectors/valid" ] && [ "$name" = fuzz_proto ] && seeds=(proto/vectors/valid)
    echo "-- $name for ${per} s"
    "$f" -max_total_time="$per" -print_final_stats=1 -artifact_prefix=build-fuzz/ "${dict[@]}" \
      "$corpus" "${seeds[@]}" 2>build-fuzz/"$name".log || { tail -50 build-fuzz/"$name".log; exit 1; }
    grep -E "stat::number_of_executed_units|Done" build-fuzz/"$name".log | tail -2
    rm -rf "$corpus"
  done
fi

echo "== Rust workspace: fmt, clippy, tests"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -j"$jobs" -- -D warnings
cargo test --workspace -j"$jobs"

echo "== all tests passed"
