//! The multiplexing report end to end: the real scheduler runs pods on a dev cluster whose
//! agents carry other tenants' declared load (another framework's tasks in the master's
//! `/state`), samples it, and `/v1/report/utilisation` and `/metrics` report both services.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::*;

const T: Duration = Duration::from_secs(60);

/// One group of 3 pods of 0.5 cpu and 256 MB each.
const SPEC: &str = "[[groups]]\nname = \"web\"\ncount = 3\n[[groups.tasks]]\nname = \"main\"\ncommand = \"./cartrack-worker\"\ncpus = 0.5\nmem = 256\n";

fn service<'r>(report: &'r Value, name: &str) -> Option<&'r Value> {
    report["services"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_counts_our_group_and_the_other_tenants_on_shared_agents() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = cartrack_devcluster::DevCluster::start(cartrack_devcluster::ClusterConfig {
        // Each of the 2 agents (4 cpus, 8192 MB) carries 2 cpus and 6000 MB of other tenants.
        tenant_load: Some("cpus:2;mem:6000".into()),
        ..test_cluster_config(dir.path(), 2, Vec::new())
    })
    .await
    .expect("dev cluster starts");
    let spec = write_spec(dir.path(), SPEC);
    let scheduler = Scheduler::start(
        dir.path(),
        &cluster.master_url(),
        &spec,
        &["--report-interval", "0.2"],
    );
    scheduler.wait_running(3, T).await;
    // Samples are taken from the start; wait for one with all 3 pods.
    let report = wait_until(T, "a sample with the 3 web pods", || async {
        let report = scheduler.get("/v1/report/utilisation").await?;
        let web = service(&report, "web")?;
        (web["peak"]["cpus"] == 1.5).then_some(report)
    })
    .await;
    let web = service(&report, "web").expect("web");
    assert_eq!(web["kind"], "cartrack-group");
    assert_eq!(web["peak"]["mem"], 768.0);
    let tenants = service(&report, "other tenants").expect("other tenants");
    assert_eq!(tenants["kind"], "framework");
    assert_eq!(
        tenants["peak"],
        serde_json::json!({"cpus": 4.0, "mem": 12000.0})
    );
    assert_eq!(
        tenants["avg"], tenants["peak"],
        "the tenants' load never changes"
    );
    assert_eq!(
        report["agent_size"],
        serde_json::json!({"cpus": 4.0, "mem": 8192.0})
    );
    // Siloed: web needs 1 agent, the tenants' 12000 MB need 2; multiplexed, 1.5 + 4 cpus and
    // 12768 MB need 2.
    assert_eq!(web["siloed_agents"], 1);
    assert_eq!(tenants["siloed_agents"], 2);
    assert_eq!(report["siloed_agents"], 3, "{report}");
    assert_eq!(report["multiplexed_agents"], 2, "{report}");
    assert_eq!(report["cluster"]["agents"], 2);
    assert_eq!(
        report["cluster"]["capacity"],
        serde_json::json!({"cpus": 8.0, "mem": 16384.0})
    );
    let samples = report["period"]["samples"].as_u64().expect("samples");
    assert!(samples >= 1, "{report}");
    let series = report["series"].as_array().expect("series");
    assert!(!series.is_empty() && series.len() <= 200, "{report}");
    // Every agent is listed with the tenants' load on it.
    let agents = report["agents"].as_array().expect("agents");
    assert_eq!(agents.len(), 2, "{report}");
    for agent in agents {
        let on_it = agent["avg_allocated_by_service"]
            .as_array()
            .expect("by service");
        assert!(
            on_it
                .iter()
                .any(|s| s["name"] == "other tenants" && s["cpus"] == 2.0 && s["mem"] == 6000.0),
            "{agent}"
        );
    }

    // The same numbers on /metrics.
    let metrics = wait_until(T, "the report on /metrics", || async {
        let text = scheduler.metrics().await;
        text.contains("cartrack_report_agents{kind=\"siloed\"} 3")
            .then_some(text)
    })
    .await;
    for line in [
        "cartrack_report_agents{kind=\"multiplexed\"} 2",
        "cartrack_report_agents{kind=\"actual\"} 2",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no {line} in\n{metrics}"
        );
    }
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("cartrack_utilisation_ratio{resource=\"cpus\"} 0.")),
        "{metrics}"
    );

    // A period: only recent samples; a bad one is refused naming the query.
    let recent = scheduler
        .get("/v1/report/utilisation?since=3600")
        .await
        .expect("report of the last hour");
    assert!(recent["period"]["samples"].as_u64() >= Some(samples));
    let refused = reqwest::get(format!(
        "{}/v1/report/utilisation?since=soon",
        scheduler.api
    ))
    .await
    .expect("answers");
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.expect("JSON");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("since=<seconds ago>")),
        "{body}"
    );
    drop(scheduler);
    cluster.shutdown().await;
}
