//! `GET /state`: the part of Mesos' master state JSON that UIs and tests read, with Mesos' field
//! names and types (times are seconds since the epoch, as floats).

use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::core::{CompletedTask, Core, Framework};
use crate::resources::Resources;

/// The id under which other tenants' load appears.
pub const TENANT_FRAMEWORK_ID: &str = "other-tenants";

/// Turns the core's [`Instant`]s into seconds since the epoch, from one reading of both clocks
/// (the core itself never reads the wall clock for them).
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    instant: Instant,
    epoch_seconds: f64,
}

impl WallClock {
    /// Reads both clocks now.
    pub fn now() -> WallClock {
        WallClock {
            instant: Instant::now(),
            epoch_seconds: cartrack_runtime::clock::now_secs_f64(),
        }
    }

    /// `at` in seconds since the epoch.
    pub fn seconds(&self, at: Instant) -> f64 {
        match at.checked_duration_since(self.instant) {
            Some(after) => self.epoch_seconds + after.as_secs_f64(),
            None => self.epoch_seconds - self.instant.duration_since(at).as_secs_f64(),
        }
    }
}

/// Who answers `/state`, and who leads.
#[derive(Debug, Clone)]
pub struct MasterView {
    /// This listener's `host:port`.
    pub address: String,
    /// The leading listener's `host:port`, if one leads.
    pub leader: Option<String>,
}

impl MasterView {
    fn leading(&self) -> bool {
        self.leader.as_deref() == Some(self.address.as_str())
    }
}

/// Renders the master state: `slaves`, `frameworks` (with tasks), `completed_frameworks`, plus
/// `other-tenants`, a framework whose tasks stand for the declared tenant load on each agent.
/// `elected_time` is there only when this listener leads, as on a Mesos master.
pub fn master_state(
    core: &Core,
    tenant_load: &Resources,
    view: &MasterView,
    clock: &WallClock,
) -> Value {
    let slaves: Vec<Value> = core
        .agents
        .values()
        .map(|a| {
            let mut used = a.used();
            used.add(&a.tenant_load);
            let attributes: Map<String, Value> = a
                .attributes
                .iter()
                .map(|attr| {
                    let v = match (&attr.text, &attr.scalar) {
                        (Some(t), _) => json!(t.value),
                        (_, Some(s)) => json!(s.value),
                        _ => Value::Null,
                    };
                    (attr.name.clone(), v)
                })
                .collect();
            json!({
                "id": a.id,
                "hostname": a.hostname,
                "active": a.up && a.reachable,
                "resources": a.total.to_state_json(),
                "used_resources": used.to_state_json(),
                "unreserved_resources": a.total.to_state_json(),
                "attributes": attributes,
            })
        })
        .collect();
    let mut frameworks: Vec<Value> = core
        .frameworks
        .values()
        .map(|f| framework_json(core, f, clock))
        .collect();
    if tenant_load.is_offerable() || !tenant_load.scalars.is_empty() {
        let tasks: Vec<Value> = core
            .agents
            .values()
            .map(|a| {
                json!({
                    "id": format!("tenant-load-{}", a.id),
                    "name": "other tenants' load",
                    "framework_id": TENANT_FRAMEWORK_ID,
                    "slave_id": a.id,
                    "state": "TASK_RUNNING",
                    "resources": a.tenant_load.to_state_json(),
                })
            })
            .collect();
        frameworks.push(json!({
            "id": TENANT_FRAMEWORK_ID,
            "name": "other tenants",
            "active": true,
            "connected": true,
            "roles": ["*"],
            "tasks": tasks,
        }));
    }
    let completed_frameworks: Vec<Value> = core
        .completed_frameworks
        .iter()
        .map(|c| {
            let mut f = framework_json(core, &c.framework, clock);
            f["unregistered_time"] = json!(clock.seconds(c.unregistered_at));
            f
        })
        .collect();
    let pid = |address: &str| format!("master@{address}");
    let mut state = json!({
        "version": "1.12.0-devcluster",
        "pid": pid(&view.address),
        "hostname": "127.0.0.1",
        "elected": view.leading(),
        "activated_slaves": core.agents.values().filter(|a| a.up && a.reachable).count(),
        "slaves": slaves,
        "frameworks": frameworks,
        "completed_frameworks": completed_frameworks,
    });
    if let Some(leader) = &view.leader {
        state["leader"] = json!(pid(leader));
        state["leader_info"] = json!({
            "hostname": "127.0.0.1",
            "pid": pid(leader),
            "port": leader.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()),
        });
    }
    if view.leading() {
        state["elected_time"] = json!(clock.seconds(core.elected_at));
    }
    state
}

