//! Autoscaling: a group's count follows its load between the spec's `min` and `max`.
//!
//! Pure: [`policy`] (the decision), [`scrape`] (reading a pod's `/metrics`), and the
//! [`Autoscaler`] here (every group's state and the decision log). Adapter: [`sampler`],
//! which asks the pods and feeds the driver's loop one [`LoadSample`] per group.

pub mod policy;
pub mod sampler;
pub mod scrape;

use std::collections::{BTreeMap, VecDeque};

pub use policy::{Counts, Decision, GroupState, Hold, Holds, LoadSample, Outcome};

/// Decisions kept for `GET /v1/autoscale`.
pub const KEPT_DECISIONS: usize = 100;

/// Every autoscaled group's state, and the last [`KEPT_DECISIONS`] decisions. In memory
/// only: a new leader starts with an empty log, and its first decision waits, as any, until
/// the load asked for it long enough.
#[derive(Debug, Clone, Default)]
pub struct Autoscaler {
    /// Per autoscaled group.
    pub groups: BTreeMap<String, GroupState>,
    /// Oldest first.
    pub decisions: VecDeque<Decision>,
    /// Decisions taken, per group and direction (`up`, `down`), for `/metrics`.
    pub taken: BTreeMap<(String, &'static str), u64>,
}

impl Autoscaler {
    /// The state of `group`, made on first use.
    pub fn group(&mut self, group: &str) -> &mut GroupState {
        self.groups.entry(group.to_string()).or_default()
    }

    /// Records `decision` in the log (dropping the oldest beyond the bound) and the counts.
    pub fn record(&mut self, decision: Decision) {
        let direction = if decision.to > decision.from {
            "up"
        } else {
            "down"
        };
        *self
            .taken
            .entry((decision.group.clone(), direction))
            .or_default() += 1;
        if self.decisions.len() == KEPT_DECISIONS {
            self.decisions.pop_front();
        }
        self.decisions.push_back(decision);
    }
}
