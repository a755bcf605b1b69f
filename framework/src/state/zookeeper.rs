//! The ZooKeeper [`Store`] (`--zk`): one node per record under `/<path>/<service-name>`, so
//! a commit writes only what changed, and every commit is fenced on the scheduler's
//! leadership: a deposed leader's write fails as a whole.
//!
//! Keys: `framework_id`, `config.<id>`, `target`, `startup`, `deployment`, `desired.<group>`, `task.<task id>`, `slot.<slot>`, `uninstall`; values
//! are JSON. A `spec` node, written by schedulers from before config versions, is read once to
//! make version 1.
//! A commit too large for one ZooKeeper transaction (about 1 MB: thousands of launches at
//! once) is written as several, in order; a crash between them leaves task records whose
//! ACCEPT was never sent, which the restart's reconciliation answers GONE — the same as a
//! crash between persisting and ACCEPT.

use std::collections::BTreeMap;
use std::sync::Arc;

use cartrack_zookeeper::{Leadership, NodeOp, NodeStore, Zk, ZkError, MAX_TRANSACTION_BYTES};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Store, StoreError};
use crate::records::{Change, StoredState};
use crate::target::ConfigVersion;

const FRAMEWORK_ID: &str = "framework_id";
const SPEC: &str = "spec";
const CONFIG: &str = "config.";
const TARGET: &str = "target";
const STARTUP: &str = "startup";
const DEPLOYMENT: &str = "deployment";
const DESIRED: &str = "desired.";
/// `pinned.<group>`: an operator set the count of this autoscaled group.
const PINNED: &str = "pinned.";
const TASK: &str = "task.";
const SLOT: &str = "slot.";
const UNINSTALL: &str = "uninstall";

/// A [`Store`] in ZooKeeper, writing only while `leadership` holds.
#[derive(Debug)]
pub struct ZkStore {
    nodes: NodeStore,
    leadership: Arc<Leadership>,
}

impl ZkStore {
    /// A store under `root` (e.g. `/cartrack/cartrack`), fenced on `leadership`.
    pub fn new(zk: Zk, root: impl Into<String>, leadership: Arc<Leadership>) -> ZkStore {
        ZkStore {
            nodes: NodeStore::new(zk, root),
            leadership,
        }
    }

    fn error(&self, source: ZkError) -> StoreError {
        StoreError::ZooKeeper {
            root: self.nodes.root().to_string(),
            source,
        }
    }
}

fn decode<T: DeserializeOwned>(root: &str, key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt {
        path: format!("{root}/{key}").into(),
        source,
    })
}

fn put(key: String, value: &impl Serialize) -> Result<NodeOp, StoreError> {
    let value = serde_json::to_vec(value).map_err(|source| StoreError::Corrupt {
        path: key.clone().into(),
        source,
    })?;
    Ok(NodeOp::Put { key, value })
}

/// The node operations for `changes`, one per key (the last change of a key wins), in the
/// order the keys were first touched.
fn node_ops(changes: &[Change]) -> Result<Vec<NodeOp>, StoreError> {
    let mut order: Vec<String> = Vec::new();
    let mut latest: BTreeMap<String, NodeOp> = BTreeMap::new();
    for change in changes {
        let op = match change {
            Change::FrameworkId(id) => put(FRAMEWORK_ID.into(), id)?,
            Change::PutConfig(version) => put(format!("{CONFIG}{}", version.id), version)?,
            Change::RemoveConfig(id) => NodeOp::Delete {
                key: format!("{CONFIG}{id}"),
            },
            Change::Target(id) => put(TARGET.into(), id)?,
            Change::Startup(hash) => put(STARTUP.into(), hash)?,
            Change::Deployment(d) => put(DEPLOYMENT.into(), d)?,
            Change::Desired(group, count) => put(format!("{DESIRED}{group}"), count)?,
            Change::AutoscalePin(group, true) => put(format!("{PINNED}{group}"), &true)?,
            Change::AutoscalePin(group, false) => NodeOp::Delete {
                key: format!("{PINNED}{group}"),
            },
            Change::PutTask(task) => put(format!("{TASK}{}", task.task_id), task)?,
            Change::RemoveTask(id) => NodeOp::Delete {
                key: format!("{TASK}{id}"),
            },
            Change::PutSlot(name, slot) => put(format!("{SLOT}{name}"), slot)?,
            Change::RemoveSlot(name) => NodeOp::Delete {
                key: format!("{SLOT}{name}"),
            },
            Change::Uninstall(record) => put(UNINSTALL.into(), record)?,
        };
        let key = op.key().to_string();
        if latest.insert(key.clone(), op).is_none() {
            order.push(key);
        }
    }
    Ok(order
        .into_iter()
        .filter_map(|key| latest.remove(&key))
        .collect())
}

