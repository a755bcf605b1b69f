//! The local broker refuses producers (at its backlog bound) without losing an acknowledged
//! record.
//!
//! An idempotent producer keeps several produce requests in flight per partition. If the
//! broker refuses one (retriably) and then accepts the next, the producer takes the later
//! acknowledgement as proof that the refused records were written too, acknowledges them and
//! never resends them: a real broker answers the later request "out of order" instead, and
//! so must `broker` (`csrc/mock_retention.c`).
//!
//! librdkafka keeps at most five records in flight per partition, so this happens with large
//! records, such as `process`'s batches of output documents. Here records are 128 KiB, the
//! first produce request is refused as the bound refuses, and answers are delayed so the
//! producer has sent the next requests meanwhile: every acknowledged record must be in the log.

mod support;

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cartrack_pipeline::commands::broker::{LocalBroker, Retention};
use cartrack_pipeline::kafka::topics;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, ClientContext, Message, Offset, TopicPartitionList};
use support::send_waiting_for_room;

const PARTITIONS: i32 = 2;
const RECORDS: u64 = 120;

/// The ids of acknowledged records, and how many deliveries failed.
#[derive(Default)]
struct Deliveries {
    acknowledged: Mutex<Vec<u64>>,
    failed: Mutex<u64>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Box<u64>;

    fn delivery(&self, result: &DeliveryResult<'_>, id: Box<u64>) {
        match result {
            Ok(_) => self.acknowledged.lock().unwrap().push(*id),
            Err(_) => *self.failed.lock().unwrap() += 1,
        }
    }
}

/// A 128 KiB payload that starts with the record's id.
fn payload(id: u64) -> Vec<u8> {
    let mut bytes = id.to_be_bytes().to_vec();
    bytes.resize(128 << 10, b'x');
    bytes
}

#[test]
fn a_refused_request_is_not_overtaken_by_the_next_one_in_flight() {
    let broker = LocalBroker::with_retention(PARTITIONS, Retention::default()).unwrap();
    let bootstrap = broker.bootstrap_servers().to_owned();
    // Answers take 100 ms, so the producer sends its next requests before the refusal of the
    // first one arrives.
    broker.delay_answers(Duration::from_millis(100)).unwrap();
    broker.refuse_produce_requests(1).unwrap();

    // Idempotent, as the pipeline's producers are.
    let producer: ThreadedProducer<Deliveries> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        // One record per request, as `process`'s outputs of ~800 KB uncompressed are.
        .set("batch.size", "200000")
        .create_with_context(Deliveries::default())
        .unwrap();
    for id in 0..RECORDS {
        let value = payload(id);
        let record = BaseRecord::<(), _, _>::with_opaque_to(topics::VEHICLES, Box::new(id))
            .partition((id % PARTITIONS as u64) as i32)
            .payload(&value);
        send_waiting_for_room(&producer, record);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let acknowledged = std::mem::take(&mut *producer.context().acknowledged.lock().unwrap());
    assert_eq!(*producer.context().failed.lock().unwrap(), 0);
    assert_eq!(acknowledged.len() as u64, RECORDS);

    // Everything acknowledged is in the log.
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    let mut ends = Vec::new();
    for partition in 0..PARTITIONS {
        assignment
            .add_partition_offset(topics::VEHICLES, partition, Offset::Beginning)
            .unwrap();
        let (_, end) = reader
            .fetch_watermarks(topics::VEHICLES, partition, Duration::from_secs(10))
            .unwrap();
        ends.push(end);
    }
    reader.assign(&assignment).unwrap();
    let mut read = HashSet::new();
    let mut next = vec![0; PARTITIONS as usize];
    let deadline = Instant::now() + Duration::from_secs(30);
    while next.iter().zip(&ends).any(|(next, end)| next < end) {
        assert!(Instant::now() < deadline, "the log was not read to its end");
        if let Some(message) = reader.poll(Duration::from_millis(100)) {
            let message = message.unwrap();
            let bytes = message.payload().unwrap();
            read.insert(u64::from_be_bytes(bytes[..8].try_into().unwrap()));
            next[message.partition() as usize] = message.offset() + 1;
        }
    }
    let lost: Vec<u64> = acknowledged
        .iter()
        .copied()
        .filter(|id| !read.contains(id))
        .collect();
    let stats = broker.retention_stats();
    eprintln!("read {} distinct of {RECORDS}; {stats:?}", read.len());
    assert!(
        stats.sequence_refusals > 0,
        "no request was refused for being ahead of the refused one: {stats:?}"
    );
    assert!(
        lost.is_empty(),
        "{} acknowledged records are not in the log, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
}
