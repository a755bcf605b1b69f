//! Autoscaling on the core: a load sample goes through the group's [`GroupState`] and may
//! change its desired count (never its config version). An operator's `scale` pins the count
//! until `resume`; a deployment of the group holds it.

use super::{Core, RequestError};
use crate::planner::autoscale::{Autoscaler, Counts, GroupState, Holds, LoadSample, Outcome};
use crate::records::{Change, TaskPhase};

/// A group's pods by how far they got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PodCounts {
    /// Every task of the pod RUNNING.
    pub running: u32,
    /// Launched, not all RUNNING yet.
    pub staging: u32,
}

impl Core {
    /// Autoscaling's state and decisions.
    pub fn autoscaler(&self) -> &Autoscaler {
        &self.autoscaler
    }

    /// The autoscaling state of `group`, if it is autoscaled and has had a sample.
    pub fn autoscale_state(&self, group: &str) -> Option<&GroupState> {
        self.autoscaler.groups.get(group)
    }

    /// Whether an operator pinned `group`'s count.
    pub fn autoscale_pinned(&self, group: &str) -> bool {
        self.state.autoscale_pinned.contains(group)
    }

    /// What keeps autoscaling from changing `group`'s count now: an operator's pin, a
    /// deployment of the group.
    pub fn autoscale_holds(&self, group: &str) -> Holds {
        Holds {
            pinned: self.autoscale_pinned(group),
            deploying: self
                .state
                .deployment
                .as_ref()
                .is_some_and(|d| d.is_active_for(group)),
        }
    }

    /// The pods of `group` holding a slot (surge slots included), by how far they got.
    pub fn pod_counts(&self, group: &str) -> PodCounts {
        let tasks_per_pod = self.target.spec.group(group).map_or(0, |g| g.tasks.len());
        let prefix = format!("{group}-");
        let mut slots: std::collections::BTreeMap<&str, (usize, bool)> = Default::default();
        for task in self.state.tasks.values().filter(|t| t.holds_slot()) {
            let is_mine = task
                .slot
                .strip_prefix(&prefix)
                .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit()));
            if is_mine {
                let (tasks, all_running) = slots.entry(task.slot.as_str()).or_insert((0, true));
                *tasks += 1;
                *all_running &= task.state == TaskPhase::Running;
            }
        }
        let mut counts = PodCounts::default();
        for (tasks, all_running) in slots.into_values() {
            if tasks == tasks_per_pod && all_running {
                counts.running += 1;
            } else {
                counts.staging += 1;
            }
        }
        counts
    }

    /// A load sample of an autoscaled group: may change its desired count.
    pub(super) fn on_load(&mut self, sample: LoadSample, now_ms: u64) {
        let Some(rules) = self
            .target
            .spec
            .group(&sample.group)
            .and_then(|g| g.autoscale.clone())
        else {
            return;
        };
        if self.state.uninstall.is_some() {
            return;
        }
        let group = sample.group.clone();
        let counts = Counts {
            desired: self.desired_count(&group),
            running: self.pod_counts(&group).running,
        };
        let holds = self.autoscale_holds(&group);
        let outcome = self
            .autoscaler
            .group(&group)
            .decide(&rules, &sample, counts, holds, now_ms);
        if let Outcome::Scale(decision) = outcome {
            tracing::info!(
                group,
                metric = decision.metric,
                value = decision.value,
                from = decision.from,
                to = decision.to,
                reason = decision.reason,
                "autoscaling"
            );
            self.change(Change::Desired(group, decision.to));
            self.autoscaler.record(decision);
            self.plan_now(&[], now_ms);
        }
    }

    /// `cartrack autoscale resume <group>`: autoscaling follows the load again.
    pub(super) fn resume_autoscale(&mut self, group: &str) -> Result<(), RequestError> {
        let autoscaled: Vec<String> = self
            .target
            .spec
            .groups
            .iter()
            .filter(|g| g.autoscale.is_some())
            .map(|g| g.name.clone())
            .collect();
        if !autoscaled.iter().any(|g| g == group) {
            return Err(RequestError::NotAutoscaled {
                group: group.to_string(),
                autoscaled,
            });
        }
        if self.autoscale_pinned(group) {
            self.change(Change::AutoscalePin(group.to_string(), false));
        }
        Ok(())
    }
}
