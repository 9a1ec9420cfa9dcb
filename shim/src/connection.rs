//! The link from a Timely job to a StreamTune endpoint.
//!
//! A [`StreamTune`] is created once per process, before `timely::execute`, and cloned into the
//! worker closure. It either starts the plugin's endpoint in this process
//! ([`Endpoint::InProcess`], `ipc://` by default) or connects to a running `streamtune serve`
//! ([`Endpoint::Connect`], typically `tcp://`). Every worker calls [`StreamTune::attach`]
//! **before building its dataflows**; that registers the metrics collector
//! ([`crate::metrics`]) and opens the worker's own ZeroMQ `DEALER` socket. From then on, on the
//! worker thread and without blocking it (every socket call is non-blocking):
//!
//! * HELLO / WELCOME opens the conversation;
//! * worker 0 (the job's *controller*) sends REGISTER: the job id, the DAG of the leaf operators
//!   seen (kinds, edges, partitioning), the current parallelism, the policy and its options;
//!   the other workers wait (QUERY) until the job exists;
//! * each closed window goes out as one SAMPLES part per worker, asking for an ACK;
//! * worker 0 receives DECISIONs, checks them against the job (unknown operator, parallelism
//!   outside `1..=workers`: refused with an ERROR to the endpoint) and hands them out through
//!   [`Attached::poll_decisions`]; [`Attached::ack`] reports one applied.
//!
//! Failures never stop the job: a missing plugin disables tuning (said once); an endpoint that
//! does not answer (no WELCOME, no ACK for a while) is dropped and reconnected with exponential
//! backoff, the job is re-registered, and windows not acknowledged are sent again (a bounded
//! number; older ones are dropped and counted). Each change of state is logged once.
//!
//! ```no_run
//! use std::time::Duration;
//! use streamtune_shim::connection::{Endpoint, StreamTune, TunerConfig};
//!
//! let tuner = StreamTune::new(TunerConfig::new("my-job", Endpoint::Connect("tcp://127.0.0.1:5555".into())));
//! timely::execute(timely::Config::process(2), move |worker| {
//!     let link = tuner.attach(worker); // before the dataflow is built
//!     // ... build the dataflow, run it; on worker 0 apply link.poll_decisions() ...
//!     link.finish(); // sends the last window
//! })
//! .unwrap();
//! ```

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use timely::worker::Worker;

use crate::metrics::{Ledger, Metrics, MetricsConfig, OpEdge, OwnFigures, WorkerWindow};
use crate::plugin::{ContextConfig, LogLevel, Plugin, ServeConfig, ServeStats, Server};
use crate::proto::{
    self, Ack, AckOf, Edge, ErrorMsg, Hello, Limits, Message, OpKind, Operator, Partitioning,
    Query, Register, Samples, StatusCode,
};

/// Client name sent in HELLO.
pub const CLIENT_NAME: &str = concat!("timely-shim/", env!("CARGO_PKG_VERSION"));

/// Windows kept for (re)sending while the endpoint is unreachable or has not acknowledged them.
pub const MAX_OUTBOX_WINDOWS: usize = 32;

/// Where the job's endpoint is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// Connect to a running endpoint, e.g. `tcp://10.0.0.5:5555` of a `streamtune serve`.
    Connect(String),
    /// Load the plugin and start its endpoint inside this process.
    InProcess {
        /// Plugin library; `None`: [`Plugin::default_path`].
        plugin: Option<PathBuf>,
        /// Address to bind; `None`: a fresh `ipc://` socket in the temporary directory.
        bind: Option<String>,
        /// The SQLite history file.
        history: PathBuf,
    },
}

/// What the shim tells the tuner about one operator, by Timely operator name. Unset fields are
/// inferred (kind from the name and the graph) or take the protocol's defaults.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OperatorHint {
    /// Timely's name of the operator (exact match).
    pub name: String,
    /// Its kind.
    pub kind: Option<OpKind>,
    /// Whether it keeps per-key state.
    pub stateful: Option<bool>,
    /// Sources: target input rate, records/s.
    pub rate: Option<f64>,
    /// Records out per record in (> 0).
    pub selectivity: Option<f64>,
}

/// A sink for the shim's log lines (state changes, refused decisions...).
pub type LogFn = Arc<dyn Fn(&str) + Send + Sync>;

/// Configuration of a [`StreamTune`] link.
#[derive(Clone)]
pub struct TunerConfig {
    /// Job id, unique per endpoint (1..=128 bytes).
    pub job: String,
    /// Where the endpoint is.
    pub endpoint: Endpoint,
    /// Tuning policy: `streamtune` (default), `ds2`, `conttune`, `flink-autoscaler`, `dhalion`,
    /// `static`.
    pub policy: String,
    /// Policy options.
    pub policy_opts: Vec<(String, f64)>,
    /// Window length (default 1 s).
    pub window: Duration,
    /// Operator hints.
    pub operators: Vec<OperatorHint>,
    /// How long to wait for WELCOME, for the ACK of REGISTER, or for STATUS before giving up on
    /// the connection (default 3 s).
    pub reply_timeout: Duration,
    /// How long SAMPLES may stay unacknowledged before the endpoint is considered gone
    /// (default: the larger of 6 s and 4 windows).
    pub ack_timeout: Duration,
    /// First reconnection delay (default 100 ms); doubles per failure up to `backoff_max`.
    pub backoff_min: Duration,
    /// Largest reconnection delay (default 5 s).
    pub backoff_max: Duration,
    /// How long [`Attached::finish`] waits for the last windows to be acknowledged (default 2 s).
    pub finish_timeout: Duration,
    /// Where log lines go; `None`: stderr.
    pub log: Option<LogFn>,
    /// Register only what can be tuned: the tuned operators, plus the operators named in
    /// `operators` (at parallelism 1, fixed): the sources, and whatever changes the rates
    /// between them, such as a pre-aggregation in front of a tuned exchange, whose reduction
    /// the targets of the operators after it depend on. Every other operator
    /// (demultiplexers, maps, probes, tuned operators' routers) is contracted out of the DAG,
    /// its edges passing through. Default false: every leaf operator is registered.
    pub tuned_only: bool,
}

impl fmt::Debug for TunerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TunerConfig")
            .field("job", &self.job)
            .field("endpoint", &self.endpoint)
            .field("policy", &self.policy)
            .field("policy_opts", &self.policy_opts)
            .field("window", &self.window)
            .field("operators", &self.operators)
            .finish_non_exhaustive()
    }
}

