//! The deployment plan as operators see it (`GET /v1/plan`): a phase per group, a step per
//! pod, each with a status — derived from the same state the planner uses.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::pending::slot_name;
use crate::records::{SlotRecord, TaskPhase, TaskRecord};
use crate::spec::ValidatedSpec;

/// One pod's step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepView {
    /// The slot.
    pub name: String,
    /// `COMPLETE` (all tasks running), `STARTING`, `PENDING` (waiting for an offer), `DELAYED`
    /// (launch backoff), `KILLING` (scale-down or restart).
    pub status: &'static str,
    /// Detail, e.g. the last failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Failures in a row: a crash loop shows here, not as a wait for offers.
    #[serde(skip_serializing_if = "is_zero")]
    pub failures: u32,
    /// How long until a `DELAYED` pod may launch again (ms; relative, so readers need no
    /// clock of their own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relaunch_in_ms: Option<u64>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One group's phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseView {
    /// The group.
    pub name: String,
    /// `COMPLETE` when every step is.
    pub status: &'static str,
    /// Steps by pod index, then pods being removed.
    pub steps: Vec<StepView>,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanView {
    /// `COMPLETE` or `IN_PROGRESS`.
    pub status: &'static str,
    /// Phases in spec order.
    pub phases: Vec<PhaseView>,
}

/// Builds the plan view.
pub fn progress(
    spec: &ValidatedSpec,
    desired: &BTreeMap<String, u32>,
    tasks: &BTreeMap<String, TaskRecord>,
    slots: &BTreeMap<String, SlotRecord>,
    now_ms: u64,
) -> PlanView {
    let mut live: HashMap<&str, Vec<&TaskRecord>> = HashMap::new();
    for t in tasks.values().filter(|t| t.holds_slot()) {
        live.entry(t.slot.as_str()).or_default().push(t);
    }
    let mut phases = Vec::new();
    for group in &spec.groups {
        let count = desired.get(&group.name).copied().unwrap_or(group.count);
        let mut steps = Vec::new();
        for index in 0..count {
            let slot = slot_name(&group.name, index);
            let record = slots.get(&slot);
            let message = record.and_then(|r| r.last_message.clone());
            let status = match live.get(slot.as_str()) {
                Some(ts) if ts.iter().any(|t| t.kill.is_some()) => "KILLING",
                Some(ts)
                    if ts.len() == group.tasks.len()
                        && ts.iter().all(|t| t.state == TaskPhase::Running) =>
                {
                    "COMPLETE"
                }
                Some(_) => "STARTING",
                None if record.is_some_and(|r| r.next_launch_at_ms > now_ms) => "DELAYED",
                None => "PENDING",
            };
            steps.push(StepView {
                name: slot,
                status,
                message,
                failures: record.map_or(0, |r| r.failures),
                relaunch_in_ms: (status == "DELAYED")
                    .then(|| record.map(|r| r.next_launch_at_ms.saturating_sub(now_ms)))
                    .flatten(),
            });
        }
        let mut extra: Vec<(u32, &str)> = live
            .iter()
            .filter_map(|(slot, ts)| ts.first().map(|t| (t, *slot)))
            .filter(|(t, _)| t.group == group.name && t.index >= count)
            .map(|(t, slot)| (t.index, slot))
            .collect();
        extra.sort();
        steps.extend(extra.into_iter().map(|(_, slot)| StepView {
            name: slot.to_string(),
            status: "KILLING",
            message: Some("scale-down".into()),
            failures: 0,
            relaunch_in_ms: None,
        }));
        let status = if steps.iter().all(|s| s.status == "COMPLETE") {
            "COMPLETE"
        } else {
            "IN_PROGRESS"
        };
        phases.push(PhaseView {
            name: group.name.clone(),
            status,
            steps,
        });
    }
    let status = if phases.iter().all(|p| p.status == "COMPLETE") {
        "COMPLETE"
    } else {
        "IN_PROGRESS"
    };
    PlanView { status, phases }
}
