//! Late data, with the real processes: `broker`, `ingest http` and `process`. Positions an hour
//! old are posted over HTTP with pauses long enough for every partition to go idle (the wall
//! clock then emits the windows), and in bursts with buffered devices that upload minutes of
//! fixes at once. Whatever the timing, the last record of every tile window on
//! `cartrack.tiles` (what the index keeps: it overwrites by the record key, the document id)
//! must be exactly the window an offline run of the core computes from the same input.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use cartrack_pipeline::kafka::topics;
use cartrack_pipeline::model::{Position, TileTraffic};
use cartrack_pipeline::sources::simulator::CityBox;
use cartrack_pipeline::testkit::{fleet_positions, offline_tiles};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::*;

/// Lines per `POST /v1/positions` (about 0.8 MB).
const LINES_PER_REQUEST: usize = 5_000;

/// Posting waits while `process` is this many positions behind, so the broker never holds
/// more than about a megabyte per partition of unread positions.
const MAX_LAG: u64 = 40_000;

/// The window length of the core, ms.
const WINDOW_MS: i64 = 10_000;

struct Pipeline {
    kafka: String,
    ingest_address: String,
    process_address: String,
    processes: Vec<ChildGuard>,
    posted: u64,
    _broker: ExternalBroker,
}

impl Pipeline {
    fn start(group: &str) -> Self {
        let broker = ExternalBroker::start(BrokerKind::Embedded);
        let kafka = broker.bootstrap.clone();
        let (process, process_address) = group_worker("process", &kafka, &["--group", group]);
        let (ingest, ingest_address) = ingest_http(&kafka, &[]);
        Self {
            kafka,
            ingest_address,
            process_address,
            processes: vec![process, ingest],
            posted: 0,
            _broker: broker,
        }
    }

    fn assert_running(&mut self) {
        for process in &mut self.processes {
            process.assert_running();
        }
    }

    /// Positions `process` has read.
    fn read_by_process(&self) -> u64 {
        counter(
            &self.process_address,
            "cartrack_process_records_in_total{endpoint=\"cartrack.positions\"}",
        ) as u64
    }

