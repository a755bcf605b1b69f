//! Digest credentials against a real ZooKeeper: what a scheduler with `--zk-auth` creates
//! is closed to every other identity.

use std::time::Duration;

use cartrack_zookeeper::testkit::{unique_path, TestZooKeeper};
use cartrack_zookeeper::{connect, Election, NodeOp, NodeStore, ZkAuth, ZkError, ZkUrl};
use zookeeper_client as zkc;

const SESSION: Duration = Duration::from_secs(5);

fn url(server: &TestZooKeeper, path: &str, auth: &str) -> ZkUrl {
    ZkUrl::parse(&server.url(path))
        .expect("url")
        .with_auth(ZkAuth::parse(auth).expect("credentials"))
}

/// A raw session, authenticated as `auth` if given (an operator's zkCli, another tenant).
async fn raw_client(server: &TestZooKeeper, auth: Option<&str>) -> zkc::Client {
    let mut connector = zkc::Client::connector();
    if let Some(auth) = auth {
        connector = connector.with_auth("digest", auth.as_bytes());
    }
    connector
        .connect(&format!("127.0.0.1:{}", server.port()))
        .await
        .expect("raw client")
}

fn assert_no_auth<T: std::fmt::Debug>(result: Result<T, zkc::Error>, what: &str) {
    assert!(
        matches!(result, Err(zkc::Error::NoAuth)),
        "{what}: expected NoAuth, got {result:?}"
    );
}

#[tokio::test]
async fn with_credentials_only_that_identity_reads_or_writes_the_nodes() {
    let server = TestZooKeeper::shared().expect("test ZooKeeper");
    let path = unique_path("acl");
    let owner = url(server, &path, "digest:cartrack:s3cret");
    let zk = connect(&owner, SESSION).await.expect("connect");
    let election = Election::new(zk.clone(), format!("{path}/svc/leader"), "a");
    let leader = election.campaign().await.expect("campaign");
    let store = NodeStore::new(zk.clone(), format!("{path}/svc/state"));
    store
        .commit(
            &[NodeOp::Put {
                key: "framework_id".into(),
                value: b"fw-1".to_vec(),
            }],
            Some(&leader),
        )
        .await
        .expect("fenced write");

    let record = format!("{path}/svc/state/framework_id");
    let state = format!("{path}/svc/state");
    for (who, auth) in [
        ("no credentials", None),
        ("other credentials", Some("intruder:guess")),
    ] {
        let stranger = raw_client(server, auth).await;
        for node in [record.as_str(), state.as_str(), leader.node()] {
            assert_no_auth(
                stranger.get_data(node).await,
                &format!("{who} reads {node}"),
            );
        }
        assert_no_auth(
            stranger.list_children(&state).await,
            &format!("{who} lists the state"),
        );
        assert_no_auth(
            stranger.set_data(&record, b"fw-evil", None).await,
            &format!("{who} rewrites a record"),
        );
        // Deposing the leader means deleting its node.
        assert_no_auth(
            stranger.delete(leader.node(), None).await,
            &format!("{who} deletes the leader node"),
        );
        let options = zkc::CreateMode::Persistent.with_acls(zkc::Acls::anyone_all());
        assert_no_auth(
            stranger
                .create(&format!("{state}/planted"), b"x", &options)
                .await,
            &format!("{who} adds a record"),
        );
    }

    // The same identity on another session (a restarted scheduler, a standby) works.
    let again = connect(&owner, SESSION).await.expect("connect again");
    let loaded = NodeStore::new(again.clone(), state.clone())
        .load()
        .await
        .expect("load with the credentials");
    assert_eq!(
        loaded.get("framework_id").map(Vec::as_slice),
        Some(&b"fw-1"[..])
    );
    let standby = Election::new(again, format!("{path}/svc/leader"), "b");
    assert_eq!(
        standby.current_leader().await.expect("leader"),
        Some("a".into())
    );
    leader.confirm().await.expect("the leader is untouched");

    // Another identity through the crate is refused with the operation named.
    let intruder = connect(&url(server, &path, "digest:intruder:guess"), SESSION)
        .await
        .expect("connect as another identity");
    match NodeStore::new(intruder, state).load().await {
        Err(ZkError::Operation {
            source: zkc::Error::NoAuth,
            ..
        }) => {}
        other => panic!("another identity loads: expected NoAuth, got {other:?}"),
    }
}
