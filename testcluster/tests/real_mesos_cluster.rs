//! The real-Mesos test support itself: a cluster starts, runs a task, and leaves no process
//! behind when it stops, also when its test panics; the run folder goes only when the test
//! passed.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cartrack_testcluster::{processes_under, RealMesos, RealMesosConfig};

/// A `mesos-execute` process, killed and reaped on drop.
struct Framework(Child);

impl Drop for Framework {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `mesos-execute` runs `sleep` as a command task; waits until the master says RUNNING.
async fn sleep_task(cluster: &mut RealMesos) -> Framework {
    let framework = Command::new(cluster.home().root().join("bin/mesos-execute"))
        .arg(format!(
            "--master={}",
            cluster.master_url().trim_start_matches("http://")
        ))
        .args([
            "--name=sleeper",
            "--command=sleep 600",
            "--resources=cpus:0.1;mem:32",
        ])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LD_LIBRARY_PATH", cluster.home().root().join("lib"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Framework)
        .expect("mesos-execute starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state = cluster.state().await.expect("state");
        let running = state["frameworks"].as_array().is_some_and(|fws| {
            fws.iter().any(|f| {
                f["tasks"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t["state"] == "TASK_RUNNING"))
            })
        });
        if running {
            return framework;
        }
        assert!(Instant::now() < deadline, "the sleep task never ran");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn stop_ends_every_process_under_the_run_folder_and_removes_it() {
    let mut cluster = RealMesos::start(RealMesosConfig::default())
        .await
        .expect("cluster starts");
    let framework = sleep_task(&mut cluster).await;
    let run_dir = cluster.run_dir().to_path_buf();
    let before = processes_under(&run_dir);
    assert!(
        before.len() >= 2,
        "the task's executor and sleep run under the run folder: {before:?}"
    );
    let survivors = cluster.stop();
    assert!(survivors.is_empty(), "survivors {survivors:?}");
    assert!(processes_under(&run_dir).is_empty());
    drop(cluster);
    assert!(!run_dir.exists(), "a passing test's run folder is removed");
    drop(framework);
}

#[tokio::test]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn a_panicking_test_leaves_no_process_and_keeps_its_run_folder() {
    let (tx, rx) = tokio::sync::oneshot::channel::<PathBuf>();
    let test = tokio::spawn(async move {
        let mut cluster = RealMesos::start(RealMesosConfig::default())
            .await
            .expect("cluster starts");
        drop(sleep_task(&mut cluster).await);
        let _ = tx.send(cluster.run_dir().to_path_buf());
        panic!("a failing test");
    });
    assert!(test.await.is_err_and(|e| e.is_panic()));
    let run_dir = rx.await.expect("the test reached its panic");
    assert!(
        processes_under(&run_dir).is_empty(),
        "processes left after a panic: {:?}",
        processes_under(&run_dir)
    );
    assert!(
        run_dir.join("logs/master-0.log").is_file(),
        "a failed test's run folder and logs are kept"
    );
    // Also past the next cluster's sweep of folders whose test process is gone.
    drop(
        RealMesos::start(RealMesosConfig::default())
            .await
            .expect("another cluster starts"),
    );
    assert!(run_dir.join("logs/master-0.log").is_file());
    std::fs::remove_dir_all(&run_dir).expect("clean up the kept folder");
}
