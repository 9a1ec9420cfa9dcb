//! Nexmark queries Q0–Q8 on Timely, every operator that does a query's work built as a tuned
//! operator of the shim (live parallelism, per-bin state that migrates).
//!
//! Timestamps are epochs of [`EPOCH_MS`] of event time. Windows are in event time and close
//! when the epoch after their end begins (a wake-up of the tuned operator), so each result has
//! a well-defined time and the results, with their times, do not depend on the parallelism or
//! on rescaling. `crate::reference` computes the same rows sequentially.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use streamtune_shim::tuned::{Control, Tuned};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::vec::Filter;
use timely::dataflow::StreamVec;

use crate::event::{Auction, Bid, Event, Person};
use crate::generator::mix64;

/// Event time per Timely epoch, ms.
pub const EPOCH_MS: u64 = 100;
/// Q5: sliding window size and slide, ms.
pub const Q5_WINDOW_MS: u64 = 10_000;
pub const Q5_SLIDE_MS: u64 = 2_000;
/// Q7 and Q8: tumbling window, ms.
pub const TUMBLE_MS: u64 = 10_000;
/// Q6: closing prices averaged per seller.
pub const Q6_LAST: usize = 10;
/// Q3: the states of interest and the category.
pub const Q3_STATES: [&str; 3] = ["OR", "ID", "CA"];
pub const Q3_CATEGORY: u64 = 10;
/// Names of the local pre-aggregations in front of Q3's, Q5's and Q8's keyed operators.
const Q3_COMBINER: &str = "group-by-seller";
const Q5_COMBINER: &str = "pre-count";
const Q8_COMBINER: &str = "distinct-sellers";
/// Q2: auctions selected.
pub const Q2_MODULUS: u64 = 123;

/// A query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Query {
    Q0,
    Q1,
    Q2,
    Q3,
    Q4,
    Q5,
    Q6,
    Q7,
    Q8,
}

pub const ALL_QUERIES: [Query; 9] = [
    Query::Q0,
    Query::Q1,
    Query::Q2,
    Query::Q3,
    Query::Q4,
    Query::Q5,
    Query::Q6,
    Query::Q7,
    Query::Q8,
];

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "q{}", *self as u8)
    }
}

impl FromStr for Query {
    type Err = String;
    fn from_str(s: &str) -> Result<Query, String> {
        let lower = s.to_ascii_lowercase();
        ALL_QUERIES
            .iter()
            .copied()
            .find(|q| q.to_string() == lower)
            .ok_or_else(|| format!("unknown query '{s}' (q0..q8)"))
    }
}

/// A tuned operator of a query and its emulated capacity per instance at scale 1, records/s
/// (DESIGN §3); chosen so that at the harness's default rate (4,000 events/s) the main
/// operators need about three instances (five at the comparison's 7,200). Operators keyed by
/// window (Q5 `hottest`, Q7 `final`) have one key per window, so more instances cannot help
/// them: they get ample capacity. A hot key merged locally (see `combine_local`) still costs
/// one record per worker and epoch, up to 160 records/s at 16 workers: Q3's and Q8's joins
/// serve at least half again that, so that some parallelism meets the SLO.
#[derive(Clone, Copy, Debug)]
pub struct OperatorSpec {
    pub name: &'static str,
    pub capacity: f64,
    pub stateful: bool,
}

const fn op(name: &'static str, capacity: f64, stateful: bool) -> OperatorSpec {
    OperatorSpec {
        name,
        capacity,
        stateful,
    }
}

