//! Errors of the dev cluster's library API.

use crate::resources::ResourceParseError;

/// Why a dev cluster operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DevClusterError {
    /// `agent_resources` or `tenant_load` could not be parsed; fix the string. Not retryable.
    #[error("invalid {field}: {source}")]
    Resources {
        /// Which config field.
        field: &'static str,
        /// The parse error.
        source: ResourceParseError,
    },
    /// A listener could not bind (port in use?) or the work dir could not be created.
    /// Retry with another port or directory.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// [`crate::ClusterConfig::distinct_hosts`] with more agents than 127.0.0.2 to
    /// 127.0.0.254 can hold (253). Not retryable.
    #[error(
        "{agents} agents with distinct hosts: at most {} fit on 127.0.0.2 to 127.0.0.254",
        crate::config::MAX_DISTINCT_HOSTS
    )]
    TooManyDistinctHosts {
        /// The agents asked for.
        agents: usize,
    },
    /// No agent has this id; use one of [`crate::DevCluster::agent_ids`].
    #[error("no agent '{0}' in this dev cluster")]
    UnknownAgent(String),
    /// [`crate::DevCluster::wait_for_log`] saw no matching entry in time. The log snapshot
    /// length is given to help debugging.
    #[error("no matching log entry within {timeout:?} ({entries} entries recorded)")]
    Timeout {
        /// The wait.
        timeout: std::time::Duration,
        /// How many entries the log held.
        entries: usize,
    },
}
