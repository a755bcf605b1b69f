//! The observation cases, one `pub async fn` per "Seen on a real Mesos 1.12 master + agent"
//! item (`shared/mesos-protocol.md`): each asserts the observable (status code, state, reason,
//! uuid or not) that real Mesos showed, against the [`Backend`] it is given.

use std::time::Duration;

use mesos_proto::v1::framework_info::capability::Type as Cap;
use mesos_proto::v1::scheduler::{call, event, Call};
use mesos_proto::v1::task_status::Reason;
use mesos_proto::v1::{CommandInfo, FrameworkId, TaskState};

use super::{Backend, Cluster};
use crate::support::*;

pub async fn subscribed_has_heartbeat_interval_15_then_heartbeat_at_once_then_offers(
    backend: Backend,
) {
    let cluster = Cluster::start(backend, None).await;
    let response = post(
        &cluster.master_url(),
        &subscribe_call(framework("hb", &[])),
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    let mut events = read_events(response);
    let first = events.recv().await.expect("SUBSCRIBED");
    assert_eq!(first.r#type(), event::Type::Subscribed);
    assert_eq!(
        first.subscribed.unwrap().heartbeat_interval_seconds,
        Some(15.0)
    );
    let second = events.recv().await.expect("HEARTBEAT");
    assert_eq!(second.r#type(), event::Type::Heartbeat);
    let third = events.recv().await.expect("OFFERS");
    assert_eq!(third.r#type(), event::Type::Offers);
}

pub async fn multi_role_offers_carry_allocation_info_role_on_every_resource(backend: Backend) {
    let cluster = Cluster::start(backend, None).await;
    let mut info = framework("mr", &[Cap::MultiRole]);
    info.roles = vec!["cartrack".into()];
    let mut s = TestScheduler::subscribe(&cluster.master_url(), info).await;
    let offer = s.offer().await;
    assert!(!offer.resources.is_empty());
    for r in &offer.resources {
        assert_eq!(
            r.allocation_info.as_ref().and_then(|a| a.role.as_deref()),
            Some("cartrack"),
            "resource {} lacks allocation_info.role",
            r.name
        );
    }
}

pub async fn master_fills_allocation_info_into_operation_resources(backend: Backend) {
    let cluster = Cluster::start(backend, None).await;
    let mut info = framework("mr", &[Cap::MultiRole]);
    info.roles = vec!["cartrack".into()];
    let mut s = TestScheduler::subscribe(&cluster.master_url(), info).await;
    // Our task resources carry no allocation_info at all.
    s.launch_on_next_offer(|agent| {
        vec![launch_group(
            test_executor("e1"),
            vec![task("t1", agent, "", None)],
        )]
    })
    .await;
    let running = s.until_state("t1", TaskState::TaskRunning).await;
    let report = running_report(&running);
    let roles = report["roles"].as_array().expect("roles");
    assert!(!roles.is_empty());
    assert!(roles.iter().all(|r| r == "cartrack"), "{roles:?}");
}

pub async fn roles_without_multi_role_get_an_error_event_then_the_stream_closes(backend: Backend) {
    let cluster = Cluster::start(backend, None).await;
    let mut info = framework("roles", &[]);
    info.roles = vec!["a".into()];
    let response = post(&cluster.master_url(), &subscribe_call(info), None).await;
    assert_eq!(response.status(), 200);
    let mut events = read_events(response);
    let first = tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("in time")
        .expect("an event");
    assert_eq!(first.r#type(), event::Type::Error);
    assert_eq!(
        first.error.expect("error").message,
        "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"
    );
    let after = tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("stream ends in time");
    assert!(after.is_none(), "stream must close after ERROR");
}

pub async fn call_without_stream_id_is_400(backend: Backend) {
    let cluster = Cluster::start(backend, None).await;
    let s = TestScheduler::subscribe(&cluster.master_url(), framework("s", &[])).await;
    let call = Call {
        framework_id: Some(FrameworkId {
            value: s.framework_id.clone(),
        }),
        r#type: Some(call::Type::Revive as i32),
        ..Default::default()
    };
    assert_eq!(
        status_and_body(post(&s.base, &call, None).await).await,
        (
            400,
            "All non-subscribe calls should include the 'Mesos-Stream-Id' header".into()
        )
    );
}

pub async fn call_with_wrong_stream_id_is_400(backend: Backend) {
    let cluster = Cluster::start(backend, None).await;
    let s = TestScheduler::subscribe(&cluster.master_url(), framework("s", &[])).await;
    let call = Call {
        framework_id: Some(FrameworkId {
            value: s.framework_id.clone(),
        }),
        r#type: Some(call::Type::Revive as i32),
        ..Default::default()
    };
    assert_eq!(
        status_and_body(post(&s.base, &call, Some("not-the-stream")).await).await,
        (
            400,
            format!(
                "The stream ID 'not-the-stream' included in this request didn't match the \
                 stream ID currently associated with framework ID {}",
                s.framework_id
            )
        )
    );
}

pub async fn call_for_unknown_framework_is_400_framework_cannot_be_found(backend: Backend) {
    let cluster = Cluster::start(backend, None).await;
    let call = Call {
        framework_id: Some(FrameworkId {
            value: "nobody".into(),
        }),
        r#type: Some(call::Type::Revive as i32),
        ..Default::default()
    };
    assert_eq!(
        status_and_body(post(&cluster.master_url(), &call, Some("x")).await).await,
        (400, "Framework cannot be found".into())
    );
}

pub async fn call_for_known_framework_whose_stream_is_gone_is_403(backend: Backend) {
    let cluster = Cluster::start(backend, None).await;
    let mut info = framework("s", &[]);
    info.failover_timeout = Some(3600.0);
    let mut s = TestScheduler::subscribe(&cluster.master_url(), info).await;
    cluster.lose_framework_stream(&mut s).await;
    let revive = Call {
        framework_id: Some(FrameworkId {
            value: s.framework_id.clone(),
        }),
        r#type: Some(call::Type::Revive as i32),
        ..Default::default()
    };
    assert_eq!(
        status_and_body(post(&s.base, &revive, Some(&s.stream_id)).await).await,
        (403, "Framework is not subscribed".into())
    );
}

pub async fn explicit_reconcile_of_never_seen_task_is_task_lost_reconciliation_without_uuid(
    backend: Backend,
) {
    let cluster = Cluster::start(backend, None).await;
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("r", &[])).await;
    assert_eq!(s.reconcile(&[("ghost", None)]).await, 202);
    let status = s.update("ghost").await;
    assert_eq!(status.state(), TaskState::TaskLost);
    assert_eq!(status.reason(), Reason::Reconciliation);
    assert!(status.uuid.is_none());
}

pub async fn decline_refuse_3600_keeps_the_agent_out_of_offers_until_revive(backend: Backend) {
    let cluster = Cluster::start(backend, Some(2)).await;
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("d", &[])).await;
    let first = s.offer().await;
    let declined_agent = first.agent_id.value.clone();
    assert_eq!(s.decline(&first.id, 3600.0).await, 202);
    // The other agent is declined briefly, three times: it comes back each time while the
    // declined agent never does.
    for _ in 0..3 {
        let other = s.offer_where(|o| o.agent_id.value != declined_agent).await;
        assert_eq!(s.decline(&other.id, 0.2).await, 202);
    }
    assert!(
        s.try_wait(Duration::ZERO, |e| e.offers.as_ref().is_some_and(|o| o
            .offers
            .iter()
            .any(|x| x.agent_id.value == declined_agent)))
            .await
            .is_none(),
        "the declined agent was offered again within its filter"
    );
    assert_eq!(s.simple(call::Type::Revive).await, 202);
    let back = s.offer_where(|o| o.agent_id.value == declined_agent).await;
    assert_eq!(back.agent_id.value, declined_agent);
}

/// A filter withholds the refused resources only: once another framework's task on the agent
/// ends, more is free there than was declined, and the agent is offered again long before the
/// filter's hour.
pub async fn a_decline_filter_lapses_once_another_frameworks_task_frees_resources(
    backend: Backend,
) {
    let cluster = Cluster::start(backend, Some(1)).await;
    let mut holder =
        TestScheduler::subscribe(&cluster.master_url(), framework("holder", &[])).await;
    holder
        .launch_on_next_offer(|agent| {
            let mut t = task("sleeper", agent, "", None);
            t.resources = small(0.5, 64.0, 0.0);
            t.command = Some(CommandInfo {
                value: Some("sleep 1000".into()),
                shell: Some(true),
                ..Default::default()
            });
            vec![launch(vec![t])]
        })
        .await;
    holder.until_state("sleeper", TaskState::TaskRunning).await;
    // The holder wants nothing more: what it frees goes to the other framework only.
    assert_eq!(holder.simple(call::Type::Suppress).await, 202);

    let mut other = TestScheduler::subscribe(&cluster.master_url(), framework("other", &[])).await;
    let rest = other.offer().await;
    assert_eq!(other.decline(&rest.id, 3600.0).await, 202);
    assert!(
        other
            .try_wait(Duration::from_secs(2), |e| e.offers.is_some())
            .await
            .is_none(),
        "the declined resources were offered again within the filter"
    );
    assert_eq!(holder.kill("sleeper").await, 202);
    holder.until_state("sleeper", TaskState::TaskKilled).await;
    let again = other.offer().await;
    assert_eq!(again.agent_id, rest.agent_id);
}

pub async fn launch_group_to_a_custom_executor_is_accepted_and_arrives_as_launch_group(
    backend: Backend,
) {
    let cluster = Cluster::start(backend, None).await;
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("g", &[])).await;
    s.launch_on_next_offer(|agent| {
        vec![launch_group(
            test_executor("e1"),
            vec![task("a", agent, "", None), task("b", agent, "", None)],
        )]
    })
    .await;
    s.until_state("a", TaskState::TaskRunning).await;
    s.until_state("b", TaskState::TaskRunning).await;
    cluster.wait_executor_event("e1", "LAUNCH_GROUP").await;
}

pub async fn agent_fetches_only_the_executor_uris_into_the_executor_sandbox(backend: Backend) {
    let cluster = Cluster::start(backend, None).await;
    let dir = cluster.scratch_dir();
    let exec_file = dir.join("executor-payload.bin");
    let task_file = dir.join("task-payload.bin");
    std::fs::write(&exec_file, b"exec").unwrap();
    std::fs::write(&task_file, b"task").unwrap();
    let mut executor = test_executor("e1");
    if let Some(cmd) = executor.command.as_mut() {
        cmd.uris.push(mesos_proto::v1::command_info::Uri {
            value: exec_file.display().to_string(),
            ..Default::default()
        });
    }
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("f", &[])).await;
    s.launch_on_next_offer(|agent| {
        let mut t = task("t", agent, "", None);
        t.command = Some(CommandInfo {
            uris: vec![mesos_proto::v1::command_info::Uri {
                value: task_file.display().to_string(),
                ..Default::default()
            }],
            ..Default::default()
        });
        vec![launch_group(executor, vec![t])]
    })
    .await;
    let running = s.until_state("t", TaskState::TaskRunning).await;
    let report = running_report(&running);
    let files: Vec<&str> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f.as_str())
        .collect();
    assert!(files.contains(&"executor-payload.bin"), "{files:?}");
    assert!(!files.contains(&"task-payload.bin"), "{files:?}");
}

