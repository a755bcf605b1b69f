//! The JSON bodies of the operator API, built from the driver's [`Core`].

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::driver::Core;
use crate::planner::{self, OfferExplanation, PlanView};

/// `GET /v1/health`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthView {
    /// `ok` while subscribed, `connecting` otherwise.
    pub status: &'static str,
    /// `leader` (a standby answers `standby`, naming the leader).
    pub role: &'static str,
    /// Subscribed to a master.
    pub subscribed: bool,
    /// Our framework id.
    pub framework_id: Option<String>,
    /// Tasks still owing a reconciliation answer.
    pub reconciling: usize,
    /// The leading master as last known (subscribed to, or named by a redirect); `None` before
    /// any answered.
    pub master: Option<String>,
}

/// A group line of `GET /v1/state`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupView {
    /// Group name.
    pub name: String,
    /// Desired pods.
    pub count: u32,
    /// Pods with every task RUNNING.
    pub running: usize,
    /// Pods launched, not yet all RUNNING.
    pub staging: usize,
    /// Wanted pods with no live task whose last task failed.
    pub failed: usize,
}

/// A task line of `GET /v1/state`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskView {
    /// Slot.
    pub slot: String,
    /// Task id.
    pub task_id: String,
    /// Agent.
    pub agent_id: String,
    /// Hostname.
    pub hostname: String,
    /// `TASK_RUNNING`, ...
    pub state: &'static str,
    /// Last health result.
    pub healthy: Option<bool>,
    /// Named ports.
    pub ports: BTreeMap<String, u16>,
    /// False for a task given up after staying unreachable (a replacement holds its slot;
    /// it is killed if it comes back).
    pub holds_slot: bool,
}

/// `GET /v1/state`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateView {
    /// Our framework id.
    pub framework_id: Option<String>,
    /// Per group.
    pub groups: Vec<GroupView>,
    /// Live tasks.
    pub tasks: Vec<TaskView>,
}

/// One entry of `GET /v1/debug/offers`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecentOfferView {
    /// When it came (ms since the epoch).
    pub received_ms: u64,
    /// `accepted`, `declined`, `rescinded`.
    pub outcome: &'static str,
    /// Resources and per-pod verdicts.
    #[serde(flatten)]
    pub explanation: OfferExplanation,
}

/// `GET /v1/debug/offers`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DebugOffersView {
    /// Recent offers, newest first.
    pub offers: Vec<RecentOfferView>,
}

/// Builds the health view; `master` is the session's leader.
pub fn health(core: &Core, master: Option<String>) -> HealthView {
    HealthView {
        status: if core.subscribed() {
            "ok"
        } else {
            "connecting"
        },
        role: "leader",
        subscribed: core.subscribed(),
        framework_id: core.state().framework_id.clone(),
        reconciling: core.reconciling(),
        master,
    }
}

/// Builds the state view.
pub fn state(core: &Core) -> StateView {
    let st = core.state();
    let held: BTreeSet<&str> = st
        .tasks
        .values()
        .filter(|t| t.holds_slot())
        .map(|t| t.slot.as_str())
        .collect();
    let groups = core
        .spec()
        .groups
        .iter()
        .map(|g| {
            let count = core.desired_count(&g.name);
            let pods = core.pod_counts(&g.name);
            let failed = (0..count)
                .map(|i| format!("{}-{i}", g.name))
                .filter(|slot| !held.contains(slot.as_str()))
                .filter(|slot| st.slots.get(slot).is_some_and(|s| s.last_failed))
                .count();
            GroupView {
                name: g.name.clone(),
                count,
                running: pods.running as usize,
                staging: pods.staging as usize,
                failed,
            }
        })
        .collect();
    let tasks = st
        .tasks
        .values()
        .filter(|t| !t.state.is_terminal())
        .map(|t| TaskView {
            slot: t.slot.clone(),
            task_id: t.task_id.clone(),
            agent_id: t.agent_id.clone(),
            hostname: t.hostname.clone(),
            state: t.state.name(),
            healthy: t.healthy,
            ports: t.ports.clone(),
            holds_slot: t.holds_slot(),
        })
        .collect();
    StateView {
        framework_id: st.framework_id.clone(),
        groups,
        tasks,
    }
}

/// Builds the plan view.
pub fn plan(core: &Core, now_ms: u64) -> PlanView {
    let st = core.state();
    planner::progress(&planner::ProgressInput {
        spec: core.spec(),
        desired: &st.desired,
        tasks: &st.tasks,
        slots: &st.slots,
        current: core.current(),
        deployment: st.deployment.as_ref(),
        target: core.target().id(),
        now_ms,
    })
}

/// Explains the recent offers against the pods pending now (at most 50 pods each).
pub fn debug_offers(core: &Core, now_ms: u64) -> DebugOffersView {
    let st = core.state();
    let mut offers: Vec<RecentOfferView> = core
        .recent_offers()
        .map(|r| RecentOfferView {
            received_ms: r.received_ms,
            outcome: r.outcome,
            explanation: planner::explain(
                core.spec(),
                &st.desired,
                &st.tasks,
                &st.slots,
                &r.offer,
                now_ms,
                50,
            ),
        })
        .collect();
    offers.reverse();
    DebugOffersView { offers }
}
