//! The driver's pure core: fed [`Input`]s, it updates the scheduler's state synchronously and
//! returns a [`Ready`] — raft's checklist:
//! 1. persist `changes` (the store commit must succeed first);
//! 2. then publish `framework_id` to the session;
//! 3. then send `effects` in order (ACKNOWLEDGEs and ACCEPTs only exist because 1 succeeded).
//!
//! No I/O, no protobuf calls, no clock (`now_ms` comes with each input), no random ids (task
//! ids are the run id it was given and a counter).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use mesos_proto::v1::scheduler::{event, Event};
use mesos_proto::v1::{CheckStatusInfo, Offer, TaskStatus};
use serde::Serialize;

use super::effect::{Effect, Launch, PodLaunch, Ready};
use super::input::{Input, Request};
use super::launch::Binaries;
use crate::planner::autoscale::Autoscaler;
use crate::planner::{
    self, OfferLaunch, OfferMemory, PlanInput, PlannerConfig, PodPlacement, TokenBucket,
};
use crate::records::{
    Change, KillIntent, ReadyWhen, SlotRecord, StoredState, TaskPhase, TaskRecord,
};
use crate::spec::ValidatedSpec;
use crate::target::{ConfigVersion, Origin, Target};

/// Launch backoff: 1 s, x1.15 per failure in a row, at most 300 s (Marathon's defaults).
pub fn launch_backoff_ms(failures: u32) -> u64 {
    if failures == 0 {
        return 0;
    }
    let ms = 1000.0 * 1.15f64.powi(failures.saturating_sub(1).min(200) as i32);
    ms.min(300_000.0) as u64
}

/// A task that stayed RUNNING this long resets its slot's failure count.
const HEALTHY_RUN_MS: u64 = 5 * 60 * 1000;
/// Recent offers kept for `/v1/debug/offers`.
const RECENT_OFFERS: usize = 32;

/// Settings of the core that do not come from the spec.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Planner tunables.
    pub planner: PlannerConfig,
    /// Executor and worker URIs at start-up.
    pub binaries: Binaries,
    /// The framework's roles (groups without a role use the first).
    pub roles: Vec<String>,
    /// Implicit reconciliation period.
    pub implicit_reconcile_ms: u64,
    /// First retry of an unanswered explicit reconciliation (doubles up to 60 s).
    pub reconcile_retry_ms: u64,
    /// REVIVE token bucket capacity.
    pub revive_capacity: u32,
    /// One REVIVE token per this many ms.
    pub revive_refill_ms: u64,
    /// How long an UNREACHABLE pod keeps its slot before a replacement is launched.
    pub unreachable_timeout_ms: u64,
}

