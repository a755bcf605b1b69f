//! A group's autoscaling rules as written (`autoscale = { ... }`) and as validated.

use serde::{Deserialize, Serialize};

use super::validate::Report;
use super::GroupSpec;

/// What autoscaling follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadMetric {
    /// Records the source group's consumers have yet to read: the sum over its pods of the
    /// gauges `*_consumer_lag_records` on their `/metrics`.
    Lag,
    /// Positions per second the source group takes in: the rate of the counters
    /// `*_records_out_total` on its pods' `/metrics`.
    IngestRate,
}

impl LoadMetric {
    /// The name used in the spec, the API and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            LoadMetric::Lag => "lag",
            LoadMetric::IngestRate => "ingest_rate",
        }
    }
}

/// `autoscale = { min = 1, max = 4, metric = "lag", target = 50000, ... }`: the count follows
/// the metric between `min` and `max`; `target` is what one pod should handle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoscaleSpec {
    /// Fewest pods.
    pub min: u32,
    /// Most pods.
    pub max: u32,
    /// What is measured.
    pub metric: LoadMetric,
    /// The metric's value one pod should handle (records of lag, or positions/s).
    pub target: f64,
    /// Seconds the metric must stay above what the pods handle before a scale-up.
    #[serde(default = "default_up_after")]
    pub scale_up_after_s: f64,
    /// Seconds the metric must stay below what one pod fewer handles before a scale-down.
    #[serde(default = "default_down_after")]
    pub scale_down_after_s: f64,
    /// Most pods added or removed by one decision.
    #[serde(default = "default_step")]
    pub step: u32,
    /// Seconds after a decision before the next.
    #[serde(default = "default_cooldown")]
    pub cooldown_s: f64,
    /// The group whose pods are measured (default: this group).
    #[serde(default)]
    pub source: Option<String>,
    /// The named port those pods serve `/metrics` on.
    #[serde(default = "default_port")]
    pub port: String,
}

fn default_up_after() -> f64 {
    30.0
}
fn default_down_after() -> f64 {
    120.0
}
fn default_step() -> u32 {
    1
}
fn default_cooldown() -> f64 {
    60.0
}
fn default_port() -> String {
    "http".to_string()
}

/// Validated [`AutoscaleSpec`]: times in milliseconds, the source group named.
#[derive(Debug, Clone, PartialEq)]
pub struct Autoscale {
    /// Fewest pods (>= 1).
    pub min: u32,
    /// Most pods (>= min).
    pub max: u32,
    /// What is measured.
    pub metric: LoadMetric,
    /// What one pod should handle (> 0).
    pub target: f64,
    /// Scale up once the metric asked for more pods this long.
    pub up_after_ms: u64,
    /// Scale down once the metric asked for fewer pods this long.
    pub down_after_ms: u64,
    /// Most pods per decision (>= 1).
    pub step: u32,
    /// Quiet time after a decision.
    pub cooldown_ms: u64,
    /// The group whose pods are measured.
    pub source: String,
    /// Their port serving `/metrics`.
    pub port: String,
}

/// Checks `spec` of `group` (at `gkey`) among the service's `groups`; `None` when a rule is
/// broken (reported).
pub(super) fn validate(
    spec: &AutoscaleSpec,
    group: &GroupSpec,
    groups: &[GroupSpec],
    gkey: &str,
    report: &mut Report,
) -> Option<Autoscale> {
    let before = report.len();
    let key = format!("{gkey}.autoscale");
    let source = spec.source.clone().unwrap_or_else(|| group.name.clone());
    match groups.iter().find(|g| g.name == source) {
        None => report.push(
            format!("{key}.source"),
            &source,
            format!(
                "one of the groups {:?}",
                groups.iter().map(|g| &g.name).collect::<Vec<_>>()
            ),
        ),
        Some(found) if !found.tasks.iter().any(|t| t.ports.contains(&spec.port)) => report.push(
            format!("{key}.port"),
            &spec.port,
            format!(
                "a port named by a task of group {:?}, where its pods serve /metrics",
                found.name
            ),
        ),
        Some(_) => {}
    }
    if spec.min == 0 {
        report.push(
            format!("{key}.min"),
            spec.min,
            "a count >= 1 (to stop a group, set its count to 0 without autoscale)",
        );
    }
    if spec.max < spec.min || spec.max > 100_000 {
        report.push(format!("{key}.max"), spec.max, "min ..= 100000");
    } else if !(spec.min..=spec.max).contains(&group.count) {
        report.push(
            format!("{gkey}.count"),
            group.count,
            format!(
                "within autoscale's min ..= max ({} ..= {}): the count is where autoscaling starts",
                spec.min, spec.max
            ),
        );
    }
    if spec.step == 0 {
        report.push(format!("{key}.step"), spec.step, "a count >= 1");
    }
    report.scalar(
        format!("{key}.target"),
        spec.target,
        0.0,
        false,
        "what one pod should handle: records of lag, or positions/s",
    );
    let mut ms = |name: &str, seconds: f64| {
        report.scalar(format!("{key}.{name}"), seconds, 0.0, true, "seconds") as u64
    };
    let up_after_ms = ms("scale_up_after_s", spec.scale_up_after_s);
    let down_after_ms = ms("scale_down_after_s", spec.scale_down_after_s);
    let cooldown_ms = ms("cooldown_s", spec.cooldown_s);
    (report.len() == before).then(|| Autoscale {
        min: spec.min,
        max: spec.max,
        metric: spec.metric,
        target: spec.target,
        up_after_ms,
        down_after_ms,
        step: spec.step,
        cooldown_ms,
        source,
        port: spec.port.clone(),
    })
}
