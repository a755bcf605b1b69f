//! Shared helpers of the end-to-end tests: a dev cluster, the real `cartrack-scheduler`
//! process (SIGKILLed and reaped on drop), the real `cartrack-executor`, and a stand-in
//! worker script so pods run without Kafka or Elasticsearch.
//!
//! The executor binary is found, in order: `$CARTRACK_EXECUTOR_BIN`; next to this test's
//! target directory (`target/<profile>/cartrack-executor`, which CI's
//! `cargo build --workspace --bins` creates); otherwise it is built once with
//! `cargo build -p cartrack-executor` into the same target directory.

#![allow(dead_code)]

pub mod autoscale;
pub mod binaries;
pub mod cases;
pub mod deploy;
pub mod invariants;
pub mod real_ha;
pub mod slow_master;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use binaries::workspace_bin;
pub use binaries::{executor_bin, fake_worker};
use cartrack_devcluster::{ClusterConfig, DevCluster, LogEntry};
use mesos_proto::v1::scheduler::{call, Call};
use serde_json::Value;

/// Polls `cond` until it returns `Some` or `timeout` passes.
pub async fn wait_until<T, F, Fut>(timeout: Duration, what: &str, mut cond: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = cond().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A release tarball as `release/build.sh` packs it (the binaries at its top level), with the
/// real executor and the stand-in worker: `dir/cartrack-test-linux-x86_64.tar.gz`.
pub fn release_tarball(dir: &Path) -> PathBuf {
    let staging = dir.join("release-staging");
    std::fs::create_dir_all(&staging).expect("staging dir");
    std::fs::copy(executor_bin(), staging.join("cartrack-executor")).expect("copy executor");
    std::fs::copy(fake_worker(dir), staging.join("cartrack-worker")).expect("copy worker");
    let tarball = dir.join("cartrack-test-linux-x86_64.tar.gz");
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(&staging)
        .args(["cartrack-executor", "cartrack-worker"])
        .status()
        .expect("tar runs");
    assert!(status.success(), "tar -czf {}", tarball.display());
    tarball
}

/// A port that was free a moment ago (bound on 127.0.0.1:0 and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Starts a dev cluster with `agents` agents and attributes.
pub async fn cluster(dir: &Path, agents: usize, attributes: Vec<String>) -> DevCluster {
    DevCluster::start(test_cluster_config(dir, agents, attributes))
        .await
        .expect("dev cluster starts")
}

/// The tests' cluster settings: fast heartbeats and update retries.
pub fn test_cluster_config(dir: &Path, agents: usize, attributes: Vec<String>) -> ClusterConfig {
    ClusterConfig {
        agents,
        agent_attributes: attributes,
        work_dir: dir.join("cluster"),
        heartbeat_interval: Duration::from_secs(1),
        status_update_retry: Duration::from_secs(1),
        ..ClusterConfig::default()
    }
}

/// `cpus:4;mem:8192;disk:20000` with 100 ports of a block picked per cluster in 30000-30999,
/// for a cluster whose pods bind their ports: the dev cluster's default block (31000-32999) is
/// the same on every cluster of the machine (other tests, a benchmark, processes a killed test
/// left behind), and a pod of theirs on a port offered here would make ours fail to bind. Below
/// Linux's ephemeral ports and above the real-Mesos test clusters' 10000-29999.
pub fn own_port_block() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let base = 30_000 + ((std::process::id() ^ nanos) % 10) * 100;
    format!("cpus:4;mem:8192;disk:20000;ports:[{base}-{}]", base + 99)
}

