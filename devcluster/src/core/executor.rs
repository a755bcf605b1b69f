//! The agent's side of the executor API: SUBSCRIBE, UPDATE, MESSAGE, and the executor's exit.

use std::time::Instant;

use mesos_proto::v1::executor::{call, event, Call, Event};
use mesos_proto::v1::scheduler::{event as sevent, Event as SEvent};
use mesos_proto::v1::{task_status, AgentId, ExecutorId, TaskState};

use super::scheduler::event_names_task;
use super::{executor_event, Core, Effect};

/// An executor call the agent refuses (always answered 400 by Mesos' agent).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExecutorCallError(pub String);

impl ExecutorCallError {
    /// A call that fails the agent's call validation: Mesos' agent prefixes those messages.
    fn invalid(message: &str) -> ExecutorCallError {
        ExecutorCallError(format!("Failed to validate Executor::Call: {message}"))
    }
}

/// The exit code in a raw `waitpid(2)` status; `None` when a signal ended the process.
fn exit_code(wait_status: i32) -> Option<i32> {
    libc::WIFEXITED(wait_status).then(|| libc::WEXITSTATUS(wait_status))
}

impl Core {
    fn executor_key_checked(
        &self,
        agent_id: &str,
        call: &Call,
    ) -> Result<(String, String), ExecutorCallError> {
        let framework_id = call.framework_id.value.clone();
        let executor_id = call.executor_id.value.clone();
        let agent = self
            .agents
            .get(agent_id)
            .filter(|a| a.up)
            .ok_or_else(|| ExecutorCallError(format!("Agent {agent_id} is not running")))?;
        if !agent
            .executors
            .contains_key(&(framework_id.clone(), executor_id.clone()))
        {
            return Err(ExecutorCallError(format!(
                "Executor '{executor_id}' of framework {framework_id} is not known to this agent"
            )));
        }
        Ok((framework_id, executor_id))
    }