pub async fn tasks_and_executor_must_share_one_allocation_role(backend: Backend) {
    let cluster = Cluster::start(backend, None).await;
    let mut info = framework("mr", &[Cap::MultiRole]);
    info.roles = vec!["cartrack".into()];
    let mut s = TestScheduler::subscribe(&cluster.master_url(), info).await;
    s.launch_on_next_offer(|agent| {
        let mut t = task("t", agent, "", None);
        for r in &mut t.resources {
            r.allocation_info = Some(mesos_proto::v1::resource::AllocationInfo {
                role: Some("someone-else".into()),
            });
        }
        vec![launch_group(test_executor("e1"), vec![t])]
    })
    .await;
    let status = s.update("t").await;
    assert_eq!(status.state(), TaskState::TaskError);
    // Mesos says it with "Total resources ... are more than available ..." (the task's
    // resources are not in the offer), the dev cluster names the role: the message differs.
    assert_eq!(
        status.reason(),
        Reason::TaskGroupInvalid,
        "{}",
        status.message()
    );
}

pub async fn executor_without_disk_fails_every_task_of_the_group_with_task_error(backend: Backend) {
    let cluster = Cluster::start(backend, None).await;
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("nd", &[])).await;
    let mut executor = test_executor("e1");
    executor.resources = small(0.1, 32.0, 0.0);
    s.launch_on_next_offer(|agent| {
        vec![launch_group(
            executor,
            vec![task("a", agent, "", None), task("b", agent, "", None)],
        )]
    })
    .await;
    for id in ["a", "b"] {
        let status = s.update(id).await;
        assert_eq!(status.state(), TaskState::TaskError);
        assert_eq!(status.reason(), Reason::TaskGroupInvalid);
        assert_eq!(status.message(), "Executor 'e1' uses no disk");
    }
}

