//! The command line of `cartrack-worker`, and its validation into settings.
//!
//! Parsing (clap) rejects malformed usage; [`Cli::into_settings`] is the pure validation phase
//! that turns arguments and environment into checked settings, with errors that name the option
//! and the fix.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use cartrack_http::{Https, TlsError, TlsFiles};
use clap::{Args, Parser, Subcommand};

use crate::commands::broker::BrokerSettings;
use crate::commands::index::{BatchSettings, IndexSettings};
use crate::commands::ingest::IntakeAccess;
use crate::commands::ingest::{IngestSettings, SourceSettings};
use crate::commands::process::ProcessSettings;
use crate::http::{resolve_port, PortError, SCHEDULER_PORT_ENV, USER_PORT_ENV};
use crate::kafka::{KafkaConfig, KafkaConfigError};
use crate::keys::{KeysError, KeysFileError, NewKey};
use crate::processor::ProcessorConfig;
use crate::sinks::elasticsearch::config::ElasticsearchConfigError;
use crate::sinks::elasticsearch::ElasticsearchConfig;
use crate::sources::replay::CsvSchema;
use crate::sources::simulator::{CityBox, SimulatorConfig};
use crate::transforms::geofence::{GeofenceError, Geofences};
use crate::validate::Limits;

/// The car-tracking pipeline's workloads.
#[derive(Debug, Parser)]
#[command(name = "cartrack-worker", version, about)]
pub struct Cli {
    /// Log filter (tracing env-filter syntax), e.g. `info` or `cartrack_pipeline=debug`.
    #[arg(long, env = "CARTRACK_LOG", default_value = "info", global = true)]
    pub log: String,
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read positions (simulated fleet by default) and produce them to cartrack.positions.
    Ingest(IngestArgs),
    /// Track vehicles, aggregate tiles, raise geofence alerts, predict; serve /v1/snapshot.
    Process(ProcessArgs),
    /// Write vehicles, tiles and alerts to Elasticsearch, or NDJSON files without one.
    Index(IndexArgs),
    /// Run an in-memory Kafka-protocol broker for local runs (librdkafka's mock cluster).
    Broker(BrokerArgs),
    /// Device keys for POST /v1/positions.
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a device key: prints the key once (give it to the devices) and the entry to
    /// append to the ingesters' --ingest-keys file (which holds only its hash).
    New(NewKeyArgs),
}

/// `keys new` arguments.
#[derive(Debug, Args)]
pub struct NewKeyArgs {
    /// The key's name in metrics and logs (a fleet or gateway); unique in the file.
    #[arg(long)]
    name: String,
    /// A vehicle-id prefix the key may send; repeatable. None: any vehicle.
    #[arg(long = "vehicle-prefix")]
    vehicle_prefixes: Vec<String>,
    /// Positions per second the key may send, sustained. None: no limit.
    #[arg(long)]
    rate_per_second: Option<f64>,
    /// Positions the key may send at once after a quiet spell [default: one second's worth].
    #[arg(long, requires = "rate_per_second")]
    burst: Option<f64>,
}

/// Who may post positions to the intake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IngestAuthMode {
    /// Devices send `Authorization: Bearer <key>`, checked against --ingest-keys.
    Keys,
    /// Anyone who reaches the port: only on a trusted network (what `cartrack local` uses).
    None,
}

/// Where Kafka is.
#[derive(Debug, Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers, HOST:PORT[,HOST:PORT...].
    #[arg(long, env = "CARTRACK_KAFKA", global = true)]
    pub kafka: Option<String>,
    /// A librdkafka property KEY=VALUE (SASL, TLS, tuning); repeatable. The variable takes a
    /// comma-separated list.
    #[arg(
        long = "kafka-option",
        env = "CARTRACK_KAFKA_OPTIONS",
        value_delimiter = ',',
        global = true
    )]
    pub kafka_options: Vec<String>,
}

