//! `cartrack local --master` on a real Mesos 1.12: the broker and the scheduler start here,
//! the example pipeline's pods run on the real agents, and SIGINT stops both and tears the
//! framework down, so the master keeps no cartrack framework or task and the agents no
//! executor. With a master's URL, the masters' ZooKeeper group, and a list of masters whose
//! first one does not lead.
//!
//! Needs `CARTRACK_MESOS_HOME` and the workspace's binaries built beside `cartrack`
//! (`cargo build --workspace --bins --features cartrack-framework/failpoints`).

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use cartrack_testcluster::{RealMesos, RealMesosConfig};
use cartrack_zookeeper::testkit::TestZooKeeper;
use serde_json::Value;
use tokio::process::Command;
use tokio::time::Instant;

use support::process::{
    alive, assert_siblings_built, descendants, free_port, get, interrupt, interrupt_group, program,
    wait_for,
};

/// The example spec's groups, one pod each.
const GROUPS: [&str; 3] = ["ingester", "processor", "indexer"];

/// How the Ctrl-C reaches `cartrack local`.
#[derive(Debug, Clone, Copy)]
enum CtrlC {
    /// SIGINT to its whole process group, as a terminal sends it.
    Terminal,
    /// SIGINT to the process alone, as `kill -INT` sends it.
    Process,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn real_mesos_local_master_url_runs_pods_and_tears_down_on_sigint() {
    let mut mesos = RealMesos::start(RealMesosConfig {
        agents: 2,
        ..Default::default()
    })
    .await
    .expect("real Mesos starts");
    let master = mesos.master_url();
    local_on_existing_mesos(&mut mesos, &master, CtrlC::Terminal).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn real_mesos_local_zookeeper_master_runs_pods_and_tears_down_on_sigint() {
    let zk = TestZooKeeper::start().expect("ZooKeeper starts");
    let mut mesos = two_masters_and_an_agent(&zk).await;
    let master = mesos.zk_url().expect("a ZooKeeper cluster has a zk:// URL");
    local_on_existing_mesos(&mut mesos, &master, CtrlC::Process).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn real_mesos_local_master_list_standby_first_tears_down_through_the_leader() {
    let zk = TestZooKeeper::start().expect("ZooKeeper starts");
    let mut mesos = two_masters_and_an_agent(&zk).await;
    let leader = mesos.leader().await.expect("a master leads");
    // The standby answers TEARDOWN with a redirect to the leader, which must be followed.
    let master = format!(
        "{},{}",
        mesos.master_url_of(1 - leader),
        mesos.master_url_of(leader)
    );
    local_on_existing_mesos(&mut mesos, &master, CtrlC::Terminal).await;
}

/// Two masters electing their leader in `zk`, and one agent.
async fn two_masters_and_an_agent(zk: &TestZooKeeper) -> RealMesos {
    RealMesos::start(RealMesosConfig {
        masters: 2,
        agents: 1,
        zookeeper: Some(format!("127.0.0.1:{}", zk.port())),
        ..Default::default()
    })
    .await
    .expect("real Mesos starts")
}

/// Runs `cartrack local --master <master>` until every pod runs on `mesos`, interrupts it, and
/// checks that nothing of cartrack is left on the cluster. `cartrack local` leads a process
/// group of its own, as a shell's foreground job does.
async fn local_on_existing_mesos(mesos: &mut RealMesos, master: &str, ctrl_c: CtrlC) {
    assert_siblings_built();
    let work = tempfile::tempdir().unwrap();
    let kept = KeepOnPanic(work.path());
    let http_addr = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{http_addr}");
    let started = Instant::now();
    let mut local = Command::new(env!("CARGO_BIN_EXE_cartrack"))
        .args(["local", "--master", master, "--http", &http_addr])
        .arg("--work-dir")
        .arg(work.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(work.path().join("local.out")).unwrap())
        .stderr(std::fs::File::create(work.path().join("local.err")).unwrap())
        .kill_on_drop(true)
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = local.id().unwrap();
    let http = reqwest::Client::new();

    // Every pod of the example spec runs, as the scheduler and as the real master see it.
    let framework_id = wait_for("every group running", Duration::from_secs(90), || async {
        let state = get(&http, &format!("{base}/v1/state")).await?;
        let groups = state["groups"].as_array()?;
        let all = groups.len() == GROUPS.len()
            && groups.iter().all(|g| g["running"] == 1 && g["count"] == 1);
        all.then(|| state["framework_id"].as_str().map(str::to_string))
            .flatten()
    })
    .await;
    let on_master = wait_master_state(
        mesos,
        "the pods RUNNING on the master",
        Duration::from_secs(20),
        |state| {
            let running = tasks_of(state, &framework_id)
                .iter()
                .filter(|t| t["state"] == "TASK_RUNNING")
                .count();
            framework(&state["frameworks"], &framework_id).is_some_and(|f| f["active"] == true)
                && running == GROUPS.len()
        },
    )
    .await;
    assert_eq!(
        framework(&on_master["frameworks"], &framework_id).unwrap()["name"],
        "cartrack"
    );
    eprintln!(
        "pods running on the real master: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        !mesos.processes().is_empty(),
        "executors and pods run in the agents' sandboxes"
    );

    // Only the broker and the scheduler run beside `cartrack local`: no dev cluster.
    let family = descendants(pid);
    let programs: Vec<String> = family.iter().filter_map(|p| program(*p)).collect();
    assert!(
        programs.iter().any(|p| p == "cartrack-scheduler")
            && programs.iter().any(|p| p == "cartrack-worker")
            && !programs.iter().any(|p| p == "cartrack-devcluster"),
        "{programs:?}"
    );

    // SIGINT: the process exits, and the framework is gone with its pods.
    let leader = mesos
        .wait_for_leader(Duration::from_secs(10))
        .await
        .unwrap();
    let leader = mesos.master_url_of(leader);
    match ctrl_c {
        CtrlC::Terminal => interrupt_group(pid),
        CtrlC::Process => interrupt(pid),
    }
    let stopping = Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(60), local.wait())
        .await
        .expect("cartrack local stopped within 60 s")
        .unwrap();
    eprintln!(
        "cartrack local stopped: {:.1} s",
        stopping.elapsed().as_secs_f64()
    );
    let stderr = std::fs::read_to_string(work.path().join("local.err")).unwrap_or_default();
    assert!(
        status.success(),
        "cartrack local exited with {status}: {stderr}"
    );
    // Straight to the leader: a standby's redirect is followed, not a failure.
    assert!(
        stderr.contains(&format!("framework {framework_id} torn down on {leader}"))
            && !stderr.contains("TEARDOWN failed"),
        "{stderr}"
    );

    // It tore the framework down before exiting: the master has it as completed, with no task.
    let state = mesos.state().await.expect("master state");
    assert!(
        framework(&state["frameworks"], &framework_id).is_none(),
        "framework {framework_id} still registered: {}",
        state["frameworks"]
    );
    assert!(
        framework(&state["completed_frameworks"], &framework_id).is_some(),
        "framework {framework_id} not completed: {}",
        state["completed_frameworks"]
    );
    let live: Vec<&Value> = state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["name"] == "cartrack")
        .collect();
    assert!(
        live.is_empty(),
        "a cartrack framework is still on the master: {live:?}"
    );
    let left = tasks_of(&state, &framework_id);
    assert!(left.is_empty(), "tasks left on the master: {left:?}");
    let killed = completed_tasks_of(&state, &framework_id);
    assert_eq!(
        killed.len(),
        GROUPS.len(),
        "every pod ends as a completed task: {killed:?}"
    );

    // The agents shut the executors down, and with them the pods.
    let cluster = &*mesos;
    wait_for(
        "no executor or pod left",
        Duration::from_secs(30),
        || async { cluster.processes().is_empty().then_some(()) },
    )
    .await;
    wait_for("no descendant left", Duration::from_secs(10), || async {
        family.iter().all(|p| !alive(*p)).then_some(())
    })
    .await;
    // The scheduler's state named the torn-down framework: it is cleared for the next run.
    let state_dir: Vec<_> = std::fs::read_dir(work.path().join("state"))
        .unwrap()
        .collect();
    assert!(state_dir.is_empty(), "{state_dir:?}");
    drop(kept);
}

/// Polls the leading master's `/master/state` until `ready` holds; that state.
async fn wait_master_state(
    mesos: &mut RealMesos,
    what: &str,
    timeout: Duration,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    let mut last = Value::Null;
    while started.elapsed() < timeout {
        if let Ok(state) = mesos.state().await {
            if ready(&state) {
                eprintln!("{what}: {:.1} s", started.elapsed().as_secs_f64());
                return state;
            }
            last = state;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!(
        "timed out after {timeout:?} waiting for {what}; last frameworks: {}",
        last["frameworks"]
    );
}

/// The framework with `id` in a `/master/state` list of frameworks.
fn framework<'a>(frameworks: &'a Value, id: &str) -> Option<&'a Value> {
    frameworks.as_array()?.iter().find(|f| f["id"] == id)
}

/// Live (non-completed) tasks of framework `id` anywhere in `/master/state`.
fn tasks_of(state: &Value, id: &str) -> Vec<Value> {
    let lists = ["frameworks", "completed_frameworks"];
    lists
        .iter()
        .flat_map(|list| state[list].as_array().cloned().unwrap_or_default())
        .flat_map(|f| {
            ["tasks", "unreachable_tasks"]
                .iter()
                .flat_map(|key| f[key].as_array().cloned().unwrap_or_default())
                .collect::<Vec<_>>()
        })
        .chain(
            state["orphan_tasks"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        )
        .filter(|t| t["framework_id"] == id)
        .collect()
}

/// Completed tasks of framework `id`.
fn completed_tasks_of(state: &Value, id: &str) -> Vec<Value> {
    state["completed_frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(state["frameworks"].as_array().into_iter().flatten())
        .flat_map(|f| f["completed_tasks"].as_array().cloned().unwrap_or_default())
        .filter(|t| t["framework_id"] == id)
        .collect()
}

/// Keeps the work folder (logs of the broker and the scheduler) when the test fails.
struct KeepOnPanic<'a>(&'a Path);

impl Drop for KeepOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let kept =
                std::env::temp_dir().join(format!("cartrack-local-failed-{}", std::process::id()));
            if std::fs::rename(self.0, &kept).is_ok() {
                eprintln!("work folder of the failed run (logs/): {}", kept.display());
            }
        }
    }
}