pub async fn executor_below_minimum_cpus_or_mem_fails_every_task_of_the_group_with_task_error(
    backend: Backend,
) {
    let cluster = Cluster::start(backend, Some(1)).await;
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("min", &[])).await;
    let too_small = [
        (
            small(0.001, 32.0, 10.0),
            "Executor 'e0' uses less CPUs (0.001) than the minimum required (0.01)",
        ),
        (
            small(0.1, 16.0, 10.0),
            "Executor 'e1' uses less memory (16MB) than the minimum required (32MB)",
        ),
    ];
    for (n, (resources, message)) in too_small.into_iter().enumerate() {
        let mut executor = test_executor(&format!("e{n}"));
        executor.resources = resources;
        let offer = s.offer().await;
        let agent = offer.agent_id.value.clone();
        let (a, b) = (format!("a{n}"), format!("b{n}"));
        let group = launch_group(
            executor,
            vec![task(&a, &agent, "", None), task(&b, &agent, "", None)],
        );
        assert_eq!(
            s.accept_refusing(&[&offer.id], vec![group], Some(0.0))
                .await,
            202
        );
        for id in [&a, &b] {
            let status = s.update(id).await;
            assert_eq!(status.state(), TaskState::TaskError);
            assert_eq!(status.reason(), Reason::TaskGroupInvalid);
            assert_eq!(status.message(), message);
        }
    }
}

