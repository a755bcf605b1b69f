//! Where and how a task's command runs: its directory, argv and environment.
//!
//! The rule (documented in README.md too):
//! - Each task runs in `<MESOS_SANDBOX>/tasks/<task id>/` (characters other than
//!   `[A-Za-z0-9._-]` in the id become `_`), with `stdout` and `stderr` files there. The
//!   directory stays after the task ends, for inspection.
//! - The executor's URIs are fetched into the executor sandbox, not the task directory, so the
//!   task directory gets a symlink to every top-level entry of the executor sandbox (except
//!   `tasks`, `stdout`, `stderr`): `./cartrack-worker` works from the task directory.
//!   `PATH` also starts with the executor sandbox, so `cartrack-worker` works too.
//! - Environment: the executor's own, without `MESOS_EXECUTOR_AUTHENTICATION_TOKEN`, plus
//!   `MESOS_SANDBOX` = the task directory, `MESOS_TASK_ID`, `CARTRACK_EXECUTOR_SANDBOX` = the
//!   executor sandbox, `CARTRACK_HTTP_HOST` = the agent's address (the host of
//!   `MESOS_AGENT_ENDPOINT`) unless the executor's environment has one, so a cartrack worker
//!   listens where other hosts reach the agent (and, on a dev cluster on loopback, only
//!   there), then `CommandInfo.environment` on top (so the scheduler's port variables, any
//!   `PATH` and any address it sets win).
//! - `shell` (the default) runs `sh -c <value>`; otherwise `value` is the program and
//!   `arguments` its argv, `arguments[0]` being argv[0] as in Mesos.
//!
//! [`launch_spec`] is pure; [`prepare`] makes the directory and links.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use mesos_proto::v1::{environment::variable, CommandInfo};

/// The subdirectory of the executor sandbox holding one directory per task.
pub const TASKS_DIR: &str = "tasks";
/// Sandbox entries not linked into task directories: the executor's own logs and tasks.
const NOT_LINKED: [&str; 3] = [TASKS_DIR, "stdout", "stderr"];
/// `PATH` when the executor itself has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The address a cartrack worker binds (its `--http-host`).
pub const BIND_ENV: &str = "CARTRACK_HTTP_HOST";
/// Where the agent is, as Mesos tells its executors.
const AGENT_ENDPOINT_ENV: &str = "MESOS_AGENT_ENDPOINT";

/// Everything needed to start one command, decided before any process exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchSpec {
    /// The program to execute (looked up in the spec's `PATH` when it has no `/`).
    pub program: String,
    /// argv[0] when it differs from `program`.
    pub arg0: Option<String>,
    /// argv[1..].
    pub args: Vec<String>,
    /// The complete environment.
    pub env: Vec<(String, String)>,
    /// The working directory.
    pub dir: PathBuf,
    /// Where stdout and stderr go; `None` discards them (health check commands).
    pub output: Option<(PathBuf, PathBuf)>,
}

/// Why a command cannot be turned into a [`LaunchSpec`]; the task is reported FAILED with
/// this message. Not retryable: the scheduler must change the task.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    /// `CommandInfo.value` is missing or empty.
    #[error("CommandInfo.value is empty; set the command to run")]
    NoCommand,
    /// `environment` holds a SECRET variable, which this executor cannot resolve.
    #[error("environment variable {name} is a SECRET, which cartrack-executor does not resolve; pass a VALUE")]
    SecretVariable {
        /// The variable.
        name: String,
    },
}

/// The directory of task `task_id` inside the executor sandbox.
pub fn task_dir(sandbox: &Path, task_id: &str) -> PathBuf {
    let safe: String = task_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = if safe.chars().all(|c| c == '.') {
        format!("_{safe}")
    } else {
        safe
    };
    sandbox.join(TASKS_DIR).join(safe)
}

