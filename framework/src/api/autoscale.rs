//! `GET /v1/autoscale` (every autoscaled group's rules, counts, last reading and why its
//! count stays, and the decision log) and `POST /v1/autoscale/{group}/resume`.

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use super::error::ApiError;
use super::extract::Param;
use super::Api;
use crate::driver::{Core, Request};
use crate::planner::autoscale::{Decision, Hold};

/// One autoscaled group.
#[derive(Debug, Clone, Serialize)]
pub struct GroupAutoscaleView {
    /// The group.
    pub group: String,
    /// Fewest pods.
    pub min: u32,
    /// Most pods.
    pub max: u32,
    /// `lag` or `ingest_rate`.
    pub metric: &'static str,
    /// What one pod should handle.
    pub target: f64,
    /// The group whose pods are measured.
    pub source: String,
    /// The desired count now.
    pub desired: u32,
    /// Pods RUNNING now.
    pub running: u32,
    /// An operator set the count: autoscaling waits for `resume`.
    pub pinned: bool,
    /// A deployment of the group is running: autoscaling waits for it.
    pub deploying: bool,
    /// The last reading, if any.
    pub value: Option<f64>,
    /// When it was taken (ms since the epoch).
    pub value_at_ms: Option<u64>,
    /// Pods the last reading asked for.
    pub wanted: Option<u32>,
    /// Why the count stayed at the last reading.
    pub hold: Option<Hold>,
}

/// `GET /v1/autoscale`.
#[derive(Debug, Clone, Serialize)]
pub struct AutoscaleView {
    /// Autoscaled groups, in spec order.
    pub groups: Vec<GroupAutoscaleView>,
    /// The last decisions, newest first.
    pub decisions: Vec<Decision>,
}

/// Builds the view (on the loop: cheap copies).
pub fn view(core: &Core) -> AutoscaleView {
    let groups = core
        .spec()
        .groups
        .iter()
        .filter_map(|g| {
            let rules = g.autoscale.as_ref()?;
            let state = core.autoscale_state(&g.name);
            let holds = core.autoscale_holds(&g.name);
            Some(GroupAutoscaleView {
                group: g.name.clone(),
                min: rules.min,
                max: rules.max,
                metric: rules.metric.as_str(),
                target: rules.target,
                source: rules.source.clone(),
                desired: core.desired_count(&g.name),
                running: core.pod_counts(&g.name).running,
                pinned: holds.pinned,
                deploying: holds.deploying,
                value: state.and_then(|s| s.last_value.map(|(v, _)| v)),
                value_at_ms: state.and_then(|s| s.last_value.map(|(_, at)| at)),
                wanted: state.and_then(|s| s.last_wanted),
                hold: state.and_then(|s| s.last_hold.clone()),
            })
        })
        .collect();
    AutoscaleView {
        groups,
        decisions: core.autoscaler().decisions.iter().rev().cloned().collect(),
    }
}

pub(super) async fn show(State(api): State<Api>) -> Result<Json<AutoscaleView>, ApiError> {
    Ok(Json(api.driver.read(|core, _| view(core)).await?))
}

/// The answer to `POST /v1/autoscale/{group}/resume`.
#[derive(Debug, Serialize)]
pub(super) struct Resumed {
    group: String,
    pinned: bool,
}

pub(super) async fn resume(
    State(api): State<Api>,
    Param(group): Param<String>,
) -> Result<Json<Resumed>, ApiError> {
    api.driver
        .write(Request::ResumeAutoscale {
            group: group.clone(),
        })
        .await?;
    Ok(Json(Resumed {
        group,
        pinned: false,
    }))
}
