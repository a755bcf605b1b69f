//! Where the workspace's binaries are: found in the target directory or built once with
//! cargo, and the worker stand-in. A module of its own, without the scheduler's
//! `CARGO_BIN_EXE_*`, so other crates' tests can include it (`#[path]`) to launch the real
//! executor.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn target_profile_dir() -> PathBuf {
    // target/<profile>/deps/<test binary>
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf()
}

/// The real executor binary.
pub fn executor_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(path) = std::env::var("CARTRACK_EXECUTOR_BIN") {
            return PathBuf::from(path);
        }
        let dir = target_profile_dir();
        let bin = dir.join("cartrack-executor");
        if !bin.exists() {
            let target = dir.parent().expect("target dir");
            let release = dir.file_name().is_some_and(|n| n == "release");
            let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
            cmd.args([
                "build",
                "-p",
                "cartrack-executor",
                "--bin",
                "cartrack-executor",
            ])
            .env("CARGO_TARGET_DIR", target);
            if release {
                cmd.arg("--release");
            }
            let status = cmd.status().expect("running cargo build for the executor");
            assert!(status.success(), "cargo build -p cartrack-executor failed");
        }
        bin
    })
    .clone()
}

/// A worker stand-in: sleeps until killed, whatever its arguments.
pub fn fake_worker(dir: &Path) -> PathBuf {
    let path = dir.join("fake-worker.sh");
    std::fs::write(&path, "#!/bin/sh\nexec sleep 100000\n").expect("write worker");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    path
}

/// A binary of this workspace: `$var`, else `target/<profile>/<bin>` (which
/// `cargo build --workspace --bins` makes), else built once with `cargo build -p package`
/// into the same target directory.
pub fn workspace_bin(var: &str, package: &str, bin: &str) -> PathBuf {
    if let Ok(path) = std::env::var(var) {
        return PathBuf::from(path);
    }
    let dir = target_profile_dir();
    let path = dir.join(bin);
    if !path.exists() {
        let target = dir.parent().expect("target dir");
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.args(["build", "-p", package, "--bin", bin])
            .env("CARGO_TARGET_DIR", target);
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("running cargo build");
        assert!(
            status.success(),
            "cargo build -p {package} --bin {bin} failed"
        );
    }
    path
}
