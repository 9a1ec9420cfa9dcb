//! The control stream: rescale decisions entered on worker 0 and seen by every worker as data
//! at the decision's epoch.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::core::unordered_input::UnorderedHandle;
use timely::dataflow::operators::core::UnorderedInput;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::ActivateCapability;
use timely::dataflow::{Scope, StreamVec};
use timely::order::TotalOrder;
use timely::progress::{Antichain, Timestamp};

use super::binmap::DEFAULT_BINS;

/// The largest number of bins a control accepts.
const MAX_BINS: usize = 1 << 16;

/// A decision to change the parallelism of some tuned operators from logical time `epoch` on.
///
/// Records of time `t >= epoch` are routed by the new maps, records of earlier times by the old
/// ones. Operators not named keep their parallelism; names that match no tuned operator are
/// ignored. A parallelism is clamped to `1..=peers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rescale<T = u64> {
    /// Sequence number of the decision (from the tuner's DECISION message); among decisions with
    /// the same epoch, higher sequence numbers apply last.
    pub seq: u64,
    /// The logical time from which the new parallelism holds.
    pub epoch: T,
    /// New parallelism per tuned operator name.
    pub parallelism: Vec<(String, usize)>,
}

impl<T> Rescale<T> {
    /// The parallelism this decision sets for operator `name`, if it names it (last entry wins).
    pub fn parallelism_of(&self, name: &str) -> Option<usize> {
        self.parallelism
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|&(_, k)| k)
    }
}

/// A decision that has taken effect on this worker: every tuned operator here routes records of
/// time `>= epoch` by the new maps and has received the state of the bins it gained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied<T = u64> {
    /// The decision's sequence number.
    pub seq: u64,
    /// The epoch at which it took effect.
    pub epoch: T,
}

/// What happened to a proposed decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposed<T = u64> {
    /// The epoch at which it will take effect: the requested epoch, or the control input's
    /// current time if the requested one had already passed.
    pub epoch: T,
    /// Operator names in the decision that match no tuned operator (ignored).
    pub unknown: Vec<String>,
    /// Entries whose parallelism was outside `1..=peers`: `(name, requested, applied)`.
    pub clamped: Vec<(String, usize, usize)>,
}

/// Why a decision could not be proposed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlError {
    /// Only worker 0 enters decisions; this handle belongs to another worker.
    NotController,
    /// The control input was closed.
    Closed,
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControlError::NotController => write!(f, "only worker 0 can propose rescales"),
            ControlError::Closed => write!(f, "the control input is closed"),
        }
    }
}

impl std::error::Error for ControlError {}

/// Live figures of one tuned operator on this worker.
#[derive(Clone, Debug, PartialEq)]
pub struct TunedStatus<T = u64> {
    /// The operator's name (the key of decisions).
    pub name: String,
    /// Whether it keeps per-bin state.
    pub stateful: bool,
    /// Its parallelism under the newest map this worker has committed to.
    pub parallelism: usize,
    /// The epoch from which that map holds.
    pub map_epoch: T,
    /// The workers that own bins under that map (the same on every worker).
    pub active_workers: Vec<usize>,
    /// Bins this worker owns under that map.
    pub bins_here: usize,
    /// Number of bins in the map.
    pub bins: usize,
    /// Records waiting here for routing (control not yet known for their time) or for
    /// processing (their time not yet complete): the operator's own input queue.
    pub queued: usize,
    /// Of those, the records routed to this worker's instances: waiting for service or for
    /// their time to complete here.
    pub queued_routed: usize,
    /// Bins whose state this worker has shipped to another worker so far.
    pub bins_sent: u64,
    /// Bins whose state this worker has received so far.
    pub bins_received: u64,
    /// Times before which this worker has processed everything (an antichain; empty = done).
    pub processed: Vec<T>,
    /// Emulated capacity of this instance in records/s (`None`: native, real CPU cost).
    pub capacity: Option<f64>,
    /// Emulated service time spent on this worker so far, seconds (0 when native). Its growth
    /// over a window is the instance's busy time in that window.
    pub emulated_busy_s: f64,
    /// Records this worker has processed so far, per bin (stateful operators; zeros
    /// otherwise). Summed over workers, it gives the key distribution the operator sees.
    pub bin_records: Vec<u64>,
}

