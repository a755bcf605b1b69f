//! The `cartrack-executor` binary: started by a Mesos agent as a CUSTOM executor.

use std::process::ExitCode;

use anyhow::Context;
use cartrack_executor::config::{Config, Flags};
use cartrack_executor::driver::{self, Outcome};
use cartrack_executor::process::{self, Guard};
use cartrack_runtime::tracing::Filter;
use clap::Parser;

fn main() -> ExitCode {
    cartrack_runtime::tracing::init(Filter::FromEnv { default: "info" });
    match run() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("cartrack-executor: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    if std::env::var_os(process::GUARD_ENV).is_some() {
        process::run_guard(std::io::stdin().lock());
        return Ok(ExitCode::SUCCESS);
    }
    // Bad usage exits with code 2 and clap's message.
    let flags = Flags::parse();
    let config = match Config::from_lookup(|name| flags.lookup(name)) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("cartrack-executor: {error}");
            return Ok(ExitCode::from(2));
        }
    };
    // A current-thread runtime on the main thread: PR_SET_PDEATHSIG fires when the forking
    // thread exits, so children must be forked by a thread that lives as long as we do.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let executable = std::env::current_exe().context("cannot find the executor's own binary")?;
    let guard = Guard::start(&executable)
        .with_context(|| format!("cannot start the guard helper {}", executable.display()))?;
    match runtime.block_on(driver::run(config, Some(guard))) {
        Outcome::Shutdown => Ok(ExitCode::SUCCESS),
        Outcome::AgentLost(reason) => {
            eprintln!("cartrack-executor: {reason}");
            Ok(ExitCode::FAILURE)
        }
    }
}
