//! How the scheduler reaches the pipeline workers it runs (their `/v1/snapshot` for the page,
//! their `/metrics` for autoscaling): one HTTP client carrying their read token.

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};

/// A client that asks with `Authorization: Bearer <token>` (`--worker-read-token`), or plainly
/// without one. Only workers get it: masters must not see their token.
pub fn client(token: Option<&str>) -> reqwest::Client {
    let header = token.and_then(|token| {
        let mut value = HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
        value.set_sensitive(true);
        Some(value)
    });
    let builder = match header {
        Some(value) => reqwest::Client::builder()
            .default_headers(HeaderMap::from_iter([(AUTHORIZATION, value)])),
        None => reqwest::Client::builder(),
    };
    builder.build().unwrap_or_default()
}
