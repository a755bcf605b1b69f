//! What the core asks the world to do. Plain data: [`super::encode`] turns each effect into
//! the master's protobuf call, and only the sender talks to the master.

use std::fmt;

use std::sync::Arc;

use crate::planner::PodPlacement;
use crate::records::Change;
use crate::target::Target;

/// Something to send to the master.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// ACCEPT an offer with one LAUNCH_GROUP per pod.
    Launch(Launch),
    /// DECLINE offers, filtering them for a while.
    Decline {
        /// The offers.
        offer_ids: Vec<String>,
        /// How long the master should not offer them again.
        refuse_seconds: f64,
    },
    /// KILL a task.
    Kill {
        /// The task.
        task_id: String,
        /// Its agent.
        agent_id: String,
    },
    /// ACKNOWLEDGE a status update that carried a uuid.
    Acknowledge {
        /// The agent that sent it.
        agent_id: String,
        /// The task.
        task_id: String,
        /// The update's uuid.
        uuid: Vec<u8>,
    },
    /// RECONCILE these (task, agent) pairs; none asks about every task (implicit).
    Reconcile {
        /// Task and agent ids (the agent may be empty when unknown).
        tasks: Vec<(String, String)>,
    },
    /// REVIVE offers for all our roles.
    Revive,
    /// SUPPRESS offers for all our roles.
    Suppress,
    /// TEARDOWN the framework (the end of an uninstall): its outcome comes back as an
    /// [`Input::Teardown`](super::Input::Teardown).
    Teardown,
}

/// An offer taken: the pods placed on it, each with the ids its tasks were given.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    /// The offer.
    pub offer_id: String,
    /// Its agent.
    pub agent_id: String,
    /// The role its resources are allocated to.
    pub role: String,
    /// The pods.
    pub pods: Vec<PodLaunch>,
    /// How long the unused rest of the offer is filtered.
    pub refuse_seconds: f64,
    /// The config version the pods are launched with.
    pub target: Arc<Target>,
}

/// One pod of a [`Launch`].
#[derive(Debug, Clone, PartialEq)]
pub struct PodLaunch {
    /// Where the planner put it.
    pub placement: PodPlacement,
    /// Its task ids, in the order of the group's tasks.
    pub task_ids: Vec<String>,
}

impl Launch {
    /// Every task id it launches.
    pub fn task_ids(&self) -> impl Iterator<Item = &str> {
        self.pods
            .iter()
            .flat_map(|p| p.task_ids.iter().map(String::as_str))
    }
}

impl Effect {
    /// The Mesos call it becomes, for logs and metrics.
    pub fn call_name(&self) -> &'static str {
        match self {
            Effect::Launch(_) => "ACCEPT",
            Effect::Decline { .. } => "DECLINE",
            Effect::Kill { .. } => "KILL",
            Effect::Acknowledge { .. } => "ACKNOWLEDGE",
            Effect::Reconcile { .. } => "RECONCILE",
            Effect::Revive => "REVIVE",
            Effect::Suppress => "SUPPRESS",
            Effect::Teardown => "TEARDOWN",
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.call_name();
        match self {
            Effect::Launch(launch) => {
                let slots: Vec<&str> = launch
                    .pods
                    .iter()
                    .map(|p| p.placement.slot.as_str())
                    .collect();
                write!(f, "{name} pods {slots:?}")
            }
            Effect::Kill { task_id, .. } => write!(f, "{name} {task_id}"),
            Effect::Acknowledge { task_id, uuid, .. } => {
                let short: String = uuid.iter().take(3).map(|b| format!("{b:02x}")).collect();
                write!(f, "{name} {task_id} {short}")
            }
            Effect::Reconcile { tasks } => write!(f, "{name} {} tasks", tasks.len()),
            Effect::Decline { offer_ids, .. } => write!(f, "{name} {} offers", offer_ids.len()),
            Effect::Revive | Effect::Suppress | Effect::Teardown => f.write_str(name),
        }
    }
}

/// What the shell must do, in order (raft's checklist).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Ready {
    /// 1. Persist these.
    pub changes: Vec<Change>,
    /// 2. Then publish this framework id to the session.
    pub framework_id: Option<String>,
    /// 3. Then send these.
    pub effects: Vec<Effect>,
    /// 4. Then delete everything stored: the uninstall is over (the framework is torn down),
    ///    and nothing is persisted or sent after this.
    pub delete_state: bool,
}

impl Ready {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
            && self.framework_id.is_none()
            && self.effects.is_empty()
            && !self.delete_state
    }

    /// Changes and effects held: what its size in memory grows with.
    pub fn len(&self) -> usize {
        self.changes.len() + self.effects.len()
    }
}
