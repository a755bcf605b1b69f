//! [`DevCluster`]: the shell around [`crate::core::Core`]. It owns the listeners, the event
//! streams, the executor processes and the clock tick, and carries out the core's effects.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::channel::mpsc::UnboundedSender;
use mesos_proto::recordio::MessageCodec;
use mesos_proto::v1::scheduler::Event as SEvent;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::codec::Encoder;

use crate::config::ClusterConfig;
use crate::core::{Agent, Core, CoreConfig, Effect, LaunchSpec};
use crate::error::DevClusterError;
use crate::log::{EventLog, LogEntry};
use crate::process;
use crate::resources::{parse_attributes, Resources};

/// How often the core's clock ticks (allocation, timeouts, retries).
const TICK: Duration = Duration::from_millis(50);

/// Key of an executor: (agent id, framework id, executor id).
type ExecKey = (String, String, String);

/// An executor process the shell supervises.
struct ProcessEntry {
    container_id: String,
    pid: Option<u32>,
    kill_requested: bool,
}

/// Mutable shell state, guarded together with the core so effects apply in decision order.
pub(crate) struct Shared {
    pub(crate) core: Core,
    framework_streams: HashMap<String, (String, UnboundedSender<Bytes>)>,
    executor_streams: HashMap<ExecKey, UnboundedSender<Bytes>>,
    processes: HashMap<ExecKey, ProcessEntry>,
    pub(crate) leader: Option<usize>,
    update_delay: Duration,
    duplicate_updates: bool,
    /// While set, ACKNOWLEDGED events to executors are dropped (and logged as a fault), so
    /// updates stay unacknowledged on the executor's side until it re-subscribes.
    withhold_executor_acks: bool,
    /// How many more accepted ACKNOWLEDGE calls are lost on their way to the agent.
    lose_acknowledgements: usize,
    /// How long the answer to each scheduler call but SUBSCRIBE is held back after the call
    /// took effect (zero: answered at once).
    call_answer_delay: Duration,
}

/// Everything the handlers and the tick share.
pub(crate) struct Inner {
    shared: Mutex<Shared>,
    pub(crate) log: EventLog,
    pub(crate) config: ClusterConfig,
    /// Master listeners: [0] the default leader, [1] the standby.
    pub(crate) master_addrs: [SocketAddr; 2],
    pub(crate) agent_addrs: HashMap<String, SocketAddr>,
    http: reqwest::Client,
    tenant_load: Resources,
    /// Both clocks read once at start: `/state` turns the core's instants into epoch seconds.
    pub(crate) wall_clock: crate::state::WallClock,
}

/// A running dev cluster: a master (plus a standby listener), agents and their executors, all
/// on 127.0.0.1 (agents on 127.0.0.2, 127.0.0.3, ... with [`ClusterConfig::distinct_hosts`]).
/// Start with [`DevCluster::start`], stop with [`DevCluster::shutdown`]; dropping it kills every
/// executor process too.
pub struct DevCluster {
    inner: Arc<Inner>,
    tasks: Vec<JoinHandle<()>>,
}

fn encode<M: prost::Message>(message: &M) -> Bytes {
    let mut buf = BytesMut::new();
    // Encoding into a growable buffer cannot fail except over the codec's size cap, which
    // the cluster's own messages never reach; such a record would be skipped.
    let _ = MessageCodec::<M>::default().encode(message, &mut buf);
    buf.freeze()
}

