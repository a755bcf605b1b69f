//! Which slots need a pod: wanted by the desired count, holding no live task, and either
//! ready now or held back by the launch backoff.

use std::collections::{BTreeMap, HashSet};

use crate::records::{SlotRecord, TaskRecord};
use crate::spec::ValidatedSpec;

/// A slot that needs a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPod {
    /// Group index in the spec.
    pub group: usize,
    /// Pod index.
    pub index: u32,
    /// `<group>-<index>`.
    pub slot: String,
    /// `restart`: only this agent may take it.
    pub pinned_agent: Option<String>,
    /// Not before this time (ms since the epoch).
    pub not_before_ms: u64,
}

/// Pending slots, in spec group order then index order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pending {
    /// Launchable now.
    pub ready: Vec<PendingPod>,
    /// Waiting out the launch backoff.
    pub delayed: Vec<PendingPod>,
}

/// The slot name of pod `index` of `group`.
pub fn slot_name(group: &str, index: u32) -> String {
    format!("{group}-{index}")
}

/// Finds the pending slots. A slot is never pending while a task of it may be running: one
/// holding it, or one given up as unreachable that came back and is being killed (its
/// replacement waits for its end). A slot never has two live tasks.
pub fn pending_pods(
    spec: &ValidatedSpec,
    desired: &BTreeMap<String, u32>,
    tasks: &BTreeMap<String, TaskRecord>,
    slots: &BTreeMap<String, SlotRecord>,
    now_ms: u64,
) -> Pending {
    let live: HashSet<&str> = tasks
        .values()
        .filter(|t| t.holds_slot() || (!t.state.is_terminal() && !t.state.is_out_of_reach()))
        .map(|t| t.slot.as_str())
        .collect();
    let mut pending = Pending::default();
    for (gi, group) in spec.groups.iter().enumerate() {
        let count = desired.get(&group.name).copied().unwrap_or(group.count);
        for index in 0..count {
            let slot = slot_name(&group.name, index);
            if live.contains(slot.as_str()) {
                continue;
            }
            let record = slots.get(&slot);
            let pod = PendingPod {
                group: gi,
                index,
                pinned_agent: record.and_then(|r| r.pinned_agent.clone()),
                not_before_ms: record.map_or(0, |r| r.next_launch_at_ms),
                slot,
            };
            if pod.not_before_ms > now_ms {
                pending.delayed.push(pod);
            } else {
                pending.ready.push(pod);
            }
        }
    }
    pending
}