impl TunerConfig {
    /// A job `job` tuned through `endpoint` with the `streamtune` policy and 1 s windows.
    pub fn new(job: impl Into<String>, endpoint: Endpoint) -> Self {
        TunerConfig {
            job: job.into(),
            endpoint,
            policy: "streamtune".into(),
            policy_opts: Vec::new(),
            window: crate::metrics::DEFAULT_WINDOW,
            operators: Vec::new(),
            reply_timeout: Duration::from_secs(3),
            ack_timeout: Duration::from_secs(6),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            finish_timeout: Duration::from_secs(2),
            log: None,
            tuned_only: false,
        }
    }

    /// Sets the policy and its options.
    pub fn policy(mut self, name: impl Into<String>, opts: Vec<(String, f64)>) -> Self {
        self.policy = name.into();
        self.policy_opts = opts;
        self
    }

    /// Sets the window length (and an ACK timeout of at least 4 windows).
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window.max(Duration::from_millis(1));
        self.ack_timeout = self.ack_timeout.max(self.window * 4);
        self
    }

    /// Adds an operator hint.
    pub fn hint(mut self, hint: OperatorHint) -> Self {
        self.operators.push(hint);
        self
    }
}

struct Shared {
    config: TunerConfig,
    zmq: zmq::Context,
    endpoint: Option<String>,
    disabled: Option<String>,
    server: Mutex<Option<Server>>,
    ledger: Ledger,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Ok(mut s) = self.server.lock() {
            s.take();
        }
    }
}

/// A job's link to its tuner, shared by all workers of a process (cheap to clone, `Send`).
#[derive(Clone)]
pub struct StreamTune {
    shared: Arc<Shared>,
}

impl fmt::Debug for StreamTune {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamTune")
            .field("job", &self.shared.config.job)
            .field("endpoint", &self.shared.endpoint)
            .field("disabled", &self.shared.disabled)
            .finish()
    }
}

fn log_line(log: &Option<LogFn>, line: &str) {
    match log {
        Some(f) => f(line),
        None => eprintln!("{line}"),
    }
}

static IPC_COUNTER: AtomicU64 = AtomicU64::new(0);

impl StreamTune {
    /// Prepares the link. Never fails: if the in-process plugin cannot be loaded or started,
    /// tuning is disabled (said once on the log) and the job runs untuned, with metrics.
    pub fn new(config: TunerConfig) -> StreamTune {
        let mut disabled = None;
        let mut server = None;
        let endpoint = match &config.endpoint {
            Endpoint::Connect(addr) => Some(addr.clone()),
            Endpoint::InProcess {
                plugin,
                bind,
                history,
            } => match start_in_process(plugin.as_deref(), bind.as_deref(), history, &config.log) {
                Ok((s, ep)) => {
                    server = Some(s);
                    Some(ep)
                }
                Err(e) => {
                    disabled = Some(e.to_string());
                    None
                }
            },
        };
        if let Some(reason) = &disabled {
            log_line(
                &config.log,
                &format!(
                    "streamtune: job {}: tuning disabled ({reason}); the job runs at its current parallelism",
                    config.job
                ),
            );
        }
        StreamTune {
            shared: Arc::new(Shared {
                config,
                zmq: zmq::Context::new(),
                endpoint,
                disabled,
                server: Mutex::new(server),
                ledger: Ledger::new(),
            }),
        }
    }

    /// The endpoint address workers connect to (`None` if tuning is disabled).
    pub fn endpoint(&self) -> Option<&str> {
        self.shared.endpoint.as_deref()
    }

    /// Why tuning is disabled, if it is.
    pub fn disabled_reason(&self) -> Option<&str> {
        self.shared.disabled.as_deref()
    }

    /// The configuration.
    pub fn config(&self) -> &TunerConfig {
        &self.shared.config
    }

    /// Counters of the in-process endpoint, if this link started one.
    pub fn server_stats(&self) -> Option<ServeStats> {
        let guard = self.shared.server.lock().ok()?;
        guard.as_ref()?.stats().ok()
    }

    /// Stops the in-process endpoint now (pending windows are committed); otherwise it stops
    /// when the last clone is dropped.
    pub fn stop_server(&self) {
        if let Ok(mut s) = self.shared.server.lock() {
            s.take();
        }
    }

    /// Attaches to `worker`: registers the metrics collector and opens this worker's socket.
    /// Call before building the worker's dataflows.
    pub fn attach(&self, worker: &mut Worker) -> Attached {
        let index = worker.index();
        let peers = worker.peers();
        let link = Rc::new(RefCell::new(Link::new(
            Arc::clone(&self.shared),
            index,
            peers,
        )));
        let hook_link = Rc::clone(&link);
        let cfg = MetricsConfig {
            window: self.shared.config.window,
            ledger: Some(self.shared.ledger.clone()),
        };
        let metrics = Metrics::attach_with_hook(worker, cfg, move |m| {
            if let Ok(mut l) = hook_link.try_borrow_mut() {
                l.poll(m, false);
            }
        });
        Attached { link, metrics }
    }
}

fn start_in_process(
    plugin: Option<&std::path::Path>,
    bind: Option<&str>,
    history: &std::path::Path,
    log: &Option<LogFn>,
) -> Result<(Server, String), crate::plugin::Error> {
    let plugin = Plugin::load(plugin)?;
    let bind = match bind {
        Some(b) => b.to_owned(),
        None => format!(
            "ipc://{}/streamtune-{}-{}.sock",
            std::env::temp_dir().display(),
            std::process::id(),
            IPC_COUNTER.fetch_add(1, Ordering::Relaxed)
        ),
    };
    let sink = log.clone();
    let ctx = plugin.context_with(ContextConfig {
        log_level: LogLevel::Info,
        log: Some(Box::new(move |level, msg| {
            let line = format!("streamtune plugin [{level:?}]: {msg}");
            log_line(&sink, &line);
        })),
    })?;
    let server = ctx.serve(&ServeConfig::new(bind, history))?;
    let ep = server.endpoint()?;
    Ok((server, ep))
}

/// The state of a worker's link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// Tuning is disabled (no endpoint).
    Disabled,
    /// HELLO sent, waiting for WELCOME.
    Connecting,
    /// Worker 0: REGISTER sent, waiting for its ACK. Others: waiting for the job to exist.
    Registering,
    /// Registered; windows flow.
    Ready,
    /// The endpoint did not answer; waiting before the next attempt.
    Backoff,
    /// [`Attached::finish`] has run.
    Finished,
}

