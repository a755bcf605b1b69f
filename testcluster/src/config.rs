//! What a real test cluster looks like. Every timeout is a few seconds, so that a test of
//! agent loss or master failover ends well inside the test runner's per-test limit.

use std::net::Ipv4Addr;
use std::time::Duration;

/// How to start a [`crate::RealMesos`]. `Default`: one master, one agent, no ZooKeeper.
#[derive(Debug, Clone)]
pub struct RealMesosConfig {
    /// Masters; more than one needs `zookeeper` (they elect a leader there).
    pub masters: usize,
    /// Agents, agent `i` on a loopback address of its own, 127.0.0.(i + 2), as its IP and
    /// hostname; at most 253.
    pub agents: usize,
    /// `127.0.0.1:PORT` of a ZooKeeper server: masters run with `--zk` and agents find the
    /// leader there.
    pub zookeeper: Option<String>,
    /// The ZooKeeper path of the masters' group.
    pub zookeeper_path: String,
    /// Every agent's resources without `ports`: each agent gets `ports_per_agent` ports of its
    /// own, so that a task binding every address (or 127.0.0.1) collides with no other agent's.
    pub agent_resources: String,
    /// Size of each agent's slice of the cluster's port block (1,000 ports from a base in
    /// 10000-29999).
    pub ports_per_agent: u16,
    /// When set, the masters require HTTP Basic from frameworks with this (principal, secret).
    pub basic_auth: Option<(String, String)>,
    /// `--agent_ping_timeout`; with `max_agent_ping_timeouts` how long a silent agent takes to
    /// become unreachable (Mesos: 15 s x 5).
    pub agent_ping_timeout: Duration,
    /// `--max_agent_ping_timeouts`.
    pub max_agent_ping_timeouts: u32,
    /// `--zk_session_timeout`: how long a dead leading master keeps the lead (Mesos: 10 s).
    pub zk_session_timeout: Duration,
    /// `--executor_reregistration_timeout`: how long a restarted agent waits for its
    /// recovered executors (Mesos: 2 s).
    pub executor_reregistration_timeout: Duration,
    /// Further `--flag=value` arguments of every master.
    pub master_flags: Vec<String>,
    /// Further `--flag=value` arguments of every agent.
    pub agent_flags: Vec<String>,
}

impl Default for RealMesosConfig {
    fn default() -> Self {
        RealMesosConfig {
            masters: 1,
            agents: 1,
            zookeeper: None,
            zookeeper_path: "/mesos".into(),
            agent_resources: "cpus:4;mem:8192;disk:20000".into(),
            ports_per_agent: 300,
            basic_auth: None,
            agent_ping_timeout: Duration::from_secs(1),
            max_agent_ping_timeouts: 3,
            zk_session_timeout: Duration::from_secs(2),
            executor_reregistration_timeout: Duration::from_secs(2),
            master_flags: Vec::new(),
            agent_flags: Vec::new(),
        }
    }
}

impl RealMesosConfig {
    /// `zk://127.0.0.1:PORT/path`, when the cluster uses ZooKeeper.
    pub fn zk_url(&self) -> Option<String> {
        self.zookeeper
            .as_ref()
            .map(|zk| format!("zk://{zk}{}", self.zookeeper_path))
    }
}

/// Most agents of a cluster: one loopback address each, 127.0.0.2 to 127.0.0.254.
pub(crate) const MAX_AGENTS: usize = 253;

/// The address agent `index` lives on: its own loopback address 127.0.0.(index + 2) as its
/// `--ip` and `--hostname`, so that placement rules on `hostname` see one host per agent
/// (`None` past [`MAX_AGENTS`]). The masters stay on 127.0.0.1.
pub(crate) fn agent_ip(index: usize) -> Option<Ipv4Addr> {
    if index >= MAX_AGENTS {
        return None;
    }
    let last = u8::try_from(index + 2).ok()?;
    Some(Ipv4Addr::new(127, 0, 0, last))
}

/// Mesos' duration syntax.
pub(crate) fn mesos_duration(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_i_lives_on_127_0_0_i_plus_2_up_to_127_0_0_254() {
        assert_eq!(agent_ip(0), Some(Ipv4Addr::new(127, 0, 0, 2)));
        assert_eq!(agent_ip(2), Some(Ipv4Addr::new(127, 0, 0, 4)));
        assert_eq!(
            agent_ip(MAX_AGENTS - 1),
            Some(Ipv4Addr::new(127, 0, 0, 254))
        );
        assert_eq!(agent_ip(MAX_AGENTS), None);
    }
}
