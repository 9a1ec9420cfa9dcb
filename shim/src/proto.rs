//! The StreamTune wire protocol (`proto/PROTOCOL.md`): encode and decode every message.
//!
//! Every message is one MessagePack map with string keys; `v` (the protocol version) and `t`
//! (the message type) are always present. This module mirrors the reference C codec
//! (`plugin/src/proto.c`) exactly:
//!
//! - [`decode`] is strict. It enforces the same types, ranges and [`Limits`] and refuses every
//!   input the C decoder refuses, with the same status ([`ProtoError::name`], e.g. `"EPROTO"`),
//!   including which fault wins when a message has several. Unknown keys are ignored.
//! - [`encode`] is canonical: keys in the documented order, integers in their smallest
//!   unsigned form, numbers as float64. Decoding a canonical message and encoding it again
//!   gives the same bytes, and the bytes are those the C encoder writes.
//! - [`to_json`] gives the readable view of `stn__proto_to_json` (the `.json` files of the
//!   test vectors).
//!
//! One deliberate difference: text fields are Rust [`String`]s, so [`decode`] refuses text
//! that is not UTF-8 (`EFIELD`), which the C decoder accepts as bytes.
//!
//! No function here panics on any input.
//!
//! ```
//! use streamtune_shim::proto::{decode, encode, Hello, Limits, Message};
//!
//! let hello = Message::Hello(Hello { client: "timely-shim/0.1.0".into(), versions: vec![1] });
//! let bytes = encode(&hello);
//! assert_eq!(decode(&bytes, &Limits::default()).unwrap(), hello);
//! assert_eq!(decode(&bytes[..3], &Limits::default()).unwrap_err().name(), "EPROTO");
//! ```

use std::fmt;

/// The protocol version this module speaks (`v` of every message).
pub const PROTO_VERSION: u32 = 1;
/// Hard ceiling of a message's size in bytes; endpoints announce theirs in [`Welcome`].
pub const MAX_MSG_BYTES: u32 = 16 * 1024 * 1024;
/// Most rows in one [`Samples`] message (default of [`Limits::max_rows`]).
pub const MAX_ROWS: u32 = 65536;
/// Most operators in a DAG and entries per [`Decision`] column (default of [`Limits::max_ops`]).
pub const MAX_OPS: u32 = 1024;
/// Most edges in a DAG (default of [`Limits::max_edges`]).
pub const MAX_EDGES: u32 = 4096;
/// Largest `p_max` of an operator.
pub const MAX_PARALLELISM: u32 = 4096;
/// Bytes of a job id (1..=128 where required).
pub const MAX_JOB_ID: usize = 128;
/// Bytes of free text: `client`, `server`, `reason`, `message`.
pub const MAX_TEXT: usize = 1023;
/// Bytes of a policy name, policy option key or operator name.
pub const MAX_NAME: usize = 63;
/// Bytes of an error's status name.
pub const MAX_ERROR_NAME: usize = 31;
/// Most policy options in a [`Register`].
pub const MAX_OPTIONS: usize = 32;
/// Most protocol versions listed in a [`Hello`].
pub const MAX_VERSIONS: usize = 8;
/// Deepest nesting accepted inside ignored values.
const MAX_DEPTH: u32 = 32;

// ---- statuses -----------------------------------------------------------------------------

macro_rules! status_codes {
    ($($variant:ident = $value:expr, $name:expr, $text:expr;)*) => {
        /// A status of the StreamTune status table (`STN_STATUS_MAP` in
        /// `plugin/include/streamtune/streamtune.h`): the `code` and `name` of an
        /// [`ErrorMsg`], and the kind of a [`ProtoError`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum StatusCode {
            $(
                #[doc = $text]
                $variant = $value,
            )*
        }

        impl StatusCode {
            /// Every status, in code order.
            pub const ALL: &'static [StatusCode] = &[$(StatusCode::$variant),*];

            /// The numeric code, as carried in [`ErrorMsg::code`].
            pub fn code(self) -> u32 {
                self as u32
            }

            /// The symbolic name, e.g. `"EPROTO"`.
            pub fn name(self) -> &'static str {
                match self {
                    $(StatusCode::$variant => $name,)*
                }
            }

            /// The one-line description of the C table.
            pub fn description(self) -> &'static str {
                match self {
                    $(StatusCode::$variant => $text,)*
                }
            }

            /// The status with this code, if there is one.
            pub fn from_code(code: u32) -> Option<StatusCode> {
                Self::ALL.iter().copied().find(|s| s.code() == code)
            }

            /// The status with this name (`"EPROTO"`), if there is one.
            pub fn from_name(name: &str) -> Option<StatusCode> {
                Self::ALL.iter().copied().find(|s| s.name() == name)
            }
        }
    };
}

status_codes! {
    Ok = 0, "OK", "success";
    Einval = 1, "EINVAL", "invalid argument";
    Enomem = 2, "ENOMEM", "out of memory";
    Emisuse = 3, "EMISUSE", "API misuse";
    Etoosmall = 4, "ETOOSMALL", "output buffer too small";
    Eproto = 5, "EPROTO", "malformed message";
    Etoobig = 6, "ETOOBIG", "message or field exceeds a limit";
    Eversion = 7, "EVERSION", "unsupported protocol or file version";
    Etype = 8, "ETYPE", "unknown message type";
    Efield = 9, "EFIELD", "missing field or field of the wrong type";
    Ejob = 10, "EJOB", "unknown job";
    Eorder = 11, "EORDER", "window out of order or repeated";
    Evalue = 12, "EVALUE", "invalid metric value (NaN, infinite or negative)";
    Ecycle = 13, "ECYCLE", "operator graph has a cycle";
    Egraph = 14, "EGRAPH", "invalid operator graph";
    Eio = 15, "EIO", "input/output error";
    Edb = 16, "EDB", "history database error";
    Ezmq = 17, "EZMQ", "messaging error";
    Ecorrupt = 18, "ECORRUPT", "corrupt file";
    Enotfound = 19, "ENOTFOUND", "not found";
    Estate = 20, "ESTATE", "operation not valid in the current state";
    Ebusy = 21, "EBUSY", "resource busy";
    Etimedout = 22, "ETIMEDOUT", "timed out";
    Eschema = 23, "ESCHEMA", "unsupported history schema version";
    Emodel = 24, "EMODEL", "model does not fit the request";
    Epolicy = 25, "EPOLICY", "unknown policy or invalid policy option";
    Eunsupported = 26, "EUNSUPPORTED", "not supported";
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a message was refused: a status (`EPROTO`, `ETOOBIG`, `EVERSION`, `ETYPE`, `EFIELD`,
/// `EVALUE`, `ECYCLE`, `EGRAPH`; `EINVAL` from [`try_encode`]) and a message saying what and
/// where, e.g. `"samples: busy_ms[3] is not finite (at byte 211)"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtoError {
    status: StatusCode,
    message: String,
}

impl ProtoError {
    /// An error of this status with this text.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ProtoError {
            status,
            message: message.into(),
        }
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The status name, e.g. `"EPROTO"` (what an invalid test vector's `.txt` names).
    pub fn name(&self) -> &'static str {
        self.status.name()
    }

    /// The numeric status code.
    pub fn code(&self) -> u32 {
        self.status.code()
    }

    /// What is wrong, and where.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status.name(), self.message)
    }
}

impl std::error::Error for ProtoError {}

// ---- messages -----------------------------------------------------------------------------

/// The limits a decoder enforces: the ones an endpoint announces in [`Welcome`]. The default
/// is the protocol's ceilings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest message, bytes.
    pub max_msg_bytes: u32,
    /// Most operators of a REGISTER and entries per DECISION column.
    pub max_ops: u32,
    /// Most edges of a REGISTER.
    pub max_edges: u32,
    /// Most rows of a SAMPLES message.
    pub max_rows: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_msg_bytes: MAX_MSG_BYTES,
            max_ops: MAX_OPS,
            max_edges: MAX_EDGES,
            max_rows: MAX_ROWS,
        }
    }
}

/// One protocol message.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// Client → endpoint: opens a connection, offers versions.
    Hello(Hello),
    /// Endpoint → client: the chosen version and the endpoint's limits.
    Welcome(Welcome),
    /// Client → endpoint: declares a job, its DAG and its policy.
    Register(Register),
    /// Client → endpoint: one window of per-instance rows, columnar.
    Samples(Samples),
    /// Endpoint → controller: new parallelism from an epoch on.
    Decision(Decision),
    /// Both ways: acknowledges a REGISTER, a SAMPLES window or a DECISION.
    Ack(Ack),
    /// Client → endpoint: asks for status.
    Query(Query),
    /// Endpoint → client: the answer to a QUERY.
    Status(Status),
    /// Either way: an error.
    Error(ErrorMsg),
}

impl Message {
    /// The wire name of the message's type (`t`), e.g. `"samples"`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Message::Hello(_) => "hello",
            Message::Welcome(_) => "welcome",
            Message::Register(_) => "register",
            Message::Samples(_) => "samples",
            Message::Decision(_) => "decision",
            Message::Ack(_) => "ack",
            Message::Query(_) => "query",
            Message::Status(_) => "status",
            Message::Error(_) => "error",
        }
    }
}

const TYPE_NAMES: [&str; 9] = [
    "hello", "welcome", "register", "samples", "decision", "ack", "query", "status", "error",
];

/// HELLO: the first message of a connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hello {
    /// `client`: free text, e.g. `"timely-shim/0.1.0"`; at most 1023 bytes.
    pub client: String,
    /// `versions`: the protocol versions spoken, 1..=8 of them.
    pub versions: Vec<u32>,
}

