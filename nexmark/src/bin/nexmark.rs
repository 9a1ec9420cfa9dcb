//! `nexmark`: Nexmark queries on Timely tuned live by StreamTune, and the comparison of tuning
//! policies on identical runs. See `nexmark --help`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use nexmark::feasible::{self, config_text, AtRate, RunSetting, Search, Trial, SKIP_WINDOWS};
use nexmark::harness::{self, DecisionRecord, ProgressFn, RunConfig, RunRecord, WindowRecord};
use nexmark::plot;
use nexmark::queries::{Initial, Query, ALL_QUERIES};
use nexmark::report::{self, Summary};
use nexmark::schedule::Schedule;

/// Tuning policies, then `explore` (random configurations around DS2's estimate, for
/// recording training histories; not a tuner).
const POLICIES: [&str; 7] = [
    "streamtune",
    "ds2",
    "flink-autoscaler",
    "conttune",
    "dhalion",
    "static",
    "explore",
];

const USAGE: &str = "\
usage: nexmark <command> [options]

commands:
  run        one query under one policy: progress, windows.csv, summary.json, <query>.png
  compare    one query under several policies on identical runs: a table, plots, JSON
  showcase   the main job: Q3, Q5 and Q8 under a rate step, streamtune against DS2 and the
             Flink autoscaler, with the shipped default model, the nine jobs at once
  feasible   the least static configuration of a query that keeps its SLO at constant
             rates, by running it: the reference for Σp beside the oracle (no headroom)
  queries    list the queries

run and compare options:
  --query Q            q0..q8 (default q5)
  --schedule S         constant | steps:F1,F2,..[@SECS] | square:LO,HI[@PERIOD] |
                       sine:AMP[@PERIOD] | file:PATH   (factors of --rate; default steps:1,1.6,0.8)
  --policy P           run: streamtune | ds2 | flink-autoscaler | conttune | dhalion | static
                       | explore (random configurations, to record training histories)
  --policies P1,P2     compare: default streamtune,ds2,flink-autoscaler,conttune,dhalion
  --workers N          Timely workers, 1..64 (default 2; 16 is typical with --emulate)
  --emulate[=SCALE]    emulated capacity (DESIGN §3): each operator instance serves a known
                       number of records/s (times SCALE, default 1); the oracle is known
  --rate R             base source rate, events/s (default 4000)
  --seconds S          run length (default 90)
  --window-ms MS       metrics window (default 1000)
  --initial P|OP=P,..  parallelism of the tuned operators at the start: P for all, OP=P
                       for one (`nexmark queries` names them), e.g. 4,join=2 (default 1)
  --cost-us US         native mode: CPU time per record in every tuned operator (default 20)
  --slo-ms MS          latency bound (default 1000)
  --opt [P:]NAME=VALUE a policy option (repeatable); with P: only for policy P,
                       e.g. --opt streamtune:tau=0.3
  --seed N             generator seed (default 1)
  --model FILE         the streamtune policy's model (default: $STREAMTUNE_MODEL or the
                       shipped plugin/models/default.stnm)
  --endpoint EP        use a running `streamtune serve` instead of an in-process endpoint
  --out DIR            output directory (default runs/<command>-<query>)
  --json PATH          also write the summary JSON there
  --sequential         compare, showcase: run the jobs one after the other (default: at once)
  --quiet              no per-window progress lines

showcase takes --schedule, --workers (default 8), --emulate=SCALE (always emulated),
--rate, --seconds (default 60), --window-ms, --initial, --slo-ms, --opt, --seed, --model,
--endpoint, --out (default runs/showcase), --json, --sequential and --quiet.

