//! Metrics from a real Timely dataflow: input -> map -> exchange -> deliberately slow operator
//! -> probe, on two workers. The slow operator must show the highest busy time, record counts
//! must equal what was sent, the DAG must be recovered from the logging events, and a backlog
//! must show while the slow operator lags.

use std::time::{Duration, Instant};

use streamtune_shim::metrics::{
    Ledger, Metrics, MetricsConfig, OpEdge, OperatorInfo, WorkerWindow,
};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::vec::Map;
use timely::dataflow::operators::{Input, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};

const PER_WORKER: u64 = 3000;
const ROUNDS: u64 = 1;
/// Busy-wait per record in the slow operator.
const COST: Duration = Duration::from_micros(40);

struct Run {
    windows: Vec<WorkerWindow>,
    ops: Vec<OperatorInfo>,
    edges: Vec<OpEdge>,
    max_backlog_slow: f64,
}

fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

fn run(workers: usize) -> Vec<Run> {
    let ledger = Ledger::new();
    let guards = timely::execute(timely::Config::process(workers), move |worker| {
        let cfg = MetricsConfig {
            window: Duration::from_millis(50),
            ledger: Some(ledger.clone()),
        };
        let metrics = Metrics::attach(worker, cfg);
        let mut input = InputHandleVec::<u64, u64>::new();
        let probe = ProbeHandle::new();
        worker.dataflow::<u64, _, _>(|scope| {
            scope
                .input_from(&mut input)
                .map(|x| x.wrapping_mul(3))
                .unary(Exchange::new(|x: &u64| *x), "Slow", |_, _| {
                    move |input, output| {
                        // One container at a time, so the containers not yet pulled wait
                        // (and show as backlog) while the operator works.
                        input.for_each(|cap, data| {
                            let mut session = output.session(&cap);
                            for &x in data.iter() {
                                spin(COST);
                                session.give(x);
                            }
                        })
                    }
                })
                .container::<Vec<u64>>()
                .probe_with(&probe);
        });
        let index = worker.index() as u64;
        let mut max_backlog_slow: f64 = 0.0;
        let mut windows = Vec::new();
        let per_round = PER_WORKER / ROUNDS;
        for round in 0..ROUNDS {
            for i in 0..per_round {
                input.send(index * 1_000_000 + round * per_round + i);
            }
            input.advance_to(round + 1);
            while probe.less_than(input.time()) {
                worker.step();
            }
        }
        // Let the last windows close, then take everything.
        let until = Instant::now() + Duration::from_millis(150);
        while Instant::now() < until {
            worker.step();
        }
        metrics.close_window_now();
        windows.extend(metrics.drain());
        let ops = metrics.operators();
        let slow = ops.iter().find(|o| o.name == "Slow").map(|o| o.id);
        for w in &windows {
            if let Some(s) = slow.and_then(|id| w.op(id)) {
                max_backlog_slow = max_backlog_slow.max(s.backlog);
            }
        }
        Run {
            windows,
            edges: metrics.edges(),
            ops,
            max_backlog_slow,
        }
    })
    .expect("timely runs");
    guards
        .join()
        .into_iter()
        .map(|r| r.expect("worker finishes"))
        .collect()
}

fn id_of(ops: &[OperatorInfo], name: &str) -> usize {
    ops.iter()
        .find(|o| o.name == name && o.leaf)
        .unwrap_or_else(|| panic!("operator {name} among {ops:?}"))
        .id
}

fn total(
    runs: &[Run],
    op: usize,
    f: impl Fn(&streamtune_shim::metrics::WindowSample) -> f64,
) -> f64 {
    runs.iter()
        .flat_map(|r| r.windows.iter())
        .filter_map(|w| w.op(op))
        .map(f)
        .sum()
}

