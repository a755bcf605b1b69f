//! The operator HTTP API (hyper, HTTP/1.1) and `/metrics`. Handlers never touch state: they
//! send an [`ApiRequest`] to the driver and wait for its answer, so every read is a
//! consistent snapshot and every write goes through the same persist-then-act path.
//!
//! With a token configured, every mutating request (PUT, POST) needs
//! `Authorization: Bearer <token>`; reads stay open (health checks, dashboards).

pub mod metrics;
pub mod page;
pub mod views;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::{Deserialize as _, Serialize};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use crate::driver::{ApiRequest, RequestError};

/// Largest request body accepted.
const MAX_BODY: usize = 64 * 1024;

struct Shared {
    token: Option<String>,
    driver: mpsc::Sender<ApiRequest>,
    page: page::PageSources,
}

/// Serves the API on `listener` until the task is dropped/aborted.
pub async fn serve(
    listener: TcpListener,
    token: Option<String>,
    driver: mpsc::Sender<ApiRequest>,
    page: page::PageSources,
) {
    let shared = Arc::new(Shared {
        token,
        driver,
        page,
    });
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "accepting an API connection failed");
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(&shared, req).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "API connection ended with an error");
            }
        });
    }
}

fn json(status: StatusCode, body: &impl Serialize) -> Response<Full<Bytes>> {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(bytes)))
        .unwrap_or_default()
}

fn error(status: StatusCode, message: impl Into<String>) -> Response<Full<Bytes>> {
    #[derive(Serialize)]
    struct ErrorBody {
        error: String,
    }
    json(
        status,
        &ErrorBody {
            error: message.into(),
        },
    )
}

fn authorized(shared: &Shared, req: &Request<Incoming>) -> bool {
    let Some(token) = &shared.token else {
        return true;
    };
    req.headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .is_some_and(|given| given == token)
}

/// The token of an `Authorization: Bearer <token>` value. The scheme is matched
/// case-insensitively, as RFC 7235 section 2.1 says, so `bearer` from curl scripts works.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Pod actions of `POST /v1/pods/{slot}/<action>`, for the 404 an unknown one gets.
const POD_ACTIONS: &str = "restart, replace";

async fn ask<T>(shared: &Shared, make: impl FnOnce(oneshot::Sender<T>) -> ApiRequest) -> Option<T> {
    let (tx, rx) = oneshot::channel();
    shared.driver.send(make(tx)).await.ok()?;
    rx.await.ok()
}

fn request_error(e: RequestError) -> Response<Full<Bytes>> {
    let status = match e {
        RequestError::UnknownGroup { .. } | RequestError::NoSuchPod(_) => StatusCode::NOT_FOUND,
        RequestError::CountTooLarge(_) => StatusCode::BAD_REQUEST,
    };
    error(status, e.to_string())
}

const UNAVAILABLE: &str = "the scheduler's driver is not running";

