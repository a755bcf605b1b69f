//! `broker`: an in-memory Kafka-protocol broker (librdkafka's mock cluster) for running the
//! whole pipeline on one machine with nothing installed. Not for production: it keeps
//! everything in memory and forgets it on exit.

use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::ClientConfig;

use crate::kafka::topics;

/// Broker settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerSettings {
    /// Partitions of each pipeline topic.
    pub partitions: i32,
}

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// librdkafka refused to create the mock cluster or a topic.
    #[error("starting the mock Kafka cluster: {0}")]
    Kafka(#[from] KafkaError),
    /// The client came up without a mock cluster.
    #[error("librdkafka did not create a mock cluster")]
    NoCluster,
}

/// An in-memory Kafka-protocol cluster with the pipeline's topics; it lives as long as this
/// value, so tests can run one in-process too.
pub struct LocalBroker {
    /// The client that owns the mock cluster (librdkafka ties the cluster's life to it).
    owner: BaseProducer,
    bootstrap_servers: String,
}

impl LocalBroker {
    /// Starts the cluster and creates every pipeline topic with `partitions` partitions.
    pub fn start(partitions: i32) -> Result<Self, BrokerError> {
        // Created through `test.mock.num.brokers` (rather than `MockCluster::new`) to reach the
        // cluster's handle for the tuning below.
        let owner: BaseProducer = ClientConfig::new()
            .set("test.mock.num.brokers", "1")
            .create()?;
        let cluster = owner
            .client()
            .mock_cluster()
            .ok_or(BrokerError::NoCluster)?;
        for topic in topics::ALL {
            cluster.create_topic(topic, partitions, 1)?;
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
        let bootstrap_servers = cluster.bootstrap_servers();
        drop(cluster);
        Ok(Self {
            owner,
            bootstrap_servers,
        })
    }

    /// The address clients connect to.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }
}

impl Drop for LocalBroker {
    fn drop(&mut self) {
        let _ = self.owner.flush(std::time::Duration::from_millis(100));
    }
}

/// Runs the broker until `shutdown` resolves. Prints `kafka: HOST:PORT` once it is ready.
pub async fn run(
    settings: BrokerSettings,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), BrokerError> {
    let broker = LocalBroker::start(settings.partitions)?;
    println!("kafka: {}", broker.bootstrap_servers());
    tracing::info!(
        partitions = settings.partitions,
        "in-memory broker ready (for local runs only)"
    );
    shutdown.await;
    Ok(())
}
