//! The harness: the scheduler's core and the dev cluster's core connected by a queue of
//! messages in virtual time, emulated executors, and the seeded schedule of inputs. One
//! seeded RNG decides every delay, fault and id; nothing reads a clock that matters, spawns
//! a thread or opens a socket.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use cartrack_devcluster::core::{Agent, Core as Cluster, CoreConfig as ClusterConfig};
use cartrack_devcluster::resources::Resources;
use cartrack_framework::records::StoredState;
use mesos_proto::v1::executor::{Call as XCall, Event as XEvent};
use mesos_proto::v1::scheduler::{Call, Event as SEvent};
use mesos_proto::v1::FrameworkInfo;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::adapter;
use crate::executor::{ExecKey, Process, Timer};
use crate::input::{Input, Operator};
use crate::invariants::{Pods, Violation};
use crate::queue::{Fifo, Millis, Queue};
use crate::scheduler::{Feed, Scheduler, Setup};
use crate::trace::Trace;
use cartrack_framework::driver::{Input as CoreInput, Request, TeardownOutcome};

/// The scheduler's clock reads milliseconds since the epoch: virtual time 0 is this instant.
const EPOCH_MS: u64 = 1_700_000_000_000;
/// The dev cluster's shell ticks its core about this often.
const CLUSTER_TICK_MS: Millis = 250;
/// The driver's timer.
const SCHEDULER_TICK_MS: Millis = 1000;

/// How long and how big a run is.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Steps (events handled) with faults on; the settling phase comes after.
    pub steps: usize,
    /// Agents in the cluster.
    pub agents: usize,
    /// Steps kept in words for a failure's trace.
    pub trace_steps: usize,
    /// Virtual time allowed to reach the desired state once faults stop.
    pub settle_ms: Millis,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            steps: 1000,
            agents: 4,
            trace_steps: 80,
            // Covers the longest waits a fault can leave behind: launch backoff (at most
            // 300 s) and the REVIVE period for declined agents (300 s).
            settle_ms: 15 * 60 * 1000,
        }
    }
}

/// A run that kept every invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Its seed.
    pub seed: u64,
    /// Steps taken, settling included.
    pub steps: usize,
    /// Virtual time at the end.
    pub virtual_ms: Millis,
    /// Virtual time from the end of faults to the desired state.
    pub settled_ms: Millis,
    /// Digest of every step: equal for two runs of one seed.
    pub digest: u64,
    /// Counts autoscaling changed, each within its rules (see [`Violation::Autoscale`]).
    pub autoscaled: usize,
}

