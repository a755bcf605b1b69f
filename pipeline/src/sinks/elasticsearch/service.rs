//! The HTTP side of the sink: sends `_bulk` and template requests and reads their answers.

use serde::Deserialize;
use serde_json::{json, Value};

use super::config::{Credentials, ElasticsearchConfig};
use super::retry::is_retryable;
use crate::sinks::indices;

/// Why a request as a whole did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum RequestFailure {
    /// No answer: connection refused, reset, timed out.
    #[error("request failed: {0}")]
    Transport(#[from] reqwest::Error),
    /// An HTTP error status.
    #[error("status {status}: {body}")]
    Status {
        /// The status code.
        status: u16,
        /// The start of the body, for the log.
        body: String,
    },
    /// A 2xx answer that is not a bulk response (e.g. a proxy's page).
    #[error("unreadable bulk response: {0}")]
    Unreadable(String),
}

impl RequestFailure {
    /// Whether sending the same request later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            RequestFailure::Transport(_) | RequestFailure::Unreadable(_) => true,
            RequestFailure::Status { status, .. } => is_retryable(*status),
        }
    }
}

/// What became of one document of a bulk request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Indexed.
    Written,
    /// Refused for now (429, 5xx): send again.
    Retry,
    /// Refused for good, with Elasticsearch's reason.
    Rejected(String),
}

#[derive(Deserialize)]
struct BulkResponse {
    items: Vec<std::collections::HashMap<String, BulkItem>>,
}

#[derive(Deserialize)]
struct BulkItem {
    status: u16,
    #[serde(default)]
    error: Option<Value>,
}

/// Reads a `_bulk` response: one outcome per document sent, in order.
pub fn parse_bulk_response(body: &[u8], sent: usize) -> Result<Vec<ItemOutcome>, RequestFailure> {
    let response: BulkResponse =
        serde_json::from_slice(body).map_err(|err| RequestFailure::Unreadable(err.to_string()))?;
    if response.items.len() != sent {
        return Err(RequestFailure::Unreadable(format!(
            "{} items for {sent} documents",
            response.items.len()
        )));
    }
    Ok(response
        .items
        .into_iter()
        .map(|item| match item.into_values().next() {
            Some(item) if (200..300).contains(&item.status) => ItemOutcome::Written,
            Some(item) if is_retryable(item.status) => ItemOutcome::Retry,
            Some(item) => ItemOutcome::Rejected(item.error.map_or_else(
                || format!("status {}", item.status),
                |error| error.to_string(),
            )),
            None => ItemOutcome::Retry,
        })
        .collect())
}

/// The index templates: mappings that make `location` (and predictions) `geo_point`s and times
/// dates, so maps and time filters work on the documents.
pub fn index_templates() -> Vec<(&'static str, Value)> {
    let date = json!({ "type": "date", "format": "epoch_millis" });
    let keyword = json!({ "type": "keyword" });
    let geo_point = json!({ "type": "geo_point" });
    let vehicle_mappings = json!({
        "properties": {
            "vehicle_id": keyword, "timestamp_ms": date, "location": geo_point,
            "tile": keyword, "motion": keyword,
            "predictions": { "properties": {
                "dead_reckoning": geo_point, "tile_speed": geo_point, "kalman": geo_point
            } }
        }
    });
    let template = |index: &str, mappings: Value| json!({ "index_patterns": [format!("{index}*")], "template": { "mappings": mappings } });
    vec![
        (
            indices::VEHICLES,
            template(indices::VEHICLES, vehicle_mappings.clone()),
        ),
        (
            indices::VEHICLE_HISTORY,
            template(indices::VEHICLE_HISTORY, vehicle_mappings),
        ),
        (
            indices::TILES,
            template(
                indices::TILES,
                json!({ "properties": {
                    "tile": keyword, "location": geo_point,
                    "window_start_ms": date, "window_end_ms": date
                } }),
            ),
        ),
        (
            indices::ALERTS,
            template(
                indices::ALERTS,
                json!({ "properties": {
                    "vehicle_id": keyword, "geofence": keyword, "crossing": keyword,
                    "timestamp_ms": date, "location": geo_point
                } }),
            ),
        ),
    ]
}

