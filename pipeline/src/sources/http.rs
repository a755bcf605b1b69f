//! `POST /v1/positions`: real devices (or gateways) send JSON lines, one position each; the
//! answer comes once Kafka has them, so a device can resend on failure.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::{admit, count_unparsable, Batch};
use crate::metrics::Metrics;
use crate::model::Position;
use crate::validate::{Limits, Reject};
use crate::wall_clock_ms;

/// The source name in metrics.
pub const SOURCE: &str = "http";

/// What the intake needs to handle a request.
#[derive(Debug, Clone)]
pub struct Intake {
    /// Where admitted positions go.
    pub batches: mpsc::Sender<Batch>,
    /// Validation bounds.
    pub limits: Limits,
    /// Counters.
    pub metrics: Metrics,
}

/// The answer to a post.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct IntakeReport {
    /// Positions accepted and acknowledged by Kafka.
    pub accepted: usize,
    /// Lines refused, by reason.
    pub rejected: BTreeMap<&'static str, usize>,
}

/// Parses a JSON-lines body: the positions that parse, and the reject for each line that does not.
pub fn parse_lines(body: &str) -> (Vec<Position>, Vec<Reject>) {
    let mut positions = Vec::new();
    let mut rejects = Vec::new();
    for line in body.lines().map(str::trim).filter(|line| !line.is_empty()) {
        match serde_json::from_str::<Position>(line) {
            Ok(position) => positions.push(position),
            Err(_) => rejects.push(Reject::Malformed),
        }
    }
    (positions, rejects)
}

/// The route, to merge into the ingest HTTP server.
pub fn router(intake: Intake) -> Router {
    Router::new()
        .route("/v1/positions", post(receive))
        .with_state(intake)
}

async fn receive(State(intake): State<Intake>, body: String) -> (StatusCode, Json<IntakeReport>) {
    let (parsed, unparsable) = parse_lines(&body);
    let mut report = IntakeReport::default();
    for reject in unparsable {
        count_unparsable(&intake.metrics, SOURCE, reject);
        *report.rejected.entry(reject.label()).or_default() += 1;
    }
    let now_ms = wall_clock_ms();
    let (admitted, invalid) = admit(parsed, SOURCE, &intake.limits, now_ms, &intake.metrics);
    for reject in invalid {
        *report.rejected.entry(reject.label()).or_default() += 1;
    }
    if admitted.is_empty() {
        return (StatusCode::OK, Json(report));
    }
    let count = admitted.len();
    let (delivered, acknowledged) = oneshot::channel();
    let batch = Batch {
        source: SOURCE,
        positions: admitted,
        delivered: Some(delivered),
    };
    let outcome = match intake.batches.send(batch).await {
        Ok(()) => acknowledged
            .await
            .unwrap_or_else(|_| Err("ingest is shutting down".into())),
        Err(_) => Err("ingest is shutting down".into()),
    };
    match outcome {
        Ok(()) => {
            report.accepted = count;
            (StatusCode::OK, Json(report))
        }
        Err(error) => {
            tracing::warn!(%error, "positions not acknowledged by Kafka");
            (StatusCode::SERVICE_UNAVAILABLE, Json(report))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves the intake on 127.0.0.1 with a fake producer that acknowledges batches with
    /// `outcome`; returns the URL and the batches it received.
    async fn serve(outcome: Result<(), String>) -> (String, mpsc::Receiver<Vec<Position>>) {
        let (batches, mut incoming) = mpsc::channel::<Batch>(4);
        let (seen, received) = mpsc::channel(4);
        tokio::spawn(async move {
            while let Some(batch) = incoming.recv().await {
                let _ = seen.send(batch.positions).await;
                if let Some(delivered) = batch.delivered {
                    let _ = delivered.send(outcome.clone());
                }
            }
        });
        let intake = Intake {
            batches,
            limits: Limits::default(),
            metrics: Metrics::new("ingest", &[]),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1/positions", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router(intake)).await });
        (url, received)
    }

    fn body() -> String {
        let now = wall_clock_ms();
        format!(
            "{{\"vehicle_id\":\"a\",\"timestamp_ms\":{now},\"lat\":40.7,\"lon\":-73.9}}\nnope\n{{\"vehicle_id\":\"b\",\"timestamp_ms\":{now},\"lat\":91,\"lon\":-73.9}}\n"
        )
    }

    #[tokio::test]
    async fn answers_with_counts_once_kafka_has_the_positions() {
        let (url, mut received) = serve(Ok(())).await;
        let response = reqwest::Client::new()
            .post(&url)
            .body(body())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let report: serde_json::Value = response.json().await.unwrap();
        assert_eq!(report["accepted"], 1);
        assert_eq!(report["rejected"]["malformed"], 1);
        assert_eq!(report["rejected"]["latitude_out_of_range"], 1);
        let produced = received.recv().await.unwrap();
        assert_eq!(produced.len(), 1);
        assert_eq!(produced[0].vehicle_id, "a");
    }

    #[tokio::test]
    async fn answers_503_when_kafka_does_not_acknowledge() {
        let (url, _received) = serve(Err("broker down".into())).await;
        let response = reqwest::Client::new()
            .post(&url)
            .body(body())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 503);
    }

    #[test]
    fn parses_json_lines_and_rejects_bad_ones() {
        let body = "{\"vehicle_id\":\"a\",\"timestamp_ms\":1,\"lat\":40.7,\"lon\":-73.9}\n\n{not json}\n{\"vehicle_id\":\"b\",\"timestamp_ms\":2,\"lat\":1,\"lon\":2,\"speed_mps\":3.5}\n";
        let (positions, rejects) = parse_lines(body);
        assert_eq!(positions.len(), 2);
        assert_eq!(positions[1].speed_mps, Some(3.5));
        assert_eq!(rejects, [Reject::Malformed]);
    }
}
