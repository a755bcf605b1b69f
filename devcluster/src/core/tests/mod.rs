//! Unit tests of the pure core: one per rule, driven by calls and explicit clock values.

use std::time::{Duration, Instant};

use mesos_proto::v1::scheduler::{call, event as sevent, Call, Event};
use mesos_proto::v1::{
    executor_info, framework_info, offer, value, CommandInfo, ExecutorId, ExecutorInfo,
    FrameworkId, FrameworkInfo, OfferId, Resource, TaskId, TaskInfo, TaskState,
};

use super::{Agent, Core, CoreConfig, Effect};
use crate::resources::Resources;

fn core(agents: usize) -> Core {
    let total = Resources::parse("cpus:4;mem:8192;disk:100").unwrap();
    Core::new(
        CoreConfig {
            heartbeat_interval: Duration::from_secs(15),
            status_update_retry: Duration::from_secs(10),
            executor_registration_timeout: Duration::from_secs(60),
            agent_unreachable_timeout: Duration::from_secs(75),
            executor_shutdown_grace: Duration::from_secs(5),
        },
        "t".into(),
        (0..agents)
            .map(|i| Agent::new(format!("a{i}"), total.clone(), Resources::default(), vec![]))
            .collect(),
        Instant::now(),
    )
}

fn info(caps: &[framework_info::capability::Type], failover: f64) -> FrameworkInfo {
    FrameworkInfo {
        user: "u".into(),
        name: "n".into(),
        failover_timeout: Some(failover),
        capabilities: caps
            .iter()
            .map(|c| framework_info::Capability {
                r#type: Some(*c as i32),
            })
            .collect(),
        ..Default::default()
    }
}

fn events_for(effects: &[Effect], fid: &str) -> Vec<Event> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::ToFramework {
                framework_id,
                event,
            } if framework_id == fid => Some(event.clone()),
            _ => None,
        })
        .collect()
}

fn offers(events: &[Event]) -> Vec<mesos_proto::v1::Offer> {
    events
        .iter()
        .filter_map(|e| e.offers.clone())
        .flat_map(|o| o.offers)
        .collect()
}

fn call(fid: &str, kind: call::Type) -> Call {
    Call {
        framework_id: Some(FrameworkId { value: fid.into() }),
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

fn scalar(name: &str, v: f64) -> Resource {
    Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: v }),
        ..Default::default()
    }
}

