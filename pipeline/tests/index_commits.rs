//! `index` against an in-process broker and a sink that is slow on demand: offsets are
//! committed only after the sink has written the batch, and consumption survives a slow sink
//! (paused, then resumed) without losing records; vehicles' latest states held back between
//! their writes hold the commit back too.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cartrack_pipeline::commands::broker::LocalBroker;
use cartrack_pipeline::commands::index::{self, BatchSettings, IndexSettings};
use cartrack_pipeline::kafka::{topics, KafkaConfig};
use cartrack_pipeline::sinks::{Document, Sink, SinkError, WriteSummary};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio::sync::{mpsc, oneshot, watch};

const GROUP: &str = "index-commits-test";

/// A sink whose writes wait until the gate is open, announcing each write as it starts.
struct GatedSink {
    gate: watch::Receiver<bool>,
    started: mpsc::UnboundedSender<usize>,
    written: Arc<Mutex<Vec<Document>>>,
}

impl Sink for GatedSink {
    async fn write(&mut self, batch: &[Document]) -> Result<WriteSummary, SinkError> {
        let _ = self.started.send(batch.len());
        let _ = self.gate.wait_for(|open| *open).await;
        self.written.lock().unwrap().extend_from_slice(batch);
        Ok(WriteSummary {
            written: batch.len(),
            ..WriteSummary::default()
        })
    }
}

/// v1 vehicle states `from..to`, each of its own vehicle `v-<n>` (or all of `vehicle`).
async fn produce_states(producer: &FutureProducer, vehicle: Option<&str>, from: usize, to: usize) {
    for n in from..to {
        let key = vehicle.map_or_else(|| format!("v-{n}"), str::to_owned);
        let payload = format!("{{\"n\":{n}}}");
        let record = FutureRecord::to(topics::VEHICLES)
            .key(&key)
            .payload(&payload)
            .timestamp(1_700_000_000_000 + n as i64);
        producer.send(record, Duration::from_secs(5)).await.unwrap();
    }
}

/// The offset the test group has committed on partition 0 (-1 for none).
fn committed(bootstrap: &str) -> i64 {
    committed_by(bootstrap, GROUP)
}

/// The offset `group` has committed on partition 0 (-1 for none).
fn committed_by(bootstrap: &str, group: &str) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut partitions = TopicPartitionList::new();
    partitions.add_partition(topics::VEHICLES, 0);
    let offsets = tokio::task::block_in_place(|| {
        consumer.committed_offsets(partitions, Duration::from_secs(5))
    });
    match offsets
        .unwrap()
        .find_partition(topics::VEHICLES, 0)
        .unwrap()
        .offset()
    {
        Offset::Offset(offset) => offset,
        _ => -1,
    }
}

async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn produce(producer: &FutureProducer, from: usize, to: usize) {
    produce_states(producer, None, from, to).await;
}

/// A one-partition broker, its address and a producer on it.
fn broker_and_producer() -> (LocalBroker, String, FutureProducer) {
    let broker = LocalBroker::start(1).unwrap();
    let bootstrap = broker.bootstrap_servers().to_owned();
    let producer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    (broker, bootstrap, producer)
}

/// An indexer running in `group` into a [`GatedSink`], and its handles.
struct Indexer {
    open_gate: watch::Sender<bool>,
    /// The size of each write as it starts.
    writes: mpsc::UnboundedReceiver<usize>,
    written: Arc<Mutex<Vec<Document>>>,
    stop: oneshot::Sender<()>,
    indexer: tokio::task::JoinHandle<Result<(), index::IndexError>>,
}

fn start_indexer(bootstrap: &str, group: &str, latest_interval: Duration, open: bool) -> Indexer {
    let (open_gate, gate) = watch::channel(open);
    let (started, writes) = mpsc::unbounded_channel();
    let written = Arc::new(Mutex::new(Vec::new()));
    let sink = GatedSink {
        gate,
        started,
        written: written.clone(),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let indexer = tokio::spawn(index::run(
        settings(bootstrap, group, latest_interval),
        sink,
        async {
            let _ = stopped.await;
        },
    ));
    Indexer {
        open_gate,
        writes,
        written,
        stop,
        indexer,
    }
}

fn settings(bootstrap: &str, group: &str, latest_interval: Duration) -> IndexSettings {
    IndexSettings {
        kafka: KafkaConfig::new(Some(bootstrap), &["auto.offset.reset=earliest".into()]).unwrap(),
        group: group.into(),
        http_host: [127, 0, 0, 1].into(),
        http_port: 0,
        read_token: None,
        https: None,
        batch: BatchSettings {
            max_documents: 1000,
            max_bytes: 1 << 20,
            max_wait: Duration::from_millis(50),
            latest_interval,
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_only_after_the_sink_wrote_and_survives_a_slow_sink() {
    let (_broker, bootstrap, producer) = broker_and_producer();
    produce(&producer, 0, 10).await;

    let Indexer {
        open_gate,
        mut writes,
        written,
        stop,
        indexer,
    } = start_indexer(&bootstrap, GROUP, Duration::ZERO, false);

    // The first batch holds both documents of each of the 10 records; while the sink has not
    // finished it, nothing may be committed.
    assert_eq!(writes.recv().await, Some(20));
    assert_eq!(committed(&bootstrap), -1, "committed before the sink wrote");

    // Stay slow past the indexer's patience (it pauses consumption), with more records coming.
    produce(&producer, 10, 15).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        committed(&bootstrap),
        -1,
        "committed while the sink was still writing"
    );

    open_gate.send(true).unwrap();
    eventually("all 15 records written", || {
        written.lock().unwrap().len() == 30
    })
    .await;
    eventually("offsets committed", || committed(&bootstrap) == 15).await;
    let ids: Vec<_> = written
        .lock()
        .unwrap()
        .iter()
        .map(|d| d.id.clone())
        .collect();
    assert!(ids.contains(&"v-14".to_owned()) && ids.contains(&"v-14-1700000000014".to_owned()));

    stop.send(()).unwrap();
    indexer.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_latest_states_are_written_once_and_hold_the_commit_back() {
    const HELD: &str = "index-commits-held";
    let (_broker, bootstrap, producer) = broker_and_producer();
    produce_states(&producer, Some("car"), 0, 10).await;

    let Indexer {
        open_gate: _open,
        mut writes,
        written,
        stop,
        indexer,
    } = start_indexer(&bootstrap, HELD, Duration::from_secs(3600), true);

    // The history gets every state at once; the latest state waits for its interval.
    assert_eq!(writes.recv().await, Some(10));
    eventually("the history written", || {
        written.lock().unwrap().len() == 10
    })
    .await;
    assert!(written
        .lock()
        .unwrap()
        .iter()
        .all(|d| d.index == "cartrack-vehicle-history"));
    assert_eq!(
        committed_by(&bootstrap, HELD),
        -1,
        "committed past a latest state not yet written"
    );

    // Stopping writes the held state: the newest one only, then commits everything.
    stop.send(()).unwrap();
    indexer.await.unwrap().unwrap();
    let latest: Vec<(String, String)> = written
        .lock()
        .unwrap()
        .iter()
        .filter(|d| d.index == "cartrack-vehicles")
        .map(|d| (d.id.clone(), String::from_utf8(d.source.to_vec()).unwrap()))
        .collect();
    assert_eq!(latest, [("car".to_owned(), r#"{"n":9}"#.to_owned())]);
    assert_eq!(committed_by(&bootstrap, HELD), 10);
}