impl CoreConfig {
    /// Defaults with the given binaries.
    pub fn new(binaries: Binaries) -> CoreConfig {
        CoreConfig {
            planner: PlannerConfig::default(),
            binaries,
            roles: vec!["*".to_string()],
            implicit_reconcile_ms: 15 * 60 * 1000,
            reconcile_retry_ms: 3000,
            revive_capacity: 3,
            revive_refill_ms: 10_000,
            unreachable_timeout_ms: 300_000,
        }
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counters {
    /// Offers received.
    pub offers_received: u64,
    /// Offers accepted.
    pub offers_accepted: u64,
    /// Offers declined.
    pub offers_declined: u64,
    /// Offers rescinded.
    pub offers_rescinded: u64,
    /// REVIVE calls.
    pub revives: u64,
    /// SUPPRESS calls.
    pub suppressions: u64,
    /// SUBSCRIBED events after the first.
    pub reconnects: u64,
    /// SUBSCRIBED events.
    pub subscriptions: u64,
    /// RECONCILE calls (explicit rounds and implicit).
    pub reconciliation_rounds: u64,
    /// Pods launched.
    pub pods_launched: u64,
    /// KILL calls.
    pub kills_sent: u64,
    /// Status updates handled.
    pub updates: u64,
    /// Offer x pod fit checks.
    pub evaluations: u64,
}

/// An offer kept for `/v1/debug/offers`.
#[derive(Debug, Clone)]
pub struct RecentOffer {
    /// The offer.
    pub offer: Offer,
    /// When it came.
    pub received_ms: u64,
    /// `accepted`, `declined`, `rescinded`.
    pub outcome: &'static str,
}

#[derive(Debug, Default)]
struct Reconciliation {
    /// Tasks asked about that have not answered.
    waiting: BTreeSet<String>,
    next_retry_ms: u64,
    delay_ms: u64,
}

/// Why an operator request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// No such group in the spec; the message lists the groups.
    #[error("no group {group:?}; groups: {known:?}")]
    UnknownGroup {
        /// Asked for.
        group: String,
        /// Known groups.
        known: Vec<String>,
    },
    /// No live pod in that slot.
    #[error("slot {0:?} has no live pod")]
    NoSuchPod(String),
    /// Count above the validation limit.
    #[error("count {0} is above the limit 100000")]
    CountTooLarge(u32),
    /// `pause`, `continue`, `abort` ... with no deployment running.
    #[error("no deployment is running")]
    NoDeployment,
    /// The service is being uninstalled: nothing else is done.
    #[error("the service is being uninstalled; nothing else can change")]
    Uninstalling,
    /// `abort` cannot roll back; the message says why.
    #[error("cannot roll back: {0}")]
    NoRollback(String),
    /// `autoscale resume` of a group without `autoscale` in the target spec.
    #[error("group {group:?} is not autoscaled; autoscaled groups: {autoscaled:?}")]
    NotAutoscaled {
        /// Asked for.
        group: String,
        /// The groups with `autoscale`.
        autoscaled: Vec<String>,
    },
}

/// The scheduler's state machine.
pub struct Core {
    target: Arc<Target>,
    /// Per group, the stored versions whose pods run what the target wants.
    current: BTreeMap<String, BTreeSet<u32>>,
    state: StoredState,
    config: CoreConfig,
    memory: OfferMemory,
    subscribed: bool,
    reconciliation: Reconciliation,
    next_implicit_ms: u64,
    recent: VecDeque<RecentOffer>,
    counters: Counters,
    ids: TaskIds,
    ready: Ready,
    autoscaler: Autoscaler,
}

/// Task ids: `<slot>-<task>__<run>-<n>`, unique across runs because every run of the
/// scheduler is given a run id of its own.
#[derive(Debug)]
struct TaskIds {
    run: String,
    issued: u64,
}

impl TaskIds {
    fn next(&mut self, slot: &str, task: &str) -> String {
        self.issued += 1;
        format!("{slot}-{task}__{}-{}", self.run, self.issued)
    }
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("framework_id", &self.state.framework_id)
            .field("subscribed", &self.subscribed)
            .field("tasks", &self.state.tasks.len())
            .finish()
    }
}

impl Core {
    /// Starts from the stored state and the start-up config (`spec` and the binaries of
    /// `config`). The start-up config becomes a new target only if it differs from the last
    /// one seen, so a restart keeps what an update set; desired counts the operator changed
    /// survive unless the target's count for that group changed. `run_id` must differ from
    /// every earlier run's (a fresh uuid): task ids are made from it.
    pub fn new(
        spec: ValidatedSpec,
        stored: StoredState,
        config: CoreConfig,
        run_id: String,
        now_ms: u64,
    ) -> Core {
        let bucket = TokenBucket::new(config.revive_capacity, config.revive_refill_ms);
        let startup = Target::new(0, spec, config.binaries.clone(), Origin::Startup, now_ms);
        let mut core = Core {
            memory: OfferMemory::new(bucket),
            target: Arc::new(startup.clone()),
            current: BTreeMap::new(),
            state: stored,
            config,
            subscribed: false,
            reconciliation: Reconciliation::default(),
            next_implicit_ms: 0,
            recent: VecDeque::new(),
            counters: Counters::default(),
            ids: TaskIds {
                run: run_id,
                issued: 0,
            },
            ready: Ready::default(),
            autoscaler: Autoscaler::default(),
        };
        core.migrate(now_ms);
        let stored_target = core.stored_target();
        let hash = startup.version.sha256.clone();
        match stored_target {
            Some(target) if core.state.startup.as_deref() == Some(hash.as_str()) => {
                core.target = Arc::new(target);
                core.refresh_current();
            }
            _ => {
                let id = core.next_version_id();
                let target = Target {
                    version: ConfigVersion {
                        id,
                        ..startup.version
                    },
                    spec: startup.spec,
                };
                core.set_target(target, now_ms);
                core.change(Change::Startup(hash));
            }
        }
        core
    }

