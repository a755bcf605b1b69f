//! The imperative shell: connects the agent, the supervisor and the process adapter.
//!
//! Three tasks, one channel each way:
//! - the **connection loop** subscribes (asking the driver for a fresh SUBSCRIBE built from
//!   the [`Ledger`]), forwards events, and on a lost connection either gives up (no
//!   checkpointing) or re-subscribes with [`Backoff`] until `MESOS_RECOVERY_TIMEOUT`;
//! - the **call loop** sends UPDATEs one at a time, in order, on a kept-alive connection;
//! - the **driver loop** (this module's [`run`]) owns all state. For each input it updates the
//!   ledger, feeds the [`Supervisor`], and carries out the returned actions in order:
//!   1. `Spawn`: prepare the task directory, spawn, and feed `Spawned`/`SpawnFailed` back at
//!      once;
//!   2. `Update`: record in the ledger under a fresh v4 uuid, then send if subscribed (if
//!      not, the next SUBSCRIBE carries it);
//!   3. `Signal`, `StartGraceTimer`, `Start/StopHealthCheck`, `Start/StopCheck`: hand to the
//!      adapters;
//!   4. `Exit`: flush queued calls, stop.
//!
//! SIGTERM (or SIGINT) is handled as SHUTDOWN, so an executor stopped by its agent or an operator still
//! gives its tasks their grace period and reports them.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use cartrack_runtime::signals::{Shutdown, Stop};
use mesos_proto::v1::executor::{event, Call, Event as AgentEvent};
use mesos_proto::v1::framework_info::capability;
use mesos_proto::v1::task_status::Reason;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::client::{resubscribe_schedule, AgentClient, Backoff, Ledger};
use crate::config::Config;
use crate::health::{self, CheckContext};
use crate::process::{Guard, ProcessTable};
use crate::sandbox;
use crate::supervisor::{task_id_of, Action, Event, StatusUpdate, Supervisor};

/// How the executor ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The agent sent SHUTDOWN and every task was reaped.
    Shutdown,
    /// The agent could not be reached (or the connection was lost without checkpointing);
    /// every task was killed.
    AgentLost(String),
}

/// What the connection loop tells the driver.
enum AgentInput {
    Event(Box<AgentEvent>),
    NeedSubscribe(oneshot::Sender<Call>),
    Disconnected(String),
    GaveUp(String),
}

enum Outgoing {
    Call(Box<Call>),
    Flush(oneshot::Sender<()>),
}

/// Longest wait for queued UPDATEs to reach the agent before exiting.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs the executor until SHUTDOWN or until the agent is lost for good.
///
/// Must run on a current-thread runtime driven by the main thread: see `crate::process` on
/// why children must be forked by a thread that lives as long as the executor.
pub async fn run(config: Config, guard: Option<Guard>) -> Outcome {
    let (agent_tx, agent_rx) = mpsc::unbounded_channel();
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (calls_tx, calls_rx) = mpsc::unbounded_channel();
    let token = config.authentication_token.clone();
    tokio::spawn(connection_loop(
        AgentClient::new(&config.agent_endpoint, token.clone()),
        config.clone(),
        agent_tx,
    ));
    tokio::spawn(call_loop(
        AgentClient::new(&config.agent_endpoint, token),
        calls_rx,
    ));
    let mut driver = Driver {
        ledger: Ledger::new(&config.framework_id, &config.executor_id),
        supervisor: Supervisor::new(),
        processes: ProcessTable::new(events_tx.clone(), guard),
        checkers: HashMap::new(),
        health_checkers: HashMap::new(),
        task_env: HashMap::new(),
        events_tx,
        calls_tx,
        subscribed: false,
        exit: false,
        lost: None,
        config,
    };
    driver.run(agent_rx, events_rx).await
}

struct Driver {
    config: Config,
    ledger: Ledger,
    supervisor: Supervisor,
    processes: ProcessTable,
    /// Health check loops by task.
    health_checkers: HashMap<String, JoinHandle<()>>,
    /// Check loops by task.
    checkers: HashMap<String, JoinHandle<()>>,
    task_env: HashMap<String, Vec<(String, String)>>,
    events_tx: mpsc::UnboundedSender<Event>,
    calls_tx: mpsc::UnboundedSender<Outgoing>,
    subscribed: bool,
    exit: bool,
    lost: Option<String>,
}

