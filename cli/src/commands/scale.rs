//! `cartrack scale <group> <count> [--wait]`: set the count, then optionally follow the group
//! until its pods run, explaining the stuck ones when time runs out.

use std::collections::HashMap;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use tokio::time::Instant;

use super::diagnosis::{diagnose, grouped, offer_reasons};
use crate::api::{Client, GroupState, Plan, ServiceState, TaskState};
use crate::args::Output;
use crate::error::UsageError;
use crate::stdout;

/// Whether `group` is autoscaled and now pinned (a scheduler without autoscaling says no).
async fn autoscale_paused(client: &Client, group: &str) -> bool {
    let Ok(view) = client.get_json("/v1/autoscale").await else {
        return false;
    };
    view.get("groups")
        .and_then(Value::as_array)
        .is_some_and(|groups| {
            groups.iter().any(|g| {
                g.get("group").and_then(Value::as_str) == Some(group)
                    && g.get("pinned") == Some(&Value::Bool(true))
            })
        })
}

/// How often --wait asks the scheduler; a person watching wants about this.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

pub async fn run(
    client: &Client,
    output: Output,
    group: &str,
    count: u32,
    wait: Option<Duration>,
) -> anyhow::Result<ExitCode> {
    let state = client.state().await?;
    if state.group(group).is_none() {
        return Err(UsageError::unknown("group", group, &state.group_names()).into());
    }
    client
        .set_count(group, count)
        .await
        .with_context(|| format!("cannot scale {group} to {count}"))?;
    let paused = autoscale_paused(client, group).await;
    if paused && output == Output::Human {
        stdout::line(&format!(
            "{group} is autoscaled: autoscaling is paused for it until `cartrack autoscale resume {group}`"
        ))?;
    }
    let Some(timeout) = wait else {
        match output {
            Output::Json => {
                let mut printed = json!({ "group": group, "count": count });
                if paused {
                    printed["autoscale_paused"] = Value::Bool(true);
                }
                stdout::json(&printed)?
            }
            Output::Human => stdout::line(&format!(
                "{group}: scaling to {count} pods (follow with `cartrack status`)"
            ))?,
        }
        return Ok(ExitCode::SUCCESS);
    };
    let bar = progress_bar(output, count);
    let deadline = Instant::now() + timeout;
    loop {
        let state = client.state().await?;
        let Some(observed) = state.group(group) else {
            return Err(anyhow::anyhow!(
                "group {group:?} disappeared from the scheduler's state"
            ));
        };
        bar.set_position(u64::from(observed.running));
        bar.set_message(format!(
            "{group}: {} running, {} staging, {} failed",
            observed.running, observed.staging, observed.failed
        ));
        if converged(observed, count) {
            bar.finish_and_clear();
            match output {
                Output::Json => stdout::json(&wait_result(observed, count, true))?,
                Output::Human => stdout::line(&format!("{group}: {count}/{count} pods running"))?,
            }
            return Ok(ExitCode::SUCCESS);
        }
        if Instant::now() >= deadline {
            bar.abandon();
            if output == Output::Json {
                stdout::json(&wait_result(observed, count, false))?;
            }
            let offers = client
                .get_json("/v1/debug/offers")
                .await
                .unwrap_or(Value::Null);
            let plan = client.plan().await.unwrap_or_default();
            // For people, on stderr; not eprint!, which panics when stderr is closed.
            let explanation = explain_stuck(&state, group, count, timeout, &plan, &offers);
            let _ = std::io::stderr().write_all(explanation.as_bytes());
            return Ok(ExitCode::FAILURE);
        }
        tokio::time::sleep(POLL_INTERVAL.min(deadline - Instant::now())).await;
    }
}

/// `scale --wait --json`: where the group ended up. The stuck pods' explanation still goes to
/// stderr, for people.
fn wait_result(observed: &GroupState, count: u32, converged: bool) -> Value {
    json!({
        "group": observed.name,
        "count": count,
        "running": observed.running,
        "staging": observed.staging,
        "failed": observed.failed,
        "converged": converged,
    })
}

fn progress_bar(output: Output, count: u32) -> ProgressBar {
    if output == Output::Json {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(u64::from(count));
    if let Ok(style) = ProgressStyle::with_template("[{bar:30}] {pos}/{len} {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Exactly `count` pods run and none is still on its way.
fn converged(group: &GroupState, count: u32) -> bool {
    group.running == count && group.staging == 0
}

/// Names the pods of `group` that are not running and why (grouped: a few lines however many
/// pods are stuck), from the plan and the scheduler's offer verdicts.
fn explain_stuck(
    state: &ServiceState,
    group: &str,
    count: u32,
    timeout: Duration,
    plan: &Plan,
    offers: &Value,
) -> String {
    let steps = plan.steps();
    let reasons = offer_reasons(offers);
    // A slot's first task, as listed.
    let mut tasks: HashMap<&str, &TaskState> = HashMap::new();
    for task in &state.tasks {
        tasks.entry(task.slot.as_str()).or_insert(task);
    }
    let mut stuck = Vec::new();
    for index in 0..count {
        let slot = format!("{group}-{index}");
        let task = tasks.get(slot.as_str()).copied();
        if task.is_some_and(|t| t.state == "TASK_RUNNING") {
            continue;
        }
        let slot_reasons = reasons.get(&slot).map_or(&[][..], Vec::as_slice);
        let why = diagnose(steps.get(slot.as_str()).copied(), task, slot_reasons);
        stuck.push((slot, why));
    }
    format!(
        "{group}: not all {count} pods running after {}; {} stuck:\n{}\
         See `cartrack pods status <pod>` for one pod, `cartrack debug offers` for every recent offer.\n",
        humantime::format_duration(timeout),
        stuck.len(),
        grouped(&stuck)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn explains_only_pods_that_are_not_running() {
        let state: ServiceState = serde_json::from_value(json!({
            "groups": [{"name": "processor", "count": 2, "running": 1}],
            "tasks": [{"slot": "processor-0", "task_id": "t0", "state": "TASK_RUNNING"}]
        }))
        .unwrap();
        let plan: Plan = serde_json::from_value(json!({"phases": [{"steps": [
            {"name": "processor-1", "status": "DELAYED", "failures": 2,
             "message": "Command exited with status 1"}
        ]}]}))
        .unwrap();
        let out = explain_stuck(
            &state,
            "processor",
            2,
            Duration::from_secs(5),
            &plan,
            &Value::Null,
        );
        assert!(
            out.contains("processor-1: crash-looping: failed 2 times in a row; last: Command exited with status 1"),
            "{out}"
        );
        assert!(!out.contains("processor-0"), "{out}");
    }
}