/// Decides how to run `command` for task `task_id`; `inherited` is the executor's own
/// environment.
pub fn launch_spec(
    sandbox: &Path,
    task_id: &str,
    command: &CommandInfo,
    inherited: impl IntoIterator<Item = (String, String)>,
) -> Result<LaunchSpec, SandboxError> {
    let value = command
        .value
        .clone()
        .filter(|v| !v.is_empty())
        .ok_or(SandboxError::NoCommand)?;
    let dir = task_dir(sandbox, task_id);

    let mut env: Vec<(String, String)> = inherited
        .into_iter()
        .filter(|(name, _)| name != "MESOS_EXECUTOR_AUTHENTICATION_TOKEN")
        .collect();
    let inherited_path = env
        .iter()
        .find(|(name, _)| name == "PATH")
        .map(|(_, value)| value.clone())
        .unwrap_or_else(|| DEFAULT_PATH.to_string());
    let bind_address = agent_address(&env);
    let mut set = |name: &str, value: String| {
        env.retain(|(existing, _)| existing != name);
        env.push((name.to_string(), value));
    };
    set("PATH", format!("{}:{inherited_path}", sandbox.display()));
    set("MESOS_SANDBOX", dir.display().to_string());
    set("MESOS_TASK_ID", task_id.to_string());
    set("CARTRACK_EXECUTOR_SANDBOX", sandbox.display().to_string());
    if let Some(address) = bind_address {
        set(BIND_ENV, address);
    }
    for variable in command
        .environment
        .iter()
        .flat_map(|environment| &environment.variables)
    {
        if variable.r#type() == variable::Type::Secret {
            return Err(SandboxError::SecretVariable {
                name: variable.name.clone(),
            });
        }
        set(&variable.name, variable.value.clone().unwrap_or_default());
    }

    let (program, arg0, args) = if command.shell.unwrap_or(true) {
        ("sh".to_string(), None, vec!["-c".to_string(), value])
    } else {
        let mut arguments = command.arguments.clone();
        let arg0 = (!arguments.is_empty()).then(|| arguments.remove(0));
        (value, arg0, arguments)
    };
    Ok(LaunchSpec {
        program,
        arg0,
        args,
        env,
        output: Some((dir.join("stdout"), dir.join("stderr"))),
        dir,
    })
}

/// The agent's IP address, when the environment names no bind address of its own and the
/// agent's endpoint is a specific one.
fn agent_address(env: &[(String, String)]) -> Option<String> {
    let value = |wanted: &str| {
        env.iter()
            .find(|(name, _)| name == wanted)
            .map(|(_, value)| value.as_str())
    };
    if value(BIND_ENV).is_some() {
        return None;
    }
    let endpoint: SocketAddr = value(AGENT_ENDPOINT_ENV)?.trim().parse().ok()?;
    let ip = endpoint.ip();
    (!ip.is_unspecified()).then(|| ip.to_string())
}

/// Makes the task directory and links the executor sandbox's entries into it.
pub fn prepare(sandbox: &Path, spec: &LaunchSpec) -> std::io::Result<()> {
    std::fs::create_dir_all(&spec.dir)?;
    let sandbox = std::path::absolute(sandbox)?;
    for entry in std::fs::read_dir(&sandbox)? {
        let entry = entry?;
        let name = entry.file_name();
        if NOT_LINKED.iter().any(|skip| name == *skip) {
            continue;
        }
        let link = spec.dir.join(&name);
        if link.symlink_metadata().is_err() {
            std::os::unix::fs::symlink(entry.path(), link)?;
        }
    }
    Ok(())
}

/// How much of a failed task's `stderr` is read to quote its end.
const TAIL_READ_BYTES: u64 = 4096;
/// Lines and characters of that end quoted in the failure message.
const TAIL_LINES: usize = 3;
const TAIL_CHARS: usize = 400;

/// The end of `task_id`'s `stderr` (its last few non-empty lines, colour codes removed), to
/// quote in the failure message so operators see why it crashed without opening the sandbox.
/// `None` when the file is missing, unreadable or empty.
pub fn stderr_tail(sandbox: &Path, task_id: &str) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(task_dir(sandbox, task_id).join("stderr")).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(TAIL_READ_BYTES)))
        .ok()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    quote_tail(&String::from_utf8_lossy(&bytes))
}

