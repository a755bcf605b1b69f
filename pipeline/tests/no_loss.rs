//! No acknowledged position is lost on the local default broker: positions are posted to
//! `ingest http` as fast as the client can (several concurrent 10,000-line requests, no flow
//! control except resending what a 503 says was not taken), with `broker`, `ingest http`,
//! `process` and `index --ndjson-dir` as real processes, and the broker keeping little of what
//! was already consumed, so that it drops consumed records all through the run.
//! The sink must then hold every accepted position exactly once by `_id`, equal to an offline
//! run of the same processing core over the same input, and the tile windows of that run.
//!
//! Before the broker's retention rule (`csrc/mock_retention.c`), the mock cluster kept 5 MiB
//! per partition and dropped the oldest, consumed or not: `process` read under a third of
//! 3,000,000 acknowledged positions.

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cartrack_pipeline::model::{Position, TileTraffic, VehicleState};
use cartrack_pipeline::processor::{Outputs, Processor, ProcessorConfig};
use cartrack_pipeline::sources::simulator::CityBox;
use support::*;

/// Positions posted. 2,000,000 with the release build (see examples/no_loss.rs and
/// BENCHMARKS.md); the debug build the test suite runs is about ten times slower per position,
/// so CI posts this many to stay well within its time (override with
/// `CARTRACK_NO_LOSS_POSITIONS`).
const DEFAULT_POSITIONS: u32 = 400_000;
const VEHICLES: u32 = 1_000;
/// Lines per request.
const REQUEST_LINES: usize = 10_000;
/// Concurrent clients; client `c` posts the vehicles whose key Kafka puts on partition `c`, so
/// each partition's event time only moves forward, as a fleet's would.
const CLIENTS: usize = PARTITIONS as usize;
/// The broker keeps only 64 KiB of consumed records per partition, so it drops consumed data
/// all through the run (and must never drop unconsumed data). Its backlog bound stays at the
/// default: `process` holds its input uncommitted while a tile window can still change (the
/// allowed lateness), so a bound below that much input would stop the pipeline rather than
/// slow it (`tests/broker_retention.rs` exercises refusals).
const RETAIN_BYTES: &str = "65536";

/// librdkafka's default partitioner for keyed records: CRC-32 (IEEE) of the key, modulo the
/// partition count.
fn partition_of(key: &str) -> usize {
    let mut crc = !0u32;
    for byte in key.bytes() {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    (!crc as usize) % CLIENTS
}

/// What the offline core makes of the input.
struct Offline {
    history: HashSet<String>,
    vehicles: HashMap<String, VehicleState>,
    skipped: u64,
}

fn offline(positions: &[Position]) -> Offline {
    let mut processor = Processor::new(ProcessorConfig::with_geofences(Default::default()));
    let mut out = Outputs::default();
    let mut history = HashSet::with_capacity(positions.len());
    let mut vehicles = HashMap::new();
    let mut skipped = 0;
    for position in positions {
        out.clear();
        let _ = processor.process(position, &mut out);
        if out.vehicles.is_empty() {
            skipped += 1;
        }
        for index in &out.vehicles {
            let state = processor.vehicle(*index);
            history.insert(format!("{}-{}", state.vehicle_id, state.timestamp_ms));
            vehicles.insert(state.vehicle_id.clone(), state.clone());
        }
    }
    Offline {
        history,
        vehicles,
        skipped,
    }
}

/// Follows a growing NDJSON sink file, reading only what was appended since the last call.
#[derive(Default)]
struct Follower {
    offset: u64,
    partial: Vec<u8>,
}

impl Follower {
    fn read_new(&mut self, path: &Path, mut line: impl FnMut(&str)) {
        let Ok(mut file) = std::fs::File::open(path) else {
            return;
        };
        file.seek(SeekFrom::Start(self.offset)).unwrap();
        let mut bytes = std::mem::take(&mut self.partial);
        let read = file.read_to_end(&mut bytes).unwrap();
        self.offset += read as u64;
        let complete = bytes
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |end| end + 1);
        self.partial = bytes.split_off(complete);
        for text in std::str::from_utf8(&bytes).unwrap().lines() {
            line(text);
        }
    }
}

