//! The live page at `/` (with its vendored map library under `/vendor/`), its settings at
//! `/v1/page-config` (the basemap of `--map-tiles`), and the two views it polls besides
//! `/v1/state`: `/v1/cluster` (the master's `/state`, reduced to agents, cartrack's tasks and a
//! summary per other framework) and `/v1/map` (the running processors' `/v1/snapshot`s,
//! merged), and the utilisation report's samples (`/v1/report/utilisation`). The page and the
//! merges live in `cartrack-webui`; this module only finds what to fetch.

use axum::body::Bytes;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use cartrack_webui::assets;
use cartrack_webui::basemap::{Basemap, PageConfig};
use cartrack_webui::cluster::{self, ClusterView};
use cartrack_webui::map::{self, MapView};

use super::error::ApiError;
use super::views::StateView;
use crate::mesos::Masters;
use crate::report::Samples;
use crate::tls::Trust;

/// The port name processors serve `/v1/snapshot` on (the spec's named port).
const SNAPSHOT_PORT: &str = "http";

/// What the page's views fetch from.
#[derive(Debug, Clone)]
pub struct PageSources {
    masters: Masters,
    http: reqwest::Client,
    /// For the workers' snapshots: it carries their read token, which masters must not see.
    workers: reqwest::Client,
    config: PageConfig,
    /// The utilisation samples behind `/v1/report/utilisation` and its panel.
    report: Samples,
}

impl PageSources {
    /// Views over the given masters (the `--master` list, or the leader ZooKeeper names),
    /// trusting `trust`'s CAs as the scheduler's other clients do.
    pub fn new(masters: Masters, trust: &Trust) -> Self {
        Self {
            masters,
            http: trust.client().build().unwrap_or_default(),
            workers: reqwest::Client::new(),
            config: PageConfig::default(),
            report: Samples::default(),
        }
    }

    /// Snapshots are asked with `Authorization: Bearer <token>` (`--worker-read-token`).
    pub fn with_worker_read_token(mut self, token: Option<&str>) -> Self {
        self.workers = crate::workers::client(token);
        self
    }

    /// The page draws the fleet over `basemap` (`--map-tiles`); without one, on a blank
    /// background (the default here, so tests never reach for the internet).
    pub fn with_basemap(mut self, basemap: Option<Basemap>) -> Self {
        self.config.basemap = basemap;
        self
    }

    /// The utilisation report reads `samples` (the sampler's).
    pub fn with_report(mut self, samples: Samples) -> Self {
        self.report = samples;
        self
    }

    /// The samples the utilisation report reads.
    pub(crate) fn report(&self) -> &Samples {
        &self.report
    }

    /// `GET /v1/page-config`.
    pub(crate) fn config(&self) -> &PageConfig {
        &self.config
    }

    /// `GET /v1/cluster`: the first master that answers `/state` (real Mesos redirects or
    /// proxies to the leader; the dev cluster's standby answers with its own view).
    pub(crate) async fn cluster(&self, state: &StateView) -> Result<ClusterView, ApiError> {
        let mut last_error = String::from("no master configured");
        for master in &self.masters.known() {
            match cluster::fetch(&self.http, master, state.framework_id.as_deref()).await {
                Ok(view) => return Ok(view),
                Err(err) => last_error = crate::tls::describe(&err),
            }
        }
        Err(ApiError::Upstream(last_error))
    }

    /// `GET /v1/map`: every running task with an `http` port is asked for its snapshot.
    pub(crate) async fn map(&self, state: &StateView) -> MapView {
        let endpoints: Vec<String> = state
            .tasks
            .iter()
            .filter(|t| t.state == "TASK_RUNNING" && t.slot.starts_with("processor-"))
            .filter_map(|t| {
                let port = t.ports.get(SNAPSHOT_PORT)?;
                Some(format!("http://{}:{port}", t.hostname))
            })
            .collect();
        map::fetch(&self.workers, &endpoints).await
    }
}

/// The page's static file at `path`, if it has one there.
pub(crate) fn asset(path: &str) -> Option<Response> {
    let asset = assets::lookup(path)?;
    let headers = [
        (header::CONTENT_TYPE, asset.content_type),
        (header::CACHE_CONTROL, "no-cache"),
    ];
    Some((headers, Bytes::from_static(asset.body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cartrack_webui::basemap::OPENSTREETMAP_TILES;

    async fn body(response: Response) -> Bytes {
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("an in-memory body")
    }

    #[tokio::test]
    async fn the_vendored_map_library_is_served_with_its_type() {
        let leaflet = asset("/vendor/leaflet/leaflet.js").expect("served");
        assert_eq!(
            leaflet.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        assert!(body(leaflet)
            .await
            .starts_with(b"/* @preserve\n * Leaflet 1.9.4"));
        assert!(asset("/vendor/leaflet/nope.js").is_none());
    }

    #[tokio::test]
    async fn snapshots_are_asked_with_the_workers_token_and_only_that_client_carries_it() {
        // A processor that answers only with the token.
        let app = axum::Router::new().route(
            "/v1/snapshot",
            axum::routing::get(|headers: axum::http::HeaderMap| async move {
                match headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()) {
                    Some(b"Bearer w0rker") => Ok(axum::Json(
                        serde_json::json!({"generated_at_ms": 1, "vehicles": [], "tiles": []}),
                    )),
                    _ => Err(axum::http::StatusCode::UNAUTHORIZED),
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let state = StateView {
            framework_id: None,
            groups: Vec::new(),
            tasks: vec![super::super::views::TaskView {
                slot: "processor-0".into(),
                task_id: "processor-0-main__r-1".into(),
                agent_id: "a-1".into(),
                hostname: "127.0.0.1".into(),
                state: "TASK_RUNNING",
                healthy: None,
                ports: [(SNAPSHOT_PORT.to_string(), port)].into(),
                holds_slot: true,
            }],
        };
        let answered = |view: &MapView| view.sources.len() == 1 && view.sources[0].error.is_none();
        let plain = PageSources::new(Masters::List(Vec::new()), &Trust::default());
        assert!(
            !answered(&plain.map(&state).await),
            "refused without the token"
        );
        let with_token = plain.with_worker_read_token(Some("w0rker"));
        assert!(answered(&with_token.map(&state).await));
        server.abort();
    }

    #[test]
    fn page_config_carries_the_basemap_or_null() {
        let sources = PageSources::new(Masters::List(Vec::new()), &Trust::default());
        let none = serde_json::to_value(sources.config()).expect("JSON");
        assert_eq!(none, serde_json::json!({"basemap": null}));
        let osm = Basemap::from_flag(OPENSTREETMAP_TILES).expect("valid");
        let config = serde_json::to_value(sources.with_basemap(osm).config()).expect("JSON");
        assert_eq!(config["basemap"]["tiles"], OPENSTREETMAP_TILES);
    }
}
