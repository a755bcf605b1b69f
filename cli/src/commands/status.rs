//! `cartrack status`: each group's counts, then every task.

use std::process::ExitCode;

use crate::api::{Client, Health, ServiceState};
use crate::args::Output;
use crate::{render, stdout};

pub async fn run(client: &Client, output: Output) -> anyhow::Result<ExitCode> {
    if output == Output::Json {
        stdout::json(&client.get_json("/v1/state").await?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let health = client.health().await?;
    let state = client.state().await?;
    let plan = client.plan().await?;
    let framework = state
        .framework_id
        .as_deref()
        .unwrap_or("(not registered yet)");
    stdout::text(&format!(
        "framework: {framework}\nmaster:    {}\n\n{}\n{}",
        master_line(&health),
        groups_table(&state),
        super::pods::pods_table(&state, &plan)
    ))?;
    // Not subscribed means nothing can change: the service is not healthy, whatever it shows.
    Ok(if health.subscribed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Which master the scheduler is subscribed to, or that it is not and what that means.
fn master_line(health: &Health) -> String {
    let master = health.master.as_deref();
    match (health.subscribed, master) {
        (true, Some(master)) => format!("{master} (subscribed)"),
        (true, None) => "subscribed".to_string(),
        (false, master) => format!(
            "NOT SUBSCRIBED: the scheduler cannot reach a leading Mesos master{} and keeps \
             retrying; pods keep running, but nothing is launched, killed or scaled until it \
             does (its log says why)",
            master
                .map(|m| format!(" (last known: {m})"))
                .unwrap_or_default()
        ),
    }
}

pub fn groups_table(state: &ServiceState) -> String {
    let rows: Vec<Vec<String>> = state
        .groups
        .iter()
        .map(|g| {
            vec![
                g.name.clone(),
                g.count.to_string(),
                g.running.to_string(),
                g.staging.to_string(),
                g.failed.to_string(),
            ]
        })
        .collect();
    render::table(&["GROUP", "COUNT", "RUNNING", "STAGING", "FAILED"], &rows)
}
