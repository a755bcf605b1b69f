//! The core's transitions, one test each: fed events, checked on the `Ready` it returns.

use mesos_proto::v1::scheduler::{call, event, Call, Event};
use mesos_proto::v1::{AgentId, FrameworkId, TaskId, TaskState, TaskStatus};

use super::*;
use crate::driver::Encoder;
use crate::testkit::{group_toml, offer, spec, task, OfferShape};

mod autoscale;
mod deploy;
mod uninstall;

const NOW: u64 = 10_000_000;

fn core_with(stored: StoredState, spec_text: &str) -> Core {
    let binaries = Binaries::Files {
        executor_uri: "/bin/cartrack-executor".into(),
        worker_uri: "/bin/cartrack-worker".into(),
    };
    Core::new(
        spec(spec_text),
        stored,
        CoreConfig::new(binaries),
        "run".into(),
        NOW,
    )
}

/// A state that already has the framework id `fw-1` (a scheduler that ran before).
fn registered() -> StoredState {
    StoredState {
        framework_id: Some("fw-1".into()),
        ..StoredState::default()
    }
}

fn subscribed(id: &str) -> Input {
    Input::Event(Box::new(Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(event::Subscribed {
            framework_id: FrameworkId { value: id.into() },
            heartbeat_interval_seconds: Some(15.0),
            master_info: None,
        }),
        ..Event::default()
    }))
}

fn offers(list: Vec<mesos_proto::v1::Offer>) -> Input {
    Input::Event(Box::new(Event {
        r#type: Some(event::Type::Offers as i32),
        offers: Some(event::Offers { offers: list }),
        ..Event::default()
    }))
}

fn update(task_id: &str, state: TaskState, uuid: Option<&[u8]>) -> Input {
    Input::Event(Box::new(Event {
        r#type: Some(event::Type::Update as i32),
        update: Some(event::Update {
            status: TaskStatus {
                task_id: TaskId {
                    value: task_id.into(),
                },
                state: state as i32,
                agent_id: Some(AgentId {
                    value: "a-1".into(),
                }),
                uuid: uuid.map(<[u8]>::to_vec),
                ..TaskStatus::default()
            },
        }),
        ..Event::default()
    }))
}

/// A [`Ready`] with its effects encoded as the sender would.
struct Encoded {
    changes: Vec<Change>,
    framework_id: Option<String>,
    calls: Vec<Call>,
}

fn take(core: &mut Core) -> Encoded {
    let encoder =
        Encoder::new().with_task_env(vec![("CARTRACK_WORKER_READ_TOKEN".into(), "w0rker".into())]);
    let framework_id = core.state.framework_id.clone().unwrap_or_default();
    let ready = core.take_ready();
    Encoded {
        changes: ready.changes,
        framework_id: ready.framework_id,
        calls: ready
            .effects
            .iter()
            .map(|e| encoder.call(e, &framework_id))
            .collect(),
    }
}

impl Core {
    fn feed(&mut self, input: Input, now_ms: u64) {
        self.apply(input, now_ms).expect("not an operator request");
    }
}

fn kinds(calls: &[Call]) -> Vec<&'static str> {
    calls.iter().map(crate::mesos::calls::type_name).collect()
}

fn one_ingester() -> String {
    group_toml("ingester", 1, 0.1, 64.0, &["http"], &[])
}

#[test]
fn first_subscribe_persists_the_framework_id_before_anything_relies_on_it() {
    let mut core = core_with(StoredState::default(), &one_ingester());
    let start = take(&mut core);
    assert!(start
        .changes
        .iter()
        .any(|c| matches!(c, Change::PutConfig(_))));
    core.feed(subscribed("fw-1"), NOW);
    let ready = take(&mut core);
    assert_eq!(
        ready.changes.first(),
        Some(&Change::FrameworkId("fw-1".into()))
    );
    assert_eq!(ready.framework_id.as_deref(), Some("fw-1"));
    assert_eq!(
        kinds(&ready.calls),
        vec!["REVIVE"],
        "pending work, nothing to reconcile"
    );
}

