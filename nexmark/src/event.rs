//! Nexmark events: people register, open auctions and bid (notes/peers.md §6.2).

use serde::{Deserialize, Serialize};

/// A new person (a potential seller and bidder).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Person {
    pub id: u64,
    pub name: String,
    pub city: String,
    /// Upper-case US state code (Q3 filters on `OR`, `ID`, `CA`).
    pub state: String,
    /// Event time, ms since the start of the run.
    pub date_time: u64,
}

/// A new auction.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Auction {
    pub id: u64,
    pub seller: u64,
    pub category: u64,
    /// Cents.
    pub initial_bid: u64,
    /// Cents; bids below it do not win.
    pub reserve: u64,
    /// Event time, ms since the start of the run.
    pub date_time: u64,
    /// Closing time, ms; bids after it do not count.
    pub expires: u64,
}

/// A bid on an auction.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Bid {
    pub auction: u64,
    pub bidder: u64,
    /// Cents.
    pub price: u64,
    /// Event time, ms since the start of the run.
    pub date_time: u64,
}

/// One generated event.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Event {
    Person(Person),
    Auction(Auction),
    Bid(Bid),
}

impl Event {
    /// Event time, ms since the start of the run.
    pub fn date_time(&self) -> u64 {
        match self {
            Event::Person(p) => p.date_time,
            Event::Auction(a) => a.date_time,
            Event::Bid(b) => b.date_time,
        }
    }
}
