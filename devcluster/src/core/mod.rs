//! The cluster's decisions, free of I/O: the master's and agents' bookkeeping fed calls,
//! process exits and clock ticks, returning [`Effect`]s for the adapters to carry out.
//!
//! Like raft-rs' `RawNode`: time enters only as `now` arguments, output piles up in
//! [`Core::take_effects`]. The HTTP handlers and the process supervisor are the shell.
//! Stream ids and update uuids come from [`Core::with_uuid_source`] when a simulation needs
//! them seeded (`sim/`).

mod agent;
mod allocation;
mod executor;
mod scheduler;
mod updates;
mod validation;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use mesos_proto::v1::executor as exec_api;
use mesos_proto::v1::scheduler::{event as sevent, Event as SEvent};
use mesos_proto::v1::{
    task_status, AgentId, ExecutorInfo, FrameworkInfo, TaskId, TaskInfo, TaskState, TaskStatus,
};

pub use executor::ExecutorCallError;
pub use scheduler::{error_event, CallError, Subscribed};

use crate::log::LogEntry;
use crate::resources::Resources;

/// Longest gap between status update retries (Mesos: 10 min).
const MAX_UPDATE_RETRY: Duration = Duration::from_secs(600);

/// Removed frameworks the master remembers (Mesos' `--max_completed_frameworks` default).
const MAX_COMPLETED_FRAMEWORKS: usize = 50;

/// Ended tasks a framework's history keeps (Mesos' `--max_completed_tasks_per_framework`).
const MAX_COMPLETED_TASKS: usize = 1000;

/// Timeouts the core applies; copied from [`crate::ClusterConfig`].
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// HEARTBEAT period.
    pub heartbeat_interval: Duration,
    /// First status update retry.
    pub status_update_retry: Duration,
    /// Executor (re-)registration timeout.
    pub executor_registration_timeout: Duration,
    /// Time before a lost agent's tasks are declared LOST / UNREACHABLE.
    pub agent_unreachable_timeout: Duration,
    /// Grace between SHUTDOWN and SIGKILL of an executor (Mesos default 5 s).
    pub executor_shutdown_grace: Duration,
}

/// Something the shell must do because of a decision.
// Effects live for microseconds between a decision and its application: boxing buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Effect {
    /// Write an event to the framework's current stream (dropped if it has none).
    ToFramework {
        /// Receiver.
        framework_id: String,
        /// The event.
        event: SEvent,
    },
    /// Close this stream of the framework.
    CloseFrameworkStream {
        /// Whose.
        framework_id: String,
        /// Which subscription.
        stream_id: String,
    },
    /// Write an event to an executor's connection.
    ToExecutor {
        /// Agent.
        agent_id: String,
        /// Framework.
        framework_id: String,
        /// Executor.
        executor_id: String,
        /// The event.
        event: exec_api::Event,
    },
    /// Close an executor's connection.
    CloseExecutor {
        /// Agent.
        agent_id: String,
        /// Framework.
        framework_id: String,
        /// Executor.
        executor_id: String,
    },
    /// Fetch and start an executor process.
    LaunchExecutor(Box<LaunchSpec>),
    /// Stop an executor process: SIGKILL after `grace` unless it has exited by then.
    KillExecutor {
        /// Agent.
        agent_id: String,
        /// Framework.
        framework_id: String,
        /// Executor.
        executor_id: String,
        /// Time the executor has to exit by itself after SHUTDOWN.
        grace: Duration,
    },
    /// Record a log entry (timeouts and decisions worth seeing).
    Record(LogEntry),
}

/// Everything needed to start an executor process.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    /// Agent.
    pub agent_id: String,
    /// Framework.
    pub framework_id: String,
    /// The executor as the framework described it.
    pub executor: ExecutorInfo,
    /// The framework asked for checkpointing.
    pub checkpoint: bool,
    /// Unique per launch, names the sandbox run folder.
    pub container_id: String,
}

/// A framework as the master knows it.
#[derive(Debug, Clone)]
pub struct Framework {
    /// Its id.
    pub id: String,
    /// What it subscribed with (id filled in).
    pub info: FrameworkInfo,
    /// The current subscription's stream id; `None` while disconnected.
    pub stream_id: Option<String>,
    /// When it lost its stream (failover timer start).
    pub disconnected_since: Option<Instant>,
    /// Agent id -> what was refused, until when (DECLINE / ACCEPT filters).
    pub refused: HashMap<String, Refusal>,
    /// SUPPRESS was called and no REVIVE since.
    pub suppressed: bool,
    /// When it first subscribed to this master (`registered_time` in `/state`).
    pub registered_at: Instant,
    /// When it last subscribed again with its id (`reregistered_time`); `None` until then.
    pub reregistered_at: Option<Instant>,
    /// Kept through a master failover and not subscribed since (`recovered` in `/state`).
    pub recovered: bool,
    /// Its tasks that ended and that the agents forgot, oldest first (Mesos' `completed_tasks`).
    pub completed_tasks: VecDeque<CompletedTask>,
    next_heartbeat: Instant,
}

