//! The cartrack operator CLI, layered like ripgrep's: [`flags`] (clap, what the user typed) ->
//! [`args`] (validated, no I/O) -> [`commands`] (talk to the scheduler's operator API through
//! [`api`]). Exit codes: 0 ok, 1 failed, 2 bad usage ([`error::UsageError`]).

pub mod api;
pub mod args;
pub mod commands;
pub mod error;
pub mod flags;
pub mod local;
pub mod render;
pub mod suggest;
