//! The harness end to end: a short emulated run through the real plugin endpoint writes its
//! CSV, JSON and plot; bad arguments and schedule files are refused with clear errors, and so
//! is a run whose policy the endpoint refuses.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn nexmark() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nexmark"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nexmark-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `nexmark run` of Q1 in emulated mode, quiet, into `dir`, with `args` added.
fn emulated_q1_run(dir: &Path, args: &[&str]) -> Output {
    nexmark()
        .args(["run", "--query", "q1", "--emulate", "--quiet"])
        .args(args)
        .arg("--out")
        .arg(dir)
        .output()
        .unwrap()
}

#[test]
fn bad_arguments_are_refused_clearly() {
    let dir = scratch("bad");
    let schedule = dir.join("bad.csv");
    std::fs::write(&schedule, "0,1\n5,x\n").unwrap();
    let file_arg = format!("file:{}", schedule.display());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["frobnicate"], "unknown command"),
        (vec!["run", "--query", "q9"], "unknown query"),
        (vec!["run", "--policy", "magic"], "unknown policy"),
        (vec!["run", "--workers", "0"], "outside 1..=64"),
        (vec!["run", "--workers", "many"], "not a valid number"),
        (vec!["run", "--schedule", "steps:1,-1"], "outside"),
        (vec!["run", "--schedule", &file_arg], "line 2"),
        (vec!["run", "--seconds"], "needs a value"),
        (vec!["run", "--policy", "ds2,static"], "use compare"),
        (
            vec!["run", "--workers", "2", "--initial", "3"],
            "more than --workers",
        ),
        (vec!["run", "--window-ms", "150"], "multiple of 100"),
        (vec!["showcase", "--query", "q1"], "does not apply"),
        (vec!["showcase", "--policies", "ds2"], "does not apply"),
        // The showcase runs on 8 workers unless told otherwise.
        (vec!["showcase", "--initial", "9"], "more than --workers 8"),
        (
            vec!["showcase", "--initial", "convert=2"],
            "operator 'convert'",
        ),
        (
            vec!["run", "--query", "q3", "--initial", "4,jion=2"],
            "q3 has no tuned operator 'jion' (it has auctions, persons, join)",
        ),
        (vec!["run", "--initial", "count=0"], "starts at 1"),
        (vec!["run", "--initial", "=3"], "names no operator"),
        (
            vec!["run", "--initial", "count=x"],
            "'x' is not a parallelism",
        ),
        (
            vec!["run", "--workers", "4", "--initial", "count=5"],
            "--initial 5 is more than --workers 4",
        ),
        (vec!["run", "--factors", "1,2"], "is an option of feasible"),
        (vec!["feasible", "--policy", "ds2"], "does not apply"),
        (vec!["feasible", "--schedule", "constant"], "does not apply"),
        (vec!["feasible", "--factors", "1,0"], "outside (0, 100]"),
        (vec!["feasible", "--factors", ","], "no factor given"),
        (vec!["feasible", "--max-runs", "0"], "outside 1..=100"),
        (vec!["feasible", "--seconds", "8"], "needs at least 10"),
    ];
    for (args, needle) in cases {
        let out = nexmark().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let help = nexmark().arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("compare"));
}

