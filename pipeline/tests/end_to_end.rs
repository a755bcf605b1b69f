//! The whole pipeline as separate processes, the way a user runs it on one machine: `broker`,
//! then `ingest` (simulator), `process` and `index` (NDJSON sink). Simulated vehicles must show
//! up in the sink, and in `process`'s snapshot.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{group_worker, http, ingest_worker, wait_until, ChildGuard};

fn now_ms() -> i64 {
    cartrack_pipeline::wall_clock_ms()
}

/// The `_source`s of every line of an NDJSON sink file written so far.
fn sink_documents(path: &Path) -> Vec<serde_json::Value> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .map(|hit| hit["_source"].clone())
        .collect()
}

#[test]
fn simulated_positions_flow_from_ingest_to_the_ndjson_sink() {
    let sink_dir = tempfile::tempdir().unwrap();
    let sink = sink_dir.path().to_str().unwrap();

    let mut broker = ChildGuard::worker("broker", &["broker", "--partitions", "2"]);
    let kafka = broker.announced_after("kafka:", Duration::from_secs(30));
    assert!(kafka.starts_with("127.0.0.1:"), "{kafka}");

    let (mut process, snapshot_address) = group_worker("process", &kafka, &[]);
    let (mut index, _) = group_worker("index", &kafka, &["--ndjson-dir", sink]);
    let mut ingest = ingest_worker(&kafka, &["simulator", "--vehicles", "5", "--rate", "20"]);

    // Wait for the first simulated vehicle to reach the sink: by then both groups have joined.
    let vehicles_file = sink_dir.path().join("cartrack-vehicles.ndjson");
    // Every state lands in the history with its batch (the latest states are written once a
    // second), so each position's latency is read there.
    let history_file = sink_dir.path().join("cartrack-vehicle-history.ndjson");
    wait_until(
        Duration::from_secs(90),
        "a vehicle in the NDJSON sink",
        || {
            for child in [&mut broker, &mut process, &mut index, &mut ingest] {
                child.assert_running();
            }
            !sink_documents(&history_file).is_empty()
        },
    );
    let deadline = Instant::now() + Duration::from_secs(60);

    // From now on, measure how long each new position takes to show up (its timestamp is the
    // simulator's clock when it was produced).
    let mut latencies_ms = Vec::new();
    let mut seen = sink_documents(&history_file).len();
    let measuring_until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < measuring_until || latencies_ms.len() < 20 {
        assert!(
            Instant::now() < deadline,
            "positions stopped reaching the sink"
        );
        let documents = sink_documents(&history_file);
        let observed_ms = now_ms();
        for document in &documents[seen..] {
            latencies_ms.push(observed_ms - document["timestamp_ms"].as_i64().unwrap());
        }
        seen = documents.len();
        std::thread::sleep(Duration::from_millis(10));
    }
    latencies_ms.sort_unstable();
    let median = latencies_ms[latencies_ms.len() / 2];
    eprintln!(
        "position -> NDJSON latency over {} positions: min {} ms, median {median} ms, max {} ms",
        latencies_ms.len(),
        latencies_ms[0],
        latencies_ms[latencies_ms.len() - 1]
    );
    // The acceptance criterion of the issue: once the groups have joined, positions reach the
    // sink within a second.
    assert!(median < 1_000, "median latency {median} ms");

    let documents = sink_documents(&vehicles_file);
    let ids: std::collections::BTreeSet<_> = documents
        .iter()
        .map(|d| d["vehicle_id"].as_str().unwrap())
        .collect();
    assert!(ids.iter().all(|id| id.starts_with("sim-")), "{ids:?}");
    let sample = &documents[documents.len() - 1];
    for model in ["dead_reckoning", "tile_speed", "kalman"] {
        assert!(sample["predictions"][model]["lat"].is_f64(), "{sample}");
    }
    let history = sink_documents(&history_file);
    assert!(history.len() >= documents.len());

    let (status, snapshot) = http(&snapshot_address, "GET", "/v1/snapshot", None);
    assert_eq!(status, 200, "{snapshot}");
    let body: serde_json::Value = serde_json::from_str(&snapshot).unwrap();
    assert!(!body["vehicles"].as_array().unwrap().is_empty(), "{body}");
    let (_, metrics) = http(&snapshot_address, "GET", "/metrics", None);
    assert!(
        metrics.contains("cartrack_process_records_in_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("# TYPE cartrack_process_consumer_lag_records gauge"),
        "{metrics}"
    );
}

#[test]
fn bad_usage_exits_with_code_2_and_names_the_fix() {
    let output = Command::new(env!("CARGO_BIN_EXE_cartrack-worker"))
        .args(["process"])
        .env_remove("CARTRACK_KAFKA")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--kafka") && stderr.contains("cartrack-worker broker"),
        "{stderr}"
    );
}
