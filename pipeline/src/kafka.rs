//! Kafka connection settings and the client profiles each workload needs, in one place so
//! every subcommand talks to the cluster the same way.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::consumer::StreamConsumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::metadata::Metadata;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientConfig;
use tokio::sync::Notify;

use crate::metrics::Metrics;
use crate::model::SCHEMA_HEADER;

mod batcher;
mod lag;

pub use batcher::{partition_of, Batcher};
pub use lag::lag;

/// The topics of the pipeline.
pub mod topics {
    /// Validated positions, batched by partition of their vehicle id (protobuf).
    pub const POSITIONS: &str = "cartrack.positions";
    /// Vehicle states with predictions, partitioned by vehicle id (protobuf).
    pub const VEHICLES: &str = "cartrack.vehicles";
    /// Closed tile windows, partitioned by `<geohash>-<window start>` (JSON lines).
    pub const TILES: &str = "cartrack.tiles";
    /// Geofence crossings, partitioned by vehicle id (JSON lines).
    pub const ALERTS: &str = "cartrack.alerts";
    /// Internal to `process`: the parts of tile windows (per input partition) that processors
    /// emit and merge, partitioned by `<geohash>-<window start>` (JSON lines).
    pub const TILE_PARTS: &str = "cartrack.tile-parts";
    /// Every topic, for a broker to create up front.
    pub const ALL: [&str; 5] = [POSITIONS, VEHICLES, TILES, ALERTS, TILE_PARTS];
}

/// What is wrong with the Kafka settings, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KafkaConfigError {
    /// No bootstrap servers anywhere.
    #[error("no Kafka bootstrap servers: pass --kafka HOST:PORT[,HOST:PORT...] or set CARTRACK_KAFKA; for a local run start `cartrack-worker broker` and use the address it prints")]
    MissingBootstrap,
    /// An option without `=`.
    #[error("--kafka-option {0:?}: expected key=value with a librdkafka property, e.g. security.protocol=SASL_SSL")]
    BadOption(String),
}

/// Where the cluster is and how to talk to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    bootstrap_servers: String,
    /// librdkafka properties given by the user (SASL, TLS, tuning); applied last, so they win.
    options: Vec<(String, String)>,
}

/// How a producer compresses its batches. Options given by the user (`compression.type`)
/// override it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// LZ4: for records that may wait in the broker, whose backlog bound counts stored bytes
    /// (positions held for the allowed lateness).
    Lz4,
    /// None (Kafka's default): for records consumed as they come, where compressing costs more
    /// CPU than the bytes save.
    None,
}

impl Compression {
    fn codec(self) -> &'static str {
        match self {
            Self::Lz4 => "lz4",
            Self::None => "none",
        }
    }
}

impl KafkaConfig {
    /// Validates the `--kafka` value and `key=value` options (from flags, or the
    /// comma-separated `CARTRACK_KAFKA_OPTIONS`).
    pub fn new(bootstrap: Option<&str>, options: &[String]) -> Result<Self, KafkaConfigError> {
        let bootstrap_servers = bootstrap
            .map(str::trim)
            .filter(|servers| !servers.is_empty())
            .ok_or(KafkaConfigError::MissingBootstrap)?
            .to_owned();
        let options = options
            .iter()
            .map(|option| match option.split_once('=') {
                Some((key, value)) if !key.trim().is_empty() => {
                    Ok((key.trim().to_owned(), value.trim().to_owned()))
                }
                _ => Err(KafkaConfigError::BadOption(option.clone())),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            bootstrap_servers,
            options,
        })
    }

    /// The bootstrap servers.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }

    fn client_config(&self, profile: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        for (key, value) in profile {
            config.set(*key, *value);
        }
        for (key, value) in &self.options {
            config.set(key, value);
        }
        config
    }

    /// An [`Emitter`] on a producer that neither loses nor duplicates on retry (idempotent,
    /// acks from all in-sync replicas), lingers only briefly, since the pipeline is
    /// real-time, and compresses as told; acknowledged items are counted as records out in
    /// `metrics`.
    pub fn emitter(
        &self,
        metrics: Metrics,
        compression: Compression,
    ) -> Result<Emitter, KafkaError> {
        let config = self.client_config(&[
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("linger.ms", "5"),
            ("compression.type", compression.codec()),
        ]);
        Emitter::new(config, metrics)
    }

