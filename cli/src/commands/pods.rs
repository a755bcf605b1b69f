//! `cartrack pods list|status|restart|replace`.

use std::process::ExitCode;

use crate::api::{Client, ServiceState, TaskState};
use crate::args::{Output, PodActionKind};
use crate::error::UsageError;
use crate::render;

pub async fn list(client: &Client, output: Output) -> anyhow::Result<ExitCode> {
    if output == Output::Json {
        let state = client.get_json("/v1/state").await?;
        println!(
            "{:#}",
            state.get("tasks").unwrap_or(&serde_json::Value::Null)
        );
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", tasks_table(&client.state().await?));
    Ok(ExitCode::SUCCESS)
}

pub async fn status(client: &Client, output: Output, slot: &str) -> anyhow::Result<ExitCode> {
    let state = client.state().await?;
    let slot = known_slot(&state, slot)?;
    let tasks: Vec<&TaskState> = state.tasks.iter().filter(|t| t.slot == slot).collect();
    if output == Output::Json {
        println!("{:#}", serde_json::to_value(&tasks)?);
        return Ok(ExitCode::SUCCESS);
    }
    if tasks.is_empty() {
        println!(
            "{slot}: no task yet (waiting for an offer that fits; see `cartrack debug offers`)"
        );
    }
    for task in tasks {
        println!("slot:     {}", task.slot);
        println!("task:     {}", task.task_id);
        println!("state:    {}", task.state);
        println!("healthy:  {}", health(task.healthy));
        println!(
            "agent:    {} ({})",
            task.hostname.as_deref().unwrap_or("-"),
            task.agent_id.as_deref().unwrap_or("-")
        );
        println!("ports:    {}", render::ports(&task.ports));
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn act(client: &Client, slot: &str, kind: PodActionKind) -> anyhow::Result<ExitCode> {
    let state = client.state().await?;
    let slot = known_slot(&state, slot)?;
    client.pod_action(slot, kind).await?;
    let where_to = match kind {
        PodActionKind::Restart => "on the same agent",
        PodActionKind::Replace => "wherever an offer fits",
    };
    println!(
        "{slot}: {} requested; it relaunches {where_to}",
        kind.as_str()
    );
    Ok(ExitCode::SUCCESS)
}

/// `slot` if the service has it, else a usage error with the closest slot.
fn known_slot<'a>(state: &ServiceState, slot: &'a str) -> Result<&'a str, UsageError> {
    let slots = state.slot_names();
    if slots.iter().any(|s| s == slot) {
        Ok(slot)
    } else {
        Err(UsageError::unknown("pod slot", slot, &slots))
    }
}

fn health(healthy: Option<bool>) -> &'static str {
    match healthy {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "-",
    }
}

pub fn tasks_table(state: &ServiceState) -> String {
    let mut tasks: Vec<&TaskState> = state.tasks.iter().collect();
    tasks.sort_by(|a, b| a.slot.cmp(&b.slot));
    let rows: Vec<Vec<String>> = tasks
        .into_iter()
        .map(|t| {
            vec![
                t.slot.clone(),
                t.state.clone(),
                health(t.healthy).into(),
                t.hostname.clone().unwrap_or_else(|| "-".into()),
                render::ports(&t.ports),
                t.task_id.clone(),
            ]
        })
        .collect();
    render::table(
        &["SLOT", "STATE", "HEALTHY", "HOST", "PORTS", "TASK"],
        &rows,
    )
}