/// The `_id` of a sink line (`{"_id":"…","_source":…}`), without parsing the document.
fn document_id(line: &str) -> &str {
    let rest = line
        .strip_prefix("{\"_id\":\"")
        .unwrap_or_else(|| panic!("unexpected sink line {line}"));
    &rest[..rest.find('"').unwrap()]
}

/// Posts `lines` as one request until all of it is taken, resending after each 503 the lines
/// it says were not accepted (the accepted ones are a prefix: batches are acknowledged in
/// order). Returns the number of 503s.
fn post_all(address: &str, lines: &[String]) -> u64 {
    let mut from = 0;
    let mut refusals = 0;
    let deadline = Instant::now() + Duration::from_secs(100);
    while from < lines.len() {
        assert!(Instant::now() < deadline, "ingest never took the request");
        let body = lines[from..].concat();
        let (status, answer) = http(address, "POST", "/v1/positions", Some(&body));
        let report: serde_json::Value = serde_json::from_str(&answer).unwrap_or_else(|err| {
            panic!("{status} with a body that is not JSON ({err}): {answer}")
        });
        let accepted = report["accepted"].as_u64().unwrap_or(0) as usize;
        let rejected: u64 = report["rejected"].as_object().map_or(0, |reasons| {
            reasons.values().filter_map(|n| n.as_u64()).sum()
        });
        match status {
            200 => {
                assert_eq!(rejected, 0, "valid positions rejected: {answer}");
                assert_eq!(accepted, lines.len() - from, "{answer}");
                from = lines.len();
            }
            503 => {
                refusals += 1;
                from += accepted;
            }
            _ => panic!("unexpected answer {status}: {answer}"),
        }
    }
    refusals
}