/// A running scheduler process; SIGKILLed and reaped on drop.
pub struct Scheduler {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT` of its API.
    pub api: String,
    /// Arguments it was started with, to start it again.
    args: Vec<String>,
    /// Extra environment of the next start (e.g. `FAILPOINTS`).
    env: Vec<(String, String)>,
    log: PathBuf,
}

/// The flags that launch pods from the real executor and the worker stand-in in `dir`.
fn binaries(dir: &Path) -> [String; 4] {
    [
        "--executor-uri".to_string(),
        executor_bin().display().to_string(),
        "--worker-uri".to_string(),
        fake_worker(dir).display().to_string(),
    ]
}

impl Scheduler {
    /// Starts `cartrack-scheduler` with its state in `dir/state`, API on a free port.
    pub fn start(dir: &Path, master: &str, spec: &Path, extra: &[&str]) -> Scheduler {
        Scheduler::start_with_env(dir, master, spec, extra, &[])
    }

    /// [`Scheduler::start`] with extra environment variables.
    pub fn start_with_env(
        dir: &Path,
        master: &str,
        spec: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Scheduler {
        Scheduler::launch(dir, master, spec, &binaries(dir), extra, env)
    }

    /// [`Scheduler::start`] with the worker stand-in of `shared`: instances of one service
    /// (a leader and its standbys) must launch the same binaries, or each would be a new
    /// config version for the other.
    pub fn start_sharing(
        dir: &Path,
        shared: &Path,
        master: &str,
        spec: &Path,
        extra: &[&str],
    ) -> Scheduler {
        Scheduler::launch(dir, master, spec, &binaries(shared), extra, &[])
    }

    /// Starts it with `--release-uri tarball` instead of the single binaries.
    pub fn start_from_release(dir: &Path, master: &str, spec: &Path, tarball: &Path) -> Scheduler {
        let binaries = ["--release-uri".to_string(), tarball.display().to_string()];
        Scheduler::launch(dir, master, spec, &binaries, &[], &[])
    }

    fn launch(
        dir: &Path,
        master: &str,
        spec: &Path,
        binaries: &[String],
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Scheduler {
        let port = free_port();
        let mut args: Vec<String> = vec![
            "--master".into(),
            master.into(),
            "--spec".into(),
            spec.display().to_string(),
            "--state-dir".into(),
            dir.join("state").display().to_string(),
            "--http".into(),
            format!("127.0.0.1:{port}"),
            "--log-level".into(),
            "info".into(),
        ];
        args.extend_from_slice(binaries);
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut s = Scheduler {
            child: None,
            api: format!("http://127.0.0.1:{port}"),
            args,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            log: dir.join("scheduler.log"),
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_cartrack-scheduler"))
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("scheduler starts");
        self.child = Some(child);
    }

    /// `kill -9`, reaped.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the same process again (same state dir, same port).
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Sends a signal by name (`STOP`, `CONT`, ...) to the running process.
    pub fn signal(&self, name: &str) {
        let pid = self.child.as_ref().expect("scheduler running").id();
        let status = Command::new("kill")
            .args([format!("-{name}"), pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} {pid}");
    }

    /// The role its `/v1/health` names (`leader` or `standby`), if it answers.
    pub async fn role(&self) -> Option<String> {
        let health = self.get("/v1/health").await?;
        health["role"].as_str().map(String::from)
    }

    /// Starts the same process again with `env` as its extra environment.
    pub fn restart_with_env(&mut self, env: &[(&str, &str)]) {
        self.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.restart();
    }

    /// Waits for the process to exit by itself (a crash point); its exit status.
    pub async fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return status;
                }
            }
            if Instant::now() >= deadline {
                panic!(
                    "scheduler did not exit within {timeout:?}; log:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Its log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path` as JSON, `None` while the API is not up.
    pub async fn get(&self, path: &str) -> Option<Value> {
        // This instance's own answer: a standby's 307 to the leader is not followed.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .ok()?;
        let r = client
            .get(format!("{}{path}", self.api))
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.json().await.ok()
    }

