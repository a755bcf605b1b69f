//! The token on mutating requests: with `--api-token`, PUT, POST, DELETE and PATCH need
//! `Authorization: Bearer <token>`; reads stay open (health checks, dashboards).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// Middleware: refuses a mutating request without the token (401 with
/// `WWW-Authenticate: Bearer`), on any path, before routing decides 404 or 405.
pub(crate) async fn require(
    State(token): State<Arc<str>>,
    request: Request,
    next: Next,
) -> Response {
    if mutating(request.method()) && !authorized(&token, request.headers()) {
        return ApiError::Unauthorized.into_response();
    }
    next.run(request).await
}

fn mutating(method: &Method) -> bool {
    matches!(
        *method,
        Method::PUT | Method::POST | Method::DELETE | Method::PATCH
    )
}

fn authorized(token: &str, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_is_case_insensitive_and_needs_a_space() {
        assert_eq!(bearer_token("Bearer t0ken"), Some("t0ken"));
        assert_eq!(bearer_token("bEaReR  t0ken "), Some("t0ken"));
        assert_eq!(bearer_token("Basic t0ken"), None);
        assert_eq!(bearer_token("Bearert0ken"), None);
    }
}