    /// A state written before config versions holds the last start-up spec: it becomes
    /// version 1, which every task record without a version ran.
    fn migrate(&mut self, now_ms: u64) {
        if !self.state.configs.is_empty() {
            return;
        }
        let Some(mut spec) = self.state.spec.clone() else {
            return;
        };
        let default_role = self.config.roles.first().cloned().unwrap_or("*".into());
        for group in &mut spec.groups {
            group.role.get_or_insert_with(|| default_role.clone());
        }
        let version = ConfigVersion::new(
            1,
            spec,
            self.config.binaries.clone(),
            Origin::Startup,
            now_ms,
        );
        tracing::info!(sha256 = %version.sha256, "state from before config versions: its spec is version 1");
        self.change(Change::Startup(version.sha256.clone()));
        self.change(Change::PutConfig(Box::new(version)));
        self.change(Change::Target(1));
    }

    /// The stored target, validated again; `None` (logged) when there is none or it no
    /// longer validates (the framework's roles changed).
    fn stored_target(&self) -> Option<Target> {
        let version = self
            .state
            .target
            .and_then(|id| self.state.configs.get(&id))?;
        match Target::from_version(version.clone(), &self.config.roles) {
            Ok(target) => Some(target),
            Err(errors) => {
                tracing::error!(version = version.id, %errors, "the stored target no longer validates: the start-up config replaces it");
                None
            }
        }
    }

    fn next_version_id(&self) -> u32 {
        self.state.configs.keys().next_back().map_or(1, |id| id + 1)
    }

    /// Whether there is something for the shell to do.
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Changes and effects collected and not taken yet.
    pub fn ready_len(&self) -> usize {
        self.ready.len()
    }

    /// Takes what the shell must do now.
    pub fn take_ready(&mut self) -> Ready {
        std::mem::take(&mut self.ready)
    }

    fn change(&mut self, change: Change) {
        self.state.apply(&change);
        self.ready.changes.push(change);
    }

    fn put_task(&mut self, task: TaskRecord) {
        self.change(Change::PutTask(Box::new(task)));
    }

    /// The state as the core sees it (including changes not yet persisted).
    pub fn state(&self) -> &StoredState {
        &self.state
    }

    /// The validated spec of the target.
    pub fn spec(&self) -> &ValidatedSpec {
        &self.target.spec
    }

    /// The target config version.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Per group, the stored versions whose pods run what the target wants.
    pub fn current(&self) -> &BTreeMap<String, BTreeSet<u32>> {
        &self.current
    }

    /// Whether a SUBSCRIBED was received on the current stream.
    pub fn subscribed(&self) -> bool {
        self.subscribed
    }

    /// Metrics counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Recent offers, oldest first.
    pub fn recent_offers(&self) -> impl Iterator<Item = &RecentOffer> {
        self.recent.iter()
    }

    /// Tasks still owing an answer to explicit reconciliation.
    pub fn reconciling(&self) -> usize {
        self.reconciliation.waiting.len()
    }