    /// `GET /metrics` text.
    pub async fn metrics(&self) -> String {
        match reqwest::get(format!("{}/metrics", self.api)).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Waits until `/v1/state` shows exactly `n` tasks holding slots, all RUNNING, and returns the state;
    /// on timeout the panic shows the last state and the scheduler's log.
    pub async fn wait_running(&self, n: usize, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let state = self.get("/v1/state").await;
            if let Some(tasks) = state.as_ref().and_then(|s| s["tasks"].as_array()) {
                // Tasks given up after staying unreachable no longer hold a slot.
                let holding: Vec<_> = tasks.iter().filter(|t| t["holds_slot"] != false).collect();
                if holding.len() == n && holding.iter().all(|t| t["state"] == "TASK_RUNNING") {
                    return state.unwrap_or_default();
                }
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out waiting for {n} RUNNING tasks; state {state:?}\nscheduler log:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Every scheduler call the cluster recorded with its HTTP status.
pub fn calls(cluster: &DevCluster) -> Vec<(Call, u16)> {
    cluster
        .log()
        .into_iter()
        .filter_map(|e| match e {
            LogEntry::SchedulerCall {
                call, http_status, ..
            } => Some((call, http_status)),
            _ => None,
        })
        .collect()
}

/// Whether a call is of type `t`.
pub fn is(call: &Call, t: call::Type) -> bool {
    call.r#type == Some(t as i32)
}

/// Number of LAUNCH_GROUP operations accepted so far.
pub fn launched_pods(cluster: &DevCluster) -> usize {
    calls(cluster)
        .iter()
        .filter(|(c, status)| is(c, call::Type::Accept) && *status == 202)
        .flat_map(|(c, _)| c.accept.iter().flat_map(|a| a.operations.iter()))
        .filter(|op| op.launch_group.is_some())
        .count()
}

/// The repository's example spec.
pub fn example_spec() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/cartrack.toml")
}

/// Writes a spec into `dir`.
pub fn write_spec(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("spec.toml");
    std::fs::write(&path, text).expect("write spec");
    path
}

// =================================================================================================
// Shared by the dev-cluster and the real-Mesos scheduler tests (`devcluster.rs`, `faults.rs`,
// `real_mesos_scheduler.rs`): the real worker and its broker, and the scenario bodies both
// backends run. Backend-specific checks (the dev cluster's call log, the real master's state)
// stay in the tests that call these.
// =================================================================================================

/// The real pipeline worker (`cartrack-worker` of `cartrack-pipeline`), found as
/// [`executor_bin`] finds the executor (`$CARTRACK_WORKER_BIN` first).
pub fn worker_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        workspace_bin(
            "CARTRACK_WORKER_BIN",
            "cartrack-pipeline",
            "cartrack-worker",
        )
    })
    .clone()
}

/// `cartrack-worker broker`: the pipeline's in-memory Kafka on 127.0.0.1 (it binds a free
/// port itself and prints it); killed and reaped on drop.
pub struct Broker {
    child: Child,
    /// `127.0.0.1:PORT`, for `CARTRACK_KAFKA`.
    pub bootstrap: String,
}

impl Broker {
    /// Starts it and waits for its `kafka: ADDRESS` line.
    pub fn start() -> Broker {
        use std::io::BufRead;
        let mut child = Command::new(worker_bin())
            .arg("broker")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cartrack-worker broker starts");
        let stdout = child.stdout.take().expect("broker stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads to the end, so the broker never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(address) = line.strip_prefix("kafka: ") {
                    let _ = tx.send(address.trim().to_string());
                }
            }
        });
        let mut broker = Broker {
            child,
            bootstrap: String::new(),
        };
        broker.bootstrap = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the broker prints `kafka: ADDRESS` within 30 s");
        broker
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Scheduler {
    /// [`Scheduler::start_with_env`] with the real worker instead of the sleeping stand-in.
    pub fn start_with_real_worker(
        dir: &Path,
        master: &str,
        spec: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Scheduler {
        let binaries = [
            "--executor-uri".to_string(),
            executor_bin().display().to_string(),
            "--worker-uri".to_string(),
            worker_bin().display().to_string(),
        ];
        Scheduler::launch(dir, master, spec, &binaries, extra, env)
    }
}

/// Files called `name` under `root` (symlinks not followed).
pub fn files_named(root: &Path, name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() && entry.file_name() == name {
                found.push(entry.path());
            }
        }
    }
    found
}
