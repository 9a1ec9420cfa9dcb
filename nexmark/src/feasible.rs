//! The least static configuration that keeps a query within its SLO at a constant rate,
//! found by running it (emulated capacities). The oracle has no headroom by design (DESIGN
//! §8): it lets a hot key overload an instance for a few windows as long as its span of
//! windows averages out, which the lag shows as growth. This is the reference on the other
//! side: what a static configuration must spend for no SLO violation at all, so that a
//! policy's Σp can be read against both.
//!
//! The search starts every operator at its mean oracle rounded down (from a probe run at full
//! parallelism, whose operators all see their true demand) and raises, one instance a run,
//! the busiest operator, until a run has no violation after its first `skip` windows. The
//! busiest is the one whose hottest instance carries the most load for its capacity, its
//! window's arrivals spread over the instances by the bin map the shim uses at that
//! parallelism. (Its queue does not tell: Q3's join, hot-keyed, held the most seconds of
//! input at 3 instances and at 8 alike, while the persons operator at 96 % of its capacity
//! was what violated.)

use std::fmt::Write as _;

use streamtune_shim::tuned::{BinMap, DEFAULT_BINS};

use crate::harness::RunRecord;
use crate::queries::Query;
use crate::report::slo_violation_windows;

/// Windows at the start of a run that `nexmark feasible` does not judge (the job's start).
pub const SKIP_WINDOWS: usize = 5;

/// What bounds the search.
#[derive(Clone, Debug)]
pub struct Search {
    /// Windows at the start of a run that are not judged (the job's own start).
    pub skip: usize,
    /// Runs after the probe, at most.
    pub max_runs: usize,
    /// Parallelism at most (and the probe's).
    pub workers: usize,
    pub slo_ms: f64,
    /// Window length, seconds.
    pub window_s: f64,
}

/// One run of the search: its configuration and its SLO-violation windows (after `skip`).
#[derive(Clone, Debug, PartialEq)]
pub struct Trial {
    pub config: Vec<usize>,
    pub violations: usize,
    /// Σp over the oracle's Σ, averaged over the judged windows as the comparison averages
    /// an episode's (None without an oracle in a window).
    pub over_oracle: Option<f64>,
    /// The operator raised after it (None: clean, or nothing left to raise).
    pub raised: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct Feasible {
    /// Mean oracle parallelism per operator over the probe's judged windows.
    pub oracle: Vec<f64>,
    pub trials: Vec<Trial>,
    /// The clean trial's index (None: none within the bounds).
    pub found: Option<usize>,
}

impl Feasible {
    pub fn oracle_sum(&self) -> f64 {
        self.oracle.iter().sum()
    }

    /// The trial that kept the SLO.
    pub fn clean(&self) -> Option<&Trial> {
        self.found.map(|i| &self.trials[i])
    }

