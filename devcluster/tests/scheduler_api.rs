//! The master's scheduler API beyond the observed bullets: offers, ACCEPT validation, the task
//! lifecycle, failover, TEARDOWN, MESSAGE, leader redirects and auth.

mod support;

use std::time::Duration;

use cartrack_devcluster::LogEntry;
use mesos_proto::v1::framework_info::capability::Type as Cap;
use mesos_proto::v1::scheduler::{call, event, Call};
use mesos_proto::v1::task_status::Reason;
use mesos_proto::v1::{AgentId, ExecutorId, OfferId, TaskState};
use support::*;

#[tokio::test]
async fn launch_run_kill_with_acknowledgements() {
    let (cluster, _dir) = cluster(|_| {}).await;
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("k", &[])).await;
    s.launch_on_next_offer(|agent| {
        vec![launch(vec![task("t", agent, "", Some(test_executor("e")))])]
    })
    .await;
    let running = s.until_state("t", TaskState::TaskRunning).await;
    assert!(running.uuid.is_some(), "executor updates carry a uuid");
    assert_eq!(s.kill("t").await, 202);
    let killed = s.until_state("t", TaskState::TaskKilled).await;
    assert!(killed.uuid.is_some());
}

#[tokio::test]
async fn accept_with_unknown_offer_is_task_lost_invalid_offers() {
    let (cluster, _dir) = cluster(|_| {}).await;
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("i", &[])).await;
    let agent = cluster.agent_ids()[0].clone();
    let bogus = OfferId {
        value: "no-such-offer".into(),
    };
    let op = launch(vec![task("t", &agent, "", Some(test_executor("e")))]);
    assert_eq!(s.accept(&[&bogus], vec![op]).await, 202);
    let status = s.update("t").await;
    assert_eq!(status.state(), TaskState::TaskLost);
    assert_eq!(status.reason(), Reason::InvalidOffers);
    assert!(status.uuid.is_none());
}

#[tokio::test]
async fn an_offer_id_is_used_once_and_partition_aware_frameworks_get_task_dropped() {
    let (cluster, _dir) = cluster(|_| {}).await;
    let mut s = TestScheduler::subscribe(
        &cluster.master_url(),
        framework("pa", &[Cap::PartitionAware]),
    )
    .await;
    let offer = s.offer().await;
    let agent = offer.agent_id.value.clone();
    let first = launch(vec![task("t1", &agent, "", Some(test_executor("e")))]);
    assert_eq!(s.accept(&[&offer.id], vec![first]).await, 202);
    s.until_state("t1", TaskState::TaskRunning).await;
    let again = launch(vec![task("t2", &agent, "", Some(test_executor("e")))]);
    assert_eq!(s.accept(&[&offer.id], vec![again]).await, 202);
    let status = s.update("t2").await;
    assert_eq!(status.state(), TaskState::TaskDropped);
    assert_eq!(status.reason(), Reason::InvalidOffers);
}

#[tokio::test]
async fn a_task_bigger_than_the_offer_is_task_error() {
    let (cluster, _dir) = cluster(|_| {}).await;
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("big", &[])).await;
    s.launch_on_next_offer(|agent| {
        let mut t = task("t", agent, "", Some(test_executor("e")));
        t.resources = small(64.0, 32.0, 0.0);
        vec![launch(vec![t])]
    })
    .await;
    let status = s.update("t").await;
    assert_eq!(status.state(), TaskState::TaskError);
    assert_eq!(status.reason(), Reason::TaskInvalid);
}

#[tokio::test]
async fn offers_exclude_what_runs_and_withhold_tenant_load() {
    let (cluster, _dir) = cluster(|c| {
        c.agents = 1;
        c.tenant_load = Some("cpus:1;mem:2048".into());
    })
    .await;
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("o", &[])).await;
    let offer = s.offer().await;
    let cpus = |o: &mesos_proto::v1::Offer| {
        o.resources
            .iter()
            .find(|r| r.name == "cpus")
            .and_then(|r| r.scalar.as_ref())
            .map(|s| s.value)
            .unwrap_or(0.0)
    };
    assert_eq!(cpus(&offer), 3.0, "4 cpus minus 1 of tenant load");
    let op = launch(vec![task(
        "t",
        &offer.agent_id.value,
        "",
        Some(test_executor("e")),
    )]);
    // Refuse 0 s: the rest comes back at once.
    let accept = Call {
        r#type: Some(call::Type::Accept as i32),
        accept: Some(call::Accept {
            offer_ids: vec![offer.id.clone()],
            operations: vec![op],
            filters: Some(mesos_proto::v1::Filters {
                refuse_seconds: Some(0.0),
            }),
        }),
        ..Default::default()
    };
    assert_eq!(s.call(accept).await, 202);
    let next = s.offer().await;
    assert!((cpus(&next) - 2.8).abs() < 1e-6, "offered {}", cpus(&next));
    assert_eq!(next.executor_ids, vec![ExecutorId { value: "e".into() }]);
}

