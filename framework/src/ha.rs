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

/// One instance of the service in its election: it can look up who leads, and campaign.
#[derive(Debug, Clone)]
pub struct Candidate {
    zk: Zk,
    root: String,
    election: Election,
}

impl Candidate {
    /// Connects and joins the election of `service_name`'s instances. `api_url` is where this
    /// instance's API is reached; standbys send clients there while it leads.
    pub async fn connect(
        url: &ZkUrl,
        service_name: &str,
        api_url: &str,
        session_timeout: Duration,
    ) -> Result<Candidate, ZkError> {
        let zk: Zk = cartrack_zookeeper::connect(url, session_timeout).await?;
        if let Some(auth) = url.auth() {
            tracing::info!(
                user = auth.user(),
                "ZooKeeper nodes restricted to this identity"
            );
        }
        let root = service_root(url, service_name);
        let election = Election::new(
            zk.clone(),
            format!("{root}/leader"),
            format!("{service_name}@{api_url}"),
        );
        Ok(Candidate { zk, root, election })
    }

    /// Waits to be elected; returns the fenced store and the fence.
    pub async fn campaign(self) -> Result<(ZkStore, Fence), ZkError> {
        if let Some(leader) = self.leader().await {
            tracing::info!(%leader, "another instance leads: standing by");
        }
        let leadership = Arc::new(self.election.campaign().await?);
        tracing::info!(node = leadership.node(), "elected leader");
        let store = ZkStore::new(self.zk, format!("{}/state", self.root), leadership.clone());
        Ok((store, Fence::leader(leadership)))
    }
}

/// Where the leading instance's API is, for a standby to send clients there. Asked afresh for
/// every request: a standby must not send them to a leader that has just failed over.
pub trait LeaderLookup: Clone + Send + Sync + 'static {
    /// The leader's API base URL (`http://host:port`), or `None` while nobody leads.
    fn leader(&self) -> impl std::future::Future<Output = Option<String>> + Send;
}

impl LeaderLookup for Candidate {
    async fn leader(&self) -> Option<String> {
        match self.election.current_leader().await {
            Ok(leader) => leader.map(|id| leader_api(&id)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read who leads");
                None
            }
        }
    }
}

/// The API URL in a candidate id `<service name>@<api url>`; an id of an older instance,
/// `<service name>@host:port`, gets `http://`.
fn leader_api(candidate_id: &str) -> String {
    let api = candidate_id
        .split_once('@')
        .map_or(candidate_id, |(_, api)| api);
    if api.contains("://") {
        api.to_string()
    } else {
        format!("http://{api}")
    }
}

#[cfg(test)]
mod tests {
    use super::leader_api;

    #[test]
    fn the_leaders_api_is_read_from_its_candidate_id() {
        assert_eq!(
            leader_api("cartrack@http://10.0.0.5:31000"),
            "http://10.0.0.5:31000"
        );
        assert_eq!(
            leader_api("cartrack@127.0.0.1:8080"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            leader_api("svc@https://a.example/service/svc"),
            "https://a.example/service/svc"
        );
    }
}
