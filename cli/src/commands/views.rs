//! `cartrack debug offers` and `cartrack autoscale show`: views the scheduler computes, printed
//! for people (or unchanged with --json).

use std::fmt::Write as _;
use std::process::ExitCode;

use serde_json::Value;

use crate::api::Client;
use crate::args::Output;
use crate::stdout;

/// Which view, and how it reads for people.
#[derive(Debug, Clone, Copy)]
pub enum View {
    DebugOffers,
    Autoscale,
}

impl View {
    fn path(self) -> &'static str {
        match self {
            View::DebugOffers => "/v1/debug/offers",
            View::Autoscale => "/v1/autoscale",
        }
    }

    fn render(self, view: &Value) -> String {
        match self {
            View::DebugOffers => offers_text(view),
            View::Autoscale => super::autoscale::text(view),
        }
    }
}

pub async fn show(client: &Client, output: Output, view: View) -> anyhow::Result<ExitCode> {
    let value = client.get_json(view.path()).await?;
    match output {
        Output::Json => stdout::json(&value)?,
        Output::Human => stdout::text(&view.render(&value))?,
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("-")
}

pub(super) fn items<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A paragraph per recent offer: when (UTC), what became of it, the agent, the resources, and
/// for each pod pending now whether it fits and why not.
fn offers_text(view: &Value) -> String {
    let offers = items(view, "offers");
    if offers.is_empty() {
        return "no offer received yet\n".to_string();
    }
    let mut out = String::new();
    for offer in offers {
        let when = offer
            .get("received_ms")
            .and_then(Value::as_u64)
            .map_or_else(|| "-".to_string(), crate::render::utc);
        let number = |key: &str| {
            offer
                .get(key)
                .and_then(Value::as_f64)
                .map_or("-".to_string(), |n| format!("{n}"))
        };
        let _ = writeln!(
            out,
            "{when}  {}  {} on {} ({}), role {}: cpus {}, mem {} MB, disk {} MB, {} ports",
            str_of(offer, "outcome"),
            str_of(offer, "offer_id"),
            str_of(offer, "hostname"),
            str_of(offer, "agent_id"),
            str_of(offer, "role"),
            number("cpus"),
            number("mem"),
            number("disk"),
            number("ports"),
        );
        let pods = items(offer, "pods");
        if pods.is_empty() {
            let _ = writeln!(out, "  no pod is pending now");
        }
        for pod in pods {
            let fits = pod.get("fits").and_then(Value::as_bool).unwrap_or(false);
            let reasons: Vec<&str> = items(pod, "reasons")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let verdict = if fits {
                "fits".to_string()
            } else {
                format!("does not fit: {}", reasons.join("; "))
            };
            let _ = writeln!(out, "  {}  {verdict}", str_of(pod, "slot"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn offers_read_with_dates_units_and_verdicts() {
        let view = json!({"offers": [
            {"received_ms": 1_765_000_000_000u64, "outcome": "declined", "offer_id": "O1",
             "agent_id": "S0", "hostname": "127.0.0.1", "role": "*", "cpus": 0.5, "mem": 512.0,
             "disk": 100.0, "ports": 667,
             "pods": [{"slot": "processor-1", "fits": false, "reasons": ["cpus: needs 1, offer has 0.5"]},
                      {"slot": "indexer-0", "fits": true, "reasons": []}]},
            {"received_ms": 1_765_000_001_000u64, "outcome": "accepted", "offer_id": "O2",
             "agent_id": "S1", "hostname": "h1", "role": "*", "cpus": 4.0, "mem": 8192.0,
             "disk": 20000.0, "ports": 2000, "pods": []}
        ]});
        let text = offers_text(&view);
        assert_eq!(
            text,
            "2025-12-06T05:46:40Z  declined  O1 on 127.0.0.1 (S0), role *: cpus 0.5, mem 512 MB, disk 100 MB, 667 ports\n\
             \x20 processor-1  does not fit: cpus: needs 1, offer has 0.5\n\
             \x20 indexer-0  fits\n\
             2025-12-06T05:46:41Z  accepted  O2 on h1 (S1), role *: cpus 4, mem 8192 MB, disk 20000 MB, 2000 ports\n\
             \x20 no pod is pending now\n"
        );
        assert_eq!(
            offers_text(&json!({"offers": []})),
            "no offer received yet\n"
        );
    }
}