/// A task that ended, as the master's history keeps it.
#[derive(Debug, Clone)]
pub struct CompletedTask {
    /// The agent it ran on.
    pub agent_id: String,
    /// The task as launched.
    pub info: TaskInfo,
    /// Its executor.
    pub executor_id: String,
    /// Its terminal state.
    pub state: TaskState,
    /// Its resources.
    pub resources: Resources,
}

/// A framework removed by TEARDOWN or an expired failover timeout (`completed_frameworks`).
#[derive(Debug, Clone)]
pub struct CompletedFramework {
    /// The framework as it was when removed, its tasks moved to `completed_tasks`.
    pub framework: Framework,
    /// When it was removed (`unregistered_time`).
    pub unregistered_at: Instant,
}

impl Framework {
    fn has_capability(&self, cap: mesos_proto::v1::framework_info::capability::Type) -> bool {
        self.info
            .capabilities
            .iter()
            .any(|c| c.r#type == Some(cap as i32))
    }

    /// PARTITION_AWARE: lost agents make tasks UNREACHABLE, not LOST.
    pub fn partition_aware(&self) -> bool {
        self.has_capability(mesos_proto::v1::framework_info::capability::Type::PartitionAware)
    }

    /// MULTI_ROLE: offers carry `allocation_info.role`.
    pub fn multi_role(&self) -> bool {
        self.has_capability(mesos_proto::v1::framework_info::capability::Type::MultiRole)
    }

    /// The role offers are made to.
    pub fn offer_role(&self) -> String {
        if self.multi_role() {
            self.info
                .roles
                .first()
                .cloned()
                .unwrap_or_else(|| "*".into())
        } else {
            self.info.role.clone().unwrap_or_else(|| "*".into())
        }
    }
}

/// An agent: what it has, what runs on it, and whether the master can see it.
#[derive(Debug, Clone)]
pub struct Agent {
    /// Its id.
    pub id: String,
    /// Its hostname: 127.0.0.1 unless the cluster gives each agent its own loopback address.
    pub hostname: String,
    /// Total resources.
    pub total: Resources,
    /// Other tenants' load, withheld from offers.
    pub tenant_load: Resources,
    /// Attributes offered with its resources.
    pub attributes: Vec<mesos_proto::v1::Attribute>,
    /// The agent process runs (false after a kill).
    pub up: bool,
    /// The master can reach it (false while killed or partitioned).
    pub reachable: bool,
    /// When it became unreachable.
    pub unreachable_since: Option<Instant>,
    /// The unreachable timeout fired and tasks were declared LOST / UNREACHABLE.
    pub marked_unreachable: bool,
    /// (framework id, executor id) -> executor.
    pub executors: BTreeMap<(String, String), Executor>,
    /// (framework id, task id) -> task.
    pub tasks: BTreeMap<(String, String), Task>,
}

/// An executor on an agent.
#[derive(Debug, Clone)]
pub struct Executor {
    /// Its description.
    pub info: ExecutorInfo,
    /// Its resources (counted once however many tasks it runs).
    pub resources: Resources,
    /// Names the run folder.
    pub container_id: String,
    /// The framework asked for checkpointing (it may reconnect after an agent restart).
    pub checkpoint: bool,
    /// It has an open SUBSCRIBE stream.
    pub connected: bool,
    /// It must (re)subscribe before this instant or be killed.
    pub register_deadline: Option<Instant>,
    /// Events waiting for it to subscribe.
    pub pending: Vec<exec_api::Event>,
    /// SHUTDOWN sent (tasks still running when it exits end up KILLED).
    pub shutting_down: bool,
    /// Its framework's tasks were declared LOST while the agent was partitioned: kill it on heal.
    pub orphaned: bool,
    /// It ran before an agent restart and must re-subscribe (timeout reason differs).
    pub reregistering: bool,
    /// The built-in command executor stand-in: the process is the task's command itself, and
    /// the agent reports RUNNING on start and FINISHED / FAILED on exit.
    pub command_task: bool,
}

/// A task on an agent, with its queue of status updates awaiting acknowledgement.
#[derive(Debug, Clone)]
pub struct Task {
    /// The task as launched.
    pub info: TaskInfo,
    /// Its executor.
    pub executor_id: String,
    /// The latest state the agent knows.
    pub state: TaskState,
    /// Its resources.
    pub resources: Resources,
    /// Updates not yet acknowledged by the scheduler; the front one is in flight.
    pub updates: VecDeque<TaskStatus>,
    /// Uuids of every update taken from the executor, as a Mesos agent's status update
    /// stream remembers them: an update the executor sends again (inside a re-SUBSCRIBE, after
    /// a lost ACKNOWLEDGED) is acknowledged but not forwarded twice.
    pub received_uuids: std::collections::HashSet<Vec<u8>>,
    /// When to resend the front update.
    pub next_retry: Option<Instant>,
    /// Current retry interval.
    pub retry_backoff: Duration,
    /// KILL was requested.
    pub kill_requested: bool,
    /// The master declared it UNREACHABLE (PARTITION_AWARE frameworks).
    pub unreachable: bool,
}

/// An offer not yet accepted, declined or rescinded.
#[derive(Debug, Clone)]
pub struct OutstandingOffer {
    /// To whom.
    pub framework_id: String,
    /// Of which agent.
    pub agent_id: String,
    /// What.
    pub resources: Resources,
    /// The role it was allocated to.
    pub role: String,
}

/// A DECLINE's (or what an ACCEPT left unused) filter, as Mesos keeps it: the agent's
/// resources are not offered to the framework again until `until` while they fit inside
/// `resources`. Once more is free there (another framework's task ended), they are offered.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// When the filter ends.
    pub until: Instant,
    /// What was refused.
    pub resources: Resources,
}