/// Where the HTTP endpoint listens.
#[derive(Debug, Args)]
pub struct HttpArgs {
    /// Port of the HTTP endpoint; else PORT_HTTP (set by the scheduler), else
    /// CARTRACK_HTTP_PORT, else any free port (printed as `http: ADDRESS`).
    #[arg(long, global = true)]
    pub http_port: Option<u16>,
    /// Address of the HTTP endpoint.
    #[arg(long, env = "CARTRACK_HTTP_HOST", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST), global = true)]
    pub http_host: IpAddr,
    /// Bearer token required on every request of the HTTP endpoint but /v1/health,
    /// /v1/ready and the intake's POST /v1/positions (/metrics and /v1/snapshot tell where
    /// every vehicle is); the scheduler passes its --worker-read-token. Empty: none.
    #[arg(
        long,
        env = "CARTRACK_WORKER_READ_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub read_token: Option<String>,
    /// PEM certificate chain: the HTTP endpoint is served over HTTPS only (with --tls-key);
    /// read again within 5 s of a change. Meant for ingesters: the scheduler reads the
    /// processors' /v1/snapshot over plain HTTP.
    #[arg(
        long,
        env = "CARTRACK_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key",
        global = true
    )]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(
        long,
        env = "CARTRACK_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert",
        global = true
    )]
    pub tls_key: Option<PathBuf>,
}

/// `ingest` arguments.
#[derive(Debug, Args)]
pub struct IngestArgs {
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    http: HttpArgs,
    /// Largest POST /v1/positions body read, bytes; the lines past it are answered 413 (the
    /// ones before it are produced).
    #[arg(
        long,
        env = "CARTRACK_MAX_BODY_BYTES",
        default_value_t = crate::sources::http::DEFAULT_MAX_BODY_BYTES,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
    )]
    max_body_bytes: usize,
    /// Seconds a POST /v1/positions batch waits for Kafka's acknowledgement; past it the request
    /// is answered 503 (with Retry-After) saying how many positions were accepted.
    #[arg(
        long,
        env = "CARTRACK_DELIVERY_WAIT_SECS",
        default_value_t = crate::sources::http::DEFAULT_DELIVERY_WAIT_SECS,
        value_parser = clap::value_parser!(u64).range(1..=300)
    )]
    delivery_wait_secs: u64,
    /// Who may POST /v1/positions: `keys` (a device key from --ingest-keys in
    /// `Authorization: Bearer`) or `none` (anyone who reaches the port).
    #[arg(long, env = "CARTRACK_INGEST_AUTH", value_enum, default_value_t = IngestAuthMode::Keys)]
    ingest_auth: IngestAuthMode,
    /// The device keys file (hashes only, see `keys new`), read again when it changes.
    /// Without it and with --ingest-auth keys, every post is refused.
    #[arg(long, env = "CARTRACK_INGEST_KEYS")]
    ingest_keys: Option<PathBuf>,
    /// The source; the simulator with its defaults if omitted. POST /v1/positions is always on.
    #[command(subcommand)]
    source: Option<SourceCommand>,
}

/// The ingest sources.
#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// A simulated fleet driving a street grid.
    Simulator(SimulatorArgs),
    /// Replay CSV traces re-stamped to now.
    Replay(ReplayArgs),
    /// Only accept POST /v1/positions (JSON lines).
    Http,
}

/// `ingest simulator` arguments.
#[derive(Debug, Args)]
pub struct SimulatorArgs {
    /// Number of vehicles.
    #[arg(long, default_value_t = 50)]
    vehicles: u32,
    /// Positions per second, all vehicles together [default: one per vehicle per second].
    #[arg(long)]
    rate: Option<f64>,
    /// Seed of the simulation; the same seed drives the same fleet.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// The city box, `south,west,north,east` in degrees [default: Manhattan].
    #[arg(long, default_value = "40.70,-74.02,40.80,-73.93")]
    city: String,
}

/// `ingest replay` arguments.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// CSV files, replayed in order.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Column layout of the files.
    #[arg(long, value_enum, default_value_t = CsvSchema::Auto)]
    schema: CsvSchema,
    /// Replay this many times faster than recorded.
    #[arg(long, default_value_t = 1.0)]
    speedup: f64,
}

/// `process` arguments.
#[derive(Debug, Args)]
pub struct ProcessArgs {
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    http: HttpArgs,
    /// Consumer group; processors sharing it split the vehicles.
    #[arg(
        long,
        env = "CARTRACK_PROCESS_GROUP",
        default_value = "cartrack-process"
    )]
    group: String,
    /// TOML file of geofences ([[geofence]] name, polygon = [[lon, lat], ...]).
    #[arg(long, env = "CARTRACK_GEOFENCES")]
    geofences: Option<PathBuf>,
    /// How far ahead to predict positions, seconds.
    #[arg(long, default_value_t = 30.0)]
    horizon: f64,
    /// How long (event time) after a tile window is first emitted it still takes late
    /// positions, re-emitting it under the same id; seconds, at most 7 days (the intake's
    /// oldest). Later positions are counted (`late_for_window`), not applied.
    #[arg(
        long,
        env = "CARTRACK_ALLOWED_LATENESS_SECS",
        default_value_t = 600,
        value_parser = clap::value_parser!(u64).range(0..=604_800)
    )]
    allowed_lateness_secs: u64,
    /// Directory for the checkpoint of the processor's state (vehicles, tile windows that can
    /// still change), written every 5 s; offsets are then committed up to the checkpoint and a
    /// restart restores it. Without it (or empty), commits wait for the allowed lateness.
    #[arg(long, env = "CARTRACK_CHECKPOINT_DIR")]
    checkpoint_dir: Option<PathBuf>,
}

