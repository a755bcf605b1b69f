//! Prometheus metrics shared by all subcommands: what came in, what was turned away and why,
//! what went out. Served as text on `GET /metrics`.

use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels naming where records came from or went to.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Endpoint {
    /// A source (`simulator`, `replay`, `http`), topic or index name.
    pub endpoint: String,
}

/// Labels naming why a record was rejected.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Reason {
    /// A [`crate::validate::Reject::label`], or another stage's reason such as `stale`.
    pub reason: &'static str,
}

/// Labels naming a device key: its name in the keys file, never the key.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KeyName {
    /// The key's `name`.
    pub key: String,
}

/// The intake's authentication counters (`ingest` only): requests refused by reason,
/// positions accepted and rate-limited requests by key, keys loaded, failed reloads.
#[derive(Debug, Clone, Default)]
pub struct IntakeAuthMetrics {
    refused: Family<Reason, Counter>,
    accepted: Family<KeyName, Counter>,
    rate_limited: Family<KeyName, Counter>,
    keys: Gauge,
    reload_failures: Counter,
}

impl IntakeAuthMetrics {
    /// Reasons a request is refused before its body is read, each shown from zero.
    pub const REFUSALS: [&'static str; 4] =
        ["missing_key", "unknown_key", "revoked_key", "no_keys"];

    /// Counts a request refused for `reason` (one of [`Self::REFUSALS`]).
    pub fn refused(&self, reason: &'static str) {
        self.refused.get_or_create(&Reason { reason }).inc();
    }

    /// Counts `count` positions of `key` acknowledged by Kafka.
    pub fn accepted(&self, key: &str, count: u64) {
        self.accepted.get_or_create(&key_name(key)).inc_by(count);
    }

    /// Counts a request of `key` stopped by its rate limit.
    pub fn rate_limited(&self, key: &str) {
        self.rate_limited.get_or_create(&key_name(key)).inc();
    }

    /// Sets the number of keys loaded from the file.
    pub fn set_keys(&self, count: usize) {
        self.keys.set(count as i64);
    }

    /// Counts a change of the keys file that did not load (the keys before it stay).
    pub fn reload_failed(&self) {
        self.reload_failures.inc();
    }

    fn register(&self, registry: &mut Registry) {
        for reason in Self::REFUSALS {
            let _ = self.refused.get_or_create(&Reason { reason });
        }
        registry.register(
            "intake_auth_refused",
            "POST /v1/positions requests refused before reading, by reason",
            self.refused.clone(),
        );
        registry.register(
            "intake_accepted",
            "Positions acknowledged by Kafka, by device key",
            self.accepted.clone(),
        );
        registry.register(
            "intake_rate_limited",
            "Requests stopped by their key's rate limit (429), by device key",
            self.rate_limited.clone(),
        );
        registry.register("intake_keys", "Device keys loaded", self.keys.clone());
        registry.register(
            "intake_keys_reload_failures",
            "Changes of the keys file that did not load (the previous keys stay)",
            self.reload_failures.clone(),
        );
    }
}

fn key_name(key: &str) -> KeyName {
    KeyName {
        key: key.to_owned(),
    }
}

/// Counters of one family already looked up, by endpoint: the hot paths count every record,
/// and building the label (a `String`) for each lookup would allocate per record.
#[derive(Debug, Default)]
struct Handles(Mutex<Vec<(String, Counter)>>);

impl Handles {
    fn add(&self, family: &Family<Endpoint, Counter>, endpoint: &str, count: u64) {
        let mut handles = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, counter)) = handles.iter().find(|(name, _)| name == endpoint) {
            counter.inc_by(count);
            return;
        }
        let counter = family
            .get_or_create(&Endpoint {
                endpoint: endpoint.to_owned(),
            })
            .clone();
        counter.inc_by(count);
        handles.push((endpoint.to_owned(), counter));
    }
}

/// The counters; cheap to clone and share between tasks.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    records_in: Family<Endpoint, Counter>,
    rejects: Family<Reason, Counter>,
    records_out: Family<Endpoint, Counter>,
    in_handles: Arc<Handles>,
    out_handles: Arc<Handles>,
    /// `broker_reachable`, for the subcommands that watch the broker ([`Self::with_broker`]).
    broker_reachable: Option<Gauge>,
    /// `kafka_errors_total`, beside it.
    kafka_errors: Option<Counter>,
    /// `consumer_lag_records`, beside it.
    consumer_lag: Option<Gauge>,
}

