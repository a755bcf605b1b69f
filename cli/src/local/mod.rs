//! `cartrack local`: the whole product on one machine, with nothing installed. It runs the
//! sibling binaries from its own folder — the dev cluster (agents partly taken by declared
//! other-tenant load), the embedded Kafka-protocol broker, and the scheduler with the example
//! spec pointed at that broker — prints the URLs, and on Ctrl-C or SIGTERM stops everything.
//! The pipeline's pods (simulator-fed ingesters, processors, indexers) are launched by the
//! scheduler onto the dev cluster's agents, as they would be on Mesos.

mod children;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use tokio::process::Command;

use children::{locate, spawn_announced, spawn_logged, Sibling};

/// The spec `cartrack local` runs: the shipped example, with the broker's address added.
const EXAMPLE_SPEC: &str = include_str!("../../../examples/cartrack.toml");

/// How long a sibling may take to announce itself.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a sibling may take to stop after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Settings of a local run, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalArgs {
    /// Where the scheduler's page and API listen.
    pub http: SocketAddr,
    /// The dev cluster's master port (0 = any free port).
    pub master_port: u16,
    /// Number of dev cluster agents.
    pub agents: u32,
    /// Resources per agent, dev cluster syntax.
    pub agent_resources: String,
    /// Other tenants' load per agent, dev cluster syntax.
    pub tenant_load: String,
    /// Folder for logs, state and sandboxes; a fresh temporary one when `None`.
    pub work_dir: Option<PathBuf>,
}

/// Runs everything until Ctrl-C or SIGTERM.
pub async fn run(args: LocalArgs) -> anyhow::Result<ExitCode> {
    let bin_dir = std::env::current_exe()
        .context("cannot find the cartrack binary's own folder")?
        .parent()
        .map(Path::to_path_buf)
        .context("the cartrack binary has no parent folder")?;
    let devcluster = locate(&bin_dir, "cartrack-devcluster")?;
    let worker = locate(&bin_dir, "cartrack-worker")?;
    let scheduler = locate(&bin_dir, "cartrack-scheduler")?;
    locate(&bin_dir, "cartrack-executor")?;

    // A fresh folder is kept after the run: its logs and sandboxes are what explains a problem.
    let work_dir = match &args.work_dir {
        Some(dir) => dir.clone(),
        None => tempfile::Builder::new()
            .prefix("cartrack-local-")
            .tempdir()
            .context("cannot create a temporary work folder")?
            .keep(),
    };
    for sub in ["logs", "state", "cluster"] {
        std::fs::create_dir_all(work_dir.join(sub))
            .with_context(|| format!("cannot create {}", work_dir.join(sub).display()))?;
    }
    let logs = work_dir.join("logs");

    let mut running: Vec<Sibling> = Vec::new();
    let outcome = start_all(
        &args,
        &bin_dir,
        &work_dir,
        &logs,
        [&devcluster, &worker, &scheduler],
        &mut running,
    )
    .await;
    let code = match outcome {
        Ok(()) => wait_for_stop(&mut running).await,
        Err(err) => {
            eprintln!("cartrack local: {err:#}");
            ExitCode::FAILURE
        }
    };
    // Stop in reverse: the scheduler first (it fails over, it does not tear down), then the
    // cluster (which stops its executors and so the pods), then the broker.
    while let Some(sibling) = running.pop() {
        eprintln!("cartrack local: stopping {}", sibling.name);
        sibling.stop(STOP_GRACE).await;
    }
    eprintln!("cartrack local: stopped; logs in {}", logs.display());
    Ok(code)
}

