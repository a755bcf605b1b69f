//! `cartrack-tenant`: flags -> checked settings -> [`cartrack_tenant::run::run`]. Exit codes:
//! 0 done (torn down), 1 failed, 2 bad flags or curve file.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use cartrack_runtime::signals::Shutdown;
use cartrack_runtime::tracing::Filter;
use cartrack_tenant::config::{self, Args};
use cartrack_tenant::run::{self, Ended};
use clap::Parser;
use tokio::net::TcpListener;

fn main() -> ExitCode {
    match start() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cartrack-tenant: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn start() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    cartrack_runtime::tracing::init(Filter::FromEnv { default: "info" });
    let settings = match config::resolve(&args, std::env::var("USER").ok()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("cartrack-tenant: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    runtime.block_on(async {
        let shutdown = Shutdown::listen().context("listening for SIGTERM and SIGINT")?;
        let listener = match TcpListener::bind(settings.metrics_addr).await {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!(
                    "cartrack-tenant: cannot listen on --metrics-addr {}: {e}",
                    settings.metrics_addr
                );
                return Ok(ExitCode::from(2));
            }
        };
        let addr = listener.local_addr().context("the metrics address")?;
        // The one line on stdout: where to scrape, also when the port was chosen (port 0).
        let mut stdout = std::io::stdout();
        let _ = writeln!(stdout, "metrics: http://{addr}/metrics");
        let _ = stdout.flush();
        tracing::info!(%addr, "serving /metrics and /v1/health");
        match run::run(settings, listener, shutdown.requested()).await? {
            Ended::TornDown => Ok(ExitCode::SUCCESS),
            Ended::LeftToFailover => Ok(ExitCode::FAILURE),
        }
    })
}
