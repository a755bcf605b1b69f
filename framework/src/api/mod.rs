//! The operator HTTP API (axum, HTTP/1.1) and `/metrics`. Handlers never touch state: they
//! send an [`ApiRequest`] to the driver and wait for its answer, so every read is a
//! consistent snapshot and every write goes through the same persist-then-act path. A loop
//! that does not answer within [`ANSWER_TIMEOUT`] costs a 503, not a hung client.
//!
//! With `--api-token`, every mutating request (PUT, POST, DELETE, PATCH) needs
//! `Authorization: Bearer <token>`; with `--read-token`, reads need one too, but for the
//! health check and the page's static files.
//! Every refusal is `{"error": "..."}`; a known path asked with another method is
//! 405 with `Allow`.

mod autoscale;
mod bearer;
mod deploy;
mod error;
mod extract;
mod metrics;
pub mod page;
mod report;
pub mod standby;
pub mod uninstalled;
pub mod views;

// Public so the fuzz targets (`fuzz/`) reach the body decoding the count handler uses.
pub use self::extract::parse_count;
pub use deploy::UpdateContext;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};
use axum::{Json, Router};
use cartrack_http::Https;
use cartrack_webui::basemap::PageConfig;
use cartrack_webui::cluster::ClusterView;
use cartrack_webui::map::MapView;
use prometheus_client::metrics::histogram::Histogram;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use self::error::ApiError;
use self::extract::{CountBody, Param};
use crate::driver::{ApiRequest, Handle, Request};
use crate::planner::PlanView;

/// Largest request body accepted.
const MAX_BODY: usize = 64 * 1024;

/// The longest a handler waits for the driver's loop before it answers 503.
pub use crate::driver::ANSWER_TIMEOUT;

/// Pod actions of `POST /v1/pods/{slot}/<action>`, for the 404 an unknown one gets.
const POD_ACTIONS: &str = "restart, replace";

/// What every handler shares.
#[derive(Debug, Clone)]
struct Api {
    driver: Handle,
    page: page::PageSources,
    decisions: Histogram,
    update: Arc<UpdateContext>,
}

/// The tokens requests must carry; `None` leaves those requests open.
#[derive(Debug, Clone, Default)]
pub struct ApiTokens {
    /// Needed on mutating requests (`--api-token`); also good for reads.
    pub write: Option<String>,
    /// Needed on reads but the health check and the page's files (`--read-token`).
    pub read: Option<String>,
}

/// Serves the API on `listener` (over TLS with `https`) until the task is dropped/aborted.
/// `decisions` is the driver's histogram of decision times, shown on `/metrics`.
pub async fn serve(
    listener: TcpListener,
    https: Option<Https>,
    tokens: ApiTokens,
    driver: mpsc::Sender<ApiRequest>,
    page: page::PageSources,
    decisions: Histogram,
    update: UpdateContext,
) {
    let api = Api {
        driver: Handle::new(driver),
        page,
        decisions,
        update: Arc::new(update),
    };
    cartrack_http::serve(listener, router(api, tokens), https.as_ref()).await;
}

fn router(api: Api, tokens: ApiTokens) -> Router {
    let router = Router::new()
        .route("/v1/health", get(health))
        .route("/v1/state", get(state))
        .route("/v1/plan", get(plan))
        .route("/v1/plans", get(deploy::plans))
        .route("/v1/plans/deploy", get(deploy_plan))
        .route("/v1/plans/recovery", get(deploy::recovery))
        .route("/v1/plans/deploy/{action}", post(deploy::steer))
        .route("/v1/configs", get(deploy::configs))
        .route("/v1/configs/{id}", get(deploy::config))
        .route("/v1/config", put(deploy::update))
        .route("/v1/state/frameworkId", get(framework_id))
        .route("/v1/uninstall", post(uninstall))
        .route("/v1/debug/offers", get(debug_offers))
        .route("/v1/autoscale", get(autoscale::show))
        .route("/v1/autoscale/{group}/resume", post(autoscale::resume))
        .route("/v1/report/utilisation", get(report::utilisation))
        .route("/metrics", get(metrics))
        .route("/v1/groups/{group}/count", put(set_count))
        .route(
            "/v1/pods/{slot}/restart",
            post(|api: State<Api>, slot: Param<String>| pod_action(api, slot, PodAction::Restart)),
        )
        .route(
            "/v1/pods/{slot}/replace",
            post(|api: State<Api>, slot: Param<String>| pod_action(api, slot, PodAction::Replace)),
        )
        // An unknown action is a path that does not exist, whatever the method.
        .route("/v1/pods/{slot}/{action}", any(unknown_pod_action))
        .route("/v1/cluster", get(cluster))
        .route("/v1/map", get(map))
        .route("/v1/page-config", get(page_config))
        .route("/", get(asset))
        .route("/index.html", get(asset))
        .route("/app.js", get(asset))
        .route("/style.css", get(asset))
        .route("/vendor/{*file}", get(asset))
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .fallback(|| async { ApiError::NoSuchEndpoint })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(api);
    guarded(router, tokens)
}

/// `router` behind the tokens' checks, if any is set.
fn guarded(router: Router, tokens: ApiTokens) -> Router {
    if tokens.write.is_none() && tokens.read.is_none() {
        return router;
    }
    router.layer(axum::middleware::from_fn_with_state(
        Arc::new(tokens),
        bearer::require,
    ))
}

