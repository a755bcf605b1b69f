//! Crashes: `process`, `index` and the search server are SIGKILLed mid-stream and restarted,
//! with the real `cartrack-worker` binary against a Kafka-protocol broker in its own process
//! (noida-db) and osmem-server. The input is deterministic (a seeded simulated fleet with fixed
//! timestamps), so what must come out is computed offline by the same processing core.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cartrack_pipeline::kafka::topics;
use cartrack_pipeline::model::{Position, TileTraffic};
use cartrack_pipeline::sources::simulator::CityBox;
use cartrack_pipeline::testkit::{fleet_positions, offline_tiles};
use support::*;

const BROKER: BrokerKind = BrokerKind::Embedded;

const VEHICLES: u32 = 40;
const SECONDS: u32 = 120;

fn input() -> Vec<Position> {
    fleet_positions(31, CityBox::MANHATTAN, VEHICLES, SECONDS)
}

/// Whether two copies of a window agree (the mean speed may differ in the last bits: fixes
/// are summed in the order they are read).
fn same_window(a: &TileTraffic, b: &TileTraffic) -> bool {
    let close =
        (a.mean_speed_mps - b.mean_speed_mps).abs() <= 1e-9 * a.mean_speed_mps.abs().max(1.0);
    close
        && TileTraffic {
            mean_speed_mps: b.mean_speed_mps,
            ..a.clone()
        } == *b
}

/// `process` with a 20 s allowed lateness: windows of the 120 s input become final (and their
/// input committed) while it runs, which the default 10 minutes would not allow.
fn start_process(kafka: &str) -> (ChildGuard, String) {
    let extra = ["--group", "crash-process", "--allowed-lateness-secs", "20"];
    group_worker("process", kafka, &extra)
}

fn start_index(kafka: &str, elasticsearch: &str) -> ChildGuard {
    let extra = [
        "--group",
        "crash-index",
        "--elasticsearch",
        elasticsearch,
        "--batch-size",
        "200",
    ];
    group_worker("index", kafka, &extra).0
}

#[test]
fn process_killed_mid_stream_and_restarted_emits_the_offline_tile_aggregates() {
    let broker = ExternalBroker::start(BROKER);
    let kafka = broker.bootstrap.as_str();
    let positions = input();
    let half = positions.len() / 2;
    let expected = offline_tiles(&positions);

    produce_positions(kafka, &positions[..half]);
    let (mut process, metrics) = start_process(kafka);
    // Killed once it has emitted windows and committed past some input, while the windows of
    // the input's last seconds are still open (their offsets uncommitted).
    wait_until(
        Duration::from_secs(60),
        "process to emit windows and commit",
        || {
            process.assert_running();
            counter(
                &metrics,
                "cartrack_process_records_out_total{endpoint=\"cartrack.tiles\"}",
            ) > 0.0
                && committed_total(kafka, "crash-process", topics::POSITIONS) > 0
        },
    );
    process.sigkill();
    let committed = committed_total(kafka, "crash-process", topics::POSITIONS);
    assert!(
        committed < half as i64,
        "everything was committed ({committed}): nothing left to re-read"
    );

    produce_positions(kafka, &positions[half..]);
    let (mut process, _) = start_process(kafka);
    let mut records = Vec::new();
    wait_until(
        Duration::from_secs(60),
        "every window of the input on cartrack.tiles",
        || {
            process.assert_running();
            records = read_topic(kafka, topics::TILES);
            let keys: BTreeSet<&str> = records.iter().map(|(key, _)| key.as_str()).collect();
            expected.keys().all(|key| keys.contains(key.as_str()))
        },
    );

    // Every copy of every window (re-emitted ones included) is the offline result: none
    // double-counted, none partial, none extra.
    let mut copies: BTreeMap<String, usize> = BTreeMap::new();
    for (key, value) in &records {
        let tile: TileTraffic = serde_json::from_slice(value).unwrap();
        assert_eq!(&tile.document_id(), key);
        let want = expected
            .get(key)
            .unwrap_or_else(|| panic!("window {key} is not in the input"));
        assert!(
            same_window(&tile, want),
            "window {key}: got {tile:?}, offline {want:?}"
        );
        *copies.entry(key.clone()).or_default() += 1;
    }
    let re_emitted = copies.values().filter(|&&n| n > 1).count();
    eprintln!(
        "{} windows, {re_emitted} emitted again after the restart (same id, same value); {committed} of {half} positions committed at the kill",
        expected.len()
    );
}

