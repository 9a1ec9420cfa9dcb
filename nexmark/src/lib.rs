//! Nexmark on Timely Dataflow, tuned live by StreamTune, and the harness that compares tuning
//! policies on it (DESIGN §8).

pub mod clairvoyant;
pub mod event;
pub mod feasible;
pub mod generator;
pub mod harness;
pub mod plot;
pub mod queries;
pub mod reference;
pub mod report;
pub mod schedule;