/// WELCOME: the endpoint's answer to HELLO.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Welcome {
    /// `version`: the chosen protocol version.
    pub version: u32,
    /// `server`: e.g. `"streamtune/0.1.0"`; at most 1023 bytes.
    pub server: String,
    /// `max_msg_bytes`: largest message the endpoint accepts, bytes.
    pub max_msg_bytes: u32,
    /// `max_ops`: most operators per DAG.
    pub max_ops: u32,
    /// `max_edges`: most edges per DAG.
    pub max_edges: u32,
    /// `max_rows`: most rows per SAMPLES message.
    pub max_rows: u32,
    /// `window_ms`: suggested window length, ms.
    pub window_ms: u32,
}

impl Welcome {
    /// The limits announced, to decode with.
    pub fn limits(&self) -> Limits {
        Limits {
            max_msg_bytes: self.max_msg_bytes,
            max_ops: self.max_ops,
            max_edges: self.max_edges,
            max_rows: self.max_rows,
        }
    }
}

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $wire:expr,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// Every value, in the order of the C table (the index is stored in histories).
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The wire name.
            pub fn wire_name(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)*
                }
            }

            /// The value with this wire name, if any.
            pub fn from_wire(name: &[u8]) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.wire_name().as_bytes() == name)
            }

            fn index(self) -> u64 {
                Self::ALL.iter().position(|v| *v == self).unwrap_or(0) as u64
            }
        }
    };
}

wire_enum! {
    /// The kind of an operator (`STN_OP_KIND_MAP`).
    OpKind {
        /// `source`
        Source = "source",
        /// `map`
        Map = "map",
        /// `filter`
        Filter = "filter",
        /// `flat_map`
        FlatMap = "flat_map",
        /// `exchange`
        Exchange = "exchange",
        /// `window`
        Window = "window",
        /// `join`
        Join = "join",
        /// `aggregate`
        Aggregate = "aggregate",
        /// `sink`
        Sink = "sink",
        /// `other`
        Other = "other",
    }
}

wire_enum! {
    /// How an edge partitions records among the instances of its target (`STN_PART_MAP`).
    Partitioning {
        /// `forward`
        Forward = "forward",
        /// `hash`
        Hash = "hash",
        /// `broadcast`
        Broadcast = "broadcast",
        /// `rebalance`
        Rebalance = "rebalance",
    }
}

/// One operator of a [`Register`] (`ops[]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Operator {
    /// `id`: the engine's operator id, unique in the job.
    pub id: u32,
    /// `name`: human-readable, at most 63 bytes, may be empty.
    pub name: String,
    /// `kind`.
    pub kind: OpKind,
    /// `stateful`: keeps per-key state.
    pub stateful: bool,
    /// `selectivity`: records out per record in; finite, > 0.
    pub selectivity: f64,
    /// `rate`: sources: target input rate, records/s; others 0. Finite, >= 0.
    pub rate: f64,
    /// `p`: current parallelism, 1..=`p_max`.
    pub p: u32,
    /// `p_max`: largest allowed parallelism, 1..=4096.
    pub p_max: u32,
}

impl Default for Operator {
    /// The decoder's defaults for absent keys (id 0, kind `other`, p 0 are placeholders).
    fn default() -> Self {
        Operator {
            id: 0,
            name: String::new(),
            kind: OpKind::Other,
            stateful: false,
            selectivity: 1.0,
            rate: 0.0,
            p: 0,
            p_max: 0,
        }
    }
}

/// One edge of a [`Register`]: `[from, to, partitioning]`, by operator id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    /// Source operator id.
    pub from: u32,
    /// Target operator id.
    pub to: u32,
    /// How records are routed along the edge.
    pub partitioning: Partitioning,
}

/// REGISTER: declares (or re-declares) a job, its DAG and its policy. Answered by ACK.
#[derive(Clone, Debug, PartialEq)]
pub struct Register {
    /// `job`: 1..=128 bytes.
    pub job: String,
    /// `id`: request id, echoed in the answer.
    pub id: u64,
    /// `senders`: SAMPLES parts per window (workers), >= 1 (default 1).
    pub senders: u32,
    /// `window_ms`: window length the client uses (default 1000).
    pub window_ms: u32,
    /// `policy`: `streamtune` (default), `ds2`, `conttune`, `flink-autoscaler`, `dhalion`,
    /// `static`; 1..=63 bytes. Encoded as `streamtune` when empty.
    pub policy: String,
    /// `policy_opts`: option name (1..=63 bytes) to finite value, at most 32, in order.
    pub policy_opts: Vec<(String, f64)>,
    /// `ops`: the operators, in order.
    pub ops: Vec<Operator>,
    /// `edges`: the edges, in order.
    pub edges: Vec<Edge>,
}

impl Default for Register {
    fn default() -> Self {
        Register {
            job: String::new(),
            id: 0,
            senders: 1,
            window_ms: 1000,
            policy: "streamtune".into(),
            policy_opts: Vec::new(),
            ops: Vec::new(),
            edges: Vec::new(),
        }
    }
}

impl Register {
    /// The DAG's content hash (`stn__dag_hash`, FNV-1a 64): what the endpoint returns in
    /// `ACK of=register` and stores the DAG version under. It covers operator ids, names,
    /// kinds, stateful flags and selectivities and the edges with their partitioning, in
    /// order; not rates, `p` or `p_max`. `None` if an edge names an operator not in `ops`.
    pub fn dag_hash(&self) -> Option<u64> {
        fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
            for b in bytes {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            h
        }
        fn fnv_u64(h: u64, v: u64) -> u64 {
            fnv(h, &v.to_le_bytes())
        }
        let index = |id: u32| self.ops.iter().position(|o| o.id == id).map(|i| i as u64);
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        h = fnv_u64(h, self.ops.len() as u64);
        for op in &self.ops {
            let name = op.name.as_bytes();
            h = fnv_u64(h, u64::from(op.id));
            h = fnv(h, name.get(..name.len().min(64)).unwrap_or(name));
            h = fnv_u64(h, op.kind.index());
            h = fnv_u64(h, u64::from(op.stateful));
            h = fnv_u64(h, op.selectivity.to_bits());
        }
        h = fnv_u64(h, self.edges.len() as u64);
        for e in &self.edges {
            h = fnv_u64(h, index(e.from)?);
            h = fnv_u64(h, index(e.to)?);
            h = fnv_u64(h, e.partitioning.index());
        }
        Some(h)
    }
}

/// SAMPLES: one window of per-instance rows, columnar. Every column has one entry per row.
/// Several SAMPLES (one per sender) make one window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Samples {
    /// `job`: 1..=128 bytes.
    pub job: String,
    /// `window`: window index, increasing per job.
    pub window: u64,
    /// `epoch`: the job's latest completed epoch (logical time); default 0.
    pub epoch: u64,
    /// `duration_ms`: window length, > 0.
    pub duration_ms: u32,
    /// `sender`: 0..senders-1; default 0.
    pub sender: u32,
    /// `ack`: answer with ACK once the window is durable; default false.
    pub ack: bool,
    /// `lag_ms`: end-to-end lag at the sink, ms, >= 0; `None` when unknown (key absent).
    pub lag_ms: Option<f64>,
    /// `op`: operator id of each row.
    pub op: Vec<u32>,
    /// `inst`: instance (worker) index of each row.
    pub inst: Vec<u32>,
    /// `busy_ms`: time scheduled in the window, ms; finite, >= 0.
    pub busy_ms: Vec<f64>,
    /// `in`: records received in the window; finite, >= 0.
    pub r#in: Vec<f64>,
    /// `out`: records sent in the window; finite, >= 0.
    pub out: Vec<f64>,
    /// `backlog`: records queued at the window's end; finite, >= 0.
    pub backlog: Vec<f64>,
    /// `bp_ms`: optional time backpressured in the window, ms; finite, >= 0.
    pub bp_ms: Option<Vec<f64>>,
}

/// DECISION: new parallelism for the job's operators, effective from an epoch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decision {
    /// `job`: 1..=128 bytes.
    pub job: String,
    /// `seq`: decision number, from 1, increasing per job.
    pub seq: u64,
    /// `epoch`: the decision may hold from this epoch on.
    pub epoch: u64,
    /// `op`: operator ids.
    pub op: Vec<u32>,
    /// `p`: new parallelism per operator (not range-checked by the codec).
    pub p: Vec<u32>,
    /// `prob`: predicted bottleneck probability at the new `p`, in [0, 1], or -1 if unknown.
    pub prob: Vec<f64>,
    /// `reason`: why, for people; at most 1023 bytes.
    pub reason: String,
    /// `policy`: the policy that decided; at most 63 bytes.
    pub policy: String,
}

/// What an [`Ack`] acknowledges (`of`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AckOf {
    /// `register`: endpoint → client, the job is registered; `id` and `hash` are set.
    Register,
    /// `samples`: endpoint → client, window `window` is durable.
    Samples,
    /// `decision`: client → endpoint, decision `seq` is applied from `epoch` on.
    Decision,
}

impl AckOf {
    /// The wire name.
    pub fn wire_name(self) -> &'static str {
        match self {
            AckOf::Register => "register",
            AckOf::Samples => "samples",
            AckOf::Decision => "decision",
        }
    }
}

/// ACK, both ways. Only the fields of its kind ([`AckOf`]) are encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ack {
    /// `of`: what is acknowledged.
    pub of: AckOf,
    /// `job`: 1..=128 bytes.
    pub job: String,
    /// `id`: the REGISTER's request id (register).
    pub id: u64,
    /// `window`: the durable window (samples).
    pub window: u64,
    /// `seq`: the applied decision (decision).
    pub seq: u64,
    /// `epoch`: the epoch the decision was applied at (decision).
    pub epoch: u64,
    /// `hash`: the DAG hash (register).
    pub hash: u64,
}

