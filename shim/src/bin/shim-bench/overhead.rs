//! Throughput of a keyed running count on plain Timely exchange versus a tuned operator at full
//! parallelism with the shim attached.
//!
//! Both jobs consume the same records (per worker a xorshift stream over 100,000 keys), emit per
//! epoch the running count of every key touched, and process an epoch once it is complete; at
//! most three epochs are in flight. Every round is its own `timely::execute`, so the plain rounds
//! run without any StreamTune logging hook. A tuned round attaches every worker to a fresh
//! in-process endpoint (policy `static`): metrics are collected from Timely's logging and one
//! SAMPLES message per worker and window goes to the endpoint, which stores it. If the plugin
//! cannot be loaded the tuned rounds run with the link disabled (metrics still collected) and
//! the outcome says `shim_attached: false`.
//!
//! Throughput is the steady state's: every worker waits, before its clock starts, until its
//! link is registered and all workers are ready (the connection and registration take a few
//! hundred ms once per job; reported apart as `ready_s`). Timed from a common start, a worker
//! still registering would otherwise stall the others and be counted as per-record overhead.
//!
//! A third job, plain exchange with the state kept per bin like the tuned operator keeps it
//! (256 small maps instead of one large one), separates the cost of routing and metrics from
//! the effect of that state layout, which on its own can make the tuned job faster; a fourth,
//! the tuned job without the shim attached, separates the tuned exchange from the metrics.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use streamtune_shim::connection::{
    Attached, Endpoint, LinkState, LinkStats, OperatorHint, StreamTune, TunerConfig,
};
use streamtune_shim::proto::OpKind;
use streamtune_shim::tuned::{bin_of, Control, Rescale, Tuned, DEFAULT_BINS};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::{Capability, Input, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};

/// The throughput ratio (tuned / plain) the shim aims for.
pub const TARGET_RATIO: f64 = 0.97;

/// Distinct keys of the record stream.
const KEYS: u64 = 100_000;

/// Sizes of the benchmark.
#[derive(Clone, Debug)]
pub struct Params {
    /// Timely workers in this process.
    pub workers: usize,
    /// Records per epoch over all workers.
    pub per_epoch: usize,
    /// Epochs per round.
    pub epochs: u64,
    /// Epochs the tuned operator's control input runs ahead of the data.
    pub lead: u64,
    /// Rounds of each job (plain, tuned, plain, tuned, ...).
    pub rounds: usize,
    /// Metrics window of the attached shim.
    pub window: Duration,
}

impl Params {
    /// The full benchmark: 5,000,000 records per round, 7 rounds each (the machine is shared;
    /// the median of 7 resists rounds slowed by other load).
    pub fn full(workers: usize) -> Params {
        Params {
            workers,
            per_epoch: 100_000,
            epochs: 50,
            lead: 2,
            rounds: 7,
            window: Duration::from_millis(250),
        }
    }

    /// Small sizes for tests (well under a second per round even in a debug build).
    pub fn quick(workers: usize) -> Params {
        Params {
            per_epoch: 10_000,
            epochs: 10,
            rounds: 3,
            window: Duration::from_millis(100),
            ..Params::full(workers)
        }
    }

    /// Records per round (each worker sends `per_epoch / workers` per epoch).
    pub fn records(&self) -> u64 {
        (self.per_epoch / self.workers) as u64 * self.workers as u64 * self.epochs
    }
}

/// Records/s of every round, in the order run.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Plain exchange rounds.
    pub plain: Vec<f64>,
    /// Plain exchange rounds with the state kept per bin.
    pub binned: Vec<f64>,
    /// Tuned, attached rounds.
    pub tuned: Vec<f64>,
    /// Tuned rounds without the shim attached (no metrics, no endpoint).
    pub detached: Vec<f64>,
    /// Whether the tuned rounds were linked to a running endpoint.
    pub shim_attached: bool,
    /// SAMPLES messages sent over all tuned rounds and workers.
    pub windows_sent: u64,
    /// Of those, acknowledged by the endpoint.
    pub windows_acked: u64,
    /// Per tuned round, seconds from the dataflow's construction until every worker's link was
    /// registered (excluded from the throughput).
    pub ready_s: Vec<f64>,
}

/// Adds `keys` to the running counts and appends `(time, key, count)` for each distinct key.
fn count_batch(
    time: u64,
    counts: &mut HashMap<u64, u64>,
    keys: &mut Vec<u64>,
    out: &mut Vec<(u64, u64, u64)>,
) {
    for &key in keys.iter() {
        *counts.entry(key).or_default() += 1;
    }
    keys.sort_unstable();
    keys.dedup();
    out.extend(keys.drain(..).map(|k| (time, k, counts[&k])));
}

