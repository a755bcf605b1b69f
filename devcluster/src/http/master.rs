//! The master's HTTP face: `POST /api/v1/scheduler`, the operator API's `TEARDOWN`
//! (`POST /api/v1`), `GET /state`, `GET /log` and the `/control/...` fault API. Both master
//! listeners serve this router; only the leader answers scheduler and operator calls.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use bytes::Bytes;
use mesos_proto::http::{JSON, PROTOBUF, SCHEDULER_PATH, STREAM_ID_HEADER};
use mesos_proto::v1::scheduler::{call, Call};
use serde::Deserialize;

use super::{decode_call, stream_response, text};
use crate::cluster::Inner;
use crate::log::LogEntry;

/// The master operator API (Mesos' `/api/v1`).
const OPERATOR_PATH: &str = "/api/v1";

#[derive(Clone)]
struct Ctx {
    inner: Arc<Inner>,
    index: usize,
}

/// The router of master listener `index` (0 = default leader, 1 = standby).
pub(crate) fn router(inner: Arc<Inner>, index: usize) -> Router {
    Router::new()
        .route(SCHEDULER_PATH, post(scheduler_api))
        .route(OPERATOR_PATH, post(operator_api).get(operator_get))
        .route("/state", get(state))
        .route("/master/state", get(state))
        .route("/state.json", get(state))
        .route("/log", get(log))
        .route("/health", get(|| async { "ok" }))
        .route("/control/agents/{id}/{action}", post(agent_control))
        .route(
            "/control/agents/{agent}/executors/{executor}/drop-connection",
            post(drop_executor),
        )
        .route("/control/frameworks/{id}/drop-stream", post(drop_stream))
        .route("/control/master/restart", post(restart_master))
        .route("/control/leader", post(leader))
        .route("/control/updates", post(updates))
        .with_state(Ctx { inner, index })
}

fn authorized(inner: &Inner, headers: &HeaderMap) -> bool {
    let Some((principal, secret)) = &inner.config.require_basic_auth else {
        return true;
    };
    let expected =
        base64::engine::general_purpose::STANDARD.encode(format!("{principal}:{secret}"));
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .is_some_and(|v| v.trim() == expected)
}

async fn scheduler_api(State(ctx): State<Ctx>, headers: HeaderMap, body: Bytes) -> Response {
    let inner = &ctx.inner;
    if !authorized(inner, &headers) {
        // Word for word what a Mesos 1.12 master answers, with or without wrong credentials.
        return (
            StatusCode::UNAUTHORIZED,
            [
                (
                    header::WWW_AUTHENTICATE,
                    "Basic realm=\"mesos-master-scheduler\"",
                ),
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            ],
            "401 Unauthorized.",
        )
            .into_response();
    }
    if let Some(refusal) = not_leading(&ctx, SCHEDULER_PATH) {
        return refusal;
    }
    let call: Call = match decode_call(&headers, body) {
        Ok(call) => call,
        Err(refusal) => return *refusal,
    };
    let stream_id = headers
        .get(STREAM_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if call.r#type() == call::Type::Subscribe {
        return subscribe(inner, call, stream_id);
    }
    let logged = call.clone();
    let lost = call
        .acknowledge
        .as_ref()
        .is_some_and(|ack| inner.take_lost_acknowledgement(&ack.uuid));
    let outcome = inner.with_core(|core, now| {
        let framework_id = core.check_call_stream(&call, stream_id.as_deref())?;
        if lost {
            return Ok(());
        }
        core.handle_call(&framework_id, call, now)
    });
    let (status, response) = match outcome {
        Ok(()) => {
            let status = if logged.r#type() == call::Type::UpdateFramework {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            };
            (status, status.into_response())
        }
        Err(e) => {
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
            (status, text(status, &e.message))
        }
    };
    inner.log.record(LogEntry::SchedulerCall {
        framework_id: logged.framework_id.as_ref().map(|f| f.value.clone()),
        call: logged,
        http_status: status.as_u16(),
    });
    // Logged above when it took effect; only the answer waits.
    let delay = inner.call_answer_delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    response
}

