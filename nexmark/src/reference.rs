//! Plain sequential computations of the queries over the same events, the yardstick of the
//! dataflow's results: each row with the epoch at which the dataflow must emit it.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use crate::event::{Auction, Bid, Event};
use crate::queries::{
    auction_close_epoch, bid_counts, close_epoch, convert_price, Query, Row, Winning, EPOCH_MS,
    Q2_MODULUS, Q3_CATEGORY, Q3_STATES, Q5_SLIDE_MS, Q5_WINDOW_MS, Q6_LAST, TUMBLE_MS,
};

/// Rows of query `q` over `events` (each with its epoch), sorted by (epoch, row).
pub fn run(q: Query, events: &[(u64, Event)]) -> Vec<(u64, Row)> {
    let mut rows = match q {
        Query::Q0 => bids(events)
            .map(|(t, b)| (t, Row::Bid(b.clone())))
            .collect(),
        Query::Q1 => bids(events)
            .map(|(t, b)| {
                let mut b = b.clone();
                b.price = convert_price(b.price);
                (t, Row::Bid(b))
            })
            .collect(),
        Query::Q2 => bids(events)
            .filter(|(_, b)| b.auction % Q2_MODULUS == 0)
            .map(|(t, b)| {
                (
                    t,
                    Row::Selected {
                        auction: b.auction,
                        price: b.price,
                    },
                )
            })
            .collect(),
        Query::Q3 => q3(events),
        Query::Q4 => q4(events),
        Query::Q5 => q5(events),
        Query::Q6 => q6(events),
        Query::Q7 => q7(events),
        Query::Q8 => q8(events),
    };
    rows.sort();
    rows
}

fn bids(events: &[(u64, Event)]) -> impl Iterator<Item = (u64, &Bid)> {
    events.iter().filter_map(|(t, e)| match e {
        Event::Bid(b) => Some((*t, b)),
        _ => None,
    })
}

fn q3(events: &[(u64, Event)]) -> Vec<(u64, Row)> {
    let mut persons = Vec::new();
    let mut auctions = Vec::new();
    for (t, e) in events {
        match e {
            Event::Person(p) if Q3_STATES.contains(&p.state.as_str()) => persons.push((*t, p)),
            Event::Auction(a) if a.category == Q3_CATEGORY => auctions.push((*t, a)),
            _ => {}
        }
    }
    let mut rows = Vec::new();
    for (tp, p) in &persons {
        for (ta, a) in &auctions {
            if a.seller == p.id {
                rows.push((
                    (*tp).max(*ta),
                    Row::LocalItem {
                        name: p.name.clone(),
                        city: p.city.clone(),
                        state: p.state.clone(),
                        auction: a.id,
                    },
                ));
            }
        }
    }
    rows
}

/// Winning bids with the epoch at which their auction closes.
pub fn winning(events: &[(u64, Event)]) -> Vec<(u64, Winning)> {
    let mut auctions: HashMap<u64, &Auction> = HashMap::new();
    let mut best: HashMap<u64, (u64, u64)> = HashMap::new();
    for (_, e) in events {
        match e {
            Event::Auction(a) => {
                auctions.insert(a.id, a);
            }
            Event::Bid(b) => {
                if let Some(a) = auctions.get(&b.auction) {
                    if bid_counts(a, b) {
                        let c = (b.price, b.bidder);
                        let e = best.entry(a.id).or_insert(c);
                        if c > *e {
                            *e = c;
                        }
                    }
                }
            }
            Event::Person(_) => {}
        }
    }
    let mut out: Vec<(u64, Winning)> = best
        .into_iter()
        .map(|(id, (price, _))| {
            let a = auctions[&id];
            (
                auction_close_epoch(a.expires),
                Winning {
                    auction: id,
                    seller: a.seller,
                    category: a.category,
                    price,
                },
            )
        })
        .collect();
    out.sort();
    out
}

fn q4(events: &[(u64, Event)]) -> Vec<(u64, Row)> {
    let mut sums: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    let mut rows = Vec::new();
    let wins = winning(events);
    for group in wins.chunk_by(|a, b| a.0 == b.0) {
        let t = group[0].0;
        let mut touched = BTreeSet::new();
        for (_, w) in group {
            let e = sums.entry(w.category).or_default();
            e.0 += w.price;
            e.1 += 1;
            touched.insert(w.category);
        }
        for c in touched {
            let (s, n) = sums[&c];
            rows.push((
                t,
                Row::CategoryAverage {
                    category: c,
                    average: s / n,
                },
            ));
        }
    }
    rows
}

