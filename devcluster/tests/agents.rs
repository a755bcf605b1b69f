//! Agents: real executor processes, their environment and sandbox, the fetcher, registration
//! timeout, executor reuse, executor exit and status update retries.

mod support;

use std::time::Duration;

use cartrack_devcluster::LogEntry;
use mesos_proto::v1::scheduler::event;
use mesos_proto::v1::task_status::Reason;
use mesos_proto::v1::{command_info, CommandInfo, TaskState};
use support::*;

#[tokio::test]
async fn executor_gets_the_documented_environment_and_a_sandbox() {
    let (cluster, dir) = cluster(|_| {}).await;
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("env", &[])).await;
    let agent = s
        .launch_on_next_offer(|agent| {
            vec![launch(vec![task("t", agent, "", Some(test_executor("e")))])]
        })
        .await;
    let running = s.until_state("t", TaskState::TaskRunning).await;
    let env = &running_report(&running)["env"];
    assert_eq!(
        env["MESOS_AGENT_ENDPOINT"],
        cluster.agent_endpoint(&agent).unwrap()
    );
    assert_eq!(env["MESOS_FRAMEWORK_ID"], s.framework_id);
    assert_eq!(env["MESOS_EXECUTOR_ID"], "e");
    assert_eq!(env["MESOS_CHECKPOINT"], "0");
    assert_eq!(env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"], "5secs");
    assert_eq!(env["MESOS_DIRECTORY"], env["MESOS_SANDBOX"]);
    let sandbox = std::path::PathBuf::from(env["MESOS_SANDBOX"].as_str().unwrap());
    assert!(sandbox.starts_with(dir.path()), "{sandbox:?}");
    assert!(sandbox.is_dir());
    assert!(env.get("MESOS_RECOVERY_TIMEOUT").is_none());
}

#[tokio::test]
async fn checkpointing_executors_also_get_recovery_variables() {
    let (cluster, _dir) = cluster(|_| {}).await;
    let mut info = framework("cp", &[]);
    info.checkpoint = Some(true);
    let mut s = TestScheduler::subscribe(&cluster.master_url(), info).await;
    s.launch_on_next_offer(|agent| {
        vec![launch(vec![task("t", agent, "", Some(test_executor("e")))])]
    })
    .await;
    let running = s.until_state("t", TaskState::TaskRunning).await;
    let env = &running_report(&running)["env"];
    assert_eq!(env["MESOS_CHECKPOINT"], "1");
    assert!(env["MESOS_RECOVERY_TIMEOUT"].is_string());
    assert!(env["MESOS_SUBSCRIPTION_BACKOFF_MAX"].is_string());
}

#[tokio::test]
async fn executor_fetched_over_http_with_executable_runs_from_the_sandbox() {
    // A launcher script: proves the download and the executable bit without moving 40 MB.
    let binary = format!(
        "#!/bin/sh\nexec '{}' \"$@\"\n",
        env!("CARGO_BIN_EXE_devcluster-test-executor")
    );
    let app = axum::Router::new().route(
        "/dist/executor",
        axum::routing::get(move || {
            let b = binary.clone();
            async move { b }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let (cluster, _dir) = cluster(|_| {}).await;
    let mut executor = test_executor("e");
    executor.command = Some(CommandInfo {
        value: Some("./executor".into()),
        uris: vec![command_info::Uri {
            value: format!("http://{addr}/dist/executor"),
            executable: Some(true),
            ..Default::default()
        }],
        ..Default::default()
    });
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("http", &[])).await;
    s.launch_on_next_offer(|agent| vec![launch(vec![task("t", agent, "", Some(executor))])])
        .await;
    let running = s.until_state("t", TaskState::TaskRunning).await;
    let files = running_report(&running)["files"].to_string();
    assert!(files.contains("executor"), "{files}");
    server.abort();
}

#[tokio::test]
async fn non_shell_commands_run_the_value_directly() {
    let (cluster, _dir) = cluster(|_| {}).await;
    let mut executor = test_executor("e");
    if let Some(c) = executor.command.as_mut() {
        c.shell = Some(false);
        c.arguments = vec!["devcluster-test-executor".into()];
    }
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("ns", &[])).await;
    s.launch_on_next_offer(|agent| vec![launch(vec![task("t", agent, "", Some(executor))])])
        .await;
    s.until_state("t", TaskState::TaskRunning).await;
}

#[tokio::test]
async fn executor_that_never_subscribes_is_killed_at_the_registration_timeout() {
    let (cluster, _dir) =
        cluster(|c| c.executor_registration_timeout = Duration::from_millis(300)).await;
    let mut executor = test_executor("sleepy");
    executor.command = Some(CommandInfo {
        value: Some("sleep 30".into()),
        ..Default::default()
    });
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("rt", &[])).await;
    s.launch_on_next_offer(|agent| vec![launch(vec![task("t", agent, "", Some(executor))])])
        .await;
    let failed = s.until_state("t", TaskState::TaskFailed).await;
    assert_eq!(failed.reason(), Reason::ExecutorRegistrationTimeout);
    let exited = cluster
        .wait_for_log(WAIT, |e| matches!(e, LogEntry::ExecutorExited { executor_id, .. } if executor_id == "sleepy"))
        .await
        .unwrap();
    assert!(
        matches!(exited, LogEntry::ExecutorExited { status: None, .. }),
        "killed by a signal"
    );
}

