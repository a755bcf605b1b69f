//! The dev cluster's shell: its core's effects carried out as `cluster.rs` does, and the
//! emulated executors' processes, connections and timers.

use cartrack_devcluster::core::Effect;
use mesos_proto::v1::executor::{event as xevent, Event as XEvent};
use mesos_proto::v1::{TaskInfo, TaskState};
use rand::Rng;

use super::{Delivery, Ev, World};
use crate::executor::{ExecKey, Process, Timer};
use crate::queue::Millis;

impl World {
    /// Carries out the dev cluster core's effects, as its real shell (cluster.rs) does.
    pub(super) fn apply_effects(&mut self) {
        loop {
            let effects = self.cluster.take_effects();
            if effects.is_empty() {
                return;
            }
            for effect in effects {
                self.apply_effect(effect);
            }
        }
    }

    pub(super) fn apply_effect(&mut self, effect: Effect) {
        match effect {
            Effect::ToFramework {
                framework_id,
                event,
            } => {
                let acked = event
                    .update
                    .as_ref()
                    .is_some_and(|u| u.status.uuid.is_some());
                if acked {
                    if self.chance(self.noise.drop_update) {
                        self.note("update dropped on its way".into());
                        return;
                    }
                    if self.chance(self.noise.delay_update) {
                        // Outside the stream's order, like the dev cluster's delayed updates.
                        let Some(stream) = self.streams.get(&framework_id) else {
                            return;
                        };
                        let (run, connection) = (stream.run, stream.connection);
                        let wait = self.rng.random_range(500..8_000);
                        self.note(format!("update delayed {wait} ms"));
                        self.queue.after(
                            wait,
                            Ev::ToScheduler {
                                run,
                                connection,
                                what: Delivery::Event(Box::new(event)),
                            },
                        );
                        return;
                    }
                    if self.chance(self.noise.duplicate_update) {
                        self.note("update duplicated".into());
                        self.send_to_scheduler(
                            &framework_id,
                            Delivery::Event(Box::new(event.clone())),
                        );
                    }
                }
                self.send_to_scheduler(&framework_id, Delivery::Event(Box::new(event)));
            }
            Effect::CloseFrameworkStream {
                framework_id,
                stream_id,
            } => {
                if self
                    .streams
                    .get(&framework_id)
                    .is_some_and(|s| s.stream_id == stream_id)
                {
                    self.send_to_scheduler(
                        &framework_id,
                        Delivery::Disconnected("closed by the master".into()),
                    );
                    self.streams.remove(&framework_id);
                }
            }
            Effect::ToExecutor {
                agent_id,
                framework_id,
                executor_id,
                event,
            } => {
                let key = (agent_id, framework_id, executor_id);
                if event.r#type() == xevent::Type::Acknowledged
                    && self.chance(self.noise.withhold_executor_ack)
                {
                    self.note(format!("ACKNOWLEDGED to executor on {} lost", key.0));
                    return;
                }
                let now = self.queue.now();
                let latency = self.latency();
                let Some(process) = self.processes.get_mut(&key) else {
                    return;
                };
                let Some(connection) = process.connection else {
                    return;
                };
                let at = process.inbound.arrival(now, latency);
                self.queue.at(
                    at,
                    Ev::ToExecutor {
                        key,
                        connection,
                        event: Box::new(event),
                    },
                );
            }
            Effect::CloseExecutor {
                agent_id,
                framework_id,
                executor_id,
            } => {
                let key = (agent_id, framework_id, executor_id);
                if let Some(process) = self.processes.get_mut(&key) {
                    process.connection = None;
                    let container = process.container_id.clone();
                    let wait = self.rng.random_range(500..3_000);
                    self.queue
                        .after(wait, Ev::ExecutorSubscribe { key, container });
                }
            }
            Effect::LaunchExecutor(spec) => {
                let key = (
                    spec.agent_id.clone(),
                    spec.framework_id.clone(),
                    spec.executor.executor_id.value.clone(),
                );
                let container = spec.container_id.clone();
                self.processes
                    .insert(key.clone(), Process::new(container.clone()));
                let wait = self.rng.random_range(50..1_500);
                self.queue
                    .after(wait, Ev::ExecutorStarted { key, container });
            }
            Effect::KillExecutor {
                agent_id,
                framework_id,
                executor_id,
                grace,
            } => {
                let key = (agent_id, framework_id, executor_id);
                if let Some(process) = self.processes.get_mut(&key) {
                    process.kill_requested = true;
                    let container = process.container_id.clone();
                    let wait = (grace.as_millis() as Millis).max(1);
                    self.queue.after(wait, Ev::ExecutorKill { key, container });
                }
            }
            Effect::Record(_) => {}
        }
    }

    pub(super) fn executor_started(&mut self, key: ExecKey, container: String) {
        let Some(process) = self
            .processes
            .get_mut(&key)
            .filter(|p| p.container_id == container && !p.started)
        else {
            return;
        };
        process.started = true;
        if process.kill_requested {
            self.exit(&key, 9);
            return;
        }
        self.note(format!("executor {} on {} starts", key.2, key.0));
        self.cluster
            .executor_started(&key.0, &key.1, &key.2, &container, self.instant());
        self.apply_effects();
        let latency = self.latency();
        self.queue
            .after(latency, Ev::ExecutorSubscribe { key, container });
    }

