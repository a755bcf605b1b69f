//! Autoscaling against a real Apache Mesos 1.12 (`cartrack-testcluster`) with the real
//! executor: the body `autoscale.rs` runs on the dev cluster (`support::autoscale`).

mod support;

use cartrack_testcluster::{RealMesos, RealMesosConfig};
use support::autoscale::{report_lag, spec, the_count_follows_the_lag_and_a_pin_holds_it};
use support::{write_spec, Scheduler};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn the_count_follows_the_pods_lag_up_to_max_and_back_and_an_operator_pin_holds_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let metrics = dir.path().join("metrics-root");
    std::fs::create_dir_all(&metrics).expect("metrics dir");
    report_lag(&metrics, 0);
    let mesos = RealMesos::start(RealMesosConfig {
        agents: 3,
        ..Default::default()
    })
    .await
    .expect("a real Mesos cluster starts");
    let spec = write_spec(dir.path(), &spec(&metrics));
    let s = Scheduler::start(
        dir.path(),
        &mesos.master_url(),
        &spec,
        &["--autoscale-interval", "0.3"],
    );
    the_count_follows_the_lag_and_a_pin_holds_it(&s, &metrics).await;
    drop(s);
}
