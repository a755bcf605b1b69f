//! A consumer's lag: records on the partitions it holds that it has not read yet. Reported
//! as a gauge on `/metrics`, which the scheduler's autoscaling reads.

use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::Offset;

/// Sum over the partitions assigned to `consumer` of (high watermark - its position). A
/// partition not read from yet counts from its low watermark (what `earliest` would read).
/// Blocking: one watermark request per partition, each within `timeout`.
pub fn lag(consumer: &StreamConsumer, timeout: Duration) -> Result<u64, KafkaError> {
    let positions = consumer.position()?;
    let mut lag = 0u64;
    for element in positions.elements() {
        let (low, high) =
            consumer.fetch_watermarks(element.topic(), element.partition(), timeout)?;
        let read_up_to = match element.offset() {
            Offset::Offset(next) => next,
            _ => low,
        };
        lag += u64::try_from(high.saturating_sub(read_up_to)).unwrap_or(0);
    }
    Ok(lag)
}
