//! The pause a live rescale causes: a keyed count holding many keys moves half its bins (all
//! workers -> half of them -> all again), the `rescale_pause` benchmark of `shim-bench` with
//! sizes from the command line. The code lives in `src/bin/shim-bench/pause.rs`.
//!
//! ```text
//! cargo run --release --example rescale_pause -- [--quick] [-w WORKERS] [KEYS] [RECORDS_PER_EPOCH]
//! ```

#[path = "../src/bin/shim-bench/pause.rs"]
mod pause;

/// `[-w WORKERS] NUMBERS...`, all positive; `None` if malformed.
fn parse(args: &[String]) -> Option<(usize, Vec<u64>)> {
    let (workers, rest) = match args {
        [flag, w, rest @ ..] if flag.as_str() == "-w" => (w.parse().ok()?, rest),
        rest => (2, rest),
    };
    let numbers: Option<Vec<u64>> = rest.iter().map(|a| a.parse().ok()).collect();
    let numbers = numbers?;
    (workers > 0 && numbers.iter().all(|&n| n > 0)).then_some((workers, numbers))
}

fn main() {
    // --quick: start from the small sizes of `shim-bench --quick`; numbers given override them.
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    args.retain(|a| a != "--quick");
    let Some((workers, numbers)) = parse(&args) else {
        eprintln!("usage: rescale_pause [--quick] [-w WORKERS] [KEYS] [RECORDS_PER_EPOCH]");
        std::process::exit(2);
    };
    let mut p = if quick {
        pause::Params::quick(workers)
    } else {
        pause::Params::full(workers)
    };
    p.keys = numbers.first().copied().unwrap_or(p.keys);
    p.per_epoch = numbers.get(1).copied().unwrap_or(p.per_epoch);
    match pause::run(&p) {
        Ok(r) => {
            println!(
                "{} keys, {} -> {} -> {} workers, {} bins moved, an epoch every {:?} of {} records",
                p.keys, r.from, r.to, r.from, r.bins_moved, p.tick, p.per_epoch
            );
            for (set, lat) in [("steady", &r.steady_ms), ("switch", &r.around_ms)] {
                println!(
                    "{set}: {} epochs, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                    lat.len(),
                    pause::percentile(lat, 50.0),
                    pause::percentile(lat, 99.0),
                    pause::percentile(lat, 100.0)
                );
            }
        }
        Err(e) => {
            eprintln!("rescale_pause: {e}");
            std::process::exit(1);
        }
    }
}
