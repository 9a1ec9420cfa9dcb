//! Runs one Nexmark query on Timely under a rate schedule, tuned live by one policy through the
//! plugin's endpoint, and records what happened window by window.
//!
//! The source is open-loop: epoch `e` (of [`EPOCH_MS`] of event time) is injected at
//! `start + e · EPOCH_MS` of wall time whatever the job's progress, so an under-provisioned
//! job builds queues and lag as a real one would. Records are routed to operator instances
//! only a few epochs ahead of what is done, so the backlog waits unrouted and a decision
//! applies to it at once: worker 0 proposes each decision at the earliest unrouted epoch and
//! acknowledges it once every worker has switched (the shim's tuned operators migrate the
//! state of moved bins). In emulated mode (DESIGN §3) every tuned
//! operator instance serves a known number of records per second, so the oracle parallelism
//! is known; in native mode the operators spend real CPU time.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use streamtune_shim::connection::{Endpoint, OperatorHint, StreamTune, TunerConfig};
use streamtune_shim::proto::OpKind;
use streamtune_shim::tuned::{BinMap, Control, Rescale, TunedStatus, DEFAULT_BINS};
use timely::dataflow::operators::{Input, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};

use crate::event::Event;
use crate::generator::{Generator, GeneratorConfig};
use crate::queries::{build, BuildSpec, Initial, Query, EPOCH_MS, SOURCES};
use crate::schedule::{EventClock, Schedule};

/// Largest backlog lag reported, ms.
const MAX_LAG_MS: f64 = 1e7;

/// Routing is pulled, as from a log: the next epoch's records are routed to the operator
/// instances only while every first-stage instance here has less than this much routed work
/// waiting (seconds of its emulated service); the rest of a backlog waits unrouted, so a
/// decision moves it to the new configuration at once (routed records must be served where
/// they are before state can migrate). Later stages get what the first one releases.
const ROUTED_WORK_S: f64 = 0.5;

/// Epochs past the last completed one that are always routed.
const ROUTE_MIN_LOOKAHEAD: u64 = 3;

/// Natively, where service times are unknown: a fixed look-ahead past the completed epoch.
const ROUTE_NATIVE_LOOKAHEAD: u64 = 20;

/// The epoch up to which (exclusive) records are to be routed now.
///
/// (A fixed look-ahead of 5 epochs capped the throughput at look-ahead / pipeline latency:
/// Q3, Q5 and Q8, whose emulated stages hold an epoch until it is served, never caught up
/// once behind, at any parallelism; any fixed look-ahead has that regime once the latency
/// exceeds it. Routing everything at once made every rescale under a backlog wait for the
/// old instances to serve all of it.)
fn route_frontier(routed_to: u64, completed: u64, injected_to: u64, held: Option<bool>) -> u64 {
    let next = match held {
        Some(true) => routed_to,
        Some(false) => routed_to + 1,
        None => completed + ROUTE_NATIVE_LOOKAHEAD,
    };
    next.max(completed + ROUTE_MIN_LOOKAHEAD).min(injected_to)
}

/// Whether this worker's first-stage instances have more than [`ROUTED_WORK_S`] of routed
/// work waiting; `None` natively (service times unknown).
fn entry_saturated(entry: &[&str], status: &[TunedStatus<u64>]) -> Option<bool> {
    let mut saturated = false;
    for st in status.iter().filter(|st| entry.contains(&st.name.as_str())) {
        match st.capacity {
            Some(c) if c > 0.0 => saturated |= st.queued_routed as f64 / c > ROUTED_WORK_S,
            _ => return None,
        }
    }
    Some(saturated)
}

/// The workers whose first-stage instances hold routing back, a bit each. Every worker routes
/// no further while any is set. The control input's frontier is the least over the workers,
/// so records reach the instances no sooner anyway; but worker 0 proposes a decision at its
/// own control time, and routing only on its own instances' queues, a worker 0 that hosted
/// none ran ahead to everything injected: a decision under a backlog then waited for the old
/// instances to serve all of it (Nexmark Q5 at 16 workers and 8,000 events/s from parallelism
/// 1: each decision applied 8 s after it was made, and the lag reached 47 s).
#[derive(Default)]
struct RoutingHold(AtomicU64);

