//! The clairvoyant reference of a run (emulated mode): the fewest reconfigurations of a
//! schedule that knows every window's oracle ahead, never runs an operator under its oracle and
//! keeps the run's Σ parallelism within a given factor of the oracle's.
//!
//! It is what the comparison's two targets (Σp ≤ 1.10 × the oracle's and reconfigurations
//! ≤ 0.7 × the best baseline's) allow together: where the clairvoyant needs more than 0.7 × a
//! baseline's reconfigurations at 1.10 ×, no policy that stays at or above the oracle meets
//! both, and a baseline with fewer runs under the oracle. It is a bound on tuning, not a
//! policy: it acts before a window's data exists and pays no warm-up.

/// Beyond this many windows the reference is not computed: its cost grows with the square of
/// the run's length times its changes (1,200 windows of a 60-s sine over three operators, 37
/// changes: 0.1 s).
pub const MAX_WINDOWS: usize = 1200;

/// The fewest changes of configuration from `initial` (one parallelism per operator) such that
/// every window `t` runs at least `oracle[t]` per operator and the Σ parallelism summed over
/// the windows is at most `headroom` × the oracle's. `None` for more than `MAX_WINDOWS`
/// windows, rows whose length differs from `initial`'s, or a headroom under 1.
///
/// Between two changes the best configuration is the per-operator maximum of the oracle over
/// the windows it spans, so a schedule is a partition of the windows into spans; the least Σp
/// with k changes is a dynamic programme over the end of the last span, k = 0, 1, .. until the
/// least Σp fits the bound (at the latest when every span is one run of a constant oracle).
pub fn fewest_reconfigs(oracle: &[Vec<u32>], initial: &[u32], headroom: f64) -> Option<u64> {
    let windows = oracle.len();
    let ops = initial.len();
    if windows > MAX_WINDOWS
        || oracle.iter().any(|row| row.len() != ops)
        || headroom.is_nan()
        || headroom < 1.0
    {
        return None;
    }
    let oracle_total: u64 = oracle.iter().flatten().map(|&p| u64::from(p)).sum();
    // Integer comparison of Σp against the bound, with a margin for the factor's rounding.
    let bound = headroom * oracle_total as f64 + 1e-9;
    let initial_sum: u64 = initial.iter().map(|&p| u64::from(p)).sum();
    const UNREACHABLE: u64 = u64::MAX;
    // least[b]: the least Σp over windows 0..b with the changes counted so far.
    let mut least = vec![UNREACHABLE; windows + 1];
    least[0] = 0;
    for end in 1..=windows {
        if !oracle[end - 1].iter().zip(initial).all(|(o, i)| o <= i) {
            break;
        }
        least[end] = initial_sum * end as u64;
    }
    let mut changes = 0u64;
    let mut span_max = vec![0u32; ops];
    while !(least[windows] != UNREACHABLE && least[windows] as f64 <= bound) {
        changes += 1;
        let mut next = vec![UNREACHABLE; windows + 1];
        for (end, least_to_end) in next.iter_mut().enumerate().skip(1) {
            span_max.iter_mut().for_each(|m| *m = 0);
            // The last span is start..end, widened one window at a time towards 0.
            for start in (0..end).rev() {
                for (m, &o) in span_max.iter_mut().zip(&oracle[start]) {
                    *m = (*m).max(o);
                }
                if least[start] == UNREACHABLE {
                    continue;
                }
                let span_sum: u64 = span_max.iter().map(|&m| u64::from(m)).sum();
                let total = least[start] + span_sum * (end - start) as u64;
                *least_to_end = (*least_to_end).min(total);
            }
        }
        least = next;
    }
    Some(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(single_op: &[u32]) -> Vec<Vec<u32>> {
        single_op.iter().map(|&p| vec![p]).collect()
    }

    #[test]
    fn an_oracle_the_initial_setting_covers_needs_no_change() {
        // At 1.0 only the oracle itself fits: a change at every window.
        assert_eq!(fewest_reconfigs(&rows(&[2, 3, 1]), &[3], 1.0), Some(3));
        assert_eq!(fewest_reconfigs(&rows(&[2, 3, 1]), &[3], 1.5), Some(0));
        assert_eq!(fewest_reconfigs(&[], &[3], 1.1), Some(0));
    }

    #[test]
    fn a_step_takes_one_change_and_a_peak_takes_two_unless_headroom_covers_it() {
        assert_eq!(fewest_reconfigs(&rows(&[2, 2, 5, 5]), &[2], 1.1), Some(1));
        // 1, 3, 1: one change to 3 costs 1 + 3 + 3 = 7 against the oracle's 5.
        assert_eq!(fewest_reconfigs(&rows(&[1, 3, 1]), &[1], 1.1), Some(2));
        assert_eq!(fewest_reconfigs(&rows(&[1, 3, 1]), &[1], 1.4), Some(1));
        // Starting at the peak: down once after it; before it, a headroom of 1 wants the
        // oracle itself (down, up, down), 1.4 keeps the initial setting through the peak.
        assert_eq!(fewest_reconfigs(&rows(&[3, 3, 1, 1]), &[3], 1.0), Some(1));
        assert_eq!(fewest_reconfigs(&rows(&[1, 3, 1, 1]), &[3], 1.0), Some(3));
        assert_eq!(fewest_reconfigs(&rows(&[1, 3, 1, 1]), &[3], 1.4), Some(1));
    }

    #[test]
    fn operators_share_a_change() {
        let oracle = vec![vec![1, 4], vec![2, 4], vec![2, 2]];
        // Σ oracle 15; one change at window 1 to (2, 4): 5 + 6 + 6 = 17 > 16.5.
        assert_eq!(fewest_reconfigs(&oracle, &[1, 4], 1.1), Some(2));
        assert_eq!(fewest_reconfigs(&oracle, &[1, 4], 1.2), Some(1));
    }

    #[test]
    fn bad_shapes_have_no_reference() {
        assert_eq!(fewest_reconfigs(&[vec![1, 2]], &[1], 1.1), None);
        assert_eq!(fewest_reconfigs(&rows(&[1]), &[1], 0.9), None);
        assert_eq!(fewest_reconfigs(&rows(&[1]), &[1], f64::NAN), None);
        let long = rows(&vec![1; MAX_WINDOWS + 1]);
        assert_eq!(fewest_reconfigs(&long, &[1], 1.1), None);
    }

    /// Every schedule of a short run, enumerated: the least changes of any that never goes
    /// under the oracle and fits the bound.
    fn brute_force(oracle: &[Vec<u32>], initial: &[u32], headroom: f64, p_max: u32) -> u64 {
        let ops = initial.len();
        let windows = oracle.len();
        let settings = (p_max as usize).pow(ops as u32);
        let config = |code: usize| -> Vec<u32> {
            (0..ops)
                .map(|v| (code / (p_max as usize).pow(v as u32) % p_max as usize) as u32 + 1)
                .collect()
        };
        let oracle_total: u32 = oracle.iter().flatten().sum();
        let mut best = u64::MAX;
        let mut codes = vec![0usize; windows];
        loop {
            let mut prev = initial.to_vec();
            let (mut changes, mut total, mut covered) = (0u64, 0u32, true);
            for (t, &code) in codes.iter().enumerate() {
                let c = config(code);
                covered &= c.iter().zip(&oracle[t]).all(|(p, o)| p >= o);
                changes += u64::from(c != prev);
                total += c.iter().sum::<u32>();
                prev = c;
            }
            if covered && f64::from(total) <= headroom * f64::from(oracle_total) + 1e-9 {
                best = best.min(changes);
            }
            let mut i = 0;
            while i < windows && codes[i] + 1 == settings {
                codes[i] = 0;
                i += 1;
            }
            if i == windows {
                return best;
            }
            codes[i] += 1;
        }
    }

    #[test]
    fn matches_every_schedule_enumerated_on_short_runs() {
        let mut state = 0x2545_f491_4f6c_dd1du64; // xorshift, fixed seed
        let mut next = |n: u32| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % u64::from(n)) as u32
        };
        for case in 0..60 {
            let ops = 1 + (case % 2);
            let windows = 2 + next(4) as usize;
            let oracle: Vec<Vec<u32>> = (0..windows)
                .map(|_| (0..ops).map(|_| 1 + next(3)).collect())
                .collect();
            let initial: Vec<u32> = (0..ops).map(|_| 1 + next(3)).collect();
            let headroom = [1.0, 1.1, 1.25, 1.5][next(4) as usize];
            assert_eq!(
                fewest_reconfigs(&oracle, &initial, headroom),
                Some(brute_force(&oracle, &initial, headroom, 3)),
                "oracle {oracle:?} initial {initial:?} headroom {headroom}"
            );
        }
    }
}