/// Runs the rounds, plain and tuned interleaved.
pub fn run(p: &Params) -> Result<Outcome, String> {
    if p.workers == 0 || p.per_epoch < p.workers || p.epochs == 0 || p.rounds == 0 {
        return Err(format!("sizes out of range: {p:?}"));
    }
    let mut out = Outcome {
        plain: Vec::new(),
        binned: Vec::new(),
        tuned: Vec::new(),
        detached: Vec::new(),
        shim_attached: true,
        windows_sent: 0,
        windows_acked: 0,
        ready_s: Vec::new(),
    };
    let records = p.records() as f64;
    for round in 0..p.rounds {
        let (secs, ..) = run_round(p, Job::Plain, None)?;
        out.plain.push(records / secs);
        let (secs, ..) = run_round(p, Job::PlainBinned, None)?;
        out.binned.push(records / secs);
        let (secs, ..) = run_round(p, Job::Tuned, None)?;
        out.detached.push(records / secs);

        let scratch =
            std::env::temp_dir().join(format!("shim-bench-{}-{round}", std::process::id()));
        let (history, socket) = (scratch.with_extension("db"), scratch.with_extension("sock"));
        let tuner = start_tuner(p, round, &history, &socket);
        if tuner.disabled_reason().is_some() {
            if out.shim_attached {
                eprintln!(
                    "shim-bench: overhead: the in-process endpoint did not start ({}); \
                     measuring the tuned operator without it (shim_attached: false)",
                    tuner.disabled_reason().unwrap_or_default()
                );
            }
            out.shim_attached = false;
        }
        let result = run_round(p, Job::Tuned, Some(tuner.clone()));
        tuner.stop_server();
        drop(tuner);
        remove_files(&history, &socket);
        let (secs, stats, ready) = result?;
        out.ready_s.push(ready);
        out.tuned.push(records / secs);
        out.windows_sent += stats.windows_sent;
        out.windows_acked += stats.windows_acked;
    }
    Ok(out)
}

/// A fresh in-process endpoint (policy `static`) for one tuned round, storing windows in
/// `history` and listening on the ipc socket `socket`.
fn start_tuner(p: &Params, round: usize, history: &Path, socket: &Path) -> StreamTune {
    // The plugin's informational lines would flood the output; warnings and errors pass.
    let log: streamtune_shim::connection::LogFn = Arc::new(|line: &str| {
        if !line.contains("[Info]") {
            eprintln!("{line}");
        }
    });
    let mut config = TunerConfig::new(
        format!("shim-bench-overhead-{round}"),
        Endpoint::InProcess {
            plugin: None,
            bind: Some(format!("ipc://{}", socket.display())),
            history: history.to_path_buf(),
        },
    )
    .policy("static", vec![])
    .window(p.window)
    .hint(OperatorHint {
        name: "count".into(),
        kind: Some(OpKind::Aggregate),
        stateful: Some(true),
        ..Default::default()
    });
    config.log = Some(log);
    StreamTune::new(config)
}

/// Removes a round's socket, history database and its SQLite side files.
fn remove_files(history: &Path, socket: &Path) {
    let _ = std::fs::remove_file(socket);
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = history.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}

/// The jobs compared.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Job {
    /// Timely's exchange in front of one map of counts per worker.
    Plain,
    /// Timely's exchange in front of one map of counts per bin.
    PlainBinned,
    /// The tuned operator at full parallelism (per-bin state), attached if a tuner is given.
    Tuned,
}

