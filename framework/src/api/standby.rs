//! What an instance serves while another one leads: `/v1/health`, saying it is a standby and
//! naming the leader, and a 307 to the leader's API for every other request, so a load
//! balancer, a browser or the CLI reaches the leader through any instance.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use cartrack_http::Https;
use serde::Serialize;
use tokio::net::TcpListener;

use crate::ha::LeaderLookup;

/// `GET /v1/health` of a standby: healthy (it is ready to take over), not subscribed.
#[derive(Debug, Serialize)]
struct StandbyHealth {
    status: &'static str,
    role: &'static str,
    subscribed: bool,
    /// The leader's API, if one leads.
    leader: Option<String>,
}

#[derive(Serialize)]
struct Refusal {
    error: String,
    leader: Option<String>,
}

/// Serves the standby API on `listener` (over TLS with `https`) until the task is aborted.
pub async fn serve<L: LeaderLookup>(listener: TcpListener, https: Option<Https>, leader: L) {
    let router = Router::new()
        .route("/v1/health", get(health::<L>))
        .route("/metrics", get(metrics))
        .fallback(redirect::<L>)
        .with_state(leader);
    cartrack_http::serve(listener, router, https.as_ref()).await;
}

async fn health<L: LeaderLookup>(State(lookup): State<L>) -> Json<StandbyHealth> {
    Json(StandbyHealth {
        status: "standby",
        role: "standby",
        subscribed: false,
        leader: lookup.leader().await,
    })
}

async fn metrics() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, super::metrics::CONTENT_TYPE)],
        super::metrics::render_standby(),
    )
}

async fn redirect<L: LeaderLookup>(State(lookup): State<L>, request: Request) -> Response {
    let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let Some(leader) = lookup.leader().await else {
        let body = Refusal {
            error: "this instance is a standby and no instance leads yet; retry in a moment".into(),
            leader: None,
        };
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, HeaderValue::from_static("1"))],
            Json(body),
        )
            .into_response();
    };
    let location = format!("{}{target}", leader.trim_end_matches('/'));
    let body = Refusal {
        error: format!("this instance is a standby; the leader is at {leader}"),
        leader: Some(leader),
    };
    match HeaderValue::from_str(&location) {
        // 307 keeps the method and the body.
        Ok(location) => (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, location)],
            Json(body),
        )
            .into_response(),
        Err(_) => (StatusCode::BAD_GATEWAY, Json(body)).into_response(),
    }
}