impl Refusal {
    /// Whether `available` on the agent stays withheld at `now`.
    pub fn filters(&self, available: &Resources, now: Instant) -> bool {
        now < self.until && self.resources.contains(available)
    }
}

/// The whole cluster's state. See the module docs.
pub struct Core {
    cfg: CoreConfig,
    epoch: String,
    counter: u64,
    /// Known frameworks.
    pub frameworks: BTreeMap<String, Framework>,
    /// Agents by id.
    pub agents: BTreeMap<String, Agent>,
    /// Offers outstanding.
    pub offers: BTreeMap<String, OutstandingOffer>,
    spent_offers: HashSet<String>,
    /// Frameworks torn down or failed over for good: they may not SUBSCRIBE again.
    removed_frameworks: HashSet<String>,
    /// The most recently removed frameworks, oldest first.
    pub completed_frameworks: VecDeque<CompletedFramework>,
    /// When the current leading master was elected (cluster start, then each failover).
    pub elected_at: Instant,
    alloc_cursor: usize,
    effects: Vec<Effect>,
    /// Stream ids and status update uuids; random unless a simulation needs them seeded.
    new_uuid: Box<dyn FnMut() -> uuid::Uuid + Send>,
}

/// Status timestamps: the one wall-clock read left in the core (Mesos stamps updates with
/// the time they were made, which no `now: Instant` argument carries).
fn now_seconds() -> f64 {
    cartrack_runtime::clock::now_secs_f64()
}

/// Builds a status the master itself generates: no uuid, so it must not be acknowledged.
fn master_status(
    task_id: &str,
    agent_id: Option<&str>,
    state: TaskState,
    reason: Option<task_status::Reason>,
    message: &str,
) -> TaskStatus {
    TaskStatus {
        task_id: TaskId {
            value: task_id.to_string(),
        },
        state: state as i32,
        message: Some(message.to_string()),
        source: Some(task_status::Source::Master as i32),
        reason: reason.map(|r| r as i32),
        agent_id: agent_id.map(|a| AgentId {
            value: a.to_string(),
        }),
        timestamp: Some(now_seconds()),
        ..Default::default()
    }
}

fn update_event(status: TaskStatus) -> SEvent {
    SEvent {
        r#type: Some(sevent::Type::Update as i32),
        update: Some(sevent::Update { status }),
        ..Default::default()
    }
}