fn subscribe(inner: &Arc<Inner>, call: Call, stream_id: Option<String>) -> Response {
    let reject = |status: StatusCode, message: &str, call: Call| {
        inner.log.record(LogEntry::SchedulerCall {
            framework_id: call.framework_id.as_ref().map(|f| f.value.clone()),
            call,
            http_status: status.as_u16(),
        });
        text(status, message)
    };
    if stream_id.is_some() {
        return reject(
            StatusCode::BAD_REQUEST,
            "Subscribe calls should not include the 'Mesos-Stream-Id' header",
            call,
        );
    }
    let Some(info) = call.subscribe.as_ref().map(|s| s.framework_info.clone()) else {
        return reject(
            StatusCode::BAD_REQUEST,
            "Expecting 'subscribe' to be present",
            call,
        );
    };
    if let (Some(outer), Some(inner_id)) = (&call.framework_id, &info.id) {
        if outer.value != inner_id.value {
            return reject(
                StatusCode::BAD_REQUEST,
                "'framework_id' differs from 'subscribe.framework_info.id'",
                call,
            );
        }
    }
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let mut shared = inner.lock();
    let outcome = shared.core.subscribe(info, Instant::now());
    let response = match outcome {
        Ok(subscribed) => {
            inner.register_framework_stream(
                &mut shared,
                &subscribed.framework_id,
                &subscribed.stream_id,
                tx,
            );
            inner.apply(&mut shared);
            let mut response = stream_response(rx);
            if let Ok(v) = subscribed.stream_id.parse() {
                response.headers_mut().insert(STREAM_ID_HEADER, v);
            }
            response
        }
        Err(message) => {
            inner.apply(&mut shared);
            let framework_id = call
                .subscribe
                .as_ref()
                .and_then(|s| s.framework_info.id.as_ref())
                .map(|f| f.value.clone())
                .unwrap_or_default();
            let event = crate::core::error_event(&message);
            inner.send_framework_event(&tx, &framework_id, &event);
            // The stream ends right after the ERROR event.
            drop(tx);
            // Mesos names a stream id before it knows the SUBSCRIBE fails, so a scheduler
            // reads the ERROR as it reads any stream.
            let mut response = stream_response(rx);
            if let Ok(v) = uuid::Uuid::new_v4().to_string().parse() {
                response.headers_mut().insert(STREAM_ID_HEADER, v);
            }
            response
        }
    };
    drop(shared);
    inner.log.record(LogEntry::SchedulerCall {
        framework_id: call.framework_id.as_ref().map(|f| f.value.clone()),
        call,
        http_status: 200,
    });
    response
}

/// `None` when this listener leads; else the answer: 503 with no leader, or a 307 to the
/// leader's `path` (protocol-relative, as Mesos writes it).
fn not_leading(ctx: &Ctx, path: &str) -> Option<Response> {
    let inner = &ctx.inner;
    let leader = inner.lock().leader;
    match leader {
        None => Some(text(StatusCode::SERVICE_UNAVAILABLE, "No leader elected")),
        Some(l) if l != ctx.index => {
            let location = format!("//{}{path}", inner.master_addrs[l]);
            Some(
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(header::LOCATION, location)],
                )
                    .into_response(),
            )
        }
        Some(_) => None,
    }
}

/// The master operator API's calls the dev cluster answers (JSON bodies only): `TEARDOWN`,
/// worded and answered as a Mesos 1.12 master does.
#[derive(Deserialize)]
struct OperatorCall {
    r#type: Option<String>,
    teardown: Option<OperatorTeardown>,
}

#[derive(Deserialize)]
struct OperatorTeardown {
    framework_id: Option<IdValue>,
}

#[derive(Deserialize)]
struct IdValue {
    value: String,
}

async fn operator_api(State(ctx): State<Ctx>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refusal) = not_leading(&ctx, OPERATOR_PATH) {
        return refusal;
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.starts_with(PROTOBUF) {
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the dev cluster's operator API speaks application/json only (protobuf bodies are not modelled)",
        );
    }
    if !content_type.starts_with(JSON) {
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("Expecting 'Content-Type' of {JSON} or {PROTOBUF}"),
        );
    }
    let call: OperatorCall = match serde_json::from_slice(&body) {
        Ok(call) => call,
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                &format!("Failed to parse body into JSON: {e}"),
            )
        }
    };
    match call.r#type.as_deref() {
        Some("TEARDOWN") => {}
        None => {
            return text(
                StatusCode::BAD_REQUEST,
                "Failed to validate master::Call: Expecting 'type' to be present",
            )
        }
        Some(other) => {
            return text(
                StatusCode::NOT_IMPLEMENTED,
                &format!("the dev cluster's operator API models TEARDOWN only, not {other}"),
            )
        }
    }
    let Some(teardown) = call.teardown else {
        return text(
            StatusCode::BAD_REQUEST,
            "Failed to validate master::Call: Expecting 'teardown' to be present",
        );
    };
    let Some(framework_id) = teardown.framework_id.map(|id| id.value) else {
        return text(
            StatusCode::BAD_REQUEST,
            "Failed to convert JSON into Call protobuf: Missing required fields: teardown.framework_id",
        );
    };
    if ctx
        .inner
        .with_core(|core, now| core.teardown(&framework_id, now))
    {
        StatusCode::OK.into_response()
    } else {
        text(
            StatusCode::BAD_REQUEST,
            "No framework found with specified ID",
        )
    }
}

