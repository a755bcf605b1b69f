//! Finding and ending the processes a cluster left under its run folder: executors and their
//! tasks outlive a stopped agent on purpose (agent recovery), so they are found by their
//! working directory, the sandbox the agent gave them.

use std::path::Path;
use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};

/// Every process (but this one) whose working directory is `dir` or below it.
pub fn processes_under(dir: &Path) -> Vec<u32> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            // Processes that exit meanwhile, and zombies, have no readable cwd.
            std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(dir))
        })
        .collect()
}

/// SIGKILLs every process under `dir` until none is left (a dying executor's task may still
/// be found once); gives up after `timeout` and returns the survivors.
pub(crate) fn kill_all_under(dir: &Path, timeout: Duration) -> Vec<u32> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = processes_under(dir);
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        for pid in &left {
            kill(*pid);
        }
        // Give the kernel a moment to tear the killed processes down before looking again.
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) fn kill(pid: u32) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        let _ = kill_process(pid, Signal::KILL);
    }
}
