//! HTTP adapters: the master's and the agents' endpoints. Thin: decode, ask the core, encode.

pub(crate) mod agent;
pub(crate) mod master;

use std::convert::Infallible;

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt as _;
use mesos_proto::http::{JSON, PROTOBUF};

/// A plain-text response.
pub(crate) fn text(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message.to_string(),
    )
        .into_response()
}

/// A call body as both APIs take it: the content type checked, then the protobuf decoded;
/// `Err` is the answer to send instead, as Mesos words it (boxed: a response is large).
pub(crate) fn decode_call<M: prost::Message + Default>(
    headers: &HeaderMap,
    body: Bytes,
) -> Result<M, Box<Response>> {
    if let Some(refusal) = check_content_type(headers) {
        return Err(Box::new(refusal));
    }
    M::decode(body).map_err(|e| {
        Box::new(text(
            StatusCode::BAD_REQUEST,
            &format!("Failed to parse body into Call protobuf: {e}"),
        ))
    })
}

/// Only protobuf bodies are modelled; JSON gets a 415 that says so. `Some` = refuse with it.
fn check_content_type(headers: &HeaderMap) -> Option<Response> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(PROTOBUF);
    if content_type.starts_with(PROTOBUF) {
        None
    } else if content_type.starts_with(JSON) {
        Some(text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the dev cluster speaks application/x-protobuf only (JSON bodies are not modelled)",
        ))
    } else {
        Some(text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("Expecting 'Content-Type' of {PROTOBUF}, got '{content_type}'"),
        ))
    }
}

/// A `200 OK` chunked RecordIO stream fed by `rx`; it ends when every sender is dropped.
pub(crate) fn stream_response(rx: futures::channel::mpsc::UnboundedReceiver<Bytes>) -> Response {
    let body = Body::from_stream(rx.map(Ok::<Bytes, Infallible>));
    (StatusCode::OK, [(header::CONTENT_TYPE, PROTOBUF)], body).into_response()
}