/// `index` arguments.
#[derive(Debug, Args)]
pub struct IndexArgs {
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    http: HttpArgs,
    /// Consumer group.
    #[arg(long, env = "CARTRACK_INDEX_GROUP", default_value = "cartrack-index")]
    group: String,
    /// Elasticsearch/OpenSearch URL, credentials may be embedded (https://user:pass@host:9200).
    /// Without it, documents go to NDJSON files.
    #[arg(long, env = "CARTRACK_ELASTICSEARCH")]
    elasticsearch: Option<String>,
    /// Elasticsearch API key (base64 id:key), instead of credentials in the URL.
    #[arg(long, env = "CARTRACK_ELASTICSEARCH_API_KEY", hide_env_values = true)]
    elasticsearch_api_key: Option<String>,
    /// Directory of the NDJSON files when no Elasticsearch is given.
    #[arg(long, env = "CARTRACK_NDJSON_DIR", default_value = "cartrack-data")]
    ndjson_dir: PathBuf,
    /// Flush a batch at this many documents.
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// Flush a batch at about this many bytes.
    #[arg(long, default_value_t = 5_000_000)]
    batch_bytes: usize,
    /// Flush a batch this many milliseconds after its first document.
    #[arg(long, default_value_t = 100)]
    batch_wait_ms: u64,
    /// Write a vehicle's latest state at most this often, in milliseconds (its history gets
    /// every state); 0: with every batch.
    #[arg(long, default_value_t = 1000)]
    latest_interval_ms: u64,
}

/// `broker` arguments.
#[derive(Debug, Args)]
pub struct BrokerArgs {
    /// Partitions of each pipeline topic.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Bytes per partition not yet consumed by every committing consumer group, beyond which
    /// producers are refused (retriably) until the consumers catch up.
    #[arg(long, env = "CARTRACK_BROKER_MAX_BACKLOG_BYTES", default_value_t = 64 << 20)]
    max_backlog_bytes: usize,
    /// Bytes per partition of already consumed records still kept for re-reading.
    #[arg(long, env = "CARTRACK_BROKER_RETAIN_BYTES", default_value_t = 16 << 20)]
    retain_bytes: usize,
}

/// Where the indexer writes.
#[derive(Debug, Clone)]
pub enum SinkSettings {
    /// An Elasticsearch or OpenSearch cluster.
    Elasticsearch(ElasticsearchConfig),
    /// NDJSON files in a directory.
    Ndjson(PathBuf),
}

/// A validated subcommand, ready to run.
#[derive(Debug, Clone)]
pub enum Settings {
    /// `ingest`.
    Ingest(IngestSettings),
    /// `process`.
    Process(ProcessSettings),
    /// `index`.
    Index(IndexSettings, SinkSettings),
    /// `broker`.
    Broker(BrokerSettings),
    /// `keys new`.
    NewKey(NewKey),
}

