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

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cartrack_pipeline::kafka::partition_of;
use cartrack_pipeline::model::{Position, TileTraffic, VehicleState};
use cartrack_pipeline::processor::{Outputs, Processor, ProcessorConfig};
use cartrack_pipeline::sources::simulator::CityBox;
use cartrack_pipeline::testkit::fleet_positions;
use support::*;

/// Positions posted (override with `CARTRACK_NO_LOSS_POSITIONS`; 10,000,000 run in
/// `examples/no_loss.rs`, BENCHMARKS.md).
const DEFAULT_POSITIONS: u32 = 2_000_000;
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

/// What the offline core makes of the input: one run gives every vehicle's latest state and
/// every tile window (as `offline_tiles` computes them).
struct Offline {
    vehicles: HashMap<String, VehicleState>,
    tiles: HashMap<String, TileTraffic>,
    /// Positions the core did not apply (duplicates, out of order): none in this input.
    skipped: u64,
}

fn offline(positions: &[Position]) -> Offline {
    let mut processor = Processor::new(ProcessorConfig::with_geofences(Default::default()));
    let mut out = Outputs::default();
    let mut skipped = 0;
    for position in positions {
        if processor.process(position, &mut out).is_err() {
            skipped += 1;
        }
        out.vehicles.clear();
    }
    let vehicles = processor
        .snapshot(0)
        .vehicles
        .into_iter()
        .map(|state| (state.vehicle_id.clone(), state.clone()))
        .collect();
    // Past the end, then idle long enough for every window to close.
    let end = positions.iter().map(|p| p.timestamp_ms).max().unwrap_or(0) + 60_000;
    processor.advance(end, &mut out);
    processor.advance(end + 60_000, &mut out);
    let mut tiles = HashMap::new();
    for tile in out.tiles.drain(..) {
        assert!(
            tiles.insert(tile.document_id(), tile).is_none(),
            "a window emitted twice offline"
        );
    }
    Offline {
        vehicles,
        tiles,
        skipped,
    }
}

/// The history `_id`s the sink holds, against the input's grid of fixes (vehicle `sim-NNNNN`,
/// one fix a second from `t0_ms`): a bit per fix, not a set of two million strings.
struct History {
    t0_ms: i64,
    vehicles: usize,
    seconds: usize,
    seen: Vec<bool>,
    distinct: usize,
    lines: u64,
    unexpected: Vec<String>,
}

impl History {
    fn new(t0_ms: i64, vehicles: usize, seconds: usize) -> Self {
        Self {
            t0_ms,
            vehicles,
            seconds,
            seen: vec![false; vehicles * seconds],
            distinct: 0,
            lines: 0,
            unexpected: Vec::new(),
        }
    }

    /// The fix an id names, if it is one of the input's.
    fn fix(&self, id: &str) -> Option<usize> {
        let (vehicle, timestamp) = id.strip_prefix("sim-")?.split_once('-')?;
        let (vehicle, timestamp): (usize, i64) = (vehicle.parse().ok()?, timestamp.parse().ok()?);
        let offset = timestamp.checked_sub(self.t0_ms)?;
        let second = usize::try_from(offset / 1000).ok()?;
        (offset % 1000 == 0 && vehicle < self.vehicles && second < self.seconds)
            .then_some(second * self.vehicles + vehicle)
    }

    fn note(&mut self, id: &str) {
        self.lines += 1;
        match self.fix(id) {
            Some(fix) if !self.seen[fix] => {
                self.seen[fix] = true;
                self.distinct += 1;
            }
            Some(_) => {} // Written again (re-delivered): the same document id, overwritten.
            None => self.unexpected.push(id.to_owned()),
        }
    }
}

/// The last line of every id in the NDJSON file at `path`, as far back as needed to find
/// `wanted` ids: the file's tail holds every vehicle's newest state, so it is read backwards
/// rather than whole (it has a line per fix).
fn last_lines(path: &Path, wanted: usize) -> HashMap<String, String> {
    let mut file = std::fs::File::open(path).unwrap();
    let size = file.metadata().unwrap().len();
    let mut tail = 1u64 << 22;
    loop {
        let from = size.saturating_sub(tail);
        file.seek(SeekFrom::Start(from)).unwrap();
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).unwrap();
        // ASCII (ids and numbers), so a cut cannot split a character.
        let text = std::str::from_utf8(&bytes).unwrap();
        let mut lines = text.lines().rev();
        if from > 0 {
            lines.next_back(); // The first line read may be cut.
        }
        let mut last: HashMap<String, String> = HashMap::new();
        for line in lines {
            last.entry(document_id(line).to_owned())
                .or_insert_with(|| line.to_owned());
            if last.len() == wanted {
                return last;
            }
        }
        if from == 0 {
            return last;
        }
        tail *= 4;
    }
}