impl Inner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panic while holding the lock would be a bug in the core; keep serving regardless.
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the core, then carries out the effects it decided.
    pub(crate) fn with_core<R>(self: &Arc<Self>, f: impl FnOnce(&mut Core, Instant) -> R) -> R {
        let mut shared = self.lock();
        let result = f(&mut shared.core, Instant::now());
        self.apply(&mut shared);
        result
    }

    /// Carries out the pending effects, in order.
    pub(crate) fn apply(self: &Arc<Self>, shared: &mut Shared) {
        loop {
            let effects = shared.core.take_effects();
            if effects.is_empty() {
                return;
            }
            for effect in effects {
                self.apply_one(shared, effect);
            }
        }
    }

    fn apply_one(self: &Arc<Self>, shared: &mut Shared, effect: Effect) {
        match effect {
            Effect::ToFramework {
                framework_id,
                event,
            } => {
                let Some((_, tx)) = shared.framework_streams.get(&framework_id) else {
                    return;
                };
                let tx = tx.clone();
                let is_acked_update = event
                    .update
                    .as_ref()
                    .is_some_and(|u| u.status.uuid.is_some());
                let copies = if is_acked_update && shared.duplicate_updates {
                    2
                } else {
                    1
                };
                let delay = if is_acked_update {
                    shared.update_delay
                } else {
                    Duration::ZERO
                };
                for _ in 0..copies {
                    if delay.is_zero() {
                        self.send_framework_event(&tx, &framework_id, &event);
                    } else {
                        let inner = Arc::clone(self);
                        let (tx, fid, ev) = (tx.clone(), framework_id.clone(), event.clone());
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            inner.send_framework_event(&tx, &fid, &ev);
                        });
                    }
                }
            }
            Effect::CloseFrameworkStream {
                framework_id,
                stream_id,
            } => {
                if shared
                    .framework_streams
                    .get(&framework_id)
                    .is_some_and(|(s, _)| *s == stream_id)
                {
                    shared.framework_streams.remove(&framework_id);
                }
            }
            Effect::ToExecutor {
                agent_id,
                framework_id,
                executor_id,
                event,
            } => {
                let key = (agent_id, framework_id, executor_id);
                if shared.withhold_executor_acks
                    && event.r#type() == mesos_proto::v1::executor::event::Type::Acknowledged
                {
                    self.log.record(LogEntry::Fault {
                        description: format!(
                            "withheld ACKNOWLEDGED to executor {} on agent {}",
                            key.2, key.0
                        ),
                    });
                    return;
                }
                if let Some(tx) = shared.executor_streams.get(&key) {
                    if tx.unbounded_send(encode(&event)).is_ok() {
                        self.log.record(LogEntry::ExecutorEvent {
                            agent_id: key.0,
                            executor_id: key.2,
                            event_type: event.r#type().as_str_name().to_string(),
                        });
                    }
                }
            }
            Effect::CloseExecutor {
                agent_id,
                framework_id,
                executor_id,
            } => {
                shared
                    .executor_streams
                    .remove(&(agent_id, framework_id, executor_id));
            }
            Effect::LaunchExecutor(spec) => self.launch_executor(shared, *spec),
            Effect::KillExecutor {
                agent_id,
                framework_id,
                executor_id,
                grace,
            } => {
                let key = (agent_id, framework_id, executor_id);
                let Some(entry) = shared.processes.get_mut(&key) else {
                    return;
                };
                entry.kill_requested = true;
                let Some(pid) = entry.pid else {
                    return; // killed as soon as it is spawned
                };
                if grace.is_zero() {
                    process::signal_group(pid, process::SIGKILL);
                    return;
                }
                // Like the Mesos agent: SHUTDOWN went out; destroy after the grace period
                // unless the executor has exited by itself (checked by pid, so a reaped
                // process' recycled pid is never signalled).
                let inner = Arc::clone(self);
                tokio::spawn(async move {
                    tokio::time::sleep(grace).await;
                    let shared = inner.lock();
                    if shared
                        .processes
                        .get(&key)
                        .is_some_and(|p| p.pid == Some(pid))
                    {
                        process::signal_group(pid, process::SIGKILL);
                    }
                });
            }
            Effect::Record(entry) => self.log.record(entry),
        }
    }

    pub(crate) fn send_framework_event(
        &self,
        tx: &UnboundedSender<Bytes>,
        framework_id: &str,
        event: &SEvent,
    ) {
        if tx.unbounded_send(encode(event)).is_err() {
            return;
        }
        let status = event.update.as_ref().map(|u| &u.status);
        self.log.record(LogEntry::SchedulerEvent {
            framework_id: framework_id.to_string(),
            event_type: event.r#type().as_str_name().to_string(),
            task_id: status.map(|s| s.task_id.value.clone()),
            state: status.map(|s| s.state().as_str_name().to_string()),
            uuid: status.and_then(|s| s.uuid.clone()),
        });
    }

    fn sandbox(&self, spec: &LaunchSpec) -> PathBuf {
        let executor_id = spec.executor.executor_id.value.as_str();
        self.config
            .work_dir
            .join("agents")
            .join(safe(&spec.agent_id))
            .join("frameworks")
            .join(safe(&spec.framework_id))
            .join("executors")
            .join(safe(executor_id))
            .join("runs")
            .join(safe(&spec.container_id))
    }

    fn launch_executor(self: &Arc<Self>, shared: &mut Shared, spec: LaunchSpec) {
        let executor_id = spec.executor.executor_id.value.clone();
        let key = (
            spec.agent_id.clone(),
            spec.framework_id.clone(),
            executor_id.clone(),
        );
        shared.processes.insert(
            key.clone(),
            ProcessEntry {
                container_id: spec.container_id.clone(),
                pid: None,
                kill_requested: false,
            },
        );
        let sandbox = self.sandbox(&spec);
        let endpoint = self
            .agent_addrs
            .get(&spec.agent_id)
            .map(|a| a.to_string())
            .unwrap_or_default();
        let grace = spec
            .executor
            .shutdown_grace_period
            .as_ref()
            .map(|d| Duration::from_nanos(u64::try_from(d.nanoseconds).unwrap_or(0)))
            .unwrap_or(shared.core.config().executor_shutdown_grace);
        let mut env = vec![
            ("MESOS_AGENT_ENDPOINT".to_string(), endpoint),
            ("MESOS_FRAMEWORK_ID".to_string(), spec.framework_id.clone()),
            ("MESOS_EXECUTOR_ID".to_string(), executor_id.clone()),
            ("MESOS_DIRECTORY".to_string(), sandbox.display().to_string()),
            ("MESOS_SANDBOX".to_string(), sandbox.display().to_string()),
            (
                "MESOS_CHECKPOINT".to_string(),
                if spec.checkpoint { "1" } else { "0" }.to_string(),
            ),
            (
                "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD".to_string(),
                process::mesos_duration(grace),
            ),
        ];
        if self.config.distinct_hosts {
            // So tasks can bind their agent's own address; the cartrack worker reads its
            // `--http-host` from CARTRACK_HTTP_HOST.
            if let Some(agent) = shared.core.agents.get(&spec.agent_id) {
                env.push(("HOST".to_string(), agent.hostname.clone()));
                env.push(("CARTRACK_HTTP_HOST".to_string(), agent.hostname.clone()));
            }
        }
        if spec.checkpoint {
            env.push((
                "MESOS_RECOVERY_TIMEOUT".to_string(),
                process::mesos_duration(shared.core.config().executor_registration_timeout),
            ));
            env.push((
                "MESOS_SUBSCRIPTION_BACKOFF_MAX".to_string(),
                "2secs".to_string(),
            ));
        }
        let inner = Arc::clone(self);
        tokio::spawn(async move {
            let command = spec.executor.command.clone().unwrap_or_default();
            let started = async {
                process::make_sandbox(&sandbox).await?;
                process::fetch(&command, &sandbox, &inner.http).await?;
                process::spawn_retrying(&command, &sandbox, &env).await
            }
            .await;
            let mut child = match started {
                Ok(child) => child,
                Err(e) => {
                    inner.log.record(LogEntry::Fault {
                        description: format!(
                            "executor {} on {} failed to launch: {e}",
                            key.2, key.0
                        ),
                    });
                    inner.process_ended(&key, &spec.container_id, None, false);
                    return;
                }
            };
            let pid = child.id().unwrap_or(0);
            inner.log.record(LogEntry::ExecutorLaunched {
                agent_id: key.0.clone(),
                executor_id: key.2.clone(),
                pid,
            });
            {
                let mut shared = inner.lock();
                if let Some(entry) = shared.processes.get_mut(&key) {
                    entry.pid = Some(pid);
                    if entry.kill_requested {
                        process::signal_group(pid, process::SIGKILL);
                    }
                }
                shared.core.executor_started(
                    &key.0,
                    &key.1,
                    &key.2,
                    &spec.container_id,
                    Instant::now(),
                );
                inner.apply(&mut shared);
            }
            let exit = child.wait().await.ok();
            // The shell may have left children in the group: take them down too. The group id
            // is still ours: the entry below is removed only after this.
            process::signal_group(pid, process::SIGKILL);
            inner.log.record(LogEntry::ExecutorExited {
                agent_id: key.0.clone(),
                executor_id: key.2.clone(),
                status: exit.and_then(|s| s.code()),
            });
            // The raw wait status, as a Mesos agent reports it in FAILURE.
            let wait_status = exit.map(std::os::unix::process::ExitStatusExt::into_raw);
            inner.process_ended(&key, &spec.container_id, wait_status, true);
        });
    }

    /// An executor process ended (`wait_status`: its raw wait status) or never `started`.
    fn process_ended(
        self: &Arc<Self>,
        key: &ExecKey,
        container_id: &str,
        wait_status: Option<i32>,
        started: bool,
    ) {
        let mut shared = self.lock();
        if shared
            .processes
            .get(key)
            .is_some_and(|p| p.container_id == container_id)
        {
            shared.processes.remove(key);
        }
        let now = Instant::now();
        if started {
            shared
                .core
                .executor_exited(&key.0, &key.1, &key.2, container_id, wait_status, now);
        } else {
            shared
                .core
                .executor_launch_failed(&key.0, &key.1, &key.2, container_id, now);
        }
        self.apply(&mut shared);
    }

    /// Registers a framework's new event stream. A still-open older stream of the same
    /// framework gets ERROR "Framework failed over" and is closed, as Mesos does.
    pub(crate) fn register_framework_stream(
        &self,
        shared: &mut Shared,
        framework_id: &str,
        stream_id: &str,
        tx: UnboundedSender<Bytes>,
    ) {
        let old = shared
            .framework_streams
            .insert(framework_id.to_string(), (stream_id.to_string(), tx));
        if let Some((_, old_tx)) = old {
            let error = crate::core::error_event("Framework failed over");
            self.send_framework_event(&old_tx, framework_id, &error);
        }
    }

    /// Registers an executor's new event stream (replacing an older one).
    pub(crate) fn register_executor_stream(
        shared: &mut Shared,
        key: ExecKey,
        tx: UnboundedSender<Bytes>,
    ) {
        shared.executor_streams.insert(key, tx);
    }

    /// Forgets an executor stream (its SUBSCRIBE was refused).
    pub(crate) fn unregister_executor_stream(shared: &mut Shared, key: &ExecKey) {
        shared.executor_streams.remove(key);
    }

    fn tick(self: &Arc<Self>) {
        let now = Instant::now();
        let mut shared = self.lock();
        let closed_frameworks: Vec<(String, String)> = shared
            .framework_streams
            .iter()
            .filter(|(_, (_, tx))| tx.is_closed())
            .map(|(f, (s, _))| (f.clone(), s.clone()))
            .collect();
        for (fid, sid) in closed_frameworks {
            shared.framework_streams.remove(&fid);
            shared.core.framework_disconnected(&fid, &sid, now);
        }
        let closed_executors: Vec<ExecKey> = shared
            .executor_streams
            .iter()
            .filter(|(_, tx)| tx.is_closed())
            .map(|(k, _)| k.clone())
            .collect();
        for key in closed_executors {
            shared.executor_streams.remove(&key);
            shared.core.executor_disconnected(&key.0, &key.1, &key.2);
        }
        shared.core.tick(now);
        self.apply(&mut shared);
    }

    /// Kills every executor process at once (shutdown, drop).
    fn kill_all_processes(&self) {
        let shared = self.lock();
        for entry in shared.processes.values() {
            if let Some(pid) = entry.pid {
                process::signal_group(pid, process::SIGKILL);
            }
        }
    }

    fn live_processes(&self) -> usize {
        self.lock().processes.len()
    }

    /// Whether this accepted ACKNOWLEDGE is one to lose (the master answers 202, the agent
    /// never hears of it); counts it down and logs the fault.
    pub(crate) fn take_lost_acknowledgement(&self, uuid: &[u8]) -> bool {
        let mut shared = self.lock();
        if shared.lose_acknowledgements == 0 {
            return false;
        }
        shared.lose_acknowledgements -= 1;
        drop(shared);
        self.log.record(LogEntry::Fault {
            description: format!(
                "acknowledgement {} lost on its way to the agent",
                uuid::Uuid::from_slice(uuid)
                    .map(|u| u.to_string())
                    .unwrap_or_default()
            ),
        });
        true
    }

    /// How long to hold back the answer to a scheduler call (zero: not at all).
    pub(crate) fn call_answer_delay(&self) -> Duration {
        self.lock().call_answer_delay
    }

    pub(crate) fn set_update_faults(&self, delay: Option<Duration>, duplicate: Option<bool>) {
        let mut shared = self.lock();
        if let Some(d) = delay {
            shared.update_delay = d;
        }
        if let Some(d) = duplicate {
            shared.duplicate_updates = d;
        }
        drop(shared);
        self.log.record(LogEntry::Fault {
            description: format!(
                "status update faults set: delay {:?}, duplicate {:?}",
                delay, duplicate
            ),
        });
    }

    pub(crate) fn set_leader(self: &Arc<Self>, leader: Option<usize>) {
        let mut shared = self.lock();
        if shared.leader != leader {
            shared.leader = leader;
            shared.core.restart_master(true, Instant::now());
            self.apply(&mut shared);
        }
        drop(shared);
        self.log.record(LogEntry::Fault {
            description: format!("leader elected: {leader:?}"),
        });
    }

    /// Cuts a framework's stream (fault injection); false when it had none.
    pub(crate) fn drop_framework_stream(self: &Arc<Self>, framework_id: &str) -> bool {
        let found = self.with_core(|c, now| c.drop_framework_stream(framework_id, now));
        self.log.record(LogEntry::Fault {
            description: format!(
                "event stream of framework {framework_id} dropped (found: {found})"
            ),
        });
        found
    }

    pub(crate) fn restart_master(self: &Arc<Self>, keep_state: bool) {
        self.with_core(|core, now| core.restart_master(keep_state, now));
        self.log.record(LogEntry::Fault {
            description: format!("master restarted (keep_state: {keep_state})"),
        });
    }

    pub(crate) fn tenant_load(&self) -> &Resources {
        &self.tenant_load
    }
}

