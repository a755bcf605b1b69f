//! A master that takes calls but holds its answers back far longer than the scheduler's
//! `--call-timeout`: the operator API keeps answering, the unanswered ACCEPT is reconciled
//! rather than sent again, and once the master answers again the scale-up completes with no
//! slot run twice and no launch lost.

mod support;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::Duration;

use cartrack_devcluster::LogEntry;
use mesos_proto::v1::scheduler::{call, Call};
use support::cases::task_ids;
use support::invariants::{
    assert_no_slot_runs_twice, assert_scheduler_holds_each_slot_once, live_on_cluster,
    slot_and_task, wait_every_update_acknowledged,
};
use support::slow_master::{accepted_task_ids, launched_by, ApiCall, SlowMaster};
use support::{calls, is, launched_pods, wait_until, Scheduler};

/// How long the master holds back each answer: far beyond the scheduler's 1 s call timeout.
const HOLD: Duration = Duration::from_secs(20);
/// The bound within which the API must answer while the master is slow: generous, so a
/// loaded machine passes; a loop waiting on the master would take the whole [`HOLD`].
const ANSWER_BOUND: Duration = Duration::from_secs(3);
/// The bound for pods to run and calls to arrive.
const REACH: Duration = Duration::from_secs(45);

/// Task states after which a task no longer runs.
const TERMINAL: [&str; 8] = [
    "TASK_FINISHED",
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_ERROR",
    "TASK_LOST",
    "TASK_DROPPED",
    "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_while_the_master_holds_answers_back_and_no_launch_is_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = SlowMaster::start(dir.path(), 2, REACH).await;
    // Every task the scheduler ever showed, to check at the end that none was lost.
    let recorded = RefCell::new(scheduler_task_ids(&f.scheduler).await);

    let mark = f.cluster.log().len();
    let held = f.hold_answers_and_scale(HOLD, 4, REACH).await;
    for request in [ApiCall::Health, ApiCall::State, ApiCall::SetCount(4)] {
        let answer = tokio::time::timeout(ANSWER_BOUND, f.request(request))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{} unanswered after {ANSWER_BOUND:?} while the master holds answers back; \
                     scheduler log:\n{}",
                    request.name(),
                    f.scheduler.log()
                )
            });
        assert_eq!(answer.expect("the API answers"), 200, "{}", request.name());
    }
    // The launches of the held-back ACCEPT are recorded.
    let shown = scheduler_task_ids(&f.scheduler).await;
    recorded.borrow_mut().extend(shown);
    let missing: Vec<_> = held.difference(&recorded.borrow()).cloned().collect();
    assert!(missing.is_empty(), "launched but not recorded: {missing:?}");
    assert_slots_held_once(&f).await;
    // The sender moves past the ACCEPT once its answer times out (it is not sent again),
    // and sends again the calls after it whose answers time out: wait for one of those.
    wait_until(REACH, "a call after the ACCEPT sent again", || async {
        let log = f.cluster.log();
        let after_accept: Vec<&Call> = log[mark..]
            .iter()
            .filter_map(|entry| match entry {
                LogEntry::SchedulerCall { call, .. } => Some(call),
                _ => None,
            })
            .skip_while(|call| launched_by(call).is_empty())
            .filter(|call| !is(call, call::Type::Accept))
            .collect();
        let repeated = after_accept
            .iter()
            .enumerate()
            .any(|(i, c)| after_accept[i + 1..].contains(c));
        repeated.then_some(())
    })
    .await;

    f.release();
    let running = wait_until(REACH, "4 pods RUNNING", || async {
        assert_slots_held_once(&f).await;
        let state = f.scheduler.get("/v1/state").await?;
        let ids = task_ids(&state);
        recorded.borrow_mut().extend(ids.iter().cloned());
        let tasks = state["tasks"].as_array()?;
        (tasks.len() == 4 && tasks.iter().all(|t| t["state"] == "TASK_RUNNING")).then_some(ids)
    })
    .await;

    wait_until(REACH, "no task owing a reconciliation answer", || async {
        let health = f.scheduler.get("/v1/health").await?;
        (health["reconciling"] == 0).then_some(())
    })
    .await;
    wait_every_update_acknowledged(&f.cluster, REACH).await;
    wait_until(REACH, "the cluster runs each of 4 slots once", || async {
        let live = live_on_cluster(&f.cluster).await;
        (live.len() == 4 && live.values().all(|ids| ids.len() == 1)).then_some(())
    })
    .await;
    assert_slots_held_once(&f).await;
    let slots: BTreeSet<_> = running.iter().filter_map(|t| slot_and_task(t)).collect();
    assert_eq!(slots.len(), 4, "4 pods in 4 distinct slots: {running:?}");

    // No launch intent lost: every task the scheduler showed or the master was asked to
    // launch runs now, or ended (reconciled as LOST/DROPPED, ...) and its slot runs another.
    let log = f.cluster.log();
    let ended = ended_task_ids(&log);
    let mut intents = recorded.into_inner();
    intents.extend(accepted_task_ids(&log));
    let lost: Vec<_> = intents
        .iter()
        .filter(|t| !running.contains(*t) && !ended.contains(*t))
        .collect();
    assert!(lost.is_empty(), "neither running nor ended: {lost:?}");
    // An ACCEPT left unanswered is reconciled, never sent again.
    let accepts: Vec<BTreeSet<String>> = calls(&f.cluster)
        .iter()
        .map(|(c, _)| launched_by(c))
        .filter(|ids| !ids.is_empty())
        .collect();
    for task in &held {
        let sent = accepts.iter().filter(|ids| ids.contains(task)).count();
        assert_eq!(sent, 1, "{task} was launched by {sent} ACCEPTs");
    }
    // The master took the held-back ACCEPT: reconciling its tasks finds them, so nothing is
    // launched again.
    assert_eq!(launched_pods(&f.cluster), 4, "nothing relaunched");
    drop(f.scheduler);
    f.cluster.shutdown().await;
}

