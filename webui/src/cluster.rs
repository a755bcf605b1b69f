//! The cluster as the page draws it: agents as boxes with their resources, cartrack's tasks on
//! them (coloured by group on the page), and one summary per other framework — a shared agent
//! may run hundreds of other tenants' tasks, and the page is about cartrack's. Built from the
//! master's `/state` (real Mesos and the dev cluster serve the same shape).

use std::collections::BTreeMap;

use mesos_proto::v1::TaskState;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::natural::natural_cmp;
use crate::ViewError;

/// `GET /v1/cluster`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ClusterView {
    /// Agents in natural order of hostname, then id (`agent-2` before `agent-10`).
    pub agents: Vec<AgentView>,
}

/// One agent box.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentView {
    /// Mesos agent id.
    pub id: String,
    /// Its hostname.
    pub hostname: String,
    /// Whether the master considers it up.
    pub active: bool,
    /// Total resources.
    pub resources: Scalars,
    /// Resources in use by all frameworks.
    pub used: Scalars,
    /// The calling scheduler's live tasks, in natural order of name (`processor-2-main`
    /// before `processor-10-main`).
    pub tasks: Vec<TaskView>,
    /// Every other framework's live tasks on this agent, one entry per framework, in natural
    /// order of name.
    pub other_frameworks: Vec<FrameworkLoad>,
    /// The calling scheduler's executors here: their own resources, besides their tasks'.
    pub executors: Vec<ExecutorView>,
}

/// One of the calling scheduler's executors on an agent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExecutorView {
    /// Its executor id.
    pub id: String,
    /// Its own resources (its tasks' are theirs).
    pub resources: Scalars,
}

/// One other framework's share of an agent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrameworkLoad {
    /// The framework's name, e.g. `other tenants`.
    pub framework: String,
    /// Its Mesos id (two frameworks may share a name).
    pub framework_id: String,
    /// How many live tasks it runs here.
    pub tasks: usize,
    /// Their resources, summed.
    pub resources: Scalars,
}

/// The scalar resources the page shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Scalars {
    /// CPU shares.
    #[serde(default)]
    pub cpus: f64,
    /// Memory, MB.
    #[serde(default)]
    pub mem: f64,
    /// Disk, MB.
    #[serde(default)]
    pub disk: f64,
}

/// One task on an agent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskView {
    /// Mesos task id.
    pub id: String,
    /// Task name, `<group>-<index>-<task>`.
    pub name: String,
    /// Mesos task state.
    pub state: String,
    /// Its resources.
    pub resources: Scalars,
}

impl std::ops::AddAssign for Scalars {
    fn add_assign(&mut self, other: Self) {
        self.cpus += other.cpus;
        self.mem += other.mem;
        self.disk += other.disk;
    }
}

