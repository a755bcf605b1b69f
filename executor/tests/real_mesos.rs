//! The executor on a real Mesos 1.12 master and agent (`cartrack-testcluster`), under the
//! tests' own tiny scheduler: the same cases as `devcluster.rs` (bodies in
//! `support/cases.rs`), with the real agent launching, recovering and shutting down the real
//! `cartrack-executor` binary.

mod support;

use support::backend::Backend;
use support::cases;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn a_group_of_two_tasks_reaches_running() {
    cases::a_group_of_two_tasks_reaches_running(Backend::Real).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn killing_one_task_of_a_group_ends_both() {
    cases::killing_one_task_of_a_group_ends_both(Backend::Real).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn shutdown_kills_the_tasks_and_the_executor_exits_cleanly() {
    cases::shutdown_kills_the_tasks_and_the_executor_exits_cleanly(Backend::Real).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn a_crashing_child_is_failed_with_its_exit_status() {
    cases::a_crashing_child_is_failed_with_its_exit_status(Backend::Real).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn a_failing_health_check_reports_unhealthy() {
    cases::a_failing_health_check_reports_unhealthy(Backend::Real).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn command_health_checks_report_healthy_and_kill_when_failures_run_out() {
    cases::command_health_checks_report_healthy_and_kill_when_failures_run_out(Backend::Real).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn a_command_check_reports_its_exit_code_when_it_changes() {
    cases::a_command_check_reports_its_exit_code_when_it_changes(Backend::Real).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn executor_kill_9_leaves_no_child_and_the_tasks_end_terminal() {
    cases::executor_kill_9_leaves_no_child_and_the_tasks_end_terminal(Backend::Real).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn relative_commands_run_the_binaries_fetched_with_the_executor() {
    cases::relative_commands_run_the_binaries_fetched_with_the_executor(Backend::Real).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn kill_escalates_to_sigkill_when_the_tasks_kill_policy_grace_runs_out() {
    cases::kill_escalates_to_sigkill_when_the_tasks_kill_policy_grace_runs_out(Backend::Real).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn a_checkpointing_executor_survives_an_agent_restart() {
    cases::a_checkpointing_executor_survives_an_agent_restart(Backend::Real).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn without_checkpointing_an_agent_restart_ends_the_executor_and_its_tasks() {
    cases::without_checkpointing_an_agent_restart_ends_the_executor_and_its_tasks(Backend::Real)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn an_executor_without_disk_fails_every_task_of_the_group() {
    cases::an_executor_without_disk_fails_every_task_of_the_group(Backend::Real).await;
}
