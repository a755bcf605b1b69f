//! A local, Mesos-compatible development cluster: the stand-in cartrack's scheduler and
//! executor are tested against, since CI can never hold a real Mesos.
//!
//! It is **not Mesos**: one process models a master (plus a standby listener), agents and the
//! real executor processes they launch, answering the v1 scheduler and executor HTTP APIs the
//! way Mesos 1.12 was seen to answer (see `README.md` for what is not modelled).
//!
//! Start with [`DevCluster::start`] and a [`ClusterConfig`]; inspect what happened through
//! [`DevCluster::log`] / [`DevCluster::wait_for_log`]; inject faults with the `DevCluster`
//! methods or the `/control/...` HTTP API.
//!
//! Layout: [`core`] decides (no I/O; time passed in; uuids from a source it is given, random
//! unless a simulation sets one), `cluster` and `http` carry the decisions
//! out, [`process`] starts and signals executors.

mod cluster;
mod config;
pub mod core;
mod error;
mod http;
mod log;
pub mod process;
pub mod resources;
pub mod state;

pub use cluster::DevCluster;
pub use config::ClusterConfig;
pub use error::DevClusterError;
pub use log::{EventLog, LogEntry};
