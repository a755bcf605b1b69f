//! NodeStore against a real ZooKeeper (one shared server; a distinct root per test).

use std::collections::BTreeMap;
use std::time::Duration;

use cartrack_zookeeper::testkit::{unique_path, TestZooKeeper};
use cartrack_zookeeper::{connect, NodeOp, NodeStore, Zk, ZkError, ZkUrl, MAX_VALUE_BYTES};

const SESSION: Duration = Duration::from_secs(5);

async fn session(path: &str) -> Zk {
    let server = TestZooKeeper::shared().expect("test ZooKeeper");
    let url = ZkUrl::parse(&server.url(path)).expect("url");
    connect(&url, SESSION).await.expect("connect")
}

fn put(key: &str, value: &str) -> NodeOp {
    NodeOp::Put {
        key: key.into(),
        value: value.as_bytes().to_vec(),
    }
}

fn delete(key: &str) -> NodeOp {
    NodeOp::Delete { key: key.into() }
}

fn records(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect()
}

#[tokio::test]
async fn connect_creates_the_url_path_and_parents() {
    let path = format!("{}/a/b", unique_path("connect"));
    let zk = session(&path).await;
    // A store on the path itself loads (empty) only because the node exists now.
    let store = NodeStore::new(zk.clone(), path.clone());
    assert_eq!(store.load().await.expect("load"), BTreeMap::new());
    // Idempotent.
    zk.ensure_path(&path).await.expect("ensure again");
}

#[tokio::test]
async fn put_delete_load_round_trip_across_sessions() {
    let root = unique_path("roundtrip");
    let store = NodeStore::new(session(&root).await, root.clone());
    store
        .commit(&[put("a", "1"), put("b", "2"), put("c", "3")], None)
        .await
        .expect("first commit");
    store
        .commit(
            &[put("a", "10"), delete("b"), delete("never-existed")],
            None,
        )
        .await
        .expect("second commit");
    assert_eq!(
        store.load().await.expect("load"),
        records(&[("a", "10"), ("c", "3")])
    );

    // A second session (another scheduler process after a restart) sees the same state and can
    // overwrite keys it learnt from load, and delete ones it did not load.
    let other = NodeStore::new(session(&root).await, root.clone());
    assert_eq!(
        other.load().await.expect("load"),
        records(&[("a", "10"), ("c", "3")])
    );
    other
        .commit(&[put("c", "30"), put("d", "4")], None)
        .await
        .expect("other commit");

    // The first store's view of "d" is stale (it never saw it): put must still work (set, not
    // create) and delete must really delete.
    store
        .commit(&[put("d", "40")], None)
        .await
        .expect("put over unseen key");
    assert_eq!(
        other.load().await.expect("load"),
        records(&[("a", "10"), ("c", "30"), ("d", "40")])
    );
    other.commit(&[delete("d")], None).await.expect("delete d");
    store
        .commit(&[delete("d"), put("e", "5")], None)
        .await
        .expect("delete of a key another writer deleted");
    assert_eq!(
        store.load().await.expect("load"),
        records(&[("a", "10"), ("c", "30"), ("e", "5")])
    );
}

#[tokio::test]
async fn a_commit_is_all_or_nothing() {
    let root = unique_path("atomic");
    let store = NodeStore::new(session(&root).await, root.clone());
    store.commit(&[put("keep", "1")], None).await.expect("seed");
    // "dir" is a record that has children of its own (another store below it): ZooKeeper refuses
    // to delete it (NotEmpty), which the client cannot know in advance.
    let below = NodeStore::new(session(&root).await, format!("{root}/dir"));
    below
        .commit(&[put("child", "c")], None)
        .await
        .expect("store below");
    store.load().await.expect("load");

    let err = store
        .commit(&[put("keep", "2"), put("new", "n"), delete("dir")], None)
        .await
        .expect_err("deleting a non-empty node must fail the whole batch");
    assert!(!err.is_retryable(), "{err}");
    assert_eq!(
        store.load().await.expect("load"),
        records(&[("dir", ""), ("keep", "1")]),
        "no op of the failed batch may be visible"
    );
}

#[tokio::test]
async fn too_large_values_and_bad_keys_fail_before_sending() {
    let root = unique_path("limits");
    let store = NodeStore::new(session(&root).await, root.clone());
    let big = NodeOp::Put {
        key: "huge".into(),
        value: vec![7; MAX_VALUE_BYTES + 1],
    };
    let err = store
        .commit(&[put("small", "1"), big], None)
        .await
        .expect_err("too large");
    assert!(
        matches!(&err, ZkError::TooLarge { key, .. } if key == "huge"),
        "{err}"
    );
    for key in ["", "a/b", ".."] {
        let err = store
            .commit(&[put(key, "1")], None)
            .await
            .expect_err("bad key");
        assert!(matches!(err, ZkError::BadKey { .. }), "{key:?}: {err}");
    }
    // Nothing was written; the largest allowed value does go through.
    assert!(store.load().await.expect("load").is_empty());
    let max = NodeOp::Put {
        key: "max".into(),
        value: vec![1; MAX_VALUE_BYTES],
    };
    store
        .commit(&[max], None)
        .await
        .expect("a value at the limit is stored");
    assert_eq!(
        store.load().await.expect("load")["max"].len(),
        MAX_VALUE_BYTES
    );
}

#[tokio::test]
async fn many_records_load_in_one_pass() {
    let root = unique_path("many");
    let store = NodeStore::new(session(&root).await, root.clone());
    let ops: Vec<_> = (0..500)
        .map(|i| put(&format!("task-{i:04}"), &format!("state {i}")))
        .collect();
    store.commit(&ops, None).await.expect("commit 500");
    let loaded = store.load().await.expect("load");
    assert_eq!(loaded.len(), 500);
    assert_eq!(loaded["task-0499"], b"state 499");
}

#[tokio::test]
async fn the_root_goes_once_its_records_are_gone() {
    let parent = unique_path("remove");
    let root = format!("{parent}/state");
    let zk = session(&root).await;
    let store = NodeStore::new(zk.clone(), root.clone());
    store
        .commit(&[put("a", "1"), put("b", "2")], None)
        .await
        .expect("commit");
    assert!(
        store.remove_root().await.is_err(),
        "a root holding records stays"
    );
    store
        .commit(&[delete("a"), delete("b")], None)
        .await
        .expect("delete every record");
    store.remove_root().await.expect("remove the empty root");
    store.remove_root().await.expect("again: already gone");
    let above = NodeStore::new(zk, parent);
    assert!(
        !above
            .load()
            .await
            .expect("load the parent")
            .contains_key("state"),
        "the root node is gone"
    );
}