impl Driver {
    async fn run(
        &mut self,
        mut agent_rx: mpsc::UnboundedReceiver<AgentInput>,
        mut events_rx: mpsc::UnboundedReceiver<Event>,
    ) -> Outcome {
        // SIGTERM (an agent or operator stopping us) or SIGINT is a SHUTDOWN: tasks get their
        // grace.
        let mut shutdown = Shutdown::listen()
            .inspect_err(|error| tracing::warn!(%error, "cannot handle SIGTERM and SIGINT"))
            .ok();
        while !self.exit {
            tokio::select! {
                Some(input) = agent_rx.recv() => self.on_agent(input),
                Some(event) = events_rx.recv() => self.feed(event),
                signal = shutdown_requested(&mut shutdown) => {
                    tracing::info!(%signal, "shutting down");
                    self.feed(Event::Shutdown {
                        grace: self.config.shutdown_grace_period,
                    });
                }
                else => break,
            }
        }
        for (_, checker) in self.health_checkers.drain().chain(self.checkers.drain()) {
            checker.abort();
        }
        if self.subscribed {
            let (done_tx, done_rx) = oneshot::channel();
            if self.calls_tx.send(Outgoing::Flush(done_tx)).is_ok() {
                let _ = tokio::time::timeout(FLUSH_TIMEOUT, done_rx).await;
            }
        }
        match self.lost.take() {
            Some(reason) => Outcome::AgentLost(reason),
            None => Outcome::Shutdown,
        }
    }

    fn on_agent(&mut self, input: AgentInput) {
        match input {
            AgentInput::NeedSubscribe(reply) => {
                let _ = reply.send(self.ledger.subscribe_call());
            }
            AgentInput::Disconnected(reason) => {
                tracing::warn!(%reason, "lost the agent connection");
                self.subscribed = false;
            }
            AgentInput::GaveUp(reason) => {
                tracing::error!(%reason, "giving up on the agent; killing every task");
                self.subscribed = false;
                self.lost = Some(reason);
                self.feed(Event::Shutdown {
                    grace: self.config.shutdown_grace_period,
                });
            }
            AgentInput::Event(event) => self.on_agent_event(*event),
        }
    }

