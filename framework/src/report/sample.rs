//! One sample of the cluster: per agent, its capacity and what each service holds of it, read
//! from the master's `/master/state` (reduced by [`cartrack_webui::cluster`]) and the
//! scheduler's records. Pure: the sampler fetches, this only reads.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use cartrack_webui::cluster::{ClusterView, Scalars};
use serde::Serialize;

/// CPU shares and memory (MB), the two resources the report counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct CpusMem {
    /// CPU shares.
    pub cpus: f64,
    /// Memory, MB.
    pub mem: f64,
}

impl CpusMem {
    /// `cpus` and `mem`.
    pub fn new(cpus: f64, mem: f64) -> CpusMem {
        CpusMem { cpus, mem }
    }

    /// Each resource the larger of the two.
    pub fn max(self, other: CpusMem) -> CpusMem {
        CpusMem::new(self.cpus.max(other.cpus), self.mem.max(other.mem))
    }

    /// Each resource divided by `n` (zero for `n == 0`).
    pub fn per(self, n: f64) -> CpusMem {
        self.ratio(CpusMem::new(n, n))
    }

    /// Each resource of `self` over the same resource of `whole` (zero where `whole` has none).
    pub fn ratio(self, whole: CpusMem) -> CpusMem {
        let div = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        CpusMem::new(div(self.cpus, whole.cpus), div(self.mem, whole.mem))
    }
}

impl From<Scalars> for CpusMem {
    fn from(s: Scalars) -> CpusMem {
        CpusMem::new(s.cpus, s.mem)
    }
}

impl std::ops::Add for CpusMem {
    type Output = CpusMem;
    fn add(self, other: CpusMem) -> CpusMem {
        CpusMem::new(self.cpus + other.cpus, self.mem + other.mem)
    }
}

impl std::ops::AddAssign for CpusMem {
    fn add_assign(&mut self, other: CpusMem) {
        *self = *self + other;
    }
}

impl std::ops::Sub for CpusMem {
    type Output = CpusMem;
    fn sub(self, other: CpusMem) -> CpusMem {
        CpusMem::new(self.cpus - other.cpus, self.mem - other.mem)
    }
}

/// Whose allocation it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceKind {
    /// One of cartrack's pod groups (its tasks, and its part of cartrack's executors).
    CartrackGroup,
    /// Another framework on the cluster, by name.
    Framework,
}

/// A service: a cartrack group or another framework.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Service {
    /// Groups first, then frameworks.
    pub kind: ServiceKind,
    /// The group's or the framework's name.
    pub name: Arc<str>,
}

/// The name under which cartrack's executor resources are counted when no task of ours on that
/// agent names the executor (it lingers after its tasks ended).
pub const UNATTRIBUTED_EXECUTOR: &str = "(executor)";

/// One agent at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSample {
    /// Mesos agent id.
    pub id: Arc<str>,
    /// Its hostname.
    pub hostname: Arc<str>,
    /// Its total resources.
    pub capacity: CpusMem,
    /// What each service holds here; services holding nothing are left out.
    pub allocated: Vec<(Service, CpusMem)>,
}

impl AgentSample {
    /// Everything allocated here, summed over services.
    pub fn allocated_total(&self) -> CpusMem {
        self.allocated
            .iter()
            .fold(CpusMem::default(), |sum, (_, r)| sum + *r)
    }
}

/// The cluster at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// When it was taken (ms since the epoch).
    pub at_ms: u64,
    /// Every agent the master lists.
    pub agents: Vec<AgentSample>,
}

/// What the scheduler's records say about one of its tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OurTask {
    /// Its group.
    pub group: String,
    /// Its executor's id.
    pub executor_id: String,
}

/// What the report needs of the scheduler's records: which of the master's tasks are ours, and
/// their groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Records {
    /// Our framework id, once registered.
    pub framework_id: Option<String>,
    /// Our tasks by task id.
    pub tasks: HashMap<String, OurTask>,
}

/// Shares strings with the previous sample, so a kept ring holds each agent id, hostname and
/// service name once rather than once per sample.
#[derive(Debug, Default)]
pub struct Interner {
    previous: HashSet<Arc<str>>,
    current: HashSet<Arc<str>>,
}

