//! Live per-operator parallelism for Timely Dataflow, with state migration.
//!
//! Timely runs every operator on every worker. A *tuned* operator confines its keyed work to `k`
//! of them: a key hashes to one of `B` bins (256 by default) and a [`BinMap`] gives each bin an
//! owner among the operator's `k` active workers. A [`Rescale`] decision, entered on worker 0
//! through a [`ControlHandle`], reaches every worker as data at its `epoch`; records of time `t`
//! are routed by the map in force at `t`, so all workers switch at the same logical time. For
//! stateful operators the state is kept per bin, and the state of a bin that moves at epoch `e`
//! reaches its new owner before that worker processes any record of time `>= e` (the Megaphone
//! design, Hoffmann et al., PVLDB 2019). Results with rescaling equal results without it.
//!
//! # Example
//!
//! A running count per key, emitted per epoch, whose parallelism drops to one worker at epoch 3:
//!
//! ```
//! use std::collections::HashMap;
//! use timely::dataflow::operators::{Input, Inspect, Probe};
//! use timely::dataflow::{InputHandleVec, ProbeHandle};
//! use streamtune_shim::tuned::{Control, Rescale, Tuned};
//!
//! timely::execute(timely::Config::process(2), |worker| {
//!     let mut input = InputHandleVec::<u64, (u64, u64)>::new();
//!     let probe = ProbeHandle::new();
//!     let mut control = worker.dataflow(|scope| {
//!         let (control_handle, control) = Control::new(scope);
//!         scope
//!             .input_from(&mut input)
//!             .tuned_unary_state(
//!                 &control,
//!                 "count",
//!                 |&(key, _)| key,
//!                 2,
//!                 |_time, counts: &mut HashMap<u64, u64>, records, out| {
//!                     for (key, _) in records.drain(..) {
//!                         *counts.entry(key).or_default() += 1;
//!                         out.push((key, counts[&key]));
//!                     }
//!                 },
//!             )
//!             .inspect(|x| println!("{x:?}"))
//!             .probe_with(&probe);
//!         control_handle
//!     });
//!     if control.is_controller() {
//!         control
//!             .propose(Rescale { seq: 1, epoch: 3, parallelism: vec![("count".into(), 1)] })
//!             .unwrap();
//!     }
//!     for epoch in 0..6u64 {
//!         input.send((epoch % 4, 1));
//!         input.advance_to(epoch + 1);
//!         control.advance_to(epoch + 1);
//!         while probe.less_than(input.time()) {
//!             worker.step();
//!         }
//!     }
//!     assert_eq!(control.parallelism("count"), Some(1));
//! })
//! .unwrap();
//! ```
//!
//! # Using it
//!
//! * Every worker must advance its [`ControlHandle`] along with the job's input (a record of time
//!   `t` is routed only once the control input has passed `t`) and close or drop it at the end.
//!   Advancing the control input a few epochs *ahead* of the data (`advance_to(epoch + 1 +
//!   lead)`) lets routers forward records without waiting for it, which matters when workers
//!   outnumber cores; decisions then take effect at least `lead` epochs after they are proposed
//!   ([`ControlHandle::propose`] moves an epoch that has passed to the earliest possible one and
//!   says so).
//! * [`ControlHandle::drain_applied`] lists the decisions that have taken effect on the worker
//!   (worker 0 acknowledges those); [`ControlHandle::status`] (or a [`TunedMonitor`]) gives the
//!   current parallelism, active workers, bins, queued records and migration counts of every
//!   tuned operator.
//! * Timestamps must be totally ordered (`u64` epochs in our jobs). Every worker builds the same
//!   tuned operators in the same order; equal keys must have equal hashes. At most 65 536
//!   workers and bins.
//! * [`Tuned::tuned_unary_timed`] and [`Tuned::tuned_binary_timed`] let the logic ask, per bin,
//!   to run again at a later time ([`Wakeups`]), e.g. to close windows of bins that receive no
//!   more records; pending wake-ups move with the bin's state.
//! * In Timely's logging a tuned operator appears as two operators: `<name>/route` (the router,
//!   cheap) and `<name>` (the receiver, where the user's logic runs; its busy time is the
//!   operator's work).
//!
//! # How migration works
//!
//! Each tuned operator is a router in front of exchanges and a receiver behind them, sharing the
//! per-bin state of their worker. The router holds records of time `t` until the control
//! frontier passes `t`, then sends each to the owner of its bin under the map in force at `t`.
//! When a decision changes the map at epoch `e`, the router of a worker that loses bins keeps a
//! capability for `e` on a state channel; once its own receiver has processed every time before
//! `e`, it takes those bins' state and sends it at time `e` to the new owners, then releases the
//! capability. A receiver processes a time only when all its inputs (data and state) have passed
//! it, installing arrived states first; so a moved bin's state reaches its new worker before any
//! record of time `>= e` is processed there, and leaves its old worker only after every record
//! of time `< e` has been applied to it. Within one process the state moves by value; between
//! processes it is serialized with bincode like any exchanged data.

mod binmap;
mod control;
mod operator;

pub use binmap::{bin_of, name_hash, BinMap, DEFAULT_BINS};
pub use control::{
    Applied, Control, ControlError, ControlHandle, Proposed, Rescale, TunedMonitor, TunedStatus,
};
pub use operator::{Tuned, Wakeups};
