//! Metric handles registered once per label set: a hot path must not build its labels and look
//! the metric up in the recorder on every increment.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{LazyLock, RwLock};

use foldhash::fast::RandomState;

/// The handles of one metric by label set, each registered on its first use (after the process
/// installed its recorder). Meant for a `static`. Labels are the program's own strings, so the
/// map hashes with foldhash, not SipHash (a third of a lookup's cost).
pub struct MetricHandles<L, H>(LazyLock<RwLock<HashMap<L, H, RandomState>>>);

impl<L: Eq + Hash, H: Clone> MetricHandles<L, H> {
    #[allow(clippy::new_without_default)] // for statics: `Default` is not const
    pub const fn new() -> Self {
        MetricHandles(LazyLock::new(Default::default))
    }

    /// The handle of `labels`, made by `register` the first time.
    pub fn get(&self, labels: L, register: impl FnOnce() -> H) -> H {
        if let Some(handle) = self.0.read().expect("metric handles lock").get(&labels) {
            return handle.clone();
        }
        let mut handles = self.0.write().expect("metric handles lock");
        handles.entry(labels).or_insert_with(register).clone()
    }
}
