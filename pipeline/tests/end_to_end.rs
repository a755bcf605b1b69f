//! The whole pipeline as separate processes, the way a user runs it on one machine: `broker`,
//! then `ingest` (simulator), `process` and `index` (NDJSON sink). Simulated vehicles must show
//! up in the sink, and in `process`'s snapshot.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A child process that is killed when the test ends, however it ends.
struct ChildGuard {
    name: &'static str,
    child: Child,
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ChildGuard {
    fn spawn(name: &'static str, args: &[&str]) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_cartrack-worker"))
            .args(args)
            .env("CARTRACK_LOG", "warn")
            .env_remove("CARTRACK_KAFKA")
            .env_remove("PORT_HTTP")
            .env_remove("CARTRACK_HTTP_PORT")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|err| panic!("starting {name}: {err}"));
        Self { name, child }
    }

    /// Waits for the stdout line starting with `prefix` and returns the rest of it.
    fn announced(&mut self, prefix: &str, timeout: Duration) -> String {
        let stdout = self.child.stdout.take().expect("stdout is piped");
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match received.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.trim().to_owned();
                    }
                }
                Err(_) => panic!("{} did not print `{prefix}` within {timeout:?}", self.name),
            }
        }
    }

    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited early: {status}", self.name);
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
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

fn http_get(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn simulated_positions_flow_from_ingest_to_the_ndjson_sink() {
    let sink_dir = tempfile::tempdir().unwrap();
    let sink = sink_dir.path().to_str().unwrap();

    let mut broker = ChildGuard::spawn("broker", &["broker", "--partitions", "2"]);
    let kafka = broker.announced("kafka:", Duration::from_secs(30));
    assert!(kafka.starts_with("127.0.0.1:"), "{kafka}");

    let fast_groups = [
        "--kafka-option",
        "session.timeout.ms=6000",
        "--kafka-option",
        "heartbeat.interval.ms=200",
    ];
    let mut process = ChildGuard::spawn(
        "process",
        &[
            &["process", "--kafka", &kafka, "--http-port", "0"][..],
            &fast_groups,
        ]
        .concat(),
    );
    let snapshot_address = process.announced("http:", Duration::from_secs(30));
    let mut index = ChildGuard::spawn(
        "index",
        &[
            &[
                "index",
                "--kafka",
                &kafka,
                "--http-port",
                "0",
                "--ndjson-dir",
                sink,
            ][..],
            &fast_groups,
        ]
        .concat(),
    );
    let mut ingest = ChildGuard::spawn(
        "ingest",
        &[
            "ingest",
            "--kafka",
            &kafka,
            "--http-port",
            "0",
            "simulator",
            "--vehicles",
            "5",
            "--rate",
            "20",
        ],
    );

    // Wait for the first simulated vehicle to reach the sink: by then both groups have joined.
    let vehicles_file = sink_dir.path().join("cartrack-vehicles.ndjson");
    let deadline = Instant::now() + Duration::from_secs(90);
    while sink_documents(&vehicles_file).is_empty() {
        for child in [&mut broker, &mut process, &mut index, &mut ingest] {
            child.assert_running();
        }
        assert!(
            Instant::now() < deadline,
            "no vehicle reached the NDJSON sink"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    // From now on, measure how long each new position takes to show up (its timestamp is the
    // simulator's clock when it was produced).
    let mut latencies_ms = Vec::new();
    let mut seen = sink_documents(&vehicles_file).len();
    let measuring_until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < measuring_until || latencies_ms.len() < 20 {
        assert!(
            Instant::now() < deadline,
            "positions stopped reaching the sink"
        );
        let documents = sink_documents(&vehicles_file);
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
    let history = sink_documents(&sink_dir.path().join("cartrack-vehicle-history.ndjson"));
    assert!(!history.is_empty());

    let snapshot = http_get(&snapshot_address, "/v1/snapshot");
    assert!(
        snapshot.starts_with("HTTP/1.1 200") || snapshot.starts_with("HTTP/1.0 200"),
        "{snapshot}"
    );
    let body: serde_json::Value =
        serde_json::from_str(snapshot.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert!(!body["vehicles"].as_array().unwrap().is_empty(), "{body}");
    let metrics = http_get(&snapshot_address, "/metrics");
    assert!(
        metrics.contains("cartrack_process_records_in_total"),
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
