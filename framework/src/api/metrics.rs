//! `GET /metrics` in the Prometheus text format: counters from the core, task gauges, and
//! the histogram of planner decision time (one event in, one decision out).

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::driver::Core;

/// A fixed-bucket histogram.
#[derive(Debug, Clone)]
pub struct Histogram {
    bounds: Vec<f64>,
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    /// Buckets for decision times: 10 µs .. 1 s.
    pub fn decision_seconds() -> Histogram {
        let bounds = vec![
            0.00001, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0,
        ];
        Histogram {
            counts: vec![0; bounds.len()],
            bounds,
            sum: 0.0,
            count: 0,
        }
    }

    /// Records one observation.
    pub fn observe(&mut self, value: f64) {
        for (bound, count) in self.bounds.iter().zip(self.counts.iter_mut()) {
            if value <= *bound {
                *count += 1;
            }
        }
        self.sum += value;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}\n{name}_count {}", self.sum, self.count);
    }
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
    );
}

/// Renders every metric.
pub fn render(core: &Core, decisions: &Histogram) -> String {
    let c = core.counters();
    let mut out = String::new();
    counter(
        &mut out,
        "cartrack_offers_received_total",
        "Offers received from the master.",
        c.offers_received,
    );
    counter(
        &mut out,
        "cartrack_offers_accepted_total",
        "Offers accepted (launching pods).",
        c.offers_accepted,
    );
    counter(
        &mut out,
        "cartrack_offers_declined_total",
        "Offers declined.",
        c.offers_declined,
    );
    counter(
        &mut out,
        "cartrack_offers_rescinded_total",
        "Offers rescinded by the master.",
        c.offers_rescinded,
    );
    counter(
        &mut out,
        "cartrack_revives_total",
        "REVIVE calls.",
        c.revives,
    );
    counter(
        &mut out,
        "cartrack_suppressions_total",
        "SUPPRESS calls.",
        c.suppressions,
    );
    counter(
        &mut out,
        "cartrack_reconnects_total",
        "Re-subscriptions after the first SUBSCRIBED.",
        c.reconnects,
    );
    counter(
        &mut out,
        "cartrack_reconciliation_rounds_total",
        "RECONCILE calls (explicit and implicit).",
        c.reconciliation_rounds,
    );
    counter(
        &mut out,
        "cartrack_pods_launched_total",
        "Pods launched.",
        c.pods_launched,
    );
    counter(
        &mut out,
        "cartrack_kills_total",
        "KILL calls.",
        c.kills_sent,
    );
    counter(
        &mut out,
        "cartrack_status_updates_total",
        "Task status updates handled.",
        c.updates,
    );
    counter(
        &mut out,
        "cartrack_planner_evaluations_total",
        "Offer x pod fit checks.",
        c.evaluations,
    );
    let mut by_state: BTreeMap<&str, u64> = BTreeMap::new();
    for task in core.state().tasks.values() {
        *by_state.entry(task.state.name()).or_insert(0) += 1;
    }
    let _ = writeln!(
        out,
        "# HELP cartrack_tasks Known tasks by state.\n# TYPE cartrack_tasks gauge"
    );
    for (state, n) in by_state {
        let _ = writeln!(out, "cartrack_tasks{{state=\"{state}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP cartrack_subscribed 1 while subscribed to a master.\n# TYPE cartrack_subscribed gauge\ncartrack_subscribed {}",
        u8::from(core.subscribed())
    );
    decisions.render(
        &mut out,
        "cartrack_planner_decision_seconds",
        "Time to turn one event into a decision (state update + plan).",
    );
    out
}