    /// Applies one input at `now_ms`. Only an operator [`Request`] can be refused; what it
    /// changes is in the next [`Core::take_ready`].
    pub fn apply(&mut self, input: Input, now_ms: u64) -> Result<(), RequestError> {
        match input {
            Input::Connected { leader } => tracing::info!(%leader, "event stream open"),
            Input::Disconnected { reason } => {
                tracing::warn!(%reason, "event stream lost");
                self.subscribed = false;
            }
            Input::Event(event) => self.on_event(*event, now_ms),
            Input::Tick => self.on_tick(now_ms),
            Input::CallFailed { task_ids } => self.reconcile_tasks(task_ids, now_ms),
            // Once started, an uninstall cannot be taken back: changes to the service would
            // be accepted and silently do nothing.
            Input::Request(request)
                if self.state.uninstall.is_some() && request != Request::Uninstall =>
            {
                return Err(RequestError::Uninstalling);
            }
            Input::Request(Request::SetCount { group, count }) => {
                return self.set_count(&group, count, now_ms)
            }
            Input::Request(Request::Restart { slot, replace }) => {
                return self.restart(&slot, replace, now_ms)
            }
            Input::Request(Request::Update { spec, binaries }) => {
                self.update(*spec, binaries, now_ms);
            }
            Input::Request(Request::Steer(steer)) => return self.steer(steer, now_ms),
            Input::Request(Request::Uninstall) => self.start_uninstall(now_ms),
            Input::Request(Request::ResumeAutoscale { group }) => {
                return self.resume_autoscale(&group)
            }
            Input::Load(sample) => self.on_load(sample, now_ms),
            Input::Teardown(outcome) => self.on_teardown(outcome),
        }
        Ok(())
    }

    fn effect(&mut self, effect: Effect) {
        self.ready.effects.push(effect);
    }

    fn on_event(&mut self, event: Event, now_ms: u64) {
        let kind = event.r#type.and_then(|t| event::Type::try_from(t).ok());
        match kind {
            Some(event::Type::Subscribed) => {
                if let Some(s) = event.subscribed {
                    self.on_subscribed(s.framework_id.value, now_ms);
                }
            }
            Some(event::Type::Offers) => {
                let offers = event.offers.map(|o| o.offers).unwrap_or_default();
                self.on_offers(offers, now_ms);
            }
            Some(event::Type::Rescind) => {
                if let Some(r) = event.rescind {
                    self.counters.offers_rescinded += 1;
                    for recent in self.recent.iter_mut().filter(|o| o.offer.id == r.offer_id) {
                        recent.outcome = "rescinded";
                    }
                }
            }
            Some(event::Type::Update) => {
                if let Some(u) = event.update {
                    self.on_update(u.status, now_ms);
                }
            }
            Some(event::Type::Failure) => {
                let failure = event.failure.unwrap_or_default();
                tracing::warn!(
                    agent = failure.agent_id.as_ref().map(|a| a.value.as_str()),
                    executor = failure.executor_id.as_ref().map(|e| e.value.as_str()),
                    status = failure.status,
                    "agent or executor failure"
                )
            }
            Some(event::Type::Error) => {
                let message = event.error.map(|e| e.message).unwrap_or_default();
                tracing::error!(%message, "master sent ERROR");
                self.on_master_error(&message);
            }
            Some(event::Type::InverseOffers) => {
                tracing::debug!("inverse offers ignored (maintenance is not handled in part 1)")
            }
            _ => {}
        }
    }

    fn on_subscribed(&mut self, framework_id: String, now_ms: u64) {
        if let Some(old) = &self.state.framework_id {
            if *old != framework_id {
                tracing::error!(%old, new = %framework_id, "master gave a new framework id: tasks of the old one are orphaned");
            }
        }
        if self.state.framework_id.as_deref() != Some(&framework_id) {
            self.change(Change::FrameworkId(framework_id.clone()));
        }
        self.ready.framework_id = Some(framework_id.clone());
        if self.counters.subscriptions > 0 {
            self.counters.reconnects += 1;
        }
        self.counters.subscriptions += 1;
        tracing::info!(%framework_id, "subscribed");
        self.subscribed = true;
        self.memory.reset();
        self.reconciliation.waiting = self
            .state
            .tasks
            .values()
            .filter(|t| !t.state.is_terminal())
            .map(|t| t.task_id.clone())
            .collect();
        self.reconciliation.delay_ms = self.config.reconcile_retry_ms;
        self.send_explicit_reconcile(now_ms);
        self.next_implicit_ms = now_ms + self.config.implicit_reconcile_ms;
        self.plan_now(&[], now_ms);
    }

