//! ACCEPT validation as the Mesos master does it (src/master/validation.cpp): offers first,
//! then each task or task group against what the offers hold.

use mesos_proto::v1::{executor_info, offer, Resource, TaskInfo};

use super::Core;
use crate::resources::Resources;

/// The task ids an ACCEPT's LAUNCH and LAUNCH_GROUP operations name.
pub fn task_ids_of(operations: &[offer::Operation]) -> Vec<String> {
    let mut ids = Vec::new();
    for op in operations {
        if let Some(l) = &op.launch {
            ids.extend(l.task_infos.iter().map(|t| t.task_id.value.clone()));
        }
        if let Some(g) = op.launch_group.as_ref().map(|g| &g.task_group) {
            ids.extend(g.tasks.iter().map(|t| t.task_id.value.clone()));
        }
    }
    ids
}

/// Offers must be outstanding, this framework's, distinct and on one agent.
/// Returns (agent id, summed resources, role).
pub fn check_offers(
    core: &Core,
    framework_id: &str,
    offer_ids: &[String],
) -> Result<(String, Resources, String), String> {
    if offer_ids.is_empty() {
        return Err("No offers specified".to_string());
    }
    let mut agent: Option<String> = None;
    let mut total = Resources::default();
    let mut role = String::new();
    for (i, id) in offer_ids.iter().enumerate() {
        if offer_ids[..i].contains(id) {
            return Err(format!("Duplicate offer {id} in offer list"));
        }
        let Some(offer) = core.offers.get(id) else {
            return Err(if core.spent_offers.contains(id) {
                format!("Offer {id} is no longer valid")
            } else {
                format!("Offer {id} is unknown: no longer valid")
            });
        };
        if offer.framework_id != framework_id {
            return Err(format!(
                "Offer {id} has invalid framework {} while framework {framework_id} is expected",
                offer.framework_id
            ));
        }
        match &agent {
            Some(a) if *a != offer.agent_id => {
                return Err(format!(
                    "Aggregated offers must belong to one single agent. Offer {id} uses agent {} and agent {a}",
                    offer.agent_id
                ))
            }
            _ => agent = Some(offer.agent_id.clone()),
        }
        total.add(&offer.resources);
        role = offer.role.clone();
    }
    let agent = agent.unwrap_or_default();
    Ok((agent, total, role))
}

/// The sum of the scalar resources named `name`; None when there is none, as Mesos'
/// `Resources::cpus()` says it (its messages print "None"; zero resources are dropped).
fn scalar_of(resources: &[Resource], name: &str) -> Option<f64> {
    resources
        .iter()
        .filter(|r| r.name == name)
        .filter_map(|r| r.scalar.as_ref().map(|s| s.value))
        .filter(|v| *v > 0.0)
        .reduce(|a, b| a + b)
}

/// Megabytes as stout prints `Bytes`: in the largest unit that loses nothing ("16MB",
/// "16896KB", "1GB").
fn megabytes(mb: f64) -> String {
    const KB: u64 = 1024;
    // Mesos rounds to whole bytes; `as` saturates, so a nonsense value cannot panic.
    let bytes = (mb * (KB * KB) as f64) as u64;
    match bytes {
        0 => "0B".to_string(),
        b if b % KB != 0 => format!("{b}B"),
        b if b % (KB * KB) != 0 => format!("{}KB", b / KB),
        b if b % (KB * KB * KB) != 0 => format!("{}MB", b / (KB * KB)),
        b if b % (KB * KB * KB * KB) != 0 => format!("{}GB", b / (KB * KB * KB)),
        b => format!("{}TB", b / (KB * KB * KB * KB)),
    }
}

fn task_id(task: &TaskInfo) -> String {
    task.task_id.value.clone()
}

fn roles_match(resources: &[mesos_proto::v1::Resource], role: &str) -> bool {
    resources.iter().all(|r| {
        r.allocation_info
            .as_ref()
            .and_then(|a| a.role.as_deref())
            .is_none_or(|x| x == role)
    })
}

/// Checks one LAUNCH task; returns the resources it consumes (its own plus a new executor's).
pub fn check_task(
    core: &Core,
    framework_id: &str,
    agent_id: &str,
    role: &str,
    task: &TaskInfo,
    available: &Resources,
) -> Result<Resources, String> {
    check_common(
        core,
        framework_id,
        agent_id,
        role,
        std::slice::from_ref(task),
        available,
        false,
    )
}

/// Checks a LAUNCH_GROUP: all tasks valid and the executor well-formed, or none launches.
pub fn check_group(
    core: &Core,
    framework_id: &str,
    agent_id: &str,
    role: &str,
    tasks: &[TaskInfo],
    available: &Resources,
) -> Result<Resources, String> {
    check_common(core, framework_id, agent_id, role, tasks, available, true)
}

