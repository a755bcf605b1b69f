//! Leading-master detection, as Mesos' own detector does it: masters register ephemeral
//! sequential `json.info_NNNNNNNNNN` nodes holding their `MasterInfo` as JSON under the
//! `--master zk://.../mesos` path; the lowest sequence number leads.

use std::time::Duration;

use cartrack_runtime::backoff::{Backoff, Schedule};
use serde::Deserialize;
use tokio::sync::watch;
use zookeeper_client as zkc;

use crate::{sequence, Zk, ZkError};

/// Name prefix of the nodes Mesos masters (>= 0.24) register under the master path.
pub const MASTER_INFO_PREFIX: &str = "json.info_";

/// Where to reach a Mesos master's HTTP API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterAddress {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// The master's port (5050 by default in Mesos).
    pub port: u16,
}

impl MasterAddress {
    /// `http://host:port`, the base the scheduler appends `/api/v1/scheduler` to.
    ///
    /// ```
    /// use cartrack_zookeeper::parse_master_info;
    /// let info = br#"{"address":{"ip":"10.0.0.5","port":5050},"pid":"master@10.0.0.5:5050"}"#;
    /// assert_eq!(parse_master_info(info)?.base_url(), "http://10.0.0.5:5050");
    /// # Ok::<(), cartrack_zookeeper::MasterInfoError>(())
    /// ```
    pub fn base_url(&self) -> String {
        if self.host.contains(':') {
            format!("http://[{}]:{}", self.host, self.port)
        } else {
            format!("http://{}:{}", self.host, self.port)
        }
    }
}

/// Why a `json.info_` node's content could not be turned into an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MasterInfoError {
    /// Not JSON, or not an object of the MasterInfo shape.
    #[error("master info is not MasterInfo JSON: {0}")]
    Json(String),
    /// No usable host in `address.hostname`, `address.ip`, `hostname` or `pid`.
    #[error("master info names no host (address.hostname, address.ip, hostname, pid all empty)")]
    NoHost,
    /// No port in 1..=65535 in `address.port`, `port` or `pid`.
    #[error("master info names no valid port (address.port, port, pid)")]
    NoPort,
}

/// The fields of Mesos' `MasterInfo` (mesos.proto) that locate the master, as its JSON
/// serialisation writes them. Unknown fields (id, version, domain, capabilities) are ignored.
#[derive(Debug, Deserialize)]
struct MasterInfoJson {
    #[serde(default)]
    address: Option<AddressJson>,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    port: Option<i64>,
    #[serde(default)]
    pid: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AddressJson {
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    ip: Option<String>,
    #[serde(default)]
    port: Option<i64>,
}

/// Reads a master's address from its `json.info_` node content.
///
/// Host: `address.hostname`, else `address.ip`, else `hostname`, else the host in `pid`
/// (`master@10.0.0.1:5050`). Port: `address.port`, else `port`, else the port in `pid`.
pub fn parse_master_info(json: &[u8]) -> Result<MasterAddress, MasterInfoError> {
    let info: MasterInfoJson =
        serde_json::from_slice(json).map_err(|e| MasterInfoError::Json(e.to_string()))?;
    let pid = info.pid.as_deref().and_then(parse_pid);
    let non_empty = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let address = info.address.as_ref();
    let host = address
        .and_then(|a| non_empty(&a.hostname).or_else(|| non_empty(&a.ip)))
        .or_else(|| non_empty(&info.hostname))
        .or_else(|| pid.as_ref().map(|(host, _)| host.clone()))
        .ok_or(MasterInfoError::NoHost)?;
    let valid_port = |p: Option<i64>| p.and_then(|p| u16::try_from(p).ok()).filter(|p| *p > 0);
    let port = valid_port(address.and_then(|a| a.port))
        .or_else(|| valid_port(info.port))
        .or_else(|| pid.as_ref().map(|(_, port)| *port))
        .ok_or(MasterInfoError::NoPort)?;
    Ok(MasterAddress { host, port })
}

/// `master@host:port` -> (host, port).
fn parse_pid(pid: &str) -> Option<(String, u16)> {
    let (_, address) = pid.split_once('@')?;
    let (host, port) = address.rsplit_once(':')?;
    let port = port.parse::<u16>().ok().filter(|p| *p > 0)?;
    (!host.is_empty()).then(|| (host.to_owned(), port))
}

/// Picks the leading master's node name among the children of the master path.
pub fn leading_master(children: &[String]) -> Option<&str> {
    sequence::lowest(children, MASTER_INFO_PREFIX)
}

/// Follows the leading Mesos master in ZooKeeper.
#[derive(Debug)]
pub struct MasterDetector;

impl MasterDetector {
    /// Starts following the masters registered under `path` (e.g. `/mesos`) on a tokio task.
    ///
    /// The receiver holds `None` while no master is registered (or its info is unreadable) and
    /// the leader's address otherwise; it changes on every leader change. The task reconnects
    /// after session loss and re-reads; it stops when every receiver is dropped.
    pub fn spawn(zk: Zk, path: impl Into<String>) -> watch::Receiver<Option<MasterAddress>> {
        let path: String = path.into();
        let path = path.strip_suffix('/').unwrap_or(&path).to_owned();
        let (tx, rx) = watch::channel(None);
        tokio::spawn(async move {
            let mut backoff = Backoff::new(RETRY);
            while !tx.is_closed() {
                match follow(&zk, &path, &tx, &mut backoff).await {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::warn!(%path, error = %e, "master detection interrupted; retrying");
                        tokio::select! {
                            () = tokio::time::sleep(backoff.next_delay()) => {}
                            () = tx.closed() => return,
                        }
                    }
                }
            }
        });
        rx
    }
}

