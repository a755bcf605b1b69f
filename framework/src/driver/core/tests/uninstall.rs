//! The uninstall sequence: kill everything, wait, TEARDOWN, delete — each step resumable.

use super::*;
use crate::driver::TeardownOutcome;
use crate::records::{UninstallRecord, UninstallStage};

/// Two running ingesters adopted by a subscribed core (reconciliation answered).
fn running_two() -> (Core, Vec<String>) {
    let mut stored = registered();
    let mut ids = Vec::new();
    for i in 0..2 {
        let t = task("ingester", i, 1, TaskPhase::Running);
        ids.push(t.task_id.clone());
        stored.tasks.insert(t.task_id.clone(), t);
    }
    let mut core = core_with(stored, &group_toml("ingester", 2, 0.1, 64.0, &[], &[]));
    core.feed(subscribed("fw-1"), NOW);
    for id in &ids {
        core.feed(update(id, TaskState::TaskRunning, None), NOW);
    }
    take(&mut core);
    (core, ids)
}

fn stage(core: &Core) -> Option<UninstallStage> {
    core.state().uninstall.map(|u| u.stage)
}

fn uninstall(core: &mut Core, now_ms: u64) {
    core.apply(Request::Uninstall.into(), now_ms)
        .expect("uninstall is never refused");
}

#[test]
fn uninstall_persists_its_start_then_kills_every_task_and_launches_nothing() {
    let (mut core, ids) = running_two();
    uninstall(&mut core, NOW);
    let ready = take(&mut core);
    assert!(
        matches!(
            ready.changes.first(),
            Some(Change::Uninstall(UninstallRecord {
                stage: UninstallStage::KillingTasks,
                ..
            }))
        ),
        "the start is persisted before any KILL: {:?}",
        ready.changes
    );
    assert_eq!(kinds(&ready.calls), vec!["SUPPRESS", "KILL", "KILL"]);
    assert!(ids
        .iter()
        .all(|id| core.state().tasks[id].kill == Some(KillIntent::Uninstall)));
    // Offers are declined for long, never used.
    core.feed(offers(vec![offer(2, &OfferShape::default())]), NOW + 1);
    let ready = take(&mut core);
    assert_eq!(kinds(&ready.calls), vec!["DECLINE", "SUPPRESS"]);
    let decline = ready.calls[0].decline.as_ref().expect("decline");
    assert!(decline.filters.as_ref().and_then(|f| f.refuse_seconds) >= Some(3600.0));
    // A KILL is re-sent until the task ends.
    core.feed(Input::Tick, NOW + 5_000);
    assert_eq!(kinds(&take(&mut core).calls), vec!["KILL", "KILL"]);
    // Asking again changes nothing; any other change is refused.
    uninstall(&mut core, NOW + 5_001);
    assert!(take(&mut core).changes.is_empty());
    let scale = Request::SetCount {
        group: "ingester".into(),
        count: 3,
    };
    assert_eq!(
        core.apply(scale.into(), NOW + 5_002),
        Err(RequestError::Uninstalling)
    );
    assert!(take(&mut core).changes.is_empty());
}

#[test]
fn teardown_only_after_the_last_task_ended_then_the_state_is_deleted() {
    let (mut core, ids) = running_two();
    uninstall(&mut core, NOW);
    take(&mut core);
    core.feed(
        update(&ids[0], TaskState::TaskKilled, Some(b"u1")),
        NOW + 10,
    );
    let ready = take(&mut core);
    assert!(!kinds(&ready.calls).contains(&"TEARDOWN"), "one task left");
    assert_eq!(stage(&core), Some(UninstallStage::KillingTasks));
    core.feed(
        update(&ids[1], TaskState::TaskKilled, Some(b"u2")),
        NOW + 20,
    );
    let ready = take(&mut core);
    assert_eq!(kinds(&ready.calls), vec!["ACKNOWLEDGE", "TEARDOWN"]);
    assert!(
        ready.changes.iter().any(|c| matches!(
            c,
            Change::Uninstall(UninstallRecord {
                stage: UninstallStage::TearingDown,
                teardown_sent_ms: Some(_),
                ..
            })
        )),
        "TearingDown is persisted with the TEARDOWN: {:?}",
        ready.changes
    );
    assert!(core.state().tasks.is_empty());
    let plan = core.uninstall_plan().expect("a plan");
    assert!(!plan.is_complete());
    // No answer yet: sent again after a while.
    core.feed(Input::Tick, NOW + 5_000);
    assert!(kinds(&take(&mut core).calls).is_empty());
    core.feed(Input::Tick, NOW + 20_020);
    assert_eq!(kinds(&take(&mut core).calls), vec!["TEARDOWN"]);
    core.feed(
        Input::Teardown(TeardownOutcome::Failed {
            reason: "timeout".into(),
        }),
        NOW + 20_030,
    );
    assert!(!core.take_ready().delete_state, "failed: not done");
    core.feed(Input::Teardown(TeardownOutcome::Done), NOW + 20_040);
    let ready = core.take_ready();
    assert!(ready.delete_state);
    assert_eq!(stage(&core), Some(UninstallStage::Done));
    let plan = core.uninstall_plan().expect("a plan");
    assert!(
        !plan.is_complete(),
        "complete only once the shell deleted the state"
    );
    let deregister = &plan.phases[2];
    assert_eq!(deregister.steps[0].status, "COMPLETE", "torn down");
    assert_eq!(
        deregister.steps[1].status, "IN_PROGRESS",
        "deleting the state"
    );
    assert!(crate::driver::UninstallPlan::complete(NOW).is_complete());
}