/// Reduces a master `/state` document; `our_framework` picks cartrack's own tasks (with
/// `None`, before the scheduler has subscribed, every framework is summarised).
pub fn from_master_state(state: &Value, our_framework: Option<&str>) -> ClusterView {
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_string();
    let scalars = |v: Option<&Value>| {
        v.and_then(|v| Scalars::deserialize(v).ok())
            .unwrap_or_default()
    };
    let mut agents: Vec<AgentView> = list(state, "slaves")
        .map(|agent| AgentView {
            id: text(agent, "id"),
            hostname: text(agent, "hostname"),
            active: agent.get("active").and_then(Value::as_bool).unwrap_or(true),
            resources: scalars(agent.get("resources")),
            used: scalars(agent.get("used_resources")),
            tasks: Vec::new(),
            other_frameworks: Vec::new(),
            executors: Vec::new(),
        })
        .collect();
    // Per agent, per other framework id: its name and load.
    let mut others: BTreeMap<(String, String), FrameworkLoad> = BTreeMap::new();
    for framework in list(state, "frameworks") {
        let framework_id = text(framework, "id");
        let ours = our_framework == Some(framework_id.as_str());
        if ours {
            for executor in list(framework, "executors") {
                let agent_id = text(executor, "slave_id");
                if let Some(agent) = agents.iter_mut().find(|a| a.id == agent_id) {
                    agent.executors.push(ExecutorView {
                        id: text(executor, "executor_id"),
                        resources: scalars(executor.get("resources")),
                    });
                }
            }
        }
        for task in list(framework, "tasks") {
            let state = text(task, "state");
            if is_terminal(&state) {
                continue;
            }
            let agent_id = text(task, "slave_id");
            let Some(agent) = agents.iter_mut().find(|a| a.id == agent_id) else {
                continue;
            };
            let resources = scalars(task.get("resources"));
            if ours {
                agent.tasks.push(TaskView {
                    id: text(task, "id"),
                    name: text(task, "name"),
                    state,
                    resources,
                });
            } else {
                let load = others
                    .entry((agent_id, framework_id.clone()))
                    .or_insert_with(|| FrameworkLoad {
                        framework: text(framework, "name"),
                        framework_id: framework_id.clone(),
                        tasks: 0,
                        resources: Scalars::default(),
                    });
                load.tasks += 1;
                load.resources += resources;
            }
        }
    }
    for ((agent_id, _), load) in others {
        if let Some(agent) = agents.iter_mut().find(|a| a.id == agent_id) {
            agent.other_frameworks.push(load);
        }
    }
    for agent in &mut agents {
        agent.tasks.sort_by(|a, b| natural_cmp(&a.name, &b.name));
        agent.other_frameworks.sort_by(|a, b| {
            natural_cmp(&a.framework, &b.framework)
                .then_with(|| a.framework_id.cmp(&b.framework_id))
        });
    }
    agents.sort_by(|a, b| {
        natural_cmp(&a.hostname, &b.hostname).then_with(|| natural_cmp(&a.id, &b.id))
    });
    ClusterView { agents }
}

fn list<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(|items| items.iter())
        .into_iter()
        .flatten()
}

fn is_terminal(state: &str) -> bool {
    TaskState::from_str_name(state).is_some_and(TaskState::is_terminal)
}

