//! A real Timely job linked to a real StreamTune endpoint:
//! 1. the plugin's endpoint started in-process (ipc://) with the `static` policy: the job is
//!    registered, every worker's windows are stored, nothing is refused;
//! 2. a `streamtune serve` process on tcp:// killed (SIGKILL) and restarted mid-run: the job
//!    finishes with correct output, reconnects, re-registers, and windows from before and after
//!    the restart are in the history (`streamtune inspect history`);
//! 3. no plugin and no endpoint at all: the job runs untuned and finishes.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use streamtune_shim::connection::{Endpoint, LinkState, LinkStats, StreamTune, TunerConfig};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::vec::Map;
use timely::dataflow::operators::{Input, Inspect, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};

const PER_EPOCH: u64 = 200;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stn-conn-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn cli() -> PathBuf {
    match std::env::var_os("STREAMTUNE_CLI") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../build/streamtune"),
    }
}

/// Log lines of the link, for assertions and for the test output.
fn capture(lines: &Arc<Mutex<Vec<String>>>) -> streamtune_shim::connection::LogFn {
    let lines = Arc::clone(lines);
    Arc::new(move |l: &str| {
        eprintln!("{l}");
        lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(l.to_owned());
    })
}

struct WorkerResult {
    index: usize,
    sent: u64,
    seen: u64,
    stats: LinkStats,
    state: LinkState,
    decisions: usize,
}

/// Runs input -> map -> exchange -> work -> probe on `workers` workers for `run_for`, with
/// `during` called on worker 0 between epochs (with the elapsed time).
fn run_job(
    tuner: StreamTune,
    workers: usize,
    run_for: Duration,
    during: impl Fn(Duration) + Send + Sync + 'static,
) -> Vec<WorkerResult> {
    let guards = timely::execute(timely::Config::process(workers), move |worker| {
        let link = tuner.attach(worker);
        let mut input = InputHandleVec::<u64, u64>::new();
        let probe = ProbeHandle::new();
        let seen = Rc::new(Cell::new(0u64));
        let seen_in = Rc::clone(&seen);
        worker.dataflow::<u64, _, _>(|scope| {
            scope
                .input_from(&mut input)
                .map(|x| x ^ 0x55)
                .unary(Exchange::new(|x: &u64| *x), "Work", |_, _| {
                    move |input, output| {
                        input.for_each(|cap, data| {
                            let mut session = output.session(&cap);
                            for &x in data.iter() {
                                let t = Instant::now();
                                while t.elapsed() < Duration::from_micros(5) {}
                                session.give(x);
                            }
                        })
                    }
                })
                .container::<Vec<u64>>()
                .inspect(move |_| seen_in.set(seen_in.get() + 1))
                .probe_with(&probe);
        });
        let start = Instant::now();
        let index = worker.index() as u64;
        let mut epoch = 0u64;
        let mut sent = 0u64;
        let mut decisions = 0;
        while start.elapsed() < run_for {
            for i in 0..PER_EPOCH {
                input.send(index << 40 | epoch << 16 | i);
            }
            sent += PER_EPOCH;
            epoch += 1;
            input.advance_to(epoch);
            while probe.less_than(input.time()) {
                worker.step();
            }
            link.set_epoch(epoch);
            if link.is_controller() {
                decisions += link.poll_decisions().len();
                during(start.elapsed());
            }
            // Leave the CPU to the endpoint and the other worker now and then.
            worker.step_or_park(Some(Duration::from_millis(2)));
        }
        input.close();
        while worker.step() {}
        link.finish();
        WorkerResult {
            index: worker.index(),
            sent,
            seen: seen.get(),
            stats: link.stats(),
            state: link.state(),
            decisions,
        }
    })
    .expect("timely starts");
    guards
        .join()
        .into_iter()
        .map(|r| r.expect("worker finishes"))
        .collect()
}

fn fast_config(job: &str, endpoint: Endpoint, lines: &Arc<Mutex<Vec<String>>>) -> TunerConfig {
    let mut cfg = TunerConfig::new(job, endpoint)
        .policy("static", vec![])
        .window(Duration::from_millis(100));
    cfg.reply_timeout = Duration::from_millis(700);
    cfg.ack_timeout = Duration::from_millis(900);
    cfg.backoff_min = Duration::from_millis(50);
    cfg.backoff_max = Duration::from_millis(400);
    cfg.finish_timeout = Duration::from_secs(3);
    cfg.log = Some(capture(lines));
    cfg
}

fn assert_output_complete(results: &[WorkerResult]) {
    let sent: u64 = results.iter().map(|r| r.sent).sum();
    let seen: u64 = results.iter().map(|r| r.seen).sum();
    assert!(sent > 0);
    assert_eq!(seen, sent, "every record reached the sink");
}

