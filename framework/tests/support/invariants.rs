//! The invariants every fault and crash test asserts, read from the dev cluster (the truth
//! about what runs and what was acknowledged) and from the scheduler's API (what it
//! considers live):
//! - no slot has two live pods: per `(slot, task name)` at most one task the master shows
//!   live, and at most one task the scheduler says holds the slot;
//! - every status update with a uuid is acknowledged, each delivery at most once, and no
//!   agent is left holding one.

use std::collections::BTreeMap;
use std::time::Duration;

use cartrack_devcluster::{DevCluster, LogEntry};
use mesos_proto::v1::scheduler::call;
use serde_json::Value;

use super::{calls, is, wait_until, Scheduler};

/// `<group>-<index>-<task>__<uuid>` -> (`<group>-<index>`, `<task>`).
pub fn slot_and_task(task_id: &str) -> Option<(String, String)> {
    let name = task_id.split("__").next()?;
    let (slot, task) = name.rsplit_once('-')?;
    Some((slot.to_string(), task.to_string()))
}

/// Task ids the master shows live (not terminal and not unreachable) for any framework but
/// the other tenants, grouped by (slot, task name).
pub async fn live_on_cluster(cluster: &DevCluster) -> BTreeMap<(String, String), Vec<String>> {
    let state: Value = reqwest::get(format!("{}/state", cluster.master_url()))
        .await
        .expect("master /state")
        .json()
        .await
        .expect("master /state is JSON");
    let mut live: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let frameworks = state["frameworks"].as_array().cloned().unwrap_or_default();
    for task in frameworks
        .iter()
        .flat_map(|f| f["tasks"].as_array().cloned().unwrap_or_default())
    {
        let state = task["state"].as_str().unwrap_or_default();
        if !matches!(
            state,
            "TASK_STAGING" | "TASK_STARTING" | "TASK_RUNNING" | "TASK_KILLING"
        ) {
            continue;
        }
        let id = task["id"].as_str().unwrap_or_default().to_string();
        if let Some(key) = slot_and_task(&id) {
            live.entry(key).or_default().push(id);
        }
    }
    live
}

/// Asserts that the cluster runs no slot twice and returns how many tasks are live.
pub async fn assert_no_slot_runs_twice(cluster: &DevCluster) -> usize {
    let live = live_on_cluster(cluster).await;
    let doubled: Vec<_> = live.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(doubled.is_empty(), "slots with two live tasks: {doubled:?}");
    live.len()
}

/// Asserts that the scheduler considers at most one pod live per slot.
pub async fn assert_scheduler_holds_each_slot_once(scheduler: &Scheduler) {
    let state = scheduler
        .get("/v1/state")
        .await
        .expect("scheduler /v1/state");
    let mut holders: BTreeMap<(String, String), usize> = BTreeMap::new();
    for task in state["tasks"].as_array().cloned().unwrap_or_default() {
        if task["holds_slot"] == false {
            continue;
        }
        if let Some(key) = task["task_id"].as_str().and_then(slot_and_task) {
            *holders.entry(key).or_default() += 1;
        }
    }
    let doubled: Vec<_> = holders.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        doubled.is_empty(),
        "scheduler holds slots twice: {doubled:?}"
    );
}

/// How often each update uuid reached the scheduler (re-sent until acknowledged).
pub fn update_deliveries(cluster: &DevCluster) -> BTreeMap<Vec<u8>, usize> {
    let mut seen = BTreeMap::new();
    for entry in cluster.log() {
        if let LogEntry::SchedulerEvent {
            event_type,
            uuid: Some(uuid),
            ..
        } = entry
        {
            if event_type == "UPDATE" && !uuid.is_empty() {
                *seen.entry(uuid).or_insert(0) += 1;
            }
        }
    }
    seen
}

/// How many accepted ACKNOWLEDGEs each update uuid got.
pub fn acknowledgements(cluster: &DevCluster) -> BTreeMap<Vec<u8>, usize> {
    let mut acked: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    for (c, status) in calls(cluster) {
        if is(&c, call::Type::Acknowledge) && status == 202 {
            if let Some(a) = c.acknowledge {
                *acked.entry(a.uuid).or_default() += 1;
            }
        }
    }
    acked
}

/// Waits until every update with a uuid was acknowledged and no agent still holds one for
/// want of an acknowledgement (a re-sent update needs another), then asserts no update was
/// acknowledged more often than it was delivered.
pub async fn assert_every_update_acknowledged(cluster: &DevCluster, timeout: Duration) {
    wait_every_update_acknowledged(cluster, timeout).await;
    let delivered = update_deliveries(cluster);
    let acked = acknowledgements(cluster);
    let surplus: Vec<_> = acked
        .iter()
        .filter(|(u, n)| **n > delivered.get(*u).copied().unwrap_or(0))
        .collect();
    assert!(
        surplus.is_empty(),
        "acknowledged more often than delivered: {surplus:?}"
    );
    assert!(!delivered.is_empty(), "some updates were sent");
}

/// Waits until every update with a uuid was acknowledged at least once and no agent still
/// holds one for want of an acknowledgement. Where the master's answers go missing, an
/// ACKNOWLEDGE is rightly sent again (it is harmless), so this is the whole check there.
pub async fn wait_every_update_acknowledged(cluster: &DevCluster, timeout: Duration) {
    wait_until(timeout, "every update acknowledged", || async {
        let acked = acknowledgements(cluster);
        let all = update_deliveries(cluster)
            .keys()
            .all(|u| acked.contains_key(u));
        (all && cluster.unacknowledged_updates() == 0).then_some(())
    })
    .await;
}
