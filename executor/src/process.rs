//! The one adapter that spawns, signals and reaps processes: task commands and (health)
//! check commands alike.
//!
//! # Rules
//! - **Process groups.** Every command starts in a new process group whose id is its pid;
//!   signals go to the whole group (`kill(-pgid, ..)`), so `sh -c` and whatever it starts are
//!   signalled together.
//! - **Parent death.** Each child sets `PR_SET_PDEATHSIG = SIGKILL` before `exec`, so it dies
//!   when the executor dies, even by `kill -9`. The kernel sends it when the *thread* that
//!   forked exits, so spawning must happen on a thread that lives as long as the executor: the
//!   binary runs a current-thread runtime and spawns from its main thread. A child whose
//!   parent died between fork and `prctl` notices (`getppid` changed) and does not exec.
//!   Grandchildren (what a task's shell starts in the background) do not inherit the death
//!   signal, and `sh -c` (dash) does not `exec` even a single command, so the task's real
//!   program is usually a grandchild. A [`Guard`] covers them: a helper process (this same
//!   binary with `CARTRACK_EXECUTOR_GUARD=1`, in its own process group) learns every task's
//!   process group through a pipe and SIGKILLs them all when the pipe reaches end-of-file,
//!   which the kernel causes when the executor dies, however it dies. When a task's main
//!   process exits normally its group is SIGKILLed too, so nothing it started outlives it.
//! - **Zombies.** Each child is awaited by a tokio task that reaps it and reports
//!   [`Event::ChildExited`]; nothing else waits for it, so no status is stolen and no zombie
//!   stays. Dropping [`ProcessTable`] SIGKILLs every group it still knows; the reaper tasks
//!   (or tokio's orphan reaper, when the runtime is gone) collect them.
//! - **Files.** stdout/stderr go to the files the [`LaunchSpec`] names; nothing is deleted.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use cartrack_runtime::parent_death;
use rustix::process::{kill_process_group, Pid, Signal as OsSignal};
use tokio::process::{Child, Command};
use tokio::sync::mpsc::UnboundedSender;

use crate::sandbox::LaunchSpec;
use crate::supervisor::{Event, ExitStatus, Signal};

/// The live task processes of this executor, by task id.
pub struct ProcessTable {
    groups: HashMap<String, i32>,
    events: UnboundedSender<Event>,
    guard: Option<Guard>,
}

impl ProcessTable {
    /// A table reporting child exits as [`Event::ChildExited`] on `events`.
    /// Without a [`Guard`], grandchildren survive an executor killed by SIGKILL; the binary
    /// always passes one.
    pub fn new(events: UnboundedSender<Event>, guard: Option<Guard>) -> Self {
        ProcessTable {
            groups: HashMap::new(),
            events,
            guard,
        }
    }

    /// Starts the command of `task_id` and returns its pid; its exit arrives on the event
    /// channel later.
    pub fn spawn(&mut self, task_id: &str, spec: &LaunchSpec) -> io::Result<u32> {
        let mut child = start(spec)?;
        let pid = child
            .id()
            .ok_or_else(|| io::Error::other("child exited before its pid was read"))?;
        let pgid = i32::try_from(pid).map_err(io::Error::other)?;
        self.groups.insert(task_id.to_string(), pgid);
        if let Some(guard) = &mut self.guard {
            guard.send('+', pgid);
        }
        let events = self.events.clone();
        let task_id = task_id.to_string();
        tokio::spawn(async move {
            let status = reap(&mut child, pgid).await;
            let _ = events.send(Event::ChildExited { task_id, status });
        });
        Ok(pid)
    }

    /// Signals the process group of `task_id`; a task already reaped is ignored.
    pub fn signal(&self, task_id: &str, signal: Signal) {
        if let Some(pgid) = self.groups.get(task_id) {
            signal_group(*pgid, signal);
        }
    }

    /// Forgets a reaped task, so later signals cannot hit a recycled process group id.
    pub fn forget(&mut self, task_id: &str) {
        if let Some(pgid) = self.groups.remove(task_id) {
            if let Some(guard) = &mut self.guard {
                guard.send('-', pgid);
            }
        }
    }

