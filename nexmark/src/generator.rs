//! The Nexmark event generator (specification as in notes/peers.md §6.2).
//!
//! Event number `n` is a person if `n % 50 == 0`, an auction if `n % 50` is 1, 2 or 3, and a
//! bid otherwise (person:auction:bid = 1:3:46). Every random choice of event `n` is a hash of
//! `(seed, n, field)`, so an event depends on nothing but its number: workers split the
//! sequence by `n mod workers` without overlap, and any split yields the same events as a
//! sequential run. Ids are dense: person `k` has id `1000 + k`, auction `k` id `1000 + k`.
//! Sellers, auctions and bidders are "hot" as in the specification: 3/4 of auctions are sold by
//! the current hot seller, 1/2 of bids go to the current hot auction and 3/4 come from the
//! current hot bidder, where the hot one is the newest id rounded down to a multiple of 100;
//! the others are drawn among the newest 1,000 people or 100 auctions.

use crate::event::{Auction, Bid, Event, Person};

pub const FIRST_PERSON_ID: u64 = 1000;
pub const FIRST_AUCTION_ID: u64 = 1000;
pub const FIRST_CATEGORY_ID: u64 = 10;
pub const NUM_CATEGORIES: u64 = 5;
const ACTIVE_PEOPLE: u64 = 1000;
const IN_FLIGHT_AUCTIONS: u64 = 100;
const HOT_SELLER_RATIO: u64 = 4;
const HOT_AUCTION_RATIO: u64 = 2;
const HOT_BIDDER_RATIO: u64 = 4;
const PROPORTION_DENOMINATOR: u64 = 50;

/// Upper-case, as Q3 expects (a known pitfall of lower-case generators).
pub const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
const US_CITIES: [&str; 10] = [
    "Phoenix",
    "Los Angeles",
    "San Francisco",
    "Boise",
    "Portland",
    "Bend",
    "Redmond",
    "Seattle",
    "Kent",
    "Cheyenne",
];
const FIRST_NAMES: [&str; 8] = [
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie",
];
const LAST_NAMES: [&str; 8] = [
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones",
];

/// Generator configuration.
#[derive(Clone, Debug)]
pub struct GeneratorConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Auctions close between 1 ms and `2 · auction_horizon_ms` after they open.
    pub auction_horizon_ms: u64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            seed: 1,
            auction_horizon_ms: 10_000,
        }
    }
}

/// splitmix64 finaliser: a well-mixed 64-bit hash.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The events of one run: a pure function of the event number.
#[derive(Clone, Debug)]
pub struct Generator {
    config: GeneratorConfig,
}

impl Generator {
    pub fn new(config: GeneratorConfig) -> Self {
        Generator { config }
    }

    fn draw(&self, n: u64, field: u64) -> u64 {
        mix64(mix64(self.config.seed ^ mix64(n)) ^ field.wrapping_mul(0xA076_1D64_78BD_642F))
    }

