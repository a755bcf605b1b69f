//! Kafka connection settings and the client profiles each workload needs, in one place so
//! every subcommand talks to the cluster the same way.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use rdkafka::consumer::StreamConsumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

use crate::metrics::Metrics;
use crate::model::SCHEMA_HEADER;

/// The topics of the pipeline.
pub mod topics {
    /// Validated positions, keyed by vehicle id (protobuf).
    pub const POSITIONS: &str = "cartrack.positions";
    /// Vehicle states with predictions, keyed by vehicle id (JSON).
    pub const VEHICLES: &str = "cartrack.vehicles";
    /// Closed tile windows, keyed by `<geohash>-<window start>` (JSON).
    pub const TILES: &str = "cartrack.tiles";
    /// Geofence crossings, keyed by their deterministic alert id (JSON).
    pub const ALERTS: &str = "cartrack.alerts";
    /// Every topic, for a broker to create up front.
    pub const ALL: [&str; 4] = [POSITIONS, VEHICLES, TILES, ALERTS];
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

    /// A producer that neither loses nor duplicates on retry (idempotent, acks from all
    /// in-sync replicas) and lingers only briefly, since the pipeline is real-time.
    pub fn producer(&self) -> Result<FutureProducer, KafkaError> {
        self.client_config(&[
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("linger.ms", "5"),
            ("compression.type", "lz4"),
        ])
        .create()
    }

    /// A consumer in `group` that commits only when told to (after its outputs are safe) and
    /// fetches with little delay. New groups start at the latest records: this is live data.
    pub fn consumer(&self, group: &str) -> Result<StreamConsumer, KafkaError> {
        self.client_config(&[
            ("group.id", group),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "latest"),
            ("fetch.wait.max.ms", "20"),
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "1000"),
        ])
        .create()
    }
}

/// The next offset to commit per partition, for what has been fully handled so far.
#[derive(Debug, Default)]
pub struct PendingOffsets {
    next: std::collections::HashMap<(String, i32), i64>,
}

impl PendingOffsets {
    /// Notes that the record at `offset` is handled.
    pub fn record(&mut self, topic: &str, partition: i32, offset: i64) {
        match self.next.get_mut(&(topic.to_owned(), partition)) {
            Some(next) => *next = (*next).max(offset + 1),
            None => {
                self.next.insert((topic.to_owned(), partition), offset + 1);
            }
        }
    }

    /// Whether nothing awaits committing.
    pub fn is_empty(&self) -> bool {
        self.next.is_empty()
    }

    /// The offsets to commit, emptying the set.
    pub fn take(&mut self) -> Result<rdkafka::TopicPartitionList, KafkaError> {
        let mut list = rdkafka::TopicPartitionList::new();
        for ((topic, partition), next) in self.next.drain() {
            list.add_partition_offset(&topic, partition, rdkafka::Offset::Offset(next))?;
        }
        Ok(list)
    }
}

/// A delivery report that remembers its topic, for the records-out metric.
struct TaggedDelivery {
    topic: &'static str,
    delivery: DeliveryFuture,
}

impl Future for TaggedDelivery {
    type Output = (&'static str, Result<(), KafkaError>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let topic = self.topic;
        self.delivery.poll_unpin(cx).map(|report| {
            let result = match report {
                Ok(Ok(_)) => Ok(()),
                Ok(Err((err, _))) => Err(err),
                Err(_) => Err(KafkaError::Canceled),
            };
            (topic, result)
        })
    }
}

/// A producer with its in-flight deliveries: sends without waiting for each acknowledgement,
/// yet lets the caller wait for all of them before it commits what they were derived from.
pub struct Emitter {
    producer: FutureProducer,
    in_flight: FuturesUnordered<TaggedDelivery>,
    metrics: Metrics,
}

impl Emitter {
    /// Wraps `producer`; deliveries are counted as records out in `metrics`.
    pub fn new(producer: FutureProducer, metrics: Metrics) -> Self {
        Self {
            producer,
            in_flight: FuturesUnordered::new(),
            metrics,
        }
    }

    /// Queues one record. When the producer's queue is full this waits for a delivery to make
    /// room, which is how a slow cluster slows the caller down.
    pub async fn send(
        &mut self,
        topic: &'static str,
        key: &str,
        payload: &[u8],
        timestamp_ms: i64,
        schema: &str,
    ) -> Result<(), KafkaError> {
        let headers = OwnedHeaders::new().insert(Header {
            key: SCHEMA_HEADER,
            value: Some(schema),
        });
        let mut record = FutureRecord::to(topic)
            .key(key)
            .payload(payload)
            .timestamp(timestamp_ms)
            .headers(headers);
        loop {
            match self.producer.send_result(record) {
                Ok(delivery) => {
                    self.in_flight.push(TaggedDelivery { topic, delivery });
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    self.settle_one().await?;
                }
                Err((err, _)) => return Err(err),
            }
        }
        // Reap the deliveries already acknowledged, so the set stays small.
        while let Some(Some((topic, result))) = self.in_flight.next().now_or_never() {
            self.account(topic, result)?;
        }
        Ok(())
    }

    fn account(&self, topic: &str, result: Result<(), KafkaError>) -> Result<(), KafkaError> {
        match result {
            Ok(()) => {
                self.metrics.record_out(topic, 1);
                Ok(())
            }
            Err(err) => {
                tracing::error!(topic, error = %err, "delivery failed");
                Err(err)
            }
        }
    }

    async fn settle_one(&mut self) -> Result<(), KafkaError> {
        match self.in_flight.next().await {
            Some((topic, result)) => self.account(topic, result),
            None => Ok(()),
        }
    }

    /// Waits until every queued record is acknowledged; fails if any delivery failed, so the
    /// caller does not commit input whose output may be lost.
    pub async fn settle(&mut self) -> Result<(), KafkaError> {
        let mut first_error = None;
        while let Some((topic, result)) = self.in_flight.next().await {
            if let Err(err) = self.account(topic, result) {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
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
}
