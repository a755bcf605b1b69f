//! `index`: consumes the processor's outputs and writes them, in batches, to Elasticsearch or
//! (with none configured) NDJSON files.
//!
//! A batch is flushed when it is full or old enough. Vehicles' latest states are held back and
//! written at most once per vehicle per [`BatchSettings::latest_interval`] (their history gets
//! every state at once); offsets are committed only once the sink has written everything read
//! up to them, held latest states included. While the sink is slow, consumption is paused, so
//! nothing piles up in memory.
//! If the store reports that it lost everything (see [`crate::sinks::WriteSummary`]), the
//! consumer is moved back to the start of every assigned partition and re-indexes all of it.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use rustc_hash::FxHashMap;
use tokio::time::Instant;

use crate::http::{base_router, bind, kafka_backoff, readiness_router, spawn_server, BrokerHealth};
use crate::kafka::{topics, KafkaConfig, PendingOffsets};
use crate::metrics::Metrics;
use crate::model::SCHEMA_HEADER;
use crate::sinks::{indices, route_record, Document, Sink, SinkError, Unroutable};

/// When a batch is flushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSettings {
    /// At this many documents.
    pub max_documents: usize,
    /// At about this many bytes.
    pub max_bytes: usize,
    /// This long after its first document arrived.
    pub max_wait: Duration,
    /// A vehicle's latest state is written at most this often (with the first batch flushed
    /// this long after the oldest one held); zero: with every batch.
    pub latest_interval: Duration,
}

/// Everything `index` needs besides its sink.
#[derive(Debug, Clone)]
pub struct IndexSettings {
    /// The cluster.
    pub kafka: KafkaConfig,
    /// The consumer group.
    pub group: String,
    /// Address of the HTTP endpoint (metrics).
    pub http_host: IpAddr,
    /// Port of the HTTP endpoint (0: any free one).
    pub http_port: u16,
    /// Token the HTTP endpoint requires (`--read-token`).
    pub read_token: Option<String>,
    /// The endpoint's TLS (`--tls-cert`, `--tls-key`); plain HTTP without.
    pub https: Option<cartrack_http::Https>,
    /// Batching.
    pub batch: BatchSettings,
}