#[test]
fn offers_become_an_accept_whose_intent_is_persisted_in_the_same_ready() {
    let mut core = core_with(StoredState::default(), &one_ingester());
    core.feed(subscribed("fw-1"), NOW);
    take(&mut core);
    core.feed(offers(vec![offer(1, &OfferShape::default())]), NOW);
    let ready = take(&mut core);
    let staged: Vec<&TaskRecord> = ready
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::PutTask(t) => Some(&**t),
            _ => None,
        })
        .collect();
    assert_eq!(staged.len(), 1);
    assert_eq!(staged[0].task_id, "ingester-0-main__run-1");
    assert_eq!(staged[0].state, TaskPhase::Staging);
    assert_eq!(staged[0].ports["http"], 31000);
    assert_eq!(kinds(&ready.calls), vec!["ACCEPT", "SUPPRESS"]);
    let accept = ready.calls[0].accept.as_ref().expect("accept");
    let op = &accept.operations[0];
    assert_eq!(
        op.r#type,
        Some(mesos_proto::v1::offer::operation::Type::LaunchGroup as i32)
    );
    let group = op.launch_group.as_ref().expect("launch group");
    assert!(
        group
            .executor
            .executor_id
            .value
            .starts_with("cartrack-executor._."),
        "the executor id names the executor settings"
    );
    assert_eq!(staged[0].executor_id, group.executor.executor_id.value);
    assert_eq!(staged[0].config, 1);
    let uris: Vec<&str> = group
        .executor
        .command
        .as_ref()
        .expect("cmd")
        .uris
        .iter()
        .map(|u| u.value.as_str())
        .collect();
    assert_eq!(uris, vec!["/bin/cartrack-executor", "/bin/cartrack-worker"]);
    let env = &group.task_group.tasks[0]
        .command
        .as_ref()
        .expect("cmd")
        .environment
        .as_ref()
        .expect("env")
        .variables;
    let get = |n: &str| {
        env.iter()
            .find(|v| v.name == n)
            .and_then(|v| v.value.clone())
    };
    assert_eq!(get("PORT_HTTP").as_deref(), Some("31000"));
    assert_eq!(get("PORT0").as_deref(), Some("31000"));
    assert_eq!(get("CARTRACK_SLOT").as_deref(), Some("ingester-0"));
    assert_eq!(get("CARTRACK_WORKER_READ_TOKEN").as_deref(), Some("w0rker"));
    assert_eq!(accept.filters.and_then(|f| f.refuse_seconds), Some(3600.0));
}

#[test]
fn updates_with_uuid_are_acknowledged_and_reconciliation_answers_are_not() {
    let mut stored = registered();
    let t = task("ingester", 0, 1, TaskPhase::Staging);
    stored.tasks.insert(t.task_id.clone(), t.clone());
    let mut core = core_with(stored, &one_ingester());
    core.feed(subscribed("fw-1"), NOW);
    take(&mut core);
    core.feed(update(&t.task_id, TaskState::TaskRunning, None), NOW);
    let ready = take(&mut core);
    assert!(!kinds(&ready.calls).contains(&"ACKNOWLEDGE"));
    core.feed(
        update(
            &t.task_id,
            TaskState::TaskRunning,
            Some(b"0123456789abcdef"),
        ),
        NOW,
    );
    let ready = take(&mut core);
    assert!(matches!(&ready.changes[0], Change::PutTask(r) if r.state == TaskPhase::Running));
    let ack = ready
        .calls
        .iter()
        .find_map(|c| c.acknowledge.as_ref())
        .expect("ack");
    assert_eq!(ack.uuid, b"0123456789abcdef".to_vec());
}

