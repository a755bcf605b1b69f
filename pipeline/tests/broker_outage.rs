//! A broker outage mid-stream: `broker`, `ingest http`, `process` and `index` (NDJSON sink) as
//! separate processes; once the first half of a deterministic input has reached the sink, the
//! broker is frozen (SIGSTOP) for 20 s (up to 45 s, until both consumers have retried a Kafka
//! error) while the second half is posted. Meanwhile `process` and
//! `index` must stay alive with `/v1/health` 200, and say "broker unreachable" on `/v1/ready`
//! (503) and `/metrics`; after SIGCONT everything must come out exactly as an offline run of the
//! processing core over the same input gives it (a document written twice is allowed only under
//! the same id with the same content, the documented idempotent overwrite).
//!
//! The embedded broker forgets everything when it exits, so a broker *restart* is not tested
//! against it; a freeze keeps its state, as a network partition or a long GC pause would.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use cartrack_pipeline::model::{Position, TileTraffic, VehicleState};
use cartrack_pipeline::processor::{Outputs, Processor, ProcessorConfig};
use cartrack_pipeline::sources::simulator::{CityBox, Fleet, SimulatorConfig};
use cartrack_pipeline::testkit::offline_tiles;
use support::*;

const VEHICLES: u32 = 30;
/// Seconds of fixes in each half of the input.
const HALF_SECONDS: u32 = 8;
const FREEZE: Duration = Duration::from_secs(20);
/// The longest freeze: past [`FREEZE`], the broker stays frozen until both consumers have
/// retried a Kafka error (librdkafka reports a timed-out request to the consumer only in some
/// of its states, later on a loaded machine), but less than the intake's 60 s delivery wait.
const MAX_FREEZE: Duration = Duration::from_secs(45);
/// Requests time out after 4 s (librdkafka's default is 60 s), so within the freeze the
/// clients drop their connections and report transport errors, the case that used to end the
/// workers.
const SHORT_TIMEOUTS: [&str; 2] = ["--kafka-option", "socket.timeout.ms=4000"];

/// The input, stamped from 30 s in the future (the intake takes up to 60 s ahead): while the
/// broker is frozen no partition has news, so the wall clock moves `process`'s watermark; event
/// times ahead of it keep the second half on time, as it would be if devices were live.
fn input(t0_ms: i64) -> Vec<Position> {
    let mut fleet = Fleet::new(SimulatorConfig {
        vehicles: VEHICLES,
        seed: 57,
        city: CityBox::MANHATTAN,
        ..SimulatorConfig::default()
    });
    let mut positions = Vec::new();
    for second in 0..2 * HALF_SECONDS {
        fleet.step(1.0);
        fleet.positions(t0_ms + i64::from(second) * 1000, &mut positions);
    }
    positions
}

fn json_lines(positions: &[Position]) -> String {
    positions
        .iter()
        .map(|p| serde_json::to_string(p).unwrap() + "\n")
        .collect()
}

/// Every `(_id, _source)` line of an NDJSON sink file, in order.
fn sink_lines(path: &Path) -> Vec<(String, serde_json::Value)> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .map(|hit| {
            (
                hit["_id"].as_str().unwrap().to_owned(),
                hit["_source"].clone(),
            )
        })
        .collect()
}

fn ready(address: &str) -> (u16, serde_json::Value) {
    let (status, body) = http(address, "GET", "/v1/ready", None);
    (
        status,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
    )
}

fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

