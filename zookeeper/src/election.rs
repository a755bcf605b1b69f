//! Leader election among scheduler instances: ZooKeeper's recipe (ephemeral sequential nodes,
//! lowest leads, each candidate watches only its predecessor), plus the fencing a leader needs.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use zookeeper_client as zkc;

use crate::sequence::{self, Position};
use crate::{Zk, ZkError};

/// Name prefix of candidate nodes under the election path.
pub const CANDIDATE_PREFIX: &str = "leader_";

/// Candidates for one leadership, all using the same `path`.
#[derive(Clone, Debug)]
pub struct Election {
    zk: Zk,
    path: String,
    candidate_id: String,
}

impl Election {
    /// An election under the absolute node `path`; `candidate_id` (e.g. `host:port` of this
    /// instance's API) is stored in the candidate node for [`Election::current_leader`].
    pub fn new(zk: Zk, path: impl Into<String>, candidate_id: impl Into<String>) -> Election {
        let path: String = path.into();
        Election {
            zk,
            path: path.strip_suffix('/').unwrap_or(&path).to_owned(),
            candidate_id: candidate_id.into(),
        }
    }

    /// Joins the election and waits until this candidate leads.
    ///
    /// Creates `<path>/leader_NNNNNNNNNN` (ephemeral, sequential) and waits, watching only the
    /// next lower candidate, until it is the lowest. Dropping the future withdraws the candidacy.
    /// Fails with [`ZkError::NotLeader`] if our candidate node vanished while waiting (session
    /// expired, or removed by an operator): campaign again. One session runs at most one
    /// candidacy per election path (a candidate node already owned by this session is reused).
    pub async fn campaign(&self) -> Result<Leadership, ZkError> {
        self.zk.ensure_path(&self.path).await?;
        let client = self.zk.client().await?;
        let prefix = format!("{}/{}", self.path, CANDIDATE_PREFIX);
        // A node of ours left by an earlier campaign that was dropped mid-create is adopted, not
        // left to "lead" with nobody acting on it.
        let (name, version) = match self.find_own_candidate(&client).await? {
            Some(found) => found,
            None => self.create_candidate(&client, &prefix).await?,
        };
        let node = format!("{}/{}", self.path, name);
        // Until we hand out a Leadership, dropping the campaign withdraws the node.
        let mut candidacy = Candidacy {
            client: client.clone(),
            node: Some(node.clone()),
        };
        tracing::info!(%node, candidate = %self.candidate_id, "campaigning for leadership");
        loop {
            let children = match client.list_children(&self.path).await {
                Ok(children) => children,
                Err(zkc::Error::ConnectionLoss | zkc::Error::Timeout) => {
                    pause_before_retry().await;
                    continue;
                }
                Err(e) => return Err(self.candidacy_error(&node, e)),
            };
            match sequence::position(&children, CANDIDATE_PREFIX, &name) {
                Position::First => break,
                Position::Missing => return Err(ZkError::NotLeader { node }),
                Position::Behind(predecessor) => {
                    let predecessor = format!("{}/{}", self.path, predecessor);
                    match client.check_and_watch_stat(&predecessor).await {
                        // Gone already: look again.
                        Ok((None, _)) => continue,
                        // Any event (deletion, session trouble) means: look again.
                        Ok((Some(_), watcher)) => {
                            tracing::debug!(%node, %predecessor, "waiting for predecessor");
                            watcher.changed().await;
                        }
                        Err(zkc::Error::ConnectionLoss | zkc::Error::Timeout) => {
                            pause_before_retry().await
                        }
                        Err(e) => return Err(self.candidacy_error(&node, e)),
                    }
                }
            }
        }
        candidacy.node = None;
        tracing::info!(%node, candidate = %self.candidate_id, "won leadership");
        Ok(Leadership::start(client, node, version))
    }

    /// The candidate id stored by the current leader (the lowest candidate node), or `None` when
    /// nobody campaigns. For logs and the operator API; may be stale by the time it is read.
    pub async fn current_leader(&self) -> Result<Option<String>, ZkError> {
        let client = self.zk.client().await?;
        loop {
            let children = match client.list_children(&self.path).await {
                Ok(children) => children,
                Err(zkc::Error::NoNode) => return Ok(None),
                Err(e) => return Err(ZkError::from_client("list_children", &self.path, e)),
            };
            let Some(lowest) = sequence::lowest(&children, CANDIDATE_PREFIX) else {
                return Ok(None);
            };
            let path = format!("{}/{}", self.path, lowest);
            match client.get_data(&path).await {
                Ok((data, _)) => return Ok(Some(String::from_utf8_lossy(&data).into_owned())),
                // The leader left between list and read: look again.
                Err(zkc::Error::NoNode) => continue,
                Err(e) => return Err(ZkError::from_client("get_data", &path, e)),
            }
        }
    }

