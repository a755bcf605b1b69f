//! Process glue every cartrack binary needs, written once.
//!
//! - [`allocator`]: the C allocator's thresholds for processes that move large buffers.
//! - [`backoff`]: exponential backoff with jitter for every retry loop.
//! - [`signals`]: the shutdown future (SIGTERM or SIGINT).
//! - [`parent_death`]: children that die with the process that spawned them.
//! - [`tracing`]: the log set-up (filter, format, colour only on a terminal).
//! - [`clock`]: the wall clock, for timestamps.
//! - [`task`]: spawned tasks that end with their owner.
//! - [`bearer`]: the `Authorization: Bearer` check of every HTTP server.
//! - [`watch`]: files read again when they change.
//!
//! Decisions stay in the crates that make them (their cores take time and randomness as
//! inputs); this crate is the edge where those inputs are read from the operating system.

pub mod allocator;
pub mod backoff;
pub mod bearer;
pub mod clock;
pub mod parent_death;
pub mod signals;
pub mod task;
pub mod tracing;
pub mod watch;
