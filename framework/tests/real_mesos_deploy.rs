//! Rolling updates against a real Apache Mesos 1.12 (`cartrack-testcluster`) with the real
//! executor: the bodies `deployments.rs` runs on the dev cluster (`support::deploy`), checked
//! against the real master's `/master/state`.

mod support;

use cartrack_testcluster::{RealMesos, RealMesosConfig};
use support::deploy::{self, web_spec};
use support::{write_spec, Scheduler};

/// A 3-agent cluster and a scheduler running 3 `web` pods on version 1.
async fn started(dir: &std::path::Path, deploy: &str) -> (RealMesos, Scheduler, String) {
    let mesos = RealMesos::start(RealMesosConfig {
        agents: 3,
        ..Default::default()
    })
    .await
    .expect("a real Mesos cluster starts");
    let spec = write_spec(dir, &web_spec(3, "1", "true", deploy, ""));
    let scheduler = Scheduler::start(dir, &mesos.master_url(), &spec, &[]);
    let states = format!("{}/master/state", mesos.master_url());
    (mesos, scheduler, states)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn an_env_change_rolls_one_pod_at_a_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_mesos, s, states) = started(dir.path(), "max_unavailable = 1").await;
    deploy::an_env_change_rolls_one_pod_at_a_time(&s, &states).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn a_failing_update_stops_in_error_and_abort_restores() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_mesos, s, states) = started(dir.path(), "max_unavailable = 1").await;
    deploy::a_failing_update_stops_in_error_and_abort_restores(&s, &states).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn a_canary_waits_for_continue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_mesos, s, states) = started(dir.path(), "max_unavailable = 1, canary_steps = 1").await;
    deploy::a_canary_waits_for_continue(&s, &states).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn a_restarted_scheduler_continues_the_rollout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_mesos, mut s, states) = started(dir.path(), "max_unavailable = 1").await;
    deploy::a_restarted_scheduler_continues_the_rollout(&mut s, &states).await;
}