/// Counters of one worker's link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// SAMPLES messages sent (resends included).
    pub windows_sent: u64,
    /// Windows acknowledged durable by the endpoint.
    pub windows_acked: u64,
    /// Windows dropped because the outbox was full.
    pub windows_dropped: u64,
    /// Decisions accepted and handed out.
    pub decisions: u64,
    /// Decisions refused (malformed, unknown operator, parallelism out of range).
    pub decisions_refused: u64,
    /// ERROR messages received.
    pub errors: u64,
    /// Connections given up on (then re-opened).
    pub reconnects: u64,
    /// Successful registrations (worker 0) or job confirmations (others).
    pub registrations: u64,
}

/// One operator's new parallelism in a [`Decision`].
#[derive(Clone, Debug, PartialEq)]
pub struct DecidedOp {
    /// Operator id (Timely's worker-unique id).
    pub id: u32,
    /// Operator name (the key of tuned operators).
    pub name: String,
    /// New parallelism, `1..=workers`.
    pub p: u32,
    /// Predicted bottleneck probability at `p`.
    pub prob: f64,
}

/// A tuning decision for the job, checked against it.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// Decision number, increasing per job.
    pub seq: u64,
    /// The epoch from which it holds.
    pub epoch: u64,
    /// New parallelism per operator.
    pub ops: Vec<DecidedOp>,
    /// Why, in words.
    pub reason: String,
    /// The policy that decided.
    pub policy: String,
}

impl Decision {
    /// `(operator name, parallelism)` pairs, the form tuned operators are rescaled by.
    pub fn parallelism_by_name(&self) -> Vec<(String, usize)> {
        self.ops
            .iter()
            .map(|o| (o.name.clone(), o.p as usize))
            .collect()
    }
}

/// Live figures of one tuned operator on this worker, for REGISTER and backlogs.
#[derive(Clone, Debug, PartialEq)]
pub struct TunedInfo {
    /// The operator's name.
    pub name: String,
    /// Its current parallelism.
    pub parallelism: usize,
    /// Whether it keeps per-key state.
    pub stateful: bool,
    /// Records waiting in its own queues.
    pub queued: usize,
    /// With emulated capacity: its cumulative virtual service time, seconds, which replaces
    /// the scheduled time as its busy time.
    pub emulated_busy_s: Option<f64>,
    /// Records it has processed so far on this worker, if it counts them (they replace the
    /// records received as its records in).
    pub processed: Option<u64>,
    /// Whether this worker hosts any of its bins (or still holds records of it): only such
    /// instances report samples, so per-instance figures are over its active instances.
    pub active: bool,
}

type TunedProbe = Rc<dyn Fn() -> Vec<TunedInfo>>;

enum Phase {
    Disabled,
    Hello { sent: Instant },
    Registering { sent: Instant, id: u64 },
    AwaitJob { sent: Instant, id: u64 },
    Ready,
    Backoff { until: Instant },
    Finished,
}

/// The registered view of the job: the REGISTER sent and its operators by id.
struct Registered {
    register: Register,
    ids: HashSet<u32>,
    names: HashMap<u32, String>,
}

struct Link {
    shared: Arc<Shared>,
    index: usize,
    peers: usize,
    socket: Option<zmq::Socket>,
    phase: Phase,
    backoff: Duration,
    healthy: Option<bool>,
    last_error: Option<String>,
    request_id: u64,
    limits: Limits,

    windows_closed: u64,
    // Whether a closed window showed records moving (so exchanges could be told apart).
    traffic_seen: bool,
    // Delay before a non-controller asks again whether the job exists; doubles up to 2 s.
    query_delay: Duration,
    dag: Option<Registered>,
    outbox: VecDeque<WorkerWindow>,
    // Sent, not yet acknowledged: window index -> (window, sent at).
    unacked: VecDeque<(WorkerWindow, Instant)>,
    epoch: u64,
    lag_ms: Option<f64>,
    tuned: Option<TunedProbe>,
    /// Source rates set by the job after start (they override the hints).
    source_rates: HashMap<String, f64>,
    /// A rate update is due: register again with the same DAG.
    reregister: bool,

    decisions: Vec<Decision>,
    last_seq: u64,
    pending_acks: Vec<(u64, u64)>,
    last_io: Option<Instant>,
    stats: LinkStats,
}

impl Link {
    fn new(shared: Arc<Shared>, index: usize, peers: usize) -> Self {
        let backoff = shared.config.backoff_min;
        let mut link = Link {
            shared,
            index,
            peers,
            socket: None,
            phase: Phase::Disabled,
            backoff,
            healthy: None,
            last_error: None,
            request_id: 0,
            limits: Limits::default(),
            windows_closed: 0,
            traffic_seen: false,
            query_delay: Duration::from_millis(200),
            dag: None,
            outbox: VecDeque::new(),
            unacked: VecDeque::new(),
            epoch: 0,
            lag_ms: None,
            tuned: None,
            source_rates: HashMap::new(),
            reregister: false,
            decisions: Vec::new(),
            last_seq: 0,
            pending_acks: Vec::new(),
            last_io: None,
            stats: LinkStats::default(),
        };
        if link.shared.endpoint.is_some() {
            link.open(Instant::now());
        }
        link
    }

    fn config(&self) -> &TunerConfig {
        &self.shared.config
    }

    fn say(&self, msg: &str) {
        log_line(
            &self.config().log,
            &format!(
                "streamtune: job {} worker {}: {msg}",
                self.config().job,
                self.index
            ),
        );
    }

    /// Logs a change of health once: `up` true when the link works, false when it is lost.
    fn health(&mut self, up: bool, msg: &str) {
        if self.healthy != Some(up) {
            self.healthy = Some(up);
            self.say(msg);
        }
    }

    /// Logs an error once until one of a different kind (or success) comes.
    fn error_once(&mut self, kind: &str, msg: String) {
        if self.last_error.as_deref() != Some(kind) {
            self.say(&msg);
            self.last_error = Some(kind.to_owned());
        }
    }

    fn is_controller(&self) -> bool {
        self.index == 0
    }

    fn state(&self) -> LinkState {
        match self.phase {
            Phase::Disabled => LinkState::Disabled,
            Phase::Hello { .. } => LinkState::Connecting,
            Phase::Registering { .. } | Phase::AwaitJob { .. } => LinkState::Registering,
            Phase::Ready => LinkState::Ready,
            Phase::Backoff { .. } => LinkState::Backoff,
            Phase::Finished => LinkState::Finished,
        }
    }