#[tokio::test]
async fn tasks_with_the_same_executor_id_go_to_the_running_executor() {
    let (cluster, _dir) = cluster(|c| c.agents = 1).await;
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("share", &[])).await;
    let first = s.offer().await;
    let agent = first.agent_id.value.clone();
    let t1 = launch(vec![task("t1", &agent, "", Some(test_executor("e")))]);
    // Refuse nothing, so the rest of the agent is offered again at once.
    assert_eq!(
        s.accept_refusing(&[&first.id], vec![t1], Some(0.0)).await,
        202
    );
    s.until_state("t1", TaskState::TaskRunning).await;
    let offer = s.offer_where(|o| o.agent_id.value == agent).await;
    assert_eq!(
        s.accept(
            &[&offer.id],
            vec![launch(vec![task(
                "t2",
                &agent,
                "",
                Some(test_executor("e"))
            )])]
        )
        .await,
        202
    );
    s.until_state("t2", TaskState::TaskRunning).await;
    let launches = cluster
        .log()
        .iter()
        .filter(
            |e| matches!(e, LogEntry::ExecutorLaunched { executor_id, .. } if executor_id == "e"),
        )
        .count();
    assert_eq!(launches, 1);
}

#[tokio::test]
async fn executor_exit_fails_its_tasks_and_reports_failure() {
    let (cluster, _dir) = cluster(|_| {}).await;
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("exit", &[])).await;
    // "exit": the executor sends RUNNING, then exits with 3.
    s.launch_on_next_offer(|agent| {
        vec![launch(vec![task(
            "t",
            agent,
            "exit",
            Some(test_executor("e")),
        )])]
    })
    .await;
    // FAILED queues behind RUNNING until RUNNING is acknowledged.
    let failed = s.until_state("t", TaskState::TaskFailed).await;
    assert_eq!(failed.reason(), Reason::ExecutorTerminated);
    assert!(
        failed.uuid.is_some(),
        "agent-generated updates need acknowledgement"
    );
    let failure = s.wait_type(event::Type::Failure).await.failure.unwrap();
    assert_eq!(failure.executor_id.unwrap().value, "e");
    // The raw wait(2) status, as Mesos reports it: exit code 3 is 3 << 8.
    assert_eq!(failure.status, Some(3 << 8));
}

#[tokio::test]
async fn unacknowledged_updates_are_retried_with_the_same_uuid() {
    let (cluster, _dir) = cluster(|c| c.status_update_retry = Duration::from_millis(200)).await;
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("retry", &[])).await;
    s.launch_on_next_offer(|agent| {
        vec![launch(vec![task("t", agent, "", Some(test_executor("e")))])]
    })
    .await;
    let first = s.update("t").await;
    let again = s.update("t").await;
    assert_eq!(first.uuid, again.uuid);
    assert_eq!(again.state(), TaskState::TaskRunning);
    s.ack(&again).await;
    // Give a wrongly continuing retry (400 ms, then 800 ms) time to show, then check in the log
    // that no UPDATE went out after the ACKNOWLEDGE was handled.
    let _ = s.try_wait(Duration::from_millis(1000), |_| false).await;
    let log = cluster.log();
    let acked_at = log
        .iter()
        .position(|e| {
            matches!(e, LogEntry::SchedulerCall { call, http_status: 202, .. }
                if call.r#type() == mesos_proto::v1::scheduler::call::Type::Acknowledge)
        })
        .expect("ACKNOWLEDGE logged");
    let retried_after = log[acked_at..]
        .iter()
        .filter(
            |e| matches!(e, LogEntry::SchedulerEvent { event_type, .. } if event_type == "UPDATE"),
        )
        .count();
    assert_eq!(retried_after, 0, "acknowledged updates stop being retried");
}

