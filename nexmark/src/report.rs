//! The evaluation protocol of DESIGN §8 over a run's windows (the same accounting as the
//! plugin's `streamtune simulate --suite`, so the figures mean the same), the per-window CSV
//! and the JSON summary.

use std::fmt::Write as _;

use crate::clairvoyant;
use crate::harness::{RunConfig, RunRecord};

/// Windows a configuration must hold, with no bottleneck, to count as converged.
pub const W_STABLE: u64 = 10;
/// A relative change of the source rate factor that starts a new episode.
pub const EPISODE_THRESHOLD: f64 = 0.05;
/// The Σ parallelism, over the oracle's, within which the clairvoyant reference keeps a run:
/// the comparison's target for a tuned job after convergence.
pub const CLAIRVOYANT_HEADROOM: f64 = 1.10;

/// Episode accounting, fed one window at a time.
#[derive(Clone, Debug, Default)]
pub struct EvalAcc {
    open: bool,
    ep_windows: u64,
    ep_reconfigs: u64,
    stable_run: u64,
    converged: bool,
    converge_at: u64,
    ratio_sum: f64,
    ratio_n: u64,
    sum_p_sum: f64,
    sum_p_n: u64,
    pub episodes: u64,
    pub converged_episodes: u64,
    pub reconfigs_total: u64,
    pub reconfigs_max: u64,
    ratio_mean_sum: f64,
    sum_p_mean_sum: f64,
    pub bottleneck_after: u64,
    time_to_stable_sum: u64,
}

impl EvalAcc {
    fn finish(&mut self) {
        if !self.open {
            return;
        }
        self.episodes += 1;
        self.reconfigs_total += self.ep_reconfigs;
        self.reconfigs_max = self.reconfigs_max.max(self.ep_reconfigs);
        if self.converged {
            self.converged_episodes += 1;
            self.time_to_stable_sum += self.converge_at;
            if self.ratio_n > 0 {
                self.ratio_mean_sum += self.ratio_sum / self.ratio_n as f64;
            }
            if self.sum_p_n > 0 {
                self.sum_p_mean_sum += self.sum_p_sum / self.sum_p_n as f64;
            }
        } else {
            self.time_to_stable_sum += self.ep_windows;
        }
        self.open = false;
    }

    /// One window (see `stn__eval_acc_window` in plugin/src/evaluate.c).
    pub fn window(
        &mut self,
        new_episode: bool,
        reconfigured: bool,
        bottleneck: bool,
        sum_p: u64,
        oracle_sum: u64,
    ) {
        if new_episode || !self.open {
            self.finish();
            self.open = true;
            self.ep_windows = 0;
            self.ep_reconfigs = 0;
            self.stable_run = 0;
            self.converged = false;
            self.converge_at = 0;
            self.ratio_sum = 0.0;
            self.ratio_n = 0;
            self.sum_p_sum = 0.0;
            self.sum_p_n = 0;
        }
        self.ep_windows += 1;
        let ratio = (oracle_sum > 0).then(|| sum_p as f64 / oracle_sum as f64);
        if !self.converged {
            if bottleneck || reconfigured {
                self.stable_run = 0;
                self.ratio_sum = 0.0;
                self.ratio_n = 0;
                self.sum_p_sum = 0.0;
                self.sum_p_n = 0;
            } else {
                self.stable_run += 1;
                if let Some(r) = ratio {
                    self.ratio_sum += r;
                    self.ratio_n += 1;
                }
                self.sum_p_sum += sum_p as f64;
                self.sum_p_n += 1;
                if self.stable_run >= W_STABLE {
                    self.converged = true;
                    self.converge_at = self.ep_windows - self.stable_run;
                }
            }
        } else {
            if bottleneck {
                self.bottleneck_after += 1;
            }
            if let Some(r) = ratio {
                self.ratio_sum += r;
                self.ratio_n += 1;
            }
            self.sum_p_sum += sum_p as f64;
            self.sum_p_n += 1;
        }
        if reconfigured {
            self.ep_reconfigs += 1;
        }
    }
}

