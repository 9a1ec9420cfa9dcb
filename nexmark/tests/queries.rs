//! Every query, run on Timely with several workers (and with live rescaling), equals its
//! sequential reference on the same events, rows and their epochs alike.

use std::sync::{Arc, Mutex};

use nexmark::event::Event;
use nexmark::generator::{Generator, GeneratorConfig};
use nexmark::queries::{build, BuildSpec, Initial, Query, Row, ALL_QUERIES};
use nexmark::reference;
use nexmark::schedule::{EventClock, Schedule};
use streamtune_shim::tuned::{Control, Rescale};
use timely::dataflow::operators::{Input, Inspect, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};

const RATE: f64 = 3000.0;
const SECONDS: f64 = 30.0;

fn config() -> GeneratorConfig {
    GeneratorConfig {
        seed: 7,
        auction_horizon_ms: 3000,
    }
}

fn clock() -> EventClock {
    let schedule = Schedule::parse("steps:1,1.5,0.5").unwrap();
    EventClock::new(&schedule, RATE, SECONDS, nexmark::queries::EPOCH_MS)
}

fn events() -> Vec<(u64, Event)> {
    let g = Generator::new(config());
    let c = clock();
    let mut out = Vec::new();
    for e in 0..c.epochs() {
        for n in c.events(e) {
            out.push((e, g.event(n, c.date_time(e, n))));
        }
    }
    out
}

/// Runs `q` on `workers` workers; `rescales`: (epoch, parallelism of every tuned operator).
fn run(q: Query, workers: usize, rescales: &[(u64, usize)]) -> Vec<(u64, Row)> {
    let rows = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&rows);
    let rescales = rescales.to_vec();
    timely::execute(timely::Config::process(workers), move |worker| {
        let g = Generator::new(config());
        let c = clock();
        let mut input = InputHandleVec::<u64, Event>::new();
        let probe = ProbeHandle::new();
        let sink = Arc::clone(&sink);
        let spec = BuildSpec {
            initial: Initial::uniform(2),
            ..Default::default()
        };
        let mut control = worker.dataflow(|scope| {
            let (handle, control) = Control::new(scope);
            build(q, scope.input_from(&mut input), &control, &spec)
                .inspect_core(move |event| {
                    if let Ok((stamp, rows)) = event {
                        let t = *stamp.least().expect("a time");
                        let mut s = sink.lock().unwrap();
                        s.extend(rows.iter().map(|r| (t, r.clone())));
                    }
                })
                .probe_with(&probe);
            handle
        });
        if control.is_controller() {
            for (seq, &(epoch, k)) in rescales.iter().enumerate() {
                let parallelism = q
                    .operators()
                    .iter()
                    .map(|o| (o.name.to_string(), k))
                    .collect();
                control
                    .propose(Rescale {
                        seq: seq as u64 + 1,
                        epoch,
                        parallelism,
                    })
                    .unwrap();
            }
        }
        let (me, peers) = (worker.index() as u64, worker.peers() as u64);
        for e in 0..c.epochs() {
            for n in c.events(e).filter(|n| n % peers == me) {
                input.send(g.event(n, c.date_time(e, n)));
            }
            input.advance_to(e + 1);
            control.advance_to(e + 1);
            // Let a few epochs be in flight, as a running job would.
            if e % 8 == 7 {
                while probe.less_than(&(e - 4)) {
                    worker.step_or_park(Some(std::time::Duration::from_millis(1)));
                }
            }
        }
        input.close();
        control.close();
        while worker.step() {}
    })
    .expect("timely runs");
    let mut out = rows.lock().unwrap().clone();
    out.sort();
    out
}

fn check(q: Query) {
    let expected = reference::run(q, &events());
    assert!(!expected.is_empty(), "{q}: the reference has rows");
    let plain = run(q, 3, &[]);
    assert_eq!(plain.len(), expected.len(), "{q}: row count");
    assert!(plain == expected, "{q}: rows differ from the reference");
    let rescaled = run(q, 3, &[(40, 3), (130, 1), (210, 2)]);
    assert!(rescaled == expected, "{q}: rows differ with rescaling");
    eprintln!(
        "{q}: {} rows equal the reference, with and without rescaling",
        expected.len()
    );
}

#[test]
fn q0_to_q2_stateless() {
    for q in [Query::Q0, Query::Q1, Query::Q2] {
        check(q);
    }
}

#[test]
fn q3_local_items_emits_upper_case_states() {
    check(Query::Q3);
    let rows = reference::run(Query::Q3, &events());
    assert!(rows.len() > 10, "Q3 must emit results: {}", rows.len());
}

#[test]
fn q4_q6_closing_auctions() {
    check(Query::Q4);
    check(Query::Q6);
}

#[test]
fn q5_q7_windows() {
    check(Query::Q5);
    check(Query::Q7);
}

#[test]
fn q8_windowed_join() {
    check(Query::Q8);
}

#[test]
fn every_query_is_covered() {
    assert_eq!(ALL_QUERIES.len(), 9);
}
