//! Authentication to the master (issue #6 item 4): HTTP Basic against a dev cluster that
//! requires it (the real scheduler process), and the DC/OS service account login against a
//! fake IAM login endpoint that verifies the signed login token with the fixture's public key
//! and a fake master that checks `Authorization: token=...`.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cartrack_devcluster::{ClusterConfig, DevCluster};
use mesos_proto::v1::scheduler::call;
use support::*;

const T: Duration = Duration::from_secs(60);

const ONE_POD: &str = "[[groups]]\nname = \"ingester\"\ncount = 1\n[[groups.tasks]]\nname = \"main\"\ncommand = \"./cartrack-worker\"\ncpus = 0.1\nmem = 64\ndisk = 16\n";

/// The log line without terminal colour codes (`ESC [ ... m`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

async fn cluster_requiring_basic(dir: &Path) -> DevCluster {
    DevCluster::start(ClusterConfig {
        agents: 1,
        work_dir: dir.join("cluster"),
        heartbeat_interval: Duration::from_secs(1),
        status_update_retry: Duration::from_secs(1),
        require_basic_auth: Some(("cartrack".into(), "s3cret".into())),
        ..ClusterConfig::default()
    })
    .await
    .expect("dev cluster starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_401_without_credentials_then_subscribes_and_launches_with_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = cluster_requiring_basic(dir.path()).await;
    let spec = write_spec(dir.path(), ONE_POD);

    // Without credentials: 401, an error naming the flags, and a long wait before the next try.
    let anonymous_dir = dir.path().join("anonymous");
    std::fs::create_dir_all(&anonymous_dir).expect("dir");
    let anonymous = Scheduler::start(&anonymous_dir, &cluster.master_url(), &spec, &[]);
    let line = wait_until(T, "the 401 error in the scheduler's log", || async {
        anonymous
            .log()
            .lines()
            .find(|l| l.contains("401 Unauthorized"))
            .map(strip_ansi)
    })
    .await;
    assert!(line.contains("ERROR"), "{line}");
    assert!(
        line.contains("--principal") && line.contains("--secret-file"),
        "{line}"
    );
    let retry_in: u64 = line
        .split("retry_in_secs=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no retry_in_secs in {line}"));
    assert!(
        retry_in >= 5,
        "a 401 is not retried in a tight loop: {line}"
    );
    assert_eq!(
        anonymous.log().matches("401 Unauthorized").count(),
        1,
        "one refused SUBSCRIBE, then the backoff"
    );
    drop(anonymous);
    assert!(
        calls(&cluster).is_empty(),
        "no call got past the 401: {:?}",
        calls(&cluster)
    );

    // With the principal and its secret file: subscribes, launches, runs.
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s3cret\n").expect("secret file");
    let secret = secret.display().to_string();
    let scheduler = Scheduler::start(
        dir.path(),
        &cluster.master_url(),
        &spec,
        &["--principal", "cartrack", "--secret-file", &secret],
    );
    scheduler.wait_running(1, T).await;
    let calls = calls(&cluster);
    let subscribe = calls
        .iter()
        .find(|(c, _)| is(c, call::Type::Subscribe))
        .expect("a SUBSCRIBE was recorded");
    assert_eq!(
        subscribe
            .0
            .subscribe
            .as_ref()
            .and_then(|s| s.framework_info.principal.as_deref()),
        Some("cartrack"),
        "FrameworkInfo.principal"
    );
    assert!(
        calls.iter().all(|(_, status)| (200..300).contains(status)),
        "every call authenticated: {:?}",
        calls.iter().map(|(_, s)| s).collect::<Vec<_>>()
    );
    assert!(
        !scheduler.log().contains("s3cret"),
        "the secret never shows in the log"
    );
    drop(scheduler);
    cluster.shutdown().await;
}

#[test]
fn unreadable_or_empty_secret_file_exits_2_naming_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = write_spec(dir.path(), ONE_POD);
    let empty = dir.path().join("empty-secret");
    std::fs::write(&empty, "\n").expect("write");
    let missing = dir.path().join("missing-secret");
    for path in [&empty, &missing] {
        let out = Command::new(env!("CARGO_BIN_EXE_cartrack-scheduler"))
            .arg("--spec")
            .arg(&spec)
            .args(["--principal", "cartrack", "--secret-file"])
            .arg(path)
            .arg("--check")
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("--secret-file"), "{stderr}");
        assert!(
            stderr.contains(&path.display().to_string()),
            "names the path: {stderr}"
        );
    }
}