#[test]
fn restart_adopts_stored_tasks_after_explicit_reconciliation_without_relaunching() {
    let mut stored = registered();
    let t = task("ingester", 0, 1, TaskPhase::Running);
    stored.tasks.insert(t.task_id.clone(), t.clone());
    let mut core = core_with(stored, &one_ingester());
    take(&mut core);
    core.feed(subscribed("fw-1"), NOW);
    let ready = take(&mut core);
    assert!(ready.changes.is_empty(), "same framework id, nothing new");
    let reconcile = ready
        .calls
        .iter()
        .find_map(|c| c.reconcile.as_ref())
        .expect("explicit reconcile");
    assert_eq!(reconcile.tasks[0].task_id.value, t.task_id);
    assert_eq!(
        kinds(&ready.calls),
        vec!["RECONCILE", "SUPPRESS"],
        "no slot is empty"
    );
    core.feed(offers(vec![offer(2, &OfferShape::default())]), NOW);
    let ready = take(&mut core);
    assert_eq!(kinds(&ready.calls), vec!["DECLINE"]);
    core.feed(update(&t.task_id, TaskState::TaskRunning, None), NOW);
    let ready = take(&mut core);
    assert!(
        ready.calls.is_empty(),
        "adopted, nothing to launch: {:?}",
        kinds(&ready.calls)
    );
    assert_eq!(core.reconciling(), 0);
}

#[test]
fn unanswered_reconciliation_is_retried_with_backoff() {
    let mut stored = registered();
    let t = task("ingester", 0, 1, TaskPhase::Staging);
    stored.tasks.insert(t.task_id.clone(), t);
    let mut core = core_with(stored, &one_ingester());
    core.feed(subscribed("fw-1"), NOW);
    take(&mut core);
    core.on_tick(NOW + 2999);
    assert!(!kinds(&take(&mut core).calls).contains(&"RECONCILE"));
    core.on_tick(NOW + 3000);
    assert!(kinds(&take(&mut core).calls).contains(&"RECONCILE"));
    core.on_tick(NOW + 8999);
    assert!(
        !kinds(&take(&mut core).calls).contains(&"RECONCILE"),
        "second retry after 6 s"
    );
    core.on_tick(NOW + 9000);
    assert!(kinds(&take(&mut core).calls).contains(&"RECONCILE"));
}

#[test]
fn a_failed_task_is_relaunched_after_the_launch_backoff() {
    let mut stored = registered();
    let t = task("ingester", 0, 1, TaskPhase::Running);
    stored.tasks.insert(t.task_id.clone(), t.clone());
    let mut core = core_with(stored, &one_ingester());
    core.feed(subscribed("fw-1"), NOW);
    core.feed(update(&t.task_id, TaskState::TaskRunning, None), NOW);
    take(&mut core);
    core.feed(update(&t.task_id, TaskState::TaskFailed, Some(b"u1")), NOW);
    let ready = take(&mut core);
    assert!(ready
        .changes
        .contains(&Change::RemoveTask(t.task_id.clone())));
    let slot = &core.state().slots["ingester-0"];
    assert_eq!(
        (slot.failures, slot.next_launch_at_ms, slot.last_failed),
        (1, NOW + 1000, true)
    );
    core.feed(offers(vec![offer(1, &OfferShape::default())]), NOW + 500);
    assert_eq!(kinds(&take(&mut core).calls), vec!["DECLINE"]);
    core.feed(offers(vec![offer(1, &OfferShape::default())]), NOW + 1000);
    assert_eq!(kinds(&take(&mut core).calls)[0], "ACCEPT");
    assert_eq!(launch_backoff_ms(2), 1150);
    assert_eq!(launch_backoff_ms(100), 300_000);
}