/// The parts of a vehicle state that depend only on the vehicle's own fixes (predictions by
/// tile speed depend on the order partitions are read in).
fn own_fields(state: &serde_json::Value) -> serde_json::Value {
    let pick = [
        "vehicle_id",
        "timestamp_ms",
        "location",
        "speed_mps",
        "heading_deg",
        "motion",
        "tile",
    ];
    pick.iter()
        .map(|key| (key.to_string(), state[key].clone()))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn same_window(a: &TileTraffic, b: &TileTraffic) -> bool {
    let close =
        (a.mean_speed_mps - b.mean_speed_mps).abs() <= 1e-9 * a.mean_speed_mps.abs().max(1.0);
    close
        && TileTraffic {
            mean_speed_mps: b.mean_speed_mps,
            ..a.clone()
        } == *b
}

#[test]
fn a_frozen_broker_is_ridden_out_and_nothing_is_lost_or_doubled() {
    let sink_dir = tempfile::tempdir().unwrap();
    let sink = sink_dir.path().to_str().unwrap();
    let mut broker = ChildGuard::worker("broker", &["broker", "--partitions", "4"]);
    let kafka = broker.announced_after("kafka:", Duration::from_secs(30));
    let (mut process, process_http) = group_worker(
        "process",
        &kafka,
        &[
            "--group",
            "outage-process",
            SHORT_TIMEOUTS[0],
            SHORT_TIMEOUTS[1],
        ],
    );
    let (mut index, index_http) = group_worker(
        "index",
        &kafka,
        &[
            "--group",
            "outage-index",
            "--ndjson-dir",
            sink,
            "--batch-size",
            "100",
            SHORT_TIMEOUTS[0],
            SHORT_TIMEOUTS[1],
        ],
    );
    // The POST during the freeze is to wait it out (a delivery wait longer than the freeze),
    // not be answered 503 after the default 5 s.
    let (mut ingest, ingest_address) = ingest_http(&kafka, &["--delivery-wait-secs", "60"]);
    for address in [&process_http, &index_http] {
        wait_until(Duration::from_secs(30), "the workers to be ready", || {
            ready(address).0 == 200
        });
    }

    let positions = input(cartrack_pipeline::wall_clock_ms() + 30_000);
    let (first, second) = positions.split_at(positions.len() / 2);
    let (status, answer) = http(
        &ingest_address,
        "POST",
        "/v1/positions",
        Some(&json_lines(first)),
    );
    assert_eq!(status, 200, "{answer}");
    let history_file = sink_dir.path().join("cartrack-vehicle-history.ndjson");
    wait_until(
        Duration::from_secs(60),
        "the first half in the sink",
        || sink_lines(&history_file).len() >= first.len(),
    );

    // Freeze the broker mid-stream and post the second half: ingest holds it until Kafka
    // acknowledges it (up to --delivery-wait-secs), so the request waits out the freeze.
    signal(broker.pid(), "-STOP");
    let frozen_at = Instant::now();
    let second_body = json_lines(second);
    let poster = {
        let ingest_address = ingest_address.clone();
        std::thread::spawn(move || {
            http(&ingest_address, "POST", "/v1/positions", Some(&second_body))
        })
    };
    let mut seen_unreachable = BTreeMap::new();
    let errors_retried = |name: &str, address: &str| {
        counter(address, &format!("cartrack_{name}_kafka_errors_total"))
    };
    let both_retried = || {
        errors_retried("process", &process_http) >= 1.0
            && errors_retried("index", &index_http) >= 1.0
    };
    while frozen_at.elapsed() < FREEZE || (!both_retried() && frozen_at.elapsed() < MAX_FREEZE) {
        for (name, address, worker) in [
            ("process", &process_http, &mut process),
            ("index", &index_http, &mut index),
        ] {
            worker.assert_running();
            let (status, _) = http(address, "GET", "/v1/health", None);
            assert_eq!(
                status, 200,
                "{name}'s liveness failed while the broker was frozen"
            );
            let (status, body) = ready(address);
            if status == 503 {
                let reason = body["reason"].as_str().unwrap_or_default().to_owned();
                assert!(reason.contains("unreachable"), "{name}: {body}");
                let gauge = counter(address, &format!("cartrack_{name}_broker_reachable"));
                seen_unreachable.entry(name).or_insert((reason, gauge));
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    ingest.assert_running();
    for name in ["process", "index"] {
        let (reason, gauge) = seen_unreachable
            .get(name)
            .unwrap_or_else(|| panic!("{name}'s /v1/ready never said the broker was unreachable"));
        assert_eq!(
            *gauge, 0.0,
            "{name}'s broker_reachable gauge during the freeze ({reason})"
        );
        eprintln!("{name} during the freeze: {reason}");
    }
    signal(broker.pid(), "-CONT");
    // The transport errors the freeze caused were retried, not fatal.
    eprintln!("frozen for {:?}", frozen_at.elapsed());
    for (name, address) in [("process", &process_http), ("index", &index_http)] {
        let errors = errors_retried(name, address);
        eprintln!("{name}: {errors} Kafka errors retried");
        assert!(
            errors >= 1.0,
            "{name} saw no Kafka error: the freeze tested nothing"
        );
    }
    let resumed_at = Instant::now();
    for address in [&process_http, &index_http] {
        wait_until(
            Duration::from_secs(30),
            "readiness after the freeze",
            || ready(address).0 == 200,
        );
    }
    eprintln!("ready again {:?} after SIGCONT", resumed_at.elapsed());
    let (status, answer) = poster.join().unwrap();
    assert_eq!(status, 200, "{answer}");
    let report: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(report["accepted"], second.len(), "{report}");

    // The offline run of the core over the same input.
    let mut processor = Processor::new(ProcessorConfig::with_geofences(Default::default()));
    let mut outputs = Outputs::default();
    let mut history = BTreeMap::new();
    for position in &positions {
        processor.process(position, &mut outputs).unwrap();
        for &vehicle in &outputs.vehicles {
            let state: &VehicleState = processor.vehicle(vehicle);
            let id = format!("{}-{}", state.vehicle_id, state.timestamp_ms);
            // Through JSON text, as the sink's documents are read (the parser's last bit).
            let text = serde_json::to_string(state).unwrap();
            history.insert(id, own_fields(&serde_json::from_str(&text).unwrap()));
        }
        outputs.clear();
    }
    let tiles = offline_tiles(&positions);
    let tiles_file = sink_dir.path().join("cartrack-tiles.ndjson");
    wait_until(Duration::from_secs(60), "every output in the sink", || {
        let written: BTreeSet<String> = sink_lines(&history_file)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let windows: BTreeSet<String> = sink_lines(&tiles_file)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        written.len() >= history.len() && tiles.keys().all(|id| windows.contains(id))
    });
    process.assert_running();
    index.assert_running();

    // History: exactly the offline states, each id written with one content only.
    let mut written: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let mut rewritten = 0;
    for (id, source) in sink_lines(&history_file) {
        let fields = own_fields(&source);
        if let Some(earlier) = written.insert(id.clone(), fields.clone()) {
            assert_eq!(
                earlier, fields,
                "{id} written twice with different contents"
            );
            rewritten += 1;
        }
    }
    assert_eq!(
        written.keys().collect::<Vec<_>>(),
        history.keys().collect::<Vec<_>>(),
        "history documents lost or under unexpected ids"
    );
    for (id, fields) in &written {
        assert_eq!(fields, &history[id], "history {id}");
    }
    // Latest states: one per vehicle, at its last fix.
    let mut latest: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    for (id, source) in sink_lines(&sink_dir.path().join("cartrack-vehicles.ndjson")) {
        latest.insert(id, source);
    }
    assert_eq!(latest.len(), VEHICLES as usize);
    for (id, state) in &latest {
        let last = positions
            .iter()
            .filter(|p| &p.vehicle_id == id)
            .map(|p| p.timestamp_ms)
            .max();
        assert_eq!(state["timestamp_ms"].as_i64(), last, "vehicle {id}");
    }
    // Tiles: the last write of every window is the offline window, and nothing else exists.
    let mut windows: BTreeMap<String, TileTraffic> = BTreeMap::new();
    for (id, source) in sink_lines(&tiles_file) {
        windows.insert(id, serde_json::from_value(source).unwrap());
    }
    assert_eq!(
        windows.keys().collect::<BTreeSet<_>>(),
        tiles.keys().collect::<BTreeSet<_>>()
    );
    for (id, window) in &windows {
        assert!(
            same_window(window, &tiles[id]),
            "tile {id}: {window:?} vs offline {:?}",
            tiles[id]
        );
    }
    eprintln!(
        "{} positions, {} history documents ({rewritten} rewritten under the same id), {} windows",
        positions.len(),
        written.len(),
        windows.len()
    );
}
