//! Executor processes: sandbox, fetching `CommandInfo.uris`, spawning with the documented
//! environment, and signalling the whole process group.
//!
//! Drop rule (tokio's caveat): dropping a `Child` neither kills nor reaps it. Every spawned
//! executor is a process-group leader (`process_group(0)`), so [`signal_group`] reaches the
//! shell and everything it started; the supervisor task always awaits `wait()`, which reaps it.
//! Executors also get `PR_SET_PDEATHSIG = SIGKILL`: should the dev cluster die abruptly, the
//! kernel kills them (the signal follows the spawning thread, a runtime worker that lives as
//! long as the cluster).

use std::path::{Path, PathBuf};
use std::time::Duration;

use cartrack_runtime::parent_death::{die_with_parent, Signal};
use mesos_proto::v1::CommandInfo;

/// Why an executor could not be started.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The sandbox folder could not be made (disk full, permissions). Not retried.
    #[error("creating sandbox {path}: {source}")]
    Sandbox {
        /// The sandbox path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A URI could not be fetched; the executor is not started (Mesos: fetcher failure).
    #[error("fetching '{uri}': {reason}")]
    Fetch {
        /// The URI from `CommandInfo.uris`.
        uri: String,
        /// What went wrong.
        reason: String,
    },
    /// `ExecutorInfo.command.value` is missing.
    #[error("executor has no command.value")]
    NoCommand,
    /// The OS refused to start the process.
    #[error("spawning '{command}': {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Mesos' textual durations, e.g. `5secs`, `250ms`.
pub fn mesos_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}secs", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Downloads or copies every URI into the sandbox, honouring `executable` and `output_file`,
/// and unpacks the archives a Mesos fetcher unpacks when `extract` (the default) is set.
pub async fn fetch(
    command: &CommandInfo,
    sandbox: &Path,
    http: &reqwest::Client,
) -> Result<(), LaunchError> {
    for uri in &command.uris {
        let fail = |reason: String| LaunchError::Fetch {
            uri: uri.value.clone(),
            reason,
        };
        let name = uri
            .output_file
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| {
                uri.value
                    .rsplit('/')
                    .next()
                    .filter(|s| !s.is_empty())
                    .unwrap_or("fetched")
                    .to_string()
            });
        let target = sandbox.join(&name);
        if uri.value.starts_with("http://") || uri.value.starts_with("https://") {
            let response = http
                .get(&uri.value)
                .send()
                .await
                .map_err(|e| fail(e.to_string()))?;
            if !response.status().is_success() {
                return Err(fail(format!("HTTP {}", response.status())));
            }
            let bytes = response.bytes().await.map_err(|e| fail(e.to_string()))?;
            // No fork may happen while a fetched file is open for writing (see FORK_GUARD).
            let _writing = FORK_GUARD.read().await;
            tokio::fs::write(&target, &bytes)
                .await
                .map_err(|e| fail(format!("writing {}: {e}", target.display())))?;
        } else {
            // A local file is copied by the kernel (copy_file_range), not through a buffer of
            // its whole size: debug binaries are 60-160 MB and every executor fetches them.
            let path = uri.value.strip_prefix("file://").unwrap_or(&uri.value);
            let _writing = FORK_GUARD.read().await;
            tokio::fs::copy(path, &target)
                .await
                .map_err(|e| fail(format!("copying to {}: {e}", target.display())))?;
        }
        if uri.executable() {
            use std::os::unix::fs::PermissionsExt;
            tokio::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
                .await
                .map_err(|e| fail(e.to_string()))?;
        } else if uri.extract() && mesos_proto::fetcher::unpacks(&name) {
            // GNU tar reads every compressed tar the fetcher knows; zip needs unzip.
            let (program, mut unpack) = if name.ends_with(".zip") {
                let mut unzip = tokio::process::Command::new("unzip");
                unzip
                    .arg("-o")
                    .arg("-q")
                    .arg(&target)
                    .arg("-d")
                    .arg(sandbox);
                ("unzip", unzip)
            } else {
                let mut tar = tokio::process::Command::new("tar");
                tar.arg("-xf").arg(&target).arg("-C").arg(sandbox);
                ("tar", tar)
            };
            let child = {
                let _forking = FORK_GUARD.write().await;
                unpack.spawn()
            };
            let status = child
                .map_err(|e| fail(format!("running {program}: {e}")))?
                .wait()
                .await
                .map_err(|e| fail(format!("running {program}: {e}")))?;
            if !status.success() {
                return Err(fail(format!("{program} exited with {status}")));
            }
        }
    }
    Ok(())
}

/// Creates the sandbox folder.
pub async fn make_sandbox(path: &Path) -> Result<(), LaunchError> {
    tokio::fs::create_dir_all(path)
        .await
        .map_err(|source| LaunchError::Sandbox {
            path: path.to_path_buf(),
            source,
        })
}

