//! What must hold after every step, and what must hold once faults stop.

use std::collections::{BTreeMap, BTreeSet};

use cartrack_devcluster::core::Core as Cluster;
use cartrack_framework::records::{KillIntent, StoredState};
use mesos_proto::v1::TaskState;

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// A pod was launched while another pod of its slot was live on an agent the master could
    /// see, or two such pods are live at once.
    #[error("slot {slot} has two live pods: {pods:?}")]
    TwoLivePods {
        /// The slot.
        slot: String,
        /// Its live pods (first task ids), with their agents.
        pods: Vec<String>,
    },
    /// A delivered status update with a uuid was not acknowledged exactly once.
    #[error("update {task_id} {uuid} was delivered once and acknowledged {acks} times")]
    Acknowledgements {
        /// Its task.
        task_id: String,
        /// Its uuid (short).
        uuid: String,
        /// ACKNOWLEDGEs the scheduler sent for this delivery.
        acks: usize,
    },
    /// An ACCEPT left the scheduler for a task its store does not hold.
    #[error("ACCEPT sent for task {0} that the store does not hold: its launch intent would be lost in a crash")]
    LaunchIntentNotPersisted(String),
    /// Autoscaling changed a count it must not have: beyond `min ..= max`, while an operator
    /// pinned it, or while a deployment of the group ran.
    #[error("autoscaling: {0}")]
    Autoscale(String),
    /// The simulation could not be set up (its built-in spec or resources do not parse).
    #[error("setup: {0}")]
    Setup(String),
    /// Faults stopped and the cluster did not reach the desired state in time.
    #[error("not converged {waited_ms} ms after faults stopped: {why}")]
    NotConverged {
        /// Virtual ms waited.
        waited_ms: u64,
        /// What was still wrong.
        why: String,
    },
}

/// A pod as the dev cluster runs it.
#[derive(Debug, Clone)]
struct LivePod {
    slot: String,
    agent: String,
    running: bool,
}

/// Pods by identity (first task id), learnt from the ACCEPTs the scheduler sends.
#[derive(Debug, Default)]
pub(crate) struct Pods {
    /// Task id -> (pod id, slot).
    pod_of: BTreeMap<String, (String, String)>,
    /// Pods seen live at the last check.
    seen: BTreeSet<String>,
    /// Pods whose slot was given to a replacement while the master could not see them.
    superseded: BTreeSet<String>,
}

impl Pods {
    /// Learns the pods of an ACCEPT.
    pub(crate) fn learn(&mut self, pods: Vec<(String, String, Vec<String>)>) {
        for (pod, slot, tasks) in pods {
            for task in tasks {
                self.pod_of.insert(task, (pod.clone(), slot.clone()));
            }
        }
    }

    /// Live pods of `framework_id`: non-terminal tasks on running agents whose executor
    /// still exists.
    fn live(&self, cluster: &Cluster, framework_id: &str) -> BTreeMap<String, LivePod> {
        let mut live: BTreeMap<String, LivePod> = BTreeMap::new();
        for agent in cluster.agents.values().filter(|a| a.up) {
            for ((fid, task_id), task) in &agent.tasks {
                if fid != framework_id || task.state.is_terminal() {
                    continue;
                }
                if !agent
                    .executors
                    .contains_key(&(fid.clone(), task.executor_id.clone()))
                {
                    continue;
                }
                let (pod, slot) = self
                    .pod_of
                    .get(task_id)
                    .cloned()
                    .unwrap_or_else(|| (task_id.clone(), task_id.clone()));
                let entry = live.entry(pod).or_insert(LivePod {
                    slot,
                    agent: agent.id.clone(),
                    running: true,
                });
                entry.running &= task.state == TaskState::TaskRunning && !task.unreachable;
            }
        }
        live
    }

    /// After every step: a newly live pod may only join a slot whose other live pods are on
    /// agents the master cannot see, or that the scheduler gave up (its saved record says
    /// unreachable too long) — their agent may come back while the replacement's ACCEPT is on
    /// its way. Those are superseded: killed when seen again. No slot ever has two live pods
    /// that are not superseded.
    pub(crate) fn check(
        &mut self,
        cluster: &Cluster,
        framework_id: &str,
        store: &StoredState,
    ) -> Result<(), Violation> {
        let live = self.live(cluster, framework_id);
        let reachable = |agent: &str| cluster.agents.get(agent).is_some_and(|a| a.reachable);
        let given_up = |pod: &str| {
            store
                .tasks
                .get(pod)
                .is_some_and(|t| t.kill == Some(KillIntent::Unreachable))
        };
        let new: Vec<String> = live
            .keys()
            .filter(|p| !self.seen.contains(*p))
            .cloned()
            .collect();
        for pod in &new {
            let slot = &live[pod].slot;
            for (other, o) in live.iter().filter(|(p, o)| *p != pod && o.slot == *slot) {
                if self.superseded.contains(other) || new.contains(other) {
                    continue;
                }
                if reachable(&o.agent) && !given_up(other) {
                    return Err(two_pods(slot, &live));
                }
                self.superseded.insert(other.clone());
            }
        }
        self.seen = live.keys().cloned().collect();
        self.superseded.retain(|p| live.contains_key(p));
        let mut by_slot: BTreeMap<&str, usize> = BTreeMap::new();
        for (pod, p) in &live {
            if !self.superseded.contains(pod) {
                *by_slot.entry(p.slot.as_str()).or_default() += 1;
            }
        }
        let crowded = by_slot
            .into_iter()
            .find(|(_, n)| *n > 1)
            .map(|(s, _)| s.to_string());
        match crowded {
            Some(slot) => Err(two_pods(&slot, &live)),
            None => Ok(()),
        }
    }

