//! The persisted records and the [`Change`]s that edit them.

use std::collections::{BTreeMap, BTreeSet};

use mesos_proto::v1::TaskState;
use serde::{Deserialize, Serialize};

use crate::spec::ServiceSpec;
use crate::target::ConfigVersion;

/// A Mesos task state, as persisted and shown by the API (`TASK_RUNNING`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum TaskPhase {
    #[serde(rename = "TASK_STAGING")]
    Staging,
    #[serde(rename = "TASK_STARTING")]
    Starting,
    #[serde(rename = "TASK_RUNNING")]
    Running,
    #[serde(rename = "TASK_KILLING")]
    Killing,
    #[serde(rename = "TASK_FINISHED")]
    Finished,
    #[serde(rename = "TASK_FAILED")]
    Failed,
    #[serde(rename = "TASK_KILLED")]
    Killed,
    #[serde(rename = "TASK_ERROR")]
    Error,
    #[serde(rename = "TASK_LOST")]
    Lost,
    #[serde(rename = "TASK_DROPPED")]
    Dropped,
    #[serde(rename = "TASK_UNREACHABLE")]
    Unreachable,
    #[serde(rename = "TASK_GONE")]
    Gone,
    #[serde(rename = "TASK_GONE_BY_OPERATOR")]
    GoneByOperator,
    #[serde(rename = "TASK_UNKNOWN")]
    Unknown,
}

impl TaskPhase {
    /// From the wire value of `TaskStatus.state`; unknown numbers map to `Unknown`.
    pub fn from_wire(state: i32) -> TaskPhase {
        match TaskState::try_from(state) {
            Ok(TaskState::TaskStaging) => TaskPhase::Staging,
            Ok(TaskState::TaskStarting) => TaskPhase::Starting,
            Ok(TaskState::TaskRunning) => TaskPhase::Running,
            Ok(TaskState::TaskKilling) => TaskPhase::Killing,
            Ok(TaskState::TaskFinished) => TaskPhase::Finished,
            Ok(TaskState::TaskFailed) => TaskPhase::Failed,
            Ok(TaskState::TaskKilled) => TaskPhase::Killed,
            Ok(TaskState::TaskError) => TaskPhase::Error,
            Ok(TaskState::TaskLost) => TaskPhase::Lost,
            Ok(TaskState::TaskDropped) => TaskPhase::Dropped,
            Ok(TaskState::TaskUnreachable) => TaskPhase::Unreachable,
            Ok(TaskState::TaskGone) => TaskPhase::Gone,
            Ok(TaskState::TaskGoneByOperator) => TaskPhase::GoneByOperator,
            Ok(TaskState::TaskUnknown) | Err(_) => TaskPhase::Unknown,
        }
    }

    /// The Mesos name, e.g. `TASK_RUNNING`.
    pub fn name(self) -> &'static str {
        match self {
            TaskPhase::Staging => "TASK_STAGING",
            TaskPhase::Starting => "TASK_STARTING",
            TaskPhase::Running => "TASK_RUNNING",
            TaskPhase::Killing => "TASK_KILLING",
            TaskPhase::Finished => "TASK_FINISHED",
            TaskPhase::Failed => "TASK_FAILED",
            TaskPhase::Killed => "TASK_KILLED",
            TaskPhase::Error => "TASK_ERROR",
            TaskPhase::Lost => "TASK_LOST",
            TaskPhase::Dropped => "TASK_DROPPED",
            TaskPhase::Unreachable => "TASK_UNREACHABLE",
            TaskPhase::Gone => "TASK_GONE",
            TaskPhase::GoneByOperator => "TASK_GONE_BY_OPERATOR",
            TaskPhase::Unknown => "TASK_UNKNOWN",
        }
    }

    /// Terminal states never change again; UNREACHABLE and UNKNOWN are not terminal (the task
    /// may come back), so a slot holding one is still occupied.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskPhase::Finished
                | TaskPhase::Failed
                | TaskPhase::Killed
                | TaskPhase::Error
                | TaskPhase::Lost
                | TaskPhase::Dropped
                | TaskPhase::Gone
                | TaskPhase::GoneByOperator
        )
    }

    /// The master cannot tell where the task is (its agent is unreachable, or the master
    /// does not know it): it may still run, so it keeps its slot until the unreachable
    /// timeout, and no KILL is sent to it.
    pub fn is_out_of_reach(self) -> bool {
        matches!(self, TaskPhase::Unreachable | TaskPhase::Unknown)
    }

    /// Launched but not yet running.
    pub fn is_starting(self) -> bool {
        matches!(self, TaskPhase::Staging | TaskPhase::Starting)
    }
}

/// Why the scheduler decided to kill a task; decides whether its end counts as a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KillIntent {
    /// Its slot index is at or above the group's count.
    ScaleDown,
    /// Operator restart: relaunch on the same agent.
    Restart,
    /// Operator replace: relaunch anywhere.
    Replace,
    /// Stuck in STAGING/STARTING past the staging timeout.
    StagingTimeout,
    /// Another task of its pod ended; the pod is relaunched as a whole.
    PodSiblingEnded,
    /// UNREACHABLE (or UNKNOWN) for longer than `--unreachable-timeout`: a replacement took
    /// its slot, so it is killed if its agent ever comes back.
    Unreachable,
    /// The service is being uninstalled: every task is killed and none relaunched.
    Uninstall,
    /// It runs an outdated config version: a rolling update relaunches its slot.
    Upgrade,
}