    /// SUBSCRIBE from an executor. On success its stream is considered open and SUBSCRIBED plus
    /// any queued LAUNCH events are emitted; the shell must have registered the stream first.
    pub fn executor_subscribe(
        &mut self,
        agent_id: &str,
        call: &Call,
        now: Instant,
    ) -> Result<(), ExecutorCallError> {
        let Some(subscribe) = call.subscribe.as_ref() else {
            return Err(ExecutorCallError::invalid(
                "Expecting 'subscribe' to be present",
            ));
        };
        let key = self.executor_key_checked(agent_id, call)?;
        self.drop_launches_unknown_to_executor(agent_id, &key, subscribe, now);
        let framework_info = self.frameworks.get(&key.0).map(|f| f.info.clone());
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return Ok(());
        };
        let agent_info = mesos_proto::v1::AgentInfo {
            hostname: agent.hostname.clone(),
            id: Some(AgentId {
                value: agent_id.to_string(),
            }),
            resources: agent.total.to_proto(None),
            attributes: agent.attributes.clone(),
            ..Default::default()
        };
        let Some(exec) = agent.executors.get_mut(&key) else {
            return Ok(());
        };
        exec.connected = true;
        exec.register_deadline = None;
        exec.reregistering = false;
        let pending = std::mem::take(&mut exec.pending);
        let subscribed = Event {
            r#type: Some(event::Type::Subscribed as i32),
            subscribed: Some(event::Subscribed {
                executor_info: exec.info.clone(),
                framework_info: framework_info.unwrap_or_default(),
                agent_info,
                container_id: Some(mesos_proto::v1::ContainerId {
                    value: exec.container_id.clone(),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        };
        let shutting_down = exec.shutting_down;
        self.send_to_executor(agent_id, &key.0, &key.1, subscribed);
        for ev in pending {
            self.send_to_executor(agent_id, &key.0, &key.1, ev);
        }
        if shutting_down {
            self.send_to_executor(
                agent_id,
                &key.0,
                &key.1,
                executor_event(event::Type::Shutdown),
            );
        }
        // Updates the executor never saw acknowledged are taken again (deduplicated by uuid).
        for update in &subscribe.unacknowledged_updates {
            self.take_update(agent_id, &key, update.status.clone(), now);
        }
        Ok(())
    }

    /// Like Mesos' agent when an executor (re-)subscribes: a task whose LAUNCH went out to the
    /// executor but that is still STAGING and missing from the SUBSCRIBE's
    /// `unacknowledged_tasks` never reached it (the LAUNCH was lost with a connection or an
    /// agent restart) and never will. It ends TASK_DROPPED (TASK_LOST for frameworks that are
    /// not partition-aware), REASON_AGENT_RESTARTED, so its framework can launch it again.
    /// Tasks whose LAUNCH still waits in `pending` go out right after SUBSCRIBED and are kept.
    fn drop_launches_unknown_to_executor(
        &mut self,
        agent_id: &str,
        key: &(String, String),
        subscribe: &call::Subscribe,
        now: Instant,
    ) {
        let Some(agent) = self.agents.get(agent_id) else {
            return;
        };
        let Some(exec) = agent.executors.get(key).filter(|e| !e.command_task) else {
            return;
        };
        let listed = |task_id: &str| {
            subscribe
                .unacknowledged_tasks
                .iter()
                .any(|t| t.task_id.value == task_id)
        };
        let lost: Vec<(String, String)> = agent
            .tasks
            .iter()
            .filter(|((fid, task_id), t)| {
                *fid == key.0
                    && t.executor_id == key.1
                    && t.state == TaskState::TaskStaging
                    && !listed(task_id)
                    && !exec.pending.iter().any(|ev| event_names_task(ev, task_id))
            })
            .map(|(k, _)| k.clone())
            .collect();
        if lost.is_empty() {
            return;
        }
        let state = if self
            .frameworks
            .get(&key.0)
            .is_some_and(|f| f.partition_aware())
        {
            TaskState::TaskDropped
        } else {
            TaskState::TaskLost
        };
        self.record_fault(format!(
            "executor {} on {agent_id} subscribed without {} task(s) it was sent: {}",
            key.1,
            lost.len(),
            state.as_str_name()
        ));
        for task_key in lost {
            self.agent_status_update(
                agent_id,
                &task_key,
                state,
                Some(task_status::Reason::AgentRestarted),
                "Task lost on its way to the executor (agent restart or broken connection)",
                now,
            );
        }
    }

    /// UPDATE, MESSAGE or HEARTBEAT from an executor (SUBSCRIBE goes to `executor_subscribe`).
    pub fn executor_call(
        &mut self,
        agent_id: &str,
        call: Call,
        now: Instant,
    ) -> Result<(), ExecutorCallError> {
        let key = self.executor_key_checked(agent_id, &call)?;
        match call.r#type() {
            call::Type::Update => {
                let status = call.update.map(|u| u.status).ok_or_else(|| {
                    ExecutorCallError::invalid("Expecting 'update' to be present")
                })?;
                if status
                    .uuid
                    .as_deref()
                    .is_none_or(|u| uuid::Uuid::from_slice(u).is_err())
                {
                    return Err(ExecutorCallError(
                        "'status.uuid' must be a valid RFC 4122 UUID".into(),
                    ));
                }
                if status.state() == TaskState::TaskStaging {
                    return Err(ExecutorCallError(
                        "Received TASK_STAGING from executor, which is not allowed".into(),
                    ));
                }
                self.take_update(agent_id, &key, status, now);
            }
            call::Type::Message => {
                let data = call.message.map(|m| m.data).unwrap_or_default();
                let event = SEvent {
                    r#type: Some(sevent::Type::Message as i32),
                    message: Some(sevent::Message {
                        agent_id: AgentId {
                            value: agent_id.to_string(),
                        },
                        executor_id: ExecutorId {
                            value: key.1.clone(),
                        },
                        data,
                    }),
                    ..Default::default()
                };
                self.send_to_framework(&key.0, event);
            }
            call::Type::Heartbeat => {}
            call::Type::Subscribe => return self.executor_subscribe(agent_id, &call, now),
            call::Type::Unknown => {
                return Err(ExecutorCallError::invalid("Expecting 'type' to be present"))
            }
        }
        Ok(())
    }

    /// Accepts an executor's status update: acknowledges it to the executor (the agent has
    /// taken responsibility) and queues it for the scheduler.
    fn take_update(
        &mut self,
        agent_id: &str,
        key: &(String, String),
        mut status: mesos_proto::v1::TaskStatus,
        now: Instant,
    ) {
        let task_id = status.task_id.value.clone();
        let uuid = status.uuid.clone().unwrap_or_default();
        let task_key = (key.0.clone(), task_id.clone());
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        let Some(task) = agent.tasks.get_mut(&task_key) else {
            return;
        };
        let duplicate = !task.received_uuids.insert(uuid.clone());
        // Terminal updates stop further ones: the task's life is over.
        let after_terminal = task.state.is_terminal() && !duplicate;
        let ack = Event {
            r#type: Some(event::Type::Acknowledged as i32),
            acknowledged: Some(event::Acknowledged {
                task_id: mesos_proto::v1::TaskId { value: task_id },
                uuid: uuid.clone(),
            }),
            ..Default::default()
        };
        self.send_to_executor(agent_id, &key.0, &key.1, ack);
        if duplicate || after_terminal {
            return;
        }
        status.agent_id = Some(AgentId {
            value: agent_id.to_string(),
        });
        status.executor_id = Some(ExecutorId {
            value: key.1.clone(),
        });
        if status.source.is_none() {
            status.source = Some(task_status::Source::Executor as i32);
        }
        if status.timestamp.is_none() {
            status.timestamp = Some(super::now_seconds());
        }
        self.enqueue_update(agent_id, &task_key, status, now);
    }

    /// The executor's SUBSCRIBE stream ended.
    pub fn executor_disconnected(&mut self, agent_id: &str, framework_id: &str, executor_id: &str) {
        let key = (framework_id.to_string(), executor_id.to_string());
        if let Some(exec) = self
            .agents
            .get_mut(agent_id)
            .and_then(|a| a.executors.get_mut(&key))
        {
            exec.connected = false;
        }
    }

    /// The executor process started. For a command task this is the moment it runs: the agent
    /// reports TASK_RUNNING for it.
    pub fn executor_started(
        &mut self,
        agent_id: &str,
        framework_id: &str,
        executor_id: &str,
        container_id: &str,
        now: Instant,
    ) {
        let key = (framework_id.to_string(), executor_id.to_string());
        let command_task = self
            .agents
            .get(agent_id)
            .and_then(|a| a.executors.get(&key))
            .is_some_and(|e| e.command_task && e.container_id == container_id);
        if !command_task {
            return;
        }
        let tasks: Vec<(String, String)> = self
            .agents
            .get(agent_id)
            .map(|a| {
                a.tasks
                    .iter()
                    .filter(|(k, t)| {
                        k.0 == framework_id
                            && t.executor_id == executor_id
                            && t.state == TaskState::TaskStaging
                    })
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default();
        for task_key in tasks {
            self.agent_status_update(
                agent_id,
                &task_key,
                TaskState::TaskRunning,
                None,
                "Command started",
                now,
            );
        }
    }

    /// The executor could not be started (sandbox, fetch or spawn failed): its tasks fail with
    /// REASON_CONTAINER_LAUNCH_FAILED.
    pub fn executor_launch_failed(
        &mut self,
        agent_id: &str,
        framework_id: &str,
        executor_id: &str,
        container_id: &str,
        now: Instant,
    ) {
        self.executor_ended(
            agent_id,
            framework_id,
            executor_id,
            container_id,
            None,
            task_status::Reason::ContainerLaunchFailed,
            now,
        );
    }

    /// The executor process ended: the scheduler hears FAILURE, then its unfinished tasks
    /// fail (or count as killed). `wait_status` is the raw `waitpid(2)` status, which Mesos
    /// passes on in FAILURE as it is (`9` for SIGKILL, `N << 8` for exit code N); `None`
    /// when it could not be had.
    pub fn executor_exited(
        &mut self,
        agent_id: &str,
        framework_id: &str,
        executor_id: &str,
        container_id: &str,
        wait_status: Option<i32>,
        now: Instant,
    ) {
        self.executor_ended(
            agent_id,
            framework_id,
            executor_id,
            container_id,
            wait_status,
            task_status::Reason::ExecutorTerminated,
            now,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn executor_ended(
        &mut self,
        agent_id: &str,
        framework_id: &str,
        executor_id: &str,
        container_id: &str,
        wait_status: Option<i32>,
        reason: task_status::Reason,
        now: Instant,
    ) {
        let key = (framework_id.to_string(), executor_id.to_string());
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        match agent.executors.get(&key) {
            Some(e) if e.container_id == container_id => {}
            _ => return, // already forgotten (agent killed) or a newer run
        }
        let Some(exec) = agent.executors.remove(&key) else {
            return;
        };
        if exec.connected {
            self.effects.push(Effect::CloseExecutor {
                agent_id: agent_id.to_string(),
                framework_id: framework_id.to_string(),
                executor_id: executor_id.to_string(),
            });
        }
        let tasks: Vec<((String, String), bool)> = self
            .agents
            .get(agent_id)
            .map(|a| {
                a.tasks
                    .iter()
                    .filter(|(k, t)| {
                        k.0 == framework_id
                            && t.executor_id == executor_id
                            && !t.state.is_terminal()
                    })
                    .map(|(k, t)| (k.clone(), t.kill_requested || exec.shutting_down))
                    .collect()
            })
            .unwrap_or_default();
        // Mesos' agent sends the executor's end to the master at once, while the tasks'
        // terminal updates go through its status update manager: FAILURE comes first.
        self.send_to_framework(
            framework_id,
            SEvent {
                r#type: Some(sevent::Type::Failure as i32),
                failure: Some(sevent::Failure {
                    agent_id: Some(AgentId {
                        value: agent_id.to_string(),
                    }),
                    executor_id: Some(ExecutorId {
                        value: executor_id.to_string(),
                    }),
                    status: wait_status,
                }),
                ..Default::default()
            },
        );
        let launch_failed = reason == task_status::Reason::ContainerLaunchFailed;
        for (task_key, killed) in tasks {
            let (state, reason, message) = if launch_failed {
                let m = "Failed to launch the executor (sandbox, fetch or spawn)".to_string();
                (TaskState::TaskFailed, Some(reason), m)
            } else if killed {
                (
                    TaskState::TaskKilled,
                    Some(reason),
                    "Executor terminated".to_string(),
                )
            } else if exec.command_task {
                match wait_status.and_then(exit_code) {
                    Some(0) => (
                        TaskState::TaskFinished,
                        None,
                        "Command exited with status 0".to_string(),
                    ),
                    Some(code) => (
                        TaskState::TaskFailed,
                        Some(task_status::Reason::CommandExecutorFailed),
                        format!("Command exited with status {code}"),
                    ),
                    None => (
                        TaskState::TaskFailed,
                        Some(task_status::Reason::CommandExecutorFailed),
                        "Command terminated by a signal".to_string(),
                    ),
                }
            } else {
                (
                    TaskState::TaskFailed,
                    Some(reason),
                    "Executor terminated".to_string(),
                )
            };
            self.agent_status_update(agent_id, &task_key, state, reason, &message, now);
        }
    }

    /// Kills executors that did not (re)subscribe in time; their tasks fail.
    pub(super) fn expire_registrations(&mut self, now: Instant) {
        let mut expired = Vec::new();
        for (agent_id, agent) in &mut self.agents {
            if !agent.up {
                continue;
            }
            for (key, exec) in agent.executors.iter_mut() {
                if exec.register_deadline.is_some_and(|d| d <= now) && !exec.connected {
                    exec.register_deadline = None;
                    expired.push((agent_id.clone(), key.clone(), exec.reregistering));
                }
            }
        }
        for (agent_id, (fid, eid), reregistering) in expired {
            let reason = if reregistering {
                task_status::Reason::ExecutorReregistrationTimeout
            } else {
                task_status::Reason::ExecutorRegistrationTimeout
            };
            self.record_fault(format!(
                "executor {eid} on {agent_id} did not subscribe within the registration timeout: killed"
            ));
            let tasks: Vec<(String, String)> = self
                .agents
                .get(&agent_id)
                .map(|a| {
                    a.tasks
                        .iter()
                        .filter(|(k, t)| {
                            k.0 == fid && t.executor_id == eid && !t.state.is_terminal()
                        })
                        .map(|(k, _)| k.clone())
                        .collect()
                })
                .unwrap_or_default();
            for key in tasks {
                self.agent_status_update(
                    &agent_id,
                    &key,
                    TaskState::TaskFailed,
                    Some(reason),
                    "Executor did not register in time",
                    now,
                );
            }
            if let Some(agent) = self.agents.get_mut(&agent_id) {
                if let Some(exec) = agent.executors.get_mut(&(fid.clone(), eid.clone())) {
                    exec.shutting_down = true;
                }
            }
            self.effects.push(Effect::KillExecutor {
                agent_id,
                framework_id: fid,
                executor_id: eid,
                grace: std::time::Duration::ZERO,
            });
        }
    }
}
