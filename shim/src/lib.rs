//! StreamTune shim for Timely Dataflow: per-operator metrics to the StreamTune plugin, and live
//! per-operator parallelism with state migration driven by its decisions.

pub mod connection;
pub mod metrics;
pub mod plugin;
pub mod proto;
pub mod sys;
pub mod tuned;