/// Keeps ids usable as folder names.
fn safe(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl DevCluster {
    /// Starts the master listeners (leader and standby), the agents' executor endpoints and the
    /// clock. Everything binds 127.0.0.1, but for the agents' endpoints with
    /// [`ClusterConfig::distinct_hosts`], which bind each agent's own address.
    pub async fn start(config: ClusterConfig) -> Result<DevCluster, DevClusterError> {
        let total = Resources::parse(&config.agent_resources).map_err(|source| {
            DevClusterError::Resources {
                field: "agent_resources",
                source,
            }
        })?;
        let tenant_load = match &config.tenant_load {
            Some(t) => Resources::parse(t).map_err(|source| DevClusterError::Resources {
                field: "tenant_load",
                source,
            })?,
            None => Resources::default(),
        };
        std::fs::create_dir_all(&config.work_dir).map_err(|source| DevClusterError::Io {
            what: format!("creating work dir {}", config.work_dir.display()),
            source,
        })?;
        let bind = |host: Ipv4Addr, port: u16| async move {
            TcpListener::bind((host, port))
                .await
                .map_err(|source| DevClusterError::Io {
                    what: format!("binding {host}:{port}"),
                    source,
                })
        };
        let leader_listener = bind(Ipv4Addr::LOCALHOST, config.master_port).await?;
        let standby_listener = bind(Ipv4Addr::LOCALHOST, 0).await?;
        let local = |l: &TcpListener| {
            l.local_addr().map_err(|source| DevClusterError::Io {
                what: "reading a listener's address".to_string(),
                source,
            })
        };
        let master_addrs = [local(&leader_listener)?, local(&standby_listener)?];
        let epoch = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
        let mut agents = Vec::new();
        let mut agent_listeners = Vec::new();
        let mut agent_addrs = HashMap::new();
        for i in 0..config.agents {
            let id = format!("{epoch}-S{i}");
            let host = config
                .agent_host(i)
                .ok_or(DevClusterError::TooManyDistinctHosts {
                    agents: config.agents,
                })?;
            let listener = bind(host, 0).await?;
            agent_addrs.insert(id.clone(), local(&listener)?);
            let attributes = config
                .agent_attributes
                .get(i)
                .map(|a| parse_attributes(a))
                .unwrap_or_default();
            let mut agent = Agent::new(
                id.clone(),
                total.with_range_share(i, config.agents),
                tenant_load.clone(),
                attributes,
            );
            agent.hostname = host.to_string();
            agents.push(agent);
            agent_listeners.push((id, listener));
        }
        let core = Core::new(
            CoreConfig {
                heartbeat_interval: config.heartbeat_interval,
                status_update_retry: config.status_update_retry,
                executor_registration_timeout: config.executor_registration_timeout,
                agent_unreachable_timeout: config.agent_unreachable_timeout,
                executor_shutdown_grace: Duration::from_secs(5),
            },
            epoch,
            agents,
            Instant::now(),
        );
        let inner = Arc::new(Inner {
            shared: Mutex::new(Shared {
                core,
                framework_streams: HashMap::new(),
                executor_streams: HashMap::new(),
                processes: HashMap::new(),
                leader: Some(0),
                update_delay: Duration::ZERO,
                duplicate_updates: false,
                withhold_executor_acks: false,
                lose_acknowledgements: 0,
                call_answer_delay: Duration::ZERO,
            }),
            log: EventLog::with_limit(config.log_limit),
            config,
            master_addrs,
            agent_addrs,
            http: reqwest::Client::new(),
            tenant_load,
            wall_clock: crate::state::WallClock::now(),
        });
        let mut tasks = Vec::new();
        for (index, listener) in [leader_listener, standby_listener].into_iter().enumerate() {
            let app = crate::http::master::router(Arc::clone(&inner), index);
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            }));
        }
        for (agent_id, listener) in agent_listeners {
            let app = crate::http::agent::router(Arc::clone(&inner), agent_id);
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            }));
        }
        let ticker = Arc::clone(&inner);
        tasks.push(tokio::spawn(async move {
            let mut interval = tokio::time::interval(TICK);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                ticker.tick();
            }
        }));
        Ok(DevCluster { inner, tasks })
    }

    /// Master listener 0, `http://127.0.0.1:PORT`: the leader unless [`DevCluster::elect_leader`]
    /// chose otherwise (then it redirects, or answers 503 with no leader).
    pub fn master_url(&self) -> String {
        format!("http://{}", self.inner.master_addrs[0])
    }

    /// The second master listener: while listener 0 leads it answers 307 with
    /// `Location: //host:port/api/v1/scheduler`; with no leader, 503.
    pub fn standby_master_url(&self) -> String {
        format!("http://{}", self.inner.master_addrs[1])
    }

    /// Agent ids, in order.
    pub fn agent_ids(&self) -> Vec<String> {
        self.inner.lock().core.agents.keys().cloned().collect()
    }

    /// The executor endpoint (`host:port`) of an agent, as given to its executors.
    pub fn agent_endpoint(&self, agent_id: &str) -> Option<String> {
        self.inner.agent_addrs.get(agent_id).map(|a| a.to_string())
    }

    /// Everything recorded so far.
    pub fn log(&self) -> Vec<LogEntry> {
        self.inner.log.snapshot()
    }

    /// The process ids of the executors launched so far, in launch order: what fault tests
    /// kill and benchmarks measure.
    pub fn executor_pids(&self) -> Vec<u32> {
        self.inner
            .log
            .snapshot()
            .into_iter()
            .filter_map(|e| match e {
                LogEntry::ExecutorLaunched { pid, .. } => Some(pid),
                _ => None,
            })
            .collect()
    }

    /// Waits for a log entry (already recorded or future) matching `pred`.
    pub async fn wait_for_log<F: Fn(&LogEntry) -> bool>(
        &self,
        timeout: Duration,
        pred: F,
    ) -> Result<LogEntry, DevClusterError> {
        match self.inner.log.wait_for(timeout, pred).await {
            Some(entry) => Ok(entry),
            None => Err(DevClusterError::Timeout {
                timeout,
                entries: self.inner.log.snapshot().len(),
            }),
        }
    }

    fn agent_op(
        &self,
        agent_id: &str,
        op: impl FnOnce(&mut Core, Instant) -> bool,
    ) -> Result<(), DevClusterError> {
        if self.inner.with_core(op) {
            Ok(())
        } else {
            Err(DevClusterError::UnknownAgent(agent_id.to_string()))
        }
    }

    /// Kills an agent: its executors die. The tasks of frameworks that do not checkpoint are
    /// LOST at once (REASON_AGENT_DISCONNECTED); the others after `agent_unreachable_timeout`
    /// (UNREACHABLE for PARTITION_AWARE frameworks).
    pub async fn kill_agent(&self, agent_id: &str) -> Result<(), DevClusterError> {
        self.agent_op(agent_id, |c, now| c.kill_agent(agent_id, now))
    }

    /// Restarts an agent: checkpointing executors keep running and may re-subscribe.
    pub async fn restart_agent(&self, agent_id: &str) -> Result<(), DevClusterError> {
        self.agent_op(agent_id, |c, now| c.restart_agent(agent_id, now))
    }

    /// Cuts the agent off from the master; its executors keep running.
    pub async fn partition_agent(&self, agent_id: &str) -> Result<(), DevClusterError> {
        self.agent_op(agent_id, |c, now| c.partition_agent(agent_id, now))
    }

    /// Ends a partition.
    pub async fn heal_agent(&self, agent_id: &str) -> Result<(), DevClusterError> {
        self.agent_op(agent_id, |c, now| c.heal_agent(agent_id, now))
    }

    /// Closes a framework's event stream as a network fault would.
    pub async fn drop_framework_stream(&self, framework_id: &str) {
        self.inner.drop_framework_stream(framework_id);
    }

    /// Closes an executor's connection to its agent.
    pub async fn drop_executor_connection(&self, agent_id: &str, executor_id: &str) {
        self.inner
            .with_core(|c, _| c.drop_executor_connection(agent_id, executor_id));
    }

    /// Fails the master over: every framework stream closes; `keep_state = false` also forgets
    /// frameworks (they re-subscribe with their id and find their tasks on the agents).
    pub async fn restart_master(&self, keep_state: bool) {
        self.inner.restart_master(keep_state);
    }

    /// Chooses the leading listener: `None` = no leader (503), `Some(0)` / `Some(1)`.
    pub async fn elect_leader(&self, leader: Option<usize>) {
        self.inner.set_leader(leader.filter(|l| *l < 2));
    }

    /// Delays every status update (with uuid) on its way to the scheduler.
    pub fn set_update_delay(&self, delay: Duration) {
        self.inner.set_update_faults(Some(delay), None);
    }

    /// Sends every status update (with uuid) to the scheduler twice.
    pub fn set_duplicate_updates(&self, on: bool) {
        self.inner.set_update_faults(None, Some(on));
    }

    /// While `on`, the agents take executors' updates (and forward them to the scheduler) but
    /// do not acknowledge them to the executor, as when a connection drops between an UPDATE
    /// and its ACKNOWLEDGED; the executor must send them again inside its next SUBSCRIBE.
    pub fn set_withhold_executor_acks(&self, on: bool) {
        self.inner.lock().withhold_executor_acks = on;
        self.inner.log.record(LogEntry::Fault {
            description: format!("withhold executor acknowledgements: {on}"),
        });
    }

    /// Loses the next `n` acknowledgements the master accepts before they reach the agent, as
    /// when an agent dies before checkpointing one: the agent re-sends those updates and the
    /// scheduler must acknowledge them again.
    pub fn lose_acknowledgements(&self, n: usize) {
        self.inner.lock().lose_acknowledgements = n;
        self.inner.log.record(LogEntry::Fault {
            description: format!("lose the next {n} acknowledgements"),
        });
    }

    /// Holds back the master's answer to every scheduler call but SUBSCRIBE for `delay`
    /// (zero: off). The call takes effect at once; only its answer is late, as from a master
    /// stuck in a slow registry write, so a client that gives up first cannot tell whether
    /// its call was taken.
    pub fn set_call_answer_delay(&self, delay: Duration) {
        self.inner.lock().call_answer_delay = delay;
        self.inner.log.record(LogEntry::Fault {
            description: format!("answers to scheduler calls held back {delay:?}"),
        });
    }

    /// How many status updates reachable agents still hold for want of an acknowledgement.
    pub fn unacknowledged_updates(&self) -> usize {
        self.inner.with_core(|core, _| {
            core.agents
                .values()
                .filter(|agent| agent.reachable)
                .flat_map(|agent| agent.tasks.values())
                .map(|task| task.updates.len())
                .sum()
        })
    }

    /// Stops the cluster: every executor process is killed and reaped.
    pub async fn shutdown(mut self) {
        self.inner.kill_all_processes();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.inner.live_processes() > 0 && tokio::time::Instant::now() < deadline {
            // Reaping happens in the supervisor tasks; poll their progress with a deadline.
            self.inner.kill_all_processes();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}

impl Drop for DevCluster {
    fn drop(&mut self) {
        self.inner.kill_all_processes();
        for t in &self.tasks {
            t.abort();
        }
    }
}
