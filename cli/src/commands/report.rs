//! `cartrack report utilisation`: the multiplexing report — each service's peak and average
//! allocation and the agents it would need on its own, then siloed versus multiplexed agents
//! and the cluster's average utilisation (or the API's JSON unchanged with --json).

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::api::Client;
use crate::args::Output;
use crate::{render, stdout};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CpusMem {
    cpus: f64,
    mem: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Period {
    from_ms: u64,
    to_ms: u64,
    samples: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Cluster {
    agents: u64,
    avg_utilisation: CpusMem,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Service {
    name: String,
    kind: String,
    peak: CpusMem,
    avg: CpusMem,
    siloed_agents: u64,
}

/// What the table shows of `GET /v1/report/utilisation`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Report {
    period: Period,
    agent_size: CpusMem,
    cluster: Cluster,
    services: Vec<Service>,
    siloed_agents: u64,
    multiplexed_agents: u64,
}

pub async fn utilisation(
    client: &Client,
    output: Output,
    since: Option<Duration>,
) -> anyhow::Result<ExitCode> {
    let value = client.utilisation(since).await?;
    match output {
        Output::Json => stdout::json(&value)?,
        Output::Human => stdout::text(&text(&value)?)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `n` with at most two decimals and no trailing zeros.
fn amount(n: f64) -> String {
    let text = format!("{n:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn agents(n: u64) -> String {
    format!("{n} agent{}", if n == 1 { "" } else { "s" })
}

fn percent(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
}

fn text(value: &Value) -> anyhow::Result<String> {
    let report = Report::deserialize(value).map_err(|e| {
        anyhow::anyhow!("the scheduler's utilisation report is not what this CLI reads: {e}")
    })?;
    let period = &report.period;
    let mut out = format!(
        "period: {} to {}, {} sample{}\n",
        render::utc(period.from_ms),
        render::utc(period.to_ms),
        period.samples,
        if period.samples == 1 { "" } else { "s" }
    );
    if period.samples == 0 {
        out.push_str(
            "no utilisation sample in this period yet: the scheduler takes one every \
             --report-interval (10 s by default) while a master answers\n",
        );
        return Ok(out);
    }
    let _ = writeln!(
        out,
        "agent size: {} cpus, {} MB (the largest agent)\n",
        amount(report.agent_size.cpus),
        amount(report.agent_size.mem)
    );
    let rows: Vec<Vec<String>> = report
        .services
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                match s.kind.as_str() {
                    "cartrack-group" => "group".to_string(),
                    other => other.to_string(),
                },
                amount(s.peak.cpus),
                amount(s.peak.mem),
                amount(s.avg.cpus),
                amount(s.avg.mem),
                s.siloed_agents.to_string(),
            ]
        })
        .collect();
    out.push_str(&render::table(
        &[
            "SERVICE",
            "KIND",
            "PEAK CPUS",
            "PEAK MEM MB",
            "AVG CPUS",
            "AVG MEM MB",
            "SILOED AGENTS",
        ],
        &rows,
    ));
    let _ = write!(
        out,
        "\nsiloed:      {} (each service on agents of its own, at its peak)\n\
         multiplexed: {} (every service on shared agents, at their summed peak)\n\
         actual:      {} in the cluster\n\
         average utilisation: cpus {}, mem {}\n",
        agents(report.siloed_agents),
        agents(report.multiplexed_agents),
        agents(report.cluster.agents),
        percent(report.cluster.avg_utilisation.cpus),
        percent(report.cluster.avg_utilisation.mem),
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_table_lists_services_then_siloed_versus_multiplexed() {
        let report = json!({
            "period": {"from_ms": 1_765_000_000_000u64, "to_ms": 1_765_000_060_000u64, "samples": 7},
            "agent_size": {"cpus": 4.0, "mem": 8192.0},
            "cluster": {"agents": 3, "capacity": {"cpus": 12.0, "mem": 24576.0},
                        "avg_utilisation": {"cpus": 0.4567, "mem": 0.25}},
            "services": [
                {"name": "processor", "kind": "cartrack-group", "peak": {"cpus": 1.5, "mem": 512.0},
                 "avg": {"cpus": 1.25, "mem": 480.333}, "siloed_agents": 1},
                {"name": "other tenants", "kind": "framework", "peak": {"cpus": 3.0, "mem": 6144.0},
                 "avg": {"cpus": 3.0, "mem": 6144.0}, "siloed_agents": 1}
            ],
            "siloed_agents": 2, "multiplexed_agents": 1, "agents": [], "series": []
        });
        assert_eq!(
            text(&report).unwrap(),
            "period: 2025-12-06T05:46:40Z to 2025-12-06T05:47:40Z, 7 samples\n\
             agent size: 4 cpus, 8192 MB (the largest agent)\n\
             \n\
             SERVICE        KIND       PEAK CPUS  PEAK MEM MB  AVG CPUS  AVG MEM MB  SILOED AGENTS\n\
             processor      group      1.5        512          1.25      480.33      1\n\
             other tenants  framework  3          6144         3         6144        1\n\
             \n\
             siloed:      2 agents (each service on agents of its own, at its peak)\n\
             multiplexed: 1 agent (every service on shared agents, at their summed peak)\n\
             actual:      3 agents in the cluster\n\
             average utilisation: cpus 45.7%, mem 25.0%\n"
        );
    }

    #[test]
    fn no_sample_yet_says_why() {
        let report = json!({"period": {"from_ms": 0, "to_ms": 0, "samples": 0}});
        let printed = text(&report).unwrap();
        assert!(
            printed.contains("no utilisation sample in this period yet"),
            "{printed}"
        );
    }
}
