//! The planner: a function from (spec, known tasks, offers, now) to a [`Plan`] — which
//! offers to accept with which pods, which to decline and for how long, which tasks to kill,
//! and whether to SUPPRESS or REVIVE. raft's `Ready` + kube's reconcile: no I/O, no clock,
//! no random ids (the driver assigns task ids), never told why it runs. Its one piece of
//! state is the caller's [`OfferMemory`] (whether offers are suppressed, the REVIVE token
//! bucket), passed in and updated, so a run with the same inputs and memory decides the same.
//!
//! Placement is first fit (bin-pack, offers smallest first) or next fit (spread, offers
//! largest first, rotating), with per-group pruning: pods of one group are identical, so an
//! offer that failed a group for a reason that only gets worse (role, resources, UNIQUE,
//! MAX_PER) is never looked at again for that group, and once one pod of a group fits
//! nowhere, the rest of the group is skipped. That keeps 10,000 pods x 10,000 offers linear.
//!
//! Reasons an offer did not fit a pod are computed only on demand, by [`explain`].

pub mod autoscale;
mod explain;
mod offer;
mod pending;
mod placement;
mod progress;
mod revive;
mod rollout;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use mesos_proto::v1::Offer;

pub use explain::{explain, OfferExplanation, PodFit};
pub use offer::{attribute_text, OfferView};
pub use pending::{pending_pods, Pending, PendingPod};
pub use placement::{unplaceable, ConstraintMisfit, Fields, PlacementIndex, StoredPlace};
pub use progress::{progress, PhaseView, PlanView, ProgressInput, StepView};
pub use revive::TokenBucket;
pub use rollout::{pod_ready, rollouts, GroupRollout, Hold};

use crate::records::{Deployment, KillIntent, SlotRecord, TaskRecord};
use crate::resources::Scalars;
use crate::spec::{GroupPlan, PlacementStrategy, ValidatedSpec};

/// Tunables of the planner that are not part of the spec.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannerConfig {
    /// Filter on offers nothing pending can use (dcos-commons: 3600 s; the Mesos default 5 s
    /// starves other frameworks).
    pub decline_refuse_seconds: f64,
    /// Filter while the scheduler is not ready to launch (reconciling) or still has pending
    /// pods that may fit the rest of an accepted offer.
    pub short_refuse_seconds: f64,
    /// KILL is re-sent this often until the task is terminal.
    pub kill_resend_ms: u64,
    /// While pods wait for offers, REVIVE at least this often: declined agents stay filtered
    /// for `decline_refuse_seconds`, and resources freed there since (another tenant's task
    /// ended) would otherwise not be offered again until the filter expires.
    pub waiting_revive_ms: u64,
}

impl Default for PlannerConfig {
    fn default() -> Self {
        PlannerConfig {
            decline_refuse_seconds: 3600.0,
            short_refuse_seconds: 5.0,
            kill_resend_ms: 5000,
            waiting_revive_ms: 300_000,
        }
    }
}

/// What the planner looks at.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    /// The validated spec.
    pub spec: &'a ValidatedSpec,
    /// Desired pod counts per group (missing: the spec's count).
    pub desired: &'a BTreeMap<String, u32>,
    /// Known tasks by id.
    pub tasks: &'a BTreeMap<String, TaskRecord>,
    /// Slot memory by slot name.
    pub slots: &'a BTreeMap<String, SlotRecord>,
    /// Offers to use or decline now (empty on timer runs).
    pub offers: &'a [Offer],
    /// Milliseconds since the epoch.
    pub now_ms: u64,
    /// False while explicit reconciliation runs: offers are declined shortly, nothing launched.
    pub launches_allowed: bool,
    /// Per group, the config versions whose pods run what the target wants; pods of other
    /// versions are replaced by a rolling update.
    pub current: &'a BTreeMap<String, BTreeSet<u32>>,
    /// The rolling update being steered, if any.
    pub deployment: Option<&'a Deployment>,
}

/// What the planner remembers between runs for SUPPRESS/REVIVE (volatile: reset on every
/// SUBSCRIBED, since a new subscription starts unsuppressed).
#[derive(Debug, Clone)]
pub struct OfferMemory {
    /// Whether we told the master to stop sending offers.
    pub suppressed: bool,
    /// A REVIVE is wanted but the token bucket said not yet.
    pub revive_owed: bool,
    /// Pods that were waiting for offers after the last run.
    pub last_waiting: BTreeSet<String>,
    /// Rate limit of REVIVE calls.
    pub bucket: TokenBucket,
    /// When the last REVIVE was sent (ms since the epoch).
    pub last_revive_ms: u64,
}

