//! A client of the scheduler's operator HTTP API, and the shapes of its answers.
//!
//! The shapes follow the scheduler's documented JSON (`GET /v1/state`); fields the CLI does not
//! show are kept as raw JSON so `--json` prints the API's answer unchanged.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::args::{ApiTarget, Auth, PlanAction, PodActionKind};

/// Why a request to the operator API failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Nothing answered at the URL: the scheduler is down or its address is wrong.
    #[error("cannot reach the cartrack scheduler at {url} ({hint})")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// What to check, naming where the address came from ([`AddressSource::hint`]).
        hint: String,
        /// What the HTTP client reported.
        source: reqwest::Error,
    },
    /// The scheduler requires a token for this request.
    #[error("the scheduler refused the request (401): pass its API token with --token or CARTRACK_API_TOKEN (on DC/OS: `dcos auth login`)")]
    Unauthorized,
    /// The scheduler refused the request as asked (400, 404, 409, 413, 422): its own reason,
    /// e.g. `slot "processor-0" has no live pod`. Exits 2.
    #[error("{message}")]
    Refused {
        /// HTTP status.
        status: StatusCode,
        /// Request method.
        method: Method,
        /// Request path.
        path: String,
        /// The scheduler's reason (its `{"error": ...}` body).
        message: String,
    },
    /// Any other non-success answer (5xx, 403, ...). Exits 1.
    #[error("the scheduler answered {status} to {method} {path}: {message}")]
    Rejected {
        /// HTTP status.
        status: StatusCode,
        /// Request method.
        method: Method,
        /// Request path.
        path: String,
        /// The scheduler's reason, or its body trimmed.
        message: String,
    },
    /// The answer was not the JSON the CLI expects: the scheduler is another version.
    #[error("unexpected answer to {path} (are the CLI and the scheduler the same version?)")]
    BadResponse {
        /// Request path.
        path: String,
        /// The JSON error.
        source: serde_json::Error,
    },
}

impl ApiError {
    /// The scheduler understood the request and refused it as asked: bad usage, exit 2.
    pub fn refused_as_asked(&self) -> bool {
        matches!(self, Self::Refused { .. })
    }

    /// The error for a non-success answer with `body`.
    fn from_answer(status: StatusCode, method: Method, path: &str, body: &str) -> Self {
        let message = scheduler_message(status, body);
        let path = path.to_string();
        match status {
            StatusCode::UNAUTHORIZED => Self::Unauthorized,
            StatusCode::BAD_REQUEST
            | StatusCode::NOT_FOUND
            | StatusCode::CONFLICT
            | StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::UNPROCESSABLE_ENTITY => Self::Refused {
                status,
                method,
                path,
                message,
            },
            _ => Self::Rejected {
                status,
                method,
                path,
                message,
            },
        }
    }
}

/// Longest piece of a non-JSON error body repeated to the user.
const MAX_SHOWN_BODY: usize = 500;

/// The reason in an error answer: the scheduler's `{"error": "..."}`, else the body itself
/// (trimmed, shortened), else the status's name.
fn scheduler_message(status: StatusCode, body: &str) -> String {
    #[derive(Deserialize)]
    struct ErrorBody {
        error: String,
    }
    if let Ok(ErrorBody { error }) = serde_json::from_str::<ErrorBody>(body) {
        if !error.trim().is_empty() {
            return error.trim().to_string();
        }
    }
    let body = body.trim();
    if body.is_empty() {
        return status
            .canonical_reason()
            .unwrap_or("no reason given")
            .to_ascii_lowercase();
    }
    body.chars().take(MAX_SHOWN_BODY).collect()
}

/// `GET /v1/state`: the service at a glance.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ServiceState {
    /// Mesos framework id, once subscribed.
    #[serde(default)]
    pub framework_id: Option<String>,
    /// Per group: desired and observed counts.
    #[serde(default)]
    pub groups: Vec<GroupState>,
    /// Every task the scheduler knows.
    #[serde(default)]
    pub tasks: Vec<TaskState>,
}

/// One group's counts.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct GroupState {
    /// Group name, e.g. `processor`.
    pub name: String,
    /// Desired pod count.
    pub count: u32,
    /// Pods whose tasks are RUNNING.
    #[serde(default)]
    pub running: u32,
    /// Pods launched but not yet running.
    #[serde(default)]
    pub staging: u32,
    /// Pods whose last task failed, waiting for a relaunch.
    #[serde(default)]
    pub failed: u32,
}

