//! A client of the scheduler's operator HTTP API, and the shapes of its answers.
//!
//! The shapes follow the scheduler's documented JSON (`GET /v1/state`); fields the CLI does not
//! show are kept as raw JSON so `--json` prints the API's answer unchanged.

use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::args::{ApiTarget, Auth, PodActionKind};

/// Why a request to the operator API failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Nothing answered at the URL: the scheduler is down or `--url` is wrong.
    #[error("cannot reach the cartrack scheduler at {url} (is it running, and is --url / CARTRACK_URL right?)")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// What the HTTP client reported.
        source: reqwest::Error,
    },
    /// The scheduler requires a token for this request.
    #[error("the scheduler refused the request (401): pass its API token with --token or CARTRACK_API_TOKEN (on DC/OS: `dcos auth login`)")]
    Unauthorized,
    /// The path named something the scheduler does not know (group, slot).
    #[error("not found: {0}")]
    NotFound(String),
    /// Any other non-success answer; the body usually says why.
    #[error("the scheduler answered {status} to {method} {path}: {body}")]
    Rejected {
        /// HTTP status.
        status: StatusCode,
        /// Request method.
        method: Method,
        /// Request path.
        path: String,
        /// Response body, trimmed.
        body: String,
    },
    /// The answer was not the JSON the CLI expects: the scheduler is another version.
    #[error("unexpected answer to GET {path} (are the CLI and the scheduler the same version?)")]
    BadResponse {
        /// Request path.
        path: String,
        /// The JSON error.
        source: serde_json::Error,
    },
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

impl Client {
    /// A client for `target`.
    pub fn new(target: ApiTarget) -> Result<Self, ApiError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .danger_accept_invalid_certs(target.accept_invalid_certs)
            .build()
            .map_err(|source| ApiError::Unreachable {
                url: target.base.to_string(),
                source,
            })?;
        Ok(Self { http, target })
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
        let url = self.url(path);
        let mut request = self.http.request(method.clone(), url.clone());
        match &self.target.auth {
            Auth::None => {}
            Auth::Bearer(token) => request = request.bearer_auth(token),
            Auth::DcosAcs(token) => {
                request = request.header(reqwest::header::AUTHORIZATION, format!("token={token}"))
            }
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let unreachable = |source| ApiError::Unreachable {
            url: url.to_string(),
            source,
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let text = response.text().await.map_err(unreachable)?;
        match status {
            s if s.is_success() => Ok(text),
            StatusCode::UNAUTHORIZED => Err(ApiError::Unauthorized),
            StatusCode::NOT_FOUND => Err(ApiError::NotFound(path.to_string())),
            status => Err(ApiError::Rejected {
                status,
                method,
                path: path.to_string(),
                body: text.trim().chars().take(500).collect(),
            }),
        }
    }

    /// GET `path` as raw JSON, for `--json` and views the CLI only pretty-prints.
    pub async fn get_json(&self, path: &str) -> Result<serde_json::Value, ApiError> {
        self.get(path).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        let text = self.send(Method::GET, path, None).await?;
        serde_json::from_str(&text).map_err(|source| ApiError::BadResponse {
            path: path.to_string(),
            source,
        })
    }

    /// `GET /v1/state`.
    pub async fn state(&self) -> Result<ServiceState, ApiError> {
        self.get("/v1/state").await
    }

    /// `PUT /v1/groups/{group}/count`.
    pub async fn set_count(&self, group: &str, count: u32) -> Result<(), ApiError> {
        let path = format!("/v1/groups/{group}/count");
        let body = serde_json::json!({ "count": count });
        self.send(Method::PUT, &path, Some(body)).await.map(drop)
    }

    /// `POST /v1/pods/{slot}/restart` or `/replace`.
    pub async fn pod_action(&self, slot: &str, kind: PodActionKind) -> Result<(), ApiError> {
        let path = format!("/v1/pods/{slot}/{}", kind.as_str());
        self.send(Method::POST, &path, None).await.map(drop)
    }
}
