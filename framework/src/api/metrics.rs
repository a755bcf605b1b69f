//! `GET /metrics` in the Prometheus text format: counters from the core, task gauges, the
//! multiplexing report's agent counts and utilisation, and the histogram of planner decision
//! time (one event in, one decision out).
//!
//! The core's [`Counters`] are the source of truth, so each scrape copies them on the loop
//! ([`Snapshot::of`], cheap) and builds a registry from the copy off the loop ([`render`]).

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::driver::{Core, Counters};
use crate::report::Report;

/// `Content-Type` of the exposition, as the pipeline's workers serve theirs.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What `/metrics` shows of the core, copied between two inputs.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    counters: Counters,
    /// Known tasks by state name; states without a task are left out.
    tasks: BTreeMap<&'static str, u64>,
    subscribed: bool,
    /// Per autoscaled group: (desired, running).
    autoscaled: BTreeMap<String, (u32, u32)>,
    /// Autoscaling decisions taken, per (group, direction).
    decisions: BTreeMap<(String, &'static str), u64>,
    /// The multiplexing report over every kept sample.
    report: Option<ReportGauges>,
}

/// What `/metrics` shows of the multiplexing report.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ReportGauges {
    siloed: u64,
    multiplexed: u64,
    actual: u64,
    utilisation_cpus: f64,
    utilisation_mem: f64,
}

impl Snapshot {
    /// Copies what the metrics show of `core`.
    pub(crate) fn of(core: &Core) -> Self {
        let mut tasks = BTreeMap::new();
        for task in core.state().tasks.values() {
            *tasks.entry(task.state.name()).or_insert(0) += 1;
        }
        let autoscaled = core
            .spec()
            .groups
            .iter()
            .filter(|g| g.autoscale.is_some())
            .map(|g| {
                let counts = (
                    core.desired_count(&g.name),
                    core.pod_counts(&g.name).running,
                );
                (g.name.clone(), counts)
            })
            .collect();
        Self {
            counters: core.counters().clone(),
            tasks,
            subscribed: core.subscribed(),
            autoscaled,
            decisions: core.autoscaler().taken.clone(),
            report: None,
        }
    }

