//! Typed extractors whose refusals are [`ApiError`]s, so every refusal is the API's JSON
//! rather than axum's plain-text rejection.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::error::ApiError;

/// A path parameter (percent-decoded).
#[derive(Debug)]
pub(crate) struct Param<T>(pub(crate) T);

impl<S, T> FromRequestParts<S> for Param<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(value) = Path::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// The body of `PUT /v1/groups/{group}/count`: exactly `{"count": N}`, within the router's
/// body limit.
#[derive(Debug)]
pub(crate) struct CountBody(pub(crate) u32);

impl<S: Send + Sync> FromRequest<S> for CountBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let body = read_body(request, state).await?;
        parse_count(&body).map(Self).map_err(ApiError::BadBody)
    }
}

/// A JSON body of type `T`, within the router's body limit; what is wrong with it is a 400
/// naming the field.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let body = read_body(request, state).await?;
        serde_json::from_slice(&body).map(Self).map_err(|e| {
            ApiError::BadBody(format!("body is not the JSON this endpoint takes: {e}"))
        })
    }
}

async fn read_body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::BodyTooLarge,
            _ => ApiError::BadBody(format!("cannot read body: {}", rejection.body_text())),
        })
}

const EXPECTED: &str = "body must be the JSON object {\"count\": N} with N a whole number >= 0";

/// The count of a `{"count": N}` body, or what is wrong with it.
pub fn parse_count(body: &[u8]) -> Result<u32, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Count {
        count: u32,
    }
    // Parsed as a value first: serde would also fill the struct from an array (`[1]`), a form
    // nobody documented.
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value @ serde_json::Value::Object(_)) => Count::deserialize(value)
            .map(|c| c.count)
            .map_err(|e| format!("{EXPECTED}: {e}")),
        Ok(other) => {
            let got = match other {
                serde_json::Value::Array(_) => "an array",
                serde_json::Value::Number(_) => "a bare number",
                serde_json::Value::String(_) => "a string",
                serde_json::Value::Bool(_) => "a boolean",
                serde_json::Value::Null => "null",
                serde_json::Value::Object(_) => "an object",
            };
            Err(format!("{EXPECTED}, got {got}"))
        }
        Err(e) => Err(format!("{EXPECTED}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_object_form_is_a_count() {
        assert_eq!(parse_count(b"{\"count\": 3}"), Ok(3));
        for (body, named) in [
            ("[1]", "got an array"),
            ("1", "got a bare number"),
            ("\"1\"", "got a string"),
            ("true", "got a boolean"),
            ("null", "got null"),
            ("{\"count\": -1}", "invalid value"),
            ("{\"count\": 1, \"extra\": 2}", "unknown field `extra`"),
            ("{", "EOF"),
        ] {
            let message = parse_count(body.as_bytes()).expect_err(body);
            assert!(message.starts_with(EXPECTED), "{body}: {message}");
            assert!(message.contains(named), "{body}: {message}");
        }
    }
}
