//! An emulated cartrack executor: subscribes to its agent, reports TASK_STARTING then
//! TASK_RUNNING for what it is given, obeys KILL and SHUTDOWN, keeps every update until the
//! agent acknowledges it and every task until one of its updates is acknowledged, and sends
//! both again inside its next SUBSCRIBE, as cartrack's executor does.
//! Its timers and messages go through the world's queue; this module holds its state and
//! builds its calls.

use std::collections::BTreeMap;

use mesos_proto::v1::executor::{call, Call};
use mesos_proto::v1::{
    task_status, ExecutorId, FrameworkId, TaskId, TaskInfo, TaskState, TaskStatus,
};

use crate::queue::Fifo;

/// (agent id, framework id, executor id): how the dev cluster names an executor.
pub(crate) type ExecKey = (String, String, String);

/// A timer of an executor.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Timer {
    /// The task finished starting: RUNNING (or FAILED when `fail`).
    Run { task_id: String, fail: bool },
    /// The task's kill completed: KILLED.
    Killed(String),
    /// SHUTDOWN done: exit 0.
    Exit,
}

/// One executor process.
pub(crate) struct Process {
    /// The run the dev cluster launched (stale timers and messages name an older one).
    pub(crate) container_id: String,
    /// The process is running (spawned).
    pub(crate) started: bool,
    /// SIGKILL is due: kill it as soon as it is spawned.
    pub(crate) kill_requested: bool,
    /// The current connection to the agent, if subscribed.
    pub(crate) connection: Option<u64>,
    /// Task states as the executor knows them.
    pub(crate) tasks: BTreeMap<String, TaskState>,
    /// Updates sent and not yet acknowledged, oldest first.
    pub(crate) unacked: Vec<TaskStatus>,
    /// Tasks launched that the agent has acknowledged no update of, in launch order.
    pub(crate) unacked_tasks: Vec<TaskInfo>,
    /// Agent -> executor events, in order.
    pub(crate) inbound: Fifo,
    /// Executor -> agent calls, in order.
    pub(crate) outbound: Fifo,
}

impl Process {
    pub(crate) fn new(container_id: String) -> Process {
        Process {
            container_id,
            started: false,
            kill_requested: false,
            connection: None,
            tasks: BTreeMap::new(),
            unacked: Vec::new(),
            unacked_tasks: Vec::new(),
            inbound: Fifo::default(),
            outbound: Fifo::default(),
        }
    }

    /// Takes a task from LAUNCH or LAUNCH_GROUP: it stays listed until the agent knows it.
    pub(crate) fn launched(&mut self, task: TaskInfo) {
        self.unacked_tasks.push(task);
    }

    /// Records a new state of `task_id` and returns the UPDATE to send (kept until ACKNOWLEDGED).
    pub(crate) fn update(
        &mut self,
        key: &ExecKey,
        task_id: &str,
        state: TaskState,
        uuid: [u8; 16],
    ) -> Call {
        self.tasks.insert(task_id.to_string(), state);
        let status = TaskStatus {
            task_id: TaskId {
                value: task_id.to_string(),
            },
            state: state as i32,
            source: Some(task_status::Source::Executor as i32),
            executor_id: Some(ExecutorId {
                value: key.2.clone(),
            }),
            uuid: Some(uuid.to_vec()),
            ..Default::default()
        };
        self.unacked.push(status.clone());
        Call {
            update: Some(call::Update { status }),
            ..base(key, call::Type::Update)
        }
    }

    /// SUBSCRIBE, carrying every task and update not yet acknowledged.
    pub(crate) fn subscribe(&self, key: &ExecKey) -> Call {
        Call {
            subscribe: Some(call::Subscribe {
                unacknowledged_tasks: self.unacked_tasks.clone(),
                unacknowledged_updates: self
                    .unacked
                    .iter()
                    .map(|status| call::Update {
                        status: status.clone(),
                    })
                    .collect(),
            }),
            ..base(key, call::Type::Subscribe)
        }
    }

    /// ACKNOWLEDGED: the agent has the update, and so knows its task.
    pub(crate) fn acknowledged(&mut self, uuid: &[u8]) {
        let Some(at) = self
            .unacked
            .iter()
            .position(|s| s.uuid.as_deref() == Some(uuid))
        else {
            return;
        };
        let status = self.unacked.remove(at);
        self.unacked_tasks
            .retain(|t| t.task_id.value != status.task_id.value);
    }

    /// Tasks not yet ended.
    pub(crate) fn live_tasks(&self) -> Vec<String> {
        self.tasks
            .iter()
            .filter(|(_, s)| !s.is_terminal())
            .map(|(t, _)| t.clone())
            .collect()
    }
}

fn base(key: &ExecKey, kind: call::Type) -> Call {
    Call {
        executor_id: ExecutorId {
            value: key.2.clone(),
        },
        framework_id: FrameworkId {
            value: key.1.clone(),
        },
        r#type: Some(kind as i32),
        ..Default::default()
    }
}
