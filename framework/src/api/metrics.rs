//! `GET /metrics` in the Prometheus text format: counters from the core, task gauges, and
//! the histogram of planner decision time (one event in, one decision out).
//!
//! The core's [`Counters`] are the source of truth, so each scrape copies them on the loop
//! ([`Snapshot::of`], cheap) and builds a registry from the copy off the loop ([`render`]).

use std::collections::BTreeMap;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::driver::{Core, Counters};

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
        }
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
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        assert!(!text.contains("_total_total"), "{text}");
        assert!(!text.contains(".."), "{text}");
    }
}
