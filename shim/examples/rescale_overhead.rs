//! Throughput of a keyed running count on a tuned operator versus plain timely exchange.
//!
//! ```text
//! cargo run --release --example rescale_overhead -- -w 2 [RECORDS_PER_EPOCH] [EPOCHS] [LEAD]
//! ```
//!
//! Both jobs consume the same records, emit per epoch the running count of every key touched
//! and process an epoch once it is complete. Prints records per second of each and their ratio.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use streamtune_shim::tuned::{Control, Tuned};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::{Input, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};

fn count_batch(
    time: u64,
    counts: &mut HashMap<u64, u64>,
    keys: &mut Vec<u64>,
    out: &mut Vec<(u64, u64, u64)>,
) {
    for &key in keys.iter() {
        *counts.entry(key).or_default() += 1;
    }
    keys.sort_unstable();
    keys.dedup();
    out.extend(keys.drain(..).map(|k| (time, k, counts[&k])));
}

fn main() {
    let (communication, free) =
        timely::CommunicationConfig::from_args(std::env::args()).expect("timely options");
    let mut numbers = free.iter().skip(1).filter_map(|a| a.parse::<usize>().ok());
    let per_epoch = numbers.next().unwrap_or(100_000);
    let epochs = numbers.next().unwrap_or(50) as u64;
    // Epochs the control input runs ahead of the data, so routers need not wait for it.
    let lead = numbers.next().unwrap_or(0) as u64;
    let config = timely::Config {
        communication,
        worker: timely::WorkerConfig::default(),
    };
    let guards = timely::execute(config, move |worker| {
        let index = worker.index();
        let peers = worker.peers();
        let mut results = Vec::new();
        for tuned in [false, true, false, true] {
            let mut input = InputHandleVec::<u64, u64>::new();
            let probe = ProbeHandle::new();
            let mut control = worker.dataflow::<u64, _, _>(|scope| {
                let (handle, control) = Control::new(scope);
                let stream = scope.input_from(&mut input);
                let counted = if tuned {
                    stream.tuned_unary_state(
                        &control,
                        "count",
                        |&k| k,
                        peers,
                        |&t, counts: &mut HashMap<u64, u64>, keys, out| {
                            count_batch(t, counts, keys, out)
                        },
                    )
                } else {
                    stream.unary_frontier(Exchange::new(|&k: &u64| k), "count", |_, _| {
                        let mut stash: BTreeMap<
                            u64,
                            (timely::dataflow::operators::Capability<u64>, Vec<u64>),
                        > = BTreeMap::new();
                        let mut counts = HashMap::new();
                        let mut out = Vec::new();
                        move |(input, frontier), output| {
                            input.for_each_stamp(|cap, data| {
                                let time = *cap.least().unwrap();
                                let entry = stash
                                    .entry(time)
                                    .or_insert_with(|| (cap.retain_least(0).unwrap(), Vec::new()));
                                for batch in data {
                                    entry.1.append(batch);
                                }
                            });
                            while let Some(entry) = stash.first_entry() {
                                if frontier.less_equal(entry.key()) {
                                    break;
                                }
                                let (time, (cap, mut keys)) = entry.remove_entry();
                                count_batch(time, &mut counts, &mut keys, &mut out);
                                output.session(&cap).give_iterator(out.drain(..));
                            }
                        }
                    })
                };
                counted.probe_with(&probe);
                handle
            });
            let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ index as u64;
            let started = Instant::now();
            for epoch in 0..epochs {
                for _ in 0..per_epoch / peers {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    input.send(rng % 100_000);
                }
                input.advance_to(epoch + 1);
                control.advance_to(epoch + 1 + lead);
                while probe.less_than(&epoch.saturating_sub(2)) {
                    worker.step();
                }
            }
            drop(input);
            control.close();
            while !probe.done() {
                worker.step();
            }
            results.push((tuned, started.elapsed()));
        }
        results
    })
    .expect("timely runs");
    let results = guards.join().into_iter().next().unwrap().unwrap();
    let total = per_epoch as f64 * epochs as f64;
    let best = |tuned: bool| {
        results
            .iter()
            .filter(|r| r.0 == tuned)
            .map(|r| total / r.1.as_secs_f64())
            .fold(0.0f64, f64::max)
    };
    let (plain, tuned) = (best(false), best(true));
    println!("plain exchange: {plain:.0} records/s");
    println!("tuned operator: {tuned:.0} records/s");
    println!("ratio: {:.3}", tuned / plain);
}