fn launch_task(id: &str, agent: &str) -> offer::Operation {
    offer::Operation {
        r#type: Some(offer::operation::Type::Launch as i32),
        launch: Some(offer::operation::Launch {
            task_infos: vec![TaskInfo {
                name: id.into(),
                task_id: TaskId { value: id.into() },
                agent_id: mesos_proto::v1::AgentId {
                    value: agent.into(),
                },
                resources: vec![scalar("cpus", 1.0), scalar("mem", 32.0)],
                executor: Some(ExecutorInfo {
                    r#type: Some(executor_info::Type::Custom as i32),
                    executor_id: ExecutorId { value: "e".into() },
                    command: Some(CommandInfo {
                        value: Some("true".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }],
        }),
        ..Default::default()
    }
}

fn accept(fid: &str, offer_id: &str, ops: Vec<offer::Operation>) -> Call {
    let mut c = call(fid, call::Type::Accept);
    c.accept = Some(call::Accept {
        offer_ids: vec![OfferId {
            value: offer_id.into(),
        }],
        operations: ops,
        filters: None,
    });
    c
}

#[test]
fn stream_checks_run_in_mesos_order() {
    let mut c = core(1);
    let now = Instant::now();
    let sub = c.subscribe(info(&[], 3600.0), now).unwrap();
    let revive = call(&sub.framework_id, call::Type::Revive);
    assert_eq!(c.check_call_stream(&revive, None).unwrap_err().status, 400);
    assert_eq!(
        c.check_call_stream(&revive, Some("x")).unwrap_err().status,
        400
    );
    assert!(c.check_call_stream(&revive, Some(&sub.stream_id)).is_ok());
    c.framework_disconnected(&sub.framework_id, &sub.stream_id, now);
    // Disconnected beats a missing stream id: 403 first.
    assert_eq!(c.check_call_stream(&revive, None).unwrap_err().status, 403);
    let unknown = call("nobody", call::Type::Revive);
    let err = c.check_call_stream(&unknown, None).unwrap_err();
    assert_eq!(
        (err.status, err.message.as_str()),
        (400, "Framework cannot be found")
    );
}

#[test]
fn decline_filter_holds_until_it_expires_or_revive() {
    let mut c = core(1);
    let t0 = Instant::now();
    let sub = c.subscribe(info(&[], 0.0), t0).unwrap();
    c.tick(t0);
    let first = offers(&events_for(&c.take_effects(), &sub.framework_id));
    assert_eq!(first.len(), 1);
    let mut decline = call(&sub.framework_id, call::Type::Decline);
    decline.decline = Some(call::Decline {
        offer_ids: vec![first[0].id.clone()],
        filters: Some(mesos_proto::v1::Filters {
            refuse_seconds: Some(10.0),
        }),
    });
    c.handle_call(&sub.framework_id, decline, t0).unwrap();
    c.tick(t0 + Duration::from_secs(9));
    assert!(offers(&events_for(&c.take_effects(), &sub.framework_id)).is_empty());
    c.tick(t0 + Duration::from_secs(10));
    assert_eq!(
        offers(&events_for(&c.take_effects(), &sub.framework_id)).len(),
        1
    );
}

#[test]
fn one_allocation_sends_each_framework_one_offers_event_with_every_free_agent() {
    let mut c = core(3);
    let t0 = Instant::now();
    let sub = c.subscribe(info(&[], 0.0), t0).unwrap();
    c.take_effects();
    c.tick(t0);
    let events = events_for(&c.take_effects(), &sub.framework_id);
    let batches: Vec<usize> = events
        .iter()
        .filter_map(|e| e.offers.as_ref().map(|o| o.offers.len()))
        .collect();
    assert_eq!(
        batches,
        vec![3],
        "one OFFERS event carrying all three agents"
    );
    let mut agents: Vec<String> = offers(&events)
        .into_iter()
        .map(|o| o.agent_id.value)
        .collect();
    agents.sort();
    agents.dedup();
    assert_eq!(agents.len(), 3, "{agents:?}");
}

#[test]
fn accept_of_a_used_offer_is_task_lost_without_uuid_or_dropped_when_partition_aware() {
    for (caps, expected) in [
        (vec![], TaskState::TaskLost),
        (
            vec![framework_info::capability::Type::PartitionAware],
            TaskState::TaskDropped,
        ),
    ] {
        let mut c = core(1);
        let now = Instant::now();
        let sub = c.subscribe(info(&caps, 0.0), now).unwrap();
        c.tick(now);
        let offer = offers(&events_for(&c.take_effects(), &sub.framework_id)).remove(0);
        let fid = sub.framework_id.clone();
        c.handle_call(
            &fid,
            accept(&fid, &offer.id.value, vec![launch_task("t1", "a0")]),
            now,
        )
        .unwrap();
        c.take_effects();
        c.handle_call(
            &fid,
            accept(&fid, &offer.id.value, vec![launch_task("t2", "a0")]),
            now,
        )
        .unwrap();
        let events = events_for(&c.take_effects(), &fid);
        let status = &events[0].update.as_ref().unwrap().status;
        assert_eq!(status.state(), expected);
        assert_eq!(
            status.reason(),
            mesos_proto::v1::task_status::Reason::InvalidOffers
        );
        assert!(status.uuid.is_none());
    }
}

#[test]
fn launch_starts_one_executor_and_queues_the_task_until_it_subscribes() {
    let mut c = core(1);
    let now = Instant::now();
    let sub = c.subscribe(info(&[], 0.0), now).unwrap();
    c.tick(now);
    let offer = offers(&events_for(&c.take_effects(), &sub.framework_id)).remove(0);
    let fid = sub.framework_id.clone();
    c.handle_call(
        &fid,
        accept(&fid, &offer.id.value, vec![launch_task("t1", "a0")]),
        now,
    )
    .unwrap();
    let effects = c.take_effects();
    assert_eq!(
        effects
            .iter()
            .filter(|e| matches!(e, Effect::LaunchExecutor(_)))
            .count(),
        1
    );
    let exec = &c.agents["a0"].executors[&(fid.clone(), "e".to_string())];
    assert_eq!(exec.pending.len(), 1, "LAUNCH waits for SUBSCRIBE");
    assert_eq!(
        c.agents["a0"].tasks[&(fid, "t1".to_string())].state,
        TaskState::TaskStaging
    );
}

#[test]
fn failover_timeout_removes_the_framework_only_when_it_expires() {
    let mut c = core(1);
    let t0 = Instant::now();
    let sub = c.subscribe(info(&[], 30.0), t0).unwrap();
    c.framework_disconnected(&sub.framework_id, &sub.stream_id, t0);
    c.tick(t0 + Duration::from_secs(29));
    assert!(c.frameworks.contains_key(&sub.framework_id));
    c.tick(t0 + Duration::from_secs(30));
    assert!(!c.frameworks.contains_key(&sub.framework_id));
}

#[test]
fn roles_without_multi_role_are_refused() {
    let mut c = core(1);
    let mut i = info(&[], 0.0);
    i.roles = vec!["r".into()];
    assert!(c
        .subscribe(i, Instant::now())
        .unwrap_err()
        .contains("MULTI_ROLE"));
}

#[test]
fn heartbeats_follow_the_interval() {
    let mut c = core(0);
    let t0 = Instant::now();
    let sub = c.subscribe(info(&[], 0.0), t0).unwrap();
    let first = events_for(&c.take_effects(), &sub.framework_id);
    assert_eq!(first[0].r#type(), sevent::Type::Subscribed);
    assert_eq!(first[1].r#type(), sevent::Type::Heartbeat);
    c.tick(t0 + Duration::from_secs(14));
    assert!(events_for(&c.take_effects(), &sub.framework_id).is_empty());
    c.tick(t0 + Duration::from_secs(15));
    let later = events_for(&c.take_effects(), &sub.framework_id);
    assert_eq!(later[0].r#type(), sevent::Type::Heartbeat);
}

#[test]
fn kill_carries_the_calls_kill_policy_to_the_executor() {
    let mut c = core(1);
    let now = Instant::now();
    let sub = c.subscribe(info(&[], 0.0), now).unwrap();
    c.tick(now);
    let offer = offers(&events_for(&c.take_effects(), &sub.framework_id)).remove(0);
    let fid = sub.framework_id.clone();
    c.handle_call(
        &fid,
        accept(&fid, &offer.id.value, vec![launch_task("t1", "a0")]),
        now,
    )
    .unwrap();
    // The executor subscribes, then the framework kills with a 1 s grace.
    c.executor_subscribe("a0", &executor_subscribe(&fid), now)
        .unwrap();
    c.take_effects();
    let policy = mesos_proto::v1::KillPolicy {
        grace_period: Some(mesos_proto::v1::DurationInfo {
            nanoseconds: 1_000_000_000,
        }),
    };
    let mut kill = call(&fid, call::Type::Kill);
    kill.kill = Some(call::Kill {
        task_id: TaskId { value: "t1".into() },
        agent_id: None,
        kill_policy: Some(policy),
    });
    c.handle_call(&fid, kill, now).unwrap();
    let sent = c.take_effects().into_iter().find_map(|e| match e {
        Effect::ToExecutor { event, .. } => event.kill,
        _ => None,
    });
    assert_eq!(sent.and_then(|k| k.kill_policy), Some(policy));
}

/// Executor `e`'s SUBSCRIBE, listing no unacknowledged task or update.
fn executor_subscribe(fid: &str) -> mesos_proto::v1::executor::Call {
    mesos_proto::v1::executor::Call {
        executor_id: ExecutorId { value: "e".into() },
        framework_id: FrameworkId { value: fid.into() },
        r#type: Some(mesos_proto::v1::executor::call::Type::Subscribe as i32),
        subscribe: Some(Default::default()),
        ..Default::default()
    }
}

/// Subscribes a framework (checkpointing as asked) and runs task `t1` on `a0` under executor
/// `e`, its executor subscribed and the LAUNCH taken; returns the framework id.
fn running_t1(c: &mut Core, checkpoint: bool, now: Instant) -> String {
    let mut i = info(&[], 0.0);
    i.checkpoint = Some(checkpoint);
    run_t1(c, i, now)
}

/// [`running_t1`] for a framework described by `i`.
fn run_t1(c: &mut Core, i: FrameworkInfo, now: Instant) -> String {
    let sub = c.subscribe(i, now).unwrap();
    c.tick(now);
    let offer = offers(&events_for(&c.take_effects(), &sub.framework_id)).remove(0);
    let fid = sub.framework_id.clone();
    c.handle_call(
        &fid,
        accept(&fid, &offer.id.value, vec![launch_task("t1", "a0")]),
        now,
    )
    .unwrap();
    c.executor_subscribe("a0", &executor_subscribe(&fid), now)
        .unwrap();
    c.take_effects();
    fid
}

#[test]
fn executor_exit_reports_failure_with_the_wait_status_before_the_tasks_updates() {
    let mut c = core(1);
    let now = Instant::now();
    let fid = running_t1(&mut c, false, now);
    let container = c.agents["a0"].executors[&(fid.clone(), "e".to_string())]
        .container_id
        .clone();
    // Killed by SIGKILL: the raw wait status is 9.
    c.executor_exited("a0", &fid, "e", &container, Some(9), now);
    let events = events_for(&c.take_effects(), &fid);
    assert_eq!(events[0].r#type(), sevent::Type::Failure);
    assert_eq!(events[0].failure.as_ref().unwrap().status, Some(9));
    let status = &events[1].update.as_ref().unwrap().status;
    assert_eq!(status.state(), TaskState::TaskFailed);
}

#[test]
fn agent_death_loses_at_once_only_the_tasks_of_frameworks_that_do_not_checkpoint() {
    for checkpoint in [false, true] {
        let mut c = core(1);
        let now = Instant::now();
        let fid = running_t1(&mut c, checkpoint, now);
        c.kill_agent("a0", now);
        let lost: Vec<_> = events_for(&c.take_effects(), &fid)
            .into_iter()
            .filter_map(|e| e.update.map(|u| u.status))
            .collect();
        if checkpoint {
            assert!(lost.is_empty(), "{lost:?}");
            continue;
        }
        assert_eq!(lost.len(), 1);
        assert_eq!(lost[0].state(), TaskState::TaskLost);
        assert_eq!(
            lost[0].reason(),
            mesos_proto::v1::task_status::Reason::AgentDisconnected
        );
        assert_eq!(lost[0].message(), "Agent 127.0.0.1 disconnected");
        assert!(c.agents["a0"].tasks.is_empty());
        assert_eq!(
            c.frameworks[&fid].completed_tasks[0].state,
            TaskState::TaskLost
        );
    }
}

#[test]
fn restarting_a_partitioned_agent_reports_its_unreachable_tasks_back() {
    let mut c = core(1);
    let t0 = Instant::now();
    let mut i = info(&[framework_info::capability::Type::PartitionAware], 3600.0);
    i.checkpoint = Some(true);
    let fid = run_t1(&mut c, i, t0);
    let statuses = |c: &mut Core| -> Vec<mesos_proto::v1::TaskStatus> {
        events_for(&c.take_effects(), &fid)
            .into_iter()
            .filter_map(|e| e.update.map(|u| u.status))
            .collect()
    };
    c.partition_agent("a0", t0);
    c.tick(t0 + Duration::from_secs(76));
    let gone = statuses(&mut c);
    assert_eq!(gone.len(), 1, "{gone:?}");
    assert_eq!(gone[0].state(), TaskState::TaskUnreachable);
    c.restart_agent("a0", t0 + Duration::from_secs(80));
    let back = statuses(&mut c);
    assert!(
        back.iter().any(|s| s.task_id.value == "t1"
            && s.state() != TaskState::TaskUnreachable
            && s.reason() == mesos_proto::v1::task_status::Reason::AgentReregistered),
        "{back:?}"
    );
    assert!(!c.agents["a0"].tasks[&(fid.clone(), "t1".to_string())].unreachable);
}

#[test]
fn teardown_moves_the_framework_with_its_tasks_killed_to_completed_frameworks() {
    let mut c = core(1);
    let t0 = Instant::now();
    let fid = running_t1(&mut c, false, t0);
    let later = t0 + Duration::from_secs(1);
    assert!(c.teardown(&fid, later));
    assert!(!c.frameworks.contains_key(&fid));
    let completed = c.completed_frameworks.back().unwrap();
    assert_eq!(completed.framework.id, fid);
    assert_eq!(completed.unregistered_at, later);
    assert_eq!(
        completed.framework.completed_tasks[0].state,
        TaskState::TaskKilled
    );
    assert!(
        c.take_effects()
            .iter()
            .any(|e| matches!(e, Effect::KillExecutor { executor_id, .. } if executor_id == "e")),
        "the executor is shut down"
    );
    assert!(!c.teardown(&fid, later), "already removed");
    assert!(!c.teardown("nobody", later));
}

#[test]
fn a_staging_task_the_resubscribing_executor_does_not_list_is_dropped() {
    use mesos_proto::v1::task_status::{Reason, Source};
    let partition_aware = [framework_info::capability::Type::PartitionAware];
    for (caps, listed, dropped_as) in [
        (&partition_aware[..], false, Some(TaskState::TaskDropped)),
        (&[][..], false, Some(TaskState::TaskLost)),
        (&partition_aware[..], true, None),
    ] {
        let mut c = core(1);
        let now = Instant::now();
        let mut i = info(caps, 3600.0);
        i.checkpoint = Some(true);
        // The first SUBSCRIBE took t1's queued LAUNCH: t1 is STAGING, sent, not dropped.
        let fid = run_t1(&mut c, i, now);
        let key = (fid.clone(), "t1".to_string());
        assert_eq!(c.agents["a0"].tasks[&key].state, TaskState::TaskStaging);
        // The connection breaks before the executor reads the LAUNCH; it subscribes again.
        c.drop_executor_connection("a0", "e");
        c.take_effects();
        let mut subscribe = executor_subscribe(&fid);
        if listed {
            let t1 = c.agents["a0"].tasks[&key].info.clone();
            if let Some(s) = subscribe.subscribe.as_mut() {
                s.unacknowledged_tasks.push(t1);
            }
        }
        let later = now + Duration::from_secs(2);
        c.executor_subscribe("a0", &subscribe, later).unwrap();
        let updates: Vec<_> = events_for(&c.take_effects(), &fid)
            .into_iter()
            .filter_map(|e| e.update.map(|u| u.status))
            .collect();
        match dropped_as {
            Some(state) => {
                assert_eq!(updates.len(), 1, "{updates:?}");
                assert_eq!(updates[0].task_id.value, "t1");
                assert_eq!(updates[0].state(), state);
                assert_eq!(updates[0].reason(), Reason::AgentRestarted);
                assert_eq!(updates[0].source(), Source::Agent);
                assert!(
                    updates[0].uuid.is_some(),
                    "the agent's update is acknowledged"
                );
                assert_eq!(c.agents["a0"].tasks[&key].state, state);
            }
            None => {
                assert!(updates.is_empty(), "{updates:?}");
                assert_eq!(c.agents["a0"].tasks[&key].state, TaskState::TaskStaging);
            }
        }
    }
}