async fn start_all(
    args: &LocalArgs,
    bin_dir: &Path,
    work_dir: &Path,
    logs: &Path,
    [devcluster, worker, scheduler]: [&PathBuf; 3],
    running: &mut Vec<Sibling>,
) -> anyhow::Result<()> {
    let mut broker = Command::new(worker);
    broker.arg("broker");
    let (sibling, kafka) = spawn_announced(
        "broker",
        broker,
        &logs.join("broker.log"),
        "kafka:",
        START_TIMEOUT,
    )
    .await?;
    running.push(sibling);

    let mut cluster = Command::new(devcluster);
    cluster
        .arg("--agents")
        .arg(args.agents.to_string())
        .arg("--resources")
        .arg(&args.agent_resources)
        .arg("--tenant-load")
        .arg(&args.tenant_load)
        .arg("--port")
        .arg(args.master_port.to_string())
        .arg("--work-dir")
        .arg(work_dir.join("cluster"));
    let (sibling, master) = spawn_announced(
        "dev cluster",
        cluster,
        &logs.join("devcluster.log"),
        "master:",
        START_TIMEOUT,
    )
    .await?;
    running.push(sibling);

    let spec_path = work_dir.join("cartrack.toml");
    std::fs::write(&spec_path, EXAMPLE_SPEC)
        .with_context(|| format!("cannot write {}", spec_path.display()))?;
    let mut command = Command::new(scheduler);
    // The example spec gives every pod `${CARTRACK_KAFKA}` from the scheduler's environment.
    command
        .env("CARTRACK_KAFKA", &kafka)
        .arg("--master")
        .arg(&master)
        .arg("--spec")
        .arg(&spec_path)
        .arg("--state-dir")
        .arg(work_dir.join("state"))
        .arg("--http")
        .arg(args.http.to_string())
        .arg("--executor-uri")
        .arg(bin_dir.join("cartrack-executor"))
        .arg("--worker-uri")
        .arg(bin_dir.join("cartrack-worker"));
    let (sibling, _) = spawn_logged("scheduler", command, &logs.join("scheduler.log"), "").await?;
    running.push(sibling);
    wait_healthy(args.http, START_TIMEOUT).await?;

    println!("cartrack is running on this machine:");
    println!("  page and operator API: http://{}/", args.http);
    println!("  dev cluster master:    {master}");
    println!("  kafka (in memory):     {kafka}");
    println!("  logs:                  {}", logs.display());
    println!("Scale with `cartrack scale processor 3 --wait`. Press Ctrl-C to stop everything.");
    Ok(())
}

/// Polls the scheduler's `/v1/health` until it answers 200 or `timeout` passes.
async fn wait_healthy(http: SocketAddr, timeout: Duration) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let url = format!("http://{http}/v1/health");
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match client.get(&url).send().await {
            Ok(response) if response.status().is_success() => return Ok(()),
            _ if tokio::time::Instant::now() >= deadline => {
                anyhow::bail!(
                    "the scheduler did not answer {url} within {timeout:?}; see logs/scheduler.log"
                )
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Waits for Ctrl-C, SIGTERM, or a sibling dying on its own.
async fn wait_for_stop(running: &mut [Sibling]) -> ExitCode {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(err) => {
                eprintln!("cartrack local: cannot listen for SIGTERM: {err}");
                return ExitCode::FAILURE;
            }
        };
    let died = first_exit(running);
    tokio::select! {
        _ = tokio::signal::ctrl_c() => ExitCode::SUCCESS,
        _ = terminate.recv() => ExitCode::SUCCESS,
        (name, status) = died => {
            eprintln!("cartrack local: {name} exited unexpectedly ({status}); stopping the rest");
            ExitCode::FAILURE
        }
    }
}

/// Resolves with the name and status of the first sibling to exit.
async fn first_exit(running: &mut [Sibling]) -> (String, String) {
    let waits = running.iter_mut().map(|s| {
        Box::pin(async move {
            let status = s.exited().await;
            (
                s.name.clone(),
                status.map_or_else(|e| e.to_string(), |s| s.to_string()),
            )
        })
    });
    let waits: Vec<_> = waits.collect();
    if waits.is_empty() {
        return std::future::pending().await;
    }
    let ((name, status), _, _) = futures::future::select_all(waits).await;
    (name, status)
}
