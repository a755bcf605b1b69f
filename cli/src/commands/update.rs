//! `cartrack update --spec FILE [--set k=v]... [--release-uri URI] [--wait]`: a new target
//! config, then optionally the deployment followed step by step until every pod runs it.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use super::plan::{self, step_label};
use crate::api::{Client, Plan, PlanStep, UpdateAnswer};
use crate::args::{Output, UpdateArgs};
use crate::stdout;

/// How often --wait asks the scheduler.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

pub async fn run(client: &Client, output: Output, update: &UpdateArgs) -> anyhow::Result<ExitCode> {
    // A refused config (422) changes nothing; its reasons end the run with exit 2.
    let answer = client
        .update(&update.spec, &update.set, update.release_uri.as_deref())
        .await?;
    if output == Output::Human {
        stdout::line(&updated(&answer))?;
    }
    let Some(timeout) = update.wait else {
        if output == Output::Json {
            stdout::json(&answer)?;
        }
        return Ok(ExitCode::SUCCESS);
    };
    let (plan, outcome) = follow(client, output, answer.target, timeout).await?;
    if output == Output::Json {
        stdout::json(&json!({
            "target": answer.target,
            "changed": answer.changed,
            "plan": answer.plan,
            "status": plan.status,
            "complete": outcome == Outcome::Complete,
        }))?;
    }
    match outcome {
        Outcome::Complete => {
            if output == Output::Human {
                stdout::line(&format!("version {}: deployment complete", answer.target))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Outcome::Failed(reason) => Err(anyhow::anyhow!(reason)),
        Outcome::Going => Err(anyhow::anyhow!(
            "version {} is not rolled out after {}; see `cartrack plan show`",
            answer.target,
            humantime::format_duration(timeout)
        )),
    }
}

/// The new target, or that nothing changed.
fn updated(answer: &UpdateAnswer) -> String {
    if answer.changed {
        format!(
            "version {} is the target: rolling out (`cartrack plan show` shows the steps)",
            answer.target
        )
    } else {
        format!(
            "unchanged: the config is version {}, the target already",
            answer.target
        )
    }
}

/// Where a deployment of the target stands.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Every pod runs the target.
    Complete,
    /// It cannot complete by itself: a step failed, an abort rolled it back, or a newer
    /// version replaced it.
    Failed(String),
    /// Still going.
    Going,
}

/// Polls the deploy plan until `target` is rolled out, fails, or `timeout` passes, printing a
/// line for each step that changes (for people); returns the last plan seen.
async fn follow(
    client: &Client,
    output: Output,
    target: u32,
    timeout: Duration,
) -> anyhow::Result<(Plan, Outcome)> {
    let deadline = Instant::now() + timeout;
    let mut seen: HashMap<String, StepKey> = HashMap::new();
    loop {
        let plan = plan::parse(client.deploy_plan().await?)?;
        for step in plan.phases.iter().flat_map(|phase| &phase.steps) {
            let key = StepKey::of(step);
            let first = !seen.contains_key(&step.name);
            if seen.get(&step.name) == Some(&key) {
                continue;
            }
            // At the start only what is not done yet is news.
            if output == Output::Human && !(first && step.status == "COMPLETE") {
                stdout::line(&step_label(step))?;
            }
            seen.insert(step.name.clone(), key);
        }
        let outcome = outcome(&plan, target);
        if outcome != Outcome::Going || Instant::now() >= deadline {
            return Ok((plan, outcome));
        }
        tokio::time::sleep(POLL_INTERVAL.min(deadline - Instant::now())).await;
    }
}

/// What makes a step's progress line news: not the relaunch countdown, which ticks every poll.
#[derive(Debug, PartialEq, Eq)]
struct StepKey {
    status: String,
    version: Option<u32>,
    failures: u32,
    message: Option<String>,
}

impl StepKey {
    fn of(step: &PlanStep) -> StepKey {
        StepKey {
            status: step.status.clone(),
            version: step.version,
            failures: step.failures,
            message: step.message.clone(),
        }
    }
}

/// Where the rollout of `target` stands in `plan`. A target that replaced no pod (a count-only
/// change, or the target already) has no deployment of its own: it is done with the plan.
fn outcome(plan: &Plan, target: u32) -> Outcome {
    if plan.name.as_deref() == Some("uninstall") {
        return Outcome::Failed("the service is being uninstalled".into());
    }
    let deployment = plan.deployment.as_ref();
    match deployment {
        Some(d) if d.rollback && d.from == Some(target) => {
            return Outcome::Failed(format!(
                "the deployment of version {target} was aborted: rolling back to version {}",
                d.to
            ))
        }
        Some(d) if d.to > target => {
            return Outcome::Failed(format!(
                "version {} replaced version {target} as the target before it was rolled out",
                d.to
            ))
        }
        Some(d) if d.to == target && d.completed_ms.is_some() => return Outcome::Complete,
        _ => {}
    }
    if plan.status == "ERROR" {
        let failing: Vec<String> = plan
            .phases
            .iter()
            .flat_map(|phase| &phase.steps)
            .filter(|step| step.status == "ERROR")
            .map(|step| match &step.message {
                Some(message) => format!("{}: {message}", step.name),
                None => step.name.clone(),
            })
            .collect();
        return Outcome::Failed(format!(
            "the deployment of version {target} stopped with a failing step (the old pods keep \
             serving; `cartrack plan abort` rolls back): {}",
            failing.join("; ")
        ));
    }
    let ours = deployment.is_some_and(|d| d.to == target);
    if !ours && plan.status == "COMPLETE" {
        Outcome::Complete
    } else {
        Outcome::Going
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(value: serde_json::Value) -> Plan {
        plan::parse(value).unwrap()
    }

    #[test]
    fn the_deployment_of_the_target_decides() {
        let going = plan(json!({"status": "IN_PROGRESS",
            "deployment": {"from": 1, "to": 2, "started_ms": 1}, "phases": []}));
        assert_eq!(outcome(&going, 2), Outcome::Going);
        let done = plan(json!({"status": "IN_PROGRESS",
            "deployment": {"from": 1, "to": 2, "started_ms": 1, "completed_ms": 5}, "phases": []}));
        assert_eq!(outcome(&done, 2), Outcome::Complete);
        let aborted = plan(json!({"status": "IN_PROGRESS",
            "deployment": {"from": 2, "to": 1, "started_ms": 9, "rollback": true}, "phases": []}));
        assert!(
            matches!(outcome(&aborted, 2), Outcome::Failed(why) if why.contains("aborted: rolling back to version 1"))
        );
        let newer = plan(json!({"status": "IN_PROGRESS",
            "deployment": {"from": 2, "to": 3, "started_ms": 9}, "phases": []}));
        assert!(
            matches!(outcome(&newer, 2), Outcome::Failed(why) if why.contains("version 3 replaced"))
        );
    }

    #[test]
    fn an_error_names_the_failing_step_and_its_reason() {
        let failing = plan(json!({"status": "ERROR",
            "deployment": {"from": 1, "to": 2, "started_ms": 1},
            "phases": [{"name": "web", "status": "ERROR", "steps": [
                {"name": "web-0", "status": "COMPLETE", "version": 2},
                {"name": "web-1", "status": "ERROR", "failures": 2,
                 "message": "health check failed 3 times"}]}]}));
        let Outcome::Failed(why) = outcome(&failing, 2) else {
            panic!("not failed")
        };
        assert!(why.ends_with("web-1: health check failed 3 times"), "{why}");
    }

    #[test]
    fn a_target_without_a_deployment_is_done_with_the_plan() {
        // A count-only change: the last deployment is an older one, long complete.
        let scaling = plan(json!({"status": "IN_PROGRESS",
            "deployment": {"from": 1, "to": 2, "started_ms": 1, "completed_ms": 2}, "phases": []}));
        assert_eq!(outcome(&scaling, 3), Outcome::Going);
        let scaled = plan(json!({"status": "COMPLETE", "phases": []}));
        assert_eq!(outcome(&scaled, 3), Outcome::Complete);
    }

    #[test]
    fn the_answer_says_the_new_target_or_unchanged() {
        let answer = |changed| UpdateAnswer {
            target: 4,
            changed,
            plan: "/v1/plans/deploy".into(),
        };
        assert!(updated(&answer(true)).starts_with("version 4 is the target"));
        assert!(updated(&answer(false)).starts_with("unchanged: the config is version 4"));
    }
}
