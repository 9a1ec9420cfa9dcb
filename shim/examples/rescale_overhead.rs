//! Throughput of a keyed running count on a tuned operator (with the shim attached to an
//! in-process endpoint) versus plain Timely exchange: the `overhead` benchmark of `shim-bench`
//! with sizes from the command line. The code lives in `src/bin/shim-bench/overhead.rs`.
//!
//! ```text
//! cargo run --release --example rescale_overhead -- [--quick] [-w WORKERS] [RECORDS_PER_EPOCH] [EPOCHS] [ROUNDS]
//! ```

#[path = "../src/bin/shim-bench/overhead.rs"]
mod overhead;

/// `[-w WORKERS] NUMBERS...`, all positive; `None` if malformed.
fn parse(args: &[String]) -> Option<(usize, Vec<usize>)> {
    let (workers, rest) = match args {
        [flag, w, rest @ ..] if flag.as_str() == "-w" => (w.parse().ok()?, rest),
        rest => (2, rest),
    };
    let numbers: Option<Vec<usize>> = rest.iter().map(|a| a.parse().ok()).collect();
    let numbers = numbers?;
    (workers > 0 && numbers.iter().all(|&n| n > 0)).then_some((workers, numbers))
}

fn main() {
    // --quick: start from the small sizes of `shim-bench --quick`; numbers given override them.
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    args.retain(|a| a != "--quick");
    let Some((workers, numbers)) = parse(&args) else {
        eprintln!(
            "usage: rescale_overhead [--quick] [-w WORKERS] [RECORDS_PER_EPOCH] [EPOCHS] [ROUNDS]"
        );
        std::process::exit(2);
    };
    let mut p = if quick {
        overhead::Params::quick(workers)
    } else {
        overhead::Params::full(workers)
    };
    let mut it = numbers.into_iter();
    p.per_epoch = it.next().unwrap_or(p.per_epoch);
    p.epochs = it.next().map_or(p.epochs, |n| n as u64);
    p.rounds = it.next().unwrap_or(p.rounds);
    match overhead::run(&p) {
        Ok(r) => {
            let best = |v: &[f64]| v.iter().copied().fold(0.0f64, f64::max);
            println!(
                "{} records per round, {} rounds each",
                p.records(),
                p.rounds
            );
            println!("plain exchange: {:.0} records/s (best)", best(&r.plain));
            println!(
                "plain exchange, per-bin state: {:.0} records/s (best)",
                best(&r.binned)
            );
            println!(
                "tuned operator, shim not attached: {:.0} records/s (best)",
                best(&r.detached)
            );
            println!(
                "tuned operator: {:.0} records/s (best; shim attached: {}, {} windows sent)",
                best(&r.tuned),
                r.shim_attached,
                r.windows_sent
            );
            println!(
                "ratio: {:.3} (target {})",
                best(&r.tuned) / best(&r.plain),
                overhead::TARGET_RATIO
            );
        }
        Err(e) => {
            eprintln!("rescale_overhead: {e}");
            std::process::exit(1);
        }
    }
}
