//! When the embedded broker refuses producers at its backlog bound, `ingest http` answers a
//! bounded 503 with JSON saying how many positions were accepted and why the rest were not,
//! stays up, and once the consumers catch up a resend of the rest is taken; every position then
//! reaches the index exactly once by `_id` (the positions the 503 left queued in the producer
//! are written as well, at least once, and `process` skips the repeats).
//!
//! `broker` (with a 64 KiB `--max-backlog-bytes`), `ingest http`, `process` and `index
//! --ndjson-dir` run as processes; `process` is frozen (SIGSTOP) while the second part of the
//! input is posted, so its group stops committing and the backlog passes the bound.

mod support;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use cartrack_pipeline::model::Position;
use cartrack_pipeline::processor::{Outputs, Processor, ProcessorConfig};
use cartrack_pipeline::sources::simulator::CityBox;
use cartrack_pipeline::testkit::fleet_positions;
use support::*;

const VEHICLES: u32 = 200;
const SECONDS: u32 = 300;
/// The first part of the input (event-time seconds), posted while `process` runs.
const WARM_UP_SECONDS: usize = 60;
/// Per partition: below what the second part puts on each (48,000 positions at ~35 bytes as
/// stored: ~420 KB), and well above what `process` holds uncommitted while it runs (its open
/// windows, ~12 s of event time: ~21 KB) plus what one partition may take beyond the others
/// when the refusals start (part of one 2,048-position batch, ~72 KB in all). `process`
/// commits no further than the slowest partition's event time allows, so a bound below that
/// skew would refuse producers for good (see pipeline/README.md).
const MAX_BACKLOG_BYTES: &str = "262144";
/// `ingest --delivery-wait-secs`.
const DELIVERY_WAIT_SECS: u64 = 1;

fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

/// A POST over HTTP/1.0: (status, `Retry-After`, body).
fn post(address: &str, body: &str) -> (u16, Option<String>, String) {
    let mut stream = TcpStream::connect(address).unwrap_or_else(|err| panic!("{address}: {err}"));
    write!(
        stream,
        "POST /v1/positions HTTP/1.0\r\nHost: {address}\r\nAuthorization: Bearer {DEVICE_KEY}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let retry_after = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("retry-after")
            .then(|| value.trim().to_owned())
    });
    (status, retry_after, body.to_owned())
}

/// Posts `lines` until all are taken, resending after each 503 the lines from its
/// `error.line` on (after its `Retry-After`). Returns the number of 503s.
fn post_all(address: &str, lines: &[String], timeout: Duration) -> u32 {
    let deadline = Instant::now() + timeout;
    let mut from = 0;
    let mut refusals = 0;
    while from < lines.len() {
        assert!(Instant::now() < deadline, "ingest never took the lines");
        let (status, retry_after, answer) = post(address, &lines[from..].concat());
        let report: serde_json::Value = serde_json::from_str(&answer)
            .unwrap_or_else(|err| panic!("{status}, not JSON ({err}): {answer}"));
        match status {
            200 => {
                assert_eq!(report["accepted"], lines.len() - from, "{answer}");
                from = lines.len();
            }
            503 => {
                refusals += 1;
                let line = report["error"]["line"].as_u64().unwrap() as usize;
                assert_eq!(report["accepted"], line - 1, "{answer}");
                from += line - 1;
                let wait: u64 = retry_after
                    .expect("a 503 without Retry-After")
                    .parse()
                    .unwrap();
                std::thread::sleep(Duration::from_secs(wait)); // As a client is told to.
            }
            _ => panic!("unexpected answer {status}: {answer}"),
        }
    }
    refusals
}

/// The `_id` of a sink line (`{"_id":"…","_source":…}`).
fn document_id(line: &str) -> String {
    let hit: serde_json::Value = serde_json::from_str(line).unwrap();
    hit["_id"].as_str().unwrap().to_owned()
}