pub async fn executor_subscribe_without_the_subscribe_message_is_400(backend: Backend) {
    let cluster = Cluster::start(backend, None).await;
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("x", &[])).await;
    let agent = s
        .launch_on_next_offer(|agent| {
            vec![launch_group(
                test_executor("e1"),
                vec![task("t", agent, "", None)],
            )]
        })
        .await;
    s.until_state("t", TaskState::TaskRunning).await;
    let agent_url = cluster.agent_url(&agent);
    let call = mesos_proto::v1::executor::Call {
        executor_id: mesos_proto::v1::ExecutorId { value: "e1".into() },
        framework_id: FrameworkId {
            value: s.framework_id.clone(),
        },
        r#type: Some(mesos_proto::v1::executor::call::Type::Subscribe as i32),
        subscribe: None,
        ..Default::default()
    };
    let response = reqwest::Client::new()
        .post(format!("{agent_url}/api/v1/executor"))
        .header("Content-Type", "application/x-protobuf")
        .body(prost::Message::encode_to_vec(&call))
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_and_body(response).await,
        (
            400,
            "Failed to validate Executor::Call: Expecting 'subscribe' to be present".into()
        )
    );
}

pub async fn status_updates_are_forwarded_one_at_a_time_after_each_acknowledge(backend: Backend) {
    let cluster = Cluster::start(backend, None).await;
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("o", &[])).await;
    // "finish": the executor sends RUNNING and FINISHED back to back.
    s.launch_on_next_offer(|agent| {
        vec![launch_group(
            test_executor("e1"),
            vec![task("t", agent, "finish", None)],
        )]
    })
    .await;
    let running = s.update("t").await;
    assert_eq!(running.state(), TaskState::TaskRunning);
    // The executor's FINISHED reached the agent...
    cluster
        .wait_agent_has_update("t", TaskState::TaskFinished)
        .await;
    // ...but is held back until RUNNING is acknowledged.
    assert!(s
        .try_wait(Duration::from_millis(300), |e| e.update.is_some())
        .await
        .is_none());
    s.ack(&running).await;
    let finished = s.update("t").await;
    assert_eq!(finished.state(), TaskState::TaskFinished);
}

