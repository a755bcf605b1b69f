//! `cartrack-devcluster`: runs a local Mesos-compatible development cluster until SIGTERM or
//! Ctrl-C, then stops every executor it started.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use cartrack_devcluster::resources::Resources;
use cartrack_devcluster::{ClusterConfig, DevCluster};
use cartrack_runtime::signals::Shutdown;
use cartrack_runtime::tracing::Filter;
use clap::Parser;

/// Most agents one dev cluster runs: every agent is a listener on this one host and takes an
/// equal share of the port ranges (the default 2,000 ports leave 20 per agent at 100). 0
/// agents could never offer anything. Both are usage errors (exit 2), not a cluster that
/// starts and never runs a pod or exhausts the host.
const MAX_AGENTS: i64 = 100;

/// Longest accepted duration flag, one day: far beyond any useful dev-cluster timeout, and far
/// below the values (about 9e18 s) where adding the duration to the clock would overflow and
/// panic mid-run.
const MAX_SECONDS: f64 = 86_400.0;

/// A development stand-in for a Mesos 1.12 master and agents — not Mesos.
#[derive(Debug, Parser)]
#[command(name = "cartrack-devcluster", version, about)]
struct Args {
    /// Number of agents (1 to 100).
    #[arg(
        long,
        default_value_t = 3,
        env = "DEVCLUSTER_AGENTS",
        value_parser = clap::value_parser!(u16).range(1..=MAX_AGENTS)
    )]
    agents: u16,
    /// Each agent's resources.
    #[arg(
        long,
        default_value = "cpus:4;mem:8192;disk:20000;ports:[31000-32999]",
        env = "DEVCLUSTER_RESOURCES"
    )]
    resources: String,
    /// Port of the leading master (0 = any free port).
    #[arg(long, default_value_t = 5050, env = "DEVCLUSTER_PORT")]
    port: u16,
    /// Other tenants' load per agent: shown in /state, withheld from offers.
    #[arg(long, env = "DEVCLUSTER_TENANT_LOAD")]
    tenant_load: Option<String>,
    /// Attributes of agent N (repeat per agent in order), e.g. 'rack:r1;zone:a'.
    #[arg(long = "attributes")]
    attributes: Vec<String>,
    /// Folder for executor sandboxes (default: a fresh folder under the temp dir).
    #[arg(long, env = "DEVCLUSTER_WORK_DIR")]
    work_dir: Option<PathBuf>,
    /// Heartbeat interval in seconds.
    #[arg(long, default_value_t = 15.0, env = "DEVCLUSTER_HEARTBEAT_SECS")]
    heartbeat_secs: f64,
    /// First status update retry, seconds.
    #[arg(
        long,
        default_value_t = 10.0,
        env = "DEVCLUSTER_STATUS_UPDATE_RETRY_SECS"
    )]
    status_update_retry_secs: f64,
    /// Executor registration timeout, seconds.
    #[arg(
        long,
        default_value_t = 60.0,
        env = "DEVCLUSTER_EXECUTOR_REGISTRATION_TIMEOUT_SECS"
    )]
    executor_registration_timeout_secs: f64,
    /// Seconds before a killed or partitioned agent's tasks are LOST / UNREACHABLE.
    #[arg(
        long,
        default_value_t = 75.0,
        env = "DEVCLUSTER_AGENT_UNREACHABLE_TIMEOUT_SECS"
    )]
    agent_unreachable_timeout_secs: f64,
    /// Keep only this many recent entries in the event log (`GET /log`); 0 = all.
    #[arg(long, default_value_t = 100_000, env = "DEVCLUSTER_LOG_LIMIT")]
    log_limit: usize,
    /// Require HTTP Basic on scheduler calls, as 'principal:secret'.
    #[arg(long, env = "DEVCLUSTER_BASIC_AUTH")]
    basic_auth: Option<String>,
    /// Give agent N its own loopback address 127.0.0.(N+2) as hostname (tasks get it as HOST
    /// and CARTRACK_HTTP_HOST and must bind it), to test placement rules on `hostname`.
    #[arg(long, env = "DEVCLUSTER_DISTINCT_HOSTS")]
    distinct_hosts: bool,
}