/// One task.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TaskState {
    /// Pod slot, `<group>-<index>`.
    pub slot: String,
    /// Mesos task id.
    pub task_id: String,
    /// Agent the task runs on.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// That agent's hostname.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Mesos task state, e.g. `TASK_RUNNING`.
    pub state: String,
    /// Health check verdict, when the task has one.
    #[serde(default)]
    pub healthy: Option<bool>,
    /// Named ports, as the scheduler reports them.
    #[serde(default)]
    pub ports: serde_json::Value,
}

/// `GET /v1/health`, the parts the CLI reads.
#[derive(Debug, Default, Deserialize)]
pub struct Health {
    /// `standby` on an instance that does not lead (and then `leader` names the one that
    /// does); `leader` or absent otherwise.
    #[serde(default)]
    pub role: Option<String>,
    /// The leading instance's API, as a standby names it.
    #[serde(default)]
    pub leader: Option<String>,
    /// Subscribed to a master: the scheduler can act.
    #[serde(default)]
    pub subscribed: bool,
    /// The leading master as last known.
    #[serde(default)]
    pub master: Option<String>,
}

/// `GET /v1/plan` and `/v1/plans/deploy`, the parts the CLI reads.
#[derive(Debug, Default, Deserialize)]
pub struct Plan {
    /// The plan's name where it gives one (`uninstall`); the deploy plan gives none.
    #[serde(default)]
    pub name: Option<String>,
    /// `COMPLETE`, `IN_PROGRESS`, `WAITING` or `ERROR`.
    #[serde(default)]
    pub status: String,
    /// The rolling update, while one runs or after the last one ended.
    #[serde(default)]
    pub deployment: Option<Deployment>,
    /// A phase per group.
    #[serde(default)]
    pub phases: Vec<PlanPhase>,
}

/// A rolling update from one config version to another.
#[derive(Debug, Clone, Deserialize)]
pub struct Deployment {
    /// The version it replaces.
    #[serde(default)]
    pub from: Option<u32>,
    /// The version it rolls out.
    pub to: u32,
    /// When it started (ms since the epoch).
    #[serde(default)]
    pub started_ms: u64,
    /// No new step starts until `resume`.
    #[serde(default)]
    pub paused: bool,
    /// An `abort` made it: it rolls back to `to`, the version before `from`.
    #[serde(default)]
    pub rollback: bool,
    /// When every group was done.
    #[serde(default)]
    pub completed_ms: Option<u64>,
}

/// One group's phase.
#[derive(Debug, Deserialize)]
pub struct PlanPhase {
    /// The group.
    #[serde(default)]
    pub name: String,
    /// The worst of its steps' statuses.
    #[serde(default)]
    pub status: String,
    /// Why it looks as it does, when the scheduler says.
    #[serde(default)]
    pub message: Option<String>,
    /// A step per pod.
    #[serde(default)]
    pub steps: Vec<PlanStep>,
}

/// One pod's step.
#[derive(Debug, Clone, Deserialize)]
pub struct PlanStep {
    /// The slot.
    pub name: String,
    /// `COMPLETE`, `STARTING`, `PENDING`, `DELAYED` (launch backoff), `KILLING`.
    #[serde(default)]
    pub status: String,
    /// How the slot's last task ended.
    #[serde(default)]
    pub message: Option<String>,
    /// Failures in a row.
    #[serde(default)]
    pub failures: u32,
    /// How long until a `DELAYED` pod may launch again.
    #[serde(default)]
    pub relaunch_in_ms: Option<u64>,
    /// The config version its pod runs.
    #[serde(default)]
    pub version: Option<u32>,
}

/// `GET /v1/configs`: the kept config versions.
#[derive(Debug, Clone, Deserialize)]
pub struct ConfigList {
    /// The target version's id.
    pub target: u32,
    /// Every kept version, oldest first.
    #[serde(default)]
    pub versions: Vec<ConfigSummary>,
}

/// One kept version in [`ConfigList`].
#[derive(Debug, Clone, Deserialize)]
pub struct ConfigSummary {
    /// 1, 2, ...: never reused.
    pub id: u32,
    /// SHA-256 of the spec and binaries, hex.
    #[serde(default)]
    pub sha256: String,
    /// When it was made (ms since the epoch).
    #[serde(default)]
    pub created_ms: u64,
    /// `startup`, `update` or `rollback`.
    #[serde(default)]
    pub origin: String,
    /// Live pods launched from it.
    #[serde(default)]
    pub pods: u64,
}

