//! Scenario bodies run against both backends; each asserts through the scheduler's API only.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::invariants::slot_and_task;
use super::{wait_until, write_spec, Scheduler};

/// The bound of every wait of these scenarios.
pub const T: Duration = Duration::from_secs(60);

/// The task ids of a `/v1/state` (or `/v1/state`-like) document.
pub fn task_ids(state: &Value) -> BTreeSet<String> {
    state["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["task_id"].as_str().map(String::from))
        .collect()
}

/// `(task id, agent id)` of the task holding `slot`, empty strings when none does.
pub fn task_of(state: &Value, slot: &str) -> (String, String) {
    let t = state["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["slot"] == slot && t["holds_slot"] != false)
        .cloned()
        .unwrap_or_default();
    (
        t["task_id"].as_str().unwrap_or_default().to_string(),
        t["agent_id"].as_str().unwrap_or_default().to_string(),
    )
}

/// Whether a task of a master's `/state` may run: not terminal, not unreachable.
pub fn is_live(task: &Value) -> bool {
    matches!(
        task["state"].as_str().unwrap_or_default(),
        "TASK_STAGING" | "TASK_STARTING" | "TASK_RUNNING" | "TASK_KILLING"
    )
}

/// Task ids a Mesos master's `/state` (the dev cluster's or a real one's) shows live (not
/// terminal, not unreachable), by (slot, task name).
pub fn live_in_master_state(state: &Value) -> BTreeMap<(String, String), Vec<String>> {
    let mut live: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let tasks = state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["tasks"].as_array().cloned().unwrap_or_default());
    for task in tasks {
        let id = task["id"].as_str().unwrap_or_default().to_string();
        if let (true, Some(key)) = (is_live(&task), slot_and_task(&id)) {
            live.entry(key).or_default().push(id);
        }
    }
    live
}

/// The example spec converges: one pod per group, all RUNNING, the plan COMPLETE, offers
/// suppressed once; the processor's `http` port comes from `ports` (the backend's range).
pub async fn example_spec_converges(s: &Scheduler, ports: RangeInclusive<u64>) -> Value {
    let state = s.wait_running(3, T).await;
    let slots: BTreeSet<&str> = state["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter_map(|t| t["slot"].as_str())
        .collect();
    assert_eq!(
        slots,
        BTreeSet::from(["indexer-0", "ingester-0", "processor-0"])
    );
    assert!(state["framework_id"].is_string());
    for g in state["groups"].as_array().expect("groups") {
        assert_eq!(
            (g["count"].as_u64(), g["running"].as_u64()),
            (Some(1), Some(1)),
            "{g}"
        );
    }
    let processor = state["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|t| t["slot"] == "processor-0")
        .expect("processor");
    assert!(
        processor["ports"]["http"]
            .as_u64()
            .is_some_and(|p| ports.contains(&p)),
        "processor port in {ports:?}: {processor}"
    );
    let metrics = wait_until(T, "offers suppressed after convergence", || async {
        let metrics = s.metrics().await;
        metrics
            .contains("cartrack_suppressions_total 1")
            .then_some(metrics)
    })
    .await;
    assert!(
        metrics.contains("cartrack_tasks{state=\"TASK_RUNNING\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("cartrack_planner_decision_seconds_count"),
        "{metrics}"
    );
    let plan = s.get("/v1/plan").await.expect("plan");
    assert_eq!(plan["status"], "COMPLETE", "{plan}");
    state
}

/// The running pods before a fault, to check afterwards that they were adopted: same
/// framework id, same task ids, every one RUNNING again.
pub struct Adoption {
    pods: usize,
    framework_id: Value,
    task_ids: BTreeSet<String>,
}

impl Adoption {
    /// Waits for `pods` RUNNING pods and remembers them.
    pub async fn of(s: &Scheduler, pods: usize) -> Adoption {
        let state = s.wait_running(pods, T).await;
        Adoption {
            pods,
            framework_id: state["framework_id"].clone(),
            task_ids: task_ids(&state),
        }
    }

    /// The remembered task ids.
    pub fn task_ids(&self) -> &BTreeSet<String> {
        &self.task_ids
    }

    /// Waits (at most `within` for each step) until the scheduler is subscribed under the
    /// same framework id with reconciliation finished, and every remembered pod RUNNING
    /// again under its task id.
    pub async fn assert_adopted(&self, s: &Scheduler, within: Duration) -> Value {
        // Polled by hand to say, on a timeout, what the scheduler last answered and logged.
        let deadline = tokio::time::Instant::now() + within;
        let health = loop {
            let last = s.get("/v1/health").await;
            if let Some(h) = last.as_ref() {
                if h["subscribed"] == true && h["reconciling"] == 0 {
                    break h.clone();
                }
            }
            if tokio::time::Instant::now() >= deadline {
                let log = s.log();
                let tail: Vec<&str> = log.lines().rev().take(60).collect();
                panic!(
                    "timed out after {within:?} waiting for subscribed and reconciled; \
                     last /v1/health: {last:?}; scheduler log, last lines:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(
            health["framework_id"], self.framework_id,
            "same framework id"
        );
        let after = s.wait_running(self.pods, within).await;
        assert_eq!(
            task_ids(&after),
            self.task_ids,
            "tasks adopted, not relaunched: {}",
            s.log()
        );
        after
    }
}

/// `kill -9` of the scheduler and a restart on the same state: every pod adopted.
/// Returns the pods as they were before.
pub async fn kill_9_and_restart_adopts(s: &mut Scheduler, pods: usize) -> Adoption {
    let before = Adoption::of(s, pods).await;
    s.restart();
    before.assert_adopted(s, T).await;
    before
}

/// How the scale case keeps processors apart on a backend.
pub struct Spread<'a> {
    /// The group's placement rule.
    pub rule: &'a str,
    /// Whether three processors must land on three different agents.
    pub one_per_agent: bool,
    /// The most processors the rule admits on the cluster.
    pub max: u32,
}

/// Scale a placement-constrained group up to what the rule admits, one past it (the
/// extra pod waits and `/v1/debug/offers` names the rule), then down to one (highest
/// indexes go first); every PUT needs the API token.
pub async fn scale_up_and_down(dir: &Path, master: &str, spread: Spread<'_>) {
    let spec = write_spec(
        dir,
        &format!(
            "[[groups]]\nname = \"processor\"\ncount = 2\nplacement = [\"{}\"]\n[[groups.tasks]]\nname = \"main\"\ncommand = \"./cartrack-worker\"\nargs = [\"process\"]\ncpus = 0.1\nmem = 64\ndisk = 16\nports = [\"http\"]\n",
            spread.rule
        ),
    );
    let scheduler = Scheduler::start(dir, master, &spec, &["--api-token", "s3cret"]);
    scheduler.wait_running(2, T).await;
    let client = reqwest::Client::new();
    let put = |count: u32, token: Option<&str>| {
        let mut req = client
            .put(format!("{}/v1/groups/processor/count", scheduler.api))
            .json(&serde_json::json!({ "count": count }));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send()
    };
    let max = spread.max;
    assert_eq!(put(max, None).await.expect("reply").status(), 401);
    assert_eq!(put(max, Some("wrong")).await.expect("reply").status(), 401);
    assert_eq!(put(max, Some("s3cret")).await.expect("reply").status(), 200);
    let state = scheduler.wait_running(max as usize, T).await;
    if spread.one_per_agent {
        let agents: BTreeSet<&str> = state["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .filter_map(|t| t["agent_id"].as_str())
            .collect();
        assert_eq!(
            agents.len(),
            max as usize,
            "one processor per agent: {state}"
        );
    }
    // One more fits nowhere: it waits, and /v1/debug/offers says why.
    let extra = format!("processor-{max}");
    assert_eq!(
        put(max + 1, Some("s3cret")).await.expect("reply").status(),
        200
    );
    let why = wait_until(T, "an offer explained against the extra pod", || async {
        let offers = scheduler.get("/v1/debug/offers").await?;
        offers["offers"]
            .as_array()?
            .iter()
            .flat_map(|o| o["pods"].as_array().cloned().unwrap_or_default())
            .find(|p| p["slot"] == extra.as_str())
    })
    .await;
    assert!(why["reasons"].to_string().contains(spread.rule), "{why}");
    assert_eq!(put(1, Some("s3cret")).await.expect("reply").status(), 200);
    let state = scheduler.wait_running(1, T).await;
    assert_eq!(
        state["tasks"][0]["slot"], "processor-0",
        "highest indexes go first"
    );
}

/// A pod whose command exits 1 after a line on stderr: the plan names the crash loop — the
/// exit status and the end of its stderr (quoted by the executor), failures in a row, the
/// launch backoff — rather than a wait for offers.
pub async fn a_crash_loop_is_named_in_the_plan_with_the_tasks_stderr(dir: &Path, master: &str) {
    let spec = write_spec(
        dir,
        "[[groups]]\nname = \"crasher\"\ncount = 1\n[[groups.tasks]]\nname = \"main\"\ncommand = \"sh\"\nargs = [\"-c\", \"echo starting; echo 'cannot open config.toml' >&2; exit 1\"]\ncpus = 0.1\nmem = 32\ndisk = 8\n",
    );
    let scheduler = Scheduler::start(dir, master, &spec, &[]);
    let step = wait_until(T, "the plan shows two failures in a row", || async {
        let plan = scheduler.get("/v1/plan").await?;
        let step = plan["phases"][0]["steps"][0].clone();
        (step["failures"].as_u64() >= Some(2)).then_some(step)
    })
    .await;
    assert_eq!(
        step["message"], "Command exited with status 1; stderr ends: cannot open config.toml",
        "{step}"
    );
    assert!(
        ["DELAYED", "STARTING", "PENDING"].contains(&step["status"].as_str().unwrap_or("")),
        "{step}"
    );
    let state = scheduler.get("/v1/state").await.expect("state");
    assert_eq!(state["groups"][0]["running"], 0, "{state}");
}

/// On the example spec's three RUNNING pods: `restart` relaunches a pod on its agent,
/// `replace` relaunches one anywhere, an unknown slot is 404, and neither counts as a
/// failure.
pub async fn restart_keeps_the_agent_and_replace_relaunches(s: &Scheduler) {
    let before = s.wait_running(3, T).await;
    let (old_id, old_agent) = task_of(&before, "ingester-0");
    let client = reqwest::Client::new();
    let relaunched = |slot: &'static str, old: String| async move {
        wait_until(T, &format!("{slot} relaunched"), || async {
            let state = s.get("/v1/state").await?;
            let (id, _) = task_of(&state, slot);
            let running = state["tasks"]
                .as_array()?
                .iter()
                .filter(|t| t["state"] == "TASK_RUNNING")
                .count();
            (id != old && !id.is_empty() && running == 3).then_some(state)
        })
        .await
    };
    let reply = client
        .post(format!("{}/v1/pods/ingester-0/restart", s.api))
        .send()
        .await
        .expect("reply");
    assert_eq!(reply.status(), 202);
    let after = relaunched("ingester-0", old_id).await;
    assert_eq!(
        task_of(&after, "ingester-0").1,
        old_agent,
        "restart stays on its agent"
    );
    let reply = client
        .post(format!("{}/v1/pods/indexer-0/replace", s.api))
        .send()
        .await
        .expect("reply");
    assert_eq!(reply.status(), 202);
    relaunched("indexer-0", task_of(&after, "indexer-0").0).await;
    let missing = client
        .post(format!("{}/v1/pods/nope-7/restart", s.api))
        .send()
        .await
        .expect("reply");
    assert_eq!(missing.status(), 404);
    let state = s.get("/v1/state").await.expect("state");
    assert!(
        state["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .all(|g| g["failed"] == 0),
        "operator kills are not failures: {state}"
    );
}

/// After an agent was lost: waits at most `within` until every slot runs again with `pods`
/// RUNNING pods while the lost agent's tasks are given up (still listed, holding no
/// slot); returns the state.
pub async fn wait_replaced_while_given_up(s: &Scheduler, pods: usize, within: Duration) -> Value {
    let state = wait_until(within, "replacements running", || async {
        let state = s.get("/v1/state").await?;
        let tasks = state["tasks"].as_array()?;
        let holding_running = tasks
            .iter()
            .filter(|t| t["holds_slot"] == true && t["state"] == "TASK_RUNNING")
            .count();
        let given_up = tasks.iter().any(|t| t["holds_slot"] == false);
        (holding_running == pods && given_up).then_some(state)
    })
    .await;
    super::invariants::assert_scheduler_holds_each_slot_once(s).await;
    state
}

/// After the lost agent came back: waits at most `within` until no given-up task is
/// listed any more (killed, or reported gone by the agent).
pub async fn wait_given_up_tasks_cleared(s: &Scheduler, within: Duration) -> Value {
    wait_until(within, "the returned tasks were cleared", || async {
        let state = s.get("/v1/state").await?;
        let tasks = state["tasks"].as_array()?;
        tasks
            .iter()
            .all(|t| t["holds_slot"] == true)
            .then_some(state)
    })
    .await
}
