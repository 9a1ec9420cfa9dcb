//! Source rate schedules: a factor of the base rate over time.
//!
//! Forms (`--schedule`):
//! * `constant`: factor 1;
//! * `steps:F1,F2,...[@SECONDS]`: each factor for SECONDS (default: the run split evenly);
//! * `square:LOW,HIGH[@PERIOD]`: LOW for half a period, then HIGH (default period 60 s);
//! * `sine:AMPLITUDE[@PERIOD]`: `1 + AMPLITUDE · sin(2πt / PERIOD)` (default period 60 s);
//! * `file:PATH`: lines `SECONDS,FACTOR` (ascending seconds, `#` comments); each factor holds
//!   from its time to the next one's.
//!
//! Factors are finite, in `[0, 100]`.

use std::f64::consts::PI;
use std::fmt;

/// The most points of a `steps` or `file` schedule.
pub const MAX_POINTS: usize = 100_000;
const MAX_FACTOR: f64 = 100.0;

#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    Constant,
    Steps {
        factors: Vec<f64>,
        step_s: Option<f64>,
    },
    Square {
        low: f64,
        high: f64,
        period_s: f64,
    },
    Sine {
        amplitude: f64,
        period_s: f64,
    },
    /// (start second, factor), ascending.
    Trace(Vec<(f64, f64)>),
}

fn number(what: &str, text: &str) -> Result<f64, String> {
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{what}: '{}' is not a number", text.trim()))?;
    if !v.is_finite() {
        return Err(format!("{what}: '{}' is not finite", text.trim()));
    }
    Ok(v)
}

fn factor(what: &str, text: &str) -> Result<f64, String> {
    let v = number(what, text)?;
    if !(0.0..=MAX_FACTOR).contains(&v) {
        return Err(format!("{what}: factor {v} is outside [0, {MAX_FACTOR}]"));
    }
    Ok(v)
}

fn seconds(what: &str, text: &str) -> Result<f64, String> {
    let v = number(what, text)?;
    if v <= 0.0 || v > 1e7 {
        return Err(format!("{what}: {v} s is not a positive duration"));
    }
    Ok(v)
}

impl Schedule {
    /// Parses a `--schedule` value (see the module documentation).
    pub fn parse(spec: &str) -> Result<Schedule, String> {
        let (kind, rest) = spec.split_once(':').unwrap_or((spec, ""));
        let (args, period) = match rest.split_once('@') {
            Some((a, p)) => (a, Some(p)),
            None => (rest, None),
        };
        let list = |a: &str| -> Vec<String> {
            a.split(',')
                .map(|s| s.to_owned())
                .filter(|s| !s.trim().is_empty())
                .collect()
        };
        match kind {
            "constant" => {
                if !rest.is_empty() {
                    return Err("schedule constant takes no arguments".into());
                }
                Ok(Schedule::Constant)
            }
            "steps" => {
                let parts = list(args);
                if parts.is_empty() {
                    return Err("schedule steps needs factors, e.g. steps:1,1.6,0.8".into());
                }
                if parts.len() > MAX_POINTS {
                    return Err(format!("schedule steps: more than {MAX_POINTS} factors"));
                }
                let factors = parts
                    .iter()
                    .map(|p| factor("schedule steps", p))
                    .collect::<Result<Vec<_>, _>>()?;
                let step_s = period.map(|p| seconds("schedule steps @", p)).transpose()?;
                Ok(Schedule::Steps { factors, step_s })
            }
            "square" => {
                let parts = list(args);
                if parts.len() != 2 {
                    return Err("schedule square needs LOW,HIGH, e.g. square:0.8,1.4@60".into());
                }
                Ok(Schedule::Square {
                    low: factor("schedule square", &parts[0])?,
                    high: factor("schedule square", &parts[1])?,
                    period_s: period.map_or(Ok(60.0), |p| seconds("schedule square @", p))?,
                })
            }
            "sine" => {
                let parts = list(args);
                if parts.len() != 1 {
                    return Err("schedule sine needs AMPLITUDE, e.g. sine:0.4@60".into());
                }
                let amplitude = number("schedule sine", &parts[0])?;
                if !(0.0..1.0).contains(&amplitude) {
                    return Err(format!(
                        "schedule sine: amplitude {amplitude} is outside [0, 1)"
                    ));
                }
                Ok(Schedule::Sine {
                    amplitude,
                    period_s: period.map_or(Ok(60.0), |p| seconds("schedule sine @", p))?,
                })
            }
            "file" => {
                if rest.is_empty() {
                    return Err("schedule file needs a path: file:PATH".into());
                }
                let text = std::fs::read_to_string(rest)
                    .map_err(|e| format!("schedule file {rest}: {e}"))?;
                Self::parse_trace(&text).map_err(|e| format!("schedule file {rest}: {e}"))
            }
            other => Err(format!(
                "unknown schedule '{other}' (constant, steps:..., square:..., sine:..., file:PATH)"
            )),
        }
    }

