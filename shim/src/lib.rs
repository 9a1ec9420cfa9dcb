//! StreamTune shim for Timely Dataflow: per-operator metrics to the StreamTune plugin, and live
//! per-operator parallelism with state migration driven by its decisions.

pub mod emulate;
pub mod proto;
pub mod tuned;
