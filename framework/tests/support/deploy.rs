//! Rolling updates, run against both backends: the scheduler's API for what it decides, the
//! master's `/state` for what really runs (no slot ever runs two pods).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::cases::{live_in_master_state, task_of};
use super::Scheduler;

/// The bound of a whole rollout.
pub const ROLLOUT: Duration = Duration::from_secs(90);

/// A group `web` of `count` pods whose task reports `VERSION` and is healthy when `health`
/// (a shell command) succeeds; `deploy` is the group's `deploy = {...}` table.
pub fn web_spec(count: u32, version: &str, health: &str, deploy: &str, placement: &str) -> String {
    format!(
        r#"[[groups]]
name = "web"
count = {count}
placement = [{placement}]
deploy = {{ {deploy} }}
[[groups.tasks]]
name = "main"
command = "./cartrack-worker"
cpus = 0.1
mem = 32
env = {{ VERSION = "{version}" }}
[groups.tasks.health]
kind = "command"
command = "{health}"
interval_seconds = 0.5
timeout_seconds = 2
grace_period_seconds = 1
consecutive_failures = 1
"#
    )
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// `PUT /v1/config`: status and body.
pub async fn put_config(s: &Scheduler, spec: &str, release_uri: Option<&str>) -> (u16, Value) {
    let mut body = json!({ "spec": spec });
    if let Some(uri) = release_uri {
        body["release_uri"] = json!(uri);
    }
    let r = client()
        .put(format!("{}/v1/config", s.api))
        .json(&body)
        .send()
        .await
        .expect("PUT /v1/config");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

/// `POST /v1/plans/deploy/<action>`: the status.
pub async fn steer(s: &Scheduler, action: &str) -> u16 {
    client()
        .post(format!("{}/v1/plans/deploy/{action}", s.api))
        .send()
        .await
        .expect("POST steer")
        .status()
        .as_u16()
}

/// Pods holding a slot that run and pass their health check.
pub fn ready_pods(state: &Value) -> usize {
    state["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["holds_slot"] != false)
        .filter(|t| t["state"] == "TASK_RUNNING" && t["healthy"] == true)
        .count()
}

/// The version of each step of the deploy plan, by slot.
pub fn step_versions(plan: &Value) -> BTreeMap<String, Option<u64>> {
    plan["phases"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["steps"].as_array().cloned().unwrap_or_default())
        .map(|s| {
            (
                s["name"].as_str().unwrap_or_default().to_string(),
                s["version"].as_u64(),
            )
        })
        .collect()
}

/// What a rollout looked like while it was watched.
#[derive(Debug, Default)]
pub struct Watched {
    /// The fewest ready pods seen.
    pub min_ready: usize,
    /// The last deploy plan.
    pub plan: Value,
}

/// Panics naming a slot the master's state shows with two live pods.
pub fn no_slot_twice(state: &Value) {
    let doubled: Vec<_> = live_in_master_state(state)
        .into_iter()
        .filter(|(_, ids)| ids.len() > 1)
        .collect();
    assert!(doubled.is_empty(), "a slot runs two pods: {doubled:?}");
}

/// Watches until `done(plan)` holds: every 100 ms the fewest ready pods are noted, and the
/// master's state (`master_state`: the dev cluster's `/state`, a real master's
/// `/master/state`) is checked for a slot with two live pods (a panic names it). Panics with
/// the scheduler's log after [`ROLLOUT`].
pub async fn watch_until(
    s: &Scheduler,
    master_state: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Watched {
    watch_checking(s, master_state, what, no_slot_twice, done).await
}

/// [`watch_until`] with `check` run on every master state instead of [`no_slot_twice`].
pub async fn watch_checking(
    s: &Scheduler,
    master_state: &str,
    what: &str,
    check: impl Fn(&Value),
    done: impl Fn(&Value) -> bool,
) -> Watched {
    let deadline = Instant::now() + ROLLOUT;
    let mut watched = Watched {
        min_ready: usize::MAX,
        plan: Value::Null,
    };
    loop {
        if let Some(state) = s.get("/v1/state").await {
            watched.min_ready = watched.min_ready.min(ready_pods(&state));
        }
        if let Ok(r) = client().get(master_state).send().await {
            if let Ok(state) = r.json::<Value>().await {
                check(&state);
            }
        }
        if let Some(plan) = s.get("/v1/plans/deploy").await {
            let finished = done(&plan);
            watched.plan = plan;
            if finished {
                return watched;
            }
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {ROLLOUT:?} waiting for {what}; plan {}\nscheduler log:\n{}",
            watched.plan,
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The deployment of version `to` is complete.
pub fn completed(to: u64) -> impl Fn(&Value) -> bool {
    move |plan| {
        plan["deployment"]["to"] == to
            && plan["deployment"]["completed_ms"].is_u64()
            && plan["status"] == "COMPLETE"
    }
}

/// Waits for 3 ready pods of `web` (version 1), then PUTs `spec` and returns the old task
/// ids by slot.
pub async fn start_rollout(
    s: &Scheduler,
    master_state: &str,
    spec: &str,
) -> BTreeMap<String, String> {
    watch_until(s, master_state, "three ready pods", |plan| {
        plan["status"] == "COMPLETE"
    })
    .await;
    let state = wait_ready(s, 3).await;
    let before = (0..3)
        .map(|i| {
            let slot = format!("web-{i}");
            let (task, _) = task_of(&state, &slot);
            (slot, task)
        })
        .collect();
    let (status, answer) = put_config(s, spec, None).await;
    assert_eq!(status, 200, "update taken: {answer}");
    assert_eq!(answer["changed"], true, "{answer}");
    before
}

/// Waits until `n` pods are ready; the state.
pub async fn wait_ready(s: &Scheduler, n: usize) -> Value {
    super::wait_until(ROLLOUT, "ready pods", || async {
        let state = s.get("/v1/state").await?;
        (ready_pods(&state) == n).then_some(state)
    })
    .await
}

/// An env change rolls through 3 pods one at a time (`max_unavailable = 1`): never fewer
/// than 2 ready, every pod replaced once and on version 2 at the end.
pub async fn an_env_change_rolls_one_pod_at_a_time(s: &Scheduler, master_state: &str) {
    let before = start_rollout(
        s,
        master_state,
        &web_spec(3, "2", "true", "max_unavailable = 1", ""),
    )
    .await;
    let watched = watch_until(s, master_state, "version 2 everywhere", completed(2)).await;
    assert!(
        watched.min_ready >= 2,
        "fewer than count - max_unavailable ready: {}",
        watched.min_ready
    );
    let versions = step_versions(&watched.plan);
    assert!(versions.values().all(|v| *v == Some(2)), "{versions:?}");
    let state = s.get("/v1/state").await.expect("state");
    for (slot, old) in before {
        let (now, _) = task_of(&state, &slot);
        assert_ne!(now, old, "{slot} replaced");
    }
    let configs = s.get("/v1/configs").await.expect("configs");
    assert_eq!(configs["target"], 2);
    assert_eq!(configs["versions"].as_array().map(Vec::len), Some(2));
}

/// New pods that fail their health check stop the rollout with the plan in ERROR and the
/// reason; `abort` brings every pod back to version 1 with the same rules.
pub async fn a_failing_update_stops_in_error_and_abort_restores(s: &Scheduler, master_state: &str) {
    start_rollout(
        s,
        master_state,
        &web_spec(3, "2", "false", "max_unavailable = 1", ""),
    )
    .await;
    let watched = watch_until(s, master_state, "the plan in ERROR", |plan| {
        plan["status"] == "ERROR"
    })
    .await;
    let failing: Vec<&Value> = watched.plan["phases"][0]["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|step| step["status"] == "ERROR")
        .collect();
    assert_eq!(failing.len(), 1, "one step at a time: {}", watched.plan);
    assert!(
        failing[0]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "the reason is shown: {}",
        watched.plan
    );
    assert!(watched.min_ready >= 2, "{}", watched.min_ready);
    assert_eq!(steer(s, "abort").await, 202);
    let watched = watch_until(s, master_state, "back on version 1", completed(1)).await;
    assert!(watched.min_ready >= 2, "{}", watched.min_ready);
    assert!(step_versions(&watched.plan).values().all(|v| *v == Some(1)));
    assert_eq!(watched.plan["deployment"]["rollback"], true);
    assert_eq!(s.get("/v1/configs").await.expect("configs")["target"], 1);
}

/// A canary step waits for `continue`; then the rest rolls on its own.
pub async fn a_canary_waits_for_continue(s: &Scheduler, master_state: &str) {
    let spec = web_spec(3, "2", "true", "max_unavailable = 1, canary_steps = 1", "");
    let before = start_rollout(s, master_state, &spec).await;
    let watched = watch_until(s, master_state, "the canary to wait", |plan| {
        plan["status"] == "WAITING"
    })
    .await;
    assert!(
        watched.plan.to_string().contains("canary"),
        "{}",
        watched.plan
    );
    let state = s.get("/v1/state").await.expect("state");
    for (slot, old) in &before {
        assert_eq!(
            &task_of(&state, slot).0,
            old,
            "nothing replaced before continue"
        );
    }
    assert_eq!(steer(s, "continue").await, 202);
    watch_until(s, master_state, "version 2 everywhere", completed(2)).await;
}

/// `kill -9` of the scheduler mid-rollout: the restarted one continues the same deployment
/// from its store and does not relaunch the steps already done.
pub async fn a_restarted_scheduler_continues_the_rollout(s: &mut Scheduler, master_state: &str) {
    start_rollout(
        s,
        master_state,
        &web_spec(3, "2", "true", "max_unavailable = 1", ""),
    )
    .await;
    let watched = watch_until(s, master_state, "the first step done", |plan| {
        plan["phases"][0]["steps"][0]["status"] == "COMPLETE"
            && plan["phases"][0]["steps"][0]["version"] == 2
            && plan["status"] != "COMPLETE"
    })
    .await;
    let state = s.get("/v1/state").await.expect("state");
    let (first, _) = task_of(&state, "web-0");
    s.kill9();
    s.restart();
    let after = watch_until(s, master_state, "version 2 everywhere", completed(2)).await;
    assert_eq!(
        after.plan["deployment"]["started_ms"],
        watched.plan["deployment"]["started_ms"]
    );
    let state = s.get("/v1/state").await.expect("state");
    assert_eq!(
        task_of(&state, "web-0").0,
        first,
        "the done step was not relaunched"
    );
}