/// QUERY: asks for status; an empty job means the whole endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// `id`: request id, echoed.
    pub id: u64,
    /// `job`: optional, 0..=128 bytes; encoded only when not empty.
    pub job: String,
}

/// STATUS: the answer to a QUERY.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// `id`: the QUERY's id.
    pub id: u64,
    /// `jobs`: jobs the endpoint serves.
    pub jobs: u64,
    /// `windows`: windows stored (of the job, if one was named).
    pub windows: u64,
    /// `decisions`: decisions sent (of the job, if one was named).
    pub decisions: u64,
    /// `uptime_ms`: ms since the endpoint started.
    pub uptime_ms: u64,
    /// `job`: the job named, may be empty.
    pub job: String,
    /// `policy`: the job's policy, empty without a job.
    pub policy: String,
    /// `last_window`: the job's newest closed window.
    pub last_window: u64,
}

/// ERROR, either way.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorMsg {
    /// `code`: a status value ([`StatusCode::code`]).
    pub code: u32,
    /// `name`: the status name, e.g. `"EPROTO"`; at most 31 bytes.
    pub name: String,
    /// `message`: what and where; at most 1023 bytes.
    pub message: String,
    /// `id`: the request id if known, else 0.
    pub id: u64,
    /// `job`: the job concerned if known, else empty.
    pub job: String,
}

impl ErrorMsg {
    /// The status of `code`, if it is one of the table.
    pub fn status(&self) -> Option<StatusCode> {
        StatusCode::from_code(self.code)
    }
}

// ---- reader: a bounded cursor over MessagePack --------------------------------------------

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    ctx: &'static str,
}

type R<T> = Result<T, ProtoError>;

impl<'a> Reader<'a> {
    fn fail<T>(&self, status: StatusCode, what: impl fmt::Display) -> R<T> {
        Err(ProtoError::new(
            status,
            format!("{}: {} (at byte {})", self.ctx, what, self.pos),
        ))
    }

    fn need(&self, n: usize) -> R<()> {
        if self.data.len().saturating_sub(self.pos) < n {
            return self.fail(StatusCode::Eproto, "truncated message");
        }
        Ok(())
    }

    fn byte_at(&self, at: usize) -> u8 {
        self.data.get(at).copied().unwrap_or(0)
    }

    fn peek(&self) -> R<u8> {
        self.need(1)?;
        Ok(self.byte_at(self.pos))
    }

    /// Big-endian unsigned of n bytes at offset from the cursor (bounds already checked).
    fn be(&self, offset: usize, n: usize) -> u64 {
        (0..n).fold(0u64, |v, i| {
            (v << 8) | u64::from(self.byte_at(self.pos + offset + i))
        })
    }

    /// A map (want_map) or array header; the count.
    fn header(&mut self, want_map: bool, what: &str) -> R<u32> {
        let b = self.peek()?;
        let (fix, t16, t32) = if want_map {
            (0x80, 0xde, 0xdf)
        } else {
            (0x90, 0xdc, 0xdd)
        };
        if b & 0xf0 == fix {
            self.pos += 1;
            return Ok(u32::from(b & 0x0f));
        }
        if b == t16 {
            self.need(3)?;
            let n = self.be(1, 2) as u32;
            self.pos += 3;
            return Ok(n);
        }
        if b == t32 {
            self.need(5)?;
            let n = self.be(1, 4) as u32;
            self.pos += 5;
            return Ok(n);
        }
        let status = if self.pos == 0 {
            StatusCode::Eproto
        } else {
            StatusCode::Efield
        };
        self.fail(
            status,
            format!(
                "{} must be {}",
                what,
                if want_map { "a map" } else { "an array" }
            ),
        )
    }

    fn str_bytes(&mut self, what: &str) -> R<&'a [u8]> {
        let b = self.peek()?;
        let (n, hdr): (usize, usize) = if b & 0xe0 == 0xa0 {
            (usize::from(b & 0x1f), 1)
        } else if b == 0xd9 {
            self.need(2)?;
            (self.be(1, 1) as usize, 2)
        } else if b == 0xda {
            self.need(3)?;
            (self.be(1, 2) as usize, 3)
        } else if b == 0xdb {
            self.need(5)?;
            (self.be(1, 4) as usize, 5)
        } else {
            return self.fail(StatusCode::Efield, format!("{} must be a string", what));
        };
        self.need(hdr.saturating_add(n))?;
        let start = self.pos + hdr;
        let s = self.data.get(start..start + n).unwrap_or(&[]);
        self.pos = start + n;
        Ok(s)
    }

    /// A string field of at most max bytes (ETOOBIG), at least min (EFIELD), without NUL.
    fn text(&mut self, max: usize, min: usize, what: &str) -> R<String> {
        let s = self.str_bytes(what)?;
        if s.len() > max {
            return self.fail(
                StatusCode::Etoobig,
                format!("{} is {} bytes, limit {}", what, s.len(), max),
            );
        }
        if s.len() < min {
            return self.fail(StatusCode::Efield, format!("{} must not be empty", what));
        }
        if s.contains(&0) {
            return self.fail(StatusCode::Efield, format!("{} contains a NUL byte", what));
        }
        match std::str::from_utf8(s) {
            Ok(t) => Ok(t.to_owned()),
            Err(_) => self.fail(StatusCode::Efield, format!("{} is not UTF-8", what)),
        }
    }

    /// Signed integer of the int 8..64 family at the cursor (tag already known).
    fn signed(&mut self, b: u8) -> R<i64> {
        let n = 1usize << (b - 0xd0);
        self.need(1 + n)?;
        let mut raw = self.be(1, n);
        if n < 8 && (raw >> (8 * n - 1)) & 1 == 1 {
            raw |= !0u64 << (8 * n);
        }
        Ok(raw as i64)
    }

    fn uint(&mut self, max: u64, what: &str) -> R<u64> {
        let b = self.peek()?;
        let v = if b <= 0x7f {
            self.pos += 1;
            u64::from(b)
        } else if (0xcc..=0xcf).contains(&b) {
            let n = 1usize << (b - 0xcc);
            self.need(1 + n)?;
            let v = self.be(1, n);
            self.pos += 1 + n;
            v
        } else if (0xd0..=0xd3).contains(&b) {
            let sv = self.signed(b)?;
            if sv < 0 {
                return self.fail(StatusCode::Efield, format!("{} must not be negative", what));
            }
            self.pos += 1 + (1usize << (b - 0xd0));
            sv as u64
        } else if b >= 0xe0 {
            return self.fail(StatusCode::Efield, format!("{} must not be negative", what));
        } else {
            return self.fail(
                StatusCode::Efield,
                format!("{} must be an unsigned integer", what),
            );
        };
        if v > max {
            return self.fail(
                StatusCode::Etoobig,
                format!("{} is {}, limit {}", what, v, max),
            );
        }
        Ok(v)
    }

    fn u32(&mut self, what: &str) -> R<u32> {
        self.uint(u64::from(u32::MAX), what).map(|v| v as u32)
    }

    fn u64(&mut self, what: &str) -> R<u64> {
        self.uint(u64::MAX, what)
    }

    /// Any number; the caller decides about sign and finiteness.
    fn number(&mut self, what: &str) -> R<f64> {
        let b = self.peek()?;
        if b == 0xcb {
            self.need(9)?;
            let v = f64::from_bits(self.be(1, 8));
            self.pos += 9;
            return Ok(v);
        }
        if b == 0xca {
            self.need(5)?;
            let v = f64::from(f32::from_bits(self.be(1, 4) as u32));
            self.pos += 5;
            return Ok(v);
        }
        if b >= 0xe0 {
            self.pos += 1;
            return Ok(f64::from(b as i8));
        }
        if (0xd0..=0xd3).contains(&b) {
            let sv = self.signed(b)?;
            self.pos += 1 + (1usize << (b - 0xd0));
            return Ok(sv as f64);
        }
        if b <= 0x7f || (0xcc..=0xcf).contains(&b) {
            return self.uint(u64::MAX, what).map(|u| u as f64);
        }
        self.fail(StatusCode::Efield, format!("{} must be a number", what))
    }

    fn finite(&mut self, what: &str) -> R<f64> {
        let v = self.number(what)?;
        if !v.is_finite() {
            return self.fail(StatusCode::Evalue, format!("{} is not finite", what));
        }
        Ok(v)
    }

    /// A metric of row `row`: finite and >= 0.
    fn metric(&mut self, what: &str, row: usize) -> R<f64> {
        let v = self.number(what)?;
        if !v.is_finite() {
            return self.fail(
                StatusCode::Evalue,
                format!("{}[{}] is not finite", what, row),
            );
        }
        if v < 0.0 {
            return self.fail(StatusCode::Evalue, format!("{}[{}] is negative", what, row));
        }
        Ok(v)
    }

    fn boolean(&mut self, what: &str) -> R<bool> {
        let b = self.peek()?;
        if b == 0xc2 || b == 0xc3 {
            self.pos += 1;
            return Ok(b == 0xc3);
        }
        self.fail(StatusCode::Efield, format!("{} must be a boolean", what))
    }

    /// Skips one well-formed value of any type, nested at most MAX_DEPTH levels.
    fn skip(&mut self, depth: u32) -> R<()> {
        if depth > MAX_DEPTH {
            return self.fail(
                StatusCode::Eproto,
                format!("nested more than {} levels", MAX_DEPTH),
            );
        }
        let b = self.peek()?;
        if b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3 {
            self.pos += 1;
            return Ok(());
        }
        if b & 0xf0 == 0x80 || b == 0xde || b == 0xdf {
            let n = self.header(true, "value")?;
            for _ in 0..2 * u64::from(n) {
                self.skip(depth + 1)?;
            }
            return Ok(());
        }
        if b & 0xf0 == 0x90 || b == 0xdc || b == 0xdd {
            let n = self.header(false, "value")?;
            for _ in 0..n {
                self.skip(depth + 1)?;
            }
            return Ok(());
        }
        if b & 0xe0 == 0xa0 || (0xd9..=0xdb).contains(&b) {
            return self.str_bytes("value").map(|_| ());
        }
        let (fixed, len_bytes, extra) = match b {
            0xcc | 0xd0 => (2, 0, 0),
            0xcd | 0xd1 => (3, 0, 0),
            0xca | 0xce | 0xd2 => (5, 0, 0),
            0xcb | 0xcf | 0xd3 => (9, 0, 0),
            0xd4 => (3, 0, 0),
            0xd5 => (4, 0, 0),
            0xd6 => (6, 0, 0),
            0xd7 => (10, 0, 0),
            0xd8 => (18, 0, 0),
            0xc4 => (0, 1, 0),
            0xc5 => (0, 2, 0),
            0xc6 => (0, 4, 0),
            0xc7 => (0, 1, 1),
            0xc8 => (0, 2, 1),
            0xc9 => (0, 4, 1),
            _ => {
                return self.fail(
                    StatusCode::Eproto,
                    format!("invalid MessagePack byte 0x{:02x}", b),
                )
            }
        };
        if fixed > 0 {
            self.need(fixed)?;
            self.pos += fixed;
            return Ok(());
        }
        self.need(1 + len_bytes)?;
        let n = self.be(1, len_bytes) as usize;
        let total = (1 + len_bytes + extra).saturating_add(n);
        self.need(total)?;
        self.pos += total;
        Ok(())
    }
}

