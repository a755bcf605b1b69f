//! The tenant against the dev cluster: demand followed, tasks killed newest first, torn down
//! at the end or on SIGTERM, bad curve files refused with exit 2.

mod support;

use std::process::Command;
use std::time::Duration;

use cartrack_devcluster::{ClusterConfig, DevCluster};
use support::*;

async fn cluster(dir: &std::path::Path) -> DevCluster {
    DevCluster::start(ClusterConfig {
        agents: 2,
        work_dir: dir.join("cluster"),
        heartbeat_interval: Duration::from_secs(1),
        status_update_retry: Duration::from_secs(1),
        ..ClusterConfig::default()
    })
    .await
    .expect("dev cluster starts")
}

#[tokio::test]
async fn running_tasks_follow_the_demand_and_the_end_tears_down() {
    let dir = tempfile::tempdir().expect("tmp");
    let cluster = cluster(dir.path()).await;
    follows_the_curve_then_tears_down(&cluster.master_url(), dir.path()).await;
}

#[tokio::test]
async fn sigterm_tears_the_framework_down() {
    let dir = tempfile::tempdir().expect("tmp");
    let cluster = cluster(dir.path()).await;
    sigterm_tears_down(&cluster.master_url(), dir.path()).await;
}

#[test]
fn a_bad_curve_exits_2_naming_the_point_and_the_fix() {
    let dir = tempfile::tempdir().expect("tmp");
    let curve = write_curve(
        dir.path(),
        "[[point]]\nat = \"01:00\"\ntasks = 1\n[[point]]\nat = \"00:30\"\ntasks = 2\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_cartrack-tenant"))
        .args(["--master", "http://127.0.0.1:1", "--curve"])
        .arg(&curve)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("point 2 (at = \"00:30\") is not after point 1")
            && stderr.contains("list the points in time order")
            && stderr.contains("curve.toml"),
        "{stderr}"
    );
    // Flags come from the environment too, and are checked as strictly.
    let curve = write_curve(dir.path(), "[[point]]\nat = 0\ntasks = 1\n");
    let out = Command::new(env!("CARGO_BIN_EXE_cartrack-tenant"))
        .env("CARTRACK_TENANT_MASTER", "http://127.0.0.1:1")
        .env("CARTRACK_TENANT_CURVE", &curve)
        .env("CARTRACK_TENANT_TIME_SCALE", "0")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--time-scale 0"), "{stderr}");
}