    /// How many task processes are alive (not yet forgotten).
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Whether no task process is alive.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

impl Drop for ProcessTable {
    fn drop(&mut self) {
        for pgid in self.groups.values() {
            signal_group(*pgid, Signal::Kill);
        }
    }
}

/// The environment variable that turns the binary into a [`Guard`] helper.
pub const GUARD_ENV: &str = "CARTRACK_EXECUTOR_GUARD";

/// The executor's end of the guard helper: see the module docs. Dropping it closes the pipe,
/// so the helper kills whatever groups are still registered and exits.
pub struct Guard {
    pipe: Option<std::process::ChildStdin>,
    helper: std::process::Child,
}

impl Guard {
    /// Starts the helper from `binary` (the executor's own executable).
    pub fn start(binary: &std::path::Path) -> io::Result<Guard> {
        use std::os::unix::process::CommandExt as _;
        let mut helper = std::process::Command::new(binary)
            .env(GUARD_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()?;
        let pipe = helper
            .stdin
            .take()
            .ok_or_else(|| io::Error::other("guard helper has no stdin"))?;
        Ok(Guard {
            pipe: Some(pipe),
            helper,
        })
    }

    fn send(&mut self, op: char, pgid: i32) {
        use std::io::Write as _;
        let Some(pipe) = self.pipe.as_mut() else {
            return;
        };
        if let Err(error) = writeln!(pipe, "{op}{pgid}") {
            tracing::warn!(%error, "the guard helper is gone; grandchildren may outlive a crash");
        }
    }

    /// The helper's pid (for tests and diagnostics).
    pub fn helper_pid(&self) -> u32 {
        self.helper.id()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Closing the pipe is the exit request; wait so the helper is reaped, not a zombie.
        drop(self.pipe.take());
        let _ = self.helper.wait();
    }
}

/// The guard helper's whole life: read `+pgid` / `-pgid` lines until end-of-file, then
/// SIGKILL every group still registered. Runs in the helper process only.
pub fn run_guard(input: impl std::io::BufRead) {
    // SAFETY: setting a signal disposition to SIG_IGN has no memory effects. The helper must
    // survive the terminal and the executor's group going away, to do its one job.
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    let mut groups = std::collections::HashSet::new();
    for line in input.lines() {
        let Ok(line) = line else { break };
        let (op, pgid) = line.split_at(line.len().min(1));
        let Ok(pgid) = pgid.parse::<i32>() else {
            continue;
        };
        match op {
            "+" => {
                groups.insert(pgid);
            }
            "-" => {
                groups.remove(&pgid);
            }
            _ => {}
        }
    }
    for pgid in groups {
        signal_group(pgid, Signal::Kill);
    }
}

/// Runs a check command to completion: how it ended, or `None` when it outlived `timeout`, in
/// which case its group is killed and reaped before returning.
pub async fn run_check(spec: &LaunchSpec, timeout: Duration) -> io::Result<Option<ExitStatus>> {
    let mut child = start(spec)?;
    let pgid = child
        .id()
        .and_then(|pid| i32::try_from(pid).ok())
        .ok_or_else(|| io::Error::other("check command has no pid"))?;
    match tokio::time::timeout(timeout, reap(&mut child, pgid)).await {
        Ok(status) => Ok(Some(status)),
        Err(_) => {
            signal_group(pgid, Signal::Kill);
            reap(&mut child, pgid).await;
            Ok(None)
        }
    }
}

fn start(spec: &LaunchSpec) -> io::Result<Child> {
    let mut command = Command::new(&spec.program);
    if let Some(arg0) = &spec.arg0 {
        command.arg0(arg0);
    }
    command
        .args(&spec.args)
        .current_dir(&spec.dir)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .process_group(0)
        .kill_on_drop(false);
    match &spec.output {
        Some((stdout, stderr)) => {
            command
                .stdout(File::create(stdout)?)
                .stderr(File::create(stderr)?);
        }
        None => {
            command.stdout(Stdio::null()).stderr(Stdio::null());
        }
    }
    parent_death::die_with_parent(command.as_std_mut(), OsSignal::KILL);
    command.spawn()
}

/// Waits for the child, then SIGKILLs what is left of its group so nothing it started
/// outlives it.
async fn reap(child: &mut Child, pgid: i32) -> ExitStatus {
    let status = match child.wait().await {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => ExitStatus::Code(code),
            (None, Some(signal)) => ExitStatus::Signal(signal),
            (None, None) => ExitStatus::Code(-1),
        },
        Err(error) => {
            tracing::warn!(%error, pgid, "waiting for a child failed");
            ExitStatus::Code(-1)
        }
    };
    signal_group(pgid, Signal::Kill);
    status
}

fn signal_group(pgid: i32, signal: Signal) {
    let signal = match signal {
        Signal::Terminate => OsSignal::TERM,
        Signal::Kill => OsSignal::KILL,
    };
    // Never group 1 (init's): a bogus id must not signal the whole system.
    if let Some(group) = Pid::from_raw(pgid).filter(|_| pgid > 1) {
        let _ = kill_process_group(group, signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    fn spec(dir: &std::path::Path, script: &str) -> LaunchSpec {
        LaunchSpec {
            program: "sh".into(),
            arg0: None,
            args: vec!["-c".into(), script.into()],
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            dir: dir.to_path_buf(),
            output: Some((dir.join("stdout"), dir.join("stderr"))),
        }
    }

    fn alive(pid: i32) -> bool {
        // Zombies count as gone: read the state letter from /proc.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|stat| {
                let state = stat.rsplit(')').next().unwrap_or("").trim_start();
                !state.starts_with('Z')
            })
            .unwrap_or(false)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn exit_code_is_reported_and_output_lands_in_files() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut table = ProcessTable::new(tx, None);
        table
            .spawn("t1", &spec(dir.path(), "echo out; echo err >&2; exit 3"))
            .unwrap();
        let event = rx.recv().await.unwrap();
        assert_eq!(
            event,
            Event::ChildExited {
                task_id: "t1".into(),
                status: ExitStatus::Code(3)
            }
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("stdout")).unwrap(),
            "out\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("stderr")).unwrap(),
            "err\n"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn signals_reach_the_whole_group_and_background_children_die_with_the_task() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut table = ProcessTable::new(tx, None);
        // The shell starts a background sleep, records its pid, then waits.
        table
            .spawn(
                "t1",
                &spec(dir.path(), "sleep 300 & echo $! > bg.pid; wait"),
            )
            .unwrap();
        let pid_file = dir.path().join("bg.pid");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let background: i32 = loop {
            if let Ok(text) = std::fs::read_to_string(&pid_file) {
                if let Ok(pid) = text.trim().parse() {
                    break pid;
                }
            }
            assert!(std::time::Instant::now() < deadline, "no background pid");
            tokio::task::yield_now().await;
        };
        assert!(alive(background));
        table.signal("t1", Signal::Terminate);
        let event = rx.recv().await.unwrap();
        assert!(matches!(
            event,
            Event::ChildExited {
                status: ExitStatus::Signal(libc::SIGTERM),
                ..
            }
        ));
        table.forget("t1");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while alive(background) {
            assert!(
                std::time::Instant::now() < deadline,
                "background child survived"
            );
            tokio::task::yield_now().await;
        }
    }

    #[test]
    fn guard_kills_registered_groups_at_end_of_input_only() {
        use std::os::unix::process::CommandExt as _;
        /// Kills and reaps the child even when an assertion fails.
        struct Reaped(std::process::Child);
        impl Drop for Reaped {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let start = || {
            Reaped(
                std::process::Command::new("sleep")
                    .arg("300")
                    .process_group(0)
                    .spawn()
                    .unwrap(),
            )
        };
        let (mut kept, mut killed) = (start(), start());
        let input = format!("+{0}\n+{1}\n-{0}\ngarbage\n", kept.0.id(), killed.0.id());
        run_guard(std::io::Cursor::new(input));
        let status = killed.0.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert!(
            kept.0.try_wait().unwrap().is_none(),
            "unregistered group was killed"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn missing_program_fails_to_spawn() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, _rx) = mpsc::unbounded_channel();
        let mut table = ProcessTable::new(tx, None);
        let mut bad = spec(dir.path(), "");
        bad.program = "/nonexistent/program".into();
        assert!(table.spawn("t1", &bad).is_err());
        assert!(table.is_empty());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn check_commands_time_out_and_are_reaped() {
        let dir = tempfile::tempdir().unwrap();
        let mut check = spec(dir.path(), "exit 0");
        check.output = None;
        let ten = Duration::from_secs(10);
        assert_eq!(
            run_check(&check, ten).await.unwrap(),
            Some(ExitStatus::Code(0))
        );
        check.args[1] = "exit 1".into();
        assert_eq!(
            run_check(&check, ten).await.unwrap(),
            Some(ExitStatus::Code(1))
        );
        check.args[1] = "sleep 300".into();
        assert_eq!(
            run_check(&check, Duration::from_millis(100)).await.unwrap(),
            None
        );
    }
}
