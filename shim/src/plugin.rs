//! Safe layer over the StreamTune plugin (`libstreamtune.so`).
//!
//! [`Plugin::load`] opens the shared object with `dlopen`, calls its one exported symbol
//! `stn_plugin_entry` and checks the ABI version and size of the function table it returns. A
//! [`Context`] owns a plugin context (freed on `Drop`); [`Context::serve`] starts the plugin's
//! in-process ZeroMQ endpoint and returns a [`Server`] (stopped on `Drop`). Every C status
//! becomes an [`Error`] carrying the status name and the context's error text; no Rust panic
//! unwinds into C (the log callback catches them).
//!
//! ```no_run
//! use streamtune_shim::plugin::{Plugin, ServeConfig};
//!
//! let plugin = Plugin::load(None)?; // $STREAMTUNE_PLUGIN or the CMake build output
//! let server = plugin.context()?.serve(&ServeConfig::new("tcp://127.0.0.1:0", "/tmp/h.db"))?;
//! println!("listening on {}", server.endpoint()?);
//! # Ok::<(), streamtune_shim::plugin::Error>(())
//! ```

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::fmt;
use std::mem::size_of;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::Arc;

use crate::sys;

/// Environment variable naming the plugin library to load when no path is given.
pub const PLUGIN_ENV: &str = "STREAMTUNE_PLUGIN";

/// The plugin the CMake build of this source tree produces (`<repo>/build/libstreamtune.so`).
pub const DEFAULT_PLUGIN_PATH: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../build/libstreamtune.so");

/// A failure of the plugin or of loading it: a status name (`"EINVAL"`, `"ENOTFOUND"`, ... as
/// in `streamtune.h`) and a message saying what happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// Symbolic status name, e.g. `"EPROTO"`.
    pub status: String,
    /// Human-readable text: the plugin's error message, or what the loader found.
    pub message: String,
}

impl Error {
    /// An error with a status name and a message.
    pub fn new(status: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            status: status.into(),
            message: message.into(),
        }
    }

    /// The numeric status code of [`Error::status`], if it names one of `streamtune.h`.
    pub fn code(&self) -> Option<i32> {
        sys::STN_STATUS_TABLE
            .iter()
            .find(|(_, name, _)| *name == self.status)
            .map(|(code, _, _)| *code)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

impl std::error::Error for Error {}

/// Name of a status code from the header's table (no plugin needed).
pub fn status_name(code: sys::stn_status) -> &'static str {
    sys::STN_STATUS_TABLE
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, name, _)| *name)
        .unwrap_or("EUNKNOWN")
}

/// Reads a C string owned by the plugin; NULL gives "".
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string valid for the duration of the call.
unsafe fn c_text(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    CStr::from_ptr(p).to_string_lossy().into_owned()
}

struct Loaded {
    api: &'static sys::stn_api,
    path: PathBuf,
    // Keeps the shared object mapped as long as any Plugin, Context or Server lives. Declared
    // last so that it is dropped last.
    _lib: libloading::Library,
}

/// The loaded plugin library and its function table. Cheap to clone; the library stays loaded
/// while any clone, [`Context`] or [`Server`] lives.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<Loaded>,
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("path", &self.inner.path)
            .field("abi_version", &self.inner.api.abi_version)
            .finish()
    }
}

// The entries a host of this ABI version calls: all ten of version 1.
const REQUIRED_TABLE_SIZE: usize = size_of::<sys::stn_api>();

impl Plugin {
    /// The library [`Plugin::load`] opens without an explicit path: `$STREAMTUNE_PLUGIN` if set
    /// and not empty, else [`DEFAULT_PLUGIN_PATH`].
    pub fn default_path() -> PathBuf {
        match std::env::var_os(PLUGIN_ENV) {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => PathBuf::from(DEFAULT_PLUGIN_PATH),
        }
    }