    /// Posts `positions` as JSON lines, resending a request `ingest` answers 503 (Kafka did
    /// not take everything: a resent position is a duplicate the core skips, offline too).
    fn post(&mut self, positions: &[Position]) {
        for chunk in positions.chunks(LINES_PER_REQUEST) {
            let posted = self.posted;
            wait_until(Duration::from_secs(60), "process to catch up", || {
                self.read_by_process() + MAX_LAG >= posted
            });
            let mut body = String::with_capacity(chunk.len() * 160);
            for position in chunk {
                body.push_str(&serde_json::to_string(position).unwrap());
                body.push('\n');
            }
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let (status, answer) =
                    http(&self.ingest_address, "POST", "/v1/positions", Some(&body));
                if status == 200 {
                    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
                    assert_eq!(answer["accepted"], chunk.len(), "{answer}");
                    break;
                }
                assert_eq!(status, 503, "{answer}");
                assert!(
                    Instant::now() < deadline,
                    "ingest kept answering 503: {answer}"
                );
                self.assert_running();
                std::thread::sleep(Duration::from_millis(100)); // Backoff before resending.
            }
            self.posted += chunk.len() as u64;
        }
    }

    /// Waits until `process` has read everything posted.
    fn wait_read_all(&mut self) {
        let posted = self.posted;
        wait_until(
            Duration::from_secs(60),
            "process to read every position",
            || self.read_by_process() >= posted,
        );
    }

    /// The tile windows as the index would hold them: the JSON of the last record of each
    /// key (compared as bytes: the serialiser writes each f64 exactly, whereas parsing it back
    /// may be off by an ulp).
    fn tiles(&self) -> (HashMap<String, Vec<u8>>, usize) {
        let records = read_topic(&self.kafka, topics::TILES);
        let count = records.len();
        let mut tiles = HashMap::new();
        for (key, value) in records {
            let tile: TileTraffic = serde_json::from_slice(&value).unwrap();
            assert_eq!(tile.document_id(), key);
            tiles.insert(key, value);
        }
        (tiles, count)
    }

    /// Polls `cartrack.tiles` until its windows are exactly `expected` (what the index would
    /// hold); panics with the differences after `timeout`. Returns the records read.
    fn wait_for_tiles(
        &mut self,
        expected: &HashMap<String, TileTraffic>,
        timeout: Duration,
    ) -> usize {
        let expected: HashMap<&String, Vec<u8>> = expected
            .iter()
            .map(|(key, tile)| (key, serde_json::to_vec(tile).unwrap()))
            .collect();
        let deadline = Instant::now() + timeout;
        loop {
            self.assert_running();
            let (tiles, records) = self.tiles();
            let equal = tiles.len() == expected.len()
                && tiles.iter().all(|(k, t)| expected.get(k) == Some(t));
            if equal {
                return records;
            }
            if Instant::now() > deadline {
                let missing = expected.keys().filter(|k| !tiles.contains_key(**k)).count();
                let extra = tiles.keys().filter(|k| !expected.contains_key(k)).count();
                let differ: Vec<_> = tiles
                    .iter()
                    .filter(|(k, t)| expected.get(k).is_some_and(|e| e != *t))
                    .take(3)
                    .map(|(k, t)| {
                        format!(
                            "{k}: got {}, offline {}",
                            String::from_utf8_lossy(t),
                            String::from_utf8_lossy(&expected[k])
                        )
                    })
                    .collect();
                panic!(
                    "after {timeout:?}: {} windows expected, {} got; {missing} missing, {extra} extra, e.g. {differ:#?}; late_for_window = {}",
                    expected.len(),
                    tiles.len(),
                    self.late_for_window()
                );
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn late_for_window(&self) -> f64 {
        counter(
            &self.process_address,
            "cartrack_process_rejects_total{reason=\"late_for_window\"}",
        )
    }

    /// Nothing was late: neither on `/metrics` nor in the snapshot.
    fn assert_nothing_late(&self) {
        assert_eq!(self.late_for_window(), 0.0);
        let (status, body) = http(&self.process_address, "GET", "/v1/snapshot", None);
        assert_eq!(status, 200);
        let snapshot: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            snapshot["late"]["beyond_lateness"], 0,
            "{}",
            snapshot["late"]
        );
        assert_eq!(snapshot["late"]["allowed_lateness_ms"], 600_000);
    }
}

/// Copies per window on the topic, for the report: how many windows were re-emitted.
fn re_emitted(kafka: &str) -> usize {
    let mut copies: BTreeMap<String, usize> = BTreeMap::new();
    for (key, _) in read_topic(kafka, topics::TILES) {
        *copies.entry(key).or_default() += 1;
    }
    copies.values().filter(|&&n| n > 1).count()
}

/// The case: 60,000 positions of 2,000 vehicles from an hour ago, with a 7 s pause
/// after the first 30,000. During the pause every partition idles and the wall clock emits
/// every window, the half-filled one included; the second half must still count, and the
/// half-filled window must be emitted again, complete.
#[test]
fn a_pause_after_half_the_positions_loses_no_fix_from_the_tiles() {
    let started = Instant::now();
    let positions = fleet_positions(15, CityBox::MANHATTAN, 2_000, 30);
    assert_eq!(positions.len(), 60_000);
    let expected = offline_tiles(&positions);
    let (first, second) = positions.split_at(30_000);
    let straddling = first.last().unwrap().timestamp_ms;
    let straddling = straddling - straddling.rem_euclid(WINDOW_MS);
    assert_eq!(
        second[0].timestamp_ms - second[0].timestamp_ms.rem_euclid(WINDOW_MS),
        straddling,
        "the halves must share a window"
    );

    let mut pipeline = Pipeline::start("late-pause");
    pipeline.post(first);
    pipeline.wait_read_all();
    // The pause (the scenario, not a synchronisation): longer than the 5 s idle timeout.
    std::thread::sleep(Duration::from_secs(7));
    let (during_pause, _) = pipeline.tiles();
    let half = expected
        .values()
        .find(|t| t.window_start_ms == straddling)
        .map(TileTraffic::document_id)
        .unwrap();
    let emitted_half: TileTraffic = during_pause
        .get(&half)
        .map(|json| serde_json::from_slice(json).unwrap())
        .unwrap_or_else(|| panic!("the wall clock did not emit {half} during the pause"));
    assert!(
        emitted_half.observations < expected[&half].observations,
        "{half} was complete before the second half: {emitted_half:?}"
    );

    pipeline.post(second);
    let records = pipeline.wait_for_tiles(&expected, Duration::from_secs(60));
    pipeline.assert_nothing_late();

    // Two devices report fixes 15 and 20 minutes older than the fleet: beyond the default
    // 10 min lateness. Counted per window, shown, and not in the tiles.
    let t0 = positions[0].timestamp_ms;
    let stragglers: Vec<Position> = (0..5)
        .map(|s| (t0 - 1_200_000 + s * 1_000, "straggler-a"))
        .chain((0..3).map(|s| (t0 - 900_000 + s * 1_000, "straggler-b")))
        .map(|(timestamp_ms, vehicle)| Position {
            vehicle_id: vehicle.into(),
            timestamp_ms,
            ..positions[0].clone()
        })
        .collect();
    pipeline.post(&stragglers);
    wait_until(
        Duration::from_secs(30),
        "8 fixes beyond the lateness",
        || pipeline.late_for_window() >= 8.0,
    );
    let (_, body) = http(&pipeline.process_address, "GET", "/v1/snapshot", None);
    let snapshot: serde_json::Value = serde_json::from_str(&body).unwrap();
    let late = &snapshot["late"];
    assert_eq!(late["beyond_lateness"], 8, "{late}");
    let windows: Vec<(i64, u64)> = late["windows_beyond_lateness"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["window_start_ms"].as_i64().unwrap(),
                w["fixes"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(windows, [(t0 - 900_000, 3), (t0 - 1_200_000, 5)], "{late}");
    assert_eq!(pipeline.late_for_window(), 8.0);
    pipeline.wait_for_tiles(&expected, Duration::from_secs(5));
    eprintln!(
        "pause: {} windows expected, {} got (last record per id, equal to offline), {records} records, {} windows re-emitted, {} emitted during the pause; late_for_window 0, then 8 after 8 fixes 15-20 min old; {:.1} s",
        expected.len(),
        expected.len(),
        re_emitted(&pipeline.kafka),
        during_pause.len(),
        started.elapsed().as_secs_f64()
    );
}

/// 500,000 positions (2,000 vehicles, 250 s from an hour ago) posted in random-sized bursts
/// with random pauses (seeded; 20 s of pauses at most), while a tenth of the fleet is offline
/// from 60 s to 200 s and uploads its buffered fixes at 200 s, minutes behind the others.
#[test]
fn bursts_pauses_and_buffered_devices_give_the_offline_tiles() {
    let started = Instant::now();
    let fleet = fleet_positions(16, CityBox::MANHATTAN, 2_000, 250);
    assert_eq!(fleet.len(), 500_000);
    let t0 = fleet[0].timestamp_ms;
    let buffered = |position: &Position| position.vehicle_id.ends_with('3');
    let offline_from = t0 + 60_000;
    let back_at = t0 + 200_000;
    // The order devices deliver in: a buffered device's fixes from 60 s to 200 s come right
    // after everybody's fixes of 200 s (each vehicle's own fixes stay in order).
    let (held, mut live): (Vec<Position>, Vec<Position>) = fleet
        .into_iter()
        .partition(|p| buffered(p) && (offline_from..back_at).contains(&p.timestamp_ms));
    let upload_at = live.iter().position(|p| p.timestamp_ms > back_at).unwrap();
    let held_count = held.len();
    live.splice(upload_at..upload_at, held);
    let positions = live;
    let expected = offline_tiles(&positions);

    let mut rng = StdRng::seed_from_u64(15);
    let mut schedule = Vec::new(); // (burst size, pause after it)
    let mut pause_budget = Duration::from_secs(20);
    let mut left = positions.len();
    while left > 0 {
        let burst = rng.random_range(1_000..=60_000).min(left);
        let pause = Duration::from_millis(rng.random_range(0..=7_000)).min(pause_budget);
        pause_budget -= pause;
        left -= burst;
        schedule.push((burst, if left > 0 { pause } else { Duration::ZERO }));
    }
    let idle_pauses = schedule
        .iter()
        .filter(|(_, pause)| *pause > Duration::from_millis(5_500))
        .count();
    assert!(
        idle_pauses > 0,
        "the seed must give a pause past the idle timeout: {schedule:?}"
    );

    let mut pipeline = Pipeline::start("late-bursts");
    let mut next = 0;
    for &(burst, pause) in &schedule {
        pipeline.post(&positions[next..next + burst]);
        next += burst;
        if !pause.is_zero() {
            pipeline.wait_read_all();
            std::thread::sleep(pause); // The scenario's pause.
        }
    }
    let records = pipeline.wait_for_tiles(&expected, Duration::from_secs(60));
    pipeline.assert_nothing_late();
    eprintln!(
        "bursts: {} bursts, {idle_pauses} pauses past the idle timeout, {held_count} buffered fixes uploaded late; {} windows expected, {} got (equal to offline), {records} records, {} windows re-emitted; late_for_window 0; {:.1} s",
        schedule.len(),
        expected.len(),
        expected.len(),
        re_emitted(&pipeline.kafka),
        started.elapsed().as_secs_f64()
    );
}
