//! `cartrack local`: the whole product on one machine, with nothing installed. It runs the
//! sibling binaries from its own folder — the dev cluster (agents partly taken by declared
//! other-tenant load), the embedded Kafka-protocol broker, and the scheduler with the example
//! spec pointed at that broker — prints the URLs, and on Ctrl-C or SIGTERM stops everything.
//! The pipeline's pods (simulator-fed ingesters, processors, indexers) are launched by the
//! scheduler onto the dev cluster's agents, as they would be on Mesos.
//!
//! With `--master`, an existing Mesos takes the dev cluster's place: only the broker and the
//! scheduler run here, and stopping also tears the framework down (see [`master`]).

mod children;
mod master;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use cartrack_runtime::signals::Shutdown;
use tokio::process::Command;

use crate::error::UsageError;
use children::{locate, spawn_announced, spawn_logged, Sibling, SiblingError};
pub use master::ExistingMaster;

/// The spec `cartrack local` runs: the shipped example, with the broker's address added.
const EXAMPLE_SPEC: &str = include_str!("../../../examples/cartrack.toml");

/// How long a sibling may take to announce itself.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a sibling may take to stop after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// The scheduler's sibling name: with `--master`, the framework is torn down once it stopped.
const SCHEDULER: &str = "scheduler";

/// Settings of a local run, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalArgs {
    /// Where the scheduler's page and API listen.
    pub http: SocketAddr,
    /// Where the pods run.
    pub cluster: Cluster,
    /// What the agents fetch for the executor and the pods.
    pub binaries: Binaries,
    /// Folder for logs, state and sandboxes; a fresh temporary one when `None`.
    pub work_dir: Option<PathBuf>,
    /// The scheduler's `--map-tiles`; its own default when `None`.
    pub map_tiles: Option<String>,
}

/// The Mesos the scheduler runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cluster {
    /// A dev cluster started, and stopped, by `cartrack local`.
    Dev(DevCluster),
    /// An existing Mesos (`--master`); the framework is torn down on stop.
    Existing(ExistingMaster),
}

/// The dev cluster's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevCluster {
    /// The dev cluster's master port (0 = any free port).
    pub master_port: u16,
    /// Number of dev cluster agents.
    pub agents: u32,
    /// Resources per agent, dev cluster syntax.
    pub agent_resources: String,
    /// Other tenants' load per agent, dev cluster syntax.
    pub tenant_load: String,
}

/// The scheduler's `--executor-uri` and `--worker-uri`, or its `--release-uri`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binaries {
    /// One URI per binary; `None` is the binary beside `cartrack`.
    Separate {
        /// `--executor-uri`.
        executor: Option<String>,
        /// `--worker-uri`.
        worker: Option<String>,
    },
    /// `--release-uri`: a tarball with both.
    Release(String),
}