impl RoutingHold {
    /// Records whether `worker` holds routing back; whether any worker does.
    fn set(&self, worker: usize, held: bool) -> bool {
        let bit = 1u64 << worker;
        let before = if held {
            self.0.fetch_or(bit, Ordering::AcqRel)
        } else {
            self.0.fetch_and(!bit, Ordering::AcqRel)
        };
        held || before & !bit != 0
    }
}

/// Everything that defines a run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub query: Query,
    pub schedule: Schedule,
    pub policy: String,
    pub policy_opts: Vec<(String, f64)>,
    pub workers: usize,
    /// Emulated capacity scale (`None`: native mode).
    pub emulate: Option<f64>,
    /// Base source rate, events/s (the schedule multiplies it).
    pub rate: f64,
    pub seconds: f64,
    pub window: Duration,
    /// Parallelism of the tuned operators at the start.
    pub initial: Initial,
    /// Native mode: CPU time per record in every tuned operator.
    pub native_cost: Duration,
    pub seed: u64,
    /// Latency bound of the SLO, ms.
    pub slo_ms: f64,
    /// The SQLite history of the in-process endpoint.
    pub history: PathBuf,
    /// Connect to this endpoint instead of starting one in the process.
    pub endpoint: Option<String>,
    /// Job id at the endpoint.
    pub job: String,
}

impl RunConfig {
    /// The parallelism the tuned operators start at: `initial`, each within 1..=workers.
    pub fn start(&self) -> Initial {
        let clamp = |p: usize| p.clamp(1, self.workers.max(1));
        Initial {
            all: clamp(self.initial.all),
            named: self
                .initial
                .named
                .iter()
                .map(|(n, p)| (n.clone(), clamp(*p)))
                .collect(),
        }
    }
}

/// One tuned operator in one window.
#[derive(Clone, Debug, Default)]
pub struct OpWindow {
    pub parallelism: usize,
    /// Records queued in the operator on all workers at the window's end.
    pub queued: u64,
    /// Records it processed in the window, per bin (all workers).
    pub bin_records: Vec<u64>,
    /// Oracle parallelism in the window (emulated mode, filled in after the run).
    pub oracle: Option<usize>,
}

/// One window of a run, as seen by worker 0.
#[derive(Clone, Debug, Default)]
pub struct WindowRecord {
    pub index: u64,
    /// Seconds since the start at the window's end.
    pub t_s: f64,
    /// Target source rate in the window, events/s.
    pub rate: f64,
    /// The schedule's factor at the window's start.
    pub factor: f64,
    /// Events injected in the window.
    pub events: u64,
    pub ops: Vec<OpWindow>,
    /// Backlog lag at the window's end, ms: the time the most backlogged operator needs to
    /// serve its queue at the rate it served in the window (what the tuner is told).
    pub lag_ms: f64,
    /// Output lag at the window's end, ms: how far the sink's frontier is behind the input.
    /// For windowed queries it includes the wait for windows to close.
    pub output_lag_ms: f64,
    /// Largest epoch latency completed in the window, ms.
    pub latency_max_ms: f64,
    /// Decisions applied (every worker switched) in the window.
    pub reconfigured: bool,
    /// Decisions received in the window.
    pub decisions: u64,
    /// Operators under their oracle (emulated) or, natively, whose queue grew.
    pub bottlenecks: Vec<String>,
}

/// What a run produced.
#[derive(Clone, Debug, Default)]
pub struct RunRecord {
    pub operators: Vec<String>,
    pub capacities: Vec<Option<f64>>,
    pub windows: Vec<WindowRecord>,
    /// Latency of every completed epoch, ms.
    pub latencies_ms: Vec<f64>,
    pub decisions: Vec<DecisionRecord>,
    pub events: u64,
    /// Note when tuning was disabled (plugin missing, endpoint unreachable).
    pub tuning_disabled: Option<String>,
    pub wall_s: f64,
}

#[derive(Clone, Debug)]
pub struct DecisionRecord {
    pub seq: u64,
    pub window: u64,
    pub epoch: u64,
    pub parallelism: Vec<(String, usize)>,
    pub reason: String,
}

/// Live view for progress displays: called by worker 0 after every window.
pub type ProgressFn =
    Arc<dyn Fn(&RunConfig, &WindowRecord, &[String], Option<&DecisionRecord>) + Send + Sync>;

