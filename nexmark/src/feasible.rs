//! The least static configuration that keeps a query within its SLO at a constant rate,
//! found by running it (emulated capacities). The oracle has no headroom by design (DESIGN
//! §8): it lets a hot key overload an instance for a few windows as long as its span of
//! windows averages out, which the lag shows as growth. This is the reference on the other
//! side: what a static configuration must spend for no SLO violation at all, so that a
//! policy's Σp can be read against both.
//!
//! The search starts every operator at its mean oracle rounded down (from a probe run at full
//! parallelism, whose operators all see their true demand) and raises, one instance a run,
//! the operator whose queue held the most seconds of its input over the violating windows,
//! until a run has no violation after its first `skip` windows.

use crate::harness::RunRecord;
use crate::report::slo_violation_windows;

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

    /// The clean configuration.
    pub fn config(&self) -> Option<&[usize]> {
        self.found.map(|i| self.trials[i].config.as_slice())
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

/// The operator to raise after a violating run: the one whose queue held the most seconds of
/// its input, summed over the violating windows, among those below `workers` (upstream first
/// on a tie).
fn to_raise(r: &RunRecord, violating: &[usize], config: &[usize], workers: usize) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (op, &p) in config.iter().enumerate() {
        if p >= workers {
            continue;
        }
        let held: f64 = violating
            .iter()
            .map(|&i| {
                let o = &r.windows[i].ops[op];
                let served: u64 = o.bin_records.iter().sum();
                o.queued as f64 / served.max(1) as f64
            })
            .sum();
        if best.is_none_or(|(_, b)| held > b) {
            best = Some((op, held));
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
            to_raise(&r, &violating, &config, s.workers)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::{OpWindow, WindowRecord};

    /// A run of two operators needing `need` instances: an operator below its need queues a
    /// growing backlog and the lag grows with the worse one's; at or above it, no queue.
    fn job(config: &[usize], need: &[usize], oracle: &[usize]) -> RunRecord {
        let mut r = RunRecord {
            operators: vec!["a".into(), "b".into()],
            ..Default::default()
        };
        for i in 0..20u64 {
            let ops: Vec<OpWindow> = config
                .iter()
                .zip(need)
                .zip(oracle)
                .map(|((&p, &n), &o)| OpWindow {
                    parallelism: p,
                    queued: if p < n { 100 * (n - p) as u64 * i } else { 0 },
                    bin_records: vec![1000],
                    oracle: Some(o),
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
        }
    }

    #[test]
    fn raises_the_operator_holding_the_backlog_until_clean() {
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
        // From the oracle: b holds more backlog (two instances short); then both are one
        // short and a, upstream, goes first; then b.
        assert_eq!(f.config(), Some(&[3, 6][..]));
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
        assert!(f.config().is_none());
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
