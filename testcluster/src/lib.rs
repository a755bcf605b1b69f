//! Real Apache Mesos for tests: masters on 127.0.0.1 and agents each on a loopback address of
//! its own (agent `i` on 127.0.0.(i + 2), also its hostname, so placement rules on `hostname`
//! see one host per agent), started from the Mesos install that `CARTRACK_MESOS_HOME` names
//! ([`MesosHome`]), each cluster in a run folder of its own.
//!
//! A [`RealMesos`] ends every process it started when it is stopped or dropped — masters and
//! agents by pid, and then every process whose working directory is under the run folder
//! (executors and their tasks, which outlive an agent on purpose). The run folder is removed
//! when the test passed and kept, with the daemons' logs, when it panicked.
//!
//! Tests that need a real Mesos are marked `#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]`
//! and live in test binaries named `real_mesos*`, which `test.sh` runs with
//! `--run-ignored only` when the variable is set; run without it, they fail with
//! [`RealMesosError::NotConfigured`].

mod config;
mod home;
mod real;
mod sweep;

pub use config::RealMesosConfig;
pub use home::MesosHome;
pub use real::{DaemonFlags, RealMesos, RealMesosError};
pub use sweep::processes_under;
