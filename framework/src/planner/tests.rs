//! One test per planner rule.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::records::{SlotRecord, TaskPhase, TaskRecord};
use crate::spec::executor_id;
use crate::testkit::{group_toml, offer, spec, task, OfferShape};

struct World {
    spec: ValidatedSpec,
    desired: BTreeMap<String, u32>,
    tasks: BTreeMap<String, TaskRecord>,
    slots: BTreeMap<String, SlotRecord>,
    memory: OfferMemory,
    now_ms: u64,
    launches_allowed: bool,
    /// Every pod runs the target (version 1, as the test kit records them).
    current: BTreeMap<String, BTreeSet<u32>>,
}

impl World {
    fn new(spec_text: &str) -> World {
        let spec = spec(spec_text);
        World {
            current: spec
                .groups
                .iter()
                .map(|g| (g.name.clone(), [1].into_iter().collect()))
                .collect(),
            spec,
            desired: BTreeMap::new(),
            tasks: BTreeMap::new(),
            slots: BTreeMap::new(),
            memory: OfferMemory::new(TokenBucket::new(1, 10_000)),
            now_ms: 1_000_000,
            launches_allowed: true,
        }
    }

    fn add(&mut self, t: TaskRecord) {
        self.tasks.insert(t.task_id.clone(), t);
    }

    fn run(&mut self, offers: &[Offer]) -> Plan {
        let input = PlanInput {
            spec: &self.spec,
            desired: &self.desired,
            tasks: &self.tasks,
            slots: &self.slots,
            offers,
            now_ms: self.now_ms,
            launches_allowed: self.launches_allowed,
            current: &self.current,
            deployment: None,
        };
        plan(&input, &PlannerConfig::default(), &mut self.memory)
    }
}

fn slots_of(plan: &Plan) -> Vec<(String, String)> {
    plan.launches
        .iter()
        .flat_map(|l| {
            l.pods
                .iter()
                .map(move |p| (p.slot.clone(), l.agent_id.clone()))
        })
        .collect()
}

fn big() -> OfferShape {
    OfferShape::default()
}

#[test]
fn launches_every_pending_pod_when_an_offer_fits_them() {
    let mut w = World::new(&format!(
        "{}{}",
        group_toml("ingester", 2, 0.1, 64.0, &[], &[]),
        group_toml("processor", 1, 0.1, 64.0, &["http"], &[])
    ));
    let plan = w.run(&[offer(1, &big())]);
    assert_eq!(
        slots_of(&plan),
        vec![
            ("ingester-0".into(), "a-1".into()),
            ("ingester-1".into(), "a-1".into()),
            ("processor-0".into(), "a-1".into())
        ]
    );
    assert_eq!(plan.launches[0].pods[2].ports, vec![vec![31000]]);
    assert!(plan.declines.is_empty());
    assert_eq!(plan.accept_refuse_seconds, 3600.0, "nothing left pending");
}

#[test]
fn executor_resources_are_counted_once_per_agent_and_role() {
    // pod 0.1 cpus + executor 0.05: an offer of 0.25 cpus takes exactly one new executor and
    // one pod (0.15), then one more pod (0.1) = 0.25.
    let mut w = World::new(&group_toml("ingester", 3, 0.1, 64.0, &[], &[]));
    let small = OfferShape {
        cpus: 0.25,
        ..big()
    };
    let plan = w.run(&[offer(1, &small)]);
    assert_eq!(plan.launches[0].pods.len(), 2);
    assert_eq!(plan.waiting, 1);
    // With the executor already running, the same offer takes two pods without its share.
    let mut w = World::new(&group_toml("ingester", 3, 0.1, 64.0, &[], &[]));
    let running = OfferShape {
        cpus: 0.2,
        executors: vec![executor_id("*")],
        ..big()
    };
    assert_eq!(w.run(&[offer(1, &running)]).launches[0].pods.len(), 2);
}

#[test]
fn declines_useless_offers_with_the_long_filter() {
    let mut w = World::new(&group_toml("ingester", 1, 8.0, 64.0, &[], &[]));
    let plan = w.run(&[offer(1, &big())]);
    assert!(plan.launches.is_empty());
    assert_eq!(plan.declines, vec!["o-1".to_string()]);
    assert_eq!(plan.decline_refuse_seconds, 3600.0);
}

#[test]
fn declines_shortly_and_launches_nothing_while_reconciling() {
    let mut w = World::new(&group_toml("ingester", 1, 0.1, 64.0, &[], &[]));
    w.launches_allowed = false;
    let plan = w.run(&[offer(1, &big())]);
    assert!(plan.launches.is_empty());
    assert_eq!(plan.declines.len(), 1);
    assert_eq!(plan.decline_refuse_seconds, 5.0);
    assert!(!plan.suppress, "work is still pending");
}