/// Fetches `<master>/state` and reduces it.
pub async fn fetch(
    http: &reqwest::Client,
    master: &str,
    our_framework: Option<&str>,
) -> Result<ClusterView, ViewError> {
    let url = format!("{}/state", master.trim_end_matches('/'));
    let fetch_error = |source| ViewError::Fetch {
        url: url.clone(),
        source,
    };
    let state: Value = http
        .get(&url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(fetch_error)?
        .json()
        .await
        .map_err(fetch_error)?;
    Ok(from_master_state(&state, our_framework))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn master_state() -> Value {
        json!({
            "slaves": [
                {"id": "a2", "hostname": "agent-2", "active": true,
                 "resources": {"cpus": 4.0, "mem": 8192.0, "disk": 20000.0, "ports": "[31000-32999]"},
                 "used_resources": {"cpus": 1.0, "mem": 2048.0, "disk": 0.0}},
                {"id": "a1", "hostname": "agent-1", "active": true,
                 "resources": {"cpus": 4.0, "mem": 8192.0, "disk": 20000.0},
                 "used_resources": {"cpus": 1.25, "mem": 2112.0, "disk": 16.0}}
            ],
            "frameworks": [
                {"id": "fw-cartrack", "name": "cartrack", "executors": [
                    {"executor_id": "cartrack-executor.*", "slave_id": "a1",
                     "resources": {"cpus": 0.1, "mem": 32.0, "disk": 10.0}}
                 ], "tasks": [
                    {"id": "processor-10-main__z", "name": "processor-10-main", "slave_id": "a1",
                     "state": "TASK_STAGING", "resources": {"cpus": 0.25, "mem": 64.0, "disk": 16.0}},
                    {"id": "processor-0-main__x", "name": "processor-0-main", "slave_id": "a1",
                     "state": "TASK_RUNNING", "resources": {"cpus": 0.25, "mem": 64.0, "disk": 16.0}},
                    {"id": "processor-1-main__y", "name": "processor-1-main", "slave_id": "a1",
                     "state": "TASK_KILLED", "resources": {"cpus": 0.25}},
                    {"id": "processor-2-main__w", "name": "processor-2-main", "slave_id": "a1",
                     "state": "TASK_RUNNING", "resources": {"cpus": 0.25, "mem": 64.0, "disk": 16.0}}
                ]},
                {"id": "other-tenants", "name": "other tenants", "tasks": [
                    {"id": "t1", "name": "other tenants' load", "slave_id": "a1", "state": "TASK_RUNNING",
                     "resources": {"cpus": 1.0, "mem": 2048.0}},
                    {"id": "t2", "name": "other tenants' load", "slave_id": "a2", "state": "TASK_RUNNING",
                     "resources": {"cpus": 1.0, "mem": 2048.0}}
                ]},
                {"id": "spark", "name": "spark", "tasks": [
                    {"id": "s1", "name": "exec 1", "slave_id": "a1", "state": "TASK_RUNNING",
                     "resources": {"cpus": 0.5, "mem": 512.0}},
                    {"id": "s2", "name": "exec 2", "slave_id": "a1", "state": "TASK_RUNNING",
                     "resources": {"cpus": 0.5, "mem": 512.0, "disk": 10.0}},
                    {"id": "s3", "name": "exec 3", "slave_id": "a1", "state": "TASK_FINISHED",
                     "resources": {"cpus": 0.5, "mem": 512.0}}
                ]}
            ]
        })
    }

    fn load(view: &ClusterView, agent: usize) -> Vec<(&str, usize, Scalars)> {
        view.agents[agent]
            .other_frameworks
            .iter()
            .map(|f| (f.framework.as_str(), f.tasks, f.resources))
            .collect()
    }

    #[test]
    fn agents_carry_our_live_tasks_in_natural_order() {
        let view = from_master_state(&master_state(), Some("fw-cartrack"));
        let hosts: Vec<&str> = view.agents.iter().map(|a| a.hostname.as_str()).collect();
        assert_eq!(hosts, ["agent-1", "agent-2"]);
        let agent1 = &view.agents[0];
        assert_eq!(agent1.resources.cpus, 4.0);
        assert_eq!(agent1.used.mem, 2112.0);
        let names: Vec<&str> = agent1.tasks.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            ["processor-0-main", "processor-2-main", "processor-10-main"]
        );
        assert!(view.agents[1].tasks.is_empty());
    }

    #[test]
    fn other_frameworks_are_one_summary_each_per_agent() {
        let view = from_master_state(&master_state(), Some("fw-cartrack"));
        let cpu_mem = |cpus, mem, disk| Scalars { cpus, mem, disk };
        assert_eq!(
            load(&view, 0),
            [
                ("other tenants", 1, cpu_mem(1.0, 2048.0, 0.0)),
                ("spark", 2, cpu_mem(1.0, 1024.0, 10.0)),
            ]
        );
        assert_eq!(
            load(&view, 1),
            [("other tenants", 1, cpu_mem(1.0, 2048.0, 0.0))]
        );
    }

    #[test]
    fn before_subscribing_every_framework_is_summarised() {
        let view = from_master_state(&master_state(), None);
        assert!(view.agents.iter().all(|a| a.tasks.is_empty()));
        let names: Vec<&str> = load(&view, 0).iter().map(|(name, ..)| *name).collect();
        assert_eq!(names, ["cartrack", "other tenants", "spark"]);
        assert_eq!(load(&view, 0)[0].1, 3, "the killed task is not counted");
    }

    #[test]
    fn our_executors_are_listed_with_their_own_resources() {
        let view = from_master_state(&master_state(), Some("fw-cartrack"));
        assert_eq!(
            view.agents[0].executors,
            [ExecutorView {
                id: "cartrack-executor.*".into(),
                resources: Scalars {
                    cpus: 0.1,
                    mem: 32.0,
                    disk: 10.0
                }
            }]
        );
        assert!(view.agents[1].executors.is_empty());
        let before = from_master_state(&master_state(), None);
        assert!(before.agents.iter().all(|a| a.executors.is_empty()));
    }

    #[test]
    fn hosts_sort_naturally() {
        let state = json!({"slaves": [
            {"id": "s10", "hostname": "agent-10"}, {"id": "s2", "hostname": "agent-2"},
            {"id": "s1b", "hostname": "agent-1"}, {"id": "s1a", "hostname": "agent-1"}
        ]});
        let ids: Vec<String> = from_master_state(&state, None)
            .agents
            .into_iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(ids, ["s1a", "s1b", "s2", "s10"]);
    }

    #[test]
    fn a_state_without_agents_is_an_empty_view() {
        assert_eq!(from_master_state(&json!({}), None), ClusterView::default());
    }
}
