//! Keys to bins, bins to workers.
//!
//! A key hash picks one of `B` bins; a [`BinMap`] gives every bin one owner among the operator's
//! `k` active workers. Maps are pure values computed the same way on every worker, so all workers
//! agree on them without talking.

/// Number of bins per tuned operator unless configured otherwise.
pub const DEFAULT_BINS: usize = 256;

/// Scrambles a user hash so that weak hashes (small integers, identity) still spread over bins.
fn mix64(mut x: u64) -> u64 {
    // splitmix64 finaliser
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The bin (in `0..bins`) of a key whose hash is `hash`.
///
/// The hash is scrambled first, so the identity of a small integer key is a fine hash.
/// `bins` must be at least 1.
#[inline]
pub fn bin_of(hash: u64, bins: usize) -> usize {
    ((u128::from(mix64(hash)) * bins as u128) >> 64) as usize
}

/// A stable, platform-independent hash of an operator name (FNV-1a), used to spread the active
/// workers of different operators over different workers.
pub fn name_hash(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The owner of every bin of one operator, among its `k` active workers.
///
/// Workers are taken in a fixed preference order (a rotation of `0..peers`); parallelism `k`
/// means the first `k` workers of that order are active. Owners are balanced: the numbers of
/// bins of any two active workers differ by at most one. [`BinMap::rescaled`] changes `k` while
/// moving as few bins as a balanced result allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinMap {
    owners: Vec<usize>,
    order: Vec<usize>,
    active: usize,
}

impl BinMap {
    /// A balanced map of `bins` bins over the first `k` of the workers `offset, offset+1, …`
    /// (modulo `peers`). `k` is clamped to `1..=peers`; `bins` and `peers` must be at least 1.
    pub fn new(bins: usize, peers: usize, k: usize, offset: usize) -> Self {
        let bins = bins.max(1);
        let peers = peers.max(1);
        let order: Vec<usize> = (0..peers).map(|i| (offset + i) % peers).collect();
        let active = k.clamp(1, peers);
        let owners = (0..bins).map(|b| order[b % active]).collect();
        BinMap {
            owners,
            order,
            active,
        }
    }

    /// The map used by a tuned operator called `name`: its worker order starts at a worker
    /// derived from the name, so different operators favour different workers.
    pub fn for_operator(name: &str, bins: usize, peers: usize, k: usize) -> Self {
        let offset = (name_hash(name) % peers.max(1) as u64) as usize;
        Self::new(bins, peers, k, offset)
    }

    /// The number of bins.
    pub fn bins(&self) -> usize {
        self.owners.len()
    }

    /// The number of workers in the job.
    pub fn peers(&self) -> usize {
        self.order.len()
    }

    /// The operator's parallelism `k`: the number of active workers.
    pub fn parallelism(&self) -> usize {
        self.active
    }

    /// The active workers, in preference order.
    pub fn active_workers(&self) -> &[usize] {
        &self.order[..self.active]
    }

    /// The owner of `bin`. Panics if `bin >= self.bins()`.
    #[inline]
    pub fn owner(&self, bin: usize) -> usize {
        self.owners[bin]
    }

    /// The owner of every bin, indexed by bin.
    pub fn owners(&self) -> &[usize] {
        &self.owners
    }

    /// The worker that handles a key with hash `hash`.
    #[inline]
    pub fn worker_for(&self, hash: u64) -> usize {
        self.owners[bin_of(hash, self.owners.len())]
    }

    /// The number of bins of every worker, indexed by worker (inactive workers have 0).
    pub fn loads(&self) -> Vec<usize> {
        let mut loads = vec![0; self.order.len()];
        for &w in &self.owners {
            loads[w] += 1;
        }
        loads
    }

    /// The number of bins owned by `worker`.
    pub fn bins_of(&self, worker: usize) -> usize {
        self.owners.iter().filter(|&&w| w == worker).count()
    }

    /// The map with parallelism `k` (clamped to `1..=peers`) that moves the fewest bins.
    ///
    /// Bins of workers that stop being active go to the remaining ones; workers that become
    /// active take bins from the most loaded ones; nothing else moves. The result is balanced
    /// and depends only on `self` and `k`.
    pub fn rescaled(&self, k: usize) -> BinMap {
        let peers = self.order.len();
        let k = k.clamp(1, peers);
        let bins = self.owners.len();
        let active = &self.order[..k];
        let mut rank = vec![usize::MAX; peers];
        for (i, &w) in active.iter().enumerate() {
            rank[w] = i;
        }
        let mut owners = self.owners.clone();
        let mut loads = vec![0usize; peers];
        let mut pool: Vec<usize> = Vec::new();
        for (bin, &w) in owners.iter().enumerate() {
            if rank[w] == usize::MAX {
                pool.push(bin);
            } else {
                loads[w] += 1;
            }
        }
        // Quotas: the `bins % k` workers that already hold the most keep one extra bin.
        let base = bins / k;
        let extra = bins % k;
        let mut by_load: Vec<usize> = active.to_vec();
        by_load.sort_by(|&a, &b| loads[b].cmp(&loads[a]).then(rank[a].cmp(&rank[b])));
        let mut quota = vec![0usize; peers];
        for (i, &w) in by_load.iter().enumerate() {
            quota[w] = base + usize::from(i < extra);
        }
        // Over-quota workers give up their highest-numbered bins.
        let mut excess: Vec<usize> = active
            .iter()
            .map(|&w| loads[w].saturating_sub(quota[w]))
            .collect();
        if excess.iter().any(|&e| e > 0) {
            for bin in (0..bins).rev() {
                let w = owners[bin];
                if rank[w] != usize::MAX && excess[rank[w]] > 0 {
                    excess[rank[w]] -= 1;
                    loads[w] -= 1;
                    pool.push(bin);
                }
            }
        }
        pool.sort_unstable();
        let mut pool = pool.into_iter();
        for &w in active {
            while loads[w] < quota[w] {
                match pool.next() {
                    Some(bin) => {
                        owners[bin] = w;
                        loads[w] += 1;
                    }
                    None => break,
                }
            }
        }
        BinMap {
            owners,
            order: self.order.clone(),
            active: k,
        }
    }

    /// Bins whose owner differs between `self` and `next`, as `(bin, old owner, new owner)`.
    pub fn moves_to<'a>(
        &'a self,
        next: &'a BinMap,
    ) -> impl Iterator<Item = (usize, usize, usize)> + 'a {
        self.owners
            .iter()
            .zip(next.owners.iter())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(bin, (&a, &b))| (bin, a, b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balanced(map: &BinMap) -> bool {
        let loads = map.loads();
        let active: Vec<usize> = map.active_workers().iter().map(|&w| loads[w]).collect();
        let min = *active.iter().min().unwrap();
        let max = *active.iter().max().unwrap();
        let inactive_empty = (0..map.peers())
            .filter(|w| !map.active_workers().contains(w))
            .all(|w| loads[w] == 0);
        max - min <= 1 && inactive_empty
    }

    #[test]
    fn rescale_sequence_stays_balanced_and_minimal() {
        let mut map = BinMap::new(256, 7, 7, 3);
        assert!(balanced(&map));
        for &k in &[3, 1, 7, 5, 6, 2, 2, 4, 7, 1] {
            let next = map.rescaled(k);
            assert_eq!(next.parallelism(), k);
            assert!(balanced(&next), "unbalanced at k={k}");
            let moved = map.moves_to(&next).count();
            let old = map.loads();
            let new = next.loads();
            let needed: usize = (0..7).map(|w| old[w].saturating_sub(new[w])).sum();
            assert_eq!(moved, needed, "k {} -> {k}", map.parallelism());
            map = next;
        }
    }

    #[test]
    fn bins_spread_evenly() {
        let mut counts = [0usize; 16];
        for key in 0..16_000u64 {
            counts[bin_of(key, 16)] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
    }
}
