//! The pause a live rescale causes: a keyed count holding many keys moves half its bins.
//!
//! Epoch 0 loads `keys` distinct keys into a tuned running count (`HashMap` state per bin).
//! Then an open-loop source closes one epoch every `tick` with `per_epoch` records over those
//! keys. At epoch `s1` the operator goes from all `n` workers to `n / 2` (half the bins, and
//! their state, move), at `s2` back to `n` (the other half moves back). An epoch's latency runs
//! from its *scheduled* close to the moment worker 0 sees it complete at the probe, so epochs
//! delayed behind a stalled switch count their wait too. The epochs from one before a switch to
//! `around` after it are the "switch" set; those before `s1 - 1` (after a warm-up) and between
//! the first switch's set and `s2 - 1` are the "steady" set. Every epoch has the same number of
//! records, so percentiles over epochs are percentiles over records.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use streamtune_shim::tuned::{Control, Rescale, Tuned};
use timely::dataflow::operators::{Input, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};

/// Sizes of the benchmark.
#[derive(Clone, Debug)]
pub struct Params {
    /// Timely workers in this process (at least 2).
    pub workers: usize,
    /// Distinct keys held by the operator.
    pub keys: u64,
    /// Records per epoch after the load, over all workers.
    pub per_epoch: u64,
    /// Time between epoch closes.
    pub tick: Duration,
    /// Epochs after the load before latencies count.
    pub warmup: u64,
    /// Epochs from the warm-up to the first switch, and between the two switches.
    pub steady: u64,
    /// Epochs after a switch counted as around it.
    pub around: u64,
}

impl Params {
    /// The full benchmark: 1,000,000 keys, an epoch every 10 ms, about 5 s.
    pub fn full(workers: usize) -> Params {
        Params {
            workers,
            keys: 1_000_000,
            per_epoch: 2_000,
            tick: Duration::from_millis(10),
            warmup: 20,
            steady: 150,
            around: 20,
        }
    }

    /// Small sizes for tests.
    pub fn quick(workers: usize) -> Params {
        Params {
            keys: 50_000,
            per_epoch: 500,
            warmup: 5,
            steady: 40,
            around: 10,
            ..Params::full(workers)
        }
    }
}

/// Latencies of the two sets of epochs, in ms, and what moved.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Epochs away from a switch.
    pub steady_ms: Vec<f64>,
    /// Epochs around a switch.
    pub around_ms: Vec<f64>,
    /// Parallelism before the first switch.
    pub from: usize,
    /// Parallelism between the switches.
    pub to: usize,
    /// Bins sent to another worker, over both switches and all workers.
    pub bins_moved: u64,
}

/// The `p`-th percentile (nearest rank, `p` in 0..=100) of `values`; NaN if empty.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// Runs the benchmark.
pub fn run(p: &Params) -> Result<Outcome, String> {
    if p.workers < 2 {
        return Err("needs at least 2 workers (--workers 2 or more)".into());
    }
    if p.keys == 0 || p.per_epoch < p.workers as u64 || p.steady <= p.around + 2 || p.tick.is_zero()
    {
        return Err(format!("sizes out of range: {p:?}"));
    }
    let from = p.workers;
    let to = p.workers / 2;
    let s1 = 1 + p.warmup + p.steady;
    let s2 = s1 + p.steady;
    let last = s2 + p.steady;
    let params = p.clone();
    let guards = timely::execute(timely::Config::process(p.workers), move |worker| {
        let p = &params;
        let index = worker.index() as u64;
        let peers = worker.peers() as u64;
        let mut input = InputHandleVec::<u64, u64>::new();
        let probe = ProbeHandle::new();
        let mut control = worker.dataflow::<u64, _, _>(|scope| {
            let (handle, control) = Control::new(scope);
            scope
                .input_from(&mut input)
                .tuned_unary_state(
                    &control,
                    "count",
                    |&k| k,
                    peers as usize,
                    |_, counts: &mut HashMap<u64, u64>, batch, out: &mut Vec<usize>| {
                        for key in batch.drain(..) {
                            *counts.entry(key).or_default() += 1;
                        }
                        out.push(counts.len());
                    },
                )
                .probe_with(&probe);
            handle
        });
        if control.is_controller() {
            for (seq, epoch, parallelism) in [(1, s1, to), (2, s2, from)] {
                control
                    .propose(Rescale {
                        seq,
                        epoch,
                        parallelism: vec![("count".to_owned(), parallelism)],
                    })
                    .map_err(|e| format!("proposing the rescale at epoch {epoch}: {e}"))?;
            }
        }

        // Epoch 0: every worker loads its share of the keys; not timed.
        for key in (index..p.keys).step_by(peers as usize) {
            input.send(key);
        }
        input.advance_to(1);
        control.advance_to(1);
        while probe.less_equal(&0) {
            worker.step();
        }

        let mut rng = 0x2545_f491_4f6c_dd1du64 ^ index;
        let start = Instant::now();
        let due = |epoch: u64| start + p.tick * epoch as u32;
        let mut latency_ms = vec![0.0f64; last as usize + 1];
        let (mut next_close, mut next_done) = (1u64, 1u64);
        while next_done <= last {
            let now = Instant::now();
            // Close every epoch whose time has come (late ones at once, in order).
            while next_close <= last && now >= due(next_close) {
                for _ in 0..p.per_epoch / peers {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    input.send(rng % p.keys);
                }
                next_close += 1;
                input.advance_to(next_close);
                control.advance_to(next_close);
            }
            while next_done < next_close && !probe.less_equal(&next_done) {
                latency_ms[next_done as usize] =
                    now.saturating_duration_since(due(next_done)).as_secs_f64() * 1e3;
                next_done += 1;
            }
            let wait = due(next_close).saturating_duration_since(Instant::now());
            worker.step_or_park(Some(wait.min(Duration::from_millis(1))));
        }
        input.close();
        control.close();
        while worker.step() {}
        let moved: u64 = control.status().iter().map(|s| s.bins_sent).sum();
        Ok::<_, String>((latency_ms, moved))
    })
    .map_err(|e| format!("timely: {e}"))?;

    let mut latency = Vec::new();
    let mut bins_moved = 0;
    for (i, r) in guards.join().into_iter().enumerate() {
        let (lat, moved) = r.map_err(|e| format!("worker failed: {e}"))??;
        if i == 0 {
            latency = lat;
        }
        bins_moved += moved;
    }
    let around =
        |e: u64| (e + 1 >= s1 && e <= s1 + p.around) || (e + 1 >= s2 && e <= s2 + p.around);
    let mut out = Outcome {
        steady_ms: Vec::new(),
        around_ms: Vec::new(),
        from,
        to,
        bins_moved,
    };
    for e in (1 + p.warmup)..s2.saturating_sub(1) {
        if around(e) {
            out.around_ms.push(latency[e as usize]);
        } else {
            out.steady_ms.push(latency[e as usize]);
        }
    }
    for e in (s2 - 1)..=(s2 + p.around) {
        out.around_ms.push(latency[e as usize]);
    }
    Ok(out)
}
