//! The pure core: master events and the time since start go in, [`Effect`]s come out. No I/O,
//! no clock: the adapter ([`crate::run`]) reads time and carries the effects out.
//!
//! The demand rule, applied after every input: tasks that are launched or running ("live")
//! are brought to the curve's demand — offers are taken while there are fewer, the newest
//! tasks are killed while there are more; offers are SUPPRESSed at demand and REVIVEd below
//! it. A task that ends for any reason is forgotten, so the rule launches another. At the
//! curve's end (or on [`Input::Stop`]) the framework is torn down.

use std::collections::BTreeMap;
use std::time::Duration;

use cartrack_framework::planner::OfferView;
use cartrack_framework::resources::Scalars;
use mesos_proto::v1::scheduler::{event, Event};
use mesos_proto::v1::{Offer, TaskState, TaskStatus};

use crate::curve::Curve;

/// What the core needs besides the curve.
#[derive(Debug, Clone, PartialEq)]
pub struct CoreConfig {
    /// Curve seconds per real second.
    pub time_scale: f64,
    /// Stop after this much real time, even if the curve goes on.
    pub duration: Option<Duration>,
    /// Each task's cpus and mem (disk unused), in thousandths.
    pub task: Scalars,
    /// Task ids are `<prefix>-<n>`.
    pub task_prefix: String,
}

/// One input.
#[derive(Debug, Clone)]
pub enum Input {
    /// An event of the subscription stream.
    Event(Box<Event>),
    /// The subscription stream ended (a new SUBSCRIBE follows).
    Disconnected,
    /// Time passed.
    Tick,
    /// SIGTERM or SIGINT: tear down and finish.
    Stop,
}

/// What the adapter must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// ACCEPT the offer, launching these tasks (ids) with [`CoreConfig::task`] each.
    Launch {
        /// The offer.
        offer_id: String,
        /// Its agent.
        agent_id: String,
        /// The role its resources are allocated to.
        role: String,
        /// New task ids.
        task_ids: Vec<String>,
    },
    /// DECLINE these offers with a short filter.
    Decline(Vec<String>),
    /// KILL a task.
    Kill {
        /// The task.
        task_id: String,
        /// Its agent.
        agent_id: String,
    },
    /// ACKNOWLEDGE a status update.
    Acknowledge {
        /// Its agent.
        agent_id: String,
        /// The task.
        task_id: String,
        /// The update's uuid.
        uuid: Vec<u8>,
    },
    /// Explicit RECONCILE of (task, agent) pairs after a re-subscription.
    Reconcile(Vec<(String, String)>),
    /// SUPPRESS offers: at demand.
    Suppress,
    /// REVIVE offers: below demand.
    Revive,
    /// TEARDOWN: the master kills every task of the framework and forgets it.
    Teardown,
    /// Nothing more to do: the adapter stops.
    Finish,
    /// The master refused the framework (an ERROR event); the adapter stops with this.
    Abort(String),
}

/// Where a task is, as far as the core knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Launched (or STAGING/STARTING): counts toward demand.
    Launched,
    /// RUNNING: counts toward demand.
    Running,
    /// KILL sent (or KILLING): no longer counts.
    Killing,
}

#[derive(Debug, Clone)]
struct Task {
    seq: u64,
    agent_id: String,
    phase: Phase,
}

impl Task {
    fn live(&self) -> bool {
        self.phase != Phase::Killing
    }
}

/// Totals since start, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Tasks launched.
    pub launched: u64,
    /// KILL calls sent.
    pub killed: u64,
    /// Tasks that ended without being killed (failed, lost, finished, ...).
    pub ended_unasked: u64,
    /// Offers received.
    pub offers_received: u64,
    /// Offers declined.
    pub offers_declined: u64,
}

/// What `/metrics` and `/v1/health` show, copied after every input.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// The curve's current demand (0 after the end).
    pub desired: u32,
    /// Tasks RUNNING.
    pub running: u32,
    /// Tasks launched, not yet RUNNING.
    pub staging: u32,
    /// Tasks being killed.
    pub killing: u32,
    /// Whether a subscription is open.
    pub subscribed: bool,
    /// Whether offers are suppressed.
    pub suppressed: bool,
    /// The framework id, once subscribed.
    pub framework_id: Option<String>,
    /// Whether the curve ended (or a stop was asked for).
    pub ending: bool,
    /// Totals.
    pub counters: Counters,
}