feasible runs the query under the static policy at constant rates, emulated: a probe at
full parallelism for the oracle, then from every operator's mean oracle rounded down it
raises, one instance a run, the busiest operator (its hottest instance's load over its
capacity), until a run has no SLO violation after its first 5 windows. It takes
--query, --factors F1,F2,.. (of --rate, default 1,1.6,0.8: the steps schedule's), --rate
(default 7200), --workers (default 16), --emulate=SCALE, --seconds per run (default 35: 30
judged windows, an episode of the comparison's steps),
--max-runs per factor (default 10), --window-ms, --slo-ms, --seed, --endpoint, --out
(default runs/feasible-<query>), --json, --sequential (factors one after the other; default
at once) and --quiet (it prints a line a run all the same). One run per configuration: a
clean run may be a lucky one.

The plugin is loaded from $STREAMTUNE_PLUGIN or the CMake build (build/libstreamtune.so);
the streamtune policy uses --model, else $STREAMTUNE_MODEL, else the shipped default model,
which the plugin looks for beside itself (<dir>/../plugin/models/default.stnm): a copy of
the plugin kept elsewhere needs --model or $STREAMTUNE_MODEL, or its decisions say
\"DS2 fallback (no model)\".
";

/// The showcase's own defaults (`nexmark showcase` alone is the main job): emulated capacities,
/// so that the oracle is known, on 8 workers for a minute.
const SHOWCASE_WORKERS: usize = 8;
const SHOWCASE_SECONDS: f64 = 60.0;
const SHOWCASE_QUERIES: [Query; 3] = [Query::Q3, Query::Q5, Query::Q8];

/// Options the showcase fixes itself (its queries, policies and mode) or has no use for.
const NOT_FOR_SHOWCASE: [&str; 4] = ["--query", "--policy", "--policies", "--cost-us"];

/// `nexmark feasible`'s own defaults: the comparison's setting (scripts/compare-nexmark.sh).
const FEASIBLE_WORKERS: usize = 16;
const FEASIBLE_RATE: f64 = 7200.0;
/// An episode of the comparison's step schedule (90 s, three steps) after the skipped start.
const FEASIBLE_SECONDS: f64 = 35.0;

/// Options the feasibility search fixes itself (policy, schedule, mode, configuration).
const NOT_FOR_FEASIBLE: [&str; 7] = [
    "--policy",
    "--policies",
    "--schedule",
    "--initial",
    "--cost-us",
    "--opt",
    "--model",
];
/// Options only the feasibility search takes.
const ONLY_FEASIBLE: [&str; 2] = ["--factors", "--max-runs"];

#[derive(Clone, Debug)]
struct Options {
    command: String,
    query: Query,
    schedule: Schedule,
    policies: Vec<String>,
    workers: usize,
    emulate: Option<f64>,
    rate: f64,
    seconds: f64,
    window_ms: u64,
    initial: Initial,
    cost_us: u64,
    slo_ms: f64,
    opts: Vec<(String, f64)>,
    seed: u64,
    endpoint: Option<String>,
    model: Option<PathBuf>,
    out: Option<PathBuf>,
    json: Option<PathBuf>,
    sequential: bool,
    quiet: bool,
    /// feasible: factors of --rate, and runs per factor at most.
    factors: Vec<f64>,
    max_runs: usize,
}

fn parse_num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{flag}: '{v}' is not a valid number"))
}

fn parse(args: &[String]) -> Result<Options, String> {
    let command = args.first().cloned().ok_or("missing command")?;
    if !["run", "compare", "showcase", "feasible", "queries"].contains(&command.as_str()) {
        if command == "-h" || command == "--help" || command == "help" {
            return Err(String::new());
        }
        return Err(format!("unknown command '{command}'"));
    }
    let showcase = command == "showcase";
    let feasible = command == "feasible";
    let mut o = Options {
        command: command.clone(),
        query: Query::Q5,
        schedule: Schedule::parse("steps:1,1.6,0.8").expect("default schedule"),
        policies: if command == "run" {
            vec!["streamtune".into()]
        } else {
            POLICIES[..5].iter().map(|s| s.to_string()).collect()
        },
        workers: if showcase {
            SHOWCASE_WORKERS
        } else if feasible {
            FEASIBLE_WORKERS
        } else {
            2
        },
        emulate: (showcase || feasible).then_some(1.0),
        rate: if feasible { FEASIBLE_RATE } else { 4000.0 },
        seconds: if showcase {
            SHOWCASE_SECONDS
        } else if feasible {
            FEASIBLE_SECONDS
        } else {
            90.0
        },
        window_ms: 1000,
        initial: Initial::uniform(1),
        cost_us: 20,
        slo_ms: 1000.0,
        opts: Vec::new(),
        seed: 1,
        endpoint: None,
        model: None,
        out: None,
        json: None,
        sequential: false,
        quiet: false,
        factors: vec![1.0, 1.6, 0.8],
        max_runs: 10,
    };
    let mut it = args[1..].iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || -> Result<String, String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it.next().cloned().ok_or(format!("{flag} needs a value")),
            }
        };
        if showcase && NOT_FOR_SHOWCASE.contains(&flag.as_str()) {
            return Err(format!(
                "showcase: {flag} does not apply (the showcase runs Q3, Q5 and Q8 under \
                 streamtune, DS2 and the Flink autoscaler, emulated; use run or compare)"
            ));
        }
        if feasible && NOT_FOR_FEASIBLE.contains(&flag.as_str()) {
            return Err(format!(
                "feasible: {flag} does not apply (the search runs the static policy at \
                 constant rates, emulated, and chooses the configurations itself)"
            ));
        }
        if !feasible && ONLY_FEASIBLE.contains(&flag.as_str()) {
            return Err(format!("{command}: {flag} is an option of feasible"));
        }
        match flag.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--factors" => {
                let v = value()?;
                let mut factors = Vec::new();
                for f in v.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                    let x: f64 = parse_num(&flag, f)?;
                    if !(x.is_finite() && x > 0.0 && x <= 100.0) {
                        return Err(format!("--factors: {f} is outside (0, 100]"));
                    }
                    factors.push(x);
                }
                if factors.is_empty() {
                    return Err("--factors: no factor given".into());
                }
                o.factors = factors;
            }
            "--max-runs" => {
                o.max_runs = parse_num(&flag, &value()?)?;
                if !(1..=100).contains(&o.max_runs) {
                    return Err(format!("--max-runs: {} is outside 1..=100", o.max_runs));
                }
            }
            "--query" => o.query = value()?.parse()?,
            "--schedule" => o.schedule = Schedule::parse(&value()?)?,
            "--policy" | "--policies" => {
                let v = value()?;
                let list: Vec<String> = v
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                for p in &list {
                    if !POLICIES.contains(&p.as_str()) {
                        return Err(format!(
                            "{flag}: unknown policy '{p}' ({})",
                            POLICIES.join(", ")
                        ));
                    }
                }
                if list.is_empty() {
                    return Err(format!("{flag}: no policy given"));
                }
                if command == "run" && list.len() != 1 {
                    return Err("run takes one --policy; use compare for several".into());
                }
                o.policies = list;
            }
            "--workers" | "-w" => {
                o.workers = parse_num(&flag, &value()?)?;
                if !(1..=64).contains(&o.workers) {
                    return Err(format!("{flag}: {} is outside 1..=64", o.workers));
                }
            }
            "--emulate" => {
                let scale = match &inline {
                    Some(v) => parse_num::<f64>(&flag, v)?,
                    None => 1.0,
                };
                if !(scale.is_finite() && scale > 0.0 && scale <= 1000.0) {
                    return Err(format!("--emulate: scale {scale} is outside (0, 1000]"));
                }
                o.emulate = Some(scale);
            }
            "--rate" => {
                o.rate = parse_num(&flag, &value()?)?;
                if !(o.rate.is_finite() && o.rate > 0.0 && o.rate <= 5e6) {
                    return Err(format!("--rate: {} is outside (0, 5000000]", o.rate));
                }
            }
            "--seconds" => {
                o.seconds = parse_num(&flag, &value()?)?;
                if !(o.seconds.is_finite() && o.seconds >= 2.0 && o.seconds <= 86_400.0) {
                    return Err(format!("--seconds: {} is outside [2, 86400]", o.seconds));
                }
            }
            "--window-ms" => {
                o.window_ms = parse_num(&flag, &value()?)?;
                if o.window_ms < 100 || !o.window_ms.is_multiple_of(100) || o.window_ms > 60_000 {
                    return Err(format!(
                        "--window-ms: {} must be a multiple of 100 in [100, 60000]",
                        o.window_ms
                    ));
                }
            }
            "--initial" => o.initial = value()?.parse()?,
            "--cost-us" => {
                o.cost_us = parse_num(&flag, &value()?)?;
                if o.cost_us > 100_000 {
                    return Err(format!("--cost-us: {} is above 100000", o.cost_us));
                }
            }
            "--slo-ms" => {
                o.slo_ms = parse_num(&flag, &value()?)?;
                if !(o.slo_ms.is_finite() && o.slo_ms > 0.0) {
                    return Err("--slo-ms must be positive".into());
                }
            }
            "--opt" => {
                let v = value()?;
                let (k, x) = v
                    .split_once('=')
                    .ok_or(format!("--opt: expected [POLICY:]NAME=VALUE, got '{v}'"))?;
                if let Some((policy, _)) = k.split_once(':') {
                    if !POLICIES.contains(&policy) {
                        return Err(format!("--opt: unknown policy '{policy}' in '{v}'"));
                    }
                }
                o.opts.push((k.to_string(), parse_num(&flag, x)?));
            }
            "--seed" => o.seed = parse_num(&flag, &value()?)?,
            "--endpoint" => o.endpoint = Some(value()?),
            "--model" => {
                let m = PathBuf::from(value()?);
                if !m.is_file() {
                    return Err(format!("--model: {} is not a file", m.display()));
                }
                o.model = Some(m);
            }
            "--out" => o.out = Some(PathBuf::from(value()?)),
            "--json" => o.json = Some(PathBuf::from(value()?)),
            "--sequential" => o.sequential = true,
            "--quiet" => o.quiet = true,
            other => return Err(format!("unknown option '{other}'")),
        }
    }
    if !showcase {
        o.initial.check_names(o.query)?;
    } else if let Some((name, _)) = o.initial.named.iter().find(|(name, _)| {
        !SHOWCASE_QUERIES
            .iter()
            .any(|q| q.operators().iter().any(|op| op.name == name))
    }) {
        return Err(format!(
            "--initial: none of the showcase's queries has a tuned operator '{name}'"
        ));
    }
    let windows = o.seconds * 1000.0 / o.window_ms as f64;
    if feasible && windows < (2 * SKIP_WINDOWS) as f64 {
        return Err(format!(
            "feasible: a run of {} s has {windows:.0} windows of {} ms; the search judges a \
             run after its first {SKIP_WINDOWS}, and needs at least {}",
            o.seconds,
            o.window_ms,
            2 * SKIP_WINDOWS
        ));
    }
    if o.initial.max() > o.workers {
        return Err(format!(
            "--initial {} is more than --workers {}",
            o.initial.max(),
            o.workers
        ));
    }
    Ok(o)
}

