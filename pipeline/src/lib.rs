//! The car-tracking pipeline cartrack runs on Mesos: the real-time "predictive mapping" of a
//! live fleet.
//!
//! Positions come in through sources ([`sources`]: a simulated fleet, CSV replays, devices over
//! HTTP), are validated ([`validate`]) and produced to Kafka. The [`processor`] turns them into
//! per-vehicle state with predictions, per-tile traffic and geofence alerts, using the steps in
//! [`transforms`]. The indexer writes those into Elasticsearch or NDJSON files ([`sinks`]).
//!
//! The entry point is the `cartrack-worker` binary, whose subcommands (`ingest`, `process`,
//! `index`, `broker`) are the adapters in [`commands`]. Everything that computes is pure and
//! takes the time as an argument; the adapters own the I/O.

pub(crate) mod checkpoint;
pub mod cli;
pub mod commands;
pub mod geo;
pub mod http;
pub mod kafka;
pub mod keys;
pub mod metrics;
pub mod model;
pub mod processor;
pub mod sinks;
pub mod sources;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod transforms;
pub mod validate;
pub(crate) mod vehicle_proto;

/// Milliseconds since the Unix epoch by the wall clock: the one place the I/O adapters read it.
pub fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}