#[derive(Default)]
struct Shared {
    /// Latest status of every worker's tuned operators.
    status: Vec<Vec<TunedStatus<u64>>>,
    /// Backlog lag of the last window (worker 0 computes it; every worker reports it).
    backlog_lag_ms: f64,
    record: RunRecord,
    /// Why the run stopped short: the endpoint never registered the job (worker 0 says so;
    /// every worker stops at the end of its current epoch).
    unregistered: Option<String>,
}

/// How long the endpoint may take to register the job before the run is abandoned: an
/// in-process endpoint does it within milliseconds, so this is a refusal (an unknown policy
/// option or value, named in the shim's log lines) or an endpoint that is not there. A run
/// that no policy tunes must not be reported as the policy's.
const REGISTRATION_GRACE: Duration = Duration::from_secs(5);

/// Runs `cfg`; returns its record. Errors for what prevents running at all, and when the
/// endpoint does not register the job (see [`REGISTRATION_GRACE`]).
pub fn run(cfg: &RunConfig, progress: Option<ProgressFn>) -> Result<RunRecord, String> {
    if cfg.workers == 0 || cfg.workers > 64 {
        return Err(format!("--workers {} is outside 1..=64", cfg.workers));
    }
    let endpoint = match &cfg.endpoint {
        Some(ep) => Endpoint::Connect(ep.clone()),
        None => Endpoint::InProcess {
            plugin: None,
            bind: None,
            history: cfg.history.clone(),
        },
    };
    let mut tuner_config = TunerConfig::new(cfg.job.clone(), endpoint)
        .policy(cfg.policy.clone(), cfg.policy_opts.clone())
        .window(cfg.window);
    for &(name, share) in SOURCES.iter() {
        if cfg.query.sources().contains(&name) {
            tuner_config = tuner_config.hint(OperatorHint {
                name: name.into(),
                kind: Some(OpKind::Source),
                rate: Some(cfg.rate * share),
                ..Default::default()
            });
        }
    }
    for o in cfg.query.operators() {
        tuner_config = tuner_config.hint(OperatorHint {
            name: o.name.into(),
            kind: Some(if o.stateful {
                OpKind::Aggregate
            } else {
                OpKind::Map
            }),
            stateful: Some(o.stateful),
            ..Default::default()
        });
    }
    for &name in cfg.query.local_combiners() {
        tuner_config = tuner_config.hint(OperatorHint {
            name: name.into(),
            kind: Some(OpKind::Aggregate),
            stateful: Some(false),
            ..Default::default()
        });
    }
    tuner_config.tuned_only = true;
    tuner_config.log = Some(Arc::new(|line: &str| eprintln!("  [shim] {line}")));
    let tuner = StreamTune::new(tuner_config);
    let disabled = tuner.disabled_reason().map(str::to_owned);

    let clock = EventClock::new(&cfg.schedule, cfg.rate, cfg.seconds, EPOCH_MS);
    let shared = Arc::new(Mutex::new(Shared {
        status: vec![Vec::new(); cfg.workers],
        backlog_lag_ms: 0.0,
        unregistered: None,
        record: RunRecord {
            operators: cfg
                .query
                .operators()
                .iter()
                .map(|o| o.name.to_string())
                .collect(),
            capacities: cfg
                .query
                .operators()
                .iter()
                .map(|o| cfg.emulate.map(|s| s * o.capacity))
                .collect(),
            tuning_disabled: disabled,
            ..Default::default()
        },
    }));
    let started = Instant::now();
    let worker_shared = Arc::clone(&shared);
    let hold = Arc::new(RoutingHold::default());
    let worker_cfg = cfg.clone();
    let keep = tuner.clone();
    timely::execute(timely::Config::process(cfg.workers), move |worker| {
        run_worker(
            worker,
            &worker_cfg,
            &tuner,
            &clock,
            &worker_shared,
            &hold,
            progress.clone(),
        );
    })
    .map_err(|e| format!("timely: {e}"))?;
    keep.stop_server();
    let (mut record, unregistered) = {
        let mut s = shared.lock().map_err(|_| "poisoned")?;
        (std::mem::take(&mut s.record), s.unregistered.take())
    };
    if let Some(why) = unregistered {
        return Err(why);
    }
    record.wall_s = started.elapsed().as_secs_f64();
    if cfg.emulate.is_some() {
        fill_oracle(&mut record, cfg);
    }
    mark_bottlenecks(&mut record, cfg);
    Ok(record)
}

