//! ZooKeeper building blocks for the cartrack scheduler: where the Mesos master is, which
//! scheduler instance leads, and the scheduler's durable state.
//!
//! Entry point: parse the flag with [`ZkUrl::parse`], open a session with [`connect`], then use
//! - [`MasterDetector::spawn`] for `--master zk://.../mesos` (follows the leading master),
//! - [`Election::campaign`] to become the one active scheduler (returns a [`Leadership`]),
//! - [`NodeStore`] for state records, committed atomically and fenced on the [`Leadership`].
//!
//! Fencing in one paragraph: a leader's node is ephemeral, so it exists exactly as long as the
//! leader's session; a standby is elected only after that node is gone. Every state commit
//! carries a `check` of the leader node inside the same transaction, and
//! [`Leadership::confirm`] (a linearizable check) runs before each batch of Mesos calls, so a
//! leader that was paused past its session timeout cannot write and stops calling Mesos. See
//! README.md for the full argument.
//!
//! With the `testkit` feature, [`testkit::TestZooKeeper`] runs a real ZooKeeper for tests.

mod auth;
mod client;
mod election;
mod error;
mod master;
mod master_source;
mod sequence;
mod store;
mod url;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use auth::{AuthError, ZkAuth};
pub use client::{connect, Zk};
pub use election::{Election, Leadership, CANDIDATE_PREFIX};
pub use error::ZkError;
pub use master::{
    leading_master, parse_master_info, MasterAddress, MasterDetector, MasterInfoError,
    MASTER_INFO_PREFIX,
};
pub use master_source::{parse_masters, MasterListError, MasterSource};
pub use store::{validate_key, NodeOp, NodeStore, MAX_TRANSACTION_BYTES, MAX_VALUE_BYTES};
pub use url::{UrlError, ZkUrl, DEFAULT_PORT};