impl ConfigList {
    /// The newest kept version older than `id`.
    pub fn before(&self, id: u32) -> Option<u32> {
        self.versions.iter().map(|v| v.id).filter(|&v| v < id).max()
    }

    /// Ids of the kept versions, for messages.
    pub fn ids(&self) -> Vec<String> {
        self.versions.iter().map(|v| v.id.to_string()).collect()
    }
}

/// `GET /v1/configs/{id}`: one version in full. `spec` and `binaries` stay JSON: the CLI
/// renders them, and `--json` prints them unchanged.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ConfigVersion {
    /// Its id.
    pub id: u32,
    /// SHA-256 of the spec and binaries, hex.
    #[serde(default)]
    pub sha256: String,
    /// When it was made (ms since the epoch).
    #[serde(default)]
    pub created_ms: u64,
    /// `startup`, `update` or `rollback`.
    #[serde(default)]
    pub origin: String,
    /// The spec after interpolation and overrides.
    #[serde(default)]
    pub spec: serde_json::Value,
    /// Where executors get their binaries (`{"kind": "release", "uri": ...}` or `files`).
    #[serde(default)]
    pub binaries: serde_json::Value,
    /// Whatever else the scheduler sent, kept for `--json`.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// The answer to `PUT /v1/config`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct UpdateAnswer {
    /// The target version now.
    pub target: u32,
    /// Whether that is a new version (false: the config was the target already).
    pub changed: bool,
    /// Where the rollout shows.
    #[serde(default)]
    pub plan: String,
}

impl Plan {
    /// Every step by its slot, for looking many up (a group may have 100,000).
    pub fn steps(&self) -> HashMap<&str, &PlanStep> {
        self.phases
            .iter()
            .flat_map(|phase| &phase.steps)
            .map(|step| (step.name.as_str(), step))
            .collect()
    }
}

impl ServiceState {
    /// Group names, for "did you mean".
    pub fn group_names(&self) -> Vec<String> {
        self.groups.iter().map(|g| g.name.clone()).collect()
    }

    /// Every slot the service has: desired ones and those with tasks.
    pub fn slot_names(&self) -> Vec<String> {
        let mut slots: Vec<String> = self
            .groups
            .iter()
            .flat_map(|g| (0..g.count).map(move |i| format!("{}-{i}", g.name)))
            .chain(self.tasks.iter().map(|t| t.slot.clone()))
            .collect();
        slots.sort();
        slots.dedup();
        slots
    }

    /// The group called `name`.
    pub fn group(&self, name: &str) -> Option<&GroupState> {
        self.groups.iter().find(|g| g.name == name)
    }
}

/// Talks to one scheduler.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    target: ApiTarget,
}

/// A request that hangs longer than this is treated as a dead scheduler.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Redirects followed for one request: a standby sends everything to the leader (one hop).
const MAX_REDIRECTS: usize = 3;

impl Client {
    /// A client for `target`.
    pub fn new(target: ApiTarget) -> Result<Self, ApiError> {
        let mut builder = reqwest::Client::builder();
        for root in &target.extra_roots {
            builder = builder.add_root_certificate(root.clone());
        }
        let http = builder
            .timeout(REQUEST_TIMEOUT)
            // Followed by `send`, which keeps the token: reqwest drops `Authorization` when a
            // redirect changes host or port, as a standby's to the leader does.
            .redirect(reqwest::redirect::Policy::none())
            .danger_accept_invalid_certs(target.accept_invalid_certs)
            .build()
            .map_err(|source| ApiError::Unreachable {
                url: target.base.to_string(),
                hint: target.source.hint(),
                source,
            })?;
        Ok(Self { http, target })
    }