impl KillIntent {
    /// Whether the end of a task killed for this reason feeds the launch backoff (a pod's
    /// failure is counted once, on the task that ended first, not on its siblings).
    pub fn counts_as_failure(self) -> bool {
        matches!(self, KillIntent::StagingTimeout)
    }
}

/// What makes a task ready during a rolling update, fixed at launch from its version's spec
/// (an update must not judge old pods by checks they were launched without).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadyWhen {
    /// Its readiness check passes.
    Check,
    /// Its health check passes.
    Healthy,
    /// It has been RUNNING for the group's `min_ready_seconds`.
    #[default]
    Running,
}

/// One task the scheduler launched (or is about to: written before the ACCEPT).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// `<group>-<index>-<task>__<uuid>`.
    pub task_id: String,
    /// `<group>-<index>`.
    pub slot: String,
    /// Group name.
    pub group: String,
    /// Pod index in the group.
    pub index: u32,
    /// Task name within the pod.
    pub task_name: String,
    /// Agent it was launched on.
    pub agent_id: String,
    /// That agent's hostname.
    pub hostname: String,
    /// That agent's attributes (text form), for placement rules.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Allocation role.
    pub role: String,
    /// The executor running it.
    pub executor_id: String,
    /// Named ports given to it.
    #[serde(default)]
    pub ports: BTreeMap<String, u16>,
    /// Last known state.
    pub state: TaskPhase,
    /// Last health result, if it has a check.
    #[serde(default)]
    pub healthy: Option<bool>,
    /// Last readiness result, if it has a readiness check.
    #[serde(default)]
    pub ready: Option<bool>,
    /// What makes it ready, as its version's spec said at launch.
    #[serde(default)]
    pub ready_when: ReadyWhen,
    /// Last status message.
    #[serde(default)]
    pub message: Option<String>,
    /// When the launch was decided (ms since the epoch).
    pub launched_at_ms: u64,
    /// When it was first seen RUNNING.
    #[serde(default)]
    pub running_since_ms: Option<u64>,
    /// Set once the scheduler wants it dead.
    #[serde(default)]
    pub kill: Option<KillIntent>,
    /// When a KILL was last sent (re-sent every few seconds until terminal).
    #[serde(default)]
    pub last_kill_sent_ms: Option<u64>,
    /// When it was first reported UNREACHABLE or UNKNOWN (cleared when heard from again).
    #[serde(default)]
    pub unreachable_since_ms: Option<u64>,
    /// The config version it was launched with (records written before versions existed
    /// ran what became version 1).
    #[serde(default = "first_version")]
    pub config: u32,
}

fn first_version() -> u32 {
    1
}

impl TaskRecord {
    /// Whether it occupies its slot: not terminal, and not given up after staying
    /// unreachable. At most one pod's tasks hold a slot at any time; that is the invariant
    /// that keeps a slot from ever running two live pods.
    pub fn holds_slot(&self) -> bool {
        !self.state.is_terminal() && self.kill != Some(KillIntent::Unreachable)
    }
}

/// Per-slot memory that outlives its tasks: the launch backoff and operator pins.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SlotRecord {
    /// Failures in a row (reset once a task stayed RUNNING long enough).
    pub failures: u32,
    /// No launch before this time (ms since the epoch).
    pub next_launch_at_ms: u64,
    /// `restart`: the next launch must use this agent.
    #[serde(default)]
    pub pinned_agent: Option<String>,
    /// How the last task of the slot ended.
    #[serde(default)]
    pub last_state: Option<TaskPhase>,
    /// Its message.
    #[serde(default)]
    pub last_message: Option<String>,
    /// Whether that end was a failure (for `failed` in `/v1/state`).
    #[serde(default)]
    pub last_failed: bool,
}

/// A rolling update from one config version to another: what `pause`, `continue` and
/// `abort` steer. Which pods remain is not stored: it follows from the tasks' versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    /// The target before (what `abort` returns to).
    pub from: Option<u32>,
    /// The target it rolls out.
    pub to: u32,
    /// When it started (ms since the epoch).
    pub started_ms: u64,
    /// The groups whose pods change.
    #[serde(default)]
    pub groups: BTreeSet<String>,
    /// No new step starts; started ones finish.
    #[serde(default)]
    pub paused: bool,
    /// An `abort` turned it into a rollback to `from` (no canary steps).
    #[serde(default)]
    pub rollback: bool,
    /// Per group, the canary steps let go by `continue`.
    #[serde(default)]
    pub continued: BTreeMap<String, u32>,
    /// When every group was done.
    #[serde(default)]
    pub completed_ms: Option<u64>,
}