    /// The last trial that violated the SLO: the evidence that less does not do.
    pub fn below(&self) -> Option<&Trial> {
        self.trials.iter().rev().find(|t| t.violations > 0)
    }
}

/// The mean over windows `skip..` of Σp / the oracle's Σ.
fn over_oracle(r: &RunRecord, config: &[usize], skip: usize) -> Option<f64> {
    let judged = r.windows.get(skip..).filter(|w| !w.is_empty())?;
    let sum_p: usize = config.iter().sum();
    let mut total = 0.0;
    for w in judged {
        let oracle: usize = w.ops.iter().map(|o| o.oracle).sum::<Option<usize>>()?;
        total += sum_p as f64 / oracle.max(1) as f64;
    }
    Some(total / judged.len() as f64)
}

/// Mean oracle per operator over windows `skip..` (None if a window has no oracle: native
/// mode).
fn mean_oracle(r: &RunRecord, skip: usize) -> Option<Vec<f64>> {
    let judged = r.windows.get(skip..).filter(|w| !w.is_empty())?;
    let mut sum = vec![0.0; r.operators.len()];
    for w in judged {
        for (s, o) in sum.iter_mut().zip(&w.ops) {
            *s += o.oracle? as f64;
        }
    }
    Some(sum.iter().map(|s| s / judged.len() as f64).collect())
}

/// Operator `op`'s hottest instance at parallelism `p`: its load over its capacity, averaged
/// over the judged windows (None without a capacity: native mode). A window's arrivals are
/// what the operator processed plus the growth of its queue, spread over the bins as what it
/// processed was.
fn hottest_utilization(r: &RunRecord, op: usize, p: usize, s: &Search) -> Option<f64> {
    let capacity = r.capacities.get(op).copied().flatten()?;
    let map = BinMap::for_operator(&r.operators[op], DEFAULT_BINS, s.workers, p);
    let judged = r.windows.get(s.skip.max(1)..).filter(|w| !w.is_empty())?;
    let mut total = 0.0;
    let mut prev_queued = r.windows[s.skip.max(1) - 1].ops[op].queued as f64;
    for w in judged {
        let o = &w.ops[op];
        let processed: u64 = o.bin_records.iter().sum();
        let arrived = (processed as f64 + o.queued as f64 - prev_queued).max(0.0);
        prev_queued = o.queued as f64;
        let mut load = vec![0u64; s.workers];
        for (b, &n) in o.bin_records.iter().enumerate() {
            load[map.owner(b)] += n;
        }
        let hottest = *load.iter().max().unwrap_or(&0) as f64;
        let scale = if processed > 0 {
            arrived / processed as f64
        } else {
            0.0
        };
        total += hottest * scale / (capacity * s.window_s);
    }
    Some(total / judged.len() as f64)
}

/// The operator to raise after a violating run: the busiest (see `hottest_utilization`) among
/// those below `workers`, upstream first on a tie.
fn to_raise(r: &RunRecord, config: &[usize], s: &Search) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (op, &p) in config.iter().enumerate() {
        if p >= s.workers {
            continue;
        }
        let busy = hottest_utilization(r, op, p, s).unwrap_or(0.0);
        if best.is_none_or(|(_, b)| busy > b) {
            best = Some((op, busy));
        }
    }
    best.map(|(op, _)| op)
}

/// Runs the search; `run` runs the job with one parallelism per tuned operator and returns
/// its record (with oracles); `report` hears of every trial as it ends.
pub fn search(
    operators: usize,
    s: &Search,
    mut run: impl FnMut(&[usize]) -> Result<RunRecord, String>,
    mut report: impl FnMut(&Trial),
) -> Result<Feasible, String> {
    if operators == 0 || s.workers == 0 {
        return Err("nothing to search: no tuned operator or no worker".into());
    }
    let probe = run(&vec![s.workers; operators])?;
    let oracle = mean_oracle(&probe, s.skip).ok_or(
        "the search needs the oracle (emulated capacities) and a run longer than its skipped \
         windows",
    )?;
    let mut config: Vec<usize> = oracle
        .iter()
        .map(|&o| (o.floor() as usize).clamp(1, s.workers))
        .collect();
    let mut f = Feasible {
        oracle,
        trials: Vec::new(),
        found: None,
    };
    for _ in 0..s.max_runs {
        let r = run(&config)?;
        let violating = slo_violation_windows(&r, s.slo_ms, s.skip);
        let raised = if violating.is_empty() {
            None
        } else {
            to_raise(&r, &config, s)
        };
        let trial = Trial {
            over_oracle: over_oracle(&r, &config, s.skip),
            config: config.clone(),
            violations: violating.len(),
            raised,
        };
        report(&trial);
        f.trials.push(trial);
        if violating.is_empty() {
            f.found = Some(f.trials.len() - 1);
            break;
        }
        match raised {
            Some(op) => config[op] += 1,
            None => break,
        }
    }
    Ok(f)
}

/// One rate's search, with what it needs to be reported.
pub struct AtRate {
    /// Of the base rate.
    pub factor: f64,
    /// Events/s.
    pub rate: f64,
    pub result: Feasible,
}

/// What the JSON records of the runs besides their results.
pub struct RunSetting {
    pub workers: usize,
    pub seconds: f64,
    pub slo_ms: f64,
    pub seed: u64,
}