    fn unreachable(&self, url: &Url, source: reqwest::Error) -> ApiError {
        ApiError::Unreachable {
            url: url.to_string(),
            hint: self.target.source.hint(),
            source,
        }
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.target.base.clone();
        let base = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{base}{path}"));
        url
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<String, ApiError> {
        self.send_to(self.url(path), method, path, body).await
    }

    /// Sends to `url`, following a standby's redirects to the leader with the same method,
    /// body and credentials.
    async fn send_to(
        &self,
        mut url: Url,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<String, ApiError> {
        let mut hops = 0;
        let response = loop {
            let mut request = self.http.request(method.clone(), url.clone());
            match &self.target.auth {
                Auth::None => {}
                Auth::Bearer(token) => request = request.bearer_auth(token),
                Auth::DcosAcs(token) => {
                    request =
                        request.header(reqwest::header::AUTHORIZATION, format!("token={token}"))
                }
            }
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = request
                .send()
                .await
                .map_err(|source| self.unreachable(&url, source))?;
            let next = redirect_target(&response, &url);
            match next {
                Some(next) if hops < MAX_REDIRECTS => {
                    hops += 1;
                    url = next;
                }
                _ => break response,
            }
        };
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|source| self.unreachable(&url, source))?;
        if status.is_success() {
            Ok(text)
        } else {
            Err(ApiError::from_answer(status, method, path, &text))
        }
    }

    /// GET `path` as raw JSON, for `--json` and views the CLI only pretty-prints.
    pub async fn get_json(&self, path: &str) -> Result<serde_json::Value, ApiError> {
        self.get(path).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        let text = self.send(Method::GET, path, None).await?;
        parse(&format!("GET {path}"), &text)
    }

    /// `GET /v1/state`.
    pub async fn state(&self) -> Result<ServiceState, ApiError> {
        self.get("/v1/state").await
    }

    /// `GET /v1/health` of the leading instance: a standby answers for itself and names the
    /// leader, which is then asked.
    pub async fn health(&self) -> Result<Health, ApiError> {
        const PATH: &str = "/v1/health";
        let health: Health = self.get(PATH).await?;
        let leader = match (&health.role, &health.leader) {
            (Some(role), Some(leader)) if role == "standby" => leader,
            _ => return Ok(health),
        };
        let Ok(url) = Url::parse(&format!("{}{PATH}", leader.trim_end_matches('/'))) else {
            return Ok(health);
        };
        let text = self.send_to(url, Method::GET, PATH, None).await?;
        parse(&format!("GET {PATH}"), &text)
    }

    /// `GET /v1/plan`: each pod's step, with how its last task ended.
    pub async fn plan(&self) -> Result<Plan, ApiError> {
        self.get("/v1/plan").await
    }

    /// `GET /v1/plans/deploy`: the uninstall plan while uninstalling (or once uninstalled),
    /// else the deploy plan.
    pub async fn deploy_plan(&self) -> Result<serde_json::Value, ApiError> {
        self.get("/v1/plans/deploy").await
    }

    /// `POST /v1/uninstall`; the scheduler's answer.
    pub async fn uninstall(&self) -> Result<serde_json::Value, ApiError> {
        const PATH: &str = "/v1/uninstall";
        let text = self.send(Method::POST, PATH, None).await?;
        parse_answer(&format!("POST {PATH}"), &text)
    }

    /// `GET /v1/configs`.
    pub async fn configs(&self) -> Result<ConfigList, ApiError> {
        self.get("/v1/configs").await
    }

    /// `GET /v1/configs/{id}`.
    pub async fn config(&self, id: u32) -> Result<ConfigVersion, ApiError> {
        self.get(&format!("/v1/configs/{id}")).await
    }

    /// `PUT /v1/config`: a new target config from a spec file's TOML, `path=value`
    /// overrides and optionally a new release tarball. A config the scheduler refuses (422)
    /// changes nothing and comes back as [`ApiError::Refused`] with every reason.
    pub async fn update(
        &self,
        spec: &str,
        set: &[String],
        release_uri: Option<&str>,
    ) -> Result<UpdateAnswer, ApiError> {
        const PATH: &str = "/v1/config";
        let body = serde_json::json!({ "spec": spec, "set": set, "release_uri": release_uri });
        let text = self.send(Method::PUT, PATH, Some(body)).await?;
        parse(&format!("PUT {PATH}"), &text)
    }

    /// `POST /v1/plans/deploy/{action}[?phase=|?step=]`; the scheduler's answer. 409 when no
    /// deployment runs.
    pub async fn steer(&self, action: &PlanAction) -> Result<serde_json::Value, ApiError> {
        let path = format!("/v1/plans/deploy/{}", action.as_str());
        let mut url = self.url(&path);
        if let Some((key, value)) = action.query() {
            url.query_pairs_mut().append_pair(key, value);
        }
        let text = self.send_to(url, Method::POST, &path, None).await?;
        parse_answer(&format!("POST {path}"), &text)
    }

    /// `GET /v1/report/utilisation[?since=<seconds>]`, the JSON as it came.
    pub async fn utilisation(
        &self,
        since: Option<std::time::Duration>,
    ) -> Result<serde_json::Value, ApiError> {
        let path = "/v1/report/utilisation";
        let mut url = self.url(path);
        if let Some(since) = since {
            url.query_pairs_mut()
                .append_pair("since", &since.as_secs().to_string());
        }
        let text = self.send_to(url, Method::GET, path, None).await?;
        parse(&format!("GET {path}"), &text)
    }

    /// `PUT /v1/groups/{group}/count`; the scheduler's answer (`{"count": N}`).
    pub async fn set_count(&self, group: &str, count: u32) -> Result<serde_json::Value, ApiError> {
        let path = format!("/v1/groups/{group}/count");
        let body = serde_json::json!({ "count": count });
        let text = self.send(Method::PUT, &path, Some(body)).await?;
        parse_answer(&format!("PUT {path}"), &text)
    }

    /// `POST /v1/autoscale/{group}/resume`; the scheduler's answer (`{"group", "pinned"}`).
    pub async fn resume_autoscale(&self, group: &str) -> Result<serde_json::Value, ApiError> {
        let path = format!("/v1/autoscale/{group}/resume");
        let text = self.send(Method::POST, &path, None).await?;
        parse_answer(&format!("POST {path}"), &text)
    }

    /// `POST /v1/pods/{slot}/restart` or `/replace`; the scheduler's answer
    /// (`{"slot": ..., "action": ...}`).
    pub async fn pod_action(
        &self,
        slot: &str,
        kind: PodActionKind,
    ) -> Result<serde_json::Value, ApiError> {
        let path = format!("/v1/pods/{slot}/{}", kind.as_str());
        let text = self.send(Method::POST, &path, None).await?;
        parse_answer(&format!("POST {path}"), &text)
    }
}

/// Where a 307/308 sends the request, resolved against the URL asked.
fn redirect_target(response: &reqwest::Response, asked: &Url) -> Option<Url> {
    if !matches!(
        response.status(),
        StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
    ) {
        return None;
    }
    let location = response.headers().get(reqwest::header::LOCATION)?;
    asked.join(location.to_str().ok()?).ok()
}

fn parse<T: DeserializeOwned>(request: &str, text: &str) -> Result<T, ApiError> {
    serde_json::from_str(text).map_err(|source| ApiError::BadResponse {
        path: request.to_string(),
        source,
    })
}

/// The answer to a mutating request: JSON, or null when the scheduler sent no body.
fn parse_answer(request: &str, text: &str) -> Result<serde_json::Value, ApiError> {
    if text.trim().is_empty() {
        Ok(serde_json::Value::Null)
    } else {
        parse(request, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_answer_shows_the_schedulers_reason_not_its_json() {
        let err = ApiError::from_answer(
            StatusCode::NOT_FOUND,
            Method::POST,
            "/v1/pods/processor-0/restart",
            r#"{"error":"slot \"processor-0\" has no live pod"}"#,
        );
        assert!(err.refused_as_asked());
        assert_eq!(err.to_string(), r#"slot "processor-0" has no live pod"#);
    }

    #[test]
    fn bad_requests_are_refusals_and_server_errors_are_not() {
        let body = r#"{"error":"count 100001 is above the limit 100000"}"#;
        let err = ApiError::from_answer(StatusCode::BAD_REQUEST, Method::PUT, "/c", body);
        assert!(err.refused_as_asked());
        assert_eq!(err.to_string(), "count 100001 is above the limit 100000");
        let err = ApiError::from_answer(StatusCode::SERVICE_UNAVAILABLE, Method::GET, "/s", "");
        assert!(!err.refused_as_asked());
        assert_eq!(
            err.to_string(),
            "the scheduler answered 503 Service Unavailable to GET /s: service unavailable"
        );
        let err = ApiError::from_answer(StatusCode::UNAUTHORIZED, Method::PUT, "/c", body);
        assert!(matches!(err, ApiError::Unauthorized));
    }

    #[test]
    fn a_body_that_is_not_the_error_shape_is_shown_trimmed() {
        assert_eq!(
            scheduler_message(StatusCode::BAD_GATEWAY, "  upstream down \n"),
            "upstream down"
        );
        let long = "x".repeat(2 * MAX_SHOWN_BODY);
        assert_eq!(
            scheduler_message(StatusCode::BAD_GATEWAY, &long).len(),
            MAX_SHOWN_BODY
        );
    }
}
