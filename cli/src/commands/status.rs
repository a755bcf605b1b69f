//! `cartrack status`: each group's counts, then every task.

use std::process::ExitCode;

use crate::api::{Client, ServiceState};
use crate::args::Output;
use crate::{render, stdout};

pub async fn run(client: &Client, output: Output) -> anyhow::Result<ExitCode> {
    if output == Output::Json {
        stdout::json(&client.get_json("/v1/state").await?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let state = client.state().await?;
    let framework = state
        .framework_id
        .as_deref()
        .unwrap_or("(not subscribed yet)");
    stdout::text(&format!(
        "framework: {framework}\n{}\n{}",
        groups_table(&state),
        super::pods::tasks_table(&state)
    ))?;
    Ok(ExitCode::SUCCESS)
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