/// Runs everything until Ctrl-C or SIGTERM.
pub async fn run(args: LocalArgs) -> anyhow::Result<ExitCode> {
    let bin_dir = std::env::current_exe()
        .context("cannot find the cartrack binary's own folder")?
        .parent()
        .map(Path::to_path_buf)
        .context("the cartrack binary has no parent folder")?;
    let devcluster = match args.cluster {
        Cluster::Dev(_) => Some(locate(&bin_dir, "cartrack-devcluster")?),
        Cluster::Existing(_) => None,
    };
    check_ports_free(&args)?;
    let worker = locate(&bin_dir, "cartrack-worker")?;
    let scheduler = locate(&bin_dir, "cartrack-scheduler")?;
    if matches!(args.binaries, Binaries::Separate { executor: None, .. }) {
        locate(&bin_dir, "cartrack-executor")?;
    }

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

    let mut running: Vec<Sibling> = Vec::new();
    let mut framework_id = None;
    let outcome = start_all(
        &args,
        &bin_dir,
        &work_dir,
        devcluster.as_deref(),
        [&worker, &scheduler],
        &mut running,
        &mut framework_id,
    )
    .await;
    let mut code = match outcome {
        Ok(()) => wait_for_stop(&mut running).await,
        Err(err) => {
            eprintln!("cartrack local: {err:#}");
            ExitCode::from(crate::error::Ending::of(&err).code())
        }
    };
    // Stop in reverse: the scheduler first (it fails over, it does not tear down), then the
    // cluster (which stops its executors and so the pods), then the broker. On an existing
    // Mesos, the framework is torn down once its scheduler is gone, or the master would keep
    // the pods for the scheduler's return.
    while let Some(sibling) = running.pop() {
        let existing = match &args.cluster {
            Cluster::Existing(master) if sibling.name == SCHEDULER => Some(master),
            _ => None,
        };
        if existing.is_some() {
            // The id it has now, in case it got a new one; the one seen at start if it is gone.
            if let Some(id) = master::framework_id(args.http).await {
                framework_id = Some(id);
            }
        }
        eprintln!("cartrack local: stopping {}", sibling.name);
        sibling.stop(STOP_GRACE).await;
        if let (Some(master), Some(id)) = (existing, framework_id.as_deref()) {
            if let Err(err) = tear_down(master, id, &work_dir).await {
                eprintln!("cartrack local: {err:#}");
                code = ExitCode::FAILURE;
            }
        }
    }
    // Every sandbox holds copies of the binaries: say what the kept folder costs.
    eprintln!(
        "cartrack local: stopped; logs, state and sandboxes kept in {} ({}): `rm -rf {}` removes them",
        work_dir.display(),
        human_size(folder_size(&work_dir)),
        work_dir.display()
    );
    Ok(code)
}

/// Bytes of the files under `dir` (symbolic links not followed).
fn folder_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => folder_size(&entry.path()),
            Ok(kind) if kind.is_file() => entry.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// `412 MB`, `3.1 GB`, `12 KB`.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KB", "MB", "GB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit + 1 < UNITS.len() {
        size /= 1000.0;
        unit += 1;
    }
    if unit == 0 || size >= 10.0 {
        format!("{size:.0} {}", UNITS[unit])
    } else {
        format!("{size:.1} {}", UNITS[unit])
    }
}

/// Refuses ports another process holds before anything starts: otherwise another server
/// on `--http` answers our health check and `cartrack local` reports a run that is not its own.
fn check_ports_free(args: &LocalArgs) -> Result<(), UsageError> {
    let taken = |addr: SocketAddr| {
        matches!(
            std::net::TcpListener::bind(addr),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse
        )
    };
    if taken(args.http) {
        return Err(UsageError::new(format!(
            "--http {}: the address is in use (another cartrack local, or another server); stop it or pass --http 127.0.0.1:PORT",
            args.http
        )));
    }
    if let Cluster::Dev(dev) = &args.cluster {
        let master = SocketAddr::from(([127, 0, 0, 1], dev.master_port));
        if dev.master_port != 0 && taken(master) {
            return Err(UsageError::new(format!(
                "--master-port {}: the port is in use (another dev cluster or Mesos master?); stop it or pass --master-port 0 for any free port",
                dev.master_port
            )));
        }
    }
    Ok(())
}

/// The `CARTRACK_*` variables of this shell the scheduler inherits (it reads its settings
/// from them, as Marathon passes them): named in the banner, so none acts unnoticed.
fn inherited_settings() -> Vec<String> {
    const SET_HERE: [&str; 6] = [
        "CARTRACK_KAFKA",
        "CARTRACK_INGEST_AUTH",
        "CARTRACK_INGEST_KEYS",
        "CARTRACK_RELEASE_URI",
        "CARTRACK_EXECUTOR_URI",
        "CARTRACK_WORKER_URI",
    ];
    let mut names: Vec<String> = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| name.starts_with("CARTRACK_") && !SET_HERE.contains(&name.as_str()))
        .collect();
    names.sort();
    names
}