#[test]
fn slow_operator_is_busiest_and_counts_match() {
    let workers = 2;
    let runs = run(workers);
    let ops = &runs[0].ops;
    let input = id_of(ops, "Input");
    let map = id_of(ops, "FlatMap"); // timely 0.32 builds `map` on `flat_map`
    let slow = id_of(ops, "Slow");
    let probe = id_of(ops, "Probe");
    // The dataflow scope itself is not a leaf and gets no samples.
    assert!(
        ops.iter().any(|o| !o.leaf),
        "the dataflow scope is an operator: {ops:?}"
    );
    for r in &runs {
        assert!(!r.windows.is_empty());
        for w in &r.windows {
            assert!(w
                .ops
                .iter()
                .all(|s| ops.iter().any(|o| o.id == s.op && o.leaf)));
            assert!(w.duration_ms > 0.0 && w.duration_ms <= 50.0 + 1e-6, "{w:?}");
            for s in &w.ops {
                assert!((0.0..=1.0).contains(&s.busy_fraction));
                assert!(s.busy_ms <= w.duration_ms + 1e-9);
            }
        }
        // Windows of one worker are consecutive.
        for pair in r.windows.windows(2) {
            assert_eq!(pair[1].window, pair[0].window + 1);
        }
    }

    let sent = (PER_WORKER / ROUNDS * ROUNDS * workers as u64) as f64;
    assert_eq!(total(&runs, input, |s| s.records_out), sent, "input sent");
    assert_eq!(total(&runs, map, |s| s.records_in), sent, "map received");
    assert_eq!(total(&runs, map, |s| s.records_out), sent, "map sent");
    assert_eq!(total(&runs, slow, |s| s.records_in), sent, "slow received");
    assert_eq!(total(&runs, slow, |s| s.records_out), sent, "slow sent");
    assert_eq!(
        total(&runs, probe, |s| s.records_in),
        sent,
        "probe received"
    );
    assert_eq!(
        total(&runs, probe, |s| s.records_out),
        0.0,
        "probe sends nothing"
    );

    // Busy: the slow operator dominates; its total is at least the spin time it was given.
    let busy = |op| total(&runs, op, |s| s.busy_ms);
    let slow_busy = busy(slow);
    let min_expected = sent * COST.as_secs_f64() * 1e3;
    assert!(
        slow_busy >= 0.95 * min_expected,
        "slow busy {slow_busy} ms < {min_expected} ms"
    );
    for other in [input, map, probe] {
        assert!(
            slow_busy > 5.0 * busy(other),
            "slow {slow_busy} vs op {other}: {}",
            busy(other)
        );
    }
    for r in &runs {
        let busiest = r
            .windows
            .iter()
            .flat_map(|w| w.ops.iter())
            .max_by(|a, b| a.busy_ms.total_cmp(&b.busy_ms))
            .expect("samples");
        assert_eq!(busiest.op, slow);
    }

    // The DAG: input -> map -> slow (exchanged) -> probe.
    let edges = &runs[0].edges;
    let has = |a, b| edges.iter().find(|e| e.from == a && e.to == b);
    assert!(has(input, map).is_some_and(|e| !e.exchanged), "{edges:?}");
    assert!(has(map, slow).is_some_and(|e| e.exchanged), "{edges:?}");
    assert!(has(slow, probe).is_some(), "{edges:?}");
    assert_eq!(edges.len(), 3, "{edges:?}");

    // The slow operator falls behind within a round: some window shows records waiting.
    let max_backlog = runs.iter().map(|r| r.max_backlog_slow).fold(0.0, f64::max);
    assert!(max_backlog > 0.0, "no backlog seen at the slow operator");
    // Everything was processed at the end: the last window has no backlog anywhere.
    for r in &runs {
        let last = r.windows.last().expect("windows");
        assert!(last.ops.iter().all(|s| s.backlog == 0.0), "{last:?}");
    }
}

#[test]
fn idle_worker_shows_park_time() {
    // One worker that mostly waits: step_or_park lets it park, which must show as idle time.
    let guards = timely::execute(timely::Config::thread(), |worker| {
        let metrics = Metrics::attach(
            worker,
            MetricsConfig::with_window(Duration::from_millis(50)),
        );
        let mut input = InputHandleVec::<u64, u64>::new();
        let probe = ProbeHandle::new();
        worker.dataflow::<u64, _, _>(|scope| {
            scope.input_from(&mut input).probe_with(&probe);
        });
        input.send(1);
        input.advance_to(1);
        let until = Instant::now() + Duration::from_millis(300);
        while Instant::now() < until {
            worker.step_or_park(Some(Duration::from_millis(10)));
        }
        metrics.close_window_now();
        metrics.drain()
    })
    .expect("timely runs");
    let windows = guards.join().pop().expect("one worker").expect("finishes");
    let duration: f64 = windows.iter().map(|w| w.duration_ms).sum();
    let idle: f64 = windows.iter().map(|w| w.idle_ms).sum();
    assert!(duration > 250.0, "{duration}");
    assert!(idle > 0.5 * duration, "idle {idle} of {duration} ms");
    assert!(windows.iter().all(|w| w.idle_fraction() <= 1.0));
}