#[tokio::test]
async fn suppress_stops_offers_and_revive_restores_them() {
    let (cluster, _dir) = cluster(|c| c.agents = 1).await;
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("s", &[])).await;
    let offer = s.offer().await;
    assert_eq!(s.simple(call::Type::Suppress).await, 202);
    assert_eq!(s.decline(&offer.id, 0.0).await, 202);
    assert!(s
        .try_wait(Duration::from_millis(300), |e| e.offers.is_some())
        .await
        .is_none());
    assert_eq!(s.simple(call::Type::Revive).await, 202);
    s.offer().await;
}

#[tokio::test]
async fn subscribe_with_a_stream_id_is_400() {
    let (cluster, _dir) = cluster(|_| {}).await;
    let response = post(
        &cluster.master_url(),
        &subscribe_call(framework("x", &[])),
        Some("some-stream"),
    )
    .await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn json_bodies_are_refused_with_415() {
    let (cluster, _dir) = cluster(|_| {}).await;
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/scheduler", cluster.master_url()))
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
}

#[tokio::test]
async fn resubscribe_within_failover_timeout_keeps_tasks() {
    let (cluster, _dir) = cluster(|_| {}).await;
    let mut info = framework("fo", &[]);
    info.failover_timeout = Some(3600.0);
    let mut s = TestScheduler::subscribe(&cluster.master_url(), info).await;
    s.launch_on_next_offer(|agent| {
        vec![launch(vec![task("t", agent, "", Some(test_executor("e")))])]
    })
    .await;
    s.until_state("t", TaskState::TaskRunning).await;
    cluster.drop_framework_stream(&s.framework_id).await;
    assert!(s.stream_closed().await);
    let mut again = TestScheduler::subscribe(&cluster.master_url(), s.info.clone()).await;
    assert_eq!(again.framework_id, s.framework_id);
    assert_eq!(again.reconcile(&[]).await, 202);
    let status = again.update("t").await;
    assert_eq!(status.state(), TaskState::TaskRunning);
    assert_eq!(status.reason(), Reason::Reconciliation);
    assert!(status.uuid.is_none());
}

#[tokio::test]
async fn newest_subscription_wins_and_the_old_stream_hears_failed_over() {
    let (cluster, _dir) = cluster(|_| {}).await;
    let mut info = framework("two", &[]);
    info.failover_timeout = Some(3600.0);
    let mut old = TestScheduler::subscribe(&cluster.master_url(), info).await;
    let new = TestScheduler::subscribe(&cluster.master_url(), old.info.clone()).await;
    let error = old.wait_type(event::Type::Error).await;
    assert!(error.error.unwrap().message.contains("failed over"));
    assert!(old.stream_closed().await);
    assert_eq!(old.simple(call::Type::Revive).await, 400, "old stream id");
    assert_eq!(new.simple(call::Type::Revive).await, 202);
}

#[tokio::test]
async fn failover_timeout_expiry_kills_the_tasks() {
    let (cluster, _dir) = cluster(|_| {}).await;
    // Default failover_timeout 0: losing the stream ends everything at once.
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("f0", &[])).await;
    s.launch_on_next_offer(|agent| {
        vec![launch(vec![task("t", agent, "", Some(test_executor("e")))])]
    })
    .await;
    s.until_state("t", TaskState::TaskRunning).await;
    cluster.drop_framework_stream(&s.framework_id).await;
    cluster
        .wait_for_log(
            WAIT,
            |e| matches!(e, LogEntry::ExecutorExited { executor_id, .. } if executor_id == "e"),
        )
        .await
        .expect("executor stopped");
    assert_eq!(s.simple(call::Type::Revive).await, 400, "framework removed");
    // A removed framework cannot come back under its id: ERROR, stream closed.
    let response = post(&cluster.master_url(), &subscribe_call(s.info.clone()), None).await;
    assert_eq!(response.status(), 200);
    let mut events = read_events(response);
    let error = events.recv().await.expect("an ERROR event");
    assert_eq!(error.r#type(), event::Type::Error);
    assert!(error.error.unwrap().message.contains("removed"));
    assert!(events.recv().await.is_none());
}

#[tokio::test]
async fn teardown_shuts_the_executor_down() {
    let (cluster, _dir) = cluster(|_| {}).await;
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("td", &[])).await;
    s.launch_on_next_offer(|agent| {
        vec![launch(vec![task("t", agent, "", Some(test_executor("e")))])]
    })
    .await;
    s.until_state("t", TaskState::TaskRunning).await;
    assert_eq!(s.simple(call::Type::Teardown).await, 202);
    cluster
        .wait_for_log(WAIT, |e| {
            matches!(e, LogEntry::ExecutorEvent { executor_id, event_type, .. }
                if executor_id == "e" && event_type == "SHUTDOWN")
        })
        .await
        .unwrap();
    cluster
        .wait_for_log(WAIT, |e| {
            matches!(
                e,
                LogEntry::ExecutorExited {
                    status: Some(0),
                    ..
                }
            )
        })
        .await
        .unwrap();
    assert!(s.stream_closed().await);
}