    /// Creates our candidate node and returns its name and version. If the reply is lost
    /// (connection loss), the node may exist anyway: find it by its owner (our session) rather
    /// than create a second one; an orphan of ours would otherwise lead with nobody acting.
    async fn create_candidate(
        &self,
        client: &zkc::Client,
        prefix: &str,
    ) -> Result<(String, i32), ZkError> {
        let options = self.zk.create_options(zkc::CreateMode::EphemeralSequential);
        loop {
            match client
                .create(prefix, self.candidate_id.as_bytes(), &options)
                .await
            {
                Ok((stat, seq)) => return Ok((format!("{CANDIDATE_PREFIX}{seq}"), stat.version)),
                Err(zkc::Error::ConnectionLoss | zkc::Error::Timeout) => {
                    pause_before_retry().await;
                    if let Some(found) = self.find_own_candidate(client).await? {
                        return Ok(found);
                    }
                }
                Err(e) => return Err(ZkError::from_client("create", prefix, e)),
            }
        }
    }

    async fn find_own_candidate(
        &self,
        client: &zkc::Client,
    ) -> Result<Option<(String, i32)>, ZkError> {
        let children = client
            .list_children(&self.path)
            .await
            .map_err(|e| ZkError::from_client("list_children", &self.path, e))?;
        for name in children
            .into_iter()
            .filter(|c| sequence::sequence_of(c, CANDIDATE_PREFIX).is_some())
        {
            let path = format!("{}/{}", self.path, name);
            match client.check_stat(&path).await {
                Ok(Some(stat)) if stat.ephemeral_owner == client.session_id().0 => {
                    return Ok(Some((name, stat.version)));
                }
                Ok(_) => {}
                Err(e) => return Err(ZkError::from_client("check_stat", &path, e)),
            }
        }
        Ok(None)
    }

    fn candidacy_error(&self, node: &str, e: zkc::Error) -> ZkError {
        match e {
            zkc::Error::SessionExpired => ZkError::NotLeader {
                node: node.to_owned(),
            },
            e => ZkError::from_client("campaign", &self.path, e),
        }
    }
}

/// A short pause before retrying after a connection loss (the client reconnects meanwhile).
async fn pause_before_retry() {
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
}

/// Deletes a candidate node that never became a [`Leadership`] (campaign dropped or failed).
struct Candidacy {
    client: zkc::Client,
    node: Option<String>,
}

impl Drop for Candidacy {
    fn drop(&mut self) {
        if let Some(node) = self.node.take() {
            // The client sends the request when the future is created; no need to poll it.
            drop(self.client.delete(&node, None));
        }
    }
}

/// How a leadership stands, as last observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// Connected, session alive, node present.
    Held,
    /// Disconnected from ZooKeeper: the session (and node) may still be alive, or may expire
    /// without us hearing. Do not act as leader until reconnected.
    Suspended,
    /// Session expired or closed, or the node is gone. Final.
    Lost,
}

/// Proof of having won an [`Election`], bound to the ZooKeeper session that won it.
///
/// Check [`Leadership::is_current`] before acting, [`Leadership::confirm`] before each batch of
/// Mesos calls, and pass it as the fence to [`crate::NodeStore::commit`]. Dropping it resigns
/// (deletes the node) so a standby takes over at once.
#[derive(Debug)]
pub struct Leadership {
    client: zkc::Client,
    node: String,
    version: i32,
    standing: watch::Receiver<Standing>,
    monitor: Arc<JoinHandle<()>>,
}

impl Leadership {
    fn start(client: zkc::Client, node: String, version: i32) -> Leadership {
        let (tx, standing) = watch::channel(Standing::Held);
        let monitor = tokio::spawn(monitor(client.clone(), node.clone(), tx));
        Leadership {
            client,
            node,
            version,
            standing,
            monitor: Arc::new(monitor),
        }
    }

    /// Cheap local check: `false` once the session expired or closed or the node is gone, and
    /// while disconnected from ZooKeeper. It can lag reality (a paused process has not yet
    /// heard); use [`Leadership::confirm`] where acting on a stale `true` would hurt.
    pub fn is_current(&self) -> bool {
        *self.standing.borrow() == Standing::Held
    }

    /// Proves with a ZooKeeper round trip that our session and leader node still exist.
    ///
    /// It is a one-check multi-transaction, so it goes through the ZooKeeper leader and is
    /// ordered with every write: if it succeeds, no other candidate could have been elected
    /// before it. Fails with [`ZkError::NotLeader`] after our session expired (e.g. a SIGSTOP
    /// longer than the session timeout) or our node was deleted, and with
    /// [`ZkError::ConnectionLoss`] when it cannot tell (do not act either way).
    pub async fn confirm(&self) -> Result<(), ZkError> {
        if *self.standing.borrow() == Standing::Lost {
            return Err(self.not_leader());
        }
        let mut writer = self.client.new_multi_writer();
        writer
            .add_check_version(&self.node, self.version)
            .map_err(|e| ZkError::from_client("confirm", &self.node, e))?;
        match writer.commit().await {
            Ok(_) => Ok(()),
            Err(
                zkc::MultiWriteError::OperationFailed { source, .. }
                | zkc::MultiWriteError::RequestFailed { source },
            ) => match source {
                zkc::Error::NoNode
                | zkc::Error::BadVersion
                | zkc::Error::SessionExpired
                | zkc::Error::ClientClosed => Err(self.not_leader()),
                other => Err(ZkError::from_client("confirm", &self.node, other)),
            },
        }
    }