#[tokio::test]
async fn killing_a_task_before_its_executor_subscribes_answers_task_killed() {
    let (cluster, _dir) = cluster(|_| {}).await;
    let mut executor = test_executor("slow");
    executor.command = Some(CommandInfo {
        value: Some("sleep 30".into()),
        ..Default::default()
    });
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("kl", &[])).await;
    s.launch_on_next_offer(|agent| vec![launch(vec![task("t", agent, "", Some(executor))])])
        .await;
    cluster
        .wait_for_log(WAIT, |e| matches!(e, LogEntry::ExecutorLaunched { .. }))
        .await
        .unwrap();
    assert_eq!(s.kill("t").await, 202);
    let killed = s.until_state("t", TaskState::TaskKilled).await;
    assert_eq!(killed.reason(), Reason::TaskKilledDuringLaunch);
    // Left without tasks, the executor that never subscribed is stopped.
    cluster
        .wait_for_log(
            WAIT,
            |e| matches!(e, LogEntry::ExecutorExited { executor_id, .. } if executor_id == "slow"),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn executor_whose_uri_cannot_be_fetched_fails_its_task_with_container_launch_failed() {
    let (cluster, dir) = cluster(|_| {}).await;
    let mut executor = test_executor("e");
    if let Some(cmd) = executor.command.as_mut() {
        cmd.uris.push(command_info::Uri {
            value: dir.path().join("missing.bin").display().to_string(),
            ..Default::default()
        });
    }
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("ff", &[])).await;
    s.launch_on_next_offer(|agent| vec![launch(vec![task("t", agent, "", Some(executor))])])
        .await;
    let failed = s.until_state("t", TaskState::TaskFailed).await;
    assert_eq!(failed.reason(), Reason::ContainerLaunchFailed);
    cluster
        .wait_for_log(
            WAIT,
            |e| matches!(e, LogEntry::Fault { description } if description.contains("missing.bin")),
        )
        .await
        .unwrap();
}

/// Regression: executors fetched as executables on several agents at once used to fail with
/// "Text file busy" when one agent forked while another still had its fetched binary open
/// (seen with cartrack's scheduler; about 2 runs in 5 failed before the fork guard).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrently_fetched_executables_all_launch() {
    let (cluster, _dir) = cluster(|c| c.agents = 4).await;
    // The executor binary itself (tens of MB): writing it into each sandbox takes a while.
    let binary = std::path::PathBuf::from(env!("CARGO_BIN_EXE_devcluster-test-executor"));
    let mut executor = test_executor("e");
    executor.command = Some(CommandInfo {
        value: Some("./devcluster-test-executor".into()),
        uris: vec![command_info::Uri {
            value: binary.display().to_string(),
            executable: Some(true),
            ..Default::default()
        }],
        ..Default::default()
    });
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("busy", &[])).await;
    let mut offers = Vec::new();
    while offers.len() < 4 {
        let offer = s.offer().await;
        if !offers
            .iter()
            .any(|o: &mesos_proto::v1::Offer| o.agent_id == offer.agent_id)
        {
            offers.push(offer);
        }
    }
    let scheduler = &s;
    let accepts = offers.iter().enumerate().map(|(i, offer)| {
        let t = task(
            &format!("t{i}"),
            &offer.agent_id.value,
            "",
            Some(executor.clone()),
        );
        async move { scheduler.accept(&[&offer.id], vec![launch(vec![t])]).await }
    });
    for status in futures::future::join_all(accepts).await {
        assert_eq!(status, 202);
    }
    for i in 0..4 {
        s.until_state(&format!("t{i}"), TaskState::TaskRunning)
            .await;
    }
}