/// The load generator's state.
#[derive(Debug)]
pub struct Core {
    config: CoreConfig,
    curve: Curve,
    framework_id: Option<String>,
    subscribed: bool,
    suppressed: bool,
    tasks: BTreeMap<String, Task>,
    next_seq: u64,
    desired: u32,
    ending: bool,
    done: bool,
    counters: Counters,
    /// Offers of the event being applied, used or declined before the input is done.
    pending_offers: Vec<Offer>,
}

/// Whether `state` ends a task for good, as far as demand goes (UNREACHABLE counts: a task
/// that comes back is adopted, and killed if it is one too many).
fn terminal(state: TaskState) -> bool {
    !matches!(
        state,
        TaskState::TaskStaging
            | TaskState::TaskStarting
            | TaskState::TaskRunning
            | TaskState::TaskKilling
    )
}

impl Core {
    /// A core that has not subscribed yet.
    pub fn new(config: CoreConfig, curve: Curve) -> Core {
        Core {
            config,
            curve,
            framework_id: None,
            subscribed: false,
            suppressed: false,
            tasks: BTreeMap::new(),
            next_seq: 1,
            desired: 0,
            ending: false,
            done: false,
            counters: Counters::default(),
            pending_offers: Vec::new(),
        }
    }

    /// The framework id the master gave, once subscribed.
    pub fn framework_id(&self) -> Option<&str> {
        self.framework_id.as_deref()
    }

    /// Each task's resources.
    pub fn task_size(&self) -> Scalars {
        self.config.task
    }

    /// Whether the core has nothing more to do.
    pub fn done(&self) -> bool {
        self.done
    }

    /// The curve time `elapsed` real time after start.
    pub fn curve_time(&self, elapsed: Duration) -> Duration {
        Duration::try_from_secs_f64(elapsed.as_secs_f64() * self.config.time_scale)
            .unwrap_or(Duration::MAX)
    }

    /// The demand at `elapsed`, `None` once the run is over.
    fn demand(&self, elapsed: Duration) -> Option<u32> {
        if self.config.duration.is_some_and(|d| elapsed >= d) {
            return None;
        }
        self.curve.demand_at(self.curve_time(elapsed))
    }

    /// Copies what the metrics show.
    pub fn snapshot(&self) -> Snapshot {
        let count = |phase: Phase| {
            let n = self.tasks.values().filter(|t| t.phase == phase).count();
            u32::try_from(n).unwrap_or(u32::MAX)
        };
        Snapshot {
            desired: self.desired,
            running: count(Phase::Running),
            staging: count(Phase::Launched),
            killing: count(Phase::Killing),
            subscribed: self.subscribed,
            suppressed: self.suppressed,
            framework_id: self.framework_id.clone(),
            ending: self.ending,
            counters: self.counters,
        }
    }

    /// Applies one input at `elapsed` real time since start.
    pub fn handle(&mut self, input: Input, elapsed: Duration) -> Vec<Effect> {
        let mut effects = Vec::new();
        if self.done {
            return effects;
        }
        match input {
            Input::Event(event) => self.on_event(*event, &mut effects),
            Input::Disconnected => self.subscribed = false,
            Input::Tick => {}
            Input::Stop => self.ending = true,
        }
        if !self.done {
            self.converge(elapsed, &mut effects);
        }
        effects
    }

