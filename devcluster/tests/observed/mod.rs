//! The "Seen on a real Mesos 1.12" observations as test bodies shared by two test binaries:
//! `mesos_1_12_observed` runs them against the dev cluster, `real_mesos_observed` against a real
//! Mesos, so that the dev cluster is checked against the behaviour it claims to copy.
//!
//! Every case is an `async fn(Backend)` in [`cases`]; [`observed_cases!`] lists them once, and
//! each binary turns the list into its `#[tokio::test]`s.
// Each binary runs one backend: the other's variants and helpers are unused there.
#![allow(dead_code)]

pub mod cases;

use std::path::Path;
use std::time::Duration;

use cartrack_devcluster::{ClusterConfig, DevCluster, LogEntry};
use cartrack_testcluster::{RealMesos, RealMesosConfig};
use mesos_proto::v1::TaskState;
use serde_json::Value;

use crate::support::{TestScheduler, WAIT};

/// Calls `$m!` with the name of every case in [`cases`]: the one list both binaries use.
#[macro_export]
macro_rules! observed_cases {
    ($m:ident) => {
        $m! {
            subscribed_has_heartbeat_interval_15_then_heartbeat_at_once_then_offers,
            multi_role_offers_carry_allocation_info_role_on_every_resource,
            master_fills_allocation_info_into_operation_resources,
            roles_without_multi_role_get_an_error_event_then_the_stream_closes,
            call_without_stream_id_is_400,
            call_with_wrong_stream_id_is_400,
            call_for_unknown_framework_is_400_framework_cannot_be_found,
            call_for_known_framework_whose_stream_is_gone_is_403,
            explicit_reconcile_of_never_seen_task_is_task_lost_reconciliation_without_uuid,
            decline_refuse_3600_keeps_the_agent_out_of_offers_until_revive,
            a_decline_filter_lapses_once_another_frameworks_task_frees_resources,
            launch_group_to_a_custom_executor_is_accepted_and_arrives_as_launch_group,
            agent_fetches_only_the_executor_uris_into_the_executor_sandbox,
            tasks_and_executor_must_share_one_allocation_role,
            executor_without_disk_fails_every_task_of_the_group_with_task_error,
            executor_below_minimum_cpus_or_mem_fails_every_task_of_the_group_with_task_error,
            executor_subscribe_without_the_subscribe_message_is_400,
            status_updates_are_forwarded_one_at_a_time_after_each_acknowledge,
            launch_group_executor_without_framework_id_fails_the_group_with_task_error,
            scheduler_calls_without_or_with_wrong_credentials_are_401_unauthorized,
            agent_process_death_loses_the_tasks_of_frameworks_that_do_not_checkpoint_at_once,
            master_state_has_the_leader_its_election_time_and_the_frameworks_fields,
            operator_teardown_kills_the_frameworks_tasks_and_moves_it_to_completed_frameworks,
        }
    };
}

/// Which cluster a case runs against.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    /// The in-process dev cluster.
    Dev,
    /// A real Mesos master and agents from `CARTRACK_MESOS_HOME`.
    Real,
}

enum Inner {
    Dev(DevCluster),
    Real(Box<RealMesos>),
}

/// A started cluster of either backend, with a scratch folder for the test's own files.
pub struct Cluster {
    inner: Inner,
    scratch: tempfile::TempDir,
}

impl Cluster {
    /// Starts `backend` with `agents` agents (None: the backend's default, 3 dev / 1 real).
    pub async fn start(backend: Backend, agents: Option<usize>) -> Cluster {
        Cluster::start_with(backend, agents, None).await
    }

    /// As [`Cluster::start`]; with `basic_auth`, the master takes scheduler calls only with
    /// these HTTP Basic credentials (principal, secret).
    pub async fn start_with(
        backend: Backend,
        agents: Option<usize>,
        basic_auth: Option<(&str, &str)>,
    ) -> Cluster {
        let scratch = tempfile::tempdir().expect("temp dir");
        let basic_auth = basic_auth.map(|(p, s)| (p.to_string(), s.to_string()));
        let inner = match backend {
            Backend::Dev => {
                let mut config = ClusterConfig {
                    work_dir: scratch.path().join("devcluster"),
                    require_basic_auth: basic_auth,
                    ..Default::default()
                };
                if let Some(n) = agents {
                    config.agents = n;
                }
                Inner::Dev(DevCluster::start(config).await.expect("dev cluster starts"))
            }
            Backend::Real => {
                let mut config = RealMesosConfig {
                    basic_auth,
                    ..Default::default()
                };
                if let Some(n) = agents {
                    config.agents = n;
                }
                Inner::Real(Box::new(
                    RealMesos::start(config).await.expect("real Mesos starts"),
                ))
            }
        };
        Cluster { inner, scratch }
    }

