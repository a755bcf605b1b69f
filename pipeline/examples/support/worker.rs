//! A pipeline process the benchmark examples start and own: killed when dropped, its stdout
//! announcement read, its CPU time taken from /proc.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context};

/// `cartrack-worker`: `$CARTRACK_WORKER`, else the one beside the examples' folder
/// (`target/release/cartrack-worker` for `target/release/examples/...`).
pub fn binary() -> anyhow::Result<PathBuf> {
    let binary = match std::env::var_os("CARTRACK_WORKER") {
        Some(path) => PathBuf::from(path),
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .context("no directory above the example")?
            .join("cartrack-worker"),
    };
    if !binary.is_file() {
        bail!("{} not found: build it (cargo build --release -p cartrack-pipeline --bins) or set CARTRACK_WORKER", binary.display());
    }
    Ok(binary)
}

/// A child process killed when dropped.
pub struct Worker {
    name: &'static str,
    child: Child,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Worker {
    pub fn start(binary: &Path, name: &'static str, args: &[&str]) -> anyhow::Result<Self> {
        let child = Command::new(binary)
            .args(args)
            .env("CARTRACK_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Self { name, child })
    }

    /// A consumer-group worker (`process`, `index`) on `kafka`, with quick group timeouts and
    /// `extra` arguments, once it announced its HTTP address; that address.
    pub fn start_in_group(
        binary: &Path,
        role: &'static str,
        kafka: &str,
        extra: &[&str],
    ) -> anyhow::Result<(Self, String)> {
        let groups = [
            "--kafka-option",
            "session.timeout.ms=6000",
            "--kafka-option",
            "heartbeat.interval.ms=500",
        ];
        let args = [
            &[role, "--kafka", kafka, "--http-port", "0"][..],
            extra,
            &groups,
        ]
        .concat();
        let mut worker = Self::start(binary, role, &args)?;
        let address = worker.announced("http:")?;
        Ok((worker, address))
    }

    /// The rest of the first stdout line starting with `prefix`.
    pub fn announced(&mut self, prefix: &str) -> anyhow::Result<String> {
        let stdout = self.child.stdout.take().context("stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        while let Some(line) = lines.next().transpose()? {
            if let Some(rest) = line.strip_prefix(prefix) {
                // Keep draining stdout so the child never blocks on it.
                std::thread::spawn(move || lines.for_each(drop));
                return Ok(rest.trim().to_owned());
            }
        }
        bail!("{} exited before printing {prefix}", self.name)
    }

    /// CPU seconds used so far (user + system), from /proc.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds_of(&self.child.id().to_string())
    }

    /// An error naming the process if it has exited.
    #[allow(dead_code)] // not every example checks on its workers while it runs
    pub fn assert_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited: {status}", self.name);
        }
        Ok(())
    }
}

/// CPU seconds process `pid` (or `self`) used so far (user + system), from /proc.
pub fn cpu_seconds_of(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime is the 12th, stime the
    // 13th, in clock ticks (100 per second on Linux).
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map_or(Vec::new(), |(_, rest)| rest.split(' ').collect());
    let ticks = |n: usize| {
        fields
            .get(n)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
