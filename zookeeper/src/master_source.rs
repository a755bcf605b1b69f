//! The `--master` flag of the scheduler and of `cartrack local`: a comma list of
//! `http[s]://host:port`, or Mesos' ZooKeeper group (`zk://host:port[,host:port]/path`), where
//! [`crate::MasterDetector`] finds the leader.

use crate::ZkUrl;

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
