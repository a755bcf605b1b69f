//! What the scheduler serves once uninstalled (the framework torn down, its state deleted),
//! or when it starts in uninstall mode and finds no framework id: no driver, no
//! subscription, only what DC/OS needs to remove it — the deploy plan COMPLETE (200), no
//! framework id (404) and a health check — until it is stopped.

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use cartrack_http::Https;
use serde::Serialize;
use tokio::net::TcpListener;

use super::error::ApiError;
use super::ApiTokens;
use crate::driver::UninstallPlan;

/// `GET /v1/health` once uninstalled.
#[derive(Debug, Serialize)]
struct UninstalledHealth {
    status: &'static str,
    role: &'static str,
    subscribed: bool,
}

#[derive(Debug, Serialize)]
struct Gone {
    error: &'static str,
}

/// Serves on `listener` (over TLS with `https`) until the task is aborted. `started_at_ms`
/// is when the uninstall was asked for, if known.
pub async fn serve(
    listener: TcpListener,
    https: Option<Https>,
    tokens: ApiTokens,
    started_at_ms: u64,
) {
    let plan = move || async move { Json(UninstallPlan::complete(started_at_ms)) };
    let router = Router::new()
        .route("/v1/health", get(health))
        .route("/v1/plans/deploy", get(plan))
        .route("/v1/plan", get(plan))
        .route(
            "/v1/state/frameworkId",
            get(|| async { ApiError::NoFrameworkId }),
        )
        .route(
            "/v1/uninstall",
            post(move || async move { (StatusCode::OK, Json(UninstallPlan::complete(started_at_ms))) }),
        )
        .fallback(|| async {
            (
                StatusCode::GONE,
                Json(Gone {
                    error: "the service is uninstalled: only /v1/health, /v1/plans/deploy and /v1/state/frameworkId are served",
                }),
            )
                .into_response()
        });
    cartrack_http::serve(listener, super::guarded(router, tokens), https.as_ref()).await;
}

async fn health() -> Json<UninstalledHealth> {
    Json(UninstalledHealth {
        status: "uninstalled",
        role: "uninstalled",
        subscribed: false,
    })
}
