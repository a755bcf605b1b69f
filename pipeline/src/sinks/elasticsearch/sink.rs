//! The sink loop: bulk-index a batch, resend what was refused for now, give up only on what
//! was refused for good.

use super::config::ElasticsearchConfig;
use super::request_builder::bulk_body;
use super::retry::Backoff;
use super::service::{index_templates, BulkService, ItemOutcome, RequestFailure};
use crate::sinks::{indices, Document, RejectedDocument, Sink, SinkError, WriteSummary};

/// Writes batches into Elasticsearch or OpenSearch.
#[derive(Debug)]
pub struct ElasticsearchSink {
    service: BulkService,
    backoff: Backoff,
}

impl ElasticsearchSink {
    /// A sink for the cluster in `config`.
    pub fn new(config: ElasticsearchConfig) -> Self {
        Self {
            service: BulkService::new(config),
            backoff: Backoff::default(),
        }
    }

    /// Installs the index templates, waiting for the cluster if it is not up yet.
    pub async fn install_templates(&mut self) -> Result<(), SinkError> {
        for (name, template) in index_templates() {
            loop {
                match self.service.put_template(name, &template).await {
                    Ok(()) => break,
                    Err(failure) if failure.is_retryable() => {
                        tracing::warn!(template = name, %failure, "elasticsearch unavailable; retrying");
                    }
                    Err(failure) => return Err(refused("installing index templates", failure)),
                }
                tokio::time::sleep(self.backoff.next_delay()).await;
            }
            self.backoff.reset();
        }
        Ok(())
    }
}

impl ElasticsearchSink {
    /// Checks, before each bulk request, that the store still has the index templates. A store
    /// without them has lost everything (it restarted empty, as an in-memory one does, or was
    /// wiped): the templates go back in before any document (so the indices get their
    /// mappings again), and the caller learns it must re-send what it wrote before.
    ///
    /// One small request per batch buys that a restart is never missed, even one between two
    /// batches that no failed request revealed.
    async fn reinstall_if_reset(&mut self) -> Result<bool, RequestFailure> {
        if self
            .service
            .template_exists(indices::VEHICLE_HISTORY)
            .await?
        {
            return Ok(false);
        }
        tracing::warn!("elasticsearch has lost the index templates (restarted empty?): installing them again; everything indexed before will be sent again");
        for (name, template) in index_templates() {
            self.service.put_template(name, &template).await?;
        }
        Ok(true)
    }
}

fn refused(what: &'static str, failure: RequestFailure) -> SinkError {
    match failure {
        RequestFailure::Status { status, body } => SinkError::Refused { what, status, body },
        other => SinkError::Refused {
            what,
            status: 0,
            body: other.to_string(),
        },
    }
}

