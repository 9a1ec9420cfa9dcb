//! Raw mirror of `plugin/include/streamtune/streamtune.h`, the plugin's whole C ABI.
//!
//! Everything here is `#[repr(C)]` and has the layout of the C declaration it mirrors; there is
//! no logic. Use [`crate::plugin`] for the safe layer.
#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_void};

/// `STN_ABI_VERSION`: the ABI this mirror was written for; passed to [`stn_plugin_entry_fn`].
pub const STN_ABI_VERSION: u32 = 1;

/// `STN_VERSION_STRING` of the header this mirror was written for.
pub const STN_VERSION_STRING: &str = "0.1.0";

/// Name of the one symbol the shared object exports.
pub const STN_PLUGIN_ENTRY_SYMBOL: &[u8] = b"stn_plugin_entry\0";

/// `stn_status`: a C enum, passed as `int`.
pub type stn_status = c_int;

macro_rules! status_table {
    ($($konst:ident = $value:expr, $name:expr, $msg:expr;)*) => {
        $(
            #[doc = concat!("`STN_", $name, "`: ", $msg, ".")]
            pub const $konst: stn_status = $value;
        )*

        /// Every status as `(value, name, message)`, in the order of `STN_STATUS_MAP`.
        pub const STN_STATUS_TABLE: &[(stn_status, &str, &str)] = &[$(($value, $name, $msg)),*];
    };
}

status_table! {
    STN_OK = 0, "OK", "success";
    STN_EINVAL = 1, "EINVAL", "invalid argument";
    STN_ENOMEM = 2, "ENOMEM", "out of memory";
    STN_EMISUSE = 3, "EMISUSE", "API misuse";
    STN_ETOOSMALL = 4, "ETOOSMALL", "output buffer too small";
    STN_EPROTO = 5, "EPROTO", "malformed message";
    STN_ETOOBIG = 6, "ETOOBIG", "message or field exceeds a limit";
    STN_EVERSION = 7, "EVERSION", "unsupported protocol or file version";
    STN_ETYPE = 8, "ETYPE", "unknown message type";
    STN_EFIELD = 9, "EFIELD", "missing field or field of the wrong type";
    STN_EJOB = 10, "EJOB", "unknown job";
    STN_EORDER = 11, "EORDER", "window out of order or repeated";
    STN_EVALUE = 12, "EVALUE", "invalid metric value (NaN, infinite or negative)";
    STN_ECYCLE = 13, "ECYCLE", "operator graph has a cycle";
    STN_EGRAPH = 14, "EGRAPH", "invalid operator graph";
    STN_EIO = 15, "EIO", "input/output error";
    STN_EDB = 16, "EDB", "history database error";
    STN_EZMQ = 17, "EZMQ", "messaging error";
    STN_ECORRUPT = 18, "ECORRUPT", "corrupt file";
    STN_ENOTFOUND = 19, "ENOTFOUND", "not found";
    STN_ESTATE = 20, "ESTATE", "operation not valid in the current state";
    STN_EBUSY = 21, "EBUSY", "resource busy";
    STN_ETIMEDOUT = 22, "ETIMEDOUT", "timed out";
    STN_ESCHEMA = 23, "ESCHEMA", "unsupported history schema version";
    STN_EMODEL = 24, "EMODEL", "model does not fit the request";
    STN_EPOLICY = 25, "EPOLICY", "unknown policy or invalid policy option";
    STN_EUNSUPPORTED = 26, "EUNSUPPORTED", "not supported";
}

/// `STN_LOG_ERROR`.
pub const STN_LOG_ERROR: c_int = 0;
/// `STN_LOG_WARN`.
pub const STN_LOG_WARN: c_int = 1;
/// `STN_LOG_INFO`.
pub const STN_LOG_INFO: c_int = 2;
/// `STN_LOG_DEBUG`.
pub const STN_LOG_DEBUG: c_int = 3;

/// `stn_log_fn`: log sink; `msg` is borrowed for the call, NUL-terminated, without newline.
pub type stn_log_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, level: c_int, msg: *const c_char)>;

/// `stn_ctx`: opaque context.
#[repr(C)]
pub struct stn_ctx {
    _opaque: [u8; 0],
    _not_send_sync: std::marker::PhantomData<(*mut u8, std::marker::PhantomPinned)>,
}