/// Tears framework `id` down on `master`, then forgets the scheduler's state: it names a
/// framework Mesos will not take back, so the next run with this work folder starts afresh.
async fn tear_down(master: &ExistingMaster, id: &str, work_dir: &Path) -> anyhow::Result<()> {
    eprintln!("cartrack local: tearing down framework {id}");
    let leader = master.teardown(id).await.with_context(|| {
        format!(
            "framework {id} is left on {} with its tasks: tear it down there (the master \
             operator API's TEARDOWN, or POST /master/teardown with frameworkId={id})",
            master.as_str()
        )
    })?;
    eprintln!("cartrack local: framework {id} torn down on {leader}");
    let state = work_dir.join("state");
    std::fs::remove_dir_all(&state)
        .and_then(|()| std::fs::create_dir_all(&state))
        .with_context(|| format!("cannot clear {}", state.display()))
}

async fn start_all(
    args: &LocalArgs,
    bin_dir: &Path,
    work_dir: &Path,
    devcluster: Option<&Path>,
    [worker, scheduler]: [&PathBuf; 2],
    running: &mut Vec<Sibling>,
    framework_id: &mut Option<String>,
) -> anyhow::Result<()> {
    let logs = work_dir.join("logs");
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

    let master = match (&args.cluster, devcluster) {
        (Cluster::Dev(dev), Some(devcluster)) => {
            let mut cluster = Command::new(devcluster);
            // The pods inherit the dev cluster's environment: a scheduler certificate set in
            // the user's shell must not turn the processors to HTTPS (the page reads them
            // over HTTP).
            cluster
                .env_remove("CARTRACK_TLS_CERT")
                .env_remove("CARTRACK_TLS_KEY")
                // Each agent on an address of its own, as on a cluster: pods of different
                // agents do not share one, and hostname placement rules mean something.
                .arg("--distinct-hosts")
                .arg("--agents")
                .arg(dev.agents.to_string())
                .arg("--resources")
                .arg(&dev.agent_resources)
                .arg("--tenant-load")
                .arg(&dev.tenant_load)
                .arg("--port")
                .arg(dev.master_port.to_string())
                .arg("--work-dir")
                .arg(work_dir.join("cluster"));
            let (sibling, master) = spawn_announced(
                "dev cluster",
                cluster,
                &logs.join("devcluster.log"),
                "master:",
                START_TIMEOUT,
            )
            .await
            .map_err(|err| {
                sibling_error(err.renaming_flags(&[
                    ("--resources", "--agent-resources"),
                    ("--port", "--master-port"),
                ]))
            })?;
            running.push(sibling);
            master
        }
        (Cluster::Existing(master), _) => master.as_str().to_string(),
        (Cluster::Dev(_), None) => anyhow::bail!("cartrack-devcluster was not located"),
    };

    let spec_path = work_dir.join("cartrack.toml");
    std::fs::write(&spec_path, EXAMPLE_SPEC)
        .with_context(|| format!("cannot write {}", spec_path.display()))?;
    let mut command = Command::new(scheduler);
    // The example spec gives every pod `${CARTRACK_KAFKA}` from the scheduler's environment,
    // and the ingesters `${CARTRACK_INGEST_AUTH}`: on one machine the intake is open (the
    // banner says so), as devices with keys are a cluster's concern.
    command
        .env("CARTRACK_KAFKA", &kafka)
        .env("CARTRACK_INGEST_AUTH", "none")
        .env_remove("CARTRACK_INGEST_KEYS")
        .arg("--master")
        .arg(&master)
        .arg("--spec")
        .arg(&spec_path)
        .arg("--state-dir")
        .arg(work_dir.join("state"))
        .arg("--http")
        .arg(args.http.to_string());
    binary_uris(&mut command, &args.binaries, bin_dir);
    if let Some(tiles) = &args.map_tiles {
        command.arg("--map-tiles").arg(tiles);
    }
    let (mut sibling, _) =
        spawn_logged(SCHEDULER, command, &logs.join("scheduler.log"), "").await?;
    // Its own exit (a bad flag, a port taken after all) is reported when it happens.
    let healthy = tokio::select! {
        healthy = wait_healthy(args.http, START_TIMEOUT) => healthy,
        _ = sibling.exited() => match sibling.exit_report().await {
            Some(exited) => Err(sibling_error(exited)),
            None => Err(anyhow::anyhow!("the scheduler stopped; see logs/scheduler.log")),
        },
    };
    running.push(sibling);
    healthy?;
    if let Cluster::Existing(_) = args.cluster {
        // A master it cannot reach is better said now than by pods that never come.
        *framework_id = Some(wait_subscribed(args.http, &master, START_TIMEOUT).await?);
    }

    let master_line = match &args.cluster {
        Cluster::Dev(_) => format!("  dev cluster master:    {master}"),
        Cluster::Existing(_) => format!("  mesos master:          {master}"),
    };
    let inherited = match inherited_settings() {
        names if names.is_empty() => String::new(),
        names => format!(
            "  from your environment: {} (the scheduler reads these)\n",
            names.join(", ")
        ),
    };
    let banner = format!(
        "cartrack is running on this machine:\n  page and operator API: http://{}/\n{master_line}\n  \
         kafka (in memory):     {kafka}\n  \
         device intake:         open, no device keys (--ingest-auth none)\n  \
         logs:                  {}\n{inherited}\
         Scale with `cartrack scale processor 3 --wait`. Press Ctrl-C to stop everything.\n",
        args.http,
        logs.display()
    );
    // A reader that went away (`cartrack local | head -1`) must not stop the pipeline.
    match crate::stdout::text(&banner) {
        Ok(()) | Err(crate::stdout::StdoutError::Closed) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A sibling's error for the user: a sibling that refused its arguments is bad usage (exit 2).
fn sibling_error(err: SiblingError) -> anyhow::Error {
    if err.is_usage() {
        UsageError::new(err.to_string()).into()
    } else {
        err.into()
    }
}

/// The scheduler's `--executor-uri` and `--worker-uri` (default: the binaries beside
/// `cartrack`) or `--release-uri`. The others' variables are removed from its environment,
/// which it inherits: the scheduler refuses a release together with separate binaries.
fn binary_uris(command: &mut Command, binaries: &Binaries, bin_dir: &Path) {
    match binaries {
        Binaries::Separate { executor, worker } => {
            let beside = |name: &str| bin_dir.join(name).to_string_lossy().into_owned();
            command
                .env_remove("CARTRACK_RELEASE_URI")
                .arg("--executor-uri")
                .arg(
                    executor
                        .clone()
                        .unwrap_or_else(|| beside("cartrack-executor")),
                )
                .arg("--worker-uri")
                .arg(worker.clone().unwrap_or_else(|| beside("cartrack-worker")));
        }
        Binaries::Release(uri) => {
            command
                .env_remove("CARTRACK_EXECUTOR_URI")
                .env_remove("CARTRACK_WORKER_URI")
                .arg("--release-uri")
                .arg(uri);
        }
    }
}

/// Polls the scheduler's `/v1/health` until it has subscribed; its framework id.
async fn wait_subscribed(
    http: SocketAddr,
    master: &str,
    timeout: Duration,
) -> anyhow::Result<String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(id) = master::subscribed_framework_id(http).await {
            return Ok(id);
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!(
                "the scheduler did not subscribe to {master} within {timeout:?}; see logs/scheduler.log"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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
    let mut shutdown = match Shutdown::listen() {
        Ok(shutdown) => shutdown,
        Err(err) => {
            eprintln!("cartrack local: cannot listen for SIGTERM and SIGINT: {err}");
            return ExitCode::FAILURE;
        }
    };
    let died = first_exit(running);
    tokio::select! {
        _ = shutdown.recv() => ExitCode::SUCCESS,
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