#[test]
fn every_acknowledged_position_reaches_the_index_exactly_once() {
    let count: u32 = std::env::var("CARTRACK_NO_LOSS_POSITIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_POSITIONS);
    let seconds = count / VEHICLES;
    let started = Instant::now();
    // The input is generated while the processes start.
    let generating = std::thread::spawn(move || {
        let mut positions = fleet_positions(57, CityBox::MANHATTAN, VEHICLES, seconds);
        let lines: Vec<String> = positions.iter_mut().map(posted_line).collect();
        (positions, lines)
    });

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

    let (positions, lines) = generating.join().unwrap();
    let generated = started.elapsed();
    // The lines say what the fixes say, as `ingest` reads them (see `posted_line`).
    for (position, line) in positions.iter().zip(&lines).step_by(997) {
        let read: Position = serde_json::from_str(line).unwrap();
        assert!(
            read == *position,
            "{line} reads as {read:?}, not {position:?}"
        );
    }
    let t0_ms = positions[0].timestamp_ms;
    // Each client's requests: its vehicles' lines in time order, 10,000 to a request.
    let mut per_client: Vec<Vec<String>> = vec![Vec::new(); CLIENTS];
    for (position, line) in positions.iter().zip(lines) {
        per_client[partition_of(position.vehicle_id.as_bytes(), PARTITIONS) as usize].push(line);
    }
    // The offline run goes on while the pipeline works.
    let positions = Arc::new(positions);
    let offline_run = {
        let positions = Arc::clone(&positions);
        std::thread::spawn(move || offline(&positions))
    };

    let posting = Instant::now();
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
    let posted = posting.elapsed();

    // Everything is acknowledged; now it must all come out of the index.
    let history_path = sink_dir.path().join("cartrack-vehicle-history.ndjson");
    let tiles_path = sink_dir.path().join("cartrack-tiles.ndjson");
    let mut history = History::new(t0_ms, VEHICLES as usize, seconds as usize);
    let mut follower = Follower::default();
    let mut tiles: BTreeMap<String, TileTraffic> = BTreeMap::new();
    let mut tiles_follower = Follower::default();
    let mut expected: Option<Offline> = None;
    let mut offline_run = Some(offline_run);
    wait_until(
        Duration::from_secs(100),
        "every position and tile window in the sink",
        || {
            for child in [&mut broker, &mut process, &mut index, &mut ingest] {
                child.assert_running();
            }
            follower.read_new(&history_path, |line| history.note(document_id(line)));
            tiles_follower.read_new(&tiles_path, |line| {
                let hit: serde_json::Value = serde_json::from_str(line).unwrap();
                let tile: TileTraffic = serde_json::from_value(hit["_source"].clone()).unwrap();
                // A window re-emitted (late data) overwrites, as in the search store.
                tiles.insert(tile.document_id(), tile);
            });
            if offline_run.as_ref().is_some_and(|run| run.is_finished()) {
                expected = offline_run.take().map(|run| run.join().unwrap());
            }
            let windows = expected.as_ref().map(|offline| offline.tiles.len());
            history.distinct >= positions.len()
                && windows.is_some_and(|windows| tiles.len() >= windows)
        },
    );
    let delivered = posting.elapsed();
    let expected = expected.unwrap();
    eprintln!(
        "no_loss: {} positions generated in {:.1} s, posted in {:.1} s ({} answers 503), all in the sink after {:.1} s; {} history lines",
        positions.len(),
        generated.as_secs_f64(),
        posted.as_secs_f64(),
        refusals.load(Ordering::Relaxed),
        delivered.as_secs_f64(),
        history.lines
    );

    // The offline core applies every fix, so its history is the whole grid of fixes: the
    // sink must hold each of them, and no other id.
    assert_eq!(
        expected.skipped, 0,
        "the input has no duplicate or out-of-order fix"
    );
    assert!(
        history.unexpected.is_empty(),
        "{} ids not in the input, e.g. {:?}",
        history.unexpected.len(),
        &history.unexpected[..history.unexpected.len().min(5)]
    );
    assert_eq!(history.distinct, positions.len());

    // The latest state of every vehicle, as the offline core left it.
    let vehicles_path = sink_dir.path().join("cartrack-vehicles.ndjson");
    let latest: HashMap<String, VehicleState> = last_lines(&vehicles_path, expected.vehicles.len())
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
    assert_eq!(tiles.len(), expected.tiles.len(), "tile windows");
    for (id, offline) in &expected.tiles {
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
