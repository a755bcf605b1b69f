//! The cluster as the page draws it: agents as boxes with their resources, and every task on
//! them — cartrack's, coloured by group, and other tenants'. Built from the master's `/state`
//! (real Mesos and the dev cluster serve the same shape).

use mesos_proto::v1::TaskState;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ViewError;

/// `GET /v1/cluster`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ClusterView {
    /// Agents sorted by hostname, then id.
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
    /// Every running task, cartrack's first.
    pub tasks: Vec<TaskView>,
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
    /// Task name (cartrack: `<group>-<index>-<task>`).
    pub name: String,
    /// The framework's name, e.g. `cartrack` or `other tenants`.
    pub framework: String,
    /// True for the calling scheduler's own tasks.
    pub ours: bool,
    /// Mesos task state.
    pub state: String,
    /// Its resources.
    pub resources: Scalars,
}

/// Reduces a master `/state` document; `our_framework` marks cartrack's own tasks.
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
        })
        .collect();
    for framework in list(state, "frameworks") {
        let framework_id = text(framework, "id");
        let framework_name = text(framework, "name");
        for task in list(framework, "tasks") {
            let state = text(task, "state");
            if is_terminal(&state) {
                continue;
            }
            let agent_id = text(task, "slave_id");
            if let Some(agent) = agents.iter_mut().find(|a| a.id == agent_id) {
                agent.tasks.push(TaskView {
                    id: text(task, "id"),
                    name: text(task, "name"),
                    framework: framework_name.clone(),
                    ours: our_framework == Some(framework_id.as_str()),
                    state,
                    resources: scalars(task.get("resources")),
                });
            }
        }
    }
    for agent in &mut agents {
        agent
            .tasks
            .sort_by(|a, b| b.ours.cmp(&a.ours).then_with(|| a.name.cmp(&b.name)));
    }
    agents.sort_by(|a, b| a.hostname.cmp(&b.hostname).then_with(|| a.id.cmp(&b.id)));
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
                {"id": "fw-cartrack", "name": "cartrack", "tasks": [
                    {"id": "processor-0-main__x", "name": "processor-0-main", "slave_id": "a1",
                     "state": "TASK_RUNNING", "resources": {"cpus": 0.25, "mem": 64.0, "disk": 16.0}},
                    {"id": "processor-1-main__y", "name": "processor-1-main", "slave_id": "a1",
                     "state": "TASK_KILLED", "resources": {"cpus": 0.25}}
                ]},
                {"id": "other-tenants", "name": "other tenants", "tasks": [
                    {"id": "t1", "name": "other tenants' load", "slave_id": "a1", "state": "TASK_RUNNING",
                     "resources": {"cpus": 1.0, "mem": 2048.0}},
                    {"id": "t2", "name": "other tenants' load", "slave_id": "a2", "state": "TASK_RUNNING",
                     "resources": {"cpus": 1.0, "mem": 2048.0}}
                ]}
            ]
        })
    }

    #[test]
    fn agents_carry_their_live_tasks_ours_first() {
        let view = from_master_state(&master_state(), Some("fw-cartrack"));
        let hosts: Vec<&str> = view.agents.iter().map(|a| a.hostname.as_str()).collect();
        assert_eq!(hosts, ["agent-1", "agent-2"]);
        let agent1 = &view.agents[0];
        assert_eq!(agent1.resources.cpus, 4.0);
        assert_eq!(agent1.used.mem, 2112.0);
        let names: Vec<(&str, bool)> = agent1
            .tasks
            .iter()
            .map(|t| (t.name.as_str(), t.ours))
            .collect();
        assert_eq!(
            names,
            [("processor-0-main", true), ("other tenants' load", false)]
        );
        assert_eq!(view.agents[1].tasks.len(), 1);
    }

    #[test]
    fn a_state_without_agents_is_an_empty_view() {
        assert_eq!(from_master_state(&json!({}), None), ClusterView::default());
    }
}
