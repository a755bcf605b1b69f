//! One test per rule or transition of the supervisor.

use super::*;
use mesos_proto::v1::{
    check_info, check_status_info, CheckInfo, CommandInfo, DurationInfo, HealthCheck, KillPolicy,
    TaskId,
};

fn task(id: &str) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        command: Some(CommandInfo {
            value: Some("sleep 100".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn updates(actions: &[Action]) -> Vec<(String, TaskState)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Update(u) => Some((u.task_id.clone(), u.state)),
            _ => None,
        })
        .collect()
}

fn update_of<'a>(actions: &'a [Action], id: &str) -> &'a StatusUpdate {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Update(u) if u.task_id == id => Some(u),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no update for {id} in {actions:?}"))
}

fn signals(actions: &[Action]) -> Vec<(String, Signal)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Signal { task_id, signal } => Some((task_id.clone(), *signal)),
            _ => None,
        })
        .collect()
}

fn s(id: &str) -> String {
    id.to_string()
}

/// A supervisor with the given tasks launched (as one group when `group`) and running.
fn running(ids: &[&str], group: bool) -> Supervisor {
    let mut sup = Supervisor::new();
    sup.handle(Event::Launch {
        tasks: ids.iter().map(|id| task(id)).collect(),
        group,
    });
    for id in ids {
        sup.handle(Event::Spawned { task_id: s(id) });
    }
    sup
}

#[test]
fn launch_reports_starting_and_asks_to_spawn() {
    let mut sup = Supervisor::new();
    let actions = sup.handle(Event::Launch {
        tasks: vec![task("a")],
        group: false,
    });
    assert_eq!(updates(&actions), vec![(s("a"), TaskState::TaskStarting)]);
    assert!(matches!(&actions[1], Action::Spawn(t) if t.task_id.value == "a"));
    assert_eq!(sup.phase("a"), Some(Phase::Starting));
}

#[test]
fn spawned_reports_running() {
    let mut sup = Supervisor::new();
    sup.handle(Event::Launch {
        tasks: vec![task("a")],
        group: false,
    });
    let actions = sup.handle(Event::Spawned { task_id: s("a") });
    assert_eq!(updates(&actions), vec![(s("a"), TaskState::TaskRunning)]);
    assert_eq!(sup.phase("a"), Some(Phase::Running));
}

#[test]
fn exit_zero_is_finished() {
    let mut sup = running(&["a"], false);
    let actions = sup.handle(Event::ChildExited {
        task_id: s("a"),
        status: ExitStatus::Code(0),
    });
    assert_eq!(updates(&actions), vec![(s("a"), TaskState::TaskFinished)]);
    assert_eq!(sup.phase("a"), None, "exited tasks are forgotten");
    assert_eq!(sup.live_tasks(), 0);
}

#[test]
fn a_group_is_forgotten_only_when_every_member_exited() {
    let mut sup = running(&["a", "b"], true);
    sup.handle(Event::ChildExited {
        task_id: s("a"),
        status: ExitStatus::Code(0),
    });
    assert_eq!(sup.phase("a"), Some(Phase::Exited));
    sup.handle(Event::ChildExited {
        task_id: s("b"),
        status: ExitStatus::Code(0),
    });
    assert_eq!(sup.phase("a"), None);
    assert_eq!(sup.phase("b"), None);
    assert!(sup.groups.is_empty());
}

#[test]
fn nonzero_exit_is_failed_with_the_status_in_the_message() {
    let mut sup = running(&["a"], false);
    let actions = sup.handle(Event::ChildExited {
        task_id: s("a"),
        status: ExitStatus::Code(42),
    });
    let update = update_of(&actions, "a");
    assert_eq!(update.state, TaskState::TaskFailed);
    assert_eq!(
        update.message.as_deref(),
        Some("Command exited with status 42")
    );
    assert_eq!(update.reason, Some(Reason::CommandExecutorFailed));
}