/// Options of a policy for 1 s windows unless given: the Flink autoscaler's defaults are in
/// minutes (a 10-window metrics window and stabilisation, 5 windows of restart time here).
fn policy_opts(policy: &str, given: &[(String, f64)]) -> Vec<(String, f64)> {
    // `POLICY:NAME` options go to that policy only, plain `NAME` ones to every policy.
    let mut opts: Vec<(String, f64)> = given
        .iter()
        .filter_map(|(k, v)| match k.split_once(':') {
            Some((p, name)) if p == policy => Some((name.to_string(), *v)),
            Some(_) => None,
            None => Some((k.clone(), *v)),
        })
        .collect();
    if policy == "flink-autoscaler" {
        for (k, v) in [
            ("metrics.window", 10.0),
            ("stabilization.interval", 10.0),
            ("restart.time", 5.0),
        ] {
            if !opts.iter().any(|(n, _)| n == k) {
                opts.push((k.to_string(), v));
            }
        }
    }
    opts
}

fn run_config(o: &Options, query: Query, policy: &str, out: &Path) -> RunConfig {
    RunConfig {
        query,
        schedule: o.schedule.clone(),
        policy: policy.to_string(),
        policy_opts: policy_opts(policy, &o.opts),
        workers: o.workers,
        emulate: o.emulate,
        rate: o.rate,
        seconds: o.seconds,
        window: Duration::from_millis(o.window_ms),
        initial: o.initial.clone(),
        native_cost: if o.emulate.is_some() {
            Duration::ZERO
        } else {
            Duration::from_micros(o.cost_us)
        },
        seed: o.seed,
        slo_ms: o.slo_ms,
        history: out.join(format!("{query}-{policy}.history.sqlite")),
        endpoint: o.endpoint.clone(),
        job: format!("nexmark-{query}-{policy}"),
    }
}

