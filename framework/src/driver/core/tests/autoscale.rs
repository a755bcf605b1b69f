//! Autoscaling through the core: load samples move the desired count, an operator's count
//! pins it until resumed, a deployment of the group holds it.

use super::*;
use crate::driver::Steer;
use crate::planner::autoscale::{Hold, LoadSample};

const WEB: &str = r#"
[[groups]]
name = "web"
count = 1
autoscale = { min = 1, max = 3, metric = "lag", target = 100, scale_up_after_s = 10, scale_down_after_s = 10, cooldown_s = 0 }
[[groups.tasks]]
name = "main"
command = "./cartrack-worker"
cpus = 0.1
mem = 32
ports = ["http"]
"#;

fn lag(value: f64) -> Input {
    Input::Load(LoadSample {
        group: "web".into(),
        value: Some(value),
        reporting: 1,
        asked: 1,
    })
}

/// A subscribed core running `web-0`.
fn running() -> Core {
    let mut core = core_with(registered(), WEB);
    take(&mut core);
    let mut stored = core.state().clone();
    let mut t = task("web", 0, 1, TaskPhase::Running);
    t.running_since_ms = Some(0);
    t.executor_id = core.spec().groups[0].executor_id.clone();
    stored.tasks.insert(t.task_id.clone(), t);
    let mut core = core_with(stored, WEB);
    core.feed(subscribed("fw-1"), NOW);
    core.feed(
        update("web-0-main__00000000", TaskState::TaskRunning, None),
        NOW,
    );
    take(&mut core);
    core
}

/// Feeds `value` every 5 s from `from` for `seconds`.
fn feed_lag(core: &mut Core, value: f64, from: u64, seconds: u64) {
    for s in (0..=seconds).step_by(5) {
        core.feed(lag(value), from + s * 1000);
    }
}

#[test]
fn lasting_lag_raises_the_desired_count_and_logs_the_decision() {
    let mut core = running();
    feed_lag(&mut core, 250.0, NOW, 15);
    assert_eq!(core.desired_count("web"), 2);
    let ready = take(&mut core);
    assert!(ready.changes.contains(&Change::Desired("web".into(), 2)));
    let decision = core
        .autoscaler()
        .decisions
        .back()
        .cloned()
        .expect("a decision");
    assert_eq!((decision.from, decision.to, decision.metric), (1, 2, "lag"));
    assert!(
        decision.reason.contains("3 pods wanted"),
        "{}",
        decision.reason
    );
    // The config version did not change: autoscaling changes counts only.
    assert_eq!(core.target().id(), 1);
    assert_eq!(
        core.autoscaler().taken.get(&("web".to_string(), "up")),
        Some(&1)
    );
}

#[test]
fn an_operator_count_pins_until_resume_and_the_pin_is_stored() {
    let mut core = running();
    core.apply(
        Input::Request(Request::SetCount {
            group: "web".into(),
            count: 3,
        }),
        NOW,
    )
    .expect("scaled");
    let ready = take(&mut core);
    assert!(ready
        .changes
        .contains(&Change::AutoscalePin("web".into(), true)));
    assert!(core.state().autoscale_pinned.contains("web"));
    feed_lag(&mut core, 0.0, NOW, 60);
    assert_eq!(core.desired_count("web"), 3, "pinned");
    assert_eq!(
        core.autoscale_state("web")
            .and_then(|s| s.last_hold.clone()),
        Some(Hold::Pinned)
    );
    core.apply(
        Input::Request(Request::ResumeAutoscale {
            group: "web".into(),
        }),
        NOW + 61_000,
    )
    .expect("resumed");
    assert!(!core.state().autoscale_pinned.contains("web"));
    feed_lag(&mut core, 0.0, NOW + 65_000, 15);
    assert_eq!(
        core.desired_count("web"),
        2,
        "follows the load again, one step"
    );
}

#[test]
fn resume_of_a_group_without_autoscale_is_refused_with_the_autoscaled_ones() {
    let mut core = running();
    let refused = core.apply(
        Input::Request(Request::ResumeAutoscale { group: "db".into() }),
        NOW,
    );
    assert_eq!(
        refused,
        Err(RequestError::NotAutoscaled {
            group: "db".into(),
            autoscaled: vec!["web".into()],
        })
    );
}

#[test]
fn a_deployment_of_the_group_holds_the_count() {
    let mut core = running();
    let changed = WEB.replacen("mem = 32", "mem = 32\nenv = { V = \"2\" }", 1);
    core.apply(
        Input::Request(Request::Update {
            spec: Box::new(spec(&changed)),
            binaries: None,
        }),
        NOW,
    )
    .expect("update");
    core.apply(Input::Request(Request::Steer(Steer::Pause)), NOW)
        .expect("paused");
    feed_lag(&mut core, 1000.0, NOW, 60);
    assert_eq!(core.desired_count("web"), 1);
    assert_eq!(
        core.autoscale_state("web")
            .and_then(|s| s.last_hold.clone()),
        Some(Hold::Deploying)
    );
}

#[test]
fn samples_of_groups_without_autoscale_change_nothing() {
    let mut core = running();
    core.feed(
        Input::Load(LoadSample {
            group: "other".into(),
            value: Some(1e9),
            reporting: 1,
            asked: 1,
        }),
        NOW,
    );
    assert!(core.autoscaler().groups.is_empty());
    assert!(!core.has_ready());
}