#[test]
fn suppresses_once_nothing_is_pending_and_only_once() {
    let mut w = World::new(&group_toml("ingester", 1, 0.1, 64.0, &[], &[]));
    w.add(task("ingester", 0, 1, TaskPhase::Running));
    let plan = w.run(&[]);
    assert!(plan.suppress);
    assert!(!w.run(&[]).suppress, "already suppressed");
}

#[test]
fn revives_through_the_token_bucket_when_work_appears() {
    let mut w = World::new(&group_toml("ingester", 1, 0.1, 64.0, &[], &[]));
    w.add(task("ingester", 0, 1, TaskPhase::Running));
    assert!(w.run(&[]).suppress);
    w.desired.insert("ingester".into(), 3);
    let plan = w.run(&[]);
    assert!(plan.revive, "new pods appeared while suppressed");
    assert_eq!(plan.waiting, 2);
    // Another new pod right after: the bucket (1 token / 10 s) holds the REVIVE back ...
    w.desired.insert("ingester".into(), 4);
    w.now_ms += 1000;
    assert!(!w.run(&[]).revive);
    // ... until a token is back.
    w.now_ms += 10_000;
    assert!(
        w.run(&[]).revive,
        "owed revive sent once the bucket refills"
    );
    w.now_ms += 10_000;
    assert!(!w.run(&[]).revive, "nothing new: no revive");
}

#[test]
fn waiting_pods_revive_again_after_the_waiting_period() {
    let mut w = World::new(&group_toml("ingester", 1, 8.0, 64.0, &[], &[]));
    let plan = w.run(&[offer(1, &big())]);
    assert!(plan.revive, "new work");
    assert_eq!(plan.declines.len(), 1, "fits nowhere: declined for an hour");
    w.now_ms += 299_999;
    assert!(!w.run(&[]).revive, "not yet");
    w.now_ms += 1;
    assert!(
        w.run(&[]).revive,
        "filters cleared every 5 min while pods wait"
    );
}

#[test]
fn kills_scale_down_highest_index_first_and_resends_until_terminal() {
    let mut w = World::new(&group_toml("ingester", 3, 0.1, 64.0, &[], &[]));
    for i in 0..3 {
        w.add(task("ingester", i, 1, TaskPhase::Running));
    }
    w.desired.insert("ingester".into(), 1);
    let plan = w.run(&[]);
    let killed: Vec<&str> = plan.kills.iter().map(|k| k.task_id.as_str()).collect();
    assert_eq!(
        killed,
        vec!["ingester-2-main__00000002", "ingester-1-main__00000001"]
    );
    assert!(plan.kills.iter().all(|k| k.intent == KillIntent::ScaleDown));
    for t in w.tasks.values_mut().filter(|t| t.index > 0) {
        t.kill = Some(KillIntent::ScaleDown);
        t.last_kill_sent_ms = Some(w.now_ms);
    }
    w.now_ms += 4000;
    assert!(w.run(&[]).kills.is_empty(), "not yet due again");
    w.now_ms += 1000;
    assert_eq!(w.run(&[]).kills.len(), 2, "re-sent after 5 s");
}

#[test]
fn kills_tasks_stuck_in_staging() {
    let mut w = World::new(&group_toml("ingester", 1, 0.1, 64.0, &[], &[]));
    let mut t = task("ingester", 0, 1, TaskPhase::Staging);
    t.launched_at_ms = w.now_ms;
    w.add(t);
    assert!(w.run(&[]).kills.is_empty());
    w.now_ms += 300_001;
    let plan = w.run(&[]);
    assert_eq!(plan.kills.len(), 1);
    assert_eq!(plan.kills[0].intent, KillIntent::StagingTimeout);
}

#[test]
fn never_launches_a_slot_that_has_a_live_task() {
    let mut w = World::new(&group_toml("ingester", 2, 0.1, 64.0, &[], &[]));
    w.add(task("ingester", 0, 1, TaskPhase::Unreachable));
    w.add(task("ingester", 1, 1, TaskPhase::Failed));
    let plan = w.run(&[offer(2, &big())]);
    assert_eq!(slots_of(&plan), vec![("ingester-1".into(), "a-2".into())]);
}