impl Sink for ElasticsearchSink {
    async fn write(&mut self, batch: &[Document]) -> Result<WriteSummary, SinkError> {
        let mut summary = WriteSummary::default();
        let mut pending: Vec<&Document> = batch.iter().collect();
        while !pending.is_empty() {
            let outcomes = match self.reinstall_if_reset().await {
                Ok(reset) => {
                    summary.store_was_reset |= reset;
                    let mut body = Vec::with_capacity(pending.iter().map(|d| d.size()).sum());
                    bulk_body(pending.iter().copied(), &mut body);
                    self.service.bulk(body, pending.len()).await
                }
                Err(failure) => Err(failure),
            };
            match outcomes {
                Ok(outcomes) => {
                    let mut retry = Vec::new();
                    for (document, outcome) in pending.into_iter().zip(outcomes) {
                        match outcome {
                            ItemOutcome::Written => summary.written += 1,
                            ItemOutcome::Retry => retry.push(document),
                            ItemOutcome::Rejected(reason) => {
                                tracing::error!(index = document.index, id = %document.id, %reason, "document rejected");
                                summary.rejected.push(RejectedDocument {
                                    index: document.index,
                                    id: document.id.clone(),
                                    reason,
                                });
                            }
                        }
                    }
                    pending = retry;
                    if pending.is_empty() {
                        break;
                    }
                    tracing::warn!(
                        retrying = pending.len(),
                        "elasticsearch pushed back on some documents"
                    );
                }
                Err(failure) if failure.is_retryable() => {
                    tracing::warn!(%failure, "bulk request failed; retrying");
                }
                Err(failure) => return Err(refused("a bulk request", failure)),
            }
            tokio::time::sleep(self.backoff.next_delay()).await;
        }
        self.backoff.reset();
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    use axum::routing::{get, post};
    use axum::Router;
    use bytes::Bytes;

    use super::*;

    type Templates = Arc<Mutex<std::collections::BTreeSet<String>>>;

    /// A fake cluster answering `_bulk` with scripted responses and recording the bodies; it
    /// has the index templates.
    async fn fake_cluster(script: Vec<(u16, String)>) -> (String, Arc<Mutex<Vec<String>>>) {
        let templates = index_templates()
            .into_iter()
            .map(|(name, _)| name.to_owned());
        let (url, bodies, _) = fake_cluster_with(script, templates.collect()).await;
        (url, bodies)
    }

    /// [`fake_cluster`] holding the templates `templates`, which it lets the caller watch.
    async fn fake_cluster_with(
        script: Vec<(u16, String)>,
        templates: std::collections::BTreeSet<String>,
    ) -> (String, Arc<Mutex<Vec<String>>>, Templates) {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script.into_iter()));
        let templates = Arc::new(Mutex::new(templates));
        let state = (bodies.clone(), script, templates.clone());
        type Shared = (
            Arc<Mutex<Vec<String>>>,
            Arc<Mutex<std::vec::IntoIter<(u16, String)>>>,
            Templates,
        );
        async fn get_template(
            State((_, _, templates)): State<Shared>,
            Path(name): Path<String>,
        ) -> StatusCode {
            if templates.lock().unwrap().contains(&name) {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            }
        }
        async fn put_template(
            State((_, _, templates)): State<Shared>,
            Path(name): Path<String>,
        ) -> StatusCode {
            templates.lock().unwrap().insert(name);
            StatusCode::OK
        }
        async fn bulk(
            State((bodies, script, _)): State<Shared>,
            body: String,
        ) -> (StatusCode, String) {
            bodies.lock().unwrap().push(body);
            let (status, answer) = script
                .lock()
                .unwrap()
                .next()
                .unwrap_or((500, "exhausted".into()));
            (StatusCode::from_u16(status).unwrap(), answer)
        }
        let app = Router::new()
            .route("/_bulk", post(bulk))
            .route(
                "/_index_template/{name}",
                get(get_template).put(put_template),
            )
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{address}"), bodies, templates)
    }

    fn documents() -> Vec<Document> {
        ["a", "b", "c"]
            .into_iter()
            .map(|id| Document {
                index: "cartrack-vehicles",
                id: id.into(),
                source: Bytes::from_static(b"{}"),
            })
            .collect()
    }

    fn items(statuses: &[u16]) -> String {
        let items: Vec<_> = statuses
            .iter()
            .map(|status| serde_json::json!({"index": {"status": status, "error": if *status >= 300 { serde_json::json!({"type": "x"}) } else { serde_json::Value::Null }}}))
            .collect();
        serde_json::json!({ "errors": true, "items": items }).to_string()
    }

    #[tokio::test]
    async fn retries_overload_and_failed_items_and_reports_refused_ones() {
        let (url, bodies) = fake_cluster(vec![
            (429, "{}".into()),
            (200, items(&[201, 429, 400])),
            (200, items(&[200])),
        ])
        .await;
        let mut sink = ElasticsearchSink::new(ElasticsearchConfig::new(&url, None).unwrap());
        sink.backoff = Backoff::new(
            std::time::Duration::from_millis(1),
            std::time::Duration::from_millis(2),
        );
        let summary = sink.write(&documents()).await.unwrap();
        assert_eq!(summary.written, 2);
        assert_eq!(summary.rejected.len(), 1);
        assert_eq!(summary.rejected[0].id, "c");
        let bodies = bodies.lock().unwrap();
        assert_eq!(bodies.len(), 3);
        assert_eq!(bodies[0].lines().count(), 6);
        assert_eq!(
            bodies[2].lines().count(),
            2,
            "only the retried document is resent"
        );
        assert!(bodies[2].contains("\"_id\":\"b\""));
    }

    #[tokio::test]
    async fn stops_on_a_refused_request() {
        let (url, _) = fake_cluster(vec![(401, "unauthorized".into())]).await;
        let mut sink = ElasticsearchSink::new(ElasticsearchConfig::new(&url, None).unwrap());
        let err = sink.write(&documents()).await.unwrap_err();
        assert!(
            matches!(err, SinkError::Refused { status: 401, .. }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_store_that_lost_its_templates_gets_them_back_and_is_reported_reset() {
        let (url, bodies, templates) = fake_cluster_with(
            vec![
                (200, items(&[201, 201, 201])),
                (200, items(&[200, 200, 200])),
            ],
            Default::default(),
        )
        .await;
        let mut sink = ElasticsearchSink::new(ElasticsearchConfig::new(&url, None).unwrap());
        let summary = sink.write(&documents()).await.unwrap();
        assert!(summary.store_was_reset);
        assert_eq!(summary.written, 3);
        assert_eq!(templates.lock().unwrap().len(), index_templates().len());
        assert_eq!(
            bodies.lock().unwrap().len(),
            1,
            "templates first, then the batch"
        );

        let summary = sink.write(&documents()).await.unwrap();
        assert!(!summary.store_was_reset, "the templates are still there");
    }
}