#[test]
fn scale_down_kills_and_the_kill_is_not_a_failure() {
    let mut stored = registered();
    for i in 0..2 {
        let t = task("ingester", i, 1, TaskPhase::Running);
        stored.tasks.insert(t.task_id.clone(), t);
    }
    let mut core = core_with(stored, &group_toml("ingester", 2, 0.1, 64.0, &[], &[]));
    core.feed(subscribed("fw-1"), NOW);
    take(&mut core);
    core.set_count("ingester", 1, NOW).expect("known group");
    let ready = take(&mut core);
    let kill = ready
        .calls
        .iter()
        .find_map(|c| c.kill.as_ref())
        .expect("kill");
    assert_eq!(kill.task_id.value, "ingester-1-main__00000001");
    core.feed(
        update(
            "ingester-1-main__00000001",
            TaskState::TaskKilled,
            Some(b"u"),
        ),
        NOW,
    );
    take(&mut core);
    assert!(!core.state().slots["ingester-1"].last_failed);
    assert_eq!(core.state().slots["ingester-1"].failures, 0);
    assert!(matches!(
        core.set_count("nope", 1, NOW),
        Err(RequestError::UnknownGroup { .. })
    ));
}

#[test]
fn unknown_live_tasks_are_killed() {
    let mut core = core_with(
        StoredState {
            framework_id: Some("fw-1".into()),
            ..StoredState::default()
        },
        &one_ingester(),
    );
    core.feed(subscribed("fw-1"), NOW);
    take(&mut core);
    core.feed(
        update("stranger__1", TaskState::TaskRunning, Some(b"u")),
        NOW,
    );
    let calls = take(&mut core).calls;
    assert!(calls.iter().any(|c| c
        .kill
        .as_ref()
        .is_some_and(|k| k.task_id.value == "stranger__1")));
    assert!(calls
        .iter()
        .any(|c| c.r#type == Some(call::Type::Acknowledge as i32)));
}

#[test]
fn restart_kills_then_relaunches_on_the_same_agent() {
    let mut stored = registered();
    let t = task("ingester", 0, 1, TaskPhase::Running);
    stored.tasks.insert(t.task_id.clone(), t.clone());
    let mut core = core_with(stored, &one_ingester());
    core.feed(subscribed("fw-1"), NOW);
    core.feed(update(&t.task_id, TaskState::TaskRunning, None), NOW);
    take(&mut core);
    core.restart("ingester-0", false, NOW).expect("live pod");
    assert!(kinds(&take(&mut core).calls).contains(&"KILL"));
    core.feed(update(&t.task_id, TaskState::TaskKilled, Some(b"u")), NOW);
    take(&mut core);
    core.feed(offers(vec![offer(2, &OfferShape::default())]), NOW);
    assert_eq!(
        kinds(&take(&mut core).calls),
        vec!["DECLINE"],
        "a-2 is not the pod's agent"
    );
    core.feed(offers(vec![offer(1, &OfferShape::default())]), NOW);
    assert_eq!(kinds(&take(&mut core).calls)[0], "ACCEPT");
    assert!(matches!(
        core.restart("ingester-9", true, NOW),
        Err(RequestError::NoSuchPod(_))
    ));
}

#[test]
fn unreachable_keeps_its_slot_until_the_timeout_then_is_replaced_and_killed_when_back() {
    out_of_reach_then_replaced(TaskState::TaskUnreachable);
}

#[test]
fn unknown_is_treated_like_unreachable() {
    out_of_reach_then_replaced(TaskState::TaskUnknown);
}

fn out_of_reach_then_replaced(out_of_reach: TaskState) {
    let mut stored = registered();
    let old = task("ingester", 0, 1, TaskPhase::Running);
    stored.tasks.insert(old.task_id.clone(), old.clone());
    let mut core = core_with(stored, &one_ingester());
    let timeout = core.config.unreachable_timeout_ms;
    core.feed(subscribed("fw-1"), NOW);
    core.feed(update(&old.task_id, TaskState::TaskRunning, None), NOW);
    take(&mut core);

    core.feed(update(&old.task_id, out_of_reach, Some(b"u1")), NOW);
    let ready = take(&mut core);
    assert_eq!(
        kinds(&ready.calls),
        vec!["ACKNOWLEDGE"],
        "not terminal: no relaunch"
    );
    assert_eq!(
        core.state().tasks[&old.task_id].unreachable_since_ms,
        Some(NOW)
    );
    core.on_tick(NOW + timeout - 1);
    core.feed(
        offers(vec![offer(2, &OfferShape::default())]),
        NOW + timeout - 1,
    );
    assert_eq!(
        kinds(&take(&mut core).calls),
        vec!["DECLINE"],
        "the slot is still held before the timeout"
    );

    core.on_tick(NOW + timeout);
    let ready = take(&mut core);
    assert!(
        !kinds(&ready.calls).contains(&"KILL"),
        "no KILL to an unreachable agent"
    );
    assert_eq!(
        core.state().tasks[&old.task_id].kill,
        Some(KillIntent::Unreachable)
    );
    core.feed(
        offers(vec![offer(2, &OfferShape::default())]),
        NOW + timeout,
    );
    let ready = take(&mut core);
    assert_eq!(
        kinds(&ready.calls)[0],
        "ACCEPT",
        "a replacement is launched"
    );
    let holders: Vec<&TaskRecord> = core
        .state()
        .tasks
        .values()
        .filter(|t| t.slot == "ingester-0" && t.holds_slot())
        .collect();
    assert_eq!(holders.len(), 1, "one pod holds the slot");
    assert_ne!(holders[0].task_id, old.task_id);

    // The old agent comes back: its task is killed, the replacement is untouched.
    core.feed(
        update(&old.task_id, TaskState::TaskRunning, Some(b"u2")),
        NOW + timeout + 1,
    );
    let ready = take(&mut core);
    let killed: Vec<&str> = ready
        .calls
        .iter()
        .filter_map(|c| c.kill.as_ref())
        .map(|k| k.task_id.value.as_str())
        .collect();
    assert_eq!(killed, vec![old.task_id.as_str()]);
    let slot_before = core.state().slots.get("ingester-0").cloned();
    core.feed(
        update(&old.task_id, TaskState::TaskKilled, Some(b"u3")),
        NOW + timeout + 2,
    );
    take(&mut core);
    assert!(!core.state().tasks.contains_key(&old.task_id));
    assert_eq!(
        core.state().slots.get("ingester-0").cloned(),
        slot_before,
        "the old pod's end does not touch the replacement's slot"
    );
    assert_eq!(
        core.state()
            .tasks
            .values()
            .filter(|t| t.holds_slot())
            .count(),
        1
    );
}

#[test]
fn unreachable_that_returns_before_the_timeout_keeps_running() {
    let mut stored = registered();
    let t = task("ingester", 0, 1, TaskPhase::Running);
    stored.tasks.insert(t.task_id.clone(), t.clone());
    let mut core = core_with(stored, &one_ingester());
    core.feed(subscribed("fw-1"), NOW);
    core.feed(
        update(&t.task_id, TaskState::TaskUnreachable, Some(b"u1")),
        NOW,
    );
    core.feed(
        update(&t.task_id, TaskState::TaskRunning, Some(b"u2")),
        NOW + 1000,
    );
    take(&mut core);
    core.on_tick(NOW + 10 * core.config.unreachable_timeout_ms);
    let ready = take(&mut core);
    assert!(!kinds(&ready.calls).contains(&"KILL"));
    let record = &core.state().tasks[&t.task_id];
    assert_eq!((record.kill, record.unreachable_since_ms), (None, None));
}

#[test]
fn gone_dropped_and_lost_are_terminal_and_free_the_slot() {
    for state in [
        TaskState::TaskGone,
        TaskState::TaskDropped,
        TaskState::TaskLost,
    ] {
        let mut stored = registered();
        let t = task("ingester", 0, 1, TaskPhase::Unreachable);
        stored.tasks.insert(t.task_id.clone(), t.clone());
        let mut core = core_with(stored, &one_ingester());
        core.feed(subscribed("fw-1"), NOW);
        core.feed(update(&t.task_id, state, Some(b"u")), NOW);
        take(&mut core);
        assert!(core.state().tasks.is_empty(), "{state:?} ends the task");
        assert!(core.state().slots["ingester-0"].last_failed);
    }
}