fn progress_line(cfg: &RunConfig, w: &WindowRecord, names: &[String], d: Option<&DecisionRecord>) {
    let mut line = format!(
        "[{} {:>16}] t={:>5.0}s rate={:>6.0}/s Σp={:>3}",
        cfg.query,
        cfg.policy,
        w.t_s,
        w.rate,
        w.ops.iter().map(|o| o.parallelism).sum::<usize>()
    );
    let ps: Vec<String> = names
        .iter()
        .zip(&w.ops)
        .map(|(n, o)| format!("{n}={}", o.parallelism))
        .collect();
    let _ = write!(line, " ({}) lag={:>5.2}s", ps.join(" "), w.lag_ms / 1e3);
    let queued: Vec<String> = names
        .iter()
        .zip(&w.ops)
        .filter(|(_, o)| o.queued > w.events / 4)
        .map(|(n, _)| n.clone())
        .collect();
    if !queued.is_empty() {
        let _ = write!(line, " backlog: {}", queued.join(","));
    }
    if let Some(d) = d {
        if d.window + 1 >= w.index {
            let reason: String = d.reason.chars().take(70).collect();
            let _ = write!(line, " | decision #{}: {reason}", d.seq);
        }
    }
    eprintln!("{line}");
}

fn write(path: &Path, content: &str) -> Result<(), String> {
    std::fs::write(path, content).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// A finished run: its record and summary (which names the query and policy).
type Row = (RunRecord, Summary);

/// Runs the given (query, policy) jobs (concurrently unless sequential); returns their rows
/// in the order given.
fn run_jobs(o: &Options, jobs: &[(Query, String)], out: &Path) -> Result<Vec<Row>, String> {
    let progress: Option<ProgressFn> = if o.quiet {
        None
    } else {
        Some(Arc::new(progress_line))
    };
    let configs: Vec<RunConfig> = jobs
        .iter()
        .map(|(q, p)| run_config(o, *q, p, out))
        .collect();
    for c in &configs {
        let _ = std::fs::remove_file(&c.history);
    }
    let results: Vec<Result<RunRecord, String>> = if o.sequential || configs.len() == 1 {
        configs
            .iter()
            .map(|c| harness::run(c, progress.clone()))
            .collect()
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = configs
                .iter()
                .map(|c| {
                    let p = progress.clone();
                    s.spawn(move || harness::run(c, p))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("a run panicked".into())))
                .collect()
        })
    };
    let mut rows = Vec::new();
    for (c, r) in configs.iter().zip(results) {
        let record = r?;
        let summary = report::summarize(c, &record);
        write(
            &out.join(format!("{}-{}.windows.csv", c.query, c.policy)),
            &report::windows_csv(&record),
        )?;
        if let Some(why) = &record.tuning_disabled {
            eprintln!(
                "warning: {} {}: tuning was disabled: {why}",
                c.query, c.policy
            );
        }
        rows.push((record, summary));
    }
    Ok(rows)
}