impl Metrics {
    /// Fresh counters, prefixed `cartrack_<subcommand>_`, with a zero for each reject reason
    /// the subcommand can report (so dashboards see zeros rather than gaps).
    pub fn new(subcommand: &str, reasons: &[&'static str]) -> Self {
        let mut registry = Registry::with_prefix(format!("cartrack_{subcommand}"));
        let records_in = Family::<Endpoint, Counter>::default();
        let rejects = Family::<Reason, Counter>::default();
        let records_out = Family::<Endpoint, Counter>::default();
        registry.register(
            "records_in",
            "Records received, by source",
            records_in.clone(),
        );
        registry.register("rejects", "Records turned away, by reason", rejects.clone());
        registry.register(
            "records_out",
            "Records written, by destination",
            records_out.clone(),
        );
        for &reason in reasons {
            let _ = rejects.get_or_create(&Reason { reason });
        }
        Self {
            registry: Arc::new(registry),
            records_in,
            rejects,
            records_out,
            in_handles: Arc::default(),
            out_handles: Arc::default(),
            broker_reachable: None,
            kafka_errors: None,
            consumer_lag: None,
        }
    }

    /// [`Self::new`] plus the gauge `cartrack_<subcommand>_broker_reachable` (1 while the
    /// Kafka broker answers, 0 while it does not; 0 until it first answers), the counter
    /// `..._kafka_errors_total` (client errors retried), for the consumers that ride out broker
    /// outages and report them on `/v1/ready`, and the gauge `..._consumer_lag_records`
    /// (records on the partitions this consumer holds that it has not read yet).
    pub fn with_broker(subcommand: &str, reasons: &[&'static str]) -> Self {
        let mut metrics = Self::new(subcommand, reasons);
        let gauge = Gauge::default();
        let errors = Counter::default();
        let lag = Gauge::default();
        // The registry was created above and not shared yet.
        if let Some(registry) = Arc::get_mut(&mut metrics.registry) {
            registry.register(
                "broker_reachable",
                "1 while the Kafka broker answers, 0 while it does not",
                gauge.clone(),
            );
            registry.register(
                "kafka_errors",
                "Kafka client errors retried (transport failures, timeouts, brokers down)",
                errors.clone(),
            );
            registry.register(
                "consumer_lag_records",
                "Records on the partitions this consumer holds that it has not read yet",
                lag.clone(),
            );
            metrics.broker_reachable = Some(gauge);
            metrics.kafka_errors = Some(errors);
            metrics.consumer_lag = Some(lag);
        }
        metrics
    }

    /// [`Self::new`] plus the intake's authentication counters ([`IntakeAuthMetrics`]).
    pub fn with_intake_auth(
        subcommand: &str,
        reasons: &[&'static str],
    ) -> (Self, IntakeAuthMetrics) {
        let mut metrics = Self::new(subcommand, reasons);
        let auth = IntakeAuthMetrics::default();
        // The registry was created above and not shared yet.
        if let Some(registry) = Arc::get_mut(&mut metrics.registry) {
            auth.register(registry);
        }
        (metrics, auth)
    }

    /// Counts a Kafka client error that is retried (if this subcommand watches the broker).
    pub fn kafka_error(&self) {
        if let Some(counter) = &self.kafka_errors {
            counter.inc();
        }
    }

    /// Sets the `broker_reachable` gauge (if this subcommand has it).
    pub fn set_broker_reachable(&self, reachable: bool) {
        if let Some(gauge) = &self.broker_reachable {
            gauge.set(i64::from(reachable));
        }
    }

    /// Sets the `consumer_lag_records` gauge (if this subcommand has it).
    pub fn set_consumer_lag(&self, records: u64) {
        if let Some(gauge) = &self.consumer_lag {
            gauge.set(i64::try_from(records).unwrap_or(i64::MAX));
        }
    }

    /// Counts `count` records received from `source`.
    pub fn record_in(&self, source: &str, count: u64) {
        self.in_handles.add(&self.records_in, source, count);
    }

    /// Counts one rejected record.
    pub fn reject(&self, reason: &'static str) {
        self.reject_many(reason, 1);
    }

    /// Counts `count` records rejected for the same reason.
    pub fn reject_many(&self, reason: &'static str, count: u64) {
        self.rejects.get_or_create(&Reason { reason }).inc_by(count);
    }

    /// Counts `count` records written to `destination`.
    pub fn record_out(&self, destination: &str, count: u64) {
        self.out_handles.add(&self.records_out, destination, count);
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // ok: writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::Reject;

    #[test]
    fn renders_counters_in_prometheus_text() {
        let metrics = Metrics::new("ingest", &[Reject::Malformed.label()]);
        metrics.record_in("simulator", 3);
        metrics.reject(Reject::TooOld.label());
        metrics.record_out("cartrack.positions", 2);
        let text = metrics.render();
        assert!(
            text.contains("cartrack_ingest_records_in_total{endpoint=\"simulator\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("cartrack_ingest_rejects_total{reason=\"too_old\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("cartrack_ingest_rejects_total{reason=\"malformed\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("cartrack_ingest_records_out_total{endpoint=\"cartrack.positions\"} 2")
        );
        assert!(!text.contains("broker_reachable"), "{text}");
    }

    #[test]
    fn the_broker_gauge_is_only_where_the_broker_is_watched() {
        let metrics = Metrics::with_broker("process", &[]);
        assert!(
            metrics
                .render()
                .contains("cartrack_process_broker_reachable 0"),
            "{}",
            metrics.render()
        );
        metrics.set_broker_reachable(true);
        metrics.kafka_error();
        let text = metrics.render();
        assert!(
            text.contains("cartrack_process_broker_reachable 1"),
            "{text}"
        );
        assert!(
            text.contains("cartrack_process_kafka_errors_total 1"),
            "{text}"
        );
    }
}