impl OfferMemory {
    /// Fresh memory with the given revive rate limit.
    pub fn new(bucket: TokenBucket) -> OfferMemory {
        OfferMemory {
            suppressed: false,
            revive_owed: false,
            last_waiting: BTreeSet::new(),
            bucket,
            last_revive_ms: 0,
        }
    }

    /// Forgets offer-related state after a new SUBSCRIBED (the master starts unsuppressed).
    pub fn reset(&mut self) {
        self.suppressed = false;
        self.revive_owed = false;
        self.last_waiting.clear();
    }
}

/// One pod placed on an offer; ports per task in the spec's order.
#[derive(Debug, Clone, PartialEq)]
pub struct PodPlacement {
    /// Index of the group in the spec.
    pub group: usize,
    /// Pod index.
    pub index: u32,
    /// `<group>-<index>`.
    pub slot: String,
    /// Ports taken, per task, in the order of the task's `ports`.
    pub ports: Vec<Vec<u16>>,
}

/// An offer to accept with one LAUNCH_GROUP per pod.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferLaunch {
    /// Offer id.
    pub offer_id: String,
    /// Agent id.
    pub agent_id: String,
    /// Agent hostname.
    pub hostname: String,
    /// Allocation role.
    pub role: String,
    /// Agent attributes.
    pub attributes: BTreeMap<String, String>,
    /// Pods to launch.
    pub pods: Vec<PodPlacement>,
}

/// A task to kill (again).
#[derive(Debug, Clone, PartialEq)]
pub struct KillOrder {
    /// Task id.
    pub task_id: String,
    /// Its agent.
    pub agent_id: String,
    /// Why.
    pub intent: KillIntent,
}

/// The planner's decision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Offers to accept.
    pub launches: Vec<OfferLaunch>,
    /// Filter on the unused rest of accepted offers.
    pub accept_refuse_seconds: f64,
    /// Offers to decline.
    pub declines: Vec<String>,
    /// Filter on declined offers.
    pub decline_refuse_seconds: f64,
    /// Tasks to kill, scale-down ones highest index first.
    pub kills: Vec<KillOrder>,
    /// Send REVIVE.
    pub revive: bool,
    /// Send SUPPRESS.
    pub suppress: bool,
    /// Pods ready to launch that no offer took.
    pub waiting: usize,
    /// Pods held back by the launch backoff.
    pub delayed: usize,
    /// Offer x pod fit checks made (for benchmarks and metrics).
    pub evaluations: u64,
    /// Each group's rolling update, in spec order.
    pub rollouts: Vec<GroupRollout>,
}

/// Why a pod does not fit an offer (data only; [`explain`] renders it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misfit {
    /// Resources are allocated to another role.
    Role,
    /// Not enough cpus (thousandths), including the executor's when it must start.
    Cpus {
        /// Needed.
        need: i64,
        /// Free.
        have: i64,
    },
    /// Not enough mem.
    Mem {
        /// Needed.
        need: i64,
        /// Free.
        have: i64,
    },
    /// Not enough disk.
    Disk {
        /// Needed.
        need: i64,
        /// Free.
        have: i64,
    },
    /// Not enough ports.
    Ports {
        /// Needed.
        need: u64,
        /// Free.
        have: u64,
    },
    /// Placement rule `constraint` (index into the group's) refuses.
    Constraint {
        /// Index of the rule.
        constraint: usize,
        /// How.
        why: ConstraintMisfit,
    },
    /// The pod was restarted in place and must go to another agent.
    PinnedElsewhere,
}

impl Misfit {
    /// True when the misfit can only get worse as the plan places more pods of the group, so
    /// the offer can be skipped for the rest of the group.
    fn is_lasting(self) -> bool {
        !matches!(
            self,
            Misfit::Constraint {
                why: ConstraintMisfit::Unbalanced { .. },
                ..
            } | Misfit::PinnedElsewhere
        )
    }
}

/// Resources a pod of `group` takes from `offer` (plus the executor's if it must start).
fn pod_demand(spec: &ValidatedSpec, group: &GroupPlan, offer: &OfferView) -> Scalars {
    if offer.executor_ids.iter().any(|e| *e == group.executor_id) {
        group.demand
    } else {
        group.demand.plus(spec.executor)
    }
}

