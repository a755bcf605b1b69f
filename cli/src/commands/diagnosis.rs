//! Why a pod is not running, in words, from what the scheduler knows: the slot's plan step (how
//! its last task ended, failures in a row, launch backoff), its live task, and the verdicts of
//! recent offers. A crash loop is named as one, with the task's own last words, not mistaken
//! for a wait for offers.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::api::{PlanStep, TaskState};

/// Why the pod of a slot is not running: one line, the same for every pod stuck the same way
/// (so many stuck pods can be told as a few groups).
pub fn diagnose(
    step: Option<&PlanStep>,
    task: Option<&TaskState>,
    offer_reasons: &[String],
) -> String {
    if let Some(task) = task {
        let host = task.hostname.as_deref().unwrap_or("an unknown agent");
        return format!("{} on {host}", task.state);
    }
    if let Some(step) = step.filter(|step| step.failures > 0) {
        let times = if step.failures == 1 {
            "failed once".to_string()
        } else {
            format!("crash-looping: failed {} times in a row", step.failures)
        };
        let last = step.message.as_deref().unwrap_or("no message");
        let next = match step.relaunch_in_ms {
            Some(ms) if step.status == "DELAYED" => {
                format!("; relaunch in {} s (launch backoff)", ms.div_ceil(1000))
            }
            _ => String::new(),
        };
        return format!("{times}; last: {last}{next}");
    }
    match offer_reasons {
        [] => "no offer was evaluated for it yet: are agents with free resources offering to cartrack?"
            .to_string(),
        [only] => format!("no offer fits: {only}"),
        [first, rest @ ..] => format!("no offer fits: {first} (and {} more reasons)", rest.len()),
    }
}

/// Most groups of stuck pods written out; the rest are counted.
const MAX_GROUPS: usize = 10;
/// Most slot names written per group.
const MAX_NAMES: usize = 5;

/// The stuck pods grouped by diagnosis, in the order each diagnosis first appears: a line per
/// group naming a few slots and counting the rest, so 100,000 stuck pods take a few lines.
pub fn grouped(diagnoses: &[(String, String)]) -> String {
    let mut order: Vec<&str> = Vec::new();
    let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (slot, diagnosis) in diagnoses {
        let slots = groups.entry(diagnosis).or_default();
        if slots.is_empty() {
            order.push(diagnosis);
        }
        slots.push(slot);
    }
    let mut out = String::new();
    for diagnosis in order.iter().take(MAX_GROUPS) {
        let slots = &groups[diagnosis];
        let mut names = slots[..slots.len().min(MAX_NAMES)].join(", ");
        if slots.len() > MAX_NAMES {
            names.push_str(&format!(" and {} more", slots.len() - MAX_NAMES));
        }
        out.push_str(&format!("  {names}: {diagnosis}\n"));
    }
    if order.len() > MAX_GROUPS {
        let pods: usize = order[MAX_GROUPS..].iter().map(|d| groups[d].len()).sum();
        out.push_str(&format!(
            "  {pods} more pods, stuck for {} other reasons\n",
            order.len() - MAX_GROUPS
        ));
    }
    out
}

/// The reasons the debug view gives, by slot: every object naming a slot (as `slot` or `pod`)
/// with a `reason` or `reasons`, prefixed by the offer's host when it is known. One walk of
/// the view, however many slots are asked about.
pub fn offer_reasons(view: &Value) -> HashMap<String, Vec<String>> {
    let mut found = HashMap::new();
    collect_reasons(view, None, &mut found);
    for reasons in found.values_mut() {
        reasons.dedup();
    }
    found
}

fn collect_reasons(value: &Value, host: Option<&str>, found: &mut HashMap<String, Vec<String>>) {
    match value {
        Value::Object(map) => {
            let host = map
                .get("hostname")
                .or(map.get("agent_id"))
                .and_then(Value::as_str)
                .or(host);
            let mut slots: Vec<&str> = ["slot", "pod"]
                .iter()
                .filter_map(|key| map.get(*key).and_then(Value::as_str))
                .collect();
            slots.dedup();
            let reasons = map.get("reasons").or(map.get("reason"));
            for slot in slots {
                let entry = found.entry(slot.to_string()).or_default();
                for reason in reasons.into_iter().flat_map(as_strings) {
                    entry.push(match host {
                        Some(host) => format!("{host}: {reason}"),
                        None => reason,
                    });
                }
            }
            for child in map.values() {
                collect_reasons(child, host, found);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_reasons(item, host, found);
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
    use crate::api::Plan;
    use serde_json::json;

    fn plan(value: Value) -> Plan {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_crash_loop_is_named_with_the_tasks_last_words_and_the_backoff() {
        let plan = plan(json!({"phases": [{"name": "processor", "steps": [
            {"name": "processor-0", "status": "DELAYED", "failures": 3,
             "message": "Command exited with status 1; stderr ends: cannot open config.toml",
             "relaunch_in_ms": 2_500}
        ]}]}));
        let line = diagnose(plan.steps().get("processor-0").copied(), None, &[]);
        assert_eq!(
            line,
            "crash-looping: failed 3 times in a row; last: Command exited with status 1; \
             stderr ends: cannot open config.toml; relaunch in 3 s (launch backoff)"
        );
        assert!(
            !line.contains("offer"),
            "not mistaken for a wait for offers"
        );
    }

    #[test]
    fn a_pod_without_failures_waits_for_offers() {
        let pending = plan(json!({"phases": [{"steps": [{"name": "p-0", "status": "PENDING"}]}]}));
        let steps = pending.steps();
        let step = steps.get("p-0").copied();
        assert!(diagnose(step, None, &[]).starts_with("no offer was evaluated"));
        let reasons = vec![
            "a1: insufficient cpus".to_string(),
            "a2: port taken".to_string(),
        ];
        assert_eq!(
            diagnose(step, None, &reasons),
            "no offer fits: a1: insufficient cpus (and 1 more reasons)"
        );
    }

    #[test]
    fn a_live_task_is_described_by_its_state_and_agent() {
        let task: TaskState = serde_json::from_value(json!({
            "slot": "p-0", "task_id": "t", "state": "TASK_STAGING", "hostname": "h1"
        }))
        .unwrap();
        assert_eq!(diagnose(None, Some(&task), &[]), "TASK_STAGING on h1");
    }

    #[test]
    fn many_stuck_pods_take_a_few_lines() {
        let mut diagnoses: Vec<(String, String)> = (0..100_000)
            .map(|i| (format!("processor-{i}"), "no offer fits: cpus".to_string()))
            .collect();
        diagnoses.insert(0, ("ingester-0".into(), "crash-looping".into()));
        for i in 0..12 {
            diagnoses.push((format!("x-{i}"), format!("reason {i}")));
        }
        let out = grouped(&diagnoses);
        assert_eq!(out.lines().count(), MAX_GROUPS + 1, "{out}");
        assert!(out.starts_with("  ingester-0: crash-looping\n"), "{out}");
        assert!(
            out.contains("processor-0, processor-1, processor-2, processor-3, processor-4 and 99995 more: no offer fits: cpus"),
            "{out}"
        );
        assert!(
            out.ends_with("  4 more pods, stuck for 4 other reasons\n"),
            "{out}"
        );
    }

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
            offer_reasons(&view)["processor-2"],
            vec![
                "agent-1: insufficient cpus: 0.5 < 1.0".to_string(),
                "agent-2: hostname:UNIQUE".to_string()
            ]
        );
    }
}
