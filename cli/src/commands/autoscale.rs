//! `cartrack autoscale show` (its text; the fetch is [`super::views`]) and `cartrack autoscale
//! resume <group>`.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::Value;

use super::views::{items, str_of};
use crate::api::Client;
use crate::args::Output;
use crate::render;
use crate::stdout;

pub async fn resume(client: &Client, output: Output, group: &str) -> anyhow::Result<ExitCode> {
    let answer = client
        .resume_autoscale(group)
        .await
        .with_context(|| format!("cannot resume autoscaling of {group}"))?;
    match output {
        Output::Json => stdout::json(&answer)?,
        Output::Human => stdout::line(&format!(
            "{group}: autoscaling follows the load again (follow with `cartrack autoscale show`)"
        ))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// A table of the autoscaled groups, then the decisions, newest first.
pub(super) fn text(view: &Value) -> String {
    let groups = items(view, "groups");
    if groups.is_empty() {
        return "no group is autoscaled (add `autoscale = { ... }` to a group of the spec)\n"
            .to_string();
    }
    let number = |value: &Value, key: &str| {
        value
            .get(key)
            .and_then(Value::as_f64)
            .map_or("-".to_string(), |n| format!("{n:.0}"))
    };
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            vec![
                str_of(g, "group").to_string(),
                format!("{}..{}", number(g, "min"), number(g, "max")),
                format!(
                    "{} (target {} per pod, from {})",
                    str_of(g, "metric"),
                    number(g, "target"),
                    str_of(g, "source")
                ),
                format!("{}/{}", number(g, "running"), number(g, "desired")),
                number(g, "value"),
                number(g, "wanted"),
                status(g),
            ]
        })
        .collect();
    let mut out = render::table(
        &[
            "GROUP",
            "MIN..MAX",
            "METRIC",
            "RUNNING/DESIRED",
            "VALUE",
            "WANTED",
            "STATUS",
        ],
        &rows,
    );
    let decisions = items(view, "decisions");
    out.push_str("\nDecisions (newest first):\n");
    if decisions.is_empty() {
        out.push_str("  none yet\n");
    }
    for d in decisions {
        let when = d
            .get("at_ms")
            .and_then(Value::as_u64)
            .map_or_else(|| "-".to_string(), render::utc);
        let _ = writeln!(
            out,
            "  {when}  {} {} -> {} ({} {}): {}",
            str_of(d, "group"),
            number(d, "from"),
            number(d, "to"),
            str_of(d, "metric"),
            number(d, "value"),
            str_of(d, "reason"),
        );
    }
    out
}

/// Why the group's count stays, in words.
fn status(group: &Value) -> String {
    if group.get("pinned").and_then(Value::as_bool) == Some(true) {
        let name = str_of(group, "group");
        return format!("paused: count set by an operator (`cartrack autoscale resume {name}`)");
    }
    let Some(hold) = group.get("hold").filter(|h| !h.is_null()) else {
        return "no reading yet".to_string();
    };
    let field = |key: &str| hold.get(key).and_then(Value::as_u64).unwrap_or(0);
    let seconds = |key: &str| field(key).div_ceil(1000);
    match str_of(hold, "kind") {
        "steady" => "steady".to_string(),
        "pinned" => "paused by an operator".to_string(),
        "deploying" => "waiting for the group's deployment".to_string(),
        "no_metric" => "no pod answered with the metric".to_string(),
        "partial_metric" => format!(
            "{} of {} pods answered: not scaling down",
            field("reporting"),
            field("asked")
        ),
        "starting" => format!(
            "waiting for pods to start ({} of {} running)",
            field("running"),
            field("desired")
        ),
        "waiting" => format!(
            "{} pods wanted; acting in {} s if it lasts",
            field("wanted"),
            seconds("remaining_ms")
        ),
        "cooling_down" => format!("cooling down, {} s left", seconds("remaining_ms")),
        "at_max" => "more wanted, at max".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn groups_read_as_a_table_with_why_and_decisions_newest_first() {
        let view = json!({
            "groups": [{
                "group": "processor", "min": 1, "max": 4, "metric": "lag", "target": 50000.0,
                "source": "processor", "desired": 2, "running": 1, "pinned": false,
                "deploying": false, "value": 180000.0, "value_at_ms": 0, "wanted": 4,
                "hold": {"kind": "starting", "running": 1, "desired": 2}
            }],
            "decisions": [{
                "at_ms": 0, "group": "processor", "metric": "lag", "value": 120000.0,
                "from": 1, "to": 2, "reason": "lag 120000 is above 50000 x 1 pods for 30 s: 3 pods wanted"
            }]
        });
        let text = text(&view);
        assert!(text.contains("processor"), "{text}");
        assert!(text.contains("1/2"), "{text}");
        assert!(
            text.contains("waiting for pods to start (1 of 2 running)"),
            "{text}"
        );
        assert!(text.contains("processor 1 -> 2 (lag 120000)"), "{text}");
        let none = text_of_pinned();
        assert!(
            none.contains("cartrack autoscale resume processor"),
            "{none}"
        );
    }

    fn text_of_pinned() -> String {
        text(&json!({
            "groups": [{"group": "processor", "min": 1, "max": 4, "metric": "lag", "target": 1.0,
                        "source": "processor", "desired": 3, "running": 3, "pinned": true,
                        "hold": {"kind": "pinned"}}],
            "decisions": []
        }))
    }

    #[test]
    fn without_autoscaled_groups_it_says_how_to_get_one() {
        assert!(text(&json!({"groups": [], "decisions": []})).contains("autoscale = {"));
    }
}
