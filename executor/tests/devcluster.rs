//! End to end on the dev cluster (issue #4, point 4): a tiny scheduler launches task groups
//! into the real `cartrack-executor` binary through LAUNCH_GROUP, as the cartrack scheduler
//! will on Mesos.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use cartrack_devcluster::{ClusterConfig, DevCluster, LogEntry};
use mesos_proto::v1::executor::call as ecall;
use mesos_proto::v1::{
    command_info, health_check, Environment, ExecutorInfo, HealthCheck, Offer, TaskInfo, TaskState,
};
use support::framework::{self, Framework};
use support::{alive, wait_until};

const T: Duration = Duration::from_secs(20);
const EXECUTOR: &str = "cartrack-ex";

struct Env {
    cluster: DevCluster,
    framework: Framework,
    agent_id: String,
    offer: Offer,
    pids: tempfile::TempDir,
    _work: tempfile::TempDir,
}

impl Env {
    async fn start(checkpoint: bool, task_killing: bool) -> Env {
        let work = tempfile::tempdir().unwrap();
        let cluster = DevCluster::start(ClusterConfig {
            agents: 1,
            work_dir: work.path().to_path_buf(),
            status_update_retry: Duration::from_secs(60),
            executor_registration_timeout: Duration::from_secs(20),
            agent_unreachable_timeout: Duration::from_secs(2),
            ..ClusterConfig::default()
        })
        .await
        .unwrap();
        let framework = Framework::subscribe(&cluster.master_url(), checkpoint, task_killing).await;
        let offer = framework.wait_offer().await;
        Env {
            agent_id: offer.agent_id.value.clone(),
            cluster,
            framework,
            offer,
            pids: tempfile::tempdir().unwrap(),
            _work: work,
        }
    }

    fn pid_file(&self, task: &str) -> PathBuf {
        self.pids.path().join(format!("{task}.pid"))
    }

    /// A task that records its pid and sleeps (exec, so the pid is the sleep's).
    fn sleeper(&self, id: &str) -> TaskInfo {
        let command = format!("echo $$ > {}; exec sleep 300", self.pid_file(id).display());
        framework::task(id, &command, &self.agent_id)
    }

    async fn launch(&self, tasks: Vec<TaskInfo>) {
        self.launch_with(executor(), tasks).await;
    }

    async fn launch_with(&self, executor: ExecutorInfo, tasks: Vec<TaskInfo>) {
        self.framework
            .launch_group(&self.offer, executor, tasks)
            .await;
    }

    async fn pid(&self, task: &str) -> i32 {
        let file = self.pid_file(task);
        let mut pid = None;
        let found = wait_until(T, || {
            pid = std::fs::read_to_string(&file)
                .ok()
                .and_then(|t| t.trim().parse().ok());
            pid.is_some()
        })
        .await;
        assert!(found, "task {task} wrote no pid");
        pid.unwrap_or(0)
    }

    /// ACKNOWLEDGED events the agent wrote to the executor so far.
    fn acknowledgements(&self) -> usize {
        self.cluster
            .log()
            .iter()
            .filter(|e| {
                matches!(e, LogEntry::ExecutorEvent { event_type, .. } if event_type == "ACKNOWLEDGED")
            })
            .count()
    }

    fn executor_calls(&self, kind: ecall::Type) -> Vec<mesos_proto::v1::executor::Call> {
        self.cluster
            .log()
            .into_iter()
            .filter_map(|entry| match entry {
                LogEntry::ExecutorCall { call, .. } if call.r#type() == kind => Some(call),
                _ => None,
            })
            .collect()
    }

    async fn wait_executor_calls(
        &self,
        kind: ecall::Type,
        n: usize,
    ) -> Vec<mesos_proto::v1::executor::Call> {
        let mut calls = Vec::new();
        let ok = wait_until(T, || {
            calls = self.executor_calls(kind);
            calls.len() >= n
        })
        .await;
        assert!(ok, "expected {n} {kind:?} calls, saw {}", calls.len());
        calls
    }
}

fn executor() -> ExecutorInfo {
    framework::executor_info(EXECUTOR, Path::new(env!("CARGO_BIN_EXE_cartrack-executor")))
}

