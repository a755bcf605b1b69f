//! Config versions and rolling updates through the core.

use super::*;
use crate::driver::Steer;
use crate::records::Deployment;
use crate::target::Binaries;

const WEB: &str = r#"
[[groups]]
name = "web"
count = 3
[[groups.tasks]]
name = "main"
command = "./cartrack-worker"
cpus = 0.1
mem = 32
"#;

fn with_env(text: &str, value: &str) -> String {
    text.replacen(
        "mem = 32",
        &format!("mem = 32\nenv = {{ V = {value:?} }}"),
        1,
    )
}

/// A subscribed core whose three `web` pods run version 1, ready for long, reconciled.
fn running(text: &str) -> Core {
    let mut core = core_with(registered(), text);
    take(&mut core);
    let mut stored = core.state().clone();
    for index in 0..3 {
        let mut t = task("web", index, 1, TaskPhase::Running);
        t.running_since_ms = Some(0);
        t.executor_id = core.spec().groups[0].executor_id.clone();
        stored.tasks.insert(t.task_id.clone(), t);
    }
    let mut core = core_with(stored, text);
    core.feed(subscribed("fw-1"), NOW);
    for index in 0..3 {
        core.feed(
            update(
                &format!("web-{index}-main__{index:08}"),
                TaskState::TaskRunning,
                None,
            ),
            NOW,
        );
    }
    take(&mut core);
    core
}

fn kills(ready: &Encoded) -> Vec<String> {
    ready
        .calls
        .iter()
        .filter_map(|c| c.kill.as_ref())
        .map(|k| k.task_id.value.clone())
        .collect()
}

fn deploy(core: &mut Core, text: &str, now: u64) {
    core.apply(
        Input::Request(Request::Update {
            spec: Box::new(spec(text)),
            binaries: None,
        }),
        now,
    )
    .expect("update taken");
}

/// Ends `task_id` (killed), offers an agent, and returns the relaunched pod's task id.
fn replace(core: &mut Core, task_id: &str, now: u64) -> String {
    core.feed(update(task_id, TaskState::TaskKilled, Some(b"k")), now);
    core.feed(offers(vec![offer(1, &OfferShape::default())]), now);
    let ready = take(core);
    let launched: Vec<&TaskRecord> = ready
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::PutTask(t) if t.state == TaskPhase::Staging => Some(&**t),
            _ => None,
        })
        .collect();
    assert_eq!(launched.len(), 1, "one pod relaunched");
    assert_eq!(launched[0].config, core.target().id());
    launched[0].task_id.clone()
}

#[test]
fn an_env_change_replaces_one_pod_at_a_time_each_after_it_is_ready() {
    let mut core = running(WEB);
    deploy(&mut core, &with_env(WEB, "2"), NOW);
    let ready = take(&mut core);
    assert!(ready.changes.contains(&Change::Target(2)));
    assert_eq!(kills(&ready), vec!["web-0-main__00000000"]);
    let deployment = core.state().deployment.clone().expect("deployment");
    assert_eq!((deployment.from, deployment.to), (Some(1), 2));

    let new = replace(&mut core, "web-0-main__00000000", NOW);
    let old_executor = &core.state().tasks["web-1-main__00000001"].executor_id;
    assert_eq!(
        &core.state().tasks[&new].executor_id,
        old_executor,
        "same binaries and executor settings: the same executor"
    );
    core.feed(update(&new, TaskState::TaskRunning, Some(b"r")), NOW);
    core.feed(Input::Tick, NOW + 9_000);
    assert!(kills(&take(&mut core)).is_empty(), "not ready before 10 s");
    core.feed(Input::Tick, NOW + 10_000);
    assert_eq!(kills(&take(&mut core)), vec!["web-1-main__00000001"]);
    let new = replace(&mut core, "web-1-main__00000001", NOW + 10_000);
    core.feed(
        update(&new, TaskState::TaskRunning, Some(b"r")),
        NOW + 10_000,
    );
    core.feed(Input::Tick, NOW + 20_000);
    assert_eq!(kills(&take(&mut core)), vec!["web-2-main__00000002"]);
    let new = replace(&mut core, "web-2-main__00000002", NOW + 20_000);
    core.feed(
        update(&new, TaskState::TaskRunning, Some(b"r")),
        NOW + 20_000,
    );
    core.feed(Input::Tick, NOW + 30_000);
    take(&mut core);
    let done = core.state().deployment.clone().expect("deployment");
    assert_eq!(done.completed_ms, Some(NOW + 30_000));
}

#[test]
fn a_count_only_change_scales_without_replacing_or_deploying() {
    let mut core = running(WEB);
    deploy(&mut core, &WEB.replacen("count = 3", "count = 4", 1), NOW);
    let ready = take(&mut core);
    assert!(kills(&ready).is_empty());
    assert!(ready.changes.contains(&Change::Desired("web".into(), 4)));
    assert_eq!(core.state().deployment, None);
    assert_eq!(core.target().id(), 2);
    // The same config again is no new version.
    deploy(&mut core, &WEB.replacen("count = 3", "count = 4", 1), NOW);
    assert!(take(&mut core).changes.is_empty());
}

#[test]
fn new_binaries_replace_pods_under_a_new_executor() {
    let mut core = running(WEB);
    let old_executor = core.state().tasks["web-0-main__00000000"]
        .executor_id
        .clone();
    core.apply(
        Input::Request(Request::Update {
            spec: Box::new(spec(WEB)),
            binaries: Some(Binaries::Release {
                uri: "https://dl/cartrack-2.tar.gz".into(),
            }),
        }),
        NOW,
    )
    .expect("update");
    assert_eq!(kills(&take(&mut core)), vec!["web-0-main__00000000"]);
    let new = replace(&mut core, "web-0-main__00000000", NOW);
    assert_ne!(core.state().tasks[&new].executor_id, old_executor);
}

