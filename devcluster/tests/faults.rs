//! Fault injection: agents killed, restarted, partitioned; connections dropped; the master
//! restarted; status updates delayed and duplicated; answers to calls held back — through the
//! library and the HTTP control API.

mod support;

use std::time::{Duration, Instant};

use cartrack_devcluster::LogEntry;
use mesos_proto::v1::framework_info::capability::Type as Cap;
use mesos_proto::v1::task_status::Reason;
use mesos_proto::v1::TaskState;
use support::*;

async fn running_task(
    cluster: &cartrack_devcluster::DevCluster,
    info: mesos_proto::v1::FrameworkInfo,
) -> (TestScheduler, String) {
    let mut s = TestScheduler::subscribe(&cluster.master_url(), info).await;
    let agent = s
        .launch_on_next_offer(|agent| {
            vec![launch(vec![task("t", agent, "", Some(test_executor("e")))])]
        })
        .await;
    s.until_state("t", TaskState::TaskRunning).await;
    (s, agent)
}

fn quick(c: &mut cartrack_devcluster::ClusterConfig) {
    c.agent_unreachable_timeout = Duration::from_millis(300);
}

/// A checkpointing framework's tasks wait for the killed agent until the unreachable timeout
/// (those of a framework that does not checkpoint are LOST at once: `observed` cases).
#[tokio::test]
async fn killed_agent_kills_executors_and_tasks_become_lost() {
    let (cluster, _dir) = cluster(quick).await;
    let mut info = framework("k", &[]);
    info.checkpoint = Some(true);
    let (mut s, agent) = running_task(&cluster, info).await;
    cluster.kill_agent(&agent).await.unwrap();
    cluster
        .wait_for_log(
            WAIT,
            |e| matches!(e, LogEntry::ExecutorExited { executor_id, .. } if executor_id == "e"),
        )
        .await
        .unwrap();
    let lost = s
        .update_where("t", |st| st.state() == TaskState::TaskLost)
        .await;
    assert_eq!(lost.reason(), Reason::AgentRemoved);
    assert!(lost.uuid.is_none());
    let state: serde_json::Value = reqwest::get(format!("{}/state", cluster.master_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let slave = state["slaves"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == agent.as_str())
        .unwrap()
        .clone();
    assert_eq!(slave["active"], false);
}

#[tokio::test]
async fn partition_aware_tasks_become_unreachable_and_running_again_on_heal() {
    let (cluster, _dir) = cluster(quick).await;
    let (mut s, agent) = running_task(&cluster, framework("pa", &[Cap::PartitionAware])).await;
    cluster.partition_agent(&agent).await.unwrap();
    let unreachable = s
        .update_where("t", |st| st.state() == TaskState::TaskUnreachable)
        .await;
    assert!(unreachable.unreachable_time.is_some());
    cluster.heal_agent(&agent).await.unwrap();
    let back = s
        .update_where("t", |st| st.state() == TaskState::TaskRunning)
        .await;
    assert!(back.uuid.is_none());
    assert!(
        !cluster
            .log()
            .iter()
            .any(|e| matches!(e, LogEntry::ExecutorExited { .. })),
        "executors survive a partition"
    );
}

#[tokio::test]
async fn non_partition_aware_tasks_lost_in_a_partition_are_shut_down_on_heal() {
    let (cluster, _dir) = cluster(quick).await;
    let (mut s, agent) = running_task(&cluster, framework("npa", &[])).await;
    cluster.partition_agent(&agent).await.unwrap();
    s.update_where("t", |st| st.state() == TaskState::TaskLost)
        .await;
    cluster.heal_agent(&agent).await.unwrap();
    cluster
        .wait_for_log(
            WAIT,
            |e| matches!(e, LogEntry::ExecutorExited { executor_id, .. } if executor_id == "e"),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn restarted_agent_keeps_checkpointing_executors_which_resubscribe() {
    let (cluster, _dir) = cluster(|_| {}).await;
    let mut info = framework("cp", &[]);
    info.checkpoint = Some(true);
    let (mut s, agent) = running_task(&cluster, info).await;
    cluster.restart_agent(&agent).await.unwrap();
    let subscribes = || {
        cluster
            .log()
            .iter()
            .filter(|e| {
                matches!(e, LogEntry::ExecutorCall { call, http_status: 200, .. }
                if call.r#type() == mesos_proto::v1::executor::call::Type::Subscribe)
            })
            .count()
    };
    assert!(
        wait_until(WAIT, || subscribes() >= 2).await,
        "executor re-subscribed"
    );
    assert_eq!(s.kill("t").await, 202);
    s.until_state("t", TaskState::TaskKilled).await;
    let launches = cluster
        .log()
        .iter()
        .filter(|e| matches!(e, LogEntry::ExecutorLaunched { .. }))
        .count();
    assert_eq!(launches, 1, "the same executor process carried on");
}

#[tokio::test]
async fn restarted_agent_loses_tasks_of_non_checkpointing_frameworks() {
    let (cluster, _dir) = cluster(|_| {}).await;
    let (mut s, agent) = running_task(&cluster, framework("ncp", &[])).await;
    cluster.restart_agent(&agent).await.unwrap();
    let lost = s
        .update_where("t", |st| st.state() == TaskState::TaskLost)
        .await;
    // The master saw the agent process go: Mesos' wording, with the agent's hostname.
    assert_eq!(lost.reason(), Reason::AgentDisconnected);
    assert_eq!(lost.message(), "Agent 127.0.0.1 disconnected");
    assert!(lost.uuid.is_none());
    cluster
        .wait_for_log(WAIT, |e| matches!(e, LogEntry::ExecutorExited { .. }))
        .await
        .unwrap();
}

#[tokio::test]
async fn dropped_executor_connection_is_resumed_by_a_checkpointing_executor() {
    let (cluster, _dir) = cluster(|_| {}).await;
    let mut info = framework("dc", &[]);
    info.checkpoint = Some(true);
    let (mut s, agent) = running_task(&cluster, info).await;
    cluster.drop_executor_connection(&agent, "e").await;
    let subscribes = || {
        cluster
            .log()
            .iter()
            .filter(|e| matches!(e, LogEntry::ExecutorEvent { event_type, .. } if event_type == "SUBSCRIBED"))
            .count()
    };
    assert!(wait_until(WAIT, || subscribes() >= 2).await);
    assert_eq!(s.kill("t").await, 202);
    s.until_state("t", TaskState::TaskKilled).await;
}

#[tokio::test]
async fn master_restart_without_state_lets_frameworks_resubscribe_and_find_their_tasks() {
    let (cluster, _dir) = cluster(|_| {}).await;
    let mut info = framework("ms", &[]);
    info.failover_timeout = Some(3600.0);
    let (mut s, _agent) = running_task(&cluster, info).await;
    cluster.restart_master(false).await;
    assert!(s.stream_closed().await);
    let mut again = TestScheduler::subscribe(&cluster.master_url(), s.info.clone()).await;
    assert_eq!(again.framework_id, s.framework_id);
    assert_eq!(again.reconcile(&[("t", None)]).await, 202);
    assert_eq!(again.update("t").await.state(), TaskState::TaskRunning);
}

#[tokio::test]
async fn duplicated_updates_arrive_twice_with_the_same_uuid() {
    let (cluster, _dir) = cluster(|_| {}).await;
    cluster.set_duplicate_updates(true);
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("dup", &[])).await;
    s.launch_on_next_offer(|agent| {
        vec![launch(vec![task("t", agent, "", Some(test_executor("e")))])]
    })
    .await;
    let a = s.update("t").await;
    let b = s.update("t").await;
    assert_eq!(a.uuid, b.uuid);
    assert_eq!(a.state(), b.state());
}

#[tokio::test]
async fn delayed_updates_arrive_no_sooner_than_the_delay() {
    let (cluster, _dir) = cluster(|_| {}).await;
    cluster.set_update_delay(Duration::from_millis(400));
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("delay", &[])).await;
    s.launch_on_next_offer(|agent| {
        vec![launch(vec![task("t", agent, "", Some(test_executor("e")))])]
    })
    .await;
    cluster
        .wait_for_log(
            WAIT,
            |e| matches!(e, LogEntry::ExecutorCall { call, .. } if call.update.is_some()),
        )
        .await
        .unwrap();
    let sent = Instant::now();
    s.update("t").await;
    assert!(
        sent.elapsed() >= Duration::from_millis(300),
        "arrived after {:?}",
        sent.elapsed()
    );
}

#[tokio::test]
async fn held_back_answers_come_late_but_their_calls_take_effect_at_once() {
    let (cluster, _dir) = cluster(|_| {}).await;
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("slow", &[])).await;
    let offer = s.offer().await;
    let agent = offer.agent_id.value.clone();
    cluster.set_call_answer_delay(Duration::from_secs(60));
    let ops = vec![launch(vec![task(
        "t",
        &agent,
        "",
        Some(test_executor("e")),
    )])];
    let answer = tokio::time::timeout(Duration::from_secs(1), s.accept(&[&offer.id], ops)).await;
    assert!(answer.is_err(), "answered: {answer:?}");
    // The client gave up, yet the master took the call: the task runs.
    let running = s
        .update_where("t", |status| status.state() == TaskState::TaskRunning)
        .await;
    assert!(cluster.log().iter().any(
        |e| matches!(e, LogEntry::Fault { description } if description.contains("held back"))
    ));
    cluster.set_call_answer_delay(Duration::ZERO);
    assert_eq!(s.ack(&running).await, Some(202));
}

#[tokio::test]
async fn control_api_over_http_injects_faults_and_records_them() {
    let (cluster, _dir) = cluster(quick).await;
    let base = cluster.master_url();
    let client = reqwest::Client::new();
    let agent = cluster.agent_ids()[0].clone();
    let kill = client
        .post(format!("{base}/control/agents/{agent}/kill"))
        .send()
        .await
        .unwrap();
    assert_eq!(kill.status(), 204);
    let unknown = client
        .post(format!("{base}/control/agents/nope/kill"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let restart = client
        .post(format!("{base}/control/agents/{agent}/restart"))
        .send()
        .await
        .unwrap();
    assert_eq!(restart.status(), 204);
    let no_leader = client
        .post(format!("{base}/control/leader?listener=none"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_leader.status(), 204);
    let call = subscribe_call(framework("c", &[]));
    assert_eq!(post(&base, &call, None).await.status(), 503);
    client
        .post(format!("{base}/control/leader?listener=0"))
        .send()
        .await
        .unwrap();
    let mut s = TestScheduler::subscribe(&base, framework("c", &[])).await;
    let drop = client
        .post(format!(
            "{base}/control/frameworks/{}/drop-stream",
            s.framework_id
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(drop.status(), 204);
    assert!(s.stream_closed().await);
    let log = client
        .get(format!("{base}/log"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(log.contains(&format!("agent {agent} killed")), "{log}");
    assert!(log.contains("leader elected: None"));
}

#[tokio::test]
async fn master_restart_keeping_state_keeps_tasks_even_with_failover_timeout_0() {
    let (cluster, _dir) = cluster(|_| {}).await;
    let (mut s, _agent) = running_task(&cluster, framework("keep", &[])).await;
    cluster.restart_master(true).await;
    assert!(s.stream_closed().await);
    assert_eq!(
        s.simple(mesos_proto::v1::scheduler::call::Type::Revive)
            .await,
        403
    );
    let mut again = TestScheduler::subscribe(&cluster.master_url(), s.info.clone()).await;
    assert_eq!(again.reconcile(&[]).await, 202);
    assert_eq!(again.update("t").await.state(), TaskState::TaskRunning);
    assert!(!cluster
        .log()
        .iter()
        .any(|e| matches!(e, LogEntry::ExecutorExited { .. })));
}

#[tokio::test]
async fn checkpointing_executor_that_does_not_come_back_fails_its_tasks_at_the_reregistration_timeout(
) {
    let (cluster, _dir) =
        cluster(|c| c.executor_registration_timeout = Duration::from_secs(2)).await;
    let mut info = framework("rr", &[]);
    info.checkpoint = Some(true);
    let mut executor = test_executor("e");
    if let Some(cmd) = executor.command.as_mut() {
        cmd.environment = Some(mesos_proto::v1::Environment {
            variables: vec![mesos_proto::v1::environment::Variable {
                name: "TEST_EXECUTOR_ON_DISCONNECT".into(),
                value: Some("hang".into()),
                ..Default::default()
            }],
        });
    }
    let mut s = TestScheduler::subscribe(&cluster.master_url(), info).await;
    let agent = s
        .launch_on_next_offer(|agent| vec![launch(vec![task("t", agent, "", Some(executor))])])
        .await;
    s.until_state("t", TaskState::TaskRunning).await;
    cluster.restart_agent(&agent).await.unwrap();
    let failed = s.until_state("t", TaskState::TaskFailed).await;
    assert_eq!(failed.reason(), Reason::ExecutorReregistrationTimeout);
    cluster
        .wait_for_log(WAIT, |e| {
            matches!(e, LogEntry::ExecutorExited { status: None, .. })
        })
        .await
        .unwrap();
}