#[test]
fn death_by_signal_is_failed_naming_the_signal() {
    let mut sup = running(&["a"], false);
    let actions = sup.handle(Event::ChildExited {
        task_id: s("a"),
        status: ExitStatus::Signal(11),
    });
    let update = update_of(&actions, "a");
    assert_eq!(update.state, TaskState::TaskFailed);
    assert!(update.message.as_deref().unwrap().contains("signal 11"));
}

#[test]
fn spawn_failure_is_failed_with_launch_reason() {
    let mut sup = Supervisor::new();
    sup.handle(Event::Launch {
        tasks: vec![task("a")],
        group: false,
    });
    let actions = sup.handle(Event::SpawnFailed {
        task_id: s("a"),
        error: "no such file".into(),
    });
    let update = update_of(&actions, "a");
    assert_eq!(update.state, TaskState::TaskFailed);
    assert_eq!(update.reason, Some(Reason::ContainerLaunchFailed));
    assert!(update.message.as_deref().unwrap().contains("no such file"));
}

#[test]
fn kill_terms_then_kills_after_the_default_grace() {
    let mut sup = running(&["a"], false);
    let actions = sup.handle(Event::Kill {
        task_id: s("a"),
        grace: None,
    });
    assert_eq!(signals(&actions), vec![(s("a"), Signal::Terminate)]);
    assert!(actions.contains(&Action::StartGraceTimer {
        task_id: s("a"),
        after: DEFAULT_KILL_GRACE
    }));
    assert!(
        updates(&actions).is_empty(),
        "no TASK_KILLING without the capability"
    );
    let actions = sup.handle(Event::GraceExpired { task_id: s("a") });
    assert_eq!(signals(&actions), vec![(s("a"), Signal::Kill)]);
    let actions = sup.handle(Event::ChildExited {
        task_id: s("a"),
        status: ExitStatus::Signal(9),
    });
    assert_eq!(updates(&actions), vec![(s("a"), TaskState::TaskKilled)]);
}

#[test]
fn kill_sends_task_killing_first_when_the_framework_has_the_capability() {
    let mut sup = running(&["a"], false);
    sup.handle(Event::Capabilities {
        task_killing_state: true,
    });
    let actions = sup.handle(Event::Kill {
        task_id: s("a"),
        grace: None,
    });
    assert!(matches!(&actions[0], Action::Update(u) if u.state == TaskState::TaskKilling));
    assert!(matches!(
        &actions[1],
        Action::Signal {
            signal: Signal::Terminate,
            ..
        }
    ));
}

#[test]
fn kill_policy_of_the_kill_overrides_the_tasks() {
    let mut info = task("a");
    info.kill_policy = Some(KillPolicy {
        grace_period: Some(DurationInfo {
            nanoseconds: 7_000_000_000,
        }),
    });
    let mut sup = Supervisor::new();
    sup.handle(Event::Launch {
        tasks: vec![info],
        group: false,
    });
    sup.handle(Event::Spawned { task_id: s("a") });
    let actions = sup.handle(Event::Kill {
        task_id: s("a"),
        grace: None,
    });
    assert!(actions.contains(&Action::StartGraceTimer {
        task_id: s("a"),
        after: Duration::from_secs(7)
    }));

    let mut sup = running(&["b"], false);
    let actions = sup.handle(Event::Kill {
        task_id: s("b"),
        grace: Some(Duration::from_secs(1)),
    });
    assert!(actions.contains(&Action::StartGraceTimer {
        task_id: s("b"),
        after: Duration::from_secs(1)
    }));
}

#[test]
fn zero_grace_kills_at_once() {
    let mut sup = running(&["a"], false);
    let actions = sup.handle(Event::Kill {
        task_id: s("a"),
        grace: Some(Duration::ZERO),
    });
    assert_eq!(signals(&actions), vec![(s("a"), Signal::Kill)]);
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::StartGraceTimer { .. })));
}

