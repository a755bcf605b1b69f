//! Leader election and fencing against a real ZooKeeper (one shared server, a path per test).

use std::time::{Duration, Instant};

use cartrack_zookeeper::testkit::{unique_path, wait_until, Proxy, TestZooKeeper};
use cartrack_zookeeper::{connect, Election, Leadership, NodeOp, NodeStore, Zk, ZkError, ZkUrl};
use zookeeper_client as zkc;

/// Takeover must happen within this (the issue asks for 15 s with production timeouts).
const BOUND: Duration = Duration::from_secs(10);
/// How long a candidate that must NOT win is given to (wrongly) win.
const NO_WIN_WINDOW: Duration = Duration::from_millis(300);

async fn session(url: &str, timeout: Duration) -> Zk {
    connect(&ZkUrl::parse(url).expect("url"), timeout)
        .await
        .expect("connect")
}

fn put(key: &str, value: &str) -> NodeOp {
    NodeOp::Put {
        key: key.into(),
        value: value.as_bytes().to_vec(),
    }
}

fn assert_not_leader(result: Result<(), ZkError>, what: &str) {
    match result {
        Err(ZkError::NotLeader { .. }) => {}
        other => panic!("{what}: expected NotLeader, got {other:?}"),
    }
}

async fn lost_within(leadership: &Leadership, bound: Duration) -> bool {
    tokio::time::timeout(bound, leadership.lost()).await.is_ok()
}

#[tokio::test]
async fn one_leader_and_a_paused_leader_is_fenced_after_takeover() {
    let server = TestZooKeeper::shared().expect("test ZooKeeper");
    let proxy = Proxy::start(server.port()).await.expect("proxy");
    let path = unique_path("ha");
    // Candidate A reaches ZooKeeper through a relay we can cut (its "SIGSTOP"); B directly.
    let zk_a = session(&proxy.url(&path), Duration::from_secs(1)).await;
    let zk_b = session(&server.url(&path), Duration::from_secs(5)).await;
    let election_a = Election::new(zk_a.clone(), format!("{path}/leader"), "a");
    let election_b = Election::new(zk_b.clone(), format!("{path}/leader"), "b");
    let store_a = NodeStore::new(zk_a.clone(), format!("{path}/state"));
    let store_b = NodeStore::new(zk_b.clone(), format!("{path}/state"));

    let leader_a = election_a.campaign().await.expect("A campaigns");
    assert!(leader_a.is_current());
    leader_a.confirm().await.expect("A confirms");
    store_a
        .commit(&[put("owner", "a")], Some(&leader_a))
        .await
        .expect("A writes fenced");
    assert_eq!(
        election_b.current_leader().await.expect("leader"),
        Some("a".into())
    );

    let observer = zkc::Client::connect(&format!("127.0.0.1:{}", server.port()))
        .await
        .expect("observer");
    let mut standby =
        tokio::spawn(async move { election_b.campaign().await.map(|l| (l, election_b)) });
    let b_waits = wait_until(BOUND, || async {
        observer
            .list_children(&format!("{path}/leader"))
            .await
            .map(|c| c.len())
            .unwrap_or(0)
            == 2
    });
    assert!(b_waits.await, "B's candidate node is registered");
    let wrong_win = tokio::time::timeout(NO_WIN_WINDOW, &mut standby).await;
    assert!(wrong_win.is_err(), "only one candidate may lead");

    // A is cut off (paused, partitioned) longer than its session timeout: B takes over.
    let paused_at = Instant::now();
    proxy.block();
    let (leader_b, election_b) = tokio::time::timeout(BOUND, standby)
        .await
        .expect("B takes over within the bound")
        .expect("join")
        .expect("B campaigns");
    let takeover = paused_at.elapsed();
    assert!(leader_b.is_current());
    assert_eq!(
        election_b.current_leader().await.expect("leader"),
        Some("b".into())
    );
    assert!(
        !leader_a.is_current(),
        "A no longer believes it leads while cut off"
    );
    store_b
        .commit(&[put("owner", "b")], Some(&leader_b))
        .await
        .expect("B writes fenced");

    // A wakes up (SIGCONT): it must neither confirm nor write.
    proxy.unblock();
    assert_not_leader(leader_a.confirm().await, "old leader's confirm");
    assert_not_leader(
        store_a
            .commit(
                &[put("owner", "a-again"), put("extra", "x")],
                Some(&leader_a),
            )
            .await,
        "old leader's fenced write",
    );
    assert!(
        lost_within(&leader_a, BOUND).await,
        "lost() resolves for the old leader"
    );
    let state = store_b.load().await.expect("load");
    assert_eq!(state.get("owner").map(Vec::as_slice), Some(&b"b"[..]));
    assert!(
        !state.contains_key("extra"),
        "nothing of the fenced batch was applied"
    );
    leader_b
        .confirm()
        .await
        .expect("the new leader still confirms");
    eprintln!("takeover after cutting the leader off: {takeover:?}");
}

