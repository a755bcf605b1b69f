//! cartrack's Mesos scheduler: it takes offers, packs the car-tracking pipeline's pods onto
//! shared agents beside other tenants' work, and keeps them running.
//!
//! Entry point: [`service::run`] (the binary `cartrack-scheduler` resolves flags with
//! [`config::resolve`] and calls it). The parts, by layer:
//! - [`spec`]: the service spec (TOML), env/flag overrides, pure validation.
//! - [`planner`]: the pure decision function `plan(spec, tasks, offers, now) -> Plan`.
//! - [`target`]: the target configuration as numbered, content-hashed versions.
//! - [`records`]: what must survive a restart (plain data); [`state`]: the stores keeping it,
//!   behind the [`state::Store`] trait.
//! - [`mesos`]: the v1 scheduler API client (subscribe stream, calls, leader redirects).
//! - [`auth`]: credentials for the master (HTTP Basic, DC/OS service accounts); [`tls`]: the
//!   CAs trusted on HTTPS (`--ca-file`, DC/OS Enterprise's cluster CA).
//! - [`driver`]: the loop: event -> state update -> plan -> persist -> calls.
//! - [`api`]: the operator HTTP API and Prometheus metrics.
//! - [`report`]: the multiplexing report (utilisation samples of the shared cluster, and the
//!   agents its services would need siloed versus multiplexed).
//! - [`resources`]: scalars in Mesos' thousandths; `testkit` (feature `testkit`, on in this
//!   crate's tests and benchmarks): fixtures that panic on bad input, never in the scheduler.

#![warn(missing_docs)]

pub mod api;
pub mod auth;
pub mod autoscale;
pub mod config;
pub mod driver;
pub mod failpoint;
pub mod ha;
pub mod mesos;
pub mod planner;
pub mod records;
pub mod report;
pub mod resources;
pub mod service;
pub mod spec;
pub mod state;
pub mod target;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod tls;
pub mod workers;
