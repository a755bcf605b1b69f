//! Tasks with only a `CommandInfo`: the agent runs the command itself, standing in for Mesos'
//! built-in command executor (RUNNING on start, FINISHED / FAILED on exit, KILLED on KILL).

mod support;

use mesos_proto::v1::task_status::Reason;
use mesos_proto::v1::{CommandInfo, TaskInfo, TaskState};
use support::*;

fn command_task(id: &str, agent: &str, shell: &str) -> TaskInfo {
    let mut t = task(id, agent, "", None);
    t.command = Some(CommandInfo {
        value: Some(shell.into()),
        ..Default::default()
    });
    t
}

#[tokio::test]
async fn a_command_that_exits_0_runs_then_finishes() {
    let (cluster, _dir) = cluster(|_| {}).await;
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("c", &[])).await;
    s.launch_on_next_offer(|agent| vec![launch(vec![command_task("t", agent, "true")])])
        .await;
    let running = s.update("t").await;
    assert_eq!(running.state(), TaskState::TaskRunning);
    assert!(running.uuid.is_some());
    s.ack(&running).await;
    let finished = s.until_state("t", TaskState::TaskFinished).await;
    assert!(finished.uuid.is_some());
}

#[tokio::test]
async fn a_command_that_exits_non_zero_fails_with_its_status() {
    let (cluster, _dir) = cluster(|_| {}).await;
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("c", &[])).await;
    s.launch_on_next_offer(|agent| vec![launch(vec![command_task("t", agent, "exit 7")])])
        .await;
    let failed = s.until_state("t", TaskState::TaskFailed).await;
    assert_eq!(failed.reason(), Reason::CommandExecutorFailed);
    assert!(failed.message().contains('7'), "{}", failed.message());
}

#[tokio::test]
async fn killing_a_running_command_ends_it_killed() {
    let (cluster, _dir) = cluster(|_| {}).await;
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("c", &[])).await;
    s.launch_on_next_offer(|agent| vec![launch(vec![command_task("t", agent, "sleep 30")])])
        .await;
    s.until_state("t", TaskState::TaskRunning).await;
    assert_eq!(s.kill("t").await, 202);
    s.until_state("t", TaskState::TaskKilled).await;
}

#[tokio::test]
async fn a_task_with_both_command_and_executor_is_task_error() {
    let (cluster, _dir) = cluster(|_| {}).await;
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("c", &[])).await;
    s.launch_on_next_offer(|agent| {
        let mut t = command_task("t", agent, "true");
        t.executor = Some(test_executor("e"));
        vec![launch(vec![t])]
    })
    .await;
    let status = s.update("t").await;
    assert_eq!(status.state(), TaskState::TaskError);
    assert_eq!(status.reason(), Reason::TaskInvalid);
    assert!(status.uuid.is_none());
}
