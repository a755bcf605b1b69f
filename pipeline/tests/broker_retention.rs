//! The local broker's retention rule (`cartrack-worker broker`, `csrc/mock_retention.c`):
//! librdkafka's mock cluster alone keeps 5 MiB per partition and drops the oldest, consumed or
//! not; with the rule it keeps every record no consumer group has committed past, drops only
//! consumed ones beyond `retain_bytes`, and refuses producers (retriably: they wait and resend)
//! while a partition holds more than `max_backlog_bytes` not yet consumed.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cartrack_pipeline::commands::broker::{LocalBroker, Retention};
use cartrack_pipeline::kafka::topics;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, ClientContext, Message, Offset, TopicPartitionList};
use support::send_waiting_for_room;

/// Counts acknowledgements and failures.
#[derive(Default)]
struct Deliveries {
    acknowledged: AtomicU64,
    failed: AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.acknowledged.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// A 1 KiB payload that does not compress, different for every record.
fn payload(n: u64) -> Vec<u8> {
    let mut state = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// An idempotent producer as `ingest` uses (acks from all, retries until delivered).
fn producer(bootstrap: &str) -> ThreadedProducer<Deliveries> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .create_with_context(Deliveries::default())
        .unwrap()
}

fn send_all(producer: &ThreadedProducer<Deliveries>, count: u64) {
    for n in 0..count {
        let value = payload(n);
        let key = n.to_string();
        let record = BaseRecord::to(topics::POSITIONS)
            .partition(0)
            .key(&key)
            .payload(&value);
        send_waiting_for_room(producer, record);
    }
}

fn consumer(bootstrap: &str, group: &str) -> BaseConsumer {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topics::POSITIONS, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    consumer
}

/// Reads partition 0 until `count` records arrived, checking each is the next one in order
/// (nothing lost, nothing twice); with `commit`, commits after every record.
fn read_in_order(consumer: &BaseConsumer, count: u64, commit: bool, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let mut next = 0;
    while next < count {
        assert!(
            Instant::now() < deadline,
            "only {next} of {count} records read back"
        );
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.unwrap_or_else(|err| panic!("after {next} records: {err}"));
        assert_eq!(message.offset(), next as i64, "a record was dropped");
        assert_eq!(message.payload(), Some(&payload(next)[..]));
        if commit {
            consumer
                .commit_message(&message, CommitMode::Async)
                .unwrap();
        }
        next += 1;
    }
}

#[test]
fn keeps_more_than_the_mock_did_while_no_group_has_consumed_it() {
    let broker = LocalBroker::with_retention(1, Retention::default()).unwrap();
    // 8 MiB of unconsumed records on one partition: the mock alone kept 5 MiB.
    let count = 8 * 1024;
    let producer = producer(broker.bootstrap_servers());
    send_all(&producer, count);
    producer.flush(Duration::from_secs(30)).unwrap();
    assert_eq!(
        producer.context().acknowledged.load(Ordering::Relaxed),
        count
    );
    assert_eq!(producer.context().failed.load(Ordering::Relaxed), 0);

    let reader = consumer(broker.bootstrap_servers(), "reader");
    let (low, high) = reader
        .fetch_watermarks(topics::POSITIONS, 0, Duration::from_secs(10))
        .unwrap();
    assert_eq!((low, high), (0, count as i64), "records dropped");
    read_in_order(&reader, count, false, Duration::from_secs(30));
}

#[test]
fn refuses_producers_at_the_bound_and_drops_only_what_was_consumed() {
    let retention = Retention {
        max_backlog_bytes: 256 << 10,
        retain_bytes: 64 << 10,
    };
    let broker = LocalBroker::with_retention(1, retention).unwrap();
    let bootstrap = broker.bootstrap_servers().to_owned();
    // A group that has committed on the partition (at its start), so the bound counts from it.
    let group = consumer(&bootstrap, "pipeline");
    let mut start = TopicPartitionList::new();
    start
        .add_partition_offset(topics::POSITIONS, 0, Offset::Offset(0))
        .unwrap();
    group.commit(&start, CommitMode::Sync).unwrap();

    // 4 MiB, sixteen times the bound: the producer can only get so far before it is refused.
    let count = 4 * 1024;
    let producer = std::sync::Arc::new(producer(&bootstrap));
    let sender = {
        let producer = producer.clone();
        std::thread::spawn(move || send_all(&producer, count))
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while broker.retention_stats().refusing_checks == 0 {
        assert!(Instant::now() < deadline, "the producer was never refused");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Refused, it waits: acknowledgements stop (the bound is checked every 5 ms, so it is
    // exceeded by what arrived since the last check), and nothing fails.
    let acknowledged_now = || producer.context().acknowledged.load(Ordering::Relaxed);
    let mut acknowledged = acknowledged_now();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let later = acknowledged_now();
        if later == acknowledged {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the producer was never held back"
        );
        acknowledged = later;
    }
    assert!(acknowledged < count, "nothing held the producer back");
    assert_eq!(producer.context().failed.load(Ordering::Relaxed), 0);
    eprintln!(
        "held at {acknowledged} KiB acknowledged; backlog {:?}",
        broker.retention_stats().max_partition_backlog
    );

    // The group consumes and commits: the producer resumes and finishes, and the group reads
    // every record once, in order, although consumed ones are dropped behind it all along.
    read_in_order(&group, count, true, Duration::from_secs(60));
    sender.join().unwrap();
    producer.flush(Duration::from_secs(30)).unwrap();
    assert_eq!(
        producer.context().acknowledged.load(Ordering::Relaxed),
        count
    );
    assert_eq!(producer.context().failed.load(Ordering::Relaxed), 0);
    let stats = broker.retention_stats();
    assert!(
        stats.trimmed_bytes > 0,
        "consumed records were never dropped: {stats:?}"
    );
    assert!(stats.refusing_checks > 0, "{stats:?}");
    eprintln!("retention: {stats:?}");
}