#[tokio::test]
async fn deleting_the_leader_node_fences_a_leader_whose_session_is_alive() {
    let server = TestZooKeeper::shared().expect("test ZooKeeper");
    let path = unique_path("deleted");
    let zk = session(&server.url(&path), Duration::from_secs(5)).await;
    let election = Election::new(zk.clone(), format!("{path}/leader"), "solo");
    let store = NodeStore::new(zk.clone(), format!("{path}/state"));
    let leader = election.campaign().await.expect("campaign");
    store
        .commit(&[put("k", "1")], Some(&leader))
        .await
        .expect("fenced write");

    // An operator (or a bug) removes the leader node from another session.
    let operator = zkc::Client::connect(&format!("127.0.0.1:{}", server.port()))
        .await
        .expect("operator");
    operator
        .delete(leader.node(), None)
        .await
        .expect("delete leader node");

    assert_not_leader(leader.confirm().await, "confirm");
    assert_not_leader(
        store
            .commit(&[put("k", "2"), put("new", "n")], Some(&leader))
            .await,
        "fenced write",
    );
    assert!(lost_within(&leader, BOUND).await, "lost() resolves");
    assert!(!leader.is_current());
    let state = store.load().await.expect("load");
    assert_eq!(state.get("k").map(Vec::as_slice), Some(&b"1"[..]));
    assert!(
        !state.contains_key("new"),
        "the fenced batch is all-or-nothing"
    );
    // The session itself is fine: unfenced work and a new campaign succeed.
    store
        .commit(&[put("k", "3")], None)
        .await
        .expect("unfenced write");
    let again = election.campaign().await.expect("campaign again");
    again.confirm().await.expect("new leadership confirms");
}

#[tokio::test]
async fn resign_hands_over_at_once_and_a_dropped_campaign_withdraws() {
    let server = TestZooKeeper::shared().expect("test ZooKeeper");
    let path = unique_path("resign");
    let url = server.url(&path);
    let election_a = Election::new(
        session(&url, Duration::from_secs(5)).await,
        format!("{path}/leader"),
        "a",
    );
    let election_b = Election::new(
        session(&url, Duration::from_secs(5)).await,
        format!("{path}/leader"),
        "b",
    );
    let election_c = Election::new(
        session(&url, Duration::from_secs(5)).await,
        format!("{path}/leader"),
        "c",
    );
    let observer = zkc::Client::connect(&format!("127.0.0.1:{}", server.port()))
        .await
        .expect("observer");
    let candidates = || async {
        observer
            .list_children(&format!("{path}/leader"))
            .await
            .map(|c| c.len())
            .unwrap_or(0)
    };

    let leader_a = election_a.campaign().await.expect("A leads");
    // C gives up waiting: its candidate node must go, or it would later "lead" with nobody home.
    let gave_up = tokio::time::timeout(NO_WIN_WINDOW, election_c.campaign()).await;
    assert!(gave_up.is_err(), "C cannot win while A leads");
    assert!(
        wait_until(BOUND, || async { candidates().await == 1 }).await,
        "C's node withdrawn"
    );

    let standby = tokio::spawn(async move { election_b.campaign().await });
    assert!(
        wait_until(BOUND, || async { candidates().await == 2 }).await,
        "B is waiting"
    );
    let resigned_at = Instant::now();
    leader_a.resign().await.expect("resign");
    let leader_b = tokio::time::timeout(BOUND, standby)
        .await
        .expect("B leads")
        .expect("join")
        .expect("campaign");
    assert!(
        resigned_at.elapsed() < Duration::from_secs(2),
        "no session timeout wait after a resign"
    );
    assert_eq!(
        election_a.current_leader().await.expect("leader"),
        Some("b".into())
    );
    drop(leader_b); // dropping a leadership also resigns
    assert!(
        wait_until(BOUND, || async {
            election_a.current_leader().await.ok() == Some(None)
        })
        .await
    );
}

/// What a request in flight when the connection drops gets (a request made while
/// disconnected waits for the reconnection instead).
fn connection_loss() -> ZkError {
    ZkError::ConnectionLoss {
        op: "commit",
        path: "/in-flight".into(),
    }
}

#[tokio::test]
async fn a_leader_rides_out_a_zookeeper_restart_and_steps_down_after_a_long_outage() {
    // Its own server: this test stops it.
    let mut server = TestZooKeeper::start().expect("test ZooKeeper");
    let path = unique_path("rides-out");
    let session_timeout = Duration::from_secs(5);
    let zk = session(&server.url(&path), session_timeout).await;
    let election = Election::new(zk.clone(), format!("{path}/leader"), "solo");
    let store = NodeStore::new(zk.clone(), format!("{path}/state"));
    let leader = election.campaign().await.expect("campaign");

    // ZooKeeper goes down while a write's first attempt is in flight, and comes back.
    server.kill();
    assert!(
        wait_until(BOUND, || async { !leader.is_current() }).await,
        "the leader notices the disconnection"
    );
    let ops = [put("k", "1")];
    let mut attempts = 0;
    let (written, restarted) = tokio::join!(
        leader.through_disconnections(|| {
            attempts += 1;
            let first = attempts == 1;
            let (store, ops, leader) = (&store, &ops, &leader);
            async move {
                if first {
                    return Err(connection_loss());
                }
                store.commit(ops, Some(leader)).await
            }
        }),
        server.restart(),
    );
    restarted.expect("ZooKeeper restarts");
    written.expect("the write rides out the restart");
    assert_eq!(attempts, 2, "tried again once reconnected");
    leader.confirm().await.expect("still the leader");
    let state = store.load().await.expect("load");
    assert_eq!(state.get("k").map(Vec::as_slice), Some(&b"1"[..]));

    // Down for longer than the session: it may have expired, so step down.
    server.kill();
    let started = Instant::now();
    let outcome = tokio::time::timeout(
        BOUND,
        leader.through_disconnections(|| async { Err::<(), _>(connection_loss()) }),
    )
    .await
    .expect("gives up within the bound");
    assert_not_leader(outcome, "after a long outage");
    assert!(
        started.elapsed() >= session_timeout - Duration::from_millis(500),
        "waited out the session before giving up: {:?}",
        started.elapsed()
    );
}