impl Query {
    /// Its tuned operators in dataflow order.
    pub fn operators(self) -> &'static [OperatorSpec] {
        const Q0: [OperatorSpec; 1] = [op("pass", 1500.0, false)];
        const Q1: [OperatorSpec; 1] = [op("convert", 1500.0, false)];
        const Q2: [OperatorSpec; 1] = [op("select", 1500.0, false)];
        const Q3: [OperatorSpec; 3] = [
            op("auctions", 100.0, false),
            op("persons", 40.0, false),
            op("join", 80.0, true),
        ];
        const Q4: [OperatorSpec; 2] = [op("winning", 1500.0, true), op("average", 150.0, true)];
        const Q5: [OperatorSpec; 2] = [op("count", 700.0, true), op("hottest", 2000.0, true)];
        const Q6: [OperatorSpec; 2] = [op("winning", 1500.0, true), op("average", 100.0, true)];
        const Q7: [OperatorSpec; 2] = [op("partial", 1500.0, true), op("final", 2000.0, true)];
        const Q8: [OperatorSpec; 1] = [op("join", 200.0, true)];
        match self {
            Query::Q0 => &Q0,
            Query::Q1 => &Q1,
            Query::Q2 => &Q2,
            Query::Q3 => &Q3,
            Query::Q4 => &Q4,
            Query::Q5 => &Q5,
            Query::Q6 => &Q6,
            Query::Q7 => &Q7,
            Query::Q8 => &Q8,
        }
    }

    /// Its tuned operators that read the sources directly (the first stage; the others are
    /// fed by tuned operators).
    pub fn entry_operators(self) -> &'static [&'static str] {
        match self {
            Query::Q3 => &["auctions", "persons"],
            _ => std::slice::from_ref(&self.operators()[0].name),
        }
    }

    /// The event streams it reads (names of [`SOURCES`]).
    pub fn sources(self) -> &'static [&'static str] {
        match self {
            Query::Q0 | Query::Q1 | Query::Q2 | Query::Q5 | Query::Q7 => &["bid-source"],
            Query::Q3 | Query::Q8 => &["auction-source", "person-source"],
            Query::Q4 | Query::Q6 => &["auction-source", "bid-source"],
        }
    }

    /// Its local pre-aggregations (see `combine_local`): untuned, but registered with the
    /// tuner, which sizes the operators after them on the records they let through.
    pub fn local_combiners(self) -> &'static [&'static str] {
        match self {
            Query::Q3 => &[Q3_COMBINER],
            Query::Q5 => &[Q5_COMBINER],
            Query::Q8 => &[Q8_COMBINER],
            _ => &[],
        }
    }

    /// What it computes, one line.
    pub fn description(self) -> &'static str {
        match self {
            Query::Q0 => "pass-through of bids",
            Query::Q1 => "currency conversion of bid prices",
            Query::Q2 => "selection of bids on every 123rd auction",
            Query::Q3 => {
                "local item suggestion: category-10 auctions joined with sellers in OR, ID, CA"
            }
            Query::Q4 => "average closing price per category",
            Query::Q5 => "hot items: most-bid auctions per 10 s window sliding by 2 s",
            Query::Q6 => "average of the last 10 closing prices per seller",
            Query::Q7 => "highest bid per 10 s window",
            Query::Q8 => {
                "new users: people who opened an auction in the 10 s window they registered in"
            }
        }
    }
}

/// One result row. Rows of every query share one type so that the harness and the tests handle
/// them alike.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Row {
    /// Q0, Q1 (price converted), Q2 (only auction and price meaningful).
    Bid(Bid),
    /// Q2.
    Selected { auction: u64, price: u64 },
    /// Q3.
    LocalItem {
        name: String,
        city: String,
        state: String,
        auction: u64,
    },
    /// Q4: running average closing price of a category, cents (integer division).
    CategoryAverage { category: u64, average: u64 },
    /// Q5: an auction with the most bids in the window ending at `window_end` ms.
    Hot {
        window_end: u64,
        auction: u64,
        bids: u64,
    },
    /// Q6: average of a seller's last 10 closing prices, cents.
    SellerAverage { seller: u64, average: u64 },
    /// Q7: a bid with the highest price of the window ending at `window_end` ms.
    HighestBid {
        window_end: u64,
        auction: u64,
        bidder: u64,
        price: u64,
    },
    /// Q8: a person who opened an auction in the window they registered in.
    NewUser {
        window_end: u64,
        person: u64,
        name: String,
    },
}

/// Q1's conversion (dollars to euros at 0.908, in integer cents).
pub fn convert_price(cents: u64) -> u64 {
    cents * 908 / 1000
}