/// Why index stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Kafka failed.
    #[error("kafka")]
    Kafka(#[from] KafkaError),
    /// The sink failed in a way retrying does not fix.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The HTTP port could not be bound.
    #[error("http endpoint")]
    Http(#[source] std::io::Error),
}

/// After this long in one write, the sink counts as slow and consumption is paused.
const SLOW_WRITE: Duration = Duration::from_secs(1);

const REASONS: [&str; 5] = [
    Unroutable::LABELS[0],
    Unroutable::LABELS[1],
    Unroutable::LABELS[2],
    Unroutable::LABELS[3],
    "refused_by_store",
];

/// The batch being assembled, the latest states held back, and the offsets they cover.
#[derive(Default)]
struct Pending {
    documents: Vec<Document>,
    bytes: usize,
    first_at: Option<Instant>,
    /// Each vehicle's newest state read since the last write of latest states, by vehicle id:
    /// one per vehicle, so bounded by the fleet. Written together, the superseded ones would
    /// only overwrite each other by id.
    latest: FxHashMap<String, Bytes>,
    /// When the held latest states are due.
    latest_due: Option<Instant>,
    /// Where `route_record` puts a record's documents before they are sorted out.
    routed: Vec<Document>,
    offsets: PendingOffsets,
}

impl Pending {
    fn add(&mut self, message: &impl Message, settings: &BatchSettings, metrics: &Metrics) {
        self.offsets
            .record(message.topic(), message.partition(), message.offset());
        let schema = message.headers().and_then(|headers| {
            headers
                .iter()
                .find(|header| header.key == SCHEMA_HEADER)
                .and_then(|header| header.value)
        });
        let timestamp = message.timestamp().to_millis().unwrap_or_default();
        let read = route_record(
            message.topic(),
            schema,
            message.key(),
            timestamp,
            message.payload().unwrap_or_default(),
            &mut self.routed,
            |why| metrics.reject(why.label()),
        );
        metrics.record_in(message.topic(), read);
        for document in self.routed.drain(..) {
            if document.index == indices::VEHICLES {
                // Never before the batch they came with would be flushed.
                let hold = settings.latest_interval.max(settings.max_wait);
                self.latest_due.get_or_insert_with(|| Instant::now() + hold);
                // Most states are of a vehicle already held: its slot is reused.
                match self.latest.get_mut(document.id.as_str()) {
                    Some(held) => *held = document.source,
                    None => {
                        self.latest.insert(document.id, document.source);
                    }
                }
            } else {
                self.first_at.get_or_insert_with(Instant::now);
                self.bytes += document.size();
                self.documents.push(document);
            }
        }
    }

    fn is_full(&self, settings: &BatchSettings) -> bool {
        self.documents.len() >= settings.max_documents || self.bytes >= settings.max_bytes
    }

    /// When the next write is due, if anything waits.
    fn due(&self, settings: &BatchSettings) -> Option<Instant> {
        let batch = self.first_at.map(|first| first + settings.max_wait);
        batch.into_iter().chain(self.latest_due).min()
    }

    /// Moves the held latest states into the batch if they are due (always with a zero
    /// interval, or `all`).
    fn release_latest(&mut self, settings: &BatchSettings, all: bool) {
        let due = all
            || settings.latest_interval.is_zero()
            || self.latest_due.is_some_and(|due| due <= Instant::now());
        if !due {
            return;
        }
        self.latest_due = None;
        self.documents
            .extend(self.latest.drain().map(|(id, source)| Document {
                index: indices::VEHICLES,
                id,
                source,
            }));
    }
}

/// Runs until `shutdown` resolves (then flushes and commits what it has), writing into `sink`.
pub async fn run(
    settings: IndexSettings,
    mut sink: impl Sink,
    shutdown: impl Future<Output = ()>,
) -> Result<(), IndexError> {
    let metrics = Metrics::with_broker("index", &REASONS);
    let consumer = Arc::new(settings.kafka.consumer(&settings.group)?);
    consumer.subscribe(&[topics::VEHICLES, topics::TILES, topics::ALERTS])?;
    let health = BrokerHealth::new(metrics.clone());
    let probe = health.watch(Arc::clone(&consumer), topics::VEHICLES);
    let listener = bind(settings.http_host, settings.http_port)
        .await
        .map_err(IndexError::Http)?;
    let app = base_router(metrics.clone()).merge(readiness_router(health.clone()));
    let server = spawn_server(
        listener,
        app,
        settings.read_token.clone(),
        settings.https.clone(),
    );
    tracing::info!(kafka = settings.kafka.bootstrap_servers(), group = %settings.group, "indexing");

    let mut pending = Pending::default();
    // After a consumer error: when to read again, and how long the next wait is.
    let mut backoff = kafka_backoff();
    let mut read_again_at: Option<Instant> = None;
    tokio::pin!(shutdown);
    let result = loop {
        let due = pending.due(&settings.batch);
        tokio::select! {
            _ = &mut shutdown => break Ok(()),
            _ = tokio::time::sleep_until(read_again_at.unwrap_or_else(Instant::now)), if read_again_at.is_some() => {
                read_again_at = None;
            }
            message = consumer.recv(), if read_again_at.is_none() => {
                match message {
                    Ok(message) => {
                        backoff.reset();
                        pending.add(&message, &settings.batch, &metrics);
                    }
                    Err(err) => match health.consumer_error(err, &mut backoff) {
                        Ok(wait) => read_again_at = Some(Instant::now() + wait),
                        Err(fatal) => break Err(fatal.into()),
                    },
                }
                if pending.is_full(&settings.batch) {
                    if let Err(err) = flush(&mut pending, false, &settings.batch, &mut sink, &consumer, &metrics, &health).await {
                        break Err(err);
                    }
                }
            }
            _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                if let Err(err) = flush(&mut pending, false, &settings.batch, &mut sink, &consumer, &metrics, &health).await {
                    break Err(err);
                }
            }
        }
    };
    server.abort();
    probe.abort();
    if result.is_ok() {
        flush(
            &mut pending,
            true,
            &settings.batch,
            &mut sink,
            &consumer,
            &metrics,
            &health,
        )
        .await?;
    }
    result
}