#[test]
fn a_pod_given_up_as_unreachable_is_replaced_unless_it_came_back() {
    let mut w = World::new(&group_toml("ingester", 2, 0.1, 64.0, &[], &[]));
    // Still out of reach: its slot is free for a replacement.
    let mut away = task("ingester", 0, 1, TaskPhase::Unreachable);
    away.kill = Some(KillIntent::Unreachable);
    w.add(away);
    // Heard RUNNING again before its replacement launched: it is being killed, and its slot
    // waits for its end rather than run two pods.
    let mut back = task("ingester", 1, 1, TaskPhase::Running);
    back.kill = Some(KillIntent::Unreachable);
    w.add(back);
    let plan = w.run(&[offer(2, &big())]);
    assert_eq!(slots_of(&plan), vec![("ingester-0".into(), "a-2".into())]);
}

#[test]
fn holds_back_pods_in_launch_backoff() {
    let mut w = World::new(&group_toml("ingester", 1, 0.1, 64.0, &[], &[]));
    w.slots.insert(
        "ingester-0".into(),
        SlotRecord {
            failures: 1,
            next_launch_at_ms: w.now_ms + 1000,
            ..Default::default()
        },
    );
    let plan = w.run(&[offer(1, &big())]);
    assert!(plan.launches.is_empty());
    assert_eq!(plan.delayed, 1);
    assert!(!plan.suppress, "a delayed pod is still pending");
    w.now_ms += 1000;
    assert_eq!(w.run(&[offer(1, &big())]).launches.len(), 1);
}

#[test]
fn unique_hostname_puts_one_pod_per_host() {
    let mut w = World::new(&group_toml(
        "processor",
        3,
        0.1,
        64.0,
        &[],
        &["hostname:UNIQUE"],
    ));
    w.add(task("processor", 0, 1, TaskPhase::Running));
    let plan = w.run(&[offer(1, &big()), offer(2, &big()), offer(3, &big())]);
    let mut placed = slots_of(&plan);
    placed.sort();
    assert_eq!(
        placed,
        vec![
            ("processor-1".into(), "a-2".into()),
            ("processor-2".into(), "a-3".into())
        ]
    );
    assert_eq!(plan.declines, vec!["o-1".to_string()]);
}

#[test]
fn max_per_caps_pods_per_value() {
    let mut w = World::new(&group_toml(
        "processor",
        5,
        0.1,
        64.0,
        &[],
        &["rack:MAX_PER:2"],
    ));
    let r1 = OfferShape {
        attributes: vec![("rack".into(), "r1".into())],
        ..big()
    };
    let r2 = OfferShape {
        attributes: vec![("rack".into(), "r2".into())],
        ..big()
    };
    let plan = w.run(&[offer(1, &r1), offer(2, &r1), offer(3, &r2)]);
    let placed = slots_of(&plan);
    assert_eq!(placed.len(), 4);
    let on_r2 = placed.iter().filter(|(_, a)| a == "a-3").count();
    assert_eq!(on_r2, 2);
    assert_eq!(plan.waiting, 1);
}

#[test]
fn group_by_balances_over_attribute_values() {
    let mut w = World::new(&group_toml(
        "indexer",
        4,
        0.1,
        64.0,
        &[],
        &["zone:GROUP_BY"],
    ));
    let a = OfferShape {
        attributes: vec![("zone".into(), "a".into())],
        ..big()
    };
    let b = OfferShape {
        attributes: vec![("zone".into(), "b".into())],
        ..big()
    };
    let plan = w.run(&[offer(1, &a), offer(2, &a), offer(3, &b)]);
    let placed = slots_of(&plan);
    assert_eq!(placed.len(), 4);
    let on_b = placed.iter().filter(|(_, agent)| agent == "a-3").count();
    assert_eq!(on_b, 2, "zone b takes half: {placed:?}");
}

#[test]
fn role_mismatch_declines_and_explains() {
    let mut w = World::new(&group_toml("ingester", 1, 0.1, 64.0, &[], &[]));
    let other = OfferShape {
        role: "analytics".into(),
        ..big()
    };
    let o = offer(1, &other);
    let plan = w.run(std::slice::from_ref(&o));
    assert!(plan.launches.is_empty());
    let why = explain(&w.spec, &w.desired, &w.tasks, &w.slots, &o, w.now_ms, 10);
    assert_eq!(why.pods.len(), 1);
    assert!(!why.pods[0].fits);
    assert!(
        why.pods[0].reasons[0].contains("analytics"),
        "{:?}",
        why.pods[0].reasons
    );
}

