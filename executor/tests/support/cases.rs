//! The end-to-end cases both backends run: a tiny scheduler launches task groups into the real
//! `cartrack-executor` binary through LAUNCH_GROUP, as the cartrack scheduler does on Mesos.
//! `tests/devcluster.rs` calls each with [`Backend::Dev`], `tests/real_mesos.rs` with
//! [`Backend::Real`]; what differs between the two is only in [`Env`].

use std::path::Path;
use std::time::Duration;

use mesos_proto::v1::task_status::{Reason, Source};
use mesos_proto::v1::{
    check_info, command_info, health_check, scheduler, CheckInfo, CommandInfo, Environment,
    HealthCheck, TaskState,
};

use super::backend::{executor, find_file, Backend, Env, EXECUTOR, T};
use super::framework;
use super::{alive, wait_until};

fn fast_check(kind: health_check::Type) -> HealthCheck {
    HealthCheck {
        r#type: Some(kind as i32),
        delay_seconds: Some(0.0),
        interval_seconds: Some(0.1),
        timeout_seconds: Some(2.0),
        grace_period_seconds: Some(0.0),
        consecutive_failures: Some(1000),
        ..Default::default()
    }
}

/// The states `task` went through, as the scheduler heard them.
fn states_of(env: &Env, task: &str) -> Vec<TaskState> {
    env.framework
        .updates()
        .iter()
        .filter(|s| s.task_id.value == task)
        .map(|s| s.state())
        .collect()
}

/// The FAILURE event by which the agent (through the master) tells the scheduler that the
/// executor ended, with its exit status.
async fn executor_failure(env: &Env) -> scheduler::event::Failure {
    env.framework
        .wait_event(T, |e| {
            e.failure.as_ref().is_some_and(|f| {
                f.executor_id
                    .as_ref()
                    .is_some_and(|id| id.value == EXECUTOR)
            })
        })
        .await
        .failure
        .unwrap_or_default()
}

pub async fn a_group_of_two_tasks_reaches_running(backend: Backend) {
    let env = Env::start(backend, false, false).await;
    env.launch(vec![env.sleeper("a"), env.sleeper("b")]).await;
    env.framework
        .wait_update(T, "a", TaskState::TaskRunning)
        .await;
    env.framework
        .wait_update(T, "b", TaskState::TaskRunning)
        .await;
    assert!(alive(env.pid("a").await));
    assert!(alive(env.pid("b").await));
    for task in ["a", "b"] {
        assert_eq!(
            states_of(&env, task),
            vec![TaskState::TaskStarting, TaskState::TaskRunning]
        );
    }
    env.shutdown().await;
}

pub async fn killing_one_task_of_a_group_ends_both(backend: Backend) {
    let env = Env::start(backend, false, true).await;
    env.launch(vec![env.sleeper("a"), env.sleeper("b")]).await;
    env.framework
        .wait_update(T, "b", TaskState::TaskRunning)
        .await;
    let pids = [env.pid("a").await, env.pid("b").await];
    env.framework.kill("a", &env.agent_id).await;
    env.framework
        .wait_update(T, "a", TaskState::TaskKilling)
        .await;
    env.framework
        .wait_update(T, "a", TaskState::TaskKilled)
        .await;
    let b = env
        .framework
        .wait_update(T, "b", TaskState::TaskKilled)
        .await;
    assert!(b.message.unwrap_or_default().contains("task a"));
    assert!(wait_until(T, || pids.iter().all(|p| !alive(*p))).await);
    env.shutdown().await;
}

