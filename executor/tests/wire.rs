//! The executor binary against the scripted agent: what goes over the wire (SUBSCRIBE body and
//! headers, uuids, the unacknowledged-update bookkeeping across reconnects, retries, giving up
//! without checkpointing). Task behaviour end to end is in devcluster.rs.

mod support;

use std::time::Duration;

use mesos_proto::v1::executor::call;
use mesos_proto::v1::TaskState;
use support::agent::{self, ScriptedAgent};
use support::{alive, task_pid, wait_until, ExecutorProcess};

const T: Duration = Duration::from_secs(15);

#[tokio::test]
async fn subscribe_carries_ids_the_subscribe_message_and_the_bearer_token() {
    let agent = ScriptedAgent::start().await;
    let _executor = ExecutorProcess::start(
        &agent.endpoint(),
        &[("MESOS_EXECUTOR_AUTHENTICATION_TOKEN", "s3cret")],
    );
    let subscribe = agent.wait_for_subscribe(T, 1).await;
    assert_eq!(subscribe.call.framework_id.value, "fw");
    assert_eq!(subscribe.call.executor_id.value, "ex");
    assert!(
        subscribe.call.subscribe.is_some(),
        "SUBSCRIBE must carry `subscribe`"
    );
    assert_eq!(subscribe.authorization.as_deref(), Some("Bearer s3cret"));
    assert_eq!(
        subscribe.content_type.as_deref(),
        Some("application/x-protobuf")
    );
    assert_eq!(subscribe.status, 200);
}

#[tokio::test]
async fn launch_group_reports_starting_then_running_with_fresh_v4_uuids() {
    let agent = ScriptedAgent::start().await;
    let executor = ExecutorProcess::start(&agent.endpoint(), &[]);
    agent.wait_for_subscribe(T, 1).await;
    assert!(agent.send(&agent::launch_group(vec![
        agent::task("a", "echo $$ > pid; exec sleep 300"),
        agent::task("b", "echo $$ > pid; exec sleep 300"),
    ])));
    let a = agent.wait_for_update(T, "a", TaskState::TaskRunning).await;
    agent.wait_for_update(T, "b", TaskState::TaskRunning).await;
    let updates: Vec<_> = agent.calls().iter().filter_map(|c| c.update()).collect();
    let states_of = |id: &str| {
        updates
            .iter()
            .filter(|(t, _, _)| t == id)
            .map(|(_, s, _)| *s)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        states_of("a"),
        vec![TaskState::TaskStarting, TaskState::TaskRunning]
    );
    assert_eq!(
        states_of("b"),
        vec![TaskState::TaskStarting, TaskState::TaskRunning]
    );
    let mut uuids: Vec<_> = updates.iter().map(|(_, _, u)| u.clone()).collect();
    for uuid in &uuids {
        let parsed = uuid::Uuid::from_slice(uuid).expect("16-byte uuid");
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
    }
    uuids.sort();
    uuids.dedup();
    assert_eq!(uuids.len(), 4, "every update has its own uuid");
    let status = &a.call.update.as_ref().unwrap().status;
    assert_eq!(status.executor_id.as_ref().unwrap().value, "ex");
    // Both processes really run, each in its own directory.
    assert!(alive(task_pid(executor.sandbox.path(), "a").await));
    assert!(alive(task_pid(executor.sandbox.path(), "b").await));
}