    /// An [`Emitter`] like [`Self::emitter`], compressing with LZ4, whose records never expire
    /// (`message.timeout.ms=0`): while the broker refuses them retriably (as `broker` does past
    /// its backlog bound) the producer keeps resending them, and a full queue makes the sender
    /// wait, so a source that cannot answer "not taken" (simulator, replay) waits instead of
    /// dropping. Callers that can answer (the HTTP intake) bound their own wait.
    pub fn patient_emitter(&self, metrics: Metrics) -> Result<Emitter, KafkaError> {
        let config = self.client_config(&[
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("linger.ms", "5"),
            ("compression.type", Compression::Lz4.codec()),
            ("message.timeout.ms", "0"),
        ]);
        Emitter::new(config, metrics)
    }

    /// A consumer in `group` that commits only when told to (after its outputs are safe) and
    /// fetches with little delay. A partition where the group has no offset yet is read from
    /// its earliest record (as Kafka Streams does): what was ingested before the group first
    /// got the partition (its processors were still starting) is read, not skipped.
    pub fn consumer(&self, group: &str) -> Result<StreamConsumer, KafkaError> {
        self.client_config(&[
            ("group.id", group),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
            ("fetch.wait.max.ms", "20"),
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "1000"),
        ])
        .create()
    }
}

/// The next offset to commit per partition, for what has been fully handled so far.
///
/// A list, not a map: a consumer has a handful of partitions, and a scan by `&str` needs no
/// allocation per record where a `(String, i32)` map key would.
#[derive(Debug, Default)]
pub struct PendingOffsets {
    next: Vec<(String, i32, i64)>,
}

impl PendingOffsets {
    /// Notes that the record at `offset` is handled.
    pub fn record(&mut self, topic: &str, partition: i32, offset: i64) {
        let known = self
            .next
            .iter_mut()
            .find(|(t, p, _)| *p == partition && t == topic);
        match known {
            Some((_, _, next)) => *next = (*next).max(offset + 1),
            None => self.next.push((topic.to_owned(), partition, offset + 1)),
        }
    }

    /// Whether nothing awaits committing.
    pub fn is_empty(&self) -> bool {
        self.next.is_empty()
    }

    /// The offsets to commit, emptying the set.
    pub fn take(&mut self) -> Result<rdkafka::TopicPartitionList, KafkaError> {
        let mut list = rdkafka::TopicPartitionList::new();
        for (topic, partition, next) in self.next.drain(..) {
            list.add_partition_offset(&topic, partition, rdkafka::Offset::Offset(next))?;
        }
        Ok(list)
    }
}

/// Most distinct topics one [`Emitter`] writes to (the pipeline uses at most three).
const MAX_TOPICS: usize = 8;

/// A record's delivery opaque: its items, its topic slot (below [`MAX_TOPICS`]) and its epoch
/// parity, packed into one word so a delivery report needs no allocation.
fn opaque(items: usize, slot: usize, parity: usize) -> usize {
    items << 4 | slot << 1 | parity
}

/// Delivery reports, counted on the producer's polling thread: no allocation, future or lock
/// per record (one future per record cost ingest a fifth of its CPU in malloc, measured with
/// `perf`, see BENCHMARKS.md).
struct DeliveryCounter {
    /// Records handed to the producer and not yet acknowledged or failed, by the parity of the
    /// [`Emitter`] epoch they were sent in (see [`Emitter::mark`]).
    in_flight: [AtomicUsize; 2],
    /// Acknowledged items (positions, documents) per topic slot, not yet added to the metrics.
    acknowledged: [AtomicU64; MAX_TOPICS],
    /// The first failure not yet reported to the caller, and whether there is one (checked on
    /// every send without taking the lock).
    failure: Mutex<Option<KafkaError>>,
    failed: AtomicBool,
    /// Woken on every report, for a sender waiting for room or for everything to settle.
    progress: Notify,
}

impl ClientContext for DeliveryCounter {}