#[test]
fn exit_during_kill_is_killed_even_with_code_zero() {
    let mut sup = running(&["a"], false);
    sup.handle(Event::Kill {
        task_id: s("a"),
        grace: None,
    });
    let actions = sup.handle(Event::ChildExited {
        task_id: s("a"),
        status: ExitStatus::Code(0),
    });
    assert_eq!(updates(&actions), vec![(s("a"), TaskState::TaskKilled)]);
}

#[test]
fn repeated_kill_and_late_grace_timer_do_nothing() {
    let mut sup = running(&["a"], false);
    sup.handle(Event::Kill {
        task_id: s("a"),
        grace: None,
    });
    assert!(sup
        .handle(Event::Kill {
            task_id: s("a"),
            grace: None
        })
        .is_empty());
    sup.handle(Event::ChildExited {
        task_id: s("a"),
        status: ExitStatus::Signal(15),
    });
    assert!(sup
        .handle(Event::GraceExpired { task_id: s("a") })
        .is_empty());
    assert!(sup
        .handle(Event::Kill {
            task_id: s("a"),
            grace: None
        })
        .is_empty());
}

#[test]
fn kill_of_unknown_task_is_ignored() {
    let mut sup = Supervisor::new();
    assert!(sup
        .handle(Event::Kill {
            task_id: s("ghost"),
            grace: None
        })
        .is_empty());
}

#[test]
fn killing_one_group_member_kills_the_group() {
    let mut sup = running(&["a", "b"], true);
    let actions = sup.handle(Event::Kill {
        task_id: s("a"),
        grace: None,
    });
    assert_eq!(
        signals(&actions),
        vec![(s("a"), Signal::Terminate), (s("b"), Signal::Terminate)]
    );
    let a = sup.handle(Event::ChildExited {
        task_id: s("a"),
        status: ExitStatus::Signal(15),
    });
    let b = sup.handle(Event::ChildExited {
        task_id: s("b"),
        status: ExitStatus::Signal(15),
    });
    assert_eq!(updates(&a), vec![(s("a"), TaskState::TaskKilled)]);
    let b_update = update_of(&b, "b");
    assert_eq!(b_update.state, TaskState::TaskKilled);
    assert!(b_update.message.as_deref().unwrap().contains("task a"));
}

#[test]
fn a_failing_group_member_takes_the_others_down() {
    let mut sup = running(&["a", "b", "c"], true);
    let actions = sup.handle(Event::ChildExited {
        task_id: s("b"),
        status: ExitStatus::Code(1),
    });
    assert_eq!(updates(&actions), vec![(s("b"), TaskState::TaskFailed)]);
    assert_eq!(
        signals(&actions),
        vec![(s("a"), Signal::Terminate), (s("c"), Signal::Terminate)]
    );
}

#[test]
fn a_group_member_finishing_cleanly_leaves_the_others_running() {
    let mut sup = running(&["a", "b"], true);
    let actions = sup.handle(Event::ChildExited {
        task_id: s("a"),
        status: ExitStatus::Code(0),
    });
    assert!(signals(&actions).is_empty());
    assert_eq!(sup.phase("b"), Some(Phase::Running));
}

#[test]
fn ungrouped_tasks_are_independent() {
    let mut sup = running(&["a", "b"], false);
    let actions = sup.handle(Event::ChildExited {
        task_id: s("a"),
        status: ExitStatus::Code(1),
    });
    assert!(signals(&actions).is_empty());
    assert_eq!(sup.phase("b"), Some(Phase::Running));
}

#[test]
fn spawn_failure_in_a_group_kills_started_members() {
    let mut sup = Supervisor::new();
    sup.handle(Event::Launch {
        tasks: vec![task("a"), task("b")],
        group: true,
    });
    sup.handle(Event::Spawned { task_id: s("a") });
    let actions = sup.handle(Event::SpawnFailed {
        task_id: s("b"),
        error: "boom".into(),
    });
    assert_eq!(updates(&actions), vec![(s("b"), TaskState::TaskFailed)]);
    assert_eq!(signals(&actions), vec![(s("a"), Signal::Terminate)]);
}