    fn on_agent_event(&mut self, event: AgentEvent) {
        let kind = event.r#type();
        tracing::debug!(?kind, "agent event");
        match kind {
            event::Type::Subscribed => {
                self.subscribed = true;
                let task_killing_state = event.subscribed.as_ref().is_some_and(|s| {
                    s.framework_info
                        .capabilities
                        .iter()
                        .any(|c| c.r#type() == capability::Type::TaskKillingState)
                });
                tracing::info!(task_killing_state, "subscribed to the agent");
                self.feed(Event::Capabilities { task_killing_state });
            }
            event::Type::Launch => {
                if let Some(launch) = event.launch {
                    self.ledger.track_task(launch.task.clone());
                    self.feed(Event::Launch {
                        tasks: vec![launch.task],
                        group: false,
                    });
                }
            }
            event::Type::LaunchGroup => {
                if let Some(launch) = event.launch_group {
                    let tasks = launch.task_group.tasks;
                    for task in &tasks {
                        self.ledger.track_task(task.clone());
                    }
                    self.feed(Event::Launch { tasks, group: true });
                }
            }
            event::Type::Kill => {
                if let Some(kill) = event.kill {
                    let grace = kill
                        .kill_policy
                        .and_then(|policy| policy.grace_period)
                        .map(|d| Duration::from_nanos(u64::try_from(d.nanoseconds).unwrap_or(0)));
                    self.feed(Event::Kill {
                        task_id: kill.task_id.value,
                        grace,
                    });
                }
            }
            event::Type::Acknowledged => {
                if let Some(ack) = event.acknowledged {
                    if !self.ledger.acknowledge(&ack.task_id.value, &ack.uuid) {
                        tracing::debug!(task = %ack.task_id.value, "acknowledgement of an unknown update");
                    }
                }
            }
            event::Type::Message => {
                let len = event.message.map(|m| m.data.len()).unwrap_or(0);
                tracing::info!(
                    bytes = len,
                    "framework message ignored: cartrack tasks take no messages"
                );
            }
            event::Type::Shutdown => self.feed(Event::Shutdown {
                grace: self.config.shutdown_grace_period,
            }),
            event::Type::Error => {
                let message = event.error.map(|e| e.message).unwrap_or_default();
                tracing::error!(%message, "the agent reported an error");
            }
            event::Type::Heartbeat | event::Type::Unknown => {}
        }
    }

    /// Feeds one event to the supervisor and carries out the actions, including those of the
    /// events the actions produce at once (spawn results).
    fn feed(&mut self, event: Event) {
        let mut queue = VecDeque::from([event]);
        while let Some(event) = queue.pop_front() {
            if let Event::ChildExited { task_id, .. } = &event {
                self.processes.forget(task_id);
                self.task_env.remove(task_id);
            }
            for action in self.supervisor.handle(event) {
                if let Some(next) = self.apply(action) {
                    queue.push_back(next);
                }
            }
        }
    }

    fn apply(&mut self, action: Action) -> Option<Event> {
        match action {
            Action::Spawn(task) => Some(self.spawn(&task)),
            Action::Update(mut update) => {
                if update.reason == Some(Reason::CommandExecutorFailed) {
                    quote_stderr(&mut update, &self.config.sandbox);
                }
                let uuid = *uuid::Uuid::new_v4().as_bytes();
                let timestamp = cartrack_runtime::clock::now_secs_f64();
                tracing::info!(task = %update.task_id, state = update.state.as_str_name(), message = update.message.as_deref(), "status update");
                let call = self.ledger.record(&update, uuid, timestamp);
                if self.subscribed {
                    let _ = self.calls_tx.send(Outgoing::Call(Box::new(call)));
                }
                None
            }
            Action::Signal { task_id, signal } => {
                self.processes.signal(&task_id, signal);
                None
            }
            Action::StartGraceTimer { task_id, after } => {
                self.feed_after(after, Event::GraceExpired { task_id });
                None
            }
            Action::StartIdleTimer { generation, after } => {
                self.feed_after(after, Event::IdleExpired { generation });
                None
            }
            Action::StartHealthCheck { task_id, check } => {
                let handle = health::spawn_checker(
                    *check,
                    self.check_context(&task_id),
                    self.events_tx.clone(),
                );
                replace_loop(&mut self.health_checkers, task_id, handle);
                None
            }
            Action::StopHealthCheck { task_id } => {
                stop_loop(&mut self.health_checkers, &task_id);
                None
            }
            Action::StartCheck { task_id, check } => {
                let handle = health::spawn_check(
                    *check,
                    self.check_context(&task_id),
                    self.events_tx.clone(),
                );
                replace_loop(&mut self.checkers, task_id, handle);
                None
            }
            Action::StopCheck { task_id } => {
                stop_loop(&mut self.checkers, &task_id);
                None
            }
            Action::Exit => {
                self.exit = true;
                None
            }
        }
    }

    /// Where the task's checks run: its directory and the environment it was started with.
    fn check_context(&self, task_id: &str) -> CheckContext {
        CheckContext {
            sandbox: self.config.sandbox.clone(),
            task_id: task_id.to_string(),
            env: self.task_env.get(task_id).cloned().unwrap_or_default(),
        }
    }

    /// Feeds `event` back to the loop after `delay` (a timer the supervisor asked for).
    fn feed_after(&self, delay: Duration, event: Event) {
        let events = self.events_tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            // A closed channel means the executor is exiting: the timer no longer matters.
            let _ = events.send(event);
        });
    }

    fn spawn(&mut self, task: &mesos_proto::v1::TaskInfo) -> Event {
        let task_id = task_id_of(task);
        let command = task.command.clone().unwrap_or_default();
        let result =
            sandbox::launch_spec(&self.config.sandbox, &task_id, &command, std::env::vars())
                .map_err(|e| e.to_string())
                .and_then(|spec| {
                    sandbox::prepare(&self.config.sandbox, &spec)
                        .map_err(|e| format!("cannot prepare {}: {e}", spec.dir.display()))?;
                    let pid = self
                        .processes
                        .spawn(&task_id, &spec)
                        .map_err(|e| format!("cannot execute {:?}: {e}", spec.program))?;
                    tracing::info!(task = %task_id, pid, dir = %spec.dir.display(), "task started");
                    self.task_env.insert(task_id.clone(), spec.env);
                    Ok(())
                });
        match result {
            Ok(()) => Event::Spawned { task_id },
            Err(error) => Event::SpawnFailed { task_id, error },
        }
    }
}

