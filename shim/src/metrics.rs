//! Per-operator metrics from Timely's own logging events.
//!
//! [`Metrics::attach`] registers a `"timely"` logger on a worker; it must run **before** the
//! dataflows are built, so that their `Operates` and `Channels` events are seen. From then on
//! every leaf operator (one with no children: scopes nest) gets, per worker and per window of
//! wall time (1 s by default):
//!
//! * **busy time**: the sum of its `Schedule` start-to-stop spans (a span crossing a window
//!   boundary is split at the boundary);
//! * **records in**: `Messages` receive events on the channels that end at it;
//! * **records out**: `Messages` send events on the channels that start at it (for each output
//!   port the largest count over that port's channels, so fanning out to two consumers does not
//!   count a record twice);
//! * **backlog**: records sent to its input channels minus records it received, at the window's
//!   end. A worker logs only its own sends; sends by other workers of the same process are seen
//!   through a shared [`Ledger`] (without one, only this worker's own sends count). Records sent
//!   from other processes are not seen. A [`Metrics::set_queue_probe`] adds records an operator
//!   holds in its own queue (e.g. tuned operators waiting for their epoch);
//! * the worker's **idle time**: time between `Park` and `Unpark`.
//!
//! Windows are aligned to the Unix clock (window `k` covers `[k·W, (k+1)·W)` ms since the
//! epoch), so workers of different processes number them alike. A closed window is a
//! [`WorkerWindow`] with one [`WindowSample`] per leaf operator, the content of one SAMPLES
//! message part (see `proto/PROTOCOL.md` §4.3). Take them with [`Metrics::drain`], or from a hook
//! given to [`Metrics::attach_with_hook`], which runs on the worker thread after each batch of
//! log events.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use timely::logging::{StartStop, TimelyEvent, TimelyEventBuilder};
use timely::worker::Worker;

/// Default window length.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(1);

/// After a long gap without events (a parked worker), at most this many empty windows are
/// emitted; the windows beyond are skipped.
pub const MAX_GAP_WINDOWS: u64 = 16;

/// Most windows kept for [`Metrics::drain`]; older ones are dropped when no one drains them.
pub const MAX_PENDING_WINDOWS: usize = 64;

/// Records sent on each channel, by target and source worker, shared by the workers of one
/// process so that each can compute the backlog of its operators' inputs. Create one before
/// `timely::execute` and give each worker a clone.
#[derive(Clone, Default)]
pub struct Ledger {
    sent: Arc<Mutex<SentTable>>,
}

/// (channel, target worker) -> records sent by each source worker (index = source).
type SentTable = HashMap<(usize, usize), Vec<i64>>;

impl fmt::Debug for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.sent.lock().map(|m| m.len()).unwrap_or(0);
        f.debug_struct("Ledger").field("channels", &n).finish()
    }
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    fn add(&self, batch: &HashMap<(usize, usize), i64>, source: usize) {
        if batch.is_empty() {
            return;
        }
        let Ok(mut map) = self.sent.lock() else {
            return;
        };
        for (&key, &n) in batch {
            let per_source = map.entry(key).or_default();
            if per_source.len() <= source {
                per_source.resize(source + 1, 0);
            }
            per_source[source] += n;
        }
    }

    /// Records sent on `channel` to `target` by each source worker (index = source worker).
    pub fn sent_to(&self, channel: usize, target: usize) -> Vec<i64> {
        self.sent
            .lock()
            .ok()
            .and_then(|m| m.get(&(channel, target)).cloned())
            .unwrap_or_default()
    }
}

/// How metrics are collected.
#[derive(Clone, Debug)]
pub struct MetricsConfig {
    /// Window length (default 1 s). Must be at least 1 ms.
    pub window: Duration,
    /// Shared send counts of the workers of this process, for exact backlogs across exchanges.
    pub ledger: Option<Ledger>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            window: DEFAULT_WINDOW,
            ledger: None,
        }
    }
}

impl MetricsConfig {
    /// Windows of `window` length, no ledger.
    pub fn with_window(window: Duration) -> Self {
        MetricsConfig {
            window,
            ledger: None,
        }
    }
}

