//! The `cartrack-devcluster` binary: prints the master URL, serves, and on SIGTERM stops every
//! executor it started.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mesos_proto::v1::TaskState;
use support::*;

/// Kills the binary if a test fails half way.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary with one agent and returns it (guarded) with its master URL.
async fn start_binary(dir: &std::path::Path) -> (Guard, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_cartrack-devcluster"))
        .args([
            "--agents",
            "1",
            "--port",
            "0",
            "--tenant-load",
            "cpus:1;mem:2048",
        ])
        .arg("--work-dir")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
        .spawn()
        .unwrap();
    let mut guard = Guard(child);
    let stdout = guard.0.stdout.take().unwrap();
    let first_line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .unwrap()
    .unwrap();
    let master = first_line
        .trim()
        .strip_prefix("master: ")
        .expect("first line is 'master: URL'")
        .to_string();
    assert!(master.starts_with("http://127.0.0.1:"));
    (guard, master)
}

/// Runs one task on the binary's cluster; returns its executor's pid.
async fn run_one_executor(master: &str) -> u32 {
    let mut s = TestScheduler::subscribe(master, framework("bin", &[])).await;
    s.launch_on_next_offer(|agent| {
        vec![launch(vec![task("t", agent, "", Some(test_executor("e")))])]
    })
    .await;
    s.until_state("t", TaskState::TaskRunning).await;
    // The launch is logged by the task that spawned the executor; poll until it is there.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let pid = loop {
        let log = reqwest::get(format!("{master}/log"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let launched = log
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["kind"] == "ExecutorLaunched")
            .and_then(|v| v["pid"].as_u64());
        if let Some(pid) = launched {
            break pid as u32;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no ExecutorLaunched with pid in the log"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(process_alive(pid));
    pid
}

async fn wait_exit(guard: Guard) -> std::process::ExitStatus {
    tokio::task::spawn_blocking(move || {
        let mut guard = guard;
        guard.0.wait().unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn binary_serves_and_sigterm_leaves_no_executor_behind() {
    let dir = tempfile::tempdir().unwrap();
    let (guard, master) = start_binary(dir.path()).await;
    let pid = run_one_executor(&master).await;
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc::kill(guard.0.id() as i32, libc::SIGTERM);
    }
    let status = wait_exit(guard).await;
    let stderr = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(
        wait_until(WAIT, || !process_alive(pid)).await,
        "executor {pid} outlived the dev cluster"
    );
}

#[tokio::test]
async fn a_killed_dev_cluster_takes_its_executors_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let (guard, master) = start_binary(dir.path()).await;
    let pid = run_one_executor(&master).await;
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc::kill(guard.0.id() as i32, libc::SIGKILL);
    }
    wait_exit(guard).await;
    assert!(
        wait_until(WAIT, || !process_alive(pid)).await,
        "executor {pid} outlived a SIGKILLed dev cluster"
    );
}

#[test]
fn bad_resources_flag_is_usage_error_exit_2() {
    let output = Command::new(env!("CARGO_BIN_EXE_cartrack-devcluster"))
        .args(["--port", "0", "--resources", "cpus=4"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--resources"), "{stderr}");
}

/// Runs the binary with `args` (it must refuse them before binding anything); returns its exit
/// code and stderr.
fn refused(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_cartrack-devcluster"))
        .args(["--port", "0"])
        .args(args)
        .env_remove("DEVCLUSTER_AGENTS")
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn agents_outside_1_to_100_is_usage_error_exit_2() {
    for agents in ["0", "101", "100000"] {
        let (code, stderr) = refused(&["--agents", agents]);
        assert_eq!(code, Some(2), "--agents {agents}: {stderr}");
        assert!(
            stderr.contains("--agents") && stderr.contains("1..=100"),
            "--agents {agents}: {stderr}"
        );
    }
}

#[test]
fn zero_or_absurd_durations_are_usage_errors_exit_2() {
    for (flag, value) in [
        ("--heartbeat-secs", "0"),
        ("--status-update-retry-secs", "0"),
        ("--executor-registration-timeout-secs", "0"),
        ("--agent-unreachable-timeout-secs", "-1"),
        ("--heartbeat-secs", "1e19"),
        ("--agent-unreachable-timeout-secs", "NaN"),
    ] {
        // `--flag=value`, so clap takes "-1" as the value and not as a flag.
        let (code, stderr) = refused(&[&format!("{flag}={value}")]);
        assert_eq!(code, Some(2), "{flag} {value}: {stderr}");
        assert!(
            stderr.contains(flag) && stderr.contains("86400"),
            "{flag} {value}: {stderr}"
        );
    }
}
