//! Config versions, updates and the plans that steer them:
//! `GET /v1/configs[/{id}]`, `PUT /v1/config`, `GET /v1/plans[/{plan}]`,
//! `POST /v1/plans/deploy/{pause,resume,continue,abort,restart,force-complete}`.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::extract::{JsonBody, Param};
use super::{views, Api};
use crate::driver::{Request, Steer};
use crate::planner::PlanView;
use crate::spec::ServiceSpec;
use crate::target::{Binaries, ConfigVersion, Origin};

/// What `PUT /v1/config` resolves a spec with: the scheduler's own roles and environment, as
/// at start-up.
#[derive(Debug, Clone, Default)]
pub struct UpdateContext {
    /// The framework's roles.
    pub roles: Vec<String>,
    /// The scheduler's environment (`${NAME}` and `CARTRACK_<GROUP>_<KEY>`).
    pub env: Vec<(String, String)>,
}

/// One version in `GET /v1/configs`.
#[derive(Debug, Serialize)]
struct ConfigSummary {
    id: u32,
    sha256: String,
    created_ms: u64,
    origin: Origin,
    /// Live pods launched with it.
    pods: usize,
}

/// `GET /v1/configs`.
#[derive(Debug, Serialize)]
pub(super) struct ConfigsView {
    target: u32,
    versions: Vec<ConfigSummary>,
}

pub(super) async fn configs(State(api): State<Api>) -> Result<Json<ConfigsView>, ApiError> {
    let view = api
        .driver
        .read(|core, _| {
            let st = core.state();
            let versions = st
                .configs
                .values()
                .map(|v| ConfigSummary {
                    id: v.id,
                    sha256: v.sha256.clone(),
                    created_ms: v.created_ms,
                    origin: v.origin,
                    pods: st
                        .tasks
                        .values()
                        .filter(|t| t.config == v.id && t.holds_slot())
                        .map(|t| t.slot.as_str())
                        .collect::<std::collections::BTreeSet<_>>()
                        .len(),
                })
                .collect();
            ConfigsView {
                target: core.target().id(),
                versions,
            }
        })
        .await?;
    Ok(Json(view))
}

pub(super) async fn config(
    State(api): State<Api>,
    Param(id): Param<u32>,
) -> Result<Json<ConfigVersion>, ApiError> {
    api.driver
        .read(move |core, _| core.state().configs.get(&id).cloned())
        .await?
        .map(Json)
        .ok_or(ApiError::NoSuchConfig(id))
}

/// The body of `PUT /v1/config`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UpdateBody {
    /// The spec file's TOML.
    spec: String,
    /// `--set path=value` overrides, applied after the scheduler's environment.
    #[serde(default)]
    set: Vec<String>,
    /// A new release tarball for the executors and workers.
    #[serde(default)]
    release_uri: Option<String>,
}

/// The answer to `PUT /v1/config`.
#[derive(Debug, Serialize)]
pub(super) struct UpdateAnswer {
    /// The target now.
    target: u32,
    /// Whether it is a new version (false: the config was the target already).
    changed: bool,
    /// Where the rollout shows.
    plan: &'static str,
}

