//! What a dev cluster looks like: agents, their resources, tenants' load, timeouts.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

/// How to build a [`crate::DevCluster`]. `Default` gives 3 agents with
/// `cpus:4;mem:8192;disk:20000;ports:[31000-32999]`, no tenant load and an ephemeral port.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Number of agents.
    pub agents: usize,
    /// Every agent's total resources, in the `--resources` syntax.
    pub agent_resources: String,
    /// Per agent (by index), attributes such as `rack:r1;zone:a`; missing entries mean none.
    pub agent_attributes: Vec<String>,
    /// Per agent, the load of other tenants: shown in `/state` as another framework's task and
    /// withheld from offers.
    pub tenant_load: Option<String>,
    /// The leading master's port; 0 picks an ephemeral one. The standby is always ephemeral.
    pub master_port: u16,
    /// Where executor sandboxes live.
    pub work_dir: PathBuf,
    /// `SUBSCRIBED.heartbeat_interval_seconds` and the HEARTBEAT period (Mesos: 15 s).
    pub heartbeat_interval: Duration,
    /// First retry of an unacknowledged status update; doubles up to 10 min (Mesos: 10 s).
    pub status_update_retry: Duration,
    /// How long a launched executor has to SUBSCRIBE before it is killed (Mesos: 1 min).
    /// Also how long a checkpointing executor has to re-subscribe after an agent restart.
    pub executor_registration_timeout: Duration,
    /// How long a killed or partitioned agent stays before its tasks become LOST (or
    /// UNREACHABLE for PARTITION_AWARE frameworks). Real Mesos: about 75 s.
    pub agent_unreachable_timeout: Duration,
    /// When set, scheduler calls need HTTP Basic with this (principal, secret), else 401.
    pub require_basic_auth: Option<(String, String)>,
    /// Keep only this many recent log entries (0 = all, the default). **Warning**: with a limit,
    /// `wait_for_log` cannot see entries that were dropped.
    pub log_limit: usize,
    /// Give agent `i` its own loopback address 127.0.0.(i + 2) as hostname and executor
    /// endpoint, and its executors `HOST` / `CARTRACK_HTTP_HOST` set to it, so placement rules
    /// on `hostname` can be tested. Off (the default): every agent is 127.0.0.1. At most 253
    /// agents (127.0.0.2 to 127.0.0.254).
    pub distinct_hosts: bool,
}

/// Most agents with [`ClusterConfig::distinct_hosts`]: 127.0.0.2 to 127.0.0.254.
pub(crate) const MAX_DISTINCT_HOSTS: usize = 253;

impl ClusterConfig {
    /// The address agent `index` lives on: its own with `distinct_hosts` (`None` past
    /// [`MAX_DISTINCT_HOSTS`]), else the shared 127.0.0.1.
    pub(crate) fn agent_host(&self, index: usize) -> Option<Ipv4Addr> {
        if !self.distinct_hosts {
            return Some(Ipv4Addr::LOCALHOST);
        }
        if index >= MAX_DISTINCT_HOSTS {
            return None;
        }
        let last = u8::try_from(index + 2).ok()?;
        Some(Ipv4Addr::new(127, 0, 0, last))
    }
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            agents: 3,
            agent_resources: "cpus:4;mem:8192;disk:20000;ports:[31000-32999]".to_string(),
            agent_attributes: Vec::new(),
            tenant_load: None,
            master_port: 0,
            work_dir: std::env::temp_dir().join("cartrack-devcluster"),
            heartbeat_interval: Duration::from_secs(15),
            status_update_retry: Duration::from_secs(10),
            executor_registration_timeout: Duration::from_secs(60),
            agent_unreachable_timeout: Duration::from_secs(75),
            require_basic_auth: None,
            log_limit: 0,
            distinct_hosts: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_share_127_0_0_1_unless_each_gets_its_own_address_from_127_0_0_2() {
        let shared = ClusterConfig::default();
        assert_eq!(shared.agent_host(0), Some(Ipv4Addr::LOCALHOST));
        assert_eq!(shared.agent_host(500), Some(Ipv4Addr::LOCALHOST));
        let distinct = ClusterConfig {
            distinct_hosts: true,
            ..ClusterConfig::default()
        };
        assert_eq!(distinct.agent_host(0), Some(Ipv4Addr::new(127, 0, 0, 2)));
        assert_eq!(distinct.agent_host(2), Some(Ipv4Addr::new(127, 0, 0, 4)));
        assert_eq!(
            distinct.agent_host(252),
            Some(Ipv4Addr::new(127, 0, 0, 254))
        );
        assert_eq!(distinct.agent_host(253), None);
    }
}
