//! High availability with ZooKeeper (`--zk`): several scheduler instances campaign, one
//! leads; only the leader subscribes and writes. [`Fence`] is the leader's right to act,
//! checked with a ZooKeeper round trip before every batch of Mesos calls and before every
//! SUBSCRIBE (and every store commit carries the same check inside its transaction), so an
//! instance that was paused or partitioned past its session timeout wakes up unable to do
//! anything, and stops. A lost connection is waited out while the session may still live:
//! a ZooKeeper restart does not depose the leader.

use std::sync::Arc;
use std::time::Duration;

use cartrack_zookeeper::{Election, Leadership, Zk, ZkError, ZkUrl};

use crate::state::ZkStore;

/// The right to act on Mesos and the store. Without ZooKeeper it always holds.
#[derive(Debug, Clone, Default)]
pub struct Fence {
    leadership: Option<Arc<Leadership>>,
}

/// This instance may no longer act: another one leads.
#[derive(Debug, thiserror::Error)]
#[error("no longer the leading scheduler")]
pub struct Deposed {
    #[source]
    source: ZkError,
}

impl Fence {
    /// A fence that always holds (single instance, file store).
    pub fn none() -> Fence {
        Fence::default()
    }

    /// A fence on a won election.
    pub fn leader(leadership: Arc<Leadership>) -> Fence {
        Fence {
            leadership: Some(leadership),
        }
    }

    /// Proves leadership with a ZooKeeper round trip (a no-op without ZooKeeper), waiting
    /// out a lost connection for as long as the session may still be alive.
    pub async fn confirm(&self) -> Result<(), Deposed> {
        match &self.leadership {
            Some(l) => l
                .through_disconnections(|| l.confirm())
                .await
                .map_err(|source| Deposed { source }),
            None => Ok(()),
        }
    }

    /// Resolves when leadership is lost for good; never without ZooKeeper.
    pub async fn lost(&self) {
        match &self.leadership {
            Some(l) => l.lost().await,
            None => std::future::pending().await,
        }
    }
}

/// Where this service's records and election live: `<--zk path>/<service name>`.
pub fn service_root(zk: &ZkUrl, service_name: &str) -> String {
    format!("{}/{service_name}", zk.path().trim_end_matches('/'))
}

/// Connects, waits to be elected among the instances of `service_name`, and returns the
/// fenced store and the fence. `candidate` names this instance in logs (host:port).
pub async fn lead(
    url: &ZkUrl,
    service_name: &str,
    candidate: &str,
    session_timeout: Duration,
) -> Result<(ZkStore, Fence), ZkError> {
    let zk: Zk = cartrack_zookeeper::connect(url, session_timeout).await?;
    let root = service_root(url, service_name);
    let election = Election::new(zk.clone(), format!("{root}/leader"), candidate);
    if let Ok(Some(leader)) = election.current_leader().await {
        tracing::info!(%leader, "another instance leads: standing by");
    }
    let leadership = Arc::new(election.campaign().await?);
    tracing::info!(node = leadership.node(), "elected leader");
    let store = ZkStore::new(zk, format!("{root}/state"), leadership.clone());
    Ok((store, Fence::leader(leadership)))
}
