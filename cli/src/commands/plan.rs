//! `cartrack plan ...`: the deploy plan as a tree (`dcos <service> plan show`'s shape), and the
//! requests that steer a running deployment.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::Value;

use crate::api::{ApiError, Client, Deployment, Plan, PlanPhase, PlanStep};
use crate::args::{Output, PlanAction};
use crate::render::{self, Tree};
use crate::stdout;

/// Where the deploy plan is.
pub(super) const DEPLOY_PLAN: &str = "/v1/plans/deploy";

pub async fn show(client: &Client, output: Output) -> anyhow::Result<ExitCode> {
    let value = client.deploy_plan().await?;
    match output {
        Output::Json => stdout::json(&value)?,
        Output::Human => stdout::text(&plan_text(&parse(value)?))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The deploy plan as the CLI reads it.
pub(super) fn parse(value: Value) -> Result<Plan, ApiError> {
    serde_json::from_value(value).map_err(|source| ApiError::BadResponse {
        path: format!("GET {DEPLOY_PLAN}"),
        source,
    })
}

pub async fn steer(
    client: &Client,
    output: Output,
    action: &PlanAction,
) -> anyhow::Result<ExitCode> {
    let verb = action.as_str();
    let answer = client
        .steer(action)
        .await
        .with_context(|| match action.query() {
            Some((_, name)) => format!("cannot {verb} {name}"),
            None => format!("cannot {verb} the deployment"),
        })?;
    match output {
        Output::Json => stdout::json(&answer)?,
        Output::Human => stdout::line(&steered(action))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// What a steering request that was taken does, for people.
fn steered(action: &PlanAction) -> String {
    match action {
        PlanAction::Pause => "deployment paused: started steps finish, no new one starts \
                              (`cartrack plan resume` goes on)"
            .into(),
        PlanAction::Resume => "deployment resumed".into(),
        PlanAction::Continue { phase: Some(group) } => format!("{group}: canary step let go"),
        PlanAction::Continue { phase: None } => "canary steps let go in every group".into(),
        PlanAction::Abort => "deployment aborted: rolling back to the version before \
                              (follow with `cartrack plan show`)"
            .into(),
        PlanAction::Restart(step) => format!("{step}: restarting in place"),
        PlanAction::ForceComplete(step) => {
            format!("{step}: taken as complete; its pod keeps what it runs")
        }
    }
}

/// The deployment's line, then the plan as a tree: the plan, a phase per group, a step per pod
/// with its version and why it is not complete.
pub(super) fn plan_text(plan: &Plan) -> String {
    let mut out = String::new();
    if let Some(deployment) = &plan.deployment {
        let _ = writeln!(out, "{}", deployment_line(deployment));
    }
    let root = format!(
        "{} ({})",
        plan.name.as_deref().unwrap_or("deploy"),
        plan.status
    );
    let phases = plan.phases.iter().map(phase_tree).collect();
    out.push_str(&render::tree(&Tree::new(root, phases)));
    out
}

fn phase_tree(phase: &PlanPhase) -> Tree {
    let mut label = format!("{} ({})", phase.name, phase.status);
    if let Some(message) = &phase.message {
        let _ = write!(label, "  {message}");
    }
    let steps = phase
        .steps
        .iter()
        .map(|step| Tree::new(step_label(step), Vec::new()))
        .collect();
    Tree::new(label, steps)
}

/// `deployment 1 -> 2: started <time>, paused`, `rollback 2 -> 1: completed <time>`.
fn deployment_line(deployment: &Deployment) -> String {
    let kind = if deployment.rollback {
        "rollback"
    } else {
        "deployment"
    };
    let from = deployment
        .from
        .map_or_else(|| "-".to_string(), |v| v.to_string());
    let mut line = format!("{kind} {from} -> {}: ", deployment.to);
    match deployment.completed_ms {
        Some(ms) => {
            let _ = write!(line, "completed {}", render::utc(ms));
        }
        None => {
            let _ = write!(line, "started {}", render::utc(deployment.started_ms));
            if deployment.paused {
                line.push_str(", paused");
            }
        }
    }
    line
}

/// `web-1 (WAITING) v1  canary: waits for ...`: the slot, its status, the version its pod runs,
/// and why it is not complete. A complete step's message is left out: it is how an earlier
/// pod of the slot ended (a replaced pod's kill, say), which no longer matters.
pub(super) fn step_label(step: &PlanStep) -> String {
    let mut label = format!("{} ({})", step.name, step.status);
    if let Some(version) = step.version {
        let _ = write!(label, " v{version}");
    }
    let mut why = Vec::new();
    if step.failures > 0 {
        why.push(format!("failed {}x", step.failures));
    }
    if let Some(ms) = step.relaunch_in_ms {
        why.push(format!("relaunch in {} s", ms.div_ceil(1000)));
    }
    match &step.message {
        Some(message) if step.status != "COMPLETE" => why.push(message.clone()),
        _ => {}
    }
    if !why.is_empty() {
        let _ = write!(label, "  {}", why.join(", "));
    }
    label
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_plan_reads_as_a_tree_under_its_deployment() {
        let plan = parse(json!({
            "status": "WAITING",
            "deployment": {"from": 1, "to": 2, "started_ms": 1_765_000_000_000u64,
                           "groups": ["web"], "paused": true, "rollback": false, "continued": {}},
            "phases": [
                {"name": "web", "status": "WAITING", "steps": [
                    {"name": "web-0", "status": "COMPLETE", "version": 2,
                     "message": "Killed by a KILL request"},
                    {"name": "web-1", "status": "WAITING", "version": 1,
                     "message": "deployment paused: `cartrack plan resume`"}]},
                {"name": "db", "status": "IN_PROGRESS", "steps": [
                    {"name": "db-0", "status": "DELAYED", "failures": 3, "relaunch_in_ms": 1500,
                     "message": "Command exited with status 1"}]}
            ]
        }))
        .unwrap();
        assert_eq!(
            plan_text(&plan),
            "deployment 1 -> 2: started 2025-12-06T05:46:40Z, paused\n\
             deploy (WAITING)\n\
             ├─ web (WAITING)\n\
             │  ├─ web-0 (COMPLETE) v2\n\
             │  └─ web-1 (WAITING) v1  deployment paused: `cartrack plan resume`\n\
             └─ db (IN_PROGRESS)\n\
             \x20  └─ db-0 (DELAYED)  failed 3x, relaunch in 2 s, Command exited with status 1\n"
        );
    }

    #[test]
    fn a_finished_rollback_says_so_and_a_named_plan_keeps_its_name() {
        let plan = parse(json!({
            "status": "COMPLETE",
            "deployment": {"from": 2, "to": 1, "started_ms": 0, "rollback": true,
                           "completed_ms": 1_765_000_001_000u64},
            "phases": []
        }))
        .unwrap();
        assert_eq!(
            plan_text(&plan),
            "rollback 2 -> 1: completed 2025-12-06T05:46:41Z\ndeploy (COMPLETE)\n"
        );
        let uninstall = parse(
            json!({"name": "uninstall", "status": "IN_PROGRESS", "phases": [
            {"name": "kill-tasks", "status": "IN_PROGRESS", "steps": [
                {"name": "web-0-main__1", "status": "PENDING", "state": "TASK_RUNNING"}]},
            {"name": "unreserve-resources", "status": "COMPLETE", "steps": [],
             "message": "cartrack reserves nothing"}]}),
        )
        .unwrap();
        assert_eq!(
            plan_text(&uninstall),
            "uninstall (IN_PROGRESS)\n\
             ├─ kill-tasks (IN_PROGRESS)\n\
             │  └─ web-0-main__1 (PENDING)\n\
             └─ unreserve-resources (COMPLETE)  cartrack reserves nothing\n"
        );
    }

    #[test]
    fn steering_sentences_name_the_step_or_group() {
        assert_eq!(
            steered(&PlanAction::Continue {
                phase: Some("web".into())
            }),
            "web: canary step let go"
        );
        assert!(steered(&PlanAction::Restart("web-1".into())).starts_with("web-1: restarting"));
    }
}
