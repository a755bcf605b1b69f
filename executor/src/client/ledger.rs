//! The executor's memory of what the agent has not confirmed yet.
//!
//! Every UPDATE stays here, keyed by its uuid, until ACKNOWLEDGED; every launched task stays
//! until one of its updates is acknowledged (the agent then knows it). Both go back inside the
//! next SUBSCRIBE so a reconnect loses nothing; acknowledged ones are never re-sent. Pure: the
//! uuid and timestamp of each update are passed in.

use std::collections::BTreeMap;

use mesos_proto::v1::executor::{call, Call};
use mesos_proto::v1::{task_status::Source, ExecutorId, FrameworkId, TaskId, TaskInfo, TaskStatus};

use crate::supervisor::StatusUpdate;

/// Unacknowledged updates and tasks, in the order they happened.
#[derive(Debug, Clone)]
pub struct Ledger {
    framework_id: String,
    executor_id: String,
    next_seq: u64,
    /// seq -> update; seq keeps the send order for SUBSCRIBE.
    updates: BTreeMap<u64, TaskStatus>,
    /// seq -> task not yet known to the agent.
    tasks: BTreeMap<u64, TaskInfo>,
}

impl Ledger {
    /// An empty ledger for the executor `executor_id` of `framework_id`.
    pub fn new(framework_id: &str, executor_id: &str) -> Self {
        Ledger {
            framework_id: framework_id.to_string(),
            executor_id: executor_id.to_string(),
            next_seq: 0,
            updates: BTreeMap::new(),
            tasks: BTreeMap::new(),
        }
    }

    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Remembers a launched task until the agent acknowledges one of its updates.
    pub fn track_task(&mut self, task: TaskInfo) {
        let seq = self.seq();
        self.tasks.insert(seq, task);
    }

    /// Records `update` under `uuid` and returns the UPDATE call carrying it.
    pub fn record(&mut self, update: &StatusUpdate, uuid: [u8; 16], timestamp: f64) -> Call {
        let status = TaskStatus {
            task_id: TaskId {
                value: update.task_id.clone(),
            },
            state: update.state as i32,
            message: update.message.clone(),
            source: Some(Source::Executor as i32),
            reason: update.reason.map(|reason| reason as i32),
            executor_id: Some(ExecutorId {
                value: self.executor_id.clone(),
            }),
            timestamp: Some(timestamp),
            uuid: Some(uuid.to_vec()),
            healthy: update.healthy,
            check_status: update.check_status,
            ..Default::default()
        };
        let seq = self.seq();
        self.updates.insert(seq, status.clone());
        Call {
            r#type: Some(call::Type::Update as i32),
            update: Some(call::Update { status }),
            ..self.call_base()
        }
    }

    /// Forgets the update `uuid` of `task_id` (and the task itself, which the agent now
    /// knows). Returns false for an unknown uuid (a duplicate ACKNOWLEDGED).
    pub fn acknowledge(&mut self, task_id: &str, uuid: &[u8]) -> bool {
        let seq = self.updates.iter().find_map(|(seq, status)| {
            (status.task_id.value == task_id && status.uuid.as_deref() == Some(uuid))
                .then_some(*seq)
        });
        let Some(seq) = seq else {
            return false;
        };
        self.updates.remove(&seq);
        self.tasks.retain(|_, task| task.task_id.value != task_id);
        true
    }

    /// The updates still waiting for ACKNOWLEDGED, oldest first.
    pub fn unacknowledged_updates(&self) -> impl Iterator<Item = &TaskStatus> {
        self.updates.values()
    }

    /// The tasks the agent has not acknowledged any update of, in launch order.
    pub fn unacknowledged_tasks(&self) -> impl Iterator<Item = &TaskInfo> {
        self.tasks.values()
    }

    /// The SUBSCRIBE call for (re)connecting: carries the `subscribe` message even when empty,
    /// which a real agent requires (else 400).
    pub fn subscribe_call(&self) -> Call {
        Call {
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(call::Subscribe {
                unacknowledged_tasks: self.tasks.values().cloned().collect(),
                unacknowledged_updates: self
                    .updates
                    .values()
                    .map(|status| call::Update {
                        status: status.clone(),
                    })
                    .collect(),
            }),
            ..self.call_base()
        }
    }