/// A LAUNCH_GROUP whose executor has no `framework_id` fails every task of the group (the
/// master fills it in only for LAUNCH).
pub async fn launch_group_executor_without_framework_id_fails_the_group_with_task_error(
    backend: Backend,
) {
    let cluster = Cluster::start(backend, None).await;
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("nf", &[])).await;
    let offer = s.offer().await;
    let agent = offer.agent_id.value.clone();
    let executor = test_executor("e1");
    assert!(executor.framework_id.is_none());
    // A raw ACCEPT: `TestScheduler::accept` would fill the id in.
    let accept = Call {
        r#type: Some(call::Type::Accept as i32),
        accept: Some(call::Accept {
            offer_ids: vec![offer.id.clone()],
            operations: vec![launch_group(
                executor,
                vec![task("a", &agent, "", None), task("b", &agent, "", None)],
            )],
            filters: None,
        }),
        ..Default::default()
    };
    assert_eq!(s.call(accept).await, 202);
    for id in ["a", "b"] {
        let status = s.update(id).await;
        assert_eq!(status.state(), TaskState::TaskError);
        assert_eq!(status.reason(), Reason::TaskGroupInvalid);
        assert_eq!(status.message(), "'ExecutorInfo.framework_id' must be set");
    }
}

/// With HTTP Basic required, a scheduler call without credentials or with wrong ones is 401
/// with Mesos' own body and realm; the right ones subscribe.
pub async fn scheduler_calls_without_or_with_wrong_credentials_are_401_unauthorized(
    backend: Backend,
) {
    let cluster = Cluster::start_with(backend, None, Some(("cartrack", "s3cret"))).await;
    let body = prost::Message::encode_to_vec(&subscribe_call(framework("auth", &[])));
    let send = |credentials: Option<(&str, &str)>| {
        let mut request = reqwest::Client::new()
            .post(format!(
                "{}{}",
                cluster.master_url(),
                mesos_proto::http::SCHEDULER_PATH
            ))
            .header("Content-Type", mesos_proto::http::PROTOBUF)
            .body(body.clone());
        if let Some((principal, secret)) = credentials {
            request = request.basic_auth(principal, Some(secret));
        }
        request.send()
    };
    for credentials in [
        None,
        Some(("cartrack", "wrong")),
        Some(("nobody", "s3cret")),
    ] {
        let response = send(credentials).await.expect("the master answers");
        assert_eq!(
            response
                .headers()
                .get("WWW-Authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Basic realm=\"mesos-master-scheduler\""),
            "{credentials:?}"
        );
        assert_eq!(
            status_and_body(response).await,
            (401, "401 Unauthorized.".into()),
            "{credentials:?}"
        );
    }
    let response = send(Some(("cartrack", "s3cret")))
        .await
        .expect("the master answers");
    assert_eq!(response.status(), 200);
}