/// Room kept in every transaction for the leadership check the node store adds.
const FENCE_ROOM: usize = 128;

/// Splits `ops` into transactions under ZooKeeper's request limit.
fn batches(ops: Vec<NodeOp>) -> Vec<Vec<NodeOp>> {
    let mut out: Vec<Vec<NodeOp>> = Vec::new();
    let mut size = 0usize;
    for op in ops {
        let cost = op.estimated_size();
        match out.last_mut() {
            Some(batch) if size + cost <= MAX_TRANSACTION_BYTES - FENCE_ROOM => {
                batch.push(op);
                size += cost;
            }
            _ => {
                out.push(vec![op]);
                size = cost;
            }
        }
    }
    out
}

impl Store for ZkStore {
    async fn load(&mut self) -> Result<StoredState, StoreError> {
        let records = self.nodes.load().await.map_err(|e| self.error(e))?;
        let root = self.nodes.root().to_string();
        let mut state = StoredState::default();
        for (key, bytes) in &records {
            if key == FRAMEWORK_ID {
                state.framework_id = Some(decode(&root, key, bytes)?);
            } else if key == SPEC {
                state.spec = Some(decode(&root, key, bytes)?);
            } else if key == TARGET {
                state.target = Some(decode(&root, key, bytes)?);
            } else if key == UNINSTALL {
                state.uninstall = Some(decode(&root, key, bytes)?);
            } else if key == STARTUP {
                state.startup = Some(decode(&root, key, bytes)?);
            } else if key == DEPLOYMENT {
                state.deployment = Some(decode(&root, key, bytes)?);
            } else if let Some(id) = key.strip_prefix(CONFIG) {
                let version: ConfigVersion = decode(&root, key, bytes)?;
                if id != version.id.to_string() {
                    tracing::warn!(%root, %key, "config node named after another id: ignored");
                    continue;
                }
                state.configs.insert(version.id, version);
            } else if let Some(group) = key.strip_prefix(DESIRED) {
                state
                    .desired
                    .insert(group.to_string(), decode(&root, key, bytes)?);
            } else if let Some(group) = key.strip_prefix(PINNED) {
                state.autoscale_pinned.insert(group.to_string());
            } else if let Some(id) = key.strip_prefix(TASK) {
                state
                    .tasks
                    .insert(id.to_string(), decode(&root, key, bytes)?);
            } else if let Some(name) = key.strip_prefix(SLOT) {
                state
                    .slots
                    .insert(name.to_string(), decode(&root, key, bytes)?);
            } else {
                tracing::warn!(%root, %key, "unknown node in the state store: ignored");
            }
        }
        Ok(state)
    }

    async fn commit(&mut self, changes: &[Change]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        self.write(node_ops(changes)?).await
    }

    async fn clear(&mut self) -> Result<(), StoreError> {
        let keys = self.nodes.load().await.map_err(|e| self.error(e))?;
        let (last, rest): (Vec<String>, Vec<String>) =
            keys.into_keys().partition(|key| key == FRAMEWORK_ID);
        let deletes = rest
            .into_iter()
            .chain(last)
            .map(|key| NodeOp::Delete { key });
        self.write(deletes.collect()).await?;
        // The records are gone: their parent node goes too, so nothing of the state is left.
        self.nodes.remove_root().await.map_err(|e| self.error(e))
    }
}

impl ZkStore {
    /// Writes `ops` in order, in as many fenced transactions as their size needs.
    async fn write(&self, ops: Vec<NodeOp>) -> Result<(), StoreError> {
        for batch in batches(ops) {
            // Retrying after a lost reply is safe: the node store re-plans from what exists.
            let leadership = &self.leadership;
            leadership
                .through_disconnections(|| self.nodes.commit(&batch, Some(leadership)))
                .await
                .map_err(|e| self.error(e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
