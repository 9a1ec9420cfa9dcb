//! The safe plugin layer against the real `libstreamtune.so` ($STREAMTUNE_PLUGIN, else the CMake
//! build output): loading and the ABI check, clear errors for a missing or foreign library, an
//! in-process endpoint on ipc:// and tcp://127.0.0.1:0 that answers a real client, counters,
//! stop and restart, C errors carried with their message, and the log callback (also one that
//! panics).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use streamtune_shim::plugin::{ContextConfig, LogLevel, Plugin, ServeConfig};
use streamtune_shim::proto::{self, Hello, Limits, Message};

fn plugin() -> Plugin {
    let path = Plugin::default_path();
    Plugin::load(None).unwrap_or_else(|e| {
        panic!(
            "cannot load the plugin at {} (build it with CMake first): {e}",
            path.display()
        )
    })
}

/// A fresh scratch directory for this test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stn-plugin-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Sends HELLO from a DEALER socket and waits (bounded) for the answer.
fn hello(endpoint: &str) -> Message {
    let ctx = zmq::Context::new();
    let sock = ctx.socket(zmq::DEALER).expect("socket");
    sock.set_linger(0).expect("linger");
    sock.connect(endpoint).expect("connect");
    let msg = Message::Hello(Hello {
        client: "plugin-test".into(),
        versions: vec![1],
    });
    sock.send(proto::encode(&msg), 0).expect("send");
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if sock.poll(zmq::POLLIN, 100).expect("poll") > 0 {
            let bytes = sock.recv_bytes(0).expect("recv");
            return proto::decode(&bytes, &Limits::default()).expect("decodes");
        }
    }
    panic!("no answer to HELLO from {endpoint}");
}

#[test]
fn loads_and_checks_abi() {
    let p = plugin();
    assert_eq!(p.abi_version(), streamtune_shim::sys::STN_ABI_VERSION);
    assert_eq!(p.version(), streamtune_shim::sys::STN_VERSION_STRING);
    assert_eq!(p.status_name(streamtune_shim::sys::STN_EPROTO), "EPROTO");
    assert_eq!(p.strerror(streamtune_shim::sys::STN_EJOB), "unknown job");
    // The plugin's table of names agrees with the mirrored header.
    for &(code, name, msg) in streamtune_shim::sys::STN_STATUS_TABLE {
        assert_eq!(p.status_name(code), name);
        assert_eq!(p.strerror(code), msg);
    }
    assert!(p.path().exists());
    // A second load of the same file shares the mapping and works independently.
    let q = Plugin::load(Some(p.path())).expect("loads again");
    drop(p);
    assert_eq!(q.version(), "0.1.0");
}

#[test]
fn missing_library_is_a_clear_error() {
    let missing = Path::new("/nonexistent/dir/libstreamtune.so");
    let err = Plugin::load(Some(missing)).expect_err("must fail");
    assert_eq!(err.status, "ENOTFOUND");
    assert!(
        err.message.contains("/nonexistent/dir/libstreamtune.so"),
        "{err}"
    );
    assert!(err.message.contains("STREAMTUNE_PLUGIN"), "{err}");
    assert_eq!(err.code(), Some(streamtune_shim::sys::STN_ENOTFOUND));

    // A file that is not a shared object.
    let dir = scratch("garbage");
    let junk = dir.join("libjunk.so");
    std::fs::write(&junk, b"this is not an ELF file").expect("write");
    let err = Plugin::load(Some(&junk)).expect_err("must fail");
    assert_eq!(err.status, "EIO");
    assert!(err.message.contains("libjunk.so"), "{err}");
}

#[test]
fn foreign_library_is_refused() {
    // A real shared object without the entry symbol: libzmq, which the plugin links.
    let candidates = [
        "/usr/lib/x86_64-linux-gnu/libzmq.so.5",
        "/usr/lib/aarch64-linux-gnu/libzmq.so.5",
        "/usr/lib/libzmq.so.5",
    ];
    let Some(lib) = candidates.iter().map(Path::new).find(|p| p.exists()) else {
        // No system libzmq at a known place: fall back on the C library itself.
        let err = Plugin::load(Some(Path::new("/lib/x86_64-linux-gnu/libc.so.6")));
        if let Err(e) = err {
            assert!(e.status == "EIO" || e.status == "ENOTFOUND", "{e}");
        }
        return;
    };
    let err = Plugin::load(Some(lib)).expect_err("no stn_plugin_entry");
    assert_eq!(err.status, "EIO");
    assert!(err.message.contains("not a StreamTune plugin"), "{err}");
}

