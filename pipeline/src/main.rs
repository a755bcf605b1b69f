//! `cartrack-worker`: the pipeline's processes. See the crate documentation and README.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use cartrack_runtime::signals::Shutdown;
use cartrack_runtime::tracing::Filter;
use clap::Parser;

use cartrack_pipeline::cli::{Cli, Settings, SinkSettings};
use cartrack_pipeline::commands::{broker, index, ingest, process};
use cartrack_pipeline::sinks::elasticsearch::ElasticsearchSink;
use cartrack_pipeline::sinks::ndjson::NdjsonSink;

fn main() -> ExitCode {
    cartrack_runtime::allocator::keep_large_blocks_in_the_heap();
    let cli = Cli::parse(); // Exits with code 2 on bad usage.
    cartrack_runtime::tracing::init(Filter::Directives(&cli.log));
    let settings = match cli.into_settings(&|name| std::env::var(name).ok()) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    match run(settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(settings: Settings) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let result = runtime.block_on(async {
        // Every subcommand finishes its batch and commits before exiting (Mesos sends SIGTERM).
        let shutdown = Shutdown::listen().context("listening for SIGTERM and SIGINT")?;
        let shutdown = shutdown.requested();
        match settings {
            Settings::Broker(settings) => broker::run(settings, shutdown).await.context("broker"),
            Settings::NewKey(request) => {
                let (key, entry) = request.issue(&mut rand::rng()).context("keys new")?;
                // The key to the terminal, the entry to stdout: `>> keys.toml` keeps no key.
                eprintln!(
                    "device key (shown only now; send it as `Authorization: Bearer <key>`):\n{key}"
                );
                print!("{entry}");
                Ok(())
            }
            Settings::Ingest(settings) => ingest::run(settings, shutdown).await.context("ingest"),
            Settings::Process(settings) => {
                process::run(settings, shutdown).await.context("process")
            }
            Settings::Index(settings, SinkSettings::Ndjson(dir)) => {
                let sink = NdjsonSink::new(&dir).context("index")?;
                index::run(settings, sink, shutdown).await.context("index")
            }
            Settings::Index(settings, SinkSettings::Elasticsearch(config)) => {
                let mut sink = ElasticsearchSink::new(config);
                sink.install_templates().await.context("index")?;
                index::run(settings, sink, shutdown).await.context("index")
            }
        }
    });
    // A replay thread may be sleeping until its next record; do not wait for it.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}
