//! Supervision of the executor's tasks as a pure state machine.
//!
//! Each task moves through [`Phase`]: `Starting` (spawn asked) -> `Running` (process up) ->
//! `Killing` (SIGTERM sent, grace timer running) -> `Exited` (reaped, terminal update sent).
//! [`Supervisor::handle`] takes one [`Event`] and returns the [`Action`]s to carry out, in
//! order. It does no I/O, reads no clock and spawns nothing: the driver feeds it child exits,
//! kills, grace timers and health verdicts, and hands spawning and signals to
//! `crate::process`.
//!
//! Rules it enforces:
//! - Exit code 0 is TASK_FINISHED; another code or a signal is TASK_FAILED with the status in
//!   the message; any exit after a kill started is TASK_KILLED.
//! - KILL sends TASK_KILLING first (only when the framework has `TASK_KILLING_STATE`), then
//!   SIGTERM to the process group, then SIGKILL when the grace period (the KILL's kill policy,
//!   else the task's, else 3 s) runs out.
//! - A task group is all-or-nothing: a member that fails, fails to start or is killed takes
//!   the others down (a member that finishes with 0 does not).
//! - SHUTDOWN kills every task with at most three quarters of the executor's shutdown grace
//!   period, then asks to exit once all are reaped.
//! - A task with a check (`TaskInfo.check`) is checked from RUNNING until a kill starts or it
//!   exits. RUNNING carries the check's empty status; each result that differs from the last
//!   one reported (and the first result) is reported as TASK_RUNNING with
//!   REASON_TASK_CHECK_STATUS_UPDATED; every later update of the task carries the last
//!   result. A check never kills.
//! - A task is forgotten once it and every member of its group have exited.
//! - An executor left without tasks asks to exit after [`IDLE_EXIT`], unless a launch came
//!   meanwhile: executors are per config, so one whose pods were all replaced by a rolling
//!   update goes away instead of holding its resources.

mod event;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use mesos_proto::v1::{task_status::Reason, CheckStatusInfo, TaskInfo, TaskState};

use crate::health::{self, Reading};

pub use event::{Action, Event, ExitStatus, Signal, StatusUpdate};

/// How long an executor without tasks waits for another launch before it exits.
pub const IDLE_EXIT: Duration = Duration::from_secs(5);

/// Mesos' default kill grace period when neither KILL nor the task carries a kill policy.
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(3);

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The process is being spawned.
    Starting,
    /// The process runs.
    Running,
    /// SIGTERM was sent (`escalated`: SIGKILL too); waiting for the exit.
    Killing {
        /// Whether SIGKILL was sent already.
        escalated: bool,
    },
    /// Reaped and reported; nothing more happens to it.
    Exited,
}

/// Why a kill started; becomes the TASK_KILLED message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KillCause {
    Requested,
    GroupMember(String),
    HealthCheck,
    Shutdown,
}

impl KillCause {
    fn message(&self) -> String {
        match self {
            KillCause::Requested => "Killed by a KILL request".to_string(),
            KillCause::GroupMember(task) => {
                format!("Killed because task {task} of its task group ended")
            }
            KillCause::HealthCheck => "Killed after failing its health check".to_string(),
            KillCause::Shutdown => "Killed because the executor shuts down".to_string(),
        }
    }
}

#[derive(Debug)]
struct Task {
    info: TaskInfo,
    group: Option<u64>,
    phase: Phase,
    cause: Option<KillCause>,
    healthy: Option<bool>,
    health_checked: bool,
    /// The last check result reported (the empty status until the first result).
    check_status: Option<CheckStatusInfo>,
    /// A check result was reported since RUNNING.
    check_reported: bool,
    /// The check runs.
    checking: bool,
}

/// The tasks of one executor and the rules that move them; see the module docs.
#[derive(Debug, Default)]
pub struct Supervisor {
    tasks: BTreeMap<String, Task>,
    groups: HashMap<u64, Vec<String>>,
    next_group: u64,
    task_killing_state: bool,
    shutdown_grace: Option<Duration>,
    exit_requested: bool,
    /// Bumped by every launch and every idle timer: a timer of an earlier generation is
    /// stale.
    idle_generation: u64,
    /// An idle timer runs.
    idle_timer: bool,
}

impl Supervisor {
    /// An executor with no tasks yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The phase of a task; `None` if it was never launched here, or if it and its whole
    /// group have exited and been forgotten.
    pub fn phase(&self, task_id: &str) -> Option<Phase> {
        self.tasks.get(task_id).map(|task| task.phase)
    }