/// One round of `job`, attached to `tuner` if given. Returns the slowest worker's seconds from
/// its first record to its last epoch's completion, the links' counters summed (SAMPLES sent
/// and acknowledged; zero if not attached), and the seconds until all workers were ready.
fn run_round(
    p: &Params,
    job: Job,
    tuner: Option<StreamTune>,
) -> Result<(f64, LinkStats, f64), String> {
    let p = p.clone();
    let barrier = Arc::new(AtomicUsize::new(0));
    let guards = timely::execute(timely::Config::process(p.workers), move |worker| {
        let index = worker.index();
        let peers = worker.peers();
        let link = tuner.as_ref().map(|t| t.attach(worker));
        let mut input = InputHandleVec::<u64, u64>::new();
        let probe = ProbeHandle::new();
        let mut control = worker.dataflow::<u64, _, _>(|scope| {
            let (handle, control) = Control::new(scope);
            let stream = scope.input_from(&mut input);
            let counted = if job == Job::Tuned {
                stream.tuned_unary_state(
                    &control,
                    "count",
                    |&k| k,
                    peers,
                    |&t, counts: &mut HashMap<u64, u64>, keys, out| {
                        count_batch(t, counts, keys, out)
                    },
                )
            } else {
                stream.unary_frontier(Exchange::new(|&k: &u64| k), "count", |_, _| {
                    // Records per open epoch, processed once the frontier passes the epoch.
                    let mut stash: BTreeMap<u64, (Capability<u64>, Vec<u64>)> = BTreeMap::new();
                    let bins = if job == Job::PlainBinned {
                        DEFAULT_BINS
                    } else {
                        1
                    };
                    let mut counts: Vec<HashMap<u64, u64>> = vec![HashMap::new(); bins];
                    let mut per_bin: Vec<Vec<u64>> = vec![Vec::new(); bins];
                    let mut out = Vec::new();
                    move |(input, frontier), output| {
                        input.for_each_stamp(|cap, data| {
                            let time = *cap.least().unwrap();
                            let entry = stash
                                .entry(time)
                                .or_insert_with(|| (cap.retain_least(0).unwrap(), Vec::new()));
                            for batch in data {
                                entry.1.append(batch);
                            }
                        });
                        while let Some(entry) = stash.first_entry() {
                            if frontier.less_equal(entry.key()) {
                                break;
                            }
                            let (time, (cap, mut keys)) = entry.remove_entry();
                            if bins == 1 {
                                count_batch(time, &mut counts[0], &mut keys, &mut out);
                            } else {
                                // Grouped by bin as the tuned receiver does, then counted.
                                for k in keys {
                                    per_bin[bin_of(k, bins)].push(k);
                                }
                                for (b, keys) in per_bin.iter_mut().enumerate() {
                                    if !keys.is_empty() {
                                        count_batch(time, &mut counts[b], keys, &mut out);
                                    }
                                }
                            }
                            output.session(&cap).give_iterator(out.drain(..));
                        }
                    }
                })
            };
            counted.probe_with(&probe);
            handle
        });
        if let Some(link) = &link {
            link.track_tuned(control.monitor());
        }
        // Throughput is measured in the steady state and from a common start: every worker
        // first waits for its link to be registered (a one-off cost: connection, REGISTER, the
        // other workers' QUERY until the job exists), then for all workers to be ready.
        let built = Instant::now();
        let deadline = built + Duration::from_secs(10);
        let ready = |link: &Option<Attached>| {
            link.as_ref().is_none_or(|l| {
                l.poll();
                matches!(l.state(), LinkState::Ready | LinkState::Disabled)
            })
        };
        while !ready(&link) && Instant::now() < deadline {
            worker.step_or_park(Some(Duration::from_millis(1)));
        }
        barrier.fetch_add(1, Ordering::SeqCst);
        while barrier.load(Ordering::SeqCst) < peers && Instant::now() < deadline {
            if let Some(l) = &link {
                l.poll();
            }
            worker.step_or_park(Some(Duration::from_millis(1)));
        }
        let ready_s = built.elapsed().as_secs_f64();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ index as u64;
        let started = Instant::now();
        for epoch in 0..p.epochs {
            for _ in 0..p.per_epoch / peers {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                input.send(rng % KEYS);
            }
            input.advance_to(epoch + 1);
            control.advance_to(epoch + 1 + p.lead);
            while probe.less_than(&epoch.saturating_sub(2)) {
                worker.step();
            }
            if let Some(link) = &link {
                // What a tuned job does once per epoch; `static` never decides, but a
                // decision would be applied and acknowledged like in a real job.
                link.set_epoch(epoch);
                for d in link.poll_decisions() {
                    let rescale = Rescale {
                        seq: d.seq,
                        epoch: d.epoch.max(epoch + 1 + p.lead),
                        parallelism: d.parallelism_by_name(),
                    };
                    let _ = control.propose(rescale);
                }
                for applied in control.drain_applied() {
                    if link.is_controller() {
                        link.ack(applied.seq, applied.epoch);
                    }
                }
            }
        }
        drop(input);
        control.close();
        while !probe.done() {
            worker.step();
        }
        let secs = started.elapsed().as_secs_f64();
        while worker.step() {}
        let stats = link.as_ref().map_or(LinkStats::default(), |l| {
            l.finish();
            l.stats()
        });
        (secs, stats, ready_s)
    })
    .map_err(|e| format!("timely: {e}"))?;
    let mut slowest = 0.0f64;
    let mut sum = LinkStats::default();
    let mut ready = 0.0f64;
    for r in guards.join() {
        let (secs, s, ready_s) = r.map_err(|e| format!("worker failed: {e}"))?;
        slowest = slowest.max(secs);
        ready = ready.max(ready_s);
        sum.windows_sent += s.windows_sent;
        sum.windows_acked += s.windows_acked;
    }
    Ok((slowest, sum, ready))
}
