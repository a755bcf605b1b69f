//! The master's side of the scheduler API: SUBSCRIBE and every call after it.

use std::time::{Duration, Instant};

use mesos_proto::v1::scheduler::{call, event as sevent, Call, Event as SEvent};
use mesos_proto::v1::{
    executor, offer, task_status, FrameworkId, FrameworkInfo, TaskId, TaskState,
};

use super::{master_status, update_event, validation, Core, Effect, Framework, Refusal, Task};
use crate::resources::Resources;

/// A scheduler call the master refuses, with the HTTP status Mesos answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct CallError {
    /// 400, 403, ...
    pub status: u16,
    /// Body text, worded as Mesos words it where known.
    pub message: String,
}

impl CallError {
    fn bad_request(message: impl Into<String>) -> CallError {
        CallError {
            status: 400,
            message: message.into(),
        }
    }
}

/// A successful SUBSCRIBE.
#[derive(Debug, Clone)]
pub struct Subscribed {
    /// The framework's id (assigned or resumed).
    pub framework_id: String,
    /// The new stream's `Mesos-Stream-Id`.
    pub stream_id: String,
}

/// Default `Filters.refuse_seconds`.
const DEFAULT_REFUSE_SECONDS: f64 = 5.0;

impl Core {
    /// SUBSCRIBE. `Err(message)` means: answer 200, send an ERROR event with this message,
    /// and close the stream (as Mesos does for invalid FrameworkInfo).
    pub fn subscribe(&mut self, info: FrameworkInfo, now: Instant) -> Result<Subscribed, String> {
        let multi_role = info.capabilities.iter().any(|c| {
            c.r#type == Some(mesos_proto::v1::framework_info::capability::Type::MultiRole as i32)
        });
        if !info.roles.is_empty() && !multi_role {
            return Err(
                "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"
                    .to_string(),
            );
        }
        if multi_role && info.role.is_some() {
            return Err(
                "'FrameworkInfo.role' must not be set together with the MULTI_ROLE capability"
                    .to_string(),
            );
        }
        if let Some(id) = info.id.as_ref() {
            if self.removed_frameworks.contains(&id.value) {
                return Err("Framework has been removed".to_string());
            }
        }
        // A framework that names its id re-subscribes (Mesos: `reregistered_time`), also to
        // a master that never saw it (after a failover that lost the frameworks).
        let resubscribing = info.id.as_ref().is_some_and(|id| !id.value.is_empty());
        let framework_id = match info.id.as_ref().map(|id| id.value.clone()) {
            Some(id) if !id.is_empty() => id,
            _ => self.next_id("F"),
        };
        let stream_id = (self.new_uuid)().to_string();
        let mut info = info;
        info.id = Some(FrameworkId {
            value: framework_id.clone(),
        });
        let interval = self.cfg.heartbeat_interval;
        match self.frameworks.get_mut(&framework_id) {
            Some(existing) => {
                // The newest subscription wins; the shell tells the old stream it failed over.
                if let Some(old) = existing.stream_id.take() {
                    self.effects.push(Effect::CloseFrameworkStream {
                        framework_id: framework_id.clone(),
                        stream_id: old,
                    });
                }
                existing.info = info;
                existing.stream_id = Some(stream_id.clone());
                existing.disconnected_since = None;
                existing.next_heartbeat = now + interval;
                existing.reregistered_at = Some(now);
                existing.recovered = false;
            }
            None => {
                self.frameworks.insert(
                    framework_id.clone(),
                    Framework {
                        id: framework_id.clone(),
                        info,
                        stream_id: Some(stream_id.clone()),
                        disconnected_since: None,
                        refused: Default::default(),
                        suppressed: false,
                        registered_at: now,
                        reregistered_at: resubscribing.then_some(now),
                        recovered: false,
                        completed_tasks: Default::default(),
                        next_heartbeat: now + interval,
                    },
                );
            }
        }
        // Offers made to an earlier subscription are void.
        self.offers.retain(|_, o| o.framework_id != framework_id);
        self.send_to_framework(
            &framework_id,
            SEvent {
                r#type: Some(sevent::Type::Subscribed as i32),
                subscribed: Some(sevent::Subscribed {
                    framework_id: FrameworkId {
                        value: framework_id.clone(),
                    },
                    heartbeat_interval_seconds: Some(interval.as_secs_f64()),
                    master_info: None,
                }),
                ..Default::default()
            },
        );
        self.send_to_framework(&framework_id, super::heartbeat_event());
        // Updates that waited for the framework go out again at once.
        let pending: Vec<(String, (String, String))> = self
            .agents
            .iter()
            .flat_map(|(aid, a)| {
                a.tasks
                    .iter()
                    .filter(|(k, t)| k.0 == framework_id && !t.updates.is_empty())
                    .map(move |(k, _)| (aid.clone(), k.clone()))
            })
            .collect();
        for (agent_id, key) in pending {
            self.forward_front_update(&agent_id, &key, now);
        }
        Ok(Subscribed {
            framework_id,
            stream_id,
        })
    }