    /// The leading master's `http://127.0.0.1:PORT`.
    pub fn master_url(&self) -> String {
        match &self.inner {
            Inner::Dev(c) => c.master_url(),
            Inner::Real(m) => m.master_url(),
        }
    }

    /// The agent's `http://127.0.0.1:PORT`, where its executor API is.
    pub fn agent_url(&self, agent_id: &str) -> String {
        let endpoint = match &self.inner {
            Inner::Dev(c) => c.agent_endpoint(agent_id),
            Inner::Real(m) => m.agent_endpoint(agent_id),
        }
        .unwrap_or_else(|| panic!("unknown agent {agent_id}"));
        if endpoint.starts_with("http://") {
            endpoint
        } else {
            format!("http://{endpoint}")
        }
    }

    /// A folder for files the test hands to the agents (fetcher URIs).
    pub fn scratch_dir(&self) -> &Path {
        self.scratch.path()
    }

    /// Makes the master lose the framework's event stream while the framework stays known
    /// (its failover timeout runs). Dev cluster: its network-fault control, and the master
    /// closes the stream. Real Mesos: the scheduler closes its connection, as a crashed one
    /// would, and the master marks the framework disconnected.
    pub async fn lose_framework_stream(&self, s: &mut TestScheduler) {
        match &self.inner {
            Inner::Dev(c) => {
                c.drop_framework_stream(&s.framework_id).await;
                assert!(s.stream_closed().await, "the master closed the stream");
            }
            Inner::Real(_) => {
                s.disconnect();
                let id = s.framework_id.clone();
                self.poll_master_state("the master marks the framework disconnected", |state| {
                    frameworks(state).any(|f| f["id"] == id.as_str() && f["connected"] == false)
                })
                .await;
            }
        }
    }

    /// Waits until the agent sent `event_type` (e.g. `LAUNCH_GROUP`) to the executor. Dev
    /// cluster: its event log. Real Mesos: the agent's log line for that send (only
    /// `LAUNCH_GROUP` is known here).
    pub async fn wait_executor_event(&self, executor_id: &str, event_type: &str) {
        match &self.inner {
            Inner::Dev(c) => {
                c.wait_for_log(WAIT, |e| {
                    matches!(e, LogEntry::ExecutorEvent { executor_id: x, event_type: t, .. }
                        if x == executor_id && t == event_type)
                })
                .await
                .unwrap_or_else(|e| panic!("the agent sent {event_type} to {executor_id}: {e}"));
            }
            Inner::Real(m) => {
                assert_eq!(event_type, "LAUNCH_GROUP", "no agent log line known");
                // slave.cpp: "Sending queued task group task group containing tasks [ a, b ]
                // to executor 'e1' of framework ..." right before it sends LAUNCH_GROUP.
                let to = format!("to executor '{executor_id}'");
                let found = poll(WAIT, || async {
                    agent_logs(m).iter().any(|log| {
                        log.lines().any(|l| {
                            l.contains("Sending") && l.contains("task group") && l.contains(&to)
                        })
                    })
                })
                .await;
                assert!(
                    found,
                    "the agent logged sending LAUNCH_GROUP to {executor_id}"
                );
            }
        }
    }

