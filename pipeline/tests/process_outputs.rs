//! `process` against an in-process broker: single-position (v1) records in, and vehicle
//! states, closed tile windows and geofence alerts out on their topics, batched (vehicle
//! states as protobuf, v3; the rest as JSON lines, v2).

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cartrack_pipeline::commands::broker::LocalBroker;
use cartrack_pipeline::commands::process::{self, ProcessSettings};
use cartrack_pipeline::geo::destination;
use cartrack_pipeline::kafka::{topics, KafkaConfig};
use cartrack_pipeline::model::{
    GeoPoint, Position, OUTPUT_SCHEMA_V2, POSITION_SCHEMA_V1, SCHEMA_HEADER,
    VEHICLE_STATES_SCHEMA_V3,
};
use cartrack_pipeline::processor::ProcessorConfig;
use cartrack_pipeline::sinks::{indices, route_record};
use cartrack_pipeline::transforms::geofence::Geofences;
use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use tokio::sync::oneshot;

const START: GeoPoint = GeoPoint {
    lat: 40.75,
    lon: -73.98,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emits_keyed_vehicles_tiles_and_alerts() {
    let broker = LocalBroker::start(1).unwrap();
    let bootstrap = broker.bootstrap_servers().to_owned();

    // A cab driving north at 10 m/s, one fix a second, 30 s ago (so its windows are closed),
    // crossing into a fence 55 m north of its start.
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let first_ms = now_ms - 30_000;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    for second in 0..10 {
        let point = destination(START, 0.0, 10.0 * second as f64);
        let position = Position {
            vehicle_id: "cab".into(),
            timestamp_ms: first_ms + second * 1000,
            lat: point.lat,
            lon: point.lon,
            ..Default::default()
        };
        let payload = position.encode_to_vec();
        let headers = OwnedHeaders::new().insert(Header {
            key: SCHEMA_HEADER,
            value: Some(POSITION_SCHEMA_V1),
        });
        let record = FutureRecord::to(topics::POSITIONS)
            .key("cab")
            .payload(&payload)
            .headers(headers);
        producer.send(record, Duration::from_secs(5)).await.unwrap();
    }

    let fences = Geofences::from_toml(
        "[[geofence]]\nname = \"north\"\npolygon = [[-74.0, 40.7505], [-73.9, 40.7505], [-73.9, 40.8], [-74.0, 40.8]]",
    )
    .unwrap();
    let settings = ProcessSettings {
        kafka: KafkaConfig::new(Some(&bootstrap), &["auto.offset.reset=earliest".into()]).unwrap(),
        group: "process-outputs-test".into(),
        http_host: [127, 0, 0, 1].into(),
        http_port: 0,
        read_token: None,
        https: None,
        processor: ProcessorConfig::with_geofences(fences),
        checkpoint_dir: None,
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let processor = tokio::spawn(process::run(settings, async {
        let _ = stopped.await;
    }));

    let observer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "observer")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    observer
        .subscribe(&[topics::VEHICLES, topics::TILES, topics::ALERTS])
        .unwrap();
    let mut received: HashMap<String, Vec<(String, i64, serde_json::Value)>> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let complete = |received: &HashMap<String, Vec<_>>| {
        [
            (topics::VEHICLES, 10),
            (topics::TILES, 1),
            (topics::ALERTS, 1),
        ]
        .iter()
        .all(|(topic, count)| {
            received
                .get(*topic)
                .is_some_and(|records| records.len() >= *count)
        })
    };
    while !complete(&received) {
        assert!(
            Instant::now() < deadline,
            "outputs incomplete: {received:?}"
        );
        let Some(message) =
            tokio::task::block_in_place(|| observer.poll(Duration::from_millis(100)))
        else {
            continue;
        };
        let message = message.unwrap();
        let schema = message.headers().and_then(|headers| {
            headers
                .iter()
                .find(|header| header.key == SCHEMA_HEADER)
                .and_then(|header| header.value)
        });
        let expected = match message.topic() {
            topics::VEHICLES => VEHICLE_STATES_SCHEMA_V3,
            _ => OUTPUT_SCHEMA_V2,
        };
        assert_eq!(schema, Some(expected.as_bytes()));
        assert_eq!(message.key(), None, "batches have no key");
        let timestamp = message.timestamp().to_millis().unwrap();
        // The index's reader gives each document's id (a vehicle's first is its own id).
        let mut documents = Vec::new();
        route_record(
            message.topic(),
            schema,
            None,
            timestamp,
            message.payload().unwrap(),
            &mut documents,
            |why| panic!("{why}"),
        );
        let records = received.entry(message.topic().to_owned()).or_default();
        for document in documents
            .iter()
            .filter(|d| d.index != indices::VEHICLE_HISTORY)
        {
            let json = serde_json::from_slice(&document.source).unwrap();
            records.push((document.id.clone(), timestamp, json));
        }
    }

    let vehicles = &received[topics::VEHICLES];
    assert!(vehicles.iter().all(|(key, _, _)| key == "cab"));
    let (_, timestamp, last) = &vehicles[9];
    assert_eq!(last["timestamp_ms"], first_ms + 9_000);
    assert_eq!(
        *timestamp,
        first_ms + 9_000,
        "record time is the newest document's event time"
    );
    assert_eq!(last["motion"], "moving");
    assert!((last["speed_mps"].as_f64().unwrap() - 10.0).abs() < 1e-6);

    let (alert_key, _, alert) = &received[topics::ALERTS][0];
    assert_eq!(*alert_key, format!("cab-north-enter-{}", first_ms + 6_000));
    assert_eq!(alert["crossing"], "enter");

    let (tile_key, _, tile) = &received[topics::TILES][0];
    assert_eq!(
        *tile_key,
        format!(
            "{}-{}",
            tile["tile"].as_str().unwrap(),
            tile["window_start_ms"]
        )
    );
    assert_eq!(tile["vehicles"], 1);

    stop.send(()).unwrap();
    processor.await.unwrap().unwrap();
}