/// Per-worker bookkeeping shared between the control handle and the tuned operators.
pub(crate) struct Registry<T: Timestamp> {
    pub(crate) ops: Vec<OpEntry<T>>,
    /// Emulated per-instance capacities (records/s) by operator name, set before building.
    pub(crate) capacities: Vec<(String, f64)>,
    /// Decisions whose epoch the control frontier has passed, not yet reported as applied.
    known: Vec<(T, u64)>,
    last_applied: Option<Applied<T>>,
}

/// Registry entry of one tuned operator.
pub(crate) struct OpEntry<T: Timestamp> {
    pub(crate) name: String,
    pub(crate) stateful: bool,
    pub(crate) parallelism: usize,
    pub(crate) map_epoch: T,
    pub(crate) active_workers: Vec<usize>,
    pub(crate) bins_here: usize,
    pub(crate) bins: usize,
    pub(crate) queued_routing: usize,
    pub(crate) queued_processing: usize,
    pub(crate) bins_sent: u64,
    pub(crate) bins_received: u64,
    pub(crate) processed: Antichain<T>,
    /// Emulated capacity of this instance (records/s), if emulated.
    pub(crate) capacity: Option<f64>,
    /// Emulated service time spent so far, seconds (only when emulated).
    pub(crate) emulated_busy_s: f64,
    /// Records processed here so far, per bin (stateful operators).
    pub(crate) bin_records: Vec<u64>,
}

impl<T: Timestamp> Registry<T> {
    fn new() -> Self {
        Registry {
            ops: Vec::new(),
            capacities: Vec::new(),
            known: Vec::new(),
            last_applied: None,
        }
    }

    /// Adds an operator and returns its index.
    pub(crate) fn register(
        &mut self,
        name: &str,
        stateful: bool,
        active_workers: Vec<usize>,
        bins_here: usize,
        bins: usize,
    ) -> usize {
        let capacity = self
            .capacities
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, c)| c);
        self.ops.push(OpEntry {
            name: name.to_owned(),
            stateful,
            parallelism: active_workers.len(),
            map_epoch: T::minimum(),
            active_workers,
            bins_here,
            bins,
            queued_routing: 0,
            queued_processing: 0,
            bins_sent: 0,
            bins_received: 0,
            processed: Antichain::from_elem(T::minimum()),
            capacity,
            emulated_busy_s: 0.0,
            bin_records: vec![0; bins],
        });
        self.ops.len() - 1
    }

    fn drain_applied(&mut self) -> Vec<Applied<T>> {
        let mut out = Vec::new();
        let mut keep = Vec::new();
        for (epoch, seq) in self.known.drain(..) {
            let done = self.ops.iter().all(|op| !op.processed.less_equal(&epoch));
            if done && keep.is_empty() {
                out.push(Applied { seq, epoch });
            } else {
                keep.push((epoch, seq));
            }
        }
        self.known = keep;
        if let Some(last) = out.last() {
            self.last_applied = Some(last.clone());
        }
        out
    }
}

/// The control stream inside a dataflow, for building tuned operators.
///
/// Cheap to clone; all tuned operators of a dataflow share one.
pub struct Control<'scope, T: Timestamp> {
    pub(crate) stream: StreamVec<'scope, T, Rescale<T>>,
    pub(crate) registry: Rc<RefCell<Registry<T>>>,
    pub(crate) bins: usize,
}

impl<'scope, T: Timestamp> Clone for Control<'scope, T> {
    fn clone(&self) -> Self {
        Control {
            stream: self.stream.clone(),
            registry: Rc::clone(&self.registry),
            bins: self.bins,
        }
    }
}

type RescaleBuilder<T> = CapacityContainerBuilder<Vec<Rescale<T>>>;

/// The entry point of decisions on one worker, outside the dataflow.
///
/// On worker 0 it enters decisions ([`ControlHandle::propose`]). On every worker it must be
/// advanced with the job's input ([`ControlHandle::advance_to`]), like an input handle: records
/// of time `t` are routed only once the control input has passed `t` on all workers, because a
/// decision for `t` could still come. Every worker can read what has been applied and the
/// operators' figures.
pub struct ControlHandle<T: Timestamp> {
    input: UnorderedHandle<T, RescaleBuilder<T>>,
    capability: Option<ActivateCapability<T>>,
    registry: Rc<RefCell<Registry<T>>>,
    peers: usize,
    controller: bool,
}

