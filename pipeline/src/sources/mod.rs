//! Where positions come from: a simulated fleet, recorded traces, or real devices over HTTP.
//!
//! Every source validates what it reads ([`admit`]) and hands [`Batch`]es to the ingest
//! producer, which writes them to `cartrack.positions`.

pub mod http;
mod position_line;
pub mod replay;
pub mod simulator;

use tokio::sync::oneshot;

use crate::metrics::Metrics;
use crate::model::Position;
use crate::validate::{validate, Limits, Reject};

/// Valid positions from one source, on their way to Kafka.
#[derive(Debug)]
pub struct Batch {
    /// The source's name, for metrics.
    pub source: &'static str,
    /// The positions, all validated.
    pub positions: Vec<Position>,
    /// Told once every position is acknowledged by Kafka (or not), for sources that answer a
    /// caller.
    pub delivered: Option<oneshot::Sender<Result<(), NotDelivered>>>,
    /// For a source that answers a caller: when to stop waiting for Kafka. A batch not yet handed
    /// to the producer by then is never produced; one handed but not acknowledged may still be.
    pub deliver_by: Option<tokio::time::Instant>,
}

/// Why a batch's positions were not all acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotDelivered {
    /// Not acknowledged by the batch's deadline (the broker refuses producers, e.g. past its
    /// backlog bound, or does not answer); the positions handed to the producer stay queued
    /// and may still be written.
    TimedOut,
    /// A delivery failed (not retriable) or ingest is stopping.
    Failed(String),
}

/// Counts a record read from `source` that could not even be parsed.
pub fn count_unparsable(metrics: &Metrics, source: &str, reject: Reject) {
    metrics.record_in(source, 1);
    metrics.reject(reject.label());
}

/// Splits positions into the valid ones and the reasons for the rest, counting every one read
/// and each reject by reason.
pub fn admit(
    positions: impl IntoIterator<Item = Position>,
    source: &str,
    limits: &Limits,
    now_ms: i64,
    metrics: &Metrics,
) -> (Vec<Position>, Vec<Reject>) {
    let mut admitted = Vec::new();
    let mut rejects = Vec::new();
    for position in positions {
        match validate(&position, limits, now_ms) {
            Ok(()) => admitted.push(position),
            Err(reject) => {
                tracing::debug!(source, vehicle = %position.vehicle_id, %reject, "rejected");
                metrics.reject(reject.label());
                rejects.push(reject);
            }
        }
    }
    metrics.record_in(source, (admitted.len() + rejects.len()) as u64);
    (admitted, rejects)
}