    /// Loads the plugin from `path`, or from [`Plugin::default_path`] if `None`; checks that it
    /// serves ABI version [`sys::STN_ABI_VERSION`] with a complete function table.
    ///
    /// Errors: `ENOTFOUND` if the file does not exist, `EIO` if it cannot be loaded or lacks the
    /// entry symbol, `EVERSION` if it refuses this ABI version or its table is too small.
    pub fn load(path: Option<&Path>) -> Result<Plugin, Error> {
        let path = path
            .map(Path::to_path_buf)
            .unwrap_or_else(Self::default_path);
        if !path.exists() {
            return Err(Error::new(
                "ENOTFOUND",
                format!(
                    "plugin library {} does not exist (build it with `cmake --build build --target \
                     streamtune`, or set {PLUGIN_ENV})",
                    path.display()
                ),
            ));
        }
        // SAFETY: loading runs the library's initialisers; libstreamtune has none with side
        // effects beyond its own globals.
        let lib = unsafe { libloading::Library::new(&path) }.map_err(|e| {
            Error::new("EIO", format!("cannot load plugin {}: {e}", path.display()))
        })?;
        // SAFETY: the symbol has the type streamtune.h declares for it.
        let entry: sys::stn_plugin_entry_fn = unsafe {
            *lib.get::<sys::stn_plugin_entry_fn>(sys::STN_PLUGIN_ENTRY_SYMBOL)
                .map_err(|e| {
                    Error::new(
                        "EIO",
                        format!("{} is not a StreamTune plugin: {e}", path.display()),
                    )
                })?
        };
        // SAFETY: calling the entry point with our ABI version is its documented use.
        let table = unsafe { entry(sys::STN_ABI_VERSION) };
        if table.is_null() {
            return Err(Error::new(
                "EVERSION",
                format!(
                    "plugin {} does not serve ABI version {}",
                    path.display(),
                    sys::STN_ABI_VERSION
                ),
            ));
        }
        // SAFETY: a non-NULL table has static storage in the library, which `Loaded` keeps
        // mapped for as long as the reference is reachable.
        let api: &'static sys::stn_api = unsafe { &*table };
        if api.abi_version != sys::STN_ABI_VERSION {
            return Err(Error::new(
                "EVERSION",
                format!(
                    "plugin {} has ABI version {}, this shim needs {}",
                    path.display(),
                    api.abi_version,
                    sys::STN_ABI_VERSION
                ),
            ));
        }
        let complete = (api.struct_size as usize) >= REQUIRED_TABLE_SIZE
            && api.version.is_some()
            && api.strerror.is_some()
            && api.status_name.is_some()
            && api.ctx_new.is_some()
            && api.ctx_free.is_some()
            && api.ctx_errmsg.is_some()
            && api.serve_start.is_some()
            && api.serve_stop.is_some()
            && api.serve_endpoint.is_some()
            && api.serve_stats.is_some();
        if !complete {
            return Err(Error::new(
                "EVERSION",
                format!(
                    "plugin {} has an incomplete function table ({} bytes, need {})",
                    path.display(),
                    api.struct_size,
                    REQUIRED_TABLE_SIZE
                ),
            ));
        }
        Ok(Plugin {
            inner: Arc::new(Loaded {
                api,
                path,
                _lib: lib,
            }),
        })
    }

    fn api(&self) -> &'static sys::stn_api {
        self.inner.api
    }

    /// The file the plugin was loaded from.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The plugin's ABI version (equal to [`sys::STN_ABI_VERSION`]).
    pub fn abi_version(&self) -> u32 {
        self.api().abi_version
    }

    /// The library's version string, e.g. `"0.1.0"`.
    pub fn version(&self) -> String {
        match self.api().version {
            // SAFETY: returns static storage.
            Some(f) => unsafe { c_text(f()) },
            None => String::new(),
        }
    }

    /// The plugin's message for a status code.
    pub fn strerror(&self, code: sys::stn_status) -> String {
        match self.api().strerror {
            // SAFETY: returns static storage for any code.
            Some(f) => unsafe { c_text(f(code)) },
            None => String::new(),
        }
    }

    /// The plugin's symbolic name of a status code, e.g. `"EPROTO"`.
    pub fn status_name(&self, code: sys::stn_status) -> String {
        match self.api().status_name {
            // SAFETY: returns static storage for any code.
            Some(f) => unsafe { c_text(f(code)) },
            None => status_name(code).to_owned(),
        }
    }

    /// A new context with default configuration (log lines go to stderr, level info).
    pub fn context(&self) -> Result<Context, Error> {
        self.context_with(ContextConfig::default())
    }

    /// A new context with `config`.
    pub fn context_with(&self, config: ContextConfig) -> Result<Context, Error> {
        Context::new(self.clone(), config)
    }
}