/// Asserts both sides of "no slot with two live pods": the master's and the scheduler's.
async fn assert_slots_held_once(f: &SlowMaster) {
    assert_no_slot_runs_twice(&f.cluster).await;
    assert_scheduler_holds_each_slot_once(&f.scheduler).await;
}

async fn scheduler_task_ids(scheduler: &Scheduler) -> BTreeSet<String> {
    task_ids(
        &scheduler
            .get("/v1/state")
            .await
            .expect("scheduler /v1/state"),
    )
}

/// Tasks the master reported in a terminal state.
fn ended_task_ids(log: &[LogEntry]) -> BTreeSet<String> {
    log.iter()
        .filter_map(|entry| match entry {
            LogEntry::SchedulerEvent {
                task_id: Some(task),
                state: Some(state),
                ..
            } if TERMINAL.contains(&state.as_str()) => Some(task.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_answered_while_the_master_is_slow_is_saved_and_survives_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut f = SlowMaster::start(dir.path(), 2, REACH).await;
    // The sender is stuck on calls the master does not answer; the write must not wait
    // for it, nor be answered before it is saved.
    f.hold_answers_and_scale(HOLD, 4, REACH).await;
    let answer = tokio::time::timeout(ANSWER_BOUND, f.request(ApiCall::SetCount(5)))
        .await
        .expect("the write is answered while the master holds answers back");
    assert_eq!(answer.expect("the API answers"), 200);
    f.scheduler.kill9();
    f.release();
    f.scheduler.restart();
    let count = wait_until(REACH, "the restarted scheduler's state", || async {
        let state = f.scheduler.get("/v1/state").await?;
        state["groups"][0]["count"].as_u64()
    })
    .await;
    assert_eq!(count, 5, "a write answered 200 was saved before the answer");
    f.scheduler.wait_running(5, REACH).await;
}
