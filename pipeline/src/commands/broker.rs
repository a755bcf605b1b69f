//! `broker`: an in-memory Kafka-protocol broker (librdkafka's mock cluster) for running the
//! whole pipeline on one machine with nothing installed. Not for production: it keeps
//! everything in memory and forgets it on exit.
//!
//! The mock alone keeps at most 5 MiB (or 100,000 batches) per partition and drops the oldest,
//! consumed or not; [`Retention`] replaces that rule (see `csrc/mock_retention.c`): a record
//! stays until every consumer group that committed on its partition has committed past it, and
//! producers are refused (retriably, so they wait and resend) while a partition holds more than
//! a stated number of bytes not yet consumed, and so is an idempotent producer's batch that
//! skips ahead of its sequence (an earlier one was refused): accepted, it would make the
//! producer count the refused records as written.

use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::ClientConfig;

use crate::kafka::topics;

/// Broker settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerSettings {
    /// Partitions of each pipeline topic.
    pub partitions: i32,
    /// What the broker keeps, and when it refuses new records.
    pub retention: Retention,
}

/// What the broker keeps and its bound, per partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Bytes (as stored: compressed batches) not yet consumed by every consumer group that
    /// committed on the partition, beyond which produce requests to the partition's broker are
    /// refused with a retriable error until consumers catch up.
    pub max_backlog_bytes: usize,
    /// Bytes of consumed records still kept (for re-reading, e.g. a re-index); the oldest
    /// consumed ones are dropped beyond it. Unconsumed records are never dropped.
    pub retain_bytes: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            max_backlog_bytes: 64 << 20,
            retain_bytes: 16 << 20,
        }
    }
}

/// How often the retention rule runs on the mock cluster's thread: a partition may exceed its
/// bound by what producers append within one period.
const CHECK_EVERY: std::time::Duration = std::time::Duration::from_millis(5);

/// The broker leading `cartrack.positions`; the output topics are led by the other one, so a
/// refusal for a full positions backlog stops `ingest` but never `process` (whose outputs free
/// the positions backlog once `index` drains them), and a full output topic holds `process`
/// back, never `index`, which only consumes.
const POSITIONS_BROKER: i32 = 1;
const OUTPUTS_BROKER: i32 = 2;

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// librdkafka refused to create the mock cluster or a topic.
    #[error("starting the mock Kafka cluster")]
    Kafka(#[from] KafkaError),
    /// The client came up without a mock cluster.
    #[error("librdkafka did not create a mock cluster")]
    NoCluster,
    /// The retention checker's thread could not start.
    #[error("starting the retention thread")]
    Thread(#[source] std::io::Error),
    /// Too many brokers in one process for the retention rule's table.
    #[error("too many in-memory brokers in one process")]
    TooMany,
    /// The first retention check (which takes over the mock's limits and its Produce handler)
    /// did not run.
    #[error("the mock cluster did not run the retention rule")]
    NotInstalled,
}

/// The C side of `csrc/mock_retention.c`.
mod ffi {
    use std::ffi::c_void;

    /// Mirrors `cartrack_retention_stats_t`.
    #[repr(C)]
    #[derive(Debug, Clone, Copy)]
    pub struct Stats {
        pub checks: u64,
        pub refusing_checks: u64,
        pub trimmed_msgsets: u64,
        pub trimmed_bytes: u64,
        pub retained_bytes: u64,
        pub backlog_bytes: u64,
        pub max_partition_backlog: u64,
        pub refusing_brokers: u32,
        pub worst_topic: [u8; 64],
        pub worst_partition: i32,
        pub worst_floor: i64,
        pub worst_end: i64,
        pub worst_backlog: u64,
        pub refused_requests: u64,
        pub sequence_refusals: u64,
    }

    impl Default for Stats {
        fn default() -> Self {
            Self {
                checks: 0,
                refusing_checks: 0,
                trimmed_msgsets: 0,
                trimmed_bytes: 0,
                retained_bytes: 0,
                backlog_bytes: 0,
                max_partition_backlog: 0,
                refusing_brokers: 0,
                worst_topic: [0; 64],
                worst_partition: -1,
                worst_floor: -1,
                worst_end: -1,
                worst_backlog: 0,
                refused_requests: 0,
                sequence_refusals: 0,
            }
        }
    }

    extern "C" {
        pub fn cartrack_retention_new(
            mcluster: *mut rdkafka::bindings::rd_kafka_mock_cluster_t,
            max_backlog_bytes: usize,
            retain_bytes: usize,
        ) -> *mut c_void;
        pub fn cartrack_retention_check(state: *mut c_void) -> u64;
        pub fn cartrack_retention_stats(state: *mut c_void, out: *mut Stats);
        pub fn cartrack_retention_free(state: *mut c_void);
    }
}

/// What the retention rule has done so far.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RetentionStats {
    /// Checks run.
    pub checks: u64,
    /// Checks that found a partition over its backlog bound (its producers were refused).
    pub refusing_checks: u64,
    /// Produce requests refused, over the bound or out of their producer's sequence.
    pub refused_requests: u64,
    /// Of those, requests with a batch ahead of its producer's sequence on the partition (an
    /// earlier one was refused): accepting it would have had the producer take the refused
    /// records as written.
    pub sequence_refusals: u64,
    /// Consumed bytes dropped.
    pub trimmed_bytes: u64,
    /// Bytes held now.
    pub retained_bytes: u64,
    /// Bytes not yet consumed now, all partitions together.
    pub backlog_bytes: u64,
    /// The largest unconsumed bytes one partition held at a check.
    pub max_partition_backlog: u64,
    /// The partition with the largest backlog at the last check: topic, partition, the lowest
    /// offset a group committed (-1: none did), its end offset, and its unconsumed bytes.
    pub fullest: (String, i32, i64, i64, u64),
}