fn table(rows: &[Row]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{:<5} {:<17} {:>8} {:>7} {:>7} {:>6} {:>8} {:>8} {:>8} {:>7} {:>7} {:>9} {:>8}",
        "query",
        "policy",
        "reconfig",
        "max",
        "clairv",
        "Σp",
        "Σp conv",
        "oracle",
        "Σp/orc",
        "bneck",
        "stable",
        "p99 ms",
        "SLO viol"
    );
    for (_, s) in rows {
        let opt =
            |x: Option<f64>, prec: usize| x.map_or("-".to_string(), |v| format!("{v:.prec$}"));
        let _ = writeln!(
            t,
            "{:<5} {:<17} {:>8.2} {:>7} {:>7} {:>6.1} {:>8} {:>8} {:>8} {:>7} {:>7.1} {:>9.0} {:>8}",
            s.query,
            s.policy,
            s.reconfigs_mean,
            s.reconfigs_max,
            opt(s.clairvoyant_reconfigs_mean, 2),
            s.parallelism_sum,
            opt(s.parallelism_sum_after_convergence, 1),
            opt(s.oracle_sum, 1),
            opt(s.parallelism_over_oracle, 3),
            s.bottleneck_windows_after_convergence,
            s.time_to_stable_windows,
            s.latency_p99_ms,
            s.slo_violation_windows
        );
    }
    t
}

fn summary_json(o: &Options, query: Query, rows: &[Row]) -> String {
    let per: Vec<String> = rows
        .iter()
        .map(|(_, s)| format!("\"{}\": {}", s.policy, s.to_json()))
        .collect();
    format!(
        "{{\"policies\": {{{}}}, \"query\": \"{query}\", \"schedule\": \"{}\", \"workers\": {}, \"mode\": \"{}\", \"seconds\": {}, \"rate\": {}, \"seed\": {}}}\n",
        per.join(", "),
        o.schedule,
        o.workers,
        if o.emulate.is_some() { "emulated" } else { "native" },
        o.seconds,
        o.rate,
        o.seed
    )
}