    fn next_id(&mut self) -> u64 {
        self.request_id += 1;
        self.request_id
    }

    /// Opens a fresh socket and sends HELLO.
    fn open(&mut self, now: Instant) {
        let Some(endpoint) = self.shared.endpoint.clone() else {
            self.phase = Phase::Disabled;
            return;
        };
        let socket = match self.make_socket(&endpoint) {
            Ok(s) => s,
            Err(e) => {
                self.error_once("socket", format!("cannot open a socket to {endpoint}: {e}"));
                self.fail(now, "socket error");
                return;
            }
        };
        self.socket = Some(socket);
        let hello = Message::Hello(Hello {
            client: CLIENT_NAME.into(),
            versions: vec![proto::PROTO_VERSION],
        });
        if self.send(&hello) {
            self.phase = Phase::Hello { sent: now };
        } else {
            self.fail(now, "HELLO could not be queued");
        }
    }

    fn make_socket(&self, endpoint: &str) -> zmq::Result<zmq::Socket> {
        let s = self.shared.zmq.socket(zmq::DEALER)?;
        s.set_linger(0)?;
        s.set_sndhwm(256)?;
        s.set_rcvhwm(256)?;
        s.set_reconnect_ivl(100)?;
        s.set_reconnect_ivl_max(2000)?;
        s.connect(endpoint)?;
        Ok(s)
    }

    /// Gives up on the current connection: drops the socket, re-queues unacknowledged windows,
    /// waits before the next attempt.
    fn fail(&mut self, now: Instant, why: &str) {
        self.socket = None;
        self.stats.reconnects += 1;
        while let Some((w, _)) = self.unacked.pop_back() {
            self.outbox.push_front(w);
        }
        self.trim_outbox();
        let endpoint = self.shared.endpoint.clone().unwrap_or_default();
        self.health(
            false,
            &format!(
                "endpoint {endpoint} not available ({why}); the job keeps running at its current \
                 parallelism; reconnecting"
            ),
        );
        self.phase = Phase::Backoff {
            until: now + self.backoff,
        };
        self.backoff = (self.backoff * 2).min(self.config().backoff_max);
    }

    fn trim_outbox(&mut self) {
        while self.outbox.len() > MAX_OUTBOX_WINDOWS {
            self.outbox.pop_front();
            self.stats.windows_dropped += 1;
        }
    }

    /// Sends without blocking; false if the message could not be queued.
    fn send(&mut self, msg: &Message) -> bool {
        let Some(socket) = &self.socket else {
            return false;
        };
        let bytes = match proto::try_encode(msg, &self.limits) {
            Ok(b) => b,
            Err(e) => {
                self.error_once("encode", format!("cannot encode {}: {e}", msg.type_name()));
                return false;
            }
        };
        socket.send(bytes, zmq::DONTWAIT).is_ok()
    }

    /// Drives the link: reads replies, times out, (re)connects, registers, ships windows.
    fn poll(&mut self, metrics: &Metrics, force: bool) {
        if matches!(self.phase, Phase::Disabled | Phase::Finished) {
            // Windows are not needed; keep the collector from holding them.
            if matches!(self.phase, Phase::Disabled) {
                let n = metrics.drain().len();
                self.windows_closed += n as u64;
            }
            return;
        }
        let now = Instant::now();
        if !force {
            if let Some(last) = self.last_io {
                if now.duration_since(last) < Duration::from_millis(1) {
                    return;
                }
            }
        }
        self.last_io = Some(now);

        for w in metrics.drain() {
            self.windows_closed += 1;
            self.traffic_seen |= w.ops.iter().any(|s| s.records_out > 0.0);
            self.outbox.push_back(w);
        }
        self.trim_outbox();
        self.receive(metrics, now);
        self.step(metrics, now);
    }

    fn receive(&mut self, metrics: &Metrics, now: Instant) {
        for _ in 0..64 {
            let Some(socket) = &self.socket else { return };
            let bytes = match socket.recv_bytes(zmq::DONTWAIT) {
                Ok(b) => b,
                Err(_) => return,
            };
            match proto::decode(&bytes, &Limits::default()) {
                Ok(msg) => self.handle(msg, metrics, now),
                Err(e) => {
                    self.stats.decisions_refused += u64::from(self.is_controller());
                    self.error_once(
                        "malformed",
                        format!("malformed message from the endpoint: {e}"),
                    );
                    let err = Message::Error(ErrorMsg {
                        code: e.code(),
                        name: e.name().into(),
                        message: truncate(&format!("client: {}", e.message()), proto::MAX_TEXT),
                        id: 0,
                        job: self.config().job.clone(),
                    });
                    self.send(&err);
                }
            }
        }
    }

    fn handle(&mut self, msg: Message, metrics: &Metrics, now: Instant) {
        match msg {
            Message::Welcome(w) => {
                if matches!(self.phase, Phase::Hello { .. }) {
                    self.limits = w.limits();
                    self.begin_registration(metrics, now);
                }
            }
            Message::Ack(a) => match a.of {
                AckOf::Register => {
                    if let Phase::Registering { id, .. } = self.phase {
                        if a.id == id {
                            self.ready(&format!("registered (DAG hash {:016x})", a.hash));
                        }
                    }
                }
                AckOf::Samples => {
                    let before = self.unacked.len();
                    self.unacked.retain(|(w, _)| w.window != a.window);
                    self.stats.windows_acked += (before - self.unacked.len()) as u64;
                }
                AckOf::Decision => {}
            },
            Message::Status(s) => {
                if let Phase::AwaitJob { id, .. } = self.phase {
                    if s.id == id {
                        self.ready("the job is registered");
                    }
                }
            }
            Message::Decision(d) => self.decision(d),
            Message::Error(e) => self.endpoint_error(e, metrics, now),
            other => self.error_once(
                "unexpected",
                format!("unexpected {} from the endpoint", other.type_name()),
            ),
        }
    }

    fn ready(&mut self, what: &str) {
        self.phase = Phase::Ready;
        self.backoff = self.config().backoff_min;
        self.query_delay = Duration::from_millis(200);
        self.stats.registrations += 1;
        self.last_error = None;
        let endpoint = self.shared.endpoint.clone().unwrap_or_default();
        let msg = format!("connected to {endpoint}: {what}");
        self.health(true, &msg);
    }

