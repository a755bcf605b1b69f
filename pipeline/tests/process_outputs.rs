//! `process` against an in-process broker: positions in, and keyed vehicle states, closed tile
//! windows and geofence alerts out on their topics.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cartrack_pipeline::commands::broker::LocalBroker;
use cartrack_pipeline::commands::process::{self, ProcessSettings};
use cartrack_pipeline::geo::destination;
use cartrack_pipeline::kafka::{topics, KafkaConfig};
use cartrack_pipeline::model::{GeoPoint, Position, POSITION_SCHEMA_V1, SCHEMA_HEADER};
use cartrack_pipeline::processor::ProcessorConfig;
use cartrack_pipeline::transforms::geofence::Geofences;
use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Message, OwnedHeaders};
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
        processor: ProcessorConfig::with_geofences(fences),
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
        let key = String::from_utf8(message.key().unwrap().to_vec()).unwrap();
        let json = serde_json::from_slice(message.payload().unwrap()).unwrap();
        let timestamp = message.timestamp().to_millis().unwrap();
        received
            .entry(message.topic().to_owned())
            .or_default()
            .push((key, timestamp, json));
    }

    let vehicles = &received[topics::VEHICLES];
    assert!(vehicles.iter().all(|(key, _, _)| key == "cab"));
    let (_, timestamp, last) = &vehicles[9];
    assert_eq!(*timestamp, first_ms + 9_000, "record time is event time");
    assert_eq!(last["motion"], "moving");
    assert!((last["speed_mps"].as_f64().unwrap() - 10.0).abs() < 1e-6);

    let (alert_key, _, alert) = &received[topics::ALERTS][0];
    assert_eq!(*alert_key, format!("cab-north-enter-{}", first_ms + 6_000));
    assert_eq!(alert["crossing"], "enter");

    let (tile_key, tile_time, tile) = &received[topics::TILES][0];
    assert_eq!(
        *tile_key,
        format!("{}-{tile_time}", tile["tile"].as_str().unwrap())
    );
    assert_eq!(tile["vehicles"], 1);

    stop.send(()).unwrap();
    processor.await.unwrap().unwrap();
}
