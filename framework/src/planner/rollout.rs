//! Rolling updates: which pods running an outdated config version are replaced now.
//!
//! A pod is replaced in place — killed, then relaunched in its slot from the target — so a
//! slot never runs two pods. Availability bounds the pace: per group, at least
//! `count - max_unavailable` pods stay ready, and `max_surge` extra slots (indices from the
//! count up) run target pods while old ones remain, then scale away. A pod is ready when all
//! its tasks run and pass their health checks, or, for tasks without one, have run for
//! `min_ready_seconds`. Canary steps and a paused deployment hold new steps; steps already
//! started finish.

use std::collections::{BTreeMap, BTreeSet};

use super::pending::slot_name;
use crate::records::{Deployment, ReadyWhen, TaskPhase, TaskRecord};
use crate::spec::{GroupPlan, ValidatedSpec};

/// Why a group's next step does not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// The deployment is paused.
    Paused,
    /// A canary step waits for `continue`.
    Canary,
    /// Replacing another pod now would leave fewer than `count - max_unavailable` ready.
    Unavailable,
}

/// One group's rollout now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupRollout {
    /// Pods still on an outdated version (including those being replaced).
    pub outdated: u32,
    /// Extra slots kept for the update.
    pub surge: u32,
    /// Slots to replace now.
    pub replace: Vec<String>,
    /// Why no (further) step starts while pods are outdated.
    pub hold: Option<Hold>,
    /// Every slot below the count holds a ready pod of the target, and no old pod is left.
    pub done: bool,
}

/// The pods of a slot as the planner counts them (tasks holding it).
pub(crate) fn live_pods(tasks: &BTreeMap<String, TaskRecord>) -> BTreeMap<&str, Vec<&TaskRecord>> {
    let mut live: BTreeMap<&str, Vec<&TaskRecord>> = BTreeMap::new();
    for task in tasks.values().filter(|t| t.holds_slot()) {
        live.entry(task.slot.as_str()).or_default().push(task);
    }
    live
}

/// Whether a pod of `group` is ready: all its tasks RUNNING, and each passing its readiness
/// check, or healthy, or RUNNING for the group's `min_ready_seconds` — whichever its version
/// gave it ([`ReadyWhen`]).
pub fn pod_ready(group: &GroupPlan, pod: &[&TaskRecord], now_ms: u64) -> bool {
    pod.len() == group.tasks.len()
        && pod.iter().all(|t| {
            t.state == TaskPhase::Running
                && t.kill.is_none()
                && match t.ready_when {
                    ReadyWhen::Check => t.ready == Some(true),
                    ReadyWhen::Healthy => t.healthy == Some(true),
                    ReadyWhen::Running => t.running_since_ms.is_some_and(|since| {
                        now_ms.saturating_sub(since) >= group.rollout.min_ready_ms
                    }),
                }
        })
}

