//! Where an end-to-end test runs: on the dev cluster or on a real Mesos 1.12
//! (`cartrack-testcluster`). [`Env`] hides the difference, so that each case in
//! `support::cases` is written once and run by `tests/devcluster.rs` and `tests/real_mesos.rs`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cartrack_devcluster::{ClusterConfig, DevCluster, LogEntry};
use cartrack_testcluster::{RealMesos, RealMesosConfig};
use mesos_proto::v1::executor::call as ecall;
use mesos_proto::v1::{ExecutorInfo, Offer, TaskInfo};
use serde_json::Value;

use super::framework::{self, Framework};
use super::wait_until;

/// The deadline of every wait of the end-to-end tests.
pub const T: Duration = Duration::from_secs(20);
/// The executor id every test launches its tasks under.
pub const EXECUTOR: &str = "cartrack-ex";

/// Which cluster a test body runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `cartrack-devcluster`, in this test process.
    Dev,
    /// Real Mesos master and agent processes from `CARTRACK_MESOS_HOME`.
    Real,
}

/// The running cluster.
pub enum Cluster {
    Dev {
        cluster: DevCluster,
        work: tempfile::TempDir,
    },
    /// Boxed: far larger than the dev cluster's handle.
    Real(Box<RealMesos>),
}

/// One agent, a subscribed test framework and its first offer.
pub struct Env {
    pub cluster: Cluster,
    pub framework: Framework,
    pub agent_id: String,
    pub offer: Offer,
    /// Where tasks write their pids (outside every sandbox, so both backends find them).
    pub pids: tempfile::TempDir,
}

impl Env {
    /// A one-agent cluster and a framework with the given checkpoint flag and
    /// TASK_KILLING_STATE capability, holding its first offer.
    pub async fn start(backend: Backend, checkpoint: bool, task_killing: bool) -> Env {
        let cluster = match backend {
            Backend::Dev => {
                let work = tempfile::tempdir().unwrap();
                let cluster = DevCluster::start(ClusterConfig {
                    agents: 1,
                    work_dir: work.path().to_path_buf(),
                    status_update_retry: Duration::from_secs(60),
                    executor_registration_timeout: Duration::from_secs(20),
                    agent_unreachable_timeout: Duration::from_secs(2),
                    ..ClusterConfig::default()
                })
                .await
                .unwrap();
                Cluster::Dev { cluster, work }
            }
            Backend::Real => Cluster::Real(Box::new(
                RealMesos::start(RealMesosConfig::default())
                    .await
                    .expect("real Mesos starts"),
            )),
        };
        let master = match &cluster {
            Cluster::Dev { cluster, .. } => cluster.master_url(),
            Cluster::Real(mesos) => mesos.master_url(),
        };
        let framework = Framework::subscribe(&master, checkpoint, task_killing).await;
        let offer = framework.wait_offer().await;
        Env {
            agent_id: offer.agent_id.value.clone(),
            cluster,
            framework,
            offer,
            pids: tempfile::tempdir().unwrap(),
        }
    }

    /// The dev cluster, for the dev-cluster-only tests (fault injection, its event log).
    pub fn dev(&self) -> &DevCluster {
        match &self.cluster {
            Cluster::Dev { cluster, .. } => cluster,
            Cluster::Real(_) => panic!("a dev-cluster-only test ran on real Mesos"),
        }
    }

    pub fn pid_file(&self, task: &str) -> PathBuf {
        self.pids.path().join(format!("{task}.pid"))
    }

    /// A task that records its pid and sleeps (exec, so the pid is the sleep's).
    pub fn sleeper(&self, id: &str) -> TaskInfo {
        let command = format!("echo $$ > {}; exec sleep 300", self.pid_file(id).display());
        framework::task(id, &command, &self.agent_id)
    }

    pub async fn launch(&self, tasks: Vec<TaskInfo>) {
        self.launch_with(executor(), tasks).await;
    }

    pub async fn launch_with(&self, executor: ExecutorInfo, tasks: Vec<TaskInfo>) {
        self.framework
            .launch_group(&self.offer, executor, tasks)
            .await;
    }

    /// The pid `task` wrote, waiting for it.
    pub async fn pid(&self, task: &str) -> i32 {
        let file = self.pid_file(task);
        let mut pid = None;
        let found = wait_until(T, || {
            pid = std::fs::read_to_string(&file)
                .ok()
                .and_then(|t| t.trim().parse().ok());
            pid.is_some()
        })
        .await;
        assert!(found, "task {task} wrote no pid");
        pid.unwrap_or(0)
    }

    /// The folder the agent's sandboxes are under.
    pub fn work_root(&self) -> PathBuf {
        match &self.cluster {
            Cluster::Dev { work, .. } => work.path().to_path_buf(),
            Cluster::Real(mesos) => mesos.agent_work_dir(0).expect("one agent").to_path_buf(),
        }
    }

