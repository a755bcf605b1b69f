//! The live page at `/` and the two views it polls besides `/v1/state`: `/v1/cluster` (the
//! master's `/state`, reduced to agents and their tasks — cartrack's and other tenants') and
//! `/v1/map` (the running processors' `/v1/snapshot`s, merged). The page and the merges live in
//! `cartrack-webui`; this module only finds what to fetch.

use bytes::Bytes;
use cartrack_webui::{assets, cluster, map};
use http::{Response, StatusCode};
use http_body_util::Full;

use super::views::StateView;
use super::{error, json};
use crate::mesos::Masters;
use crate::tls::Trust;

/// The port name processors serve `/v1/snapshot` on (the spec's named port).
const SNAPSHOT_PORT: &str = "http";

/// What the page's views fetch from.
#[derive(Debug, Clone)]
pub struct PageSources {
    masters: Masters,
    http: reqwest::Client,
}

impl PageSources {
    /// Views over the given masters (the `--master` list, or the leader ZooKeeper names),
    /// trusting `trust`'s CAs as the scheduler's other clients do.
    pub fn new(masters: Masters, trust: &Trust) -> Self {
        Self {
            masters,
            http: trust.client().build().unwrap_or_default(),
        }
    }

    /// `GET /v1/cluster`: the first master that answers `/state` (real Mesos redirects or
    /// proxies to the leader; the dev cluster's standby answers with its own view).
    pub async fn cluster(&self, state: &StateView) -> Response<Full<Bytes>> {
        let mut last_error = String::from("no master configured");
        for master in &self.masters.known() {
            match cluster::fetch(&self.http, master, state.framework_id.as_deref()).await {
                Ok(view) => return json(StatusCode::OK, &view),
                Err(err) => last_error = crate::tls::describe(&err),
            }
        }
        error(StatusCode::BAD_GATEWAY, last_error)
    }

    /// `GET /v1/map`: every running task with an `http` port is asked for its snapshot.
    pub async fn map(&self, state: &StateView) -> Response<Full<Bytes>> {
        let endpoints: Vec<String> = state
            .tasks
            .iter()
            .filter(|t| t.state == "TASK_RUNNING" && t.slot.starts_with("processor-"))
            .filter_map(|t| {
                let port = t.ports.get(SNAPSHOT_PORT)?;
                Some(format!("http://{}:{port}", t.hostname))
            })
            .collect();
        json(StatusCode::OK, &map::fetch(&self.http, &endpoints).await)
    }
}

/// The page's static files.
pub fn asset(path: &str) -> Option<Response<Full<Bytes>>> {
    let (content_type, body) = assets::lookup(path)?;
    Response::builder()
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::CACHE_CONTROL, "no-cache")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .ok()
}
