//! `cartrack scale <group> <count> [--wait]`: set the count, then optionally follow the group
//! until its pods run, explaining the stuck ones when time runs out.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::api::{Client, GroupState, ServiceState};
use crate::args::Output;
use crate::error::UsageError;
use crate::stdout;

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
    let Some(timeout) = wait else {
        match output {
            Output::Json => stdout::json(&json!({ "group": group, "count": count }))?,
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
            // For people, on stderr; not eprint!, which panics when stderr is closed.
            let explanation = explain_stuck(&state, group, count, timeout, &offers);
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

/// Names every pod of `group` that is not running, with the scheduler's reasons from
/// `/v1/debug/offers` for each.
fn explain_stuck(
    state: &ServiceState,
    group: &str,
    count: u32,
    timeout: Duration,
    offers: &Value,
) -> String {
    let mut out = format!(
        "{group}: not all {count} pods running after {}; stuck pods:\n",
        humantime::format_duration(timeout)
    );
    for index in 0..count {
        let slot = format!("{group}-{index}");
        let task = state.tasks.iter().find(|t| t.slot == slot);
        if task.is_some_and(|t| t.state == "TASK_RUNNING") {
            continue;
        }
        let status = task.map_or("no task".to_string(), |t| {
            format!("{} on {}", t.state, t.hostname.as_deref().unwrap_or("?"))
        });
        out.push_str(&format!("  {slot}: {status}\n"));
        let reasons = reasons_for(offers, &slot);
        if reasons.is_empty() && task.is_none() {
            out.push_str("    no offer was evaluated for it yet: are agents with free resources offering to cartrack?\n");
        }
        for reason in reasons.iter().take(5) {
            out.push_str(&format!("    {reason}\n"));
        }
    }
    out.push_str("See `cartrack debug offers` for every recent offer.\n");
    out
}

/// Reasons the debug view gives for `slot`: every object naming the slot (as `slot` or `pod`)
/// with a `reason` or `reasons`, prefixed by the offer's host when it is known.
fn reasons_for(view: &Value, slot: &str) -> Vec<String> {
    let mut found = Vec::new();
    collect_reasons(view, slot, None, &mut found);
    found.dedup();
    found
}

fn collect_reasons(value: &Value, slot: &str, host: Option<&str>, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            let host = map
                .get("hostname")
                .or(map.get("agent_id"))
                .and_then(Value::as_str)
                .or(host);
            let names_slot = ["slot", "pod"]
                .iter()
                .any(|key| map.get(*key).and_then(Value::as_str) == Some(slot));
            if names_slot {
                let reasons = map.get("reasons").or(map.get("reason"));
                for reason in reasons.into_iter().flat_map(as_strings) {
                    found.push(match host {
                        Some(host) => format!("{host}: {reason}"),
                        None => reason,
                    });
                }
            }
            for child in map.values() {
                collect_reasons(child, slot, host, found);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_reasons(item, slot, host, found);
            }
        }
        _ => {}
    }
}

fn as_strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(as_strings).collect(),
        Value::Null => vec![],
        other => vec![other.to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_reasons_for_a_slot_anywhere_in_the_view() {
        let view = json!({"offers": [
            {"hostname": "agent-1", "pods": [
                {"slot": "processor-2", "reasons": ["insufficient cpus: 0.5 < 1.0"]},
                {"slot": "processor-1", "reasons": ["port http taken"]}
            ]},
            {"hostname": "agent-2", "pods": [{"slot": "processor-2", "reason": "hostname:UNIQUE"}]}
        ]});
        assert_eq!(
            reasons_for(&view, "processor-2"),
            vec![
                "agent-1: insufficient cpus: 0.5 < 1.0".to_string(),
                "agent-2: hostname:UNIQUE".to_string()
            ]
        );
    }

    #[test]
    fn explains_only_pods_that_are_not_running() {
        let state: ServiceState = serde_json::from_value(json!({
            "groups": [{"name": "processor", "count": 2, "running": 1}],
            "tasks": [{"slot": "processor-0", "task_id": "t0", "state": "TASK_RUNNING"}]
        }))
        .unwrap();
        let out = explain_stuck(&state, "processor", 2, Duration::from_secs(5), &Value::Null);
        assert!(out.contains("processor-1: no task"), "{out}");
        assert!(!out.contains("processor-0"), "{out}");
    }
}