    /// Waits until an agent holds an executor's update `state` for `task_id` (it may still be
    /// waiting to be forwarded). Dev cluster: the event log. Real Mesos: the agent's `/state`,
    /// where the task takes the state of the latest update the executor sent.
    pub async fn wait_agent_has_update(&self, task_id: &str, state: TaskState) {
        match &self.inner {
            Inner::Dev(c) => {
                c.wait_for_log(WAIT, |e| {
                    matches!(e, LogEntry::ExecutorCall { call, .. }
                        if call.update.as_ref().is_some_and(|u|
                            u.status.task_id.value == task_id && u.status.state() == state))
                })
                .await
                .unwrap_or_else(|e| panic!("the agent got {state:?} for {task_id}: {e}"));
            }
            Inner::Real(m) => {
                let urls: Vec<String> = m.agent_ids().iter().map(|id| self.agent_url(id)).collect();
                let name = state.as_str_name();
                let found = poll(WAIT, || async {
                    for url in &urls {
                        if let Some(agent_state) = get_json(&format!("{url}/state")).await {
                            if has_task_in_state(&agent_state, task_id, name) {
                                return true;
                            }
                        }
                    }
                    false
                })
                .await;
                assert!(found, "an agent's /state shows {task_id} in {name}");
            }
        }
    }

    /// Kills the agent process. Dev cluster: its fault control (the agent dies with its
    /// executors). Real Mesos: `kill -9` of the agent alone; executors that do not
    /// checkpoint end themselves when their connection to it breaks.
    pub async fn kill_agent(&mut self, agent_id: &str) {
        match &mut self.inner {
            Inner::Dev(c) => c.kill_agent(agent_id).await.expect("known agent"),
            Inner::Real(m) => {
                let i = m
                    .agent_ids()
                    .iter()
                    .position(|id| id == agent_id)
                    .unwrap_or_else(|| panic!("unknown agent {agent_id}"));
                m.kill_agent(i);
            }
        }
    }

    /// The hostname the master's `/master/state` gives agent `agent_id` (the dev cluster's
    /// agents share 127.0.0.1; real ones each have a loopback address of their own).
    pub async fn agent_hostname(&self, agent_id: &str) -> String {
        let state = self.master_state().await;
        state["slaves"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["id"] == agent_id)
            .and_then(|s| s["hostname"].as_str())
            .unwrap_or_else(|| panic!("agent {agent_id} with a hostname in {state}"))
            .to_string()
    }

    /// The leading master's `/master/state`.
    pub async fn master_state(&self) -> Value {
        get_json(&format!("{}/master/state", self.master_url()))
            .await
            .expect("the master's /master/state")
    }

    /// Polls the master's `/master/state` until `cond` holds; returns that state, panics
    /// (with the last state seen) after [`WAIT`].
    pub async fn poll_master_state(&self, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
        let url = format!("{}/master/state", self.master_url());
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let state = get_json(&url).await.unwrap_or_default();
            if cond(&state) {
                return state;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: not seen within {WAIT:?}; last state: {state}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The frameworks of a master's state, connected or not.
pub fn frameworks(state: &Value) -> impl Iterator<Item = &Value> {
    state["frameworks"].as_array().into_iter().flatten()
}

/// Framework `id` in a master state's `frameworks` (or `completed_frameworks` when
/// `completed`).
pub fn framework_in<'a>(state: &'a Value, id: &str, completed: bool) -> Option<&'a Value> {
    let list = if completed {
        "completed_frameworks"
    } else {
        "frameworks"
    };
    state[list]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["id"] == id)
}

/// True when some object below `v` is task `task_id` in `state` (agent `/state` keeps tasks
/// under `frameworks[].executors[].tasks` / `completed_tasks`, and the completed lists).
fn has_task_in_state(v: &Value, task_id: &str, state: &str) -> bool {
    match v {
        Value::Object(o) => {
            (o.get("id").and_then(Value::as_str) == Some(task_id)
                && o.get("state").and_then(Value::as_str) == Some(state))
                || o.values().any(|x| has_task_in_state(x, task_id, state))
        }
        Value::Array(a) => a.iter().any(|x| has_task_in_state(x, task_id, state)),
        _ => false,
    }
}

/// The contents of the real agents' logs.
fn agent_logs(m: &RealMesos) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(m.run_dir().join("logs")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("agent-"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect()
}

async fn get_json(url: &str) -> Option<Value> {
    reqwest::get(url).await.ok()?.json().await.ok()
}

/// Polls an async condition every 50 ms until it holds or `timeout` passes.
async fn poll<F, Fut>(timeout: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if cond().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
