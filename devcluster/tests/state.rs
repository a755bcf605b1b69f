//! `GET /state`: agents with resources, used resources and attributes; frameworks with tasks;
//! other tenants' load as another framework's tasks.

mod support;

use mesos_proto::v1::TaskState;
use support::*;

async fn state(cluster: &cartrack_devcluster::DevCluster) -> serde_json::Value {
    reqwest::get(format!("{}/state", cluster.master_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn state_shows_agents_frameworks_tasks_and_tenant_load() {
    let (cluster, _dir) = cluster(|c| {
        c.agents = 2;
        c.tenant_load = Some("cpus:1;mem:2048".into());
        c.agent_attributes = vec!["rack:r1;zone:a".into()];
    })
    .await;
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("ui", &[])).await;
    let agent = s
        .launch_on_next_offer(|agent| {
            vec![launch(vec![task("t", agent, "", Some(test_executor("e")))])]
        })
        .await;
    s.until_state("t", TaskState::TaskRunning).await;
    let json = state(&cluster).await;
    let slaves = json["slaves"].as_array().unwrap();
    assert_eq!(slaves.len(), 2);
    let first = &slaves[0];
    assert_eq!(first["resources"]["cpus"], 4.0);
    // Two agents on one host split the port range, as two hosts would not collide.
    assert_eq!(first["resources"]["ports"], "[31000-31999]");
    assert_eq!(slaves[1]["resources"]["ports"], "[32000-32999]");
    assert_eq!(first["attributes"]["rack"], "r1");
    assert_eq!(first["attributes"]["zone"], "a");
    let used_on = |id: &str| {
        slaves.iter().find(|x| x["id"] == id).unwrap()["used_resources"]["cpus"]
            .as_f64()
            .unwrap()
    };
    assert!(
        (used_on(&agent) - 1.2).abs() < 1e-6,
        "tenant 1 + task 0.1 + executor 0.1"
    );
    let frameworks = json["frameworks"].as_array().unwrap();
    let ours = frameworks
        .iter()
        .find(|f| f["id"] == s.framework_id.as_str())
        .unwrap();
    assert_eq!(ours["name"], "ui");
    let task = &ours["tasks"][0];
    assert_eq!(task["id"], "t");
    assert_eq!(task["slave_id"], agent.as_str());
    assert_eq!(task["state"], "TASK_RUNNING");
    assert_eq!(task["resources"]["cpus"], 0.1);
    let tenants = frameworks
        .iter()
        .find(|f| f["id"] == "other-tenants")
        .unwrap();
    let tenant_tasks = tenants["tasks"].as_array().unwrap();
    assert_eq!(tenant_tasks.len(), 2, "one per agent");
    assert_eq!(tenant_tasks[0]["resources"]["mem"], 2048.0);

    // A terminal task moves to `completed_tasks`.
    assert_eq!(s.kill("t").await, 202);
    s.update_where("t", |st| st.state() == TaskState::TaskKilled)
        .await;
    let json = state(&cluster).await;
    let ours = json["frameworks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == s.framework_id.as_str())
        .unwrap()
        .clone();
    assert!(ours["tasks"].as_array().unwrap().is_empty());
    assert_eq!(ours["completed_tasks"][0]["state"], "TASK_KILLED");
}
