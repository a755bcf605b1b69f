//! The log set-up, seen from outside: a child process (this test binary again) logs with its
//! stderr on a pipe, as a sandbox or a log file has it.

use std::process::{Command, Output, Stdio};

/// Set in the child: which filter to initialise with ("env" or directives).
const CHILD_ENV: &str = "CARTRACK_RUNTIME_TRACING_CHILD";

#[test]
fn child_logs() {
    let Ok(filter) = std::env::var(CHILD_ENV) else {
        return;
    };
    let filter = match filter.as_str() {
        "env" => cartrack_runtime::tracing::Filter::FromEnv { default: "info" },
        directives => cartrack_runtime::tracing::Filter::Directives(directives),
    };
    cartrack_runtime::tracing::init(filter);
    tracing::info!(vehicle = "car-7", "an info line");
    tracing::debug!("a debug line");
}

fn child(filter: &str, rust_log: Option<&str>) -> String {
    let mut command = Command::new(std::env::current_exe().expect("test binary"));
    command
        .args(["child_logs", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, filter)
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(rust_log) = rust_log {
        command.env("RUST_LOG", rust_log);
    }
    let Output { status, stderr, .. } = command.output().expect("run the child");
    assert!(status.success(), "child failed: {status}");
    String::from_utf8(stderr).expect("UTF-8 log")
}

#[test]
fn no_colour_codes_when_stderr_is_a_pipe() {
    let log = child("env", None);
    assert!(log.contains("an info line"), "{log}");
    assert!(log.contains("vehicle=\"car-7\""), "{log}");
    assert!(!log.contains('\u{1b}'), "ANSI escape in {log:?}");
}

#[test]
fn rust_log_overrides_the_default() {
    let log = child("env", Some("debug"));
    assert!(log.contains("a debug line"), "{log}");
    let log = child("env", Some("warn"));
    assert!(!log.contains("an info line"), "{log}");
}

#[test]
fn a_binary_s_own_directives_win_over_rust_log() {
    let log = child("warn", Some("debug"));
    assert!(!log.contains("an info line"), "{log}");
}

#[test]
fn invalid_directives_fall_back_to_info_and_say_so() {
    let log = child("=!nonsense[", None);
    assert!(log.contains("an info line"), "{log}");
    assert!(log.contains("invalid log filter"), "{log}");
}
