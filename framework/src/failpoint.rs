//! Crash points for the crash tests: with the cargo feature `failpoints` (never in release
//! builds) and `FAILPOINTS="<name>=return"` in the environment, reaching `<name>` aborts the
//! process on the spot, as `kill -9` would: no flush, no goodbye to the master.
//!
//! The points sit where a crash hurts most (see `driver::execute`):
//! - `crash-before-accept`: intent persisted, ACCEPT not sent;
//! - `crash-after-accept`: ACCEPT sent, no update for it handled yet;
//! - `crash-before-acknowledge`: update persisted, ACKNOWLEDGE not sent;
//! - `crash-after-kill`: a KILL sent (during an uninstall: killing persisted, not finished);
//! - `crash-after-teardown`: TEARDOWN sent, the state not deleted yet.

/// Reads `FAILPOINTS` once at start; keep the guard alive for the process' life.
#[cfg(feature = "failpoints")]
pub fn setup() -> fail::FailScenario<'static> {
    fail::FailScenario::setup()
}

/// Aborts the process if the crash point `name` is armed.
pub fn crash_point(name: &str) {
    #[cfg(feature = "failpoints")]
    if fail::eval(name, |_| ()).is_some() {
        tracing::error!(failpoint = name, "crash point reached: aborting");
        std::process::abort();
    }
    #[cfg(not(feature = "failpoints"))]
    let _ = name;
}
