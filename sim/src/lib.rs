//! Deterministic simulation of cartrack's scheduler: the real scheduler core
//! (`cartrack_framework::driver::Core`) against the dev cluster's core
//! (`cartrack_devcluster::core::Core`) in virtual time, with emulated executors, faults from
//! a seeded schedule, and invariants checked after every step.
//!
//! Entry point: [`run`] one seed with a [`SimConfig`]; it returns an [`Outcome`] or a
//! [`Failure`] that prints the broken invariant and the last steps. The same seed replays
//! the same run bit for bit ([`Outcome::digest`]). See `README.md` for what is modelled.
//!
//! Layout: `queue` (virtual clock, ordered links), `world` (the harness and the shells of
//! both cores), `scheduler` (the scheduler process: core, store, session), `adapter` (the
//! only code that reads the scheduler's calls), `executor` (emulated executors), [`input`]
//! (faults and operator requests), [`invariants`], `trace`.

mod adapter;
mod executor;
pub mod input;
pub mod invariants;
mod queue;
mod scheduler;
mod trace;
mod world;

pub use input::{autoscale_steps, deploy_steps, uninstall_step, Fault, Input, Operator, Steer};
pub use invariants::Violation;
pub use scheduler::SpecError;
pub use world::{run, Failure, Outcome, SimConfig};

/// Seeds that once failed and pass since their bug was fixed: they run in every test run,
/// so a fixed bug stays fixed.
///
/// The first line found a dev cluster bug: an agent restarted while partitioned came back
/// reachable, but its tasks stayed flagged UNREACHABLE and no TASK_RUNNING
/// (REASON_AGENT_REREGISTERED) reached the scheduler, which then replaced pods that were
/// running on a reachable agent. The second line found a scheduler bug: a pod given up as
/// unreachable that was heard RUNNING again before its replacement launched was killed, but
/// the replacement launched at once beside it; now its slot waits for its end. The third found
/// a dev cluster gap: a LAUNCH_GROUP lost with an executor's connection left its task STAGING
/// forever; now the agent drops the STAGING tasks a re-subscribing executor does not list.
pub const REGRESSION_SEEDS: &[u64] = &[
    24, 40, 60, 70, 79, 110, 128, 129, 130, 134, 135, 144, 152, 161, 184, 253, 263, 264, 265, 287,
    307, 308, 316, 387, //
    72, 238, 246, 332, 503, 651, 759, 984, 1231, 1238, 1336, 1371, 1427, 1473, 1481, 1493, 1545,
    1898, 1900, 1950, 1967, 1969, //
    894,  //
    5107, 8097, 8578, 10252, 10886, 11091,
];

/// A seed that fails because of a bug found and diagnosed but not yet fixed. The sweeps skip
/// these seeds; a test checks that each still fails as diagnosed, so a fix shows up: then move
/// the seed to [`REGRESSION_SEEDS`].
#[derive(Debug, Clone, Copy)]
pub struct OpenFinding {
    /// The seed.
    pub seed: u64,
    /// The finding's name in README.md ("Regression seeds and open findings").
    pub finding: &'static str,
    /// Whether a violation is the symptom the finding was diagnosed with.
    pub shows_as: fn(&Violation) -> bool,
}

/// The open findings among the seeds the test sweeps run (0..2000): none at present.
pub const OPEN_FINDINGS: &[OpenFinding] = &[];