// ---- decoding -----------------------------------------------------------------------------

/// Which known keys were seen; a repeated one is refused.
#[derive(Default)]
struct Seen(u64);

impl Seen {
    fn mark(&mut self, r: &Reader<'_>, bit: u32, name: &str) -> R<()> {
        if self.0 & (1 << bit) != 0 {
            return r.fail(
                StatusCode::Efield,
                format!("field '{}' appears twice", name),
            );
        }
        self.0 |= 1 << bit;
        Ok(())
    }

    fn has(&self, bit: u32) -> bool {
        self.0 & (1 << bit) != 0
    }

    fn require(&self, r: &Reader<'_>, bit: u32, name: &str) -> R<()> {
        if !self.has(bit) {
            return r.fail(StatusCode::Efield, format!("missing field '{}'", name));
        }
        Ok(())
    }
}

/// Reads the value of one known key into the message under construction; Ok(false) for a
/// key the type does not know (the caller skips its value).
trait Fields {
    fn field(&mut self, r: &mut Reader<'_>, key: &[u8], seen: &mut Seen, lim: &Limits) -> R<bool>;
}

fn walk<F: Fields>(
    r: &mut Reader<'_>,
    n: u32,
    msg: &mut F,
    seen: &mut Seen,
    lim: &Limits,
) -> R<()> {
    for _ in 0..n {
        let key = r.str_bytes("map key")?;
        if key == b"v" || key == b"t" {
            r.skip(0)?;
            continue;
        }
        if !msg.field(r, key, seen, lim)? {
            r.skip(0)?;
        }
    }
    Ok(())
}

impl Fields for Hello {
    fn field(&mut self, r: &mut Reader<'_>, key: &[u8], s: &mut Seen, _: &Limits) -> R<bool> {
        match key {
            b"client" => {
                s.mark(r, 0, "client")?;
                self.client = r.text(MAX_TEXT, 0, "client")?;
            }
            b"versions" => {
                s.mark(r, 1, "versions")?;
                let n = r.header(false, "versions")?;
                if n == 0 || n as usize > MAX_VERSIONS {
                    return r.fail(StatusCode::Efield, "versions must list 1..8 versions");
                }
                self.versions.clear();
                for _ in 0..n {
                    self.versions.push(r.u32("versions[]")?);
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

const WELCOME_U32: [&str; 6] = [
    "version",
    "max_msg_bytes",
    "max_ops",
    "max_edges",
    "max_rows",
    "window_ms",
];

impl Fields for Welcome {
    fn field(&mut self, r: &mut Reader<'_>, key: &[u8], s: &mut Seen, _: &Limits) -> R<bool> {
        if key == b"server" {
            s.mark(r, 10, "server")?;
            self.server = r.text(MAX_TEXT, 0, "server")?;
            return Ok(true);
        }
        let Some(i) = WELCOME_U32.iter().position(|k| k.as_bytes() == key) else {
            return Ok(false);
        };
        s.mark(r, i as u32, WELCOME_U32[i])?;
        let v = r.u32(WELCOME_U32[i])?;
        match i {
            0 => self.version = v,
            1 => self.max_msg_bytes = v,
            2 => self.max_ops = v,
            3 => self.max_edges = v,
            4 => self.max_rows = v,
            _ => self.window_ms = v,
        }
        Ok(true)
    }
}

fn decode_op(r: &mut Reader<'_>) -> R<Operator> {
    let mut op = Operator::default();
    let mut s = Seen::default();
    let n = r.header(true, "ops[]")?;
    for _ in 0..n {
        let key = r.str_bytes("operator key")?;
        match key {
            b"id" => {
                s.mark(r, 0, "id")?;
                op.id = r.u32("op id")?;
            }
            b"name" => {
                s.mark(r, 1, "name")?;
                op.name = r.text(MAX_NAME, 0, "op name")?;
            }
            b"kind" => {
                s.mark(r, 2, "kind")?;
                let k = r.str_bytes("op kind")?;
                match OpKind::from_wire(k) {
                    Some(kind) => op.kind = kind,
                    None => {
                        let shown = String::from_utf8_lossy(k.get(..k.len().min(32)).unwrap_or(k));
                        return r.fail(
                            StatusCode::Egraph,
                            format!("unknown operator kind '{}'", shown),
                        );
                    }
                }
            }
            b"stateful" => {
                s.mark(r, 3, "stateful")?;
                op.stateful = r.boolean("stateful")?;
            }
            b"selectivity" => {
                s.mark(r, 4, "selectivity")?;
                op.selectivity = r.finite("selectivity")?;
            }
            b"rate" => {
                s.mark(r, 5, "rate")?;
                op.rate = r.finite("rate")?;
            }
            b"p" => {
                s.mark(r, 6, "p")?;
                op.p = r.u32("p")?;
            }
            b"p_max" => {
                s.mark(r, 7, "p_max")?;
                op.p_max = r.u32("p_max")?;
            }
            _ => r.skip(1)?,
        }
    }
    s.require(r, 0, "ops[].id")?;
    s.require(r, 2, "ops[].kind")?;
    s.require(r, 6, "ops[].p")?;
    s.require(r, 7, "ops[].p_max")?;
    Ok(op)
}

/// REGISTER while decoding: edges are read after the walk, from where they start.
struct RegisterDraft {
    reg: Register,
    edges_at: usize,
}

impl Fields for RegisterDraft {
    fn field(&mut self, r: &mut Reader<'_>, key: &[u8], s: &mut Seen, lim: &Limits) -> R<bool> {
        let g = &mut self.reg;
        match key {
            b"job" => {
                s.mark(r, 0, "job")?;
                g.job = r.text(MAX_JOB_ID, 1, "job")?;
            }
            b"id" => {
                s.mark(r, 1, "id")?;
                g.id = r.u64("id")?;
            }
            b"senders" => {
                s.mark(r, 2, "senders")?;
                g.senders = r.u32("senders")?;
            }
            b"window_ms" => {
                s.mark(r, 3, "window_ms")?;
                g.window_ms = r.u32("window_ms")?;
            }
            b"policy" => {
                s.mark(r, 4, "policy")?;
                g.policy = r.text(MAX_NAME, 1, "policy")?;
            }
            b"policy_opts" => {
                s.mark(r, 5, "policy_opts")?;
                let n = r.header(true, "policy_opts")?;
                if n as usize > MAX_OPTIONS {
                    return r.fail(
                        StatusCode::Etoobig,
                        format!("policy_opts has {} entries, limit {}", n, MAX_OPTIONS),
                    );
                }
                g.policy_opts.clear();
                for _ in 0..n {
                    let k = r.text(MAX_NAME, 1, "policy_opts key")?;
                    let v = r.finite("policy_opts value")?;
                    g.policy_opts.push((k, v));
                }
            }
            b"ops" => {
                s.mark(r, 6, "ops")?;
                let n = r.header(false, "ops")?;
                if n > lim.max_ops {
                    return r.fail(
                        StatusCode::Etoobig,
                        format!("DAG has {} operators, limit {}", n, lim.max_ops),
                    );
                }
                for _ in 0..n {
                    let op = decode_op(r)?;
                    if g.ops.len() >= MAX_OPS as usize {
                        return r.fail(
                            StatusCode::Etoobig,
                            format!("graph has more than {} operators", MAX_OPS),
                        );
                    }
                    if g.ops.iter().any(|o| o.id == op.id) {
                        return r.fail(
                            StatusCode::Egraph,
                            format!("duplicate operator id {}", op.id),
                        );
                    }
                    g.ops.push(op);
                }
            }
            b"edges" => {
                s.mark(r, 7, "edges")?;
                self.edges_at = r.pos;
                r.skip(0)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// Reads the edges array saved by the walk, once the operators are known.
fn resolve_edges(r: &mut Reader<'_>, at: usize, g: &mut Register, lim: &Limits) -> R<()> {
    let back = r.pos;
    r.pos = at;
    let n = r.header(false, "edges")?;
    if n > lim.max_edges {
        return r.fail(
            StatusCode::Etoobig,
            format!("DAG has {} edges, limit {}", n, lim.max_edges),
        );
    }
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for _ in 0..n {
        let k = r.header(false, "edges[]")?;
        if k != 3 {
            return r.fail(
                StatusCode::Efield,
                "an edge is [from_id, to_id, partitioning]",
            );
        }
        let from = r.u32("edge from")?;
        let to = r.u32("edge to")?;
        let ps = r.str_bytes("edge partitioning")?;
        let Some(partitioning) = Partitioning::from_wire(ps) else {
            let shown = String::from_utf8_lossy(ps.get(..ps.len().min(32)).unwrap_or(ps));
            return r.fail(
                StatusCode::Egraph,
                format!("unknown partitioning '{}'", shown),
            );
        };
        let fi = g.ops.iter().position(|o| o.id == from);
        let ti = g.ops.iter().position(|o| o.id == to);
        let (Some(fi), Some(ti)) = (fi, ti) else {
            return r.fail(
                StatusCode::Egraph,
                format!("edge {}->{} names an unknown operator", from, to),
            );
        };
        if pairs.len() >= MAX_EDGES as usize {
            return r.fail(
                StatusCode::Etoobig,
                format!("graph has more than {} edges", MAX_EDGES),
            );
        }
        if fi == ti {
            return r.fail(
                StatusCode::Ecycle,
                format!("edge {}->{} is a self loop", from, to),
            );
        }
        if pairs.contains(&(fi, ti)) {
            return r.fail(
                StatusCode::Egraph,
                format!("duplicate edge {}->{}", from, to),
            );
        }
        pairs.push((fi, ti));
        g.edges.push(Edge {
            from,
            to,
            partitioning,
        });
    }
    r.pos = back;
    if let Err(e) = validate_dag(g, &pairs) {
        return r.fail(e.0, e.1);
    }
    Ok(())
}

/// The checks of `stn__dag_validate`, in its order; edges as operator index pairs.
fn validate_dag(g: &Register, pairs: &[(usize, usize)]) -> Result<(), (StatusCode, String)> {
    if g.ops.is_empty() {
        return Err((StatusCode::Egraph, "graph has no operators".into()));
    }
    for op in &g.ops {
        if !op.selectivity.is_finite() || op.selectivity <= 0.0 {
            return Err((
                StatusCode::Evalue,
                format!("operator {}: selectivity must be > 0", op.id),
            ));
        }
        if !op.rate.is_finite() || op.rate < 0.0 {
            return Err((
                StatusCode::Evalue,
                format!("operator {}: source rate must be >= 0", op.id),
            ));
        }
        if op.p_max < 1 || op.p_max > MAX_PARALLELISM {
            return Err((
                StatusCode::Evalue,
                format!(
                    "operator {}: p_max {} outside 1..{}",
                    op.id, op.p_max, MAX_PARALLELISM
                ),
            ));
        }
        if op.p < 1 || op.p > op.p_max {
            return Err((
                StatusCode::Evalue,
                format!(
                    "operator {}: parallelism {} outside 1..{}",
                    op.id, op.p, op.p_max
                ),
            ));
        }
    }
    // Kahn's algorithm: every operator gets ordered iff there is no cycle.
    let n = g.ops.len();
    let mut indeg = vec![0usize; n];
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(f, t) in pairs {
        if let (Some(d), Some(o)) = (indeg.get_mut(t), out.get_mut(f)) {
            *d += 1;
            o.push(t);
        }
    }
    let mut ready: Vec<usize> = (0..n).filter(|&v| indeg.get(v) == Some(&0)).collect();
    let mut done = 0;
    while let Some(v) = ready.pop() {
        done += 1;
        for &t in out.get(v).map(Vec::as_slice).unwrap_or(&[]) {
            if let Some(d) = indeg.get_mut(t) {
                *d -= 1;
                if *d == 0 {
                    ready.push(t);
                }
            }
        }
    }
    if done != n {
        return Err((StatusCode::Ecycle, "operator graph has a cycle".into()));
    }
    Ok(())
}

const SAMPLE_COLS: [&str; 7] = ["op", "inst", "busy_ms", "in", "out", "backlog", "bp_ms"];

/// SAMPLES while decoding: the row count is fixed by the first column read.
#[derive(Default)]
struct SamplesDraft {
    s: Samples,
    rows: Option<usize>,
}

impl Fields for SamplesDraft {
    fn field(&mut self, r: &mut Reader<'_>, key: &[u8], s: &mut Seen, lim: &Limits) -> R<bool> {
        let x = &mut self.s;
        match key {
            b"job" => {
                s.mark(r, 0, "job")?;
                x.job = r.text(MAX_JOB_ID, 1, "job")?;
                return Ok(true);
            }
            b"window" => {
                s.mark(r, 1, "window")?;
                x.window = r.u64("window")?;
                return Ok(true);
            }
            b"epoch" => {
                s.mark(r, 2, "epoch")?;
                x.epoch = r.u64("epoch")?;
                return Ok(true);
            }
            b"duration_ms" => {
                s.mark(r, 3, "duration_ms")?;
                x.duration_ms = r.u32("duration_ms")?;
                if x.duration_ms == 0 {
                    return r.fail(StatusCode::Evalue, "duration_ms must be > 0");
                }
                return Ok(true);
            }
            b"sender" => {
                s.mark(r, 4, "sender")?;
                x.sender = r.u32("sender")?;
                return Ok(true);
            }
            b"ack" => {
                s.mark(r, 5, "ack")?;
                x.ack = r.boolean("ack")?;
                return Ok(true);
            }
            b"lag_ms" => {
                s.mark(r, 6, "lag_ms")?;
                let v = r.finite("lag_ms")?;
                if v < 0.0 {
                    return r.fail(StatusCode::Evalue, "lag_ms is negative");
                }
                x.lag_ms = Some(v);
                return Ok(true);
            }
            _ => {}
        }
        let Some(c) = SAMPLE_COLS.iter().position(|k| k.as_bytes() == key) else {
            return Ok(false);
        };
        let name = SAMPLE_COLS[c];
        s.mark(r, 10 + c as u32, name)?;
        let n = r.header(false, name)?;
        if n > lim.max_rows {
            return r.fail(
                StatusCode::Etoobig,
                format!("{} rows, limit {}", n, lim.max_rows),
            );
        }
        let n = n as usize;
        match self.rows {
            Some(rows) if rows != n => {
                return r.fail(
                    StatusCode::Efield,
                    format!("column '{}' has {} entries, expected {}", name, n, rows),
                );
            }
            _ => self.rows = Some(n),
        }
        // Every entry takes at least one byte: never reserve more than the input holds.
        let cap = n.min(r.data.len().saturating_sub(r.pos));
        if c <= 1 {
            let mut col = Vec::with_capacity(cap);
            for _ in 0..n {
                col.push(r.u32(name)?);
            }
            if c == 0 {
                x.op = col;
            } else {
                x.inst = col;
            }
        } else {
            let mut col = Vec::with_capacity(cap);
            for i in 0..n {
                col.push(r.metric(name, i)?);
            }
            match c {
                2 => x.busy_ms = col,
                3 => x.r#in = col,
                4 => x.out = col,
                5 => x.backlog = col,
                _ => x.bp_ms = Some(col),
            }
        }
        Ok(true)
    }
}

/// DECISION while decoding: the entry count is fixed by the first column read.
#[derive(Default)]
struct DecisionDraft {
    d: Decision,
    n_ops: Option<usize>,
}

impl Fields for DecisionDraft {
    fn field(&mut self, r: &mut Reader<'_>, key: &[u8], s: &mut Seen, lim: &Limits) -> R<bool> {
        let d = &mut self.d;
        let c = match key {
            b"job" => {
                s.mark(r, 0, "job")?;
                d.job = r.text(MAX_JOB_ID, 1, "job")?;
                return Ok(true);
            }
            b"seq" => {
                s.mark(r, 1, "seq")?;
                d.seq = r.u64("seq")?;
                return Ok(true);
            }
            b"epoch" => {
                s.mark(r, 2, "epoch")?;
                d.epoch = r.u64("epoch")?;
                return Ok(true);
            }
            b"reason" => {
                s.mark(r, 6, "reason")?;
                d.reason = r.text(MAX_TEXT, 0, "reason")?;
                return Ok(true);
            }
            b"policy" => {
                s.mark(r, 7, "policy")?;
                d.policy = r.text(MAX_NAME, 0, "policy")?;
                return Ok(true);
            }
            b"op" => 0,
            b"p" => 1,
            b"prob" => 2,
            _ => return Ok(false),
        };
        let name = ["op", "p", "prob"][c];
        s.mark(r, 3 + c as u32, name)?;
        let n = r.header(false, name)?;
        if n > lim.max_ops {
            return r.fail(
                StatusCode::Etoobig,
                format!("decision for {} operators, limit {}", n, lim.max_ops),
            );
        }
        let n = n as usize;
        if let Some(have) = self.n_ops {
            if have != n {
                return r.fail(
                    StatusCode::Efield,
                    format!("column '{}' has {} entries, expected {}", name, n, have),
                );
            }
        }
        self.n_ops = Some(n);
        let cap = n.min(r.data.len().saturating_sub(r.pos));
        if c == 2 {
            let mut col = Vec::with_capacity(cap);
            for _ in 0..n {
                let v = r.finite("prob")?;
                if v > 1.0 || (v < 0.0 && v != -1.0) {
                    return r.fail(StatusCode::Evalue, "prob must be in [0, 1] or -1");
                }
                col.push(v);
            }
            d.prob = col;
        } else {
            let mut col = Vec::with_capacity(cap);
            for _ in 0..n {
                col.push(r.u32(name)?);
            }
            if c == 0 {
                d.op = col;
            } else {
                d.p = col;
            }
        }
        Ok(true)
    }
}

/// ACK while decoding: `of` may be absent until the required-field check.
struct AckDraft {
    a: Ack,
    of: Option<AckOf>,
}

const ACK_U64: [&str; 5] = ["id", "window", "seq", "epoch", "hash"];

impl Fields for AckDraft {
    fn field(&mut self, r: &mut Reader<'_>, key: &[u8], s: &mut Seen, _: &Limits) -> R<bool> {
        match key {
            b"of" => {
                s.mark(r, 0, "of")?;
                let v = r.str_bytes("of")?;
                self.of = [AckOf::Register, AckOf::Samples, AckOf::Decision]
                    .into_iter()
                    .find(|o| o.wire_name().as_bytes() == v);
                if self.of.is_none() {
                    return r.fail(
                        StatusCode::Efield,
                        "'of' must be register, samples or decision",
                    );
                }
            }
            b"job" => {
                s.mark(r, 1, "job")?;
                self.a.job = r.text(MAX_JOB_ID, 1, "job")?;
            }
            _ => {
                let Some(i) = ACK_U64.iter().position(|k| k.as_bytes() == key) else {
                    return Ok(false);
                };
                s.mark(r, 2 + i as u32, ACK_U64[i])?;
                let v = r.u64(ACK_U64[i])?;
                match i {
                    0 => self.a.id = v,
                    1 => self.a.window = v,
                    2 => self.a.seq = v,
                    3 => self.a.epoch = v,
                    _ => self.a.hash = v,
                }
            }
        }
        Ok(true)
    }
}

impl Fields for Query {
    fn field(&mut self, r: &mut Reader<'_>, key: &[u8], s: &mut Seen, _: &Limits) -> R<bool> {
        match key {
            b"id" => {
                s.mark(r, 0, "id")?;
                self.id = r.u64("id")?;
            }
            b"job" => {
                s.mark(r, 1, "job")?;
                self.job = r.text(MAX_JOB_ID, 0, "job")?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

const STATUS_U64: [&str; 6] = [
    "id",
    "jobs",
    "windows",
    "decisions",
    "uptime_ms",
    "last_window",
];

impl Fields for Status {
    fn field(&mut self, r: &mut Reader<'_>, key: &[u8], s: &mut Seen, _: &Limits) -> R<bool> {
        if let Some(i) = STATUS_U64.iter().position(|k| k.as_bytes() == key) {
            s.mark(r, i as u32, STATUS_U64[i])?;
            let v = r.u64(STATUS_U64[i])?;
            match i {
                0 => self.id = v,
                1 => self.jobs = v,
                2 => self.windows = v,
                3 => self.decisions = v,
                4 => self.uptime_ms = v,
                _ => self.last_window = v,
            }
            return Ok(true);
        }
        match key {
            b"job" => {
                s.mark(r, 6, "job")?;
                self.job = r.text(MAX_JOB_ID, 0, "job")?;
            }
            b"policy" => {
                s.mark(r, 7, "policy")?;
                self.policy = r.text(MAX_NAME, 0, "policy")?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Fields for ErrorMsg {
    fn field(&mut self, r: &mut Reader<'_>, key: &[u8], s: &mut Seen, _: &Limits) -> R<bool> {
        match key {
            b"code" => {
                s.mark(r, 0, "code")?;
                self.code = r.u32("code")?;
            }
            b"name" => {
                s.mark(r, 1, "name")?;
                self.name = r.text(MAX_ERROR_NAME, 0, "name")?;
            }
            b"message" => {
                s.mark(r, 2, "message")?;
                self.message = r.text(MAX_TEXT, 0, "message")?;
            }
            b"id" => {
                s.mark(r, 3, "id")?;
                self.id = r.u64("id")?;
            }
            b"job" => {
                s.mark(r, 4, "job")?;
                self.job = r.text(MAX_JOB_ID, 0, "job")?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// Decodes one message, checking it against `lim` (the limits the receiving side announced).
///
/// Fails with the status and text the C decoder gives: `ETOOBIG` (size, a limit), `EPROTO`
/// (empty, not MessagePack, truncated, trailing bytes, not a map), `EVERSION` (`v` is not 1),
/// `ETYPE` (unknown `t`), `EFIELD` (missing, repeated or wrongly typed field), `EVALUE` (NaN,
/// infinite or negative where a value must be finite or >= 0), `ECYCLE` / `EGRAPH` (bad
/// DAG). Unknown keys are ignored. Never panics, whatever the input.
pub fn decode(data: &[u8], lim: &Limits) -> Result<Message, ProtoError> {
    if data.is_empty() {
        return Err(ProtoError::new(StatusCode::Eproto, "empty message"));
    }
    if data.len() as u64 > u64::from(lim.max_msg_bytes) {
        return Err(ProtoError::new(
            StatusCode::Etoobig,
            format!(
                "message of {} bytes, limit {}",
                data.len(),
                lim.max_msg_bytes
            ),
        ));
    }
    let mut r = Reader {
        data,
        pos: 0,
        ctx: "message",
    };
    let n = r.header(true, "a message")?;
    let body = r.pos;
    // First pass: the version and the type, wherever they are; the whole map well-formed.
    let mut version: Option<u64> = None;
    let mut kind: Option<usize> = None;
    for _ in 0..n {
        let key = r.str_bytes("map key")?;
        if key == b"v" {
            version = Some(r.u64("v")?);
        } else if key == b"t" {
            let tv = r.str_bytes("t")?;
            if let Some(t) = TYPE_NAMES.iter().position(|name| name.as_bytes() == tv) {
                kind = Some(t);
            } else if kind.is_none() {
                let shown = String::from_utf8_lossy(tv.get(..tv.len().min(32)).unwrap_or(tv));
                return r.fail(
                    StatusCode::Etype,
                    format!("unknown message type '{}'", shown),
                );
            }
        } else {
            r.skip(0)?;
        }
    }
    if r.pos != data.len() {
        return r.fail(
            StatusCode::Eproto,
            format!("{} bytes after the message", data.len() - r.pos),
        );
    }
    let Some(version) = version else {
        return r.fail(StatusCode::Efield, "missing field 'v' (protocol version)");
    };
    if version != u64::from(PROTO_VERSION) {
        return r.fail(
            StatusCode::Eversion,
            format!(
                "protocol version {}, this side speaks {}",
                version, PROTO_VERSION
            ),
        );
    }
    let Some(kind) = kind else {
        return r.fail(StatusCode::Efield, "missing field 't' (message type)");
    };
    // Second pass: the fields of that type, then the required ones.
    r.ctx = TYPE_NAMES.get(kind).copied().unwrap_or("message");
    r.pos = body;
    let mut s = Seen::default();
    match kind {
        0 => {
            let mut h = Hello::default();
            walk(&mut r, n, &mut h, &mut s, lim)?;
            s.require(&r, 1, "versions")?;
            Ok(Message::Hello(h))
        }
        1 => {
            let mut w = Welcome::default();
            walk(&mut r, n, &mut w, &mut s, lim)?;
            for (i, name) in WELCOME_U32.iter().enumerate() {
                s.require(&r, i as u32, name)?;
            }
            Ok(Message::Welcome(w))
        }
        2 => {
            let empty = Register {
                senders: 0,
                window_ms: 0,
                policy: String::new(),
                ..Register::default()
            };
            let mut d = RegisterDraft {
                reg: empty,
                edges_at: 0,
            };
            walk(&mut r, n, &mut d, &mut s, lim)?;
            s.require(&r, 0, "job")?;
            s.require(&r, 6, "ops")?;
            s.require(&r, 7, "edges")?;
            let g = &mut d.reg;
            if !s.has(2) {
                g.senders = 1;
            }
            if !s.has(3) {
                g.window_ms = 1000;
            }
            if !s.has(4) {
                g.policy = "streamtune".into();
            }
            if g.senders == 0 {
                return r.fail(StatusCode::Efield, "senders must be >= 1");
            }
            resolve_edges(&mut r, d.edges_at, &mut d.reg, lim)?;
            Ok(Message::Register(d.reg))
        }
        3 => {
            let mut d = SamplesDraft::default();
            walk(&mut r, n, &mut d, &mut s, lim)?;
            s.require(&r, 0, "job")?;
            s.require(&r, 1, "window")?;
            s.require(&r, 3, "duration_ms")?;
            for (c, name) in SAMPLE_COLS.iter().take(6).enumerate() {
                s.require(&r, 10 + c as u32, name)?;
            }
            Ok(Message::Samples(d.s))
        }
        4 => {
            let mut d = DecisionDraft::default();
            walk(&mut r, n, &mut d, &mut s, lim)?;
            for (bit, name) in ["job", "seq", "epoch", "op", "p", "prob", "reason", "policy"]
                .iter()
                .enumerate()
            {
                s.require(&r, bit as u32, name)?;
            }
            Ok(Message::Decision(d.d))
        }
        5 => {
            let a = Ack {
                of: AckOf::Register,
                job: String::new(),
                id: 0,
                window: 0,
                seq: 0,
                epoch: 0,
                hash: 0,
            };
            let mut d = AckDraft { a, of: None };
            walk(&mut r, n, &mut d, &mut s, lim)?;
            s.require(&r, 0, "of")?;
            s.require(&r, 1, "job")?;
            let of = d.of.unwrap_or(AckOf::Register);
            match of {
                AckOf::Register => s.require(&r, 6, "hash")?,
                AckOf::Samples => s.require(&r, 3, "window")?,
                AckOf::Decision => {
                    s.require(&r, 4, "seq")?;
                    s.require(&r, 5, "epoch")?;
                }
            }
            d.a.of = of;
            Ok(Message::Ack(d.a))
        }
        6 => {
            let mut q = Query::default();
            walk(&mut r, n, &mut q, &mut s, lim)?;
            Ok(Message::Query(q))
        }
        7 => {
            let mut x = Status::default();
            walk(&mut r, n, &mut x, &mut s, lim)?;
            for (i, name) in STATUS_U64.iter().take(5).enumerate() {
                s.require(&r, i as u32, name)?;
            }
            Ok(Message::Status(x))
        }
        _ => {
            let mut e = ErrorMsg::default();
            walk(&mut r, n, &mut e, &mut s, lim)?;
            s.require(&r, 0, "code")?;
            s.require(&r, 2, "message")?;
            Ok(Message::Error(e))
        }
    }
}

// ---- encoding -----------------------------------------------------------------------------

struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn tag_be(&mut self, tag: u8, v: u64, n: usize) {
        self.buf.push(tag);
        self.buf.extend_from_slice(&v.to_be_bytes()[8 - n..]);
    }

    fn uint(&mut self, v: u64) {
        if v <= 0x7f {
            self.buf.push(v as u8);
        } else if v <= 0xff {
            self.tag_be(0xcc, v, 1);
        } else if v <= 0xffff {
            self.tag_be(0xcd, v, 2);
        } else if v <= 0xffff_ffff {
            self.tag_be(0xce, v, 4);
        } else {
            self.tag_be(0xcf, v, 8);
        }
    }

    fn double(&mut self, d: f64) {
        self.tag_be(0xcb, d.to_bits(), 8);
    }

    fn str(&mut self, s: &str) {
        let n = s.len();
        if n <= 31 {
            self.buf.push(0xa0 | n as u8);
        } else if n <= 0xff {
            self.tag_be(0xd9, n as u64, 1);
        } else if n <= 0xffff {
            self.tag_be(0xda, n as u64, 2);
        } else {
            self.tag_be(0xdb, n as u64, 4);
        }
        self.buf.extend_from_slice(s.as_bytes());
    }

    fn boolean(&mut self, v: bool) {
        self.buf.push(if v { 0xc3 } else { 0xc2 });
    }

    fn header(&mut self, map: bool, n: usize) {
        if n <= 15 {
            self.buf.push(if map { 0x80 } else { 0x90 } | n as u8);
        } else if n <= 0xffff {
            self.tag_be(if map { 0xde } else { 0xdc }, n as u64, 2);
        } else {
            self.tag_be(if map { 0xdf } else { 0xdd }, n as u64, 4);
        }
    }

    fn kv_uint(&mut self, k: &str, v: u64) {
        self.str(k);
        self.uint(v);
    }

    fn kv_str(&mut self, k: &str, v: &str) {
        self.str(k);
        self.str(v);
    }

    fn u32s(&mut self, k: &str, v: &[u32]) {
        self.str(k);
        self.header(false, v.len());
        for x in v {
            self.uint(u64::from(*x));
        }
    }

    fn doubles(&mut self, k: &str, v: &[f64]) {
        self.str(k);
        self.header(false, v.len());
        for x in v {
            self.double(*x);
        }
    }
}

/// Whether SAMPLES writes `lag_ms`: a known lag (>= 0; `-0.0` counts as known).
fn lag_known(lag: Option<f64>) -> Option<f64> {
    lag.filter(|v| *v >= 0.0)
}

/// Encodes canonically: `v`, `t`, then the keys in the order of `proto/PROTOCOL.md`,
/// integers in their smallest unsigned form, numbers as float64. The bytes are those the C
/// encoder writes for the same message.
///
/// The message is written as given, without checking it. HELLO writes at most 8 versions;
/// an empty REGISTER `policy` is written as `"streamtune"`; SAMPLES writes `lag_ms` only when
/// it is `Some` and >= 0; ACK writes only the fields of its kind; QUERY writes `job` only when
/// not empty. Use [`try_encode`] to also make sure the result decodes.
pub fn encode(msg: &Message) -> Vec<u8> {
    let mut w = Writer {
        buf: Vec::with_capacity(256),
    };
    let n_fields = match msg {
        Message::Hello(_) => 2,
        Message::Welcome(_) => 7,
        Message::Register(_) => 8,
        Message::Samples(s) => {
            12 + usize::from(lag_known(s.lag_ms).is_some()) + usize::from(s.bp_ms.is_some())
        }
        Message::Decision(_) => 8,
        Message::Ack(a) => 2 + if a.of == AckOf::Samples { 1 } else { 2 },
        Message::Query(q) => 1 + usize::from(!q.job.is_empty()),
        Message::Status(_) => 8,
        Message::Error(_) => 5,
    };
    w.header(true, 2 + n_fields);
    w.kv_uint("v", u64::from(PROTO_VERSION));
    w.kv_str("t", msg.type_name());
    match msg {
        Message::Hello(h) => {
            w.kv_str("client", &h.client);
            w.u32s(
                "versions",
                h.versions
                    .get(..h.versions.len().min(MAX_VERSIONS))
                    .unwrap_or(&[]),
            );
        }
        Message::Welcome(x) => {
            w.kv_uint("version", u64::from(x.version));
            w.kv_str("server", &x.server);
            w.kv_uint("max_msg_bytes", u64::from(x.max_msg_bytes));
            w.kv_uint("max_ops", u64::from(x.max_ops));
            w.kv_uint("max_edges", u64::from(x.max_edges));
            w.kv_uint("max_rows", u64::from(x.max_rows));
            w.kv_uint("window_ms", u64::from(x.window_ms));
        }
        Message::Register(g) => {
            w.kv_str("job", &g.job);
            w.kv_uint("id", g.id);
            w.kv_uint("senders", u64::from(g.senders));
            w.kv_uint("window_ms", u64::from(g.window_ms));
            w.kv_str(
                "policy",
                if g.policy.is_empty() {
                    "streamtune"
                } else {
                    &g.policy
                },
            );
            w.str("policy_opts");
            w.header(true, g.policy_opts.len());
            for (k, v) in &g.policy_opts {
                w.str(k);
                w.double(*v);
            }
            w.str("ops");
            w.header(false, g.ops.len());
            for op in &g.ops {
                w.header(true, 8);
                w.kv_uint("id", u64::from(op.id));
                w.kv_str("name", &op.name);
                w.kv_str("kind", op.kind.wire_name());
                w.str("stateful");
                w.boolean(op.stateful);
                w.str("selectivity");
                w.double(op.selectivity);
                w.str("rate");
                w.double(op.rate);
                w.kv_uint("p", u64::from(op.p));
                w.kv_uint("p_max", u64::from(op.p_max));
            }
            w.str("edges");
            w.header(false, g.edges.len());
            for e in &g.edges {
                w.header(false, 3);
                w.uint(u64::from(e.from));
                w.uint(u64::from(e.to));
                w.str(e.partitioning.wire_name());
            }
        }
        Message::Samples(s) => {
            w.kv_str("job", &s.job);
            w.kv_uint("window", s.window);
            w.kv_uint("epoch", s.epoch);
            w.kv_uint("duration_ms", u64::from(s.duration_ms));
            w.kv_uint("sender", u64::from(s.sender));
            w.str("ack");
            w.boolean(s.ack);
            if let Some(lag) = lag_known(s.lag_ms) {
                w.str("lag_ms");
                w.double(lag);
            }
            w.u32s("op", &s.op);
            w.u32s("inst", &s.inst);
            w.doubles("busy_ms", &s.busy_ms);
            w.doubles("in", &s.r#in);
            w.doubles("out", &s.out);
            w.doubles("backlog", &s.backlog);
            if let Some(bp) = &s.bp_ms {
                w.doubles("bp_ms", bp);
            }
        }
        Message::Decision(d) => {
            w.kv_str("job", &d.job);
            w.kv_uint("seq", d.seq);
            w.kv_uint("epoch", d.epoch);
            w.u32s("op", &d.op);
            w.u32s("p", &d.p);
            w.doubles("prob", &d.prob);
            w.kv_str("reason", &d.reason);
            w.kv_str("policy", &d.policy);
        }
        Message::Ack(a) => {
            w.kv_str("of", a.of.wire_name());
            w.kv_str("job", &a.job);
            match a.of {
                AckOf::Register => {
                    w.kv_uint("id", a.id);
                    w.kv_uint("hash", a.hash);
                }
                AckOf::Samples => w.kv_uint("window", a.window),
                AckOf::Decision => {
                    w.kv_uint("seq", a.seq);
                    w.kv_uint("epoch", a.epoch);
                }
            }
        }
        Message::Query(q) => {
            w.kv_uint("id", q.id);
            if !q.job.is_empty() {
                w.kv_str("job", &q.job);
            }
        }
        Message::Status(x) => {
            w.kv_uint("id", x.id);
            w.kv_uint("jobs", x.jobs);
            w.kv_uint("windows", x.windows);
            w.kv_uint("decisions", x.decisions);
            w.kv_uint("uptime_ms", x.uptime_ms);
            w.kv_str("job", &x.job);
            w.kv_str("policy", &x.policy);
            w.kv_uint("last_window", x.last_window);
        }
        Message::Error(e) => {
            w.kv_uint("code", u64::from(e.code));
            w.kv_str("name", &e.name);
            w.kv_str("message", &e.message);
            w.kv_uint("id", e.id);
            w.kv_str("job", &e.job);
        }
    }
    w.buf
}

/// Encodes like [`encode`] and checks that the bytes are a valid canonical message under
/// `lim`: they decode, and decoding then encoding gives the same bytes. Fails with the status
/// the decoder gives (e.g. `EVALUE` for a NaN metric, `EFIELD` for SAMPLES columns of
/// different lengths, `ECYCLE` for a cyclic DAG), or `EINVAL` if the message cannot be
/// written as given (e.g. a negative `lag_ms`, more than 8 HELLO versions).
pub fn try_encode(msg: &Message, lim: &Limits) -> Result<Vec<u8>, ProtoError> {
    let bytes = encode(msg);
    let back = decode(&bytes, lim)?;
    if encode(&back) != bytes {
        return Err(ProtoError::new(
            StatusCode::Einval,
            format!(
                "{}: the message does not survive a round trip",
                msg.type_name()
            ),
        ));
    }
    let dropped = match msg {
        Message::Hello(h) => h.versions.len() > MAX_VERSIONS,
        Message::Samples(s) => s.lag_ms.is_some() && lag_known(s.lag_ms).is_none(),
        _ => false,
    };
    if dropped {
        return Err(ProtoError::new(
            StatusCode::Einval,
            format!("{}: a field cannot be written as given", msg.type_name()),
        ));
    }
    Ok(bytes)
}

// ---- readable JSON ------------------------------------------------------------------------

/// A double as C's `%.17g` prints it (17 significant digits, shortest form of that).
fn g17(v: f64) -> String {
    if v.is_nan() {
        return if v.is_sign_negative() {
            "-nan".into()
        } else {
            "nan".into()
        };
    }
    if v.is_infinite() {
        return if v < 0.0 { "-inf".into() } else { "inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let e_form = format!("{:.16e}", v);
    let (mantissa, exp) = e_form.split_once('e').unwrap_or((e_form.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if negative { "-" } else { "" };
    if !(-4..17).contains(&exp) {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        let rest = rest.trim_end_matches('0');
        let dot = if rest.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!(
            "{}{}{}{}e{}{:02}",
            sign,
            first,
            dot,
            rest,
            esign,
            exp.unsigned_abs()
        );
    }
    let (int_part, frac_part) = if exp >= 0 {
        let cut = (exp as usize + 1).min(digits.len());
        let (a, b) = digits.split_at(cut);
        (a.to_string(), b.to_string())
    } else {
        (
            "0".to_string(),
            format!("{}{}", "0".repeat((-exp - 1) as usize), digits),
        )
    };
    let frac = frac_part.trim_end_matches('0');
    if frac.is_empty() {
        format!("{}{}", sign, int_part)
    } else {
        format!("{}{}.{}", sign, int_part, frac)
    }
}

struct Json {
    out: String,
    first: bool,
}

impl Json {
    fn string(&mut self, s: &str) {
        self.out.push('"');
        for c in s.chars() {
            match c {
                '"' => self.out.push_str("\\\""),
                '\\' => self.out.push_str("\\\\"),
                c if (c as u32) < 0x20 => self.out.push_str(&format!("\\u{:04x}", c as u32)),
                c => self.out.push(c),
            }
        }
        self.out.push('"');
    }

    fn key(&mut self, k: &str) {
        if !self.first {
            self.out.push_str(", ");
        }
        self.first = false;
        self.string(k);
        self.out.push_str(": ");
    }

    fn kv_u(&mut self, k: &str, v: u64) {
        self.key(k);
        self.out.push_str(&v.to_string());
    }

    fn kv_s(&mut self, k: &str, v: &str) {
        self.key(k);
        self.string(v);
    }

    fn kv_d(&mut self, k: &str, v: f64) {
        self.key(k);
        self.out.push_str(&g17(v));
    }

    fn kv_b(&mut self, k: &str, v: bool) {
        self.key(k);
        self.out.push_str(if v { "true" } else { "false" });
    }

    fn arr_u(&mut self, k: &str, v: &[u32]) {
        self.key(k);
        let items: Vec<String> = v.iter().map(u32::to_string).collect();
        self.out.push_str(&format!("[{}]", items.join(", ")));
    }

    fn arr_d(&mut self, k: &str, v: &[f64]) {
        self.key(k);
        let items: Vec<String> = v.iter().map(|x| g17(*x)).collect();
        self.out.push_str(&format!("[{}]", items.join(", ")));
    }
}

/// The readable one-line JSON of a message, exactly as `stn__proto_to_json` writes it for a
/// decoded message: keys in canonical order, numbers with 17 significant digits (`%.17g`),
/// strings JSON-escaped, a newline at the end. The `.json` files of the test vectors are this
/// text re-indented.
pub fn to_json(msg: &Message) -> String {
    let mut j = Json {
        out: String::from("{"),
        first: true,
    };
    j.kv_u("v", u64::from(PROTO_VERSION));
    j.kv_s("t", msg.type_name());
    match msg {
        Message::Hello(h) => {
            j.kv_s("client", &h.client);
            j.arr_u("versions", &h.versions);
        }
        Message::Welcome(x) => {
            j.kv_u("version", u64::from(x.version));
            j.kv_s("server", &x.server);
            j.kv_u("max_msg_bytes", u64::from(x.max_msg_bytes));
            j.kv_u("max_ops", u64::from(x.max_ops));
            j.kv_u("max_edges", u64::from(x.max_edges));
            j.kv_u("max_rows", u64::from(x.max_rows));
            j.kv_u("window_ms", u64::from(x.window_ms));
        }
        Message::Register(g) => {
            j.kv_s("job", &g.job);
            j.kv_u("id", g.id);
            j.kv_u("senders", u64::from(g.senders));
            j.kv_u("window_ms", u64::from(g.window_ms));
            j.kv_s("policy", &g.policy);
            j.key("policy_opts");
            let mut inner = Json {
                out: String::from("{"),
                first: true,
            };
            for (k, v) in &g.policy_opts {
                inner.kv_d(k, *v);
            }
            j.out.push_str(&inner.out);
            j.out.push('}');
            j.key("ops");
            let ops: Vec<String> = g
                .ops
                .iter()
                .map(|op| {
                    let mut o = Json {
                        out: String::from("{"),
                        first: true,
                    };
                    o.kv_u("id", u64::from(op.id));
                    o.kv_s("name", &op.name);
                    o.kv_s("kind", op.kind.wire_name());
                    o.kv_b("stateful", op.stateful);
                    o.kv_d("selectivity", op.selectivity);
                    o.kv_d("rate", op.rate);
                    o.kv_u("p", u64::from(op.p));
                    o.kv_u("p_max", u64::from(op.p_max));
                    o.out.push('}');
                    o.out
                })
                .collect();
            j.out.push_str(&format!("[{}]", ops.join(", ")));
            j.key("edges");
            let edges: Vec<String> = g
                .edges
                .iter()
                .map(|e| format!("[{}, {}, \"{}\"]", e.from, e.to, e.partitioning.wire_name()))
                .collect();
            j.out.push_str(&format!("[{}]", edges.join(", ")));
        }
        Message::Samples(s) => {
            j.kv_s("job", &s.job);
            j.kv_u("window", s.window);
            j.kv_u("epoch", s.epoch);
            j.kv_u("duration_ms", u64::from(s.duration_ms));
            j.kv_u("sender", u64::from(s.sender));
            j.kv_b("ack", s.ack);
            if let Some(lag) = lag_known(s.lag_ms) {
                j.kv_d("lag_ms", lag);
            }
            j.arr_u("op", &s.op);
            j.arr_u("inst", &s.inst);
            j.arr_d("busy_ms", &s.busy_ms);
            j.arr_d("in", &s.r#in);
            j.arr_d("out", &s.out);
            j.arr_d("backlog", &s.backlog);
            if let Some(bp) = &s.bp_ms {
                j.arr_d("bp_ms", bp);
            }
        }
        Message::Decision(d) => {
            j.kv_s("job", &d.job);
            j.kv_u("seq", d.seq);
            j.kv_u("epoch", d.epoch);
            j.arr_u("op", &d.op);
            j.arr_u("p", &d.p);
            j.arr_d("prob", &d.prob);
            j.kv_s("reason", &d.reason);
            j.kv_s("policy", &d.policy);
        }
        Message::Ack(a) => {
            j.kv_s("of", a.of.wire_name());
            j.kv_s("job", &a.job);
            match a.of {
                AckOf::Register => {
                    j.kv_u("id", a.id);
                    j.kv_u("hash", a.hash);
                }
                AckOf::Samples => j.kv_u("window", a.window),
                AckOf::Decision => {
                    j.kv_u("seq", a.seq);
                    j.kv_u("epoch", a.epoch);
                }
            }
        }
        Message::Query(q) => {
            j.kv_u("id", q.id);
            if !q.job.is_empty() {
                j.kv_s("job", &q.job);
            }
        }
        Message::Status(x) => {
            j.kv_u("id", x.id);
            j.kv_u("jobs", x.jobs);
            j.kv_u("windows", x.windows);
            j.kv_u("decisions", x.decisions);
            j.kv_u("uptime_ms", x.uptime_ms);
            j.kv_s("job", &x.job);
            j.kv_s("policy", &x.policy);
            j.kv_u("last_window", x.last_window);
        }
        Message::Error(e) => {
            j.kv_u("code", u64::from(e.code));
            j.kv_s("name", &e.name);
            j.kv_s("message", &e.message);
            j.kv_u("id", e.id);
            j.kv_s("job", &e.job);
        }
    }
    j.out.push_str("}\n");
    j.out
}

#[cfg(test)]
mod tests {
    use super::g17;

    #[test]
    fn g17_matches_c_printf() {
        // Expected strings are what glibc's printf("%.17g") writes.
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (0.1, "0.10000000000000001"),
            (0.3, "0.29999999999999999"),
            (2500.5, "2500.5"),
            (1e-3, "0.001"),
            (1e-5, "1.0000000000000001e-05"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (1e16, "10000000000000000"),
            (-12.5, "-12.5"),
            (1e300, "1.0000000000000001e+300"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "4.9406564584124654e-324"),
        ];
        for (v, want) in cases {
            assert_eq!(g17(*v), *want, "{:e}", v);
        }
    }
}