    /// How many tasks have not exited yet.
    pub fn live_tasks(&self) -> usize {
        self.tasks
            .values()
            .filter(|task| task.phase != Phase::Exited)
            .count()
    }

    /// Whether a shutdown started; launches are refused from then on.
    pub fn shutting_down(&self) -> bool {
        self.shutdown_grace.is_some()
    }

    /// Applies one event and returns what to do about it, in order.
    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        let mut actions = Vec::new();
        match event {
            Event::Launch { tasks, group } => self.launch(tasks, group, &mut actions),
            Event::Spawned { task_id } => self.spawned(&task_id, &mut actions),
            Event::SpawnFailed { task_id, error } => {
                if self.phase(&task_id) == Some(Phase::Starting) {
                    let message = format!("Failed to start the command: {error}");
                    self.finish(
                        &task_id,
                        TaskState::TaskFailed,
                        message,
                        Some(Reason::ContainerLaunchFailed),
                        &mut actions,
                    );
                }
            }
            Event::ChildExited { task_id, status } => self.exited(&task_id, status, &mut actions),
            Event::Kill { task_id, grace } => {
                let members = self.group_of(&task_id);
                for member in members {
                    let cause = if member == task_id {
                        KillCause::Requested
                    } else {
                        KillCause::GroupMember(task_id.clone())
                    };
                    self.kill(&member, grace, cause, &mut actions);
                }
            }
            Event::GraceExpired { task_id } => {
                if let Some(task) = self.tasks.get_mut(&task_id) {
                    if task.phase == (Phase::Killing { escalated: false }) {
                        task.phase = Phase::Killing { escalated: true };
                        actions.push(Action::Signal {
                            task_id,
                            signal: Signal::Kill,
                        });
                    }
                }
            }
            Event::Health {
                task_id,
                changed,
                kill,
            } => self.health(&task_id, changed, kill, &mut actions),
            Event::Check { task_id, status } => self.check(&task_id, status, &mut actions),
            Event::Capabilities { task_killing_state } => {
                self.task_killing_state = task_killing_state;
            }
            Event::IdleExpired { generation } => {
                if generation == self.idle_generation && self.live_tasks() == 0 {
                    self.exit_requested = true;
                    actions.push(Action::Exit);
                }
            }
            Event::Shutdown { grace } => {
                self.shutdown_grace = Some(grace);
                let live: Vec<String> = self.live_ids();
                for task_id in live {
                    self.kill(&task_id, None, KillCause::Shutdown, &mut actions);
                }
            }
        }
        if self.shutting_down() && !self.exit_requested && self.live_tasks() == 0 {
            self.exit_requested = true;
            actions.push(Action::Exit);
        }
        if self.live_tasks() > 0 {
            self.idle_timer = false;
        } else if !self.exit_requested && !self.idle_timer && self.idle_generation > 0 {
            self.idle_timer = true;
            actions.push(Action::StartIdleTimer {
                generation: self.idle_generation,
                after: IDLE_EXIT,
            });
        }
        actions
    }

    fn live_ids(&self) -> Vec<String> {
        self.tasks
            .iter()
            .filter(|(_, task)| task.phase != Phase::Exited)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The task and its group siblings (just the task when it has no group).
    fn group_of(&self, task_id: &str) -> Vec<String> {
        match self.tasks.get(task_id).and_then(|task| task.group) {
            Some(group) => self.groups.get(&group).cloned().unwrap_or_default(),
            None => vec![task_id.to_string()],
        }
    }

    fn launch(&mut self, tasks: Vec<TaskInfo>, group: bool, actions: &mut Vec<Action>) {
        self.idle_generation += 1;
        self.idle_timer = false;
        let problem = if self.shutting_down() {
            Some("the executor is shutting down".to_string())
        } else {
            let mut seen = std::collections::HashSet::new();
            tasks.iter().find_map(|task| {
                let id = task_id_of(task);
                if self.tasks.contains_key(&id) || !seen.insert(id.clone()) {
                    Some(format!("task id {id} is already in use"))
                } else if task.command.is_none() {
                    Some(format!(
                        "task {id} has no command; this executor runs commands only"
                    ))
                } else {
                    None
                }
            })
        };
        if let Some(problem) = problem {
            let reason = if group {
                Reason::TaskGroupInvalid
            } else {
                Reason::TaskInvalid
            };
            for task in &tasks {
                let task_id = task_id_of(task);
                if self.tasks.contains_key(&task_id) {
                    continue; // the running task of that id must not be reported on
                }
                actions.push(Action::Update(StatusUpdate {
                    task_id,
                    state: TaskState::TaskFailed,
                    message: Some(format!("Refused to launch: {problem}")),
                    reason: Some(reason),
                    healthy: None,
                    check_status: None,
                }));
            }
            return;
        }

        let group_id = group.then(|| {
            self.next_group += 1;
            self.groups
                .insert(self.next_group, tasks.iter().map(task_id_of).collect());
            self.next_group
        });
        for info in tasks {
            let task_id = task_id_of(&info);
            actions.push(Action::Update(StatusUpdate {
                task_id: task_id.clone(),
                state: TaskState::TaskStarting,
                message: None,
                reason: None,
                healthy: None,
                check_status: None,
            }));
            actions.push(Action::Spawn(Box::new(info.clone())));
            self.tasks.insert(
                task_id,
                Task {
                    info,
                    group: group_id,
                    phase: Phase::Starting,
                    cause: None,
                    healthy: None,
                    health_checked: false,
                    check_status: None,
                    check_reported: false,
                    checking: false,
                },
            );
        }
    }

    fn spawned(&mut self, task_id: &str, actions: &mut Vec<Action>) {
        let Some(task) = self.tasks.get_mut(task_id) else {
            return;
        };
        if task.phase != Phase::Starting {
            return;
        }
        task.phase = Phase::Running;
        task.check_status = task
            .info
            .check
            .as_ref()
            .map(|check| health::check_status(check.r#type(), Reading::Nothing));
        actions.push(Action::Update(StatusUpdate {
            task_id: task_id.to_string(),
            state: TaskState::TaskRunning,
            message: None,
            reason: None,
            healthy: None,
            check_status: task.check_status,
        }));
        if let Some(check) = task.info.health_check.clone() {
            task.health_checked = true;
            actions.push(Action::StartHealthCheck {
                task_id: task_id.to_string(),
                check: Box::new(check),
            });
        }
        if let Some(check) = task.info.check.clone() {
            task.checking = true;
            actions.push(Action::StartCheck {
                task_id: task_id.to_string(),
                check: Box::new(check),
            });
        }
    }

    fn exited(&mut self, task_id: &str, status: ExitStatus, actions: &mut Vec<Action>) {
        let Some(task) = self.tasks.get(task_id) else {
            return;
        };
        let (state, message) = match (&task.cause, status) {
            (Some(cause), _) => (TaskState::TaskKilled, cause.message()),
            (None, ExitStatus::Code(0)) => (
                TaskState::TaskFinished,
                "Command exited with status 0".into(),
            ),
            (None, ExitStatus::Code(code)) => (
                TaskState::TaskFailed,
                format!("Command exited with status {code}"),
            ),
            (None, ExitStatus::Signal(signal)) => (
                TaskState::TaskFailed,
                format!("Command terminated by signal {signal}"),
            ),
        };
        let reason = (state == TaskState::TaskFailed).then_some(Reason::CommandExecutorFailed);
        self.finish(task_id, state, message, reason, actions);
    }

    /// Marks a task exited, reports it, and takes its group down unless it finished cleanly.
    fn finish(
        &mut self,
        task_id: &str,
        state: TaskState,
        message: String,
        reason: Option<Reason>,
        actions: &mut Vec<Action>,
    ) {
        let Some(task) = self.tasks.get_mut(task_id) else {
            return;
        };
        if task.phase == Phase::Exited {
            return;
        }
        task.phase = Phase::Exited;
        if task.health_checked {
            actions.push(Action::StopHealthCheck {
                task_id: task_id.to_string(),
            });
        }
        stop_check(task_id, task, actions);
        actions.push(Action::Update(StatusUpdate {
            task_id: task_id.to_string(),
            state,
            message: Some(message),
            reason,
            healthy: task.healthy,
            check_status: task.check_status,
        }));
        let members = self.group_of(task_id);
        if state != TaskState::TaskFinished {
            for sibling in &members {
                if sibling != task_id {
                    let cause = KillCause::GroupMember(task_id.to_string());
                    self.kill(sibling, None, cause, actions);
                }
            }
        }
        self.forget_if_done(&members);
    }

    /// Drops a task (or its whole group) once every member has exited, so a long-lived
    /// executor does not accumulate finished tasks; later events about them are ignored.
    fn forget_if_done(&mut self, members: &[String]) {
        let done = members.iter().all(|id| {
            self.tasks
                .get(id)
                .is_none_or(|task| task.phase == Phase::Exited)
        });
        if !done {
            return;
        }
        for id in members {
            if let Some(task) = self.tasks.remove(id) {
                if let Some(group) = task.group {
                    self.groups.remove(&group);
                }
            }
        }
    }

    fn kill(
        &mut self,
        task_id: &str,
        grace: Option<Duration>,
        cause: KillCause,
        actions: &mut Vec<Action>,
    ) {
        let task_killing_state = self.task_killing_state;
        let shutdown_cap = self.shutdown_grace.map(|grace| grace * 3 / 4);
        let Some(task) = self.tasks.get_mut(task_id) else {
            return;
        };
        match task.phase {
            Phase::Exited | Phase::Killing { .. } => return,
            Phase::Starting => {
                // The adapter answers a Spawn at once, so this is a spawn that failed to be
                // answered; report it killed without a process to signal.
                task.cause = Some(cause.clone());
                self.finish(
                    task_id,
                    TaskState::TaskKilled,
                    cause.message(),
                    Some(Reason::TaskKilledDuringLaunch),
                    actions,
                );
                return;
            }
            Phase::Running => {}
        }
        let policy_grace = task
            .info
            .kill_policy
            .as_ref()
            .and_then(|policy| policy.grace_period.as_ref())
            .map(|d| Duration::from_nanos(u64::try_from(d.nanoseconds).unwrap_or(0)));
        let mut grace = grace.or(policy_grace).unwrap_or(DEFAULT_KILL_GRACE);
        if let Some(cap) = shutdown_cap {
            grace = grace.min(cap);
        }
        task.phase = Phase::Killing { escalated: false };
        task.cause = Some(cause);
        stop_check(task_id, task, actions);
        if task_killing_state {
            actions.push(Action::Update(StatusUpdate {
                task_id: task_id.to_string(),
                state: TaskState::TaskKilling,
                message: None,
                reason: None,
                healthy: task.healthy,
                check_status: task.check_status,
            }));
        }
        if grace.is_zero() {
            task.phase = Phase::Killing { escalated: true };
            actions.push(Action::Signal {
                task_id: task_id.to_string(),
                signal: Signal::Kill,
            });
        } else {
            actions.push(Action::Signal {
                task_id: task_id.to_string(),
                signal: Signal::Terminate,
            });
            actions.push(Action::StartGraceTimer {
                task_id: task_id.to_string(),
                after: grace,
            });
        }
    }

    fn health(
        &mut self,
        task_id: &str,
        changed: Option<bool>,
        kill: bool,
        actions: &mut Vec<Action>,
    ) {
        let Some(task) = self.tasks.get_mut(task_id) else {
            return;
        };
        if task.phase != Phase::Running {
            return;
        }
        if let Some(healthy) = changed {
            task.healthy = Some(healthy);
            actions.push(Action::Update(StatusUpdate {
                task_id: task_id.to_string(),
                state: TaskState::TaskRunning,
                message: None,
                reason: Some(Reason::TaskHealthCheckStatusUpdated),
                healthy: Some(healthy),
                check_status: task.check_status,
            }));
        }
        if kill {
            for member in self.group_of(task_id) {
                let cause = if member == task_id {
                    KillCause::HealthCheck
                } else {
                    KillCause::GroupMember(task_id.to_string())
                };
                self.kill(&member, None, cause, actions);
            }
        }
    }

    fn check(&mut self, task_id: &str, status: CheckStatusInfo, actions: &mut Vec<Action>) {
        let Some(task) = self.tasks.get_mut(task_id) else {
            return;
        };
        if task.phase != Phase::Running || !task.checking {
            return;
        }
        if task.check_reported && task.check_status.as_ref() == Some(&status) {
            return;
        }
        task.check_reported = true;
        task.check_status = Some(status);
        actions.push(Action::Update(StatusUpdate {
            task_id: task_id.to_string(),
            state: TaskState::TaskRunning,
            message: None,
            reason: Some(Reason::TaskCheckStatusUpdated),
            healthy: task.healthy,
            check_status: task.check_status,
        }));
    }
}

/// Stops the task's check if it runs: a task being killed or gone is not checked.
fn stop_check(task_id: &str, task: &mut Task, actions: &mut Vec<Action>) {
    if std::mem::take(&mut task.checking) {
        actions.push(Action::StopCheck {
            task_id: task_id.to_string(),
        });
    }
}

/// The task id's value (an empty string when the agent sent none).
pub fn task_id_of(task: &TaskInfo) -> String {
    task.task_id.value.clone()
}

#[cfg(test)]
mod tests;