async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path: Vec<String> = req
        .uri()
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let segments: Vec<&str> = path.iter().map(String::as_str).collect();
    let method = req.method().clone();
    if matches!(
        method,
        Method::PUT | Method::POST | Method::DELETE | Method::PATCH
    ) && !authorized(shared, &req)
    {
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong `Authorization: Bearer <token>`",
        );
        response.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer"),
        );
        return response;
    }
    match (method, segments.as_slice()) {
        (Method::GET, ["v1", "health"]) => match ask(shared, ApiRequest::Health).await {
            Some(h) => json(StatusCode::OK, &h),
            None => error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
        },
        (Method::GET, ["v1", "state"]) => match ask(shared, ApiRequest::State).await {
            Some(s) => json(StatusCode::OK, &s),
            None => error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
        },
        (Method::GET, ["v1", "cluster" | "map"]) => match ask(shared, ApiRequest::State).await {
            Some(state) if segments[1] == "cluster" => shared.page.cluster(&state).await,
            Some(state) => shared.page.map(&state).await,
            None => error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
        },
        (Method::GET, ["v1", "page-config"]) => shared.page.config(),
        (Method::GET, [] | ["index.html" | "app.js" | "style.css"] | ["vendor", ..]) => {
            page::asset(req.uri().path()).unwrap_or_else(|| error(StatusCode::NOT_FOUND, "no such page asset"))
        }
        (Method::GET, ["v1", "plan"]) => match ask(shared, ApiRequest::Plan).await {
            Some(p) => json(StatusCode::OK, &p),
            None => error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
        },
        (Method::GET, ["v1", "debug", "offers"]) => match ask(shared, ApiRequest::DebugOffers).await {
            Some(o) => json(StatusCode::OK, &o),
            None => error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
        },
        (Method::GET, ["metrics"]) => match ask(shared, ApiRequest::Metrics).await {
            Some(text) => Response::builder()
                .header(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")
                .body(Full::new(Bytes::from(text)))
                .unwrap_or_default(),
            None => error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
        },
        (Method::PUT, ["v1", "groups", group, "count"]) => {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct CountBody {
                count: u32,
            }
            let group = group.to_string();
            let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                // Too large is the client's size, not its syntax: 413, naming the limit.
                Err(e) if e.is::<LengthLimitError>() => {
                    return error(StatusCode::PAYLOAD_TOO_LARGE, format!("body larger than the limit of {MAX_BODY} bytes (64 KiB)"))
                }
                Err(e) => return error(StatusCode::BAD_REQUEST, format!("cannot read body: {e}")),
            };
            const EXPECTED: &str = "body must be the JSON object {\"count\": N} with N a whole number >= 0";
            // Parsed as a value first: serde would also fill the struct from an array (`[1]`),
            // a form nobody documented.
            let count = match serde_json::from_slice::<serde_json::Value>(&body) {
                Ok(value @ serde_json::Value::Object(_)) => match CountBody::deserialize(value) {
                    Ok(b) => b.count,
                    Err(e) => return error(StatusCode::BAD_REQUEST, format!("{EXPECTED}: {e}")),
                },
                Ok(other) => {
                    let got = match other {
                        serde_json::Value::Array(_) => "an array",
                        serde_json::Value::Number(_) => "a bare number",
                        serde_json::Value::String(_) => "a string",
                        serde_json::Value::Bool(_) => "a boolean",
                        _ => "null",
                    };
                    return error(StatusCode::BAD_REQUEST, format!("{EXPECTED}, got {got}"));
                }
                Err(e) => return error(StatusCode::BAD_REQUEST, format!("{EXPECTED}: {e}")),
            };
            match ask(shared, |reply| ApiRequest::SetCount { group, count, reply }).await {
                Some(Ok(())) => json(StatusCode::OK, &serde_json::json!({ "count": count })),
                Some(Err(e)) => request_error(e),
                None => error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
            }
        }
        (Method::POST, ["v1", "pods", slot, verb @ ("restart" | "replace")]) => {
            let slot = slot.to_string();
            let replace = *verb == "replace";
            match ask(shared, |reply| ApiRequest::Restart { slot: slot.clone(), replace, reply }).await {
                Some(Ok(())) => json(StatusCode::ACCEPTED, &serde_json::json!({ "slot": slot, "action": verb })),
                Some(Err(e)) => request_error(e),
                None => error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
            }
        }
        (_, ["v1", "health" | "state" | "plan"] | ["v1", "debug", "offers"] | ["metrics"] | ["v1", "groups", _, "count"] | ["v1", "pods", _, "restart" | "replace"]) => {
            error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this path")
        }
        // An unknown action is a path that does not exist, whatever the method.
        (_, ["v1", "pods", _, action]) => {
            error(StatusCode::NOT_FOUND, format!("no pod action {action:?}; actions: {POD_ACTIONS}"))
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "no such endpoint; see GET /, /v1/health, /v1/state, /v1/cluster, /v1/map, /v1/page-config, /v1/plan, /v1/debug/offers, /metrics, PUT /v1/groups/{group}/count, POST /v1/pods/{slot}/restart|replace",
        ),
    }
}