#[test]
fn a_restart_mid_uninstall_reconciles_and_finishes_without_relaunching() {
    // Stored as a crash left it: uninstalling, one task killed once, one already ended.
    let mut stored = registered();
    let mut t = task("ingester", 0, 1, TaskPhase::Running);
    t.kill = Some(KillIntent::Uninstall);
    t.last_kill_sent_ms = Some(NOW - 60_000);
    stored.tasks.insert(t.task_id.clone(), t.clone());
    stored.uninstall = Some(UninstallRecord {
        started_at_ms: NOW - 60_000,
        stage: UninstallStage::KillingTasks,
        teardown_sent_ms: None,
    });
    let mut core = core_with(stored, &group_toml("ingester", 2, 0.1, 64.0, &[], &[]));
    take(&mut core);
    core.feed(subscribed("fw-1"), NOW);
    let ready = take(&mut core);
    assert_eq!(kinds(&ready.calls), vec!["RECONCILE", "KILL"]);
    core.feed(offers(vec![offer(2, &OfferShape::default())]), NOW + 1);
    assert!(
        !kinds(&take(&mut core).calls).contains(&"ACCEPT"),
        "the empty slot is not relaunched"
    );
    // Reconciliation says the master has it no more.
    core.feed(update(&t.task_id, TaskState::TaskGone, None), NOW + 2);
    assert_eq!(kinds(&take(&mut core).calls), vec!["TEARDOWN"]);
}

#[test]
fn a_master_that_removed_the_framework_already_finishes_it() {
    // The TEARDOWN went out before a crash: the re-subscription is refused.
    let mut stored = registered();
    stored.uninstall = Some(UninstallRecord {
        started_at_ms: NOW - 60_000,
        stage: UninstallStage::TearingDown,
        teardown_sent_ms: Some(NOW - 1_000),
    });
    let mut core = core_with(stored, &one_ingester());
    take(&mut core);
    core.feed(
        Input::Event(Box::new(Event {
            r#type: Some(event::Type::Error as i32),
            error: Some(event::Error {
                message: "Framework has been removed".into(),
            }),
            ..Event::default()
        })),
        NOW,
    );
    assert!(core.take_ready().delete_state);
}

#[test]
fn unreachable_tasks_do_not_hold_the_uninstall_up() {
    let (mut core, ids) = running_two();
    core.feed(update(&ids[1], TaskState::TaskUnreachable, None), NOW);
    take(&mut core);
    uninstall(&mut core, NOW);
    let ready = take(&mut core);
    assert_eq!(
        kinds(&ready.calls),
        vec!["SUPPRESS", "KILL"],
        "no KILL reaches it"
    );
    core.feed(update(&ids[0], TaskState::TaskKilled, None), NOW + 10);
    assert_eq!(kinds(&take(&mut core).calls), vec!["TEARDOWN"]);
}

#[test]
fn a_core_that_never_registered_deletes_its_state_at_once() {
    let mut core = core_with(StoredState::default(), &one_ingester());
    take(&mut core);
    uninstall(&mut core, NOW);
    let ready = core.take_ready();
    assert!(ready.delete_state);
    assert!(ready.effects.is_empty(), "nothing to kill or tear down");
}