/// Decides each group's rollout (in spec order). `current` lists, per group, the versions
/// whose pods run what the target wants.
pub fn rollouts(
    spec: &ValidatedSpec,
    desired: &BTreeMap<String, u32>,
    tasks: &BTreeMap<String, TaskRecord>,
    current: &BTreeMap<String, BTreeSet<u32>>,
    deployment: Option<&Deployment>,
    now_ms: u64,
) -> Vec<GroupRollout> {
    let live = live_pods(tasks);
    spec.groups
        .iter()
        .map(|group| {
            let count = desired.get(&group.name).copied().unwrap_or(group.count);
            let versions = current.get(&group.name);
            let is_current = |pod: &[&TaskRecord]| {
                pod.iter()
                    .all(|t| versions.is_some_and(|v| v.contains(&t.config)))
            };
            let pod_at = |index: u32| live.get(slot_name(&group.name, index).as_str());
            let stale: Vec<(u32, &Vec<&TaskRecord>)> = (0..count + group.rollout.max_surge)
                .filter_map(|index| pod_at(index).map(|pod| (index, pod)))
                .filter(|(_, pod)| !is_current(pod))
                .collect();
            let settled = (0..count).all(|index| {
                pod_at(index).is_some_and(|pod| is_current(pod) && pod_ready(group, pod, now_ms))
            });
            let mut rollout = GroupRollout {
                outdated: stale.len() as u32,
                done: stale.is_empty() && settled,
                ..GroupRollout::default()
            };
            let active = deployment.is_some_and(|d| d.is_active_for(&group.name));
            if stale.is_empty() && (settled || !active) {
                return rollout;
            }
            rollout.surge = group.rollout.max_surge;
            let mut ready = (0..count + rollout.surge)
                .filter_map(pod_at)
                .filter(|pod| pod_ready(group, pod, now_ms))
                .count() as u32;
            let floor = count.saturating_sub(group.rollout.max_unavailable);
            // Steps started: slots below the count no longer waiting on an old pod.
            let waiting: Vec<(u32, bool)> = stale
                .iter()
                .filter(|(_, pod)| pod.iter().all(|t| t.kill.is_none()))
                .map(|(index, pod)| (*index, pod_ready(group, pod, now_ms)))
                .collect();
            let waiting_below = waiting.iter().filter(|(i, _)| *i < count).count() as u32;
            // Unready old pods first: replacing them costs no availability.
            let mut order = waiting;
            order.sort_by_key(|&(index, ready)| (ready, index));
            let first_step = count.saturating_sub(waiting_below);
            for (started, (index, pod_is_ready)) in (first_step..).zip(order) {
                let hold = match deployment {
                    Some(d) if d.paused => Some(Hold::Paused),
                    Some(d)
                        if !d.rollback
                            && started < group.rollout.canary_steps
                            && d.continued.get(&group.name).copied().unwrap_or(0) <= started =>
                    {
                        Some(Hold::Canary)
                    }
                    _ if pod_is_ready && ready <= floor => Some(Hold::Unavailable),
                    _ => None,
                };
                if let Some(hold) = hold {
                    rollout.hold = Some(hold);
                    break;
                }
                if pod_is_ready {
                    ready -= 1;
                }
                rollout.replace.push(slot_name(&group.name, index));
            }
            rollout
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{group_toml, spec, task};

    const NOW: u64 = 1_000_000;

    fn web(extra: &str) -> ValidatedSpec {
        let toml = group_toml("web", 3, 0.1, 32.0, &[], &[]);
        spec(&toml.replacen("count = 3", &format!("count = 3\n{extra}"), 1))
    }

    /// Three running pods on version 1, ready for long; version 2 is the target.
    fn world(versions: &[u32]) -> BTreeMap<String, TaskRecord> {
        versions
            .iter()
            .enumerate()
            .map(|(i, &config)| {
                let mut t = task("web", i as u32, i, TaskPhase::Running);
                t.running_since_ms = Some(0);
                t.config = config;
                (t.task_id.clone(), t)
            })
            .collect()
    }

    fn current() -> BTreeMap<String, BTreeSet<u32>> {
        [("web".to_string(), [2u32].into_iter().collect())]
            .into_iter()
            .collect()
    }

    fn roll(spec: &ValidatedSpec, tasks: &BTreeMap<String, TaskRecord>) -> GroupRollout {
        roll_with(spec, tasks, None)
    }

    fn roll_with(
        spec: &ValidatedSpec,
        tasks: &BTreeMap<String, TaskRecord>,
        deployment: Option<&Deployment>,
    ) -> GroupRollout {
        rollouts(spec, &BTreeMap::new(), tasks, &current(), deployment, NOW).remove(0)
    }

    #[test]
    fn one_pod_at_a_time_keeps_count_minus_max_unavailable_ready() {
        let spec = web("");
        let mut tasks = world(&[1, 1, 1]);
        let r = roll(&spec, &tasks);
        assert_eq!(
            (r.outdated, r.surge, r.hold),
            (3, 0, Some(Hold::Unavailable))
        );
        assert_eq!(r.replace, vec!["web-0"]);
        // web-0 relaunched on version 2, not ready yet: nothing else goes.
        let mut new = task("web", 0, 0, TaskPhase::Running);
        new.config = 2;
        new.running_since_ms = Some(NOW - 1);
        tasks.retain(|_, t| t.slot != "web-0");
        tasks.insert(new.task_id.clone(), new.clone());
        let r = roll(&spec, &tasks);
        assert!(r.replace.is_empty());
        assert_eq!(r.hold, Some(Hold::Unavailable));
        // Ready after min_ready_seconds (default 10 s): the next one.
        new.running_since_ms = Some(NOW - 10_000);
        tasks.insert(new.task_id.clone(), new);
        assert_eq!(roll(&spec, &tasks).replace, vec!["web-1"]);
    }

    #[test]
    fn each_pod_is_judged_by_what_its_version_launched_it_with() {
        let spec = web("");
        let tasks = world(&[1, 1, 1]);
        let mut t = tasks.values().next().cloned().expect("a task");
        t.running_since_ms = Some(NOW - 10_000);
        assert!(pod_ready(&spec.groups[0], &[&t], NOW), "RUNNING for 10 s");
        t.running_since_ms = Some(NOW - 9_999);
        assert!(!pod_ready(&spec.groups[0], &[&t], NOW));
        t.ready_when = ReadyWhen::Healthy;
        assert!(!pod_ready(&spec.groups[0], &[&t], NOW));
        t.healthy = Some(true);
        assert!(pod_ready(&spec.groups[0], &[&t], NOW));
        t.ready_when = ReadyWhen::Check;
        assert!(
            !pod_ready(&spec.groups[0], &[&t], NOW),
            "healthy is not ready"
        );
        t.ready = Some(true);
        assert!(pod_ready(&spec.groups[0], &[&t], NOW));
        t.kill = Some(crate::records::KillIntent::Upgrade);
        assert!(!pod_ready(&spec.groups[0], &[&t], NOW), "being replaced");
    }

    #[test]
    fn surge_pods_come_first_and_unready_old_pods_go_first() {
        let spec = web("deploy = { max_unavailable = 0, max_surge = 1 }");
        let mut tasks = world(&[1, 1, 1]);
        let r = roll(&spec, &tasks);
        assert_eq!((r.surge, r.hold), (1, Some(Hold::Unavailable)));
        assert!(
            r.replace.is_empty(),
            "no pod goes before the surge pod is ready"
        );
        let mut surge = task("web", 3, 3, TaskPhase::Running);
        surge.config = 2;
        surge.running_since_ms = Some(0);
        tasks.insert(surge.task_id.clone(), surge);
        assert_eq!(roll(&spec, &tasks).replace, vec!["web-0"]);
        // An old pod that is not ready is replaced first, at no cost; then no ready one
        // may go, as that would leave fewer than the count ready.
        for t in tasks.values_mut().filter(|t| t.slot == "web-2") {
            t.state = TaskPhase::Starting;
        }
        let r = roll(&spec, &tasks);
        assert_eq!(
            (r.replace, r.hold),
            (vec!["web-2".to_string()], Some(Hold::Unavailable))
        );
    }

    #[test]
    fn canaries_wait_for_continue_and_pause_holds_everything() {
        let spec = web("deploy = { max_unavailable = 3, canary_steps = 1 }");
        let tasks = world(&[1, 1, 1]);
        let mut d = Deployment::new(Some(1), 2, 0);
        let r = roll_with(&spec, &tasks, Some(&d));
        assert_eq!((r.replace.len(), r.hold), (0, Some(Hold::Canary)));
        d.continued.insert("web".into(), 1);
        let r = roll_with(&spec, &tasks, Some(&d));
        assert_eq!(r.replace, vec!["web-0", "web-1", "web-2"]);
        d.paused = true;
        assert_eq!(roll_with(&spec, &tasks, Some(&d)).hold, Some(Hold::Paused));
        d.paused = false;
        d.rollback = true;
        d.continued.clear();
        assert_eq!(roll_with(&spec, &tasks, Some(&d)).replace.len(), 3);
    }

    #[test]
    fn pods_on_the_target_or_being_killed_are_left_alone() {
        let spec = web("");
        let r = roll(&spec, &world(&[2, 2, 2]));
        assert_eq!(
            r,
            GroupRollout {
                done: true,
                ..GroupRollout::default()
            }
        );
        let mut tasks = world(&[1, 2, 2]);
        for t in tasks.values_mut().filter(|t| t.slot == "web-0") {
            t.kill = Some(crate::records::KillIntent::Upgrade);
        }
        let r = roll(&spec, &tasks);
        assert_eq!((r.outdated, r.replace.len(), r.done), (1, 0, false));
    }

    #[test]
    fn surge_slots_stay_until_every_slot_is_ready_on_the_target() {
        let spec = web("deploy = { max_unavailable = 0, max_surge = 1 }");
        let mut d = Deployment::new(Some(1), 2, 0);
        d.groups.insert("web".into());
        // web-0 was replaced and is not back yet; no old pod is left.
        let mut tasks = world(&[2, 2, 2, 2]);
        tasks.retain(|_, t| t.slot != "web-0");
        let r = roll_with(&spec, &tasks, Some(&d));
        assert_eq!((r.outdated, r.surge, r.done), (0, 1, false));
        let r = roll_with(&spec, &world(&[2, 2, 2]), Some(&d));
        assert_eq!((r.surge, r.done), (0, true));
    }
}
