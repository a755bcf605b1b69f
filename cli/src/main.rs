use std::io::Write as _;
use std::process::ExitCode;

use cartrack_cli::error::Ending;
use cartrack_cli::{args::Args, commands, flags::Flags, plugin_args};

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(err) => {
            let ending = Ending::of(&err);
            if !matches!(ending, Ending::Quiet) {
                // Not eprintln!: with stderr closed too, there is no one left to tell.
                let _ = writeln!(std::io::stderr(), "cartrack: {err:#}");
            }
            ExitCode::from(ending.code())
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let flags = match Flags::parse_args(plugin_args(std::env::args_os())) {
        Ok(flags) => flags,
        // clap prints the help, the version or the error itself, and exits 0 or 2.
        Err(err) => err.exit(),
    };
    let args = Args::try_from(flags)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(commands::run(args))
}