/// `streamtune inspect history FILE --job JOB --windows N`: (windows stored, indices listed).
fn inspect(history: &Path, job: &str) -> (u64, Vec<u64>) {
    let out = Command::new(cli())
        .args(["inspect", "history"])
        .arg(history)
        .args(["--job", job, "--windows", "1000"])
        .output()
        .expect("streamtune inspect runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "inspect failed: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let header = format!("job {job}: ");
    let total = text
        .lines()
        .find_map(|l| l.strip_prefix(&header))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no job line in:\n{text}"));
    let indices = text
        .lines()
        .filter_map(|l| l.strip_prefix("window "))
        .filter_map(|rest| rest.split_whitespace().next())
        .filter_map(|n| n.parse().ok())
        .collect();
    (total, indices)
}

#[test]
fn in_process_endpoint_static_policy() {
    let dir = scratch("inproc");
    let history = dir.join("h.db");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let mut cfg = fast_config(
        "inproc-static",
        Endpoint::InProcess {
            plugin: None,
            bind: None,
            history: history.clone(),
        },
        &lines,
    );
    // This test asserts that nothing is lost or resent, not how fast the endpoint answers:
    // generous timeouts keep a busy test machine from looking like a dead endpoint.
    // The endpoint keeps 4 windows of a job open, so 200 ms windows let the workers drift
    // 800 ms apart before a part comes too late.
    cfg.reply_timeout = Duration::from_secs(5);
    cfg.ack_timeout = Duration::from_secs(8);
    cfg.window = Duration::from_millis(200);
    let tuner = StreamTune::new(cfg);
    assert!(
        tuner.disabled_reason().is_none(),
        "{:?}",
        tuner.disabled_reason()
    );
    assert!(tuner.endpoint().unwrap().starts_with("ipc://"));

    let results = run_job(tuner.clone(), 2, Duration::from_millis(2600), |_| {});
    assert_output_complete(&results);

    for r in &results {
        assert_eq!(r.state, LinkState::Finished);
        assert!(
            r.stats.registrations >= 1,
            "worker {}: {:?}",
            r.index,
            r.stats
        );
        assert!(
            r.stats.windows_sent >= 10,
            "worker {}: {:?}",
            r.index,
            r.stats
        );
        // Everything sent was acknowledged durable, nothing dropped, no reconnects.
        assert_eq!(
            r.stats.windows_acked, r.stats.windows_sent,
            "worker {}: {:?}",
            r.index, r.stats
        );
        assert_eq!(r.stats.windows_dropped, 0);
        assert_eq!(r.stats.reconnects, 0, "{:?}", lines.lock().unwrap());
        assert_eq!(r.stats.errors, 0, "{:?}", lines.lock().unwrap());
        assert_eq!(r.decisions, 0, "static never decides");
    }
    let stats = tuner.server_stats().expect("in-process endpoint running");
    assert_eq!(stats.jobs, 1, "{stats:?}");
    // The only refusals: worker 1 asking (QUERY) before worker 0 registered the job.
    {
        let log = lines.lock().unwrap();
        let refusals = log.iter().filter(|l| l.contains("[Warn]: error ")).count() as u64;
        assert!(
            log.iter()
                .filter(|l| l.contains("[Warn]: error "))
                .all(|l| l.contains("EJOB")),
            "{log:#?}"
        );
        assert_eq!(stats.errors, refusals, "{stats:?}");
    }
    assert!(stats.windows >= 10, "{stats:?}");
    // 2 workers x 4 leaf operators (Input, FlatMap, Work, Probe) per window.
    assert!(stats.rows >= 8 * stats.windows, "{stats:?}");
    tuner.stop_server();

    let (stored, indices) = inspect(&history, "inproc-static");
    assert!(stored >= 10, "{stored}");
    assert!(!indices.is_empty());
    let log = lines.lock().unwrap();
    assert!(
        log.iter()
            .any(|l| l.contains("worker 0: connected to ipc://") && l.contains("registered")),
        "{log:?}"
    );
}

struct Serve {
    child: Child,
}

impl Serve {
    fn start(bind: &str, history: &Path) -> Serve {
        let child = Command::new(cli())
            .args(["serve", "--bind", bind, "--history"])
            .arg(history)
            .args([
                "--sync",
                "normal",
                "--log-level",
                "warn",
                "--stats-every",
                "0",
                "--window-timeout-ms",
                "1000",
            ])
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", cli().display()));
        let port = bind.rsplit(':').next().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err() {
            assert!(
                Instant::now() < deadline,
                "streamtune serve did not listen on {bind}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Serve { child }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn remote_serve_killed_and_restarted() {
    let dir = scratch("restart");
    let history = dir.join("h.db");
    let bind = format!("tcp://127.0.0.1:{}", free_port());
    let server = Arc::new(Mutex::new(Some(Serve::start(&bind, &history))));
    let lines = Arc::new(Mutex::new(Vec::new()));
    let cfg = fast_config("remote-restart", Endpoint::Connect(bind.clone()), &lines);
    let tuner = StreamTune::new(cfg);

    // Kill the endpoint at 1.0 s, restart it at 1.6 s; the job runs 3.5 s.
    let srv = Arc::clone(&server);
    let bind2 = bind.clone();
    let history2 = history.clone();
    let phase = Arc::new(Mutex::new(0u8));
    let killed_at = Arc::new(Mutex::new(None::<Instant>));
    let killed = Arc::clone(&killed_at);
    let results = run_job(tuner, 2, Duration::from_millis(3500), move |elapsed| {
        let mut p = phase.lock().unwrap();
        if *p == 0 && elapsed > Duration::from_millis(1000) {
            if let Some(mut s) = srv.lock().unwrap().take() {
                s.kill();
            }
            *killed.lock().unwrap() = Some(Instant::now());
            *p = 1;
        } else if *p == 1 && elapsed > Duration::from_millis(1600) {
            *srv.lock().unwrap() = Some(Serve::start(&bind2, &history2));
            *p = 2;
        }
    });
    assert!(
        killed_at.lock().unwrap().is_some(),
        "the endpoint was killed during the run"
    );
    assert_output_complete(&results);

    let w0 = results.iter().find(|r| r.index == 0).expect("worker 0");
    let log = lines.lock().unwrap().clone();
    // The restarted endpoint did not know the job: worker 0 registered it again (after a
    // reconnect of its own if the outage outlasted the ACK timeout).
    assert!(
        w0.stats.registrations >= 2,
        "re-registered: {:?}\n{log:#?}",
        w0.stats
    );
    for r in &results {
        assert!(
            r.stats.windows_acked >= 10,
            "worker {}: {:?}\n{log:#?}",
            r.index,
            r.stats
        );
    }
    // Said once per change of state, not once per message or attempt.
    for w in 0..2 {
        let prefix = format!("worker {w}: ");
        let mine: Vec<_> = log.iter().filter(|l| l.contains(&prefix)).collect();
        assert!(mine.len() <= 8, "{mine:#?}");
        // At most one for the windows re-sent after the restart, and one for a part that
        // came late under load before the outage (each a change of state, said once).
        let orders = mine.iter().filter(|l| l.contains("EORDER")).count();
        assert!(orders <= 2, "{mine:#?}");
    }
    assert!(
        log.iter()
            .any(|l| l.contains("worker 0: connected to tcp://")),
        "{log:#?}"
    );

    // Stop the restarted endpoint cleanly, then read the history.
    let s = server.lock().unwrap().take().expect("restarted endpoint");
    s.stop();
    let (stored, indices) = inspect(&history, "remote-restart");
    assert!(stored >= 15, "{stored} windows stored\n{log:#?}");
    let first = *indices.iter().min().unwrap();
    let last = *indices.iter().max().unwrap();
    // 3.5 s of 100 ms windows; windows before the kill (t < 1 s) and after the restart
    // (t > 1.6 s) are both there.
    assert!(last - first >= 25, "windows {first}..{last}");
}

#[test]
fn missing_plugin_and_dead_endpoint_keep_the_job_running() {
    let dir = scratch("missing");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let cfg = fast_config(
        "no-plugin",
        Endpoint::InProcess {
            plugin: Some(dir.join("libstreamtune-missing.so")),
            bind: None,
            history: dir.join("h.db"),
        },
        &lines,
    );
    let tuner = StreamTune::new(cfg);
    assert!(tuner.disabled_reason().unwrap().contains("ENOTFOUND"));
    let results = run_job(tuner, 2, Duration::from_millis(400), |_| {});
    assert_output_complete(&results);
    assert!(results
        .iter()
        .all(|r| r.state == LinkState::Disabled && r.stats.windows_sent == 0));
    let disabled = lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("tuning disabled"))
        .count();
    assert_eq!(disabled, 1);

    // Nobody listens on this port: the job finishes, the link keeps retrying quietly.
    let lines = Arc::new(Mutex::new(Vec::new()));
    let bind = format!("tcp://127.0.0.1:{}", free_port());
    let mut cfg = fast_config("dead-endpoint", Endpoint::Connect(bind), &lines);
    cfg.finish_timeout = Duration::from_millis(300);
    let t0 = Instant::now();
    let results = run_job(StreamTune::new(cfg), 2, Duration::from_millis(1500), |_| {});
    assert_output_complete(&results);
    assert!(
        t0.elapsed() < Duration::from_secs(4),
        "finish waited too long: {:?}",
        t0.elapsed()
    );
    for r in &results {
        assert!(r.stats.reconnects >= 1, "{:?}", r.stats);
        assert_eq!(r.stats.windows_acked, 0);
    }
    let log = lines.lock().unwrap();
    let w0_lost = log
        .iter()
        .filter(|l| l.contains("worker 0:") && l.contains("not available"))
        .count();
    assert_eq!(w0_lost, 1, "logged once, not per attempt: {log:#?}");
}