fn plot_rows(o: &Options, path: &Path, title: &str, rows: &[Row]) -> Result<(), String> {
    let runs: Vec<(String, &RunRecord)> = rows.iter().map(|(r, s)| (s.policy.clone(), r)).collect();
    plot::comparison_png(path, title, &runs, o.slo_ms / 1e3)
}

fn cmd_run_or_compare(o: &Options) -> Result<(), String> {
    let out = o
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("runs/{}-{}", o.command, o.query)));
    std::fs::create_dir_all(&out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    eprintln!(
        "{} {}: {} under {} at {:.0} events/s, {} workers, {} mode, {:.0} s; output in {}",
        o.command,
        o.query,
        o.query.description(),
        o.schedule,
        o.rate,
        o.workers,
        if o.emulate.is_some() {
            "emulated"
        } else {
            "native"
        },
        o.seconds,
        out.display()
    );
    let jobs: Vec<(Query, String)> = o.policies.iter().map(|p| (o.query, p.clone())).collect();
    let rows = run_jobs(o, &jobs, &out)?;
    let json = summary_json(o, o.query, &rows);
    write(&out.join("summary.json"), &json)?;
    if let Some(p) = &o.json {
        write(p, &json)?;
    }
    let png = out.join(format!("{}.png", o.query));
    let title = format!(
        "Nexmark {} ({}), {}, {} workers, {}",
        o.query,
        o.query.description(),
        o.schedule,
        o.workers,
        if o.emulate.is_some() {
            "emulated"
        } else {
            "native"
        }
    );
    plot_rows(o, &png, &title, &rows)?;
    print!("{}", table(&rows));
    println!("summary: {}", out.join("summary.json").display());
    println!(
        "windows: {}",
        out.join(format!("{}-*.windows.csv", o.query)).display()
    );
    println!("plot:    {}", png.display());
    Ok(())
}