    /// The stream was closed (by the client, a fault, or a failover). Starts the failover timer
    /// if `stream_id` is still the framework's current stream.
    pub fn framework_disconnected(&mut self, framework_id: &str, stream_id: &str, now: Instant) {
        let Some(f) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        if f.stream_id.as_deref() != Some(stream_id) {
            return;
        }
        f.stream_id = None;
        f.disconnected_since = Some(now);
        self.offers.retain(|_, o| o.framework_id != framework_id);
        self.effects.push(Effect::CloseFrameworkStream {
            framework_id: framework_id.to_string(),
            stream_id: stream_id.to_string(),
        });
    }

    /// Checks a non-SUBSCRIBE call in Mesos' order (src/master/http.cpp): framework id present,
    /// framework known (400), subscribed (403), stream id present (400) and equal (400).
    pub fn check_call_stream(
        &self,
        call: &Call,
        stream_id: Option<&str>,
    ) -> Result<String, CallError> {
        let Some(framework_id) = call.framework_id.as_ref().map(|f| f.value.clone()) else {
            return Err(CallError::bad_request(
                "Expecting 'framework_id' to be present",
            ));
        };
        let Some(framework) = self.frameworks.get(&framework_id) else {
            return Err(CallError::bad_request("Framework cannot be found"));
        };
        let Some(current) = framework.stream_id.as_deref() else {
            return Err(CallError {
                status: 403,
                message: "Framework is not subscribed".to_string(),
            });
        };
        match stream_id {
            None => Err(CallError::bad_request(
                "All non-subscribe calls should include the 'Mesos-Stream-Id' header",
            )),
            Some(sent) if sent != current => Err(CallError::bad_request(format!(
                "The stream ID '{sent}' included in this request didn't match the stream ID currently associated with framework ID {framework_id}"
            ))),
            Some(_) => Ok(framework_id),
        }
    }