    fn send_explicit_reconcile(&mut self, now_ms: u64) {
        if self.state.framework_id.is_none() {
            return;
        }
        if self.reconciliation.waiting.is_empty() {
            return;
        }
        let tasks: Vec<(String, String)> = self
            .reconciliation
            .waiting
            .iter()
            .map(|id| {
                let agent = self
                    .state
                    .tasks
                    .get(id)
                    .map(|t| t.agent_id.clone())
                    .unwrap_or_default();
                (id.clone(), agent)
            })
            .collect();
        tracing::info!(tasks = tasks.len(), "explicit reconciliation");
        self.effect(Effect::Reconcile { tasks });
        self.counters.reconciliation_rounds += 1;
        self.reconciliation.next_retry_ms = now_ms + self.reconciliation.delay_ms;
        self.reconciliation.delay_ms = (self.reconciliation.delay_ms * 2).min(60_000);
    }

    fn on_offers(&mut self, offers: Vec<Offer>, now_ms: u64) {
        self.counters.offers_received += offers.len() as u64;
        for offer in &offers {
            if self.recent.len() == RECENT_OFFERS {
                self.recent.pop_front();
            }
            self.recent.push_back(RecentOffer {
                offer: offer.clone(),
                received_ms: now_ms,
                outcome: "declined",
            });
        }
        self.plan_now(&offers, now_ms);
    }

    fn on_update(&mut self, status: TaskStatus, now_ms: u64) {
        self.counters.updates += 1;
        let task_id = status.task_id.value.clone();
        let phase = TaskPhase::from_wire(status.state);
        let agent_id = status.agent_id.as_ref().map(|a| a.value.clone());
        self.reconciliation.waiting.remove(&task_id);
        tracing::info!(task = %task_id, state = phase.name(), message = status.message.as_deref(), "status update");
        match self.state.tasks.get(&task_id).cloned() {
            None => {
                if !phase.is_terminal() {
                    if let (Some(_), Some(agent)) = (&self.state.framework_id, &agent_id) {
                        tracing::warn!(task = %task_id, "unknown live task: killing it");
                        self.effect(Effect::Kill {
                            task_id: task_id.clone(),
                            agent_id: agent.clone(),
                        });
                        self.counters.kills_sent += 1;
                    }
                }
            }
            Some(mut task) => {
                task.state = phase;
                if status.healthy.is_some() {
                    task.healthy = status.healthy;
                }
                if let Some(check) = &status.check_status {
                    task.ready = Some(check_passed(check));
                }
                if status.message.is_some() {
                    task.message = status.message.clone();
                }
                if let Some(agent) = &agent_id {
                    task.agent_id = agent.clone();
                }
                if phase == TaskPhase::Running && task.running_since_ms.is_none() {
                    task.running_since_ms = Some(now_ms);
                }
                task.unreachable_since_ms = if phase.is_out_of_reach() {
                    task.unreachable_since_ms.or(Some(now_ms))
                } else {
                    None
                };
                if phase.is_terminal() {
                    self.on_task_ended(task, now_ms);
                } else {
                    self.put_task(task);
                }
            }
        }
        // Acknowledge only updates that carry a uuid (never reconciliation answers); the shell
        // sends this after the change above is persisted.
        if let (Some(uuid), Some(agent_id), Some(_)) = (
            status.uuid.filter(|u| !u.is_empty()),
            agent_id,
            &self.state.framework_id,
        ) {
            self.effect(Effect::Acknowledge {
                agent_id,
                task_id,
                uuid,
            });
        }
        self.plan_now(&[], now_ms);
    }

