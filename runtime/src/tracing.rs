//! The log set-up every binary uses: human-readable lines on stderr, filtered with
//! `tracing_subscriber`'s env-filter syntax, coloured only for a person at a terminal.
//!
//! Logs usually end up in files (a sandbox's `stderr`, `cartrack local`'s `logs/`): colour
//! codes there are noise to `grep` and to the tail quoted in a failure message. So colour is on
//! only when stderr is a terminal and `NO_COLOR` is unset or empty (<https://no-color.org>).

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// The variable read when a binary has no filter flag of its own.
pub const FILTER_ENV: &str = "RUST_LOG";

/// Where a binary's log filter comes from.
#[derive(Debug, Clone, Copy)]
pub enum Filter<'a> {
    /// `RUST_LOG`, or these directives when it is unset.
    FromEnv {
        /// The binary's default, e.g. `info`.
        default: &'a str,
    },
    /// Directives the binary took from a flag of its own (which has its own default).
    Directives(&'a str),
}

/// Installs the global subscriber for this process. Invalid directives fall back to `info`
/// with a warning naming them; if a subscriber is installed already (a test harness), this
/// one is not, and nothing fails.
pub fn init(filter: Filter<'_>) {
    let directives = match filter {
        Filter::FromEnv { default } => match std::env::var(FILTER_ENV) {
            Ok(value) if !value.trim().is_empty() => value,
            _ => default.to_owned(),
        },
        Filter::Directives(directives) => directives.to_owned(),
    };
    let (filter, invalid) = match EnvFilter::try_new(&directives) {
        Ok(filter) => (filter, None),
        Err(error) => (EnvFilter::new("info"), Some(error)),
    };
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour())
        .try_init()
        .is_ok();
    if let (true, Some(error)) = (installed, invalid) {
        tracing::warn!(%directives, %error, "invalid log filter; logging at info");
    }
}

/// Whether log lines carry ANSI colour codes.
fn colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