fn run_worker(
    worker: &mut timely::worker::Worker,
    cfg: &RunConfig,
    tuner: &StreamTune,
    clock: &EventClock,
    shared: &Arc<Mutex<Shared>>,
    hold: &RoutingHold,
    progress: Option<ProgressFn>,
) {
    let link = tuner.attach(worker);
    let generator = Generator::new(GeneratorConfig {
        seed: cfg.seed,
        ..Default::default()
    });
    let mut input = InputHandleVec::<u64, Event>::new();
    let probe = ProbeHandle::new();
    let spec = BuildSpec {
        initial: cfg.start(),
        emulate: cfg.emulate,
        native_cost: cfg.native_cost,
    };
    let query = cfg.query;
    let mut control = worker.dataflow(|scope| {
        let (handle, control) = Control::new(scope);
        build(query, scope.input_from(&mut input), &control, &spec).probe_with(&probe);
        handle
    });
    link.track_tuned(control.monitor());

    let (me, peers) = (worker.index(), worker.peers());
    let names: Vec<String> = query
        .operators()
        .iter()
        .map(|o| o.name.to_string())
        .collect();
    let epochs_per_window = (cfg.window.as_millis() as u64 / EPOCH_MS).max(1);
    let start = Instant::now();
    let mut completed = 0u64; // epochs the probe has passed
    let mut routed_to = 0u64; // records of earlier epochs are routed
    let entry = query.entry_operators();
    let mut latencies: Vec<f64> = Vec::new();
    let mut window_latency_max = 0.0f64;
    let mut window_decisions = 0u64;
    let mut window_reconfigured = false;
    let mut window_events = 0u64;
    let mut last_bins: Vec<Vec<u64>> = vec![vec![0; DEFAULT_BINS]; names.len()];
    let mut last_decision: Option<DecisionRecord> = None;
    let mut proposed: Vec<DecisionRecord> = Vec::new();
    let epochs = clock.epochs();

    let tuned = tuner.disabled_reason().is_none();
    for e in 0..epochs {
        let range = clock.events(e);
        window_events += range.end - range.start;
        for n in range.filter(|n| n % peers as u64 == me as u64) {
            input.send(generator.event(n, clock.date_time(e, n)));
        }
        input.advance_to(e + 1);
        let due = start + Duration::from_millis((e + 1) * EPOCH_MS);
        let mut now = Instant::now();
        loop {
            // Epochs completed since the last look: their latency.
            while completed < e + 1 && !probe.less_equal(&completed) {
                let injected = start + Duration::from_millis((completed + 1) * EPOCH_MS);
                let l = now.saturating_duration_since(injected).as_secs_f64() * 1e3;
                latencies.push(l);
                window_latency_max = window_latency_max.max(l);
                completed += 1;
            }
            // Route what the first stage can take (see route_frontier); once everything
            // injected is routed there is nothing to ask the operators until the next epoch.
            if routed_to < e + 1 {
                let held = entry_saturated(entry, &control.status()).map(|h| hold.set(me, h));
                routed_to = route_frontier(routed_to, completed, e + 1, held);
                control.advance_to(routed_to);
            }
            if now >= due {
                break;
            }
            worker.step_or_park(Some((due - now).min(Duration::from_millis(5))));
            now = Instant::now();
        }
        let output_lag_ms = (now.duration_since(start).as_secs_f64() * 1e3
            - (completed + 1) as f64 * EPOCH_MS as f64)
            .max(0.0);
        link.set_epoch(e + 1);
        let (backlog_lag_ms, unregistered) = shared.lock().map_or((0.0, true), |s| {
            (s.backlog_lag_ms, s.unregistered.is_some())
        });
        if unregistered {
            break;
        }
        link.set_lag_ms(Some(backlog_lag_ms));
        let t_s = (e + 1) as f64 * EPOCH_MS as f64 / 1e3;
        let rate = cfg.rate * cfg.schedule.factor(t_s, cfg.seconds);
        for &(name, share) in SOURCES.iter() {
            if query.sources().contains(&name) {
                link.set_source_rate(name, rate * share);
            }
        }
        if let Ok(mut s) = shared.lock() {
            s.status[me] = control.status();
        }

        if link.is_controller() {
            if tuned && link.stats().registrations == 0 && start.elapsed() >= REGISTRATION_GRACE {
                if let Ok(mut s) = shared.lock() {
                    s.unregistered = Some(format!(
                        "the tuning endpoint did not register the job within {} s (policy \
                         '{}'): the [shim] lines above say why",
                        REGISTRATION_GRACE.as_secs(),
                        cfg.policy
                    ));
                }
            }
            for d in link.poll_decisions() {
                window_decisions += 1;
                let parallelism = d.parallelism_by_name();
                // The earliest epoch not yet routed: the whole backlog moves to the new
                // configuration (propose clamps to the control input's time).
                let epoch = control.time().copied().unwrap_or(e + 1);
                let rec = DecisionRecord {
                    seq: d.seq,
                    window: e / epochs_per_window,
                    epoch,
                    parallelism: parallelism.clone(),
                    reason: d.reason.clone(),
                };
                if control
                    .propose(Rescale {
                        seq: d.seq,
                        epoch,
                        parallelism,
                    })
                    .is_ok()
                {
                    proposed.push(rec.clone());
                    last_decision = Some(rec);
                }
            }
        }
        for applied in control.drain_applied() {
            window_reconfigured = true;
            if link.is_controller() {
                link.ack(applied.seq, applied.epoch);
            }
        }

        if me == 0 && (e + 1) % epochs_per_window == 0 {
            let window = (e + 1) / epochs_per_window - 1;
            let t_s = (e + 1) as f64 * EPOCH_MS as f64 / 1e3;
            let window_s = epochs_per_window as f64 * EPOCH_MS as f64 / 1e3;
            let Ok(mut s) = shared.lock() else { break };
            let mut ops = Vec::with_capacity(names.len());
            let mut capacities = Vec::with_capacity(names.len()); // records/s, emulated
            for (i, name) in names.iter().enumerate() {
                let mut capacity = None::<f64>;
                let mut op = OpWindow {
                    parallelism: control.parallelism(name).unwrap_or(0),
                    bin_records: vec![0; DEFAULT_BINS],
                    ..Default::default()
                };
                let mut total = vec![0u64; DEFAULT_BINS];
                for w in &s.status {
                    if let Some(st) = w.iter().find(|st| &st.name == name) {
                        op.queued += st.queued as u64;
                        if let (Some(c), true) = (st.capacity, st.bins_here > 0) {
                            capacity = Some(capacity.unwrap_or(0.0) + c);
                        }
                        for (b, &n) in st.bin_records.iter().enumerate().take(DEFAULT_BINS) {
                            total[b] += n;
                        }
                    }
                }
                for b in 0..DEFAULT_BINS {
                    op.bin_records[b] = total[b].saturating_sub(last_bins[i][b]);
                }
                last_bins[i] = total;
                ops.push(op);
                capacities.push(capacity);
            }
            // Backlog lag: how long the most backlogged operator needs to serve its queue at
            // the rate it served in this window. An operator that served nothing either waits
            // for a window to close (its queue is no backlog: the time its instances need at
            // full speed) or is stalled (natively unknown: the lag grows by the window).
            let mut lag_ms = 0.0f64;
            for (op, capacity) in ops.iter().zip(&capacities) {
                if op.queued == 0 {
                    continue;
                }
                let served = op.bin_records.iter().sum::<u64>() as f64 / window_s;
                let l = match (served > 0.0, capacity) {
                    (true, _) => op.queued as f64 / served * 1e3,
                    (false, Some(c)) if *c > 0.0 => op.queued as f64 / c * 1e3,
                    (false, _) => s.backlog_lag_ms + window_s * 1e3,
                };
                lag_ms = lag_ms.max(l.min(MAX_LAG_MS));
            }
            s.backlog_lag_ms = lag_ms;
            let record = WindowRecord {
                index: window,
                t_s,
                rate: window_events as f64 / window_s,
                factor: cfg.schedule.factor(t_s - window_s, cfg.seconds),
                events: window_events,
                ops,
                lag_ms,
                output_lag_ms,
                latency_max_ms: window_latency_max,
                reconfigured: window_reconfigured,
                decisions: window_decisions,
                bottlenecks: Vec::new(),
            };
            if let Some(p) = &progress {
                p(cfg, &record, &names, last_decision.as_ref());
            }
            s.record.windows.push(record);
            s.record.events += window_events;
            window_latency_max = 0.0;
            window_decisions = 0;
            window_reconfigured = false;
            window_events = 0;
        }
    }
    input.close();
    control.close();
    // Drain what is queued, but not forever: an overloaded emulated job may hold a lot.
    let drain_until = Instant::now() + Duration::from_secs(3);
    while worker.step_or_park(Some(Duration::from_millis(1))) {
        if Instant::now() > drain_until {
            break;
        }
    }
    // What is still queued is not waited for: drop the dataflow rather than let
    // `timely::execute` drain an overloaded emulated job at its emulated speed.
    for id in worker.installed_dataflows() {
        worker.drop_dataflow(id);
    }
    link.finish();
    if me == 0 {
        if let Ok(mut s) = shared.lock() {
            s.record.latencies_ms = latencies;
            s.record.decisions = proposed;
        }
    }
}