    fn on_task_ended(&mut self, task: TaskRecord, now_ms: u64) {
        if task.kill == Some(KillIntent::Unreachable) {
            // Its slot went to a replacement long ago: the slot's memory is the new pod's.
            self.change(Change::RemoveTask(task.task_id.clone()));
            return;
        }
        let mut slot = self
            .state
            .slots
            .get(&task.slot)
            .cloned()
            .unwrap_or_default();
        let failed = task.kill.is_none_or(|k| k.counts_as_failure());
        if failed {
            if task
                .running_since_ms
                .is_some_and(|since| now_ms.saturating_sub(since) >= HEALTHY_RUN_MS)
            {
                slot.failures = 0;
            }
            slot.failures += 1;
            slot.next_launch_at_ms = now_ms + launch_backoff_ms(slot.failures);
        } else if task.kill != Some(KillIntent::PodSiblingEnded) {
            slot.next_launch_at_ms = now_ms;
        }
        if task.kill != Some(KillIntent::PodSiblingEnded) {
            slot.last_failed = failed;
            slot.last_state = Some(task.state);
            slot.last_message = task.message.clone();
        }
        self.change(Change::PutSlot(task.slot.clone(), slot));
        self.change(Change::RemoveTask(task.task_id.clone()));
        // A pod lives and dies as a whole: the rest of it is killed, not counted again.
        let siblings = self.tasks_holding(&task.slot);
        for mut sibling in siblings.into_iter().filter(|t| t.kill.is_none()) {
            sibling.kill = Some(KillIntent::PodSiblingEnded);
            self.put_task(sibling);
        }
    }

    fn reconcile_tasks(&mut self, task_ids: Vec<String>, now_ms: u64) {
        self.reconciliation.waiting.extend(task_ids);
        self.reconciliation.next_retry_ms = now_ms;
    }

    fn on_tick(&mut self, now_ms: u64) {
        if !self.subscribed {
            return;
        }
        if !self.reconciliation.waiting.is_empty() && now_ms >= self.reconciliation.next_retry_ms {
            // Tasks we never heard of must be reconciled too; keep asking until they answer.
            self.send_explicit_reconcile(now_ms);
        }
        if now_ms >= self.next_implicit_ms {
            if self.state.framework_id.is_some() {
                tracing::info!("implicit reconciliation");
                self.effect(Effect::Reconcile { tasks: Vec::new() });
                self.counters.reconciliation_rounds += 1;
            }
            self.next_implicit_ms = now_ms + self.config.implicit_reconcile_ms;
        }
        self.replace_unreachable(now_ms);
        self.plan_now(&[], now_ms);
    }

    /// Gives up the slots of pods unreachable for longer than the timeout, so the planner
    /// launches replacements. The old tasks stay recorded (not holding their slots) and are
    /// killed if their agent comes back; GONE, DROPPED or LOST removes them.
    fn replace_unreachable(&mut self, now_ms: u64) {
        let timeout = self.config.unreachable_timeout_ms;
        let expired: BTreeSet<String> = self
            .state
            .tasks
            .values()
            .filter(|t| t.holds_slot())
            .filter(|t| {
                t.unreachable_since_ms
                    .is_some_and(|since| now_ms.saturating_sub(since) >= timeout)
            })
            .map(|t| t.slot.clone())
            .collect();
        for slot in expired {
            tracing::warn!(%slot, timeout_ms = timeout, "pod unreachable too long: launching a replacement");
            let pod = self.tasks_holding(&slot);
            self.kill_pod(pod, KillIntent::Unreachable);
        }
    }

