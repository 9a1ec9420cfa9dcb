#!/usr/bin/env python3
"""scripts/comparison-table.py on a small comparison.tsv: medians per cell, the clairvoyant
column, and the feasibility column from `nexmark feasible`'s JSON (step rows only)."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                      "comparison-table.py")
HEADER = ("schedule\tquery\tpolicy\trepeat\treconfigs_mean\tclairvoyant_reconfigs_mean\t"
          "parallelism_sum_after_convergence\tparallelism_over_oracle\t"
          "slo_violation_windows_after_convergence\tslo_violation_windows\tlatency_p99_ms\n")


def row(sched, policy, repeat, reconf, ratio, slo_after, slo):
    return f"{sched}\tq8\t{policy}\t{repeat}\t{reconf}\t1.000\t4\t{ratio}\t{slo_after}\t{slo}\t300\n"


class ComparisonTable(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.tsv = os.path.join(self.dir.name, "comparison.tsv")
        with open(self.tsv, "w") as f:
            f.write(HEADER)
            for r, (ratio, slo) in enumerate([(1.35, 1), (1.20, 3), (1.50, 0)], start=1):
                f.write(row("steps", "streamtune", r, 1.0, ratio, 0, slo))
                f.write(row("steps", "ds2", r, 1.33, 1.10, 6, 30))
                f.write(row("sine", "streamtune", r, 3, "-" if r == 3 else ratio, 1, slo))
                f.write(row("sine", "ds2", r, 2, 1.06, 28, 28))
        self.feasible = os.path.join(self.dir.name, "feasible")
        os.mkdir(self.feasible)
        steps = [{"factor": f, "parallelism_sum": p, "over_oracle": x}
                 for f, p, x in [(1, 4, 1.33), (1.6, 6, 1.5), (0.8, 3, 1.2)]]
        with open(os.path.join(self.feasible, "q8.json"), "w") as f:
            json.dump({"query": "q8", "factors": steps}, f)

    def tearDown(self):
        self.dir.cleanup()

    def table(self, *args):
        return subprocess.run([sys.executable, SCRIPT, self.tsv, "--policies",
                               "streamtune,ds2", *args], capture_output=True, text=True)

    def test_cells_are_medians_with_the_range(self):
        out = self.table()
        self.assertEqual(out.returncode, 0, out.stderr)
        steps = next(line for line in out.stdout.splitlines() if line.startswith("| steps"))
        self.assertIn("| 1.00 · 1.35 [1.20–1.50] · 1 (0) |", steps)
        sine = next(line for line in out.stdout.splitlines() if line.startswith("| sine"))
        self.assertIn("| 3.00 · 1.35 [1.20–n/c] · 1 (1) |", sine)
        self.assertNotIn("static, no SLO violation", out.stdout)

    def test_the_feasibility_column_is_the_steps_mean(self):
        out = self.table("--feasible", self.feasible)
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = out.stdout.splitlines()
        self.assertTrue(lines[0].endswith("| clairvoyant | static, no SLO violation |"), lines[0])
        steps = next(line for line in lines if line.startswith("| steps"))
        self.assertTrue(steps.endswith("| 1.34 (4, 6, 3) |"), steps)
        sine = next(line for line in lines if line.startswith("| sine"))
        self.assertTrue(sine.endswith("|  |"), sine)

    def test_a_search_without_result_or_file_says_so(self):
        with open(os.path.join(self.feasible, "q8.json"), "w") as f:
            json.dump({"factors": [{"parallelism_sum": None, "over_oracle": None}]}, f)
        steps = [line for line in self.table("--feasible", self.feasible).stdout.splitlines()
                 if line.startswith("| steps")][0]
        self.assertTrue(steps.endswith("| none found |"), steps)
        os.remove(os.path.join(self.feasible, "q8.json"))
        steps = [line for line in self.table("--feasible", self.feasible).stdout.splitlines()
                 if line.startswith("| steps")][0]
        self.assertTrue(steps.endswith("| ? |"), steps)

    def test_bad_arguments_are_refused(self):
        out = self.table("--feasible", os.path.join(self.dir.name, "nowhere"))
        self.assertEqual(out.returncode, 2)
        self.assertIn("not a directory", out.stderr)
        out = self.table("--frobnicate")
        self.assertEqual(out.returncode, 2)
        self.assertIn("unexpected arguments", out.stderr)


if __name__ == "__main__":
    unittest.main()
