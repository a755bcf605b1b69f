//! Finding the leading master: from a fixed `--master` list (the leader is found by
//! following 307s), or from ZooKeeper (`--master zk://host:port/mesos`), where every Mesos
//! master registers a `json.info_*` node and the lowest one leads.

use std::time::Duration;

use cartrack_zookeeper::{MasterAddress, MasterDetector, MasterSource, ZkError};
use tokio::sync::watch;

/// The masters at run time: the list, or the ZooKeeper detector's latest answer.
#[derive(Debug, Clone)]
pub enum Masters {
    /// Tried in turn.
    List(Vec<String>),
    /// The leader ZooKeeper names, `None` while no master is registered.
    Detected(watch::Receiver<Option<MasterAddress>>),
}

impl Masters {
    /// Starts detection for a ZooKeeper source (connecting to that ensemble).
    pub async fn start(
        source: &MasterSource,
        session_timeout: Duration,
    ) -> Result<Masters, ZkError> {
        match source {
            MasterSource::List(list) => Ok(Masters::List(list.clone())),
            MasterSource::ZooKeeper(url) => {
                let zk = cartrack_zookeeper::connect(url, session_timeout).await?;
                Ok(Masters::Detected(MasterDetector::spawn(zk, url.path())))
            }
        }
    }

    /// How many masters one round of [`Masters::pick`] tries before a backoff: the whole list,
    /// or the one detected leader.
    pub fn round(&self) -> usize {
        match self {
            Masters::List(list) => list.len().max(1),
            Masters::Detected(_) => 1,
        }
    }

    /// The master to subscribe to on attempt `attempt` with no known leader: the next of the
    /// list, or the detected leader (waiting until one is registered).
    pub async fn pick(&mut self, attempt: usize) -> Option<String> {
        match self {
            Masters::List(list) => list.get(attempt % list.len().max(1)).cloned(),
            Masters::Detected(rx) => {
                if rx.borrow().is_none() {
                    tracing::info!("waiting for a leading master in ZooKeeper");
                }
                let leader = rx.wait_for(Option::is_some).await.ok()?;
                leader.as_ref().map(MasterAddress::base_url)
            }
        }
    }

    /// Resolves when detection names a different leader than at the last [`Masters::pick`]
    /// (never, for a fixed list): a reason to drop a pending backoff and subscribe at once.
    pub async fn leader_changed(&mut self) {
        match self {
            Masters::List(_) => std::future::pending().await,
            Masters::Detected(rx) => {
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        }
    }

    /// Masters worth asking for `/state` right now (the page's cluster view).
    pub fn known(&self) -> Vec<String> {
        match self {
            Masters::List(list) => list.clone(),
            Masters::Detected(rx) => rx.borrow().iter().map(MasterAddress::base_url).collect(),
        }
    }
}
