//! `cartrack-executor`: the v1 custom executor that runs many cartrack tasks (ingesters,
//! processors, indexers) side by side on one agent, reports their states reliably and never
//! leaks a process.
//!
//! Entry point: [`driver::run`] with a [`config::Config`] read from the agent's `MESOS_*`
//! environment. The layers:
//! - [`config`]: `MESOS_*` variables -> validated [`config::Config`] (pure);
//! - [`client`]: the executor HTTP API (SUBSCRIBE stream, calls), the [`client::Ledger`] of
//!   unacknowledged updates and tasks, re-subscription [`client::Backoff`];
//! - [`supervisor`]: the pure state machine per task and task group (events in, actions out);
//! - [`process`]: the one adapter that spawns, signals and reaps;
//! - [`sandbox`]: where and how a task's command runs (directory, argv, environment);
//! - [`health`]: HTTP, TCP and command health checks and checks;
//! - [`driver`]: the loop that wires them together.

#![warn(missing_docs)]

pub mod client;
pub mod config;
pub mod driver;
pub mod health;
pub mod process;
pub mod sandbox;
pub mod supervisor;
