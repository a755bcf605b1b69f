//! Uninstall on the dev cluster with the real executor, as DC/OS does it (the scheduler
//! restarted with `SDK_UNINSTALL=true`): every pod and executor ends, the framework is torn
//! down, the state file is deleted, and the scheduler then serves only the finished plan —
//! also when it was killed halfway, and without registering a new framework when restarted
//! once more.

mod support;

use std::path::Path;
use std::time::Duration;

use cartrack_devcluster::DevCluster;
use mesos_proto::v1::scheduler::call;
use serde_json::Value;
use support::{calls, cluster, example_spec, is, wait_until, Scheduler};

const T: Duration = Duration::from_secs(60);

const PODS: usize = 3;

const SDK_UNINSTALL: (&str, &str) = ("SDK_UNINSTALL", "true");

/// `GET /v1/plans/deploy`: its status code and body, `None` while the API is down.
async fn deploy_plan(s: &Scheduler) -> Option<(u16, Value)> {
    let r = reqwest::get(format!("{}/v1/plans/deploy", s.api))
        .await
        .ok()?;
    let status = r.status().as_u16();
    Some((status, r.json().await.ok()?))
}

/// Waits for the plan DC/OS's Cosmos waits for: COMPLETE, answered 200.
async fn wait_uninstalled(s: &Scheduler) -> Value {
    wait_until(T, "the uninstall plan COMPLETE (200)", || async {
        match deploy_plan(s).await {
            Some((200, plan)) if plan["status"] == "COMPLETE" => Some(plan),
            _ => None,
        }
    })
    .await
}

async fn master_state(cluster: &DevCluster) -> Value {
    reqwest::get(format!("{}/state", cluster.master_url()))
        .await
        .expect("master /state")
        .json()
        .await
        .expect("master /state is JSON")
}

fn subscribes(cluster: &DevCluster) -> usize {
    calls(cluster)
        .iter()
        .filter(|(c, _)| is(c, call::Type::Subscribe))
        .count()
}

async fn framework_id(s: &Scheduler) -> String {
    let health = s.get("/v1/health").await.expect("health");
    health["framework_id"]
        .as_str()
        .expect("registered")
        .to_string()
}

/// Whether process `pid` runs (exited and reaped, or a zombie, is not running).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // `pid (comm) S ...`: the state follows the last `)`.
            let rest = stat.rsplit_once(')')?.1;
            rest.split_whitespace().next().map(|state| state != "Z")
        })
        .unwrap_or(false)
}

/// Nothing of `framework_id` is left: not registered (torn down: among the completed
/// frameworks), no live task of any framework, no executor process, no state file, and the
/// scheduler says it has no framework id.
async fn assert_nothing_left(cluster: &DevCluster, s: &Scheduler, dir: &Path, framework_id: &str) {
    wait_until(T, "every executor process gone", || async {
        (!cluster.executor_pids().into_iter().any(alive)).then_some(())
    })
    .await;
    let state = master_state(cluster).await;
    let frameworks = state["frameworks"].as_array().cloned().unwrap_or_default();
    assert!(
        frameworks.iter().all(|f| f["id"] != framework_id),
        "the framework is still registered: {state}"
    );
    let live: Vec<&Value> = frameworks
        .iter()
        .flat_map(|f| f["tasks"].as_array().into_iter().flatten())
        .filter(|t| {
            t["id"]
                .as_str()
                .is_some_and(|id| !id.starts_with("tenant-load"))
        })
        .collect();
    assert!(live.is_empty(), "tasks left: {live:?}");
    let completed = state["completed_frameworks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        completed.iter().any(|f| f["id"] == framework_id),
        "torn down, so among the completed frameworks: {state}"
    );
    assert!(
        !dir.join("state").join("state.json").exists(),
        "the state file is deleted"
    );
    let r = reqwest::get(format!("{}/v1/state/frameworkId", s.api))
        .await
        .expect("API answers");
    assert_eq!(r.status().as_u16(), 404, "no framework id once uninstalled");
}

/// Restarted once more in uninstall mode on the deleted state: no SUBSCRIBE, the finished
/// plan at once.
async fn assert_a_restart_registers_nothing(cluster: &DevCluster, s: &mut Scheduler) {
    let before = subscribes(cluster);
    s.restart_with_env(&[SDK_UNINSTALL]);
    wait_uninstalled(s).await;
    assert_eq!(
        subscribes(cluster),
        before,
        "no SUBSCRIBE from a scheduler that found no state: {}",
        s.log()
    );
    let health = s.get("/v1/health").await.expect("health");
    assert_eq!(health["status"], "uninstalled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_uninstall_leaves_no_task_executor_framework_or_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = cluster(dir.path(), 2, Vec::new()).await;
    let mut s = Scheduler::start(dir.path(), &cluster.master_url(), &example_spec(), &[]);
    s.wait_running(PODS, T).await;
    let id = framework_id(&s).await;
    s.restart_with_env(&[SDK_UNINSTALL]);
    let plan = wait_uninstalled(&s).await;
    assert_eq!(plan["name"], "uninstall", "{plan}");
    assert_nothing_left(&cluster, &s, dir.path(), &id).await;
    let kills = calls(&cluster)
        .iter()
        .filter(|(c, _)| is(c, call::Type::Kill))
        .count();
    assert!(kills >= PODS, "every pod was killed: {kills} KILLs");
    assert_a_restart_registers_nothing(&cluster, &mut s).await;
    cluster.shutdown().await;
}

/// Killed (`kill -9` at a crash point) after sending its first KILL, or after TEARDOWN but
/// before deleting the state, then restarted with `SDK_UNINSTALL=true`: it finishes the job.
async fn killed_halfway_then_finished(point: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = cluster(dir.path(), 2, Vec::new()).await;
    let mut s = Scheduler::start(dir.path(), &cluster.master_url(), &example_spec(), &[]);
    s.wait_running(PODS, T).await;
    let id = framework_id(&s).await;
    let armed = format!("{point}=return");
    s.restart_with_env(&[SDK_UNINSTALL, ("FAILPOINTS", armed.as_str())]);
    let status = s.wait_exit(T).await;
    assert!(
        !status.success() && s.log().contains(point),
        "{point}: died at the crash point; {status:?}\n{}",
        s.log()
    );
    assert!(
        dir.path().join("state").join("state.json").exists(),
        "{point}: the state is still there"
    );
    s.restart_with_env(&[SDK_UNINSTALL]);
    wait_uninstalled(&s).await;
    assert_nothing_left(&cluster, &s, dir.path(), &id).await;
    assert_a_restart_registers_nothing(&cluster, &mut s).await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uninstall_killed_after_its_kills_is_finished_by_a_restart() {
    killed_halfway_then_finished("crash-after-kill").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uninstall_killed_after_teardown_is_finished_by_a_restart() {
    killed_halfway_then_finished("crash-after-teardown").await;
}