    pub(super) fn executor_subscribe(&mut self, key: ExecKey, container: String) {
        let agent_up = self.cluster.agents.get(&key.0).is_some_and(|a| a.up);
        let Some(process) = self
            .processes
            .get_mut(&key)
            .filter(|p| p.container_id == container && p.connection.is_none())
        else {
            return;
        };
        if !agent_up {
            let wait = self.rng.random_range(2_000..4_000);
            self.queue
                .after(wait, Ev::ExecutorSubscribe { key, container });
            return;
        }
        self.connections += 1;
        process.connection = Some(self.connections);
        let call = process.subscribe(&key);
        let (tasks, updates) = (process.unacked_tasks.len(), process.unacked.len());
        match self
            .cluster
            .executor_subscribe(&key.0, &call, self.instant())
        {
            Ok(()) => self.note(format!(
                "executor on {} subscribes ({tasks} unacknowledged tasks, {updates} updates)",
                key.0
            )),
            Err(e) => {
                // A real executor retries until its recovery timeout, then exits; one the
                // agent does not know never succeeds.
                self.note(format!("executor on {} refused ({e}): exits", key.0));
                self.processes.remove(&key);
            }
        }
        self.apply_effects();
    }

    pub(super) fn executor_event(&mut self, key: ExecKey, event: XEvent) {
        let kind = event.r#type();
        self.note(format!("executor on {} gets {}", key.0, kind.as_str_name()));
        let Some(container) = self.processes.get(&key).map(|p| p.container_id.clone()) else {
            return;
        };
        match kind {
            xevent::Type::Launch | xevent::Type::LaunchGroup => {
                let tasks: Vec<TaskInfo> = match (event.launch, event.launch_group) {
                    (Some(l), _) => vec![l.task],
                    (None, Some(g)) => g.task_group.tasks,
                    (None, None) => Vec::new(),
                };
                for task in tasks {
                    let task_id = task.task_id.value.clone();
                    if let Some(process) = self.processes.get_mut(&key) {
                        process.launched(task);
                    }
                    self.send_update(&key, &task_id, TaskState::TaskStarting);
                    let fail = self.chance(self.noise.task_fail);
                    let wait = self.rng.random_range(100..2_000);
                    self.queue.after(
                        wait,
                        Ev::ExecutorTimer {
                            key: key.clone(),
                            container: container.clone(),
                            timer: Timer::Run { task_id, fail },
                        },
                    );
                }
            }
            xevent::Type::Kill => {
                let Some(task_id) = event.kill.map(|k| k.task_id.value) else {
                    return;
                };
                let live = self
                    .processes
                    .get(&key)
                    .and_then(|p| p.tasks.get(&task_id))
                    .is_some_and(|s| !s.is_terminal() && *s != TaskState::TaskKilling);
                if live {
                    self.send_update(&key, &task_id, TaskState::TaskKilling);
                    let wait = self.rng.random_range(100..1_500);
                    self.queue.after(
                        wait,
                        Ev::ExecutorTimer {
                            key,
                            container,
                            timer: Timer::Killed(task_id),
                        },
                    );
                }
            }
            xevent::Type::Acknowledged => {
                if let (Some(ack), Some(process)) =
                    (event.acknowledged, self.processes.get_mut(&key))
                {
                    process.acknowledged(&ack.uuid);
                }
            }
            xevent::Type::Shutdown => {
                let live = self
                    .processes
                    .get(&key)
                    .map(|p| p.live_tasks())
                    .unwrap_or_default();
                for task_id in live {
                    self.send_update(&key, &task_id, TaskState::TaskKilled);
                }
                let wait = self.rng.random_range(100..500);
                self.queue.after(
                    wait,
                    Ev::ExecutorTimer {
                        key,
                        container,
                        timer: Timer::Exit,
                    },
                );
            }
            _ => {}
        }
    }

    pub(super) fn executor_timer(&mut self, key: ExecKey, container: String, timer: Timer) {
        let Some(process) = self
            .processes
            .get(&key)
            .filter(|p| p.container_id == container)
        else {
            return;
        };
        match timer {
            Timer::Run { task_id, fail } => {
                if process.tasks.get(&task_id) == Some(&TaskState::TaskStarting) {
                    let state = if fail {
                        TaskState::TaskFailed
                    } else {
                        TaskState::TaskRunning
                    };
                    self.send_update(&key, &task_id, state);
                }
            }
            Timer::Killed(task_id) => {
                if process
                    .tasks
                    .get(&task_id)
                    .is_some_and(|s| !s.is_terminal())
                {
                    self.send_update(&key, &task_id, TaskState::TaskKilled);
                }
            }
            Timer::Exit => self.exit(&key, 0),
        }
    }

    pub(super) fn send_update(&mut self, key: &ExecKey, task_id: &str, state: TaskState) {
        let uuid = uuid::Builder::from_random_bytes(self.rng.random())
            .into_uuid()
            .into_bytes();
        let now = self.queue.now();
        let latency = self.latency();
        let Some(process) = self.processes.get_mut(key) else {
            return;
        };
        let call = process.update(key, task_id, state, uuid);
        if process.connection.is_some() {
            let at = process.outbound.arrival(now, latency);
            let container = process.container_id.clone();
            self.queue.at(
                at,
                Ev::ExecutorCall {
                    key: key.clone(),
                    container,
                    call: Box::new(call),
                },
            );
        }
        self.note(format!("executor sends {task_id} {}", state.as_str_name()));
    }

    /// The executor process ends with this raw wait status.
    pub(super) fn exit(&mut self, key: &ExecKey, wait_status: i32) {
        let Some(process) = self.processes.remove(key) else {
            return;
        };
        self.note(format!(
            "executor {} on {} exits (status {wait_status})",
            key.2, key.0
        ));
        let now = self.instant();
        if process.started {
            self.cluster.executor_exited(
                &key.0,
                &key.1,
                &key.2,
                &process.container_id,
                Some(wait_status),
                now,
            );
        } else {
            self.cluster
                .executor_launch_failed(&key.0, &key.1, &key.2, &process.container_id, now);
        }
        self.apply_effects();
    }
}
