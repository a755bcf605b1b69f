//! An agent's `POST /api/v1/executor`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use mesos_proto::http::EXECUTOR_PATH;
use mesos_proto::v1::executor::{call, Call};

use super::{decode_call, stream_response, text};
use crate::cluster::Inner;
use crate::log::LogEntry;

#[derive(Clone)]
struct Ctx {
    inner: Arc<Inner>,
    agent_id: String,
}

/// The router of one agent's listener.
pub(crate) fn router(inner: Arc<Inner>, agent_id: String) -> Router {
    Router::new()
        .route(EXECUTOR_PATH, post(executor_api))
        .with_state(Ctx { inner, agent_id })
}

async fn executor_api(State(ctx): State<Ctx>, headers: HeaderMap, body: Bytes) -> Response {
    let inner = &ctx.inner;
    let call: Call = match decode_call(&headers, body) {
        Ok(call) => call,
        Err(refusal) => return *refusal,
    };
    let executor_id = call.executor_id.value.clone();
    let framework_id = call.framework_id.value.clone();
    let logged = call.clone();
    let (status, response) = if call.r#type() == call::Type::Subscribe {
        let key = (ctx.agent_id.clone(), framework_id, executor_id.clone());
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let mut shared = inner.lock();
        let up = shared.core.agents.get(&ctx.agent_id).is_some_and(|a| a.up);
        if !up {
            drop(shared);
            (
                StatusCode::SERVICE_UNAVAILABLE,
                text(StatusCode::SERVICE_UNAVAILABLE, "Agent is not running"),
            )
        } else {
            Inner::register_executor_stream(&mut shared, key.clone(), tx);
            match shared
                .core
                .executor_subscribe(&ctx.agent_id, &call, Instant::now())
            {
                Ok(()) => {
                    inner.apply(&mut shared);
                    (StatusCode::OK, stream_response(rx))
                }
                Err(e) => {
                    Inner::unregister_executor_stream(&mut shared, &key);
                    inner.apply(&mut shared);
                    (StatusCode::BAD_REQUEST, text(StatusCode::BAD_REQUEST, &e.0))
                }
            }
        }
    } else {
        let outcome = inner.with_core(|core, now| {
            if core.agents.get(&ctx.agent_id).is_some_and(|a| a.up) {
                core.executor_call(&ctx.agent_id, call, now)
                    .map_err(|e| (StatusCode::BAD_REQUEST, e.0))
            } else {
                Err((
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Agent is not running".to_string(),
                ))
            }
        });
        match outcome {
            Ok(()) => (StatusCode::ACCEPTED, StatusCode::ACCEPTED.into_response()),
            Err((status, message)) => (status, text(status, &message)),
        }
    };
    inner.log.record(LogEntry::ExecutorCall {
        agent_id: ctx.agent_id.clone(),
        executor_id,
        call: logged,
        http_status: status.as_u16(),
    });
    response
}
