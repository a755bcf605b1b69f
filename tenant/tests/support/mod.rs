//! The `cartrack-tenant` process (SIGKILLed and reaped on drop), and the test bodies the dev
//! cluster and the real Mesos share: only how the master is started differs.

#![allow(dead_code)]

use std::cell::RefCell;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use cartrack_zookeeper::testkit::wait_until;
use serde_json::Value;

/// Bound for anything that should happen within a few seconds, on a busy machine.
pub const T: Duration = Duration::from_secs(30);

/// A running `cartrack-tenant`.
pub struct Tenant {
    child: Child,
    /// `http://127.0.0.1:PORT`, where `/metrics` and `/v1/health` are.
    pub base: String,
    log: PathBuf,
}

impl Tenant {
    /// Starts it against `master` with the curve `curve` and `extra` flags; returns once it
    /// printed its metrics address.
    pub fn start(dir: &Path, master: &str, curve: &Path, extra: &[&str]) -> Tenant {
        let log = dir.join("tenant.log");
        let stderr = std::fs::File::create(&log).expect("log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_cartrack-tenant"))
            .arg("--master")
            .arg(master)
            .arg("--curve")
            .arg(curve)
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("cartrack-tenant starts");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout).read_line(&mut line).expect("stdout");
        let base = line
            .trim()
            .strip_prefix("metrics: ")
            .and_then(|url| url.strip_suffix("/metrics"))
            .unwrap_or_else(|| {
                panic!(
                    "no metrics line ({line:?}); log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })
            .to_string();
        Tenant { child, base, log }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET /v1/health`, `None` while it does not answer.
    pub async fn health(&self) -> Option<Value> {
        reqwest::get(format!("{}/v1/health", self.base))
            .await
            .ok()?
            .json()
            .await
            .ok()
    }

    /// `GET /metrics`.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.base))
            .await
            .expect("metrics answer")
            .text()
            .await
            .expect("metrics text")
    }

    /// The framework id, once registered.
    pub async fn framework_id(&self) -> String {
        let id = RefCell::new(None);
        let registered = wait_until(T, || {
            let id = &id;
            async move {
                let health = self.health().await;
                *id.borrow_mut() =
                    health.and_then(|h| h["framework_id"].as_str().map(String::from));
                id.borrow().is_some()
            }
        })
        .await;
        assert!(
            registered,
            "not registered within {T:?}; log:\n{}",
            self.log()
        );
        id.into_inner().expect("framework id")
    }

    /// Sends `kill -<name>`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name}");
    }

    /// Waits for it to exit.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let mut status = None;
        let exited = wait_until(timeout, || {
            status = self.child.try_wait().expect("try_wait");
            std::future::ready(status.is_some())
        })
        .await;
        assert!(
            exited,
            "still running after {timeout:?}; log:\n{}",
            self.log()
        );
        status.expect("exit status")
    }
}

impl Drop for Tenant {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `text` as `dir/curve.toml`.
pub fn write_curve(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("curve.toml");
    std::fs::write(&path, text).expect("write curve");
    path
}

/// `GET <master>/master/state`, `None` while it does not answer.
pub async fn master_state(master: &str) -> Option<Value> {
    reqwest::get(format!("{master}/master/state"))
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// `(task id, state)` of the tasks the master lists for framework `id`, live and completed,
/// and whether it still lists the framework as registered.
pub fn framework_tasks(state: &Value, id: &str) -> (bool, Vec<(String, String)>) {
    let find = |list: &str| {
        state[list]
            .as_array()
            .and_then(|fs| fs.iter().find(|f| f["id"] == id))
            .cloned()
    };
    let registered = find("frameworks");
    let Some(f) = registered.clone().or_else(|| find("completed_frameworks")) else {
        return (false, Vec::new());
    };
    let tasks = ["tasks", "unreachable_tasks", "completed_tasks"]
        .iter()
        .flat_map(|list| f[*list].as_array().cloned().unwrap_or_default())
        .map(|t| {
            let field = |k: &str| t[k].as_str().unwrap_or_default().to_string();
            (field("id"), field("state"))
        })
        .collect();
    (registered.is_some(), tasks)
}

/// Task ids of framework `id` in `state` (e.g. `TASK_RUNNING`), sorted.
pub fn in_state(tasks: &[(String, String)], state: &str) -> Vec<String> {
    let mut ids: Vec<String> = tasks
        .iter()
        .filter(|(_, s)| s == state)
        .map(|(id, _)| id.clone())
        .collect();
    ids.sort();
    ids
}

/// Waits until the master's view of framework `id` satisfies `check`; returns that view.
pub async fn wait_master(
    master: &str,
    id: &str,
    what: &str,
    tenant: &Tenant,
    check: impl Fn(bool, &[(String, String)]) -> bool,
) -> (bool, Vec<(String, String)>) {
    let last = RefCell::new((false, Vec::new()));
    let held = wait_until(T, || {
        let (last, check) = (&last, &check);
        async move {
            let Some(state) = master_state(master).await else {
                return false;
            };
            let view = framework_tasks(&state, id);
            let holds = check(view.0, &view.1);
            *last.borrow_mut() = view;
            holds
        }
    })
    .await;
    let last = last.into_inner();
    assert!(
        held,
        "timed out after {T:?} waiting for {what}; the master shows {last:?}; tenant log:\n{}",
        tenant.log()
    );
    last
}

/// The curve of the demand test, at `--time-scale 60` (a curve minute per real second):
/// 0 tasks, 4 from 1 s to 12 s, 1 from 12 s to 22 s, 0 until the end at 24 s.
pub const FOUR_ONE_ZERO: &str = r#"
[[point]]
at = "00:00"
tasks = 0
[[point]]
at = "00:01"
tasks = 4
[[point]]
at = "00:12"
tasks = 1
[[point]]
at = "00:22"
tasks = 0
[[point]]
at = "00:24"
tasks = 0
"#;

/// The demand test: RUNNING tasks follow 0 -> 4 -> 1 -> 0, the newest are killed when the
/// demand falls, and at the curve's end the framework is torn down with no task left.
pub async fn follows_the_curve_then_tears_down(master: &str, dir: &Path) {
    let curve = write_curve(dir, FOUR_ONE_ZERO);
    let mut tenant = Tenant::start(dir, master, &curve, &["--time-scale", "60"]);
    let id = tenant.framework_id().await;
    let (_, tasks) = wait_master(master, &id, "4 RUNNING tasks", &tenant, |_, tasks| {
        in_state(tasks, "TASK_RUNNING").len() == 4
    })
    .await;
    let first_four = in_state(&tasks, "TASK_RUNNING");
    assert_eq!(
        first_four,
        (1..=4)
            .map(|n| format!("cartrack-tenant-{n}"))
            .collect::<Vec<_>>()
    );
    let metrics = tenant.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "cartrack_tenant_desired_tasks 4"),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l == "cartrack_tenant_tasks_launched_total 4"),
        "{metrics}"
    );
    // Demand 1: the three newest are killed, the oldest keeps running.
    let (_, tasks) = wait_master(
        master,
        &id,
        "1 RUNNING task and 3 KILLED",
        &tenant,
        |_, tasks| {
            in_state(tasks, "TASK_RUNNING").len() == 1 && in_state(tasks, "TASK_KILLED").len() == 3
        },
    )
    .await;
    assert_eq!(in_state(&tasks, "TASK_RUNNING"), ["cartrack-tenant-1"]);
    assert_eq!(
        in_state(&tasks, "TASK_KILLED"),
        [
            "cartrack-tenant-2",
            "cartrack-tenant-3",
            "cartrack-tenant-4"
        ]
    );
    let metrics = tenant.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "cartrack_tenant_tasks_killed_total 3"),
        "{metrics}"
    );
    // Demand 0, then the end: torn down, the process exits 0, nothing left.
    let status = tenant.wait_exit(T).await;
    assert!(status.success(), "{status}; log:\n{}", tenant.log());
    let (registered, tasks) = wait_master(
        master,
        &id,
        "the framework torn down",
        &tenant,
        |registered, tasks| !registered && !tasks.iter().any(|(_, s)| is_live(s)),
    )
    .await;
    assert!(!registered);
    assert_eq!(in_state(&tasks, "TASK_KILLED").len(), 4, "{tasks:?}");
    assert!(tenant.log().contains("tearing the framework down"));
}

/// SIGTERM in the middle of a repeating curve tears the framework down and exits 0.
pub async fn sigterm_tears_down(master: &str, dir: &Path) {
    let curve = write_curve(
        dir,
        "repeat = true\nend = \"24:00\"\n[[point]]\nat = 0\ntasks = 2\n",
    );
    let mut tenant = Tenant::start(dir, master, &curve, &[]);
    let id = tenant.framework_id().await;
    wait_master(master, &id, "2 RUNNING tasks", &tenant, |_, tasks| {
        in_state(tasks, "TASK_RUNNING").len() == 2
    })
    .await;
    tenant.signal("TERM");
    let status = tenant.wait_exit(T).await;
    assert!(status.success(), "{status}; log:\n{}", tenant.log());
    wait_master(
        master,
        &id,
        "the framework torn down",
        &tenant,
        |registered, tasks| !registered && !tasks.iter().any(|(_, s)| is_live(s)),
    )
    .await;
}

/// A state that still holds resources.
pub fn is_live(state: &str) -> bool {
    matches!(
        state,
        "TASK_STAGING" | "TASK_STARTING" | "TASK_RUNNING" | "TASK_KILLING"
    )
}
