//! `process` with `--checkpoint-dir` commits its input past tile windows that can still change,
//! and a `process` SIGKILLed after such a commit, restarted on the same directory, restores
//! the checkpoint and gives exactly what an offline run of the core gives: every tile window,
//! and the vehicle state of every fix. A checkpoint taken against a broker that has since been
//! restarted (empty) is left aside. Real processes: `broker`, `process` (and a producer in the
//! test, as `ingest` produces).

mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use cartrack_pipeline::kafka::topics;
use cartrack_pipeline::model::{GeoPoint, Position, VehicleState};
use cartrack_pipeline::processor::{Outputs, Processor, ProcessorConfig};
use cartrack_pipeline::sources::simulator::CityBox;
use cartrack_pipeline::testkit::{fleet_positions, offline_tiles};
use support::*;

const GROUP: &str = "checkpoint-process";
const VEHICLES: u32 = 40;
const SECONDS: u32 = 120;

/// `process` at the default allowed lateness (10 minutes): no window of the 120 s input becomes
/// final while it runs, so without the checkpoint nothing of it could be committed.
fn start_process(kafka: &str, checkpoints: &str) -> (ChildGuard, String) {
    group_worker(
        "process",
        kafka,
        &["--group", GROUP, "--checkpoint-dir", checkpoints],
    )
}

/// The vehicle state after each fix, by (vehicle, timestamp), from the core run offline.
fn offline_states(positions: &[Position]) -> HashMap<(String, i64), VehicleState> {
    let mut processor = Processor::new(ProcessorConfig::with_geofences(Default::default()));
    let mut out = Outputs::default();
    let mut states = HashMap::new();
    for position in positions {
        out.clear();
        processor.process(position, &mut out).unwrap();
        for &index in &out.vehicles {
            let state = processor.vehicle(index);
            states.insert(
                (state.vehicle_id.clone(), state.timestamp_ms),
                state.clone(),
            );
        }
    }
    states
}

/// Equal but for the prediction by the tile's current traffic speed (which depends on how the
/// partitions' fixes interleaved) and the last bit of a float read back from JSON.
fn same_state(a: &VehicleState, b: &VehicleState) -> bool {
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-9;
    let near = |p: GeoPoint, q: GeoPoint| close(p.lat, q.lat) && close(p.lon, q.lon);
    a.vehicle_id == b.vehicle_id
        && a.timestamp_ms == b.timestamp_ms
        && a.tile == b.tile
        && a.motion == b.motion
        && a.attributes == b.attributes
        && close(a.speed_mps, b.speed_mps)
        && close(a.heading_deg, b.heading_deg)
        && near(a.location, b.location)
        && near(a.predictions.dead_reckoning, b.predictions.dead_reckoning)
        && near(a.predictions.kalman, b.predictions.kalman)
}