/// The checker: a thread queueing one retention check every [`CHECK_EVERY`] on the mock
/// cluster's own queue (the check runs there, so it never races with request handling).
struct Checker {
    /// The C state; owned here, freed once no check can still use it.
    state: *mut std::ffi::c_void,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

// SAFETY: the C state is only touched by the mock thread (checks) and under the cluster's lock
// (stats); the pointer itself is just carried.
unsafe impl Send for Checker {}
unsafe impl Sync for Checker {}

/// A raw pointer the checker thread may carry.
struct StatePtr(*mut std::ffi::c_void);
// SAFETY: see `Checker`.
unsafe impl Send for StatePtr {}

impl Checker {
    fn start(
        handle: *mut rdkafka::bindings::rd_kafka_mock_cluster_t,
        retention: Retention,
    ) -> Result<Self, BrokerError> {
        // SAFETY: `handle` is the live mock cluster of the owner client; the state only stores it.
        let state = unsafe {
            ffi::cartrack_retention_new(handle, retention.max_backlog_bytes, retention.retain_bytes)
        };
        if state.is_null() {
            return Err(BrokerError::TooMany);
        }
        // The first check lifts the mock's own limits and wraps its Produce handler; it has run
        // before any client is told the address.
        // SAFETY: `state` was just created for this live cluster.
        unsafe { ffi::cartrack_retention_check(state) };
        let mut first = ffi::Stats::default();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while first.checks == 0 {
            if std::time::Instant::now() > deadline {
                // Leaked rather than freed: the queued check may still run.
                return Err(BrokerError::NotInstalled);
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
            // SAFETY: as above; the call locks the cluster.
            unsafe { ffi::cartrack_retention_stats(state, &mut first) };
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ptr = StatePtr(state);
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("broker-retention".into())
            .spawn(move || {
                let ptr = ptr;
                while !stopping.load(std::sync::atomic::Ordering::Acquire) {
                    std::thread::sleep(CHECK_EVERY);
                    // SAFETY: the cluster outlives this thread (joined before the owner drops).
                    unsafe { ffi::cartrack_retention_check(ptr.0) };
                }
            })
            .map_err(BrokerError::Thread)?;
        Ok(Self {
            state,
            stop,
            thread: Some(thread),
        })
    }

    fn stats(&self) -> ffi::Stats {
        let mut stats = ffi::Stats::default();
        // SAFETY: `state` is live until `Checker::drop`; the call locks the cluster.
        unsafe { ffi::cartrack_retention_stats(self.state, &mut stats) };
        stats
    }

    /// Stops queueing checks and waits (briefly) for the queued ones to run, so the state can
    /// be freed; if they do not run, the state is leaked rather than freed under them.
    fn shut_down(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let queued = self.queued();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while self.stats().checks < queued {
            if std::time::Instant::now() > deadline {
                tracing::warn!("retention checks still queued at shutdown; state leaked");
                self.state = std::ptr::null_mut();
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        // SAFETY: no check is queued any more and the thread is gone.
        unsafe { ffi::cartrack_retention_free(self.state) };
        self.state = std::ptr::null_mut();
    }

    /// Checks queued so far (one more check, queued just to read the count, is included).
    fn queued(&self) -> u64 {
        // SAFETY: `state` is live; queueing one more check is harmless.
        unsafe { ffi::cartrack_retention_check(self.state) }
    }
}

/// An in-memory Kafka-protocol cluster with the pipeline's topics; it lives as long as this
/// value, so tests can run one in-process too.
pub struct LocalBroker {
    /// Declared first so it is dropped (its thread stopped) before the cluster's owner.
    checker: Checker,
    /// The client that owns the mock cluster (librdkafka ties the cluster's life to it).
    owner: BaseProducer,
    bootstrap_servers: String,
}

impl LocalBroker {
    /// Starts the cluster with the default [`Retention`] and creates every pipeline topic with
    /// `partitions` partitions.
    pub fn start(partitions: i32) -> Result<Self, BrokerError> {
        Self::with_retention(partitions, Retention::default())
    }

    /// Starts the cluster with `retention` and creates every pipeline topic.
    pub fn with_retention(partitions: i32, retention: Retention) -> Result<Self, BrokerError> {
        // Created through `test.mock.num.brokers` (rather than `MockCluster::new`) to reach the
        // cluster's handle for the tuning below.
        let owner: BaseProducer = ClientConfig::new()
            .set("test.mock.num.brokers", "2")
            .create()?;
        let cluster = owner
            .client()
            .mock_cluster()
            .ok_or(BrokerError::NoCluster)?;
        for topic in topics::ALL {
            cluster.create_topic(topic, partitions, 1)?;
            let leader = if topic == topics::POSITIONS {
                POSITIONS_BROKER
            } else {
                OUTPUTS_BROKER
            };
            for partition in 0..partitions {
                cluster.partition_leader(topic, partition, Some(leader))?;
            }
        }
        // A real broker delays a new group's first rebalance by 3 s to let members gather;
        // alone on one machine that is only latency, so it is turned off. rdkafka does not wrap
        // this call.
        // SAFETY: `owner` is a live client that owns a mock cluster (checked just above), and
        // the call only stores an integer in that cluster's defaults.
        unsafe {
            let handle =
                rdkafka::bindings::rd_kafka_handle_mock_cluster(owner.client().native_ptr());
            rdkafka::bindings::rd_kafka_mock_group_initial_rebalance_delay_ms(handle, 0);
        }
        // SAFETY: as above; the checker's thread is joined before `owner` drops.
        let handle =
            unsafe { rdkafka::bindings::rd_kafka_handle_mock_cluster(owner.client().native_ptr()) };
        let checker = Checker::start(handle, retention)?;
        let bootstrap_servers = cluster.bootstrap_servers();
        drop(cluster);
        Ok(Self {
            checker,
            owner,
            bootstrap_servers,
        })
    }

    /// What the retention rule has done so far.
    pub fn retention_stats(&self) -> RetentionStats {
        let stats = self.checker.stats();
        RetentionStats {
            checks: stats.checks,
            refusing_checks: stats.refusing_checks,
            refused_requests: stats.refused_requests,
            sequence_refusals: stats.sequence_refusals,
            trimmed_bytes: stats.trimmed_bytes,
            retained_bytes: stats.retained_bytes,
            backlog_bytes: stats.backlog_bytes,
            max_partition_backlog: stats.max_partition_backlog,
            fullest: (
                std::ffi::CStr::from_bytes_until_nul(&stats.worst_topic)
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                stats.worst_partition,
                stats.worst_floor,
                stats.worst_end,
                stats.worst_backlog,
            ),
        }
    }

    /// The address clients connect to.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }

    /// Delays every answer of both brokers by `delay`, as a slow network would (for tests:
    /// a producer then sends further requests before it learns how the first one went).
    pub fn delay_answers(&self, delay: std::time::Duration) -> Result<(), BrokerError> {
        let cluster = self
            .owner
            .client()
            .mock_cluster()
            .ok_or(BrokerError::NoCluster)?;
        for broker in [POSITIONS_BROKER, OUTPUTS_BROKER] {
            cluster.broker_round_trip_time(broker, delay)?;
        }
        Ok(())
    }

    /// Refuses the next `count` produce requests retriably, as the backlog bound does (for
    /// tests: a refusal at a chosen moment).
    pub fn refuse_produce_requests(&self, count: usize) -> Result<(), BrokerError> {
        let cluster = self
            .owner
            .client()
            .mock_cluster()
            .ok_or(BrokerError::NoCluster)?;
        cluster.request_errors(
            rdkafka::types::RDKafkaApiKey::Produce,
            &vec![rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS; count],
        );
        Ok(())
    }
}

impl Drop for LocalBroker {
    fn drop(&mut self) {
        self.checker.shut_down();
        let _ = self.owner.flush(std::time::Duration::from_millis(100));
    }
}

/// Runs the broker until `shutdown` resolves. Prints `kafka: HOST:PORT` once it is ready.
pub async fn run(
    settings: BrokerSettings,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), BrokerError> {
    let broker = LocalBroker::with_retention(settings.partitions, settings.retention)?;
    println!("kafka: {}", broker.bootstrap_servers());
    tracing::info!(
        partitions = settings.partitions,
        max_backlog_bytes = settings.retention.max_backlog_bytes,
        retain_bytes = settings.retention.retain_bytes,
        "in-memory broker ready (for local runs only)"
    );
    // Says when producers start and stop being refused, so a stalled ingest is explained.
    let mut report = tokio::time::interval(std::time::Duration::from_secs(1));
    let mut refusing_before = 0;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = report.tick() => {
                let stats = broker.retention_stats();
                if stats.refusing_checks != refusing_before {
                    let (topic, partition, committed, end, backlog) = &stats.fullest;
                    tracing::warn!(
                        topic, partition, committed, end, backlog,
                        backlog_bytes = stats.backlog_bytes,
                        max_backlog_bytes = settings.retention.max_backlog_bytes,
                        "a partition's unconsumed backlog reached its bound: producers are refused until consumers catch up"
                    );
                    refusing_before = stats.refusing_checks;
                }
            }
        }
    }
    Ok(())
}
