//! Config versions and rolling updates, on the core: a new target starts a [`Deployment`]
//! of the groups whose pods change; the planner replaces their pods (`planner::rollouts`);
//! the operator steers it (`pause`, `resume`, `continue`, `abort`, per-step `force-complete`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::{Core, RequestError};
use crate::driver::input::Steer;
use crate::planner::GroupRollout;
use crate::records::{Change, Deployment};
use crate::spec::ValidatedSpec;
use crate::target::{pruned, Binaries, Origin, Target};

impl Core {
    /// Makes `target` the target. A group's desired count follows the new target's when
    /// that changed (or the group is new), and otherwise stays what the operator set. Groups
    /// whose pods change get a rolling update.
    pub(super) fn set_target(&mut self, target: Target, now_ms: u64) {
        let previous = self
            .state
            .target
            .and_then(|id| self.state.configs.get(&id))
            .cloned();
        let counts: BTreeMap<&str, u32> = previous
            .iter()
            .flat_map(|v| v.spec.groups.iter().map(|g| (g.name.as_str(), g.count)))
            .collect();
        for group in &target.spec.groups {
            let keep = counts.get(group.name.as_str()) == Some(&group.count);
            let desired = match self.state.desired.get(&group.name) {
                Some(d) if keep => *d,
                _ => group.count,
            };
            if self.state.desired.get(&group.name) != Some(&desired) {
                self.change(Change::Desired(group.name.clone(), desired));
            }
        }
        let id = target.id();
        if self.state.configs.get(&id) != Some(&target.version) {
            self.change(Change::PutConfig(Box::new(target.version.clone())));
        }
        if self.state.target != Some(id) {
            tracing::info!(version = id, sha256 = %target.version.sha256, "new target config");
            self.change(Change::Target(id));
            let changed: BTreeSet<String> = target
                .spec
                .groups
                .iter()
                .filter(|g| !target.runs_current(&g.name, previous.as_ref()))
                .map(|g| g.name.clone())
                .collect();
            if previous.is_some() && !changed.is_empty() {
                let mut deployment = Deployment::new(previous.map(|v| v.id), id, now_ms);
                deployment.groups = changed;
                self.change(Change::Deployment(Box::new(deployment)));
            }
        }
        self.target = Arc::new(target);
        self.refresh_current();
        self.prune_versions();
    }

    /// Which stored versions' pods run what the target wants, per group.
    pub(super) fn refresh_current(&mut self) {
        let target = self.target.clone();
        self.current = target
            .spec
            .groups
            .iter()
            .map(|g| {
                let ids = self
                    .state
                    .configs
                    .values()
                    .filter(|v| target.runs_current(&g.name, Some(v)))
                    .map(|v| v.id)
                    .collect();
                (g.name.clone(), ids)
            })
            .collect();
    }

    /// Forgets the oldest versions beyond those kept, sparing any a live pod runs and the
    /// one a deployment would roll back to.
    fn prune_versions(&mut self) {
        let mut in_use: BTreeSet<u32> = self
            .state
            .tasks
            .values()
            .filter(|t| !t.state.is_terminal())
            .map(|t| t.config)
            .collect();
        in_use.extend(self.state.deployment.as_ref().and_then(|d| d.from));
        for id in pruned(&self.state.configs, self.target.id(), &in_use) {
            self.change(Change::RemoveConfig(id));
        }
    }

    /// `cartrack update`: `spec` (validated by the caller against the framework's roles) and
    /// `binaries` (the current ones when `None`) become a new target, unless they are the
    /// target already. Returns the target's id.
    pub(super) fn update(
        &mut self,
        spec: ValidatedSpec,
        binaries: Option<Binaries>,
        now_ms: u64,
    ) -> u32 {
        let binaries = binaries.unwrap_or_else(|| self.target.version.binaries.clone());
        let id = self.next_version_id();
        let target = Target::new(id, spec, binaries, Origin::Update, now_ms);
        if target.version.sha256 == self.target.version.sha256 {
            return self.target.id();
        }
        self.set_target(target, now_ms);
        self.plan_now(&[], now_ms);
        id
    }

    /// The active deployment, if any.
    pub(super) fn active_deployment(&self) -> Option<&Deployment> {
        self.state
            .deployment
            .as_ref()
            .filter(|d| d.completed_ms.is_none())
    }

