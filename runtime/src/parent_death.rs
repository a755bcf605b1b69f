//! Children that die with the process that spawned them, however it ends (even `kill -9`).
//!
//! Linux's `PR_SET_PDEATHSIG` sends the child a signal when its parent goes. Two rules follow
//! from how the kernel keeps it:
//! - It fires when the *thread* that forked the child exits, not the process: spawn from a
//!   thread that lives as long as the process (the main thread, a runtime worker, a dedicated
//!   spawner thread), never from a short-lived one.
//! - A parent that dies between `fork` and the `prctl` call sends nothing; so the child then
//!   checks that its parent is still the process that forked it, and does not exec otherwise.

use std::os::unix::process::CommandExt as _;
use std::process::Command;

pub use rustix::process::Signal;
use rustix::process::{getpid, getppid, set_parent_process_death_signal};

/// Makes the child `command` spawns receive `signal` when the spawning thread ends.
///
/// For a `tokio::process::Command`, pass `command.as_std_mut()`. Spawning then fails with
/// `ESRCH` only if this process died while the child started.
pub fn die_with_parent(command: &mut Command, signal: Signal) {
    let parent = getpid();
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // work is allowed. It makes two raw system calls (prctl, getppid) through rustix and
    // builds its errors from errno values, so it neither allocates nor takes a lock.
    unsafe {
        command.pre_exec(move || {
            set_parent_process_death_signal(Some(signal))?;
            if getppid() != Some(parent) {
                return Err(rustix::io::Errno::SRCH.into());
            }
            Ok(())
        });
    }
}