/// A run that broke an invariant: enough to read what happened and to replay it.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The seed (replays the run bit for bit).
    pub seed: u64,
    /// The step at which the invariant broke.
    pub step: usize,
    /// Virtual time then.
    pub virtual_ms: Millis,
    /// What broke.
    pub violation: Violation,
    /// The last steps, oldest first.
    pub trace: Vec<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {} broke an invariant at step {} ({} ms virtual): {}",
            self.seed, self.step, self.virtual_ms, self.violation
        )?;
        writeln!(
            f,
            "replay: cargo run -p cartrack-sim --example replay -- {}",
            self.seed
        )?;
        writeln!(f, "last {} steps:", self.trace.len())?;
        for line in &self.trace {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

/// Message-level faults, their rates drawn per seed.
#[derive(Debug)]
struct Noise {
    drop_update: f64,
    duplicate_update: f64,
    delay_update: f64,
    lose_ack: f64,
    withhold_executor_ack: f64,
    task_fail: f64,
    input_every_ms: Millis,
}

impl Noise {
    fn draw(rng: &mut ChaCha8Rng) -> Noise {
        Noise {
            drop_update: rng.random_range(0.0..0.15),
            duplicate_update: rng.random_range(0.0..0.15),
            delay_update: rng.random_range(0.0..0.15),
            lose_ack: rng.random_range(0.0..0.2),
            withhold_executor_ack: rng.random_range(0.0..0.2),
            task_fail: rng.random_range(0.0..0.1),
            input_every_ms: rng.random_range(1_000..8_000),
        }
    }
}

/// What the scheduler's subscription receives.
#[derive(Debug)]
enum Delivery {
    Connected { stream_id: String },
    Event(Box<SEvent>),
    Disconnected(String),
}

/// Everything that happens at a point of virtual time.
#[derive(Debug)]
enum Ev {
    ClusterTick,
    SchedulerTick,
    NextInput,
    Subscribe {
        run: u64,
    },
    SubscribeArrives {
        run: u64,
        info: Box<FrameworkInfo>,
    },
    ToScheduler {
        run: u64,
        connection: u64,
        what: Delivery,
    },
    CallArrives {
        run: u64,
        stream_id: String,
        call: Box<Call>,
    },
    CallFailed {
        run: u64,
        task_ids: Vec<String>,
    },
    StreamClosed {
        framework_id: String,
        stream_id: String,
    },
    SchedulerRestart,
    /// The master took run `run`'s TEARDOWN: the caller's `Ok` reaches the loop.
    TeardownTaken {
        run: u64,
    },
    ExecutorStarted {
        key: ExecKey,
        container: String,
    },
    ExecutorSubscribe {
        key: ExecKey,
        container: String,
    },
    ToExecutor {
        key: ExecKey,
        connection: u64,
        event: Box<XEvent>,
    },
    ExecutorCall {
        key: ExecKey,
        container: String,
        call: Box<XCall>,
    },
    ExecutorTimer {
        key: ExecKey,
        container: String,
        timer: Timer,
    },
    ExecutorKill {
        key: ExecKey,
        container: String,
    },
}

/// A framework's event stream as the master's shell holds it.
struct MasterStream {
    stream_id: String,
    run: u64,
    connection: u64,
    fifo: Fifo,
}

/// Runs one seed: faults for `config.steps` steps, then no faults until the desired state is
/// reached (or `config.settle_ms` passes). Invariants are checked after every step.
pub fn run(seed: u64, config: &SimConfig) -> Result<Outcome, Failure> {
    let mut world = World::new(seed, config.clone()).map_err(|why| Failure {
        seed,
        step: 0,
        virtual_ms: 0,
        violation: Violation::Setup(why),
        trace: Vec::new(),
    })?;
    world.start();
    let uninstall_at = crate::input::uninstall_step(seed, config.steps);
    let mut planned = crate::input::deploy_steps(seed, config.steps);
    planned.extend(crate::input::autoscale_steps(seed, config.steps));
    // Stable: at one step, a deployment's operation goes before a reading.
    planned.sort_by_key(|(step, _)| *step);
    let mut deploy = planned.into_iter().peekable();
    while world.step < config.steps {
        if Some(world.step) == uninstall_at {
            world.note(format!("{}", Input::Operator(Operator::Uninstall)));
            let applied = world.apply_input(Input::Operator(Operator::Uninstall));
            applied.map_err(|v| world.failure(v))?;
        }
        while let Some((_, op)) = deploy.next_if(|(step, _)| *step == world.step) {
            let input = Input::Operator(op);
            world.note(format!("{input}"));
            world.apply_input(input).map_err(|v| world.failure(v))?;
        }
        world.advance()?;
    }
    let calm_at = world.queue.now();
    world.calm();
    loop {
        let scheduler_tick = world.advance()?;
        if scheduler_tick && world.unconverged().is_none() {
            break;
        }
        let waited_ms = world.queue.now() - calm_at;
        if waited_ms > config.settle_ms {
            let why = world.unconverged().unwrap_or_default();
            return Err(world.failure(Violation::NotConverged { waited_ms, why }));
        }
    }
    Ok(Outcome {
        seed,
        steps: world.step,
        virtual_ms: world.queue.now(),
        settled_ms: world.queue.now() - calm_at,
        digest: world.trace.digest(),
        autoscaled: world.autoscaled,
    })
}

struct World {
    seed: u64,
    setup: Setup,
    rng: ChaCha8Rng,
    queue: Queue<Ev>,
    /// The dev cluster's `Instant` for virtual time 0 (only differences are ever used).
    base: Instant,
    cluster: Cluster,
    agent_ids: Vec<String>,
    streams: BTreeMap<String, MasterStream>,
    scheduler: Scheduler,
    store: StoredState,
    processes: BTreeMap<ExecKey, Process>,
    to_master: Fifo,
    noise: Noise,
    chaos: bool,
    partitioned_until: Millis,
    connections: u64,
    pods: Pods,
    /// The operator asked for an uninstall: every start is in uninstall mode.
    uninstall_asked: bool,
    /// The uninstall finished: the store is empty and the process only serves the finished
    /// plan (it never subscribes again).
    uninstalled: bool,
    trace: Trace,
    step: usize,
    /// What the current step did, in words.
    line: String,
    /// Counts autoscaling changed.
    autoscaled: usize,
}

impl World {
    fn new(seed: u64, config: SimConfig) -> Result<World, String> {
        if config.agents == 0 {
            return Err("a cluster needs at least one agent".into());
        }
        let setup = Setup::new().map_err(|e| e.to_string())?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut cluster_rng = ChaCha8Rng::seed_from_u64(rng.random());
        let total = Resources::parse("cpus:4;mem:8192;disk:20000;ports:[31000-32999]")
            .map_err(|e| e.to_string())?;
        let agent_ids: Vec<String> = (0..config.agents).map(|i| format!("S{i}")).collect();
        let agents = agent_ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                Agent::new(
                    id.clone(),
                    total.with_range_share(i, config.agents),
                    Resources::default(),
                    Vec::new(),
                )
            })
            .collect();
        let base = Instant::now();
        // Shorter timeouts than the dev cluster's defaults, so that faults and their repair
        // fit a run of a few virtual minutes.
        let cluster = Cluster::new(
            ClusterConfig {
                heartbeat_interval: Duration::from_secs(15),
                status_update_retry: Duration::from_secs(2),
                executor_registration_timeout: Duration::from_secs(10),
                agent_unreachable_timeout: Duration::from_secs(15),
                executor_shutdown_grace: Duration::from_secs(2),
            },
            "sim".to_string(),
            agents,
            base,
        )
        .with_uuid_source(Box::new(move || {
            uuid::Builder::from_random_bytes(cluster_rng.random()).into_uuid()
        }));
        let noise = Noise::draw(&mut rng);
        Ok(World {
            seed,
            setup,
            rng,
            queue: Queue::new(),
            base,
            cluster,
            agent_ids,
            streams: BTreeMap::new(),
            scheduler: Scheduler::new(),
            store: StoredState::default(),
            processes: BTreeMap::new(),
            to_master: Fifo::default(),
            noise,
            chaos: true,
            partitioned_until: 0,
            connections: 0,
            pods: Pods::default(),
            uninstall_asked: false,
            uninstalled: false,
            trace: Trace::new(config.trace_steps),
            step: 0,
            line: String::new(),
            autoscaled: 0,
        })
    }

    fn start(&mut self) {
        self.note(format!("seed {} noise {:?}", self.seed, self.noise));
        self.trace.record(0, 0, std::mem::take(&mut self.line));
        self.queue.after(CLUSTER_TICK_MS, Ev::ClusterTick);
        self.queue.after(SCHEDULER_TICK_MS, Ev::SchedulerTick);
        self.queue.after(self.noise.input_every_ms, Ev::NextInput);
        self.queue.after(0, Ev::SchedulerRestart);
    }

    /// Faults stop: partitions heal, dead agents restart, message faults end.
    fn calm(&mut self) {
        self.chaos = false;
        self.partitioned_until = 0;
        self.scheduler.crash_mid_round = None;
        let now = self.instant();
        for id in self.agent_ids.clone() {
            let Some(agent) = self.cluster.agents.get(&id) else {
                continue;
            };
            if !agent.up {
                self.cluster.restart_agent(&id, now);
            } else if !agent.reachable {
                self.cluster.heal_agent(&id, now);
            }
        }
        self.note("faults stop: agents restarted and healed".to_string());
        self.apply_effects();
        self.trace
            .record(self.step, self.queue.now(), std::mem::take(&mut self.line));
    }

    /// Handles the next event and checks the invariants; true for a scheduler tick.
    fn advance(&mut self) -> Result<bool, Failure> {
        let Some(ev) = self.queue.pop() else {
            // Ticks re-arm themselves: the queue is never empty.
            return Ok(false);
        };
        self.step += 1;
        let tick = matches!(ev, Ev::SchedulerTick);
        let result = self
            .handle(ev)
            .and_then(|()| match &self.store.framework_id {
                Some(fid) => self.pods.check(&self.cluster, fid, &self.store),
                None => Ok(()),
            });
        let line = std::mem::take(&mut self.line);
        self.trace.record(self.step, self.queue.now(), line);
        result.map_err(|v| self.failure(v))?;
        Ok(tick)
    }

    fn failure(&self, violation: Violation) -> Failure {
        Failure {
            seed: self.seed,
            step: self.step,
            virtual_ms: self.queue.now(),
            violation,
            trace: self.trace.lines(),
        }
    }

    fn unconverged(&self) -> Option<String> {
        if self.uninstall_asked {
            return self.not_uninstalled();
        }
        let core = match &self.scheduler.core {
            Some(core) if core.subscribed() => core,
            Some(_) => return Some("scheduler not subscribed".into()),
            None => return Some("scheduler down".into()),
        };
        if core.reconciling() > 0 {
            return Some(format!("{} tasks reconciling", core.reconciling()));
        }
        // A rolling update that may go on must finish: every pod on the target.
        if let Some(d) = &self.store.deployment {
            if d.completed_ms.is_none() && !d.paused {
                return Some(format!("deployment of version {} not complete", d.to));
            }
        }
        self.pods
            .unconverged(&self.cluster, &self.store, &self.setup.group_names())
    }

    /// What is left of an uninstall the operator asked for: it must end with the state
    /// deleted, the framework unknown to the master, and no task or executor of it on any
    /// agent.
    fn not_uninstalled(&self) -> Option<String> {
        if !self.uninstalled {
            return Some("uninstalling".into());
        }
        if self.store != StoredState::default() {
            return Some("uninstalled, yet state remains".into());
        }
        // Never registered: nothing can be left on the cluster.
        let fid = self.scheduler.framework_id.as_deref()?;
        if self.cluster.frameworks.contains_key(fid) {
            return Some(format!("framework {fid} still registered"));
        }
        for agent in self.cluster.agents.values() {
            if let Some(((_, task), _)) = agent.tasks.iter().find(|((f, _), _)| f == fid) {
                return Some(format!("task {task} of {fid} left on {}", agent.id));
            }
            if let Some((_, executor)) = agent.executors.keys().find(|(f, _)| f == fid) {
                return Some(format!("executor {executor} of {fid} left on {}", agent.id));
            }
        }
        None
    }

    fn note(&mut self, text: String) {
        if !self.line.is_empty() {
            self.line.push_str("; ");
        }
        self.line.push_str(&text);
    }

    fn instant(&self) -> Instant {
        self.base + Duration::from_millis(self.queue.now())
    }

    fn now_ms(&self) -> u64 {
        EPOCH_MS + self.queue.now()
    }

    fn latency(&mut self) -> Millis {
        self.rng.random_range(1..30)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.chaos && self.rng.random_bool(p)
    }

    fn handle(&mut self, ev: Ev) -> Result<(), Violation> {
        match ev {
            Ev::ClusterTick => {
                self.queue.after(CLUSTER_TICK_MS, Ev::ClusterTick);
                self.note("cluster tick".into());
                self.cluster.tick(self.instant());
                self.apply_effects();
            }
            Ev::SchedulerTick => {
                self.queue.after(SCHEDULER_TICK_MS, Ev::SchedulerTick);
                self.note("scheduler tick".into());
                let now = self.now_ms();
                if let Some(core) = self.scheduler.core.as_mut() {
                    core.feed(CoreInput::Tick, now);
                    self.execute(None)?;
                }
            }
            Ev::NextInput => {
                if self.chaos {
                    let input = Input::pick(
                        &mut self.rng,
                        self.agent_ids.len(),
                        self.setup.spec.groups.len(),
                    );
                    self.note(input.to_string());
                    self.apply_input(input)?;
                    let wait = self.rng.random_range(1..2 * self.noise.input_every_ms);
                    self.queue.after(wait, Ev::NextInput);
                }
            }
            Ev::Subscribe { run } => self.subscribe(run),
            Ev::SubscribeArrives { run, info } => self.subscribe_arrives(run, *info),
            Ev::ToScheduler {
                run,
                connection,
                what,
            } => self.delivery_arrives(run, connection, what)?,
            Ev::CallArrives {
                run,
                stream_id,
                call,
            } => self.call_arrives(run, &stream_id, *call),
            Ev::CallFailed { run, task_ids } => {
                self.note(format!(
                    "scheduler run {run}: ACCEPT failed for {task_ids:?}"
                ));
                let now = self.now_ms();
                if run == self.scheduler.incarnation {
                    if let Some(core) = self.scheduler.core.as_mut() {
                        core.feed(CoreInput::CallFailed { task_ids }, now);
                        self.execute(None)?;
                    }
                }
            }
            Ev::StreamClosed {
                framework_id,
                stream_id,
            } => {
                self.note(format!("master sees stream {} closed", short(&stream_id)));
                self.cluster
                    .framework_disconnected(&framework_id, &stream_id, self.instant());
                if self
                    .streams
                    .get(&framework_id)
                    .is_some_and(|s| s.stream_id == stream_id)
                {
                    self.streams.remove(&framework_id);
                }
                self.apply_effects();
            }
            Ev::SchedulerRestart => {
                if self.uninstalled {
                    self.note("uninstalled scheduler restarts: serves the finished plan".into());
                } else if self.uninstall_asked && self.store.framework_id.is_none() {
                    // As `service::run`: no framework id in uninstall mode, never subscribe.
                    self.note("scheduler starts uninstalling with no framework id: done".into());
                    self.store = StoredState::default();
                    self.uninstalled = true;
                } else if self.scheduler.core.is_none() {
                    self.scheduler.boot(&self.setup, &self.store, self.now_ms());
                    let run = self.scheduler.incarnation;
                    self.note(format!("scheduler run {run} starts from its store"));
                    if self.uninstall_asked {
                        let now = self.now_ms();
                        if let Some(core) = self.scheduler.core.as_mut() {
                            core.feed(Request::Uninstall.into(), now);
                        }
                    }
                    self.execute(None)?;
                    let wait = self.rng.random_range(1..1000);
                    self.queue.after(wait, Ev::Subscribe { run });
                }
            }
            Ev::TeardownTaken { run } => {
                let now = self.now_ms();
                if run == self.scheduler.incarnation {
                    if let Some(core) = self.scheduler.core.as_mut() {
                        core.feed(CoreInput::Teardown(TeardownOutcome::Done), now);
                        self.execute(None)?;
                    }
                }
            }
            Ev::ExecutorStarted { key, container } => self.executor_started(key, container),
            Ev::ExecutorSubscribe { key, container } => self.executor_subscribe(key, container),
            Ev::ToExecutor {
                key,
                connection,
                event,
            } => {
                let current = self
                    .processes
                    .get(&key)
                    .is_some_and(|p| p.connection == Some(connection));
                if current {
                    self.executor_event(key, *event);
                } else {
                    self.note(format!(
                        "executor on {}: event for a closed connection dropped",
                        key.0
                    ));
                }
            }
            Ev::ExecutorCall {
                key,
                container,
                call,
            } => {
                let current = self
                    .processes
                    .get(&key)
                    .is_some_and(|p| p.container_id == container);
                if current {
                    let desc = call
                        .update
                        .as_ref()
                        .map(|u| adapter::describe_status(&u.status))
                        .unwrap_or_default();
                    match self.cluster.executor_call(&key.0, *call, self.instant()) {
                        Ok(()) => self.note(format!("agent {} takes UPDATE {desc}", key.0)),
                        Err(e) => self.note(format!("agent {} refuses UPDATE {desc}: {e}", key.0)),
                    }
                    self.apply_effects();
                }
            }
            Ev::ExecutorTimer {
                key,
                container,
                timer,
            } => self.executor_timer(key, container, timer),
            Ev::ExecutorKill { key, container } => {
                if self
                    .processes
                    .get(&key)
                    .is_some_and(|p| p.container_id == container)
                {
                    self.exit(&key, 9);
                }
            }
        }
        Ok(())
    }
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

mod cluster_side;
mod inputs;
mod scheduler_side;