impl Deployment {
    /// A deployment of `to`, replacing `from`, starting at `started_ms`.
    pub fn new(from: Option<u32>, to: u32, started_ms: u64) -> Deployment {
        Deployment {
            from,
            to,
            started_ms,
            groups: BTreeSet::new(),
            paused: false,
            rollback: false,
            continued: BTreeMap::new(),
            completed_ms: None,
        }
    }

    /// Whether it still changes the pods of `group`.
    pub fn is_active_for(&self, group: &str) -> bool {
        self.completed_ms.is_none() && self.groups.contains(group)
    }
}

/// Everything the scheduler persists.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredState {
    /// The id the master gave on the first SUBSCRIBED; re-used on every re-subscription.
    pub framework_id: Option<String>,
    /// The start-up spec of schedulers from before config versions; read once to make
    /// version 1, never written.
    #[serde(default)]
    pub spec: Option<ServiceSpec>,
    /// Config versions by id: the last few, and any a live pod runs.
    #[serde(default)]
    pub configs: BTreeMap<u32, ConfigVersion>,
    /// The version pods should run.
    #[serde(default)]
    pub target: Option<u32>,
    /// Hash of the start-up config (the scheduler's own spec and flags) last seen: a start
    /// with the same one keeps the target an update set.
    #[serde(default)]
    pub startup: Option<String>,
    /// The last rolling update (kept once complete, for display).
    #[serde(default)]
    pub deployment: Option<Deployment>,
    /// Desired pod count per group (the operator API and autoscaling change it).
    pub desired: BTreeMap<String, u32>,
    /// Autoscaled groups whose count an operator set: autoscaling leaves them alone until
    /// resumed.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub autoscale_pinned: BTreeSet<String>,
    /// Tasks by task id (terminal tasks are removed once handled).
    pub tasks: BTreeMap<String, TaskRecord>,
    /// Slot memory by slot name.
    pub slots: BTreeMap<String, SlotRecord>,
    /// Set once an uninstall started; it is never cleared (the uninstall ends by deleting
    /// everything stored), so a restart finishes it.
    #[serde(default)]
    pub uninstall: Option<UninstallRecord>,
}

/// How far an uninstall got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UninstallStage {
    /// Killing every task and waiting for each to end.
    KillingTasks,
    /// No task is left: TEARDOWN is being sent, then the state is deleted.
    TearingDown,
    /// Torn down; the state is being deleted (what a read sees until the scheduler serves
    /// only the finished plan).
    Done,
}

/// The persisted progress of an uninstall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UninstallRecord {
    /// When it was asked for (ms since the epoch).
    pub started_at_ms: u64,
    /// Where it is.
    pub stage: UninstallStage,
    /// When TEARDOWN was last sent (re-sent until it is known to have happened).
    #[serde(default)]
    pub teardown_sent_ms: Option<u64>,
}

/// One edit of [`StoredState`].
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Remember the framework id.
    FrameworkId(String),
    /// Store a config version.
    PutConfig(Box<ConfigVersion>),
    /// Forget a config version.
    RemoveConfig(u32),
    /// Make a version the target.
    Target(u32),
    /// Remember the start-up config's hash.
    Startup(String),
    /// Record the rolling update.
    Deployment(Box<Deployment>),
    /// Set a group's desired count.
    Desired(String, u32),
    /// Pin (`true`) or release a group's count from autoscaling.
    AutoscalePin(String, bool),
    /// Insert or replace a task record.
    PutTask(Box<TaskRecord>),
    /// Forget a task.
    RemoveTask(String),
    /// Insert or replace a slot record.
    PutSlot(String, SlotRecord),
    /// Forget a slot.
    RemoveSlot(String),
    /// Record the uninstall's progress.
    Uninstall(UninstallRecord),
}

impl StoredState {
    /// Applies one change in memory.
    pub fn apply(&mut self, change: &Change) {
        match change {
            Change::FrameworkId(id) => self.framework_id = Some(id.clone()),
            Change::PutConfig(version) => {
                self.configs.insert(version.id, (**version).clone());
            }
            Change::RemoveConfig(id) => {
                self.configs.remove(id);
            }
            Change::Target(id) => self.target = Some(*id),
            Change::Startup(hash) => self.startup = Some(hash.clone()),
            Change::Deployment(d) => self.deployment = Some((**d).clone()),
            Change::AutoscalePin(group, true) => {
                self.autoscale_pinned.insert(group.clone());
            }
            Change::AutoscalePin(group, false) => {
                self.autoscale_pinned.remove(group);
            }
            Change::Desired(group, count) => {
                self.desired.insert(group.clone(), *count);
            }
            Change::PutTask(task) => {
                self.tasks.insert(task.task_id.clone(), (**task).clone());
            }
            Change::RemoveTask(id) => {
                self.tasks.remove(id);
            }
            Change::PutSlot(name, slot) => {
                self.slots.insert(name.clone(), slot.clone());
            }
            Change::RemoveSlot(name) => {
                self.slots.remove(name);
            }
            Change::Uninstall(record) => self.uninstall = Some(*record),
        }
    }
}