/// A bad setting, named, with the fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Kafka settings.
    #[error(transparent)]
    Kafka(#[from] KafkaConfigError),
    /// HTTP port.
    #[error(transparent)]
    Port(#[from] PortError),
    /// `--tls-cert` / `--tls-key` unusable (the message names which, the file and why).
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// Elasticsearch settings.
    #[error(transparent)]
    Elasticsearch(#[from] ElasticsearchConfigError),
    /// The city box.
    #[error(transparent)]
    City(#[from] crate::sources::simulator::CityBoxError),
    /// The geofences file could not be read.
    #[error("--geofences {path}: {source}; check the path (or CARTRACK_GEOFENCES)")]
    GeofencesFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The geofences file is invalid.
    #[error("--geofences {path}: {source}")]
    Geofences {
        /// The file.
        path: String,
        /// What is wrong.
        source: GeofenceError,
    },
    /// The keys file cannot be used.
    #[error("--ingest-keys {0}")]
    IngestKeys(#[from] KeysFileError),
    /// Keys given but authentication off.
    #[error(
        "--ingest-keys is given with --ingest-auth none, which lets anyone post: drop one of them"
    )]
    KeysWithoutAuth,
    /// An intake-only ingester that nobody could post to.
    #[error("`ingest http` takes positions only from devices, and has no device keys: give --ingest-keys FILE (make keys with `cartrack-worker keys new`), or --ingest-auth none on a trusted network")]
    HttpWithoutKeys,
    /// `keys new` with a bad name or rate.
    #[error("keys new: {0}")]
    NewKey(#[source] KeysError),
    /// A number that must be positive is not.
    #[error("--{option} {value}: must be a positive number")]
    NotPositive {
        /// The option.
        option: &'static str,
        /// Its value.
        value: f64,
    },
}

/// Who may post, with the keys file read (so a bad one exits before serving).
fn intake_access(
    mode: IngestAuthMode,
    keys: Option<PathBuf>,
    source: &SourceSettings,
) -> Result<IntakeAccess, ConfigError> {
    match (mode, keys) {
        (IngestAuthMode::None, None) => Ok(IntakeAccess::Open),
        (IngestAuthMode::None, Some(_)) => Err(ConfigError::KeysWithoutAuth),
        (IngestAuthMode::Keys, None) if *source == SourceSettings::Http => {
            Err(ConfigError::HttpWithoutKeys)
        }
        (IngestAuthMode::Keys, None) => Ok(IntakeAccess::Closed),
        (IngestAuthMode::Keys, Some(path)) => {
            let ring = crate::keys::load(&path)?;
            Ok(IntakeAccess::Keys { path, ring })
        }
    }
}

fn positive(option: &'static str, value: f64) -> Result<f64, ConfigError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(ConfigError::NotPositive { option, value })
    }
}

impl KafkaArgs {
    fn validate(&self) -> Result<KafkaConfig, KafkaConfigError> {
        KafkaConfig::new(self.kafka.as_deref(), &self.kafka_options)
    }
}

impl HttpArgs {
    fn read_token(&self) -> Option<String> {
        self.read_token.clone().filter(|token| !token.is_empty())
    }

    fn port(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<u16, PortError> {
        resolve_port(self.http_port, env(SCHEDULER_PORT_ENV), env(USER_PORT_ENV))
    }

    /// The endpoint's TLS, its files read now so a bad one exits before anything is served.
    fn https(&self) -> Result<Option<Https>, TlsError> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Https::load(&TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            })
            .map(Some),
            // clap requires both or neither.
            _ => Ok(None),
        }
    }
}