async fn health(State(api): State<Api>) -> Result<Json<views::HealthView>, ApiError> {
    let view = api
        .driver
        .read(|core, cx| views::health(core, cx.leader.clone()))
        .await?;
    Ok(Json(view))
}

async fn state(State(api): State<Api>) -> Result<Json<views::StateView>, ApiError> {
    Ok(Json(api.driver.read(|core, _| views::state(core)).await?))
}

async fn plan(State(api): State<Api>) -> Result<Json<PlanView>, ApiError> {
    let view = api
        .driver
        .read(|core, cx| views::plan(core, cx.now_ms))
        .await?;
    Ok(Json(view))
}

/// `GET /v1/plans/deploy`: while uninstalling, the uninstall plan (as dcos-commons serves
/// it, and DC/OS's Cosmos polls it); otherwise the deploy plan. 200 once complete, 202 while
/// in progress: Cosmos removes an uninstalling scheduler once it answers 200.
async fn deploy_plan(State(api): State<Api>) -> Result<(StatusCode, Response), ApiError> {
    let (complete, body) = api
        .driver
        .read(|core, cx| match core.uninstall_plan() {
            Some(plan) => (plan.is_complete(), Json(plan).into_response()),
            None => {
                let plan = views::plan(core, cx.now_ms);
                (plan.status == "COMPLETE", Json(plan).into_response())
            }
        })
        .await?;
    Ok((progress_status(complete), body))
}

/// 200 for a complete plan, 202 for one in progress.
fn progress_status(complete: bool) -> StatusCode {
    if complete {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    }
}

/// `GET /v1/state/frameworkId`: `["<id>"]`, or 404 when none is stored (as dcos-commons).
async fn framework_id(State(api): State<Api>) -> Result<Json<Vec<String>>, ApiError> {
    let id = api
        .driver
        .read(|core, _| core.state().framework_id.clone())
        .await?;
    id.map(|id| Json(vec![id])).ok_or(ApiError::NoFrameworkId)
}

/// The answer to `POST /v1/uninstall`.
#[derive(Debug, Serialize)]
struct UninstallAnswer {
    uninstall: &'static str,
    /// Where its progress is.
    plan: &'static str,
}

/// `POST /v1/uninstall`: starts the uninstall (202 once that is saved; again is a no-op).
async fn uninstall(
    State(api): State<Api>,
) -> Result<(StatusCode, Json<UninstallAnswer>), ApiError> {
    api.driver.write(Request::Uninstall).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(UninstallAnswer {
            uninstall: "started",
            plan: "/v1/plans/deploy",
        }),
    ))
}

async fn debug_offers(State(api): State<Api>) -> Result<Json<views::DebugOffersView>, ApiError> {
    let view = api
        .driver
        .read(|core, cx| views::debug_offers(core, cx.now_ms))
        .await?;
    Ok(Json(view))
}

async fn metrics(State(api): State<Api>) -> Result<Response, ApiError> {
    let mut snapshot = api
        .driver
        .read(|core, _| metrics::Snapshot::of(core))
        .await?;
    let now_ms = crate::driver::now_ms();
    if let Some(report) = api.page.report().report_blocking(None, now_ms).await {
        snapshot = snapshot.with_report(&report);
    }
    let text = metrics::render(&snapshot, &api.decisions);
    Ok(([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response())
}

async fn set_count(
    State(api): State<Api>,
    Param(group): Param<String>,
    CountBody(count): CountBody,
) -> Result<Json<CountAnswer>, ApiError> {
    api.driver.write(Request::SetCount { group, count }).await?;
    Ok(Json(CountAnswer { count }))
}

/// The answer to `PUT /v1/groups/{group}/count`.
#[derive(Debug, Serialize)]
struct CountAnswer {
    count: u32,
}

/// What `POST /v1/pods/{slot}/<action>` asks for.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "lowercase")]
enum PodAction {
    /// Relaunch on the same agent.
    Restart,
    /// Relaunch anywhere.
    Replace,
}

/// The answer to a pod action.
#[derive(Debug, Serialize)]
struct PodActionAnswer {
    slot: String,
    action: PodAction,
}

async fn pod_action(
    State(api): State<Api>,
    Param(slot): Param<String>,
    action: PodAction,
) -> Result<(StatusCode, Json<PodActionAnswer>), ApiError> {
    let replace = matches!(action, PodAction::Replace);
    api.driver
        .write(Request::Restart {
            slot: slot.clone(),
            replace,
        })
        .await?;
    Ok((StatusCode::ACCEPTED, Json(PodActionAnswer { slot, action })))
}

async fn unknown_pod_action(Param((_slot, action)): Param<(String, String)>) -> ApiError {
    ApiError::NoSuchPodAction(action)
}

async fn cluster(State(api): State<Api>) -> Result<Json<ClusterView>, ApiError> {
    let state = api.driver.read(|core, _| views::state(core)).await?;
    Ok(Json(api.page.cluster(&state).await?))
}

async fn map(State(api): State<Api>) -> Result<Json<MapView>, ApiError> {
    let state = api.driver.read(|core, _| views::state(core)).await?;
    Ok(Json(api.page.map(&state).await))
}

async fn page_config(State(api): State<Api>) -> Json<PageConfig> {
    Json(api.page.config().clone())
}

async fn asset(uri: Uri) -> Result<Response, ApiError> {
    page::asset(uri.path()).ok_or(ApiError::NoSuchAsset)
}