/// The epoch at whose start a window ending at `end_ms` is complete.
pub fn close_epoch(end_ms: u64) -> u64 {
    end_ms.div_ceil(EPOCH_MS)
}

/// The epoch at which an auction closes: the first whose events are all after `expires`.
pub fn auction_close_epoch(expires: u64) -> u64 {
    expires / EPOCH_MS + 1
}

/// The parallelism the tuned operators start at: one for all of them, and exceptions by name
/// (`--initial 4,join=3`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Initial {
    pub all: usize,
    pub named: Vec<(String, usize)>,
}

impl Initial {
    pub fn uniform(p: usize) -> Self {
        Initial {
            all: p,
            named: Vec::new(),
        }
    }

    /// Operator `op`'s starting parallelism (at least 1).
    pub fn of(&self, op: &str) -> usize {
        let named = self.named.iter().rev().find(|(n, _)| n == op);
        named.map_or(self.all, |&(_, p)| p).max(1)
    }

    /// The largest parallelism it names.
    pub fn max(&self) -> usize {
        self.named
            .iter()
            .map(|&(_, p)| p)
            .fold(self.all, usize::max)
    }

    /// Whether every name is a tuned operator of `q`.
    pub fn check_names(&self, q: Query) -> Result<(), String> {
        for (name, _) in &self.named {
            if !q.operators().iter().any(|o| o.name == name) {
                let names: Vec<&str> = q.operators().iter().map(|o| o.name).collect();
                return Err(format!(
                    "--initial: {q} has no tuned operator '{name}' (it has {})",
                    names.join(", ")
                ));
            }
        }
        Ok(())
    }
}

impl FromStr for Initial {
    type Err = String;

    /// `P`, `NAME=P` or a comma-separated list of them; a bare `P` sets the parallelism of the
    /// operators not named (default 1).
    fn from_str(s: &str) -> Result<Self, String> {
        let mut initial = Initial::uniform(1);
        let mut any = false;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            any = true;
            let (name, value) = match part.split_once('=') {
                Some((n, v)) => (Some(n.trim()), v.trim()),
                None => (None, part),
            };
            let p: usize = value
                .parse()
                .map_err(|_| format!("--initial: '{value}' is not a parallelism (in '{s}')"))?;
            if p == 0 {
                return Err(format!("--initial: parallelism starts at 1 (in '{s}')"));
            }
            match name {
                Some("") => return Err(format!("--initial: '{part}' names no operator")),
                Some(n) => initial.named.push((n.to_string(), p)),
                None => initial.all = p,
            }
        }
        if !any {
            return Err("--initial: no parallelism given".into());
        }
        Ok(initial)
    }
}

impl fmt::Display for Initial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.all)?;
        for (n, p) in &self.named {
            write!(f, ",{n}={p}")?;
        }
        Ok(())
    }
}

/// How the tuned operators run.
#[derive(Clone, Debug)]
pub struct BuildSpec {
    /// Parallelism of the tuned operators before any decision.
    pub initial: Initial,
    /// Emulated capacity: the operators' capacities are multiplied by this; `None`: native.
    pub emulate: Option<f64>,
    /// Native mode: CPU time spent per record by every tuned operator (0: just the query's work).
    pub native_cost: Duration,
}

impl Default for BuildSpec {
    fn default() -> Self {
        BuildSpec {
            initial: Initial::uniform(1),
            emulate: None,
            native_cost: Duration::ZERO,
        }
    }
}

/// Busy-waits `cost` once per record: the CPU cost of native runs.
fn spend(cost: Duration, records: usize) {
    if cost.is_zero() || records == 0 {
        return;
    }
    let until = Instant::now() + cost * records as u32;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

fn hash_bid(b: &Bid) -> u64 {
    mix64(b.auction ^ mix64(b.bidder ^ mix64(b.price ^ mix64(b.date_time))))
}

/// Splits the event stream.
pub struct Sources<'s> {
    pub bids: StreamVec<'s, u64, Bid>,
    pub auctions: StreamVec<'s, u64, Auction>,
    pub persons: StreamVec<'s, u64, Person>,
}