impl<'scope, T: Timestamp + TotalOrder> Control<'scope, T> {
    /// Creates the control input with the default number of bins ([`DEFAULT_BINS`]).
    pub fn new(scope: Scope<'scope, T>) -> (ControlHandle<T>, Control<'scope, T>) {
        Self::with_bins(scope, DEFAULT_BINS)
    }

    /// Creates the control input; tuned operators built from it split keys into `bins` bins
    /// (clamped to `1..=65536`; several bins per worker are needed for balance).
    pub fn with_bins(
        scope: Scope<'scope, T>,
        bins: usize,
    ) -> (ControlHandle<T>, Control<'scope, T>) {
        let ((input, capability), stream) = scope.new_unordered_input::<RescaleBuilder<T>>();
        let controller = scope.index() == 0;
        // Every worker holds its capability until it advances: releasing one before the dataflow
        // starts would not be seen by the other workers' progress tracking.
        let capability = Some(capability);
        let stream = stream.broadcast();
        let registry = Rc::new(RefCell::new(Registry::new()));
        watch_decisions(stream.clone(), Rc::clone(&registry));
        let handle = ControlHandle {
            input,
            capability,
            registry: Rc::clone(&registry),
            peers: scope.peers(),
            controller,
        };
        let control = Control {
            stream,
            registry,
            bins: bins.clamp(1, MAX_BINS),
        };
        (handle, control)
    }

    /// The number of bins of operators built from this control.
    pub fn bins(&self) -> usize {
        self.bins
    }

    /// Gives the tuned operator `name`, built after this call, an emulated capacity: each of its
    /// instances serves at most `records_per_s` records per second of wall time (DESIGN §3).
    /// A time's records wait in the operator's queue until the instance's virtual server has
    /// served them, so queues, lag and the frontier behave as on a slower machine, and the
    /// instance reports its virtual service time as busy time. Non-finite or non-positive
    /// capacities are ignored.
    pub fn emulate(&self, name: &str, records_per_s: f64) {
        if !(records_per_s.is_finite() && records_per_s > 0.0) {
            return;
        }
        let mut registry = self.registry.borrow_mut();
        registry.capacities.retain(|(n, _)| n != name);
        registry.capacities.push((name.to_owned(), records_per_s));
    }
}

/// Records, per worker, which decisions the control frontier has passed.
fn watch_decisions<T: Timestamp + TotalOrder>(
    stream: StreamVec<'_, T, Rescale<T>>,
    registry: Rc<RefCell<Registry<T>>>,
) {
    let mut builder = OperatorBuilder::new("StreamTuneControlWatch".to_owned(), stream.scope());
    let mut input = builder.new_input(stream, Pipeline);
    builder.build(move |_capabilities| {
        let mut pending: BTreeMap<(T, u64), ()> = BTreeMap::new();
        move |frontiers| {
            input.for_each_stamp(|cap, data| {
                if let Some(time) = cap.least() {
                    for batch in data {
                        for rescale in batch.drain(..) {
                            pending.insert((time.clone(), rescale.seq), ());
                        }
                    }
                }
            });
            let frontier = &frontiers[0];
            let mut registry = registry.borrow_mut();
            while let Some(entry) = pending.first_entry() {
                if frontier.less_equal(&entry.key().0) {
                    break;
                }
                let ((epoch, seq), ()) = entry.remove_entry();
                registry.known.push((epoch, seq));
            }
        }
    });
}

impl<T: Timestamp + TotalOrder> ControlHandle<T> {
    /// Whether this handle can enter decisions (it belongs to worker 0 and is open).
    pub fn is_controller(&self) -> bool {
        self.controller && self.capability.is_some()
    }

    /// The control input's current time on this worker (`None` once closed); on worker 0,
    /// decisions can take effect no earlier.
    pub fn time(&self) -> Option<&T> {
        self.capability.as_ref().map(|c| c.time())
    }

    /// The number of workers of the job.
    pub fn peers(&self) -> usize {
        self.peers
    }

