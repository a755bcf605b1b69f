//! What goes into the supervisor and what comes out of it.

use std::time::Duration;

use mesos_proto::v1::{
    task_status::Reason, CheckInfo, CheckStatusInfo, HealthCheck, TaskInfo, TaskState,
};

/// How a task's main process ended, as reaped by the process adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// It called `exit(code)`.
    Code(i32),
    /// A signal ended it.
    Signal(i32),
}

/// Something that happened to a task, fed to [`super::Supervisor::handle`].
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The agent asked for one task (LAUNCH) or a task group (LAUNCH_GROUP, `group = true`).
    Launch {
        /// The tasks, in launch order.
        tasks: Vec<TaskInfo>,
        /// Whether they form one all-or-nothing group.
        group: bool,
    },
    /// The adapter started the task's process (answer to [`Action::Spawn`]).
    Spawned {
        /// Which task.
        task_id: String,
    },
    /// The adapter could not start the task's process (answer to [`Action::Spawn`]).
    SpawnFailed {
        /// Which task.
        task_id: String,
        /// Why, for the FAILED update's message.
        error: String,
    },
    /// The task's main process was reaped.
    ChildExited {
        /// Which task.
        task_id: String,
        /// How it ended.
        status: ExitStatus,
    },
    /// The agent forwarded a KILL; `grace` is the KILL's kill policy, if it had one.
    Kill {
        /// Which task.
        task_id: String,
        /// Overrides the task's own `kill_policy`.
        grace: Option<Duration>,
    },
    /// A grace timer started by [`Action::StartGraceTimer`] ran out.
    GraceExpired {
        /// Which task.
        task_id: String,
    },
    /// A health check verdict (see `crate::health::HealthTracker`).
    Health {
        /// Which task.
        task_id: String,
        /// The new health when it changed, `None` when it did not.
        changed: Option<bool>,
        /// The task failed `consecutive_failures` checks in a row and must be killed.
        kill: bool,
    },
    /// The result of one run of the task's check (see `crate::health::spawn_check`), changed
    /// or not.
    Check {
        /// Which task.
        task_id: String,
        /// The result.
        status: CheckStatusInfo,
    },
    /// SUBSCRIBED told us whether the framework understands TASK_KILLING.
    Capabilities {
        /// The framework has `TASK_KILLING_STATE`.
        task_killing_state: bool,
    },
    /// A timer started by [`Action::StartIdleTimer`] ran out.
    IdleExpired {
        /// The timer's generation: only the latest counts.
        generation: u64,
    },
    /// SHUTDOWN from the agent, or the agent is gone for good: kill everything, then exit.
    Shutdown {
        /// The executor's whole shutdown grace period.
        grace: Duration,
    },
}

/// Which signal to send to a task's process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Ask politely (SIGTERM).
    Terminate,
    /// Insist (SIGKILL).
    Kill,
}

/// A status update to send; the client adds the uuid, ids, source and timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    /// Which task.
    pub task_id: String,
    /// The state reported.
    pub state: TaskState,
    /// Human-readable detail (exit status, kill cause).
    pub message: Option<String>,
    /// Machine-readable detail.
    pub reason: Option<Reason>,
    /// The last known health, once a health check has run.
    pub healthy: Option<bool>,
    /// The last check result, for a task with a check.
    pub check_status: Option<CheckStatusInfo>,
}

/// What the supervisor wants done, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Start the task's process; answer with [`Event::Spawned`] or [`Event::SpawnFailed`].
    Spawn(Box<TaskInfo>),
    /// Signal the task's process group.
    Signal {
        /// Which task.
        task_id: String,
        /// Which signal.
        signal: Signal,
    },
    /// Feed [`Event::GraceExpired`] back after `after`.
    StartGraceTimer {
        /// Which task.
        task_id: String,
        /// How long to wait.
        after: Duration,
    },
    /// Send a status update.
    Update(StatusUpdate),
    /// Start checking the task's health.
    StartHealthCheck {
        /// Which task.
        task_id: String,
        /// The task's check.
        check: Box<HealthCheck>,
    },
    /// Stop checking the task's health.
    StopHealthCheck {
        /// Which task.
        task_id: String,
    },
    /// Start running the task's check.
    StartCheck {
        /// Which task.
        task_id: String,
        /// The task's check.
        check: Box<CheckInfo>,
    },
    /// Stop running the task's check.
    StopCheck {
        /// Which task.
        task_id: String,
    },
    /// Feed [`Event::IdleExpired`] back after `after`.
    StartIdleTimer {
        /// Which timer.
        generation: u64,
        /// How long to wait.
        after: Duration,
    },
    /// Every task is done after a shutdown, or none came while idle: flush the updates and
    /// exit.
    Exit,
}
