//! A keyed running count whose parallelism changes live, driven by scripted decisions.
//!
//! ```text
//! cargo run --example rescale_demo -- -w 4 [EPOCHS] [static]
//! cargo run --example rescale_demo -- -w 2 -n 2 -p 0 -h hosts.txt   # and -p 1 elsewhere
//! ```
//!
//! Every 4 epochs worker 0 proposes a new parallelism for the operator `count` (cycling through
//! all workers, 1, half, …). Worker 0 prints each applied decision and, at the end, a checksum
//! of the whole output. Run it once more with `static` (no decisions): the checksum is the same.

use std::collections::HashMap;

use streamtune_shim::tuned::{Control, Rescale, Tuned};
use timely::dataflow::operators::{Exchange, Input, Inspect, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};

fn main() {
    let (communication, free) =
        timely::CommunicationConfig::from_args(std::env::args()).expect("timely options");
    let epochs: u64 = free
        .iter()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(40);
    let scripted = !free.iter().any(|a| a == "static");
    let config = timely::Config {
        communication,
        worker: timely::WorkerConfig::default(),
    };
    timely::execute(config, move |worker| {
        let index = worker.index();
        let peers = worker.peers();
        let mut input = InputHandleVec::<u64, u64>::new();
        let probe = ProbeHandle::new();
        let checksum = std::rc::Rc::new(std::cell::Cell::new(0u64));
        let sink = std::rc::Rc::clone(&checksum);
        let mut control = worker.dataflow(|scope| {
            let (handle, control) = Control::new(scope);
            scope
                .input_from(&mut input)
                .tuned_unary_state(
                    &control,
                    "count",
                    |&key| key,
                    peers,
                    |&time, counts: &mut HashMap<u64, u64>, keys, out| {
                        // Emit each key touched at this epoch once, with its running count.
                        for &key in keys.iter() {
                            *counts.entry(key).or_default() += 1;
                        }
                        keys.sort_unstable();
                        keys.dedup();
                        out.extend(keys.drain(..).map(|k| (time, k, counts[&k])));
                    },
                )
                .exchange(|_| 0)
                .inspect(move |&(t, k, c): &(u64, u64, u64)| {
                    // An order-independent digest of the output multiset.
                    let h = (t.wrapping_mul(0x9e37_79b9) ^ k.wrapping_mul(0x85eb_ca6b) ^ c)
                        .wrapping_mul(0xc2b2_ae35);
                    sink.set(sink.get().wrapping_add(h));
                })
                .probe_with(&probe);
            handle
        });

        let mut seq = 0;
        let mut rng = 0x2545_f491_4f6c_dd1du64 ^ index as u64;
        for epoch in 0..epochs {
            if scripted && control.is_controller() && epoch % 4 == 0 && epoch > 0 {
                seq += 1;
                let k = [peers, 1, peers.div_ceil(2), peers, 2.min(peers)][seq as usize % 5];
                let proposal = Rescale {
                    seq,
                    epoch: epoch + 1,
                    parallelism: vec![("count".to_owned(), k)],
                };
                control.propose(proposal).expect("worker 0 proposes");
            }
            for _ in 0..2_000 {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                // Skewed keys: small keys are hot.
                input.send((rng % 1_000) * (rng >> 60) / 16);
            }
            input.advance_to(epoch + 1);
            control.advance_to(epoch + 1);
            while probe.less_than(input.time()) {
                worker.step();
            }
            for applied in control.drain_applied() {
                if index == 0 {
                    let status = control.status();
                    println!(
                        "decision {} applied at epoch {}: count runs on {:?}, bins sent by worker 0 so far {}",
                        applied.seq, applied.epoch, status[0].active_workers, status[0].bins_sent
                    );
                }
            }
        }
        drop(input);
        control.close();
        while !probe.done() {
            worker.step();
        }
        if index == 0 {
            println!("output checksum {:016x}", checksum.get());
        }
    })
    .expect("timely runs");
}