/// Names of the three event streams: the operators that split them out are the job's
/// sources as far as tuning goes (person:auction:bid = 1:3:46 of the events).
pub const SOURCES: [(&str, f64); 3] = [
    ("bid-source", 46.0 / 50.0),
    ("auction-source", 3.0 / 50.0),
    ("person-source", 1.0 / 50.0),
];

/// One kind of event out of the event stream, as an operator named `name`.
fn split<'s, D: 'static>(
    events: StreamVec<'s, u64, Event>,
    name: &str,
    pick: fn(Event) -> Option<D>,
) -> StreamVec<'s, u64, D> {
    events.unary::<CapacityContainerBuilder<Vec<D>>, _, _, _>(Pipeline, name, move |_, _| {
        move |input, output| {
            input.for_each_stamp(|cap, data| {
                let mut session = output.session(&cap);
                for batch in data {
                    for e in batch.drain(..) {
                        if let Some(x) = pick(e) {
                            session.give(x);
                        }
                    }
                }
            });
        }
    })
}

/// Records of one time on one worker merged by key before an exchange: the local phase of a
/// two-phase aggregation (Flink's local-global aggregation). The generator's hot auction draws
/// half of all bids and its hot seller three quarters of all auctions, a rate no single
/// instance of a keyed operator serves and no number of instances can split; merged locally,
/// a hot key costs the keyed operator one record per worker and time. Records come out in the
/// order their keys first appeared, so a run is deterministic for a seed.
fn combine_local<'s, D, K, A>(
    stream: StreamVec<'s, u64, D>,
    name: &str,
    key: fn(&D) -> K,
    first: fn(D) -> A,
    merge: fn(&mut A, D),
) -> StreamVec<'s, u64, A>
where
    D: 'static,
    K: std::hash::Hash + Eq + 'static,
    A: 'static,
{
    stream.unary::<CapacityContainerBuilder<Vec<A>>, _, _, _>(Pipeline, name, move |_, _| {
        let mut slot_of: HashMap<K, usize> = HashMap::new();
        let mut merged: Vec<A> = Vec::new();
        move |input, output| {
            input.for_each_stamp(|cap, data| {
                for batch in data {
                    for record in batch.drain(..) {
                        let k = key(&record);
                        match slot_of.get(&k) {
                            Some(&i) => merge(&mut merged[i], record),
                            None => {
                                slot_of.insert(k, merged.len());
                                merged.push(first(record));
                            }
                        }
                    }
                }
                slot_of.clear();
                output.session(&cap).give_iterator(merged.drain(..));
            });
        }
    })
}

/// Splits a stream of events by kind.
pub fn demux<'s>(events: StreamVec<'s, u64, Event>) -> Sources<'s> {
    Sources {
        bids: split(events.clone(), SOURCES[0].0, |e| match e {
            Event::Bid(b) => Some(b),
            _ => None,
        }),
        auctions: split(events.clone(), SOURCES[1].0, |e| match e {
            Event::Auction(a) => Some(a),
            _ => None,
        }),
        persons: split(events, SOURCES[2].0, |e| match e {
            Event::Person(p) => Some(p),
            _ => None,
        }),
    }
}