impl Cli {
    /// Validates the arguments; `env` reads an environment variable (injected for tests).
    pub fn into_settings(
        self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        Ok(match self.command {
            Command::Keys(KeysCommand::New(args)) => {
                let request = NewKey {
                    name: args.name,
                    vehicle_prefixes: args.vehicle_prefixes,
                    rate_per_second: args.rate_per_second,
                    burst: args.burst,
                };
                request.check().map_err(ConfigError::NewKey)?;
                Settings::NewKey(request)
            }
            Command::Broker(args) => Settings::Broker(BrokerSettings {
                partitions: positive("partitions", f64::from(args.partitions))? as i32,
                retention: crate::commands::broker::Retention {
                    max_backlog_bytes: args.max_backlog_bytes,
                    retain_bytes: args.retain_bytes,
                },
            }),
            Command::Ingest(args) => {
                let source = match args.source {
                    None => simulator(SimulatorArgs::parse_defaults())?,
                    Some(SourceCommand::Simulator(simulator_args)) => simulator(simulator_args)?,
                    Some(SourceCommand::Replay(replay)) => SourceSettings::Replay {
                        files: replay.files,
                        schema: replay.schema,
                        speedup: positive("speedup", replay.speedup)?,
                    },
                    Some(SourceCommand::Http) => SourceSettings::Http,
                };
                let auth = intake_access(args.ingest_auth, args.ingest_keys, &source)?;
                Settings::Ingest(IngestSettings {
                    kafka: args.kafka.validate()?,
                    http_host: args.http.http_host,
                    http_port: args.http.port(env)?,
                    read_token: args.http.read_token(),
                    https: args.http.https()?,
                    source,
                    limits: Limits::default(),
                    max_body_bytes: args.max_body_bytes,
                    delivery_wait: std::time::Duration::from_secs(args.delivery_wait_secs),
                    auth,
                })
            }
            Command::Process(args) => {
                let geofences = match &args.geofences {
                    None => Geofences::default(),
                    Some(path) => {
                        let text = std::fs::read_to_string(path).map_err(|source| {
                            ConfigError::GeofencesFile {
                                path: path.display().to_string(),
                                source,
                            }
                        })?;
                        Geofences::from_toml(&text).map_err(|source| ConfigError::Geofences {
                            path: path.display().to_string(),
                            source,
                        })?
                    }
                };
                let mut processor = ProcessorConfig::with_geofences(geofences);
                processor.horizon_s = positive("horizon", args.horizon)?;
                // At most 7 days (checked by clap): the product fits an i64.
                processor.windows.allowed_lateness_ms = args.allowed_lateness_secs as i64 * 1000;
                Settings::Process(ProcessSettings {
                    kafka: args.kafka.validate()?,
                    group: args.group,
                    http_host: args.http.http_host,
                    http_port: args.http.port(env)?,
                    read_token: args.http.read_token(),
                    https: args.http.https()?,
                    processor,
                    // Empty (e.g. a spec's `${CARTRACK_CHECKPOINT_DIR:-}`): no checkpoint.
                    checkpoint_dir: args
                        .checkpoint_dir
                        .filter(|dir| !dir.as_os_str().is_empty()),
                })
            }
            Command::Index(args) => {
                let sink = match &args.elasticsearch {
                    Some(url) => SinkSettings::Elasticsearch(ElasticsearchConfig::new(
                        url,
                        args.elasticsearch_api_key.as_deref(),
                    )?),
                    None => SinkSettings::Ndjson(args.ndjson_dir.clone()),
                };
                let batch = BatchSettings {
                    max_documents: positive("batch-size", args.batch_size as f64)? as usize,
                    max_bytes: positive("batch-bytes", args.batch_bytes as f64)? as usize,
                    max_wait: Duration::from_millis(positive(
                        "batch-wait-ms",
                        args.batch_wait_ms as f64,
                    )? as u64),
                    latest_interval: Duration::from_millis(args.latest_interval_ms),
                };
                Settings::Index(
                    IndexSettings {
                        kafka: args.kafka.validate()?,
                        group: args.group,
                        http_host: args.http.http_host,
                        http_port: args.http.port(env)?,
                        read_token: args.http.read_token(),
                        https: args.http.https()?,
                        batch,
                    },
                    sink,
                )
            }
        })
    }
}

impl SimulatorArgs {
    fn parse_defaults() -> Self {
        Self {
            vehicles: 50,
            rate: None,
            seed: 7,
            city: "40.70,-74.02,40.80,-73.93".into(),
        }
    }
}