    /// Uniform in `0..bound` (`bound > 0`).
    fn below(&self, n: u64, field: u64, bound: u64) -> u64 {
        ((u128::from(self.draw(n, field)) * u128::from(bound)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    fn unit(&self, n: u64, field: u64) -> f64 {
        (self.draw(n, field) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Log-uniform price in cents over [100, 1e8].
    fn price(&self, n: u64, field: u64) -> u64 {
        (10f64.powf(self.unit(n, field) * 6.0) * 100.0).round() as u64
    }

    /// Id of the newest person at event `n` (there is one from event 0 on).
    fn last_person(n: u64) -> u64 {
        FIRST_PERSON_ID + n / PROPORTION_DENOMINATOR
    }

    /// Id of the newest auction at event `n` (none before event 1).
    fn last_auction(n: u64) -> Option<u64> {
        let block = n / PROPORTION_DENOMINATOR;
        let rem = n % PROPORTION_DENOMINATOR;
        let in_block = rem.min(3); // auctions 1..=3 of this block already generated
        let count = block * 3 + in_block;
        count.checked_sub(1).map(|k| FIRST_AUCTION_ID + k)
    }

    fn person(&self, n: u64, date_time: u64) -> Person {
        let id = Self::last_person(n);
        Person {
            id,
            name: format!(
                "{} {}",
                FIRST_NAMES[self.below(n, 1, FIRST_NAMES.len() as u64) as usize],
                LAST_NAMES[self.below(n, 2, LAST_NAMES.len() as u64) as usize]
            ),
            city: US_CITIES[self.below(n, 3, US_CITIES.len() as u64) as usize].to_owned(),
            state: US_STATES[self.below(n, 4, US_STATES.len() as u64) as usize].to_owned(),
            date_time,
        }
    }

    /// A recent id: the hot one with probability `1 - 1/ratio`, else one of the newest `window`.
    fn recent(&self, n: u64, field: u64, first: u64, last: u64, window: u64, ratio: u64) -> u64 {
        if self.below(n, field, ratio) != 0 {
            first + (last - first) / 100 * 100
        } else {
            let span = (last - first + 1).min(window);
            last - self.below(n, field + 1, span)
        }
    }

    fn auction(&self, n: u64, date_time: u64) -> Auction {
        let id = Self::last_auction(n).unwrap_or(FIRST_AUCTION_ID);
        let last_person = Self::last_person(n);
        let seller = self.recent(
            n,
            10,
            FIRST_PERSON_ID,
            last_person,
            ACTIVE_PEOPLE,
            HOT_SELLER_RATIO,
        );
        let initial_bid = self.price(n, 12);
        let horizon = self.config.auction_horizon_ms.max(1);
        Auction {
            id,
            seller,
            category: FIRST_CATEGORY_ID + self.below(n, 13, NUM_CATEGORIES),
            initial_bid,
            reserve: initial_bid + self.price(n, 14),
            date_time,
            expires: date_time + 1 + self.below(n, 15, 2 * horizon),
        }
    }

    fn bid(&self, n: u64, date_time: u64) -> Bid {
        let last_auction = Self::last_auction(n).unwrap_or(FIRST_AUCTION_ID);
        let last_person = Self::last_person(n);
        let auction = self.recent(
            n,
            20,
            FIRST_AUCTION_ID,
            last_auction,
            IN_FLIGHT_AUCTIONS,
            HOT_AUCTION_RATIO,
        );
        let mut bidder = self.recent(
            n,
            22,
            FIRST_PERSON_ID,
            last_person,
            ACTIVE_PEOPLE,
            HOT_BIDDER_RATIO,
        );
        if self.below(n, 22, HOT_BIDDER_RATIO) != 0 {
            bidder = (bidder + 1).min(last_person); // the hot bidder is next to the hot seller
        }
        Bid {
            auction,
            bidder,
            price: self.price(n, 24),
            date_time,
        }
    }

    /// Event number `n`, happening at `date_time` ms.
    pub fn event(&self, n: u64, date_time: u64) -> Event {
        match n % PROPORTION_DENOMINATOR {
            0 => Event::Person(self.person(n, date_time)),
            1..=3 => Event::Auction(self.auction(n, date_time)),
            _ => Event::Bid(self.bid(n, date_time)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proportions_ids_and_references() {
        let g = Generator::new(GeneratorConfig::default());
        let (mut persons, mut auctions, mut bids) = (0, 0, 0);
        let mut last_person = 0;
        let mut last_auction = 0;
        for n in 0..50_000u64 {
            match g.event(n, n / 10) {
                Event::Person(p) => {
                    persons += 1;
                    assert!(p.id > last_person || last_person == 0);
                    last_person = p.id;
                    assert!(US_STATES.contains(&p.state.as_str()));
                }
                Event::Auction(a) => {
                    auctions += 1;
                    assert_eq!(a.id, FIRST_AUCTION_ID + auctions - 1, "dense ids");
                    last_auction = a.id;
                    assert!(a.seller >= FIRST_PERSON_ID && a.seller <= last_person);
                    assert!(a.reserve > a.initial_bid && a.expires > a.date_time);
                    assert!((10..15).contains(&a.category));
                }
                Event::Bid(b) => {
                    bids += 1;
                    assert!(b.auction >= FIRST_AUCTION_ID && b.auction <= last_auction);
                    assert!(b.bidder >= FIRST_PERSON_ID && b.bidder <= last_person);
                    assert!((100..=100_000_000).contains(&b.price));
                }
            }
        }
        assert_eq!((persons, auctions, bids), (1000, 3000, 46000));
    }

    #[test]
    fn deterministic_per_seed_and_hot_keys_are_hot() {
        let g = Generator::new(GeneratorConfig::default());
        let h = Generator::new(GeneratorConfig {
            seed: 2,
            ..Default::default()
        });
        assert_eq!(g.event(12345, 7), g.event(12345, 7));
        assert_ne!(g.event(12345, 7), h.event(12345, 7));
        let mut hot = 0;
        let mut total = 0;
        for n in 100_000..110_000u64 {
            if let Event::Bid(b) = g.event(n, 0) {
                total += 1;
                let last = Generator::last_auction(n).unwrap();
                if b.auction == FIRST_AUCTION_ID + (last - FIRST_AUCTION_ID) / 100 * 100 {
                    hot += 1;
                }
            }
        }
        let share = hot as f64 / total as f64;
        assert!((0.45..0.6).contains(&share), "hot auction share {share}");
    }
}
