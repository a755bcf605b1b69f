//! Status updates on their way to the scheduler: queued per task, sent one at a time, retried
//! with backoff until acknowledged.

use std::time::Instant;

use mesos_proto::v1::{task_status, AgentId, ExecutorId, TaskId, TaskState, TaskStatus};

use super::{now_seconds, update_event, Core, MAX_UPDATE_RETRY};

impl Core {
    /// Forwards the front update of a task if the framework and agent can take it.
    pub(super) fn forward_front_update(
        &mut self,
        agent_id: &str,
        key: &(String, String),
        now: Instant,
    ) {
        let connected = self
            .frameworks
            .get(&key.0)
            .is_some_and(|f| f.stream_id.is_some());
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        if !agent.reachable {
            return;
        }
        let Some(task) = agent.tasks.get_mut(key) else {
            return;
        };
        let Some(status) = task.updates.front().cloned() else {
            task.next_retry = None;
            return;
        };
        task.next_retry = Some(now + task.retry_backoff);
        if connected {
            self.send_to_framework(&key.0, update_event(status));
        }
    }

    pub(super) fn retry_updates(&mut self, now: Instant) {
        let mut due = Vec::new();
        for (agent_id, agent) in self.agents.iter_mut() {
            for (key, task) in agent.tasks.iter_mut() {
                if task.next_retry.is_some_and(|t| t <= now) {
                    task.retry_backoff = (task.retry_backoff * 2).min(MAX_UPDATE_RETRY);
                    due.push((agent_id.clone(), key.clone()));
                }
            }
        }
        for (agent_id, key) in due {
            self.forward_front_update(&agent_id, &key, now);
        }
    }

    /// Agent-generated status of a task (executor gone, killed before launch): needs an ack.
    pub(super) fn agent_status_update(
        &mut self,
        agent_id: &str,
        key: &(String, String),
        state: TaskState,
        reason: Option<task_status::Reason>,
        message: &str,
        now: Instant,
    ) {
        let uuid = (self.new_uuid)();
        let Some(task) = self
            .agents
            .get_mut(agent_id)
            .and_then(|a| a.tasks.get_mut(key))
        else {
            return;
        };
        let status = TaskStatus {
            task_id: TaskId {
                value: key.1.clone(),
            },
            state: state as i32,
            message: Some(message.to_string()),
            source: Some(task_status::Source::Agent as i32),
            reason: reason.map(|r| r as i32),
            agent_id: Some(AgentId {
                value: agent_id.to_string(),
            }),
            executor_id: Some(ExecutorId {
                value: task.executor_id.clone(),
            }),
            timestamp: Some(now_seconds()),
            uuid: Some(uuid.as_bytes().to_vec()),
            ..Default::default()
        };
        self.enqueue_update(agent_id, key, status, now);
    }

    /// Puts an update (with uuid) in the task's queue; sends it at once if nothing is in flight.
    pub(super) fn enqueue_update(
        &mut self,
        agent_id: &str,
        key: &(String, String),
        status: TaskStatus,
        now: Instant,
    ) {
        let retry = self.cfg.status_update_retry;
        let Some(task) = self
            .agents
            .get_mut(agent_id)
            .and_then(|a| a.tasks.get_mut(key))
        else {
            return;
        };
        task.state = status.state();
        let was_idle = task.updates.is_empty();
        task.updates.push_back(status);
        if was_idle {
            task.retry_backoff = retry;
            self.forward_front_update(agent_id, key, now);
        }
    }
}
