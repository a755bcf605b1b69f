//! `process`: consumes `cartrack.positions` in a consumer group, runs the [`Processor`] and
//! produces its outputs; serves the current picture on `GET /v1/snapshot`.
//!
//! Offsets are committed only after the outputs derived from those positions are acknowledged
//! by Kafka, so a crash re-reads rather than loses. Outputs carry deterministic keys, so what is
//! re-read overwrites rather than duplicates.

use std::net::IpAddr;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use tokio::sync::{mpsc, oneshot};

use super::shutdown_signal;
use crate::http::{bind, metrics_router};
use crate::kafka::{topics, Emitter, KafkaConfig, PendingOffsets};
use crate::metrics::Metrics;
use crate::model::{Position, OUTPUT_SCHEMA_V1, SCHEMA_HEADER};
use crate::processor::{Outputs, Processor, ProcessorConfig, Skip};
use crate::wall_clock_ms;

/// Everything `process` needs.
#[derive(Debug, Clone)]
pub struct ProcessSettings {
    /// The cluster.
    pub kafka: KafkaConfig,
    /// The consumer group; processors sharing it split the vehicles between them.
    pub group: String,
    /// Address of the HTTP endpoint.
    pub http_host: IpAddr,
    /// Port of the HTTP endpoint (0: any free one).
    pub http_port: u16,
    /// The processing core's settings.
    pub processor: ProcessorConfig,
}

/// Why process stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// Kafka failed (consumer, producer, delivery or commit).
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    /// The HTTP port could not be bound.
    #[error("http endpoint: {0}")]
    Http(std::io::Error),
}

/// How often windows are closed, deliveries awaited and offsets committed.
const COMMIT_INTERVAL: Duration = Duration::from_millis(250);

const REASONS: [&str; 5] = [
    "unknown_schema",
    "undecodable",
    "stale",
    "no_tile",
    "late_for_window",
];

type SnapshotRequest = oneshot::Sender<Vec<u8>>;

/// Runs until the process is stopped.
pub async fn run(settings: ProcessSettings) -> Result<(), ProcessError> {
    let metrics = Metrics::new("process", &REASONS);
    let consumer = settings.kafka.consumer(&settings.group)?;
    consumer.subscribe(&[topics::POSITIONS])?;
    let mut emitter = Emitter::new(settings.kafka.producer()?, metrics.clone());

    let (snapshots, mut snapshot_requests) = mpsc::channel::<SnapshotRequest>(16);
    let listener = bind(settings.http_host, settings.http_port)
        .await
        .map_err(ProcessError::Http)?;
    let app = metrics_router(metrics.clone()).merge(
        Router::new()
            .route("/v1/snapshot", get(snapshot))
            .with_state(snapshots),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    tracing::info!(kafka = settings.kafka.bootstrap_servers(), group = %settings.group, "processing");

    let mut processor = Processor::new(settings.processor);
    let mut outputs = Outputs::default();
    let mut offsets = PendingOffsets::default();
    let mut late_reported = 0;
    let mut ticker = tokio::time::interval(COMMIT_INTERVAL);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let result: Result<(), ProcessError> = loop {
        tokio::select! {
            _ = &mut shutdown => break Ok(()),
            message = consumer.recv() => {
                let message = match message {
                    Ok(message) => message,
                    Err(err) => break Err(err.into()),
                };
                metrics.record_in(topics::POSITIONS, 1);
                let schema = message.headers().and_then(|headers| {
                    headers.iter().find(|header| header.key == SCHEMA_HEADER).and_then(|header| header.value)
                });
                match Position::from_record(schema, message.payload().unwrap_or_default()) {
                    Ok(position) => match processor.process(&position, &mut outputs) {
                        Ok(()) => {}
                        Err(Skip::Stale(_)) => metrics.reject("stale"),
                        Err(Skip::NoTile) => metrics.reject("no_tile"),
                    },
                    Err(err) => {
                        metrics.reject(err.label());
                    }
                }
                offsets.record(message.topic(), message.partition(), message.offset());
                if let Err(err) = emit(&processor, &mut outputs, &mut emitter).await {
                    break Err(err.into());
                }
            }
            _ = ticker.tick() => {
                processor.advance(wall_clock_ms(), &mut outputs);
                let late = processor.stats().late_for_window;
                for _ in late_reported..late {
                    metrics.reject("late_for_window");
                }
                late_reported = late;
                if let Err(err) = commit(&processor, &mut outputs, &mut emitter, &consumer, &mut offsets).await {
                    break Err(err);
                }
            }
            Some(reply) = snapshot_requests.recv() => {
                let body = serde_json::to_vec(&processor.snapshot(wall_clock_ms())).unwrap_or_default();
                let _ = reply.send(body);
            }
        }
    };
    server.abort();
    // Open windows are not emitted: they are incomplete, and the next run re-reads their input.
    outputs.tiles.clear();
    commit(
        &processor,
        &mut outputs,
        &mut emitter,
        &consumer,
        &mut offsets,
    )
    .await?;
    result
}

/// Sends the outputs accumulated so far and empties the buffers.
async fn emit(
    processor: &Processor,
    outputs: &mut Outputs,
    emitter: &mut Emitter,
) -> Result<(), KafkaError> {
    for &index in &outputs.vehicles {
        let state = processor.vehicle(index);
        let json = serde_json::to_vec(state).unwrap_or_default();
        emitter
            .send(
                topics::VEHICLES,
                &state.vehicle_id,
                &json,
                state.timestamp_ms,
                OUTPUT_SCHEMA_V1,
            )
            .await?;
    }
    for tile in &outputs.tiles {
        let json = serde_json::to_vec(tile).unwrap_or_default();
        emitter
            .send(
                topics::TILES,
                &tile.document_id(),
                &json,
                tile.window_start_ms,
                OUTPUT_SCHEMA_V1,
            )
            .await?;
    }
    for alert in &outputs.alerts {
        let json = serde_json::to_vec(alert).unwrap_or_default();
        emitter
            .send(
                topics::ALERTS,
                &alert.document_id(),
                &json,
                alert.timestamp_ms,
                OUTPUT_SCHEMA_V1,
            )
            .await?;
    }
    outputs.clear();
    Ok(())
}

/// Emits what is pending, waits for every delivery, then commits the positions they came from.
async fn commit(
    processor: &Processor,
    outputs: &mut Outputs,
    emitter: &mut Emitter,
    consumer: &rdkafka::consumer::StreamConsumer,
    offsets: &mut PendingOffsets,
) -> Result<(), ProcessError> {
    emit(processor, outputs, emitter).await?;
    emitter.settle().await?;
    if !offsets.is_empty() {
        consumer.commit(&offsets.take()?, CommitMode::Async)?;
    }
    Ok(())
}

async fn snapshot(
    State(requests): State<mpsc::Sender<SnapshotRequest>>,
) -> (StatusCode, [(&'static str, &'static str); 1], Vec<u8>) {
    let json = [("content-type", "application/json")];
    let (reply, answer) = oneshot::channel();
    if requests.send(reply).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, json, b"{}".to_vec());
    }
    match answer.await {
        Ok(body) => (StatusCode::OK, json, body),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, json, b"{}".to_vec()),
    }
}