    /// Once faults stopped: why the cluster is not yet what the store asks for (`None` when
    /// it is): each wanted slot one RUNNING pod, no other pod, every update acknowledged.
    pub(crate) fn unconverged(
        &self,
        cluster: &Cluster,
        store: &StoredState,
        groups: &[String],
    ) -> Option<String> {
        let Some(framework_id) = store.framework_id.as_deref() else {
            return Some("no framework id stored".into());
        };
        let live = self.live(cluster, framework_id);
        let mut wanted = BTreeSet::new();
        for group in groups {
            let count = store.desired.get(group).copied().unwrap_or(0);
            wanted.extend((0..count).map(|i| format!("{group}-{i}")));
        }
        for slot in &wanted {
            let pods: Vec<&LivePod> = live.values().filter(|p| p.slot == *slot).collect();
            match pods.as_slice() {
                [p] if p.running => {}
                [p] => return Some(format!("slot {slot}: pod on {} not RUNNING", p.agent)),
                [] => return Some(format!("slot {slot}: no live pod")),
                _ => return Some(format!("slot {slot}: {} live pods", pods.len())),
            }
        }
        if let Some((pod, p)) = live.iter().find(|(_, p)| !wanted.contains(&p.slot)) {
            return Some(format!("pod {pod} of unwanted slot {} still live", p.slot));
        }
        for agent in cluster.agents.values() {
            for ((fid, task_id), task) in &agent.tasks {
                if fid == framework_id && !task.updates.is_empty() {
                    return Some(format!(
                        "task {task_id} on {} has {} unacknowledged updates",
                        agent.id,
                        task.updates.len()
                    ));
                }
            }
        }
        if let Some(t) = store
            .tasks
            .values()
            .find(|t| t.holds_slot() && t.state != cartrack_framework::records::TaskPhase::Running)
        {
            return Some(format!(
                "scheduler's task {} is {}",
                t.task_id,
                t.state.name()
            ));
        }
        None
    }
}