    fn plan_now(&mut self, offers: &[Offer], now_ms: u64) {
        if self.state.framework_id.is_none() || !self.subscribed {
            return;
        }
        // Nothing is launched while uninstalling.
        if self.uninstalling() {
            return self.uninstall_step(offers, now_ms);
        }
        let input = PlanInput {
            spec: &self.target.spec,
            desired: &self.state.desired,
            tasks: &self.state.tasks,
            slots: &self.state.slots,
            offers,
            now_ms,
            launches_allowed: self.reconciliation.waiting.is_empty(),
            current: &self.current,
            deployment: self.state.deployment.as_ref(),
        };
        let plan = planner::plan(&input, &self.config.planner, &mut self.memory);
        self.check_deployment(&plan.rollouts, now_ms);
        self.counters.evaluations += plan.evaluations;
        for offer in plan.launches {
            let launch = self.launch(offer, plan.accept_refuse_seconds, now_ms);
            tracing::info!(offer = %launch.offer_id, agent = %launch.agent_id, pods = launch.pods.len(), "accepting offer");
            for recent in self
                .recent
                .iter_mut()
                .filter(|o| o.offer.id.value == launch.offer_id)
            {
                recent.outcome = "accepted";
            }
            self.counters.offers_accepted += 1;
            self.effect(Effect::Launch(launch));
        }
        if !plan.declines.is_empty() {
            self.counters.offers_declined += plan.declines.len() as u64;
            self.effect(Effect::Decline {
                offer_ids: plan.declines,
                refuse_seconds: plan.decline_refuse_seconds,
            });
        }
        for kill in &plan.kills {
            if let Some(mut task) = self.state.tasks.get(&kill.task_id).cloned() {
                tracing::info!(task = %kill.task_id, intent = ?kill.intent, "killing");
                task.kill.get_or_insert(kill.intent);
                task.last_kill_sent_ms = Some(now_ms);
                self.put_task(task);
                self.effect(Effect::Kill {
                    task_id: kill.task_id.clone(),
                    agent_id: kill.agent_id.clone(),
                });
                self.counters.kills_sent += 1;
            }
        }
        if plan.revive {
            tracing::info!(waiting = plan.waiting, "reviving offers");
            self.effect(Effect::Revive);
            self.counters.revives += 1;
        }
        if plan.suppress {
            tracing::info!("nothing pending: suppressing offers");
            self.effect(Effect::Suppress);
            self.counters.suppressions += 1;
        }
    }

    /// Gives the pods placed on `offer` their task ids and records them (the launch intent,
    /// persisted before the ACCEPT is sent); a restarted pod is no longer pinned.
    fn launch(&mut self, offer: OfferLaunch, refuse_seconds: f64, now_ms: u64) -> Launch {
        let mut pods = Vec::with_capacity(offer.pods.len());
        for placement in offer.pods.iter().cloned() {
            let group = &self.target.spec.groups[placement.group];
            let task_ids: Vec<String> = group
                .tasks
                .iter()
                .map(|task| self.ids.next(&placement.slot, &task.name))
                .collect();
            for record in task_records(&self.target, &offer, &placement, &task_ids, now_ms) {
                self.put_task(record);
            }
            if let Some(slot) = self.state.slots.get(&placement.slot) {
                if slot.pinned_agent.is_some() {
                    let slot = SlotRecord {
                        pinned_agent: None,
                        ..slot.clone()
                    };
                    self.change(Change::PutSlot(placement.slot.clone(), slot));
                }
            }
            self.counters.pods_launched += 1;
            pods.push(PodLaunch {
                placement,
                task_ids,
            });
        }
        Launch {
            offer_id: offer.offer_id,
            agent_id: offer.agent_id,
            role: offer.role,
            pods,
            refuse_seconds,
            target: self.target.clone(),
        }
    }

    fn set_count(&mut self, group: &str, count: u32, now_ms: u64) -> Result<(), RequestError> {
        if self.target.spec.group(group).is_none() {
            return Err(RequestError::UnknownGroup {
                group: group.to_string(),
                known: self
                    .target
                    .spec
                    .groups
                    .iter()
                    .map(|g| g.name.clone())
                    .collect(),
            });
        }
        if count > 100_000 {
            return Err(RequestError::CountTooLarge(count));
        }
        let autoscaled = self
            .target
            .spec
            .group(group)
            .is_some_and(|g| g.autoscale.is_some());
        if autoscaled && !self.autoscale_pinned(group) {
            tracing::info!(
                group,
                count,
                "count set by the operator: autoscaling paused until `cartrack autoscale resume`"
            );
            self.change(Change::AutoscalePin(group.to_string(), true));
        }
        self.change(Change::Desired(group.to_string(), count));
        self.plan_now(&[], now_ms);
        Ok(())
    }

