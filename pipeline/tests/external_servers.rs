//! The pipeline against servers running as their own processes: noida-db as the Kafka-protocol
//! broker (produce, consumer groups, offset commits) and osmem-server as the OpenSearch-API
//! store (index templates, `_bulk`, geo queries).
//!
//! A simulated fleet's trace is replayed through `ingest`, processed and indexed; the vehicles
//! must be found by geo queries exactly where the simulator put them.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::time::Duration;

use cartrack_pipeline::geo::haversine_m;
use cartrack_pipeline::model::GeoPoint;
use cartrack_pipeline::sources::simulator::CityBox;
use cartrack_pipeline::testkit::fleet_positions;
use serde_json::json;
use support::*;

const BROKER: BrokerKind = BrokerKind::Noida;

/// A city box used nowhere else: central Paris, about 3 km each way.
const PARIS: CityBox = CityBox {
    south: 48.845,
    west: 2.330,
    north: 48.872,
    east: 2.372,
};

#[test]
fn replayed_fleet_is_indexed_with_geo_mappings_and_found_by_geo_queries() {
    let broker = ExternalBroker::start(BROKER);
    let search = SearchServer::start();

    // The trace: 30 vehicles, a fix a second for 40 s, as a plain CSV.
    let positions = fleet_positions(2024, PARIS, 30, 40);
    let mut trace = tempfile::NamedTempFile::new().unwrap();
    writeln!(trace, "id,timestamp,lon,lat").unwrap();
    for p in &positions {
        writeln!(
            trace,
            "{},{},{},{}",
            p.vehicle_id, p.timestamp_ms, p.lon, p.lat
        )
        .unwrap();
    }
    trace.flush().unwrap();
    let mut last: HashMap<String, GeoPoint> = HashMap::new();
    for p in &positions {
        last.insert(
            p.vehicle_id.clone(),
            GeoPoint {
                lat: p.lat,
                lon: p.lon,
            },
        );
    }

    let kafka = broker.bootstrap.as_str();
    let (mut process, _) = group_worker("process", kafka, &[]);
    let (mut index, _) = group_worker("index", kafka, &["--elasticsearch", &search.url]);
    let trace_path = trace.path().to_str().unwrap();
    let mut ingest = ingest_worker(kafka, &["replay", "--speedup", "200", trace_path]);

    // Every vehicle's latest document is its last fix of the trace.
    wait_until(
        Duration::from_secs(60),
        "every vehicle's last fix in the index",
        || {
            process.assert_running();
            index.assert_running();
            let documents = search.documents("cartrack-vehicles");
            last.iter().all(|(id, point)| {
                documents
                    .get(id)
                    .is_some_and(|doc| same_place(&doc["location"], *point))
            })
        },
    );
    let ingest_exit = ingest_wait(&mut ingest);
    assert!(
        ingest_exit,
        "ingest replay did not exit cleanly after the trace"
    );

    // Fields.
    let vehicles = search.documents("cartrack-vehicles");
    assert_eq!(vehicles.len(), last.len());
    let sample = &vehicles["sim-00000"];
    for field in [
        "vehicle_id",
        "timestamp_ms",
        "location",
        "speed_mps",
        "heading_deg",
        "motion",
        "tile",
    ] {
        assert!(!sample[field].is_null(), "{field} missing in {sample}");
    }
    for model in ["dead_reckoning", "tile_speed", "kalman"] {
        assert!(sample["predictions"][model]["lat"].is_f64(), "{sample}");
    }
    assert_eq!(sample["tile"].as_str().unwrap().len(), 6);

    // Mappings, from the index templates.
    let (status, mapping) = search.request("GET", "/cartrack-vehicles/_mapping", None);
    assert_eq!(status, 200, "{mapping}");
    let properties = &mapping["cartrack-vehicles"]["mappings"]["properties"];
    assert_eq!(properties["location"]["type"], "geo_point", "{mapping}");
    assert_eq!(
        properties["predictions"]["properties"]["kalman"]["type"], "geo_point",
        "{mapping}"
    );
    assert_eq!(properties["timestamp_ms"]["type"], "date", "{mapping}");
    assert_eq!(properties["vehicle_id"]["type"], "keyword", "{mapping}");

    // The time series holds every fix once, under its deterministic id.
    wait_until(Duration::from_secs(30), "every fix in the history", || {
        search.count("cartrack-vehicle-history") == positions.len() as u64
    });

    // geo_bounding_box: the western half of the city.
    let middle = (PARIS.west + PARIS.east) / 2.0;
    let west_half = json!({ "size": 1000, "query": { "geo_bounding_box": { "location": {
        "top_left": { "lat": PARIS.north + 0.01, "lon": PARIS.west - 0.01 },
        "bottom_right": { "lat": PARIS.south - 0.01, "lon": middle },
    } } } });
    let (status, body) = search.request("POST", "/cartrack-vehicles/_search", Some(&west_half));
    assert_eq!(status, 200, "{body}");
    let found: BTreeSet<String> = hits(&body).into_keys().collect();
    let expected: BTreeSet<String> = last
        .iter()
        .filter(|(_, p)| p.lon <= middle)
        .map(|(id, _)| id.clone())
        .collect();
    assert!(
        !expected.is_empty() && expected.len() < last.len(),
        "the box must split the fleet"
    );
    assert_eq!(found, expected);

    // geo_distance: within 600 m of one vehicle (vehicles within a few metres of the circle
    // are left out of the comparison: distance formulas differ by that much).
    let centre = last["sim-00000"];
    let radius_m = 600.0;
    let near = json!({ "size": 1000, "query": { "geo_distance": {
        "distance": format!("{radius_m}m"),
        "location": { "lat": centre.lat, "lon": centre.lon },
    } } });
    let (status, body) = search.request("POST", "/cartrack-vehicles/_search", Some(&near));
    assert_eq!(status, 200, "{body}");
    let found: BTreeSet<String> = hits(&body).into_keys().collect();
    let distance = |id: &str| haversine_m(centre, last[id]);
    assert!(found.contains("sim-00000"));
    for id in last.keys() {
        let d = distance(id);
        if d < radius_m - 5.0 {
            assert!(
                found.contains(id),
                "{id} is {d:.0} m away but was not found"
            );
        } else if d > radius_m + 5.0 {
            assert!(!found.contains(id), "{id} is {d:.0} m away but was found");
        }
    }

    // Tiles are documents on the map too (the last windows close once the stream is idle).
    wait_until(Duration::from_secs(30), "tile windows in the index", || {
        search.count("cartrack-tiles") > 0
    });
    let (status, mapping) = search.request("GET", "/cartrack-tiles/_mapping", None);
    assert_eq!(status, 200, "{mapping}");
    assert_eq!(
        mapping["cartrack-tiles"]["mappings"]["properties"]["location"]["type"], "geo_point",
        "{mapping}"
    );
}

/// Whether a `geo_point` document field is `point`, to a micrometre (JSON decimal round trips
/// may differ in the last bit).
/// Whether `location` is `point` as a vehicle state holds it (rounded).
fn same_place(location: &serde_json::Value, point: GeoPoint) -> bool {
    let point = point.rounded();
    let close = |field: &str, expected: f64| {
        location[field]
            .as_f64()
            .is_some_and(|value| (value - expected).abs() < 1e-11)
    };
    close("lat", point.lat) && close("lon", point.lon)
}

/// Waits for `ingest` (replaying a finite trace) to exit; whether it exited with success.
fn ingest_wait(ingest: &mut ChildGuard) -> bool {
    let mut status = None;
    wait_until(
        Duration::from_secs(30),
        "ingest to exit after the trace",
        || {
            status = ingest.try_exit();
            status.is_some()
        },
    );
    status.unwrap_or(false)
}