#[test]
fn serves_on_ipc_then_tcp() {
    let dir = scratch("serve");
    let p = plugin();
    let lines: Arc<Mutex<Vec<(LogLevel, String)>>> = Arc::default();
    let sink = Arc::clone(&lines);
    let ctx = p
        .context_with(ContextConfig {
            log_level: LogLevel::Debug,
            log: Some(Box::new(move |level, msg| {
                sink.lock().unwrap().push((level, msg.to_owned()))
            })),
        })
        .expect("context");

    // ipc://
    let ipc = format!("ipc://{}/ep.sock", dir.display());
    let server = ctx
        .serve(&ServeConfig::new(&ipc, dir.join("h1.db")))
        .expect("serve ipc");
    assert_eq!(server.endpoint().expect("endpoint"), ipc);
    assert_eq!(server.stats().expect("stats").messages, 0);
    match hello(&ipc) {
        Message::Welcome(w) => {
            assert_eq!(w.version, 1);
            assert!(w.server.starts_with("streamtune"), "{w:?}");
            assert!(w.window_ms > 0);
        }
        other => panic!("expected WELCOME, got {other:?}"),
    }
    let stats = server.stats().expect("stats");
    assert_eq!(stats.messages, 1, "{stats:?}");
    assert_eq!(stats.errors, 0);
    let ctx = server.stop().expect("stop");
    assert!(dir.join("h1.db").exists());

    // tcp:// with port 0 on the same context.
    let server = ctx
        .serve(&ServeConfig::new("tcp://127.0.0.1:0", dir.join("h2.db")))
        .expect("serve tcp");
    let ep = server.endpoint().expect("endpoint");
    let port: u16 = ep.rsplit(':').next().unwrap().parse().expect("a port");
    assert!(ep.starts_with("tcp://127.0.0.1:") && port != 0, "{ep}");
    assert!(matches!(hello(&ep), Message::Welcome(_)));
    assert_eq!(server.stats().expect("stats").messages, 1);
    drop(server); // stops and frees

    let lines = lines.lock().unwrap();
    assert!(
        lines
            .iter()
            .any(|(_, l)| l.contains("serving on") && l.contains(&ipc)),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|(_, l)| l.contains("client 'plugin-test' connected")),
        "{lines:?}"
    );
}

#[test]
fn c_errors_carry_the_context_message() {
    let dir = scratch("errors");
    let p = plugin();
    let ctx = p
        .context_with(ContextConfig {
            log_level: LogLevel::Error,
            log: Some(Box::new(|_, _| {})),
        })
        .expect("context");
    let err = ctx
        .serve(&ServeConfig::new("bogus://nowhere", dir.join("h.db")))
        .expect_err("bad bind");
    assert!(!err.status.is_empty() && err.status != "OK", "{err}");
    assert!(err.message.contains("bogus://nowhere"), "{err}");
    assert!(err.code().is_some(), "{err}");

    // A history path in a directory that does not exist.
    let ctx = p.context().expect("context");
    let err = ctx
        .serve(&ServeConfig::new(
            "tcp://127.0.0.1:0",
            "/nonexistent/dir/h.db",
        ))
        .expect_err("bad history");
    assert!(
        err.message.len() > "starting the endpoint on tcp://127.0.0.1:0: ".len(),
        "{err}"
    );

    // Interior NUL bytes are refused before reaching C.
    let ctx = p.context().expect("context");
    let err = ctx
        .serve(&ServeConfig::new("tcp://127.0.0.1:0\0x", dir.join("h.db")))
        .expect_err("nul");
    assert_eq!(err.status, "EINVAL");
}

#[test]
fn panicking_log_sink_does_not_cross_into_c() {
    let dir = scratch("panic");
    let p = plugin();
    let ctx = p
        .context_with(ContextConfig {
            log_level: LogLevel::Debug,
            log: Some(Box::new(|_, _| panic!("sink fails"))),
        })
        .expect("context");
    let server = ctx
        .serve(&ServeConfig::new("tcp://127.0.0.1:0", dir.join("h.db")))
        .expect("serves although the sink panics");
    let ep = server.endpoint().expect("endpoint");
    assert!(matches!(hello(&ep), Message::Welcome(_)));
    server.stop().expect("stop");
}
