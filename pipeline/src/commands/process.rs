//! `process`: consumes `cartrack.positions` in a consumer group, runs the [`Processor`] and
//! produces its outputs; serves the current picture on `GET /v1/snapshot`.
//!
//! Tile windows take two stages, so that several processors in the group (each reading some
//! partitions) emit whole windows: the processor emits each window's parts (one per input
//! partition) to `cartrack.tile-parts`, which the same group also consumes (one subscription
//! to both topics: one group membership, one assignment to follow, one commit path), and a
//! [`TileMerger`] merges the parts of the windows whose tile-parts partitions it has into the
//! windows sent to `cartrack.tiles`.
//!
//! Offsets are committed only after the outputs derived from those positions are acknowledged
//! by Kafka, so a crash re-reads rather than loses. Outputs carry deterministic ids, so what is
//! re-read overwrites rather than duplicates. Without a checkpoint directory, a commit stops at
//! the first record of the oldest tile window that can still change (a restart re-reads them
//! all); with one, the processor's state is checkpointed ([`crate::checkpoint`]) and, while
//! this processor has every partition, commits go up to the checkpoint, whose state a restart
//! restores.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::checkpoint::{self, CheckpointError, PartitionOffset};
use crate::http::{base_router, bind, kafka_backoff, readiness_router, spawn_server, BrokerHealth};
use crate::kafka::{topics, Batcher, Compression, Emitter, KafkaConfig, Mark};
use crate::metrics::Metrics;
use crate::model::{
    Positions, TileParts, OUTPUT_SCHEMA_V2, SCHEMA_HEADER, TILE_PARTS_SCHEMA_V1,
    VEHICLE_STATES_SCHEMA_V3,
};
use crate::processor::{Outputs, Processor, ProcessorConfig, Skip, SNAPSHOT_TOO_LATE_WINDOWS};
use crate::transforms::merge::{Receipt, TileMerger};
use crate::vehicle_proto;
use crate::wall_clock_ms;

/// Everything `process` needs.
#[derive(Debug, Clone)]
pub struct ProcessSettings {
    /// The cluster.
    pub kafka: KafkaConfig,
    /// The consumer group; processors sharing it split the vehicles between them.
    pub group: String,
    /// Address of the HTTP endpoint.
    pub http_host: IpAddr,
    /// Port of the HTTP endpoint (0: any free one).
    pub http_port: u16,
    /// Token the HTTP endpoint requires (`--read-token`).
    pub read_token: Option<String>,
    /// The endpoint's TLS (`--tls-cert`, `--tls-key`); plain HTTP without.
    pub https: Option<cartrack_http::Https>,
    /// The processing core's settings.
    pub processor: ProcessorConfig,
    /// Where the processor's state is checkpointed (see [`crate::checkpoint`]); `None`: no
    /// checkpoints, commits held back to the oldest window that can still change.
    pub checkpoint_dir: Option<PathBuf>,
}