/// Watches `path`'s children and publishes the leader until every receiver is gone.
async fn follow(
    zk: &Zk,
    path: &str,
    tx: &watch::Sender<Option<MasterAddress>>,
    backoff: &mut Backoff,
) -> Result<(), ZkError> {
    loop {
        // A fresh session after expiry; the same one otherwise.
        let client = zk.client().await?;
        let watcher = match client.list_and_watch_children(path).await {
            Ok((children, watcher)) => {
                let leader = match leading_master(&children) {
                    None => None,
                    Some(name) => match read_master(&client, &format!("{path}/{name}")).await? {
                        // The leader left between list and read: list again.
                        Read::Gone => continue,
                        Read::Address(address) => address,
                    },
                };
                publish(tx, leader);
                watcher
            }
            Err(zkc::Error::NoNode) => {
                // No master ever registered here: wait for the path to appear.
                publish(tx, None);
                match client.check_and_watch_stat(path).await {
                    Ok((Some(_), _)) => continue,
                    Ok((None, watcher)) => watcher,
                    Err(e) => return Err(ZkError::from_client("exists", path, e)),
                }
            }
            Err(e) => return Err(ZkError::from_client("list_children", path, e)),
        };
        backoff.reset();
        tokio::select! {
            _event = watcher.changed() => {}
            () = tx.closed() => return Ok(()),
        }
    }
}

enum Read {
    Gone,
    Address(Option<MasterAddress>),
}

async fn read_master(client: &zkc::Client, node: &str) -> Result<Read, ZkError> {
    match client.get_data(node).await {
        Ok((data, _)) => match parse_master_info(&data) {
            Ok(address) => Ok(Read::Address(Some(address))),
            Err(e) => {
                tracing::warn!(%node, error = %e, "leading master's info is unreadable; treating as no master");
                Ok(Read::Address(None))
            }
        },
        Err(zkc::Error::NoNode) => Ok(Read::Gone),
        Err(e) => Err(ZkError::from_client("get_data", node, e)),
    }
}

