#!/usr/bin/env bash
# The policy comparison of the Nexmark issue, end to end (about 25 minutes on 2 cores;
# REPEATS=3, about 55):
#  1. training histories from Timely: every query Q0-Q8 run once under the `explore` policy
#     (random configurations around the bottleneck boundary), plus simulated random DAGs;
#  2. one model per tuned query, pre-trained leave-one-query-out (that query's history left
#     out);
#  3. `nexmark compare` of every policy on Q1, Q2, Q3, Q5 and Q8, 16 workers, emulated
#     capacities, under a step and a sine schedule, streamtune served by its held-out model.
# Output: $OUT/{hist,models,steps-qN,sine-qN}/ (tables, summary JSON, plots),
# $OUT/comparison.tsv (one row per query, schedule, policy and repeat; scripts/comparison-rows.py),
# $OUT/libstreamtune.so (the plugin every run loaded) and $OUT/comparison.md: the table of
# scripts/comparison-table.py and the issue's targets for streamtune judged cell by cell.
# Environment: OUT (default runs/comparison), RATE (base events/s, default 7200), RUN_SECONDS
# (per run, default 90), WORKERS (default 16), QUERIES (default "q1 q2 q3 q5 q8"),
# SCHEDULES (default "steps:1,1.6,0.8 sine:0.4@60"), INITIAL (every tuned operator's
# parallelism at the start, default 4), JOBS (concurrent explore runs, default 3),
# SKIP_HISTORIES=1 to reuse $OUT/hist, REPEATS (runs of every cell, default 1: identical
# emulated runs differ with the machine's timing; with more, each repeat r writes
# $OUT/SCHED-QN-rR/ and the final table gives medians and ranges), OPTS (policy options for
# the comparisons, space-separated [POLICY:]NAME=VALUE, e.g. "streamtune:up_busy=0.97"),
# FEASIBLE=1 to add the feasibility reference (`nexmark feasible` per query at the step
# schedule's rates, about 3 minutes a query; $OUT/feasible/, a last column of the table).
# RATE 7200, not 8000: at 8000 events/s Q1's and Q2's operator needs exactly 5, 8 and 4
# instances at the three steps, each at 100 % load, where no backlog ever drains whatever
# the policy; at 7200 they run at 90 %.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

OUT=${OUT:-runs/comparison}
RATE=${RATE:-7200}
SECONDS_PER_RUN=${RUN_SECONDS:-90}
WORKERS=${WORKERS:-16}
QUERIES=${QUERIES:-"q1 q2 q3 q5 q8"}
SCHEDULES=${SCHEDULES:-"steps:1,1.6,0.8 sine:0.4@60"}
INITIAL=${INITIAL:-4}
JOBS=${JOBS:-3}
REPEATS=${REPEATS:-1}
if ! [[ "$REPEATS" =~ ^[1-9][0-9]?$ ]]; then
	echo "compare-nexmark.sh: REPEATS must be 1..99, not '$REPEATS'" >&2
	exit 2
fi
ALL_QUERIES="q0 q1 q2 q3 q4 q5 q6 q7 q8"

echo "== building the plugin and the harness (Release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target streamtune_cli streamtune >/dev/null
cargo build --release -p streamtune-nexmark --bin nexmark
NEXMARK=target/release/nexmark
CLI=build/streamtune
mkdir -p "$OUT/hist" "$OUT/models"
# Every run loads the plugin as it was at the start ($STREAMTUNE_PLUGIN if set, else the
# build's), copied beside the results: a rebuild of build/ during the comparison must not
# change the policies under test halfway.
plugin_src=${STREAMTUNE_PLUGIN:-build/libstreamtune.so}
cp -L "$plugin_src" "$OUT/libstreamtune.so"
STREAMTUNE_PLUGIN="$(cd "$OUT" && pwd)/libstreamtune.so"
export STREAMTUNE_PLUGIN
echo "   plugin: $STREAMTUNE_PLUGIN (a copy of $plugin_src)"