fn replace_loop(
    loops: &mut HashMap<String, JoinHandle<()>>,
    task_id: String,
    handle: JoinHandle<()>,
) {
    if let Some(old) = loops.insert(task_id, handle) {
        old.abort();
    }
}

fn stop_loop(loops: &mut HashMap<String, JoinHandle<()>>, task_id: &str) {
    if let Some(handle) = loops.remove(task_id) {
        handle.abort();
    }
}

/// Adds the end of the task's `stderr` to a failure's message ("Command exited with status
/// 1; stderr ends: ..."), so the scheduler and its operators see why it crashed.
fn quote_stderr(update: &mut StatusUpdate, sandbox: &std::path::Path) {
    if let Some(tail) = sandbox::stderr_tail(sandbox, &update.task_id) {
        let message = update.message.take().unwrap_or_default();
        update.message = Some(format!("{message}; stderr ends: {tail}"));
    }
}

async fn shutdown_requested(shutdown: &mut Option<Shutdown>) -> Stop {
    match shutdown {
        Some(shutdown) => shutdown.recv().await,
        None => std::future::pending().await,
    }
}

async fn connection_loop(
    client: AgentClient,
    config: Config,
    tx: mpsc::UnboundedSender<AgentInput>,
) {
    let mut backoff = Backoff::new(resubscribe_schedule(config.subscription_backoff_max));
    let mut ever_subscribed = false;
    let mut lost_since = Instant::now();
    loop {
        let (reply_tx, reply_rx) = oneshot::channel();
        if tx.send(AgentInput::NeedSubscribe(reply_tx)).is_err() {
            return;
        }
        let Ok(call) = reply_rx.await else { return };
        let reason = match client.subscribe(&call).await {
            Ok(mut stream) => {
                let reason = loop {
                    match stream.next().await {
                        Ok(Some(event)) => {
                            if event.r#type() == event::Type::Subscribed {
                                ever_subscribed = true;
                                backoff.reset();
                            }
                            if tx.send(AgentInput::Event(Box::new(event))).is_err() {
                                return;
                            }
                        }
                        Ok(None) => break "the agent closed the event stream".to_string(),
                        Err(error) => break error.to_string(),
                    }
                };
                lost_since = Instant::now();
                if tx.send(AgentInput::Disconnected(reason.clone())).is_err() {
                    return;
                }
                reason
            }
            Err(error) => {
                tracing::warn!(%error, "SUBSCRIBE failed");
                error.to_string()
            }
        };
        if ever_subscribed && !config.checkpoint {
            let _ = tx.send(AgentInput::GaveUp(format!(
                "{reason}; MESOS_CHECKPOINT is off, so the executor does not wait for the agent"
            )));
            return;
        }
        if lost_since.elapsed() >= config.recovery_timeout {
            let _ = tx.send(AgentInput::GaveUp(format!(
                "{reason}; no agent within MESOS_RECOVERY_TIMEOUT ({:?})",
                config.recovery_timeout
            )));
            return;
        }
        let delay = backoff.next_delay();
        tokio::time::sleep(delay).await;
    }
}

async fn call_loop(mut client: AgentClient, mut rx: mpsc::UnboundedReceiver<Outgoing>) {
    while let Some(outgoing) = rx.recv().await {
        match outgoing {
            Outgoing::Call(call) => {
                if let Err(error) = client.call(&call).await {
                    // The update stays in the ledger; the next SUBSCRIBE carries it.
                    tracing::warn!(%error, "call to the agent failed");
                }
            }
            Outgoing::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}