    fn endpoint_error(&mut self, e: ErrorMsg, metrics: &Metrics, now: Instant) {
        let status = e.status();
        let expected = matches!(self.phase, Phase::AwaitJob { id, .. } if id == e.id)
            && status == Some(StatusCode::Ejob);
        if !expected {
            self.stats.errors += 1;
        }
        match (&self.phase, status) {
            (Phase::Ready, Some(StatusCode::Ejob)) => {
                // The endpoint lost the job (e.g. restarted): register again, resend windows.
                self.requeue_unacked();
                self.error_once(
                    "EJOB",
                    format!(
                        "endpoint does not know the job ({}); registering again",
                        e.message
                    ),
                );
                self.begin_registration(metrics, now);
            }
            (Phase::AwaitJob { id, .. }, Some(StatusCode::Ejob)) if e.id == *id => {
                // Not registered yet (the endpoint answers, though): ask again later.
                self.phase = Phase::AwaitJob { sent: now, id: 0 };
                self.query_delay = (self.query_delay * 2).min(Duration::from_secs(2));
            }
            (Phase::Registering { id, .. }, _) if e.id == *id => {
                self.error_once(
                    "register",
                    format!("REGISTER refused: {} {}", e.name, e.message),
                );
                self.fail(now, "registration refused");
                self.backoff = self.config().backoff_max;
            }
            _ => {
                // A window refused (e.g. already closed) or an ACK of an unknown decision:
                // nothing to redo.
                if status == Some(StatusCode::Eorder) {
                    // That window will never be acknowledged.
                    self.drop_unacked_named(&e.message);
                }
                self.error_once(&e.name, format!("endpoint error {}: {}", e.name, e.message));
            }
        }
    }

    fn drop_unacked_named(&mut self, message: &str) {
        let before = self.unacked.len();
        self.unacked
            .retain(|(w, _)| !message.contains(&format!("window {}", w.window)));
        if self.unacked.len() == before {
            // Cannot tell which: the oldest is the likeliest.
            self.unacked.pop_front();
        }
    }

    fn requeue_unacked(&mut self) {
        while let Some((w, _)) = self.unacked.pop_back() {
            self.outbox.push_front(w);
        }
        self.trim_outbox();
    }

    fn decision(&mut self, d: proto::Decision) {
        if !self.is_controller() || d.job != self.config().job {
            return;
        }
        if d.seq <= self.last_seq {
            return; // a repeat
        }
        let Some(dag) = &self.dag else { return };
        let mut ops = Vec::with_capacity(d.op.len());
        let mut problem = None;
        if d.op.len() != d.p.len() || (!d.prob.is_empty() && d.prob.len() != d.op.len()) {
            problem = Some((
                StatusCode::Efield,
                "columns of different lengths".to_owned(),
            ));
        }
        for (i, (&op, &p)) in d.op.iter().zip(d.p.iter()).enumerate() {
            if problem.is_some() {
                break;
            }
            if !dag.ids.contains(&op) {
                problem = Some((
                    StatusCode::Egraph,
                    format!("operator {op} is not part of the job"),
                ));
            } else if p == 0 || p as usize > self.peers {
                problem = Some((
                    StatusCode::Evalue,
                    format!(
                        "parallelism {p} for operator {op} is outside 1..={}",
                        self.peers
                    ),
                ));
            } else {
                ops.push(DecidedOp {
                    id: op,
                    name: dag.names.get(&op).cloned().unwrap_or_default(),
                    p,
                    prob: d.prob.get(i).copied().unwrap_or(f64::NAN),
                });
            }
        }
        if let Some((code, text)) = problem {
            self.stats.decisions_refused += 1;
            self.last_seq = d.seq;
            let message = format!("decision {} ignored: {text}", d.seq);
            // Each refused decision is its own event: always said.
            self.say(&message);
            let err = Message::Error(ErrorMsg {
                code: code.code(),
                name: code.name().into(),
                message: truncate(&message, proto::MAX_TEXT),
                id: 0,
                job: d.job.clone(),
            });
            self.send(&err);
            return;
        }
        self.last_seq = d.seq;
        self.stats.decisions += 1;
        self.decisions.push(Decision {
            seq: d.seq,
            epoch: d.epoch,
            ops,
            reason: d.reason,
            policy: d.policy,
        });
    }

    fn begin_registration(&mut self, metrics: &Metrics, now: Instant) {
        if !self.is_controller() {
            let id = self.next_id();
            let q = Message::Query(Query {
                id,
                job: self.config().job.clone(),
            });
            self.send(&q);
            self.phase = Phase::AwaitJob { sent: now, id };
            return;
        }
        // Worker 0 registers once the dataflow exists and a window of traffic has been seen
        // (to tell exchanges from pipelines); until then it waits in Registering with id 0.
        if self.dag.is_none() {
            let seen_enough =
                self.windows_closed >= 2 || (self.windows_closed >= 1 && self.traffic_seen);
            if !seen_enough || metrics.leaf_operators().is_empty() {
                self.phase = Phase::Registering { sent: now, id: 0 };
                return;
            }
            self.dag = Some(self.build_dag(metrics));
        }
        let id = self.next_id();
        let tuned = self.tuned.as_ref().map(|t| t()).unwrap_or_default();
        let Some(dag) = self.dag.as_mut() else { return };
        dag.register.id = id;
        for op in dag.register.ops.iter_mut() {
            if let Some(&rate) = self.source_rates.get(&op.name) {
                op.rate = rate;
            }
        }
        // Current parallelism of tuned operators (it changes with decisions).
        for op in dag.register.ops.iter_mut() {
            if let Some(t) = tuned.iter().find(|t| t.name == op.name) {
                op.p = (t.parallelism as u32).clamp(1, op.p_max);
            }
        }
        let msg = Message::Register(dag.register.clone());
        self.send(&msg);
        self.phase = Phase::Registering { sent: now, id };
    }

