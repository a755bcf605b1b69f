//! End to end: the real `cartrack-scheduler` process against the dev cluster, which launches
//! the real `cartrack-executor`; pods run a sleeping stand-in for `cartrack-worker`. The cases
//! `real_mesos_scheduler.rs` also runs on a real Mesos share their bodies (`support::cases`);
//! the checks of the dev cluster's call log stay here.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use mesos_proto::v1::scheduler::call;
use support::*;

const T: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_spec_runs_every_pod_then_declines_long_and_suppresses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = cluster(dir.path(), 3, Vec::new()).await;
    let scheduler = Scheduler::start(dir.path(), &cluster.master_url(), &example_spec(), &[]);
    cases::example_spec_converges(&scheduler, 31000..=32999).await;
    // The dev cluster's call log: SUPPRESS after convergence, DECLINE with the long filter.
    wait_until(T, "SUPPRESS after convergence", || async {
        calls(&cluster)
            .iter()
            .any(|(c, s)| is(c, call::Type::Suppress) && *s == 202)
            .then_some(())
    })
    .await;
    let long_declines = calls(&cluster)
        .iter()
        .filter(|(c, _)| is(c, call::Type::Decline))
        .filter(|(c, _)| {
            c.decline
                .as_ref()
                .and_then(|d| d.filters)
                .and_then(|f| f.refuse_seconds)
                == Some(3600.0)
        })
        .count();
    assert!(
        long_declines > 0,
        "offers of the two unused agents are declined for 3600 s"
    );
    drop(scheduler);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_up_and_down_honours_unique_and_needs_the_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Dev cluster agents all share the hostname 127.0.0.1, so UNIQUE uses a per-agent attribute.
    let nodes = vec![
        "node:n0".to_string(),
        "node:n1".to_string(),
        "node:n2".to_string(),
    ];
    let cluster = cluster(dir.path(), 3, nodes).await;
    let spread = cases::Spread {
        rule: "node:UNIQUE",
        one_per_agent: true,
        max: 3,
    };
    cases::scale_up_and_down(dir.path(), &cluster.master_url(), spread).await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_and_restart_adopts_the_running_tasks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = cluster(dir.path(), 2, Vec::new()).await;
    let mut scheduler = Scheduler::start(dir.path(), &cluster.master_url(), &example_spec(), &[]);
    scheduler.wait_running(3, T).await;
    assert_eq!(launched_pods(&cluster), 3);
    cases::kill_9_and_restart_adopts(&mut scheduler, 3).await;
    assert_eq!(
        launched_pods(&cluster),
        3,
        "no new LAUNCH_GROUP: {}",
        scheduler.log()
    );
    let resubscribed = calls(&cluster)
        .iter()
        .filter(|(c, s)| is(c, call::Type::Subscribe) && *s == 200)
        .filter(|(c, _)| {
            c.subscribe
                .as_ref()
                .and_then(|s| s.framework_info.id.as_ref())
                .is_some()
        })
        .count();
    assert!(
        resubscribed >= 1,
        "second SUBSCRIBE carries the stored framework id"
    );
    drop(scheduler);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_event_stream_is_resubscribed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = cluster(dir.path(), 1, Vec::new()).await;
    let scheduler = Scheduler::start(dir.path(), &cluster.master_url(), &example_spec(), &[]);
    let state = scheduler.wait_running(3, T).await;
    let framework_id = state["framework_id"]
        .as_str()
        .expect("framework id")
        .to_string();
    cluster.drop_framework_stream(&framework_id).await;
    wait_until(T, "reconnect counted", || async {
        scheduler
            .metrics()
            .await
            .contains("cartrack_reconnects_total 1")
            .then_some(())
    })
    .await;
    let after = scheduler.wait_running(3, T).await;
    assert_eq!(after["framework_id"], state["framework_id"]);
    assert_eq!(launched_pods(&cluster), 3, "nothing relaunched");
    drop(scheduler);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_from_a_standby_master_is_followed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = cluster(dir.path(), 1, Vec::new()).await;
    let masters = format!("{},{}", cluster.standby_master_url(), cluster.master_url());
    let scheduler = Scheduler::start(
        dir.path(),
        &cluster.standby_master_url(),
        &example_spec(),
        &[],
    );
    scheduler.wait_running(3, T).await;
    drop(scheduler);
    // A comma list works too.
    let dir2 = tempfile::tempdir().expect("tempdir");
    let scheduler = Scheduler::start(
        dir2.path(),
        &masters,
        &example_spec(),
        &["--name", "second"],
    );
    wait_until(T, "second framework subscribed", || async {
        (scheduler.get("/v1/health").await?["subscribed"] == true).then_some(())
    })
    .await;
    drop(scheduler);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_the_agent_and_replace_relaunches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = cluster(dir.path(), 2, Vec::new()).await;
    let scheduler = Scheduler::start(dir.path(), &cluster.master_url(), &example_spec(), &[]);
    cases::restart_keeps_the_agent_and_replace_relaunches(&scheduler).await;
    drop(scheduler);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loop_is_named_in_the_plan_with_the_tasks_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = cluster(dir.path(), 1, Vec::new()).await;
    cases::a_crash_loop_is_named_in_the_plan_with_the_tasks_stderr(
        dir.path(),
        &cluster.master_url(),
    )
    .await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_by_and_max_per_hold_with_duplicated_status_updates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let racks = [
        "rack:r1;node:n0",
        "rack:r1;node:n1",
        "rack:r2;node:n2",
        "rack:r2;node:n3",
    ];
    let cluster = cluster(dir.path(), 4, racks.iter().map(|s| s.to_string()).collect()).await;
    // At-least-once delivery: every update arrives twice; handling must be idempotent.
    cluster.set_duplicate_updates(true);
    let spec = write_spec(
        dir.path(),
        "placement_strategy = \"binpack\"\n[[groups]]\nname = \"indexer\"\ncount = 4\nplacement = [\"rack:GROUP_BY\", \"node:MAX_PER:1\"]\n[[groups.tasks]]\nname = \"main\"\ncommand = \"./cartrack-worker\"\nargs = [\"index\"]\ncpus = 0.1\nmem = 64\ndisk = 16\n",
    );
    let scheduler = Scheduler::start(dir.path(), &cluster.master_url(), &spec, &[]);
    let state = scheduler.wait_running(4, T).await;
    let agents: BTreeSet<&str> = state["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter_map(|t| t["agent_id"].as_str())
        .collect();
    assert_eq!(agents.len(), 4, "MAX_PER:1 per node: {state}");
    let ids = cluster.agent_ids();
    let on_r1 = state["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter(|t| t["agent_id"] == ids[0].as_str() || t["agent_id"] == ids[1].as_str())
        .count();
    assert_eq!(on_r1, 2, "GROUP_BY rack: two per rack: {state}");
    assert_eq!(launched_pods(&cluster), 4, "duplicates relaunch nothing");
    let kills = calls(&cluster)
        .iter()
        .filter(|(c, _)| is(c, call::Type::Kill))
        .count();
    assert_eq!(kills, 0, "duplicates kill nothing");
    drop(scheduler);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_tarball_is_unpacked_into_every_executor_sandbox() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = cluster(dir.path(), 3, Vec::new()).await;
    let tarball = release_tarball(dir.path());
    let scheduler =
        Scheduler::start_from_release(dir.path(), &cluster.master_url(), &example_spec(), &tarball);
    scheduler.wait_running(3, T).await;
    // Every executor sandbox holds the fetched tarball and, unpacked beside it, both binaries:
    // nothing else could have put them there (the scheduler was given no single binaries).
    let sandboxes = files_named(
        &dir.path().join("cluster"),
        "cartrack-test-linux-x86_64.tar.gz",
    );
    assert!(!sandboxes.is_empty(), "no executor fetched the tarball");
    for sandbox in &sandboxes {
        for bin in ["cartrack-executor", "cartrack-worker"] {
            assert!(
                sandbox.join(bin).is_file(),
                "{bin} unpacked into {}",
                sandbox.display()
            );
        }
    }
    drop(scheduler);
    cluster.shutdown().await;
}

/// The directories under `root` that hold a file called `name`.
fn files_named(root: &std::path::Path, name: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir").flatten() {
            // file_type() does not follow symlinks: task directories link the sandbox's files.
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() && entry.file_name() == name {
                found.push(dir.clone());
            }
        }
    }
    found
}