/// An operator as Timely announced it (`Operates`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorInfo {
    /// Worker-unique operator id (the same on every worker of a job).
    pub id: usize,
    /// Path of scope indices from the root; the last one is its index in its scope.
    pub addr: Vec<usize>,
    /// Timely's name of the operator, e.g. `"Map"`, `"Probe"`.
    pub name: String,
    /// Whether it has no children (it is not a scope).
    pub leaf: bool,
    /// Whether it has shut down.
    pub shut_down: bool,
}

/// A connection between two leaf operators, possibly through scope boundaries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpEdge {
    /// Id of the producing leaf operator.
    pub from: usize,
    /// Id of the consuming leaf operator.
    pub to: usize,
    /// Whether records on it were seen moving between workers (an exchange).
    pub exchanged: bool,
}

/// One leaf operator's figures on one worker in one window.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowSample {
    /// Operator id.
    pub op: usize,
    /// Operator name.
    pub name: String,
    /// Scheduled time in the window, ms.
    pub busy_ms: f64,
    /// `busy_ms / duration_ms`, in `[0, 1]`.
    pub busy_fraction: f64,
    /// Records received in the window.
    pub records_in: f64,
    /// Records sent in the window.
    pub records_out: f64,
    /// Records received per second of the window.
    pub in_rate: f64,
    /// Records sent per second of the window.
    pub out_rate: f64,
    /// Records queued at its inputs at the window's end.
    pub backlog: f64,
}

/// All leaf operators' figures of one worker in one window: one SAMPLES part.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerWindow {
    /// Window index: start time in Unix ms divided by the window length.
    pub window: u64,
    /// The worker (instance) index.
    pub worker: usize,
    /// Start of the window's measured span, Unix ms (later than the nominal start for the
    /// first window).
    pub start_unix_ms: f64,
    /// Length of the measured span, ms (shorter than the window for the first and last one).
    pub duration_ms: f64,
    /// Time the worker was parked (idle) in the window, ms.
    pub idle_ms: f64,
    /// One sample per leaf operator alive in the window, by operator id.
    pub ops: Vec<WindowSample>,
}

impl WorkerWindow {
    /// The sample of operator `op`, if any.
    pub fn op(&self, op: usize) -> Option<&WindowSample> {
        self.ops.iter().find(|s| s.op == op)
    }

