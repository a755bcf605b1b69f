//! The sibling processes `cartrack local` runs: spawned so they die with it (even on
//! `kill -9`), announced by a line on their stdout, logged to files, and stopped in order.
//!
//! Rules, after tokio's `Child` caveats: dropping a [`Sibling`] kills its process (tokio's
//! `kill_on_drop`); the child also gets `PR_SET_PDEATHSIG = SIGTERM`, so it stops when this
//! process dies, however that happens. SIGTERM rather than SIGKILL: the dev cluster must live
//! long enough to stop its executors, which would otherwise wait for their agent to come back.
//! Each child is reaped by `stop`, which waits for it. Each child leads a process group of its
//! own, so a terminal's Ctrl-C (sent to the whole foreground group) reaches `cartrack local`
//! alone, which then stops the children in order: with `--master`, the scheduler must still
//! answer when the framework is about to be torn down, and its exit is not a crash.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use cartrack_runtime::parent_death::{die_with_parent, Signal};
use rustix::process::{kill_process, Pid};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

/// Why a sibling could not be started or did not come up.
#[derive(Debug, thiserror::Error)]
pub enum SiblingError {
    /// The binary is not beside `cartrack`.
    #[error("{binary} not found at {path}: build the whole workspace first (cargo build --release --workspace)")]
    Missing {
        /// The binary's name.
        binary: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// Spawning failed.
    #[error("could not start {binary}")]
    Spawn {
        /// The binary's name.
        binary: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// It exited or stayed silent instead of announcing itself.
    #[error("{binary} did not print its {prefix:?} line within {timeout:?}; see its log at {log}")]
    NoAnnouncement {
        /// The binary's name.
        binary: String,
        /// The line prefix awaited.
        prefix: String,
        /// How long we waited.
        timeout: Duration,
        /// Its log file.
        log: String,
    },
}

/// A running sibling process.
pub struct Sibling {
    /// Short name for messages, e.g. `scheduler`.
    pub name: String,
    child: Child,
}

/// Looks for `binary` in `dir` (the folder `cartrack` runs from).
pub fn locate(dir: &Path, binary: &str) -> Result<PathBuf, SiblingError> {
    let path = dir.join(binary);
    if path.is_file() {
        Ok(path)
    } else {
        Err(SiblingError::Missing {
            binary: binary.into(),
            path,
        })
    }
}

/// Starts `command`, logging its stdout and stderr to `log`, and waits up to `timeout` for a
/// stdout line starting with `prefix`; returns the rest of that line.
pub async fn spawn_announced(
    name: &str,
    command: Command,
    log: &Path,
    prefix: &str,
    timeout: Duration,
) -> Result<(Sibling, String), SiblingError> {
    let (sibling, announced) = spawn_logged(name, command, log, prefix).await?;
    match tokio::time::timeout(timeout, announced).await {
        Ok(Ok(rest)) => Ok((sibling, rest)),
        _ => Err(SiblingError::NoAnnouncement {
            binary: name.into(),
            prefix: prefix.into(),
            timeout,
            log: log.display().to_string(),
        }),
    }
}

/// Starts `command` with its output logged to `log`; the receiver yields the rest of the first
/// stdout line starting with `prefix`, if one comes.
pub async fn spawn_logged(
    name: &str,
    mut command: Command,
    log: &Path,
    prefix: &str,
) -> Result<(Sibling, oneshot::Receiver<String>), SiblingError> {
    let binary = command
        .as_std()
        .get_program()
        .to_string_lossy()
        .into_owned();
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    die_with_parent(command.as_std_mut(), Signal::TERM);
    let mut child = command.spawn().map_err(|source| SiblingError::Spawn {
        binary: binary.clone(),
        source,
    })?;
    let log_file = tokio::fs::File::create(log)
        .await
        .map_err(|source| SiblingError::Spawn {
            binary: binary.clone(),
            source,
        })?;
    let (announced_tx, announced_rx) = oneshot::channel();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    tokio::spawn(copy_lines(
        stdout,
        stderr,
        log_file,
        prefix.to_string(),
        announced_tx,
    ));
    let sibling = Sibling {
        name: name.into(),
        child,
    };
    Ok((sibling, announced_rx))
}

/// Copies both streams into the log; the first stdout line with `prefix` is sent on `announced`.
async fn copy_lines(
    stdout: Option<tokio::process::ChildStdout>,
    stderr: Option<tokio::process::ChildStderr>,
    log: tokio::fs::File,
    prefix: String,
    announced: oneshot::Sender<String>,
) {
    let log = std::sync::Arc::new(tokio::sync::Mutex::new(log));
    let err_log = log.clone();
    let stderr_task = tokio::spawn(async move {
        let Some(stderr) = stderr else { return };
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = err_log
                .lock()
                .await
                .write_all(format!("{line}\n").as_bytes())
                .await;
        }
    });
    let mut announced = Some(announced);
    if let Some(stdout) = stdout {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.strip_prefix(&prefix) {
                if let Some(tx) = announced.take() {
                    let _ = tx.send(rest.trim().to_string());
                }
            }
            let _ = log
                .lock()
                .await
                .write_all(format!("{line}\n").as_bytes())
                .await;
        }
    }
    let _ = stderr_task.await;
}

impl Sibling {
    /// SIGTERM, then SIGKILL after `grace`; waits for the exit so no zombie is left.
    pub async fn stop(mut self, grace: Duration) {
        // Our own child's pid, which we have not reaped yet.
        let pid = self.child.id().and_then(|pid| i32::try_from(pid).ok());
        if let Some(pid) = pid.and_then(Pid::from_raw) {
            let _ = kill_process(pid, Signal::TERM);
        }
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            eprintln!(
                "cartrack local: {} did not stop within {grace:?}; killing it",
                self.name
            );
            let _ = self.child.kill().await;
        }
    }

    /// Resolves when the process exits by itself.
    pub async fn exited(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.child.wait().await
    }
}
