//! Nexmark on Timely Dataflow (under construction).