if [[ "${SKIP_HISTORIES:-0}" != 1 ]]; then
	echo "== training histories: explore runs of $ALL_QUERIES ($JOBS at a time)"
	running=0
	for q in $ALL_QUERIES; do
		rm -rf "$OUT/hist/$q"
		"$NEXMARK" run --query "$q" --policy explore --schedule square:0.7,1.5@40 --seed 7 --initial "$INITIAL" \
			--seconds 120 --workers "$WORKERS" --emulate --rate "$RATE" --quiet \
			--out "$OUT/hist/$q" >"$OUT/hist/$q.log" 2>&1 &
		running=$((running + 1))
		if ((running >= JOBS)); then
			wait -n
			running=$((running - 1))
		fi
	done
	wait
	rm -f "$OUT/hist/sim-random.sqlite"*
	"$CLI" history generate --families random --jobs 30 --windows 200 --seed 3 \
		--out "$OUT/hist/sim-random.sqlite"
fi

echo "== leave-one-query-out models"
for q in $QUERIES; do
	args=()
	for other in $ALL_QUERIES; do
		[[ "$other" == "$q" ]] && continue
		hist="$OUT/hist/$other/$other-explore.history.sqlite"
		if [[ ! -f "$hist" ]]; then
			echo "compare-nexmark.sh: no history $hist (histories recorded before the" \
				"harness named them <query>-<policy>.history.sqlite are explore.history.sqlite:" \
				"rename them, or run without SKIP_HISTORIES)" >&2
			exit 1
		fi
		args+=(--history "$hist")
	done
	"$CLI" pretrain "${args[@]}" --history "$OUT/hist/sim-random.sqlite" \
		--out "$OUT/models/no-$q.stnm" --quiet
	echo "   $OUT/models/no-$q.stnm"
done

opt_args=()
for opt in ${OPTS:-}; do
	opt_args+=(--opt "$opt")
done

echo "== comparisons"
: >"$OUT/comparison.tsv"
for repeat in $(seq 1 "$REPEATS"); do
	for sched in $SCHEDULES; do
		name=${sched%%:*}
		for q in $QUERIES; do
			dir="$OUT/$name-$q"
			if ((REPEATS > 1)); then dir+="-r$repeat"; fi
			echo "-- $q under $sched (run $repeat of $REPEATS)"
			"$NEXMARK" compare --query "$q" --schedule "$sched" \
				--policies streamtune,ds2,flink-autoscaler,conttune,dhalion,static \
				--workers "$WORKERS" --emulate --rate "$RATE" --seconds "$SECONDS_PER_RUN" \
				--initial "$INITIAL" --model "$OUT/models/no-$q.stnm" "${opt_args[@]}" --quiet \
				--out "$dir" --json "$dir.json" \
				2>"$dir.log" | tee "$dir.table"
			header=()
			[[ -s "$OUT/comparison.tsv" ]] || header=(--header)
			python3 scripts/comparison-rows.py "$dir.json" "$name" "$q" "$repeat" "${header[@]}" \
				>>"$OUT/comparison.tsv"
		done
	done
done
table_args=(--targets)
if [[ "${FEASIBLE:-0}" == 1 ]]; then
	factors=""
	for sched in $SCHEDULES; do
		if [[ "$sched" == steps:* ]]; then
			factors=${sched#steps:}
			factors=${factors%%@*}
		fi
	done
	if [[ -z "$factors" ]]; then
		echo "compare-nexmark.sh: FEASIBLE=1 needs a steps schedule in SCHEDULES" >&2
		exit 2
	fi
	echo "== feasibility reference: least static configurations without SLO violation at $factors x $RATE"
	mkdir -p "$OUT/feasible"
	for q in $QUERIES; do
		"$NEXMARK" feasible --query "$q" --factors "$factors" --rate "$RATE" --workers "$WORKERS" \
			--quiet --out "$OUT/feasible/$q" --json "$OUT/feasible/$q.json" \
			2>"$OUT/feasible/$q.log" | tee "$OUT/feasible/$q.table"
	done
	table_args+=(--feasible "$OUT/feasible")
fi
echo "== done: $OUT/comparison.tsv"
python3 scripts/comparison-table.py "$OUT/comparison.tsv" "${table_args[@]}" | tee "$OUT/comparison.md"
