//! End to end on the dev cluster: a tiny scheduler launches task groups
//! into the real `cartrack-executor` binary through LAUNCH_GROUP, as the cartrack scheduler
//! will on Mesos. The cases shared with `real_mesos.rs` are in `support/cases.rs`; the ones
//! below them need the dev cluster's fault injection and event log.

mod support;

use cartrack_devcluster::LogEntry;
use mesos_proto::v1::executor::call as ecall;
use mesos_proto::v1::TaskState;
use support::backend::{Backend, Env, EXECUTOR, T};
use support::{cases, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_of_two_tasks_reaches_running() {
    cases::a_group_of_two_tasks_reaches_running(Backend::Dev).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_task_of_a_group_ends_both() {
    cases::killing_one_task_of_a_group_ends_both(Backend::Dev).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_kills_the_tasks_and_the_executor_exits_cleanly() {
    cases::shutdown_kills_the_tasks_and_the_executor_exits_cleanly(Backend::Dev).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashing_child_is_failed_with_its_exit_status() {
    cases::a_crashing_child_is_failed_with_its_exit_status(Backend::Dev).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_health_check_reports_unhealthy() {
    cases::a_failing_health_check_reports_unhealthy(Backend::Dev).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_kill_9_leaves_no_child_and_the_tasks_end_terminal() {
    cases::executor_kill_9_leaves_no_child_and_the_tasks_end_terminal(Backend::Dev).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relative_commands_run_the_binaries_fetched_with_the_executor() {
    cases::relative_commands_run_the_binaries_fetched_with_the_executor(Backend::Dev).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_escalates_to_sigkill_when_the_tasks_kill_policy_grace_runs_out() {
    cases::kill_escalates_to_sigkill_when_the_tasks_kill_policy_grace_runs_out(Backend::Dev).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_health_checks_report_healthy_and_kill_when_failures_run_out() {
    cases::command_health_checks_report_healthy_and_kill_when_failures_run_out(Backend::Dev).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_check_reports_its_exit_code_when_it_changes() {
    cases::a_command_check_reports_its_exit_code_when_it_changes(Backend::Dev).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpointing_executor_survives_an_agent_restart() {
    cases::a_checkpointing_executor_survives_an_agent_restart(Backend::Dev).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_checkpointing_an_agent_restart_ends_the_executor_and_its_tasks() {
    cases::without_checkpointing_an_agent_restart_ends_the_executor_and_its_tasks(Backend::Dev)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_without_disk_fails_every_task_of_the_group() {
    cases::an_executor_without_disk_fails_every_task_of_the_group(Backend::Dev).await;
}

/// ACKNOWLEDGED events the agent wrote to the executor so far.
fn acknowledgements(env: &Env) -> usize {
    env.dev()
        .log()
        .iter()
        .filter(|e| {
            matches!(e, LogEntry::ExecutorEvent { event_type, .. } if event_type == "ACKNOWLEDGED")
        })
        .count()
}

async fn wait_executor_calls(
    env: &Env,
    kind: ecall::Type,
    n: usize,
) -> Vec<mesos_proto::v1::executor::Call> {
    let mut calls = Vec::new();
    let ok = wait_until(T, || {
        calls = env.executor_calls(kind);
        calls.len() >= n
    })
    .await;
    assert!(ok, "expected {n} {kind:?} calls, saw {}", calls.len());
    calls
}

/// The dev cluster, like a Mesos agent, acknowledges an update to the executor as soon as it
/// takes it, so on a healthy connection nothing is left unacknowledged; the executor must then
/// re-subscribe with nothing to re-send and lose no later update. (Re-sending truly
/// unacknowledged updates is the next test, with the agent withholding its acknowledgements.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_resubscribes_and_no_update_is_lost_or_repeated() {
    let env = Env::start(Backend::Dev, true, false).await;
    env.launch(vec![env.sleeper("a")]).await;
    env.framework
        .wait_update(T, "a", TaskState::TaskRunning)
        .await;
    assert!(
        wait_until(T, || acknowledgements(&env) >= 2).await,
        "the agent never acknowledged"
    );

    env.dev()
        .drop_executor_connection(&env.agent_id, EXECUTOR)
        .await;
    let subscribes = wait_executor_calls(&env, ecall::Type::Subscribe, 2).await;
    let second = subscribes[1]
        .subscribe
        .clone()
        .expect("SUBSCRIBE carries `subscribe`");
    assert!(
        second.unacknowledged_updates.is_empty(),
        "acknowledged updates were re-sent"
    );
    assert!(
        second.unacknowledged_tasks.is_empty(),
        "a task the agent knows was re-sent"
    );

    // The task dies while the executor is disconnected again: its FAILED update goes either
    // inside the next SUBSCRIBE or as an UPDATE after it, and reaches the scheduler once.
    let pid = env.pid("a").await;
    env.dev()
        .drop_executor_connection(&env.agent_id, EXECUTOR)
        .await;
    // SAFETY: plain kill(2) of the task process this test launched.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    let failed = env
        .framework
        .wait_update(T, "a", TaskState::TaskFailed)
        .await;
    assert_eq!(
        failed.message.as_deref(),
        Some("Command terminated by signal 9")
    );
    wait_executor_calls(&env, ecall::Type::Subscribe, 3).await;
    let states: Vec<_> = env
        .framework
        .updates()
        .iter()
        .filter(|s| s.task_id.value == "a")
        .map(|s| s.state())
        .collect();
    assert_eq!(
        states,
        vec![
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskFailed
        ],
        "each update reached the scheduler exactly once"
    );
    env.shutdown().await;
}

/// The agent withholds its ACKNOWLEDGED events, then drops the connection: the executor must send
/// exactly the updates it was never acknowledged inside its next SUBSCRIBE, the agent takes them
/// (deduplicated by uuid), and each reaches the scheduler once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_updates_are_resent_inside_subscribe_and_delivered_once() {
    let env = Env::start(Backend::Dev, true, false).await;
    env.dev().set_withhold_executor_acks(true);
    env.launch(vec![env.sleeper("a")]).await;
    let running = env
        .framework
        .wait_update(T, "a", TaskState::TaskRunning)
        .await;
    assert_eq!(acknowledgements(&env), 0, "acknowledgements were withheld");

    env.dev().set_withhold_executor_acks(false);
    env.dev()
        .drop_executor_connection(&env.agent_id, EXECUTOR)
        .await;
    let subscribes = wait_executor_calls(&env, ecall::Type::Subscribe, 2).await;
    let resent: Vec<(TaskState, Option<Vec<u8>>)> = subscribes[1]
        .subscribe
        .clone()
        .expect("SUBSCRIBE carries `subscribe`")
        .unacknowledged_updates
        .iter()
        .map(|u| (u.status.state(), u.status.uuid.clone()))
        .collect();
    let states: Vec<TaskState> = resent.iter().map(|(state, _)| *state).collect();
    assert_eq!(
        states,
        vec![TaskState::TaskStarting, TaskState::TaskRunning],
        "both unacknowledged updates are re-sent, in order"
    );
    assert_eq!(resent[1].1, running.uuid, "re-sent with its original uuid");
    // Now acknowledged: a third connection drop re-sends nothing.
    assert!(
        wait_until(T, || acknowledgements(&env) >= 2).await,
        "the re-sent updates were acknowledged"
    );
    env.dev()
        .drop_executor_connection(&env.agent_id, EXECUTOR)
        .await;
    let subscribes = wait_executor_calls(&env, ecall::Type::Subscribe, 3).await;
    let third = subscribes[2].subscribe.clone().expect("subscribe");
    assert!(
        third.unacknowledged_updates.is_empty(),
        "acknowledged updates were re-sent"
    );
    let delivered: Vec<TaskState> = env
        .framework
        .updates()
        .iter()
        .filter(|s| s.task_id.value == "a")
        .map(|s| s.state())
        .collect();
    assert_eq!(
        delivered,
        vec![TaskState::TaskStarting, TaskState::TaskRunning],
        "each update reached the scheduler exactly once"
    );
    env.shutdown().await;
}
