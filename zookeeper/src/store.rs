//! A flat, versioned key -> bytes store under one ZooKeeper node: one child node per record,
//! every commit one multi-transaction, optionally fenced on a leadership.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use tokio::sync::Mutex;
use zookeeper_client as zkc;

use crate::{Leadership, Zk, ZkError};

/// Largest value one key may hold. ZooKeeper refuses packets over jute.maxbuffer (1 MiB by
/// default, request framing included); we stay clearly under it.
pub const MAX_VALUE_BYTES: usize = 1_000_000;

/// Largest estimated size of one commit: jute.maxbuffer (0xfffff) less room for the headers.
pub const MAX_TRANSACTION_BYTES: usize = 1_040_000;

/// Per-operation framing in a multi request (op header, lengths, ACL, flags), rounded up.
const OP_OVERHEAD_BYTES: usize = 64;

/// How often a commit is re-planned after finding the local view of existing keys stale.
const MAX_ATTEMPTS: usize = 3;

/// One change in a [`NodeStore::commit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeOp {
    /// Create the key or replace its value.
    Put {
        /// Child node name (see [`validate_key`]).
        key: String,
        /// The new value, at most [`MAX_VALUE_BYTES`].
        value: Vec<u8>,
    },
    /// Remove the key; removing a missing key is not an error.
    Delete {
        /// Child node name.
        key: String,
    },
}

impl NodeOp {
    /// The key this operation touches.
    pub fn key(&self) -> &str {
        match self {
            NodeOp::Put { key, .. } | NodeOp::Delete { key } => key,
        }
    }

    /// Its estimated share of a multi request, as [`NodeStore::commit`] counts it against
    /// [`MAX_TRANSACTION_BYTES`]: callers with large batches split them by the same measure.
    pub fn estimated_size(&self) -> usize {
        let value_len = match self {
            NodeOp::Put { value, .. } => value.len(),
            NodeOp::Delete { .. } => 0,
        };
        OP_OVERHEAD_BYTES + self.key().len() + value_len
    }
}

/// The scheduler's state store: records are the children of `root`, read all at once with
/// [`NodeStore::load`] and changed atomically with [`NodeStore::commit`].
///
/// Clones share the local view of which keys exist (learnt from `load` and earlier commits);
/// a stale view is repaired by re-reading the keys concerned, so concurrent writers cannot make
/// a commit half-apply, only fail with [`ZkError::Conflict`] after a few attempts.
#[derive(Clone, Debug)]
pub struct NodeStore {
    zk: Zk,
    root: Arc<str>,
    view: Arc<Mutex<View>>,
}

#[derive(Debug, Default)]
struct View {
    root_exists: bool,
    existing: HashSet<String>,
}

impl NodeStore {
    /// A store under the absolute node path `root` (created on first use).
    pub fn new(zk: Zk, root: impl Into<String>) -> NodeStore {
        let root: String = root.into();
        let root = root.strip_suffix('/').unwrap_or(&root).to_owned();
        NodeStore {
            zk,
            root: root.into(),
            view: Arc::default(),
        }
    }

    /// The node path the records live under.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// Reads every record: key = child name, value = its data. Keys deleted while reading are
    /// left out. Also refreshes the local view of which keys exist.
    pub async fn load(&self) -> Result<BTreeMap<String, Vec<u8>>, ZkError> {
        let mut view = self.view.lock().await;
        self.ensure_root(&mut view).await?;
        let client = self.zk.client().await?;
        let keys = client
            .list_children(&self.root)
            .await
            .map_err(|e| ZkError::from_client("list_children", &self.root, e))?;
        // The client sends each request when its future is created: issue them all, then
        // collect, so a large store loads in one pipelined burst rather than N round trips.
        let pending: Vec<_> = keys
            .into_iter()
            .map(|key| {
                let path = self.path_of(&key);
                let read = client.get_data(&path);
                (key, path, read)
            })
            .collect();
        let mut records = BTreeMap::new();
        for (key, path, read) in pending {
            match read.await {
                Ok((value, _stat)) => {
                    records.insert(key, value);
                }
                Err(zkc::Error::NoNode) => {}
                Err(e) => return Err(ZkError::from_client("get_data", &path, e)),
            }
        }
        view.existing = records.keys().cloned().collect();
        Ok(records)
    }

