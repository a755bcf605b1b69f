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

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cartrack_runtime::parent_death::{die_with_parent, Signal};
use rustix::process::{kill_process, Pid};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

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
    /// It exited before announcing itself; its own last words say why.
    #[error("{binary} exited ({status}) before it was ready: {last_words}")]
    ExitedEarly {
        /// The binary's name.
        binary: String,
        /// How it ended.
        status: std::process::ExitStatus,
        /// The end of its stderr (or a pointer to its log when it printed nothing).
        last_words: String,
    },
    /// It stayed silent instead of announcing itself.
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

impl SiblingError {
    /// The sibling refused its arguments (exit code 2, the convention every cartrack binary
    /// follows): bad usage of `cartrack local`, not a failure.
    pub fn is_usage(&self) -> bool {
        matches!(self, SiblingError::ExitedEarly { status, .. } if status.code() == Some(2))
    }

    /// The same error with the sibling's flag names replaced by the `cartrack local` flags that
    /// set them (`renames`: sibling flag, our flag), so the message names what the user typed.
    pub fn renaming_flags(self, renames: &[(&str, &str)]) -> SiblingError {
        match self {
            SiblingError::ExitedEarly {
                binary,
                status,
                last_words,
            } => SiblingError::ExitedEarly {
                binary,
                status,
                last_words: rename_flags(&last_words, renames),
            },
            other => other,
        }
    }
}

/// `text` with each whole flag `from` (not part of a longer flag) replaced by `to`.
fn rename_flags(text: &str, renames: &[(&str, &str)]) -> String {
    let is_flag_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'scan: while !rest.is_empty() {
        let boundary_before = out.chars().last().is_none_or(|c| !is_flag_char(c));
        if boundary_before {
            for (from, to) in renames {
                if let Some(after) = rest.strip_prefix(from) {
                    if after.chars().next().is_none_or(|c| !is_flag_char(c)) {
                        out.push_str(to);
                        rest = after;
                        continue 'scan;
                    }
                }
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

/// Lines of a sibling's stderr kept to explain its exit.
const LAST_WORDS_LINES: usize = 3;
/// Longest wait, once a sibling exited, for the rest of its output.
const LAST_WORDS_WAIT: Duration = Duration::from_secs(2);

/// A running sibling process.
pub struct Sibling {
    /// Short name for messages, e.g. `scheduler`.
    pub name: String,
    child: Child,
    /// The last lines of its stderr.
    last_lines: Arc<Mutex<VecDeque<String>>>,
    /// Copies its output to the log; done once both streams reached their end.
    copying: Option<JoinHandle<()>>,
    log: PathBuf,
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
    let (mut sibling, announced) = spawn_logged(name, command, log, prefix).await?;
    let silent = SiblingError::NoAnnouncement {
        binary: name.into(),
        prefix: prefix.into(),
        timeout,
        log: log.display().to_string(),
    };
    // An exit is noticed when it happens, not when the timeout runs out.
    tokio::select! {
        announced = announced => match announced {
            Ok(rest) => Ok((sibling, rest)),
            // Its stdout ended without the line: it is exiting.
            Err(_) => {
                let _ = tokio::time::timeout(timeout, sibling.child.wait()).await;
                Err(sibling.exit_report().await.unwrap_or(silent))
            }
        },
        _ = sibling.child.wait() => Err(sibling.exit_report().await.unwrap_or(silent)),
        () = tokio::time::sleep(timeout) => Err(silent),
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
    let last_lines = Arc::new(Mutex::new(VecDeque::new()));
    let copying = tokio::spawn(copy_lines(
        stdout,
        stderr,
        log_file,
        prefix.to_string(),
        announced_tx,
        last_lines.clone(),
    ));
    let sibling = Sibling {
        name: name.into(),
        child,
        last_lines,
        copying: Some(copying),
        log: log.to_path_buf(),
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
    last_lines: Arc<Mutex<VecDeque<String>>>,
) {
    let log = Arc::new(tokio::sync::Mutex::new(log));
    let err_log = log.clone();
    let stderr_task = tokio::spawn(async move {
        let Some(stderr) = stderr else { return };
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if !line.trim().is_empty() {
                let mut last = last_lines.lock().unwrap_or_else(|p| p.into_inner());
                if last.len() == LAST_WORDS_LINES {
                    last.pop_front();
                }
                last.push_back(line.clone());
            }
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

    /// Once it has exited: how, and its last words (the end of its stderr, read to the end),
    /// as an [`SiblingError::ExitedEarly`]. `None` while it runs.
    pub async fn exit_report(&mut self) -> Option<SiblingError> {
        let status = self.child.try_wait().ok().flatten()?;
        // Its output to the end; a grandchild still holding the pipe must not hold us up.
        if let Some(copying) = self.copying.take() {
            let _ = tokio::time::timeout(LAST_WORDS_WAIT, copying).await;
        }
        let last = self
            .last_lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|line| line.trim())
            .collect::<Vec<_>>()
            .join(" | ");
        let last_words = if last.is_empty() {
            format!("it printed nothing; see {}", self.log.display())
        } else {
            format!("{last} (all of it in {})", self.log.display())
        };
        Some(SiblingError::ExitedEarly {
            binary: self.name.clone(),
            status,
            last_words,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_renamed_only_where_they_stand_alone() {
        let renames = [
            ("--resources", "--agent-resources"),
            ("--port", "--master-port"),
        ];
        assert_eq!(
            rename_flags(
                "error: --resources 'cpus:x': bad; --port=5050 taken; --portal and x--port stay",
                &renames
            ),
            "error: --agent-resources 'cpus:x': bad; --master-port=5050 taken; --portal and x--port stay"
        );
    }
}
