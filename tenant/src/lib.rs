//! `cartrack-tenant`: a load-generator Mesos framework. It registers beside cartrack, takes
//! offers and launches sleeping command tasks along a load curve, so the dev cluster (or a
//! real Mesos) has another tenant that really competes for offers over time.
//!
//! - [`curve`]: the curve file, checked once (step interpolation).
//! - [`core`]: the pure decisions: events and time in, effects out.
//! - [`encode`]: effects as scheduler calls (pure).
//! - [`config`]: flags and their checked form.
//! - [`metrics`]: `/metrics` and `/v1/health`.
//! - [`run`]: the adapter loop over the framework crate's Mesos client.

#![warn(missing_docs)]

pub mod config;
pub mod core;
pub mod curve;
pub mod encode;
pub mod metrics;
pub mod run;
