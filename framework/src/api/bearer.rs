//! Tokens on requests. With `--api-token`, PUT, POST, DELETE and PATCH need
//! `Authorization: Bearer <token>`. With `--read-token`, reads need it too (that token or the
//! write token), except the health check Marathon and Mesos ask without credentials and the
//! page's static files, which hold no data.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use cartrack_runtime::bearer::{bearer_token, same_token};

use super::error::ApiError;
use super::ApiTokens;

/// Middleware: refuses a request without the token it needs (401 with
/// `WWW-Authenticate: Bearer`), on any path, before routing decides 404 or 405.
pub(crate) async fn require(
    State(tokens): State<Arc<ApiTokens>>,
    request: Request,
    next: Next,
) -> Response {
    let given = given_token(request.headers());
    let allowed = if mutating(request.method()) {
        tokens.write.as_deref().is_none_or(|t| matches(given, t))
    } else {
        open_to_all(request.uri().path())
            || match (&tokens.read, &tokens.write) {
                (None, _) => true,
                (Some(read), write) => {
                    matches(given, read) || write.as_deref().is_some_and(|w| matches(given, w))
                }
            }
    };
    if !allowed {
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

/// Reads that stay open with a read token: health checks come without credentials, and the
/// page's files hold no data (the page sends the token on its own requests).
fn open_to_all(path: &str) -> bool {
    matches!(
        path,
        "/v1/health" | "/" | "/index.html" | "/app.js" | "/style.css"
    ) || path.starts_with("/vendor/")
}

fn matches(given: Option<&str>, token: &str) -> bool {
    given.is_some_and(|given| same_token(given, token))
}

fn given_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_health_check_and_the_page_files_stay_open() {
        for path in ["/v1/health", "/", "/app.js", "/vendor/leaflet/leaflet.js"] {
            assert!(open_to_all(path), "{path}");
        }
        for path in [
            "/v1/state",
            "/v1/map",
            "/metrics",
            "/v1/health/x",
            "/vendorx",
        ] {
            assert!(!open_to_all(path), "{path}");
        }
    }

    #[test]
    fn no_token_matches_nothing() {
        assert!(matches(Some("t0ken"), "t0ken"));
        assert!(!matches(None, "t0ken"));
    }
}
