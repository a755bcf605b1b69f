use std::process::ExitCode;

use cartrack_cli::{args::Args, commands, error::UsageError, flags::Flags, plugin_args};
use clap::Parser;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("cartrack: {err:#}");
            if err.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let args = Args::try_from(Flags::parse_from(plugin_args(std::env::args_os())))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(commands::run(args))
}
