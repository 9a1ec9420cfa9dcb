//! StreamTune shim for Timely Dataflow (under construction).