    pub(super) fn steer(&mut self, steer: Steer, now_ms: u64) -> Result<(), RequestError> {
        let Some(mut deployment) = self.active_deployment().cloned() else {
            return Err(RequestError::NoDeployment);
        };
        match steer {
            Steer::Pause => deployment.paused = true,
            Steer::Resume => deployment.paused = false,
            Steer::Continue { group } => {
                if let Some(name) = &group {
                    if !deployment.groups.contains(name) {
                        return Err(RequestError::UnknownGroup {
                            group: name.clone(),
                            known: deployment.groups.iter().cloned().collect(),
                        });
                    }
                }
                deployment.paused = false;
                let groups: Vec<String> = deployment
                    .groups
                    .iter()
                    .filter(|g| group.as_ref().is_none_or(|only| only == *g))
                    .cloned()
                    .collect();
                for name in groups {
                    let started = self.steps_started(&name);
                    let continued = deployment.continued.entry(name).or_default();
                    *continued = (*continued).max(started) + 1;
                }
            }
            Steer::Abort => return self.abort(deployment, now_ms),
            Steer::ForceComplete { slot } => return self.force_complete(&slot, now_ms),
        }
        self.change(Change::Deployment(Box::new(deployment)));
        self.plan_now(&[], now_ms);
        Ok(())
    }

    /// Slots of `group` below its count whose pod no longer runs an outdated version.
    fn steps_started(&self, group: &str) -> u32 {
        let count = self.desired_count(group);
        let versions = self.current.get(group);
        let outdated: BTreeSet<&str> = self
            .state
            .tasks
            .values()
            .filter(|t| t.group == group && t.index < count && t.holds_slot())
            .filter(|t| t.kill.is_none() && !versions.is_some_and(|v| v.contains(&t.config)))
            .map(|t| t.slot.as_str())
            .collect();
        count.saturating_sub(outdated.len() as u32)
    }

    /// The desired count of `group`: what the operator or autoscaling set, else the target's.
    pub fn desired_count(&self, group: &str) -> u32 {
        self.state
            .desired
            .get(group)
            .copied()
            .unwrap_or_else(|| self.target.spec.group(group).map_or(0, |g| g.count))
    }

    fn abort(&mut self, deployment: Deployment, now_ms: u64) -> Result<(), RequestError> {
        let Some(from) = deployment.from else {
            return Err(RequestError::NoRollback(
                "the deployment has no earlier version".into(),
            ));
        };
        let version = self
            .state
            .configs
            .get(&from)
            .cloned()
            .ok_or_else(|| RequestError::NoRollback(format!("version {from} is not kept")))?;
        let target = Target::from_version(version, &self.config.roles).map_err(|e| {
            RequestError::NoRollback(format!("version {from} no longer validates: {e}"))
        })?;
        tracing::warn!(
            from = deployment.to,
            to = from,
            "deployment aborted: rolling back"
        );
        let groups = deployment.groups.clone();
        self.set_target(target, now_ms);
        let mut rollback = Deployment::new(Some(deployment.to), from, now_ms);
        rollback.groups = groups;
        rollback.rollback = true;
        self.change(Change::Deployment(Box::new(rollback)));
        self.plan_now(&[], now_ms);
        Ok(())
    }

    fn force_complete(&mut self, slot: &str, now_ms: u64) -> Result<(), RequestError> {
        let pod = self.tasks_holding(slot);
        if pod.is_empty() {
            return Err(RequestError::NoSuchPod(slot.to_string()));
        }
        let target = self.target.id();
        tracing::warn!(%slot, version = target, "step forced complete: the pod keeps what it runs");
        for mut task in pod {
            task.config = target;
            self.put_task(task);
        }
        self.plan_now(&[], now_ms);
        Ok(())
    }

    /// Marks the deployment complete once every group it changes is done.
    pub(super) fn check_deployment(&mut self, rollouts: &[GroupRollout], now_ms: u64) {
        let Some(deployment) = self.active_deployment() else {
            return;
        };
        let done = self
            .target
            .spec
            .groups
            .iter()
            .zip(rollouts)
            .filter(|(g, _)| deployment.groups.contains(&g.name))
            .all(|(_, r)| r.done);
        if done {
            let mut deployment = deployment.clone();
            deployment.completed_ms = Some(now_ms);
            tracing::info!(version = deployment.to, "deployment complete");
            self.change(Change::Deployment(Box::new(deployment)));
        }
    }
}
