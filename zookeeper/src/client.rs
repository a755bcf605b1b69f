//! The session handle everything else in this crate is built on.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use zookeeper_client as zkc;

use crate::auth::acls_for;
use crate::{ZkError, ZkUrl};

/// A cheap-to-clone handle on one ZooKeeper session (clones share it).
///
/// When the session expires or is closed, the next operation through this handle opens a fresh
/// session transparently: stores and detectors keep working after a long pause. Leadership is the
/// exception: a [`crate::Leadership`] stays bound to the session that won it, so it is lost with
/// that session (see the crate docs on fencing).
#[derive(Clone, Debug)]
pub struct Zk {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    url: ZkUrl,
    session_timeout: Duration,
    client: Mutex<zkc::Client>,
}

/// Opens a session on `url`'s ensemble and makes sure `url.path()` exists (creating it and its
/// parents as persistent nodes).
///
/// `session_timeout` is negotiated with the server, which clamps it to [2, 20] x its tickTime; it
/// bounds how long a paused or partitioned holder keeps its ephemeral nodes (leadership).
/// Fails with [`ZkError::Unreachable`] when no session could be set up within about that time.
pub async fn connect(url: &ZkUrl, session_timeout: Duration) -> Result<Zk, ZkError> {
    let client = open_session(url, session_timeout).await?;
    let zk = Zk {
        inner: Arc::new(Inner {
            url: url.clone(),
            session_timeout,
            client: Mutex::new(client),
        }),
    };
    zk.ensure_path(url.path()).await?;
    Ok(zk)
}

async fn open_session(url: &ZkUrl, session_timeout: Duration) -> Result<zkc::Client, ZkError> {
    let mut connector = zkc::Client::connector().with_session_timeout(session_timeout);
    if let Some(auth) = url.auth() {
        // Sent again on every reconnection of the session.
        connector = connector.with_auth("digest", &auth.credentials());
    }
    connector
        .connect(&url.connect_string())
        .await
        .map_err(|source| ZkError::Unreachable {
            servers: url.connect_string(),
            source,
        })
}

impl Zk {
    /// The URL this handle was opened with.
    pub fn url(&self) -> &ZkUrl {
        &self.inner.url
    }

    /// The session timeout asked for (the server may have clamped it; see
    /// [`Zk::negotiated_session_timeout`]).
    pub fn session_timeout(&self) -> Duration {
        self.inner.session_timeout
    }

    /// The session timeout the server granted to the current session: how long after our last
    /// contact the server may drop our ephemeral nodes.
    pub async fn negotiated_session_timeout(&self) -> Result<Duration, ZkError> {
        Ok(self.client().await?.session_timeout())
    }

    /// Creates `path` and any missing parents as empty persistent nodes; existing nodes are left
    /// alone. Idempotent, not atomic (a crash can leave some parents created, which is harmless).
    pub async fn ensure_path(&self, path: &str) -> Result<(), ZkError> {
        let client = self.client().await?;
        client
            .mkdir(path, &self.create_options(zkc::CreateMode::Persistent))
            .await
            .map_err(|e| ZkError::from_client("ensure_path", path, e))
    }

    /// Options for the nodes this handle creates: open to anyone, or to its identity only
    /// when it authenticates (see [`crate::ZkAuth`]).
    pub(crate) fn create_options(&self, mode: zkc::CreateMode) -> zkc::CreateOptions<'static> {
        mode.with_acls(acls_for(self.inner.url.auth()))
    }

    /// The current session's client, opening a new session if the last one expired or closed.
    pub(crate) async fn client(&self) -> Result<zkc::Client, ZkError> {
        let mut current = self.inner.client.lock().await;
        if current.state().is_terminated() {
            tracing::info!(
                url = %self.inner.url,
                old_session = %current.session_id(),
                "ZooKeeper session ended; opening a new one"
            );
            *current = open_session(&self.inner.url, self.inner.session_timeout).await?;
        }
        Ok(current.clone())
    }

    /// The id of the current session (hex), for logs.
    pub async fn session_id(&self) -> Result<String, ZkError> {
        Ok(self.client().await?.session_id().to_string())
    }
}
