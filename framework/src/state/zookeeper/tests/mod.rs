use super::*;
use crate::records::{SlotRecord, TaskPhase};
use crate::testkit::task;

#[test]
fn the_last_change_of_a_key_wins_and_each_group_s_count_is_its_own_node() {
    let t = task("processor", 0, 1, TaskPhase::Staging);
    let mut running = t.clone();
    running.state = TaskPhase::Running;
    let ops = node_ops(&[
        Change::PutTask(Box::new(t.clone())),
        Change::Desired("processor".into(), 2),
        Change::PutTask(Box::new(running.clone())),
        Change::PutSlot("processor-0".into(), SlotRecord::default()),
        Change::RemoveSlot("processor-0".into()),
    ])
    .expect("encodes");
    let keys: Vec<&str> = ops.iter().map(NodeOp::key).collect();
    assert_eq!(
        keys,
        vec![
            format!("task.{}", t.task_id).as_str(),
            "desired.processor",
            "slot.processor-0"
        ]
    );
    match &ops[0] {
        NodeOp::Put { value, .. } => {
            let back: crate::records::TaskRecord = serde_json::from_slice(value).expect("json");
            assert_eq!(back.state, TaskPhase::Running);
        }
        other => panic!("expected a put, got {other:?}"),
    }
    match &ops[1] {
        NodeOp::Put { value, .. } => {
            let back: u32 = serde_json::from_slice(value).expect("json");
            assert_eq!(back, 2);
        }
        other => panic!("expected a put, got {other:?}"),
    }
    assert!(matches!(ops[2], NodeOp::Delete { .. }));
}

#[test]
fn large_commits_are_split_under_the_transaction_limit() {
    let ops: Vec<NodeOp> = (0..3000)
        .map(|i| NodeOp::Put {
            key: format!("task.t{i}"),
            value: vec![b'x'; 900],
        })
        .collect();
    let split = batches(ops.clone());
    assert!(split.len() >= 3, "{} batches", split.len());
    for batch in &split {
        let size: usize = batch.iter().map(NodeOp::estimated_size).sum();
        assert!(size <= MAX_TRANSACTION_BYTES, "{size}");
    }
    assert_eq!(split.concat(), ops, "order and content kept");
}
