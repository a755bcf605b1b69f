//! Autoscaling end to end: the real scheduler on the dev cluster with the real executor
//! (the body, shared with `real_mesos_autoscale.rs`, is `support::autoscale`).

mod support;

use support::autoscale::{report_lag, spec, the_count_follows_the_lag_and_a_pin_holds_it};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_count_follows_the_pods_lag_up_to_max_and_back_and_an_operator_pin_holds_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let metrics = dir.path().join("metrics-root");
    std::fs::create_dir_all(&metrics).expect("metrics dir");
    report_lag(&metrics, 0);
    let cluster = cluster(dir.path(), 3, Vec::new()).await;
    let spec = write_spec(dir.path(), &spec(&metrics));
    let s = Scheduler::start(
        dir.path(),
        &cluster.master_url(),
        &spec,
        &["--autoscale-interval", "0.3"],
    );
    the_count_follows_the_lag_and_a_pin_holds_it(&s, &metrics).await;
    drop(s);
    cluster.shutdown().await;
}