/// Severity of a plugin log line (`stn_log_level`), most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// `STN_LOG_ERROR`
    Error,
    /// `STN_LOG_WARN`
    Warn,
    /// `STN_LOG_INFO`
    Info,
    /// `STN_LOG_DEBUG`
    Debug,
}

impl LogLevel {
    fn to_c(self) -> c_int {
        match self {
            LogLevel::Error => sys::STN_LOG_ERROR,
            LogLevel::Warn => sys::STN_LOG_WARN,
            LogLevel::Info => sys::STN_LOG_INFO,
            LogLevel::Debug => sys::STN_LOG_DEBUG,
        }
    }

    fn from_c(level: c_int) -> LogLevel {
        match level {
            sys::STN_LOG_ERROR => LogLevel::Error,
            sys::STN_LOG_WARN => LogLevel::Warn,
            sys::STN_LOG_INFO => LogLevel::Info,
            _ => LogLevel::Debug,
        }
    }
}

/// A sink for the plugin's log lines. Called from the host thread and from the endpoint thread
/// (never concurrently for one context). A panic inside it is caught and the line dropped.
pub type LogSink = Box<dyn Fn(LogLevel, &str) + Send + Sync + 'static>;

/// Configuration of a [`Context`].
pub struct ContextConfig {
    /// Lines above this level are dropped (default [`LogLevel::Info`]).
    pub log_level: LogLevel,
    /// Where log lines go; `None`: the plugin writes them to stderr.
    pub log: Option<LogSink>,
}

impl Default for ContextConfig {
    fn default() -> Self {
        ContextConfig {
            log_level: LogLevel::Info,
            log: None,
        }
    }
}

impl fmt::Debug for ContextConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextConfig")
            .field("log_level", &self.log_level)
            .field("log", &self.log.as_ref().map(|_| "<sink>"))
            .finish()
    }
}

/// The C log callback: forwards to the `LogSink` behind `user`, never unwinds.
unsafe extern "C" fn log_trampoline(user: *mut c_void, level: c_int, msg: *const c_char) {
    if user.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `user` is the `Box<LogSink>` the owning Context keeps alive until after
        // ctx_free, and msg is a NUL-terminated string borrowed for this call.
        let sink = &*(user as *const LogSink);
        let text = c_text(msg);
        sink(LogLevel::from_c(level), &text);
    }));
}

/// A plugin context (`stn_ctx`). Used by one thread at a time; may move between threads.
/// Dropping it stops its endpoint, if any, and frees it.
pub struct Context {
    ctx: *mut sys::stn_ctx,
    plugin: Plugin,
    // Referenced by the C side as log_user; freed only after ctx_free.
    _sink: Option<Box<LogSink>>,
}

// SAFETY: streamtune.h allows a context to move between threads; it is not shared (no Sync).
unsafe impl Send for Context {}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("plugin", &self.plugin.path())
            .finish()
    }
}