    fn restart(&mut self, slot: &str, replace: bool, now_ms: u64) -> Result<(), RequestError> {
        let live = self.tasks_holding(slot);
        let Some(first) = live.first() else {
            return Err(RequestError::NoSuchPod(slot.to_string()));
        };
        let mut record = self.state.slots.get(slot).cloned().unwrap_or_default();
        record.pinned_agent = (!replace).then(|| first.agent_id.clone());
        self.change(Change::PutSlot(slot.to_string(), record));
        let intent = if replace {
            KillIntent::Replace
        } else {
            KillIntent::Restart
        };
        self.kill_pod(live, intent);
        self.plan_now(&[], now_ms);
        Ok(())
    }

    /// The tasks still holding `slot` ([`TaskRecord::holds_slot`]): the pod as the scheduler
    /// counts it, copied for changing.
    fn tasks_holding(&self, slot: &str) -> Vec<TaskRecord> {
        self.state
            .tasks
            .values()
            .filter(|t| t.slot == slot && t.holds_slot())
            .cloned()
            .collect()
    }

    /// Marks every task of `pod` for killing with `intent`; the next plan sends the KILLs.
    fn kill_pod(&mut self, pod: Vec<TaskRecord>, intent: KillIntent) {
        for mut task in pod {
            task.kill = Some(intent);
            task.last_kill_sent_ms = None;
            self.put_task(task);
        }
    }
}

/// Whether a readiness check's result passes: exit code 0, HTTP 2xx/3xx, or a TCP connect.
fn check_passed(check: &CheckStatusInfo) -> bool {
    let command = check.command.as_ref().and_then(|c| c.exit_code);
    let http = check.http.as_ref().and_then(|h| h.status_code);
    let tcp = check.tcp.as_ref().and_then(|t| t.succeeded);
    command == Some(0) || http.is_some_and(|code| (200..400).contains(&code)) || tcp == Some(true)
}

/// The records of a pod's tasks as launched: what is persisted before its ACCEPT is sent.
fn task_records(
    target: &Target,
    offer: &OfferLaunch,
    pod: &PodPlacement,
    task_ids: &[String],
    now_ms: u64,
) -> Vec<TaskRecord> {
    let group = &target.spec.groups[pod.group];
    group
        .tasks
        .iter()
        .zip(task_ids)
        .enumerate()
        .map(|(ti, (task, task_id))| TaskRecord {
            task_id: task_id.clone(),
            slot: pod.slot.clone(),
            group: group.name.clone(),
            index: pod.index,
            task_name: task.name.clone(),
            agent_id: offer.agent_id.clone(),
            hostname: offer.hostname.clone(),
            attributes: offer.attributes.clone(),
            role: offer.role.clone(),
            executor_id: group.executor_id.clone(),
            ports: task
                .ports
                .iter()
                .cloned()
                .zip(pod.ports.get(ti).into_iter().flatten().copied())
                .collect(),
            state: TaskPhase::Staging,
            healthy: None,
            ready: None,
            ready_when: if task.readiness.is_some() {
                ReadyWhen::Check
            } else if task.health.is_some() {
                ReadyWhen::Healthy
            } else {
                ReadyWhen::Running
            },
            message: None,
            launched_at_ms: now_ms,
            running_since_ms: None,
            kill: None,
            last_kill_sent_ms: None,
            unreachable_since_ms: None,
            config: target.id(),
        })
        .collect()
}

mod autoscale;
mod deploy;
mod uninstall;

pub use autoscale::PodCounts;
pub use uninstall::{UninstallPhase, UninstallPlan, UninstallStep};

#[cfg(test)]
mod tests;