/// The summary of one run: the suite's keys plus the harness's own.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub policy: String,
    pub query: String,
    pub schedule: String,
    pub mode: String,
    pub workers: usize,
    pub windows: u64,
    pub episodes: u64,
    pub converged_episodes: u64,
    pub reconfigs_total: u64,
    pub reconfigs_mean: f64,
    pub reconfigs_max: u64,
    /// Emulated: the fewest reconfigurations (per episode, as `reconfigs_mean`) of a schedule
    /// that knows the run's oracle ahead, never goes under it and keeps Σp within
    /// `CLAIRVOYANT_HEADROOM` × the oracle's (see `clairvoyant`); else null.
    pub clairvoyant_reconfigs_mean: Option<f64>,
    /// Mean over converged episodes of Σp / oracle Σp after convergence (emulated; else null).
    pub parallelism_over_oracle: Option<f64>,
    pub bottleneck_windows_after_convergence: u64,
    pub time_to_stable_windows: f64,
    /// Mean Σ parallelism over all windows.
    pub parallelism_sum: f64,
    /// Mean Σ parallelism after convergence (converged episodes).
    pub parallelism_sum_after_convergence: Option<f64>,
    pub oracle_sum: Option<f64>,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub latency_max_ms: f64,
    pub slo_violation_windows: u64,
    pub slo_violation_windows_after_convergence: u64,
    pub decisions: u64,
    pub events: u64,
    pub tuning_disabled: Option<String>,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Lag growth over two windows that counts as falling behind: a tenth of real time.
const SLO_GROWTH_MS_PER_WINDOW: f64 = 100.0;

/// A window violates the SLO if its backlog lag exceeds the bound or keeps growing: up in
/// each of the last two windows and by more than a tenth of real time over them. (One
/// window's rise alone is within the jitter of a backlog lag of a few hundred milliseconds.)
fn slo_violated(lag: f64, prev_lags: [f64; 2], slo_ms: f64) -> bool {
    let growing = lag > prev_lags[0] && prev_lags[0] > prev_lags[1];
    lag > slo_ms || (growing && lag > prev_lags[1] + 2.0 * SLO_GROWTH_MS_PER_WINDOW)
}

/// Windows of `r` from index `from` on that violate the SLO (the lags before `from` still
/// count as history).
pub fn slo_violation_windows(r: &RunRecord, slo_ms: f64, from: usize) -> Vec<usize> {
    let mut prev_lags = [0.0f64; 2];
    let mut out = Vec::new();
    for (i, w) in r.windows.iter().enumerate() {
        if i >= from && slo_violated(w.lag_ms, prev_lags, slo_ms) {
            out.push(i);
        }
        prev_lags = [w.lag_ms, prev_lags[0]];
    }
    out
}

/// The clairvoyant reference's reconfigurations over the whole run, from the run's initial
/// setting (None without an oracle for every operator in every window).
fn clairvoyant_reconfigs(cfg: &RunConfig, r: &RunRecord) -> Option<u64> {
    let oracle: Option<Vec<Vec<u32>>> = r
        .windows
        .iter()
        .map(|w| w.ops.iter().map(|o| o.oracle.map(|p| p as u32)).collect())
        .collect();
    let start = cfg.start();
    let initial: Vec<u32> = r.operators.iter().map(|op| start.of(op) as u32).collect();
    clairvoyant::fewest_reconfigs(&oracle?, &initial, CLAIRVOYANT_HEADROOM)
}

