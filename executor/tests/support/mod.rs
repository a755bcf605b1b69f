//! Shared test helpers: the scripted agent, the executor process guard, polling with a
//! deadline; the end-to-end cases and the two clusters (dev, real Mesos) they run on.

#![allow(dead_code)]

pub mod agent;
pub mod backend;
pub mod cases;
pub mod framework;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Polls `cond` until it holds or `timeout` passes; returns whether it held.
pub async fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Whether `pid` is a live (non-zombie) process.
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z')
        })
        .unwrap_or(false)
}

/// Reads a pid a task wrote into its directory (`echo $$ > pid`), waiting for it.
pub async fn task_pid(sandbox: &Path, task_id: &str) -> i32 {
    let file = sandbox.join("tasks").join(task_id).join("pid");
    let mut pid = None;
    let found = wait_until(Duration::from_secs(10), || {
        pid = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| t.trim().parse().ok());
        pid.is_some()
    })
    .await;
    assert!(found, "task {task_id} wrote no pid to {}", file.display());
    pid.unwrap_or(0)
}

/// A running `cartrack-executor`; killed with SIGKILL and reaped on drop (its tasks die with
/// it through PR_SET_PDEATHSIG).
pub struct ExecutorProcess {
    child: Option<Child>,
    pub sandbox: tempfile::TempDir,
    exit: Option<ExitStatus>,
}

/// The binary under test (integration tests) or next to the running example (benchmarks).
pub fn executor_binary() -> PathBuf {
    if let Some(path) = option_env!("CARGO_BIN_EXE_cartrack-executor") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap();
    for candidate in [
        dir.join("cartrack-executor"),
        dir.join("../cartrack-executor"),
    ] {
        if candidate.exists() {
            return candidate;
        }
    }
    panic!(
        "cartrack-executor binary not found next to {}",
        exe.display()
    );
}

impl ExecutorProcess {
    /// Starts the executor against `endpoint` with a fresh sandbox and extra env.
    pub fn start(endpoint: &str, env: &[(&str, &str)]) -> ExecutorProcess {
        let sandbox = tempfile::tempdir().unwrap();
        Self::start_in(sandbox, endpoint, env)
    }

    /// Starts the executor in a prepared sandbox (e.g. holding a fetched binary).
    pub fn start_in(
        sandbox: tempfile::TempDir,
        endpoint: &str,
        env: &[(&str, &str)],
    ) -> ExecutorProcess {
        let mut command = Command::new(executor_binary());
        command
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("RUST_LOG", "info")
            .env("MESOS_FRAMEWORK_ID", "fw")
            .env("MESOS_EXECUTOR_ID", "ex")
            .env("MESOS_AGENT_ENDPOINT", endpoint)
            .env("MESOS_SANDBOX", sandbox.path())
            .env("MESOS_DIRECTORY", sandbox.path())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(sandbox.path().join("stdout")).unwrap())
            .stderr(std::fs::File::create(sandbox.path().join("stderr")).unwrap());
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().unwrap();
        ExecutorProcess {
            child: Some(child),
            sandbox,
            exit: None,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap_or(0)
    }

    /// The executor's own log, for assertion messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.sandbox.path().join("stderr")).unwrap_or_default()
    }

    /// Waits for the executor to exit by itself.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let mut status = None;
        wait_until(timeout, || {
            status = child.try_wait().ok().flatten();
            status.is_some()
        })
        .await;
        self.exit = status;
        status
    }

    /// `kill -9` the executor and reap it.
    pub fn kill_hard(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ExecutorProcess {
    fn drop(&mut self) {
        self.kill_hard();
    }
}