/// `PUT /v1/config`: validates everything before anything is touched — the spec, the
/// release URI, and whether the hostname rules fit the agents the master has.
pub(super) async fn update(
    State(api): State<Api>,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Json<UpdateAnswer>, ApiError> {
    let parsed =
        ServiceSpec::parse(&body.spec).map_err(|e| ApiError::InvalidConfig(vec![e.to_string()]))?;
    let context = &api.update;
    let spec = crate::spec::prepare(parsed, context.env.clone(), &body.set, &context.roles)
        .map_err(|errors| {
            ApiError::InvalidConfig(errors.0.iter().map(ToString::to_string).collect())
        })?;
    let binaries = match body.release_uri {
        Some(uri) if !mesos_proto::fetcher::unpacks(&uri) => {
            return Err(ApiError::InvalidConfig(vec![format!(
                "release_uri {uri:?}: not an archive the Mesos fetcher unpacks (.tar.gz, .tgz, .tar.bz2, .txz, .tar.xz or .zip)"
            )]))
        }
        Some(uri) => Some(Binaries::Release { uri }),
        None => None,
    };
    let state = api.driver.read(|core, _| views::state(core)).await?;
    let hosts = api
        .page
        .cluster(&state)
        .await?
        .agents
        .iter()
        .filter(|a| a.active)
        .map(|a| a.hostname.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let refusals = crate::planner::unplaceable(&spec.groups, hosts);
    if !refusals.is_empty() {
        return Err(ApiError::InvalidConfig(refusals));
    }
    let before = api.driver.read(|core, _| core.target().id()).await?;
    let request = Request::Update {
        spec: Box::new(spec),
        binaries,
    };
    api.driver.write(request).await?;
    let target = api.driver.read(|core, _| core.target().id()).await?;
    Ok(Json(UpdateAnswer {
        target,
        changed: target != before,
        plan: "/v1/plans/deploy",
    }))
}

/// `GET /v1/plans`: the plans there are.
pub(super) async fn plans() -> Json<[&'static str; 2]> {
    Json(["deploy", "recovery"])
}

/// `GET /v1/plans/recovery`: the pods relaunched after failures, each with its failures.
pub(super) async fn recovery(State(api): State<Api>) -> Result<Response, ApiError> {
    let plan = api
        .driver
        .read(|core, cx| recovery_plan(views::plan(core, cx.now_ms)))
        .await?;
    let status = super::progress_status(plan.status == "COMPLETE");
    Ok((status, Json(plan)).into_response())
}

/// The recovery plan: the steps of the deploy plan whose pods failed before.
fn recovery_plan(mut plan: PlanView) -> PlanView {
    for phase in &mut plan.phases {
        phase.steps.retain(|s| s.failures > 0);
        phase.status = if phase.steps.iter().all(|s| s.status == "COMPLETE") {
            "COMPLETE"
        } else {
            "IN_PROGRESS"
        };
    }
    plan.deployment = None;
    plan.status = if plan.phases.iter().all(|p| p.status == "COMPLETE") {
        "COMPLETE"
    } else {
        "IN_PROGRESS"
    };
    plan
}

/// `?phase=<group>` of `continue`; `?step=<slot>` of the per-step actions (names of
/// letters, digits and `-`: nothing to decode).
#[derive(Debug, Default, PartialEq)]
struct StepQuery {
    phase: Option<String>,
    step: Option<String>,
}

impl StepQuery {
    fn parse(query: Option<&str>) -> Result<StepQuery, ApiError> {
        let mut parsed = StepQuery::default();
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            match pair.split_once('=') {
                Some(("phase", v)) => parsed.phase = Some(v.to_string()),
                Some(("step", v)) => parsed.step = Some(v.to_string()),
                _ => {
                    return Err(ApiError::BadBody(format!(
                        "unknown query {pair:?}: takes phase=<group> and step=<slot>"
                    )))
                }
            }
        }
        Ok(parsed)
    }
}

/// The answer to a steering request.
#[derive(Debug, Serialize)]
pub(super) struct SteerAnswer {
    action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    phase: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    step: Option<String>,
}

/// Deploy-plan actions, for the 404 an unknown one gets.
pub(super) const PLAN_ACTIONS: &str = "pause, resume, continue, abort, restart, force-complete";

/// `POST /v1/plans/deploy/{action}`.
pub(super) async fn steer(
    State(api): State<Api>,
    Param(action): Param<String>,
    RawQuery(query): RawQuery,
) -> Result<(StatusCode, Json<SteerAnswer>), ApiError> {
    let query = StepQuery::parse(query.as_deref())?;
    let step = || {
        query
            .step
            .clone()
            .ok_or_else(|| ApiError::BadBody(format!("{action} needs ?step=<slot>")))
    };
    let request = match action.as_str() {
        "pause" => Request::Steer(Steer::Pause),
        "resume" => Request::Steer(Steer::Resume),
        "continue" => Request::Steer(Steer::Continue {
            group: query.phase.clone(),
        }),
        "abort" => Request::Steer(Steer::Abort),
        "restart" => Request::Restart {
            slot: step()?,
            replace: false,
        },
        "force-complete" => Request::Steer(Steer::ForceComplete { slot: step()? }),
        _ => return Err(ApiError::NoSuchPlanAction(action)),
    };
    api.driver.write(request).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(SteerAnswer {
            action,
            phase: query.phase,
            step: query.step,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_queries_take_phase_and_step_only() {
        let parsed = StepQuery::parse(Some("phase=web&step=web-2")).ok();
        assert_eq!(
            parsed,
            Some(StepQuery {
                phase: Some("web".into()),
                step: Some("web-2".into())
            })
        );
        assert_eq!(StepQuery::parse(None).ok(), Some(StepQuery::default()));
        let refused = StepQuery::parse(Some("slot=web-2"))
            .err()
            .map(|e| e.to_string());
        assert!(refused.is_some_and(|e| e.contains("takes phase=<group> and step=<slot>")));
    }
}