    fn on_event(&mut self, event: Event, effects: &mut Vec<Effect>) {
        match event.r#type.and_then(|t| event::Type::try_from(t).ok()) {
            Some(event::Type::Subscribed) => {
                let Some(subscribed) = event.subscribed else {
                    return;
                };
                self.framework_id = Some(subscribed.framework_id.value);
                self.subscribed = true;
                // A SUBSCRIBE carries no suppressed roles: the master offers again.
                self.suppressed = false;
                if !self.tasks.is_empty() {
                    let known = self
                        .tasks
                        .iter()
                        .map(|(id, t)| (id.clone(), t.agent_id.clone()))
                        .collect();
                    effects.push(Effect::Reconcile(known));
                }
                // A KILL sent before the stream broke may have been lost.
                for (id, task) in &self.tasks {
                    if task.phase == Phase::Killing {
                        effects.push(Effect::Kill {
                            task_id: id.clone(),
                            agent_id: task.agent_id.clone(),
                        });
                    }
                }
            }
            Some(event::Type::Offers) => {
                let offers = event.offers.map(|o| o.offers).unwrap_or_default();
                self.counters.offers_received += offers.len() as u64;
                self.pending_offers = offers;
            }
            Some(event::Type::Update) => {
                if let Some(update) = event.update {
                    self.on_update(update.status, effects);
                }
            }
            Some(event::Type::Error) => {
                let message = event.error.map(|e| e.message).unwrap_or_default();
                self.done = true;
                effects.push(Effect::Abort(message));
            }
            // Offers are used or declined at once, so a rescinded one is already gone; the
            // rest needs nothing from a load generator.
            _ => {}
        }
    }

    fn on_update(&mut self, status: TaskStatus, effects: &mut Vec<Effect>) {
        let task_id = status.task_id.value.clone();
        let agent_id = status.agent_id.as_ref().map(|a| a.value.clone());
        if let (Some(uuid), Some(agent_id)) = (status.uuid.clone(), agent_id.clone()) {
            if !uuid.is_empty() {
                effects.push(Effect::Acknowledge {
                    agent_id,
                    task_id: task_id.clone(),
                    uuid,
                });
            }
        }
        let state = status.state();
        if terminal(state) {
            if let Some(task) = self.tasks.remove(&task_id) {
                if task.phase != Phase::Killing {
                    self.counters.ended_unasked += 1;
                    tracing::info!(task = %task_id, state = state.as_str_name(), message = status.message(), "task ended; the demand rule replaces it");
                }
            }
            return;
        }
        let phase = match state {
            TaskState::TaskRunning => Phase::Running,
            TaskState::TaskKilling => Phase::Killing,
            _ => Phase::Launched,
        };
        match self.tasks.get_mut(&task_id) {
            // A task being killed stays so until it ends.
            Some(task) if task.phase != Phase::Killing => task.phase = phase,
            Some(_) => {}
            None => {
                // Not ours as far as we know (it came back from UNREACHABLE, or was
                // launched before a restart of ours): it counts, and the newest go first.
                let Some(agent_id) = agent_id else { return };
                let seq = self.take_seq();
                self.tasks.insert(
                    task_id,
                    Task {
                        seq,
                        agent_id,
                        phase,
                    },
                );
            }
        }
    }

    fn take_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    fn live(&self) -> u32 {
        let n = self.tasks.values().filter(|t| t.live()).count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// The demand rule, then the end.
    fn converge(&mut self, elapsed: Duration, effects: &mut Vec<Effect>) {
        let offers = std::mem::take(&mut self.pending_offers);
        let demand = if self.ending {
            None
        } else {
            self.demand(elapsed)
        };
        let Some(desired) = demand else {
            self.ending = true;
            self.desired = 0;
            self.decline(&offers, effects);
            self.finish(effects);
            return;
        };
        self.desired = desired;
        if !self.subscribed {
            // Offers cannot come without a subscription; calls cannot go.
            return;
        }
        self.take_offers(&offers, effects);
        let live = self.live();
        if live > desired {
            let mut newest: Vec<(u64, String)> = self
                .tasks
                .iter()
                .filter(|(_, t)| t.live())
                .map(|(id, t)| (t.seq, id.clone()))
                .collect();
            newest.sort_unstable_by_key(|(seq, _)| std::cmp::Reverse(*seq));
            for (_, id) in newest.into_iter().take((live - desired) as usize) {
                if let Some(task) = self.tasks.get_mut(&id) {
                    task.phase = Phase::Killing;
                    self.counters.killed += 1;
                    effects.push(Effect::Kill {
                        task_id: id,
                        agent_id: task.agent_id.clone(),
                    });
                }
            }
        }
        let below = self.live() < desired;
        if below && self.suppressed {
            self.suppressed = false;
            effects.push(Effect::Revive);
        } else if !below && !self.suppressed {
            self.suppressed = true;
            effects.push(Effect::Suppress);
        }
    }

    /// Launches on each offer while below demand and the offer has room; declines the rest.
    fn take_offers(&mut self, offers: &[Offer], effects: &mut Vec<Effect>) {
        let need = self.config.task;
        let mut declined = Vec::new();
        for offer in offers {
            let view = OfferView::from_offer(offer);
            let mut free = view.free;
            let mut task_ids = Vec::new();
            while self.live() < self.desired && free.covers(&need) {
                free = free.minus(need);
                let seq = self.take_seq();
                let id = format!("{}-{seq}", self.config.task_prefix);
                self.tasks.insert(
                    id.clone(),
                    Task {
                        seq,
                        agent_id: view.agent_id.to_string(),
                        phase: Phase::Launched,
                    },
                );
                task_ids.push(id);
            }
            if task_ids.is_empty() {
                declined.push(offer.id.value.clone());
            } else {
                self.counters.launched += task_ids.len() as u64;
                effects.push(Effect::Launch {
                    offer_id: offer.id.value.clone(),
                    agent_id: view.agent_id.to_string(),
                    role: view.role.to_string(),
                    task_ids,
                });
            }
        }
        if !declined.is_empty() {
            self.counters.offers_declined += declined.len() as u64;
            effects.push(Effect::Decline(declined));
        }
    }

    fn decline(&mut self, offers: &[Offer], effects: &mut Vec<Effect>) {
        if offers.is_empty() || !self.subscribed {
            return;
        }
        self.counters.offers_declined += offers.len() as u64;
        effects.push(Effect::Decline(
            offers.iter().map(|o| o.id.value.clone()).collect(),
        ));
    }

    /// Tears down once subscribed (a framework never subscribed has nothing to tear down);
    /// while the stream is away, waits for the next SUBSCRIBED.
    fn finish(&mut self, effects: &mut Vec<Effect>) {
        if self.framework_id.is_none() {
            self.done = true;
            effects.push(Effect::Finish);
        } else if self.subscribed {
            self.done = true;
            self.tasks.clear();
            effects.push(Effect::Teardown);
            effects.push(Effect::Finish);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::v1::scheduler::event::{Error, Offers, Subscribed, Update};
    use mesos_proto::v1::{value, AgentId, FrameworkId, OfferId, Resource, TaskId};

    const S: Duration = Duration::from_secs(1);

    /// 0 tasks until 10 s, 4 until 20 s, 1 until 30 s, then 0 until the end at 40 s.
    fn core() -> Core {
        let curve = Curve::parse(
            "end = 40\n[[point]]\nat = 10\ntasks = 4\n[[point]]\nat = 20\ntasks = 1\n[[point]]\nat = 30\ntasks = 0",
        )
        .expect("curve");
        Core::new(
            CoreConfig {
                time_scale: 1.0,
                duration: None,
                task: Scalars {
                    cpus: 1000,
                    mem: 100_000,
                    disk: 0,
                },
                task_prefix: "t".into(),
            },
            curve,
        )
    }

    fn event(kind: event::Type) -> Event {
        Event {
            r#type: Some(kind as i32),
            ..Event::default()
        }
    }

    fn subscribed() -> Input {
        Input::Event(Box::new(Event {
            subscribed: Some(Subscribed {
                framework_id: FrameworkId { value: "fw".into() },
                ..Subscribed::default()
            }),
            ..event(event::Type::Subscribed)
        }))
    }

    fn scalar(name: &str, v: f64) -> Resource {
        Resource {
            name: name.into(),
            r#type: value::Type::Scalar as i32,
            scalar: Some(value::Scalar { value: v }),
            ..Resource::default()
        }
    }

    /// One offer per (id, agent, cpus, mem).
    fn offers(list: &[(&str, &str, f64, f64)]) -> Input {
        let offers = list
            .iter()
            .map(|(id, agent, cpus, mem)| Offer {
                id: OfferId {
                    value: (*id).into(),
                },
                agent_id: AgentId {
                    value: (*agent).into(),
                },
                resources: vec![scalar("cpus", *cpus), scalar("mem", *mem)],
                ..Offer::default()
            })
            .collect();
        Input::Event(Box::new(Event {
            offers: Some(Offers { offers }),
            ..event(event::Type::Offers)
        }))
    }

    fn update(task: &str, state: TaskState) -> Input {
        Input::Event(Box::new(Event {
            update: Some(Update {
                status: TaskStatus {
                    task_id: TaskId { value: task.into() },
                    agent_id: Some(AgentId { value: "a1".into() }),
                    state: state as i32,
                    uuid: Some(vec![7]),
                    ..TaskStatus::default()
                },
            }),
            ..event(event::Type::Update)
        }))
    }

    fn launched(effects: &[Effect]) -> Vec<String> {
        effects
            .iter()
            .flat_map(|e| match e {
                Effect::Launch { task_ids, .. } => task_ids.clone(),
                _ => Vec::new(),
            })
            .collect()
    }

    fn killed(effects: &[Effect]) -> Vec<String> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Kill { task_id, .. } => Some(task_id.clone()),
                _ => None,
            })
            .collect()
    }

    /// Subscribed at 0 s, then 4 tasks launched on two offers at 10 s and all RUNNING.
    fn four_running() -> Core {
        let mut c = core();
        assert_eq!(c.handle(subscribed(), Duration::ZERO), [Effect::Suppress]);
        assert_eq!(c.handle(Input::Tick, 10 * S), [Effect::Revive]);
        let effects = c.handle(
            offers(&[("o1", "a1", 3.0, 1000.0), ("o2", "a2", 4.0, 1000.0)]),
            10 * S,
        );
        assert_eq!(launched(&effects), ["t-1", "t-2", "t-3", "t-4"]);
        assert_eq!(effects.last(), Some(&Effect::Suppress), "{effects:?}");
        for t in ["t-1", "t-2", "t-3", "t-4"] {
            c.handle(update(t, TaskState::TaskRunning), 11 * S);
        }
        assert_eq!(c.snapshot().running, 4);
        c
    }

    #[test]
    fn demand_up_launches_on_offers_and_suppresses_at_demand() {
        let mut c = four_running();
        // At demand: an offer that arrives anyway is declined.
        let effects = c.handle(offers(&[("o3", "a1", 4.0, 1000.0)]), 12 * S);
        assert_eq!(effects, [Effect::Decline(vec!["o3".into()])]);
        let s = c.snapshot();
        assert_eq!(
            (s.desired, s.counters.launched, s.counters.offers_declined),
            (4, 4, 1)
        );
        assert!(s.suppressed);
    }

    #[test]
    fn the_first_offer_launches_as_many_as_fit_and_the_rest_wait_for_more() {
        let mut c = core();
        c.handle(subscribed(), 10 * S);
        // 2.5 cpus fit two 1-cpu tasks; a second offer too small for any is declined.
        let effects = c.handle(
            offers(&[("o1", "a1", 2.5, 1000.0), ("o2", "a2", 4.0, 50.0)]),
            10 * S,
        );
        assert_eq!(launched(&effects), ["t-1", "t-2"]);
        assert!(effects.contains(&Effect::Decline(vec!["o2".into()])));
        assert!(
            !effects.contains(&Effect::Suppress),
            "below demand: offers stay on"
        );
        let effects = c.handle(offers(&[("o3", "a2", 4.0, 1000.0)]), 10 * S);
        assert_eq!(launched(&effects), ["t-3", "t-4"]);
        assert!(effects.contains(&Effect::Suppress));
    }

    #[test]
    fn demand_down_kills_the_newest_tasks() {
        let mut c = four_running();
        let effects = c.handle(Input::Tick, 20 * S);
        assert_eq!(killed(&effects), ["t-4", "t-3", "t-2"]);
        assert!(!effects.contains(&Effect::Revive));
        let s = c.snapshot();
        assert_eq!((s.desired, s.running, s.killing), (1, 1, 3));
        // Nothing is killed twice, and KILLED updates are acknowledged, not replaced.
        assert!(killed(&c.handle(Input::Tick, 21 * S)).is_empty());
        let effects = c.handle(update("t-4", TaskState::TaskKilled), 21 * S);
        assert_eq!(
            effects,
            [Effect::Acknowledge {
                agent_id: "a1".into(),
                task_id: "t-4".into(),
                uuid: vec![7]
            }]
        );
        assert_eq!(c.snapshot().counters.ended_unasked, 0);
        assert_eq!(c.snapshot().counters.killed, 3);
    }

    #[test]
    fn a_failed_task_is_replaced_by_the_demand_rule() {
        let mut c = four_running();
        let effects = c.handle(update("t-2", TaskState::TaskFailed), 12 * S);
        assert!(effects.contains(&Effect::Revive), "{effects:?}");
        assert!(matches!(effects[0], Effect::Acknowledge { .. }));
        let effects = c.handle(offers(&[("o9", "a2", 1.0, 100.0)]), 12 * S);
        assert_eq!(launched(&effects), ["t-5"]);
        assert_eq!(effects.last(), Some(&Effect::Suppress));
        assert_eq!(c.snapshot().counters.ended_unasked, 1);
    }

    #[test]
    fn the_end_tears_down_and_finishes() {
        let mut c = four_running();
        let effects = c.handle(Input::Tick, 40 * S);
        assert_eq!(effects, [Effect::Teardown, Effect::Finish]);
        assert!(c.done());
        assert!(
            c.handle(Input::Tick, 41 * S).is_empty(),
            "nothing after done"
        );
    }

    #[test]
    fn a_stop_tears_down_at_once_and_waits_for_a_subscription_if_needed() {
        let mut c = four_running();
        c.handle(Input::Disconnected, 12 * S);
        assert!(
            c.handle(Input::Stop, 12 * S).is_empty(),
            "no call without a stream"
        );
        assert!(c.snapshot().ending);
        let effects = c.handle(subscribed(), 13 * S);
        assert_eq!(effects.last(), Some(&Effect::Finish));
        assert!(effects.contains(&Effect::Teardown));
        assert!(matches!(effects[0], Effect::Reconcile(ref t) if t.len() == 4));
    }

    #[test]
    fn a_run_that_never_subscribed_just_finishes() {
        let mut c = core();
        assert_eq!(c.handle(Input::Tick, 50 * S), [Effect::Finish]);
    }

    #[test]
    fn duration_and_time_scale_bound_the_run() {
        let mut c = core();
        c.config.time_scale = 10.0;
        c.config.duration = Some(3 * S);
        c.handle(subscribed(), Duration::ZERO);
        c.handle(Input::Tick, 2 * S);
        assert_eq!(c.snapshot().desired, 1, "2 s real = 20 s curve");
        assert_eq!(
            c.handle(Input::Tick, 3 * S),
            [Effect::Teardown, Effect::Finish]
        );
    }

    #[test]
    fn a_resubscription_reconciles_and_resends_kills() {
        let mut c = four_running();
        c.handle(Input::Tick, 20 * S);
        c.handle(Input::Disconnected, 21 * S);
        let effects = c.handle(subscribed(), 22 * S);
        assert!(matches!(effects[0], Effect::Reconcile(ref t) if t.len() == 4));
        assert_eq!(killed(&effects), ["t-2", "t-3", "t-4"]);
    }

    #[test]
    fn an_unknown_live_task_is_adopted_and_killed_if_one_too_many() {
        let mut c = four_running();
        let effects = c.handle(update("elsewhere-9", TaskState::TaskRunning), 12 * S);
        assert_eq!(killed(&effects), ["elsewhere-9"]);
    }

    #[test]
    fn an_error_event_aborts() {
        let mut c = core();
        let effects = c.handle(
            Input::Event(Box::new(Event {
                error: Some(Error {
                    message: "Framework has been removed".into(),
                }),
                ..event(event::Type::Error)
            })),
            Duration::ZERO,
        );
        assert_eq!(
            effects,
            [Effect::Abort("Framework has been removed".into())]
        );
        assert!(c.done());
    }
}
