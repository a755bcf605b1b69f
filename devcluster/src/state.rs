//! `GET /state`: the part of Mesos' master state JSON that UIs read.

use serde_json::{json, Value};

use crate::core::Core;
use crate::resources::Resources;

/// The id under which other tenants' load appears.
pub const TENANT_FRAMEWORK_ID: &str = "other-tenants";

/// Renders the master state: `slaves`, `frameworks` (with tasks), plus `other-tenants`, a
/// framework whose tasks stand for the declared tenant load on each agent.
pub fn master_state(core: &Core, tenant_load: &Resources, leading: bool) -> Value {
    let slaves: Vec<Value> = core
        .agents
        .values()
        .map(|a| {
            let mut used = a.used();
            used.add(&a.tenant_load);
            let attributes: serde_json::Map<String, Value> = a
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
        .map(|f| {
            // Like Mesos: live tasks under `tasks`, terminal ones (still awaiting their
            // acknowledgement here) under `completed_tasks`.
            let (tasks, completed_tasks): (Vec<Value>, Vec<Value>) = core
                .agents
                .values()
                .flat_map(|a| {
                    a.tasks
                        .iter()
                        .filter(|(k, _)| k.0 == f.id)
                        .map(move |(k, t)| {
                            let task = json!({
                                "id": k.1,
                                "name": t.info.name,
                                "framework_id": f.id,
                                "executor_id": t.executor_id,
                                "slave_id": a.id,
                                "state": if t.unreachable { "TASK_UNREACHABLE" } else { t.state.as_str_name() },
                                "resources": t.resources.to_state_json(),
                            });
                            (task, t.state.is_terminal())
                        })
                })
                .fold((Vec::new(), Vec::new()), |(mut live, mut done), (task, terminal)| {
                    if terminal {
                        done.push(task);
                    } else {
                        live.push(task);
                    }
                    (live, done)
                });
            json!({
                "id": f.id,
                "name": f.info.name,
                "active": f.stream_id.is_some(),
                "connected": f.stream_id.is_some(),
                "roles": if f.multi_role() { json!(f.info.roles) } else { json!([f.offer_role()]) },
                "tasks": tasks,
                "completed_tasks": completed_tasks,
            })
        })
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
    json!({
        "version": "1.12.0-devcluster",
        "leader_info": { "hostname": "127.0.0.1" },
        "elected": leading,
        "activated_slaves": core.agents.values().filter(|a| a.up && a.reachable).count(),
        "slaves": slaves,
        "frameworks": frameworks,
    })
}
