//! Master detection against a real ZooKeeper: fake Mesos masters register `json.info_` nodes
//! from their own sessions, as real masters do.

use std::time::Duration;

use cartrack_zookeeper::testkit::{self, unique_path, wait_until, Proxy, TestZooKeeper};
use cartrack_zookeeper::{connect, MasterAddress, MasterDetector, ZkUrl};
use tokio::sync::watch;
use zookeeper_client as zkc;

const BOUND: Duration = Duration::from_secs(10);

/// A fake master registered from its own session, as real masters do.
async fn register_master(server: &TestZooKeeper, path: &str, host: &str, port: u16) -> zkc::Client {
    testkit::register_master(server.port(), path, host, port)
        .await
        .expect("register a fake master")
}

async fn leader_becomes(
    rx: &watch::Receiver<Option<MasterAddress>>,
    expected: Option<&str>,
) -> bool {
    wait_until(BOUND, || async {
        rx.borrow().as_ref().map(MasterAddress::base_url).as_deref() == expected
    })
    .await
}

#[tokio::test]
async fn follows_the_lowest_master_through_changes() {
    let server = TestZooKeeper::shared().expect("test ZooKeeper");
    let path = unique_path("mesos");
    let zk = connect(
        &ZkUrl::parse(&server.url(&path)).expect("url"),
        Duration::from_secs(5),
    )
    .await
    .expect("connect");
    let rx = MasterDetector::spawn(zk, path.clone());
    assert!(rx.borrow().is_none(), "no master registered yet");

    let first = register_master(server, &path, "master-a", 5050).await;
    assert!(leader_becomes(&rx, Some("http://master-a:5050")).await);
    let second = register_master(server, &path, "master-b", 5051).await;
    // A later registration does not take over.
    let third = register_master(server, &path, "master-c", 5052).await;
    assert_eq!(
        rx.borrow().as_ref().map(MasterAddress::base_url).as_deref(),
        Some("http://master-a:5050")
    );

    drop(first); // closes the leader's session: its node goes, the next lowest leads
    assert!(
        leader_becomes(&rx, Some("http://master-b:5051")).await,
        "switch to the next master"
    );
    drop(third); // a non-leader leaving changes nothing
    drop(second);
    assert!(
        leader_becomes(&rx, None).await,
        "None once no master is registered"
    );
}

#[tokio::test]
async fn waits_for_a_missing_path_and_survives_session_expiry() {
    let server = TestZooKeeper::shared().expect("test ZooKeeper");
    let proxy = Proxy::start(server.port()).await.expect("proxy");
    let base = unique_path("expiry");
    // The detector talks through a relay we can cut; the masters talk to the server directly.
    let zk = connect(
        &ZkUrl::parse(&proxy.url(&base)).expect("url"),
        Duration::from_secs(1),
    )
    .await
    .expect("connect");
    let path = format!("{base}/mesos");
    let rx = MasterDetector::spawn(zk.clone(), path.clone());
    // The master path does not exist yet: the detector waits for it to appear.
    let creator = zkc::Client::connect(&format!("127.0.0.1:{}", server.port()))
        .await
        .expect("session");
    creator
        .create(
            &path,
            b"",
            &zkc::CreateMode::Persistent.with_acls(zkc::Acls::anyone_all()),
        )
        .await
        .expect("create master path");
    let first = register_master(server, &path, "master-a", 5050).await;
    assert!(leader_becomes(&rx, Some("http://master-a:5050")).await);

    // Cut the detector off longer than its session timeout: the server expires its session.
    // Meanwhile the leader changes. Once reachable again the detector must open a new session,
    // re-read, and report the new leader.
    let old_session = zk.session_id().await.expect("session id");
    proxy.block();
    drop(first);
    let _second = register_master(server, &path, "master-b", 5051).await;
    // The client notices the loss by itself after its expiry timeout (7/5 of the session
    // timeout) and then tries to open a new session, which fails while cut off.
    let noticed = wait_until(BOUND, || async {
        zk.session_id().await.ok() != Some(old_session.clone())
    })
    .await;
    assert!(noticed, "the client gives the old session up");
    proxy.unblock();
    assert!(
        leader_becomes(&rx, Some("http://master-b:5051")).await,
        "followed after session loss"
    );
    assert_ne!(
        zk.session_id().await.expect("session id"),
        old_session,
        "a new session was opened"
    );
}
