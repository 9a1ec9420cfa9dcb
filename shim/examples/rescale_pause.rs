//! The pause a live rescale causes: a keyed count holding many keys moves half its bins.
//!
//! ```text
//! cargo run --release --example rescale_pause -- -w 2 [KEYS] [RECORDS_PER_EPOCH]
//! ```
//!
//! Epoch 0 loads `KEYS` distinct keys (default 1,000,000); every later epoch adds
//! `RECORDS_PER_EPOCH` records (default 20,000) over those keys. At epoch 10 the operator goes
//! from all workers to half of them (`-w 2`: half the bins, and their state, move). Worker 0
//! prints each epoch's latency (from closing the epoch to its output being complete) and the
//! median of the epochs without a switch.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use streamtune_shim::tuned::{Control, Rescale, Tuned};
use timely::dataflow::operators::{Input, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};

const SWITCH: u64 = 10;
const EPOCHS: u64 = 20;

fn main() {
    let (communication, free) =
        timely::CommunicationConfig::from_args(std::env::args()).expect("timely options");
    let mut numbers = free.iter().skip(1).filter_map(|a| a.parse::<u64>().ok());
    let keys = numbers.next().unwrap_or(1_000_000);
    let per_epoch = numbers.next().unwrap_or(20_000);
    let config = timely::Config {
        communication,
        worker: timely::WorkerConfig::default(),
    };
    timely::execute(config, move |worker| {
        let index = worker.index() as u64;
        let peers = worker.peers() as u64;
        let mut input = InputHandleVec::<u64, u64>::new();
        let probe = ProbeHandle::new();
        let mut control = worker.dataflow::<u64, _, _>(|scope| {
            let (handle, control) = Control::new(scope);
            scope
                .input_from(&mut input)
                .tuned_unary_state(
                    &control,
                    "count",
                    |&k| k,
                    peers as usize,
                    |_, counts: &mut HashMap<u64, u64>, batch, out: &mut Vec<usize>| {
                        for key in batch.drain(..) {
                            *counts.entry(key).or_default() += 1;
                        }
                        out.push(counts.len());
                    },
                )
                .probe_with(&probe);
            handle
        });
        if control.is_controller() {
            let half = (peers as usize).div_ceil(2);
            control
                .propose(Rescale {
                    seq: 1,
                    epoch: SWITCH,
                    parallelism: vec![("count".to_owned(), half)],
                })
                .expect("worker 0 proposes");
        }
        let mut latencies: Vec<(u64, Duration)> = Vec::new();
        let mut rng = 0x2545_f491_4f6c_dd1du64 ^ index;
        for epoch in 0..EPOCHS {
            if epoch == 0 {
                for key in (index..keys).step_by(peers as usize) {
                    input.send(key);
                }
            } else {
                for _ in 0..per_epoch / peers {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    input.send(rng % keys);
                }
            }
            input.advance_to(epoch + 1);
            control.advance_to(epoch + 1);
            let closed = Instant::now();
            while probe.less_equal(&epoch) {
                worker.step();
            }
            latencies.push((epoch, closed.elapsed()));
        }
        let moved = control.status()[0].bins_sent;
        if index == 0 {
            let mut steady: Vec<Duration> = latencies
                .iter()
                .filter(|(e, _)| *e != 0 && *e != SWITCH)
                .map(|(_, d)| *d)
                .collect();
            steady.sort();
            for (epoch, latency) in &latencies {
                let mark = if *epoch == SWITCH { "  <- rescale" } else { "" };
                println!("epoch {epoch:2}: {:8.2} ms{mark}", latency.as_secs_f64() * 1e3);
            }
            println!(
                "median steady epoch {:.2} ms; switch epoch {:.2} ms; bins sent by worker 0: {moved}",
                steady[steady.len() / 2].as_secs_f64() * 1e3,
                latencies[SWITCH as usize].1.as_secs_f64() * 1e3
            );
        }
    })
    .expect("timely runs");
}
