//! `ingest replay` as a process against an in-process broker: both CSV schemas, bad lines
//! skipped (never stopping the replay), records re-stamped to now, and ingest exiting when the
//! files are done.

use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cartrack_pipeline::commands::broker::LocalBroker;
use cartrack_pipeline::kafka::{partition_of, topics};
use cartrack_pipeline::model::{Position, SCHEMA_HEADER};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::ClientConfig;

/// Partitions of each topic of the broker.
const PARTITIONS: i32 = 1;

const PLAIN: &str = "id,timestamp,lon,lat
car-1,1700000000,-73.9800,40.7500
car-1,1700000001,-73.9801,40.7501
a line that is not a record
car-2,yesterday,-73.97,40.76
car-2,1700000001,-73.97,95.0
car-1,1700000002,-73.9802,40.7502
";

const TAXI: &str = "\
7,2013-01-01 00:00:00,-73.978165,40.757977,1,382,1.00,1,89D2,BA96,CMT,1,N,2013-01-01 15:11:48,2013-01-01 15:18:10,-73.978165,40.757977,-73.989838,40.751171
7,2013-01-01 00:00:01,-73.978000,40.758000,1,382,1.00,2,89D2,BA96,CMT,1,N,x,y,1,2,3,4
7,2013-01-01 00:00:02,-73.9
";

#[test]
fn replays_both_schemas_skipping_bad_lines_and_exits() {
    let broker = LocalBroker::start(PARTITIONS).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.csv");
    let taxi = dir.path().join("taxi.csv");
    std::fs::write(&plain, PLAIN).unwrap();
    std::fs::write(&taxi, TAXI).unwrap();

    let started_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut ingest = Command::new(env!("CARGO_BIN_EXE_cartrack-worker"))
        .args([
            "ingest",
            "--kafka",
            broker.bootstrap_servers(),
            "--http-port",
            "0",
        ])
        .args(["replay", "--speedup", "10"])
        .args([&plain, &taxi])
        .env("CARTRACK_LOG", "warn")
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = ingest.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = ingest.kill();
            panic!("ingest did not exit after replaying its files");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("group.id", "replay-test")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[topics::POSITIONS]).unwrap();
    let mut positions = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while positions.len() < 5 && Instant::now() < deadline {
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.unwrap();
        let schema = message.headers().and_then(|headers| {
            headers
                .iter()
                .find(|header| header.key == SCHEMA_HEADER)
                .and_then(|header| header.value)
        });
        let mut batch = Vec::new();
        Position::from_record(schema, message.payload().unwrap(), &mut batch).unwrap();
        for position in batch {
            assert_eq!(
                message.partition(),
                partition_of(position.vehicle_id.as_bytes(), PARTITIONS),
                "partitioned by vehicle id"
            );
            positions.push(position);
        }
    }
    let summary: Vec<_> = positions
        .iter()
        .map(|p| (p.vehicle_id.as_str(), p.lat))
        .collect();
    assert_eq!(
        summary,
        [
            ("car-1", 40.75),
            ("car-1", 40.7501),
            ("car-1", 40.7502),
            ("7", 40.757977),
            ("7", 40.758)
        ]
    );
    // Re-stamped to the replay's wall clock, 1 s of trace = 100 ms at a speed-up of 10.
    assert!(positions.iter().all(|p| p.timestamp_ms >= started_ms));
    assert_eq!(positions[1].timestamp_ms - positions[0].timestamp_ms, 100);
    assert_eq!(positions[4].attributes["medallion"], "89D2");
}