#[test]
fn a_restart_keeps_an_updated_target_unless_its_own_config_changed() {
    let mut core = running(WEB);
    deploy(&mut core, &with_env(WEB, "2"), NOW);
    take(&mut core);
    let stored = core.state().clone();
    let restarted = core_with(stored.clone(), WEB);
    assert_eq!(
        restarted.target().id(),
        2,
        "same start-up config: the update stays"
    );
    let mut changed = core_with(stored, &with_env(WEB, "3"));
    assert_eq!(changed.target().id(), 3);
    assert!(take(&mut changed).changes.contains(&Change::Target(3)));
}

#[test]
fn abort_rolls_back_with_the_same_rules() {
    let mut core = running(WEB);
    deploy(&mut core, &with_env(WEB, "2"), NOW);
    take(&mut core);
    let new = replace(&mut core, "web-0-main__00000000", NOW);
    core.feed(update(&new, TaskState::TaskRunning, Some(b"r")), NOW);
    core.apply(Input::Request(Request::Steer(Steer::Abort)), NOW + 1)
        .expect("abort");
    let ready = take(&mut core);
    assert!(ready.changes.contains(&Change::Target(1)));
    assert_eq!(
        kills(&ready),
        vec![new],
        "the new pod goes back to version 1"
    );
    let rollback = core.state().deployment.clone().expect("deployment");
    assert!(rollback.rollback);
    assert_eq!((rollback.from, rollback.to), (Some(2), 1));
    assert_eq!(
        core.apply(Input::Request(Request::Steer(Steer::Pause)), NOW + 2),
        Ok(())
    );
}

#[test]
fn a_canary_waits_for_continue_and_pause_holds_the_next_step() {
    let text = WEB.replacen("count = 3", "count = 3\ndeploy = { canary_steps = 1 }", 1);
    let mut core = running(&text);
    deploy(&mut core, &with_env(&text, "2"), NOW);
    assert!(kills(&take(&mut core)).is_empty(), "the canary waits");
    core.apply(
        Input::Request(Request::Steer(Steer::Continue { group: None })),
        NOW,
    )
    .expect("continue");
    assert_eq!(kills(&take(&mut core)), vec!["web-0-main__00000000"]);
    let new = replace(&mut core, "web-0-main__00000000", NOW);
    core.feed(update(&new, TaskState::TaskRunning, Some(b"r")), NOW);
    core.apply(Input::Request(Request::Steer(Steer::Pause)), NOW)
        .expect("pause");
    core.feed(Input::Tick, NOW + 60_000);
    assert!(kills(&take(&mut core)).is_empty(), "paused");
    core.apply(Input::Request(Request::Steer(Steer::Resume)), NOW + 60_000)
        .expect("resume");
    assert_eq!(kills(&take(&mut core)), vec!["web-1-main__00000001"]);
}

#[test]
fn steering_without_a_deployment_is_refused() {
    let mut core = running(WEB);
    assert_eq!(
        core.apply(Input::Request(Request::Steer(Steer::Pause)), NOW),
        Err(RequestError::NoDeployment)
    );
}

#[test]
fn force_complete_keeps_the_pod_and_the_rollout_moves_on() {
    let mut core = running(WEB);
    deploy(&mut core, &with_env(WEB, "2"), NOW);
    take(&mut core);
    core.apply(
        Input::Request(Request::Steer(Steer::ForceComplete {
            slot: "web-2".into(),
        })),
        NOW,
    )
    .expect("force-complete");
    assert_eq!(core.state().tasks["web-2-main__00000002"].config, 2);
}

#[test]
fn versions_beyond_ten_are_pruned_but_those_pods_run_are_kept() {
    let mut core = running(WEB);
    for n in 4..20 {
        deploy(
            &mut core,
            &WEB.replacen("count = 3", &format!("count = {n}"), 1),
            NOW,
        );
    }
    let ids: Vec<u32> = core.state().configs.keys().copied().collect();
    assert_eq!(ids.len(), 10, "{ids:?}");
    assert_eq!(ids[0], 1, "version 1 stays: the pods run it");
    assert_eq!(ids[1], core.target().id() - 8);
    assert_eq!(*ids.last().expect("some"), core.target().id());
    assert!(core
        .state()
        .deployment
        .as_ref()
        .is_none_or(|d: &Deployment| d.groups.is_empty()));
}

#[test]
fn a_readiness_result_is_recorded_from_the_check_status() {
    use mesos_proto::v1::{check_status_info, CheckStatusInfo};
    let mut core = running(WEB);
    let status = |exit_code: i32| {
        Input::Event(Box::new(Event {
            r#type: Some(event::Type::Update as i32),
            update: Some(event::Update {
                status: TaskStatus {
                    task_id: TaskId {
                        value: "web-0-main__00000000".into(),
                    },
                    state: TaskState::TaskRunning as i32,
                    check_status: Some(CheckStatusInfo {
                        command: Some(check_status_info::Command {
                            exit_code: Some(exit_code),
                        }),
                        ..CheckStatusInfo::default()
                    }),
                    ..TaskStatus::default()
                },
            }),
            ..Event::default()
        }))
    };
    core.feed(status(1), NOW);
    assert_eq!(
        core.state().tasks["web-0-main__00000000"].ready,
        Some(false)
    );
    core.feed(status(0), NOW);
    assert_eq!(core.state().tasks["web-0-main__00000000"].ready, Some(true));
}
