//! Agent faults: kill, restart, partition, heal, and the unreachable timeout that follows.

use std::time::{Duration, Instant};

use mesos_proto::v1::{task_status, TaskState};

use super::{master_status, update_event, Core, Effect};

impl Core {
    /// The agent process dies with its executors; the master notices the agent is gone.
    /// Returns false for an unknown agent.
    pub fn kill_agent(&mut self, agent_id: &str, now: Instant) -> bool {
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return false;
        };
        agent.up = false;
        if agent.reachable {
            agent.reachable = false;
            agent.unreachable_since = Some(now);
        }
        let execs: Vec<(String, String, bool)> = agent
            .executors
            .iter()
            .map(|(k, e)| (k.0.clone(), k.1.clone(), e.connected))
            .collect();
        agent.executors.clear();
        self.lose_non_checkpointing_tasks(agent_id);
        for (fid, eid, connected) in execs {
            if connected {
                self.effects.push(Effect::CloseExecutor {
                    agent_id: agent_id.to_string(),
                    framework_id: fid.clone(),
                    executor_id: eid.clone(),
                });
            }
            self.effects.push(Effect::KillExecutor {
                agent_id: agent_id.to_string(),
                framework_id: fid,
                executor_id: eid,
                grace: Duration::ZERO,
            });
        }
        self.rescind_agent_offers(agent_id);
        self.record_fault(format!("agent {agent_id} killed: its executors die"));
        true
    }

    /// The agent process restarts. A killed agent comes back empty (its tasks are reported
    /// gone); a running one keeps checkpointing executors, which must re-subscribe within the
    /// registration timeout, and loses the others.
    pub fn restart_agent(&mut self, agent_id: &str, now: Instant) -> bool {
        let registration_timeout = self.cfg.executor_registration_timeout;
        if !self.agents.contains_key(agent_id) {
            return false;
        }
        let was_up = self.agents.get(agent_id).is_some_and(|a| a.up);
        if was_up {
            // The agent process dies, then comes back.
            self.lose_non_checkpointing_tasks(agent_id);
        }
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return false;
        };
        let mut lost_executors = Vec::new();
        let mut closed = Vec::new();
        for (key, exec) in agent.executors.iter_mut() {
            if exec.connected {
                closed.push(key.clone());
            }
            exec.connected = false;
            if exec.command_task && exec.checkpoint {
                continue; // the command keeps running and is recovered as it is
            }
            if exec.checkpoint {
                exec.register_deadline = Some(now + registration_timeout);
                exec.reregistering = true;
            } else {
                lost_executors.push(key.clone());
            }
        }
        for key in &lost_executors {
            agent.executors.remove(key);
        }
        agent.up = true;
        // Tasks whose executor is gone are reported by the master: LOST, or GONE when the
        // framework is partition-aware.
        let orphaned: Vec<(String, String)> = agent
            .tasks
            .iter()
            .filter(|(k, t)| {
                !agent
                    .executors
                    .contains_key(&(k.0.clone(), t.executor_id.clone()))
            })
            .map(|(k, _)| k.clone())
            .collect();
        let was_reachable = agent.reachable;
        agent.reachable = true;
        agent.unreachable_since = None;
        agent.marked_unreachable = false;
        for key in closed {
            self.effects.push(Effect::CloseExecutor {
                agent_id: agent_id.to_string(),
                framework_id: key.0,
                executor_id: key.1,
            });
        }
        for (fid, eid) in lost_executors {
            self.effects.push(Effect::KillExecutor {
                agent_id: agent_id.to_string(),
                framework_id: fid,
                executor_id: eid,
                grace: Duration::ZERO,
            });
        }
        for key in orphaned {
            self.report_task_gone(
                agent_id,
                &key,
                task_status::Reason::AgentRestarted,
                "Agent restarted without the task's executor",
            );
        }
        if !was_reachable {
            // Restarting re-registers the agent: like a healed partition, its surviving tasks
            // are reachable again.
            self.report_reregistered_tasks(agent_id);
            self.resend_agent_updates(agent_id, now);
        }
        self.record_fault(format!(
            "agent {agent_id} restarted ({})",
            if was_up {
                "executors that checkpoint may re-subscribe"
            } else {
                "after a kill: empty"
            }
        ));
        true
    }

    /// The agent process died, and the master saw its connection close: like Mesos (master.cpp
    /// `_exited`), it gives up at once the tasks of frameworks that do not checkpoint, TASK_LOST
    /// with REASON_AGENT_DISCONNECTED, and forgets them; those of checkpointing frameworks wait
    /// for the agent to come back (or for the unreachable timeout).
    fn lose_non_checkpointing_tasks(&mut self, agent_id: &str) {
        let Some(agent) = self.agents.get(agent_id) else {
            return;
        };
        let message = format!("Agent {} disconnected", agent.hostname);
        let keys: Vec<(String, String)> = agent
            .tasks
            .keys()
            .filter(|(fid, _)| {
                self.frameworks
                    .get(fid)
                    .is_some_and(|f| f.info.checkpoint != Some(true))
            })
            .cloned()
            .collect();
        for key in keys {
            let Some(task) = self
                .agents
                .get_mut(agent_id)
                .and_then(|a| a.tasks.remove(&key))
            else {
                continue;
            };
            if task.state.is_terminal() && task.updates.is_empty() {
                self.record_completed(&key.0, agent_id, &task, task.state);
                continue;
            }
            self.record_completed(&key.0, agent_id, &task, TaskState::TaskLost);
            let mut status = master_status(
                &key.1,
                Some(agent_id),
                TaskState::TaskLost,
                Some(task_status::Reason::AgentDisconnected),
                &message,
            );
            status.executor_id = Some(mesos_proto::v1::ExecutorId {
                value: task.executor_id.clone(),
            });
            self.send_to_framework(&key.0, update_event(status));
        }
    }

    /// Master-generated terminal update for a task that vanished with its agent or executor;
    /// the task is forgotten.
    fn report_task_gone(
        &mut self,
        agent_id: &str,
        key: &(String, String),
        reason: task_status::Reason,
        message: &str,
    ) {
        let partition_aware = self
            .frameworks
            .get(&key.0)
            .is_some_and(|f| f.partition_aware());
        let Some(task) = self
            .agents
            .get_mut(agent_id)
            .and_then(|a| a.tasks.remove(key))
        else {
            return;
        };
        let state = if partition_aware {
            TaskState::TaskGone
        } else {
            TaskState::TaskLost
        };
        if task.state.is_terminal() && task.updates.is_empty() {
            self.record_completed(&key.0, agent_id, &task, task.state);
            return;
        }
        self.record_completed(&key.0, agent_id, &task, state);
        let status = master_status(&key.1, Some(agent_id), state, Some(reason), message);
        self.send_to_framework(&key.0, update_event(status));
    }

    /// The master stops seeing the agent; its executors keep running.
    pub fn partition_agent(&mut self, agent_id: &str, now: Instant) -> bool {
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return false;
        };
        if agent.reachable {
            agent.reachable = false;
            agent.unreachable_since = Some(now);
        }
        self.rescind_agent_offers(agent_id);
        self.record_fault(format!("agent {agent_id} partitioned from the master"));
        true
    }

    /// The partition ends: partition-aware tasks are RUNNING again (the master says so); tasks
    /// already declared LOST have their executors shut down; queued updates flow again.
    pub fn heal_agent(&mut self, agent_id: &str, now: Instant) -> bool {
        let grace = self.cfg.executor_shutdown_grace;
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return false;
        };
        if !agent.up {
            return false;
        }
        agent.reachable = true;
        agent.unreachable_since = None;
        agent.marked_unreachable = false;
        let orphans: Vec<(String, String)> = agent
            .executors
            .iter()
            .filter(|(_, e)| e.orphaned)
            .map(|(k, _)| k.clone())
            .collect();
        self.report_reregistered_tasks(agent_id);
        for (fid, eid) in orphans {
            self.shutdown_executor(agent_id, &fid, &eid, grace);
        }
        self.resend_agent_updates(agent_id, now);
        self.record_fault(format!("agent {agent_id} healed: reachable again"));
        true
    }

    /// The agent registered again: tasks declared UNREACHABLE are running after all, and
    /// their frameworks hear so (TASK_RUNNING etc., REASON_AGENT_REREGISTERED), as from Mesos.
    fn report_reregistered_tasks(&mut self, agent_id: &str) {
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        let mut back = Vec::new();
        for (key, task) in agent.tasks.iter_mut() {
            if task.unreachable {
                task.unreachable = false;
                let mut status = master_status(
                    &key.1,
                    Some(agent_id),
                    task.state,
                    Some(task_status::Reason::AgentReregistered),
                    "Agent reregistered",
                );
                status.executor_id = Some(mesos_proto::v1::ExecutorId {
                    value: task.executor_id.clone(),
                });
                back.push((key.0.clone(), status));
            }
        }
        for (fid, status) in back {
            self.send_to_framework(&fid, update_event(status));
        }
    }

    fn resend_agent_updates(&mut self, agent_id: &str, now: Instant) {
        let keys: Vec<(String, String)> = self
            .agents
            .get(agent_id)
            .map(|a| {
                a.tasks
                    .iter()
                    .filter(|(_, t)| !t.updates.is_empty())
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default();
        for key in keys {
            self.forward_front_update(agent_id, &key, now);
        }
    }

    /// After `agent_unreachable_timeout`, tasks of an unreachable agent become UNREACHABLE
    /// (partition-aware frameworks) or LOST (others, which also forget them).
    pub(super) fn expire_unreachable_agents(&mut self, now: Instant) {
        let timeout = self.cfg.agent_unreachable_timeout;
        let due: Vec<String> = self
            .agents
            .values()
            .filter(|a| {
                !a.marked_unreachable
                    && a.unreachable_since
                        .is_some_and(|s| now.duration_since(s) >= timeout)
            })
            .map(|a| a.id.clone())
            .collect();
        for agent_id in due {
            self.record_fault(format!(
                "agent {agent_id} unreachable for {timeout:?}: its tasks are LOST or UNREACHABLE"
            ));
            let partition_aware: std::collections::HashSet<String> = self
                .frameworks
                .values()
                .filter(|f| f.partition_aware())
                .map(|f| f.id.clone())
                .collect();
            let Some(agent) = self.agents.get_mut(&agent_id) else {
                continue;
            };
            agent.marked_unreachable = true;
            let mut updates = Vec::new();
            let mut forget = Vec::new();
            for (key, task) in agent.tasks.iter_mut() {
                if task.state.is_terminal() {
                    continue;
                }
                if partition_aware.contains(&key.0) {
                    task.unreachable = true;
                    let mut s = master_status(
                        &key.1,
                        Some(&agent_id),
                        TaskState::TaskUnreachable,
                        Some(task_status::Reason::AgentRemoved),
                        "Agent is unreachable",
                    );
                    s.unreachable_time = Some(mesos_proto::v1::TimeInfo {
                        nanoseconds: (super::now_seconds() * 1e9) as i64,
                    });
                    updates.push((key.0.clone(), s));
                } else {
                    updates.push((
                        key.0.clone(),
                        master_status(
                            &key.1,
                            Some(&agent_id),
                            TaskState::TaskLost,
                            Some(task_status::Reason::AgentRemoved),
                            "Agent is unreachable",
                        ),
                    ));
                    forget.push(key.clone());
                }
            }
            let mut forgotten = Vec::new();
            for key in &forget {
                if let Some(t) = agent.tasks.remove(key) {
                    if let Some(e) = agent
                        .executors
                        .get_mut(&(key.0.clone(), t.executor_id.clone()))
                    {
                        e.orphaned = true;
                    }
                    forgotten.push((key.0.clone(), t));
                }
            }
            for (fid, task) in forgotten {
                self.record_completed(&fid, &agent_id, &task, TaskState::TaskLost);
            }
            for (fid, status) in updates {
                self.send_to_framework(&fid, update_event(status));
            }
        }
    }

    /// Cuts an executor's connection from the agent side.
    pub fn drop_executor_connection(&mut self, agent_id: &str, executor_id: &str) -> bool {
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return false;
        };
        let keys: Vec<(String, String)> = agent
            .executors
            .keys()
            .filter(|k| k.1 == executor_id)
            .cloned()
            .collect();
        for key in &keys {
            if let Some(e) = agent.executors.get_mut(key) {
                e.connected = false;
            }
        }
        for (fid, eid) in keys.clone() {
            self.effects.push(Effect::CloseExecutor {
                agent_id: agent_id.to_string(),
                framework_id: fid,
                executor_id: eid,
            });
        }
        self.record_fault(format!(
            "connection of executor {executor_id} on {agent_id} dropped"
        ));
        !keys.is_empty()
    }
}