/// Builds query `q` over `events`; returns its rows.
pub fn build<'s>(
    q: Query,
    events: StreamVec<'s, u64, Event>,
    control: &Control<'s, u64>,
    spec: &BuildSpec,
) -> StreamVec<'s, u64, Row> {
    if let Some(scale) = spec.emulate {
        for o in q.operators() {
            control.emulate(o.name, o.capacity * scale);
        }
    }
    let k = &spec.initial;
    let cost = spec.native_cost;
    let src = demux(events);
    match q {
        Query::Q0 => src.bids.tuned_unary_state(
            control,
            "pass",
            hash_bid,
            k.of("pass"),
            move |_t, _s: &mut (), bids, out| {
                spend(cost, bids.len());
                out.extend(bids.drain(..).map(Row::Bid));
            },
        ),
        Query::Q1 => src.bids.tuned_unary_state(
            control,
            "convert",
            hash_bid,
            k.of("convert"),
            move |_t, _s: &mut (), bids, out| {
                spend(cost, bids.len());
                out.extend(bids.drain(..).map(|mut b| {
                    b.price = convert_price(b.price);
                    Row::Bid(b)
                }));
            },
        ),
        Query::Q2 => src.bids.tuned_unary_state(
            control,
            "select",
            hash_bid,
            k.of("select"),
            move |_t, _s: &mut (), bids, out| {
                spend(cost, bids.len());
                out.extend(
                    bids.drain(..)
                        .filter(|b| b.auction % Q2_MODULUS == 0)
                        .map(|b| Row::Selected {
                            auction: b.auction,
                            price: b.price,
                        }),
                );
            },
        ),
        Query::Q3 => q3(src, control, k, cost),
        Query::Q4 => {
            let winning = winning_bids(src, control, k, cost);
            winning.tuned_unary_state(
                control,
                "average",
                |w: &Winning| w.category,
                k.of("average"),
                move |_t, sums: &mut BTreeMap<u64, (u64, u64)>, wins, out| {
                    spend(cost, wins.len());
                    let mut touched = BTreeSet::new();
                    for w in wins.drain(..) {
                        let e = sums.entry(w.category).or_default();
                        e.0 += w.price;
                        e.1 += 1;
                        touched.insert(w.category);
                    }
                    for c in touched {
                        let (sum, n) = sums[&c];
                        out.push(Row::CategoryAverage {
                            category: c,
                            average: sum / n,
                        });
                    }
                },
            )
        }
        Query::Q5 => q5(src, control, k, cost),
        Query::Q6 => {
            let winning = winning_bids(src, control, k, cost);
            winning.tuned_unary_state(
                control,
                "average",
                |w: &Winning| w.seller,
                k.of("average"),
                move |_t, last: &mut BTreeMap<u64, VecDeque<u64>>, wins, out| {
                    spend(cost, wins.len());
                    wins.sort_by_key(|w| w.auction);
                    let mut touched = BTreeSet::new();
                    for w in wins.drain(..) {
                        let prices = last.entry(w.seller).or_default();
                        prices.push_back(w.price);
                        if prices.len() > Q6_LAST {
                            prices.pop_front();
                        }
                        touched.insert(w.seller);
                    }
                    for s in touched {
                        let prices = &last[&s];
                        out.push(Row::SellerAverage {
                            seller: s,
                            average: prices.iter().sum::<u64>() / prices.len() as u64,
                        });
                    }
                },
            )
        }
        Query::Q7 => q7(src, control, k, cost),
        Query::Q8 => q8(src, control, k, cost),
    }
}

/// Q3's join state of one bin: people of interest by id, category-10 auctions by seller.
#[derive(Default, Serialize, Deserialize)]
struct LocalItems {
    persons: HashMap<u64, (String, String, String)>,
    auctions: HashMap<u64, Vec<u64>>,
}

/// Q3's auctions of one seller, from one worker and time.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SellerAuctions {
    seller: u64,
    ids: Vec<u64>,
}