/// The one file under `root` whose path ends with `suffix`.
fn find_file(root: &Path, suffix: &Path) -> Option<PathBuf> {
    for entry in std::fs::read_dir(root).ok()?.flatten() {
        let path = entry.path();
        if path.ends_with(suffix) && path.is_file() {
            return Some(path);
        }
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir {
            if let Some(found) = find_file(&path, suffix) {
                return Some(found);
            }
        }
    }
    None
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_of_two_tasks_reaches_running() {
    let env = Env::start(false, false).await;
    env.launch(vec![env.sleeper("a"), env.sleeper("b")]).await;
    env.framework
        .wait_update(T, "a", TaskState::TaskRunning)
        .await;
    env.framework
        .wait_update(T, "b", TaskState::TaskRunning)
        .await;
    assert!(alive(env.pid("a").await));
    assert!(alive(env.pid("b").await));
    let states: Vec<_> = env
        .framework
        .updates()
        .iter()
        .filter(|s| s.task_id.value == "a")
        .map(|s| s.state())
        .collect();
    assert_eq!(
        states,
        vec![TaskState::TaskStarting, TaskState::TaskRunning]
    );
    env.cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_task_of_a_group_ends_both() {
    let env = Env::start(false, true).await;
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
    env.cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_kills_the_tasks_and_the_executor_exits_cleanly() {
    let env = Env::start(false, false).await;
    env.launch(vec![env.sleeper("a"), env.sleeper("b")]).await;
    env.framework
        .wait_update(T, "b", TaskState::TaskRunning)
        .await;
    let pids = [env.pid("a").await, env.pid("b").await];
    env.framework.shutdown(EXECUTOR, &env.agent_id).await;
    env.framework
        .wait_update(T, "a", TaskState::TaskKilled)
        .await;
    env.framework
        .wait_update(T, "b", TaskState::TaskKilled)
        .await;
    let exited = env
        .cluster
        .wait_for_log(T, |e| matches!(e, LogEntry::ExecutorExited { .. }))
        .await
        .unwrap();
    assert!(
        matches!(
            exited,
            LogEntry::ExecutorExited {
                status: Some(0),
                ..
            }
        ),
        "{exited:?}"
    );
    assert!(pids.iter().all(|p| !alive(*p)));
    env.cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashing_child_is_failed_with_its_exit_status() {
    let env = Env::start(false, false).await;
    let crash = framework::task("crash", "exit 3", &env.agent_id);
    env.launch(vec![crash, env.sleeper("sibling")]).await;
    let failed = env
        .framework
        .wait_update(T, "crash", TaskState::TaskFailed)
        .await;
    assert_eq!(
        failed.message.as_deref(),
        Some("Command exited with status 3")
    );
    // All-or-nothing: the sibling goes down with it.
    env.framework
        .wait_update(T, "sibling", TaskState::TaskKilled)
        .await;
    env.cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_health_check_reports_unhealthy() {
    let env = Env::start(false, false).await;
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
        .await;
    assert_eq!(
        unhealthy.update.unwrap().status.state(),
        TaskState::TaskRunning
    );
    env.cluster.shutdown().await;
}

/// The dev cluster, like a Mesos agent, acknowledges an update to the executor as soon as it
/// takes it, so on a healthy connection nothing is left unacknowledged; the executor must then
/// re-subscribe with nothing to re-send and lose no later update. (Re-sending truly
/// unacknowledged updates is the next test, with the agent withholding its acknowledgements.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_resubscribes_and_no_update_is_lost_or_repeated() {
    let env = Env::start(true, false).await;
    env.launch(vec![env.sleeper("a")]).await;
    env.framework
        .wait_update(T, "a", TaskState::TaskRunning)
        .await;
    assert!(
        wait_until(T, || env.acknowledgements() >= 2).await,
        "the agent never acknowledged"
    );

    env.cluster
        .drop_executor_connection(&env.agent_id, EXECUTOR)
        .await;
    let subscribes = env.wait_executor_calls(ecall::Type::Subscribe, 2).await;
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
    env.cluster
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
    env.wait_executor_calls(ecall::Type::Subscribe, 3).await;
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
    env.cluster.shutdown().await;
}

/// The agent withholds its ACKNOWLEDGED events, then drops the connection: the executor must send
/// exactly the updates it was never acknowledged inside its next SUBSCRIBE, the agent takes them
/// (deduplicated by uuid), and each reaches the scheduler once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_updates_are_resent_inside_subscribe_and_delivered_once() {
    let env = Env::start(true, false).await;
    env.cluster.set_withhold_executor_acks(true);
    env.launch(vec![env.sleeper("a")]).await;
    let running = env
        .framework
        .wait_update(T, "a", TaskState::TaskRunning)
        .await;
    assert_eq!(env.acknowledgements(), 0, "acknowledgements were withheld");

    env.cluster.set_withhold_executor_acks(false);
    env.cluster
        .drop_executor_connection(&env.agent_id, EXECUTOR)
        .await;
    let subscribes = env.wait_executor_calls(ecall::Type::Subscribe, 2).await;
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
        wait_until(T, || env.acknowledgements() >= 2).await,
        "the re-sent updates were acknowledged"
    );
    env.cluster
        .drop_executor_connection(&env.agent_id, EXECUTOR)
        .await;
    let subscribes = env.wait_executor_calls(ecall::Type::Subscribe, 3).await;
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
    env.cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_kill_9_leaves_no_child_and_the_tasks_end_terminal() {
    let env = Env::start(false, false).await;
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
    let executor_pid = *env
        .cluster
        .executor_pids()
        .first()
        .expect("executor launched");
    // SAFETY: plain kill(2) of the executor process this test's cluster started.
    unsafe {
        libc::kill(executor_pid as i32, libc::SIGKILL);
    }
    assert!(
        wait_until(T, || pids.iter().all(|p| !alive(*p))).await,
        "a task process outlived the executor"
    );
    for task in ["a", "b"] {
        env.framework
            .wait_event(T, |e| {
                e.update.as_ref().is_some_and(|u| {
                    u.status.task_id.value == task && TaskState::is_terminal(u.status.state())
                })
            })
            .await;
    }
    env.cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relative_commands_run_the_binaries_fetched_with_the_executor() {
    let env = Env::start(false, false).await;
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
    let stdout = find_file(env._work.path(), Path::new("tasks/w/stdout")).expect("task stdout");
    let dir = std::fs::canonicalize(stdout.parent().unwrap()).unwrap();
    assert_eq!(
        std::fs::read_to_string(&stdout).unwrap(),
        format!(
            "worker process in {0}\nworker path in {0}\n31005\n",
            dir.display()
        )
    );
    env.cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_escalates_to_sigkill_when_the_tasks_kill_policy_grace_runs_out() {
    let env = Env::start(false, false).await;
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
    env.cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_health_checks_report_healthy_and_kill_when_failures_run_out() {
    let env = Env::start(false, false).await;
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
    env.cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpointing_executor_survives_an_agent_restart() {
    let env = Env::start(true, false).await;
    env.launch(vec![env.sleeper("a")]).await;
    env.framework
        .wait_update(T, "a", TaskState::TaskRunning)
        .await;
    let pid = env.pid("a").await;
    env.cluster.restart_agent(&env.agent_id).await.unwrap();
    env.wait_executor_calls(ecall::Type::Subscribe, 2).await;
    assert!(alive(pid), "the task died with the agent restart");
    // Still supervised after the restart.
    env.framework.kill("a", &env.agent_id).await;
    env.framework
        .wait_update(T, "a", TaskState::TaskKilled)
        .await;
    env.cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_checkpointing_an_agent_restart_ends_the_executor_and_its_tasks() {
    let env = Env::start(false, false).await;
    env.launch(vec![env.sleeper("a")]).await;
    env.framework
        .wait_update(T, "a", TaskState::TaskRunning)
        .await;
    let pid = env.pid("a").await;
    env.cluster.restart_agent(&env.agent_id).await.unwrap();
    // The dev cluster may kill it first; either way the executor ends (on its own it exits 1,
    // see wire.rs) and takes its task down.
    env.cluster
        .wait_for_log(T, |e| matches!(e, LogEntry::ExecutorExited { .. }))
        .await
        .unwrap();
    assert!(wait_until(T, || !alive(pid)).await);
    assert_eq!(env.executor_calls(ecall::Type::Subscribe).len(), 1);
    env.cluster.shutdown().await;
}
