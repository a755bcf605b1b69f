//! `cartrack-scheduler`: flags -> validated settings -> [`cartrack_framework::service::run`].

use std::process::ExitCode;

use anyhow::Context;
use cartrack_framework::api::standby;
use cartrack_framework::config::{self, Args, Settings};
use cartrack_framework::ha::{Candidate, Fence};
use cartrack_framework::service;
use cartrack_framework::state::FileStore;
use cartrack_runtime::signals::Shutdown;
use cartrack_runtime::task::AbortOnDrop;
use cartrack_runtime::tracing::Filter;
use clap::Parser;
use tokio::net::TcpListener;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cartrack-scheduler: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    #[cfg(feature = "failpoints")]
    let _failpoints = cartrack_framework::failpoint::setup();
    cartrack_runtime::tracing::init(Filter::Directives(&args.log_level));
    let spec_text = match std::fs::read_to_string(&args.spec) {
        Ok(text) => text,
        Err(e) => {
            eprintln!(
                "cartrack-scheduler: cannot read --spec {}: {e}",
                args.spec.display()
            );
            return Ok(ExitCode::from(2));
        }
    };
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.to_path_buf()));
    let settings = match config::resolve(
        &args,
        &spec_text,
        std::env::vars().collect::<Vec<_>>(),
        exe_dir.as_deref(),
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cartrack-scheduler: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    // Likely typos, yet not errors (the Universe package sets variables for groups a user's
    // spec may lack): `--check` prints them, as it runs for a person; a running scheduler logs
    // them. Not both, which would show each twice on the same terminal.
    for unknown in &settings.unknown_group_variables {
        if args.check {
            eprintln!("cartrack-scheduler: warning: {unknown}");
        } else {
            tracing::warn!(variable = %unknown.name, "{unknown}");
        }
    }
    if args.check {
        println!(
            "{}: OK ({} groups)",
            args.spec.display(),
            settings.spec.groups.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    runtime.block_on(run_service(settings))?;
    Ok(ExitCode::SUCCESS)
}

/// The file store alone, or ZooKeeper: wait to lead, then run fenced on the leadership.
async fn run_service(settings: Settings) -> anyhow::Result<()> {
    let mut shutdown = Shutdown::listen().context("listening for SIGTERM and SIGINT")?;
    let Some(zk) = settings.zk.clone() else {
        let store = FileStore::open(&settings.state_dir)
            .with_context(|| format!("opening --state-dir {}", settings.state_dir.display()))?;
        service::run(settings, store, Fence::none(), stopped(shutdown)).await?;
        return Ok(());
    };
    let candidate = Candidate::connect(
        &zk,
        &settings.framework.name,
        &settings.api_url,
        settings.zk_session_timeout,
    )
    .await
    .with_context(|| format!("joining the leader election in --zk {zk}"))?;
    // Until elected, the API address answers as a standby: health, and 307 to the leader.
    let listener = TcpListener::bind(settings.http)
        .await
        .with_context(|| format!("cannot listen on {}", settings.http))?;
    let standby = AbortOnDrop::spawn(standby::serve(
        listener,
        settings.tls.clone(),
        candidate.clone(),
    ));
    let (store, fence) = tokio::select! {
        won = candidate.campaign() => won.with_context(|| format!("leader election in --zk {zk}"))?,
        _ = shutdown.recv() => return Ok(()),
    };
    // The leader's API takes the address over.
    standby.stop().await;
    service::run(settings, store, fence, stopped(shutdown)).await?;
    Ok(())
}

/// SIGINT or SIGTERM: stop without tearing the framework down (tasks keep running).
async fn stopped(mut shutdown: Shutdown) {
    let signal = shutdown.recv().await;
    tracing::info!(%signal, "shutting down (framework stays registered; tasks keep running)");
}