    /// Parses the content of a schedule file.
    pub fn parse_trace(text: &str) -> Result<Schedule, String> {
        let mut points: Vec<(f64, f64)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let at = format!("line {}", i + 1);
            let (t, f) = line
                .split_once(',')
                .ok_or_else(|| format!("{at}: expected SECONDS,FACTOR"))?;
            let t = number(&at, t)?;
            if t < 0.0 {
                return Err(format!("{at}: negative time"));
            }
            if let Some(&(prev, _)) = points.last() {
                if t <= prev {
                    return Err(format!("{at}: times must ascend ({t} after {prev})"));
                }
            }
            if points.len() >= MAX_POINTS {
                return Err(format!("more than {MAX_POINTS} points"));
            }
            points.push((t, factor(&at, f)?));
        }
        if points.is_empty() {
            return Err("no points".into());
        }
        Ok(Schedule::Trace(points))
    }

    /// The factor at `t` seconds into a run of `duration_s` seconds.
    pub fn factor(&self, t: f64, duration_s: f64) -> f64 {
        match self {
            Schedule::Constant => 1.0,
            Schedule::Steps { factors, step_s } => {
                let step = step_s
                    .unwrap_or(duration_s / factors.len() as f64)
                    .max(1e-9);
                let i = ((t / step).floor().max(0.0) as usize).min(factors.len() - 1);
                factors[i]
            }
            Schedule::Square {
                low,
                high,
                period_s,
            } => {
                if (t % period_s) < period_s / 2.0 {
                    *low
                } else {
                    *high
                }
            }
            Schedule::Sine {
                amplitude,
                period_s,
            } => 1.0 + amplitude * (2.0 * PI * t / period_s).sin(),
            Schedule::Trace(points) => {
                let i = points.partition_point(|&(start, _)| start <= t);
                points[i.saturating_sub(1)].1
            }
        }
    }

    /// Whether the rate changes in steps (episodes start at each change) rather than smoothly.
    pub fn is_stepped(&self) -> bool {
        !matches!(self, Schedule::Sine { .. })
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Constant => write!(f, "constant"),
            Schedule::Steps { factors, step_s } => {
                let list: Vec<String> = factors.iter().map(|x| format!("{x}")).collect();
                write!(f, "steps:{}", list.join(","))?;
                if let Some(s) = step_s {
                    write!(f, "@{s}")?;
                }
                Ok(())
            }
            Schedule::Square {
                low,
                high,
                period_s,
            } => write!(f, "square:{low},{high}@{period_s}"),
            Schedule::Sine {
                amplitude,
                period_s,
            } => write!(f, "sine:{amplitude}@{period_s}"),
            Schedule::Trace(p) => write!(f, "trace of {} points", p.len()),
        }
    }
}

/// Event numbers per epoch: epoch `e` (of `epoch_ms`) holds events `[start(e), start(e+1))`,
/// so that the number of events up to any time follows the integral of the rate.
#[derive(Clone, Debug)]
pub struct EventClock {
    starts: Vec<u64>,
    epoch_ms: u64,
}