    /// Adds the report's agent counts and utilisation.
    pub(crate) fn with_report(mut self, report: &Report) -> Self {
        self.report = Some(ReportGauges {
            siloed: report.siloed_agents,
            multiplexed: report.multiplexed_agents,
            actual: report.cluster.agents as u64,
            utilisation_cpus: report.cluster.avg_utilisation.cpus,
            utilisation_mem: report.cluster.avg_utilisation.mem,
        });
        self
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskState {
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupLabel {
    group: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    group: String,
    direction: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AgentKind {
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResourceLabel {
    resource: &'static str,
}

fn register_report(registry: &mut Registry, report: &ReportGauges) {
    let agents = Family::<AgentKind, Gauge>::default();
    for (kind, n) in [
        ("siloed", report.siloed),
        ("multiplexed", report.multiplexed),
        ("actual", report.actual),
    ] {
        agents
            .get_or_create(&AgentKind { kind })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    registry.register(
        "cartrack_report_agents",
        "Agents the services need siloed and multiplexed (the multiplexing report over every kept sample), and the agents there are",
        agents,
    );
    let ratio = Family::<ResourceLabel, Gauge<f64, AtomicU64>>::default();
    for (resource, value) in [
        ("cpus", report.utilisation_cpus),
        ("mem", report.utilisation_mem),
    ] {
        ratio.get_or_create(&ResourceLabel { resource }).set(value);
    }
    registry.register(
        "cartrack_utilisation_ratio",
        "Average allocated over capacity of the cluster's agents, over every kept sample",
        ratio,
    );
}

/// Renders every metric. Counters are registered without `_total` and help texts without a
/// final full stop: the encoder appends both.
pub(crate) fn render(snapshot: &Snapshot, decisions: &Histogram) -> String {
    let c = &snapshot.counters;
    let counters = [
        (
            "cartrack_offers_received",
            "Offers received from the master",
            c.offers_received,
        ),
        (
            "cartrack_offers_accepted",
            "Offers accepted (launching pods)",
            c.offers_accepted,
        ),
        (
            "cartrack_offers_declined",
            "Offers declined",
            c.offers_declined,
        ),
        (
            "cartrack_offers_rescinded",
            "Offers rescinded by the master",
            c.offers_rescinded,
        ),
        ("cartrack_revives", "REVIVE calls", c.revives),
        ("cartrack_suppressions", "SUPPRESS calls", c.suppressions),
        (
            "cartrack_reconnects",
            "Re-subscriptions after the first SUBSCRIBED",
            c.reconnects,
        ),
        (
            "cartrack_reconciliation_rounds",
            "RECONCILE calls (explicit and implicit)",
            c.reconciliation_rounds,
        ),
        ("cartrack_pods_launched", "Pods launched", c.pods_launched),
        ("cartrack_kills", "KILL calls", c.kills_sent),
        (
            "cartrack_status_updates",
            "Task status updates handled",
            c.updates,
        ),
        (
            "cartrack_planner_evaluations",
            "Offer x pod fit checks",
            c.evaluations,
        ),
    ];
    let mut registry = Registry::default();
    for (name, help, value) in counters {
        registry.register(name, help, ConstCounter::new(value));
    }
    let tasks = Family::<TaskState, Gauge>::default();
    for (&state, &n) in &snapshot.tasks {
        tasks
            .get_or_create(&TaskState { state })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    registry.register("cartrack_tasks", "Known tasks by state", tasks);
    register_autoscale(&mut registry, snapshot);
    registry.register(
        "cartrack_subscribed",
        "1 while subscribed to a master",
        ConstGauge::new(i64::from(snapshot.subscribed)),
    );
    register_leader(&mut registry, true);
    if let Some(report) = &snapshot.report {
        register_report(&mut registry, report);
    }
    registry.register(
        "cartrack_planner_decision_seconds",
        "Time to turn one event into a decision (state update + plan)",
        decisions.clone(),
    );
    let mut text = String::new();
    // ok: writing into a String cannot fail.
    let _ = encode(&mut text, &registry);
    text
}

/// Desired and running pods of autoscaled groups, and the decisions taken.
fn register_autoscale(registry: &mut Registry, snapshot: &Snapshot) {
    let desired = Family::<GroupLabel, Gauge>::default();
    let actual = Family::<GroupLabel, Gauge>::default();
    let decisions = Family::<DecisionLabels, Counter>::default();
    for (group, &(wanted, running)) in &snapshot.autoscaled {
        let label = GroupLabel {
            group: group.clone(),
        };
        desired.get_or_create(&label).set(i64::from(wanted));
        actual.get_or_create(&label).set(i64::from(running));
        for direction in ["up", "down"] {
            let taken = snapshot
                .decisions
                .get(&(group.clone(), direction))
                .copied()
                .unwrap_or(0);
            decisions
                .get_or_create(&DecisionLabels {
                    group: group.clone(),
                    direction,
                })
                .inc_by(taken);
        }
    }
    registry.register(
        "cartrack_autoscale_desired",
        "Desired pods of an autoscaled group",
        desired,
    );
    registry.register(
        "cartrack_autoscale_actual",
        "Running pods of an autoscaled group",
        actual,
    );
    registry.register(
        "cartrack_autoscale_decisions",
        "Autoscaling decisions taken, by direction",
        decisions,
    );
}

/// A standby's metrics: only that it does not lead (a scraper asking every instance must not
/// count the leader's twice).
pub(crate) fn render_standby() -> String {
    let mut registry = Registry::default();
    register_leader(&mut registry, false);
    let mut text = String::new();
    // ok: writing into a String cannot fail.
    let _ = encode(&mut text, &registry);
    text
}

fn register_leader(registry: &mut Registry, leads: bool) {
    registry.register(
        "cartrack_leader",
        "1 on the instance that leads, 0 on a standby",
        ConstGauge::new(i64::from(leads)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels_are_the_documented_ones() {
        let snapshot = Snapshot {
            counters: Counters {
                offers_received: 7,
                kills_sent: 2,
                ..Counters::default()
            },
            tasks: BTreeMap::from([("TASK_RUNNING", 3), ("TASK_STAGING", 1)]),
            subscribed: true,
            autoscaled: BTreeMap::from([("processor".to_string(), (3, 2))]),
            decisions: BTreeMap::from([(("processor".to_string(), "up"), 2)]),
            report: Some(ReportGauges {
                siloed: 5,
                multiplexed: 3,
                actual: 4,
                utilisation_cpus: 0.25,
                utilisation_mem: 0.5,
            }),
        };
        let decisions = crate::driver::decision_histogram();
        decisions.observe(0.002);
        let text = render(&snapshot, &decisions);
        for line in [
            "cartrack_offers_received_total 7",
            "cartrack_offers_accepted_total 0",
            "cartrack_kills_total 2",
            "cartrack_planner_evaluations_total 0",
            "cartrack_tasks{state=\"TASK_RUNNING\"} 3",
            "cartrack_tasks{state=\"TASK_STAGING\"} 1",
            "cartrack_subscribed 1",
            "cartrack_planner_decision_seconds_count 1",
            "cartrack_autoscale_desired{group=\"processor\"} 3",
            "cartrack_autoscale_actual{group=\"processor\"} 2",
            "cartrack_autoscale_decisions_total{group=\"processor\",direction=\"up\"} 2",
            "cartrack_autoscale_decisions_total{group=\"processor\",direction=\"down\"} 0",
            "cartrack_report_agents{kind=\"siloed\"} 5",
            "cartrack_report_agents{kind=\"multiplexed\"} 3",
            "cartrack_report_agents{kind=\"actual\"} 4",
            "cartrack_utilisation_ratio{resource=\"cpus\"} 0.25",
            "cartrack_utilisation_ratio{resource=\"mem\"} 0.5",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        assert!(!text.contains("_total_total"), "{text}");
        assert!(!text.contains(".."), "{text}");
    }
}