impl ProducerContext for DeliveryCounter {
    /// The record's items, its topic's slot in the emitter's table and the parity of the
    /// epoch it was sent in: see [`opaque`].
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
        let (items, slot, parity) = (opaque >> 4, (opaque >> 1) & 7, opaque & 1);
        match result {
            Ok(_) => {
                self.acknowledged[slot].fetch_add(items as u64, Ordering::Relaxed);
            }
            Err((err, message)) => {
                tracing::error!(topic = message.topic(), error = %err, "delivery failed");
                let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
                failure.get_or_insert_with(|| err.clone());
                self.failed.store(true, Ordering::Release);
            }
        }
        self.in_flight[parity].fetch_sub(1, Ordering::AcqRel);
        self.progress.notify_waiters();
    }
}

/// Why the producer did not take a record.
enum NotSent<'a> {
    /// Its queue is full: the record, to send again once deliveries made room.
    Full(BaseRecord<'a, (), [u8], usize>),
    /// Anything else.
    Failed(KafkaError),
}
use NotSent::{Failed, Full};

/// A producer with its in-flight deliveries: sends without waiting for each acknowledgement,
/// yet lets the caller wait for all of them before it commits what they were derived from.
pub struct Emitter {
    /// Shared only with metadata requests, which block and so run on another thread.
    producer: Arc<ThreadedProducer<DeliveryCounter>>,
    /// Topic of each slot of [`DeliveryCounter::acknowledged`].
    topics: Vec<&'static str>,
    metrics: Metrics,
    /// Records sent, to fold acknowledgements into the metrics every so often.
    sends: u64,
    /// Incremented by each [`Emitter::mark`]; records carry its parity.
    epoch: usize,
}

/// The records an [`Emitter`] had sent at one point: see [`Emitter::mark`].
#[derive(Debug)]
#[must_use]
pub struct Mark {
    parity: usize,
}

/// How long one metadata request may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

/// How many sends between two updates of the records-out metric.
const METRICS_EVERY: u64 = 256;

impl Emitter {
    fn new(config: ClientConfig, metrics: Metrics) -> Result<Self, KafkaError> {
        let counter = DeliveryCounter {
            in_flight: Default::default(),
            acknowledged: Default::default(),
            failure: Mutex::new(None),
            failed: AtomicBool::new(false),
            progress: Notify::new(),
        };
        Ok(Self {
            producer: Arc::new(config.create_with_context(counter)?),
            topics: Vec::new(),
            metrics,
            sends: 0,
            epoch: 0,
        })
    }

    fn in_flight(&self, parity: usize) -> usize {
        self.producer.context().in_flight[parity].load(Ordering::Acquire)
    }

    /// Marks the records sent so far, so the caller can learn when they are all acknowledged
    /// ([`Self::reached`]) while it goes on sending, instead of stopping to [`Self::settle`].
    /// `None` while the previous mark has records in flight (one mark at a time).
    pub fn mark(&mut self) -> Option<Mark> {
        // Records sent from now on count under the other parity, which must be drained.
        let next = (self.epoch + 1) & 1;
        if self.in_flight(next) != 0 {
            return None;
        }
        let mark = Mark {
            parity: self.epoch & 1,
        };
        self.epoch += 1;
        Some(mark)
    }

    /// Whether every record sent before `mark` is acknowledged; fails if any delivery failed,
    /// so the caller does not commit input whose output may be lost.
    pub fn reached(&mut self, mark: &Mark) -> Result<bool, KafkaError> {
        if let Some(failure) = self.take_failure() {
            return Err(failure);
        }
        let reached = self.in_flight(mark.parity) == 0;
        if reached {
            self.count_acknowledged();
        }
        Ok(reached)
    }

    /// Adds the acknowledgements counted so far to the records-out metric (also done every
    /// so many sends, at [`Self::reached`] and [`Self::settle`]; call it where outputs may go
    /// quiet with none of those coming, so the metric does not lag).
    pub fn count_acknowledged(&self) {
        let counter = self.producer.context();
        for (slot, topic) in self.topics.iter().enumerate().take(MAX_TOPICS) {
            let acknowledged = counter.acknowledged[slot].swap(0, Ordering::Relaxed);
            if acknowledged > 0 {
                self.metrics.record_out(topic, acknowledged);
            }
        }
    }

