//! The test server harness itself: start, health, restart with data kept, no process left.

use std::path::Path;
use std::time::Duration;

use cartrack_zookeeper::testkit::{wait_until, TestZooKeeper};
use cartrack_zookeeper::{connect, NodeOp, NodeStore, ZkUrl};

fn process_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|stat| !stat.contains(") Z "))
            .unwrap_or(false)
}

#[tokio::test]
async fn restart_keeps_data_and_clients_reconnect_and_drop_kills_the_jvm() {
    let mut server = TestZooKeeper::start().expect("start ZooKeeper");
    let first_pid = server.pid().expect("running");
    let url = ZkUrl::parse(&server.url("/restart")).expect("url");
    let zk = connect(&url, Duration::from_secs(4))
        .await
        .expect("connect");
    let store = NodeStore::new(zk.clone(), "/restart/state");
    store
        .commit(
            &[NodeOp::Put {
                key: "framework-id".into(),
                value: b"fw-1".to_vec(),
            }],
            None,
        )
        .await
        .expect("write before restart");

    server.restart().await.expect("restart");
    let second_pid = server.pid().expect("running again");
    assert_ne!(first_pid, second_pid);
    assert!(!process_exists(first_pid), "the killed JVM must be gone");

    // The same handle works again: the client reconnects (the session may survive a fast
    // restart; if it expired, the handle opens a new one) and the data is still there.
    let recovered = wait_until(Duration::from_secs(15), || async {
        matches!(store.load().await, Ok(records) if records.get("framework-id").map(Vec::as_slice) == Some(&b"fw-1"[..]))
    })
    .await;
    assert!(recovered, "store readable with its data after the restart");
    store
        .commit(
            &[NodeOp::Put {
                key: "after".into(),
                value: b"ok".to_vec(),
            }],
            None,
        )
        .await
        .expect("write after restart");

    drop(server);
    assert!(!process_exists(second_pid), "drop must kill the JVM");
}

#[test]
fn missing_binary_is_an_error_naming_the_install_command() {
    let err = TestZooKeeper::start_with_script(Path::new("/nonexistent/zkServer.sh"))
        .expect_err("no server");
    assert!(
        err.to_string().contains("apt-get install -y zookeeper"),
        "{err}"
    );
}