/// Visits the reasons a pod of group `gi` does not fit `offer`, stopping when `visit`
/// returns false. The one check behind both the hot path and [`explain`].
pub fn visit_misfits(
    spec: &ValidatedSpec,
    gi: usize,
    offer: &OfferView,
    index: &PlacementIndex,
    mut visit: impl FnMut(Misfit) -> bool,
) {
    let group = &spec.groups[gi];
    if offer.role != group.role && !visit(Misfit::Role) {
        return;
    }
    let need = pod_demand(spec, group, offer);
    let have = offer.free;
    if need.cpus > have.cpus
        && !visit(Misfit::Cpus {
            need: need.cpus,
            have: have.cpus,
        })
    {
        return;
    }
    if need.mem > have.mem
        && !visit(Misfit::Mem {
            need: need.mem,
            have: have.mem,
        })
    {
        return;
    }
    if need.disk > have.disk
        && !visit(Misfit::Disk {
            need: need.disk,
            have: have.disk,
        })
    {
        return;
    }
    let ports = u64::from(group.port_count);
    if ports > offer.free_ports
        && !visit(Misfit::Ports {
            need: ports,
            have: offer.free_ports,
        })
    {
        return;
    }
    for ci in 0..group.constraints.len() {
        if let Err(why) = index.check(group, gi, ci, offer) {
            if !visit(Misfit::Constraint {
                constraint: ci,
                why,
            }) {
                return;
            }
        }
    }
}

/// The first reason a pod of group `gi` does not fit, or `None` when it fits.
pub fn first_misfit(
    spec: &ValidatedSpec,
    gi: usize,
    offer: &OfferView,
    index: &PlacementIndex,
) -> Option<Misfit> {
    let mut found = None;
    visit_misfits(spec, gi, offer, index, |m| {
        found = Some(m);
        false
    });
    found
}

/// Builds the placement index of the pods that are live now.
pub fn live_index(spec: &ValidatedSpec, tasks: &BTreeMap<String, TaskRecord>) -> PlacementIndex {
    let mut index = PlacementIndex::new(&spec.groups);
    let mut counted = BTreeSet::new();
    for task in tasks.values().filter(|t| t.holds_slot()) {
        let Some(gi) = spec.groups.iter().position(|g| g.name == task.group) else {
            continue;
        };
        if counted.insert(task.slot.as_str()) {
            let place = StoredPlace {
                hostname: &task.hostname,
                attributes: &task.attributes,
            };
            index.record(&spec.groups, gi, &place);
        }
    }
    index
}

/// Kill orders for live tasks the spec no longer wants, that overstayed STAGING, or that
/// the scheduler already decided to kill and whose KILL is due again.
fn kills(
    input: &PlanInput<'_>,
    config: &PlannerConfig,
    desired: &dyn Fn(&str) -> Option<u32>,
    replace: &BTreeSet<&str>,
) -> Vec<KillOrder> {
    let mut orders: Vec<(u32, KillOrder)> = Vec::new();
    // No KILL goes to a task while it is unreachable: its agent cannot act on it. It is
    // killed once it is heard from again.
    let killable = |t: &&TaskRecord| !t.state.is_terminal() && !t.state.is_out_of_reach();
    for task in input.tasks.values().filter(killable) {
        let intent = task.kill.or_else(|| {
            let wanted = desired(&task.group).is_some_and(|count| task.index < count);
            if !wanted {
                Some(KillIntent::ScaleDown)
            } else if replace.contains(task.slot.as_str()) {
                Some(KillIntent::Upgrade)
            } else if task.state.is_starting()
                && input.now_ms.saturating_sub(task.launched_at_ms) > input.spec.staging_timeout_ms
            {
                Some(KillIntent::StagingTimeout)
            } else {
                None
            }
        });
        let Some(intent) = intent else { continue };
        let due = task
            .last_kill_sent_ms
            .is_none_or(|sent| input.now_ms.saturating_sub(sent) >= config.kill_resend_ms);
        if due {
            orders.push((
                task.index,
                KillOrder {
                    task_id: task.task_id.clone(),
                    agent_id: task.agent_id.clone(),
                    intent,
                },
            ));
        }
    }
    orders.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.task_id.cmp(&b.1.task_id)));
    orders.into_iter().map(|(_, o)| o).collect()
}

