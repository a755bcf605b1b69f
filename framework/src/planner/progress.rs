//! The deployment plan as operators see it (`GET /v1/plans/deploy`): a phase per group, a
//! step per pod, each with a status — derived from the same state the planner uses, the
//! rolling update's included.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::pending::slot_name;
use super::rollout::{live_pods, pod_ready, rollouts, Hold};
use crate::records::{Deployment, KillIntent, SlotRecord, TaskPhase, TaskRecord};
use crate::spec::ValidatedSpec;

/// One pod's step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepView {
    /// The slot.
    pub name: String,
    /// `COMPLETE` (ready on the target version), `STARTING` (launched, not ready yet),
    /// `PENDING` (waiting for an offer, or an old pod waiting its turn), `PREPARED` (its old
    /// pod is being replaced), `WAITING` (held: paused, a canary, or availability),
    /// `DELAYED` (launch backoff), `ERROR` (its new pod failed during a deployment),
    /// `KILLING` (scale-down or restart).
    pub status: &'static str,
    /// Detail, e.g. the last failure or why it waits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The config version its pod runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
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
    /// `COMPLETE` when every step is; `ERROR`, `WAITING` when a step is; else `IN_PROGRESS`.
    pub status: &'static str,
    /// Steps by pod index, then pods being removed.
    pub steps: Vec<StepView>,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanView {
    /// `COMPLETE`, `IN_PROGRESS`, `WAITING` or `ERROR` (the phases', worst first).
    pub status: &'static str,
    /// The rolling update, while one runs or after the last one ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<Deployment>,
    /// Phases in spec order.
    pub phases: Vec<PhaseView>,
}

/// What the plan is built from: the planner's inputs, offers aside.
#[derive(Debug, Clone, Copy)]
pub struct ProgressInput<'a> {
    /// The target's spec.
    pub spec: &'a ValidatedSpec,
    /// Desired counts.
    pub desired: &'a BTreeMap<String, u32>,
    /// Known tasks.
    pub tasks: &'a BTreeMap<String, TaskRecord>,
    /// Slot memory.
    pub slots: &'a BTreeMap<String, SlotRecord>,
    /// Per group, the versions whose pods run the target.
    pub current: &'a BTreeMap<String, BTreeSet<u32>>,
    /// The last rolling update.
    pub deployment: Option<&'a Deployment>,
    /// The target's id.
    pub target: u32,
    /// Milliseconds since the epoch.
    pub now_ms: u64,
}

fn hold_message(hold: Hold) -> &'static str {
    match hold {
        Hold::Paused => "deployment paused: `cartrack plan resume`",
        Hold::Canary => "canary: waits for `cartrack plan continue`",
        Hold::Unavailable => "waits for the pods before it to be ready (max_unavailable)",
    }
}

/// The worst of `statuses`: what a phase or the plan shows.
fn rollup<'a>(statuses: impl Iterator<Item = &'a str>) -> &'static str {
    let mut worst = "COMPLETE";
    for status in statuses {
        worst = match (worst, status) {
            (_, "ERROR") | ("ERROR", _) => "ERROR",
            (_, "WAITING") | ("WAITING", _) => "WAITING",
            (_, "COMPLETE") => worst,
            _ => "IN_PROGRESS",
        };
    }
    worst
}

/// Builds the plan view.
pub fn progress(input: &ProgressInput<'_>) -> PlanView {
    let ProgressInput {
        spec,
        desired,
        tasks,
        slots,
        now_ms,
        ..
    } = *input;
    let active = input.deployment.filter(|d| d.completed_ms.is_none());
    let rollouts = rollouts(spec, desired, tasks, input.current, active, now_ms);
    let live = live_pods(tasks);
    let mut phases = Vec::new();
    for (group, rollout) in spec.groups.iter().zip(&rollouts) {
        let count = desired.get(&group.name).copied().unwrap_or(group.count) + rollout.surge;
        let deploying = active.is_some_and(|d| d.is_active_for(&group.name));
        let versions = input.current.get(&group.name);
        let mut held = false;
        let mut steps = Vec::new();
        for index in 0..count {
            let slot = slot_name(&group.name, index);
            let record = slots.get(&slot);
            let pod = live.get(slot.as_str());
            // How the slot's last pod ended, while it matters: it failed, or no pod replaced
            // it yet (a replacement's step is not about the pod it replaced).
            let mut message = record
                .filter(|r| r.last_failed || pod.is_none())
                .and_then(|r| r.last_message.clone());
            let version = pod.and_then(|ts| ts.first()).map(|t| t.config);
            let outdated = pod.is_some_and(|ts| {
                ts.iter()
                    .any(|t| !versions.is_some_and(|v| v.contains(&t.config)))
            });
            let failing = record.is_some_and(|r| r.last_failed && r.failures > 0);
            let status = match pod {
                Some(ts) if ts.iter().any(|t| t.kill == Some(KillIntent::Upgrade)) => {
                    message = Some(format!("replacing version {}", version.unwrap_or(0)));
                    "PREPARED"
                }
                Some(ts) if ts.iter().any(|t| t.kill.is_some()) => "KILLING",
                Some(_) if outdated => match rollout.hold {
                    Some(hold) if !held => {
                        held = true;
                        message = Some(hold_message(hold).to_string());
                        "WAITING"
                    }
                    _ => {
                        message = Some(format!(
                            "runs version {}, target {}",
                            version.unwrap_or(0),
                            input.target
                        ));
                        "PENDING"
                    }
                },
                // During a deployment a step is done once its pod is ready, as the rollout
                // counts it; otherwise once every task runs.
                Some(ts) if deploying && pod_ready(group, ts, now_ms) => "COMPLETE",
                Some(ts)
                    if !deploying
                        && ts.len() == group.tasks.len()
                        && ts.iter().all(|t| t.state == TaskPhase::Running) =>
                {
                    "COMPLETE"
                }
                Some(_) => "STARTING",
                None if record.is_some_and(|r| r.next_launch_at_ms > now_ms) => "DELAYED",
                None => "PENDING",
            };
            // A pod of the new version that keeps failing stops the deployment: say so,
            // with its last failure, instead of waiting quietly.
            let status = match status {
                "STARTING" | "DELAYED" | "PENDING" if deploying && failing => "ERROR",
                other => other,
            };
            steps.push(StepView {
                name: slot,
                status,
                message,
                version,
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
            version: None,
            failures: 0,
            relaunch_in_ms: None,
        }));
        phases.push(PhaseView {
            name: group.name.clone(),
            status: rollup(steps.iter().map(|s| s.status)),
            steps,
        });
    }
    PlanView {
        status: rollup(phases.iter().map(|p| p.status)),
        deployment: input.deployment.cloned(),
        phases,
    }
}