impl EventClock {
    /// The event numbering of a run of `duration_s` at `rate` events/s under `schedule`.
    pub fn new(schedule: &Schedule, rate: f64, duration_s: f64, epoch_ms: u64) -> EventClock {
        let epochs = (duration_s * 1000.0 / epoch_ms as f64).ceil().max(1.0) as usize;
        let mut starts = Vec::with_capacity(epochs + 1);
        let mut total = 0.0f64;
        starts.push(0);
        for e in 0..epochs {
            let t = e as f64 * epoch_ms as f64 / 1000.0;
            total += rate * schedule.factor(t, duration_s) * epoch_ms as f64 / 1000.0;
            starts.push(total.floor() as u64);
        }
        EventClock { starts, epoch_ms }
    }

    /// Number of epochs.
    pub fn epochs(&self) -> u64 {
        (self.starts.len() - 1) as u64
    }

    /// Events of epoch `e`: a range of event numbers.
    pub fn events(&self, e: u64) -> std::ops::Range<u64> {
        let e = (e as usize).min(self.starts.len() - 2);
        self.starts[e]..self.starts[e + 1]
    }

    /// Event time (ms) of event `n` in epoch `e`: spread evenly over the epoch.
    pub fn date_time(&self, e: u64, n: u64) -> u64 {
        let r = self.events(e);
        let count = (r.end - r.start).max(1);
        e * self.epoch_ms + (n - r.start) * self.epoch_ms / count
    }

    pub fn epoch_ms(&self) -> u64 {
        self.epoch_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_evaluates() {
        let s = Schedule::parse("steps:1,2,0.5@10").unwrap();
        assert_eq!(s.factor(0.0, 100.0), 1.0);
        assert_eq!(s.factor(15.0, 100.0), 2.0);
        assert_eq!(s.factor(99.0, 100.0), 0.5);
        let s = Schedule::parse("steps:1,2").unwrap();
        assert_eq!(s.factor(49.0, 100.0), 1.0);
        assert_eq!(s.factor(51.0, 100.0), 2.0);
        let s = Schedule::parse("sine:0.5@40").unwrap();
        assert!((s.factor(10.0, 100.0) - 1.5).abs() < 1e-9);
        let s = Schedule::parse("square:0.5,1.5@20").unwrap();
        assert_eq!((s.factor(5.0, 1.0), s.factor(15.0, 1.0)), (0.5, 1.5));
        let s = Schedule::parse_trace("# t,f\n0,1\n10,3\n").unwrap();
        assert_eq!((s.factor(9.9, 1.0), s.factor(10.0, 1.0)), (1.0, 3.0));
    }

    #[test]
    fn rejects_bad_schedules_clearly() {
        for (spec, needle) in [
            ("warp", "unknown schedule"),
            ("steps:", "needs factors"),
            ("steps:1,x", "not a number"),
            ("steps:1,-2", "outside"),
            ("steps:1@0", "positive"),
            ("square:1", "LOW,HIGH"),
            ("sine:1.5", "amplitude"),
            ("sine:nan", "not"),
            ("constant:3", "no arguments"),
            ("file:/nonexistent/x.csv", "No such file"),
        ] {
            let e = Schedule::parse(spec).unwrap_err();
            assert!(e.contains(needle), "{spec}: {e}");
        }
        for (text, needle) in [
            ("", "no points"),
            ("1\n", "SECONDS,FACTOR"),
            ("0,1\n0,2\n", "ascend"),
            ("-1,1\n", "negative"),
            ("0,1e9\n", "outside"),
        ] {
            let e = Schedule::parse_trace(text).unwrap_err();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn event_clock_follows_the_rate() {
        let s = Schedule::parse("steps:1,2@1").unwrap();
        let c = EventClock::new(&s, 1000.0, 2.0, 100);
        assert_eq!(c.epochs(), 20);
        assert_eq!(c.events(0), 0..100);
        assert_eq!(c.events(10), 1000..1200);
        assert_eq!(c.events(19).end, 3000);
        assert_eq!(c.date_time(10, 1100), 1050);
    }
}
