//! Where the indexer writes: Elasticsearch/OpenSearch, or NDJSON files when none is configured.
//!
//! Both take batches of [`Document`]s with deterministic ids, so writing a batch twice (after a
//! crash before the offset commit) leaves the same result as writing it once.

mod drop_behind;
pub mod elasticsearch;
pub mod ndjson;
mod route;

pub use route::{route_record, Unroutable};

use bytes::Bytes;

/// Index names, shared by the documents and the index templates.
pub mod indices {
    /// One latest-state document per vehicle, id = vehicle id.
    pub const VEHICLES: &str = "cartrack-vehicles";
    /// Every vehicle state over time, id = `<vehicle id>-<timestamp ms>`.
    pub const VEHICLE_HISTORY: &str = "cartrack-vehicle-history";
    /// Closed tile windows, id = `<geohash>-<window start ms>`.
    pub const TILES: &str = "cartrack-tiles";
    /// Geofence crossings, id = the alert's deterministic id.
    pub const ALERTS: &str = "cartrack-alerts";
}

/// One document to index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Target index.
    pub index: &'static str,
    /// Document id; the same input always yields the same id.
    pub id: String,
    /// The JSON source, as produced by `process`.
    pub source: Bytes,
}

impl Document {
    /// Approximate size on the wire, for batching by bytes.
    pub fn size(&self) -> usize {
        self.index.len() + self.id.len() + self.source.len() + 48
    }
}

/// What a sink did with a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Documents written.
    pub written: usize,
    /// Documents the store refused for good (e.g. a mapping conflict); they are logged and
    /// counted, and retrying them would fail the same way.
    pub rejected: Vec<RejectedDocument>,
    /// The store had lost everything it held before this batch (it came back empty after a
    /// restart, as an in-memory store does), and the sink set it up again. What was written
    /// and committed earlier is gone from it, so the indexer must re-read its input from the
    /// start.
    pub store_was_reset: bool,
}

/// A document the store refused for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedDocument {
    /// Its index.
    pub index: &'static str,
    /// Its id.
    pub id: String,
    /// The store's reason.
    pub reason: String,
}

/// A sink failure that retrying will not fix; the indexer stops without committing, so the
/// batch is read again after the problem is fixed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// A local file could not be written.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Elasticsearch refused the whole request (bad credentials, bad request).
    #[error("elasticsearch answered {status} to {what}: {body}")]
    Refused {
        /// What was being done.
        what: &'static str,
        /// HTTP status.
        status: u16,
        /// The start of the response body.
        body: String,
    },
}

/// A destination for batches of documents.
pub trait Sink {
    /// Writes a batch; returns once every document is written or refused for good.
    fn write(
        &mut self,
        batch: &[Document],
    ) -> impl std::future::Future<Output = Result<WriteSummary, SinkError>> + Send;
}
