//! Many items to one record: a [`Batcher`] gathers positions or documents per partition of
//! their key and sends each partition's as one record through an [`Emitter`].

use rdkafka::error::KafkaError;

use super::{Emitter, Outgoing};

/// The partition of `key` among `partitions`: CRC-32 of the key modulo the count, which is
/// what librdkafka's default partitioner picks for a keyed record, so batches land where the
/// records of their keys did before they were batched.
pub fn partition_of(key: &[u8], partitions: i32) -> i32 {
    (crc32fast::hash(key) % partitions.max(1).unsigned_abs()) as i32
}

/// The largest value a [`Batcher`] puts in one record (below the 1 MB brokers take by default,
/// and small enough that one record does not hold up its consumer).
pub(crate) const MAX_BATCH_BYTES: usize = 256 * 1024;

/// Items (positions, documents) to one topic, gathered into one record per partition: the
/// per-record cost of Kafka (producing, storing, fetching, the consumer's wake-up, in every
/// process on the way) is paid once per batch instead of once per item, which made it most of
/// the pipeline's CPU (see BENCHMARKS.md).
///
/// An item goes to the partition of its key, in the order added, so the items of one key stay
/// in one partition in order, as keyed records would.
#[derive(Debug)]
pub struct Batcher {
    topic: &'static str,
    schema: &'static str,
    partitions: Vec<PartitionBatch>,
}

#[derive(Debug, Default)]
struct PartitionBatch {
    value: Vec<u8>,
    items: usize,
    /// The newest item's time: the record's timestamp.
    timestamp_ms: i64,
}

impl Batcher {
    /// A batcher for `topic`, which has `partitions` partitions, labelling records `schema`.
    pub fn new(topic: &'static str, schema: &'static str, partitions: i32) -> Self {
        Self {
            topic,
            schema,
            partitions: (0..partitions.max(1))
                .map(|_| PartitionBatch::default())
                .collect(),
        }
    }

    /// Adds one item, written by `write` into its partition's value; a value past
    /// [`MAX_BATCH_BYTES`] is sent at once.
    pub async fn add(
        &mut self,
        emitter: &mut Emitter,
        key: &[u8],
        timestamp_ms: i64,
        write: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), KafkaError> {
        let partition = partition_of(key, self.partitions.len() as i32);
        let batch = &mut self.partitions[partition as usize];
        write(&mut batch.value);
        batch.items += 1;
        batch.timestamp_ms = batch.timestamp_ms.max(timestamp_ms);
        if batch.value.len() >= MAX_BATCH_BYTES {
            self.send(emitter, partition as usize).await?;
        }
        Ok(())
    }

    /// Drops the items gathered and not sent: those of a send the caller gave up on (a
    /// cancelled [`Self::add`] or [`Self::flush`]), which must not go out with later ones.
    pub fn discard(&mut self) {
        for batch in &mut self.partitions {
            batch.value.clear();
            batch.items = 0;
            batch.timestamp_ms = 0;
        }
    }

    /// Sends every partition's items gathered so far.
    pub async fn flush(&mut self, emitter: &mut Emitter) -> Result<(), KafkaError> {
        for partition in 0..self.partitions.len() {
            self.send(emitter, partition).await?;
        }
        Ok(())
    }

    async fn send(&mut self, emitter: &mut Emitter, partition: usize) -> Result<(), KafkaError> {
        let batch = &mut self.partitions[partition];
        if batch.items == 0 {
            return Ok(());
        }
        let sent = emitter
            .send(Outgoing {
                topic: self.topic,
                partition: partition as i32,
                payload: &batch.value,
                timestamp_ms: batch.timestamp_ms,
                schema: self.schema,
                items: batch.items,
            })
            .await;
        // Sent or not, these items are the emitter's now (a failure fails the caller).
        batch.value.clear();
        batch.items = 0;
        batch.timestamp_ms = 0;
        sent
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::message::Message;
    use rdkafka::ClientConfig;

    use super::*;
    use crate::kafka::{topics, Compression, KafkaConfig};
    use crate::metrics::Metrics;

    #[test]
    fn partitions_follow_librdkafkas_default_partitioner() {
        // CRC-32 of "123456789" is 0xCBF43926 (the standard check value).
        assert_eq!(
            partition_of(b"123456789", 1_000),
            (0xCBF4_3926u32 % 1_000) as i32
        );
        assert_eq!(partition_of(b"", 4), 0);
    }

    #[tokio::test]
    async fn batches_keep_each_key_in_its_partition_and_in_order() {
        let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
        cluster.create_topic(topics::VEHICLES, 4, 1).unwrap();
        let bootstrap = cluster.bootstrap_servers();
        let config = KafkaConfig::new(Some(&bootstrap), &[]).unwrap();
        let metrics = Metrics::new("test", &[]);
        let mut emitter = config.emitter(metrics.clone(), Compression::Lz4).unwrap();
        assert_eq!(emitter.partitions(topics::VEHICLES).await, 4);

        let mut batcher = Batcher::new(topics::VEHICLES, "s", 4);
        let keys = ["cab-1", "cab-2", "cab-3", "cab-4", "cab-5"];
        for round in 0..3 {
            for key in keys {
                batcher
                    .add(&mut emitter, key.as_bytes(), round, |value| {
                        value.extend_from_slice(format!("{key}:{round}\n").as_bytes());
                    })
                    .await
                    .unwrap();
            }
        }
        batcher.flush(&mut emitter).await.unwrap();
        emitter.settle().await.unwrap();

        let consumer: rdkafka::consumer::BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", "batches")
            .set("auto.offset.reset", "earliest")
            .create()
            .unwrap();
        rdkafka::consumer::Consumer::subscribe(&consumer, &[topics::VEHICLES]).unwrap();
        let mut lines = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while lines.len() < 15 {
            assert!(std::time::Instant::now() < deadline, "read {lines:?}");
            let Some(message) = consumer.poll(std::time::Duration::from_millis(100)) else {
                continue;
            };
            let message = message.unwrap();
            for line in std::str::from_utf8(message.payload().unwrap())
                .unwrap()
                .lines()
            {
                let (key, round) = line.split_once(':').unwrap();
                assert_eq!(
                    message.partition(),
                    partition_of(key.as_bytes(), 4),
                    "{line}"
                );
                lines.push((key.to_owned(), round.to_owned()));
            }
        }
        for key in keys {
            let rounds: Vec<_> = lines
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, r)| r.as_str())
                .collect();
            assert_eq!(rounds, ["0", "1", "2"], "{key}'s items in order");
        }
        assert!(
            metrics
                .render()
                .contains(r#"cartrack_test_records_out_total{endpoint="cartrack.vehicles"} 15"#),
            "items, not records, are counted: {}",
            metrics.render()
        );
    }
}