#[test]
fn invalid_group_is_refused_whole() {
    let mut bad = task("b");
    bad.command = None;
    let mut sup = Supervisor::new();
    let actions = sup.handle(Event::Launch {
        tasks: vec![task("a"), bad],
        group: true,
    });
    assert_eq!(
        updates(&actions),
        vec![
            (s("a"), TaskState::TaskFailed),
            (s("b"), TaskState::TaskFailed)
        ]
    );
    assert_eq!(
        update_of(&actions, "a").reason,
        Some(Reason::TaskGroupInvalid)
    );
    assert!(!actions.iter().any(|a| matches!(a, Action::Spawn(_))));
}

#[test]
fn duplicate_task_id_is_refused_without_touching_the_running_task() {
    let mut sup = running(&["a"], false);
    let actions = sup.handle(Event::Launch {
        tasks: vec![task("a")],
        group: false,
    });
    assert!(actions.is_empty());
    let actions = sup.handle(Event::Launch {
        tasks: vec![task("x"), task("x")],
        group: true,
    });
    assert_eq!(updates(&actions).len(), 2);
    assert!(updates(&actions)
        .iter()
        .all(|(_, st)| *st == TaskState::TaskFailed));
    assert_eq!(sup.phase("a"), Some(Phase::Running));
}

#[test]
fn shutdown_kills_all_within_three_quarters_of_the_grace_then_exits() {
    let mut sup = running(&["a", "b"], false);
    let actions = sup.handle(Event::Shutdown {
        grace: Duration::from_secs(2),
    });
    assert_eq!(
        signals(&actions),
        vec![(s("a"), Signal::Terminate), (s("b"), Signal::Terminate)]
    );
    assert!(actions.contains(&Action::StartGraceTimer {
        task_id: s("a"),
        after: Duration::from_millis(1500)
    }));
    let actions = sup.handle(Event::ChildExited {
        task_id: s("a"),
        status: ExitStatus::Signal(15),
    });
    assert!(!actions.contains(&Action::Exit));
    let actions = sup.handle(Event::ChildExited {
        task_id: s("b"),
        status: ExitStatus::Signal(15),
    });
    assert_eq!(updates(&actions), vec![(s("b"), TaskState::TaskKilled)]);
    assert_eq!(actions.last(), Some(&Action::Exit));
}

#[test]
fn shutdown_with_no_tasks_exits_at_once_and_refuses_launches() {
    let mut sup = Supervisor::new();
    assert_eq!(
        sup.handle(Event::Shutdown {
            grace: Duration::from_secs(5)
        }),
        vec![Action::Exit]
    );
    let actions = sup.handle(Event::Launch {
        tasks: vec![task("late")],
        group: false,
    });
    assert_eq!(updates(&actions), vec![(s("late"), TaskState::TaskFailed)]);
}

#[test]
fn health_check_starts_with_the_task_and_stops_when_it_ends() {
    let mut info = task("a");
    info.health_check = Some(HealthCheck::default());
    let mut sup = Supervisor::new();
    sup.handle(Event::Launch {
        tasks: vec![info],
        group: false,
    });
    let actions = sup.handle(Event::Spawned { task_id: s("a") });
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::StartHealthCheck { task_id, .. } if task_id == "a")));
    let actions = sup.handle(Event::ChildExited {
        task_id: s("a"),
        status: ExitStatus::Code(0),
    });
    assert_eq!(actions[0], Action::StopHealthCheck { task_id: s("a") });
}

#[test]
fn health_change_is_reported_and_carried_on_later_updates() {
    let mut sup = running(&["a"], false);
    let actions = sup.handle(Event::Health {
        task_id: s("a"),
        changed: Some(false),
        kill: false,
    });
    let update = update_of(&actions, "a");
    assert_eq!(update.state, TaskState::TaskRunning);
    assert_eq!(update.healthy, Some(false));
    assert_eq!(update.reason, Some(Reason::TaskHealthCheckStatusUpdated));
    let actions = sup.handle(Event::ChildExited {
        task_id: s("a"),
        status: ExitStatus::Code(1),
    });
    assert_eq!(update_of(&actions, "a").healthy, Some(false));
}