/// Why process stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// Kafka failed (consumer, producer, delivery or commit).
    #[error("kafka")]
    Kafka(#[from] KafkaError),
    /// The HTTP port could not be bound.
    #[error("http endpoint")]
    Http(#[source] std::io::Error),
    /// The checkpoint at start could not be read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

/// How often the processor's state is checkpointed (when a checkpoint directory is set): how
/// much input a restart re-reads, at most, besides what was read but not yet checkpointed.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(5);

/// How often windows are closed, deliveries awaited and offsets committed.
const COMMIT_INTERVAL: Duration = Duration::from_millis(250);

const REASONS: [&str; 6] = [
    "unknown_schema",
    "undecodable",
    "stale",
    "no_tile",
    "late_for_window",
    "late_part",
];

type SnapshotRequest = oneshot::Sender<Vec<u8>>;

/// The offsets `process` may commit: per partition, no further than the first record of the
/// oldest tile window still open, so a restart (or the partition's next owner) re-reads every
/// fix of every unfinished window and emits it complete (the vehicle and alert outputs it
/// re-emits carry the same ids); on `cartrack.tile-parts`, every part of every window the
/// merger still holds.
#[derive(Debug, Default)]
struct RecoverableOffsets {
    /// By topic and partition; a list, scanned without allocating (a handful of partitions).
    partitions: Vec<(String, i32, PartitionProgress)>,
}

#[derive(Debug, Default)]
struct PartitionProgress {
    /// One past the last record handled.
    next: i64,
    /// Records before this offset are in the restored checkpoint's state: skipped if re-read.
    restored_until: i64,
    /// Per open window start, the first offset read for it.
    first_of_window: BTreeMap<i64, i64>,
    /// The offset last committed; `None` until the first commit. A partition this process
    /// starts reading is committed at once where it starts: its group then has an offset
    /// there, and the broker keeps the partition's records for the group from it on.
    committed: Option<i64>,
}

impl RecoverableOffsets {
    /// Starts from a restored checkpoint: its records are not handled again, and commits
    /// resume where it stands.
    fn resume(&mut self, offsets: &[PartitionOffset]) {
        for offset in offsets {
            self.record(&offset.topic, offset.partition, offset.next - 1, None);
            if let Some((_, _, progress)) = self
                .partitions
                .iter_mut()
                .find(|(t, p, _)| *p == offset.partition && *t == offset.topic)
            {
                progress.restored_until = offset.next;
            }
        }
    }

    /// Whether the record is already in the restored checkpoint's state.
    fn restored(&self, topic: &str, partition: i32, offset: i64) -> bool {
        self.partitions
            .iter()
            .find(|(t, p, _)| *p == partition && t == topic)
            .is_some_and(|(_, _, progress)| offset < progress.restored_until)
    }

    /// Where every `cartrack.positions` partition stands: one past the last record handled
    /// (what a checkpoint covers; the merger's state is not checkpointed).
    fn positions(&self) -> Vec<PartitionOffset> {
        self.partitions
            .iter()
            .filter(|(topic, _, _)| topic == topics::POSITIONS)
            .map(|(topic, partition, progress)| PartitionOffset {
                topic: topic.clone(),
                partition: *partition,
                next: progress.next,
            })
            .collect()
    }

    /// Notes a handled record and the window its fix counted in, if any.
    fn record(&mut self, topic: &str, partition: i32, offset: i64, window_start: Option<i64>) {
        let position = self
            .partitions
            .iter()
            .position(|(t, p, _)| *p == partition && t == topic);
        let index = position.unwrap_or_else(|| {
            let progress = PartitionProgress::default();
            self.partitions
                .push((topic.to_owned(), partition, progress));
            self.partitions.len() - 1
        });
        let progress = &mut self.partitions[index].2;
        progress.next = progress.next.max(offset + 1);
        if let Some(start) = window_start {
            progress.first_of_window.entry(start).or_insert(offset);
        }
    }

    /// The partitions of `topic` with records handled.
    fn partitions_of(&self, topic: &str) -> Vec<i32> {
        self.partitions
            .iter()
            .filter(|(t, _, _)| t == topic)
            .map(|(_, partition, _)| *partition)
            .collect()
    }

    /// Forgets `partitions` of `topic` (revoked): nothing of them is skipped or committed.
    fn forget(&mut self, topic: &str, partitions: &[i32]) {
        self.partitions
            .retain(|(t, p, _)| !(t == topic && partitions.contains(p)));
    }

    /// The offsets to commit now that, per topic and partition, every window before
    /// `oldest_open_ms(topic, partition)` is emitted; only partitions whose safe offset moved.
    fn advance(
        &mut self,
        oldest_open_ms: impl Fn(&str, i32) -> i64,
    ) -> Result<TopicPartitionList, KafkaError> {
        let mut list = TopicPartitionList::new();
        for (topic, partition, progress) in &mut self.partitions {
            let oldest_open_ms = oldest_open_ms(topic, *partition);
            progress.first_of_window = progress.first_of_window.split_off(&oldest_open_ms);
            let safe = progress
                .first_of_window
                .values()
                .min()
                .copied()
                .unwrap_or(progress.next);
            if progress.committed.is_none_or(|committed| safe > committed) {
                list.add_partition_offset(topic, *partition, Offset::Offset(safe))?;
                progress.committed = Some(safe);
            }
        }
        Ok(list)
    }
}

/// Runs until `shutdown` resolves; open windows are then left for the next run to re-read.
pub async fn run(
    settings: ProcessSettings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ProcessError> {
    let metrics = Metrics::with_broker("process", &REASONS);
    let consumer = Arc::new(settings.kafka.consumer(&settings.group)?);
    consumer.subscribe(&[topics::POSITIONS, topics::TILE_PARTS])?;
    let health = BrokerHealth::new(metrics.clone());
    let probe = health.watch(Arc::clone(&consumer), topics::POSITIONS);
    // Outputs are consumed as they come: LZ4 of the protobuf states cost a sixth of this
    // process's CPU (pipeline/BENCHMARKS.md).
    let mut emitter = settings.kafka.emitter(metrics.clone(), Compression::None)?;

    let (snapshots, mut snapshot_requests) = mpsc::channel::<SnapshotRequest>(16);
    let listener = bind(settings.http_host, settings.http_port)
        .await
        .map_err(ProcessError::Http)?;
    let app = base_router(metrics.clone())
        .merge(readiness_router(health.clone()))
        .merge(
            Router::new()
                .route("/v1/snapshot", get(snapshot))
                .with_state(snapshots),
        );
    let server = spawn_server(
        listener,
        app,
        settings.read_token.clone(),
        settings.https.clone(),
    );
    tracing::info!(kafka = settings.kafka.bootstrap_servers(), group = %settings.group, "processing");

    let (mut checkpoints, restored) = Checkpoints::open(
        settings.checkpoint_dir.as_deref(),
        &settings.group,
        &settings.processor,
    )?;
    let mut merger = TileMerger::new(settings.processor.windows);
    let mut processor = match restored {
        Some(restored) if !input_lost(&consumer, &checkpoints.offsets).await => restored,
        Some(_) => {
            checkpoints.offsets = RecoverableOffsets::default();
            Processor::new(settings.processor)
        }
        None => Processor::new(settings.processor),
    };
    // A partition another processor read past the checkpoint since (the group's commit is
    // beyond it) is not this checkpoint's any more: its state goes, and it is read from the
    // group's commit like any partition the checkpoint does not hold.
    let moved = moved_on(&consumer, &settings.group, &checkpoints.offsets).await;
    if !moved.is_empty() {
        tracing::info!(partitions = ?moved, "the group read past the checkpoint on these partitions: their checkpointed state is dropped");
        processor.drop_inputs(&moved.iter().map(|&p| input_of(p)).collect::<Vec<_>>());
        checkpoints.offsets.forget(topics::POSITIONS, &moved);
    }
    // The positions partitions this processor holds state for: those of the checkpoint at
    // first; each assignment that lacks some of them drops theirs.
    let mut held: BTreeSet<i32> = checkpoints
        .offsets
        .positions()
        .iter()
        .map(|position| position.partition)
        .collect();
    let mut outputs = Outputs::default();
    // The positions of one record, their slots reused.
    let mut positions = Positions::default();
    let mut late_reported = 0;
    let mut late_parts_reported = 0;
    let mut ticker = tokio::time::interval(COMMIT_INTERVAL);
    // After a consumer error: when to read again, and how long the next wait is.
    let mut backoff = kafka_backoff();
    let mut read_again_at: Option<Instant> = None;
    tokio::pin!(shutdown);
    let outlets = tokio::select! {
        _ = &mut shutdown => {
            server.abort();
            probe.abort();
            return Ok(());
        }
        learnt = async {
            (Outlets::new(&emitter).await, emitter.partitions(topics::POSITIONS).await)
        } => learnt,
    };
    let (mut outlets, positions_partitions) = (outlets.0, outlets.1 as usize);
    let result: Result<(), ProcessError> = loop {
        tokio::select! {
            _ = &mut shutdown => break Ok(()),
            _ = tokio::time::sleep_until(read_again_at.unwrap_or_else(Instant::now)), if read_again_at.is_some() => {
                read_again_at = None;
            }
            message = consumer.recv(), if read_again_at.is_none() => {
                let message = match message {
                    Ok(message) => message,
                    Err(err) => match health.consumer_error(err, &mut backoff) {
                        Ok(wait) => {
                            read_again_at = Some(Instant::now() + wait);
                            continue;
                        }
                        Err(fatal) => break Err(fatal.into()),
                    },
                };
                backoff.reset();
                let schema = message.headers().and_then(|headers| {
                    headers.iter().find(|header| header.key == SCHEMA_HEADER).and_then(|header| header.value)
                });
                let (topic, partition, offset) = (message.topic(), message.partition(), message.offset());
                if topic == topics::TILE_PARTS {
                    merge_parts(schema, message.payload().unwrap_or_default(), (partition, offset), &mut merger, &mut checkpoints.offsets, &metrics);
                    continue;
                }
                if checkpoints.offsets.restored(topic, partition, offset) {
                    continue; // Its positions are in the restored state.
                }
                let read = match positions.read_record(schema, message.payload().unwrap_or_default()) {
                    Ok(read) => read,
                    Err(err) => {
                        metrics.record_in(topics::POSITIONS, 1);
                        metrics.reject(err.label());
                        checkpoints.offsets.record(topic, partition, offset, None);
                        continue;
                    }
                };
                metrics.record_in(topics::POSITIONS, read.len() as u64);
                let mut gathered = Ok(());
                for position in read {
                    let window = match processor.process_from(input_of(partition), offset, position, &mut outputs) {
                        Ok(()) => Some(processor.window_of(position.timestamp_ms)),
                        Err(Skip::Stale(_)) => {
                            metrics.reject("stale");
                            None
                        }
                        Err(Skip::NoTile) => {
                            metrics.reject("no_tile");
                            None
                        }
                    };
                    checkpoints.offsets.record(topic, partition, offset, window);
                    gathered = outlets.gather(&processor, &mut outputs, &mut emitter).await;
                    if gathered.is_err() {
                        break;
                    }
                }
                if let Err(err) = gathered {
                    break Err(err.into());
                }
                if let Err(err) = outlets.emit(&processor, &mut outputs, &mut emitter).await {
                    break Err(err.into());
                }
            }
            _ = ticker.tick() => {
                let now_ms = wall_clock_ms();
                // Windows close only once every assigned partition has passed them.
                if let Ok(assignment) = consumer.assignment() {
                    let partitions_of = |topic| -> BTreeSet<i32> {
                        assignment.elements_for_topic(topic).iter().map(|element| element.partition()).collect()
                    };
                    let positions = partitions_of(topics::POSITIONS);
                    let inputs: Vec<u32> = positions.iter().map(|&p| input_of(p)).collect();
                    processor.expect_inputs(&inputs, now_ms);
                    // An empty assignment is a rebalance under way (or none yet), not a
                    // revocation to act on: the partitions kept come back, the others go
                    // with the next assignment.
                    if assignment.count() > 0 {
                        let revoked: Vec<i32> = held.difference(&positions).copied().collect();
                        if !revoked.is_empty() {
                            tracing::info!(partitions = ?revoked, "cartrack.positions partitions revoked: their vehicles and tile-window parts are dropped");
                            processor.drop_inputs(&revoked.iter().map(|&p| input_of(p)).collect::<Vec<_>>());
                            checkpoints.offsets.forget(topics::POSITIONS, &revoked);
                        }
                        checkpoints.sole = positions.len() == positions_partitions;
                        held = positions;
                        let parts: Vec<u32> = partitions_of(topics::TILE_PARTS).iter().map(|&p| input_of(p)).collect();
                        merger.retain_partitions(&parts);
                        let revoked_parts: Vec<i32> = checkpoints.offsets.partitions_of(topics::TILE_PARTS)
                            .into_iter()
                            .filter(|p| !parts.contains(&input_of(*p)))
                            .collect();
                        checkpoints.offsets.forget(topics::TILE_PARTS, &revoked_parts);
                    }
                }
                processor.advance(now_ms, &mut outputs);
                // This processor's view of the windows (its partitions' parts) stays here: the
                // windows merged from every processor's parts go out.
                outputs.tiles.clear();
                merger.emit(&mut outputs.tiles);
                let late = processor.stats().late_for_window;
                metrics.reject_many("late_for_window", late - late_reported);
                late_reported = late;
                let late_parts = merger.stats().late;
                metrics.reject_many("late_part", late_parts - late_parts_reported);
                late_parts_reported = late_parts;
                if let Err(err) = outlets.emit(&processor, &mut outputs, &mut emitter).await {
                    break Err(err.into());
                }
                if let Err(err) = checkpoints.checkpoint(&processor, &merger, &mut emitter, &consumer) {
                    break Err(err);
                }
                // Merged windows go out a tick after the parts that made them, often with no
                // commit left to wait for: their acknowledgements are counted here.
                emitter.count_acknowledged();
            }
            Some(reply) = snapshot_requests.recv() => {
                let mut snapshot = processor.snapshot(wall_clock_ms());
                snapshot.late.parts_beyond_lateness = merger.stats().late;
                snapshot.late.part_windows_beyond_lateness =
                    merger.too_late().take(SNAPSHOT_TOO_LATE_WINDOWS).collect();
                let _ = reply.send(to_json(&snapshot));
            }
        }
    };
    server.abort();
    probe.abort();
    // Open windows are not emitted: they are incomplete, and the next run re-reads their input
    // (and their parts).
    outputs.tiles.clear();
    outputs.parts.clear();
    outlets.emit(&processor, &mut outputs, &mut emitter).await?;
    checkpoints
        .finish(&processor, &merger, &mut emitter, &consumer)
        .await?;
    result
}

/// Whether the broker holds fewer records on a partition than a restored checkpoint had read:
/// then it is not the input the checkpoint was taken from (e.g. the in-memory `broker` was
/// restarted and starts its offsets at 0 again), and the checkpoint must not be used. A broker
/// that does not answer is given the benefit of the doubt.
async fn input_lost(consumer: &Arc<StreamConsumer>, offsets: &RecoverableOffsets) -> bool {
    let positions = offsets.positions();
    let consumer = Arc::clone(consumer);
    let lost = tokio::task::spawn_blocking(move || {
        positions.into_iter().find(|position| {
            consumer
                .fetch_watermarks(&position.topic, position.partition, Duration::from_secs(5))
                .is_ok_and(|(_, high)| high < position.next)
        })
    })
    .await;
    match lost {
        Ok(Some(position)) => {
            tracing::warn!(
                topic = position.topic,
                partition = position.partition,
                checkpoint_offset = position.next,
                "the broker holds fewer records than the checkpoint had read (a new broker?): starting without the checkpoint"
            );
            true
        }
        _ => false,
    }
}

/// Merges the parts in a `cartrack.tile-parts` record (at `offset` of `partition`) and notes
/// the windows they belong to, which hold its commit back while open.
fn merge_parts(
    schema: Option<&[u8]>,
    payload: &[u8],
    (partition, offset): (i32, i64),
    merger: &mut TileMerger,
    offsets: &mut RecoverableOffsets,
    metrics: &Metrics,
) {
    offsets.record(topics::TILE_PARTS, partition, offset, None);
    if schema != Some(TILE_PARTS_SCHEMA_V1.as_bytes()) {
        metrics.record_in(topics::TILE_PARTS, 1);
        metrics.reject("unknown_schema");
        return;
    }
    let mut lines = 0;
    for line in payload
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
    {
        lines += 1;
        let Ok(parts) = serde_json::from_slice::<TileParts>(line) else {
            metrics.reject("undecodable");
            continue;
        };
        if merger.receive(input_of(partition), &parts) == Receipt::Open {
            let window = Some(parts.window_start_ms);
            offsets.record(topics::TILE_PARTS, partition, offset, window);
        }
    }
    metrics.record_in(topics::TILE_PARTS, lines);
}

/// The partitions of a restored checkpoint on which the group has committed past the
/// checkpoint (another processor read them since). A broker that does not answer is given the
/// benefit of the doubt.
async fn moved_on(
    consumer: &Arc<StreamConsumer>,
    group: &str,
    offsets: &RecoverableOffsets,
) -> Vec<i32> {
    let positions = offsets.positions();
    if positions.is_empty() {
        return Vec::new();
    }
    let consumer = Arc::clone(consumer);
    let group = group.to_owned();
    let moved = tokio::task::spawn_blocking(move || {
        let mut list = TopicPartitionList::new();
        for position in &positions {
            list.add_partition(&position.topic, position.partition);
        }
        let committed = match consumer.committed_offsets(list, Duration::from_secs(5)) {
            Ok(committed) => committed,
            Err(err) => {
                tracing::warn!(error = %err, %group, "could not read the group's committed offsets: trusting the checkpoint");
                return Vec::new();
            }
        };
        positions
            .iter()
            .filter(|position| {
                let at = committed
                    .find_partition(&position.topic, position.partition)
                    .map(|element| element.offset());
                matches!(at, Some(Offset::Offset(at)) if at > position.next)
            })
            .map(|position| position.partition)
            .collect()
    })
    .await;
    moved.unwrap_or_default()
}

/// The processor's input number for a partition (partitions are never negative).
fn input_of(partition: i32) -> u32 {
    u32::try_from(partition).unwrap_or(0)
}

/// The JSON of an output.
fn to_json(value: &impl serde::Serialize) -> Vec<u8> {
    // ok: outputs are structs of strings, numbers and string maps, which always serialise.
    serde_json::to_vec(value).unwrap_or_default()
}

/// Appends the JSON of an output and a newline to `buffer`.
fn write_json_line(value: &impl serde::Serialize, buffer: &mut Vec<u8>) {
    // ok: outputs are structs of strings, numbers and string maps, which always serialise.
    let _ = serde_json::to_writer(&mut *buffer, value);
    buffer.push(b'\n');
}

/// The output topics, each written through a [`Batcher`]: many states to a record
/// ([`VEHICLE_STATES_SCHEMA_V3`]), many documents to a record ([`OUTPUT_SCHEMA_V2`]); a
/// vehicle's states, a tile window's emissions and a vehicle's alerts each in one partition,
/// in order.
struct Outlets {
    vehicles: Batcher,
    tiles: Batcher,
    alerts: Batcher,
    /// `cartrack.tile-parts`: [`TILE_PARTS_SCHEMA_V1`], all of a window's parts in one
    /// partition, in order.
    parts: Batcher,
}

impl Outlets {
    /// Learns the topics' partition counts (waiting for the broker if it does not answer).
    async fn new(emitter: &Emitter) -> Self {
        let batcher = |topic, partitions| Batcher::new(topic, OUTPUT_SCHEMA_V2, partitions);
        Self {
            vehicles: Batcher::new(
                topics::VEHICLES,
                VEHICLE_STATES_SCHEMA_V3,
                emitter.partitions(topics::VEHICLES).await,
            ),
            tiles: batcher(topics::TILES, emitter.partitions(topics::TILES).await),
            alerts: batcher(topics::ALERTS, emitter.partitions(topics::ALERTS).await),
            parts: Batcher::new(
                topics::TILE_PARTS,
                TILE_PARTS_SCHEMA_V1,
                emitter.partitions(topics::TILE_PARTS).await,
            ),
        }
    }

    /// Sends the outputs accumulated so far and empties the buffers.
    async fn emit(
        &mut self,
        processor: &Processor,
        outputs: &mut Outputs,
        emitter: &mut Emitter,
    ) -> Result<(), KafkaError> {
        self.gather(processor, outputs, emitter).await?;
        self.vehicles.flush(emitter).await?;
        self.tiles.flush(emitter).await?;
        self.parts.flush(emitter).await?;
        self.alerts.flush(emitter).await
    }

    /// Moves the outputs accumulated so far into the batches and empties the buffers. Call
    /// after each position: a vehicle's output is its state as it is now.
    async fn gather(
        &mut self,
        processor: &Processor,
        outputs: &mut Outputs,
        emitter: &mut Emitter,
    ) -> Result<(), KafkaError> {
        for &index in &outputs.vehicles {
            let state = processor.vehicle(index);
            let key = state.vehicle_id.as_bytes();
            self.vehicles
                .add(emitter, key, state.timestamp_ms, |value| {
                    vehicle_proto::write_state(state, value)
                })
                .await?;
        }
        for tile in &outputs.tiles {
            let id = tile.document_id();
            self.tiles
                .add(emitter, id.as_bytes(), tile.window_start_ms, |value| {
                    write_json_line(tile, value);
                })
                .await?;
        }
        for parts in &outputs.parts {
            let id = parts.document_id();
            self.parts
                .add(emitter, id.as_bytes(), parts.window_start_ms, |value| {
                    write_json_line(parts, value);
                })
                .await?;
        }
        for alert in &outputs.alerts {
            let key = alert.vehicle_id.as_bytes();
            self.alerts
                .add(emitter, key, alert.timestamp_ms, |value| {
                    write_json_line(alert, value);
                })
                .await?;
        }
        outputs.clear();
        Ok(())
    }
}

/// Offset commits that wait for the outputs' acknowledgements without pausing consumption:
/// each checkpoint marks the outputs sent so far and computes the offsets they make safe;
/// those are committed at a later checkpoint, once every output sent before the mark is
/// acknowledged. (Waiting for all deliveries in the loop stalled it every 250 ms, which showed
/// in the p99 latency under load.) With a state file, every [`CHECKPOINT_INTERVAL`] the
/// processor's state is taken at the mark too, written once the mark is reached (off the
/// loop), and only then are the offsets it covers committed.
#[derive(Debug, Default)]
struct Checkpoints {
    offsets: RecoverableOffsets,
    /// Whether this processor has every `cartrack.positions` partition (as of the last
    /// assignment): with a state file, only then do commits pass the open windows (see
    /// [`Self::take`]).
    sole: bool,
    /// Where the processor's state is checkpointed, if anywhere.
    state: Option<StateFile>,
    pending: Option<Pending>,
}

#[derive(Debug)]
struct StateFile {
    path: PathBuf,
    group: String,
    /// When the last state was taken.
    taken: Option<Instant>,
}

#[derive(Debug)]
enum Pending {
    /// Offsets computed at a mark (and the state taken then, if any), to commit once every
    /// output sent before the mark is acknowledged (and the state written).
    Acknowledgements {
        mark: Mark,
        state: Option<Vec<u8>>,
        safe: TopicPartitionList,
    },
    /// The state is being written; then the offsets are committed.
    Writing {
        write: tokio::task::JoinHandle<Result<(), CheckpointError>>,
        safe: TopicPartitionList,
    },
}

impl Checkpoints {
    /// Checkpoints to `dir` (if any) for `group`, restoring what is there: the restored
    /// processor, or `None` to start empty.
    fn open(
        dir: Option<&std::path::Path>,
        group: &str,
        config: &ProcessorConfig,
    ) -> Result<(Self, Option<Processor>), ProcessError> {
        let mut checkpoints = Self::default();
        let Some(dir) = dir else {
            return Ok((checkpoints, None));
        };
        // Made now, so a directory that cannot be made stops `process` at start rather than
        // failing every checkpoint (and with them every commit) later.
        std::fs::create_dir_all(dir).map_err(|source| CheckpointError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let path = checkpoint::path(dir, group);
        let restored = checkpoint::read(&path, group, config.clone())?;
        let processor = restored.map(|restored| {
            tracing::info!(path = %path.display(), offsets = ?restored.offsets, "restored the checkpoint");
            checkpoints.offsets.resume(&restored.offsets);
            restored.processor
        });
        if processor.is_none() {
            tracing::info!(path = %path.display(), "no checkpoint: starting empty");
        }
        checkpoints.state = Some(StateFile {
            path,
            group: group.to_owned(),
            taken: None,
        });
        Ok((checkpoints, processor))
    }

    /// Commits the pending offsets if their outputs are acknowledged (and the state written),
    /// and starts the next checkpoint if none is pending. Call after emitting the outputs of
    /// everything recorded.
    fn checkpoint(
        &mut self,
        processor: &Processor,
        merger: &TileMerger,
        emitter: &mut Emitter,
        consumer: &StreamConsumer,
    ) -> Result<(), ProcessError> {
        match self.pending.take() {
            Some(Pending::Acknowledgements { mark, state, safe }) => {
                if !emitter.reached(&mark)? {
                    self.pending = Some(Pending::Acknowledgements { mark, state, safe });
                } else if let (Some(bytes), Some(file)) = (state, &self.state) {
                    let path = file.path.clone();
                    let write =
                        tokio::task::spawn_blocking(move || checkpoint::write(&path, &bytes));
                    self.pending = Some(Pending::Writing { write, safe });
                } else {
                    commit(consumer, &safe);
                }
            }
            Some(Pending::Writing { mut write, safe }) => {
                match futures::FutureExt::now_or_never(&mut write) {
                    None => self.pending = Some(Pending::Writing { write, safe }),
                    Some(written) => commit_if_written(consumer, &safe, written),
                }
            }
            None => {}
        }
        if self.pending.is_none() {
            let due = self.state.as_ref().map(|file| {
                file.taken
                    .is_none_or(|taken| taken.elapsed() >= CHECKPOINT_INTERVAL)
            });
            if due == Some(false) {
                return Ok(());
            }
            if let Some(mark) = emitter.mark() {
                let (safe, state) = self.take(processor, merger)?;
                if safe.count() > 0 {
                    self.pending = Some(Pending::Acknowledgements { mark, state, safe });
                }
            }
        }
        Ok(())
    }

    /// The offsets safe to commit as of now, and with a state file the state that makes them
    /// safe.
    ///
    /// Tile-parts commits stay at the first part of the merger's oldest open window (its state
    /// is not checkpointed). Positions commits stay at the first fix of the oldest window that
    /// can still change, except with a state file while this processor has every partition:
    /// then everything handled is in the state, and commits pass the open windows. With other
    /// processors in the group a partition may move to one of them, which has only the group's
    /// commit to start from, so commits are held back then, state file or not.
    fn take(
        &mut self,
        processor: &Processor,
        merger: &TileMerger,
    ) -> Result<(TopicPartitionList, Option<Vec<u8>>), KafkaError> {
        let sole_with_state = self.state.is_some() && self.sole;
        let oldest_open = |topic: &str, partition: i32| {
            if topic == topics::TILE_PARTS {
                merger.oldest_open_window_ms(input_of(partition))
            } else if sole_with_state {
                i64::MAX
            } else {
                processor.oldest_open_window_ms()
            }
        };
        let Some(file) = &mut self.state else {
            let safe = self.offsets.advance(oldest_open)?;
            return Ok((safe, None));
        };
        file.taken = Some(Instant::now());
        let state = checkpoint::encode(&file.group, &self.offsets.positions(), processor);
        let safe = self.offsets.advance(oldest_open)?;
        Ok((safe, Some(state)))
    }

    /// On the way out: waits for every output, then writes the state (if checkpointing) and
    /// commits everything that makes safe.
    async fn finish(
        &mut self,
        processor: &Processor,
        merger: &TileMerger,
        emitter: &mut Emitter,
        consumer: &StreamConsumer,
    ) -> Result<(), ProcessError> {
        emitter.settle().await?;
        match self.pending.take() {
            Some(Pending::Acknowledgements { state, safe, .. }) => {
                self.write_and_commit(state, &safe, consumer).await;
            }
            Some(Pending::Writing { write, safe }) => {
                commit_if_written(consumer, &safe, write.await);
            }
            None => {}
        }
        let (safe, state) = self.take(processor, merger)?;
        self.write_and_commit(state, &safe, consumer).await;
        Ok(())
    }

    /// Writes `state` (if any) and then commits `safe`.
    async fn write_and_commit(
        &self,
        state: Option<Vec<u8>>,
        safe: &TopicPartitionList,
        consumer: &StreamConsumer,
    ) {
        match (state, &self.state) {
            (Some(bytes), Some(file)) => {
                let path = file.path.clone();
                let written =
                    tokio::task::spawn_blocking(move || checkpoint::write(&path, &bytes)).await;
                commit_if_written(consumer, safe, written);
            }
            _ if safe.count() > 0 => commit(consumer, safe),
            _ => {}
        }
    }
}

/// Commits `safe` if the checkpoint covering it was written; a failed write is logged and its
/// offsets are not committed (the next checkpoint covers them).
fn commit_if_written(
    consumer: &StreamConsumer,
    safe: &TopicPartitionList,
    written: Result<Result<(), CheckpointError>, tokio::task::JoinError>,
) {
    match written {
        Ok(Ok(())) => {
            if safe.count() > 0 {
                commit(consumer, safe);
            }
        }
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "checkpoint not written; its offsets stay uncommitted");
        }
        Err(err) => {
            tracing::warn!(error = %err, "checkpoint writer failed; its offsets stay uncommitted");
        }
    }
}

/// Commits `offsets` without waiting. A commit that fails (the broker away, the group
/// rebalancing) is logged and not retried: the next commit carries later offsets, and until
/// then a restart only re-reads, which the deterministic output ids make harmless.
fn commit(consumer: &StreamConsumer, offsets: &TopicPartitionList) {
    if let Err(err) = consumer.commit(offsets, CommitMode::Async) {
        tracing::warn!(error = %err, "offset commit failed; a later commit covers it");
    }
}

async fn snapshot(
    State(requests): State<mpsc::Sender<SnapshotRequest>>,
) -> (StatusCode, [(&'static str, &'static str); 1], Vec<u8>) {
    let json = [("content-type", "application/json")];
    let (reply, answer) = oneshot::channel();
    if requests.send(reply).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, json, b"{}".to_vec());
    }
    match answer.await {
        Ok(body) => (StatusCode::OK, json, body),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, json, b"{}".to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed(list: &TopicPartitionList, partition: i32) -> Option<Offset> {
        list.find_partition(topics::POSITIONS, partition)
            .map(|element| element.offset())
    }

    #[test]
    fn commits_hold_back_to_the_first_record_of_the_oldest_open_window() {
        let mut offsets = RecoverableOffsets::default();
        let topic = topics::POSITIONS;
        offsets.record(topic, 0, 0, Some(0));
        offsets.record(topic, 0, 1, Some(10_000));
        offsets.record(topic, 0, 2, Some(0)); // A late-ish fix of the first window.
        offsets.record(topic, 0, 3, None); // Undecodable: holds nothing.
        offsets.record(topic, 1, 7, Some(10_000));

        // Nothing emitted yet: each partition re-reads from its first windowed record.
        let none_closed = offsets.advance(|_, _| 0).unwrap();
        assert_eq!(
            committed(&none_closed, 0),
            Some(Offset::Offset(0)),
            "committed where it starts, at once"
        );
        assert_eq!(committed(&none_closed, 1), Some(Offset::Offset(7)));

        // Window 0 emitted: partition 0 may skip to window 10 000's first record.
        let list = offsets.advance(|_, _| 10_000).unwrap();
        assert_eq!(committed(&list, 0), Some(Offset::Offset(1)));
        assert_eq!(
            committed(&list, 1),
            None,
            "partition 1 must still re-read offset 7"
        );

        // Everything emitted: commit one past the last record; then nothing new to commit.
        let list = offsets.advance(|_, _| 20_000).unwrap();
        assert_eq!(committed(&list, 0), Some(Offset::Offset(4)));
        assert_eq!(committed(&list, 1), Some(Offset::Offset(8)));
        assert_eq!(offsets.advance(|_, _| 20_000).unwrap().count(), 0);
    }

    #[test]
    fn a_restored_checkpoint_skips_its_records_and_commits_from_where_it_stands() {
        let topic = topics::POSITIONS;
        let mut offsets = RecoverableOffsets::default();
        let at = |partition, next| PartitionOffset {
            topic: topic.into(),
            partition,
            next,
        };
        offsets.resume(&[at(0, 40), at(2, 7)]);
        assert!(offsets.restored(topic, 0, 39));
        assert!(!offsets.restored(topic, 0, 40));
        assert!(offsets.restored(topic, 2, 0));
        assert!(!offsets.restored(topic, 1, 0), "partition 1 was not in it");
        assert_eq!(offsets.positions(), [at(0, 40), at(2, 7)]);

        // With a state file commits follow the handled records, whatever window is open.
        offsets.record(topic, 0, 40, None);
        let list = offsets.advance(|_, _| i64::MAX).unwrap();
        assert_eq!(committed(&list, 0), Some(Offset::Offset(41)));
        assert_eq!(committed(&list, 2), Some(Offset::Offset(7)));
    }

    #[test]
    fn with_a_state_file_commits_pass_open_windows_only_while_this_processor_has_every_partition() {
        let dir = tempfile::tempdir().unwrap();
        let config = ProcessorConfig::default();
        let mut checkpoints = Checkpoints::open(Some(dir.path()), "g", &config).unwrap().0;
        let processor = Processor::new(config.clone());
        let mut merger = TileMerger::new(config.windows);
        // Nothing is final: windows 0 and 10 000 are open on both topics.
        let positions = topics::POSITIONS;
        checkpoints.offsets.record(positions, 0, 5, Some(0));
        checkpoints.offsets.record(positions, 0, 6, Some(10_000));
        let line = |start| TileParts {
            tile: "dr5ru6".into(),
            window_start_ms: start,
            parts: Vec::new(),
        };
        for (offset, start) in [(3, 0), (4, 10_000)] {
            assert_eq!(merger.receive(0, &line(start)), Receipt::Open);
            let parts = topics::TILE_PARTS;
            checkpoints.offsets.record(parts, 0, offset, Some(start));
        }
        let tile_parts_committed = |list: &TopicPartitionList| {
            list.find_partition(topics::TILE_PARTS, 0)
                .map(|element| element.offset())
        };

        // Another processor has some partitions: held back to the first record of window 0.
        checkpoints.sole = false;
        let (safe, state) = checkpoints.take(&processor, &merger).unwrap();
        assert!(state.is_some(), "the state is still checkpointed");
        assert_eq!(committed(&safe, 0), Some(Offset::Offset(5)));
        assert_eq!(tile_parts_committed(&safe), Some(Offset::Offset(3)));

        // Alone: everything handled is in the state, so positions commits pass the open
        // windows; the merger's state is not checkpointed, so tile-parts commits stay.
        checkpoints.sole = true;
        let (safe, _) = checkpoints.take(&processor, &merger).unwrap();
        assert_eq!(committed(&safe, 0), Some(Offset::Offset(7)));
        assert_eq!(tile_parts_committed(&safe), None, "still offset 3");
        assert_eq!(
            checkpoints.offsets.positions(),
            [PartitionOffset {
                topic: positions.into(),
                partition: 0,
                next: 7
            }],
            "the checkpoint covers positions only"
        );
    }
}