#[tokio::test]
async fn message_reaches_the_executor_and_its_reply_reaches_the_scheduler() {
    let (cluster, _dir) = cluster(|_| {}).await;
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("m", &[])).await;
    let agent = s
        .launch_on_next_offer(|agent| {
            vec![launch(vec![task("t", agent, "", Some(test_executor("e")))])]
        })
        .await;
    s.until_state("t", TaskState::TaskRunning).await;
    let message = Call {
        r#type: Some(call::Type::Message as i32),
        message: Some(call::Message {
            agent_id: AgentId { value: agent },
            executor_id: ExecutorId { value: "e".into() },
            data: b"ping".to_vec(),
        }),
        ..Default::default()
    };
    assert_eq!(s.call(message).await, 202);
    let echoed = s.wait_type(event::Type::Message).await;
    assert_eq!(echoed.message.unwrap().data, b"ping");
}

#[tokio::test]
async fn shutdown_call_stops_the_executor_and_its_tasks_are_killed() {
    let (cluster, _dir) = cluster(|_| {}).await;
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("sd", &[])).await;
    let agent = s
        .launch_on_next_offer(|agent| {
            vec![launch(vec![task("t", agent, "", Some(test_executor("e")))])]
        })
        .await;
    s.until_state("t", TaskState::TaskRunning).await;
    let shutdown = Call {
        r#type: Some(call::Type::Shutdown as i32),
        shutdown: Some(call::Shutdown {
            executor_id: ExecutorId { value: "e".into() },
            agent_id: AgentId { value: agent },
        }),
        ..Default::default()
    };
    assert_eq!(s.call(shutdown).await, 202);
    s.until_state("t", TaskState::TaskKilled).await;
    s.wait_type(event::Type::Failure).await;
}

#[tokio::test]
async fn standby_redirects_with_protocol_relative_location_and_503_without_leader() {
    let (cluster, _dir) = cluster(|_| {}).await;
    let call = subscribe_call(framework("r", &[]));
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let send = |url: String| {
        no_redirects
            .post(format!("{url}/api/v1/scheduler"))
            .header("Content-Type", "application/x-protobuf")
            .body(prost::Message::encode_to_vec(&call))
            .send()
    };
    let response = send(cluster.standby_master_url()).await.unwrap();
    assert_eq!(response.status(), 307);
    let leader = cluster.master_url().replace("http:", "");
    assert_eq!(
        response.headers()["location"].to_str().unwrap(),
        format!("{leader}/api/v1/scheduler")
    );
    cluster.elect_leader(None).await;
    assert_eq!(send(cluster.master_url()).await.unwrap().status(), 503);
    assert_eq!(
        send(cluster.standby_master_url()).await.unwrap().status(),
        503
    );
    cluster.elect_leader(Some(1)).await;
    assert_eq!(send(cluster.master_url()).await.unwrap().status(), 307);
    TestScheduler::subscribe(&cluster.standby_master_url(), framework("r", &[])).await;
}

#[tokio::test]
async fn basic_auth_is_required_when_configured() {
    let (cluster, _dir) = cluster(|c| {
        c.require_basic_auth = Some(("cartrack".into(), "secret".into()));
    })
    .await;
    let call = subscribe_call(framework("a", &[]));
    let url = format!("{}/api/v1/scheduler", cluster.master_url());
    let client = reqwest::Client::new();
    let without = client
        .post(&url)
        .header("Content-Type", "application/x-protobuf")
        .body(prost::Message::encode_to_vec(&call))
        .send()
        .await
        .unwrap();
    assert_eq!(without.status(), 401);
    let with = client
        .post(&url)
        .basic_auth("cartrack", Some("secret"))
        .header("Content-Type", "application/x-protobuf")
        .body(prost::Message::encode_to_vec(&call))
        .send()
        .await
        .unwrap();
    assert_eq!(with.status(), 200);
}

#[tokio::test]
async fn every_scheduler_call_is_logged_with_its_status() {
    let (cluster, _dir) = cluster(|_| {}).await;
    let s = TestScheduler::subscribe(&cluster.master_url(), framework("l", &[])).await;
    assert_eq!(s.simple(call::Type::Revive).await, 202);
    let fid = s.framework_id.clone();
    cluster
        .wait_for_log(WAIT, |e| {
            matches!(e, LogEntry::SchedulerCall { framework_id: Some(f), call, http_status: 202 }
                if *f == fid && call.r#type() == call::Type::Revive)
        })
        .await
        .unwrap();
    let lines = reqwest::get(format!("{}/log", cluster.master_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(lines.lines().any(|l| l.contains("\"SchedulerCall\"")));
}

#[tokio::test]
async fn closing_the_subscribe_connection_disconnects_the_framework_at_once() {
    let (cluster, _dir) = cluster(|_| {}).await;
    let mut info = framework("gone", &[]);
    info.failover_timeout = Some(3600.0);
    let s = TestScheduler::subscribe(&cluster.master_url(), info).await;
    s.disconnect();
    // Heartbeats are 15 s apart: the master must notice the closed socket by itself.
    let mut status = 0;
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        status = s.simple(call::Type::Revive).await;
        if status == 403 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, 403);
}
