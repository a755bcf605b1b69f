//! Real masters and agents as child processes of the test, in one run folder per cluster.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::config::{agent_ip, mesos_duration, MAX_AGENTS};
use crate::sweep::{kill_all_under, processes_under};
use crate::{MesosHome, RealMesosConfig};

/// How long masters may take to elect a leader, and agents to register (the Mesos build here
/// is unoptimised: a master starts in about a second).
/// The daemons' and executors' `PATH`.
const CLEAN_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a real cluster could not be started or asked.
#[derive(Debug, thiserror::Error)]
pub enum RealMesosError {
    /// `CARTRACK_MESOS_HOME` is not set.
    #[error("real-Mesos suite: NOT RUN - set CARTRACK_MESOS_HOME=<unpacked Mesos> (test.sh unpacks the archive CARTRACK_MESOS_ARCHIVE names and sets it)")]
    NotConfigured,
    /// The folder has no Mesos daemons.
    #[error("CARTRACK_MESOS_HOME={root} is not an unpacked Mesos: {missing} is missing")]
    NotAnInstall {
        /// The folder named.
        root: PathBuf,
        /// The daemon not found.
        missing: PathBuf,
    },
    /// A file or process operation failed.
    #[error("real Mesos: {what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// More agents than there are loopback addresses for them.
    #[error("real Mesos: {agents} agents: at most {MAX_AGENTS} fit on 127.0.0.2 to 127.0.0.254")]
    TooManyAgents {
        /// The agents asked for.
        agents: usize,
    },
    /// A condition was not reached in time.
    #[error("real Mesos: {what} not reached after {waited:?}; logs in {logs}")]
    Timeout {
        /// The condition.
        what: String,
        /// How long we waited.
        waited: Duration,
        /// The folder with the daemons' logs.
        logs: PathBuf,
    },
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RealMesosError {
    let what = what.into();
    move |source| RealMesosError::Io { what, source }
}

/// The command-line flags of every master and agent of a cluster, for
/// [`RealMesos::start_with_flags`].
#[derive(Debug, Clone, Default)]
pub struct DaemonFlags {
    /// One flag list per master.
    pub masters: Vec<Vec<String>>,
    /// One flag list per agent.
    pub agents: Vec<Vec<String>>,
}

/// A master or an agent: how to start it, and the running process.
#[derive(Debug)]
struct Daemon {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    /// The address it listens on (`--ip`).
    ip: IpAddr,
    port: u16,
    work_dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Daemon {
    /// `IP:PORT`, as Mesos names it in flags and pids.
    fn address(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    fn url(&self) -> String {
        format!("http://{}", self.address())
    }

    /// Starts the process with a clean environment: Mesos reads every `MESOS_*`,
    /// `LIBPROCESS_*` and `GLOG_*` variable as a flag, and agents pass theirs to executors.
    fn spawn(&mut self, home: &MesosHome) -> Result<(), RealMesosError> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(io_error(format!("open {}", self.log.display())))?;
        let stderr = log.try_clone().map_err(io_error("dup log file"))?;
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .env_clear()
            .env("PATH", CLEAN_PATH)
            .env(
                "HOME",
                std::env::var_os("HOME").unwrap_or_else(|| "/root".into()),
            )
            .env("LD_LIBRARY_PATH", home.lib())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr);
        let child = cartrack_zookeeper::testkit::spawn_supervised(command)
            .map_err(io_error(format!("start {}", self.name)))?;
        self.child = Some(child);
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

/// A real Mesos cluster on loopback: masters on 127.0.0.1, agent `i` on 127.0.0.(i + 2), as
/// child processes, everything they write under one run folder. Stopped on drop (see the
/// crate docs).
#[derive(Debug)]
pub struct RealMesos {
    home: MesosHome,
    config: RealMesosConfig,
    run_dir: PathBuf,
    masters: Vec<Daemon>,
    agents: Vec<Daemon>,
    agent_ids: Vec<String>,
    port_base: u16,
    client: reqwest::Client,
    stopped: bool,
}

impl RealMesos {
    /// Starts a cluster from the install `CARTRACK_MESOS_HOME` names and waits until a master
    /// leads and every agent is active.
    pub async fn start(config: RealMesosConfig) -> Result<RealMesos, RealMesosError> {
        RealMesos::start_from(MesosHome::from_env()?, config).await
    }

    /// [`RealMesos::start`] from a given install.
    pub async fn start_from(
        home: MesosHome,
        config: RealMesosConfig,
    ) -> Result<RealMesos, RealMesosError> {
        let mut cluster = RealMesos::prepare(home, config)?;
        cluster.masters = (0..cluster.config.masters)
            .map(|i| cluster.master_daemon(i))
            .collect::<Result<_, _>>()?;
        cluster.agents = (0..cluster.config.agents)
            .map(|i| cluster.agent_daemon(i))
            .collect::<Result<_, _>>()?;
        cluster.launch().await?;
        Ok(cluster)
    }

    /// Starts masters and agents with exactly the flags `flags` builds from the run folder
    /// (nothing of [`RealMesosConfig`] is added): how another deployment's settings are run
    /// natively. Every daemon's flags must hold `--port=N`.
    pub async fn start_with_flags(
        home: MesosHome,
        flags: impl FnOnce(&Path) -> DaemonFlags,
    ) -> Result<RealMesos, RealMesosError> {
        let mut cluster = RealMesos::prepare(home, RealMesosConfig::default())?;
        let DaemonFlags { masters, agents } = flags(&cluster.run_dir);
        let daemon = |kind: &str, i: usize, program: PathBuf, args: Vec<String>| Daemon {
            name: format!("{kind}-{i}"),
            program,
            ip: flag_value(&args, "ip")
                .and_then(|ip| ip.parse().ok())
                .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            port: flag_value(&args, "port")
                .and_then(|p| p.parse().ok())
                .unwrap_or(0),
            work_dir: flag_value(&args, "work_dir").map_or_else(PathBuf::new, PathBuf::from),
            log: cluster.run_dir.join("logs").join(format!("{kind}-{i}.log")),
            args,
            child: None,
        };
        let masters: Vec<Daemon> = masters
            .into_iter()
            .enumerate()
            .map(|(i, args)| daemon("master", i, cluster.home.master(), args))
            .collect();
        let agents: Vec<Daemon> = agents
            .into_iter()
            .enumerate()
            .map(|(i, args)| daemon("agent", i, cluster.home.agent(), args))
            .collect();
        cluster.masters = masters;
        cluster.agents = agents;
        cluster.launch().await?;
        Ok(cluster)
    }

    /// A cluster with its run folder and no daemons yet.
    fn prepare(home: MesosHome, config: RealMesosConfig) -> Result<RealMesos, RealMesosError> {
        let run_dir = new_run_dir()?;
        let logs = run_dir.join("logs");
        std::fs::create_dir_all(&logs).map_err(io_error("create the logs folder"))?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| RealMesosError::Io {
                what: "HTTP client".into(),
                source: std::io::Error::other(e),
            })?;
        Ok(RealMesos {
            masters: Vec::new(),
            agents: Vec::new(),
            agent_ids: Vec::new(),
            port_base: port_base(),
            home,
            config,
            run_dir,
            client,
            stopped: false,
        })
    }

    /// Starts the masters, waits for a leader, starts the agents and waits until all are
    /// active.
    async fn launch(&mut self) -> Result<(), RealMesosError> {
        for i in 0..self.masters.len() {
            self.masters[i].spawn(&self.home)?;
        }
        self.wait_for_leader(START_TIMEOUT).await?;
        for i in 0..self.agents.len() {
            self.agents[i].spawn(&self.home)?;
        }
        let n = self.agents.len();
        self.wait_agents_active(n, START_TIMEOUT).await?;
        self.agent_ids = self.registered_agent_ids().await?;
        Ok(())
    }

    fn master_daemon(&self, i: usize) -> Result<Daemon, RealMesosError> {
        let ip = Ipv4Addr::LOCALHOST;
        let port = free_port(ip)?;
        let work_dir = self.run_dir.join(format!("master-{i}"));
        let c = &self.config;
        let mut args = vec![
            format!("--ip={ip}"),
            format!("--port={port}"),
            format!("--hostname={ip}"),
            format!("--work_dir={}", work_dir.display()),
            "--registry=in_memory".into(),
            format!("--webui_dir={}", self.home.webui_dir().display()),
            format!(
                "--agent_ping_timeout={}",
                mesos_duration(c.agent_ping_timeout)
            ),
            format!("--max_agent_ping_timeouts={}", c.max_agent_ping_timeouts),
        ];
        if let Some(zk) = c.zk_url() {
            args.push(format!("--zk={zk}"));
            args.push("--quorum=1".into());
            args.push(format!(
                "--zk_session_timeout={}",
                mesos_duration(c.zk_session_timeout)
            ));
        }
        if let Some((principal, secret)) = &c.basic_auth {
            let file = self.run_dir.join("credentials.json");
            let body = serde_json::json!({
                "credentials": [{ "principal": principal, "secret": secret }]
            });
            std::fs::write(&file, body.to_string()).map_err(io_error("write credentials"))?;
            args.push("--authenticate_http_frameworks".into());
            args.push("--http_framework_authenticators=basic".into());
            args.push(format!("--credentials={}", file.display()));
        }
        args.extend(c.master_flags.iter().cloned());
        Ok(Daemon {
            name: format!("master-{i}"),
            program: self.home.master(),
            args,
            ip: IpAddr::V4(ip),
            port,
            log: self.run_dir.join("logs").join(format!("master-{i}.log")),
            work_dir,
            child: None,
        })
    }

    fn agent_daemon(&self, i: usize) -> Result<Daemon, RealMesosError> {
        let ip = agent_ip(i).ok_or(RealMesosError::TooManyAgents {
            agents: self.config.agents,
        })?;
        let port = free_port(ip)?;
        let c = &self.config;
        let work_dir = self.run_dir.join(format!("agent-{i}"));
        let master = match c.zk_url() {
            Some(zk) => zk,
            None => self
                .masters
                .first()
                .map_or_else(|| "127.0.0.1:0".to_string(), Daemon::address),
        };
        let first_port = u32::from(self.port_base)
            + u32::from(c.ports_per_agent) * u32::try_from(i).unwrap_or(0);
        let last_port = first_port + u32::from(c.ports_per_agent) - 1;
        let mut args = vec![
            format!("--master={master}"),
            format!("--ip={ip}"),
            format!("--port={port}"),
            format!("--hostname={ip}"),
            format!("--work_dir={}", work_dir.display()),
            format!(
                "--runtime_dir={}",
                self.run_dir.join(format!("agent-{i}-runtime")).display()
            ),
            format!(
                "--fetcher_cache_dir={}",
                self.run_dir
                    .join(format!("agent-{i}-fetch-cache"))
                    .display()
            ),
            "--launcher=posix".into(),
            "--isolation=posix/cpu,posix/mem".into(),
            "--containerizers=mesos".into(),
            format!("--launcher_dir={}", self.home.launcher_dir().display()),
            "--no-systemd_enable_support".into(),
            "--switch_user=false".into(),
            format!(
                "--executor_reregistration_timeout={}",
                mesos_duration(c.executor_reregistration_timeout)
            ),
            format!(
                "--resources={};ports:[{first_port}-{last_port}]",
                c.agent_resources
            ),
            // Mesos' own executors (the command executor) link libmesos, and the agent's
            // LD_LIBRARY_PATH does not reach them by itself.
            format!(
                "--executor_environment_variables={}",
                serde_json::json!({
                    "PATH": CLEAN_PATH,
                    "LD_LIBRARY_PATH": self.home.lib(),
                })
            ),
        ];
        args.extend(c.agent_flags.iter().cloned());
        Ok(Daemon {
            name: format!("agent-{i}"),
            program: self.home.agent(),
            args,
            ip: IpAddr::V4(ip),
            port,
            log: self.run_dir.join("logs").join(format!("agent-{i}.log")),
            work_dir,
            child: None,
        })
    }

    /// The run folder: daemons' work dirs, sandboxes, `logs/`.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// The install the cluster runs from.
    pub fn home(&self) -> &MesosHome {
        &self.home
    }

    /// The first master's `http://127.0.0.1:PORT` (the only one, in a one-master cluster).
    pub fn master_url(&self) -> String {
        self.master_url_of(0)
    }

    /// Master `i`'s `http://127.0.0.1:PORT`.
    pub fn master_url_of(&self, i: usize) -> String {
        self.masters.get(i).map(Daemon::url).unwrap_or_default()
    }

    /// Every master, comma separated, as `--master` takes a list.
    pub fn master_list(&self) -> String {
        let urls: Vec<String> = self.masters.iter().map(Daemon::url).collect();
        urls.join(",")
    }

    /// `zk://127.0.0.1:PORT/mesos` when the masters use ZooKeeper.
    pub fn zk_url(&self) -> Option<String> {
        self.config.zk_url()
    }

    /// The agents' ids, by agent index, as they first registered (a restarted agent that
    /// recovers keeps its id).
    pub fn agent_ids(&self) -> Vec<String> {
        self.agent_ids.clone()
    }

    /// `http://IP:PORT` of the agent with this id (agent `i`'s IP is 127.0.0.(i + 2)).
    pub fn agent_endpoint(&self, agent_id: &str) -> Option<String> {
        let i = self.agent_ids.iter().position(|id| id == agent_id)?;
        self.agents.get(i).map(Daemon::url)
    }

    /// Agent `i`'s work dir (its sandboxes are below it).
    pub fn agent_work_dir(&self, i: usize) -> Option<&Path> {
        self.agents.get(i).map(|a| a.work_dir.as_path())
    }

    /// Pids of the running masters and agents.
    pub fn daemon_pids(&self) -> Vec<u32> {
        self.masters
            .iter()
            .chain(&self.agents)
            .filter_map(|d| d.child.as_ref().map(Child::id))
            .collect()
    }

    /// The index of the leading master, if a live master leads: the one that answers its own
    /// `/master/state` (a master that does not lead redirects it).
    pub async fn leader(&mut self) -> Option<usize> {
        for i in 0..self.masters.len() {
            if !self.masters[i].running() {
                continue;
            }
            let url = format!("{}/master/state", self.masters[i].url());
            let Ok(response) = self.client.get(url).send().await else {
                continue;
            };
            if response.status() == 200 {
                let leads = response
                    .json::<Value>()
                    .await
                    .ok()
                    .is_some_and(|state| state["elected_time"].is_number());
                if leads {
                    return Some(i);
                }
            }
        }
        None
    }

    /// Waits until a live master leads; its index.
    pub async fn wait_for_leader(&mut self, timeout: Duration) -> Result<usize, RealMesosError> {
        let started = Instant::now();
        loop {
            if let Some(i) = self.leader().await {
                return Ok(i);
            }
            self.check_time(started, timeout, "a leading master")?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The leading master's `/master/state`.
    pub async fn state(&mut self) -> Result<Value, RealMesosError> {
        let leader = self.wait_for_leader(START_TIMEOUT).await?;
        let url = format!("{}/master/state", self.masters[leader].url());
        let response = self.client.get(url).send().await;
        match response {
            Ok(r) => r.json().await.map_err(|e| RealMesosError::Io {
                what: "read /master/state".into(),
                source: std::io::Error::other(e),
            }),
            Err(e) => Err(RealMesosError::Io {
                what: "GET /master/state".into(),
                source: std::io::Error::other(e),
            }),
        }
    }

    /// Waits until the leading master counts `n` active agents.
    pub async fn wait_agents_active(
        &mut self,
        n: usize,
        timeout: Duration,
    ) -> Result<Value, RealMesosError> {
        let started = Instant::now();
        loop {
            if let Ok(state) = self.state().await {
                if state["activated_slaves"].as_f64() == Some(n as f64) {
                    return Ok(state);
                }
            }
            self.check_time(started, timeout, &format!("{n} active agents"))?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn registered_agent_ids(&mut self) -> Result<Vec<String>, RealMesosError> {
        let state = self.state().await?;
        let slaves = state["slaves"].as_array().cloned().unwrap_or_default();
        Ok(self
            .agents
            .iter()
            .map(|agent| {
                let pid_suffix = format!("@{}", agent.address());
                slaves
                    .iter()
                    .find(|s| s["pid"].as_str().is_some_and(|p| p.ends_with(&pid_suffix)))
                    .and_then(|s| s["id"].as_str())
                    .unwrap_or_default()
                    .to_string()
            })
            .collect())
    }

    fn check_time(
        &self,
        started: Instant,
        timeout: Duration,
        what: &str,
    ) -> Result<(), RealMesosError> {
        if started.elapsed() < timeout {
            return Ok(());
        }
        Err(RealMesosError::Timeout {
            what: what.to_string(),
            waited: started.elapsed(),
            logs: self.run_dir.join("logs"),
        })
    }

    /// `kill -9` master `i`.
    pub fn kill_master(&mut self, i: usize) {
        if let Some(m) = self.masters.get_mut(i) {
            m.kill();
        }
    }

    /// Starts master `i` again on its port and work dir (its in-memory registry starts empty).
    pub fn start_master(&mut self, i: usize) -> Result<(), RealMesosError> {
        let home = self.home.clone();
        match self.masters.get_mut(i) {
            Some(m) => m.spawn(&home),
            None => Ok(()),
        }
    }

    /// `kill -9` agent `i` alone: its executors keep running, to be recovered by a restart on
    /// the same work and runtime dirs.
    pub fn kill_agent(&mut self, i: usize) {
        if let Some(a) = self.agents.get_mut(i) {
            a.kill();
        }
    }

    /// Stops agent `i` for good: the agent and every process under its work dir.
    pub fn stop_agent(&mut self, i: usize) -> Vec<u32> {
        let Some(agent) = self.agents.get_mut(i) else {
            return Vec::new();
        };
        agent.kill();
        kill_all_under(&agent.work_dir, Duration::from_secs(10))
    }

    /// Starts agent `i` again on its work and runtime dirs (checkpointed executors recover).
    pub fn start_agent(&mut self, i: usize) -> Result<(), RealMesosError> {
        let home = self.home.clone();
        match self.agents.get_mut(i) {
            Some(a) => a.spawn(&home),
            None => Ok(()),
        }
    }

    /// Stops everything: masters and agents by pid, then every process under the run folder.
    /// Returns the processes that survived (none, unless the kernel refused).
    pub fn stop(&mut self) -> Vec<u32> {
        self.stopped = true;
        for daemon in self.masters.iter_mut().chain(self.agents.iter_mut()) {
            daemon.kill();
        }
        kill_all_under(&self.run_dir, Duration::from_secs(10))
    }

    /// Processes still running under the run folder.
    pub fn processes(&self) -> Vec<u32> {
        processes_under(&self.run_dir)
    }
}

impl Drop for RealMesos {
    fn drop(&mut self) {
        let survivors = self.stop();
        if !survivors.is_empty() {
            eprintln!(
                "real Mesos: processes {survivors:?} survived under {}",
                self.run_dir.display()
            );
        }
        if std::thread::panicking() {
            // Marks the folder as kept on purpose, so the next cluster's sweep leaves it.
            let _ = std::fs::write(self.run_dir.join(KEPT_MARKER), "");
            eprintln!(
                "real Mesos: run folder kept for the failed test: {} (daemon logs in logs/, sandboxes under agent-*/)",
                self.run_dir.display()
            );
        } else if let Err(e) = std::fs::remove_dir_all(&self.run_dir) {
            eprintln!("real Mesos: cannot remove {}: {e}", self.run_dir.display());
        }
    }
}

/// The file that marks a run folder kept for a failed test.
const KEPT_MARKER: &str = "KEPT-FOR-A-FAILED-TEST";

/// A new run folder under `$TMPDIR/cartrack-real-mesos/`, named after this process; run
/// folders of test processes that are gone without a drop (killed by the runner's timeout)
/// are cleared first, processes and all, to keep CI's disk. Folders kept for a failed test
/// stay.
fn new_run_dir() -> Result<PathBuf, RealMesosError> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let parent = std::env::temp_dir().join("cartrack-real-mesos");
    std::fs::create_dir_all(&parent).map_err(io_error(format!("create {}", parent.display())))?;
    if let Ok(entries) = std::fs::read_dir(&parent) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let owner = name
                .to_str()
                .and_then(|n| n.strip_prefix("run-"))
                .and_then(|n| n.split('-').next())
                .and_then(|pid| pid.parse::<u32>().ok());
            let kept = entry.path().join(KEPT_MARKER).exists();
            if !kept && owner.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
                kill_all_under(&entry.path(), Duration::from_secs(10));
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = parent.join(format!(
        "run-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).map_err(io_error(format!("create {}", dir.display())))?;
    Ok(dir)
}

/// Where this cluster's agents' port ranges start: one of twenty 1,000-port blocks in
/// 10000-29999, below Linux's ephemeral range, so that clusters of tests run side by side by
/// hand rarely offer the same ports.
fn port_base() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let block = (std::process::id() ^ nanos) % 20;
    10_000 + u16::try_from(block).unwrap_or(0) * 1_000
}

/// The value of `--name=value` in `args`.
fn flag_value<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let prefix = format!("--{name}=");
    args.iter().find_map(|a| a.strip_prefix(&prefix))
}

/// A port that was free on `ip` a moment ago.
fn free_port(ip: Ipv4Addr) -> Result<u16, RealMesosError> {
    std::net::TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(io_error("find a free port"))
}