    /// Runs `op` again after every [`ZkError::ConnectionLoss`], once the session has
    /// reconnected, so a ZooKeeper restart or a dropped connection does not depose a leader
    /// whose session survives it. Gives up with [`ZkError::NotLeader`] after the negotiated
    /// session timeout without a connection: by then the server may have expired the session
    /// and elected another candidate. Every other outcome is returned as is.
    pub async fn through_disconnections<T, F, Fut>(&self, mut op: F) -> Result<T, ZkError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ZkError>>,
    {
        let mut first_loss: Option<Instant> = None;
        loop {
            match op().await {
                Err(ZkError::ConnectionLoss { op, path }) => {
                    let since = *first_loss.get_or_insert_with(Instant::now);
                    let left = self
                        .client
                        .session_timeout()
                        .checked_sub(since.elapsed())
                        .filter(|left| !left.is_zero())
                        .ok_or_else(|| self.not_leader())?;
                    tracing::warn!(
                        op,
                        %path,
                        left_ms = left.as_millis() as u64,
                        "ZooKeeper connection lost; waiting for the session to reconnect"
                    );
                    // The standing may not have turned Suspended yet: pause before looking.
                    pause_before_retry().await;
                    let mut standing = self.standing.clone();
                    // Ends on reconnection, on loss or at the deadline; the next attempt says which.
                    let _ = tokio::time::timeout(
                        left,
                        standing.wait_for(|s| *s != Standing::Suspended),
                    )
                    .await;
                }
                other => return other,
            }
        }
    }

    /// Resolves once leadership is lost for good (session expired or closed, node gone). A mere
    /// disconnection does not resolve it; [`Leadership::is_current`] turns false meanwhile.
    pub async fn lost(&self) {
        let mut standing = self.standing.clone();
        // An Err means the monitor ended, which it only does after publishing Lost.
        let _ = standing.wait_for(|s| *s == Standing::Lost).await;
    }

    /// The leader node's full path, e.g. `/cartrack/svc/leader/leader_0000000004`.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The leader node's data version, for check operations (see [`crate::NodeStore::commit`]).
    pub fn node_version(&self) -> i32 {
        self.version
    }

    /// Gives leadership up now: deletes the node so a standby takes over without waiting for
    /// the session timeout.
    pub async fn resign(self) -> Result<(), ZkError> {
        match self.client.delete(&self.node, Some(self.version)).await {
            Ok(()) | Err(zkc::Error::NoNode) => Ok(()),
            Err(e) => Err(ZkError::from_client("resign", &self.node, e)),
        }
    }

    /// The session that won, for fenced transactions.
    pub(crate) fn client(&self) -> &zkc::Client {
        &self.client
    }

    fn not_leader(&self) -> ZkError {
        ZkError::NotLeader {
            node: self.node.clone(),
        }
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        self.monitor.abort();
        if *self.standing.borrow() != Standing::Lost {
            // Sent when created; best effort (a lost reply is covered by session expiry).
            drop(self.client.delete(&self.node, Some(self.version)));
        }
    }
}

/// Follows session state and the node's existence, publishing the standing until it is Lost.
async fn monitor(client: zkc::Client, node: String, standing: watch::Sender<Standing>) {
    let mut session = client.state_watcher();
    // Changes before the watcher was made are not reported by it.
    if client.state() != zkc::SessionState::SyncConnected {
        standing.send_replace(Standing::Suspended);
    }
    // Session changes are followed while the node check waits: a request in flight when the
    // connection drops may wait for the reconnection rather than fail.
    let node_gone = node_gone(&client, &node);
    tokio::pin!(node_gone);
    loop {
        tokio::select! {
            () = &mut node_gone => break,
            state = session.changed() => match state {
                // A read-only server is cut off from the quorum: no writes, no leading.
                zkc::SessionState::Disconnected | zkc::SessionState::ConnectedReadOnly => {
                    standing.send_replace(Standing::Suspended);
                }
                zkc::SessionState::SyncConnected => {
                    standing.send_replace(Standing::Held);
                }
                _ => break,
            },
        }
    }
    tracing::warn!(%node, "leadership lost");
    standing.send_replace(Standing::Lost);
}

/// Resolves once `node` is gone or the session that owns it has ended.
async fn node_gone(client: &zkc::Client, node: &str) {
    loop {
        match client.check_and_watch_stat(node).await {
            Ok((Some(_), watcher)) => {
                let event = watcher.changed().await;
                if event.event_type == zkc::EventType::NodeDeleted
                    || event.session_state.is_terminated()
                {
                    return;
                }
                // A data change, or a disconnection: look again.
            }
            Ok((None, _)) => return,
            Err(zkc::Error::ConnectionLoss | zkc::Error::Timeout) => pause_before_retry().await,
            Err(_) => return,
        }
    }
}