    /// Fraction of the window the worker was parked.
    pub fn idle_fraction(&self) -> f64 {
        if self.duration_ms > 0.0 {
            (self.idle_ms / self.duration_ms).clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

/// Records an operator holds in queues of its own, by operator name, added to its backlog.
pub type QueueProbe = Box<dyn Fn() -> Vec<(String, f64)>>;

/// Cumulative figures an operator keeps itself, which replace what the logging events show.
#[derive(Clone, Debug, PartialEq)]
pub struct OwnFigures {
    /// Operator name.
    pub name: String,
    /// Busy seconds so far when its busy time is not its scheduled time (emulated capacity,
    /// DESIGN §3).
    pub busy_s: Option<f64>,
    /// Records processed so far when that differs from records received (an operator that
    /// queues its input: records in are then what it processed, as rate policies expect).
    pub processed: Option<f64>,
}

/// Reads [`OwnFigures`]; per window, an operator listed gets the growth of each figure given.
pub type BusyProbe = Box<dyn Fn() -> Vec<OwnFigures>>;

#[derive(Clone, Debug)]
struct Channel {
    scope_addr: Vec<usize>,
    source: (usize, usize),
    target: (usize, usize),
    exchanged: bool,
}

#[derive(Default, Clone, Copy)]
struct WindowCounts {
    sent: i64,
    recv: i64,
}

#[derive(Default)]
struct OpWindow {
    busy: Duration,
}

struct Collector {
    worker: usize,
    peers: usize,
    window: Duration,
    ledger: Option<Ledger>,
    queue_probe: Option<QueueProbe>,
    busy_probe: Option<BusyProbe>,
    // Last cumulative figures read from the busy probe, by operator name: (busy s, processed).
    busy_seen: HashMap<String, (f64, f64)>,

    // Log time (Duration since the worker's logging epoch) of Unix time 0 is `-wall_offset`:
    // unix = log + wall_offset. Set by the first callback.
    wall_offset: Option<Duration>,
    // A (log time, Instant) pair, to read the log clock outside callbacks.
    anchor: Option<(Duration, Instant)>,
    // Current window: index and the log time at which its measured span began.
    current: Option<(u64, Duration)>,

    ops: HashMap<usize, OperatorInfo>,
    by_addr: HashMap<Vec<usize>, usize>,
    scopes: HashSet<Vec<usize>>,
    channels: HashMap<usize, Channel>,

    // Open schedule spans: (operator id, start).
    stack: Vec<(usize, Duration)>,
    parked_since: Option<Duration>,
    idle: Duration,
    op_window: HashMap<usize, OpWindow>,
    chan_window: HashMap<usize, WindowCounts>,
    // Cumulative: records this worker sent to itself on a channel; records received per
    // (channel, source worker).
    sent_self: HashMap<usize, i64>,
    recv_from: HashMap<(usize, usize), i64>,
    // Sends to other workers since the last ledger update: (channel, target) -> records.
    ledger_batch: HashMap<(usize, usize), i64>,

    // Operators that shut down in the current window (they still get its sample).
    shut_now: HashSet<usize>,
    pending: Vec<WorkerWindow>,
    dropped_windows: u64,
}

impl Collector {
    fn new(worker: usize, peers: usize, config: MetricsConfig) -> Self {
        Collector {
            worker,
            peers,
            window: config.window.max(Duration::from_millis(1)),
            ledger: config.ledger,
            queue_probe: None,
            busy_probe: None,
            busy_seen: HashMap::new(),
            wall_offset: None,
            anchor: None,
            current: None,
            ops: HashMap::new(),
            by_addr: HashMap::new(),
            scopes: HashSet::new(),
            channels: HashMap::new(),
            stack: Vec::new(),
            parked_since: None,
            idle: Duration::ZERO,
            op_window: HashMap::new(),
            chan_window: HashMap::new(),
            sent_self: HashMap::new(),
            recv_from: HashMap::new(),
            ledger_batch: HashMap::new(),
            shut_now: HashSet::new(),
            pending: Vec::new(),
            dropped_windows: 0,
        }
    }

    fn window_ns(&self) -> u128 {
        self.window.as_nanos().max(1)
    }

    /// Window index of log time `t`.
    fn index_of(&self, t: Duration) -> u64 {
        let unix = t + self.wall_offset.unwrap_or_default();
        (unix.as_nanos() / self.window_ns()) as u64
    }

    /// Log time at which window `k` ends.
    fn end_of(&self, k: u64) -> Duration {
        let end_unix = Duration::from_nanos(
            ((u128::from(k) + 1) * self.window_ns()).min(u128::from(u64::MAX)) as u64,
        );
        end_unix.saturating_sub(self.wall_offset.unwrap_or_default())
    }

    fn start_clock(&mut self, now: Duration) {
        if self.wall_offset.is_none() {
            let unix = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            // If the logging epoch lies before 1970 (it cannot), fall back to log time.
            self.wall_offset = Some(unix.saturating_sub(now));
        }
        self.anchor = Some((now, Instant::now()));
        if self.current.is_none() {
            self.current = Some((self.index_of(now), now));
        }
    }

    /// The log clock now.
    fn now(&self) -> Option<Duration> {
        self.anchor.map(|(log, at)| log + at.elapsed())
    }

    /// Closes every window that ends at or before `t`.
    fn advance_to(&mut self, t: Duration) {
        let mut emitted = 0u64;
        while let Some((k, _)) = self.current {
            let end = self.end_of(k);
            if t < end {
                break;
            }
            if emitted >= MAX_GAP_WINDOWS {
                // A long idle gap: skip to the window holding `t`, starting it at its nominal
                // start. Open spans keep their start but are clipped to the new window below.
                let k_now = self.index_of(t);
                let start = self.end_of(k_now.saturating_sub(1)).max(end);
                self.rebase_open_spans(start);
                self.current = Some((k_now, start));
                break;
            }
            self.close(end, end);
            emitted += 1;
        }
    }

    fn rebase_open_spans(&mut self, at: Duration) {
        for span in self.stack.iter_mut() {
            span.1 = span.1.max(at);
        }
        if let Some(p) = self.parked_since.as_mut() {
            *p = (*p).max(at);
        }
    }

    /// Closes the current window at log time `end` (its measured span ends there) and starts
    /// the next one at `next_start`.
    fn close(&mut self, end: Duration, next_start: Duration) {
        let Some((k, start)) = self.current else {
            return;
        };
        // Credit open spans up to the boundary.
        for i in 0..self.stack.len() {
            let (id, s) = self.stack[i];
            if end > s {
                if self.is_leaf(id) {
                    self.op_window.entry(id).or_default().busy += end - s;
                }
                self.stack[i].1 = end;
            }
        }
        if let Some(p) = self.parked_since {
            if end > p {
                self.idle += end - p;
                self.parked_since = Some(end);
            }
        }
        self.flush_ledger();

        let duration = end.saturating_sub(start);
        let duration_ms = duration.as_secs_f64() * 1e3;
        let secs = duration.as_secs_f64();

        // Records in and out per leaf operator from the channels' window counts.
        let mut rec_in: HashMap<usize, i64> = HashMap::new();
        let mut out_port: HashMap<(usize, usize), i64> = HashMap::new();
        for (&cid, counts) in &self.chan_window {
            let Some(ch) = self.channels.get(&cid) else {
                continue;
            };
            if let Some(t) = self.leaf_at(&ch.scope_addr, ch.target.0) {
                *rec_in.entry(t).or_default() += counts.recv;
            }
            if let Some(s) = self.leaf_at(&ch.scope_addr, ch.source.0) {
                let e = out_port.entry((s, ch.source.1)).or_default();
                *e = (*e).max(counts.sent);
            }
        }
        let mut rec_out: HashMap<usize, i64> = HashMap::new();
        for ((op, _), n) in out_port {
            *rec_out.entry(op).or_default() += n;
        }
        let backlog = self.backlogs();
        let (busy_override, in_override) = self.own_figures();

        let mut ids: Vec<usize> = self
            .ops
            .values()
            .filter(|o| o.leaf && (!o.shut_down || self.shut_now.contains(&o.id)))
            .map(|o| o.id)
            .collect();
        ids.sort_unstable();
        let per_sec = |n: f64| if secs > 0.0 { n / secs } else { 0.0 };
        let samples = ids
            .into_iter()
            .map(|id| {
                let busy_ms = match busy_override.get(&id) {
                    Some(&ms) => ms,
                    None => self
                        .op_window
                        .get(&id)
                        .map_or(0.0, |w| w.busy.as_secs_f64() * 1e3),
                }
                .min(duration_ms);
                let records_in = match in_override.get(&id) {
                    Some(&n) => n,
                    None => rec_in.get(&id).copied().unwrap_or(0).max(0) as f64,
                };
                let records_out = rec_out.get(&id).copied().unwrap_or(0).max(0) as f64;
                WindowSample {
                    op: id,
                    name: self.ops[&id].name.clone(),
                    busy_ms,
                    busy_fraction: if duration_ms > 0.0 {
                        (busy_ms / duration_ms).clamp(0.0, 1.0)
                    } else {
                        0.0
                    },
                    records_in,
                    records_out,
                    in_rate: per_sec(records_in),
                    out_rate: per_sec(records_out),
                    backlog: backlog.get(&id).copied().unwrap_or(0.0),
                }
            })
            .collect();
        let window = WorkerWindow {
            window: k,
            worker: self.worker,
            start_unix_ms: (start + self.wall_offset.unwrap_or_default()).as_secs_f64() * 1e3,
            duration_ms,
            idle_ms: (self.idle.as_secs_f64() * 1e3).min(duration_ms),
            ops: samples,
        };
        if self.pending.len() >= MAX_PENDING_WINDOWS {
            self.pending.remove(0);
            self.dropped_windows += 1;
        }
        self.pending.push(window);

        self.shut_now.clear();
        self.op_window.clear();
        self.chan_window.clear();
        self.idle = Duration::ZERO;
        self.current = Some((k + 1, next_start));
    }

    /// Backlog per leaf operator at this worker, now.
    fn backlogs(&self) -> HashMap<usize, f64> {
        let mut out: HashMap<usize, f64> = HashMap::new();
        for (&cid, ch) in &self.channels {
            let Some(op) = self.leaf_at(&ch.scope_addr, ch.target.0) else {
                continue;
            };
            let mut queued = self.sent_self.get(&cid).copied().unwrap_or(0)
                - self
                    .recv_from
                    .get(&(cid, self.worker))
                    .copied()
                    .unwrap_or(0);
            queued = queued.max(0);
            if let Some(ledger) = &self.ledger {
                for (src, sent) in ledger.sent_to(cid, self.worker).into_iter().enumerate() {
                    if src != self.worker {
                        let recv = self.recv_from.get(&(cid, src)).copied().unwrap_or(0);
                        queued += (sent - recv).max(0);
                    }
                }
            }
            if queued > 0 {
                *out.entry(op).or_default() += queued as f64;
            }
        }
        if let Some(probe) = &self.queue_probe {
            for (name, n) in probe() {
                if !(n.is_finite() && n > 0.0) {
                    continue;
                }
                if let Some(op) = self
                    .ops
                    .values()
                    .find(|o| o.leaf && !o.shut_down && o.name == name)
                {
                    *out.entry(op.id).or_default() += n;
                }
            }
        }
        out
    }

    /// Busy ms and records in over the closing window of the operators the busy probe
    /// reports, by operator id.
    fn own_figures(&mut self) -> (HashMap<usize, f64>, HashMap<usize, f64>) {
        let (mut busy, mut records_in) = (HashMap::new(), HashMap::new());
        let Some(probe) = &self.busy_probe else {
            return (busy, records_in);
        };
        for f in probe() {
            let before = self.busy_seen.get(&f.name).copied().unwrap_or((0.0, 0.0));
            let now = (
                f.busy_s.filter(|x| x.is_finite()).unwrap_or(before.0),
                f.processed.filter(|x| x.is_finite()).unwrap_or(before.1),
            );
            self.busy_seen.insert(f.name.clone(), now);
            let Some(op) = self
                .ops
                .values()
                .find(|o| o.leaf && !o.shut_down && o.name == f.name)
            else {
                continue;
            };
            if f.busy_s.is_some() {
                busy.insert(op.id, ((now.0 - before.0) * 1e3).max(0.0));
            }
            if f.processed.is_some() {
                records_in.insert(op.id, (now.1 - before.1).max(0.0));
            }
        }
        (busy, records_in)
    }

    fn flush_ledger(&mut self) {
        if let Some(ledger) = &self.ledger {
            ledger.add(&self.ledger_batch, self.worker);
        }
        self.ledger_batch.clear();
    }

    fn is_leaf(&self, id: usize) -> bool {
        self.ops.get(&id).is_some_and(|o| o.leaf)
    }

    /// The leaf operator at index `idx` of scope `scope`, if it is one (index 0 is the scope's
    /// boundary).
    fn leaf_at(&self, scope: &[usize], idx: usize) -> Option<usize> {
        if idx == 0 {
            return None;
        }
        let mut addr = Vec::with_capacity(scope.len() + 1);
        addr.extend_from_slice(scope);
        addr.push(idx);
        let id = *self.by_addr.get(&addr)?;
        self.is_leaf(id).then_some(id)
    }

    fn event(&mut self, t: Duration, ev: &TimelyEvent) {
        self.advance_to(t);
        match ev {
            TimelyEvent::Operates(o) => {
                let leaf = !self.scopes.contains(&o.addr);
                if let Some((_, parent)) = o.addr.split_last() {
                    if !parent.is_empty() && self.scopes.insert(parent.to_vec()) {
                        if let Some(pid) = self.by_addr.get(parent) {
                            if let Some(p) = self.ops.get_mut(pid) {
                                p.leaf = false;
                            }
                        }
                    }
                }
                self.by_addr.insert(o.addr.clone(), o.id);
                self.ops.insert(
                    o.id,
                    OperatorInfo {
                        id: o.id,
                        addr: o.addr.clone(),
                        name: o.name.clone(),
                        leaf,
                        shut_down: false,
                    },
                );
            }
            TimelyEvent::Channels(c) => {
                self.channels.insert(
                    c.id,
                    Channel {
                        scope_addr: c.scope_addr.clone(),
                        source: c.source,
                        target: c.target,
                        exchanged: false,
                    },
                );
            }
            TimelyEvent::Messages(m) => {
                let n = m.record_count.max(0);
                if m.is_send {
                    if m.source != self.worker {
                        return;
                    }
                    self.chan_window.entry(m.channel).or_default().sent += n;
                    if m.target == self.worker {
                        *self.sent_self.entry(m.channel).or_default() += n;
                    } else {
                        *self.ledger_batch.entry((m.channel, m.target)).or_default() += n;
                        if let Some(ch) = self.channels.get_mut(&m.channel) {
                            ch.exchanged = true;
                        }
                    }
                } else {
                    if m.target != self.worker {
                        return;
                    }
                    self.chan_window.entry(m.channel).or_default().recv += n;
                    *self.recv_from.entry((m.channel, m.source)).or_default() += n;
                    if m.source != self.worker {
                        if let Some(ch) = self.channels.get_mut(&m.channel) {
                            ch.exchanged = true;
                        }
                    }
                }
            }
            TimelyEvent::Schedule(s) => match s.start_stop {
                StartStop::Start => self.stack.push((s.id, t)),
                StartStop::Stop => {
                    // Pop to the matching start (tolerates a missing stop of a nested span).
                    while let Some((id, start)) = self.stack.pop() {
                        if id == s.id {
                            if self.is_leaf(id) && t > start {
                                self.op_window.entry(id).or_default().busy += t - start;
                            }
                            break;
                        }
                    }
                }
            },
            TimelyEvent::Shutdown(s) => {
                if let Some(o) = self.ops.get_mut(&s.id) {
                    if !o.shut_down {
                        o.shut_down = true;
                        self.shut_now.insert(s.id);
                    }
                }
            }
            TimelyEvent::Park(p) => match p {
                timely::logging::ParkEvent::Park(_) => {
                    if self.parked_since.is_none() {
                        self.parked_since = Some(t);
                    }
                }
                timely::logging::ParkEvent::Unpark => {
                    if let Some(since) = self.parked_since.take() {
                        if t > since {
                            self.idle += t - since;
                        }
                    }
                }
            },
            _ => {}
        }
    }

    /// Leaf-to-leaf edges, resolved through scope boundaries.
    fn edges(&self) -> Vec<OpEdge> {
        let mut seen: HashMap<(usize, usize), bool> = HashMap::new();
        let mut order: Vec<(usize, usize)> = Vec::new();
        let mut ids: Vec<&usize> = self.channels.keys().collect();
        ids.sort_unstable();
        for cid in ids {
            let ch = &self.channels[cid];
            let Some(from) = self.leaf_at(&ch.scope_addr, ch.source.0) else {
                continue;
            };
            let mut targets = Vec::new();
            self.resolve_targets(&ch.scope_addr, ch.target, ch.exchanged, 0, &mut targets);
            for (to, exchanged) in targets {
                match seen.get_mut(&(from, to)) {
                    Some(x) => *x |= exchanged,
                    None => {
                        seen.insert((from, to), exchanged);
                        order.push((from, to));
                    }
                }
            }
        }
        order
            .into_iter()
            .map(|(from, to)| OpEdge {
                from,
                to,
                exchanged: seen[&(from, to)],
            })
            .collect()
    }

    fn resolve_targets(
        &self,
        scope: &[usize],
        target: (usize, usize),
        exchanged: bool,
        depth: usize,
        out: &mut Vec<(usize, bool)>,
    ) {
        if depth > 64 {
            return;
        }
        let (idx, port) = target;
        let (next_scope, source): (Vec<usize>, (usize, usize)) = if idx == 0 {
            // Leaves the scope: continue with the parent's channels from this scope's output.
            let Some((&me, parent)) = scope.split_last() else {
                return;
            };
            (parent.to_vec(), (me, port))
        } else {
            let mut addr = scope.to_vec();
            addr.push(idx);
            match self.by_addr.get(&addr) {
                Some(id) if self.is_leaf(*id) => {
                    out.push((*id, exchanged));
                    return;
                }
                Some(_) => (addr, (0, port)),
                None => return,
            }
        };
        for ch in self.channels.values() {
            if ch.scope_addr == next_scope && ch.source == source {
                self.resolve_targets(
                    &next_scope,
                    ch.target,
                    exchanged || ch.exchanged,
                    depth + 1,
                    out,
                );
            }
        }
    }
}

/// A worker's metrics collector. Cheap to clone (a shared handle); lives on the worker thread.
#[derive(Clone)]
pub struct Metrics {
    inner: Rc<RefCell<Collector>>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.inner.borrow();
        f.debug_struct("Metrics")
            .field("worker", &c.worker)
            .field("window", &c.window)
            .field("operators", &c.ops.len())
            .field("pending", &c.pending.len())
            .finish()
    }
}

impl Metrics {
    /// Registers the `"timely"` logger on `worker`. Call before building dataflows.
    /// Replaces any `"timely"` logger registered before; returns a handle to the collector.
    pub fn attach(worker: &mut Worker, config: MetricsConfig) -> Metrics {
        Self::attach_with_hook(worker, config, |_| {})
    }

    /// Like [`Metrics::attach`], and runs `hook` on the worker thread after each batch of log
    /// events (at least once per worker step), with the collector not borrowed, e.g. to ship
    /// closed windows.
    pub fn attach_with_hook(
        worker: &mut Worker,
        config: MetricsConfig,
        mut hook: impl FnMut(&Metrics) + 'static,
    ) -> Metrics {
        let metrics = Metrics {
            inner: Rc::new(RefCell::new(Collector::new(
                worker.index(),
                worker.peers(),
                config,
            ))),
        };
        let handle = metrics.clone();
        if let Some(mut registry) = worker.log_register() {
            registry.insert::<TimelyEventBuilder, _>("timely", move |time, data| {
                if let Ok(mut c) = handle.inner.try_borrow_mut() {
                    c.start_clock(*time);
                    if let Some(events) = data.as_ref() {
                        for (t, ev) in events.iter() {
                            c.event(*t, ev);
                        }
                    }
                    c.advance_to(*time);
                    c.flush_ledger();
                } else {
                    // Re-entered from inside a user call on the handle: keep nothing of this
                    // batch rather than panic on the worker thread.
                    return;
                }
                hook(&handle);
            });
        }
        metrics
    }

    /// The worker index.
    pub fn worker(&self) -> usize {
        self.inner.borrow().worker
    }

    /// The number of workers of the job.
    pub fn peers(&self) -> usize {
        self.inner.borrow().peers
    }

    /// The window length.
    pub fn window(&self) -> Duration {
        self.inner.borrow().window
    }

    /// Sets the probe of records operators hold in their own queues (added to backlogs).
    pub fn set_queue_probe(&self, probe: QueueProbe) {
        self.inner.borrow_mut().queue_probe = Some(probe);
    }

    /// Sets where the busy time of operators with emulated capacity comes from.
    pub fn set_busy_probe(&self, probe: BusyProbe) {
        self.inner.borrow_mut().busy_probe = Some(probe);
    }

    /// Takes the closed windows, oldest first.
    pub fn drain(&self) -> Vec<WorkerWindow> {
        std::mem::take(&mut self.inner.borrow_mut().pending)
    }

    /// Closed windows dropped because nobody drained them in time.
    pub fn dropped_windows(&self) -> u64 {
        self.inner.borrow().dropped_windows
    }

    /// Closes the current window now, with what it holds so far (e.g. at the end of a job); the
    /// next window starts now. No-op before the first log event.
    pub fn close_window_now(&self) {
        let mut c = self.inner.borrow_mut();
        let Some(now) = c.now() else { return };
        c.advance_to(now);
        if c.current.is_some() {
            c.close(now, now);
        }
    }

    /// Every operator seen, by id.
    pub fn operators(&self) -> Vec<OperatorInfo> {
        let c = self.inner.borrow();
        let mut ops: Vec<OperatorInfo> = c.ops.values().cloned().collect();
        ops.sort_by_key(|o| o.id);
        ops
    }

    /// The leaf operators (those that get samples), by id.
    pub fn leaf_operators(&self) -> Vec<OperatorInfo> {
        self.operators().into_iter().filter(|o| o.leaf).collect()
    }

    /// Edges between leaf operators, in channel order.
    pub fn edges(&self) -> Vec<OpEdge> {
        self.inner.borrow().edges()
    }

    /// The current window index, once the clock has started.
    pub fn current_window(&self) -> Option<u64> {
        self.inner.borrow().current.map(|(k, _)| k)
    }
}
