//! Crash points (cargo feature `failpoints`): the scheduler aborts at the worst moments —
//! after persisting launch intent but before ACCEPT, after ACCEPT but before the first
//! update, after persisting an update but before its ACKNOWLEDGE — and is started again on
//! the same state. Afterwards every slot runs exactly one pod, and every update with a uuid
//! was acknowledged, none more often than delivered, as the dev cluster's log shows.

mod support;

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use support::invariants::{
    assert_every_update_acknowledged, assert_no_slot_runs_twice,
    assert_scheduler_holds_each_slot_once, update_deliveries,
};
use support::{cluster, launched_pods, write_spec, Scheduler};

const T: Duration = Duration::from_secs(60);
const PODS: usize = 3;

fn spec_text() -> String {
    format!(
        "[[groups]]\nname = \"processor\"\ncount = {PODS}\n[[groups.tasks]]\nname = \"main\"\ncommand = \"./cartrack-worker\"\nargs = [\"process\"]\ncpus = 0.1\nmem = 32\ndisk = 8\n"
    )
}

async fn crash_at(point: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = cluster(dir.path(), 2, Vec::new()).await;
    let spec = write_spec(dir.path(), &spec_text());
    let armed = format!("{point}=return");
    let mut scheduler = Scheduler::start_with_env(
        dir.path(),
        &cluster.master_url(),
        &spec,
        &[],
        &[("FAILPOINTS", armed.as_str())],
    );
    let status = scheduler.wait_exit(T).await;
    assert_eq!(
        status.signal(),
        Some(libc_sigabrt()),
        "{point}: the scheduler must die at the crash point, got {status:?}; log:\n{}",
        scheduler.log()
    );
    assert!(
        scheduler.log().contains(point),
        "{point} reached: {}",
        scheduler.log()
    );

    scheduler.restart_with_env(&[]);
    scheduler.wait_running(PODS, T).await;
    assert_every_update_acknowledged(&cluster, T).await;
    assert_eq!(assert_no_slot_runs_twice(&cluster).await, PODS);
    assert_scheduler_holds_each_slot_once(&scheduler).await;
    assert_eq!(
        launched_pods(&cluster),
        PODS,
        "{point}: no pod was launched twice (adopted, not relaunched)"
    );
    if point == "crash-before-acknowledge" {
        let redelivered = update_deliveries(&cluster).values().any(|n| *n > 1);
        assert!(redelivered, "the unacknowledged update was delivered again");
    }
    drop(scheduler);
    cluster.shutdown().await;
}

/// SIGABRT, which `std::process::abort` raises.
fn libc_sigabrt() -> i32 {
    6
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_between_persisting_intent_and_accept() {
    crash_at("crash-before-accept").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_between_accept_and_the_first_update() {
    crash_at("crash-after-accept").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_between_an_update_and_its_acknowledge() {
    crash_at("crash-before-acknowledge").await;
}