pub async fn shutdown_kills_the_tasks_and_the_executor_exits_cleanly(backend: Backend) {
    let env = Env::start(backend, false, false).await;
    env.launch(vec![env.sleeper("a"), env.sleeper("b")]).await;
    env.framework
        .wait_update(T, "b", TaskState::TaskRunning)
        .await;
    let pids = [env.pid("a").await, env.pid("b").await];
    let executor_pid = env.executor_pid().await;
    env.framework.shutdown(EXECUTOR, &env.agent_id).await;
    env.framework
        .wait_update(T, "a", TaskState::TaskKilled)
        .await;
    env.framework
        .wait_update(T, "b", TaskState::TaskKilled)
        .await;
    let failure = executor_failure(&env).await;
    assert_eq!(failure.status, Some(0), "{failure:?}");
    assert!(!alive(executor_pid), "the executor outlived its FAILURE");
    assert!(pids.iter().all(|p| !alive(*p)));
    env.shutdown().await;
}

pub async fn a_crashing_child_is_failed_with_its_exit_status(backend: Backend) {
    let env = Env::start(backend, false, false).await;
    let crash = framework::task(
        "crash",
        "echo starting; echo 'cannot open config.toml' >&2; exit 3",
        &env.agent_id,
    );
    env.launch(vec![crash, env.sleeper("sibling")]).await;
    let failed = env
        .framework
        .wait_update(T, "crash", TaskState::TaskFailed)
        .await;
    // The end of its stderr says why, without opening the sandbox.
    assert_eq!(
        failed.message.as_deref(),
        Some("Command exited with status 3; stderr ends: cannot open config.toml")
    );
    // All-or-nothing: the sibling goes down with it.
    env.framework
        .wait_update(T, "sibling", TaskState::TaskKilled)
        .await;
    env.shutdown().await;
}

pub async fn a_failing_health_check_reports_unhealthy(backend: Backend) {
    let env = Env::start(backend, false, false).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut task = env.sleeper("h");
    task.health_check = Some(HealthCheck {
        r#type: Some(health_check::Type::Http as i32),
        http: Some(health_check::HttpCheckInfo {
            port: u32::from(port),
            path: Some("/health".into()),
            ..Default::default()
        }),
        delay_seconds: Some(0.0),
        interval_seconds: Some(0.2),
        grace_period_seconds: Some(0.0),
        consecutive_failures: Some(1000),
        ..Default::default()
    });
    env.launch(vec![task]).await;
    let unhealthy = env
        .framework
        .wait_event(T, |e| {
            e.update
                .as_ref()
                .is_some_and(|u| u.status.task_id.value == "h" && u.status.healthy == Some(false))
        })
        .await
        .update
        .unwrap()
        .status;
    assert_eq!(unhealthy.state(), TaskState::TaskRunning);
    assert_eq!(
        unhealthy.reason(),
        Reason::TaskHealthCheckStatusUpdated,
        "{unhealthy:?}"
    );
    env.shutdown().await;
}

pub async fn command_health_checks_report_healthy_and_kill_when_failures_run_out(backend: Backend) {
    let env = Env::start(backend, false, false).await;
    let mut good = fast_check(health_check::Type::Command);
    good.command = Some(mesos_proto::v1::CommandInfo {
        value: Some("test -d .".into()),
        ..Default::default()
    });
    let mut bad = good.clone();
    if let Some(command) = bad.command.as_mut() {
        command.value = Some("exit 1".into());
    }
    bad.consecutive_failures = Some(2);
    // The failing check starts later, so the healthy report of `ok` comes first.
    bad.delay_seconds = Some(1.0);
    let mut ok = env.sleeper("ok");
    ok.health_check = Some(good);
    let mut sick = env.sleeper("sick");
    sick.health_check = Some(bad);
    env.launch(vec![ok, sick]).await;
    env.framework
        .wait_event(T, |e| {
            e.update
                .as_ref()
                .is_some_and(|u| u.status.task_id.value == "ok" && u.status.healthy == Some(true))
        })
        .await;
    let killed = env
        .framework
        .wait_update(T, "sick", TaskState::TaskKilled)
        .await;
    assert_eq!(killed.healthy, Some(false));
    assert!(killed.message.unwrap_or_default().contains("health check"));
    // All-or-nothing: the healthy member goes down with its group.
    let sibling = env
        .framework
        .wait_update(T, "ok", TaskState::TaskKilled)
        .await;
    assert_eq!(sibling.healthy, Some(true));
    env.shutdown().await;
}

