//! Capacity emulation (DESIGN §3): an operator instance with a configured service capacity.
//!
//! The development machines have two cores, so real speed-ups stop at two workers. To study
//! tuning at higher parallelism honestly, an emulated instance may process only as many
//! records as its token bucket allows: tokens accrue at `rate` records per second of wall
//! time, up to a burst of `burst_s` seconds' worth. Records beyond that wait in the operator's
//! input, so queues, lag and busy fractions are real Timely behaviour, and the busy fraction
//! of a window is tokens used over tokens offered. Because the true capacity of every
//! instance is known, the oracle parallelism `ceil(λ / c)` is known too.

use std::time::Instant;

/// A token bucket of one operator instance.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    offered: f64,
    used: f64,
}

impl TokenBucket {
    /// A bucket granting `rate` records per second (clamped to at least 1e-3), holding at
    /// most `burst_s` seconds of tokens (at least one record's worth). It starts full.
    pub fn new(rate: f64, burst_s: f64) -> Self {
        let rate = if rate.is_finite() {
            rate.max(1e-3)
        } else {
            1e-3
        };
        let burst = (rate * burst_s.max(0.0)).max(1.0);
        TokenBucket {
            rate,
            burst,
            tokens: burst,
            last: Instant::now(),
            offered: 0.0,
            used: 0.0,
        }
    }

    /// Records per second this instance can process.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        let grant = dt * self.rate;
        self.offered += grant;
        self.tokens = (self.tokens + grant).min(self.burst);
    }

    /// How many of `wanted` records may be processed now; those are taken from the bucket.
    pub fn take(&mut self, wanted: usize) -> usize {
        self.take_at(wanted, Instant::now())
    }

    /// [`TokenBucket::take`] at a given instant (tests).
    pub fn take_at(&mut self, wanted: usize, now: Instant) -> usize {
        self.refill(now);
        let granted = (self.tokens.floor() as usize).min(wanted);
        self.tokens -= granted as f64;
        self.used += granted as f64;
        granted
    }

    /// Seconds until `records` more tokens are available (0 if they are now).
    pub fn wait_for(&self, records: usize) -> f64 {
        let missing = (records as f64).min(self.burst) - self.tokens;
        if missing <= 0.0 {
            0.0
        } else {
            missing / self.rate
        }
    }

    /// Busy fraction since the last call: tokens used over tokens offered, in [0, 1]; and
    /// starts a new measurement window.
    pub fn busy_fraction(&mut self) -> f64 {
        self.busy_fraction_at(Instant::now())
    }

    /// [`TokenBucket::busy_fraction`] at a given instant (tests).
    pub fn busy_fraction_at(&mut self, now: Instant) -> f64 {
        self.refill(now);
        let busy = if self.offered > 0.0 {
            (self.used / self.offered).clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.offered = 0.0;
        self.used = 0.0;
        busy
    }
}

/// The oracle parallelism of an operator: the smallest `p` whose emulated capacity `p · c`
/// keeps up with the input rate `lambda`, at least 1 and at most `p_max`.
pub fn oracle_parallelism(lambda: f64, capacity_per_instance: f64, p_max: usize) -> usize {
    if lambda.is_nan()
        || lambda <= 0.0
        || capacity_per_instance.is_nan()
        || capacity_per_instance <= 0.0
    {
        return 1;
    }
    let p = (lambda / capacity_per_instance - 1e-9).ceil();
    (p.max(1.0) as usize).min(p_max.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn grants_follow_the_rate_and_the_burst_caps_them() {
        let start = Instant::now();
        let mut b = TokenBucket::new(1000.0, 0.1);
        assert_eq!(b.take_at(1000, start), 100, "starts with one burst");
        assert_eq!(b.take_at(1000, start), 0);
        assert_eq!(b.take_at(1000, start + Duration::from_millis(50)), 50);
        // A long pause refills only up to the burst.
        assert_eq!(b.take_at(1000, start + Duration::from_secs(10)), 100);
        assert!(b.wait_for(10) > 0.0);
    }

    #[test]
    fn busy_is_used_over_offered() {
        let start = Instant::now();
        let mut b = TokenBucket::new(1000.0, 0.0);
        let _ = b.take_at(usize::MAX, start);
        let _ = b.busy_fraction_at(start);
        // 100 ms offer 100 tokens; 50 are used.
        for ms in (2..=100).step_by(2) {
            assert_eq!(b.take_at(1, start + Duration::from_millis(ms)), 1);
        }
        let busy = b.busy_fraction_at(start + Duration::from_millis(100));
        assert!((busy - 0.5).abs() < 1e-9, "busy {busy}");
        // Nothing used in the next window: idle.
        assert_eq!(b.busy_fraction_at(start + Duration::from_millis(200)), 0.0);
        // Saturated: every token used.
        for ms in 201..=300 {
            let _ = b.take_at(usize::MAX, start + Duration::from_millis(ms));
        }
        let busy = b.busy_fraction_at(start + Duration::from_millis(300));
        assert!(busy > 0.98, "busy {busy}");
    }

    #[test]
    fn oracle_is_the_smallest_sufficient_parallelism() {
        assert_eq!(oracle_parallelism(1000.0, 400.0, 8), 3);
        assert_eq!(oracle_parallelism(1200.0, 400.0, 8), 3);
        assert_eq!(oracle_parallelism(1201.0, 400.0, 8), 4);
        assert_eq!(oracle_parallelism(1e9, 1.0, 8), 8);
        assert_eq!(oracle_parallelism(0.0, 1.0, 8), 1);
        assert_eq!(oracle_parallelism(f64::NAN, 1.0, 8), 1);
    }
}