    fn build_dag(&self, metrics: &Metrics) -> Registered {
        let cfg = self.config();
        let peers = (self.peers as u32).clamp(1, proto::MAX_PARALLELISM);
        let tuned = self.tuned.as_ref().map(|t| t()).unwrap_or_default();
        let hinted = |name: &str| cfg.operators.iter().any(|h| h.name == name);
        let contract = cfg.tuned_only && !tuned.is_empty();
        let keep = |name: &str| !contract || hinted(name) || tuned.iter().any(|t| t.name == name);
        let all_leaves = metrics.leaf_operators();
        let leaves: Vec<_> = all_leaves
            .iter()
            .filter(|o| u32::try_from(o.id).is_ok() && keep(&o.name))
            .take(self.limits.max_ops.min(proto::MAX_OPS) as usize)
            .cloned()
            .collect();
        let ids: HashSet<u32> = leaves.iter().map(|o| o.id as u32).collect();
        let raw_edges = metrics.edges();
        let graph_edges = if contract {
            contract_edges(&raw_edges, |id| {
                u32::try_from(id).is_ok_and(|id| ids.contains(&id))
            })
        } else {
            raw_edges
        };

        // Edges among registered operators, without cycles (feedback loops are dropped).
        let mut edges: Vec<Edge> = Vec::new();
        let mut succ: HashMap<u32, Vec<u32>> = HashMap::new();
        for e in graph_edges {
            let (Ok(from), Ok(to)) = (u32::try_from(e.from), u32::try_from(e.to)) else {
                continue;
            };
            if from == to || !ids.contains(&from) || !ids.contains(&to) {
                continue;
            }
            if edges.len() >= self.limits.max_edges.min(proto::MAX_EDGES) as usize {
                break;
            }
            if reaches(&succ, to, from) {
                continue;
            }
            succ.entry(from).or_default().push(to);
            let partitioning = if e.exchanged {
                Partitioning::Hash
            } else {
                Partitioning::Forward
            };
            edges.push(Edge {
                from,
                to,
                partitioning,
            });
        }
        let has_in: HashSet<u32> = edges.iter().map(|e| e.to).collect();
        let has_out: HashSet<u32> = edges.iter().map(|e| e.from).collect();

        let mut names = HashMap::new();
        let ops = leaves
            .iter()
            .map(|o| {
                let id = o.id as u32;
                let name = truncate(&o.name, proto::MAX_NAME);
                names.insert(id, o.name.clone());
                let hint = cfg.operators.iter().find(|h| h.name == o.name);
                let t = tuned.iter().find(|t| t.name == o.name);
                let kind = hint.and_then(|h| h.kind).unwrap_or_else(|| {
                    infer_kind(&o.name, has_in.contains(&id), has_out.contains(&id))
                });
                Operator {
                    id,
                    name,
                    kind,
                    stateful: hint
                        .and_then(|h| h.stateful)
                        .or(t.map(|t| t.stateful))
                        .unwrap_or(false),
                    selectivity: hint
                        .and_then(|h| h.selectivity)
                        .filter(|s| s.is_finite() && *s > 0.0)
                        .unwrap_or(1.0),
                    rate: hint
                        .and_then(|h| h.rate)
                        .filter(|r| r.is_finite() && *r >= 0.0)
                        .unwrap_or(0.0),
                    p: if contract && t.is_none() {
                        1
                    } else {
                        t.map_or(peers, |t| (t.parallelism as u32).clamp(1, peers))
                    },
                    p_max: if contract && t.is_none() { 1 } else { peers },
                }
            })
            .collect();
        let register = Register {
            job: cfg.job.clone(),
            id: 0,
            senders: self.peers as u32,
            window_ms: cfg.window.as_millis().clamp(1, u128::from(u32::MAX)) as u32,
            policy: cfg.policy.clone(),
            policy_opts: cfg.policy_opts.clone(),
            ops,
            edges,
        };
        Registered {
            register,
            ids,
            names,
        }
    }

    fn step(&mut self, metrics: &Metrics, now: Instant) {
        let reply_timeout = self.config().reply_timeout;
        match self.phase {
            Phase::Disabled | Phase::Finished => {}
            Phase::Backoff { until } => {
                if now >= until {
                    self.open(now);
                }
            }
            Phase::Hello { sent } => {
                if now.duration_since(sent) > reply_timeout {
                    self.fail(now, "no WELCOME");
                }
            }
            Phase::Registering { sent, id } => {
                if id == 0 {
                    // Waiting for the dataflow: try now.
                    self.begin_registration(metrics, now);
                } else if now.duration_since(sent) > reply_timeout {
                    self.fail(now, "REGISTER not acknowledged");
                }
            }
            Phase::AwaitJob { sent, id } => {
                if id == 0 {
                    // The job did not exist at the last answer: ask again.
                    if now.duration_since(sent) > self.query_delay {
                        self.begin_registration(metrics, now);
                    }
                } else if now.duration_since(sent) > reply_timeout {
                    self.fail(now, "QUERY not answered");
                }
            }
            Phase::Ready => {
                if self.reregister && self.is_controller() {
                    self.reregister = false;
                    self.begin_registration(metrics, now);
                    return;
                }
                self.flush_acks();
                if self.dag.is_none() && self.config().tuned_only {
                    // Other workers send only the operators worker 0 registered; the same
                    // dataflow and tuned operators give them the same set.
                    self.dag = Some(self.build_dag(metrics));
                }
                self.ship(now);
                if let Some((_, at)) = self.unacked.front() {
                    if now.duration_since(*at) > self.config().ack_timeout {
                        self.fail(now, "windows not acknowledged");
                    }
                }
            }
        }
    }

    fn flush_acks(&mut self) {
        let acks = std::mem::take(&mut self.pending_acks);
        for (seq, epoch) in acks {
            let msg = Message::Ack(Ack {
                of: AckOf::Decision,
                job: self.config().job.clone(),
                id: 0,
                window: 0,
                seq,
                epoch,
                hash: 0,
            });
            if !self.send(&msg) {
                self.pending_acks.push((seq, epoch));
            }
        }
    }

    fn ship(&mut self, now: Instant) {
        while let Some(w) = self.outbox.pop_front() {
            let msg = Message::Samples(self.samples_of(&w));
            if !self.send(&msg) {
                self.outbox.push_front(w);
                break;
            }
            self.stats.windows_sent += 1;
            self.unacked.push_back((w, now));
            while self.unacked.len() > MAX_OUTBOX_WINDOWS {
                self.unacked.pop_front();
            }
        }
    }

