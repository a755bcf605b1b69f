//! The executor binary against the scripted agent: what goes over the wire, and what happens
//! to its processes.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use mesos_proto::v1::executor::call;
use mesos_proto::v1::{health_check, HealthCheck, TaskState};
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
async fn relative_commands_find_the_executors_fetched_binaries() {
    let agent = ScriptedAgent::start().await;
    let sandbox = tempfile::tempdir().unwrap();
    let tool = sandbox.path().join("cartrack-worker");
    std::fs::write(&tool, "#!/bin/sh\necho \"worker $1 in $(pwd)\"\n").unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    let executor = ExecutorProcess::start_in(sandbox, &agent.endpoint(), &[]);
    agent.wait_for_subscribe(T, 1).await;
    let mut task = agent::task(
        "w",
        "./cartrack-worker process && cartrack-worker path && echo $PORT_HTTP",
    );
    task.command.as_mut().unwrap().environment = Some(mesos_proto::v1::Environment {
        variables: vec![mesos_proto::v1::environment::Variable {
            name: "PORT_HTTP".into(),
            value: Some("31005".into()),
            ..Default::default()
        }],
    });
    agent.send(&agent::launch_group(vec![task]));
    agent.wait_for_update(T, "w", TaskState::TaskFinished).await;
    let dir = executor.sandbox.path().join("tasks").join("w");
    let stdout = std::fs::read_to_string(dir.join("stdout")).unwrap();
    let dir = std::fs::canonicalize(dir).unwrap();
    assert_eq!(
        stdout,
        format!(
            "worker process in {0}\nworker path in {0}\n31005\n",
            dir.display()
        )
    );
}

#[tokio::test]
async fn crashing_child_is_failed_with_its_exit_status() {
    let agent = ScriptedAgent::start().await;
    let _executor = ExecutorProcess::start(&agent.endpoint(), &[]);
    agent.wait_for_subscribe(T, 1).await;
    agent.send(&agent::launch_group(vec![agent::task(
        "c",
        "echo boom >&2; exit 7",
    )]));
    let failed = agent.wait_for_update(T, "c", TaskState::TaskFailed).await;
    let status = &failed.call.update.as_ref().unwrap().status;
    assert_eq!(
        status.message.as_deref(),
        Some("Command exited with status 7")
    );
}

#[tokio::test]
async fn kill_of_one_group_member_kills_both_after_task_killing() {
    let agent = ScriptedAgent::start().await;
    agent.set_task_killing(true);
    let executor = ExecutorProcess::start(&agent.endpoint(), &[]);
    agent.wait_for_subscribe(T, 1).await;
    agent.send(&agent::launch_group(vec![
        agent::task("a", "echo $$ > pid; exec sleep 300"),
        agent::task("b", "echo $$ > pid; exec sleep 300"),
    ]));
    agent.wait_for_update(T, "b", TaskState::TaskRunning).await;
    let pids = [
        task_pid(executor.sandbox.path(), "a").await,
        task_pid(executor.sandbox.path(), "b").await,
    ];
    agent.send(&agent::kill("a", None));
    agent.wait_for_update(T, "a", TaskState::TaskKilling).await;
    agent.wait_for_update(T, "a", TaskState::TaskKilled).await;
    agent.wait_for_update(T, "b", TaskState::TaskKilled).await;
    assert!(wait_until(T, || pids.iter().all(|p| !alive(*p))).await);
}

#[tokio::test]
async fn kill_escalates_to_sigkill_when_the_grace_period_runs_out() {
    let agent = ScriptedAgent::start().await;
    let executor = ExecutorProcess::start(&agent.endpoint(), &[]);
    agent.wait_for_subscribe(T, 1).await;
    // SIG_IGN survives exec, so the sleep ignores SIGTERM.
    agent.send(&agent::launch_group(vec![agent::task(
        "stubborn",
        "trap '' TERM; echo $$ > pid; exec sleep 300",
    )]));
    agent
        .wait_for_update(T, "stubborn", TaskState::TaskRunning)
        .await;
    let pid = task_pid(executor.sandbox.path(), "stubborn").await;
    agent.send(&agent::kill("stubborn", Some(Duration::from_millis(200))));
    let killed = agent
        .wait_for_update(T, "stubborn", TaskState::TaskKilled)
        .await;
    assert!(!alive(pid));
    assert!(
        !agent.calls().iter().any(|c| c
            .update()
            .is_some_and(|(_, s, _)| s == TaskState::TaskKilling)),
        "no TASK_KILLING without the framework capability"
    );
    drop(killed);
}