fn simulator(args: SimulatorArgs) -> Result<SourceSettings, ConfigError> {
    let city: CityBox = args.city.parse()?;
    let vehicles = positive("vehicles", f64::from(args.vehicles))? as u32;
    let rate = positive("rate", args.rate.unwrap_or(f64::from(vehicles)))?;
    Ok(SourceSettings::Simulator {
        config: SimulatorConfig {
            vehicles,
            seed: args.seed,
            city,
            ..SimulatorConfig::default()
        },
        rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(args: &[&str]) -> Result<Settings, ConfigError> {
        let cli =
            Cli::try_parse_from(std::iter::once("cartrack-worker").chain(args.iter().copied()))
                .unwrap();
        cli.into_settings(&|name| (name == "PORT_HTTP").then(|| "8123".to_owned()))
    }

    #[test]
    fn plain_ingest_runs_the_default_simulator() {
        let Settings::Ingest(ingest) = settings(&["ingest", "--kafka", "k:9092"]).unwrap() else {
            panic!("not ingest")
        };
        assert_eq!(ingest.http_port, 8123);
        assert!(matches!(ingest.source, SourceSettings::Simulator { rate, .. } if rate == 50.0));
    }

    #[test]
    fn options_may_follow_the_source_subcommand() {
        let parsed = settings(&[
            "ingest",
            "simulator",
            "--vehicles",
            "3",
            "--kafka",
            "k:1",
            "--http-port",
            "9",
        ])
        .unwrap();
        let Settings::Ingest(ingest) = parsed else {
            panic!("not ingest")
        };
        assert_eq!(
            (ingest.http_port, ingest.kafka.bootstrap_servers()),
            (9, "k:1")
        );
    }

    #[test]
    fn errors_name_the_option() {
        let missing = settings(&["process"]).unwrap_err().to_string();
        assert!(missing.contains("--kafka"), "{missing}");
        let rate = settings(&["ingest", "--kafka", "k:1", "simulator", "--rate", "0"]).unwrap_err();
        assert!(rate.to_string().contains("--rate"), "{rate}");
        let fences = settings(&[
            "process",
            "--kafka",
            "k:1",
            "--geofences",
            "/nonexistent.toml",
        ])
        .unwrap_err();
        assert!(
            fences.to_string().contains("--geofences /nonexistent.toml"),
            "{fences}"
        );
        let es = settings(&["index", "--kafka", "k:1", "--elasticsearch", "es:9200"]).unwrap_err();
        assert!(es.to_string().contains("http://"), "{es}");
    }

    #[test]
    fn tls_takes_both_files_for_every_server_and_a_bad_one_is_named_with_its_flag() {
        let half = Cli::try_parse_from(["cartrack-worker", "process", "--tls-cert", "/x.crt"])
            .unwrap_err()
            .to_string();
        assert!(half.contains("--tls-key"), "{half}");
        let tls = [
            "--tls-cert",
            "/nonexistent/x.crt",
            "--tls-key",
            "/nonexistent/x.key",
        ];
        let missing = settings(&[&["process", "--kafka", "k:1"][..], &tls].concat())
            .unwrap_err()
            .to_string();
        assert!(
            missing.starts_with("--tls-cert /nonexistent/x.crt: "),
            "{missing}"
        );

        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles {
            cert: dir.path().join("x.crt"),
            key: dir.path().join("x.key"),
        };
        let issued = cartrack_http::test_certs::issue_for_localhost().unwrap();
        issued.write(&files).unwrap();
        let (cert, key) = (files.cert.to_str().unwrap(), files.key.to_str().unwrap());
        let tls = ["--tls-cert", cert, "--tls-key", key];
        // After the source subcommand too: the flags are global.
        let ingest = settings(&[&["ingest", "--kafka", "k:1", "simulator"][..], &tls].concat());
        assert!(matches!(ingest, Ok(Settings::Ingest(s)) if s.https.is_some()));
        let process = settings(&[&["process", "--kafka", "k:1"][..], &tls].concat());
        assert!(matches!(process, Ok(Settings::Process(s)) if s.https.is_some()));
        let index = settings(&[&["index", "--kafka", "k:1"][..], &tls].concat());
        assert!(matches!(index, Ok(Settings::Index(s, _)) if s.https.is_some()));
        let plain = settings(&["process", "--kafka", "k:1"]);
        assert!(matches!(plain, Ok(Settings::Process(s)) if s.https.is_none()));
    }

    #[test]
    fn index_without_elasticsearch_writes_ndjson() {
        let Settings::Index(_, sink) =
            settings(&["index", "--kafka", "k:1", "--ndjson-dir", "/tmp/x"]).unwrap()
        else {
            panic!("not index")
        };
        assert!(matches!(sink, SinkSettings::Ndjson(dir) if dir == std::path::Path::new("/tmp/x")));
    }

    #[test]
    fn the_intake_is_closed_without_keys_open_only_when_asked_and_never_both() {
        let access = |args: &[&str]| match settings(args) {
            Ok(Settings::Ingest(ingest)) => Ok(ingest.auth),
            Ok(_) => panic!("not ingest"),
            Err(e) => Err(e.to_string()),
        };
        let kafka = ["ingest", "--kafka", "k:1"];
        assert!(matches!(access(&kafka), Ok(IntakeAccess::Closed)));
        let open = [&kafka[..], &["--ingest-auth", "none", "http"]].concat();
        assert!(matches!(access(&open), Ok(IntakeAccess::Open)));
        let http_alone = [&kafka[..], &["http"]].concat();
        assert!(access(&http_alone)
            .unwrap_err()
            .contains("--ingest-keys FILE"));
        let both = [
            &kafka[..],
            &["--ingest-auth", "none", "--ingest-keys", "k.toml"],
        ]
        .concat();
        assert!(access(&both).unwrap_err().contains("drop one"));
        let missing = [&kafka[..], &["--ingest-keys", "/nonexistent/keys.toml"]].concat();
        let err = access(&missing).unwrap_err();
        assert!(
            err.starts_with("--ingest-keys /nonexistent/keys.toml:"),
            "{err}"
        );
    }
}
