//! Rolling updates end to end: the real scheduler against the dev cluster with the real
//! executor. The bodies shared with the real-Mesos suite are in `support::deploy`.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use cartrack_devcluster::{DevCluster, LogEntry};
use serde_json::Value;
use support::deploy::{
    self, completed, no_slot_twice, put_config, ready_pods, wait_ready, watch_checking,
    watch_until, web_spec, ROLLOUT,
};
use support::*;

/// A dev cluster and its folder, torn down with [`Web::shutdown`].
struct Web {
    dir: tempfile::TempDir,
    cluster: DevCluster,
    /// The master's state URL, as the shared bodies poll it.
    states: String,
}

impl Web {
    async fn new(agents: usize) -> Web {
        let dir = tempfile::tempdir().expect("tempdir");
        Web::on(cluster(dir.path(), agents, Vec::new()).await, dir)
    }

    fn on(cluster: DevCluster, dir: tempfile::TempDir) -> Web {
        let states = format!("{}/state", cluster.master_url());
        Web {
            dir,
            cluster,
            states,
        }
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A scheduler running `spec` with the single binaries.
    fn start(&self, spec: &str) -> Scheduler {
        let spec = write_spec(self.dir(), spec);
        Scheduler::start(self.dir(), &self.cluster.master_url(), &spec, &[])
    }

    async fn shutdown(self, scheduler: Scheduler) {
        drop(scheduler);
        self.cluster.shutdown().await;
    }
}

/// The group every case starts from: 3 pods, one replaced at a time.
fn three(deploy: &str) -> String {
    web_spec(3, "1", "true", deploy, "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_env_change_rolls_one_pod_at_a_time() {
    let web = Web::new(3).await;
    let s = web.start(&three("max_unavailable = 1"));
    deploy::an_env_change_rolls_one_pod_at_a_time(&s, &web.states).await;
    assert_eq!(
        launched_pods(&web.cluster),
        6,
        "three pods, each replaced once"
    );
    web.shutdown(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_update_stops_in_error_and_abort_restores() {
    let web = Web::new(3).await;
    let s = web.start(&three("max_unavailable = 1"));
    deploy::a_failing_update_stops_in_error_and_abort_restores(&s, &web.states).await;
    web.shutdown(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_waits_for_continue() {
    let web = Web::new(3).await;
    let s = web.start(&three("max_unavailable = 1, canary_steps = 1"));
    deploy::a_canary_waits_for_continue(&s, &web.states).await;
    web.shutdown(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_scheduler_continues_the_rollout() {
    let web = Web::new(3).await;
    let mut s = web.start(&three("max_unavailable = 1"));
    deploy::a_restarted_scheduler_continues_the_rollout(&mut s, &web.states).await;
    assert_eq!(launched_pods(&web.cluster), 6, "no step launched twice");
    web.shutdown(s).await;
}

/// Executor ids launched, and those that exited, from the dev cluster's log.
fn executors(cluster: &DevCluster) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut launched, mut exited) = (BTreeSet::new(), BTreeSet::new());
    for entry in cluster.log() {
        match entry {
            LogEntry::ExecutorLaunched { executor_id, .. } => {
                launched.insert(executor_id);
            }
            LogEntry::ExecutorExited { executor_id, .. } => {
                exited.insert(executor_id);
            }
            _ => {}
        }
    }
    (launched, exited)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_release_replaces_the_executors_beside_the_old_ones() {
    let web = Web::new(3).await;
    let text = three("max_unavailable = 1");
    let spec = write_spec(web.dir(), &text);
    let first = release_tarball(web.dir());
    let s = Scheduler::start_from_release(web.dir(), &web.cluster.master_url(), &spec, &first);
    let master = &web.states;
    watch_until(&s, master, "three ready pods", |plan| {
        plan["status"] == "COMPLETE"
    })
    .await;
    wait_ready(&s, 3).await;
    let (old, _) = executors(&web.cluster);
    let second = web.dir().join("cartrack-2-linux-x86_64.tar.gz");
    std::fs::copy(&first, &second).expect("copy release");
    let uri = second.display().to_string();
    let (status, answer) = put_config(&s, &text, Some(&uri)).await;
    assert_eq!(
        (status, &answer["changed"]),
        (200, &Value::Bool(true)),
        "{answer}"
    );
    let watched = watch_until(&s, master, "the new release everywhere", completed(2)).await;
    assert!(watched.min_ready >= 2, "{}", watched.min_ready);
    let (launched, _) = executors(&web.cluster);
    let new: BTreeSet<&String> = launched.difference(&old).collect();
    assert!(!new.is_empty(), "new executors started: {launched:?}");
    // The old executors exit by themselves once their last pod is gone.
    wait_until(ROLLOUT, "the old executors to exit", || async {
        let (_, exited) = executors(&web.cluster);
        old.is_subset(&exited).then_some(())
    })
    .await;
    let config = s.get("/v1/configs/2").await.expect("version 2");
    assert_eq!(config["binaries"]["uri"], uri.as_str());
    web.shutdown(s).await;
}

/// Live task ids per agent hostname, from a master's state.
fn pods_by_host(state: &Value) -> BTreeMap<String, Vec<String>> {
    let hosts: BTreeMap<&str, &str> = state["slaves"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| Some((a["id"].as_str()?, a["hostname"].as_str()?)))
        .collect();
    let mut by_host: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let tasks = state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["tasks"].as_array().into_iter().flatten());
    for task in tasks.filter(|t| cases::is_live(t)) {
        if let Some(host) = task["slave_id"].as_str().and_then(|a| hosts.get(a)) {
            let id = task["id"].as_str().unwrap_or_default().to_string();
            by_host.entry(host.to_string()).or_default().push(id);
        }
    }
    by_host
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_surge_pod_never_breaks_hostname_unique() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = test_cluster_config(dir.path(), 3, Vec::new());
    config.distinct_hosts = true;
    let web = Web::on(DevCluster::start(config).await.expect("dev cluster"), dir);
    let rules = "max_unavailable = 0, max_surge = 1";
    let unique = "\"hostname:UNIQUE\"";
    let s = web.start(&web_spec(2, "1", "true", rules, unique));
    let master = &web.states;
    watch_until(&s, master, "two ready pods", |plan| {
        plan["status"] == "COMPLETE"
    })
    .await;
    wait_ready(&s, 2).await;
    // Three agents cannot hold three pods and a surge pod, one per host: refused up front.
    let (status, answer) = put_config(&s, &web_spec(3, "2", "true", rules, unique), None).await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("hostname:UNIQUE needs 4 agents")),
        "{answer}"
    );
    assert_eq!(s.get("/v1/configs").await.expect("configs")["target"], 1);
    let (status, answer) = put_config(&s, &web_spec(2, "2", "true", rules, unique), None).await;
    assert_eq!(status, 200, "{answer}");
    let one_per_host = |state: &Value| {
        no_slot_twice(state);
        let hosts = pods_by_host(state);
        let doubled: Vec<_> = hosts.iter().filter(|(_, ids)| ids.len() > 1).collect();
        assert!(doubled.is_empty(), "two pods on one host: {doubled:?}");
    };
    watch_checking(
        &s,
        master,
        "version 2 everywhere",
        one_per_host,
        completed(2),
    )
    .await;
    let state = wait_ready(&s, 2).await;
    assert_eq!(ready_pods(&state), 2, "the surge pod is gone");
    web.shutdown(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_new_env_rolls_the_pods_and_an_unchanged_one_does_not() {
    let web = Web::new(3).await;
    // As a DC/OS options update does: the scheduler restarts with new environment.
    let text = web_spec(3, "${APP_VERSION:-1}", "true", "max_unavailable = 1", "");
    let spec = write_spec(web.dir(), &text);
    let mut s = Scheduler::start_with_env(
        web.dir(),
        &web.cluster.master_url(),
        &spec,
        &[],
        &[("APP_VERSION", "1")],
    );
    let master = &web.states;
    watch_until(&s, master, "three ready pods", |plan| {
        plan["status"] == "COMPLETE"
    })
    .await;
    wait_ready(&s, 3).await;
    s.restart_with_env(&[("APP_VERSION", "1")]);
    wait_ready(&s, 3).await;
    assert_eq!(
        s.get("/v1/configs").await.expect("configs")["target"],
        1,
        "same config: no new version"
    );
    s.restart_with_env(&[("APP_VERSION", "2")]);
    let watched = watch_until(&s, master, "version 2 everywhere", completed(2)).await;
    assert!(watched.min_ready >= 2, "{}", watched.min_ready);
    assert_eq!(launched_pods(&web.cluster), 6);
    web.shutdown(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_update_is_refused_and_changes_nothing() {
    let web = Web::new(1).await;
    let text = web_spec(1, "1", "true", "max_unavailable = 1", "");
    let s = web.start(&text);
    wait_ready(&s, 1).await;
    let bad = text.replace("cpus = 0.1", "cpus = 0.1\ncpu = 2");
    let (status, answer) = put_config(&s, &bad, None).await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"].as_str().is_some_and(|e| e.contains("cpu")),
        "{answer}"
    );
    let stopped = web_spec(1, "1", "true", "max_unavailable = 0", "");
    let (status, answer) = put_config(&s, &stopped, None).await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("max_surge >= 1")),
        "{answer}"
    );
    let configs = s.get("/v1/configs").await.expect("configs");
    assert_eq!(configs["target"], 1);
    assert_eq!(configs["versions"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        deploy::steer(&s, "pause").await,
        409,
        "no deployment to pause"
    );
    web.shutdown(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_readiness_check_holds_the_next_step_until_it_passes() {
    let web = Web::new(3).await;
    let master = &web.states;
    let s = web.start(&three("max_unavailable = 1"));
    let readiness = |command: &str| {
        format!("[groups.tasks.readiness]\nkind = \"command\"\ncommand = \"{command}\"\ninterval_seconds = 0.5\n")
    };
    // Healthy, but never ready: the first new pod runs and the rollout waits behind it.
    let never = web_spec(3, "2", "true", "max_unavailable = 1", "") + &readiness("false");
    deploy::start_rollout(&s, master, &never).await;
    let watched = watch_until(&s, master, "the rollout held by readiness", |plan| {
        let steps = &plan["phases"][0]["steps"];
        steps[0]["version"] == 2
            && steps[0]["status"] == "STARTING"
            && steps[1]["status"] == "WAITING"
    })
    .await;
    assert_eq!(watched.plan["phases"][0]["steps"][2]["version"], 1);
    // A new version that gets ready takes over from there and completes.
    let ready = web_spec(3, "3", "true", "max_unavailable = 1", "") + &readiness("true");
    let (status, answer) = put_config(&s, &ready, None).await;
    assert_eq!(status, 200, "{answer}");
    let watched = watch_until(&s, master, "version 3 everywhere", completed(3)).await;
    assert!(watched.min_ready >= 2, "{}", watched.min_ready);
    web.shutdown(s).await;
}