/// Offer order per strategy: bin-pack fills small offers first; spread starts with big ones.
fn offer_order(views: &[OfferView], strategy: PlacementStrategy) -> Vec<usize> {
    let mut order: Vec<usize> = (0..views.len()).collect();
    let key = |v: &OfferView| (v.free.cpus, v.free.mem, v.free.disk);
    match strategy {
        PlacementStrategy::Binpack => {
            order.sort_by(|&a, &b| key(&views[a]).cmp(&key(&views[b])).then(a.cmp(&b)))
        }
        PlacementStrategy::Spread => {
            order.sort_by(|&a, &b| key(&views[b]).cmp(&key(&views[a])).then(a.cmp(&b)))
        }
    }
    order
}

/// Places one pod on offer `oi`: takes resources and ports, counts it for placement rules.
fn place(
    spec: &ValidatedSpec,
    pod: &PendingPod,
    view: &mut OfferView,
    index: &mut PlacementIndex,
) -> PodPlacement {
    let group = &spec.groups[pod.group];
    view.free = view.free.minus(pod_demand(spec, group, view));
    if !view.executor_ids.iter().any(|e| *e == group.executor_id) {
        view.executor_ids.push(group.executor_id.clone().into());
    }
    let ports = group
        .tasks
        .iter()
        .map(|t| view.take_ports(t.ports.len() as u32))
        .collect();
    index.record(&spec.groups, pod.group, view);
    PodPlacement {
        group: pod.group,
        index: pod.index,
        slot: pod.slot.clone(),
        ports,
    }
}

