//! The real `cartrack-scheduler` process against a real Apache Mesos 1.12 (masters and agents
//! from `cartrack-testcluster`), which launches the real `cartrack-executor`. The example
//! spec's case runs the real `cartrack-worker` on the pipeline's in-memory broker; the other
//! cases use the sleeping stand-in. Where `devcluster.rs` or `faults.rs` has the same case, the
//! body is shared (`support::cases`) and only the checks against the master differ: here they
//! read the real master's `/master/state`.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use cartrack_testcluster::{RealMesos, RealMesosConfig};
use serde_json::Value;
use support::cases::{self, Adoption, T};
use support::{example_spec, files_named, write_spec, Broker, Scheduler};

/// Every agent's ports come from the cluster's block in 10000-29999 (testcluster).
const AGENT_PORTS: std::ops::RangeInclusive<u64> = 10_000..=29_999;

async fn mesos(agents: usize) -> RealMesos {
    RealMesos::start(RealMesosConfig {
        agents,
        ..Default::default()
    })
    .await
    .expect("a real Mesos cluster starts")
}

/// The leading master's state.
async fn master_state(mesos: &mut RealMesos) -> Value {
    mesos.state().await.expect("master /master/state")
}

/// `GET <master>/master/state`, `None` while it does not answer (these tests run one master).
async fn state_of(master: &str) -> Option<Value> {
    reqwest::get(format!("{master}/master/state"))
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// Our framework in the master's state.
fn framework<'a>(state: &'a Value, id: &str) -> Option<&'a Value> {
    state["frameworks"]
        .as_array()?
        .iter()
        .find(|f| f["id"] == id)
}

/// `(task id, state)` of every task the master lists for framework `id`: live, unreachable
/// and completed.
fn master_tasks(state: &Value, id: &str) -> Vec<(String, String)> {
    let Some(f) = framework(state, id) else {
        return Vec::new();
    };
    ["tasks", "unreachable_tasks", "completed_tasks"]
        .iter()
        .flat_map(|list| f[*list].as_array().cloned().unwrap_or_default())
        .map(|t| {
            let field = |k: &str| t[k].as_str().unwrap_or_default().to_string();
            (field("id"), field("state"))
        })
        .collect()
}

/// Task ids the master shows RUNNING for framework `id`.
fn running_on_master(state: &Value, id: &str) -> BTreeSet<String> {
    master_tasks(state, id)
        .into_iter()
        .filter(|(_, s)| s == "TASK_RUNNING")
        .map(|(id, _)| id)
        .collect()
}

/// Asserts that the master runs no slot twice; returns how many slots are live.
fn assert_master_runs_each_slot_once(state: &Value) -> usize {
    let live = cases::live_in_master_state(state);
    let doubled: Vec<_> = live.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(doubled.is_empty(), "slots with two live tasks: {doubled:?}");
    live.len()
}

fn framework_id(state: &Value) -> String {
    state["framework_id"]
        .as_str()
        .expect("framework id")
        .to_string()
}

/// Per status update uuid the agents' status update managers took (from executors or made up
/// by the agent): how often an agent sent it to the master and how many scheduler
/// acknowledgements reached an agent, read from the agents' logs (Mesos 1.12's `slave.cpp`
/// and `task_status_update_manager.cpp` lines; a restarted agent appends to its log).
fn agent_update_ledger(mesos: &RealMesos) -> BTreeMap<String, (usize, usize)> {
    const FORWARD: &str = "Forwarding the update TASK_";
    const ACK: &str = "Received task status update acknowledgement (UUID: ";
    let uuid_after = |rest: &str, marker: &str| {
        rest.split_once(marker)
            .map(|(_, uuid)| uuid.split(')').next().unwrap_or_default().to_string())
    };
    let mut ledger: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let logs = std::fs::read_dir(mesos.run_dir().join("logs")).expect("logs folder");
    for log in logs.flatten() {
        if !log.file_name().to_string_lossy().starts_with("agent-") {
            continue;
        }
        let text = std::fs::read_to_string(log.path()).unwrap_or_default();
        for line in text.lines() {
            if let Some(uuid) = uuid_after(line, ACK) {
                ledger.entry(uuid).or_default().1 += 1;
            } else if let Some((_, rest)) = line.split_once(FORWARD) {
                if let Some(uuid) = uuid_after(rest, "(Status UUID: ") {
                    ledger.entry(uuid).or_default().0 += 1;
                }
            }
        }
    }
    ledger
}