/// `stn_config`: context configuration; zero fields take defaults.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct stn_config {
    /// `= sizeof(stn_config)`.
    pub struct_size: u32,
    /// Messages above this level are dropped; default `STN_LOG_INFO`.
    pub log_level: c_int,
    /// NULL: log lines go to stderr.
    pub log_fn: stn_log_fn,
    /// Passed to `log_fn`.
    pub log_user: *mut c_void,
}

/// `stn_serve_config`: endpoint configuration, read during `serve_start` only.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct stn_serve_config {
    /// `= sizeof(stn_serve_config)`.
    pub struct_size: u32,
    /// ZeroMQ endpoint to bind, e.g. `tcp://127.0.0.1:5555`.
    pub bind: *const c_char,
    /// SQLite history file, created if missing.
    pub history_path: *const c_char,
    /// NULL: the default model.
    pub model_path: *const c_char,
    /// Largest accepted message; 0: 16 MiB.
    pub max_msg_bytes: u32,
    /// Group-commit latency bound, µs; 0: 2000.
    pub commit_interval_us: u32,
    /// A window missing parts closes after this, ms; 0: 5000.
    pub window_timeout_ms: u32,
    /// 1: fsync every group commit; 0: WAL NORMAL.
    pub synchronous_full: c_int,
}

/// `stn_serve_stats`: counters of a running endpoint, since `serve_start`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct stn_serve_stats {
    /// Set by the caller to `sizeof(stn_serve_stats)`.
    pub struct_size: u32,
    /// Messages received.
    pub messages: u64,
    /// ERROR replies to faulty or refused requests (not the EJOB answer to a QUERY for a job
    /// not yet registered).
    pub errors: u64,
    /// Jobs registered.
    pub jobs: u64,
    /// Windows committed to the history.
    pub windows: u64,
    /// Operator-instance rows ingested.
    pub rows: u64,
    /// DECISION messages sent.
    pub decisions: u64,
    /// Group commits.
    pub commits: u64,
}

/// `stn_api`: the versioned, append-only function table returned by `stn_plugin_entry`.
#[repr(C)]
#[derive(Debug)]
pub struct stn_api {
    /// `STN_ABI_VERSION` of the plugin.
    pub abi_version: u32,
    /// `sizeof(stn_api)` of the plugin: which entries exist.
    pub struct_size: u32,
    /// Library version, static storage.
    pub version: Option<unsafe extern "C" fn() -> *const c_char>,
    /// Message of a status code, static storage.
    pub strerror: Option<unsafe extern "C" fn(s: stn_status) -> *const c_char>,
    /// Symbolic name of a status code, static storage.
    pub status_name: Option<unsafe extern "C" fn(s: stn_status) -> *const c_char>,
    /// New context; `cfg` may be NULL.
    pub ctx_new:
        Option<unsafe extern "C" fn(cfg: *const stn_config, out: *mut *mut stn_ctx) -> stn_status>,
    /// Stops the endpoint if running and frees the context; NULL is a no-op.
    pub ctx_free: Option<unsafe extern "C" fn(ctx: *mut stn_ctx)>,
    /// Text of the last error on the context; never NULL.
    pub ctx_errmsg: Option<unsafe extern "C" fn(ctx: *const stn_ctx) -> *const c_char>,
    /// Opens the history, binds, starts the endpoint thread.
    pub serve_start:
        Option<unsafe extern "C" fn(ctx: *mut stn_ctx, cfg: *const stn_serve_config) -> stn_status>,
    /// Stops the endpoint; `STN_ESTATE` if not running.
    pub serve_stop: Option<unsafe extern "C" fn(ctx: *mut stn_ctx) -> stn_status>,
    /// Endpoint actually bound, NUL-terminated into `buf`.
    pub serve_endpoint: Option<
        unsafe extern "C" fn(
            ctx: *mut stn_ctx,
            buf: *mut c_char,
            cap: usize,
            len: *mut usize,
        ) -> stn_status,
    >,
    /// Copies the endpoint's counters.
    pub serve_stats:
        Option<unsafe extern "C" fn(ctx: *mut stn_ctx, out: *mut stn_serve_stats) -> stn_status>,
}

/// `stn_plugin_entry_fn`: type of the one exported symbol.
pub type stn_plugin_entry_fn = unsafe extern "C" fn(host_abi_version: u32) -> *const stn_api;
