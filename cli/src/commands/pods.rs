//! `cartrack pods list|status|restart|replace`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::diagnosis::{diagnose, offer_reasons};
use crate::api::{Client, Plan, PlanStep, ServiceState, TaskState};
use crate::args::{Output, PodActionKind};
use crate::error::UsageError;
use crate::{render, stdout};

pub async fn list(client: &Client, output: Output) -> anyhow::Result<ExitCode> {
    if output == Output::Json {
        let state = client.get_json("/v1/state").await?;
        stdout::json(state.get("tasks").unwrap_or(&Value::Null))?;
        return Ok(ExitCode::SUCCESS);
    }
    let state = client.state().await?;
    let plan = client.plan().await?;
    stdout::text(&pods_table(&state, &plan))?;
    Ok(ExitCode::SUCCESS)
}

pub async fn status(client: &Client, output: Output, slot: &str) -> anyhow::Result<ExitCode> {
    let state = client.state().await?;
    let slot = known_slot(&state, slot)?;
    let tasks: Vec<&TaskState> = state.tasks.iter().filter(|t| t.slot == slot).collect();
    if output == Output::Json {
        stdout::json(&tasks)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    if tasks.is_empty() {
        let plan = client.plan().await?;
        let offers = client.get_json("/v1/debug/offers").await?;
        let reasons = offer_reasons(&offers).remove(slot).unwrap_or_default();
        let why = diagnose(plan.steps().get(slot).copied(), None, &reasons);
        let _ = writeln!(out, "{slot}: no live task: {why}");
    }
    for task in tasks {
        let _ = writeln!(out, "slot:     {}", task.slot);
        let _ = writeln!(out, "task:     {}", task.task_id);
        let _ = writeln!(out, "state:    {}", task.state);
        let _ = writeln!(out, "healthy:  {}", health(task.healthy));
        let _ = writeln!(out, "agent:    {}", agent(task));
        let _ = writeln!(out, "ports:    {}", render::ports(&task.ports));
    }
    stdout::text(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// How often `pods replace` looks for the pod's new task.
const PLACEMENT_POLL: Duration = Duration::from_millis(500);

pub async fn act(
    client: &Client,
    output: Output,
    slot: &str,
    kind: PodActionKind,
) -> anyhow::Result<ExitCode> {
    let state = client.state().await?;
    let slot = known_slot(&state, slot)?;
    let before: Vec<&str> = state
        .tasks
        .iter()
        .filter(|t| t.slot == slot)
        .map(|t| t.task_id.as_str())
        .collect();
    let answer = client
        .pod_action(slot, kind)
        .await
        .with_context(|| format!("cannot {} {slot}", kind.as_str()))?;
    match kind {
        PodActionKind::Restart => match output {
            Output::Json => stdout::json(&answer)?,
            Output::Human => stdout::line(&format!(
                "{slot}: restart requested; it relaunches on the same agent"
            ))?,
        },
        PodActionKind::Replace { timeout } => {
            let placed = new_placement(client, slot, &before, timeout)
                .await
                .with_context(|| {
                    format!("{slot}: replace requested, but where it went cannot be read")
                })?;
            match output {
                Output::Json => stdout::json(&replace_answer(answer, slot, placed.as_ref()))?,
                Output::Human => stdout::line(&replace_sentence(slot, placed.as_ref(), timeout))?,
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Follows `/v1/state` until `slot` has a task that is none of `before` and knows its agent: the
/// replacement's placement. `None` when `timeout` passes first (no offer fitted yet).
async fn new_placement(
    client: &Client,
    slot: &str,
    before: &[&str],
    timeout: Duration,
) -> anyhow::Result<Option<TaskState>> {
    let deadline = Instant::now() + timeout;
    loop {
        let state = client.state().await?;
        if let Some(task) = placement(&state, slot, before) {
            return Ok(Some(task.clone()));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(PLACEMENT_POLL.min(deadline - now)).await;
    }
}

/// The first task of `slot` that is not one of `before` and is placed on an agent.
fn placement<'a>(state: &'a ServiceState, slot: &str, before: &[&str]) -> Option<&'a TaskState> {
    state.tasks.iter().find(|t| {
        t.slot == slot
            && !before.contains(&t.task_id.as_str())
            && (t.hostname.is_some() || t.agent_id.is_some())
    })
}

/// `pods replace --json`: the scheduler's answer with `placement`, the new task or null.
fn replace_answer(answer: Value, slot: &str, placed: Option<&TaskState>) -> Value {
    let mut answer = match answer {
        Value::Object(map) => map,
        _ => serde_json::Map::from_iter([
            ("slot".to_string(), json!(slot)),
            ("action".to_string(), json!("replace")),
        ]),
    };
    answer.insert("placement".into(), json!(placed));
    Value::Object(answer)
}

fn replace_sentence(slot: &str, placed: Option<&TaskState>, timeout: Duration) -> String {
    match placed {
        Some(task) => format!(
            "{slot}: replaced; now on {} as {} ({})",
            agent(task),
            task.task_id,
            task.state
        ),
        None => format!(
            "{slot}: replace requested; not placed after {} (no offer fitted yet): follow with `cartrack pods status {slot}`, see `cartrack debug offers`",
            humantime::format_duration(timeout)
        ),
    }
}

/// `host (agent id)`, with `-` for what is unknown.
fn agent(task: &TaskState) -> String {
    format!(
        "{} ({})",
        task.hostname.as_deref().unwrap_or("-"),
        task.agent_id.as_deref().unwrap_or("-")
    )
}

/// `slot` if the service has it, else a usage error saying what it has instead.
fn known_slot<'a>(state: &ServiceState, slot: &'a str) -> Result<&'a str, UsageError> {
    let slots = state.slot_names();
    if slots.iter().any(|s| s == slot) {
        Ok(slot)
    } else {
        Err(unknown_slot(state, slot, &slots))
    }
}

/// At most this many slots are listed in a message.
const LISTED_SLOTS: usize = 10;

/// Why `slot` is unknown. When its group exists, only that group's slots are candidates:
/// proposing another group's slot (`ingester-0` -> `indexer-0`) would be a wrong guess.
fn unknown_slot(state: &ServiceState, slot: &str, slots: &[String]) -> UsageError {
    let Some(group) = slot_group(slot).and_then(|name| state.group(name)) else {
        return UsageError::unknown("pod slot", slot, slots);
    };
    let own: Vec<&str> = slots
        .iter()
        .map(String::as_str)
        .filter(|s| slot_group(s) == Some(group.name.as_str()))
        .collect();
    let name = &group.name;
    if own.is_empty() {
        return UsageError::new(format!(
            "unknown pod slot {slot:?}: group {name:?} has 0 pods now (`cartrack scale {name} N` adds some)"
        ));
    }
    let mut listed = own
        .iter()
        .take(LISTED_SLOTS)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if own.len() > LISTED_SLOTS {
        listed.push_str(", ...");
    }
    UsageError::new(format!(
        "unknown pod slot {slot:?}: group {name:?} has {} pod slots now: {listed}",
        own.len()
    ))
}

/// The group of a slot name `<group>-<index>`.
fn slot_group(slot: &str) -> Option<&str> {
    let (group, index) = slot.rsplit_once('-')?;
    let numeric = !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit());
    (numeric && !group.is_empty()).then_some(group)
}

fn health(healthy: Option<bool>) -> &'static str {
    match healthy {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "-",
    }
}

/// A row per pod slot, in group order then by index (`processor-2` before `processor-10`):
/// the tasks of each wanted slot, a row from the plan for a wanted slot without a live task
/// (pending, or failed and waiting for its relaunch), then tasks of slots being scaled away.
pub fn pods_table(state: &ServiceState, plan: &Plan) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let task_row = |t: &TaskState| {
        vec![
            t.slot.clone(),
            t.state.clone(),
            health(t.healthy).into(),
            t.hostname.clone().unwrap_or_else(|| "-".into()),
            t.agent_id.clone().unwrap_or_else(|| "-".into()),
            render::ports(&t.ports),
            t.task_id.clone(),
        ]
    };
    let steps = plan.steps();
    for group in &state.groups {
        // The group's tasks by slot index, each slot's in task id order.
        let mut tasks: BTreeMap<u64, Vec<&TaskState>> = BTreeMap::new();
        for task in &state.tasks {
            if let Some(index) = slot_index(&task.slot, &group.name) {
                tasks.entry(index).or_default().push(task);
            }
        }
        for slot_tasks in tasks.values_mut() {
            slot_tasks.sort_by(|a, b| a.task_id.cmp(&b.task_id));
        }
        for index in 0..u64::from(group.count) {
            match tasks.get(&index) {
                Some(live) => rows.extend(live.iter().map(|t| task_row(t))),
                None => {
                    let slot = format!("{}-{index}", group.name);
                    rows.push(slot_row(&slot, steps.get(slot.as_str()).copied()));
                }
            }
        }
        // Slots past the count: pods being scaled away.
        rows.extend(
            tasks
                .range(u64::from(group.count)..)
                .flat_map(|(_, live)| live.iter().map(|t| task_row(t))),
        );
    }
    render::table(
        &["SLOT", "STATE", "HEALTHY", "HOST", "AGENT", "PORTS", "TASK"],
        &rows,
    )
}

/// The row of a wanted slot without a live task: its plan status, and its failures in a row.
fn slot_row(slot: &str, step: Option<&PlanStep>) -> Vec<String> {
    let state = match step {
        Some(step) if step.failures > 0 => format!("{} (failed {}x)", step.status, step.failures),
        Some(step) if !step.status.is_empty() => step.status.clone(),
        _ => "PENDING".to_string(),
    };
    let dash = || "-".to_string();
    vec![
        slot.to_string(),
        state,
        dash(),
        dash(),
        dash(),
        dash(),
        dash(),
    ]
}

/// The index of `slot` when it belongs to `group`.
fn slot_index(slot: &str, group: &str) -> Option<u64> {
    let (name, index) = slot.rsplit_once('-')?;
    (name == group).then(|| index.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(value: Value) -> ServiceState {
        serde_json::from_value(value).expect("a state")
    }

    fn three_groups_ingester_scaled_to_0() -> ServiceState {
        state(json!({
            "groups": [
                {"name": "ingester", "count": 0},
                {"name": "processor", "count": 2},
                {"name": "indexer", "count": 1}
            ],
            "tasks": []
        }))
    }

    #[test]
    fn a_slot_of_an_empty_group_suggests_no_slot_of_another_group() {
        let state = three_groups_ingester_scaled_to_0();
        let err = known_slot(&state, "ingester-0").unwrap_err().to_string();
        assert!(!err.contains("indexer"), "{err}");
        assert!(err.contains("group \"ingester\" has 0 pods now"), "{err}");
    }

    #[test]
    fn a_slot_past_the_groups_count_lists_that_groups_slots() {
        let state = three_groups_ingester_scaled_to_0();
        let err = known_slot(&state, "processor-7").unwrap_err().to_string();
        assert!(err.contains("processor-0, processor-1"), "{err}");
        assert!(!err.contains("indexer"), "{err}");
    }

    #[test]
    fn a_misspelt_group_still_gets_did_you_mean() {
        let state = three_groups_ingester_scaled_to_0();
        let err = known_slot(&state, "procesor-1").unwrap_err().to_string();
        assert!(err.contains("did you mean \"processor-1\"?"), "{err}");
    }

    #[test]
    fn slot_groups_need_a_numeric_index() {
        assert_eq!(slot_group("kafka-bridge-3"), Some("kafka-bridge"));
        assert_eq!(slot_group("processor"), None);
        assert_eq!(slot_group("processor-x"), None);
        assert_eq!(slot_group("-3"), None);
    }

    #[test]
    fn the_placement_is_a_new_task_with_an_agent() {
        let state = state(json!({"tasks": [
            {"slot": "processor-0", "task_id": "old", "hostname": "agent-1", "state": "TASK_KILLING"},
            {"slot": "processor-0", "task_id": "new", "hostname": "agent-3", "agent_id": "a3",
             "state": "TASK_STAGING"}
        ]}));
        let placed = placement(&state, "processor-0", &["old"]).expect("placed");
        assert_eq!(placed.task_id, "new");
        assert!(placement(&state, "processor-0", &["old", "new"]).is_none());
        let sentence = replace_sentence("processor-0", Some(placed), Duration::from_secs(30));
        assert_eq!(
            sentence,
            "processor-0: replaced; now on agent-3 (a3) as new (TASK_STAGING)"
        );
        let answer = replace_answer(
            json!({"slot": "processor-0", "action": "replace"}),
            "processor-0",
            Some(placed),
        );
        assert_eq!(answer["placement"]["hostname"], "agent-3");
        assert_eq!(answer["action"], "replace");
    }

    #[test]
    fn the_pods_table_lists_every_slot_in_natural_order_with_pending_and_failed_ones() {
        let state = state(json!({
            "groups": [{"name": "processor", "count": 11}, {"name": "indexer", "count": 1}],
            "tasks": (0..11)
                .filter(|i| *i != 3 && *i != 4)
                .map(|i| json!({"slot": format!("processor-{i}"), "task_id": format!("t{i}"),
                                "agent_id": "S1", "hostname": "127.0.0.1", "state": "TASK_RUNNING"}))
                .chain([json!({"slot": "processor-11", "task_id": "t11", "state": "TASK_KILLING"})])
                .collect::<Vec<_>>()
        }));
        let plan: Plan = serde_json::from_value(json!({"phases": [{"steps": [
            {"name": "processor-3", "status": "DELAYED", "failures": 2},
            {"name": "processor-4", "status": "PENDING"}
        ]}]}))
        .unwrap();
        let table = pods_table(&state, &plan);
        let slots: Vec<&str> = table
            .lines()
            .skip(1)
            .filter_map(|line| line.split_whitespace().next())
            .collect();
        let expected: Vec<String> = (0..12)
            .map(|i| format!("processor-{i}"))
            .chain(["indexer-0".to_string()])
            .collect();
        assert_eq!(slots, expected, "{table}");
        assert!(
            table.contains("processor-3   DELAYED (failed 2x)"),
            "{table}"
        );
        assert!(table.contains("processor-4   PENDING"), "{table}");
        assert!(table.contains("indexer-0     PENDING"), "{table}");
        assert!(
            table.contains("127.0.0.1  S1"),
            "the agent id beside the host: {table}"
        );
    }
}