#[test]
fn every_acknowledged_position_reaches_the_index_exactly_once() {
    let count: u32 = std::env::var("CARTRACK_NO_LOSS_POSITIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_POSITIONS);
    let generated = fleet_positions(57, CityBox::MANHATTAN, VEHICLES, count / VEHICLES);
    // The input is the JSON lines; the offline run reads them back as `ingest` does (JSON
    // numbers are decimal, so a fix read back may differ from the simulator's in the last bit).
    let lines: Vec<String> = generated
        .iter()
        .map(|position| serde_json::to_string(position).unwrap() + "\n")
        .collect();
    drop(generated);
    let positions: Vec<Position> = lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let expected = offline(&positions);
    let expected_tiles = offline_tiles(&positions);

    let sink_dir = tempfile::tempdir().unwrap();
    let sink = sink_dir.path().to_str().unwrap();
    let mut broker = ChildGuard::worker(
        "broker",
        &[
            "broker",
            "--partitions",
            &PARTITIONS.to_string(),
            "--retain-bytes",
            RETAIN_BYTES,
        ],
    );
    let kafka = broker.announced_after("kafka:", Duration::from_secs(30));
    let (mut process, _) = group_worker("process", &kafka, &[]);
    let (mut index, _) = group_worker("index", &kafka, &["--ndjson-dir", sink]);
    let (mut ingest, intake) = ingest_http(&kafka, &[]);

    // Each client's requests: its vehicles' lines in time order, 10,000 to a request.
    let mut per_client: Vec<Vec<String>> = vec![Vec::new(); CLIENTS];
    for (position, line) in positions.iter().zip(lines) {
        per_client[partition_of(&position.vehicle_id)].push(line);
    }
    let started = Instant::now();
    let refusals = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = per_client
        .into_iter()
        .map(|lines| {
            let (intake, refusals) = (intake.clone(), refusals.clone());
            std::thread::spawn(move || {
                for request in lines.chunks(REQUEST_LINES) {
                    refusals.fetch_add(post_all(&intake, request), Ordering::Relaxed);
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    let posted = started.elapsed();

    // Everything is acknowledged; now it must all come out of the index.
    let history_path = sink_dir.path().join("cartrack-vehicle-history.ndjson");
    let tiles_path = sink_dir.path().join("cartrack-tiles.ndjson");
    let mut history = HashSet::with_capacity(expected.history.len());
    let mut history_lines = 0u64;
    let mut follower = Follower::default();
    let mut tiles: BTreeMap<String, TileTraffic> = BTreeMap::new();
    let mut tiles_follower = Follower::default();
    wait_until(
        Duration::from_secs(100),
        "every position and tile window in the sink",
        || {
            for child in [&mut broker, &mut process, &mut index, &mut ingest] {
                child.assert_running();
            }
            follower.read_new(&history_path, |line| {
                history_lines += 1;
                history.insert(document_id(line).to_owned());
            });
            tiles_follower.read_new(&tiles_path, |line| {
                let hit: serde_json::Value = serde_json::from_str(line).unwrap();
                let tile: TileTraffic = serde_json::from_value(hit["_source"].clone()).unwrap();
                // A window re-emitted (late data) overwrites, as in the search store.
                tiles.insert(tile.document_id(), tile);
            });
            history.len() >= expected.history.len() && tiles.len() >= expected_tiles.len()
        },
    );
    let delivered = started.elapsed();
    eprintln!(
        "no_loss: {} positions posted in {:.1} s ({} answers 503), all in the sink after {:.1} s; {} history lines",
        positions.len(),
        posted.as_secs_f64(),
        refusals.load(Ordering::Relaxed),
        delivered.as_secs_f64(),
        history_lines
    );

    assert_eq!(
        expected.skipped, 0,
        "the input has no duplicate or out-of-order fix"
    );
    let missing: Vec<_> = expected.history.difference(&history).take(5).collect();
    let unexpected: Vec<_> = history.difference(&expected.history).take(5).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "lost {} positions (e.g. {missing:?}); {} unexpected ids (e.g. {unexpected:?})",
        expected.history.difference(&history).count(),
        history.difference(&expected.history).count()
    );
    assert_eq!(history.len(), positions.len());

    // The latest state of every vehicle, as the offline core left it.
    let vehicles_path = sink_dir.path().join("cartrack-vehicles.ndjson");
    let mut last_lines: HashMap<String, String> = HashMap::new();
    Follower::default().read_new(&vehicles_path, |line| {
        last_lines.insert(document_id(line).to_owned(), line.to_owned());
    });
    let latest: HashMap<String, VehicleState> = last_lines
        .into_iter()
        .map(|(id, line)| {
            let hit: serde_json::Value = serde_json::from_str(&line).unwrap();
            (id, serde_json::from_value(hit["_source"].clone()).unwrap())
        })
        .collect();
    // Everything but the prediction by the tile's current traffic speed, which depends on how
    // the other vehicles' fixes (from other partitions) interleaved with this one's. Numbers
    // to 1e-9 (degrees: 0.1 mm): serde_json's default float parsing may be one bit off.
    assert_eq!(latest.len(), expected.vehicles.len());
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9;
    for (id, offline) in &expected.vehicles {
        let online = latest
            .get(id)
            .unwrap_or_else(|| panic!("vehicle {id} missing"));
        let same = online.vehicle_id == offline.vehicle_id
            && online.timestamp_ms == offline.timestamp_ms
            && online.tile == offline.tile
            && online.motion == offline.motion
            && online.attributes == offline.attributes
            && close(online.speed_mps, offline.speed_mps)
            && close(online.heading_deg, offline.heading_deg)
            && [
                (online.location, offline.location),
                (
                    online.predictions.dead_reckoning,
                    offline.predictions.dead_reckoning,
                ),
                (online.predictions.kalman, offline.predictions.kalman),
            ]
            .iter()
            .all(|(a, b)| close(a.lat, b.lat) && close(a.lon, b.lon));
        assert!(same, "vehicle {id}: {online:?} offline {offline:?}");
    }

    // The tile windows of the offline run (mean speeds summed in another order may differ in
    // the last bits).
    assert_eq!(tiles.len(), expected_tiles.len(), "tile windows");
    for (id, offline) in &expected_tiles {
        let online = tiles
            .get(id)
            .unwrap_or_else(|| panic!("window {id} missing"));
        assert_eq!(
            (online.vehicles, online.observations),
            (offline.vehicles, offline.observations),
            "window {id}"
        );
        assert!(
            (online.mean_speed_mps - offline.mean_speed_mps).abs()
                <= 1e-9 * offline.mean_speed_mps.abs().max(1.0),
            "window {id}: {online:?} vs {offline:?}"
        );
    }
}