/// `op=p,...` for a configuration of `q`'s tuned operators.
pub fn config_text(q: Query, config: &[usize]) -> String {
    q.operators()
        .iter()
        .zip(config)
        .map(|(op, p)| format!("{}={p}", op.name))
        .collect::<Vec<_>>()
        .join(",")
}

/// The searches as a table: one line a rate.
pub fn table(q: Query, rows: &[AtRate]) -> String {
    let mut t = format!(
        "{:<5} {:>6} {:>8} {:>9} {:<28} {:>4} {:>7} {:>5}  less\n",
        "query", "factor", "rate", "oracle Σ", "least clean static", "Σp", "Σp/orc", "runs"
    );
    for r in rows {
        let f = &r.result;
        let clean = f.clean();
        let (config, sum, ratio) = match clean {
            Some(c) => (
                config_text(q, &c.config),
                c.config.iter().sum::<usize>().to_string(),
                c.over_oracle.map_or("-".into(), |x| format!("{x:.2}")),
            ),
            None => ("none found".to_string(), "-".into(), "-".into()),
        };
        let below = f.below().map_or("-".to_string(), |b| {
            format!(
                "{}: {} SLO windows",
                config_text(q, &b.config),
                b.violations
            )
        });
        let _ = writeln!(
            t,
            "{:<5} {:>6.2} {:>8.0} {:>9.2} {:<28} {:>4} {:>7} {:>5}  {}",
            q,
            r.factor,
            r.rate,
            f.oracle_sum(),
            config,
            sum,
            ratio,
            f.trials.len() + 1,
            below
        );
    }
    t
}