#[test]
fn health_kill_verdict_kills_the_task_and_its_group() {
    let mut sup = running(&["a", "b"], true);
    let actions = sup.handle(Event::Health {
        task_id: s("a"),
        changed: None,
        kill: true,
    });
    assert_eq!(
        signals(&actions),
        vec![(s("a"), Signal::Terminate), (s("b"), Signal::Terminate)]
    );
    let actions = sup.handle(Event::ChildExited {
        task_id: s("a"),
        status: ExitStatus::Signal(15),
    });
    let update = update_of(&actions, "a");
    assert_eq!(update.state, TaskState::TaskKilled);
    assert!(update.message.as_deref().unwrap().contains("health check"));
}

#[test]
fn health_verdicts_for_tasks_not_running_are_ignored() {
    let mut sup = running(&["a"], false);
    sup.handle(Event::Kill {
        task_id: s("a"),
        grace: None,
    });
    assert!(sup
        .handle(Event::Health {
            task_id: s("a"),
            changed: Some(true),
            kill: false
        })
        .is_empty());
}

fn idle_timer(actions: &[Action]) -> Option<u64> {
    actions.iter().find_map(|a| match a {
        Action::StartIdleTimer { generation, after } => {
            assert_eq!(*after, IDLE_EXIT);
            Some(*generation)
        }
        _ => None,
    })
}

#[test]
fn an_executor_left_without_tasks_exits_unless_a_launch_comes_first() {
    let mut sup = running(&["a"], false);
    let ended = sup.handle(Event::ChildExited {
        task_id: s("a"),
        status: ExitStatus::Code(0),
    });
    let first = idle_timer(&ended).expect("idle timer started");
    // A launch within the idle time makes that timer stale.
    sup.handle(Event::Launch {
        tasks: vec![task("b")],
        group: false,
    });
    sup.handle(Event::Spawned { task_id: s("b") });
    assert!(sup
        .handle(Event::IdleExpired { generation: first })
        .is_empty());
    let ended = sup.handle(Event::ChildExited {
        task_id: s("b"),
        status: ExitStatus::Code(0),
    });
    let second = idle_timer(&ended).expect("idle timer started again");
    assert_ne!(first, second);
    assert_eq!(
        sup.handle(Event::IdleExpired { generation: second }),
        vec![Action::Exit]
    );
}

#[test]
fn a_fresh_executor_starts_no_idle_timer_before_its_first_launch() {
    let mut sup = Supervisor::new();
    let actions = sup.handle(Event::Capabilities {
        task_killing_state: true,
    });
    assert_eq!(idle_timer(&actions), None);
}

/// A supervisor with task `a` (with a command check) running, and the actions of its spawn.
fn running_with_check() -> (Supervisor, Vec<Action>) {
    let mut info = task("a");
    info.check = Some(CheckInfo {
        r#type: Some(check_info::Type::Command as i32),
        command: Some(check_info::Command {
            command: CommandInfo {
                value: Some("test -f ready".into()),
                ..Default::default()
            },
        }),
        ..Default::default()
    });
    info.health_check = Some(HealthCheck::default());
    let mut sup = Supervisor::new();
    sup.handle(Event::Launch {
        tasks: vec![info],
        group: false,
    });
    let actions = sup.handle(Event::Spawned { task_id: s("a") });
    (sup, actions)
}

fn exited_with(code: Option<i32>) -> CheckStatusInfo {
    CheckStatusInfo {
        r#type: Some(check_info::Type::Command as i32),
        command: Some(check_status_info::Command { exit_code: code }),
        ..Default::default()
    }
}

fn check_result(code: Option<i32>) -> Event {
    Event::Check {
        task_id: s("a"),
        status: exited_with(code),
    }
}

