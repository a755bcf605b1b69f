//! The subcommands' I/O adapters: each wires sources, the processing core or sinks to Kafka,
//! HTTP and signals, and holds no logic of its own worth testing without them.

pub mod broker;
pub mod index;
pub mod ingest;
pub mod process;

#[cfg(test)]
mod tests {
    use std::io;

    use rdkafka::error::KafkaError;

    use super::{
        broker::BrokerError, index::IndexError, ingest::IngestError, process::ProcessError,
    };

    /// What `main` prints: the whole chain, each cause once.
    fn printed(err: impl std::error::Error + Send + Sync + 'static) -> String {
        format!("{:#}", anyhow::Error::new(err).context("process"))
    }

    #[test]
    fn each_cause_is_printed_once() {
        let in_use = || io::Error::new(io::ErrorKind::AddrInUse, "Address already in use");
        let kafka = || KafkaError::ClientCreation("no brokers".into());
        let http_errors = [
            printed(ProcessError::Http(in_use())),
            printed(IndexError::Http(in_use())),
            printed(IngestError::Http(in_use())),
            printed(BrokerError::Thread(in_use())),
        ];
        for text in http_errors {
            assert_eq!(text.matches("Address already in use").count(), 1, "{text}");
        }
        let kafka_errors = [
            printed(ProcessError::Kafka(kafka())),
            printed(IndexError::Kafka(kafka())),
            printed(IngestError::Kafka(kafka())),
            printed(BrokerError::Kafka(kafka())),
        ];
        for text in kafka_errors {
            assert_eq!(text.matches("no brokers").count(), 1, "{text}");
        }
    }
}