/// Decides everything for one run. `memory` carries SUPPRESS/REVIVE state between runs.
pub fn plan(input: &PlanInput<'_>, config: &PlannerConfig, memory: &mut OfferMemory) -> Plan {
    let spec = input.spec;
    let rollouts = rollouts(
        spec,
        input.desired,
        input.tasks,
        input.current,
        input.deployment,
        input.now_ms,
    );
    // Surge slots count as wanted while their group's update runs.
    let mut wanted = input.desired.clone();
    for (group, rollout) in spec.groups.iter().zip(&rollouts) {
        if rollout.surge > 0 {
            let count = wanted.entry(group.name.clone()).or_insert(group.count);
            *count += rollout.surge;
        }
    }
    let desired = |group: &str| -> Option<u32> {
        spec.group(group)
            .map(|g| wanted.get(group).copied().unwrap_or(g.count))
    };
    let replace: BTreeSet<&str> = rollouts
        .iter()
        .flat_map(|r| r.replace.iter().map(String::as_str))
        .collect();
    let mut plan = Plan {
        kills: kills(input, config, &desired, &replace),
        ..Plan::default()
    };
    let Pending { ready, delayed } =
        pending_pods(spec, &wanted, input.tasks, input.slots, input.now_ms);
    plan.delayed = delayed.len();

    let mut views: Vec<OfferView> = input.offers.iter().map(OfferView::from_offer).collect();
    let mut placed: Vec<Vec<PodPlacement>> = vec![Vec::new(); views.len()];
    let mut is_placed = vec![false; ready.len()];
    if input.launches_allowed && !views.is_empty() && !ready.is_empty() {
        let mut index = live_index(spec, input.tasks);
        for view in &views {
            index.register(&spec.groups, view);
        }
        let order = offer_order(&views, spec.strategy);
        // Pinned pods (restart in place) first: they can only use one agent.
        if ready.iter().any(|p| p.pinned_agent.is_some()) {
            let by_agent: HashMap<&str, usize> = views
                .iter()
                .enumerate()
                .map(|(i, v)| (v.agent_id, i))
                .collect();
            for (pi, pod) in ready
                .iter()
                .enumerate()
                .filter(|(_, p)| p.pinned_agent.is_some())
            {
                let Some(&oi) = pod
                    .pinned_agent
                    .as_ref()
                    .and_then(|a| by_agent.get(a.as_str()))
                else {
                    continue;
                };
                plan.evaluations += 1;
                if first_misfit(spec, pod.group, &views[oi], &index).is_none() {
                    placed[oi].push(place(spec, pod, &mut views[oi], &mut index));
                    is_placed[pi] = true;
                }
            }
        }
        let mut start = 0;
        while start < ready.len() {
            let gi = ready[start].group;
            let end = ready[start..]
                .iter()
                .position(|p| p.group != gi)
                .map_or(ready.len(), |n| start + n);
            let pods = (start..end).filter(|&pi| ready[pi].pinned_agent.is_none());
            match spec.strategy {
                PlacementStrategy::Binpack => {
                    let mut cursor = 0;
                    for pi in pods {
                        let pod = &ready[pi];
                        let mut fitted = None;
                        let mut prefix_lasting = true;
                        for (pos, &oi) in order.iter().enumerate().skip(cursor) {
                            plan.evaluations += 1;
                            match first_misfit(spec, gi, &views[oi], &index) {
                                None => {
                                    fitted = Some(oi);
                                    break;
                                }
                                Some(m) if prefix_lasting && m.is_lasting() => cursor = pos + 1,
                                Some(_) => prefix_lasting = false,
                            }
                        }
                        let Some(oi) = fitted else { break };
                        placed[oi].push(place(spec, pod, &mut views[oi], &mut index));
                        is_placed[pi] = true;
                    }
                }
                PlacementStrategy::Spread => {
                    let mut live: Vec<usize> = order.clone();
                    let mut next = 0;
                    for pi in pods {
                        let pod = &ready[pi];
                        let mut fitted = None;
                        let mut dead = Vec::new();
                        for k in 0..live.len() {
                            let pos = (next + k) % live.len();
                            let oi = live[pos];
                            plan.evaluations += 1;
                            match first_misfit(spec, gi, &views[oi], &index) {
                                None => {
                                    fitted = Some(pos);
                                    break;
                                }
                                Some(m) if m.is_lasting() => dead.push(pos),
                                Some(_) => {}
                            }
                        }
                        let Some(pos) = fitted else { break };
                        let oi = live[pos];
                        placed[oi].push(place(spec, pod, &mut views[oi], &mut index));
                        is_placed[pi] = true;
                        next = pos + 1;
                        if !dead.is_empty() {
                            let before = dead.iter().filter(|&&d| d < next).count();
                            let dead: BTreeSet<usize> = dead.into_iter().collect();
                            live = live
                                .into_iter()
                                .enumerate()
                                .filter(|(i, _)| !dead.contains(i))
                                .map(|(_, oi)| oi)
                                .collect();
                            next -= before;
                        }
                        if live.is_empty() {
                            break;
                        }
                        next %= live.len();
                    }
                }
            }
            start = end;
        }
    }

    let waiting: BTreeSet<String> = ready
        .iter()
        .zip(&is_placed)
        .filter(|(_, placed)| !**placed)
        .map(|(p, _)| p.slot.clone())
        .collect();
    plan.waiting = waiting.len();
    for (view, pods) in views.into_iter().zip(placed) {
        if pods.is_empty() {
            plan.declines.push(view.offer_id.to_string());
        } else {
            plan.launches.push(OfferLaunch {
                offer_id: view.offer_id.to_string(),
                agent_id: view.agent_id.to_string(),
                hostname: view.hostname.to_string(),
                role: view.role.to_string(),
                attributes: view
                    .attributes
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.into_owned()))
                    .collect(),
                pods,
            });
        }
    }
    plan.decline_refuse_seconds = if input.launches_allowed {
        config.decline_refuse_seconds
    } else {
        config.short_refuse_seconds
    };
    plan.accept_refuse_seconds = if waiting.is_empty() {
        config.decline_refuse_seconds
    } else {
        config.short_refuse_seconds
    };

    // SUPPRESS once nothing is pending; REVIVE (rate limited) when new work appears or work
    // waits while suppressed.
    let stale = input.now_ms.saturating_sub(memory.last_revive_ms) >= config.waiting_revive_ms;
    if waiting.iter().any(|s| !memory.last_waiting.contains(s))
        || (!waiting.is_empty() && (memory.suppressed || stale))
    {
        memory.revive_owed = true;
    }
    if waiting.is_empty() {
        memory.revive_owed = false;
    }
    if memory.revive_owed && memory.bucket.try_take(input.now_ms) {
        plan.revive = true;
        memory.last_revive_ms = input.now_ms;
        memory.revive_owed = false;
        memory.suppressed = false;
    }
    if waiting.is_empty() && delayed.is_empty() && !memory.suppressed {
        plan.suppress = true;
        memory.suppressed = true;
    }
    memory.last_waiting = waiting;
    plan.rollouts = rollouts;
    plan
}

#[cfg(test)]
mod tests;
