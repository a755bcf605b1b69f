//! The tenant against a real Apache Mesos 1.12 (`cartrack-testcluster`, from
//! `CARTRACK_MESOS_HOME`): the same bodies as `devcluster.rs`, with Mesos' own command
//! executor running the sleep tasks.

mod support;

use cartrack_testcluster::{RealMesos, RealMesosConfig};
use support::*;

async fn mesos() -> RealMesos {
    RealMesos::start(RealMesosConfig::default())
        .await
        .expect("a real Mesos cluster starts")
}

#[tokio::test]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn running_tasks_follow_the_demand_and_the_end_tears_down() {
    let dir = tempfile::tempdir().expect("tmp");
    let mesos = mesos().await;
    follows_the_curve_then_tears_down(&mesos.master_url(), dir.path()).await;
}

#[tokio::test]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn sigterm_tears_the_framework_down() {
    let dir = tempfile::tempdir().expect("tmp");
    let mesos = mesos().await;
    sigterm_tears_down(&mesos.master_url(), dir.path()).await;
}
