//! Running `cartrack local` from a test: ports, polling with a deadline, and the processes it
//! started (to check that none is left).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

/// The sibling binaries `cartrack local` runs, beside `cartrack` in the build folder.
pub const SIBLINGS: [&str; 4] = [
    "cartrack-devcluster",
    "cartrack-worker",
    "cartrack-scheduler",
    "cartrack-executor",
];

/// The build folder `cartrack` and its siblings are in.
pub fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_cartrack"))
        .parent()
        .expect("binary has a folder")
        .to_path_buf()
}

/// Fails the test when a sibling binary is not built.
pub fn assert_siblings_built() {
    let dir = bin_dir();
    for sibling in SIBLINGS {
        assert!(
            dir.join(sibling).is_file(),
            "{sibling} is missing from {}: run `cargo build --workspace --bins` first (./test.sh does)",
            dir.display()
        );
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Polls `probe` until it yields a value or `timeout` passes.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    let deadline = started + timeout;
    loop {
        if let Some(value) = probe().await {
            eprintln!("{what}: {:.1} s", started.elapsed().as_secs_f64());
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A GET's JSON body, `None` on any failure.
pub async fn get(http: &reqwest::Client, url: &str) -> Option<Value> {
    http.get(url).send().await.ok()?.json().await.ok()
}

/// Every process whose parent chain leads to `root`.
pub fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The command name may hold spaces; fields after the last ')' are fixed.
        let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
            continue;
        };
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parent_of.push((pid, ppid));
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parent_of
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found
}

/// Whether `pid` runs (a zombie does not).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            !stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// The file name of `pid`'s program, e.g. `cartrack-scheduler`.
pub fn program(pid: u32) -> Option<String> {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    Some(exe.file_name()?.to_string_lossy().into_owned())
}

/// Sends SIGINT to `pid` alone, as `kill -INT` does.
pub fn interrupt(pid: u32) {
    let pid = i32::try_from(pid).expect("pid fits an i32");
    // SAFETY: kill(2) on our own child, not yet reaped.
    unsafe { libc::kill(pid, libc::SIGINT) };
}

/// Sends SIGINT to the process group `pid` leads, as a terminal's Ctrl-C does to its
/// foreground group (spawn the child with `process_group(0)`).
pub fn interrupt_group(pid: u32) {
    let pid = i32::try_from(pid).expect("pid fits an i32");
    // SAFETY: kill(2) on the group our own child leads, the child not yet reaped.
    unsafe { libc::kill(-pid, libc::SIGINT) };
}