#[tokio::test]
async fn shutdown_kills_every_task_and_exits_zero() {
    let agent = ScriptedAgent::start().await;
    let mut executor = ExecutorProcess::start(
        &agent.endpoint(),
        &[("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "2secs")],
    );
    agent.wait_for_subscribe(T, 1).await;
    agent.send(&agent::launch_group(vec![agent::task(
        "g1",
        "echo $$ > pid; exec sleep 300",
    )]));
    agent.send(&agent::launch_group(vec![agent::task(
        "g2",
        "echo $$ > pid; exec sleep 300",
    )]));
    agent.wait_for_update(T, "g2", TaskState::TaskRunning).await;
    let pids = [
        task_pid(executor.sandbox.path(), "g1").await,
        task_pid(executor.sandbox.path(), "g2").await,
    ];
    agent.send(&agent::shutdown());
    agent.wait_for_update(T, "g1", TaskState::TaskKilled).await;
    agent.wait_for_update(T, "g2", TaskState::TaskKilled).await;
    let status = executor.wait_exit(T).await.expect("executor exits");
    assert!(status.success(), "{status:?}\n{}", executor.log());
    assert!(pids.iter().all(|p| !alive(*p)));
    // Sandbox files stay for inspection.
    assert!(executor.sandbox.path().join("tasks/g1/stdout").exists());
}

fn health_checked(id: &str, check: HealthCheck) -> mesos_proto::v1::TaskInfo {
    let mut task = agent::task(id, "exec sleep 300");
    task.health_check = Some(check);
    task
}

fn fast_check(kind: health_check::Type) -> HealthCheck {
    HealthCheck {
        r#type: Some(kind as i32),
        delay_seconds: Some(0.0),
        interval_seconds: Some(0.1),
        timeout_seconds: Some(2.0),
        grace_period_seconds: Some(0.0),
        consecutive_failures: Some(1000),
        ..Default::default()
    }
}

fn healthy_updates(agent: &ScriptedAgent, id: &str) -> Vec<Option<bool>> {
    agent
        .calls()
        .iter()
        .filter_map(|c| c.call.update.as_ref().map(|u| &u.status))
        .filter(|s| s.task_id.value == id && s.state() == TaskState::TaskRunning)
        .map(|s| s.healthy)
        .collect()
}

#[tokio::test]
async fn failing_http_health_check_reports_unhealthy() {
    let agent = ScriptedAgent::start().await;
    let _executor = ExecutorProcess::start(&agent.endpoint(), &[]);
    agent.wait_for_subscribe(T, 1).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut check = fast_check(health_check::Type::Http);
    check.http = Some(health_check::HttpCheckInfo {
        port: u32::from(port),
        path: Some("/health".into()),
        ..Default::default()
    });
    agent.send(&agent::launch_group(vec![health_checked("h", check)]));
    agent
        .wait_for_calls(T, 1, |c| {
            c.call
                .update
                .as_ref()
                .is_some_and(|u| u.status.task_id.value == "h" && u.status.healthy == Some(false))
        })
        .await;
    assert_eq!(healthy_updates(&agent, "h"), vec![None, Some(false)]);
}

#[tokio::test]
async fn passing_command_health_check_reports_healthy_and_exhausted_one_kills() {
    let agent = ScriptedAgent::start().await;
    let _executor = ExecutorProcess::start(&agent.endpoint(), &[]);
    agent.wait_for_subscribe(T, 1).await;
    let mut good = fast_check(health_check::Type::Command);
    good.command = Some(mesos_proto::v1::CommandInfo {
        value: Some("test -d .".into()),
        ..Default::default()
    });
    let mut bad = good.clone();
    bad.command.as_mut().unwrap().value = Some("exit 1".into());
    bad.consecutive_failures = Some(2);
    agent.send(&agent::launch_group(vec![health_checked("ok", good)]));
    agent.send(&agent::launch_group(vec![health_checked("sick", bad)]));
    agent
        .wait_for_calls(T, 1, |c| {
            c.call
                .update
                .as_ref()
                .is_some_and(|u| u.status.task_id.value == "ok" && u.status.healthy == Some(true))
        })
        .await;
    let killed = agent
        .wait_for_update(T, "sick", TaskState::TaskKilled)
        .await;
    let status = &killed.call.update.as_ref().unwrap().status;
    assert_eq!(status.healthy, Some(false));
    assert!(status.message.as_deref().unwrap().contains("health check"));
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

#[tokio::test]
async fn executor_kill_9_leaves_no_child_behind() {
    let agent = ScriptedAgent::start().await;
    let mut executor = ExecutorProcess::start(&agent.endpoint(), &[]);
    agent.wait_for_subscribe(T, 1).await;
    agent.send(&agent::launch_group(vec![
        agent::task("a", "echo $$ > pid; exec sleep 300"),
        // The real program of a shell task is a grandchild (dash does not exec).
        agent::task("b", "sleep 300 & echo $! > pid; wait"),
    ]));
    agent.wait_for_update(T, "b", TaskState::TaskRunning).await;
    let pids = [
        task_pid(executor.sandbox.path(), "a").await,
        task_pid(executor.sandbox.path(), "b").await,
    ];
    executor.kill_hard();
    assert!(
        wait_until(T, || pids.iter().all(|p| !alive(*p))).await,
        "children or grandchildren survived the executor"
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
