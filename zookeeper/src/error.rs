//! The one error type of this crate: each variant says when it happens and whether a retry helps.

use zookeeper_client as zkc;

/// What went wrong talking to ZooKeeper, or with what we asked of it.
///
/// Use [`ZkError::is_retryable`] to pick a policy: retryable errors are transient (the same call
/// may succeed a moment later, possibly on a fresh session); the others need a different input or
/// mean this instance must step down.
#[derive(Debug, thiserror::Error)]
pub enum ZkError {
    /// The `zk://` URL is malformed. Not retryable: fix the flag (`--zk` / `--master`).
    #[error("bad ZooKeeper URL {url:?}: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong and how to write it instead.
        reason: String,
    },

    /// A store key is not a valid single znode name. Not retryable: a programming error upstream.
    #[error("bad node key {key:?}: {reason}")]
    BadKey {
        /// The key as given.
        key: String,
        /// Why it cannot be a znode name.
        reason: &'static str,
    },

    /// A value is over ZooKeeper's per-node limit (jute.maxbuffer, 1 MiB by default). Not
    /// retryable: split the record.
    #[error("value for key {key:?} is {size} bytes, over the {limit}-byte ZooKeeper node limit; store smaller records")]
    TooLarge {
        /// The store key whose value is too large.
        key: String,
        /// The value's size in bytes.
        size: usize,
        /// The largest value accepted.
        limit: usize,
    },

    /// The whole transaction is over ZooKeeper's request limit (jute.maxbuffer). Not retryable
    /// as is: commit in smaller batches.
    #[error("transaction of {ops} operations is about {size} bytes, over the {limit}-byte ZooKeeper request limit; commit smaller batches")]
    BatchTooLarge {
        /// Number of operations in the batch.
        ops: usize,
        /// Estimated encoded size in bytes.
        size: usize,
        /// The largest request accepted.
        limit: usize,
    },

    /// No server of the ensemble could be reached when opening a session. Retryable with backoff.
    #[error("cannot reach ZooKeeper at {servers}: {source}")]
    Unreachable {
        /// The `host:port` list that was tried.
        servers: String,
        /// The client's reason.
        #[source]
        source: zkc::Error,
    },

    /// The connection dropped (or a request timed out) while the session may still be alive; the
    /// outcome of a write is then unknown. Retryable: the client reconnects by itself; re-read
    /// before assuming a write did or did not happen.
    #[error("connection to ZooKeeper lost during {op} {path:?}; retry (the client reconnects)")]
    ConnectionLoss {
        /// The operation that was running.
        op: &'static str,
        /// The node it touched.
        path: String,
    },

    /// Our ZooKeeper session expired (e.g. the process was paused longer than the session
    /// timeout): every ephemeral node of it, including a leader node, is gone. Retryable only on a
    /// new session, and a leader must step down first.
    #[error(
        "ZooKeeper session expired during {op} {path:?}; ephemeral nodes (leadership) are gone"
    )]
    SessionExpired {
        /// The operation that was running.
        op: &'static str,
        /// The node it touched.
        path: String,
    },

    /// Fenced: the write or check was made on behalf of a leadership that no longer holds (its
    /// node is gone or its session expired). Not retryable: step down and campaign again.
    #[error(
        "not the leader any more: leader node {node:?} is gone or its session expired; step down"
    )]
    NotLeader {
        /// The leader node this instance held.
        node: String,
    },

    /// Another writer changed the nodes under us (create/delete raced). Retryable after
    /// [`crate::NodeStore::load`]; cannot happen with a fenced single writer.
    #[error("concurrent change of {path:?} by another writer; reload and retry")]
    Conflict {
        /// The node that changed under us.
        path: String,
    },

    /// The client was closed (handle dropped or [`crate::Zk::close`] called). Not retryable.
    #[error("ZooKeeper client closed during {op} {path:?}")]
    Closed {
        /// The operation that was running.
        op: &'static str,
        /// The node it touched.
        path: String,
    },

    /// Any other ZooKeeper failure (auth, ACL, bad path, server bug). Not retryable.
    #[error("ZooKeeper {op} {path:?} failed: {source}")]
    Operation {
        /// The operation that failed.
        op: &'static str,
        /// The node it touched.
        path: String,
        /// The client's reason.
        #[source]
        source: zkc::Error,
    },
}

impl ZkError {
    /// Whether the same call may succeed later without changing its input.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ZkError::Unreachable { .. }
                | ZkError::ConnectionLoss { .. }
                | ZkError::SessionExpired { .. }
                | ZkError::Conflict { .. }
        )
    }

    /// Classifies a client error for operation `op` on `path`.
    pub(crate) fn from_client(op: &'static str, path: &str, source: zkc::Error) -> Self {
        let path = path.to_owned();
        match source {
            zkc::Error::ConnectionLoss | zkc::Error::Timeout => {
                ZkError::ConnectionLoss { op, path }
            }
            zkc::Error::SessionExpired => ZkError::SessionExpired { op, path },
            zkc::Error::ClientClosed => ZkError::Closed { op, path },
            source => ZkError::Operation { op, path, source },
        }
    }
}