    /// Applies `ops` in order in ONE ZooKeeper transaction: all or nothing.
    ///
    /// With `fence`, the transaction runs on the leadership's own session and also checks its
    /// leader node, so a deposed leader's write fails as a whole with [`ZkError::NotLeader`],
    /// even when its session is still alive but its node was removed.
    pub async fn commit(&self, ops: &[NodeOp], fence: Option<&Leadership>) -> Result<(), ZkError> {
        check_batch(ops)?;
        let mut view = self.view.lock().await;
        self.ensure_root(&mut view).await?;
        let client = match fence {
            Some(leadership) => leadership.client().clone(),
            None => self.zk.client().await?,
        };
        let persistent = self.zk.create_options(zkc::CreateMode::Persistent);
        for _ in 0..MAX_ATTEMPTS {
            let planned = plan(ops, &view.existing);
            if planned.is_empty() && fence.is_none() {
                return Ok(());
            }
            let mut writer = client.new_multi_writer();
            let fence_ops = usize::from(fence.is_some());
            if let Some(leadership) = fence {
                writer
                    .add_check_version(leadership.node(), leadership.node_version())
                    .map_err(|e| ZkError::from_client("check", leadership.node(), e))?;
            }
            for step in &planned {
                let path = self.path_of(step.key());
                let added = match step {
                    Step::Create { value, .. } => writer.add_create(&path, value, &persistent),
                    Step::Set { value, .. } => writer.add_set_data(&path, value, None),
                    Step::Delete { .. } => writer.add_delete(&path, None),
                };
                added.map_err(|e| ZkError::from_client("commit", &path, e))?;
            }
            match writer.commit().await {
                Ok(_) => {
                    for step in &planned {
                        match step {
                            Step::Create { key, .. } | Step::Set { key, .. } => {
                                view.existing.insert((*key).to_owned());
                            }
                            Step::Delete { key } => {
                                view.existing.remove(*key);
                            }
                        }
                    }
                    return Ok(());
                }
                Err(zkc::MultiWriteError::OperationFailed { index, source }) => {
                    if let (Some(leadership), true) = (fence, index < fence_ops) {
                        return Err(fence_error(leadership, source));
                    }
                    let Some(step) = planned.get(index - fence_ops) else {
                        return Err(ZkError::from_client("commit", &self.root, source));
                    };
                    let path = self.path_of(step.key());
                    if !matches!(source, zkc::Error::NodeExists | zkc::Error::NoNode) {
                        return Err(ZkError::from_client("commit", &path, source));
                    }
                    // Our view of this key was stale (another writer, or a commit whose reply
                    // was lost): look again and re-plan.
                    tracing::debug!(%path, %source, "store view stale; re-reading key");
                    self.refresh_key(&client, &mut view, step.key()).await?;
                }
                Err(zkc::MultiWriteError::RequestFailed { source }) => {
                    // A lost reply leaves the outcome unknown; the view is repaired on retry.
                    return Err(match (fence, source) {
                        (Some(leadership), zkc::Error::SessionExpired) => ZkError::NotLeader {
                            node: leadership.node().to_owned(),
                        },
                        (_, source) => ZkError::from_client("commit", &self.root, source),
                    });
                }
            }
        }
        Err(ZkError::Conflict {
            path: self.root.to_string(),
        })
    }

    /// Deletes the root node once its records are gone (the end of an uninstall); a root
    /// already gone is fine, one that still holds records is [`ZkError`] `NotEmpty`.
    pub async fn remove_root(&self) -> Result<(), ZkError> {
        let mut view = self.view.lock().await;
        let client = self.zk.client().await?;
        match client.delete(&self.root, None).await {
            Ok(()) | Err(zkc::Error::NoNode) => {
                view.root_exists = false;
                view.existing.clear();
                Ok(())
            }
            Err(e) => Err(ZkError::from_client("delete", &self.root, e)),
        }
    }

    async fn ensure_root(&self, view: &mut View) -> Result<(), ZkError> {
        if !view.root_exists {
            self.zk.ensure_path(&self.root).await?;
            view.root_exists = true;
        }
        Ok(())
    }

    async fn refresh_key(
        &self,
        client: &zkc::Client,
        view: &mut View,
        key: &str,
    ) -> Result<(), ZkError> {
        let path = self.path_of(key);
        let stat = client
            .check_stat(&path)
            .await
            .map_err(|e| ZkError::from_client("check_stat", &path, e))?;
        if stat.is_some() {
            view.existing.insert(key.to_owned());
        } else {
            view.existing.remove(key);
        }
        Ok(())
    }

    fn path_of(&self, key: &str) -> String {
        format!("{}/{}", self.root, key)
    }
}

fn fence_error(leadership: &Leadership, source: zkc::Error) -> ZkError {
    match source {
        zkc::Error::NoNode | zkc::Error::BadVersion | zkc::Error::SessionExpired => {
            ZkError::NotLeader {
                node: leadership.node().to_owned(),
            }
        }
        other => ZkError::from_client("check", leadership.node(), other),
    }
}

/// What one [`NodeOp`] becomes, given which keys exist.
#[derive(Debug, PartialEq, Eq)]
enum Step<'a> {
    Create { key: &'a str, value: &'a [u8] },
    Set { key: &'a str, value: &'a [u8] },
    Delete { key: &'a str },
}

impl Step<'_> {
    fn key(&self) -> &str {
        match self {
            Step::Create { key, .. } | Step::Set { key, .. } | Step::Delete { key } => key,
        }
    }
}