/// A LAUNCH lost with an executor's connection: when the executor subscribes again, the agent
/// drops the STAGING tasks its SUBSCRIBE does not list and keeps those it lists. The test
/// speaks for the executor (whose process only sleeps), so it can "lose" the LAUNCH_GROUP.
#[tokio::test]
async fn tasks_a_resubscribing_executor_does_not_list_are_dropped() {
    use mesos_proto::http::{EXECUTOR_PATH, PROTOBUF};
    use mesos_proto::v1::executor::{call, event as xevent, Call, Event};
    use mesos_proto::v1::framework_info::capability::Type::PartitionAware;
    use mesos_proto::v1::{ExecutorId, FrameworkId, TaskId, TaskInfo, TaskStatus};
    use prost::Message as _;

    let (cluster, _dir) = cluster(|_| {}).await;
    let mut executor = test_executor("e");
    executor.command = Some(CommandInfo {
        value: Some("sleep 60".into()),
        ..Default::default()
    });
    let mut info = framework("rs", &[PartitionAware]);
    info.checkpoint = Some(true);
    let mut s = TestScheduler::subscribe(&cluster.master_url(), info).await;
    let agent = s
        .launch_on_next_offer(|agent| {
            vec![launch_group(
                executor,
                vec![task("kept", agent, "", None), task("lost", agent, "", None)],
            )]
        })
        .await;
    let url = format!(
        "http://{}{EXECUTOR_PATH}",
        cluster.agent_endpoint(&agent).expect("agent endpoint")
    );
    let http = reqwest::Client::new();
    let post = |call: Call| {
        http.post(&url)
            .header("Content-Type", PROTOBUF)
            .header("Accept", PROTOBUF)
            .body(call.encode_to_vec())
            .send()
    };
    let framework_id = FrameworkId {
        value: s.framework_id.clone(),
    };
    let executor_call = |kind: call::Type| Call {
        executor_id: ExecutorId { value: "e".into() },
        framework_id: framework_id.clone(),
        r#type: Some(kind as i32),
        ..Default::default()
    };
    let subscribe = |tasks: Vec<TaskInfo>| Call {
        subscribe: Some(call::Subscribe {
            unacknowledged_tasks: tasks,
            unacknowledged_updates: vec![],
        }),
        ..executor_call(call::Type::Subscribe)
    };

    let first = post(subscribe(vec![])).await.expect("agent answers");
    assert_eq!(first.status(), 200);
    let (mut events, _reader) = read_events_with_handle::<Event>(first);
    let group = loop {
        let event = tokio::time::timeout(WAIT, events.recv())
            .await
            .expect("LAUNCH_GROUP in time")
            .expect("stream open");
        if event.r#type() == xevent::Type::LaunchGroup {
            break event.launch_group.expect("launch_group").task_group.tasks;
        }
    };
    // The connection breaks; the executor heard only of `kept` and subscribes again.
    cluster.drop_executor_connection(&agent, "e").await;
    let kept: Vec<TaskInfo> = group
        .into_iter()
        .filter(|t| t.task_id.value == "kept")
        .collect();
    let again = post(subscribe(kept)).await.expect("agent answers");
    assert_eq!(again.status(), 200);
    let (_events, _reader) = read_events_with_handle::<Event>(again);

    let dropped = s.update("lost").await;
    assert_eq!(dropped.state(), TaskState::TaskDropped);
    assert_eq!(dropped.reason(), Reason::AgentRestarted);
    assert!(dropped.uuid.is_some());
    // `kept` was not dropped: its first update is the executor's.
    let running = Call {
        update: Some(call::Update {
            status: TaskStatus {
                task_id: TaskId {
                    value: "kept".into(),
                },
                state: TaskState::TaskRunning as i32,
                uuid: Some(uuid::Uuid::new_v4().as_bytes().to_vec()),
                ..Default::default()
            },
        }),
        ..executor_call(call::Type::Update)
    };
    assert_eq!(post(running).await.expect("agent answers").status(), 202);
    assert_eq!(s.update("kept").await.state(), TaskState::TaskRunning);
}