    /// The first delivery failure not reported yet, if any (so a caller that carries on after
    /// failures can take it before [`Self::send`], which would report it instead of sending).
    pub fn take_failure(&self) -> Option<KafkaError> {
        let counter = self.producer.context();
        if !counter.failed.swap(false, Ordering::AcqRel) {
            return None;
        }
        counter
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn slot(&mut self, topic: &'static str) -> usize {
        match self.topics.iter().position(|known| *known == topic) {
            Some(slot) => slot,
            None => {
                self.topics.push(topic);
                // More topics than slots share the last one (only the metric's label suffers).
                (self.topics.len() - 1).min(MAX_TOPICS - 1)
            }
        }
    }

    /// Queues one record. When the producer's queue is full this waits for deliveries to make
    /// room, which is how a slow cluster slows the caller down. Fails if an earlier record's
    /// delivery failed (each failure is reported once, here or by [`Self::settle`]).
    pub async fn send(&mut self, outgoing: Outgoing<'_>) -> Result<(), KafkaError> {
        if let Some(failure) = self.take_failure() {
            return Err(failure);
        }
        self.sends += 1;
        if self.sends.is_multiple_of(METRICS_EVERY) {
            self.count_acknowledged();
        }
        let slot = self.slot(outgoing.topic);
        let headers = OwnedHeaders::new_with_capacity(1).insert(Header {
            key: SCHEMA_HEADER,
            value: Some(outgoing.schema),
        });
        let opaque = opaque(outgoing.items, slot, self.epoch & 1);
        let mut record = BaseRecord::with_opaque_to(outgoing.topic, opaque)
            .partition(outgoing.partition)
            .payload(outgoing.payload)
            .timestamp(outgoing.timestamp_ms)
            .headers(headers);
        loop {
            record = match self.try_send(record) {
                Ok(()) => return Ok(()),
                Err(Full(returned)) => returned,
                Err(Failed(err)) => return Err(err),
            };
            // Full: listen for a delivery, then try once more before waiting, so a delivery
            // between the failed send and the listening is not missed.
            let progress = self.producer.context().progress.notified();
            tokio::pin!(progress);
            progress.as_mut().enable();
            record = match self.try_send(record) {
                Ok(()) => return Ok(()),
                Err(Full(returned)) => returned,
                Err(Failed(err)) => return Err(err),
            };
            progress.await;
        }
    }

    /// Hands `record` to the producer, counting it in flight if it took it.
    fn try_send<'a>(&self, record: BaseRecord<'a, (), [u8], usize>) -> Result<(), NotSent<'a>> {
        let in_flight = &self.producer.context().in_flight[self.epoch & 1];
        in_flight.fetch_add(1, Ordering::AcqRel);
        self.producer.send(record).map_err(|(err, returned)| {
            in_flight.fetch_sub(1, Ordering::AcqRel);
            match err {
                KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull) => Full(returned),
                err => Failed(err),
            }
        })
    }

    /// Waits until every queued record is acknowledged; fails if any delivery failed since the
    /// last call, so the caller does not commit input whose output may be lost.
    pub async fn settle(&mut self) -> Result<(), KafkaError> {
        let counter = self.producer.context();
        loop {
            let progress = counter.progress.notified();
            tokio::pin!(progress);
            progress.as_mut().enable();
            if self.in_flight(0) + self.in_flight(1) == 0 {
                break;
            }
            progress.await;
        }
        self.count_acknowledged();
        self.take_failure().map_or(Ok(()), Err)
    }

    /// The number of partitions of `topic`, asking the broker again with backoff (and a
    /// warning) while it does not answer or does not know the topic.
    pub async fn partitions(&self, topic: &'static str) -> i32 {
        let mut backoff = crate::http::kafka_backoff();
        loop {
            let producer = Arc::clone(&self.producer);
            // The request blocks until the broker answers: not on the runtime's threads.
            let metadata = tokio::task::spawn_blocking(move || {
                producer
                    .client()
                    .fetch_metadata(Some(topic), METADATA_TIMEOUT)
            })
            .await;
            let reason = match metadata {
                Ok(Ok(metadata)) => match partition_count(&metadata, topic) {
                    Some(count) => return count,
                    None => "the broker does not know the topic".to_owned(),
                },
                Ok(Err(err)) => err.to_string(),
                Err(err) => err.to_string(),
            };
            tracing::warn!(topic, %reason, "partition count unknown; asking again");
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }
}

