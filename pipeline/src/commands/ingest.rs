//! `ingest`: runs one source (simulator, replay, or only the HTTP intake) and produces every
//! valid position to `cartrack.positions`, many to a record, in the partition of its vehicle id.

use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use rdkafka::error::KafkaError;
use tokio::sync::mpsc;

use crate::http::{base_router, bind, spawn_server};
use crate::kafka::{topics, Batcher, Emitter, KafkaConfig};
use crate::keys::{IntakeAuth, KeyRing, KeyStore};
use crate::metrics::Metrics;
use crate::model::{PositionBatch, POSITION_SCHEMA_V2};
use crate::sources::replay::{detect_schema, parse_record, CsvSchema, Restamp};
use crate::sources::simulator::{Fleet, SimulatorConfig};
use crate::sources::{admit, count_unparsable, http as intake, Batch, NotDelivered};
use crate::validate::{Limits, Reject};
use crate::wall_clock_ms;

/// Which source feeds the pipeline (the HTTP intake is always on as well).
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSettings {
    /// The simulated fleet, emitting `rate` positions per second in total.
    Simulator {
        /// The fleet.
        config: SimulatorConfig,
        /// Positions per second, all vehicles together.
        rate: f64,
    },
    /// CSV traces, one file after another; ingest exits when they are done.
    Replay {
        /// The files.
        files: Vec<PathBuf>,
        /// Their schema.
        schema: CsvSchema,
        /// How many times faster than recorded.
        speedup: f64,
    },
    /// Only `POST /v1/positions`.
    Http,
}

/// Everything `ingest` needs.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// The cluster.
    pub kafka: KafkaConfig,
    /// Address of the HTTP endpoint.
    pub http_host: IpAddr,
    /// Port of the HTTP endpoint (0: any free one).
    pub http_port: u16,
    /// Token the HTTP endpoint requires (`--read-token`).
    pub read_token: Option<String>,
    /// The endpoint's TLS (`--tls-cert`, `--tls-key`); plain HTTP without.
    pub https: Option<cartrack_http::Https>,
    /// The source.
    pub source: SourceSettings,
    /// Validation bounds.
    pub limits: Limits,
    /// The largest `POST /v1/positions` body read.
    pub max_body_bytes: usize,
    /// How long a `POST /v1/positions` batch waits for Kafka's acknowledgement before the
    /// request is answered 503.
    pub delivery_wait: Duration,
    /// Who may post to `POST /v1/positions`.
    pub auth: IntakeAccess,
}

/// Who may post positions, as configured.
#[derive(Debug, Clone)]
pub enum IntakeAccess {
    /// `--ingest-auth none`.
    Open,
    /// Keys required, no keys file: every post is refused.
    Closed,
    /// The keys of `path`, as read at start; read again when it changes.
    Keys {
        /// The file.
        path: PathBuf,
        /// Its keys.
        ring: KeyRing,
    },
}