#[test]
fn check_starts_with_the_task_and_running_carries_its_empty_status() {
    let (_, actions) = running_with_check();
    let running = update_of(&actions, "a");
    assert_eq!(running.state, TaskState::TaskRunning);
    assert_eq!(running.check_status, Some(exited_with(None)));
    assert!(actions.iter().any(
        |a| matches!(a, Action::StartCheck { task_id, check } if task_id == "a" && check.r#type() == check_info::Type::Command)
    ));
}

#[test]
fn check_results_are_reported_when_they_change_and_once_first() {
    let (mut sup, _) = running_with_check();
    // The first result is reported even when it equals the empty status of RUNNING.
    let first = sup.handle(check_result(None));
    let update = update_of(&first, "a");
    assert_eq!(update.state, TaskState::TaskRunning);
    assert_eq!(update.reason, Some(Reason::TaskCheckStatusUpdated));
    assert_eq!(update.check_status, Some(exited_with(None)));
    let failed = sup.handle(check_result(Some(1)));
    assert_eq!(
        update_of(&failed, "a").check_status,
        Some(exited_with(Some(1)))
    );
    assert!(sup.handle(check_result(Some(1))).is_empty());
    let passed = sup.handle(check_result(Some(0)));
    assert_eq!(
        update_of(&passed, "a").check_status,
        Some(exited_with(Some(0)))
    );
    assert!(sup.handle(check_result(Some(0))).is_empty());
}

#[test]
fn check_updates_keep_the_health_and_later_updates_keep_the_check() {
    let (mut sup, _) = running_with_check();
    sup.handle(Event::Health {
        task_id: s("a"),
        changed: Some(true),
        kill: false,
    });
    let actions = sup.handle(check_result(Some(0)));
    assert_eq!(update_of(&actions, "a").healthy, Some(true));
    let actions = sup.handle(Event::Health {
        task_id: s("a"),
        changed: Some(false),
        kill: false,
    });
    assert_eq!(
        update_of(&actions, "a").check_status,
        Some(exited_with(Some(0)))
    );
    let actions = sup.handle(Event::ChildExited {
        task_id: s("a"),
        status: ExitStatus::Code(0),
    });
    let finished = update_of(&actions, "a");
    assert_eq!(finished.state, TaskState::TaskFinished);
    assert_eq!(finished.check_status, Some(exited_with(Some(0))));
    assert!(actions.contains(&Action::StopCheck { task_id: s("a") }));
}

#[test]
fn a_failing_check_never_kills() {
    let (mut sup, _) = running_with_check();
    for code in [1, 2, 1, 2, 1, 2] {
        let actions = sup.handle(check_result(Some(code)));
        assert!(signals(&actions).is_empty(), "{actions:?}");
    }
    assert_eq!(sup.phase("a"), Some(Phase::Running));
}

#[test]
fn a_kill_stops_the_check_and_later_results_are_ignored() {
    let (mut sup, _) = running_with_check();
    let actions = sup.handle(Event::Kill {
        task_id: s("a"),
        grace: None,
    });
    assert!(actions.contains(&Action::StopCheck { task_id: s("a") }));
    assert!(sup.handle(check_result(Some(0))).is_empty());
    let actions = sup.handle(Event::ChildExited {
        task_id: s("a"),
        status: ExitStatus::Signal(15),
    });
    // Stopped once, not again at the exit.
    assert!(!actions.contains(&Action::StopCheck { task_id: s("a") }));
    assert_eq!(update_of(&actions, "a").state, TaskState::TaskKilled);
}

#[test]
fn tasks_without_a_check_carry_no_check_status() {
    let mut sup = Supervisor::new();
    sup.handle(Event::Launch {
        tasks: vec![task("a")],
        group: false,
    });
    let actions = sup.handle(Event::Spawned { task_id: s("a") });
    assert_eq!(update_of(&actions, "a").check_status, None);
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::StartCheck { .. })));
    assert!(sup.handle(check_result(Some(0))).is_empty());
}