fn q6(events: &[(u64, Event)]) -> Vec<(u64, Row)> {
    let mut last: BTreeMap<u64, VecDeque<u64>> = BTreeMap::new();
    let mut rows = Vec::new();
    let wins = winning(events); // sorted by (epoch, auction, ...)
    for group in wins.chunk_by(|a, b| a.0 == b.0) {
        let t = group[0].0;
        let mut touched = BTreeSet::new();
        for (_, w) in group {
            let prices = last.entry(w.seller).or_default();
            prices.push_back(w.price);
            if prices.len() > Q6_LAST {
                prices.pop_front();
            }
            touched.insert(w.seller);
        }
        for s in touched {
            let p = &last[&s];
            rows.push((
                t,
                Row::SellerAverage {
                    seller: s,
                    average: p.iter().sum::<u64>() / p.len() as u64,
                },
            ));
        }
    }
    rows
}

fn q5(events: &[(u64, Event)]) -> Vec<(u64, Row)> {
    // Bids per auction per slice.
    let mut slices: BTreeMap<u64, HashMap<u64, u64>> = BTreeMap::new();
    for (_, b) in bids(events) {
        *slices
            .entry(b.date_time / Q5_SLIDE_MS)
            .or_default()
            .entry(b.auction)
            .or_default() += 1;
    }
    let Some((&last_slice, _)) = slices.last_key_value() else {
        return Vec::new();
    };
    let per_window = Q5_WINDOW_MS / Q5_SLIDE_MS;
    let mut rows = Vec::new();
    for end_slice in 1..=last_slice + per_window {
        let first = end_slice.saturating_sub(per_window);
        let mut counts: HashMap<u64, u64> = HashMap::new();
        for (_, m) in slices.range(first..end_slice) {
            for (&a, &n) in m {
                *counts.entry(a).or_default() += n;
            }
        }
        if let Some(&max) = counts.values().max() {
            let end = end_slice * Q5_SLIDE_MS;
            for (&a, &n) in &counts {
                if n == max {
                    rows.push((
                        close_epoch(end),
                        Row::Hot {
                            window_end: end,
                            auction: a,
                            bids: n,
                        },
                    ));
                }
            }
        }
    }
    rows
}

fn q7(events: &[(u64, Event)]) -> Vec<(u64, Row)> {
    let mut windows: BTreeMap<u64, (u64, BTreeSet<(u64, u64)>)> = BTreeMap::new();
    for (_, b) in bids(events) {
        let e = windows.entry(b.date_time / TUMBLE_MS).or_default();
        if b.price > e.0 {
            *e = (b.price, BTreeSet::new());
        }
        if b.price == e.0 {
            e.1.insert((b.auction, b.bidder));
        }
    }
    let mut rows = Vec::new();
    for (w, (price, bids)) in windows {
        let end = (w + 1) * TUMBLE_MS;
        for (auction, bidder) in bids {
            rows.push((
                close_epoch(end),
                Row::HighestBid {
                    window_end: end,
                    auction,
                    bidder,
                    price,
                },
            ));
        }
    }
    rows
}

fn q8(events: &[(u64, Event)]) -> Vec<(u64, Row)> {
    let mut people: BTreeMap<u64, BTreeMap<u64, String>> = BTreeMap::new();
    let mut sellers: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    for (_, e) in events {
        match e {
            Event::Person(p) => {
                people
                    .entry(p.date_time / TUMBLE_MS)
                    .or_default()
                    .insert(p.id, p.name.clone());
            }
            Event::Auction(a) => {
                sellers
                    .entry(a.date_time / TUMBLE_MS)
                    .or_default()
                    .insert(a.seller);
            }
            Event::Bid(_) => {}
        }
    }
    let mut rows = Vec::new();
    for (w, ps) in people {
        let Some(s) = sellers.get(&w) else { continue };
        let end = (w + 1) * TUMBLE_MS;
        for (person, name) in ps {
            if s.contains(&person) {
                rows.push((
                    close_epoch(end),
                    Row::NewUser {
                        window_end: end,
                        person,
                        name,
                    },
                ));
            }
        }
    }
    rows
}

/// The epoch an event belongs to.
pub fn epoch_of(date_time_ms: u64) -> u64 {
    date_time_ms / EPOCH_MS
}
