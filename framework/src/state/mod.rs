//! What the scheduler must not forget: the framework id, the spec, desired counts, and one
//! record per task it launched (written *before* the ACCEPT that launches it).
//!
//! [`Store`] is the seam: [`FileStore`] (default, `--state-dir`), [`ZkStore`] (`--zk`, one
//! node per record, fenced on leadership) and [`MemoryStore`] for tests. Changes are a list of [`Change`]s applied all-or-nothing,
//! so a store can map them onto single keys (ZooKeeper nodes) or rewrite one file.

use std::future::Future;

use crate::records::{Change, StoredState};

mod file;
mod memory;
mod zookeeper;

pub use file::FileStore;
pub use memory::MemoryStore;
pub use zookeeper::ZkStore;

/// Why the store could not load or commit.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading or writing the state directory failed (disk full, permissions). Retrying may
    /// help once the cause is fixed; until then nothing depending on the commit may happen.
    #[error("state store I/O on {path}")]
    Io {
        /// The file or directory.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The stored state cannot be decoded (corrupt or written by an incompatible version).
    /// Not retryable: move the file away to start fresh (tasks will then be orphaned).
    #[error("state file {path} is not readable state")]
    Corrupt {
        /// The file.
        path: std::path::PathBuf,
        /// The decode error.
        source: serde_json::Error,
    },
    /// The ZooKeeper store failed. `NotLeader` means this instance was deposed and must stop
    /// (another one leads now); connection losses are retried by restarting, which
    /// reconciles.
    #[error("ZooKeeper state store under {root}")]
    ZooKeeper {
        /// The store's root node.
        root: String,
        /// What ZooKeeper said.
        source: cartrack_zookeeper::ZkError,
    },
}

/// Durable storage of [`StoredState`].
///
/// Contract: [`Store::commit`] returns only once the changes survive a crash (`kill -9`,
/// power loss with fsync honoured); if it fails, none of them may be assumed stored, and the
/// caller must not send the Mesos calls that depend on them (ACKNOWLEDGE, ACCEPT).
/// Both methods are async because a networked store (ZooKeeper) waits on round trips; the
/// driver awaits each commit before any call that depends on it.
pub trait Store: Send {
    /// Everything stored, or an empty state on first start.
    fn load(&mut self) -> impl Future<Output = Result<StoredState, StoreError>> + Send;
    /// Applies the changes durably, all or nothing.
    fn commit(&mut self, changes: &[Change])
        -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Deletes everything stored (the end of an uninstall): afterwards [`Store::load`] gives
    /// an empty state. The framework id goes last, so a crash midway leaves either a state
    /// that still names the framework (the uninstall is resumed) or leftovers without one
    /// (deleted on the next start in uninstall mode). Deleting an empty store is no error.
    fn clear(&mut self) -> impl Future<Output = Result<(), StoreError>> + Send;
}
