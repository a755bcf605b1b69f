//! Runs seeds and prints each outcome; a failing seed prints its trace.
//!
//! `cargo run -p cartrack-sim --example replay -- <seed> [<last seed>]`
//!
//! `CARTRACK_SIM_SETTLE_MS=N` shortens the time allowed to settle after faults, to see the
//! trace of a seed that settles slowly; `CARTRACK_SIM_TRACE_STEPS=N` keeps more steps (400).

use std::io::Write;
use std::process::ExitCode;

use cartrack_sim::{run, SimConfig};

fn main() -> ExitCode {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let Some(&first) = args.first() else {
        eprintln!("usage: replay <seed> [<last seed>]");
        return ExitCode::from(2);
    };
    let last = args.get(1).copied().unwrap_or(first);
    let defaults = SimConfig::default();
    let config = SimConfig {
        trace_steps: env("CARTRACK_SIM_TRACE_STEPS").unwrap_or(400),
        settle_ms: env("CARTRACK_SIM_SETTLE_MS").unwrap_or(defaults.settle_ms),
        ..defaults
    };
    let mut out = std::io::stdout().lock();
    let mut failed = 0;
    for seed in first..=last {
        let written = match run(seed, &config) {
            Ok(o) => writeln!(
                out,
                "seed {seed}: ok, {} steps, settled {} ms after faults, digest {:016x}",
                o.steps, o.settled_ms, o.digest
            ),
            Err(f) => {
                failed += 1;
                writeln!(out, "{f}")
            }
        };
        if written.is_err() {
            // The reader went away (`| head`): nothing more to say.
            return ExitCode::SUCCESS;
        }
    }
    if failed > 0 {
        let _ = writeln!(out, "{failed} of {} seeds failed", last - first + 1);
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}