fn check_common(
    core: &Core,
    framework_id: &str,
    agent_id: &str,
    role: &str,
    tasks: &[TaskInfo],
    available: &Resources,
    group: bool,
) -> Result<Resources, String> {
    let Some(agent) = core.agents.get(agent_id) else {
        return Err(format!("Agent {agent_id} is not registered"));
    };
    if tasks.is_empty() {
        return Err("Task group is empty".to_string());
    }
    let mut needed = Resources::default();
    for (i, task) in tasks.iter().enumerate() {
        let id = task_id(task);
        if id.is_empty() {
            return Err("Task has no task_id".to_string());
        }
        if tasks[..i].iter().any(|t| task_id(t) == id)
            || core.agents.values().any(|a| {
                a.tasks
                    .contains_key(&(framework_id.to_string(), id.clone()))
            })
        {
            return Err(format!("Task has duplicate ID: {id}"));
        }
        if task.agent_id.value != agent_id {
            return Err(format!(
                "Task {id} uses agent '{}' but the offers are for agent '{agent_id}'",
                task.agent_id.value
            ));
        }
        if task.executor.is_none() {
            return Err(format!(
                "Task {id} has neither an ExecutorInfo nor a CommandInfo"
            ));
        }
        if !roles_match(&task.resources, role) {
            return Err(format!(
                "Task {id} uses resources allocated to a role other than '{role}'"
            ));
        }
        needed.add(&Resources::from_proto(&task.resources));
    }
    let Some(executor) = tasks[0].executor.as_ref() else {
        return Err("Task has no ExecutorInfo".to_string());
    };
    let executor_id = executor.executor_id.value.clone();
    if executor_id.is_empty() {
        return Err("ExecutorInfo has no executor_id".to_string());
    }
    if tasks.iter().any(|t| {
        t.executor.as_ref().map(|e| e.executor_id.value.as_str()) != Some(executor_id.as_str())
    }) {
        return Err("All tasks of a group must use the same executor".to_string());
    }
    // Mesos' `validateFrameworkID`. The master fills a missing `ExecutorInfo.framework_id` in
    // for LAUNCH only (as `launch` does here): a group's executor must carry it.
    match executor.framework_id.as_ref() {
        None if group => return Err("'ExecutorInfo.framework_id' must be set".to_string()),
        Some(id) if id.value != framework_id => {
            return Err(format!(
                "ExecutorInfo has an invalid FrameworkID (Actual: {} vs Expected: {framework_id})",
                id.value
            ))
        }
        _ => {}
    }
    let exec_type = executor.r#type();
    if group && exec_type == executor_info::Type::Unknown {
        return Err("'ExecutorInfo.type' must be set for LAUNCH_GROUP".to_string());
    }
    if exec_type == executor_info::Type::Default {
        return Err(
            "The dev cluster does not model the DEFAULT executor; use a CUSTOM executor"
                .to_string(),
        );
    }
    if executor
        .command
        .as_ref()
        .and_then(|c| c.value.as_ref())
        .is_none()
    {
        return Err(format!(
            "Executor '{executor_id}' is CUSTOM but has no 'command.value'"
        ));
    }
    if !roles_match(&executor.resources, role) {
        return Err(format!(
            "Executor '{executor_id}' uses resources allocated to a role other than '{role}'"
        ));
    }
    let running = agent
        .executors
        .get(&(framework_id.to_string(), executor_id.clone()));
    match running {
        Some(existing) if existing.shutting_down => {
            return Err(format!("Executor '{executor_id}' is shutting down"));
        }
        Some(_) => {}
        None => {
            let own = Resources::from_proto(&executor.resources);
            if group {
                let cpus = scalar_of(&executor.resources, "cpus");
                if cpus.is_none_or(|c| c < 0.01) {
                    return Err(format!(
                        "Executor '{executor_id}' uses less CPUs ({}) than the minimum required (0.01)",
                        cpus.map_or("None".to_string(), |c| c.to_string())
                    ));
                }
                let mem = scalar_of(&executor.resources, "mem");
                if mem.is_none_or(|m| m < 32.0) {
                    return Err(format!(
                        "Executor '{executor_id}' uses less memory ({}) than the minimum required (32MB)",
                        mem.map_or("None".to_string(), megabytes)
                    ));
                }
                if scalar_of(&executor.resources, "disk").is_none() {
                    return Err(format!("Executor '{executor_id}' uses no disk"));
                }
            }
            needed.add(&own);
        }
    }
    if !available.contains(&needed) {
        return Err(format!(
            "Task{} {} use{} more resources ({needed}) than available ({available})",
            if group { "s of the group" } else { "" },
            tasks.iter().map(task_id).collect::<Vec<_>>().join(", "),
            if group { "" } else { "s" },
        ));
    }
    Ok(needed)
}
