//! `cartrack uninstall [--yes] [--wait]`: start the scheduler's uninstall (every pod killed,
//! the framework torn down, the stored state deleted), then optionally follow its plan until
//! it is complete.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use indicatif::ProgressBar;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::api::Client;
use crate::args::Output;
use crate::error::UsageError;
use crate::stdout;

/// How often --wait asks the scheduler.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

pub async fn run(
    client: &Client,
    output: Output,
    yes: bool,
    wait: Option<Duration>,
) -> anyhow::Result<ExitCode> {
    if !yes && !confirmed()? {
        return Err(UsageError::new(
            "not uninstalled: it cannot be undone; confirm with `yes` at the prompt, or pass --yes",
        )
        .into());
    }
    client
        .uninstall()
        .await
        .context("cannot start the uninstall")?;
    let Some(timeout) = wait else {
        match output {
            Output::Json => stdout::json(&json!({ "uninstall": "started" }))?,
            Output::Human => stdout::line(
                "uninstalling: every pod is killed, then the framework torn down and the state deleted (follow with `cartrack uninstall --yes --wait`)",
            )?,
        }
        return Ok(ExitCode::SUCCESS);
    };
    let bar = if output == Output::Json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new_spinner()
    };
    let deadline = Instant::now() + timeout;
    loop {
        let plan = client.deploy_plan().await?;
        bar.set_message(progress(&plan));
        bar.tick();
        if plan["status"] == "COMPLETE" && plan["name"] == "uninstall" {
            bar.finish_and_clear();
            match output {
                Output::Json => stdout::json(&plan)?,
                Output::Human => stdout::line(
                    "uninstalled: no pod runs, the framework is torn down and the state deleted",
                )?,
            }
            return Ok(ExitCode::SUCCESS);
        }
        if Instant::now() >= deadline {
            bar.abandon();
            if output == Output::Json {
                stdout::json(&plan)?;
            }
            // For people, on stderr; not eprint!, which panics when stderr is closed.
            let _ = writeln!(
                std::io::stderr(),
                "not uninstalled after {}: {}; it goes on (a restart of the scheduler resumes it)",
                humantime::format_duration(timeout),
                progress(&plan)
            );
            return Ok(ExitCode::FAILURE);
        }
        tokio::time::sleep(POLL_INTERVAL.min(deadline - Instant::now())).await;
    }
}

/// Asks on the terminal; never when stdin is not one (a script must say --yes).
fn confirmed() -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    let mut err = std::io::stderr();
    write!(
        err,
        "Uninstall the service? Every pod is killed and the scheduler's state deleted; this cannot be undone. Type yes: "
    )?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

/// One line: each phase's status, and how many tasks are still to end.
fn progress(plan: &Value) -> String {
    let phases = plan["phases"].as_array().cloned().unwrap_or_default();
    let parts: Vec<String> = phases
        .iter()
        .map(|phase| {
            let name = phase["name"].as_str().unwrap_or("?");
            let status = phase["status"].as_str().unwrap_or("?");
            match (name, phase["steps"].as_array()) {
                ("kill-tasks", Some(steps)) if status != "COMPLETE" => {
                    format!("{name}: {} tasks left", steps.len())
                }
                _ => format!("{name}: {status}"),
            }
        })
        .collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_counts_the_tasks_left_then_names_each_phase() {
        let plan = json!({"name": "uninstall", "status": "IN_PROGRESS", "phases": [
            {"name": "kill-tasks", "status": "IN_PROGRESS", "steps": [{"name": "a"}, {"name": "b"}]},
            {"name": "unreserve-resources", "status": "PENDING", "steps": []},
            {"name": "deregister-service", "status": "PENDING", "steps": []}
        ]});
        assert_eq!(
            progress(&plan),
            "kill-tasks: 2 tasks left, unreserve-resources: PENDING, deregister-service: PENDING"
        );
    }
}