fn two_pods(slot: &str, live: &BTreeMap<String, LivePod>) -> Violation {
    Violation::TwoLivePods {
        slot: slot.to_string(),
        pods: live
            .iter()
            .filter(|(_, p)| p.slot == slot)
            .map(|(id, p)| format!("{id} on {}", p.agent))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet, VecDeque};
    use std::time::{Duration, Instant};

    use cartrack_devcluster::core::{Agent, Core as Cluster, CoreConfig, Executor, Task};
    use cartrack_devcluster::resources::Resources;
    use mesos_proto::v1::{ExecutorInfo, TaskInfo, TaskState};

    use cartrack_framework::records::{Change, KillIntent, StoredState, TaskPhase, TaskRecord};

    use super::{Pods, Violation};

    /// The record of task `task_id` of `slot`, given up as unreachable too long.
    fn given_up(task_id: &str, slot: &str) -> TaskRecord {
        TaskRecord {
            task_id: task_id.into(),
            slot: slot.into(),
            group: "web".into(),
            index: 0,
            task_name: "main".into(),
            agent_id: "a".into(),
            hostname: "a".into(),
            attributes: BTreeMap::new(),
            role: "*".into(),
            executor_id: "e".into(),
            ports: BTreeMap::new(),
            state: TaskPhase::Unreachable,
            healthy: None,
            ready: None,
            ready_when: cartrack_framework::records::ReadyWhen::Running,
            message: None,
            launched_at_ms: 0,
            running_since_ms: None,
            kill: Some(KillIntent::Unreachable),
            last_kill_sent_ms: None,
            unreachable_since_ms: Some(0),
            config: 1,
        }
    }

    const FID: &str = "f";

    fn cluster() -> Cluster {
        let second = Duration::from_secs(1);
        let agents = ["a", "b"]
            .iter()
            .map(|id| {
                Agent::new(
                    id.to_string(),
                    Resources::default(),
                    Resources::default(),
                    vec![],
                )
            })
            .collect();
        Cluster::new(
            CoreConfig {
                heartbeat_interval: second,
                status_update_retry: second,
                executor_registration_timeout: second,
                agent_unreachable_timeout: second,
                executor_shutdown_grace: second,
            },
            "t".into(),
            agents,
            Instant::now(),
        )
    }

    /// Puts task `task_id` (running, under executor `e`) on `agent`.
    fn run_task(c: &mut Cluster, agent: &str, task_id: &str) {
        let agent = c.agents.get_mut(agent).unwrap();
        agent.executors.insert(
            (FID.into(), "e".into()),
            Executor {
                info: ExecutorInfo::default(),
                resources: Resources::default(),
                container_id: "c".into(),
                checkpoint: true,
                connected: true,
                register_deadline: None,
                pending: Vec::new(),
                shutting_down: false,
                orphaned: false,
                reregistering: false,
                command_task: false,
            },
        );
        agent.tasks.insert(
            (FID.into(), task_id.into()),
            Task {
                info: TaskInfo::default(),
                executor_id: "e".into(),
                state: TaskState::TaskRunning,
                resources: Resources::default(),
                updates: VecDeque::new(),
                received_uuids: HashSet::new(),
                next_retry: None,
                retry_backoff: Duration::from_secs(1),
                kill_requested: false,
                unreachable: false,
            },
        );
    }

    fn pods(launched: &[(&str, &str)]) -> Pods {
        let mut pods = Pods::default();
        pods.learn(
            launched
                .iter()
                .map(|(task, slot)| (task.to_string(), slot.to_string(), vec![task.to_string()]))
                .collect(),
        );
        pods
    }

    #[test]
    fn a_second_pod_beside_a_visible_one_breaks_the_slot_invariant() {
        let mut c = cluster();
        let mut p = pods(&[("t1", "web-0"), ("t2", "web-0")]);
        run_task(&mut c, "a", "t1");
        assert_eq!(p.check(&c, FID, &StoredState::default()), Ok(()));
        run_task(&mut c, "b", "t2");
        assert!(matches!(
            p.check(&c, FID, &StoredState::default()),
            Err(Violation::TwoLivePods { slot, .. }) if slot == "web-0"
        ));
    }

    #[test]
    fn a_replacement_for_a_pod_the_master_cannot_see_supersedes_it() {
        let mut c = cluster();
        let mut p = pods(&[("t1", "web-0"), ("t2", "web-0")]);
        run_task(&mut c, "a", "t1");
        assert_eq!(p.check(&c, FID, &StoredState::default()), Ok(()));
        c.agents.get_mut("a").unwrap().reachable = false;
        run_task(&mut c, "b", "t2");
        assert_eq!(p.check(&c, FID, &StoredState::default()), Ok(()));
        // Seen again, the old pod is being killed: still not counted.
        c.agents.get_mut("a").unwrap().reachable = true;
        assert_eq!(p.check(&c, FID, &StoredState::default()), Ok(()));
    }

    #[test]
    fn a_replacement_for_a_pod_the_scheduler_gave_up_supersedes_it_even_if_its_agent_is_back() {
        let mut c = cluster();
        let mut p = pods(&[("t1", "web-0"), ("t2", "web-0")]);
        run_task(&mut c, "a", "t1");
        let mut store = StoredState::default();
        store.apply(&Change::PutTask(Box::new(given_up("t1", "web-0"))));
        assert_eq!(p.check(&c, FID, &store), Ok(()));
        // The agent came back while the replacement's ACCEPT was on its way.
        run_task(&mut c, "b", "t2");
        assert_eq!(p.check(&c, FID, &store), Ok(()));
        // A pod the scheduler still counts is not superseded.
        let mut p = pods(&[("t1", "web-0"), ("t2", "web-0")]);
        assert!(matches!(
            p.check(&c, FID, &StoredState::default()),
            Err(Violation::TwoLivePods { .. })
        ));
    }

    #[test]
    fn settling_needs_every_wanted_slot_running_and_every_update_acknowledged() {
        let mut c = cluster();
        let p = pods(&[("t1", "web-0")]);
        let mut store = StoredState {
            framework_id: Some(FID.into()),
            ..Default::default()
        };
        store.desired = BTreeMap::from([("web".to_string(), 1)]);
        let groups = ["web".to_string()];
        assert_eq!(
            p.unconverged(&c, &store, &groups).as_deref(),
            Some("slot web-0: no live pod")
        );
        run_task(&mut c, "a", "t1");
        assert_eq!(p.unconverged(&c, &store, &groups), None);
        let task = c
            .agents
            .get_mut("a")
            .unwrap()
            .tasks
            .get_mut(&(FID.to_string(), "t1".to_string()))
            .unwrap();
        task.updates.push_back(Default::default());
        assert!(p
            .unconverged(&c, &store, &groups)
            .is_some_and(|why| why.contains("unacknowledged")));
    }
}