    fn call_base(&self) -> Call {
        Call {
            executor_id: ExecutorId {
                value: self.executor_id.clone(),
            },
            framework_id: FrameworkId {
                value: self.framework_id.clone(),
            },
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::v1::TaskState;

    fn task(id: &str) -> TaskInfo {
        TaskInfo {
            task_id: TaskId { value: id.into() },
            name: id.into(),
            ..Default::default()
        }
    }

    fn update(id: &str, state: TaskState) -> StatusUpdate {
        StatusUpdate {
            task_id: id.into(),
            state,
            message: None,
            reason: None,
            healthy: None,
            check_status: None,
        }
    }

    #[test]
    fn update_call_carries_ids_uuid_and_source() {
        let mut ledger = Ledger::new("fw", "ex");
        let call = ledger.record(&update("t1", TaskState::TaskRunning), [7; 16], 12.5);
        assert_eq!(call.r#type, Some(call::Type::Update as i32));
        assert_eq!(call.framework_id.value, "fw");
        assert_eq!(call.executor_id.value, "ex");
        let status = call.update.unwrap().status;
        assert_eq!(status.uuid, Some(vec![7; 16]));
        assert_eq!(status.state, TaskState::TaskRunning as i32);
        assert_eq!(status.source, Some(Source::Executor as i32));
        assert_eq!(status.executor_id.unwrap().value, "ex");
        assert_eq!(status.timestamp, Some(12.5));
    }

    #[test]
    fn empty_subscribe_still_carries_the_subscribe_message() {
        let call = Ledger::new("fw", "ex").subscribe_call();
        assert_eq!(call.r#type, Some(call::Type::Subscribe as i32));
        let subscribe = call.subscribe.expect("subscribe message present");
        assert!(subscribe.unacknowledged_tasks.is_empty());
        assert!(subscribe.unacknowledged_updates.is_empty());
    }

    #[test]
    fn unacknowledged_updates_and_tasks_go_back_in_subscribe_in_order() {
        let mut ledger = Ledger::new("fw", "ex");
        ledger.track_task(task("a"));
        ledger.track_task(task("b"));
        ledger.record(&update("a", TaskState::TaskStarting), [1; 16], 1.0);
        ledger.record(&update("b", TaskState::TaskStarting), [2; 16], 1.0);
        ledger.record(&update("a", TaskState::TaskRunning), [3; 16], 2.0);
        let subscribe = ledger.subscribe_call().subscribe.unwrap();
        let uuids: Vec<_> = subscribe
            .unacknowledged_updates
            .iter()
            .map(|u| u.status.uuid.clone().unwrap()[0])
            .collect();
        assert_eq!(uuids, vec![1, 2, 3]);
        let tasks: Vec<_> = subscribe
            .unacknowledged_tasks
            .iter()
            .map(|t| t.task_id.value.as_str())
            .collect();
        assert_eq!(tasks, vec!["a", "b"]);
    }

    #[test]
    fn acknowledged_update_is_never_resent_and_its_task_is_forgotten() {
        let mut ledger = Ledger::new("fw", "ex");
        ledger.track_task(task("a"));
        ledger.track_task(task("b"));
        ledger.record(&update("a", TaskState::TaskStarting), [1; 16], 1.0);
        ledger.record(&update("b", TaskState::TaskStarting), [2; 16], 1.0);
        assert!(ledger.acknowledge("a", &[1; 16]));
        let subscribe = ledger.subscribe_call().subscribe.unwrap();
        assert_eq!(subscribe.unacknowledged_updates.len(), 1);
        assert_eq!(
            subscribe.unacknowledged_updates[0].status.task_id.value,
            "b"
        );
        assert_eq!(subscribe.unacknowledged_tasks.len(), 1);
        assert_eq!(subscribe.unacknowledged_tasks[0].task_id.value, "b");
    }

    #[test]
    fn duplicate_or_mismatched_acknowledgement_changes_nothing() {
        let mut ledger = Ledger::new("fw", "ex");
        ledger.record(&update("a", TaskState::TaskRunning), [1; 16], 1.0);
        assert!(!ledger.acknowledge("b", &[1; 16]), "wrong task");
        assert!(!ledger.acknowledge("a", &[9; 16]), "unknown uuid");
        assert!(ledger.acknowledge("a", &[1; 16]));
        assert!(!ledger.acknowledge("a", &[1; 16]), "duplicate");
        assert_eq!(ledger.unacknowledged_updates().count(), 0);
    }
}