fn cmd_showcase(o: &Options) -> Result<(), String> {
    let out = o
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs/showcase"));
    std::fs::create_dir_all(&out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let mut o = o.clone();
    o.policies = vec!["streamtune".into(), "ds2".into(), "flink-autoscaler".into()];
    let queries = SHOWCASE_QUERIES;
    eprintln!(
        "showcase: {} under {}, {} workers, emulated capacity, {:.0} s, policies {}: {} jobs \
         {}; output in {}",
        queries.map(|q| q.to_string()).join(", "),
        o.schedule,
        o.workers,
        o.seconds,
        o.policies.join(", "),
        queries.len() * o.policies.len(),
        if o.sequential {
            "one after the other"
        } else {
            "at once"
        },
        out.display()
    );
    // All nine jobs at once (unless --sequential): capacities are emulated (virtual service
    // time), so the jobs do not compete for them, and the showcase takes one run's time.
    let jobs: Vec<(Query, String)> = queries
        .iter()
        .flat_map(|q| o.policies.iter().map(move |p| (*q, p.clone())))
        .collect();
    let all = run_jobs(&o, &jobs, &out)?;
    let mut pngs = Vec::new();
    let mut jsons = Vec::new();
    for (q, rows) in queries.iter().zip(all.chunks(o.policies.len())) {
        let png = out.join(format!("{q}.png"));
        plot_rows(
            &o,
            &png,
            &format!(
                "Nexmark {q} ({}), {}, {} workers",
                q.description(),
                o.schedule,
                o.workers
            ),
            rows,
        )?;
        pngs.push(png);
        jsons.push(format!(
            "\"{q}\": {}",
            summary_json(&o, *q, rows).trim_end()
        ));
    }
    let summary = format!("{{{}}}\n", jsons.join(", "));
    write(&out.join("summary.json"), &summary)?;
    if let Some(p) = &o.json {
        write(p, &summary)?;
    }
    println!();
    print!("{}", table(&all));
    println!("summary: {}", out.join("summary.json").display());
    for p in pngs {
        println!("plot:    {}", p.display());
    }
    Ok(())
}

fn feasible_search(o: &Options, factor: f64, out: &Path) -> Result<AtRate, String> {
    let q = o.query;
    let mut cfg = run_config(o, q, "static", out);
    cfg.schedule = Schedule::Constant;
    cfg.rate = o.rate * factor;
    cfg.history = out.join(format!("{q}-x{factor}.history.sqlite"));
    cfg.job = format!("nexmark-{q}-feasible-x{factor}");
    let bounds = Search {
        skip: SKIP_WINDOWS,
        max_runs: o.max_runs,
        workers: o.workers,
        slo_ms: o.slo_ms,
        window_s: o.window_ms as f64 / 1000.0,
    };
    let mut run_index = 0;
    let run = |config: &[usize]| -> Result<RunRecord, String> {
        cfg.initial = Initial {
            all: 1,
            named: q
                .operators()
                .iter()
                .zip(config)
                .map(|(op, &p)| (op.name.to_string(), p))
                .collect(),
        };
        let _ = std::fs::remove_file(&cfg.history);
        let record = harness::run(&cfg, None)?;
        let name = if run_index == 0 {
            "probe".to_string()
        } else {
            format!("run{run_index}")
        };
        write(
            &out.join(format!("{q}-x{factor}-{name}.windows.csv")),
            &report::windows_csv(&record),
        )?;
        run_index += 1;
        Ok(record)
    };
    // A line a run even with --quiet (which silences the per-window lines): the search is
    // long work.
    let tell = |t: &Trial| {
        let next = match (t.violations, t.raised) {
            (0, _) => "clean".to_string(),
            (_, Some(op)) => format!("raising {}", q.operators()[op].name),
            (_, None) => "nothing left to raise".to_string(),
        };
        eprintln!(
            "[{q} x{factor}] {}: {} SLO window(s); {next}",
            config_text(q, &t.config),
            t.violations
        );
    };
    let result = feasible::search(q.operators().len(), &bounds, run, tell)?;
    let _ = std::fs::remove_file(out.join(format!("{q}-x{factor}.history.sqlite")));
    Ok(AtRate {
        factor,
        rate: o.rate * factor,
        result,
    })
}

fn cmd_feasible(o: &Options) -> Result<(), String> {
    let q = o.query;
    let out = o
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("runs/feasible-{q}")));
    std::fs::create_dir_all(&out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let factors: Vec<String> = o.factors.iter().map(|f| format!("{f}")).collect();
    eprintln!(
        "feasible {q}: the least static configuration without SLO violation at {} x {:.0} \
         events/s, {} workers, emulated, {:.0} s a run, at most {} runs a factor {}; output in {}",
        factors.join(", "),
        o.rate,
        o.workers,
        o.seconds,
        o.max_runs + 1,
        if o.sequential {
            "one after the other"
        } else {
            "(factors at once)"
        },
        out.display()
    );
    let results: Vec<Result<AtRate, String>> = if o.sequential || o.factors.len() == 1 {
        o.factors
            .iter()
            .map(|&f| feasible_search(o, f, &out))
            .collect()
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = o
                .factors
                .iter()
                .map(|&f| {
                    let out = &out;
                    s.spawn(move || feasible_search(o, f, out))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("a search panicked".into())))
                .collect()
        })
    };
    let rows = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    let setting = RunSetting {
        workers: o.workers,
        seconds: o.seconds,
        slo_ms: o.slo_ms,
        seed: o.seed,
    };
    let json = feasible::json(q, &setting, &rows);
    write(&out.join("feasible.json"), &json)?;
    if let Some(p) = &o.json {
        write(p, &json)?;
    }
    print!("{}", feasible::table(q, &rows));
    println!("summary: {}", out.join("feasible.json").display());
    println!(
        "windows: {}",
        out.join(format!("{q}-x*-*.windows.csv")).display()
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse(&args) {
        Ok(o) => o,
        Err(e) if e.is_empty() => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("nexmark: {e}\n(see nexmark --help)");
            return ExitCode::from(2);
        }
    };
    if let Some(m) = &o.model {
        // The in-process endpoint's streamtune policy reads it (plugin/src/model.c).
        std::env::set_var("STREAMTUNE_MODEL", m);
    }
    let result = match o.command.as_str() {
        "queries" => {
            for q in ALL_QUERIES {
                let ops: Vec<String> = q
                    .operators()
                    .iter()
                    .map(|op| format!("{} ({:.0}/s)", op.name, op.capacity))
                    .collect();
                let merged = match q.local_combiners() {
                    [] => String::new(),
                    names => format!("; local pre-aggregation: {}", names.join(", ")),
                };
                println!(
                    "{q}  {:<80}  tuned: {}{merged}",
                    q.description(),
                    ops.join(", ")
                );
            }
            Ok(())
        }
        "showcase" => cmd_showcase(&o),
        "feasible" => cmd_feasible(&o),
        _ => cmd_run_or_compare(&o),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nexmark: {e}");
            ExitCode::FAILURE
        }
    }
}