    /// Handles a validated (stream-checked) call; `Err` carries a 400 for malformed calls.
    pub fn handle_call(
        &mut self,
        framework_id: &str,
        call: Call,
        now: Instant,
    ) -> Result<(), CallError> {
        use call::Type;
        let kind = call.r#type();
        match kind {
            Type::Accept => {
                let accept = call
                    .accept
                    .ok_or_else(|| CallError::bad_request("Expecting 'accept' to be present"))?;
                self.accept(framework_id, accept, now);
            }
            Type::Decline => {
                let decline = call
                    .decline
                    .ok_or_else(|| CallError::bad_request("Expecting 'decline' to be present"))?;
                let refuse = decline
                    .filters
                    .and_then(|f| f.refuse_seconds)
                    .unwrap_or(DEFAULT_REFUSE_SECONDS);
                for id in decline.offer_ids {
                    self.release_offer(framework_id, &id.value, refuse, now);
                }
            }
            Type::Revive => {
                if let Some(f) = self.frameworks.get_mut(framework_id) {
                    f.refused.clear();
                    f.suppressed = false;
                }
            }
            Type::Suppress => {
                if let Some(f) = self.frameworks.get_mut(framework_id) {
                    f.suppressed = true;
                }
            }
            Type::Kill => {
                let kill = call
                    .kill
                    .ok_or_else(|| CallError::bad_request("Expecting 'kill' to be present"))?;
                let task_id = kill.task_id.value;
                self.kill_task(framework_id, &task_id, kill.kill_policy, now);
            }
            Type::Shutdown => {
                let shutdown = call
                    .shutdown
                    .ok_or_else(|| CallError::bad_request("Expecting 'shutdown' to be present"))?;
                let agent_id = shutdown.agent_id.value;
                let executor_id = shutdown.executor_id.value;
                let grace = self.cfg.executor_shutdown_grace;
                self.shutdown_executor(&agent_id, framework_id, &executor_id, grace);
            }
            Type::Acknowledge => {
                let ack = call.acknowledge.ok_or_else(|| {
                    CallError::bad_request("Expecting 'acknowledge' to be present")
                })?;
                let agent_id = ack.agent_id.value;
                let task_id = ack.task_id.value;
                if uuid::Uuid::from_slice(&ack.uuid).is_err() {
                    return Err(CallError::bad_request(
                        "'acknowledge.uuid' is not a valid UUID",
                    ));
                }
                self.acknowledge(framework_id, &agent_id, &task_id, &ack.uuid, now);
            }
            Type::Reconcile => {
                let reconcile = call.reconcile.unwrap_or_default();
                let tasks = reconcile
                    .tasks
                    .into_iter()
                    .map(|t| (t.task_id.value, t.agent_id.map(|a| a.value)))
                    .collect();
                self.reconcile(framework_id, tasks);
            }
            Type::Teardown => {
                self.remove_framework(framework_id, now);
            }
            Type::Message => {
                let message = call
                    .message
                    .ok_or_else(|| CallError::bad_request("Expecting 'message' to be present"))?;
                let agent_id = message.agent_id.value;
                let executor_id = message.executor_id.value;
                let event = executor::Event {
                    r#type: Some(executor::event::Type::Message as i32),
                    message: Some(executor::event::Message { data: message.data }),
                    ..Default::default()
                };
                self.send_to_executor(&agent_id, framework_id, &executor_id, event);
            }
            Type::Request
            | Type::AcceptInverseOffers
            | Type::DeclineInverseOffers
            | Type::AcknowledgeOperationStatus
            | Type::ReconcileOperations => {}
            Type::UpdateFramework => {
                let update = call.update_framework.ok_or_else(|| {
                    CallError::bad_request("Expecting 'update_framework' to be present")
                })?;
                if let Some(f) = self.frameworks.get_mut(framework_id) {
                    let mut info = update.framework_info;
                    info.id = f.info.id.clone();
                    f.info = info;
                }
            }
            Type::Subscribe | Type::Unknown => {
                return Err(CallError::bad_request(format!(
                    "Unexpected call type {}",
                    kind.as_str_name()
                )))
            }
        }
        Ok(())
    }

    /// Removes an offer of this framework, refusing its agent for `refuse_seconds`.
    fn release_offer(&mut self, framework_id: &str, offer_id: &str, refuse: f64, now: Instant) {
        let Some(offer) = self.offers.get(offer_id) else {
            return;
        };
        if offer.framework_id != framework_id {
            return;
        }
        let agent_id = offer.agent_id.clone();
        let resources = offer.resources.clone();
        self.offers.remove(offer_id);
        self.spent_offers.insert(offer_id.to_string());
        self.refuse(framework_id, &agent_id, resources, refuse, now);
    }

    /// Filters `resources` of `agent_id` from the framework's offers for `refuse` seconds.
    fn refuse(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        resources: Resources,
        refuse: f64,
        now: Instant,
    ) {
        if let Some(f) = self.frameworks.get_mut(framework_id) {
            if refuse > 0.0 && refuse.is_finite() {
                let until = now + Duration::from_secs_f64(refuse.min(1.0e9));
                f.refused
                    .insert(agent_id.to_string(), Refusal { until, resources });
            } else {
                f.refused.remove(agent_id);
            }
        }
    }