impl Interner {
    fn get(&mut self, text: &str) -> Arc<str> {
        let shared = self
            .current
            .get(text)
            .or_else(|| self.previous.get(text))
            .cloned()
            .unwrap_or_else(|| Arc::from(text));
        self.current.insert(shared.clone());
        shared
    }

    /// Ends a sample: strings it did not use are forgotten.
    fn finish(&mut self) {
        self.previous = std::mem::take(&mut self.current);
    }
}

/// The group of a task the records do not know (launched by a previous instance whose records
/// were lost): its name is `<group>-<index>-<task>`.
fn group_from_name(name: &str) -> &str {
    let mut parts = name.rsplitn(3, '-');
    let (_task, index, group) = (parts.next(), parts.next(), parts.next());
    match (index, group) {
        (Some(index), Some(group)) if index.bytes().all(|b| b.is_ascii_digit()) => group,
        _ => name,
    }
}

/// One sample from the master's state reduced by [`cartrack_webui::cluster::from_master_state`]
/// (with our framework id) and our records. Our tasks count to their group; each of our
/// executors is spread evenly over the groups whose tasks on that agent it runs.
pub fn sample(at_ms: u64, view: &ClusterView, records: &Records, names: &mut Interner) -> Sample {
    let agents = view
        .agents
        .iter()
        .map(|agent| {
            let mut allocated: BTreeMap<Service, CpusMem> = BTreeMap::new();
            let mut add = |kind, name: &str, r: CpusMem, names: &mut Interner| {
                let service = Service {
                    kind,
                    name: names.get(name),
                };
                *allocated.entry(service).or_default() += r;
            };
            // Executor id -> the groups of our tasks it runs here.
            let mut executor_groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for task in &agent.tasks {
                let (group, executor) = match records.tasks.get(&task.id) {
                    Some(ours) => (ours.group.as_str(), Some(ours.executor_id.as_str())),
                    None => (group_from_name(&task.name), None),
                };
                add(
                    ServiceKind::CartrackGroup,
                    group,
                    task.resources.into(),
                    names,
                );
                if let Some(executor) = executor {
                    let groups = executor_groups.entry(executor).or_default();
                    if !groups.contains(&group) {
                        groups.push(group);
                    }
                }
            }
            for executor in &agent.executors {
                let resources = CpusMem::from(executor.resources);
                match executor_groups.get(executor.id.as_str()) {
                    Some(groups) if !groups.is_empty() => {
                        let part = resources.per(groups.len() as f64);
                        for group in groups {
                            add(ServiceKind::CartrackGroup, group, part, names);
                        }
                    }
                    _ => add(
                        ServiceKind::CartrackGroup,
                        UNATTRIBUTED_EXECUTOR,
                        resources,
                        names,
                    ),
                }
            }
            for other in &agent.other_frameworks {
                add(
                    ServiceKind::Framework,
                    &other.framework,
                    other.resources.into(),
                    names,
                );
            }
            AgentSample {
                id: names.get(&agent.id),
                hostname: names.get(&agent.hostname),
                capacity: agent.resources.into(),
                allocated: allocated.into_iter().collect(),
            }
        })
        .collect();
    names.finish();
    Sample { at_ms, agents }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cartrack_webui::cluster::from_master_state;
    use serde_json::json;

    fn records() -> Records {
        let ours = |group: &str| OurTask {
            group: group.into(),
            executor_id: "cartrack-executor.*".into(),
        };
        Records {
            framework_id: Some("fw".into()),
            tasks: [
                ("web-0-main__1".to_string(), ours("web")),
                ("web-0-side__1".to_string(), ours("web")),
                ("db-0-main__1".to_string(), ours("db")),
            ]
            .into(),
        }
    }

    fn state() -> serde_json::Value {
        let task = |id: &str, name: &str, agent: &str, cpus: f64, mem: f64| {
            json!({"id": id, "name": name, "slave_id": agent, "state": "TASK_RUNNING",
                   "resources": {"cpus": cpus, "mem": mem}})
        };
        json!({
            "slaves": [
                {"id": "a1", "hostname": "h1", "resources": {"cpus": 4.0, "mem": 8192.0}},
                {"id": "a2", "hostname": "h2", "resources": {"cpus": 2.0, "mem": 4096.0}}
            ],
            "frameworks": [
                {"id": "fw", "name": "cartrack",
                 "executors": [
                    {"executor_id": "cartrack-executor.*", "slave_id": "a1",
                     "resources": {"cpus": 0.5, "mem": 64.0}},
                    {"executor_id": "cartrack-executor.*", "slave_id": "a2",
                     "resources": {"cpus": 0.25, "mem": 32.0}}],
                 "tasks": [
                    task("web-0-main__1", "web-0-main", "a1", 1.0, 512.0),
                    task("web-0-side__1", "web-0-side", "a1", 0.5, 256.0),
                    task("db-0-main__1", "db-0-main", "a1", 1.0, 1024.0),
                    task("old-group-3-main__x", "old-group-3-main", "a2", 0.5, 128.0)]},
                {"id": "t1", "name": "other tenants", "tasks": [
                    task("t-1", "load", "a1", 1.0, 2048.0),
                    task("t-2", "load", "a2", 1.0, 2048.0)]},
                {"id": "t2", "name": "other tenants", "tasks": [
                    task("t-3", "load", "a2", 0.25, 100.0)]}
            ]
        })
    }

    fn allocation(sample: &Sample, agent: usize) -> Vec<(ServiceKind, String, CpusMem)> {
        sample.agents[agent]
            .allocated
            .iter()
            .map(|(s, r)| (s.kind, s.name.to_string(), *r))
            .collect()
    }

    #[test]
    fn tasks_count_to_their_group_executors_are_spread_and_frameworks_merge_by_name() {
        let view = from_master_state(&state(), Some("fw"));
        let mut names = Interner::default();
        let sample = sample(7, &view, &records(), &mut names);
        assert_eq!(sample.at_ms, 7);
        assert_eq!(&*sample.agents[0].id, "a1");
        assert_eq!(sample.agents[0].capacity, CpusMem::new(4.0, 8192.0));
        use ServiceKind::*;
        assert_eq!(
            allocation(&sample, 0),
            [
                (CartrackGroup, "db".into(), CpusMem::new(1.25, 1056.0)),
                (CartrackGroup, "web".into(), CpusMem::new(1.75, 800.0)),
                (Framework, "other tenants".into(), CpusMem::new(1.0, 2048.0)),
            ]
        );
        // A task the records lost counts to the group its name says; its executor, named by
        // no known task, under its own name. Two frameworks of one name are one service.
        assert_eq!(
            allocation(&sample, 1),
            [
                (
                    CartrackGroup,
                    UNATTRIBUTED_EXECUTOR.into(),
                    CpusMem::new(0.25, 32.0)
                ),
                (CartrackGroup, "old-group".into(), CpusMem::new(0.5, 128.0)),
                (
                    Framework,
                    "other tenants".into(),
                    CpusMem::new(1.25, 2148.0)
                ),
            ]
        );
        assert_eq!(
            sample.agents[1].allocated_total(),
            CpusMem::new(2.0, 2308.0)
        );
    }

    #[test]
    fn strings_are_shared_with_the_previous_sample() {
        let view = from_master_state(&state(), Some("fw"));
        let mut names = Interner::default();
        let first = sample(1, &view, &records(), &mut names);
        let second = sample(2, &view, &records(), &mut names);
        assert!(Arc::ptr_eq(&first.agents[0].id, &second.agents[0].id));
        assert!(Arc::ptr_eq(
            &first.agents[0].allocated[0].0.name,
            &second.agents[0].allocated[0].0.name
        ));
    }

    #[test]
    fn group_names_come_from_task_names_when_records_lack_them() {
        assert_eq!(group_from_name("processor-10-main"), "processor");
        assert_eq!(group_from_name("my-group-0-main"), "my-group");
        assert_eq!(group_from_name("odd"), "odd");
        assert_eq!(group_from_name("a-b-c"), "a-b-c");
    }
}
