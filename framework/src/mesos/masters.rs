//! Finding the leading master: from a fixed `--master` list (the leader is found by
//! following 307s), or from ZooKeeper (`--master zk://host:port/mesos`), where every Mesos
//! master registers a `json.info_*` node and the lowest one leads.

use std::time::Duration;

use cartrack_zookeeper::{MasterAddress, MasterDetector, ZkError, ZkUrl};
use tokio::sync::watch;

/// Why `--master` is unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MasterListError {
    /// An entry is not `http[s]://host:port`; fix the flag.
    #[error("--master entry {0:?} is not http://host:port or https://host:port (comma separated list allowed) or zk://host:port[,host:port]/path")]
    BadEntry(String),
    /// A `zk://` URL is malformed.
    #[error("--master {url:?}: {reason}")]
    BadZooKeeperUrl {
        /// The flag's value.
        url: String,
        /// What is wrong and how to write it.
        reason: String,
    },
}

/// Where the masters are, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterSource {
    /// `http[s]://host:port` entries, tried in turn.
    List(Vec<String>),
    /// Mesos' ZooKeeper group, e.g. `zk://zk-1:2181,zk-2:2181/mesos`.
    ZooKeeper(ZkUrl),
}

/// Parses `--master`: a `zk://` URL, or a comma list of `http://host:port` or
/// `https://host:port` (trailing `/` ignored).
pub fn parse_masters(text: &str) -> Result<MasterSource, MasterListError> {
    let text = text.trim();
    if text.starts_with("zk://") {
        return ZkUrl::parse(text)
            .map(MasterSource::ZooKeeper)
            .map_err(|e| MasterListError::BadZooKeeperUrl {
                url: text.to_string(),
                reason: e.to_string(),
            });
    }
    let mut masters = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let base = entry.trim_end_matches('/');
        let ok = base
            .strip_prefix("http://")
            .or_else(|| base.strip_prefix("https://"))
            .is_some_and(|hp| !hp.is_empty() && !hp.contains('/'));
        if !ok {
            return Err(MasterListError::BadEntry(entry.to_string()));
        }
        masters.push(base.to_string());
    }
    if masters.is_empty() {
        return Err(MasterListError::BadEntry(text.to_string()));
    }
    Ok(MasterSource::List(masters))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_master_lists_and_zookeeper_urls() {
        assert_eq!(
            parse_masters("http://a:5050, http://b:5050/").expect("ok"),
            MasterSource::List(vec!["http://a:5050".into(), "http://b:5050".into()])
        );
        assert!(parse_masters("a:5050").is_err());
        assert_eq!(
            parse_masters("https://leader.mesos:5050").expect("https"),
            MasterSource::List(vec!["https://leader.mesos:5050".into()])
        );
        assert!(parse_masters("ftp://a:5050").is_err());
        assert!(parse_masters("http://a:5050/path").is_err());
        assert!(parse_masters("").is_err());
        match parse_masters("zk://z1:2181,z2:2181/mesos").expect("zk url") {
            MasterSource::ZooKeeper(url) => assert_eq!(url.path(), "/mesos"),
            other => panic!("expected ZooKeeper, got {other:?}"),
        }
        let err = parse_masters("zk://").expect_err("no hosts");
        assert!(err.to_string().contains("zk://"), "{err}");
    }
}