impl Context {
    fn new(plugin: Plugin, config: ContextConfig) -> Result<Context, Error> {
        let sink = config.log.map(Box::new);
        let user = sink
            .as_ref()
            .map(|b| &**b as *const LogSink as *mut c_void)
            .unwrap_or(ptr::null_mut());
        let cfg = sys::stn_config {
            struct_size: size_of::<sys::stn_config>() as u32,
            log_level: config.log_level.to_c(),
            log_fn: if sink.is_some() {
                Some(log_trampoline)
            } else {
                None
            },
            log_user: user,
        };
        let api = plugin.api();
        let ctx_new = api
            .ctx_new
            .ok_or_else(|| Error::new("EVERSION", "no ctx_new"))?;
        let mut ctx: *mut sys::stn_ctx = ptr::null_mut();
        // SAFETY: cfg is valid for the call; ctx receives the new context or NULL.
        let rc = unsafe { ctx_new(&cfg, &mut ctx) };
        if rc != sys::STN_OK || ctx.is_null() {
            return Err(Error::new(
                plugin.status_name(rc),
                format!("creating a plugin context failed: {}", plugin.strerror(rc)),
            ));
        }
        Ok(Context {
            ctx,
            plugin,
            _sink: sink,
        })
    }

    /// The plugin this context belongs to.
    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// The context's last error text (`ctx_errmsg`).
    pub fn last_error(&self) -> String {
        match self.plugin.api().ctx_errmsg {
            // SAFETY: ctx is live; the text is borrowed until the next call on ctx and copied.
            Some(f) => unsafe { c_text(f(self.ctx)) },
            None => String::new(),
        }
    }

    fn check(&self, rc: sys::stn_status, what: &str) -> Result<(), Error> {
        if rc == sys::STN_OK {
            return Ok(());
        }
        let mut message = self.last_error();
        if message.is_empty() {
            message = self.plugin.strerror(rc);
        }
        Err(Error::new(
            self.plugin.status_name(rc),
            format!("{what}: {message}"),
        ))
    }

    /// Starts the plugin's endpoint on this context (binds, opens the history, starts its
    /// thread; returns once it listens). The [`Server`] owns the context from then on.
    pub fn serve(self, config: &ServeConfig) -> Result<Server, Error> {
        let bind = cstring(&config.bind, "bind")?;
        let history = cstring(&config.history_path.to_string_lossy(), "history_path")?;
        let model = match &config.model_path {
            Some(p) => Some(cstring(&p.to_string_lossy(), "model_path")?),
            None => None,
        };
        let cfg = sys::stn_serve_config {
            struct_size: size_of::<sys::stn_serve_config>() as u32,
            bind: bind.as_ptr(),
            history_path: history.as_ptr(),
            model_path: model.as_ref().map_or(ptr::null(), |m| m.as_ptr()),
            max_msg_bytes: config.max_msg_bytes,
            commit_interval_us: config.commit_interval_us,
            window_timeout_ms: config.window_timeout_ms,
            synchronous_full: c_int::from(config.synchronous_full),
        };
        let start = self
            .plugin
            .api()
            .serve_start
            .ok_or_else(|| Error::new("EVERSION", "no serve_start"))?;
        // SAFETY: ctx is live; cfg and its strings are valid for the duration of the call.
        let rc = unsafe { start(self.ctx, &cfg) };
        self.check(rc, &format!("starting the endpoint on {}", config.bind))?;
        Ok(Server { ctx: Some(self) })
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        if let Some(free) = self.plugin.api().ctx_free {
            // SAFETY: ctx is live and owned; after this it is never used again.
            unsafe { free(self.ctx) };
        }
        self.ctx = ptr::null_mut();
        // `sink` is dropped after this body, once the C side can no longer call it.
    }
}

fn cstring(s: &str, what: &str) -> Result<CString, Error> {
    CString::new(s).map_err(|_| Error::new("EINVAL", format!("{what} contains a NUL byte")))
}

/// Configuration of the plugin's endpoint ([`Context::serve`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeConfig {
    /// ZeroMQ endpoint to bind: `tcp://host:port` (port 0: any free one) or `ipc:///path`.
    pub bind: String,
    /// SQLite history file, created if missing.
    pub history_path: PathBuf,
    /// Model file; `None`: the plugin's default model.
    pub model_path: Option<PathBuf>,
    /// Largest accepted message in bytes; 0: 16 MiB.
    pub max_msg_bytes: u32,
    /// Group-commit latency bound in µs; 0: 2000.
    pub commit_interval_us: u32,
    /// A window missing parts closes after this many ms; 0: 5000.
    pub window_timeout_ms: u32,
    /// fsync every group commit (power-loss safe) instead of WAL `NORMAL`.
    pub synchronous_full: bool,
}