/// Windows on each side of a window whose key distribution its oracle uses.
const SMOOTH_WINDOWS: usize = 5;

/// The oracle parallelism of every operator in every window: the smallest `p` whose hottest
/// instance, under a balanced bin map of `p` workers, can serve its share of the operator's
/// demand. Demand per event is what the operator processed over the run (plus what was left
/// queued) per injected event; the share of each bin is that of the surrounding windows if they
/// saw enough records, else the whole run's.
pub fn fill_oracle(record: &mut RunRecord, cfg: &RunConfig) {
    let peers = cfg.workers;
    for (i, name) in record.operators.clone().iter().enumerate() {
        let Some(capacity) = record.capacities[i] else {
            continue;
        };
        let mut total = vec![0u64; DEFAULT_BINS];
        for w in &record.windows {
            for (b, &n) in w.ops[i].bin_records.iter().enumerate() {
                total[b] += n;
            }
        }
        let processed: u64 = total.iter().sum();
        let left = record.windows.last().map_or(0, |w| w.ops[i].queued);
        let per_event = if record.events > 0 {
            (processed + left) as f64 / record.events as f64
        } else {
            0.0
        };
        let maps: Vec<BinMap> = (1..=peers)
            .map(|p| BinMap::for_operator(name, DEFAULT_BINS, peers, p))
            .collect();
        // Key shares over 11 windows centred on each: hot keys rotate faster than a policy
        // can follow, so the oracle is the best static configuration over that span.
        let smoothed: Vec<Vec<u64>> = (0..record.windows.len())
            .map(|j| {
                let lo = j.saturating_sub(SMOOTH_WINDOWS);
                let hi = (j + SMOOTH_WINDOWS + 1).min(record.windows.len());
                let mut d = vec![0u64; DEFAULT_BINS];
                for w in &record.windows[lo..hi] {
                    for (b, &n) in w.ops[i].bin_records.iter().enumerate() {
                        d[b] += n;
                    }
                }
                d
            })
            .collect();
        for (j, w) in record.windows.iter_mut().enumerate() {
            let near_n: u64 = smoothed[j].iter().sum();
            let dist: &[u64] = if near_n >= 1000 { &smoothed[j] } else { &total };
            let dist_n: u64 = dist.iter().sum();
            let demand = w.rate * per_event;
            let mut oracle = peers;
            if dist_n == 0 || demand <= 0.0 {
                oracle = 1;
            } else {
                for (k, map) in maps.iter().enumerate() {
                    let mut load = vec![0u64; peers];
                    for (b, &n) in dist.iter().enumerate() {
                        load[map.owner(b)] += n;
                    }
                    let hottest = *load.iter().max().unwrap_or(&0) as f64 / dist_n as f64;
                    if hottest * demand <= capacity {
                        oracle = k + 1;
                        break;
                    }
                }
            }
            w.ops[i].oracle = Some(oracle);
        }
    }
}

/// Bottleneck operators per window: under the oracle (emulated); natively, operators whose
/// queue grew by more than a tenth of the window's events while the lag grew.
pub fn mark_bottlenecks(record: &mut RunRecord, cfg: &RunConfig) {
    let names = record.operators.clone();
    let mut prev: Option<WindowRecord> = None;
    for w in record.windows.iter_mut() {
        let mut b = Vec::new();
        for (i, op) in w.ops.iter().enumerate() {
            let hot = match op.oracle {
                Some(o) => op.parallelism < o,
                None => prev.as_ref().is_some_and(|p| {
                    op.queued > p.ops[i].queued + w.events / 10 && w.lag_ms > p.lag_ms
                }),
            };
            if hot {
                b.push(names[i].clone());
            }
        }
        w.bottlenecks = b;
        let _ = cfg;
        prev = Some(w.clone());
    }
}