/// A policy option the plugin refuses leaves the job untuned: the run stops with an error
/// rather than report an untuned run as the policy's.
#[test]
fn a_refused_policy_option_fails_the_run() {
    let dir = scratch("refused");
    let out = emulated_q1_run(
        &dir,
        &[
            "--policy",
            "streamtune",
            "--opt",
            "streamtune:idle_busy=1.5",
            "--workers",
            "2",
            "--seconds",
            "30",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("did not register the job"), "{err}");
    assert!(err.contains("idle_busy=1.5 outside"), "{err}");
    assert!(
        !dir.join("summary.json").exists(),
        "no summary of an untuned run"
    );
}

#[test]
fn an_emulated_run_writes_csv_json_and_plot() {
    let dir = scratch("run");
    let out = emulated_q1_run(
        &dir,
        &[
            "--policy",
            "ds2",
            "--workers",
            "4",
            "--seconds",
            "12",
            "--schedule",
            "steps:1,1.6@6",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let json = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    for key in [
        "reconfigs_mean",
        "reconfigs_max",
        "parallelism_over_oracle",
        "bottleneck_windows_after_convergence",
        "time_to_stable_windows",
        "parallelism_sum",
        "latency_p99_ms",
        "slo_violation_windows",
    ] {
        assert!(
            json.contains(&format!("\"{key}\"")),
            "{key} missing: {json}"
        );
    }
    assert!(
        json.contains("\"tuning_disabled\": null"),
        "tuned for real: {json}"
    );
    let csv = std::fs::read_to_string(dir.join("q1-ds2.windows.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert!(rows[0].starts_with("window,t_s,rate"), "{}", rows[0]);
    assert!(rows.len() >= 11, "a row per window: {}", rows.len());
    // Emulated: every window has an oracle; DS2 must have scaled the converter up from 1.
    assert!(rows[1..]
        .iter()
        .all(|r| r.split(',').nth(6).is_some_and(|o| !o.is_empty())));
    let p_last: usize = rows
        .last()
        .unwrap()
        .split(',')
        .nth(5)
        .unwrap()
        .parse()
        .unwrap();
    assert!(p_last >= 2, "ds2 scaled up: {}", rows.last().unwrap());
    // The clairvoyant reference is the run's own oracle from the initial setting (1), per
    // episode (two steps).
    let header: Vec<&str> = rows[0].split(',').collect();
    let oracle_columns: Vec<usize> = (0..header.len())
        .filter(|&i| header[i].ends_with(".oracle"))
        .collect();
    let oracle: Vec<Vec<u32>> = rows[1..]
        .iter()
        .map(|r| {
            let cells: Vec<&str> = r.split(',').collect();
            oracle_columns
                .iter()
                .map(|&i| cells[i].parse().unwrap())
                .collect()
        })
        .collect();
    let initial = vec![1; oracle_columns.len()];
    let fewest = nexmark::clairvoyant::fewest_reconfigs(&oracle, &initial, 1.10).unwrap();
    assert!(fewest >= 1, "the oracle of Q1 at 4 workers is above 1");
    let reported = json
        .split("\"clairvoyant_reconfigs_mean\": ")
        .nth(1)
        .and_then(|rest| rest.split([',', '}']).next())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no clairvoyant reference: {json}"));
    assert_eq!(reported, fewest as f64 / 2.0, "{json}");
    assert!(stdout.contains("clairv"), "{stdout}");
    let png = std::fs::read(dir.join("q1.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    assert!(stdout.contains("plot:"), "{stdout}");
}

/// Every tuned operator starts where `--initial` puts it: one for all, exceptions by name.
#[test]
fn the_initial_setting_is_per_operator() {
    let dir = scratch("initial");
    let out = nexmark()
        .args([
            "run",
            "--query",
            "q3",
            "--emulate",
            "--quiet",
            "--policy",
            "static",
        ])
        .args([
            "--workers",
            "4",
            "--seconds",
            "4",
            "--initial",
            "3,join=1,persons=2",
        ])
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(dir.join("q3-static.windows.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    for row in csv.lines().skip(1) {
        let cells: Vec<&str> = row.split(',').collect();
        let p = |op: &str| cells[col(&format!("{op}.p"))];
        assert_eq!(
            (p("auctions"), p("persons"), p("join")),
            ("3", "2", "1"),
            "{row}"
        );
        assert_eq!(cells[col("parallelism_sum")], "6", "{row}");
    }
}

/// The feasibility search runs the query for real: a probe at full parallelism, then from
/// the oracle up until a run keeps the SLO; its table, JSON and every run's windows agree.
#[test]
fn the_feasibility_search_ends_at_a_clean_configuration() {
    let dir = scratch("feasible");
    let out = nexmark()
        .args([
            "feasible",
            "--query",
            "q1",
            "--workers",
            "4",
            "--rate",
            "3000",
        ])
        .args(["--seconds", "10", "--factors", "1", "--max-runs", "4"])
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // Q1's converter serves 1,500 records/s an instance: 3,000 bids/s (46/50 of the events)
    // need 2 instances at the oracle.
    let json = std::fs::read_to_string(dir.join("feasible.json")).unwrap();
    assert!(json.contains("\"oracle_sum\": 2"), "{json}");
    let config: usize = json
        .split("\"config\": {\"convert\": ")
        .nth(1)
        .and_then(|r| r.split('}').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no clean configuration: {json}\n{stderr}"));
    assert!((2..=4).contains(&config), "{json}");
    let row = stdout.lines().find(|l| l.starts_with("q1")).unwrap();
    assert!(row.contains(&format!("convert={config}")), "{stdout}");
    // The probe and one file per trial, and the progress says how each ended.
    assert!(dir.join("q1-x1-probe.windows.csv").exists());
    let trials = json.matches("slo_violation_windows").count();
    assert!(dir.join(format!("q1-x1-run{trials}.windows.csv")).exists());
    assert!(
        stderr.contains(&format!("[q1 x1] convert={config}: 0 SLO window(s); clean")),
        "{stderr}"
    );
}

/// The main job's showcase runs its nine jobs at once and keeps every one's window CSV and
/// history apart (they once shared a history file per policy, so only the last query's
/// stayed), with a plot and a summary per query. It is emulated without being told (it once
/// ran natively unless given `--emulate`, while its banner said emulated), so every window
/// has an oracle.
#[test]
fn the_showcase_keeps_every_jobs_outputs() {
    let dir = scratch("showcase");
    let json_copy = dir.join("copy.json");
    let out = nexmark()
        .args([
            "showcase",
            "--quiet",
            "--workers",
            "2",
            "--seconds",
            "6",
            "--schedule",
            "steps:1,1.6@3",
            "--json",
        ])
        .arg(&json_copy)
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("9 jobs at once"), "{stderr}");
    let json = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    assert_eq!(std::fs::read_to_string(&json_copy).unwrap(), json);
    for q in ["q3", "q5", "q8"] {
        assert!(json.contains(&format!("\"{q}\": {{")), "{q}: {json}");
        let png = std::fs::read(dir.join(format!("{q}.png"))).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        for policy in ["streamtune", "ds2", "flink-autoscaler"] {
            let csv = std::fs::read_to_string(dir.join(format!("{q}-{policy}.windows.csv")))
                .unwrap_or_else(|e| panic!("{q} {policy}: {e}"));
            assert!(csv.lines().count() >= 6, "{q} {policy}: {csv}");
            let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
            let oracle = header.iter().position(|c| *c == "oracle_sum").unwrap();
            for row in csv.lines().skip(1) {
                let sum = row.split(',').nth(oracle).unwrap_or("");
                assert!(sum.parse::<u32>().is_ok(), "{q} {policy}, no oracle: {row}");
            }
            let history = std::fs::read(dir.join(format!("{q}-{policy}.history.sqlite")))
                .unwrap_or_else(|e| panic!("{q} {policy}: {e}"));
            assert!(history.starts_with(b"SQLite format 3"), "{q} {policy}");
            assert!(
                stdout
                    .lines()
                    .any(|l| l.starts_with(q) && l.contains(policy)),
                "{q} {policy} in the table: {stdout}"
            );
        }
    }
}

/// A decision applies to the backlog at once: every worker routes records to the instances
/// only while none of the first stage's instances has half a second of routed work waiting,
/// so the controller proposes at the routing frontier. (A controller hosting no instance
/// routed everything injected and proposed past all of it: Q5 from one instance at five
/// times its capacity on 16 workers kept its one instance five windows after DS2's decision.)
#[test]
fn a_decision_under_a_backlog_applies_within_two_windows() {
    let dir = scratch("apply");
    let out = nexmark()
        .args([
            "run",
            "--query",
            "q5",
            "--policy",
            "ds2",
            "--workers",
            "16",
            "--emulate",
            "--rate",
            "8000",
            "--schedule",
            "constant",
            "--seconds",
            "8",
            "--quiet",
            "--out",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let csv = std::fs::read_to_string(dir.join("q5-ds2.windows.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|c| *c == name).unwrap();
    let (decisions, count_p) = (col("decisions"), col("count.p"));
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let first = rows
        .iter()
        .position(|r| r[decisions] != "0")
        .unwrap_or_else(|| panic!("no decision: {csv}"));
    let applied = rows
        .iter()
        .position(|r| r[count_p] != "1")
        .unwrap_or_else(|| panic!("never applied: {csv}"));
    assert!(
        applied <= first + 2,
        "decided in window {first}, applied in {applied}: {csv}"
    );
}