/// Whether a duration flag may be 0: a zero heartbeat, status-update retry or registration
/// timeout would flood the scheduler every tick or kill every executor before it subscribes,
/// while a zero unreachable timeout is a useful "LOST at once".
#[derive(Clone, Copy)]
enum Zero {
    Allowed,
    Refused,
}

/// A duration flag within `0 (or above) ..= MAX_SECONDS`; NaN and infinities are refused too.
fn seconds(flag: &str, value: f64, zero: Zero) -> anyhow::Result<Duration> {
    let (in_range, allowed) = match zero {
        Zero::Allowed => ((0.0..=MAX_SECONDS).contains(&value), "from 0 to"),
        Zero::Refused => (value > 0.0 && value <= MAX_SECONDS, "above 0 and at most"),
    };
    if !in_range {
        anyhow::bail!("--{flag} must be {allowed} {MAX_SECONDS} seconds, got {value}");
    }
    Duration::try_from_secs_f64(value)
        .with_context(|| format!("--{flag} {value} is not a number of seconds"))
}

/// Validates flags into a config without touching the network or disk.
fn config(args: Args) -> anyhow::Result<ClusterConfig> {
    Resources::parse(&args.resources).context("--resources")?;
    if let Some(t) = &args.tenant_load {
        Resources::parse(t).context("--tenant-load")?;
    }
    let require_basic_auth = match args.basic_auth {
        Some(pair) => {
            let (p, s) = pair
                .split_once(':')
                .context("--basic-auth must be 'principal:secret'")?;
            Some((p.to_string(), s.to_string()))
        }
        None => None,
    };
    Ok(ClusterConfig {
        agents: usize::from(args.agents),
        agent_resources: args.resources,
        agent_attributes: args.attributes,
        tenant_load: args.tenant_load,
        master_port: args.port,
        work_dir: args.work_dir.unwrap_or_else(|| {
            std::env::temp_dir().join(format!("cartrack-devcluster-{}", std::process::id()))
        }),
        heartbeat_interval: seconds("heartbeat-secs", args.heartbeat_secs, Zero::Refused)?,
        status_update_retry: seconds(
            "status-update-retry-secs",
            args.status_update_retry_secs,
            Zero::Refused,
        )?,
        executor_registration_timeout: seconds(
            "executor-registration-timeout-secs",
            args.executor_registration_timeout_secs,
            Zero::Refused,
        )?,
        agent_unreachable_timeout: seconds(
            "agent-unreachable-timeout-secs",
            args.agent_unreachable_timeout_secs,
            Zero::Allowed,
        )?,
        require_basic_auth,
        log_limit: args.log_limit,
        distinct_hosts: args.distinct_hosts,
    })
}

async fn run() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let config = match config(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cartrack-devcluster: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    // Handlers first: whoever reads the "master:" line may signal us at once.
    let mut shutdown = Shutdown::listen().context("installing the SIGTERM and SIGINT handlers")?;
    let cluster = DevCluster::start(config)
        .await
        .context("starting the dev cluster")?;
    // Whoever started us may stop reading after the "master:" line: a closed stdout is not an
    // error (like ripgrep, a broken pipe is fine), the cluster keeps serving.
    let mut banner = format!(
        "master: {}\nstandby: {}\n",
        cluster.master_url(),
        cluster.standby_master_url()
    );
    for id in cluster.agent_ids() {
        let endpoint = cluster.agent_endpoint(&id).unwrap_or_default();
        banner.push_str(&format!("agent: {id} {endpoint}\n"));
    }
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
    }
    let signal = shutdown.recv().await;
    tracing::info!(%signal, "stopping: killing executors");
    cluster.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

#[tokio::main]
async fn main() -> ExitCode {
    cartrack_runtime::tracing::init(Filter::FromEnv { default: "info" });
    match run().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cartrack-devcluster: {e:#}");
            ExitCode::FAILURE
        }
    }
}