    fn accept(&mut self, framework_id: &str, accept: call::Accept, now: Instant) {
        let partition_aware = self
            .frameworks
            .get(framework_id)
            .is_some_and(|f| f.partition_aware());
        let offer_ids: Vec<String> = accept.offer_ids.iter().map(|o| o.value.clone()).collect();
        let checked = validation::check_offers(self, framework_id, &offer_ids);
        // Every offer named is used up, valid or not.
        for id in &offer_ids {
            self.offers.remove(id);
            self.spent_offers.insert(id.clone());
        }
        let tasks_named = validation::task_ids_of(&accept.operations);
        let (agent_id, mut available, role) = match checked {
            Ok(ok) => ok,
            Err(why) => {
                let state = if partition_aware {
                    TaskState::TaskDropped
                } else {
                    TaskState::TaskLost
                };
                for task_id in tasks_named {
                    let status = master_status(
                        &task_id,
                        None,
                        state,
                        Some(task_status::Reason::InvalidOffers),
                        &format!("Task launched with invalid offers: {why}"),
                    );
                    self.send_to_framework(framework_id, update_event(status));
                }
                return;
            }
        };
        for operation in accept.operations {
            match operation.r#type() {
                offer::operation::Type::Launch => {
                    let tasks = operation.launch.map(|l| l.task_infos).unwrap_or_default();
                    for mut task in tasks {
                        let command_task = task.executor.is_none() && task.command.is_some();
                        if task.executor.is_some() && task.command.is_some() {
                            let status = master_status(
                                &task.task_id.value,
                                Some(&agent_id),
                                TaskState::TaskError,
                                Some(task_status::Reason::TaskInvalid),
                                &format!(
                                    "Task {} should have at most one of CommandInfo or ExecutorInfo present",
                                    task.task_id.value
                                ),
                            );
                            self.send_to_framework(framework_id, update_event(status));
                            continue;
                        }
                        if command_task {
                            task.executor = Some(command_executor_for(&task));
                        }
                        match validation::check_task(
                            self,
                            framework_id,
                            &agent_id,
                            &role,
                            &task,
                            &available,
                        ) {
                            Ok(needed) => {
                                available.subtract(&needed);
                                let kind = if command_task {
                                    LaunchKind::Command
                                } else {
                                    LaunchKind::Task
                                };
                                self.launch(framework_id, &agent_id, &role, vec![task], kind, now);
                            }
                            Err(message) => {
                                let status = master_status(
                                    &task.task_id.value,
                                    Some(&agent_id),
                                    TaskState::TaskError,
                                    Some(task_status::Reason::TaskInvalid),
                                    &message,
                                );
                                self.send_to_framework(framework_id, update_event(status));
                            }
                        }
                    }
                }
                offer::operation::Type::LaunchGroup => {
                    let Some(group) = operation.launch_group else {
                        continue;
                    };
                    let mut tasks = group.task_group.tasks;
                    let executor = group.executor;
                    for t in tasks.iter_mut() {
                        t.executor = Some(executor.clone());
                    }
                    match validation::check_group(
                        self,
                        framework_id,
                        &agent_id,
                        &role,
                        &tasks,
                        &available,
                    ) {
                        Ok(needed) => {
                            available.subtract(&needed);
                            self.launch(
                                framework_id,
                                &agent_id,
                                &role,
                                tasks,
                                LaunchKind::Group,
                                now,
                            );
                        }
                        Err(message) => {
                            for t in tasks {
                                let status = master_status(
                                    &t.task_id.value,
                                    Some(&agent_id),
                                    TaskState::TaskError,
                                    Some(task_status::Reason::TaskGroupInvalid),
                                    &message,
                                );
                                self.send_to_framework(framework_id, update_event(status));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        // What the accept left unused counts as declined with the accept's filters.
        let refuse = accept
            .filters
            .and_then(|f| f.refuse_seconds)
            .unwrap_or(DEFAULT_REFUSE_SECONDS);
        self.refuse(framework_id, &agent_id, available, refuse, now);
    }

    /// Places validated tasks on the agent and hands them to their (maybe new) executor.
    fn launch(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        role: &str,
        mut tasks: Vec<mesos_proto::v1::TaskInfo>,
        kind: LaunchKind,
        now: Instant,
    ) {
        let multi_role = self
            .frameworks
            .get(framework_id)
            .is_some_and(|f| f.multi_role());
        let checkpoint = self
            .frameworks
            .get(framework_id)
            .and_then(|f| f.info.checkpoint)
            .unwrap_or(false);
        let Some(mut executor_info) = tasks.first().and_then(|t| t.executor.clone()) else {
            return;
        };
        if multi_role {
            fill_role(&mut executor_info.resources, role);
            for t in tasks.iter_mut() {
                fill_role(&mut t.resources, role);
                if let Some(e) = t.executor.as_mut() {
                    fill_role(&mut e.resources, role);
                }
            }
        }
        executor_info.framework_id = Some(FrameworkId {
            value: framework_id.to_string(),
        });
        let executor_id = executor_info.executor_id.value.clone();
        let key = (framework_id.to_string(), executor_id.clone());
        let registration_timeout = self.cfg.executor_registration_timeout;
        let container_id = self.next_id("C");
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        let mut launch_spec = None;
        if !agent.executors.contains_key(&key) {
            agent.executors.insert(
                key.clone(),
                super::Executor {
                    info: executor_info.clone(),
                    resources: Resources::from_proto(&executor_info.resources),
                    container_id: container_id.clone(),
                    checkpoint,
                    connected: false,
                    register_deadline: (kind != LaunchKind::Command)
                        .then_some(now + registration_timeout),
                    pending: Vec::new(),
                    shutting_down: false,
                    orphaned: false,
                    reregistering: false,
                    command_task: kind == LaunchKind::Command,
                },
            );
            launch_spec = Some(super::LaunchSpec {
                agent_id: agent_id.to_string(),
                framework_id: framework_id.to_string(),
                executor: executor_info,
                checkpoint,
                container_id,
            });
        }
        for t in &tasks {
            let task_id = t.task_id.value.clone();
            agent.tasks.insert(
                (framework_id.to_string(), task_id),
                Task {
                    info: t.clone(),
                    executor_id: executor_id.clone(),
                    state: TaskState::TaskStaging,
                    resources: Resources::from_proto(&t.resources),
                    updates: Default::default(),
                    received_uuids: Default::default(),
                    next_retry: None,
                    retry_backoff: self.cfg.status_update_retry,
                    kill_requested: false,
                    unreachable: false,
                },
            );
        }
        if let Some(spec) = launch_spec {
            self.effects.push(Effect::LaunchExecutor(Box::new(spec)));
        }
        if kind == LaunchKind::Command {
            return; // the process is the task: nothing to hand over
        }
        let event = if kind == LaunchKind::Group {
            executor::Event {
                r#type: Some(executor::event::Type::LaunchGroup as i32),
                launch_group: Some(executor::event::LaunchGroup {
                    task_group: mesos_proto::v1::TaskGroupInfo { tasks },
                }),
                ..Default::default()
            }
        } else {
            let task = tasks.into_iter().next().unwrap_or_default();
            executor::Event {
                r#type: Some(executor::event::Type::Launch as i32),
                launch: Some(executor::event::Launch { task }),
                ..Default::default()
            }
        };
        self.send_to_executor(agent_id, framework_id, &executor_id, event);
    }

    /// KILL: the executor gets a KILL event carrying the call's `kill_policy` override.
    fn kill_task(
        &mut self,
        framework_id: &str,
        task_id: &str,
        kill_policy: Option<mesos_proto::v1::KillPolicy>,
        now: Instant,
    ) {
        let key = (framework_id.to_string(), task_id.to_string());
        let found = self
            .agents
            .iter()
            .find(|(_, a)| a.tasks.contains_key(&key))
            .map(|(id, _)| id.clone());
        let Some(agent_id) = found else {
            // Mesos: "Cannot kill task ... because it is unknown; performing reconciliation".
            self.reconcile(framework_id, vec![(task_id.to_string(), None)]);
            return;
        };
        let Some(agent) = self.agents.get_mut(&agent_id) else {
            return;
        };
        let Some(task) = agent.tasks.get_mut(&key) else {
            return;
        };
        if task.state.is_terminal() {
            return;
        }
        task.kill_requested = true;
        let executor_id = task.executor_id.clone();
        let exec_key = (framework_id.to_string(), executor_id.clone());
        if agent
            .executors
            .get(&exec_key)
            .is_some_and(|e| e.command_task)
        {
            // The command executor stand-in kills the command; its exit reports TASK_KILLED.
            self.effects.push(Effect::KillExecutor {
                agent_id: agent_id.clone(),
                framework_id: framework_id.to_string(),
                executor_id,
                grace: Duration::ZERO,
            });
            return;
        }
        let registered = agent
            .executors
            .get(&exec_key)
            .is_some_and(|e| e.connected || e.register_deadline.is_none());
        if !registered {
            // Killed before its executor took it: the agent answers for it.
            if let Some(exec) = agent.executors.get_mut(&exec_key) {
                exec.pending.retain(|ev| !event_names_task(ev, task_id));
            }
            self.agent_status_update(
                &agent_id,
                &key,
                TaskState::TaskKilled,
                Some(task_status::Reason::TaskKilledDuringLaunch),
                "Killed before the executor subscribed",
                now,
            );
            // An executor left without tasks before it even subscribed is not needed.
            let idle = self.agents.get(&agent_id).is_some_and(|a| {
                !a.tasks.iter().any(|((fid, _), t)| {
                    *fid == framework_id && t.executor_id == executor_id && !t.state.is_terminal()
                })
            });
            if idle {
                self.shutdown_executor(&agent_id, framework_id, &executor_id, Duration::ZERO);
            }
            return;
        }
        let event = executor::Event {
            r#type: Some(executor::event::Type::Kill as i32),
            kill: Some(executor::event::Kill {
                task_id: TaskId {
                    value: task_id.to_string(),
                },
                kill_policy,
            }),
            ..Default::default()
        };
        self.send_to_executor(&agent_id, framework_id, &executor_id, event);
    }

    fn acknowledge(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        task_id: &str,
        uuid: &[u8],
        now: Instant,
    ) {
        let key = (framework_id.to_string(), task_id.to_string());
        let retry = self.cfg.status_update_retry;
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        if !agent.reachable {
            return;
        }
        let Some(task) = agent.tasks.get_mut(&key) else {
            return;
        };
        if task.updates.front().and_then(|s| s.uuid.as_deref()) != Some(uuid) {
            return; // a duplicate or stale acknowledgement: ignored, like Mesos
        }
        task.updates.pop_front();
        task.retry_backoff = retry;
        task.next_retry = None;
        if task.updates.is_empty() && task.state.is_terminal() {
            if let Some(task) = agent.tasks.remove(&key) {
                self.record_completed(framework_id, agent_id, &task, task.state);
            }
            return;
        }
        self.forward_front_update(agent_id, &key, now);
    }

    /// Answers RECONCILE: no uuid, REASON_RECONCILIATION; empty `tasks` = implicit.
    fn reconcile(&mut self, framework_id: &str, tasks: Vec<(String, Option<String>)>) {
        let partition_aware = self
            .frameworks
            .get(framework_id)
            .is_some_and(|f| f.partition_aware());
        let mut answers = Vec::new();
        let known = |core: &Core, task_id: &str| {
            let key = (framework_id.to_string(), task_id.to_string());
            core.agents
                .values()
                .find_map(|a| a.tasks.get(&key).map(|t| (a.id.clone(), t.clone())))
        };
        let report = |agent_id: &str, task: &Task| {
            let state = if task.unreachable {
                TaskState::TaskUnreachable
            } else {
                task.state
            };
            let mut s = master_status(
                &task.info.task_id.value,
                Some(agent_id),
                state,
                Some(task_status::Reason::Reconciliation),
                "Reconciliation: latest task status",
            );
            s.executor_id = Some(mesos_proto::v1::ExecutorId {
                value: task.executor_id.clone(),
            });
            s
        };
        if tasks.is_empty() {
            for a in self.agents.values() {
                for ((fid, _), t) in &a.tasks {
                    if fid == framework_id && !t.state.is_terminal() {
                        answers.push(report(&a.id, t));
                    }
                }
            }
        } else {
            for (task_id, agent_hint) in tasks {
                match known(self, &task_id) {
                    Some((agent_id, t)) => answers.push(report(&agent_id, &t)),
                    None => {
                        let agent_known = agent_hint
                            .as_ref()
                            .is_some_and(|a| self.agents.contains_key(a));
                        let state = match (partition_aware, agent_known) {
                            (false, _) => TaskState::TaskLost,
                            (true, true) => TaskState::TaskGone,
                            (true, false) => TaskState::TaskUnknown,
                        };
                        answers.push(master_status(
                            &task_id,
                            agent_hint.as_deref(),
                            state,
                            Some(task_status::Reason::Reconciliation),
                            "Reconciliation: Task is unknown",
                        ));
                    }
                }
            }
        }
        for status in answers {
            self.send_to_framework(framework_id, update_event(status));
        }
    }

    /// The framework's stream was cut from outside (fault injection).
    pub fn drop_framework_stream(&mut self, framework_id: &str, now: Instant) -> bool {
        let Some(stream_id) = self
            .frameworks
            .get(framework_id)
            .and_then(|f| f.stream_id.clone())
        else {
            return false;
        };
        self.framework_disconnected(framework_id, &stream_id, now);
        true
    }

    /// A master failover: every stream closes; `keep_state = false` also forgets frameworks,
    /// offers and filters (agents keep their tasks and report them again).
    pub fn restart_master(&mut self, keep_state: bool, now: Instant) {
        let connected: Vec<(String, String)> = self
            .frameworks
            .values()
            .filter_map(|f| f.stream_id.clone().map(|s| (f.id.clone(), s)))
            .collect();
        for (fid, sid) in connected {
            self.framework_disconnected(&fid, &sid, now);
        }
        // Like Mesos after a failover, a framework's tasks wait for it as orphans: no failover
        // timer runs until it has re-subscribed to the new leader, which lists it `recovered`.
        for f in self.frameworks.values_mut() {
            f.disconnected_since = None;
            f.recovered = true;
        }
        self.offers.clear();
        self.elected_at = now;
        if !keep_state {
            self.frameworks.clear();
            self.spent_offers.clear();
            self.removed_frameworks.clear();
            self.completed_frameworks.clear();
        }
    }
}

/// How tasks reach their executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LaunchKind {
    /// LAUNCH to a framework-provided executor.
    Task,
    /// LAUNCH_GROUP.
    Group,
    /// LAUNCH of a task with only a `command`: the command runs as the "executor" process.
    Command,
}

/// The ExecutorInfo the agent makes up for a command task (Mesos' built-in command executor).
fn command_executor_for(task: &mesos_proto::v1::TaskInfo) -> mesos_proto::v1::ExecutorInfo {
    mesos_proto::v1::ExecutorInfo {
        r#type: Some(mesos_proto::v1::executor_info::Type::Custom as i32),
        executor_id: mesos_proto::v1::ExecutorId {
            value: task.task_id.value.clone(),
        },
        command: task.command.clone(),
        name: Some(format!("Command Executor (Task: {})", task.task_id.value)),
        ..Default::default()
    }
}

/// The executor event is a LAUNCH or LAUNCH_GROUP carrying `task_id`.
pub(super) fn event_names_task(event: &executor::Event, task_id: &str) -> bool {
    let named = |t: &mesos_proto::v1::TaskInfo| t.task_id.value == task_id;
    event.launch.as_ref().is_some_and(|l| named(&l.task))
        || event
            .launch_group
            .as_ref()
            .is_some_and(|g| g.task_group.tasks.iter().any(named))
}

fn fill_role(resources: &mut [mesos_proto::v1::Resource], role: &str) {
    for r in resources {
        if r.allocation_info.is_none() {
            r.allocation_info = Some(mesos_proto::v1::resource::AllocationInfo {
                role: Some(role.to_string()),
            });
        }
    }
}

/// An ERROR event with this message.
pub fn error_event(message: &str) -> SEvent {
    SEvent {
        r#type: Some(sevent::Type::Error as i32),
        error: Some(sevent::Error {
            message: message.to_string(),
        }),
        ..Default::default()
    }
}