/// The last [`TAIL_LINES`] non-empty lines of `text` joined by " | ", without ANSI escape
/// sequences, cut to their last [`TAIL_CHARS`] characters.
fn quote_tail(text: &str) -> Option<String> {
    let plain = strip_ansi(text);
    let lines: Vec<&str> = plain
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join(" | ");
    let chars = tail.chars().count();
    match chars {
        0 => None,
        n if n <= TAIL_CHARS => Some(tail),
        n => Some(format!(
            "...{}",
            tail.chars().skip(n - TAIL_CHARS).collect::<String>()
        )),
    }
}

/// `text` without CSI escape sequences (`ESC [ ... letter`), which coloured logs carry.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::v1::{environment::Variable, Environment};

    fn command(value: &str) -> CommandInfo {
        CommandInfo {
            value: Some(value.to_string()),
            ..Default::default()
        }
    }

    fn env_of(spec: &LaunchSpec, name: &str) -> Option<String> {
        spec.env
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    fn inherited(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn tasks_bind_the_agents_address_unless_told_another() {
        let agent = [("MESOS_AGENT_ENDPOINT", "10.0.4.7:5051")];
        let spec = launch_spec(Path::new("/sb"), "t1", &command("x"), inherited(&agent)).unwrap();
        assert_eq!(env_of(&spec, BIND_ENV).as_deref(), Some("10.0.4.7"));
        // The agent (or its operator) named one: kept.
        let named = [
            ("MESOS_AGENT_ENDPOINT", "10.0.4.7:5051"),
            (BIND_ENV, "0.0.0.0"),
        ];
        let spec = launch_spec(Path::new("/sb"), "t1", &command("x"), inherited(&named)).unwrap();
        assert_eq!(env_of(&spec, BIND_ENV).as_deref(), Some("0.0.0.0"));
        // The scheduler's task environment wins over both.
        let mut info = command("x");
        info.environment = Some(Environment {
            variables: vec![Variable {
                name: BIND_ENV.into(),
                value: Some("127.0.0.1".into()),
                ..Default::default()
            }],
        });
        let spec = launch_spec(Path::new("/sb"), "t1", &info, inherited(&agent)).unwrap();
        assert_eq!(env_of(&spec, BIND_ENV).as_deref(), Some("127.0.0.1"));
        // No usable endpoint: nothing set, the worker's own default (127.0.0.1) holds.
        for endpoint in [
            &[][..],
            &[("MESOS_AGENT_ENDPOINT", "0.0.0.0:5051")],
            &[("MESOS_AGENT_ENDPOINT", "agent:5051")],
        ] {
            let spec =
                launch_spec(Path::new("/sb"), "t1", &command("x"), inherited(endpoint)).unwrap();
            assert_eq!(env_of(&spec, BIND_ENV), None, "{endpoint:?}");
        }
    }

    #[test]
    fn shell_commands_run_under_sh_c() {
        let spec = launch_spec(Path::new("/sb"), "t1", &command("echo hi"), []).unwrap();
        assert_eq!(spec.program, "sh");
        assert_eq!(spec.args, vec!["-c", "echo hi"]);
        assert_eq!(spec.dir, PathBuf::from("/sb/tasks/t1"));
        assert_eq!(
            spec.output,
            Some((
                PathBuf::from("/sb/tasks/t1/stdout"),
                PathBuf::from("/sb/tasks/t1/stderr")
            ))
        );
    }

    #[test]
    fn non_shell_commands_take_argv0_from_arguments() {
        let mut info = command("/bin/echo");
        info.shell = Some(false);
        info.arguments = vec!["echo".into(), "a".into(), "b".into()];
        let spec = launch_spec(Path::new("/sb"), "t1", &info, []).unwrap();
        assert_eq!(spec.program, "/bin/echo");
        assert_eq!(spec.arg0.as_deref(), Some("echo"));
        assert_eq!(spec.args, vec!["a", "b"]);
    }

    #[test]
    fn environment_layers_inherited_then_sandbox_then_command() {
        let mut info = command("true");
        info.environment = Some(Environment {
            variables: vec![Variable {
                name: "PORT_HTTP".into(),
                value: Some("31001".into()),
                ..Default::default()
            }],
        });
        let inherited = [
            ("PATH".to_string(), "/usr/bin".to_string()),
            (
                "MESOS_EXECUTOR_AUTHENTICATION_TOKEN".to_string(),
                "secret".to_string(),
            ),
            ("MESOS_SANDBOX".to_string(), "/sb".to_string()),
        ];
        let spec = launch_spec(Path::new("/sb"), "t/1", &info, inherited).unwrap();
        assert_eq!(env_of(&spec, "PATH").as_deref(), Some("/sb:/usr/bin"));
        assert_eq!(
            env_of(&spec, "MESOS_SANDBOX").as_deref(),
            Some("/sb/tasks/t_1")
        );
        assert_eq!(env_of(&spec, "MESOS_TASK_ID").as_deref(), Some("t/1"));
        assert_eq!(env_of(&spec, "PORT_HTTP").as_deref(), Some("31001"));
        assert_eq!(env_of(&spec, "MESOS_EXECUTOR_AUTHENTICATION_TOKEN"), None);
        assert_eq!(spec.env.iter().filter(|(n, _)| n == "PATH").count(), 1);
    }

    #[test]
    fn secret_variables_and_empty_commands_are_refused() {
        let mut info = command("true");
        info.environment = Some(Environment {
            variables: vec![Variable {
                name: "DB_PASSWORD".into(),
                r#type: Some(variable::Type::Secret as i32),
                ..Default::default()
            }],
        });
        assert_eq!(
            launch_spec(Path::new("/sb"), "t", &info, []).unwrap_err(),
            SandboxError::SecretVariable {
                name: "DB_PASSWORD".into()
            }
        );
        assert_eq!(
            launch_spec(Path::new("/sb"), "t", &command(""), []).unwrap_err(),
            SandboxError::NoCommand
        );
    }

    #[test]
    fn task_ids_cannot_escape_the_tasks_directory() {
        assert_eq!(
            task_dir(Path::new("/sb"), ".."),
            PathBuf::from("/sb/tasks/_..")
        );
        assert_eq!(
            task_dir(Path::new("/sb"), "../../etc"),
            PathBuf::from("/sb/tasks/.._.._etc")
        );
    }

    #[test]
    fn prepare_links_sandbox_entries_but_not_logs_or_tasks() {
        let sandbox = tempfile::tempdir().unwrap();
        std::fs::write(sandbox.path().join("cartrack-worker"), "#!/bin/sh\n").unwrap();
        std::fs::write(sandbox.path().join("stdout"), "").unwrap();
        let spec = launch_spec(sandbox.path(), "t1", &command("true"), []).unwrap();
        prepare(sandbox.path(), &spec).unwrap();
        let link = spec.dir.join("cartrack-worker");
        assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
        assert!(!spec.dir.join("stdout").exists());
        assert!(!spec.dir.join("tasks").exists());
        // Preparing twice (a relaunch after a failed spawn) is fine.
        prepare(sandbox.path(), &spec).unwrap();
    }

    #[test]
    fn the_stderr_tail_quotes_the_last_lines_without_colour() {
        let text = "starting\n\n\u{1b}[31mERROR\u{1b}[0m cannot bind 0.0.0.0:80\nretrying\nError: gave up\n\n";
        assert_eq!(
            quote_tail(text).as_deref(),
            Some("ERROR cannot bind 0.0.0.0:80 | retrying | Error: gave up")
        );
        assert_eq!(quote_tail("\n  \n"), None);
        let long = "x".repeat(1000);
        let quoted = quote_tail(&long).unwrap();
        assert!(quoted.starts_with("...") && quoted.chars().count() == TAIL_CHARS + 3);
    }

    #[test]
    fn the_stderr_tail_reads_the_task_directory() {
        let sandbox = tempfile::tempdir().unwrap();
        let dir = task_dir(sandbox.path(), "t 1");
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(stderr_tail(sandbox.path(), "t 1"), None, "no file yet");
        let mut text = "noise\n".repeat(2000);
        text.push_str("panicked at main.rs:3\n");
        std::fs::write(dir.join("stderr"), text).unwrap();
        assert_eq!(
            stderr_tail(sandbox.path(), "t 1").as_deref(),
            Some("noise | noise | panicked at main.rs:3")
        );
    }
}
