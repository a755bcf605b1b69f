//! `GET /v1/report/utilisation?since=<seconds ago>`: the multiplexing report over the kept
//! utilisation samples (all of them without `since`).

use axum::extract::{RawQuery, State};
use axum::Json;

use super::error::ApiError;
use super::Api;
use crate::report::Report;

/// `since=<seconds>`, a whole number or a decimal; anything else is refused naming the query.
fn since_seconds(query: Option<&str>) -> Result<Option<f64>, ApiError> {
    let mut since = None;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let bad = || {
            ApiError::BadBody(format!(
                "query {pair:?}: takes since=<seconds ago>, a number > 0, e.g. since=3600"
            ))
        };
        match pair.split_once('=') {
            Some(("since", value)) => match value.parse::<f64>() {
                Ok(seconds) if seconds.is_finite() && seconds > 0.0 => since = Some(seconds),
                _ => return Err(bad()),
            },
            _ => return Err(bad()),
        }
    }
    Ok(since)
}

/// The period's start: `since` seconds before `now_ms` (the epoch, for more than there is).
fn from_ms(since: Option<f64>, now_ms: u64) -> Option<u64> {
    since.map(|seconds| now_ms.saturating_sub((seconds * 1000.0).min(u64::MAX as f64) as u64))
}

pub(super) async fn utilisation(
    State(api): State<Api>,
    RawQuery(query): RawQuery,
) -> Result<Json<Report>, ApiError> {
    let since = since_seconds(query.as_deref())?;
    let now_ms = crate::driver::now_ms();
    Ok(Json(
        api.page.report().report(from_ms(since, now_ms), now_ms),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_seconds_ago_and_anything_else_is_refused() {
        assert_eq!(since_seconds(None).ok(), Some(None));
        assert_eq!(since_seconds(Some("since=3600")).ok(), Some(Some(3600.0)));
        assert_eq!(from_ms(Some(1.5), 10_000), Some(8_500));
        assert_eq!(from_ms(Some(1e300), 10_000), Some(0));
        assert_eq!(from_ms(None, 10_000), None);
        for bad in ["since=soon", "since=-1", "since=0", "until=3", "since"] {
            let err = since_seconds(Some(bad)).err().map(|e| e.to_string());
            assert!(
                err.as_deref()
                    .is_some_and(|e| e.contains("since=<seconds ago>")),
                "{bad}: {err:?}"
            );
        }
    }
}