#[test]
fn a_refusing_broker_gets_a_bounded_503_and_a_resend_arrives_exactly_once() {
    let lines: Vec<String> = fleet_positions(83, CityBox::MANHATTAN, VEHICLES, SECONDS)
        .iter()
        .map(|position| serde_json::to_string(position).unwrap() + "\n")
        .collect();
    // The history ids of an offline run of the core over the same lines.
    let mut processor = Processor::new(ProcessorConfig::with_geofences(Default::default()));
    let mut out = Outputs::default();
    let mut expected = HashSet::new();
    for line in &lines {
        let position: Position = serde_json::from_str(line).unwrap();
        out.clear();
        let _ = processor.process(&position, &mut out);
        for index in &out.vehicles {
            let state = processor.vehicle(*index);
            expected.insert(format!("{}-{}", state.vehicle_id, state.timestamp_ms));
        }
    }
    assert_eq!(expected.len(), lines.len(), "the input has no repeated fix");

    let sink_dir = tempfile::tempdir().unwrap();
    let sink = sink_dir.path().to_str().unwrap();
    let mut broker = ChildGuard::worker(
        "broker",
        &["broker", "--max-backlog-bytes", MAX_BACKLOG_BYTES],
    );
    let kafka = broker.announced_after("kafka:", Duration::from_secs(30));
    // Lateness 0: windows become final as event time moves, so `process` commits as it goes.
    let (mut process, _) = group_worker("process", &kafka, &["--allowed-lateness-secs", "0"]);
    let (mut index, _) = group_worker("index", &kafka, &["--ndjson-dir", sink]);
    let wait = DELIVERY_WAIT_SECS.to_string();
    let (mut ingest, intake) = ingest_http(&kafka, &["--delivery-wait-secs", &wait]);

    let (warm_up, rest) = lines.split_at(WARM_UP_SECONDS * VEHICLES as usize);
    let warm_up_refusals = post_all(&intake, warm_up, Duration::from_secs(30));
    wait_until(
        Duration::from_secs(30),
        "process to commit on every partition",
        || {
            (0..PARTITIONS).all(|partition| {
                committed_on(&kafka, "cartrack-process", partition).is_some_and(|o| o > 0)
            })
        },
    );

    // Freeze `process` (shorter than its 6 s session timeout, so its group does not rebalance)
    // and post the rest: the broker refuses it past the bound.
    signal(process.pid(), "-STOP");
    let started = Instant::now();
    let (status, retry_after, answer) = post(&intake, &rest.concat());
    let answered = started.elapsed();
    let report: serde_json::Value = serde_json::from_str(&answer)
        .unwrap_or_else(|err| panic!("{status}, not JSON ({err}): {answer}"));
    ingest.assert_running();
    assert_eq!(http(&intake, "GET", "/v1/health", None).0, 200);
    signal(process.pid(), "-CONT");
    eprintln!("refused in {answered:?}: {report}");
    assert_eq!(status, 503, "{answer}");
    assert_eq!(retry_after.as_deref(), Some(wait.as_str()));
    assert_eq!(report["error"]["reason"], "kafka_backlog");
    let message = report["error"]["message"].as_str().unwrap();
    assert!(message.contains("--max-backlog-bytes"), "{message}");
    let accepted = report["accepted"].as_u64().unwrap() as usize;
    assert!(accepted < rest.len(), "{report}");
    assert_eq!(report["lines_read"], rest.len());
    assert_eq!(report["error"]["line"], accepted + 1);
    // The wait bound: the body's reading plus the delivery wait, not librdkafka's 300 s.
    assert!(
        answered < Duration::from_secs(10),
        "answered after {answered:?}"
    );

    // Once `process` catches up, the rest (from `error.line`) is taken.
    let refusals = post_all(&intake, &rest[accepted..], Duration::from_secs(40));
    eprintln!(
        "warm-up 503s {warm_up_refusals}, resend 503s {refusals}, accepted before {accepted}"
    );

    let history_path = sink_dir.path().join("cartrack-vehicle-history.ndjson");
    let mut ids: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(40);
    while ids.len() < lines.len() {
        for child in [&mut broker, &mut process, &mut index, &mut ingest] {
            child.assert_running();
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} positions in the sink after 40 s",
            ids.len(),
            lines.len()
        );
        std::thread::sleep(Duration::from_millis(100));
        ids = std::fs::read_to_string(&history_path)
            .unwrap_or_default()
            .lines()
            .map(document_id)
            .collect();
    }
    eprintln!("all in the sink {:?} after the 503", started.elapsed());
    let written: HashSet<&String> = ids.iter().collect();
    assert_eq!(written.len(), ids.len(), "a history document written twice");
    let expected: HashSet<&String> = expected.iter().collect();
    assert_eq!(written, expected);
}

