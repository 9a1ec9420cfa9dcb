#!/usr/bin/env bash
# Regenerates the default model, plugin/models/default.stnm: the single source of truth for
# how that file is made. It builds the CLI if needed, generates two simulated histories with
# fixed seeds (the Nexmark query graphs q0..q8, and random layered DAGs of 3..60 operators),
# and pre-trains on them with a fixed seed. The output is byte-identical on every run and
# thread count (reference matrix loops, no OpenBLAS), so test_default_model regenerates it
# into a temporary directory and compares. Run it after changing the simulator, the encoder,
# the training or the model format, and commit the result.
#
# Usage: scripts/gen-default-model.sh [--out FILE] [--cli PATH] [--quiet]
#   --out FILE   where to write (default plugin/models/default.stnm)
#   --cli PATH   the streamtune binary to use (default: build/streamtune, configured if
#                needed and rebuilt if out of date; BUILD_DIR overrides build/)
#   --quiet      no progress lines
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

out="$root/plugin/models/default.stnm"
cli=""
quiet=""
while [ $# -gt 0 ]; do
	case "$1" in
	--out) out=$2; shift 2 ;;
	--cli) cli=$2; shift 2 ;;
	--quiet) quiet=--quiet; shift ;;
	-h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "gen-default-model.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
done

if [ -z "$cli" ]; then
	build_dir=${BUILD_DIR:-$root/build}
	cli="$build_dir/streamtune"
	# Always brought up to date (a no-op when it is): a stale binary would write a model
	# that the current sources do not reproduce.
	if [ ! -f "$build_dir/CMakeCache.txt" ]; then
		cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
	fi
	cmake --build "$build_dir" --target streamtune_cli -j2 >/dev/null
fi

work=$(mktemp -d /tmp/stn-default-model-XXXXXX)
trap 'rm -rf "$work"' EXIT

# The histories' base names and digests are recorded in the model, so the names are fixed.
"$cli" history generate --out "$work/nexmark.sqlite" --families q0,q1,q2,q3,q4,q5,q6,q7,q8 \
	--jobs 27 --windows 200 --seed 101 2>/dev/null
"$cli" history generate --out "$work/layered.sqlite" --families random --layered-ops 0 \
	--jobs 12 --windows 200 --seed 202 2>/dev/null
# At most 5 clusters keeps the file small (one encoder+head of 5059 parameters per member).
"$cli" pretrain --history "$work/nexmark.sqlite" "$work/layered.sqlite" --out "$out" \
	--seed 1 --threads 2 --k-min 2 --k-max 5 $quiet