/// One framework as Mesos' `/state` shows it. Live tasks are under `tasks`, unreachable ones
/// under `unreachable_tasks`; `completed_tasks` holds the ended ones (those still awaiting
/// their acknowledgement here, then the framework's history).
fn framework_json(core: &Core, f: &Framework, clock: &WallClock) -> Value {
    let mut tasks = Vec::new();
    let mut unreachable_tasks = Vec::new();
    let mut completed_tasks = Vec::new();
    for a in core.agents.values() {
        for (k, t) in a.tasks.iter().filter(|(k, _)| k.0 == f.id) {
            let state = if t.unreachable {
                "TASK_UNREACHABLE"
            } else {
                t.state.as_str_name()
            };
            let task = json!({
                "id": k.1,
                "name": t.info.name,
                "framework_id": f.id,
                "executor_id": t.executor_id,
                "slave_id": a.id,
                "state": state,
                "resources": t.resources.to_state_json(),
            });
            if t.unreachable {
                unreachable_tasks.push(task);
            } else if t.state.is_terminal() {
                completed_tasks.push(task);
            } else {
                tasks.push(task);
            }
        }
    }
    completed_tasks.extend(
        f.completed_tasks
            .iter()
            .map(|t| completed_task_json(&f.id, t)),
    );
    let capabilities: Vec<&str> = f
        .info
        .capabilities
        .iter()
        .filter_map(|c| c.r#type)
        .filter_map(|t| mesos_proto::v1::framework_info::capability::Type::try_from(t).ok())
        .map(|t| t.as_str_name())
        .collect();
    let mut json = json!({
        "id": f.id,
        "name": f.info.name,
        "user": f.info.user,
        "hostname": f.info.hostname.clone().unwrap_or_default(),
        "webui_url": f.info.webui_url.clone().unwrap_or_default(),
        "capabilities": capabilities,
        "active": f.stream_id.is_some(),
        "connected": f.stream_id.is_some(),
        "recovered": f.recovered,
        "checkpoint": f.info.checkpoint.unwrap_or(false),
        "failover_timeout": f.info.failover_timeout.unwrap_or(0.0),
        "registered_time": clock.seconds(f.registered_at),
        "unregistered_time": 0.0,
        "roles": if f.multi_role() { json!(f.info.roles) } else { json!([f.offer_role()]) },
        "tasks": tasks,
        "unreachable_tasks": unreachable_tasks,
        "completed_tasks": completed_tasks,
    });
    if !f.multi_role() {
        json["role"] = json!(f.offer_role());
    }
    if let Some(principal) = &f.info.principal {
        json["principal"] = json!(principal);
    }
    if let Some(at) = f.reregistered_at {
        json["reregistered_time"] = json!(clock.seconds(at));
    }
    json
}

fn completed_task_json(framework_id: &str, t: &CompletedTask) -> Value {
    json!({
        "id": t.info.task_id.value,
        "name": t.info.name,
        "framework_id": framework_id,
        "executor_id": t.executor_id,
        "slave_id": t.agent_id,
        "state": t.state.as_str_name(),
        "resources": t.resources.to_state_json(),
    })
}
