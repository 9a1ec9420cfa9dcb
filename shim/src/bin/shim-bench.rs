//! `shim-bench`: the Timely shim's benchmarks, printed like `streamtune bench`.
//!
//! ```text
//! cargo run --release --bin shim-bench -- [--json] [--workers N] [--quick] [overhead|rescale_pause]...
//! ```
//!
//! * `overhead`: records/s of a keyed running count on plain Timely exchange and on a tuned
//!   operator at full parallelism with the shim attached to an in-process endpoint (policy
//!   `static`), rounds interleaved, medians compared (`ratio`, target >= 0.97, not asserted);
//!   also plain exchange with per-bin state (`ratio_vs_binned`: routing and metrics alone) and
//!   the tuned operator without the shim (`tuned_detached_records_per_s`).
//! * `rescale_pause`: latency of the epochs around a rescale that moves half the bins of an
//!   operator holding 1,000,000 keys, against the epochs away from it.
//!
//! With `--json` every figure is one line `{"bench":..,"metric":..,"value":..,"unit":..,...}`
//! in the field order of the CLI's `stn_bench_emit`; without it a table. `--quick` uses small
//! sizes (a few seconds, even in a debug build). Nothing here asserts a speed.

#[path = "shim-bench/overhead.rs"]
mod overhead;
#[path = "shim-bench/pause.rs"]
mod pause;

use std::process::ExitCode;

/// One extra field of a figure.
enum Extra {
    Int(u64),
    Num(f64),
    Bool(bool),
}

impl Extra {
    fn render(&self) -> String {
        match self {
            Extra::Int(v) => v.to_string(),
            Extra::Num(v) => fmt_g(*v),
            Extra::Bool(v) => v.to_string(),
        }
    }
}

struct Args {
    json: bool,
    quick: bool,
    workers: usize,
    benches: Vec<String>,
    /// No benchmark named: all of them, skipping those the worker count cannot run.
    all: bool,
}

const BENCHES: [&str; 2] = ["overhead", "rescale_pause"];

const USAGE: &str =
    "usage: shim-bench [--json] [--workers N] [--quick] [overhead|rescale_pause|all]...\n\
    \n  --json       one JSON object per figure on stdout\
    \n  --workers N  Timely workers in this process (default 2, at most 64)\
    \n  --quick      small sizes, for tests";

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut args = Args {
        json: false,
        quick: false,
        workers: 2,
        benches: Vec::new(),
        all: false,
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--json" => args.json = true,
            "--quick" => args.quick = true,
            "-w" | "--workers" => {
                let v = it.next().ok_or(format!("{arg} needs a value"))?;
                args.workers = v
                    .parse()
                    .ok()
                    .filter(|w| (1..=64).contains(w))
                    .ok_or(format!(
                        "{arg}: expected a number of workers in 1..=64, got {v:?}"
                    ))?;
            }
            "-h" | "--help" => return Ok(None),
            "all" => args.benches.extend(BENCHES.iter().map(|b| b.to_string())),
            b if BENCHES.contains(&b) => args.benches.push(b.to_owned()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if args.benches.is_empty() {
        args.benches = BENCHES.iter().map(|b| b.to_string()).collect();
        args.all = true;
    }
    Ok(Some(args))
}

/// `printf("%.6g")` of a finite number, so figures read like the CLI's; always a valid JSON
/// number. Non-finite values (never produced here) become `null`.
fn fmt_g(v: f64) -> String {
    if !v.is_finite() {
        return "null".into();
    }
    if v == 0.0 {
        return "0".into();
    }
    // Round to 6 significant digits first: the exponent may change (999999.5 -> 1e+06).
    let sci = format!("{v:.5e}");
    let (mantissa, e) = sci.split_once('e').unwrap_or((&sci, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s.to_owned()
        }
    };
    if !(-4..6).contains(&e) {
        let sign = if e < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), e.abs())
    } else {
        let decimals = (5 - e).max(0) as usize;
        trim(&format!("{v:.decimals$}"))
    }
}

struct Printer {
    json: bool,
}