async fn operator_get() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, "POST")],
        "405 Method Not Allowed. Expecting one of { 'POST' }, but received 'GET'.",
    )
        .into_response()
}

async fn state(State(ctx): State<Ctx>) -> Response {
    let shared = ctx.inner.lock();
    let address = |i: usize| ctx.inner.master_addrs[i].to_string();
    let view = crate::state::MasterView {
        address: address(ctx.index),
        leader: shared.leader.map(address),
    };
    let json = crate::state::master_state(
        &shared.core,
        ctx.inner.tenant_load(),
        &view,
        &ctx.inner.wall_clock,
    );
    drop(shared);
    (
        [(header::CONTENT_TYPE, "application/json")],
        json.to_string(),
    )
        .into_response()
}

async fn log(State(ctx): State<Ctx>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        ctx.inner.log.to_json_lines(),
    )
        .into_response()
}

async fn agent_control(
    State(ctx): State<Ctx>,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    let found = ctx.inner.with_core(|core, now| match action.as_str() {
        "kill" => Some(core.kill_agent(&id, now)),
        "restart" => Some(core.restart_agent(&id, now)),
        "partition" => Some(core.partition_agent(&id, now)),
        "heal" => Some(core.heal_agent(&id, now)),
        _ => None,
    });
    match found {
        None => text(
            StatusCode::NOT_FOUND,
            &format!("unknown action '{action}' (kill, restart, partition, heal)"),
        ),
        Some(false) => text(StatusCode::NOT_FOUND, &format!("no agent '{id}'")),
        Some(true) => StatusCode::NO_CONTENT.into_response(),
    }
}

async fn drop_executor(
    State(ctx): State<Ctx>,
    Path((agent, executor)): Path<(String, String)>,
) -> Response {
    if ctx
        .inner
        .with_core(|core, _| core.drop_executor_connection(&agent, &executor))
    {
        StatusCode::NO_CONTENT.into_response()
    } else {
        text(StatusCode::NOT_FOUND, "no such executor on that agent")
    }
}

async fn drop_stream(State(ctx): State<Ctx>, Path(id): Path<String>) -> Response {
    if ctx.inner.drop_framework_stream(&id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        text(StatusCode::NOT_FOUND, "no connected framework with that id")
    }
}

#[derive(Deserialize)]
struct RestartQuery {
    #[serde(default = "yes")]
    keep_state: bool,
}

fn yes() -> bool {
    true
}

async fn restart_master(State(ctx): State<Ctx>, Query(q): Query<RestartQuery>) -> Response {
    ctx.inner.restart_master(q.keep_state);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct LeaderQuery {
    /// `0`, `1` or `none`.
    listener: String,
}

async fn leader(State(ctx): State<Ctx>, Query(q): Query<LeaderQuery>) -> Response {
    let leader = match q.listener.as_str() {
        "none" => None,
        "0" => Some(0),
        "1" => Some(1),
        other => {
            return text(
                StatusCode::BAD_REQUEST,
                &format!("listener '{other}': use 0, 1 or none"),
            )
        }
    };
    ctx.inner.set_leader(leader);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct UpdatesQuery {
    delay_ms: Option<u64>,
    duplicate: Option<bool>,
}

async fn updates(State(ctx): State<Ctx>, Query(q): Query<UpdatesQuery>) -> Response {
    ctx.inner
        .set_update_faults(q.delay_ms.map(Duration::from_millis), q.duplicate);
    StatusCode::NO_CONTENT.into_response()
}
