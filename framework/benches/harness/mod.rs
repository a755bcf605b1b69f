//! What this crate's benches that are not criterion's (`scale`, `slow_master`, `failover`,
//! `multiplexing`) do around their measurement: read their options from the command line, run
//! on a tokio runtime, exit with a status that says how it went. Each includes it as
//! `mod harness;` (a folder, so cargo does not take it for a bench of its own).

use std::future::Future;
use std::process::ExitCode;

/// The command line after the program name: what follows `cargo bench ... --`, plus the
/// `--bench` cargo adds, which a bench's option loop passes over like any flag it does not
/// know.
pub struct Args(std::iter::Skip<std::env::Args>);

impl Args {
    /// The argument after `flag`; `expected` names what belongs there, for the error.
    pub fn value_of(&mut self, flag: &str, expected: &str) -> Result<String, String> {
        self.0.next().ok_or(format!("{flag} needs {expected}"))
    }

    /// The positive number after `flag`.
    pub fn positive_of(&mut self, flag: &str) -> Result<usize, String> {
        let text = self.value_of(flag, "a number")?;
        positive(&text, flag)
    }
}

impl Iterator for Args {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        self.0.next()
    }
}

/// `text` as a positive number; `what` names where it came from, for the error.
pub fn positive(text: &str, what: &str) -> Result<usize, String> {
    text.parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(format!("{what} {text}: expected a positive number"))
}

/// Runs bench `name`: its options from `options`, then `bench` on a multi-thread runtime of
/// two workers. Errors are printed after the bench's name; the exit status is 2 for bad
/// options, 1 when the runtime cannot start or the bench fails, 0 otherwise.
pub fn main<O, F>(
    name: &str,
    options: impl FnOnce(&mut Args) -> Result<O, String>,
    bench: impl FnOnce(O) -> F,
) -> ExitCode
where
    F: Future<Output = Result<(), String>>,
{
    let opts = match options(&mut Args(std::env::args().skip(1))) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{name} bench: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{name} bench: no tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(bench(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name} bench: {e}");
            ExitCode::FAILURE
        }
    }
}