/// Starts the executor: `sh -c value` when `shell` (the default), else `value` with
/// `arguments[1..]`, in the sandbox, with `env` added to the agent's environment.
pub fn spawn(
    command: &CommandInfo,
    sandbox: &Path,
    env: &[(String, String)],
) -> Result<tokio::process::Child, LaunchError> {
    let value = command.value.clone().ok_or(LaunchError::NoCommand)?;
    let mut cmd = if command.shell() {
        let mut c = tokio::process::Command::new("sh");
        c.arg("-c").arg(&value);
        c
    } else {
        let mut c = tokio::process::Command::new(&value);
        c.args(command.arguments.iter().skip(1));
        c
    };
    if let Some(environment) = &command.environment {
        for var in &environment.variables {
            cmd.env(&var.name, var.value.clone().unwrap_or_default());
        }
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(sandbox)
        .stdin(std::process::Stdio::null())
        .stdout(open_log(sandbox, "stdout"))
        .stderr(open_log(sandbox, "stderr"))
        .process_group(0)
        .kill_on_drop(false);
    // If the dev cluster itself dies without cleaning up (SIGKILL, a test harness timeout), the
    // kernel takes its executors down too: no process is ever left behind.
    die_with_parent(cmd.as_std_mut(), Signal::KILL);
    cmd.spawn().map_err(|source| LaunchError::Spawn {
        command: value,
        source,
    })
}

/// Forks wait for fetched files to be closed, and fetches wait for forks to finish.
///
/// Why: a binary fetched into one sandbox is open for writing in this process for a moment; a
/// child forked meanwhile inherits that descriptor until it execs, and exec'ing the fetched
/// binary then fails with ETXTBSY ("text file busy") — inside `sh -c` too, where no retry of
/// ours can see it. Writers share the read side; a spawn takes the write side, and `spawn`
/// returns only after the child has exec'd, so no child holds a written file afterwards.
static FORK_GUARD: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// [`spawn`] under [`FORK_GUARD`], retried while exec fails with ETXTBSY — which can still
/// happen when something else in this process (a test harness, say) forks while a fetched file
/// is open. The condition clears within milliseconds (Go's os/exec retries the same way).
pub async fn spawn_retrying(
    command: &CommandInfo,
    sandbox: &Path,
    env: &[(String, String)],
) -> Result<tokio::process::Child, LaunchError> {
    let mut attempt = 0;
    loop {
        let spawned = {
            let _forking = FORK_GUARD.write().await;
            spawn(command, sandbox, env)
        };
        match spawned {
            Err(LaunchError::Spawn { source, .. })
                if source.raw_os_error() == Some(libc::ETXTBSY) && attempt < 50 =>
            {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            other => return other,
        }
    }
}

fn open_log(sandbox: &Path, name: &str) -> std::process::Stdio {
    std::fs::File::create(sandbox.join(name))
        .map(std::process::Stdio::from)
        .unwrap_or_else(|_| std::process::Stdio::null())
}

/// Sends `signal` to the process group led by `pid` (the executor and its children).
pub fn signal_group(pid: u32, signal: i32) {
    let Ok(pid) = i32::try_from(pid) else {
        return;
    };
    if pid <= 1 {
        return;
    }
    // SAFETY: kill(2) has no memory-safety preconditions; a stale group id only yields ESRCH.
    unsafe {
        libc::kill(-pid, signal);
    }
}

/// SIGKILL.
pub const SIGKILL: i32 = libc::SIGKILL;

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::v1::command_info::Uri;

    /// Runs the packer `program args...` in `dir`.
    fn pack(dir: &Path, program: &str, args: &[&str]) {
        let status = std::process::Command::new(program)
            .args(args)
            .current_dir(dir)
            .status()
            .expect("packer runs");
        assert!(status.success(), "{program} {args:?}");
    }

    #[tokio::test]
    async fn tar_and_zip_archives_are_unpacked_into_the_sandbox_as_mesos_does() {
        let source = tempfile::tempdir().expect("tempdir");
        std::fs::write(source.path().join("payload"), "cartrack").expect("write");
        pack(source.path(), "tar", &["-cjf", "release.tbz2", "payload"]);
        pack(
            source.path(),
            "python3",
            &["-m", "zipfile", "-c", "release.zip", "payload"],
        );
        for archive in ["release.tbz2", "release.zip"] {
            let sandbox = tempfile::tempdir().expect("tempdir");
            let command = CommandInfo {
                uris: vec![Uri {
                    value: source.path().join(archive).display().to_string(),
                    ..Uri::default()
                }],
                ..CommandInfo::default()
            };
            fetch(&command, sandbox.path(), &reqwest::Client::new())
                .await
                .unwrap_or_else(|e| panic!("{archive}: {e}"));
            let unpacked = std::fs::read_to_string(sandbox.path().join("payload"));
            assert_eq!(unpacked.ok().as_deref(), Some("cartrack"), "{archive}");
        }
    }
}
