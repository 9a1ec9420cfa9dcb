//! A Timely job tuned live by StreamTune: a keyed count with a cost per record behind a tuned
//! exchange, linked to the plugin's in-process endpoint (or a remote `streamtune serve`).
//! Worker 0 turns each DECISION into a rescale of the tuned operator at the decided epoch and
//! acknowledges it once applied.
//!
//! ```text
//! cargo run --release --example attach_tuned -- [-w WORKERS] [--seconds S] [--policy NAME]
//!     [--endpoint tcp://HOST:PORT] [--history FILE] [--cost-us N] [--rate N]
//! ```
//!
//! Without `--endpoint` the plugin ($STREAMTUNE_PLUGIN or the CMake build output) is loaded and
//! its endpoint started on an ipc:// socket, storing windows in `--history` (default a file in
//! the temporary directory); read it with `streamtune inspect history FILE --job attach-demo`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use streamtune_shim::connection::{Endpoint, OperatorHint, StreamTune, TunerConfig};
use streamtune_shim::proto::OpKind;
use streamtune_shim::tuned::{Control, Rescale, Tuned};
use timely::dataflow::operators::{Input, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};

struct Args {
    workers: usize,
    seconds: f64,
    policy: String,
    endpoint: Option<String>,
    history: PathBuf,
    cost_us: u64,
    rate: u64,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        workers: 2,
        seconds: 10.0,
        policy: "ds2".into(),
        endpoint: None,
        history: std::env::temp_dir().join(format!("attach-demo-{}.db", std::process::id())),
        cost_us: 20,
        rate: 20_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "-w" | "--workers" => {
                a.workers = value()?.parse().map_err(|e| format!("{flag}: {e}"))?
            }
            "--seconds" => a.seconds = value()?.parse().map_err(|e| format!("{flag}: {e}"))?,
            "--policy" => a.policy = value()?,
            "--endpoint" => a.endpoint = Some(value()?),
            "--history" => a.history = PathBuf::from(value()?),
            "--cost-us" => a.cost_us = value()?.parse().map_err(|e| format!("{flag}: {e}"))?,
            "--rate" => a.rate = value()?.parse().map_err(|e| format!("{flag}: {e}"))?,
            "-h" | "--help" => {
                return Err(
                    "usage: attach_tuned [-w N] [--seconds S] [--policy NAME] [--endpoint EP] \
                     [--history FILE] [--cost-us N] [--rate N]"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let endpoint = match &args.endpoint {
        Some(ep) => Endpoint::Connect(ep.clone()),
        None => Endpoint::InProcess {
            plugin: None,
            bind: None,
            history: args.history.clone(),
        },
    };
    let config = TunerConfig::new("attach-demo", endpoint)
        .policy(args.policy.clone(), vec![])
        .hint(OperatorHint {
            name: "count".into(),
            kind: Some(OpKind::Aggregate),
            stateful: Some(true),
            ..Default::default()
        })
        .hint(OperatorHint {
            name: "Input".into(),
            kind: Some(OpKind::Source),
            rate: Some(args.rate as f64),
            ..Default::default()
        });
    let tuner = StreamTune::new(config);
    let keep = tuner.clone();
    let workers = args.workers;
    let (seconds, cost, rate) = (args.seconds, Duration::from_micros(args.cost_us), args.rate);

    timely::execute(timely::Config::process(workers), move |worker| {
        let link = tuner.attach(worker);
        let mut input = InputHandleVec::<u64, (u64, u64)>::new();
        let probe = ProbeHandle::new();
        let mut control = worker.dataflow(|scope| {
            let (control_handle, control) = Control::new(scope);
            scope
                .input_from(&mut input)
                .tuned_unary_state(
                    &control,
                    "count",
                    |&(key, _)| key,
                    workers,
                    move |_time, counts: &mut HashMap<u64, u64>, records, out| {
                        for (key, _) in records.drain(..) {
                            let t = Instant::now();
                            while t.elapsed() < cost {
                                std::hint::spin_loop();
                            }
                            *counts.entry(key).or_default() += 1;
                            out.push((key, counts[&key]));
                        }
                    },
                )
                .probe_with(&probe);
            control_handle
        });
        link.track_tuned(control.monitor());

        // 10 epochs per second; each worker feeds its share of `rate` records per second.
        let per_epoch = (rate / 10 / workers as u64).max(1);
        let start = Instant::now();
        let mut epoch = 0u64;
        let index = worker.index() as u64;
        while start.elapsed().as_secs_f64() < seconds {
            for i in 0..per_epoch {
                input.send(((index * per_epoch + i) % 1024, 1));
            }
            epoch += 1;
            input.advance_to(epoch);
            control.advance_to(epoch);
            let due = start + Duration::from_millis(100 * epoch);
            while probe.less_than(input.time()) || Instant::now() < due {
                worker.step_or_park(Some(Duration::from_millis(1)));
            }
            link.set_epoch(epoch);
            for d in link.poll_decisions() {
                let rescale = Rescale {
                    seq: d.seq,
                    epoch: d.epoch.max(epoch + 1),
                    parallelism: d.parallelism_by_name(),
                };
                match control.propose(rescale) {
                    Ok(p) => println!(
                        "decision {} by {}: {:?} from epoch {} ({})",
                        d.seq,
                        d.policy,
                        d.parallelism_by_name(),
                        p.epoch,
                        d.reason
                    ),
                    Err(e) => eprintln!("decision {} not applied: {e}", d.seq),
                }
            }
            for applied in control.drain_applied() {
                if link.is_controller() {
                    link.ack(applied.seq, applied.epoch);
                }
            }
        }
        input.close();
        control.close();
        while worker.step() {}
        link.finish();
        if link.is_controller() {
            println!(
                "worker 0: {:?}, count parallelism now {:?}",
                link.stats(),
                control.parallelism("count")
            );
        }
    })
    .expect("timely runs");

    if let Some(stats) = keep.server_stats() {
        println!("endpoint: {stats:?}");
        println!(
            "history: {} (streamtune inspect history FILE --job attach-demo)",
            args.history.display()
        );
    }
}