/// The searches as JSON: every rate's oracle, clean configuration and trials.
pub fn json(q: Query, setting: &RunSetting, rows: &[AtRate]) -> String {
    let ops = |config: &[usize]| -> String {
        let fields: Vec<String> = q
            .operators()
            .iter()
            .zip(config)
            .map(|(op, p)| format!("\"{}\": {p}", op.name))
            .collect();
        format!("{{{}}}", fields.join(", "))
    };
    let ratio = |t: &Trial| t.over_oracle.map_or("null".into(), |x| format!("{x}"));
    let per: Vec<String> = rows
        .iter()
        .map(|r| {
            let f = &r.result;
            let clean = f.clean();
            let (config, sum, over) = match clean {
                Some(c) => (
                    ops(&c.config),
                    c.config.iter().sum::<usize>().to_string(),
                    ratio(c),
                ),
                None => ("null".into(), "null".into(), "null".into()),
            };
            let oracle: Vec<String> = f.oracle.iter().map(|x| format!("{x}")).collect();
            let trials: Vec<String> = f
                .trials
                .iter()
                .map(|t| {
                    format!(
                        "{{\"config\": {}, \"slo_violation_windows\": {}, \"over_oracle\": {}}}",
                        ops(&t.config),
                        t.violations,
                        ratio(t)
                    )
                })
                .collect();
            format!(
                "{{\"factor\": {}, \"rate\": {}, \"oracle\": [{}], \"oracle_sum\": {}, \
                 \"config\": {config}, \"parallelism_sum\": {sum}, \"over_oracle\": {over}, \
                 \"trials\": [{}]}}",
                r.factor,
                r.rate,
                oracle.join(", "),
                f.oracle_sum(),
                trials.join(", ")
            )
        })
        .collect();
    format!(
        "{{\"query\": \"{q}\", \"workers\": {}, \"seconds\": {}, \"skip_windows\": {SKIP_WINDOWS}, \"slo_ms\": {}, \"seed\": {}, \"factors\": [{}]}}\n",
        setting.workers,
        setting.seconds,
        setting.slo_ms,
        setting.seed,
        per.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::{OpWindow, WindowRecord};

    /// A run of two operators, `per_bin` records per bin and window each (256 bins, capacity
    /// `capacity` records/s, 1 s windows), so that at `p` instances the hottest carries
    /// ceil(256 / p) bins' worth. An operator below its `need` queues a growing backlog and
    /// the lag grows with the worse one's; at or above it, no queue.
    fn job(config: &[usize], need: &[usize], oracle: &[usize]) -> RunRecord {
        let per_bin = [1u64, 2];
        let capacity = [100.0, 95.0];
        let mut r = RunRecord {
            operators: vec!["a".into(), "b".into()],
            capacities: capacity.iter().map(|&c| Some(c)).collect(),
            ..Default::default()
        };
        for i in 0..20u64 {
            let ops: Vec<OpWindow> = (0..2)
                .map(|k| OpWindow {
                    parallelism: config[k],
                    queued: if config[k] < need[k] {
                        100 * (need[k] - config[k]) as u64 * i
                    } else {
                        0
                    },
                    bin_records: vec![per_bin[k]; DEFAULT_BINS],
                    oracle: Some(oracle[k]),
                })
                .collect();
            let lag = ops.iter().map(|o| o.queued as f64).fold(0.0, f64::max);
            r.windows.push(WindowRecord {
                index: i,
                ops,
                lag_ms: lag,
                ..Default::default()
            });
        }
        r
    }

    fn bounds(max_runs: usize) -> Search {
        Search {
            skip: 3,
            max_runs,
            workers: 8,
            slo_ms: 1000.0,
            window_s: 1.0,
        }
    }

    #[test]
    fn the_hottest_instance_carries_its_bins_and_the_queue_growth() {
        let r = job(&[2, 4], &[3, 6], &[2, 4]);
        let s = bounds(1);
        // a: 128 of 256 bins at 1 record, arrivals 356 of 256 processed, capacity 100.
        let a = hottest_utilization(&r, 0, 2, &s).unwrap();
        assert!((a - 1.28 * 356.0 / 256.0).abs() < 1e-9, "{a}");
        // b: 64 bins at 2 records, arrivals 712 of 512, capacity 95.
        let b = hottest_utilization(&r, 1, 4, &s).unwrap();
        assert!((b - 128.0 / 95.0 * 712.0 / 512.0).abs() < 1e-9, "{b}");
        assert_eq!(to_raise(&r, &[2, 4], &s), Some(1));
        let mut native = r.clone();
        native.capacities = vec![None, None];
        assert_eq!(hottest_utilization(&native, 0, 2, &s), None);
    }

    #[test]
    fn raises_the_busiest_operator_until_clean() {
        let need = [3, 6];
        let mut runs = Vec::new();
        let f = search(
            2,
            &bounds(10),
            |c| {
                runs.push(c.to_vec());
                Ok(job(c, &need, &[2, 4]))
            },
            |_| {},
        )
        .unwrap();
        assert_eq!(runs[0], vec![8, 8], "the probe runs at full parallelism");
        assert_eq!(f.oracle, vec![2.0, 4.0]);
        // From the oracle: b is the busier (its hottest instance at 1.88 x its capacity, a's
        // at 1.78); then a (1.78 against 1.30); then b.
        assert_eq!(f.clean().map(|t| t.config.clone()), Some(vec![3, 6]));
        let configs: Vec<Vec<usize>> = f.trials.iter().map(|t| t.config.clone()).collect();
        assert_eq!(
            configs,
            vec![vec![2, 4], vec![2, 5], vec![3, 5], vec![3, 6]]
        );
        let raised: Vec<Option<usize>> = f.trials.iter().map(|t| t.raised).collect();
        assert_eq!(raised, vec![Some(1), Some(0), Some(1), None]);
        assert_eq!(f.below().map(|t| t.config.clone()), Some(vec![3, 5]));
        assert_eq!(f.trials[3].over_oracle, Some(9.0 / 6.0));
    }

    #[test]
    fn stops_at_its_bound_of_runs_without_a_configuration() {
        let f = search(2, &bounds(1), |c| Ok(job(c, &[3, 5], &[2, 4])), |_| {}).unwrap();
        assert_eq!(f.found, None);
        assert_eq!(f.trials.len(), 1);
        assert!(f.clean().is_none());
    }

    #[test]
    fn no_oracle_is_an_error_not_a_guess() {
        let err = search(
            2,
            &bounds(3),
            |c| {
                let mut r = job(c, &[1, 1], &[1, 1]);
                r.windows[5].ops[0].oracle = None;
                Ok(r)
            },
            |_| {},
        )
        .unwrap_err();
        assert!(err.contains("oracle"), "{err}");
    }
}