impl Printer {
    /// Prints one figure: a JSON line `{"bench","metric","value","unit",extras...}` or a row.
    fn emit(&self, bench: &str, metric: &str, value: f64, unit: &str, extra: &[(&str, Extra)]) {
        if self.json {
            let mut line = format!(
                "{{\"bench\":\"{bench}\",\"metric\":\"{metric}\",\"value\":{},\"unit\":\"{unit}\"",
                fmt_g(value)
            );
            for (k, v) in extra {
                line.push_str(&format!(",\"{k}\":{}", v.render()));
            }
            line.push('}');
            println!("{line}");
        } else {
            let extras: Vec<String> = extra
                .iter()
                .map(|(k, v)| format!("{k}={}", v.render()))
                .collect();
            println!(
                "{bench:<13} {metric:<28} {:>14} {unit:<10} {}",
                fmt_g(value),
                extras.join(" ")
            );
        }
    }
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn run_overhead(out: &Printer, workers: usize, quick: bool) -> Result<(), String> {
    let params = if quick {
        overhead::Params::quick(workers)
    } else {
        overhead::Params::full(workers)
    };
    let r = overhead::run(&params)?;
    let (plain, binned, tuned) = (median(&r.plain), median(&r.binned), median(&r.tuned));
    let common = |extra: Vec<(&'static str, Extra)>| {
        let mut e = vec![
            ("workers", Extra::Int(workers as u64)),
            ("rounds", Extra::Int(params.rounds as u64)),
            ("records", Extra::Int(params.records())),
        ];
        e.extend(extra);
        e
    };
    let spread = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(0.0f64, f64::max);
        vec![("min", Extra::Num(lo)), ("max", Extra::Num(hi))]
    };
    out.emit(
        "overhead",
        "plain_records_per_s",
        plain,
        "records/s",
        &common(spread(&r.plain)),
    );
    out.emit(
        "overhead",
        "plain_binned_records_per_s",
        binned,
        "records/s",
        &common(spread(&r.binned)),
    );
    out.emit(
        "overhead",
        "tuned_detached_records_per_s",
        median(&r.detached),
        "records/s",
        &common(spread(&r.detached)),
    );
    out.emit(
        "overhead",
        "tuned_records_per_s",
        tuned,
        "records/s",
        &common(
            spread(&r.tuned)
                .into_iter()
                .chain([
                    ("shim_attached", Extra::Bool(r.shim_attached)),
                    ("windows_sent", Extra::Int(r.windows_sent)),
                    ("windows_acked", Extra::Int(r.windows_acked)),
                    ("ready_ms", Extra::Num(median(&r.ready_s) * 1e3)),
                ])
                .collect(),
        ),
    );
    out.emit(
        "overhead",
        "ratio",
        tuned / plain,
        "x",
        &common(vec![
            ("target", Extra::Num(overhead::TARGET_RATIO)),
            ("shim_attached", Extra::Bool(r.shim_attached)),
        ]),
    );
    // Against plain exchange with the tuned operator's per-bin state: routing and metrics only.
    out.emit(
        "overhead",
        "ratio_vs_binned",
        tuned / binned,
        "x",
        &common(vec![("shim_attached", Extra::Bool(r.shim_attached))]),
    );
    Ok(())
}

fn run_pause(out: &Printer, workers: usize, quick: bool) -> Result<(), String> {
    let params = if quick {
        pause::Params::quick(workers)
    } else {
        pause::Params::full(workers)
    };
    let r = pause::run(&params)?;
    let extra = |epochs: usize| {
        vec![
            ("keys", Extra::Int(params.keys)),
            ("from", Extra::Int(r.from as u64)),
            ("to", Extra::Int(r.to as u64)),
            ("bins_moved", Extra::Int(r.bins_moved)),
            ("epochs", Extra::Int(epochs as u64)),
            ("epoch_ms", Extra::Num(params.tick.as_secs_f64() * 1e3)),
        ]
    };
    for (set, lat) in [("steady", &r.steady_ms), ("switch", &r.around_ms)] {
        for (stat, p) in [("p50", 50.0), ("p99", 99.0), ("max", 100.0)] {
            out.emit(
                "rescale_pause",
                &format!("{set}_{stat}"),
                pause::percentile(lat, p),
                "ms",
                &extra(lat.len()),
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("shim-bench: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let out = Printer { json: args.json };
    for bench in &args.benches {
        if bench == "rescale_pause" && args.workers < 2 && args.all {
            eprintln!("shim-bench: rescale_pause skipped: it needs at least 2 workers");
            continue;
        }
        let result = match bench.as_str() {
            "overhead" => run_overhead(&out, args.workers, args.quick),
            _ => run_pause(&out, args.workers, args.quick),
        };
        if let Err(e) = result {
            eprintln!("shim-bench: {bench}: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fmt_g_matches_printf() {
        assert_eq!(fmt_g(0.0), "0");
        assert_eq!(fmt_g(1.0), "1");
        assert_eq!(fmt_g(0.97), "0.97");
        assert_eq!(fmt_g(1234567.0), "1.23457e+06");
        assert_eq!(fmt_g(999999.5), "1e+06");
        assert_eq!(fmt_g(123456.0), "123456");
        assert_eq!(fmt_g(12.345678), "12.3457");
        assert_eq!(fmt_g(0.0001234), "0.0001234");
        assert_eq!(fmt_g(0.00001234), "1.234e-05");
        assert_eq!(fmt_g(-2.5), "-2.5");
        assert_eq!(fmt_g(f64::NAN), "null");
    }

    #[test]
    fn args() {
        let parse = |s: &[&str]| parse_args(s.iter().map(|a| a.to_string()));
        let a = parse(&["--json", "--workers", "4", "--quick"])
            .unwrap()
            .unwrap();
        assert!(a.json && a.quick);
        assert_eq!(a.workers, 4);
        assert_eq!(a.benches, BENCHES);
        assert!(parse(&["--workers", "0"]).is_err());
        assert!(parse(&["--workers"]).is_err());
        assert!(parse(&["nope"]).is_err());
        let a = parse(&["rescale_pause"]).unwrap().unwrap();
        assert_eq!(a.benches, ["rescale_pause"]);
    }

    #[test]
    fn median_of_even_and_odd() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