fn q3<'s>(
    src: Sources<'s>,
    control: &Control<'s, u64>,
    k: &Initial,
    cost: Duration,
) -> StreamVec<'s, u64, Row> {
    let auctions = src.auctions.tuned_unary_state(
        control,
        "auctions",
        |a: &Auction| a.id,
        k.of("auctions"),
        move |_t, _s: &mut (), auctions, out| {
            spend(cost, auctions.len());
            out.extend(auctions.drain(..).filter(|a| a.category == Q3_CATEGORY));
        },
    );
    let persons = src.persons.tuned_unary_state(
        control,
        "persons",
        |p: &Person| p.id,
        k.of("persons"),
        move |_t, _s: &mut (), persons, out| {
            spend(cost, persons.len());
            out.extend(
                persons
                    .drain(..)
                    .filter(|p| Q3_STATES.contains(&p.state.as_str())),
            );
        },
    );
    // The hot seller's auctions probe the join once per worker and time, as one record.
    let by_seller = combine_local(
        auctions,
        Q3_COMBINER,
        |a: &Auction| a.seller,
        |a| SellerAuctions {
            seller: a.seller,
            ids: vec![a.id],
        },
        |s, a| s.ids.push(a.id),
    );
    by_seller.tuned_binary_state(
        persons,
        control,
        "join",
        |s: &SellerAuctions| s.seller,
        |p: &Person| p.id,
        k.of("join"),
        move |_t, st: &mut LocalItems, auctions, persons, out| {
            spend(cost, auctions.len() + persons.len());
            // People first, so that a person and an auction of the same epoch meet once.
            for p in persons.drain(..) {
                if let Some(ids) = st.auctions.get(&p.id) {
                    for &auction in ids {
                        out.push(Row::LocalItem {
                            name: p.name.clone(),
                            city: p.city.clone(),
                            state: p.state.clone(),
                            auction,
                        });
                    }
                }
                st.persons.insert(p.id, (p.name, p.city, p.state));
            }
            for s in auctions.drain(..) {
                if let Some((name, city, state)) = st.persons.get(&s.seller) {
                    for &auction in &s.ids {
                        out.push(Row::LocalItem {
                            name: name.clone(),
                            city: city.clone(),
                            state: state.clone(),
                            auction,
                        });
                    }
                }
                st.auctions.entry(s.seller).or_default().extend(s.ids);
            }
        },
    )
}

/// A closed auction's winning bid (Q4, Q6).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Winning {
    pub auction: u64,
    pub seller: u64,
    pub category: u64,
    pub price: u64,
}

/// An open auction and its best valid bid so far (price, bidder).
#[derive(Clone, Serialize, Deserialize)]
struct OpenAuction {
    auction: Auction,
    best: Option<(u64, u64)>,
}

/// Whether a bid counts for an auction: in its lifetime and at least its reserve.
pub fn bid_counts(a: &Auction, b: &Bid) -> bool {
    b.date_time >= a.date_time && b.date_time <= a.expires && b.price >= a.reserve
}

fn winning_bids<'s>(
    src: Sources<'s>,
    control: &Control<'s, u64>,
    k: &Initial,
    cost: Duration,
) -> StreamVec<'s, u64, Winning> {
    src.auctions.tuned_binary_timed(
        src.bids,
        control,
        "winning",
        |a: &Auction| a.id,
        |b: &Bid| b.auction,
        k.of("winning"),
        move |t, open: &mut BTreeMap<u64, OpenAuction>, auctions, bids, out, wake| {
            spend(cost, auctions.len() + bids.len());
            // Auctions closing now: every bid of their lifetime has been seen.
            let closing: Vec<u64> = open
                .iter()
                .filter(|(_, o)| auction_close_epoch(o.auction.expires) <= *t)
                .map(|(&id, _)| id)
                .collect();
            for id in closing {
                if let Some(o) = open.remove(&id) {
                    if let Some((price, _)) = o.best {
                        out.push(Winning {
                            auction: id,
                            seller: o.auction.seller,
                            category: o.auction.category,
                            price,
                        });
                    }
                }
            }
            for a in auctions.drain(..) {
                wake.at(auction_close_epoch(a.expires));
                open.insert(
                    a.id,
                    OpenAuction {
                        auction: a,
                        best: None,
                    },
                );
            }
            for b in bids.drain(..) {
                if let Some(o) = open.get_mut(&b.auction) {
                    if bid_counts(&o.auction, &b) {
                        let candidate = (b.price, b.bidder);
                        if o.best.is_none_or(|best| candidate > best) {
                            o.best = Some(candidate);
                        }
                    }
                }
            }
        },
    )
}

/// Bids of one auction in one Q5 slice, counted on the worker that generated them.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SliceCount {
    auction: u64,
    slice: u64,
    bids: u64,
}

/// Q5's counting state of one bin: bids per auction per slide-long slice.
#[derive(Default, Serialize, Deserialize)]
struct SliceCounts {
    slices: BTreeMap<u64, HashMap<u64, u64>>,
}