    /// Enters a decision (worker 0 only). It takes effect at `rescale.epoch`, or at the control
    /// input's current time if that epoch has passed; the result says which, and which entries
    /// were ignored or clamped.
    pub fn propose(&mut self, mut rescale: Rescale<T>) -> Result<Proposed<T>, ControlError> {
        if !self.controller {
            return Err(ControlError::NotController);
        }
        let capability = self.capability.as_ref().ok_or(ControlError::Closed)?;
        if !capability.time().less_equal(&rescale.epoch) {
            rescale.epoch = capability.time().clone();
        }
        let registry = self.registry.borrow();
        let unknown = rescale
            .parallelism
            .iter()
            .filter(|(name, _)| !registry.ops.iter().any(|op| &op.name == name))
            .map(|(name, _)| name.clone())
            .collect();
        let clamped = rescale
            .parallelism
            .iter()
            .filter(|&&(_, k)| k < 1 || k > self.peers)
            .map(|(name, k)| (name.clone(), *k, (*k).clamp(1, self.peers)))
            .collect();
        drop(registry);
        let epoch = rescale.epoch.clone();
        let at = capability.delayed(&epoch);
        self.input.activate().session(&at).give(rescale);
        Ok(Proposed {
            epoch,
            unknown,
            clamped,
        })
    }

    /// Declares that no decision from this worker will take effect before `time` (a no-op for
    /// times that have passed). Call it on every worker whenever the job's input advances.
    pub fn advance_to(&mut self, time: T) {
        if let Some(capability) = self.capability.as_mut() {
            if capability.time().less_than(&time) {
                capability.downgrade(&time);
            }
        }
    }

    /// Closes the control input of this worker: no further decisions. The dataflow cannot
    /// finish before this (or dropping the handle) happens on every worker.
    pub fn close(&mut self) {
        self.capability = None;
    }

    /// A read-only view of the tuned operators' figures, for metrics code that does not own the
    /// handle.
    pub fn monitor(&self) -> TunedMonitor<T> {
        TunedMonitor {
            registry: Rc::clone(&self.registry),
        }
    }

    /// Decisions applied on this worker since the last call, in order; worker 0 ACKs these.
    pub fn drain_applied(&mut self) -> Vec<Applied<T>> {
        self.registry.borrow_mut().drain_applied()
    }

    /// The last decision reported by [`ControlHandle::drain_applied`].
    pub fn last_applied(&self) -> Option<Applied<T>> {
        self.registry.borrow().last_applied.clone()
    }

    /// Names of the tuned operators of this worker's dataflows, in construction order.
    pub fn operator_names(&self) -> Vec<String> {
        self.monitor().operator_names()
    }

    /// The current parallelism of the tuned operator `name` (first match).
    pub fn parallelism(&self, name: &str) -> Option<usize> {
        self.monitor().parallelism(name)
    }

    /// Live figures of every tuned operator on this worker.
    pub fn status(&self) -> Vec<TunedStatus<T>> {
        self.monitor().status()
    }
}

/// A read-only, cloneable view of the tuned operators of one worker (see
/// [`ControlHandle::monitor`]).
#[derive(Clone)]
pub struct TunedMonitor<T: Timestamp> {
    registry: Rc<RefCell<Registry<T>>>,
}

impl<T: Timestamp> TunedMonitor<T> {
    /// Names of the tuned operators of this worker's dataflows, in construction order.
    pub fn operator_names(&self) -> Vec<String> {
        self.registry
            .borrow()
            .ops
            .iter()
            .map(|op| op.name.clone())
            .collect()
    }

    /// The current parallelism of the tuned operator `name` (first match).
    pub fn parallelism(&self, name: &str) -> Option<usize> {
        self.registry
            .borrow()
            .ops
            .iter()
            .find(|op| op.name == name)
            .map(|op| op.parallelism)
    }

    /// Live figures of every tuned operator on this worker.
    pub fn status(&self) -> Vec<TunedStatus<T>> {
        self.registry
            .borrow()
            .ops
            .iter()
            .map(|op| TunedStatus {
                name: op.name.clone(),
                stateful: op.stateful,
                parallelism: op.parallelism,
                map_epoch: op.map_epoch.clone(),
                active_workers: op.active_workers.clone(),
                bins_here: op.bins_here,
                bins: op.bins,
                queued: op.queued_routing + op.queued_processing,
                queued_routed: op.queued_processing,
                bins_sent: op.bins_sent,
                bins_received: op.bins_received,
                processed: op.processed.elements().to_vec(),
                capacity: op.capacity,
                emulated_busy_s: op.emulated_busy_s,
                bin_records: op.bin_records.clone(),
            })
            .collect()
    }
}