    fn samples_of(&self, w: &WorkerWindow) -> Samples {
        let ids = self.dag.as_ref().map(|d| &d.ids);
        let tuned = self.tuned.as_ref().map(|t| t()).unwrap_or_default();
        // A tuned operator's instance on a worker without bins did nothing: not an instance.
        let idle = |name: &str, records: f64| {
            tuned
                .iter()
                .any(|t| t.name == name && !t.active && records == 0.0)
        };
        let rows: Vec<_> = w
            .ops
            .iter()
            .filter(|s| u32::try_from(s.op).is_ok_and(|id| ids.is_none_or(|ids| ids.contains(&id))))
            .filter(|s| !idle(&s.name, s.records_in + s.records_out))
            .take(self.limits.max_rows as usize)
            .collect();
        let finite = |x: f64| if x.is_finite() && x >= 0.0 { x } else { 0.0 };
        // A source's input is outside the job: what it receives is not records in, or rate
        // policies would apply its filtering twice (its target rate is already its output).
        let sources: HashSet<u32> = self
            .dag
            .as_ref()
            .map(|d| {
                d.register
                    .ops
                    .iter()
                    .filter(|o| o.kind == OpKind::Source)
                    .map(|o| o.id)
                    .collect()
            })
            .unwrap_or_default();
        Samples {
            job: self.config().job.clone(),
            window: w.window,
            epoch: self.epoch,
            duration_ms: (w.duration_ms.round() as u32).max(1),
            sender: self.index as u32,
            ack: true,
            lag_ms: self.lag_ms.filter(|l| l.is_finite() && *l >= 0.0),
            op: rows.iter().map(|s| s.op as u32).collect(),
            inst: rows.iter().map(|_| self.index as u32).collect(),
            busy_ms: rows.iter().map(|s| finite(s.busy_ms)).collect(),
            r#in: rows
                .iter()
                .map(|s| {
                    if sources.contains(&(s.op as u32)) {
                        0.0
                    } else {
                        finite(s.records_in)
                    }
                })
                .collect(),
            out: rows.iter().map(|s| finite(s.records_out)).collect(),
            backlog: rows.iter().map(|s| finite(s.backlog)).collect(),
            bp_ms: None,
        }
    }

    /// Ships the last window and waits (bounded) for its acknowledgement.
    fn finish(&mut self, metrics: &Metrics) {
        if matches!(self.phase, Phase::Finished | Phase::Disabled) {
            return;
        }
        metrics.close_window_now();
        self.poll(metrics, true);
        // Worker 0 may still be waiting to register (short jobs): do it now.
        if let Phase::Registering { id: 0, .. } = self.phase {
            if !metrics.leaf_operators().is_empty() {
                self.dag = Some(self.build_dag(metrics));
                self.begin_registration(metrics, Instant::now());
            }
        }
        let deadline = Instant::now() + self.config().finish_timeout;
        while Instant::now() < deadline {
            let waiting = match self.phase {
                Phase::Ready => !self.unacked.is_empty() || !self.outbox.is_empty(),
                Phase::Hello { .. } | Phase::Registering { .. } | Phase::AwaitJob { .. } => true,
                _ => false,
            };
            if !waiting {
                break;
            }
            if let Some(s) = &self.socket {
                let _ = s.poll(zmq::POLLIN, 10);
            } else {
                std::thread::sleep(Duration::from_millis(10));
            }
            self.poll(metrics, true);
        }
        if let Some(s) = &self.socket {
            let _ = s.set_linger(200);
        }
        self.phase = Phase::Finished;
    }
}

/// Edges between kept operators through chains of dropped ones; an edge is exchanged if any
/// hop on its path is.
fn contract_edges(edges: &[OpEdge], kept: impl Fn(usize) -> bool) -> Vec<OpEdge> {
    let mut succ: HashMap<usize, Vec<(usize, bool)>> = HashMap::new();
    for e in edges {
        succ.entry(e.from).or_default().push((e.to, e.exchanged));
    }
    let mut out: Vec<OpEdge> = Vec::new();
    let mut sources: Vec<usize> = edges.iter().map(|e| e.from).filter(|&f| kept(f)).collect();
    sources.sort_unstable();
    sources.dedup();
    for from in sources {
        let mut seen: HashSet<usize> = HashSet::new();
        let mut stack: Vec<(usize, bool)> = succ.get(&from).cloned().unwrap_or_default();
        while let Some((node, exchanged)) = stack.pop() {
            if kept(node) {
                match out.iter_mut().find(|e| e.from == from && e.to == node) {
                    Some(e) => e.exchanged |= exchanged,
                    None => out.push(OpEdge {
                        from,
                        to: node,
                        exchanged,
                    }),
                }
                continue;
            }
            if !seen.insert(node) {
                continue;
            }
            for &(next, x) in succ.get(&node).map(Vec::as_slice).unwrap_or(&[]) {
                stack.push((next, exchanged || x));
            }
        }
    }
    out
}

/// Whether `from` can reach `target` along `succ`.
fn reaches(succ: &HashMap<u32, Vec<u32>>, from: u32, target: u32) -> bool {
    let mut stack = vec![from];
    let mut seen = HashSet::new();
    while let Some(n) = stack.pop() {
        if n == target {
            return true;
        }
        if seen.insert(n) {
            if let Some(next) = succ.get(&n) {
                stack.extend(next.iter().copied());
            }
        }
    }
    false
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// The operator kind a Timely operator name suggests; without a hint from the name, an
/// operator without inputs is a source and one without outputs a sink.
pub fn infer_kind(name: &str, has_inputs: bool, has_outputs: bool) -> OpKind {
    let n = name.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| n.contains(w));
    if has(&["input", "tostream", "source", "generator", "replay"]) {
        OpKind::Source
    } else if has(&["probe", "inspect", "sink", "capture", "output"]) {
        OpKind::Sink
    } else if has(&["flatmap", "flat_map"]) {
        OpKind::FlatMap
    } else if has(&["filter"]) {
        OpKind::Filter
    } else if has(&["join"]) {
        OpKind::Join
    } else if has(&["window"]) {
        OpKind::Window
    } else if has(&[
        "count",
        "aggregate",
        "reduce",
        "sum",
        "distinct",
        "accumulate",
    ]) {
        OpKind::Aggregate
    } else if has(&["exchange", "/route"]) {
        OpKind::Exchange
    } else if has(&["map"]) {
        OpKind::Map
    } else if !has_inputs {
        OpKind::Source
    } else if !has_outputs {
        OpKind::Sink
    } else {
        OpKind::Other
    }
}

/// A worker's handle on the link (lives on the worker thread). Dropping it runs
/// [`Attached::finish`].
pub struct Attached {
    link: Rc<RefCell<Link>>,
    metrics: Metrics,
}

impl fmt::Debug for Attached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attached")
            .field("state", &self.state())
            .field("stats", &self.stats())
            .finish()
    }
}

