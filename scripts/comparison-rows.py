#!/usr/bin/env python3
"""Rows of comparison.tsv from one `nexmark compare --json` summary: one row per policy.

usage: comparison-rows.py SUMMARY.JSON SCHEDULE QUERY REPEAT [--header]

With --header the column names come first. scripts/compare-nexmark.sh appends these rows for
every run; scripts/comparison-table.py reads them.
"""
import json
import signal
import sys

COLUMNS = ["reconfigs_mean", "clairvoyant_reconfigs_mean", "parallelism_sum_after_convergence",
           "parallelism_over_oracle", "slo_violation_windows_after_convergence",
           "slo_violation_windows", "latency_p99_ms", "parallelism_sum", "oracle_sum"]


def text(value):
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def main(argv):
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if any(a in ("-h", "--help") for a in argv[1:]):
        print(__doc__.strip())
        return 0
    args = [a for a in argv[1:] if a != "--header"]
    if len(args) != 4:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    path, schedule, query, repeat = args
    try:
        with open(path) as f:
            summary = json.load(f)
        policies = summary["policies"]
        rows = list(policies.values() if isinstance(policies, dict) else policies)
        lines = ["\t".join([schedule, query, r["policy"], repeat] +
                           [text(r.get(k)) for k in COLUMNS]) for r in rows]
    except OSError as e:
        print(f"comparison-rows.py: {path}: {e.strerror}", file=sys.stderr)
        return 1
    except (ValueError, KeyError, TypeError, AttributeError):
        print(f"comparison-rows.py: {path}: not a `nexmark compare --json` summary",
              file=sys.stderr)
        return 1
    if "--header" in argv:
        print("\t".join(["schedule", "query", "policy", "repeat"] + COLUMNS))
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