#[tokio::test]
async fn resubscribe_resends_exactly_the_unacknowledged_updates_and_tasks() {
    let agent = ScriptedAgent::start().await;
    agent.set_auto_ack(false);
    let _executor = ExecutorProcess::start(
        &agent.endpoint(),
        &[
            ("MESOS_CHECKPOINT", "1"),
            ("MESOS_SUBSCRIPTION_BACKOFF_MAX", "100ms"),
            ("MESOS_RECOVERY_TIMEOUT", "1mins"),
        ],
    );
    agent.wait_for_subscribe(T, 1).await;
    agent.send(&agent::launch_group(vec![agent::task(
        "a",
        "exec sleep 300",
    )]));
    let running = agent.wait_for_update(T, "a", TaskState::TaskRunning).await;
    let starting = agent.wait_for_update(T, "a", TaskState::TaskStarting).await;
    let uuid = |r: &support::agent::Recorded| r.update().unwrap().2;

    // Nothing acknowledged: the task and both updates come back.
    agent.drop_stream();
    let second = agent.wait_for_subscribe(T, 2).await;
    let sub = second.call.subscribe.as_ref().unwrap();
    assert_eq!(sub.unacknowledged_tasks.len(), 1);
    assert_eq!(sub.unacknowledged_tasks[0].task_id.value, "a");
    let resent: Vec<_> = sub
        .unacknowledged_updates
        .iter()
        .map(|u| u.status.uuid.clone().unwrap())
        .collect();
    assert_eq!(resent, vec![uuid(&starting), uuid(&running)]);

    // STARTING acknowledged: the task is known, only RUNNING comes back.
    assert!(agent.send(&agent::acknowledged("a", uuid(&starting))));
    agent.drop_stream();
    let third = agent.wait_for_subscribe(T, 3).await;
    let sub = third.call.subscribe.as_ref().unwrap();
    assert!(sub.unacknowledged_tasks.is_empty());
    assert_eq!(sub.unacknowledged_updates.len(), 1);
    assert_eq!(
        sub.unacknowledged_updates[0].status.uuid.clone().unwrap(),
        uuid(&running)
    );

    // Everything acknowledged: nothing comes back, and no UPDATE was ever repeated.
    assert!(agent.send(&agent::acknowledged("a", uuid(&running))));
    agent.drop_stream();
    let fourth = agent.wait_for_subscribe(T, 4).await;
    let sub = fourth.call.subscribe.as_ref().unwrap();
    assert!(sub.unacknowledged_updates.is_empty());
    let update_calls = agent
        .calls()
        .iter()
        .filter(|c| c.kind() == call::Type::Update)
        .count();
    assert_eq!(update_calls, 2);
}

#[tokio::test]
async fn refused_subscriptions_are_retried() {
    let agent = ScriptedAgent::start().await;
    agent.refuse_subscribes(503, 2);
    let _executor = ExecutorProcess::start(
        &agent.endpoint(),
        &[("MESOS_SUBSCRIPTION_BACKOFF_MAX", "100ms")],
    );
    let third = agent.wait_for_subscribe(T, 3).await;
    assert_eq!(third.status, 200);
}

#[tokio::test]
async fn lost_agent_without_checkpointing_kills_tasks_and_exits() {
    let agent = ScriptedAgent::start().await;
    let mut executor = ExecutorProcess::start(&agent.endpoint(), &[]);
    agent.wait_for_subscribe(T, 1).await;
    agent.send(&agent::launch_group(vec![agent::task(
        "a",
        "echo $$ > pid; exec sleep 300",
    )]));
    agent.wait_for_update(T, "a", TaskState::TaskRunning).await;
    let pid = task_pid(executor.sandbox.path(), "a").await;
    agent.drop_stream();
    let status = executor.wait_exit(T).await.expect("executor exits");
    assert_eq!(status.code(), Some(1), "{}", executor.log());
    assert!(wait_until(T, || !alive(pid)).await);
    assert_eq!(
        agent
            .calls()
            .iter()
            .filter(|c| c.kind() == call::Type::Subscribe)
            .count(),
        1
    );
}

#[test]
fn missing_variable_exits_2_naming_it() {
    let output = std::process::Command::new(support::executor_binary())
        .env_clear()
        .env("MESOS_EXECUTOR_ID", "ex")
        .env("MESOS_AGENT_ENDPOINT", "127.0.0.1:1")
        .env("MESOS_SANDBOX", "/tmp")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("MESOS_FRAMEWORK_ID"), "{stderr}");
}

#[tokio::test]
async fn checkpointing_executor_gives_up_after_the_recovery_timeout() {
    let agent = ScriptedAgent::start().await;
    let mut executor = ExecutorProcess::start(
        &agent.endpoint(),
        &[
            ("MESOS_CHECKPOINT", "1"),
            ("MESOS_RECOVERY_TIMEOUT", "500ms"),
            ("MESOS_SUBSCRIPTION_BACKOFF_MAX", "50ms"),
        ],
    );
    agent.wait_for_subscribe(T, 1).await;
    agent.send(&agent::launch_group(vec![agent::task(
        "a",
        "echo $$ > pid; exec sleep 300",
    )]));
    agent.wait_for_update(T, "a", TaskState::TaskRunning).await;
    let pid = task_pid(executor.sandbox.path(), "a").await;
    // The agent goes away for good: the stream ends and the port refuses connections.
    agent.drop_stream();
    drop(agent);
    let status = executor.wait_exit(T).await.expect("executor exits");
    assert_eq!(status.code(), Some(1), "{}", executor.log());
    assert!(
        executor.log().contains("MESOS_RECOVERY_TIMEOUT"),
        "{}",
        executor.log()
    );
    assert!(wait_until(T, || !alive(pid)).await);
}

#[test]
fn unknown_flag_exits_2() {
    let output = std::process::Command::new(support::executor_binary())
        .arg("--no-such-flag")
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--no-such-flag"), "{stderr}");
}