/// A bin's most-bid auctions of one window.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct LocalTop {
    window_end: u64,
    bids: u64,
    auctions: Vec<u64>,
}

const SLIDE_EPOCHS: u64 = Q5_SLIDE_MS / EPOCH_MS;
const SLICES_PER_WINDOW: u64 = Q5_WINDOW_MS / Q5_SLIDE_MS;

fn q5<'s>(
    src: Sources<'s>,
    control: &Control<'s, u64>,
    k: &Initial,
    cost: Duration,
) -> StreamVec<'s, u64, Row> {
    let partial_counts = combine_local(
        src.bids,
        Q5_COMBINER,
        |b: &Bid| (b.auction, b.date_time / Q5_SLIDE_MS),
        |b| SliceCount {
            auction: b.auction,
            slice: b.date_time / Q5_SLIDE_MS,
            bids: 1,
        },
        |c, _| c.bids += 1,
    );
    let tops = partial_counts.tuned_unary_timed(
        control,
        "count",
        |c: &SliceCount| c.auction,
        k.of("count"),
        move |t, st: &mut SliceCounts, counts, out, wake| {
            spend(cost, counts.len());
            if t % SLIDE_EPOCHS == 0 {
                // The window ending now: slices [end - size, end).
                let end_slice = t / SLIDE_EPOCHS;
                let first = end_slice.saturating_sub(SLICES_PER_WINDOW);
                let mut counts: HashMap<u64, u64> = HashMap::new();
                for (_, per_auction) in st.slices.range(first..end_slice) {
                    for (&a, &n) in per_auction {
                        *counts.entry(a).or_default() += n;
                    }
                }
                if let Some(&max) = counts.values().max() {
                    let mut auctions: Vec<u64> = counts
                        .iter()
                        .filter(|&(_, &n)| n == max)
                        .map(|(&a, _)| a)
                        .collect();
                    auctions.sort_unstable();
                    out.push(LocalTop {
                        window_end: end_slice * Q5_SLIDE_MS,
                        bids: max,
                        auctions,
                    });
                }
                // Slices no later window needs.
                let keep_from = (end_slice + 1).saturating_sub(SLICES_PER_WINDOW);
                st.slices = st.slices.split_off(&keep_from);
            }
            for c in counts.drain(..) {
                *st.slices
                    .entry(c.slice)
                    .or_default()
                    .entry(c.auction)
                    .or_default() += c.bids;
            }
            if !st.slices.is_empty() {
                wake.at((t / SLIDE_EPOCHS + 1) * SLIDE_EPOCHS);
            }
        },
    );
    tops.tuned_unary_state(
        control,
        "hottest",
        |top: &LocalTop| top.window_end,
        k.of("hottest"),
        move |_t, _s: &mut (), tops, out| {
            spend(cost, tops.len());
            let mut best: BTreeMap<u64, (u64, BTreeSet<u64>)> = BTreeMap::new();
            for top in tops.drain(..) {
                let e = best.entry(top.window_end).or_default();
                if top.bids > e.0 {
                    *e = (top.bids, BTreeSet::new());
                }
                if top.bids == e.0 {
                    e.1.extend(top.auctions);
                }
            }
            for (window_end, (bids, auctions)) in best {
                for auction in auctions {
                    out.push(Row::Hot {
                        window_end,
                        auction,
                        bids,
                    });
                }
            }
        },
    )
}

/// A bin's highest bids of one window (Q7).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct WindowMax {
    window_end: u64,
    price: u64,
    bids: Vec<(u64, u64)>,
}

/// Q7's state of one bin: per window, the highest price and its (auction, bidder) pairs.
type WindowMaxima = BTreeMap<u64, (u64, Vec<(u64, u64)>)>;