/// A command check that fails until the task creates `ready` (about a second after it
/// starts), then passes: the scheduler hears exactly two check results, non-zero then 0, and
/// the failing check never harms the task.
pub async fn a_command_check_reports_its_exit_code_when_it_changes(backend: Backend) {
    let env = Env::start(backend, false, false).await;
    let mut task = framework::task("c", "sleep 1; touch ready; exec sleep 300", &env.agent_id);
    task.check = Some(CheckInfo {
        r#type: Some(check_info::Type::Command as i32),
        command: Some(check_info::Command {
            command: CommandInfo {
                value: Some("test -f ready".into()),
                ..Default::default()
            },
        }),
        delay_seconds: Some(0.0),
        interval_seconds: Some(0.1),
        timeout_seconds: Some(10.0),
        ..Default::default()
    });
    env.launch(vec![task]).await;
    let exit_code = |status: &mesos_proto::v1::TaskStatus| {
        status
            .check_status
            .as_ref()
            .and_then(|check| check.command.as_ref())
            .and_then(|command| command.exit_code)
    };
    env.framework
        .wait_event(T, |e| {
            e.update
                .as_ref()
                .is_some_and(|u| u.status.task_id.value == "c" && exit_code(&u.status) == Some(0))
        })
        .await;
    let check_updates: Vec<_> = env
        .framework
        .updates()
        .into_iter()
        .filter(|s| s.task_id.value == "c" && s.reason() == Reason::TaskCheckStatusUpdated)
        .collect();
    let codes: Vec<_> = check_updates.iter().map(exit_code).collect();
    assert_eq!(codes.len(), 2, "{check_updates:?}");
    assert!(matches!(codes[0], Some(code) if code != 0), "{codes:?}");
    assert_eq!(codes[1], Some(0));
    for update in &check_updates {
        assert_eq!(update.state(), TaskState::TaskRunning);
        assert_eq!(
            update.check_status.as_ref().map(|c| c.r#type()),
            Some(check_info::Type::Command)
        );
    }
    assert!(!states_of(&env, "c")
        .iter()
        .any(|state| TaskState::is_terminal(*state)));
    env.shutdown().await;
}

/// `kill -9` of the executor: the guard takes every task process (grandchildren too) down,
/// the agent fails the tasks and reports the executor's end.
pub async fn executor_kill_9_leaves_no_child_and_the_tasks_end_terminal(backend: Backend) {
    let env = Env::start(backend, false, false).await;
    let grandchild = framework::task(
        "b",
        &format!(
            "sleep 300 & echo $! > {}; wait",
            env.pid_file("b").display()
        ),
        &env.agent_id,
    );
    env.launch(vec![env.sleeper("a"), grandchild]).await;
    env.framework
        .wait_update(T, "b", TaskState::TaskRunning)
        .await;
    let pids = [env.pid("a").await, env.pid("b").await];
    let executor_pid = env.executor_pid().await;
    // SAFETY: plain kill(2) of the executor process this test's cluster started.
    unsafe {
        libc::kill(executor_pid, libc::SIGKILL);
    }
    assert!(
        wait_until(T, || pids.iter().all(|p| !alive(*p))).await,
        "a task process outlived the executor"
    );
    let is_terminal_update = |e: &scheduler::Event, task: &str| {
        e.update.as_ref().is_some_and(|u| {
            u.status.task_id.value == task && TaskState::is_terminal(u.status.state())
        })
    };
    for task in ["a", "b"] {
        env.framework
            .wait_event(T, |e| is_terminal_update(e, task))
            .await;
    }
    let failure = executor_failure(&env).await;
    // The raw wait(2) status, as the agent reports it: killed by signal 9 (an exit code N
    // would be N << 8).
    assert_eq!(failure.status, Some(libc::SIGKILL), "{failure:?}");
    // The agent reports the executor's end at once; the tasks' updates come after it.
    let events = env.framework.events();
    let position = |pred: &dyn Fn(&scheduler::Event) -> bool| events.iter().position(pred);
    let failure_at = position(&|e| e.failure.is_some()).expect("FAILURE");
    for task in ["a", "b"] {
        let update_at = position(&|e| is_terminal_update(e, task)).expect("terminal update");
        assert!(
            failure_at < update_at,
            "FAILURE came after the terminal update of {task}"
        );
    }
    env.shutdown().await;
}

pub async fn relative_commands_run_the_binaries_fetched_with_the_executor(backend: Backend) {
    let env = Env::start(backend, false, false).await;
    let script = env.pids.path().join("worker.sh");
    std::fs::write(&script, "#!/bin/sh\necho \"worker $1 in $(pwd)\"\n").unwrap();
    let mut executor = executor();
    if let Some(command) = executor.command.as_mut() {
        command.uris.push(command_info::Uri {
            value: script.display().to_string(),
            executable: Some(true),
            output_file: Some("cartrack-worker".into()),
            ..Default::default()
        });
    }
    let mut task = framework::task(
        "w",
        "./cartrack-worker process && cartrack-worker path && echo $PORT_HTTP",
        &env.agent_id,
    );
    if let Some(command) = task.command.as_mut() {
        command.environment = Some(Environment {
            variables: vec![mesos_proto::v1::environment::Variable {
                name: "PORT_HTTP".into(),
                value: Some("31005".into()),
                ..Default::default()
            }],
        });
    }
    env.launch_with(executor, vec![task]).await;
    env.framework
        .wait_update(T, "w", TaskState::TaskFinished)
        .await;
    let stdout = find_file(&env.work_root(), Path::new("tasks/w/stdout")).expect("task stdout");
    let dir = std::fs::canonicalize(stdout.parent().unwrap()).unwrap();
    assert_eq!(
        std::fs::read_to_string(&stdout).unwrap(),
        format!(
            "worker process in {0}\nworker path in {0}\n31005\n",
            dir.display()
        )
    );
    env.shutdown().await;
}

pub async fn kill_escalates_to_sigkill_when_the_tasks_kill_policy_grace_runs_out(backend: Backend) {
    let env = Env::start(backend, false, false).await;
    // SIG_IGN survives exec, so the sleep ignores SIGTERM.
    let command = format!(
        "trap '' TERM; echo $$ > {}; exec sleep 300",
        env.pid_file("stubborn").display()
    );
    let mut task = framework::task("stubborn", &command, &env.agent_id);
    task.kill_policy = Some(mesos_proto::v1::KillPolicy {
        grace_period: Some(mesos_proto::v1::DurationInfo {
            nanoseconds: 200_000_000,
        }),
    });
    env.launch(vec![task]).await;
    env.framework
        .wait_update(T, "stubborn", TaskState::TaskRunning)
        .await;
    let pid = env.pid("stubborn").await;
    env.framework.kill("stubborn", &env.agent_id).await;
    // Well inside the 3 s default grace: the task's own 200 ms kill policy was used.
    env.framework
        .wait_update(
            Duration::from_millis(2500),
            "stubborn",
            TaskState::TaskKilled,
        )
        .await;
    assert!(!alive(pid));
    assert!(
        !env.framework
            .updates()
            .iter()
            .any(|s| s.state() == TaskState::TaskKilling),
        "no TASK_KILLING without the framework capability"
    );
    env.shutdown().await;
}

/// The agent restarts on its work dir: the checkpointing executor re-subscribes to it, its
/// tasks run on under the same pids, nothing is relaunched, and they are still supervised.
pub async fn a_checkpointing_executor_survives_an_agent_restart(backend: Backend) {
    let mut env = Env::start(backend, true, false).await;
    env.launch(vec![env.sleeper("a"), env.sleeper("b")]).await;
    env.framework
        .wait_update(T, "a", TaskState::TaskRunning)
        .await;
    env.framework
        .wait_update(T, "b", TaskState::TaskRunning)
        .await;
    let pids = [env.pid("a").await, env.pid("b").await];
    let executor_pid = env.executor_pid().await;
    assert_eq!(env.executor_subscriptions(), 1);

    env.restart_agent().await;
    env.wait_executor_subscriptions(2).await;
    assert!(alive(executor_pid), "the executor died with the agent");
    assert!(
        pids.iter().all(|p| alive(*p)),
        "a task died with the agent restart"
    );
    assert_eq!(
        env.executor_pid().await,
        executor_pid,
        "the executor was relaunched"
    );
    for task in ["a", "b"] {
        assert_eq!(
            states_of(&env, task),
            vec![TaskState::TaskStarting, TaskState::TaskRunning],
            "task {task} was relaunched or lost"
        );
    }

    // Still supervised after the restart: a KILL reaches the executor and takes the group.
    env.framework.kill("a", &env.agent_id).await;
    env.framework
        .wait_update(T, "a", TaskState::TaskKilled)
        .await;
    env.framework
        .wait_update(T, "b", TaskState::TaskKilled)
        .await;
    assert!(wait_until(T, || pids.iter().all(|p| !alive(*p))).await);
    env.shutdown().await;
}

pub async fn without_checkpointing_an_agent_restart_ends_the_executor_and_its_tasks(
    backend: Backend,
) {
    let mut env = Env::start(backend, false, false).await;
    env.launch(vec![env.sleeper("a")]).await;
    env.framework
        .wait_update(T, "a", TaskState::TaskRunning)
        .await;
    let pid = env.pid("a").await;
    let executor_pid = env.executor_pid().await;
    env.restart_agent().await;
    // The agent may kill it first; either way the executor ends (on its own it exits 1, see
    // wire.rs) and takes its task down.
    assert!(
        wait_until(T, || !alive(executor_pid)).await,
        "the executor outlived its agent"
    );
    assert!(wait_until(T, || !alive(pid)).await);
    assert_eq!(env.executor_subscriptions(), 1);
    // The master gives the task up as soon as the agent process dies, the framework not
    // checkpointing.
    let lost = env.framework.wait_update(T, "a", TaskState::TaskLost).await;
    assert_eq!(lost.source(), Source::Master, "{lost:?}");
    assert_eq!(lost.reason(), Reason::AgentDisconnected, "{lost:?}");
    let disconnected = format!("Agent {} disconnected", env.offer.hostname);
    assert_eq!(lost.message(), disconnected, "{lost:?}");
    env.shutdown().await;
}

/// Mesos refuses a task group whose executor has no disk: every task of the group gets
/// TASK_ERROR from the master, and no executor starts.
pub async fn an_executor_without_disk_fails_every_task_of_the_group(backend: Backend) {
    let env = Env::start(backend, false, false).await;
    let mut executor = executor();
    executor.resources.retain(|r| r.name != "disk");
    env.launch_with(executor, vec![env.sleeper("a"), env.sleeper("b")])
        .await;
    for task in ["a", "b"] {
        let error = env
            .framework
            .wait_update(T, task, TaskState::TaskError)
            .await;
        let message = error.message.clone().unwrap_or_default();
        assert!(
            message.contains(&format!("Executor '{EXECUTOR}' uses no disk")),
            "{error:?}"
        );
        assert_eq!(error.reason(), Reason::TaskGroupInvalid, "{error:?}");
        assert_eq!(error.source(), Source::Master, "{error:?}");
        assert_eq!(states_of(&env, task), vec![TaskState::TaskError]);
    }
    assert!(env.executor_pids().await.is_empty(), "an executor started");
    env.shutdown().await;
}
