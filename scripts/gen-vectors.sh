#!/usr/bin/env bash
# Regenerates the protocol test vectors in proto/vectors/ (proto/PROTOCOL.md section 9):
# builds the stn_gen_vectors tool, empties proto/vectors/valid and proto/vectors/invalid and
# writes every vector again. The output is deterministic; test_proto_vectors fails when the
# committed files differ from what the generator writes, so run this after changing
# tests/tools/gen_vectors.c or the codec (plugin/src/proto.c), and commit the result.
# Usage: scripts/gen-vectors.sh          (BUILD_DIR=build by default)
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${BUILD_DIR:-build}
cmake -S . -B "$build_dir" -DSTN_WERROR=ON >/dev/null
cmake --build "$build_dir" --target stn_gen_vectors -j"$(nproc)"

mkdir -p proto/vectors/valid proto/vectors/invalid
rm -f proto/vectors/valid/* proto/vectors/invalid/*
"$build_dir/tests/stn_gen_vectors" proto/vectors