/// The agent process dies: the master sees its connection close and at once gives up the tasks
/// of frameworks that do not checkpoint (also PARTITION_AWARE ones), TASK_LOST with
/// REASON_AGENT_DISCONNECTED, long before the agent could count as unreachable.
pub async fn agent_process_death_loses_the_tasks_of_frameworks_that_do_not_checkpoint_at_once(
    backend: Backend,
) {
    let mut cluster = Cluster::start(backend, Some(1)).await;
    let mut plain = TestScheduler::subscribe(&cluster.master_url(), framework("plain", &[])).await;
    let agent = plain
        .launch_on_next_offer(|agent| {
            vec![launch_group(
                test_executor("e1"),
                vec![task("a", agent, "", None)],
            )]
        })
        .await;
    plain.until_state("a", TaskState::TaskRunning).await;
    // The rest of the agent is refused to `plain` for 5 s: it goes to `aware`.
    let mut aware = TestScheduler::subscribe(
        &cluster.master_url(),
        framework("aware", &[Cap::PartitionAware]),
    )
    .await;
    aware
        .launch_on_next_offer(|agent| {
            vec![launch_group(
                test_executor("e2"),
                vec![task("b", agent, "", None)],
            )]
        })
        .await;
    aware.until_state("b", TaskState::TaskRunning).await;
    let hostname = cluster.agent_hostname(&agent).await;
    cluster.kill_agent(&agent).await;
    for (s, id) in [(&mut plain, "a"), (&mut aware, "b")] {
        let lost = s
            .update_where(id, |st| st.state() != TaskState::TaskRunning)
            .await;
        assert_eq!(lost.state(), TaskState::TaskLost, "{lost:?}");
        assert_eq!(lost.reason(), Reason::AgentDisconnected, "{lost:?}");
        assert_eq!(lost.message(), format!("Agent {hostname} disconnected"));
        assert_eq!(lost.source(), mesos_proto::v1::task_status::Source::Master);
        assert_eq!(
            lost.agent_id.as_ref().map(|a| a.value.as_str()),
            Some(agent.as_str())
        );
        assert!(lost.uuid.is_none(), "{lost:?}");
    }
}

/// `/master/state` carries the leader and its election time, and per framework what it
/// subscribed with and when; subscribing again with the framework's id is a re-registration.
pub async fn master_state_has_the_leader_its_election_time_and_the_frameworks_fields(
    backend: Backend,
) {
    let cluster = Cluster::start(backend, Some(1)).await;
    let epoch_now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs_f64()
    };
    let mut info = framework("st", &[]);
    info.principal = Some("cartrack-principal".into());
    info.webui_url = Some("http://127.0.0.1:1/ui".into());
    info.failover_timeout = Some(3600.0);
    let s = TestScheduler::subscribe(&cluster.master_url(), info).await;
    let id = s.framework_id.clone();
    let state = cluster.master_state().await;
    let address = cluster.master_url().replace("http://", "");
    assert_eq!(state["leader"], format!("master@{address}").as_str());
    let elected = state["elected_time"].as_f64().expect("elected_time");
    assert!(elected > 1.6e9 && elected <= epoch_now(), "{elected}");
    assert_eq!(state["completed_frameworks"], serde_json::json!([]));
    let f = super::framework_in(&state, &id, false).expect("the framework");
    let registered = f["registered_time"].as_f64().expect("registered_time");
    assert!(
        registered >= elected && registered <= epoch_now(),
        "{registered}"
    );
    assert_eq!(f["principal"], "cartrack-principal");
    assert_eq!(f["webui_url"], "http://127.0.0.1:1/ui");
    assert_eq!(f["active"], true);
    assert_eq!(f["connected"], true);
    assert_eq!(f["recovered"], false);
    assert_eq!(f["failover_timeout"], 3600.0);
    assert!(f.get("reregistered_time").is_none(), "{f}");
    // A framework without principal has none; without webui_url, an empty one.
    let other = TestScheduler::subscribe(&cluster.master_url(), framework("other", &[])).await;
    let state = cluster.master_state().await;
    let o = super::framework_in(&state, &other.framework_id, false).expect("the other one");
    assert!(o.get("principal").is_none(), "{o}");
    assert_eq!(o["webui_url"], "");

    // The newest subscription wins: the old stream fails over, the framework re-registered.
    let again = TestScheduler::subscribe(&cluster.master_url(), s.info.clone()).await;
    assert_eq!(again.framework_id, id);
    let state = cluster
        .poll_master_state("the framework's reregistered_time", |state| {
            super::framework_in(state, &id, false)
                .is_some_and(|f| f["reregistered_time"].is_number())
        })
        .await;
    let f = super::framework_in(&state, &id, false).expect("the framework");
    let reregistered = f["reregistered_time"].as_f64().expect("a number");
    assert!(
        reregistered >= registered && reregistered <= epoch_now(),
        "{f}"
    );
    assert_eq!(f["registered_time"].as_f64(), Some(registered));
    assert_eq!(f["active"], true);
}