fn partition_count(metadata: &Metadata, topic: &str) -> Option<i32> {
    let topic = metadata
        .topics()
        .iter()
        .find(|known| known.name() == topic && known.error().is_none())?;
    i32::try_from(topic.partitions().len())
        .ok()
        .filter(|count| *count > 0)
}

/// One record for [`Emitter::send`].
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// Its topic.
    pub topic: &'static str,
    /// Its partition (see [`partition_of`]).
    pub partition: i32,
    /// The value.
    pub payload: &'a [u8],
    /// The record timestamp, ms since the epoch.
    pub timestamp_ms: i64,
    /// The value's schema, sent in the [`SCHEMA_HEADER`] header.
    pub schema: &'a str,
    /// How many positions or documents it holds, for the records-out metric.
    pub items: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requires_bootstrap_servers_and_well_formed_options() {
        assert_eq!(
            KafkaConfig::new(None, &[]),
            Err(KafkaConfigError::MissingBootstrap)
        );
        assert_eq!(
            KafkaConfig::new(Some(" "), &[]),
            Err(KafkaConfigError::MissingBootstrap)
        );
        assert_eq!(
            KafkaConfig::new(Some("k:9092"), &["sasl.mechanism".into()]),
            Err(KafkaConfigError::BadOption("sasl.mechanism".into()))
        );
        let config =
            KafkaConfig::new(Some("k:9092"), &["security.protocol = SASL_SSL".into()]).unwrap();
        let client = config.client_config(&[("acks", "1")]);
        assert_eq!(client.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(client.get("bootstrap.servers"), Some("k:9092"));
    }

    #[test]
    fn pending_offsets_commit_one_past_the_highest_handled() {
        let mut offsets = PendingOffsets::default();
        offsets.record("t", 0, 5);
        offsets.record("t", 0, 3);
        offsets.record("t", 1, 0);
        let list = offsets.take().unwrap();
        assert_eq!(
            list.find_partition("t", 0).unwrap().offset(),
            rdkafka::Offset::Offset(6)
        );
        assert_eq!(
            list.find_partition("t", 1).unwrap().offset(),
            rdkafka::Offset::Offset(1)
        );
        assert!(offsets.is_empty());
    }

    #[test]
    fn user_options_override_the_profile() {
        let config = KafkaConfig::new(Some("k:9092"), &["linger.ms=50".into()]).unwrap();
        assert_eq!(
            config.client_config(&[("linger.ms", "5")]).get("linger.ms"),
            Some("50")
        );
    }

    #[tokio::test]
    async fn a_mark_is_reached_once_the_records_before_it_are_acknowledged() {
        let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
        cluster.create_topic(topics::VEHICLES, 1, 1).unwrap();
        // Every acknowledgement takes 300 ms, so records stay in flight while we look.
        cluster
            .broker_round_trip_time(1, std::time::Duration::from_millis(300))
            .unwrap();
        let config = KafkaConfig::new(Some(&cluster.bootstrap_servers()), &[]).unwrap();
        let metrics = Metrics::new("test", &[]);
        let mut emitter = config.emitter(metrics.clone(), Compression::None).unwrap();

        let record = |payload, items| Outgoing {
            topic: topics::VEHICLES,
            partition: 0,
            payload,
            timestamp_ms: 1,
            schema: "s",
            items,
        };
        emitter.send(record(b"1", 1)).await.unwrap();
        let first = emitter.mark().expect("nothing was in flight before");
        emitter.send(record(b"2\n3", 2)).await.unwrap();
        assert!(
            !emitter.reached(&first).unwrap(),
            "acknowledged before the broker answered"
        );
        assert!(emitter.mark().is_none(), "one mark at a time");

        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !emitter.reached(&first).unwrap() {
            assert!(
                std::time::Instant::now() < deadline,
                "the mark was never reached"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let second = emitter.mark().expect("the first mark was reached");
        emitter.settle().await.unwrap();
        assert!(emitter.reached(&second).unwrap());
        assert!(
            metrics
                .render()
                .contains(r#"cartrack_test_records_out_total{endpoint="cartrack.vehicles"} 3"#),
            "{}",
            metrics.render()
        );
    }
}