impl ServeConfig {
    /// Binds `bind`, stores the history in `history_path`, everything else default.
    pub fn new(bind: impl Into<String>, history_path: impl Into<PathBuf>) -> Self {
        ServeConfig {
            bind: bind.into(),
            history_path: history_path.into(),
            model_path: None,
            max_msg_bytes: 0,
            commit_interval_us: 0,
            window_timeout_ms: 0,
            synchronous_full: false,
        }
    }
}

/// Counters of a running endpoint since it started (`stn_serve_stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServeStats {
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

/// A running in-process endpoint. Dropping it stops the endpoint (pending windows are committed,
/// the thread joined) and frees its context.
#[derive(Debug)]
pub struct Server {
    ctx: Option<Context>,
}

impl Server {
    fn ctx(&self) -> &Context {
        // Only `stop` and `drop` take the context out, and both consume the server.
        self.ctx
            .as_ref()
            .expect("server context present until stop")
    }

    /// The endpoint actually bound, e.g. `tcp://127.0.0.1:40123` for a bind of port 0.
    pub fn endpoint(&self) -> Result<String, Error> {
        let ctx = self.ctx();
        let f = ctx
            .plugin
            .api()
            .serve_endpoint
            .ok_or_else(|| Error::new("EVERSION", "no serve_endpoint"))?;
        let mut buf = vec![0u8; 256];
        for _ in 0..2 {
            let mut len: usize = 0;
            // SAFETY: buf has buf.len() writable bytes; len receives the needed size.
            let rc = unsafe { f(ctx.ctx, buf.as_mut_ptr().cast(), buf.len(), &mut len) };
            if rc == sys::STN_ETOOSMALL && len > buf.len() && len <= 1 << 20 {
                buf.resize(len, 0);
                continue;
            }
            ctx.check(rc, "reading the bound endpoint")?;
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            return Ok(String::from_utf8_lossy(&buf[..end]).into_owned());
        }
        Err(Error::new(
            "ETOOSMALL",
            "the bound endpoint name keeps growing",
        ))
    }

    /// The endpoint's counters.
    pub fn stats(&self) -> Result<ServeStats, Error> {
        let ctx = self.ctx();
        let f = ctx
            .plugin
            .api()
            .serve_stats
            .ok_or_else(|| Error::new("EVERSION", "no serve_stats"))?;
        let mut out = sys::stn_serve_stats {
            struct_size: size_of::<sys::stn_serve_stats>() as u32,
            ..Default::default()
        };
        // SAFETY: out is a valid, sized stn_serve_stats.
        let rc = unsafe { f(ctx.ctx, &mut out) };
        ctx.check(rc, "reading endpoint counters")?;
        Ok(ServeStats {
            messages: out.messages,
            errors: out.errors,
            jobs: out.jobs,
            windows: out.windows,
            rows: out.rows,
            decisions: out.decisions,
            commits: out.commits,
        })
    }

    /// Stops the endpoint and gives the context back (it can serve again).
    pub fn stop(mut self) -> Result<Context, Error> {
        let ctx = self.ctx.take().expect("server context present until stop");
        let f = ctx
            .plugin
            .api()
            .serve_stop
            .ok_or_else(|| Error::new("EVERSION", "no serve_stop"))?;
        // SAFETY: ctx is live and serving.
        let rc = unsafe { f(ctx.ctx) };
        ctx.check(rc, "stopping the endpoint")?;
        Ok(ctx)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(ctx) = self.ctx.take() {
            if let Some(f) = ctx.plugin.api().serve_stop {
                // SAFETY: ctx is live; a failure here has no one to report to, and ctx_free
                // (when ctx drops) stops the endpoint in any case.
                let _ = unsafe { f(ctx.ctx) };
            }
        }
    }
}
