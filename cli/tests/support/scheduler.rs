//! The real dev cluster, scheduler and `cartrack` processes, from the build folder, for the
//! tests that run the CLI against a running scheduler.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use super::process::{alive, bin_dir, free_port, interrupt};

/// A child stopped with SIGINT when dropped (it stops what it started), killed if it has not
/// after 10 s.
pub struct Stopped(Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let Some(pid) = self.0.id() else { return };
        interrupt(pid);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline && self.0.try_wait().ok().flatten().is_none() {
            std::thread::sleep(Duration::from_millis(50));
        }
        if alive(pid) {
            let _ = self.0.start_kill();
        }
    }
}

/// `cartrack-devcluster` with 2 agents on addresses of their own and `extra` flags; its
/// master's URL.
pub async fn dev_cluster(work: &Path, extra: &[&str]) -> (Stopped, String) {
    let mut child = Command::new(bin_dir().join("cartrack-devcluster"))
        .args(["--distinct-hosts", "--agents", "2", "--port", "0"])
        .args(extra)
        .arg("--work-dir")
        .arg(work.join("cluster"))
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(work.join("devcluster.log")).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("cartrack-devcluster starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let master = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("master: ") {
                return url.to_string();
            }
        }
        panic!("the dev cluster ended without a master: line");
    })
    .await
    .expect("the dev cluster announces its master within 30 s");
    (Stopped(child), master)
}

/// `cartrack-scheduler` for `spec` on `master` with `extra` flags, its state and log in
/// `work`; its API's URL.
pub fn scheduler(work: &Path, master: &str, spec: &Path, extra: &[&str]) -> (Stopped, String) {
    let worker = work.join("worker.sh");
    std::fs::write(&worker, "#!/bin/sh\nexec sleep 600\n").unwrap();
    std::fs::set_permissions(&worker, std::fs::Permissions::from_mode(0o755)).unwrap();
    let http = format!("127.0.0.1:{}", free_port());
    let child = Command::new(bin_dir().join("cartrack-scheduler"))
        .env_remove("CARTRACK_RELEASE_URI")
        .env_remove("CARTRACK_API_TOKEN")
        .env_remove("CARTRACK_READ_TOKEN")
        .env_remove("CARTRACK_TLS_CERT")
        .env_remove("CARTRACK_TLS_KEY")
        .arg("--master")
        .arg(master)
        .arg("--spec")
        .arg(spec)
        .arg("--state-dir")
        .arg(work.join("state"))
        .arg("--http")
        .arg(&http)
        .arg("--executor-uri")
        .arg(bin_dir().join("cartrack-executor"))
        .arg("--worker-uri")
        .arg(&worker)
        // No basemap: the page's test loads nothing from outside.
        .arg("--map-tiles")
        .arg("")
        .args(extra)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(work.join("scheduler.log")).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("cartrack-scheduler starts");
    (Stopped(child), format!("http://{http}"))
}

/// The `cartrack` binary against `api`.
pub async fn cartrack(api: &str, args: &[&str]) -> Output {
    let run = Command::new(env!("CARGO_BIN_EXE_cartrack"))
        .env_remove("CARTRACK_API_TOKEN")
        .env_remove("DCOS_URL")
        .arg("--url")
        .arg(api)
        .args(args)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("cartrack finished within 60 s")
        .expect("cartrack ran")
}

/// Bytes as text, for messages.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The JSON `out` printed.
pub fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
}