fn q7<'s>(
    src: Sources<'s>,
    control: &Control<'s, u64>,
    k: &Initial,
    cost: Duration,
) -> StreamVec<'s, u64, Row> {
    let partial = src.bids.tuned_unary_timed(
        control,
        "partial",
        hash_bid,
        k.of("partial"),
        move |t, windows: &mut WindowMaxima, bids, out, wake| {
            spend(cost, bids.len());
            // Windows that ended: emit this bin's maximum.
            let open_from = t * EPOCH_MS / TUMBLE_MS;
            let rest = windows.split_off(&open_from);
            for (w, (price, mut bids)) in std::mem::replace(windows, rest) {
                bids.sort_unstable();
                out.push(WindowMax {
                    window_end: (w + 1) * TUMBLE_MS,
                    price,
                    bids,
                });
            }
            for b in bids.drain(..) {
                let w = b.date_time / TUMBLE_MS;
                let e = windows.entry(w).or_default();
                if b.price > e.0 {
                    *e = (b.price, Vec::new());
                }
                if b.price == e.0 {
                    e.1.push((b.auction, b.bidder));
                }
                wake.at(close_epoch((w + 1) * TUMBLE_MS));
            }
        },
    );
    partial.tuned_unary_state(
        control,
        "final",
        |m: &WindowMax| m.window_end,
        k.of("final"),
        move |_t, _s: &mut (), maxima, out| {
            spend(cost, maxima.len());
            let mut best: BTreeMap<u64, (u64, BTreeSet<(u64, u64)>)> = BTreeMap::new();
            for m in maxima.drain(..) {
                let e = best.entry(m.window_end).or_default();
                if m.price > e.0 {
                    *e = (m.price, BTreeSet::new());
                }
                if m.price == e.0 {
                    e.1.extend(m.bids);
                }
            }
            for (window_end, (price, bids)) in best {
                for (auction, bidder) in bids {
                    out.push(Row::HighestBid {
                        window_end,
                        auction,
                        bidder,
                        price,
                    });
                }
            }
        },
    )
}

/// Q8's state of one bin: per window, people registered (id → name) and sellers seen.
#[derive(Default, Serialize, Deserialize)]
struct NewUsers {
    windows: BTreeMap<u64, (BTreeMap<u64, String>, BTreeSet<u64>)>,
}

fn q8<'s>(
    src: Sources<'s>,
    control: &Control<'s, u64>,
    k: &Initial,
    cost: Duration,
) -> StreamVec<'s, u64, Row> {
    // The join needs only whether a person sold in a window: one auction per seller, window,
    // worker and time is enough.
    let sellers = combine_local(
        src.auctions,
        Q8_COMBINER,
        |a: &Auction| (a.seller, a.date_time / TUMBLE_MS),
        |a| a,
        |_, _| {},
    );
    src.persons.tuned_binary_timed(
        sellers,
        control,
        "join",
        |p: &Person| p.id,
        |a: &Auction| a.seller,
        k.of("join"),
        move |t, st: &mut NewUsers, persons, auctions, out, wake| {
            spend(cost, persons.len() + auctions.len());
            let open_from = t * EPOCH_MS / TUMBLE_MS;
            let rest = st.windows.split_off(&open_from);
            for (w, (people, sellers)) in std::mem::replace(&mut st.windows, rest) {
                for (person, name) in people {
                    if sellers.contains(&person) {
                        out.push(Row::NewUser {
                            window_end: (w + 1) * TUMBLE_MS,
                            person,
                            name,
                        });
                    }
                }
            }
            for p in persons.drain(..) {
                let w = p.date_time / TUMBLE_MS;
                st.windows.entry(w).or_default().0.insert(p.id, p.name);
                wake.at(close_epoch((w + 1) * TUMBLE_MS));
            }
            for a in auctions.drain(..) {
                let w = a.date_time / TUMBLE_MS;
                st.windows.entry(w).or_default().1.insert(a.seller);
                wake.at(close_epoch((w + 1) * TUMBLE_MS));
            }
        },
    )
}

/// Rows of a stream, for tests and the harness: keeps only those passing `keep`.
pub fn only<'s>(
    rows: StreamVec<'s, u64, Row>,
    keep: impl Fn(&Row) -> bool + 'static,
) -> StreamVec<'s, u64, Row> {
    rows.filter(move |r| keep(r))
}