/// Sends requests to one cluster.
#[derive(Debug, Clone)]
pub struct BulkService {
    client: reqwest::Client,
    config: ElasticsearchConfig,
}

impl BulkService {
    /// A service for `config`.
    pub fn new(config: ElasticsearchConfig) -> Self {
        Self {
            client: reqwest::Client::new(),
            config,
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.client.request(method, self.config.endpoint(path));
        match &self.config.credentials {
            Credentials::None => request,
            Credentials::Basic { username, password } => {
                request.basic_auth(username, Some(password))
            }
            Credentials::ApiKey(key) => request.header("authorization", format!("ApiKey {key}")),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<bytes::Bytes, RequestFailure> {
        let response = request.send().await?;
        let status = response.status().as_u16();
        let body = response.bytes().await?;
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            let body = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
            Err(RequestFailure::Status { status, body })
        }
    }

    /// Sends a bulk body holding `sent` documents.
    pub async fn bulk(
        &self,
        body: Vec<u8>,
        sent: usize,
    ) -> Result<Vec<ItemOutcome>, RequestFailure> {
        let request = self
            .request(reqwest::Method::POST, "_bulk")
            .header("content-type", "application/x-ndjson")
            .body(body);
        let answer = self.send(request).await?;
        parse_bulk_response(&answer, sent)
    }

    /// Creates or updates one index template.
    /// Whether the index template `name` exists: an Elasticsearch that still has it still has
    /// what was written into it.
    pub async fn template_exists(&self, name: &str) -> Result<bool, RequestFailure> {
        let request = self.request(reqwest::Method::GET, &format!("_index_template/{name}"));
        match self.send(request).await {
            Ok(_) => Ok(true),
            Err(RequestFailure::Status { status: 404, .. }) => Ok(false),
            Err(failure) => Err(failure),
        }
    }

    pub async fn put_template(&self, name: &str, template: &Value) -> Result<(), RequestFailure> {
        let request = self
            .request(reqwest::Method::PUT, &format!("_index_template/{name}"))
            .json(template);
        self.send(request).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_bulk_items_into_written_retry_and_rejected() {
        let body = br#"{"took":3,"errors":true,"items":[
            {"index":{"_index":"a","_id":"1","status":201}},
            {"index":{"_index":"a","_id":"2","status":429,"error":{"type":"es_rejected_execution_exception"}}},
            {"index":{"_index":"a","_id":"3","status":400,"error":{"type":"mapper_parsing_exception","reason":"bad"}}},
            {"index":{"_index":"a","_id":"4","status":503}}
        ]}"#;
        let outcomes = parse_bulk_response(body, 4).unwrap();
        assert_eq!(outcomes[0], ItemOutcome::Written);
        assert_eq!(outcomes[1], ItemOutcome::Retry);
        assert!(
            matches!(&outcomes[2], ItemOutcome::Rejected(reason) if reason.contains("mapper_parsing_exception"))
        );
        assert_eq!(outcomes[3], ItemOutcome::Retry);
    }

    #[test]
    fn a_short_or_foreign_answer_is_unreadable_and_retryable() {
        let short = parse_bulk_response(br#"{"items":[]}"#, 1).unwrap_err();
        assert!(short.is_retryable());
        assert!(parse_bulk_response(b"<html>", 1).is_err());
        assert!(!RequestFailure::Status {
            status: 401,
            body: String::new()
        }
        .is_retryable());
    }

    #[test]
    fn templates_map_locations_as_geo_points() {
        let templates = index_templates();
        assert_eq!(templates.len(), 4);
        for (name, template) in templates {
            assert_eq!(template["index_patterns"][0], format!("{name}*"));
            assert_eq!(
                template["template"]["mappings"]["properties"]["location"]["type"],
                "geo_point"
            );
        }
    }
}