/// The offset `group` committed on `cartrack.positions` partition `partition`, if any.
fn committed_on(bootstrap: &str, group: &str, partition: i32) -> Option<i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()
        .ok()?;
    let mut list = rdkafka::TopicPartitionList::new();
    list.add_partition("cartrack.positions", partition);
    let committed = consumer
        .committed_offsets(list, Duration::from_secs(5))
        .ok()?;
    match committed.elements().first()?.offset() {
        rdkafka::Offset::Offset(offset) => Some(offset),
        _ => None,
    }
}

/// Commits `offsets[p]` on `cartrack.positions` partition `p` for `group`, as a consumer that
/// read that far (the broker's backlog counts from the lowest committed offset).
fn commit(bootstrap: &str, group: &str, offsets: &[i64]) {
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut list = rdkafka::TopicPartitionList::new();
    for (partition, &offset) in offsets.iter().enumerate() {
        list.add_partition_offset(
            "cartrack.positions",
            partition as i32,
            rdkafka::Offset::Offset(offset),
        )
        .unwrap();
    }
    consumer.commit(&list, CommitMode::Sync).unwrap();
}

/// The end offset of each partition of `cartrack.positions`.
fn ends(bootstrap: &str) -> Vec<i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    (0..PARTITIONS)
        .map(|partition| {
            consumer
                .fetch_watermarks("cartrack.positions", partition, Duration::from_secs(5))
                .unwrap()
                .1
        })
        .collect()
}

#[test]
fn replay_waits_while_the_broker_refuses_and_then_sends_everything_once() {
    const RECORDS: usize = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.csv");
    let mut csv = String::from("id,timestamp,lon,lat\n");
    let t0_s = 1_700_000_000i64;
    for record in 0..RECORDS {
        let vehicle = record % 100;
        let second = record / 100;
        csv.push_str(&format!(
            "cab-{vehicle},{},{:.6},{:.6}\n",
            t0_s + second as i64,
            -73.98 + vehicle as f64 * 1e-4,
            40.75 + second as f64 * 1e-5
        ));
    }
    std::fs::write(&trace, csv).unwrap();

    // 16 KiB per partition: the trace puts ~170 KB on each.
    let mut broker = ChildGuard::worker("broker", &["broker", "--max-backlog-bytes", "16384"]);
    let kafka = broker.announced_after("kafka:", Duration::from_secs(30));
    // A group that has read nothing: everything produced counts as its backlog.
    commit(&kafka, "holder", &[0; PARTITIONS as usize]);
    let trace = trace.to_str().unwrap();
    let mut ingest = ingest_worker(&kafka, &["replay", trace, "--speedup", "1000000"]);

    // The broker refuses: the topic stops growing well short of the trace, and ingest waits.
    let mut last = Vec::new();
    let mut unchanged_since = Instant::now();
    wait_until(Duration::from_secs(30), "the topic to stop growing", || {
        ingest.assert_running();
        let now = ends(&kafka);
        if now != last {
            last = now;
            unchanged_since = Instant::now();
        }
        last.iter().sum::<i64>() > 0 && unchanged_since.elapsed() > Duration::from_secs(2)
    });
    let held: i64 = last.iter().sum();
    assert!(held < RECORDS as i64, "nothing was refused: {held}");
    ingest.assert_running();
    eprintln!("refused after {held} of {RECORDS} records; ingest waits");

    // The group reads on: the broker takes the rest, and replay finishes.
    wait_until(
        Duration::from_secs(40),
        "ingest to finish the trace",
        || {
            commit(&kafka, "holder", &ends(&kafka));
            match ingest.try_exit() {
                Some(success) => {
                    assert!(success, "ingest failed");
                    true
                }
                None => false,
            }
        },
    );
    broker.assert_running();
    let records = read_topic(&kafka, "cartrack.positions");
    assert_eq!(records.len(), RECORDS, "every record once, none dropped");
    let distinct: HashSet<_> = records.iter().collect();
    assert_eq!(distinct.len(), RECORDS, "a record written twice");
}
