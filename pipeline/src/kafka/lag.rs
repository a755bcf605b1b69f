//! A consumer's lag: records on the partitions it holds that it has not read yet. Reported
//! as a gauge on `/metrics`, which the scheduler's autoscaling reads.

use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

/// Sum over the partitions assigned to `consumer` of (high watermark - its position). A
/// partition not fetched from yet counts from the group's committed offset there (where the
/// consumer will start), or from its low watermark without one (the pipeline's consumers then
/// start at the earliest record). Blocking: one watermark request per partition, and one for
/// the committed offsets when a partition has no position yet, each within `timeout`.
pub fn lag(consumer: &StreamConsumer, timeout: Duration) -> Result<u64, KafkaError> {
    let positions = consumer.position()?;
    let mut unstarted = TopicPartitionList::new();
    for element in positions.elements() {
        if !matches!(element.offset(), Offset::Offset(_)) {
            unstarted.add_partition(element.topic(), element.partition());
        }
    }
    let committed = if unstarted.count() > 0 {
        consumer.committed_offsets(unstarted, timeout)?
    } else {
        unstarted
    };
    let mut lag = 0u64;
    for element in positions.elements() {
        let from = match element.offset() {
            Offset::Offset(next) => Some(next),
            _ => committed
                .find_partition(element.topic(), element.partition())
                .and_then(|c| match c.offset() {
                    Offset::Offset(at) => Some(at),
                    _ => None,
                }),
        };
        let (low, high) =
            consumer.fetch_watermarks(element.topic(), element.partition(), timeout)?;
        lag += u64::try_from(high.saturating_sub(from.unwrap_or(low))).unwrap_or(0);
    }
    Ok(lag)
}