/// The operator API's TEARDOWN (`POST /api/v1`, JSON) answers 200 with no body, kills every
/// task and executor of the framework, closes its stream and moves it, tasks KILLED, to
/// `completed_frameworks`; an unknown (or already removed) framework is 400.
pub async fn operator_teardown_kills_the_frameworks_tasks_and_moves_it_to_completed_frameworks(
    backend: Backend,
) {
    let cluster = Cluster::start(backend, Some(1)).await;
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("td", &[])).await;
    s.launch_on_next_offer(|agent| {
        vec![launch_group(
            test_executor("e1"),
            vec![task("a", agent, "", None), task("b", agent, "", None)],
        )]
    })
    .await;
    s.until_state("a", TaskState::TaskRunning).await;
    s.until_state("b", TaskState::TaskRunning).await;
    let teardown = |id: &str| {
        reqwest::Client::new()
            .post(format!("{}/api/v1", cluster.master_url()))
            .json(&serde_json::json!({
                "type": "TEARDOWN",
                "teardown": { "framework_id": { "value": id } },
            }))
            .send()
    };
    let response = teardown(&s.framework_id).await.expect("the master answers");
    assert_eq!(status_and_body(response).await, (200, String::new()));
    assert!(s.stream_closed().await, "the framework's stream stays open");
    let id = s.framework_id.clone();
    let state = cluster
        .poll_master_state("the framework completed, its executor gone", |state| {
            let used_cpus = state["slaves"][0]["used_resources"]["cpus"].as_f64();
            super::framework_in(state, &id, false).is_none()
                && super::framework_in(state, &id, true).is_some()
                && used_cpus == Some(0.0)
        })
        .await;
    let completed = super::framework_in(&state, &id, true).expect("completed");
    assert_eq!(completed["active"], false);
    assert_eq!(completed["connected"], false);
    assert!(
        completed["unregistered_time"]
            .as_f64()
            .is_some_and(|t| t > 1.6e9),
        "{completed}"
    );
    assert_eq!(completed["tasks"], serde_json::json!([]));
    let mut ended: Vec<(String, String)> = completed["completed_tasks"]
        .as_array()
        .expect("completed_tasks")
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap_or_default().into(),
                t["state"].as_str().unwrap_or_default().into(),
            )
        })
        .collect();
    ended.sort();
    assert_eq!(
        ended,
        vec![
            ("a".to_string(), "TASK_KILLED".to_string()),
            ("b".to_string(), "TASK_KILLED".to_string())
        ],
        "{completed}"
    );
    for unknown in [id.as_str(), "no-such-framework"] {
        let response = teardown(unknown).await.expect("the master answers");
        assert_eq!(
            status_and_body(response).await,
            (400, "No framework found with specified ID".into()),
            "{unknown}"
        );
    }
}

/// The status code and body text of a response.
async fn status_and_body(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    (status, response.text().await.expect("response body"))
}