/// Writes the batch (with the held latest states if they are due, or `all`), pausing
/// consumption if the sink is slow, then, if no latest state is still held, commits the
/// offsets read so far.
async fn flush(
    pending: &mut Pending,
    all: bool,
    settings: &BatchSettings,
    sink: &mut impl Sink,
    consumer: &StreamConsumer,
    metrics: &Metrics,
    health: &BrokerHealth,
) -> Result<(), IndexError> {
    let mut held: Vec<OwnedMessage> = Vec::new();
    pending.release_latest(settings, all);
    if !pending.documents.is_empty() {
        let write = sink.write(&pending.documents);
        tokio::pin!(write);
        let slow = tokio::time::sleep(SLOW_WRITE);
        tokio::pin!(slow);
        let mut paused = None;
        let summary = loop {
            tokio::select! {
                summary = &mut write => break summary,
                _ = &mut slow, if paused.is_none() => {
                    let assignment = consumer.assignment()?;
                    consumer.pause(&assignment)?;
                    tracing::warn!("the sink is slow; consumption paused");
                    paused = Some(assignment);
                }
                // Keeps the group membership alive while paused; anything still delivered (a
                // partition assigned meanwhile) goes into the next batch.
                message = consumer.recv(), if paused.is_some() => match message {
                    Ok(message) => held.push(message.detach()),
                    // The write goes on; the main loop's reads will wait if the error persists.
                    Err(err) => health.unreachable(err.to_string()),
                },
            }
        };
        if let Some(assignment) = paused {
            consumer.resume(&assignment)?;
            tracing::info!("the sink caught up; consumption resumed");
        }
        let summary = summary?;
        for (index, count) in count_by_index(&pending.documents) {
            let refused = summary.rejected.iter().filter(|r| r.index == index).count();
            metrics.record_out(index, count - refused as u64);
        }
        for _ in &summary.rejected {
            metrics.reject("refused_by_store");
        }
        if summary.store_was_reset {
            // The store lost what earlier batches wrote: read it all again (same ids, so
            // nothing is duplicated), and let the committed offsets say so first, so a crash
            // now does not skip it either.
            rewind_until_done(consumer, health).await;
            // The held states are read again too.
            pending.latest.clear();
            pending.latest_due = None;
            pending.offsets = PendingOffsets::default();
            held.clear();
        }
    }
    // Held latest states stand for records whose offsets must wait for them.
    if pending.latest.is_empty() && !pending.offsets.is_empty() {
        // A failed commit (the broker away, a rebalance) only means a restart re-writes these
        // documents under the same ids; the next commit carries later offsets.
        if let Err(err) = consumer.commit(&pending.offsets.take()?, CommitMode::Async) {
            tracing::warn!(error = %err, "offset commit failed; a later commit covers it");
        }
    }
    pending.documents.clear();
    pending.bytes = 0;
    pending.first_at = None;
    for message in &held {
        pending.add(message, settings, metrics);
    }
    Ok(())
}

/// [`rewind`], retried with backoff while the broker does not answer: until it succeeds,
/// nothing more is written (the store must get everything again first).
async fn rewind_until_done(consumer: &StreamConsumer, health: &BrokerHealth) {
    let mut backoff = kafka_backoff();
    while let Err(err) = rewind(consumer) {
        health.unreachable(format!("rewinding after the store's reset: {err}"));
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

/// How long to wait for the broker's answers while rewinding.
const REWIND_TIMEOUT: Duration = Duration::from_secs(10);

/// Moves every assigned partition back to its first retained record, committing that first.
///
/// Blocks the thread on a few broker round trips; it runs only after the store lost its data.
fn rewind(consumer: &StreamConsumer) -> Result<(), KafkaError> {
    let assignment = consumer.assignment()?;
    let mut starts = TopicPartitionList::new();
    for element in assignment.elements() {
        let (topic, partition) = (element.topic(), element.partition());
        let (low, _) = consumer.fetch_watermarks(topic, partition, REWIND_TIMEOUT)?;
        starts.add_partition_offset(topic, partition, Offset::Offset(low))?;
    }
    consumer.commit(&starts, CommitMode::Sync)?;
    for element in starts.elements() {
        consumer.seek(
            element.topic(),
            element.partition(),
            element.offset(),
            REWIND_TIMEOUT,
        )?;
    }
    tracing::warn!(
        partitions = starts.count(),
        "re-reading every output topic from the start"
    );
    Ok(())
}

fn count_by_index(documents: &[Document]) -> Vec<(&'static str, u64)> {
    let mut counts: Vec<(&'static str, u64)> = Vec::new();
    for document in documents {
        match counts
            .iter_mut()
            .find(|(index, _)| *index == document.index)
        {
            Some((_, count)) => *count += 1,
            None => counts.push((document.index, 1)),
        }
    }
    counts
}