/// Why ingest stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Kafka refused the producer or a record.
    #[error("kafka")]
    Kafka(#[from] KafkaError),
    /// The HTTP port could not be bound or served.
    #[error("http endpoint")]
    Http(#[source] std::io::Error),
    /// A trace file could not be read.
    #[error("reading {path}")]
    Trace {
        /// The file.
        path: String,
        /// Why.
        source: csv::Error,
    },
}

const REPLAY: &str = "replay";
/// The shortest timer period the simulator uses.
const MIN_TICK: Duration = Duration::from_millis(1);
const SIMULATOR: &str = "simulator";
/// On SIGTERM, how long ingest still waits for queued positions to be acknowledged.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(10);

/// Runs ingest until the source ends (replay) or `shutdown` resolves.
pub async fn run(
    settings: IngestSettings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), IngestError> {
    let reasons: Vec<_> = Reject::ALL.iter().map(|reject| reject.label()).collect();
    let (metrics, auth_metrics) = Metrics::with_intake_auth("ingest", &reasons);
    // The reload task lives as long as the intake.
    let (auth, _reload) = match settings.auth {
        IntakeAccess::Open => {
            tracing::warn!("--ingest-auth none: anyone who reaches the port may post positions");
            (IntakeAuth::Open, None)
        }
        IntakeAccess::Closed => {
            tracing::warn!("no --ingest-keys: POST /v1/positions refuses every request");
            (IntakeAuth::Closed(auth_metrics), None)
        }
        IntakeAccess::Keys { path, ring } => {
            tracing::info!(path = %path.display(), keys = ring.len(), "device keys loaded");
            let store = KeyStore::new(ring, auth_metrics);
            let reload = store.reload_on_change(path);
            (IntakeAuth::Keys(store), Some(reload))
        }
    };
    let mut emitter = settings.kafka.patient_emitter(metrics.clone())?;
    let (batches, mut incoming) = mpsc::channel::<Batch>(64);

    let listener = bind(settings.http_host, settings.http_port)
        .await
        .map_err(IngestError::Http)?;
    let app = base_router(metrics.clone()).merge(intake::router(intake::Intake {
        batches: batches.clone(),
        limits: settings.limits,
        metrics: metrics.clone(),
        max_body_bytes: settings.max_body_bytes,
        delivery_wait: settings.delivery_wait,
        auth,
    }));
    let server = spawn_server(
        listener,
        app,
        settings.read_token.clone(),
        settings.https.clone(),
    );

    let limits = settings.limits;
    let source = match settings.source {
        SourceSettings::Simulator { config, rate } => {
            let metrics = metrics.clone();
            tokio::spawn(simulate(config, rate, limits, batches, metrics))
        }
        SourceSettings::Replay {
            files,
            schema,
            speedup,
        } => {
            let metrics = metrics.clone();
            tokio::task::spawn_blocking(move || {
                replay(&files, schema, speedup, &limits, &batches, &metrics)
            })
        }
        SourceSettings::Http => {
            // The intake's sender keeps the channel open; this source never ends by itself.
            drop(batches);
            tokio::spawn(std::future::pending())
        }
    };
    tracing::info!(kafka = settings.kafka.bootstrap_servers(), "ingesting");

    tokio::pin!(shutdown, source);
    // Positions go out many to a record, one record per partition of their vehicles.
    let partitions = tokio::select! {
        _ = &mut shutdown => {
            server.abort();
            return Ok(());
        }
        partitions = emitter.partitions(topics::POSITIONS) => partitions,
    };
    let mut batcher = Batcher::new(topics::POSITIONS, POSITION_SCHEMA_V2, partitions);
    let mut source_done = false;
    // Delivery failures are logged, never fatal: the producer resends what the
    // broker refuses retriably, and an HTTP caller is told what was not acknowledged.
    let result = loop {
        tokio::select! {
            _ = &mut shutdown => break Ok(true),
            finished = &mut source, if !source_done => {
                source_done = true;
                match finished {
                    Ok(Ok(())) => tracing::info!("source finished"),
                    Ok(Err(err)) => break Err(err),
                    Err(err) => tracing::error!(error = %err, "source task failed"),
                }
                // Once the source is done only queued batches remain; then stop.
                if incoming.is_empty() {
                    break Ok(false);
                }
            }
            batch = incoming.recv() => {
                let Some(batch) = batch else { break Ok(false) };
                produce(&mut emitter, batch, &mut batcher).await;
                if source_done && incoming.is_empty() {
                    break Ok(false);
                }
            }
        }
    };
    server.abort();
    let stopped = result?;
    // A finished source waits for everything it queued (the broker may be refusing for a
    // while); a stop signal waits a bounded time.
    let flushed = if stopped {
        tokio::time::timeout(SHUTDOWN_FLUSH, emitter.settle())
            .await
            .unwrap_or_else(|_| {
                tracing::warn!(
                    "stopping with positions not yet acknowledged by Kafka after {SHUTDOWN_FLUSH:?}"
                );
                Ok(())
            })
    } else {
        emitter.settle().await
    };
    if let Err(err) = flushed {
        tracing::error!(error = %err, "a delivery failed");
    }
    Ok(())
}

/// Hands a batch to the producer. A batch with a caller waits for its acknowledgement until
/// its deadline at most, and tells the caller the outcome; a batch without one (simulator,
/// replay) waits as long as the producer's queue is full.
async fn produce(emitter: &mut Emitter, batch: Batch, batcher: &mut Batcher) {
    // A failure of an earlier record belongs to no caller waiting now: log it and go on.
    if let Some(err) = emitter.take_failure() {
        tracing::error!(error = %err, "a delivery failed");
    }
    let Batch {
        positions,
        delivered,
        deliver_by,
        ..
    } = batch;
    let settle = delivered.is_some();
    // What an earlier batch left when its deadline cut it off was answered as not accepted.
    batcher.discard();
    let sending = async {
        if settle {
            // First everything queued before: after a batch timed out (the broker refusing),
            // the next one is not queued behind it, so ingest holds at most one batch that a
            // caller was told is not accepted (and a retrying caller adds none).
            emitter.settle().await?;
        }
        for position in &positions {
            let key = position.vehicle_id.as_bytes();
            batcher
                .add(emitter, key, position.timestamp_ms, |value| {
                    PositionBatch::encode_into(position, value);
                })
                .await?;
        }
        batcher.flush(emitter).await?;
        if settle {
            emitter.settle().await?;
        }
        Ok::<(), KafkaError>(())
    };
    let result = match deliver_by {
        // Past the deadline nothing more is handed to the producer (never produced); what was
        // handed stays queued and may still be written.
        Some(deadline) if deadline <= tokio::time::Instant::now() => Err(NotDelivered::TimedOut),
        Some(deadline) => match tokio::time::timeout_at(deadline, sending).await {
            Ok(sent) => sent.map_err(|err| NotDelivered::Failed(err.to_string())),
            Err(_) => Err(NotDelivered::TimedOut),
        },
        None => sending
            .await
            .map_err(|err| NotDelivered::Failed(err.to_string())),
    };
    if let Err(NotDelivered::Failed(err)) = &result {
        tracing::error!(error = %err, "positions not produced");
    }
    if let Some(delivered) = delivered {
        let _ = delivered.send(result);
    }
}

async fn simulate(
    config: SimulatorConfig,
    rate: f64,
    limits: Limits,
    batches: mpsc::Sender<Batch>,
    metrics: Metrics,
) -> Result<(), IngestError> {
    let vehicles = config.vehicles;
    let mut fleet = Fleet::new(config);
    // One round moves and reports every vehicle; rounds faster than 1 ms are done several per tick.
    let round_s = f64::from(vehicles) / rate;
    let rounds_per_tick = (MIN_TICK.as_secs_f64() / round_s).ceil().max(1.0) as usize;
    let tick =
        Duration::try_from_secs_f64(round_s * rounds_per_tick as f64).unwrap_or(Duration::MAX);
    let mut ticker = tokio::time::interval(tick.max(MIN_TICK));
    loop {
        ticker.tick().await;
        let now_ms = wall_clock_ms();
        let mut positions = Vec::with_capacity(vehicles as usize * rounds_per_tick);
        for _ in 0..rounds_per_tick {
            fleet.step(round_s);
            fleet.positions(now_ms, &mut positions);
        }
        let (positions, _) = admit(positions, SIMULATOR, &limits, now_ms, &metrics);
        let batch = Batch {
            source: SIMULATOR,
            positions,
            delivered: None,
            deliver_by: None,
        };
        if batches.send(batch).await.is_err() {
            return Ok(());
        }
    }
}

/// Reads the files in order on a blocking thread, sleeping until each record is due.
fn replay(
    files: &[PathBuf],
    schema: CsvSchema,
    speedup: f64,
    limits: &Limits,
    batches: &mpsc::Sender<Batch>,
    metrics: &Metrics,
) -> Result<(), IngestError> {
    for path in files {
        // Each file starts now: traces recorded in different years replay back to back.
        let mut restamp = Restamp::new(wall_clock_ms(), speedup);
        let trace_error = |source| IngestError::Trace {
            path: path.display().to_string(),
            source,
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_path(path)
            .map_err(trace_error)?;
        let mut resolved = None;
        for record in reader.records() {
            let record = match record {
                Ok(record) => record,
                Err(err) if err.is_io_error() => return Err(trace_error(err)),
                Err(_) => {
                    count_unparsable(metrics, REPLAY, Reject::Malformed);
                    continue;
                }
            };
            let schema = match resolved {
                Some(schema) => schema,
                None => {
                    let (schema, is_header) = detect_schema(schema, &record);
                    resolved = Some(schema);
                    if is_header {
                        continue;
                    }
                    schema
                }
            };
            let trace = match parse_record(schema, &record) {
                Ok(trace) => trace,
                Err(reject) => {
                    count_unparsable(metrics, REPLAY, reject);
                    continue;
                }
            };
            let due_ms = restamp.due_ms(trace.recorded_ms);
            let wait_ms = due_ms - wall_clock_ms();
            if wait_ms > 0 {
                std::thread::sleep(Duration::from_millis(wait_ms as u64));
            }
            let (positions, _) = admit(
                [trace.into_position(due_ms)],
                REPLAY,
                limits,
                wall_clock_ms(),
                metrics,
            );
            if positions.is_empty() {
                continue;
            }
            let batch = Batch {
                source: REPLAY,
                positions,
                delivered: None,
                deliver_by: None,
            };
            if batches.blocking_send(batch).is_err() {
                return Ok(()); // Ingest is stopping.
            }
        }
    }
    Ok(())
}
