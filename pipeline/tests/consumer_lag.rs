//! The `consumer_lag_records` gauge's measure (`kafka::lag`), against the local broker: the
//! records on a held partition not read yet, then none once read.

use std::time::Duration;

use cartrack_pipeline::commands::broker::{LocalBroker, Retention};
use cartrack_pipeline::kafka::{lag, topics, KafkaConfig};
use rdkafka::consumer::Consumer;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const T: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_counts_the_unread_records_of_held_partitions_and_falls_to_zero_once_read() {
    let broker = LocalBroker::with_retention(2, Retention::default()).expect("broker");
    let bootstrap = broker.bootstrap_servers().to_owned();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .expect("producer");
    for n in 0..120 {
        let key = n.to_string();
        let record = BaseRecord::to(topics::POSITIONS)
            .partition(n % 2)
            .key(&key)
            .payload("x");
        producer.send(record).expect("queued");
    }
    producer.flush(T).expect("acknowledged");

    let consumer = KafkaConfig::new(Some(&bootstrap), &[])
        .expect("config")
        .consumer("lag-test")
        .expect("consumer");
    // Holding partition 0 only, where the group committed offset 0: its 60 records are the
    // lag, not partition 1's.
    let mut held = TopicPartitionList::new();
    held.add_partition_offset(topics::POSITIONS, 0, Offset::Offset(0))
        .expect("partition");
    consumer
        .commit(&held, rdkafka::consumer::CommitMode::Sync)
        .expect("committed");
    consumer.assign(&held).expect("assigned");
    let measure = |consumer| tokio::task::block_in_place(|| lag(consumer, T));
    assert_eq!(measure(&consumer).expect("measured"), 60);

    for _ in 0..60 {
        tokio::time::timeout(T, consumer.recv())
            .await
            .expect("a record in time")
            .expect("a record");
    }
    assert_eq!(measure(&consumer).expect("measured"), 0);
}