#[test]
fn process_killed_after_a_checkpoint_with_windows_open_restores_it_and_gives_the_offline_results() {
    let broker = ExternalBroker::start(BrokerKind::Embedded);
    let kafka = broker.bootstrap.as_str();
    let checkpoints = tempfile::tempdir().unwrap();
    let checkpoint_dir = checkpoints.path().to_str().unwrap();
    let positions = fleet_positions(41, CityBox::MANHATTAN, VEHICLES, SECONDS);
    let (first, rest) = positions.split_at(positions.len() / 2);
    let (second, third) = rest.split_at(rest.len() / 2);
    let expected_tiles = offline_tiles(&positions);
    let expected_states = offline_states(&positions);

    // The first half is read, checkpointed and committed whole, though all its windows are open.
    produce_positions(kafka, first);
    let (mut process, address) = start_process(kafka, checkpoint_dir);
    wait_until(
        Duration::from_secs(60),
        "process to commit the first half",
        || {
            process.assert_running();
            committed_total(kafka, GROUP, topics::POSITIONS) == first.len() as i64
        },
    );
    let (_, snapshot) = http(&address, "GET", "/v1/snapshot", None);
    let snapshot: serde_json::Value = serde_json::from_str(&snapshot).unwrap();
    let open = snapshot["late"]["open_windows"].as_u64().unwrap();
    assert!(open > 0, "no window open: {}", snapshot["late"]);
    assert!(checkpoints
        .path()
        .join(format!("process-{GROUP}.checkpoint"))
        .is_file());

    // Then a quarter more is read (not yet checkpointed, most likely) and process is killed.
    produce_positions(kafka, second);
    let read_so_far = (first.len() + second.len()) as f64;
    wait_until(
        Duration::from_secs(60),
        "process to read the second quarter",
        || {
            process.assert_running();
            counter(
                &address,
                "cartrack_process_records_in_total{endpoint=\"cartrack.positions\"}",
            ) >= read_so_far
        },
    );
    process.sigkill();
    let committed = committed_total(kafka, GROUP, topics::POSITIONS);

    produce_positions(kafka, third);
    let (mut process, _) = start_process(kafka, checkpoint_dir);
    let mut tiles: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    wait_until(
        Duration::from_secs(60),
        "every window of the input on cartrack.tiles",
        || {
            process.assert_running();
            tiles.clear();
            for (key, value) in read_topic(kafka, topics::TILES) {
                // The last record of a key is what the index keeps.
                tiles.insert(key, value);
            }
            expected_tiles.keys().all(|key| tiles.contains_key(key))
        },
    );
    assert_eq!(
        tiles.len(),
        expected_tiles.len(),
        "windows not in the input"
    );
    // Compared as JSON bytes: the serialiser writes each f64 exactly, whereas parsing it back
    // may be off by an ulp.
    for (id, tile) in &tiles {
        let expected = serde_json::to_vec(&expected_tiles[id]).unwrap();
        assert!(
            *tile == expected,
            "window {id}: {} offline {}",
            String::from_utf8_lossy(tile),
            String::from_utf8_lossy(&expected)
        );
    }

    // Every fix's vehicle state, once or (re-read after the kill) again with the same content.
    let mut states: HashMap<(String, i64), VehicleState> = HashMap::new();
    let mut copies = 0;
    for (_, value) in read_topic(kafka, topics::VEHICLES) {
        let state: VehicleState = serde_json::from_slice(&value).unwrap();
        let key = (state.vehicle_id.clone(), state.timestamp_ms);
        let expected = expected_states
            .get(&key)
            .unwrap_or_else(|| panic!("a state for a fix not in the input: {state:?}"));
        assert!(
            same_state(&state, expected),
            "{state:?}\noffline {expected:?}"
        );
        if states.insert(key, state).is_some() {
            copies += 1;
        }
    }
    assert_eq!(states.len(), expected_states.len(), "fixes without a state");
    eprintln!(
        "checkpoint: {} windows ({open} open at the first commit), {committed} of {} positions committed at the kill, {copies} states emitted again after the restart",
        expected_tiles.len(),
        first.len() + second.len()
    );
}

#[test]
fn a_checkpoint_of_a_broker_that_was_restarted_is_not_used() {
    let checkpoints = tempfile::tempdir().unwrap();
    let checkpoint_dir = checkpoints.path().to_str().unwrap();
    let positions = fleet_positions(43, CityBox::MANHATTAN, VEHICLES, SECONDS);
    let (first, later) = positions.split_at(positions.len() / 2);
    {
        let broker = ExternalBroker::start(BrokerKind::Embedded);
        let kafka = broker.bootstrap.as_str();
        produce_positions(kafka, first);
        let (mut process, _) = start_process(kafka, checkpoint_dir);
        wait_until(
            Duration::from_secs(60),
            "process to commit the input",
            || {
                process.assert_running();
                committed_total(kafka, GROUP, topics::POSITIONS) == first.len() as i64
            },
        );
        process.sigkill();
    } // The in-memory broker goes, and its records and offsets with it.

    // A new broker, fewer records on each partition than the checkpoint had read: the
    // checkpoint would skip them all, so it must be left aside.
    let later = &later[..later.len() / 2];
    let broker = ExternalBroker::start(BrokerKind::Embedded);
    let kafka = broker.bootstrap.as_str();
    produce_positions(kafka, later);
    let (mut process, _) = start_process(kafka, checkpoint_dir);
    let expected = offline_tiles(later);
    let mut tiles: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    wait_until(
        Duration::from_secs(60),
        "every window of the new input on cartrack.tiles",
        || {
            process.assert_running();
            tiles = read_topic(kafka, topics::TILES).into_iter().collect();
            expected.keys().all(|key| tiles.contains_key(key))
        },
    );
    assert_eq!(tiles.len(), expected.len());
    for (id, tile) in &tiles {
        assert_eq!(
            *tile,
            serde_json::to_vec(&expected[id]).unwrap(),
            "window {id}"
        );
    }
}
