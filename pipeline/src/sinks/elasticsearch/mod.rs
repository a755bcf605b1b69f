//! The Elasticsearch/OpenSearch sink: `_bulk` requests over HTTP, with index templates,
//! retries with backoff on overload, and per-item error handling.
//!
//! Split after vector's layout: [`config`] (what the user gives), [`request_builder`] (batch to
//! bulk body), [`service`] (HTTP and response parsing), [`retry`] (when and how long to wait),
//! [`sink`] (the loop tying them together).

pub mod config;
pub mod request_builder;
pub mod retry;
pub mod service;
pub mod sink;

pub use config::ElasticsearchConfig;
pub use sink::ElasticsearchSink;