#[test]
fn ports_are_taken_lowest_first_and_checked() {
    let mut w = World::new(&group_toml(
        "processor",
        2,
        0.1,
        64.0,
        &["http", "admin"],
        &[],
    ));
    let three = OfferShape {
        ports: Some((31000, 31002)),
        ..big()
    };
    let o = offer(1, &three);
    let plan = w.run(std::slice::from_ref(&o));
    assert_eq!(plan.launches[0].pods.len(), 1, "second pod lacks ports");
    assert_eq!(plan.launches[0].pods[0].ports, vec![vec![31000, 31001]]);
    let why = explain(
        &w.spec,
        &w.desired,
        &w.tasks,
        &w.slots,
        &offer(
            2,
            &OfferShape {
                ports: None,
                ..big()
            },
        ),
        w.now_ms,
        10,
    );
    assert!(
        why.pods[0]
            .reasons
            .iter()
            .any(|r| r.starts_with("ports: needs 2")),
        "{why:?}"
    );
}

#[test]
fn binpack_fills_one_agent_and_spread_uses_many() {
    let text = group_toml("ingester", 3, 0.1, 64.0, &[], &[]);
    let offers = [offer(1, &big()), offer(2, &big()), offer(3, &big())];
    let mut w = World::new(&text);
    let agents: std::collections::BTreeSet<String> = slots_of(&w.run(&offers))
        .into_iter()
        .map(|(_, a)| a)
        .collect();
    assert_eq!(agents.len(), 1, "bin-pack");
    let mut w = World::new(&format!("placement_strategy = \"spread\"\n{text}"));
    let agents: std::collections::BTreeSet<String> = slots_of(&w.run(&offers))
        .into_iter()
        .map(|(_, a)| a)
        .collect();
    assert_eq!(agents.len(), 3, "spread");
}

#[test]
fn restarted_pod_goes_back_to_its_agent_only() {
    let mut w = World::new(&group_toml("ingester", 1, 0.1, 64.0, &[], &[]));
    w.slots.insert(
        "ingester-0".into(),
        SlotRecord {
            pinned_agent: Some("a-2".into()),
            ..Default::default()
        },
    );
    assert!(w.run(&[offer(1, &big())]).launches.is_empty());
    assert_eq!(
        slots_of(&w.run(&[offer(1, &big()), offer(2, &big())])),
        vec![("ingester-0".into(), "a-2".into())]
    );
}

#[test]
fn explain_lists_every_reason() {
    let w = World::new(&group_toml(
        "processor",
        1,
        8.0,
        16_000.0,
        &["http"],
        &["rack:MAX_PER:1"],
    ));
    let poor = OfferShape {
        ports: None,
        ..big()
    };
    let why = explain(
        &w.spec,
        &w.desired,
        &w.tasks,
        &w.slots,
        &offer(1, &poor),
        w.now_ms,
        10,
    );
    let reasons = &why.pods[0].reasons;
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(reasons[0].starts_with("cpus"));
    assert!(reasons[1].starts_with("mem"));
    assert!(reasons[2].starts_with("ports"));
    assert!(reasons[3].contains("no attribute `rack`"));
}

#[test]
fn progress_shows_phase_per_group_and_step_per_pod() {
    let mut w = World::new(&group_toml("ingester", 2, 0.1, 64.0, &[], &[]));
    w.add(task("ingester", 0, 1, TaskPhase::Running));
    w.add(task("ingester", 3, 1, TaskPhase::Running));
    let view = progress(&ProgressInput {
        spec: &w.spec,
        desired: &w.desired,
        tasks: &w.tasks,
        slots: &w.slots,
        current: &w.current,
        deployment: None,
        target: 1,
        now_ms: w.now_ms,
    });
    let steps: Vec<(&str, &str)> = view.phases[0]
        .steps
        .iter()
        .map(|s| (s.name.as_str(), s.status))
        .collect();
    assert_eq!(
        steps,
        vec![
            ("ingester-0", "COMPLETE"),
            ("ingester-1", "PENDING"),
            ("ingester-3", "KILLING")
        ]
    );
    assert_eq!(view.status, "IN_PROGRESS");
}

#[test]
fn many_pods_many_offers_is_linear() {
    // 2,000 UNIQUE pods onto 2,000 offers: pruning keeps the checks near pods + offers.
    let mut w = World::new(&group_toml(
        "processor",
        2000,
        0.1,
        64.0,
        &["http"],
        &["hostname:UNIQUE"],
    ));
    let offers: Vec<Offer> = (0..2000).map(|n| offer(n, &big())).collect();
    let plan = w.run(&offers);
    assert_eq!(plan.launches.len(), 2000);
    assert!(
        plan.evaluations < 10_000,
        "evaluations {}",
        plan.evaluations
    );
}
