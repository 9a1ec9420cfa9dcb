#!/usr/bin/env python3
"""The comparison as a Markdown table, from the comparison.tsv of scripts/compare-nexmark.sh.

One row per schedule and query, one column per policy. A cell is: reconfigurations per
episode (a total under a schedule of one episode) · Σ parallelism after convergence over the
oracle's ("-": not converged) · SLO violation windows (after convergence). With repeated runs
every figure is the median over the repeats and the range of Σp / oracle follows in brackets;
a run that never converged counts as above every converged one ("n/c" as the range's top).
Where the TSV has the clairvoyant reference (clairvoyant_reconfigs_mean: the fewest
reconfigurations per episode that keep Σp within 1.10 x the oracle's without going under it, on
each run's own load), a last column gives its median over the cell's runs of every policy.
With --feasible DIR (the output of `nexmark feasible` per query, DIR/qN.json), the step rows
get one more: the least static configuration found without SLO violation at each step's
rate, as the mean over the steps of its Σp / oracle, with each step's Σp in brackets.

usage: comparison-table.py COMPARISON.TSV [--policies P1,P2,..] [--feasible DIR]
"""
import csv
import json
import math
import os
import signal
import statistics
import sys

DEFAULT_POLICIES = ["streamtune", "ds2", "flink-autoscaler", "dhalion", "conttune"]


def number(text):
    return math.inf if text in ("-", "", None) else float(text)


def median(values):
    return statistics.median_low(sorted(values))


def figure(value, digits):
    return "-" if math.isinf(value) else f"{value:.{digits}f}"


def reconfigs_figure(reconf):
    """Reconfigurations per episode (under 5) with two decimals, totals as integers."""
    return figure(reconf, 2 if reconf < 5 else 0)


def cell(runs):
    if not runs:
        return "?"
    reconf = median([number(r["reconfigs_mean"]) for r in runs])
    ratios = [number(r["parallelism_over_oracle"]) for r in runs]
    slo = median([number(r["slo_violation_windows"]) for r in runs])
    slo_after = median([number(r["slo_violation_windows_after_convergence"]) for r in runs])
    text = f"{reconfigs_figure(reconf)} · {figure(median(ratios), 2)}"
    if len(runs) > 1 and not math.isinf(min(ratios)):
        high = "n/c" if math.isinf(max(ratios)) else figure(max(ratios), 2)
        text += f" [{figure(min(ratios), 2)}–{high}]"
    return text + f" · {figure(slo, 0)} ({figure(slo_after, 0)})"


def clairvoyant_cell(runs):
    values = [number(r["clairvoyant_reconfigs_mean"]) for r in runs]
    values = [v for v in values if not math.isinf(v)]
    if not values:
        return "-"
    return reconfigs_figure(median(values))


def feasible_cell(path):
    """Mean Σp / oracle of the least clean static configurations, each step's Σp after it."""
    try:
        with open(path) as f:
            steps = json.load(f)["factors"]
    except (OSError, ValueError, KeyError, TypeError):
        return "?"
    ratios = [s.get("over_oracle") for s in steps]
    if not steps or any(r is None for r in ratios):
        return "none found"
    sums = ", ".join(str(s["parallelism_sum"]) for s in steps)
    return f"{statistics.mean(ratios):.2f} ({sums})"


def main(argv):
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet when piped into head
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(argv) >= 2 else 2
    policies = DEFAULT_POLICIES
    feasible_dir = None
    rest = argv[2:]
    while rest:
        if len(rest) >= 2 and rest[0] == "--policies":
            policies = [p for p in rest[1].split(",") if p]
        elif len(rest) >= 2 and rest[0] == "--feasible":
            feasible_dir = rest[1]
            if not os.path.isdir(feasible_dir):
                print(f"comparison-table.py: --feasible {feasible_dir}: not a directory",
                      file=sys.stderr)
                return 2
        else:
            print("comparison-table.py: unexpected arguments; see --help", file=sys.stderr)
            return 2
        rest = rest[2:]
    try:
        with open(argv[1], newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
    except OSError as e:
        print(f"comparison-table.py: {argv[1]}: {e.strerror}", file=sys.stderr)
        return 1
    needed = {"schedule", "query", "policy", "reconfigs_mean", "parallelism_over_oracle",
              "slo_violation_windows", "slo_violation_windows_after_convergence"}
    if not rows or not needed <= set(rows[0]):
        print(f"comparison-table.py: {argv[1]}: not a comparison.tsv (columns "
              f"{', '.join(sorted(needed))})", file=sys.stderr)
        return 1
    cells = []
    for r in rows:
        if (r["schedule"], r["query"]) not in cells:
            cells.append((r["schedule"], r["query"]))
    repeats = max(int(r.get("repeat") or 1) for r in rows)
    clairvoyant = "clairvoyant_reconfigs_mean" in rows[0]
    columns = policies + (["clairvoyant"] if clairvoyant else [])
    if feasible_dir:
        columns.append("static, no SLO violation")
    print(f"| sched | query | {' | '.join(columns)} |")
    print("|---|---|" + "---|" * len(columns))
    for sched, query in cells:
        here = [r for r in rows if (r["schedule"], r["query"]) == (sched, query)]
        texts = [cell([r for r in here if r["policy"] == p]) for p in policies]
        if clairvoyant:
            texts.append(clairvoyant_cell(here))
        if feasible_dir:
            texts.append(feasible_cell(os.path.join(feasible_dir, f"{query}.json"))
                         if sched == "steps" else "")
        print(f"| {sched} | {query.upper()} | " + " | ".join(texts) + " |")
    if repeats > 1:
        print(f"\nMedians over {repeats} repeats; Σp / oracle's range in brackets.")
    if feasible_dir:
        print("\nLast column: `nexmark feasible` at each step's rate (one run a configuration).")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