impl Attached {
    /// The worker's metrics collector.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Whether this worker is the job's controller (worker 0), the one that gets decisions.
    pub fn is_controller(&self) -> bool {
        self.link.borrow().is_controller()
    }

    /// The link's state.
    pub fn state(&self) -> LinkState {
        self.link.borrow().state()
    }

    /// The link's counters.
    pub fn stats(&self) -> LinkStats {
        self.link.borrow().stats
    }

    /// Drives the link now (it is also driven after every worker step).
    pub fn poll(&self) {
        self.link.borrow_mut().poll(&self.metrics, true);
    }

    /// Decisions received since the last call, checked against the job (worker 0 only; others
    /// get none). Apply each, then [`Attached::ack`] it.
    pub fn poll_decisions(&self) -> Vec<Decision> {
        let mut link = self.link.borrow_mut();
        link.poll(&self.metrics, true);
        std::mem::take(&mut link.decisions)
    }

    /// Reports decision `seq` applied from `epoch` on (sent now, or once reconnected).
    pub fn ack(&self, seq: u64, epoch: u64) {
        let mut link = self.link.borrow_mut();
        link.pending_acks.push((seq, epoch));
        if matches!(link.phase, Phase::Ready) {
            link.flush_acks();
        }
    }

    /// Tells the tuner the target rate of source `name` (records/s) from now on, e.g. when the
    /// offered load changes (worker 0 only; a no-op elsewhere). A change of more than 5 %
    /// re-registers the job with the same DAG: a rate update, which the policy is told of.
    pub fn set_source_rate(&self, name: &str, rate: f64) {
        let mut link = self.link.borrow_mut();
        if !(link.is_controller() && rate.is_finite() && rate >= 0.0) {
            return;
        }
        let registered = link.dag.as_ref().and_then(|d| {
            d.register
                .ops
                .iter()
                .find(|o| o.name == name)
                .map(|o| o.rate)
        });
        let previous = link.source_rates.get(name).copied().or(registered);
        if previous.is_some_and(|p| (rate - p).abs() <= 0.05 * p.max(1e-9)) {
            return;
        }
        link.source_rates.insert(name.to_owned(), rate);
        if registered.is_some() {
            link.reregister = true;
        }
    }

    /// Sets the job's latest completed epoch, reported with each window.
    pub fn set_epoch(&self, epoch: u64) {
        self.link.borrow_mut().epoch = epoch;
    }

    /// Sets the end-to-end lag at the sink in ms (`None`: unknown), reported with each window.
    pub fn set_lag_ms(&self, lag_ms: Option<f64>) {
        self.link.borrow_mut().lag_ms = lag_ms;
    }

    /// Tells the link about tuned operators: their current parallelism and stateful flag go
    /// into REGISTER, records queued inside them into their backlog.
    pub fn set_tuned_probe(&self, probe: impl Fn() -> Vec<TunedInfo> + 'static) {
        let probe: TunedProbe = Rc::new(probe);
        let for_queues = Rc::clone(&probe);
        self.metrics.set_queue_probe(Box::new(move || {
            for_queues()
                .into_iter()
                .map(|t| (t.name, t.queued as f64))
                .collect()
        }));
        let for_busy = Rc::clone(&probe);
        self.metrics.set_busy_probe(Box::new(move || {
            for_busy()
                .into_iter()
                .filter(|t| t.emulated_busy_s.is_some() || t.processed.is_some())
                .map(|t| OwnFigures {
                    name: t.name,
                    busy_s: t.emulated_busy_s,
                    processed: t.processed.map(|n| n as f64),
                })
                .collect()
        }));
        self.link.borrow_mut().tuned = Some(probe);
    }

    /// [`Attached::set_tuned_probe`] from the tuned operators' monitor of this worker.
    pub fn track_tuned(&self, monitor: crate::tuned::TunedMonitor<u64>) {
        self.set_tuned_probe(move || {
            monitor
                .status()
                .into_iter()
                .map(|s| TunedInfo {
                    name: s.name,
                    parallelism: s.parallelism,
                    stateful: s.stateful,
                    queued: s.queued,
                    emulated_busy_s: s.capacity.map(|_| s.emulated_busy_s),
                    processed: s.stateful.then(|| s.bin_records.iter().sum()),
                    active: s.bins_here > 0 || s.queued > 0,
                })
                .collect()
        });
    }

    /// Closes the current window, sends what is pending and waits (at most
    /// [`TunerConfig::finish_timeout`]) for the endpoint to acknowledge it. Call when the job's
    /// work is done; afterwards the link is idle.
    pub fn finish(&self) {
        if let Ok(mut link) = self.link.try_borrow_mut() {
            link.finish(&self.metrics);
        }
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(from: usize, to: usize, exchanged: bool) -> OpEdge {
        OpEdge {
            from,
            to,
            exchanged,
        }
    }

    fn sorted(mut edges: Vec<OpEdge>) -> Vec<(usize, usize, bool)> {
        edges.sort_by_key(|e| (e.from, e.to));
        edges
            .into_iter()
            .map(|e| (e.from, e.to, e.exchanged))
            .collect()
    }

    // source 1 -> demux 2 -> pre-aggregation 3 -> router 4 =exchange=> tuned 5 -> probe 6
    const CHAIN: [(usize, usize, bool); 5] = [
        (1, 2, false),
        (2, 3, false),
        (3, 4, false),
        (4, 5, true),
        (5, 6, false),
    ];

    #[test]
    fn contraction_keeps_a_hinted_operator_between_source_and_tuned() {
        let edges: Vec<OpEdge> = CHAIN.iter().map(|&(f, t, x)| edge(f, t, x)).collect();
        let with = contract_edges(&edges, |id| [1, 3, 5].contains(&id));
        assert_eq!(sorted(with), vec![(1, 3, false), (3, 5, true)]);
        let without = contract_edges(&edges, |id| [1, 5].contains(&id));
        assert_eq!(sorted(without), vec![(1, 5, true)]);
    }

    #[test]
    fn contraction_merges_parallel_paths_and_keeps_the_exchange() {
        // 1 -> 2 -> 4 and 1 =exchange=> 3 -> 4: one edge 1 -> 4, exchanged.
        let edges = vec![
            edge(1, 2, false),
            edge(2, 4, false),
            edge(1, 3, true),
            edge(3, 4, false),
        ];
        let out = contract_edges(&edges, |id| id == 1 || id == 4);
        assert_eq!(sorted(out), vec![(1, 4, true)]);
    }
}