/// The fault suite's acknowledgement invariant, checked on the real agents: every status
/// update an agent sent is acknowledged (again after a re-send, when the first
/// acknowledgement was lost), and none more often than it was sent.
async fn assert_every_update_acknowledged(mesos: &RealMesos) {
    support::wait_until(T, "every update acknowledged", || async {
        let ledger = agent_update_ledger(mesos);
        ledger.values().all(|(_, acks)| *acks > 0).then_some(())
    })
    .await;
    let ledger = agent_update_ledger(mesos);
    let surplus: Vec<_> = ledger
        .iter()
        .filter(|(_, (sent, acks))| acks > sent)
        .collect();
    assert!(
        surplus.is_empty(),
        "acknowledged more often than sent: {surplus:?}"
    );
    assert!(!ledger.is_empty(), "the agents took some updates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn example_spec_runs_the_real_pipeline_and_data_flows() {
    let broker = Broker::start();
    let mut mesos = mesos(2).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let scheduler = Scheduler::start_with_real_worker(
        dir.path(),
        &mesos.master_url(),
        &example_spec(),
        &[],
        &[("CARTRACK_KAFKA", &broker.bootstrap)],
    );
    let state = cases::example_spec_converges(&scheduler, AGENT_PORTS).await;
    let id = framework_id(&state);

    // Data flows: ingester -> Kafka -> processor, whose snapshot the scheduler's /v1/map
    // merges: the simulator's 50 vehicles show up there.
    let vehicles = support::wait_until(T, "the simulated fleet on /v1/map", || async {
        let map = scheduler.get("/v1/map").await?;
        let n = map["vehicles"].as_array()?.len();
        (n == 50).then_some(n)
    })
    .await;
    assert_eq!(vehicles, 50);
    // ... and processor -> Kafka -> indexer, which writes NDJSON into its sandbox.
    support::wait_until(T, "vehicle documents indexed", || async {
        let files = files_named(mesos.run_dir(), "cartrack-vehicles.ndjson");
        files
            .into_iter()
            .find(|f| std::fs::metadata(f).is_ok_and(|m| m.len() > 0))
    })
    .await;
    // The processor's HTTP health check (run by the executor) passes.
    support::wait_until(T, "processor-0 healthy", || async {
        let state = scheduler.get("/v1/state").await?;
        state["tasks"]
            .as_array()?
            .iter()
            .any(|t| t["slot"] == "processor-0" && t["healthy"] == true)
            .then_some(())
    })
    .await;
    // It answers where the scheduler recorded it: its agent's own address, its `http` port.
    let processor = state["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["slot"] == "processor-0")
        .expect("processor-0");
    let health = format!(
        "http://{}:{}/v1/health",
        processor["hostname"].as_str().unwrap_or_default(),
        processor["ports"]["http"]
    );
    let reply = reqwest::get(&health).await.expect("the processor answers");
    assert!(reply.status().is_success(), "{health}: {}", reply.status());

    // The master agrees: three RUNNING tasks of ours, and, suppressed and declined, we hold
    // no offer.
    let master = master_state(&mut mesos).await;
    assert_eq!(
        running_on_master(&master, &id),
        cases::task_ids(&state),
        "the master runs exactly our tasks"
    );
    let url = mesos.master_url();
    support::wait_until(T, "no offer outstanding", || async {
        let master = state_of(&url).await?;
        let offers = framework(&master, &id)?["offers"].as_array()?.len();
        (offers == 0).then_some(())
    })
    .await;
    assert_every_update_acknowledged(&mesos).await;
    drop(scheduler);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn kill_9_and_restart_adopts_the_running_tasks() {
    let mut mesos = mesos(2).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut scheduler = Scheduler::start(dir.path(), &mesos.master_url(), &example_spec(), &[]);
    let before = cases::kill_9_and_restart_adopts(&mut scheduler, 3).await;
    let id = framework_id(&scheduler.get("/v1/state").await.expect("state"));
    let master = master_state(&mut mesos).await;
    let frameworks = master["frameworks"].as_array().expect("frameworks");
    assert_eq!(frameworks.len(), 1, "no second framework: {frameworks:?}");
    let ours = framework(&master, &id).expect("our framework");
    assert_eq!(ours["active"], true, "{ours}");
    assert!(
        ours["reregistered_time"].is_number(),
        "the master saw the framework re-subscribe: {ours}"
    );
    let known: BTreeSet<String> = master_tasks(&master, &id)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        &known,
        before.task_ids(),
        "the master launched nothing new and ended nothing"
    );
    assert_every_update_acknowledged(&mesos).await;
    drop(scheduler);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn scale_up_and_down_honours_max_per_and_needs_the_token() {
    let mesos = mesos(2).await;
    let dir = tempfile::tempdir().expect("tempdir");
    // Each real agent has a hostname of its own (testcluster), so the rule admits two
    // processors on each of the two.
    let spread = cases::Spread {
        rule: "hostname:MAX_PER:2",
        one_per_agent: false,
        max: 4,
    };
    cases::scale_up_and_down(dir.path(), &mesos.master_url(), spread).await;
    drop(mesos);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn hostname_unique_runs_one_pod_per_agent_and_a_fourth_waits_with_the_rule_named() {
    let mut mesos = mesos(3).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = write_spec(
        dir.path(),
        "[[groups]]\nname = \"processor\"\ncount = 3\nplacement = [\"hostname:UNIQUE\"]\n[[groups.tasks]]\nname = \"main\"\ncommand = \"./cartrack-worker\"\nargs = [\"process\"]\ncpus = 0.1\nmem = 32\ndisk = 8\n",
    );
    let scheduler = Scheduler::start(dir.path(), &mesos.master_url(), &spec, &[]);
    let state = scheduler.wait_running(3, T).await;

    // Three pods on three hostnames, each the one the master gives the pod's agent.
    let master = master_state(&mut mesos).await;
    let agent_hosts: BTreeMap<&str, &str> = master["slaves"]
        .as_array()
        .expect("agents")
        .iter()
        .filter_map(|a| Some((a["id"].as_str()?, a["hostname"].as_str()?)))
        .collect();
    let tasks = state["tasks"].as_array().expect("tasks");
    for t in tasks {
        let agent = t["agent_id"].as_str().unwrap_or_default();
        assert_eq!(
            agent_hosts.get(agent).copied(),
            t["hostname"].as_str(),
            "the pod's hostname is its agent's: {t}"
        );
    }
    let hostnames: BTreeSet<&str> = tasks
        .iter()
        .filter_map(|t| t["hostname"].as_str())
        .collect();
    assert_eq!(hostnames.len(), 3, "three distinct hostnames: {state}");

    // A fourth pod fits on no hostname: it waits, and the scheduler names the rule.
    let reply = reqwest::Client::new()
        .put(format!("{}/v1/groups/processor/count", scheduler.api))
        .json(&serde_json::json!({ "count": 4 }))
        .send()
        .await
        .expect("reply");
    assert_eq!(reply.status(), 200);
    let why = support::wait_until(T, "an offer explained against processor-3", || async {
        let offers = scheduler.get("/v1/debug/offers").await?;
        offers["offers"]
            .as_array()?
            .iter()
            .flat_map(|o| o["pods"].as_array().cloned().unwrap_or_default())
            .find(|p| p["slot"] == "processor-3")
    })
    .await;
    assert!(
        why["reasons"].to_string().contains("hostname:UNIQUE"),
        "{why}"
    );
    let plan = scheduler.get("/v1/plan").await.expect("plan");
    let step = plan["phases"][0]["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["name"] == "processor-3")
        .unwrap_or_else(|| panic!("a step for processor-3: {plan}"));
    assert_eq!(step["status"], "PENDING", "{plan}");
    let state = scheduler.get("/v1/state").await.expect("state");
    assert_eq!(
        (
            state["groups"][0]["count"].as_u64(),
            state["groups"][0]["running"].as_u64()
        ),
        (Some(4), Some(3)),
        "{state}"
    );
    drop(scheduler);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn a_crash_loop_is_named_in_the_plan_with_the_tasks_stderr() {
    let mesos = mesos(1).await;
    let dir = tempfile::tempdir().expect("tempdir");
    cases::a_crash_loop_is_named_in_the_plan_with_the_tasks_stderr(dir.path(), &mesos.master_url())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn restart_keeps_the_agent_and_replace_relaunches() {
    let mut mesos = mesos(2).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let scheduler = Scheduler::start(dir.path(), &mesos.master_url(), &example_spec(), &[]);
    let before = Adoption::of(&scheduler, 3).await;
    cases::restart_keeps_the_agent_and_replace_relaunches(&scheduler).await;
    let state = scheduler.get("/v1/state").await.expect("state");
    let id = framework_id(&state);
    let master = master_state(&mut mesos).await;
    assert_eq!(assert_master_runs_each_slot_once(&master), 3);
    assert_eq!(running_on_master(&master, &id), cases::task_ids(&state));
    // The two replaced tasks ended as KILLED on the master.
    let killed: BTreeSet<String> = master_tasks(&master, &id)
        .into_iter()
        .filter(|(_, s)| s == "TASK_KILLED")
        .map(|(id, _)| id)
        .collect();
    let replaced: BTreeSet<String> = before
        .task_ids()
        .difference(&cases::task_ids(&state))
        .cloned()
        .collect();
    assert_eq!(replaced.len(), 2, "{state}");
    assert_eq!(killed, replaced, "{}", master["frameworks"]);
    assert_every_update_acknowledged(&mesos).await;
    drop(scheduler);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn master_restart_with_the_in_memory_registry_readopts_every_pod() {
    let mut mesos = mesos(2).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let scheduler = Scheduler::start(dir.path(), &mesos.master_url(), &example_spec(), &[]);
    let pods = Adoption::of(&scheduler, 3).await;
    let id = framework_id(&scheduler.get("/v1/state").await.expect("state"));

    mesos.kill_master(0);
    mesos.start_master(0).expect("master starts again");
    mesos.wait_for_leader(T).await.expect("the master leads");
    mesos
        .wait_agents_active(2, T)
        .await
        .expect("agents re-register");
    let url = mesos.master_url();
    support::wait_until(T, "the framework re-subscribed", || async {
        let master = state_of(&url).await?;
        (framework(&master, &id)?["active"] == true).then_some(())
    })
    .await;
    let after = pods.assert_adopted(&scheduler, T).await;
    let master = master_state(&mut mesos).await;
    assert_eq!(
        running_on_master(&master, &id),
        cases::task_ids(&after),
        "the new master knows every pod RUNNING under its old task id"
    );
    assert_every_update_acknowledged(&mesos).await;
    drop(scheduler);
}

/// What became of an agent's pods after it was lost and came back.
struct Returned {
    /// Task ids of the pods that ran on the lost agent.
    lost: BTreeSet<String>,
    /// The framework id.
    id: String,
    /// The scheduler's state once no given-up task is listed any more.
    scheduler: Value,
    /// The master's state then.
    master: Value,
}

/// Two agents, two processors on the one that runs `processor-0`; that agent is lost
/// (`for_good`: with its executors, else the agent process alone), its pods go UNREACHABLE
/// and are replaced on the other agent after the scheduler's `--unreachable-timeout`; then
/// the agent comes back on its work dir and the given-up tasks disappear from the scheduler.
async fn lose_an_agent_and_bring_it_back(for_good: bool) -> Returned {
    let mut mesos = mesos(2).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = write_spec(
        dir.path(),
        "[[groups]]\nname = \"processor\"\ncount = 2\n[[groups.tasks]]\nname = \"main\"\ncommand = \"./cartrack-worker\"\nargs = [\"process\"]\ncpus = 0.1\nmem = 32\ndisk = 8\n",
    );
    let scheduler = Scheduler::start(
        dir.path(),
        &mesos.master_url(),
        &spec,
        &["--unreachable-timeout", "3"],
    );
    let before = scheduler.wait_running(2, T).await;
    let id = framework_id(&before);
    let (_, victim) = cases::task_of(&before, "processor-0");
    let victim_index = mesos
        .agent_ids()
        .iter()
        .position(|a| *a == victim)
        .expect("processor-0 runs on a known agent");
    let lost: BTreeSet<String> = before["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter(|t| t["agent_id"] == victim.as_str())
        .filter_map(|t| t["task_id"].as_str().map(String::from))
        .collect();

    if for_good {
        mesos.stop_agent(victim_index);
    } else {
        mesos.kill_agent(victim_index);
    }
    let lost_at = Instant::now();
    support::wait_until(T, "the lost agent's pods UNREACHABLE", || async {
        let state = scheduler.get("/v1/state").await?;
        state["tasks"]
            .as_array()?
            .iter()
            .filter(|t| lost.contains(t["task_id"].as_str().unwrap_or_default()))
            .all(|t| t["state"] == "TASK_UNREACHABLE")
            .then_some(())
    })
    .await;
    let unreachable_at = Instant::now();
    eprintln!("unreachable after {:?}", lost_at.elapsed());
    let replaced = cases::wait_replaced_while_given_up(&scheduler, 2, T).await;
    eprintln!("replaced after {:?}", lost_at.elapsed());
    // Not before the 3 s timeout (less the polls' 100 ms lag in seeing UNREACHABLE).
    assert!(
        unreachable_at.elapsed() >= Duration::from_millis(2_500),
        "replaced {:?} after UNREACHABLE",
        unreachable_at.elapsed()
    );
    for t in replaced["tasks"].as_array().expect("tasks") {
        if t["holds_slot"] == true {
            assert_ne!(t["agent_id"], victim.as_str(), "replacement elsewhere: {t}");
        }
    }
    let master = master_state(&mut mesos).await;
    assert_eq!(
        assert_master_runs_each_slot_once(&master),
        2,
        "while the agent is away"
    );

    mesos
        .start_agent(victim_index)
        .expect("the agent starts again");
    mesos
        .wait_agents_active(2, T)
        .await
        .expect("the agent re-registers");
    eprintln!("agent back after {:?}", lost_at.elapsed());
    let cleared = cases::wait_given_up_tasks_cleared(&scheduler, T).await;
    let url = mesos.master_url();
    // The master may still be ending the old tasks when the scheduler has let go of them.
    let master = support::wait_until(T, "the old tasks ended on the master", || async {
        let master = state_of(&url).await?;
        let ended = master_tasks(&master, &id)
            .into_iter()
            .filter(|(task, _)| lost.contains(task))
            .all(|(_, state)| TERMINAL.contains(&state.as_str()));
        ended.then_some(master)
    })
    .await;
    assert_every_update_acknowledged(&mesos).await;
    Returned {
        lost,
        id,
        scheduler: cleared,
        master,
    }
}

/// Terminal task states.
const TERMINAL: [&str; 6] = [
    "TASK_FINISHED",
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_LOST",
    "TASK_GONE",
    "TASK_DROPPED",
];

/// The state the master ended each of `ids` in.
fn final_states(master: &Value, framework: &str, ids: &BTreeSet<String>) -> BTreeSet<String> {
    master_tasks(master, framework)
        .into_iter()
        .filter(|(task, _)| ids.contains(task))
        .map(|(_, state)| state)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn a_stopped_agent_s_pods_are_replaced_and_gone_when_it_returns() {
    let r = lose_an_agent_and_bring_it_back(true).await;
    assert_eq!(assert_master_runs_each_slot_once(&r.master), 2);
    let running = running_on_master(&r.master, &r.id);
    assert!(
        running.is_disjoint(&r.lost),
        "the old tasks are not RUNNING: {running:?}"
    );
    assert_eq!(running, cases::task_ids(&r.scheduler));
    // Its executors died with it: on its return the master reports the old tasks TASK_FAILED
    // ("Unreachable agent re-reregistered"), then the agent does ("Executor terminated",
    // resent twice with one uuid); the scheduler has nothing left to kill, and does not count
    // that as a pod failure.
    assert_eq!(
        final_states(&r.master, &r.id, &r.lost),
        BTreeSet::from(["TASK_FAILED".to_string()])
    );
    assert_eq!(r.scheduler["groups"][0]["failed"], 0, "{}", r.scheduler);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn a_partitioned_agent_s_pods_are_replaced_and_killed_when_it_returns() {
    // The agent process alone is killed: its executor and pods keep running, unreachable,
    // and come back with it when it recovers them, as after a network partition.
    let r = lose_an_agent_and_bring_it_back(false).await;
    assert_eq!(assert_master_runs_each_slot_once(&r.master), 2);
    let running = running_on_master(&r.master, &r.id);
    assert!(
        running.is_disjoint(&r.lost),
        "the old tasks are not RUNNING: {running:?}"
    );
    assert_eq!(running, cases::task_ids(&r.scheduler));
    // The master reports them TASK_RUNNING ("Unreachable agent re-reregistered"); the
    // scheduler, having given them up, kills them.
    assert_eq!(
        final_states(&r.master, &r.id, &r.lost),
        BTreeSet::from(["TASK_KILLED".to_string()])
    );
    assert_eq!(r.scheduler["groups"][0]["failed"], 0, "{}", r.scheduler);
}

/// `GET /v1/plans/deploy` of `s` once it is the uninstall plan, COMPLETE and answered 200 (what
/// DC/OS's Cosmos waits for before it deletes the scheduler's Marathon app).
async fn wait_uninstall_complete(s: &Scheduler) {
    support::wait_until(T, "the uninstall plan COMPLETE (200)", || async {
        let r = reqwest::get(format!("{}/v1/plans/deploy", s.api))
            .await
            .ok()?;
        let ok = r.status() == reqwest::StatusCode::OK;
        let plan: Value = r.json().await.ok()?;
        (ok && plan["name"] == "uninstall" && plan["status"] == "COMPLETE").then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn sdk_uninstall_leaves_no_framework_or_task_and_a_restart_registers_none() {
    const SDK_UNINSTALL: (&str, &str) = ("SDK_UNINSTALL", "true");
    let mut mesos = mesos(2).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut scheduler = Scheduler::start(dir.path(), &mesos.master_url(), &example_spec(), &[]);
    scheduler.wait_running(3, T).await;
    let id = framework_id(&scheduler.get("/v1/state").await.expect("state"));
    // As `dcos package uninstall`: the scheduler restarted with SDK_UNINSTALL=true.
    scheduler.restart_with_env(&[SDK_UNINSTALL]);
    wait_uninstall_complete(&scheduler).await;
    let master = master_state(&mut mesos).await;
    assert!(
        framework(&master, &id).is_none(),
        "torn down, not registered: {master}"
    );
    let frameworks = master["frameworks"].as_array().cloned().unwrap_or_default();
    assert!(frameworks.is_empty(), "no framework at all: {frameworks:?}");
    let completed = master["completed_frameworks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ours = completed
        .iter()
        .find(|f| f["id"] == id)
        .expect("among the completed frameworks");
    let ended = ours["completed_tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        ours["tasks"].as_array().is_none_or(|t| t.is_empty()) && ended.len() >= 3,
        "every task ended: {ours}"
    );
    assert!(
        !dir.path().join("state").join("state.json").exists(),
        "the state file is deleted"
    );
    // Marathon restarting it before the app is removed: nothing is registered again.
    scheduler.restart_with_env(&[SDK_UNINSTALL]);
    wait_uninstall_complete(&scheduler).await;
    let master = master_state(&mut mesos).await;
    let frameworks = master["frameworks"].as_array().cloned().unwrap_or_default();
    assert!(
        frameworks.is_empty(),
        "a restart in uninstall mode registers nothing: {frameworks:?}\n{}",
        scheduler.log()
    );
}