fn publish(tx: &watch::Sender<Option<MasterAddress>>, leader: Option<MasterAddress>) {
    tx.send_if_modified(|current| {
        if *current == leader {
            return false;
        }
        let name =
            |m: &Option<MasterAddress>| m.as_ref().map_or("none".into(), MasterAddress::base_url);
        tracing::info!(from = %name(current), to = %name(&leader), "leading Mesos master changed");
        *current = leader;
        true
    });
}

/// Retry pause after a failure: 100 ms doubling to 5 s, reset after a success. One detector
/// per scheduler talks to its ZooKeeper ensemble, so there is no crowd to spread with jitter.
const RETRY: Schedule = Schedule::doubling(Duration::from_millis(100), Duration::from_secs(5));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mesos_master_info_json() {
        // The shape a Mesos 1.x master writes (fields as in mesos.proto MasterInfo).
        let json = br#"{"address":{"hostname":"master-1.example","ip":"10.0.0.5","port":5050},
            "hostname":"master-1.example","id":"a1b2-c3","ip":84279306,
            "pid":"master@10.0.0.5:5050","port":5050,"version":"1.12.0"}"#;
        let address = parse_master_info(json).expect("valid");
        assert_eq!(
            address,
            MasterAddress {
                host: "master-1.example".into(),
                port: 5050
            }
        );
        assert_eq!(address.base_url(), "http://master-1.example:5050");
    }

    #[test]
    fn host_falls_back_address_ip_then_hostname_then_pid() {
        let ip_only = br#"{"address":{"ip":"10.0.0.5","port":5051},"pid":"master@10.9.9.9:1"}"#;
        assert_eq!(
            parse_master_info(ip_only).expect("valid").base_url(),
            "http://10.0.0.5:5051"
        );
        let hostname = br#"{"hostname":"m2","port":5052,"pid":"master@10.9.9.9:1"}"#;
        assert_eq!(
            parse_master_info(hostname).expect("valid").base_url(),
            "http://m2:5052"
        );
        let pid_only = br#"{"id":"x","pid":"master@10.0.0.7:5053"}"#;
        assert_eq!(
            parse_master_info(pid_only).expect("valid").base_url(),
            "http://10.0.0.7:5053"
        );
        let empty_strings =
            br#"{"address":{"hostname":"","ip":""},"hostname":"","pid":"master@h:5"}"#;
        assert_eq!(
            parse_master_info(empty_strings).expect("valid").base_url(),
            "http://h:5"
        );
    }

    #[test]
    fn ipv6_hosts_are_bracketed_in_urls() {
        let json = br#"{"address":{"ip":"fd00::1","port":5050}}"#;
        assert_eq!(
            parse_master_info(json).expect("valid").base_url(),
            "http://[fd00::1]:5050"
        );
    }

    #[test]
    fn rejects_info_without_host_or_port() {
        assert_eq!(
            parse_master_info(br#"{"id":"x"}"#),
            Err(MasterInfoError::NoHost)
        );
        assert_eq!(
            parse_master_info(br#"{"hostname":"m","port":0}"#),
            Err(MasterInfoError::NoPort)
        );
        assert_eq!(
            parse_master_info(br#"{"hostname":"m","port":70000}"#),
            Err(MasterInfoError::NoPort)
        );
        assert!(matches!(
            parse_master_info(b"\x08\x01protobuf"),
            Err(MasterInfoError::Json(_))
        ));
    }

    #[test]
    fn leader_is_lowest_json_info_node() {
        let children: Vec<String> = [
            "json.info_0000000011",
            "log_replicas",
            "json.info_0000000010",
            "info_0000000001",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(leading_master(&children), Some("json.info_0000000010"));
        assert_eq!(leading_master(&[]), None);
    }

    #[test]
    fn backoff_grows_and_resets() {
        let mut backoff = Backoff::new(RETRY);
        let first = backoff.next_delay();
        let second = backoff.next_delay();
        assert!(second > first);
        for _ in 0..20 {
            assert!(backoff.next_delay() <= Duration::from_secs(5));
        }
        backoff.reset();
        assert_eq!(backoff.next_delay(), first);
    }
}