fn executor_event(kind: exec_api::event::Type) -> exec_api::Event {
    exec_api::Event {
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

impl Core {
    /// A new cluster with these agents, its master elected at `now`. `epoch` makes ids unique
    /// across master restarts.
    pub fn new(cfg: CoreConfig, epoch: String, agents: Vec<Agent>, now: Instant) -> Core {
        Core {
            cfg,
            epoch,
            counter: 0,
            frameworks: BTreeMap::new(),
            agents: agents.into_iter().map(|a| (a.id.clone(), a)).collect(),
            offers: BTreeMap::new(),
            spent_offers: HashSet::new(),
            removed_frameworks: HashSet::new(),
            completed_frameworks: VecDeque::new(),
            elected_at: now,
            alloc_cursor: 0,
            effects: Vec::new(),
            new_uuid: Box::new(uuid::Uuid::new_v4),
        }
    }

    /// Takes uuids (stream ids, status update uuids) from `source` instead of random ones, so a
    /// deterministic simulation can replay a run.
    pub fn with_uuid_source(mut self, source: Box<dyn FnMut() -> uuid::Uuid + Send>) -> Core {
        self.new_uuid = source;
        self
    }

    /// Drains the effects decided so far, in order.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// The core's timeouts.
    pub fn config(&self) -> &CoreConfig {
        &self.cfg
    }

    fn next_id(&mut self, kind: &str) -> String {
        self.counter += 1;
        format!("{}-{kind}{:04}", self.epoch, self.counter)
    }

    fn record_fault(&mut self, description: String) {
        self.effects
            .push(Effect::Record(LogEntry::Fault { description }));
    }

    fn send_to_framework(&mut self, framework_id: &str, event: SEvent) {
        self.effects.push(Effect::ToFramework {
            framework_id: framework_id.to_string(),
            event,
        });
    }

    fn send_to_executor(
        &mut self,
        agent_id: &str,
        framework_id: &str,
        executor_id: &str,
        event: exec_api::Event,
    ) {
        let key = (framework_id.to_string(), executor_id.to_string());
        let Some(exec) = self
            .agents
            .get_mut(agent_id)
            .and_then(|a| a.executors.get_mut(&key))
        else {
            return;
        };
        if exec.connected {
            self.effects.push(Effect::ToExecutor {
                agent_id: agent_id.to_string(),
                framework_id: framework_id.to_string(),
                executor_id: executor_id.to_string(),
                event,
            });
        } else {
            exec.pending.push(event);
        }
    }

    /// Periodic work: heartbeats, failover and registration timeouts, update retries, agent
    /// unreachability, and allocation. Call every ~100 ms.
    pub fn tick(&mut self, now: Instant) {
        self.heartbeats(now);
        self.expire_failover(now);
        self.expire_registrations(now);
        self.retry_updates(now);
        self.expire_unreachable_agents(now);
        self.allocate(now);
    }

    fn heartbeats(&mut self, now: Instant) {
        let interval = self.cfg.heartbeat_interval;
        let due: Vec<String> = self
            .frameworks
            .values_mut()
            .filter(|f| f.stream_id.is_some() && f.next_heartbeat <= now)
            .map(|f| {
                f.next_heartbeat = now + interval;
                f.id.clone()
            })
            .collect();
        for id in due {
            self.send_to_framework(&id, heartbeat_event());
        }
    }

    fn expire_failover(&mut self, now: Instant) {
        let expired: Vec<String> = self
            .frameworks
            .values()
            .filter(|f| {
                f.disconnected_since.is_some_and(|since| {
                    let timeout = f.info.failover_timeout.unwrap_or(0.0).max(0.0);
                    now.duration_since(since).as_secs_f64() >= timeout
                })
            })
            .map(|f| f.id.clone())
            .collect();
        for id in expired {
            self.record_fault(format!(
                "framework {id} did not re-subscribe within its failover_timeout: removed, its tasks killed"
            ));
            self.remove_framework(&id, now);
        }
    }

    /// Removes a framework and shuts down everything it runs (TEARDOWN, failover expiry): its
    /// tasks end KILLED (no update is sent: its stream is closed) and it moves, with them, to
    /// `completed_frameworks`. False for a framework this master does not know.
    fn remove_framework(&mut self, framework_id: &str, now: Instant) -> bool {
        let Some(mut framework) = self.frameworks.remove(framework_id) else {
            return false;
        };
        self.removed_frameworks.insert(framework_id.to_string());
        if let Some(stream_id) = framework.stream_id.take() {
            self.effects.push(Effect::CloseFrameworkStream {
                framework_id: framework_id.to_string(),
                stream_id,
            });
        }
        self.offers.retain(|_, o| o.framework_id != framework_id);
        let grace = self.cfg.executor_shutdown_grace;
        let agent_ids: Vec<String> = self.agents.keys().cloned().collect();
        for agent_id in agent_ids {
            let Some(agent) = self.agents.get_mut(&agent_id) else {
                continue;
            };
            let keys: Vec<(String, String)> = agent
                .tasks
                .keys()
                .filter(|(fid, _)| fid == framework_id)
                .cloned()
                .collect();
            for key in keys {
                if let Some(task) = agent.tasks.remove(&key) {
                    let state = if task.state.is_terminal() {
                        task.state
                    } else {
                        TaskState::TaskKilled
                    };
                    push_completed(&mut framework, &agent_id, &task, state);
                }
            }
            let execs: Vec<String> = agent
                .executors
                .keys()
                .filter(|(fid, _)| fid == framework_id)
                .map(|(_, e)| e.clone())
                .collect();
            for exec_id in execs {
                self.shutdown_executor(&agent_id, framework_id, &exec_id, grace);
            }
        }
        if self.completed_frameworks.len() == MAX_COMPLETED_FRAMEWORKS {
            self.completed_frameworks.pop_front();
        }
        self.completed_frameworks.push_back(CompletedFramework {
            framework,
            unregistered_at: now,
        });
        true
    }

    /// The operator API's TEARDOWN: the framework is removed as by its own TEARDOWN call.
    /// False (Mesos: 400 "No framework found with specified ID") when this master does not
    /// know it, including when it was removed already.
    pub fn teardown(&mut self, framework_id: &str, now: Instant) -> bool {
        self.remove_framework(framework_id, now)
    }

    /// Puts a task the agents forget into its framework's history of ended tasks.
    fn record_completed(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        task: &Task,
        state: TaskState,
    ) {
        if let Some(framework) = self.frameworks.get_mut(framework_id) {
            push_completed(framework, agent_id, task, state);
        }
    }

    /// Sends SHUTDOWN to an executor and schedules its kill.
    fn shutdown_executor(
        &mut self,
        agent_id: &str,
        framework_id: &str,
        executor_id: &str,
        grace: Duration,
    ) {
        let key = (framework_id.to_string(), executor_id.to_string());
        let Some(exec) = self
            .agents
            .get_mut(agent_id)
            .and_then(|a| a.executors.get_mut(&key))
        else {
            return;
        };
        exec.shutting_down = true;
        let connected = exec.connected;
        if connected {
            self.send_to_executor(
                agent_id,
                framework_id,
                executor_id,
                executor_event(exec_api::event::Type::Shutdown),
            );
        }
        self.effects.push(Effect::KillExecutor {
            agent_id: agent_id.to_string(),
            framework_id: framework_id.to_string(),
            executor_id: executor_id.to_string(),
            grace: if connected { grace } else { Duration::ZERO },
        });
    }

    /// The prefix of every id this master generated (differs per cluster start).
    pub fn epoch(&self) -> &str {
        &self.epoch
    }
}

/// Appends an ended task to a framework's bounded history.
fn push_completed(framework: &mut Framework, agent_id: &str, task: &Task, state: TaskState) {
    if framework.completed_tasks.len() == MAX_COMPLETED_TASKS {
        framework.completed_tasks.pop_front();
    }
    framework.completed_tasks.push_back(CompletedTask {
        agent_id: agent_id.to_string(),
        info: task.info.clone(),
        executor_id: task.executor_id.clone(),
        state,
        resources: task.resources.clone(),
    });
}

fn heartbeat_event() -> SEvent {
    SEvent {
        r#type: Some(sevent::Type::Heartbeat as i32),
        ..Default::default()
    }
}

impl Agent {
    /// A fresh, reachable agent with nothing running.
    pub fn new(
        id: String,
        total: Resources,
        tenant_load: Resources,
        attributes: Vec<mesos_proto::v1::Attribute>,
    ) -> Agent {
        Agent {
            id,
            hostname: "127.0.0.1".to_string(),
            total,
            tenant_load,
            attributes,
            up: true,
            reachable: true,
            unreachable_since: None,
            marked_unreachable: false,
            executors: BTreeMap::new(),
            tasks: BTreeMap::new(),
        }
    }

    /// Resources used by cartrack-visible frameworks: live executors and non-terminal tasks.
    pub fn used(&self) -> Resources {
        let mut used = Resources::default();
        for e in self.executors.values() {
            used.add(&e.resources);
        }
        for t in self.tasks.values().filter(|t| !t.state.is_terminal()) {
            used.add(&t.resources);
        }
        used
    }

    /// What can still be offered: total minus tenants' load minus what runs.
    pub fn available(&self) -> Resources {
        let mut available = self.total.clone();
        available.subtract(&self.tenant_load);
        available.subtract(&self.used());
        available
    }
}

#[cfg(test)]
mod tests;