/// Evaluates a run.
pub fn summarize(cfg: &RunConfig, r: &RunRecord) -> Summary {
    let mut acc = EvalAcc::default();
    let mut prev_factor: Option<f64> = None;
    let mut prev_lags = [0.0f64; 2]; // the last window's lag, the one before
    let (mut slo, mut slo_after) = (0u64, 0u64);
    let mut p_total = 0.0;
    let mut oracle_total = 0.0;
    let stepped = cfg.schedule.is_stepped();
    for w in &r.windows {
        let new_episode = match prev_factor {
            None => true,
            Some(f) => stepped && (w.factor - f).abs() > EPISODE_THRESHOLD * f.max(1e-9),
        };
        prev_factor = Some(w.factor);
        let sum_p: u64 = w.ops.iter().map(|o| o.parallelism as u64).sum();
        let oracle: u64 = w.ops.iter().map(|o| o.oracle.unwrap_or(0) as u64).sum();
        p_total += sum_p as f64;
        oracle_total += oracle as f64;
        let was_converged = acc.converged && !new_episode;
        acc.window(
            new_episode,
            w.reconfigured,
            !w.bottlenecks.is_empty(),
            sum_p,
            oracle,
        );
        if slo_violated(w.lag_ms, prev_lags, cfg.slo_ms) {
            slo += 1;
            if was_converged {
                slo_after += 1;
            }
        }
        prev_lags = [w.lag_ms, prev_lags[0]];
    }
    acc.finish();
    let mut lat = r.latencies_ms.clone();
    lat.sort_by(f64::total_cmp);
    let n = r.windows.len().max(1) as f64;
    let emulated = cfg.emulate.is_some();
    Summary {
        policy: cfg.policy.clone(),
        query: cfg.query.to_string(),
        schedule: cfg.schedule.to_string(),
        mode: if emulated { "emulated" } else { "native" }.into(),
        workers: cfg.workers,
        windows: r.windows.len() as u64,
        episodes: acc.episodes,
        converged_episodes: acc.converged_episodes,
        reconfigs_total: acc.reconfigs_total,
        reconfigs_mean: if acc.episodes > 0 {
            acc.reconfigs_total as f64 / acc.episodes as f64
        } else {
            0.0
        },
        reconfigs_max: acc.reconfigs_max,
        clairvoyant_reconfigs_mean: if emulated {
            clairvoyant_reconfigs(cfg, r).map(|k| k as f64 / acc.episodes.max(1) as f64)
        } else {
            None
        },
        parallelism_over_oracle: (emulated && acc.converged_episodes > 0)
            .then(|| acc.ratio_mean_sum / acc.converged_episodes as f64),
        bottleneck_windows_after_convergence: acc.bottleneck_after,
        time_to_stable_windows: if acc.episodes > 0 {
            acc.time_to_stable_sum as f64 / acc.episodes as f64
        } else {
            0.0
        },
        parallelism_sum: p_total / n,
        parallelism_sum_after_convergence: (acc.converged_episodes > 0)
            .then(|| acc.sum_p_mean_sum / acc.converged_episodes as f64),
        oracle_sum: emulated.then_some(oracle_total / n),
        latency_p50_ms: percentile(&lat, 0.5),
        latency_p99_ms: percentile(&lat, 0.99),
        latency_max_ms: lat.last().copied().unwrap_or(0.0),
        slo_violation_windows: slo,
        slo_violation_windows_after_convergence: slo_after,
        decisions: r.decisions.len() as u64,
        events: r.events,
        tuning_disabled: r.tuning_disabled.clone(),
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_num(x: f64) -> String {
    if x.is_finite() {
        let v = (x * 1e4).round() / 1e4;
        format!("{v}")
    } else {
        "null".into()
    }
}

fn json_opt(x: Option<f64>) -> String {
    x.map_or("null".into(), json_num)
}

impl Summary {
    /// One JSON object.
    pub fn to_json(&self) -> String {
        let fields: Vec<(&str, String)> = vec![
            ("policy", json_str(&self.policy)),
            ("query", json_str(&self.query)),
            ("schedule", json_str(&self.schedule)),
            ("mode", json_str(&self.mode)),
            ("workers", self.workers.to_string()),
            ("windows", self.windows.to_string()),
            ("episodes", self.episodes.to_string()),
            ("converged_episodes", self.converged_episodes.to_string()),
            ("reconfigs_total", self.reconfigs_total.to_string()),
            ("reconfigs_mean", json_num(self.reconfigs_mean)),
            ("reconfigs_max", self.reconfigs_max.to_string()),
            (
                "clairvoyant_reconfigs_mean",
                json_opt(self.clairvoyant_reconfigs_mean),
            ),
            (
                "parallelism_over_oracle",
                json_opt(self.parallelism_over_oracle),
            ),
            (
                "bottleneck_windows_after_convergence",
                self.bottleneck_windows_after_convergence.to_string(),
            ),
            (
                "time_to_stable_windows",
                json_num(self.time_to_stable_windows),
            ),
            ("parallelism_sum", json_num(self.parallelism_sum)),
            (
                "parallelism_sum_after_convergence",
                json_opt(self.parallelism_sum_after_convergence),
            ),
            ("oracle_sum", json_opt(self.oracle_sum)),
            ("latency_p50_ms", json_num(self.latency_p50_ms)),
            ("latency_p99_ms", json_num(self.latency_p99_ms)),
            ("latency_max_ms", json_num(self.latency_max_ms)),
            (
                "slo_violation_windows",
                self.slo_violation_windows.to_string(),
            ),
            (
                "slo_violation_windows_after_convergence",
                self.slo_violation_windows_after_convergence.to_string(),
            ),
            ("decisions", self.decisions.to_string()),
            ("events", self.events.to_string()),
            (
                "tuning_disabled",
                self.tuning_disabled
                    .as_deref()
                    .map_or("null".into(), json_str),
            ),
        ];
        let body: Vec<String> = fields
            .into_iter()
            .map(|(k, v)| format!("{}: {v}", json_str(k)))
            .collect();
        format!("{{{}}}", body.join(", "))
    }
}

/// The CSV of every window: one row per window, per-operator columns.
pub fn windows_csv(r: &RunRecord) -> String {
    let mut out = String::from("window,t_s,rate,factor,events,parallelism_sum,oracle_sum,lag_ms,output_lag_ms,latency_max_ms,decisions,reconfigured,bottlenecks");
    for name in &r.operators {
        let _ = write!(
            out,
            ",{name}.p,{name}.oracle,{name}.queued,{name}.processed"
        );
    }
    out.push('\n');
    for w in &r.windows {
        let sum_p: usize = w.ops.iter().map(|o| o.parallelism).sum();
        let oracle: Option<usize> = w.ops.iter().map(|o| o.oracle).sum();
        let _ = write!(
            out,
            "{},{:.1},{:.1},{:.3},{},{},{},{:.1},{:.1},{:.1},{},{},{}",
            w.index,
            w.t_s,
            w.rate,
            w.factor,
            w.events,
            sum_p,
            oracle.map_or(String::new(), |o| o.to_string()),
            w.lag_ms,
            w.output_lag_ms,
            w.latency_max_ms,
            w.decisions,
            u8::from(w.reconfigured),
            w.bottlenecks.join(" ")
        );
        for o in &w.ops {
            let _ = write!(
                out,
                ",{},{},{},{}",
                o.parallelism,
                o.oracle.map_or(String::new(), |x| x.to_string()),
                o.queued,
                o.bin_records.iter().sum::<u64>()
            );
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converges_after_a_stable_run_and_counts_what_follows() {
        let mut a = EvalAcc::default();
        // Episode 1: two reconfigurations, then stable at 12 vs oracle 10, one late bottleneck.
        a.window(true, true, true, 4, 10);
        a.window(false, true, true, 8, 10);
        for _ in 0..W_STABLE {
            a.window(false, false, false, 12, 10);
        }
        a.window(false, false, true, 12, 10);
        // Episode 2: never converges.
        a.window(true, true, true, 12, 20);
        a.window(false, false, true, 16, 20);
        a.finish();
        assert_eq!((a.episodes, a.converged_episodes), (2, 1));
        assert_eq!((a.reconfigs_total, a.reconfigs_max), (3, 2));
        assert_eq!(a.bottleneck_after, 1);
        assert!((a.ratio_mean_sum - 1.2).abs() < 1e-9);
        assert_eq!(a.time_to_stable_sum, 2 + 2);
    }

    /// Violations over a series, the windows before it at its first lag.
    fn violations(lags: &[f64]) -> usize {
        let mut prev = [lags[0]; 2];
        lags.iter()
            .filter(|&&l| {
                let v = slo_violated(l, prev, 1000.0);
                prev = [l, prev[0]];
                v
            })
            .count()
    }

    #[test]
    fn slo_counts_lag_over_the_bound_and_sustained_growth_not_jitter() {
        // A backlog lag jittering by ±150 ms around 400 ms keeps the SLO.
        assert_eq!(
            violations(&[400.0, 250.0, 550.0, 300.0, 450.0, 280.0, 430.0]),
            0
        );
        // Falling behind by 150 ms a window: every window once two windows have added more
        // than 200 ms, before the bound is reached.
        assert_eq!(violations(&[100.0, 250.0, 400.0, 550.0, 700.0]), 3);
        // One jump is not a trend.
        assert_eq!(violations(&[400.0, 400.0, 700.0, 450.0]), 0);
        // Over the bound, growing or not.
        assert_eq!(violations(&[1500.0, 1400.0, 1300.0]), 3);
    }
}