/// `process` and `index` running on `first_half`, until the first documents are in the store:
/// where the index and search server crash tests strike. Returns both workers.
fn first_half_indexing(
    kafka: &str,
    search: &SearchServer,
    first_half: &[Position],
) -> (ChildGuard, ChildGuard) {
    let (process, _) = start_process(kafka);
    let mut index = start_index(kafka, &search.url);
    produce_positions(kafka, first_half);
    wait_until(
        Duration::from_secs(60),
        "the first documents in the store",
        || {
            index.assert_running();
            search.count("cartrack-vehicle-history") > 0
        },
    );
    (process, index)
}

#[test]
fn index_killed_mid_stream_loses_nothing_and_duplicates_nothing() {
    let broker = ExternalBroker::start(BROKER);
    let search = SearchServer::start();
    let kafka = broker.bootstrap.as_str();
    let positions = input();
    let half = positions.len() / 2;

    let (_process, mut index) = first_half_indexing(kafka, &search, &positions[..half]);
    index.sigkill();
    let at_kill = search.count("cartrack-vehicle-history");
    produce_positions(kafka, &positions[half..]);
    let _index = start_index(kafka, &search.url);

    assert_store_holds_exactly(&search, &positions);
    eprintln!(
        "{at_kill} of {} history documents were in the store when index was killed",
        positions.len()
    );
}

#[test]
fn search_server_killed_mid_bulk_and_restarted_empty_gets_everything_again() {
    let broker = ExternalBroker::start(BROKER);
    let mut search = SearchServer::start();
    let kafka = broker.bootstrap.as_str();
    let positions = input();
    let half = positions.len() / 2;

    let (_process, mut index) = first_half_indexing(kafka, &search, &positions[..half]);
    // Killed while batches are still arriving; osmem keeps everything in memory, so it comes
    // back empty, without the index templates.
    search.crash_and_restart();
    produce_positions(kafka, &positions[half..]);

    assert_store_holds_exactly(&search, &positions);
    index.assert_running();
    let (_, mapping) = search.request("GET", "/cartrack-vehicle-history/_mapping", None);
    assert_eq!(
        mapping["cartrack-vehicle-history"]["mappings"]["properties"]["location"]["type"],
        "geo_point",
        "the templates must be back before the first document: {mapping}"
    );
}

/// Waits until the store holds every document the input yields, then checks it holds nothing
/// else: one history document per fix, one latest document per vehicle, one per tile window,
/// each under its deterministic id, tiles with the offline values.
fn assert_store_holds_exactly(search: &SearchServer, positions: &[Position]) {
    let history: BTreeSet<String> = positions
        .iter()
        .map(|p| format!("{}-{}", p.vehicle_id, p.timestamp_ms))
        .collect();
    let vehicles: BTreeSet<String> = positions.iter().map(|p| p.vehicle_id.clone()).collect();
    let tiles = offline_tiles(positions);
    wait_until(
        Duration::from_secs(60),
        "every document in the store",
        || {
            search.count("cartrack-vehicle-history") >= history.len() as u64
                && search.count("cartrack-tiles") >= tiles.len() as u64
        },
    );
    let stored: BTreeSet<String> = search
        .documents("cartrack-vehicle-history")
        .into_keys()
        .collect();
    assert_eq!(
        stored.len() as u64,
        search.count("cartrack-vehicle-history")
    );
    assert_eq!(
        stored, history,
        "history documents lost or under unexpected ids"
    );
    let stored: BTreeSet<String> = search.documents("cartrack-vehicles").into_keys().collect();
    assert_eq!(stored, vehicles);
    let stored = search.documents("cartrack-tiles");
    assert_eq!(
        stored.keys().collect::<BTreeSet<_>>(),
        tiles.keys().collect::<BTreeSet<_>>()
    );
    for (id, source) in &stored {
        let tile: TileTraffic = serde_json::from_value(source.clone()).unwrap();
        assert!(
            same_window(&tile, &tiles[id]),
            "tile {id}: {tile:?} vs offline {:?}",
            tiles[id]
        );
    }
}