/// Turns ops into ZooKeeper steps, tracking existence through the batch (put then delete of a
/// new key = create then delete; delete of an absent key = nothing).
fn plan<'a>(ops: &'a [NodeOp], existing: &HashSet<String>) -> Vec<Step<'a>> {
    let mut now_exists: BTreeMap<&str, bool> = BTreeMap::new();
    let mut steps = Vec::with_capacity(ops.len());
    for op in ops {
        let key = op.key();
        let exists = *now_exists
            .entry(key)
            .or_insert_with(|| existing.contains(key));
        match op {
            NodeOp::Put { value, .. } if exists => steps.push(Step::Set { key, value }),
            NodeOp::Put { value, .. } => steps.push(Step::Create { key, value }),
            NodeOp::Delete { .. } if exists => steps.push(Step::Delete { key }),
            NodeOp::Delete { .. } => {}
        }
        now_exists.insert(key, matches!(op, NodeOp::Put { .. }));
    }
    steps
}

/// Checks keys and sizes before anything is sent.
fn check_batch(ops: &[NodeOp]) -> Result<(), ZkError> {
    let mut total = 0usize;
    for op in ops {
        validate_key(op.key())?;
        if let NodeOp::Put { key, value } = op {
            if value.len() > MAX_VALUE_BYTES {
                return Err(ZkError::TooLarge {
                    key: key.clone(),
                    size: value.len(),
                    limit: MAX_VALUE_BYTES,
                });
            }
        }
        total += op.estimated_size();
    }
    if total > MAX_TRANSACTION_BYTES {
        return Err(ZkError::BatchTooLarge {
            ops: ops.len(),
            size: total,
            limit: MAX_TRANSACTION_BYTES,
        });
    }
    Ok(())
}

/// Accepts keys that are one valid znode name: not empty, no `/`, not `.`/`..`, no NUL or
/// control characters (which ZooKeeper rejects), and `zookeeper` is fine below the root.
pub fn validate_key(key: &str) -> Result<(), ZkError> {
    let reason = if key.is_empty() {
        Some("a key must not be empty")
    } else if key.contains('/') {
        Some("a key must not contain '/' (the store is one level deep)")
    } else if key == "." || key == ".." {
        Some("'.' and '..' are not valid node names")
    } else if key.chars().any(char::is_control) {
        Some("a key must not contain control characters")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ZkError::BadKey {
            key: key.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value: &[u8]) -> NodeOp {
        NodeOp::Put {
            key: key.into(),
            value: value.to_vec(),
        }
    }

    fn delete(key: &str) -> NodeOp {
        NodeOp::Delete { key: key.into() }
    }

    #[test]
    fn plan_creates_new_keys_sets_known_and_skips_absent_deletes() {
        let existing: HashSet<String> = ["a".to_owned()].into();
        let ops = [put("a", b"1"), put("b", b"2"), delete("c"), delete("a")];
        assert_eq!(
            plan(&ops, &existing),
            [
                Step::Set {
                    key: "a",
                    value: b"1"
                },
                Step::Create {
                    key: "b",
                    value: b"2"
                },
                Step::Delete { key: "a" },
            ]
        );
    }

    #[test]
    fn plan_tracks_existence_within_the_batch() {
        let ops = [
            put("x", b"1"),
            put("x", b"2"),
            delete("x"),
            delete("x"),
            put("x", b"3"),
        ];
        assert_eq!(
            plan(&ops, &HashSet::new()),
            [
                Step::Create {
                    key: "x",
                    value: b"1"
                },
                Step::Set {
                    key: "x",
                    value: b"2"
                },
                Step::Delete { key: "x" },
                Step::Create {
                    key: "x",
                    value: b"3"
                },
            ]
        );
    }

    #[test]
    fn validate_rejects_bad_keys() {
        for key in ["", "a/b", ".", "..", "a\0b", "line\n"] {
            assert!(
                matches!(validate_key(key), Err(ZkError::BadKey { .. })),
                "{key:?}"
            );
        }
        for key in ["pod-0", "task__1f3c", "...", "zookeeper", "ünïcode"] {
            assert!(validate_key(key).is_ok(), "{key:?}");
        }
    }

    #[test]
    fn too_large_value_names_the_key() {
        let err = check_batch(&[put("big", &vec![0; MAX_VALUE_BYTES + 1])]).expect_err("too large");
        assert!(
            matches!(&err, ZkError::TooLarge { key, .. } if key == "big"),
            "{err}"
        );
        assert!(err.to_string().contains("\"big\""));
        assert!(check_batch(&[put("ok", &vec![0; MAX_VALUE_BYTES])]).is_ok());
    }

    #[test]
    fn too_large_batch_is_rejected_before_sending() {
        let ops: Vec<_> = (0..3)
            .map(|i| put(&format!("k{i}"), &vec![0; 400_000]))
            .collect();
        assert!(matches!(
            check_batch(&ops),
            Err(ZkError::BatchTooLarge { ops: 3, .. })
        ));
    }
}
