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

With --targets a second table follows: the Nexmark issue's targets for TUNED (default
streamtune) cell by cell, from the same medians: Σp <= 1.10 x the oracle's after convergence
(and, with --feasible, <= 1.10 x the least static Σp that keeps the SLO where that is above
the oracle's); reconfigurations <= 0.7 x the best baseline's (the fewest of the other policies
but static) and <= 0.7 x DS2's, each marked unattainable where the clairvoyant reference needs
more to keep Σp within 1.10 x the oracle's (and then whether the tuned policy kept within the
clairvoyant's); the runs without SLO violation after convergence;
and Σp over the whole run against DS2's. A count per target closes it.

usage: comparison-table.py COMPARISON.TSV [--policies P1,P2,..] [--feasible DIR]
                           [--targets [--tuned POLICY]]
"""
import csv
import json
import math
import os
import signal
import statistics
import sys

DEFAULT_POLICIES = ["streamtune", "ds2", "flink-autoscaler", "dhalion", "conttune"]
# Not baselines: a fixed configuration, and the references.
NOT_BASELINES = {"static", "clairvoyant"}
SIGMA_BOUND = 1.10
RECONFIG_SHARE = 0.7


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


def clairvoyant_median(runs):
    """The clairvoyant reference's reconfigurations over the runs (inf: none)."""
    values = [number(r["clairvoyant_reconfigs_mean"]) for r in runs]
    values = [v for v in values if not math.isinf(v)]
    return median(values) if values else math.inf


def clairvoyant_cell(runs):
    return reconfigs_figure(clairvoyant_median(runs))


def feasible_steps(path):
    """The steps of a `nexmark feasible --json` file; None if unreadable, [] if none found."""
    try:
        with open(path) as f:
            steps = json.load(f)["factors"]
        ratios = [s.get("over_oracle") for s in steps]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return steps if steps and all(r is not None for r in ratios) else []


def feasible_cell(path):
    """Mean Σp / oracle of the least clean static configurations, each step's Σp after it."""
    steps = feasible_steps(path)
    if steps is None:
        return "?"
    if not steps:
        return "none found"
    sums = ", ".join(str(s["parallelism_sum"]) for s in steps)
    return f"{statistics.mean(s['over_oracle'] for s in steps):.2f} ({sums})"


class Tally:
    """Per target: cells met, missed, and missed where no policy could meet it."""

    def __init__(self):
        self.met = self.cells = self.unattainable = self.within_reference = 0

    def add(self, met, unattainable=False, within_reference=False):
        self.cells += 1
        self.met += met
        self.unattainable += (not met) and unattainable
        self.within_reference += (not met) and unattainable and within_reference

    def text(self):
        out = f"met in {self.met} of {self.cells} cells"
        if self.unattainable:
            out += (f"; unattainable in {self.unattainable} of the {self.cells - self.met} "
                    f"missed, of which {self.within_reference} within the clairvoyant's")
        return out


def median_of(runs, key):
    values = [number(r.get(key)) for r in runs]
    return median(values) if values else math.inf


def reconfig_verdict(tuned, baseline, name, clairvoyant, tally):
    """Whether tuned reconfigurations keep under RECONFIG_SHARE x the baseline's; unattainable
    when the clairvoyant reference needs more than that to keep Σp within SIGMA_BOUND x the
    oracle's."""
    if math.isinf(baseline):
        return "-"
    bound = RECONFIG_SHARE * baseline
    met = tuned <= bound
    unattainable = not met and clairvoyant > bound
    within = tuned <= clairvoyant
    tally.add(met, unattainable, within)
    verdict = "met" if met else ("unattainable" if unattainable else "missed")
    if unattainable:
        verdict += (f", {'within' if within else 'over'} the clairvoyant's "
                    f"{reconfigs_figure(clairvoyant)}")
    return (f"{reconfigs_figure(tuned)} vs {bound:.{2 if bound < 5 else 1}f} "
            f"({name}'s {reconfigs_figure(baseline)}): {verdict}")


def targets_table(rows, cells, tuned, feasible_dir):
    """The issue's targets for the tuned policy, per cell (see the module's doc)."""
    has_clairvoyant = "clairvoyant_reconfigs_mean" in rows[0]
    tallies = {k: Tally() for k in ("sigma", "reference", "best", "ds2", "clean")}
    clean_runs = total_runs = 0
    lines = [f"Targets for {tuned} (medians per cell; the bound after \"vs\"):", "",
             f"| sched | query | Σp / oracle <= {SIGMA_BOUND:.2f} | "
             f"Σp <= {SIGMA_BOUND:.2f} x static reference | "
             f"reconfigs <= {RECONFIG_SHARE} x best baseline | "
             f"reconfigs <= {RECONFIG_SHARE} x DS2 | "
             "clean runs after convergence | Σp / DS2's over the run |",
             "|---|---|---|---|---|---|---|---|"]
    for sched, query in cells:
        here = [r for r in rows if (r["schedule"], r["query"]) == (sched, query)]
        mine = [r for r in here if r["policy"] == tuned]
        if not mine:
            continue
        ratio = median_of(mine, "parallelism_over_oracle")
        met = ratio <= SIGMA_BOUND
        tallies["sigma"].add(met)
        sigma = ("not converged" if math.isinf(ratio)
                 else f"{ratio:.2f}: {'met' if met else 'missed'}")
        reference = ""
        if feasible_dir and sched == "steps":
            steps = feasible_steps(os.path.join(feasible_dir, f"{query}.json"))
            if steps:
                ref = max(1.0, statistics.mean(s["over_oracle"] for s in steps))
                met = ratio <= SIGMA_BOUND * ref
                tallies["reference"].add(met)
                reference = f"{figure(ratio, 2)} vs {SIGMA_BOUND * ref:.2f}: " + (
                    "met" if met else "missed")
        reconf = median_of(mine, "reconfigs_mean")
        # Without the reference no bound is known to be out of reach.
        clairvoyant = clairvoyant_median(here) if has_clairvoyant else 0.0
        if math.isinf(clairvoyant):
            clairvoyant = 0.0
        baselines = {}
        for r in here:
            if r["policy"] not in NOT_BASELINES and r["policy"] != tuned:
                baselines.setdefault(r["policy"], []).append(r)
        best, best_name = min(((median_of(v, "reconfigs_mean"), k) for k, v in
                               baselines.items()), default=(math.inf, "-"))
        best_text = reconfig_verdict(reconf, best, best_name, clairvoyant, tallies["best"])
        ds2 = baselines.get("ds2", [])
        ds2_text = reconfig_verdict(reconf, median_of(ds2, "reconfigs_mean") if ds2 else
                                    math.inf, "DS2", clairvoyant, tallies["ds2"])
        clean = sum(number(r["slo_violation_windows_after_convergence"]) == 0 for r in mine)
        clean_runs += clean
        total_runs += len(mine)
        tallies["clean"].add(clean == len(mine))
        sums = median_of(mine, "parallelism_sum"), median_of(ds2, "parallelism_sum")
        versus = "-" if any(math.isinf(v) or v <= 0 for v in sums) else f"{sums[0] / sums[1]:.2f}"
        lines.append(f"| {sched} | {query.upper()} | {sigma} | {reference} | {best_text} | "
                     f"{ds2_text} | {clean} of {len(mine)} | {versus} |")
    lines += ["", f"- Σp <= {SIGMA_BOUND:.2f} x the oracle's: {tallies['sigma'].text()}."]
    if tallies["reference"].cells:
        lines.append(f"- Σp <= {SIGMA_BOUND:.2f} x the static reference (steps): "
                     f"{tallies['reference'].text()}.")
    lines.append(f"- Reconfigurations <= {RECONFIG_SHARE} x the best baseline's: "
                 f"{tallies['best'].text()}.")
    if tallies["ds2"].cells:  # (not when DS2 is the tuned policy, or absent)
        lines.append(f"- Reconfigurations <= {RECONFIG_SHARE} x DS2's: {tallies['ds2'].text()}.")
    lines += [f"- No SLO violation after convergence: {clean_runs} of {total_runs} runs "
              f"({tallies['clean'].text()})."]
    if has_clairvoyant:
        lines.append("\nUnattainable: the clairvoyant reference needs more reconfigurations "
                     f"than the bound to keep Σp within {SIGMA_BOUND:.2f} x the oracle's and "
                     "never under it.")
    return lines


def main(argv):
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet when piped into head
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(argv) >= 2 else 2
    policies = DEFAULT_POLICIES
    feasible_dir = None
    targets = False
    tuned = "streamtune"
    rest = argv[2:]
    while rest:
        if rest[0] == "--targets":
            targets = True
            rest = rest[1:]
            continue
        if len(rest) >= 2 and rest[0] == "--tuned":
            tuned = rest[1]
        elif len(rest) >= 2 and rest[0] == "--policies":
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
    if targets and not any(r["policy"] == tuned for r in rows):
        print(f"comparison-table.py: {argv[1]}: no runs of {tuned} for --targets",
              file=sys.stderr)
        return 1
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
    if targets:
        print()
        print("\n".join(targets_table(rows, cells, tuned, feasible_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