    /// The pids of the executors running now (dev cluster: every executor launched so far,
    /// so a relaunch shows as a second pid; real Mesos: the agent's `/containers`).
    pub async fn executor_pids(&self) -> Vec<u32> {
        match &self.cluster {
            Cluster::Dev { cluster, .. } => cluster.executor_pids(),
            Cluster::Real(mesos) => {
                let endpoint = mesos
                    .agent_endpoint(&self.agent_id)
                    .expect("the offer's agent");
                let Ok(response) = reqwest::get(format!("{endpoint}/containers")).await else {
                    return Vec::new();
                };
                let containers: Value = response.json().await.unwrap_or_default();
                containers
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|c| c["executor_id"] == EXECUTOR)
                    .filter_map(|c| c["status"]["executor_pid"].as_u64())
                    .filter_map(|pid| u32::try_from(pid).ok())
                    .collect()
            }
        }
    }

    /// The pid of the one executor, waiting for it to show.
    pub async fn executor_pid(&self) -> i32 {
        let deadline = Instant::now() + T;
        loop {
            let pids = self.executor_pids().await;
            if let [pid] = pids[..] {
                return i32::try_from(pid).expect("a pid");
            }
            assert!(
                Instant::now() < deadline,
                "expected one executor, saw {pids:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The executor calls of `kind` the dev cluster's agent took so far.
    pub fn executor_calls(&self, kind: ecall::Type) -> Vec<mesos_proto::v1::executor::Call> {
        self.dev()
            .log()
            .into_iter()
            .filter_map(|entry| match entry {
                LogEntry::ExecutorCall { call, .. } if call.r#type() == kind => Some(call),
                _ => None,
            })
            .collect()
    }

    /// How many SUBSCRIBE calls of the executor the agent took (real Mesos: its log's
    /// "Received Subscribe request for HTTP executor" lines).
    pub fn executor_subscriptions(&self) -> usize {
        match &self.cluster {
            Cluster::Dev { .. } => self.executor_calls(ecall::Type::Subscribe).len(),
            Cluster::Real(mesos) => {
                let log = mesos.run_dir().join("logs/agent-0.log");
                std::fs::read_to_string(log)
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| {
                        l.contains("Received Subscribe request for HTTP executor")
                            && l.contains(&format!("'{EXECUTOR}'"))
                    })
                    .count()
            }
        }
    }

    /// Waits until the agent took `n` SUBSCRIBE calls of the executor.
    pub async fn wait_executor_subscriptions(&self, n: usize) {
        let mut seen = 0;
        let ok = wait_until(T, || {
            seen = self.executor_subscriptions();
            seen >= n
        })
        .await;
        assert!(ok, "expected {n} executor SUBSCRIBEs, saw {seen}");
    }

    /// Restarts the agent on its work (and runtime) dirs: checkpointed executors are
    /// recovered. On real Mesos this returns once the agent re-registered with the master,
    /// which it does only after its executor re-registration timeout, i.e. once recovery is
    /// over and an executor that did not re-subscribe was shut down.
    pub async fn restart_agent(&mut self) {
        match &mut self.cluster {
            Cluster::Dev { cluster, .. } => cluster.restart_agent(&self.agent_id).await.unwrap(),
            Cluster::Real(mesos) => {
                mesos.kill_agent(0);
                mesos.start_agent(0).expect("the agent restarts");
                let deadline = Instant::now() + T;
                loop {
                    let state = mesos.state().await.unwrap_or_default();
                    let reregistered = state["slaves"].as_array().is_some_and(|agents| {
                        agents.iter().any(|a| {
                            a["id"] == self.agent_id.as_str()
                                && a["active"] == true
                                && a["reregistered_time"].is_number()
                        })
                    });
                    if reregistered {
                        break;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "the agent did not re-register: {state}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Stops the cluster; on real Mesos also checks that no process outlived it.
    pub async fn shutdown(self) {
        match self.cluster {
            Cluster::Dev { cluster, .. } => cluster.shutdown().await,
            Cluster::Real(mut mesos) => {
                let survivors = mesos.stop();
                assert!(survivors.is_empty(), "processes survived: {survivors:?}");
            }
        }
    }
}

/// The executor under test, as a CUSTOM executor.
pub fn executor() -> ExecutorInfo {
    framework::executor_info(EXECUTOR, &super::executor_binary())
}

/// The one file under `root` whose path ends with `suffix` (symlinks are not followed).
pub fn find_file(root: &Path, suffix: &Path) -> Option<PathBuf> {
    for entry in std::fs::read_dir(root).ok()?.flatten() {
        let path = entry.path();
        if path.ends_with(suffix) && path.is_file() {
            return Some(path);
        }
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir {
            if let Some(found) = find_file(&path, suffix) {
                return Some(found);
            }
        }
    }
    None
}
