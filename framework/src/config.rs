//! Command-line flags (each with its `CARTRACK_*` env var) and their resolution into
//! [`Settings`], ripgrep-style: clap parses, [`resolve`] validates without I/O (the spec text
//! and the directory of the binary are passed in; the exceptions are reading the secret,
//! service account key, ZooKeeper credentials and TLS files, so a bad one exits 2 at start),
//! [`crate::service::run`] acts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{CommandFactory as _, Parser};

use crate::auth::{AuthFlags, Credentials, CredentialsError};
use crate::driver::{Binaries, CoreConfig};
use crate::mesos::calls::FrameworkSettings;
use crate::mesos::{parse_masters, MasterListError, MasterSource};
use crate::spec::{
    self, ServiceSpec, SpecErrors, SpecParseError, UnknownGroupVariable, ValidatedSpec,
};
use crate::tls::{Trust, TrustError};
use cartrack_http::{Https, TlsError, TlsFiles};
use cartrack_webui::basemap::{Basemap, TileUrlError, OPENSTREETMAP_TILES};
use cartrack_zookeeper::{ZkAuth, ZkUrl};

/// `cartrack-scheduler` flags.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "cartrack-scheduler",
    version,
    about = "The cartrack Mesos scheduler: runs the car-tracking pipeline's pods on a shared Mesos cluster."
)]
pub struct Args {
    /// Mesos masters: a comma list of http://host:port (the leader is found by redirect), or
    /// Mesos' ZooKeeper group zk://host:port[,host:port]/mesos (the leader is read from it).
    #[arg(long, env = "CARTRACK_MASTER", default_value = "http://127.0.0.1:5050")]
    pub master: String,
    /// ZooKeeper for the state and leader election, zk://host:port[,host:port]/path: state
    /// under <path>/<service name>; several instances may run, one leads [default: the
    /// --state-dir file store, one instance].
    #[arg(long, env = "CARTRACK_ZK")]
    pub zk: Option<String>,
    /// ZooKeeper session timeout in seconds: how long a paused or cut-off leader keeps its
    /// leadership before a standby takes over.
    #[arg(long, env = "CARTRACK_ZK_SESSION_TIMEOUT", default_value_t = 10.0)]
    pub zk_session_timeout: f64,
    /// ZooKeeper credentials, digest:USER:PASSWORD: the scheduler's sessions authenticate
    /// with them, and the nodes it creates can be read and written by that identity only
    /// (Mesos' nodes keep their own ACLs). Needs --zk.
    #[arg(
        long,
        env = "CARTRACK_ZK_AUTH",
        value_name = "digest:USER:PASSWORD",
        hide_env_values = true,
        conflicts_with = "zk_auth_file"
    )]
    pub zk_auth: Option<String>,
    /// A file holding the --zk-auth value (e.g. a DC/OS secret given as a file).
    #[arg(long, env = "CARTRACK_ZK_AUTH_FILE", value_name = "PATH")]
    pub zk_auth_file: Option<PathBuf>,
    /// The service spec (TOML).
    #[arg(long, env = "CARTRACK_SPEC")]
    pub spec: PathBuf,
    /// Where the state (framework id, tasks) is kept; must survive restarts.
    #[arg(long, env = "CARTRACK_STATE_DIR", default_value = "./cartrack-state")]
    pub state_dir: PathBuf,
    /// Operator API address [default: 127.0.0.1:8080, or 0.0.0.0:$PORT0 under Marathon].
    #[arg(long, env = "CARTRACK_HTTP")]
    pub http: Option<SocketAddr>,
    /// Bearer token required on mutating API requests.
    #[arg(long, env = "CARTRACK_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,
    /// Bearer token the pipeline workers require on `/metrics` and `/v1/snapshot`: passed to
    /// every task (as CARTRACK_WORKER_READ_TOKEN) and sent by the scheduler for `/v1/map`.
    #[arg(long, env = "CARTRACK_WORKER_READ_TOKEN", hide_env_values = true)]
    pub worker_read_token: Option<String>,
    /// PEM certificate chain to serve the API and page over HTTPS (with --tls-key); read
    /// again when it changes, so a renewed certificate needs no restart.
    #[arg(
        long,
        env = "CARTRACK_TLS_CERT",
        value_name = "PATH",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(
        long,
        env = "CARTRACK_TLS_KEY",
        value_name = "PATH",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Bearer token required on API reads too (the --api-token is also accepted), but for
    /// /v1/health and the page's static files; the CLI's --token and the page send it.
    #[arg(long, env = "CARTRACK_READ_TOKEN", hide_env_values = true)]
    pub read_token: Option<String>,
    /// URI of the cartrack-executor binary [default: beside this binary].
    #[arg(long, env = "CARTRACK_EXECUTOR_URI")]
    pub executor_uri: Option<String>,
    /// URI of the cartrack-worker binary [default: beside this binary].
    #[arg(long, env = "CARTRACK_WORKER_URI")]
    pub worker_uri: Option<String>,
    /// URI of a release tarball with cartrack-executor and cartrack-worker at its top level:
    /// every executor fetches and unpacks it, instead of --executor-uri and --worker-uri.
    #[arg(long, env = "CARTRACK_RELEASE_URI", conflicts_with_all = ["executor_uri", "worker_uri"])]
    pub release_uri: Option<String>,
    /// Framework name.
    #[arg(long, env = "CARTRACK_SERVICE_NAME", default_value = "cartrack")]
    pub name: String,
    /// Unix user executors and tasks run as [default: $USER, else root].
    #[arg(long, env = "CARTRACK_USER")]
    pub user: Option<String>,
    /// Mesos principal (FrameworkInfo.principal; with --secret-file the HTTP Basic user)
    /// [default: the service account's uid with --service-account-key].
    #[arg(long, env = "CARTRACK_PRINCIPAL")]
    pub principal: Option<String>,
    /// How the scheduler authenticates to the master.
    #[command(flatten)]
    pub auth: AuthFlags,
    /// PEM file of CA certificates to trust, besides the public roots, on https:// masters and
    /// the DC/OS login endpoint [default: $MESOS_SANDBOX/.ssl/ca-bundle.crt if it exists, the
    /// cluster CA DC/OS Enterprise gives every Marathon app].
    #[arg(long, env = "CARTRACK_CA_FILE", value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
    /// Mesos roles (repeat or comma list); groups without a role use the first.
    #[arg(
        long = "role",
        alias = "roles",
        env = "CARTRACK_ROLES",
        value_delimiter = ',',
        default_value = "*"
    )]
    pub roles: Vec<String>,
    /// Where this scheduler's API and page are reached: the link in the Mesos UI, and where
    /// standbys send clients while it leads [default: http://<--http>, with $HOST for a
    /// wildcard address].
    #[arg(long, env = "CARTRACK_WEBUI_URL")]
    pub webui_url: Option<String>,
    /// Raster tiles under the page's map, a URL template with {z}, {x} and {y}; the browser
    /// fetches them itself. Empty: no basemap. Mind OpenStreetMap's tile usage policy.
    #[arg(long, env = "CARTRACK_MAP_TILES", value_name = "URL", default_value = OPENSTREETMAP_TILES)]
    pub map_tiles: String,
    /// Seconds the master keeps our tasks while the scheduler is away (default one week).
    #[arg(long, env = "CARTRACK_FAILOVER_TIMEOUT", default_value_t = 604_800.0)]
    pub failover_timeout: f64,
    /// Filter (seconds) on declined offers nothing pending can use.
    #[arg(
        long,
        env = "CARTRACK_DECLINE_REFUSE_SECONDS",
        default_value_t = 3600.0
    )]
    pub decline_refuse_seconds: f64,
    /// Seconds between implicit reconciliations.
    #[arg(
        long,
        env = "CARTRACK_IMPLICIT_RECONCILE_INTERVAL",
        default_value_t = 900.0
    )]
    pub implicit_reconcile_interval: f64,
    /// Seconds a TASK_UNREACHABLE pod keeps its slot before a replacement is launched (the
    /// old task is killed if its agent comes back).
    #[arg(long, env = "CARTRACK_UNREACHABLE_TIMEOUT", default_value_t = 300.0)]
    pub unreachable_timeout: f64,
    /// Seconds between two readings of autoscaled groups' load from their pods' /metrics.
    #[arg(long, env = "CARTRACK_AUTOSCALE_INTERVAL", default_value_t = 5.0)]
    pub autoscale_interval: f64,
    /// Seconds the master has to answer one call (ACCEPT, KILL, ...). An ACCEPT without an
    /// answer in time is not sent again (it may have been taken): its tasks are reconciled.
    #[arg(long, env = "CARTRACK_CALL_TIMEOUT", default_value_t = 10.0)]
    pub call_timeout: f64,
    /// Seconds between two utilisation samples of the cluster (the multiplexing report,
    /// GET /v1/report/utilisation); the last 8640 are kept, in memory only.
    #[arg(long, env = "CARTRACK_REPORT_INTERVAL", default_value_t = 10.0)]
    pub report_interval: f64,
    /// Log filter (tracing env-filter syntax), e.g. info or cartrack_framework=debug.
    #[arg(long, env = "CARTRACK_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Override a spec key: <group>.count|cpus|mem|disk|role|placement, placement_strategy,
    /// staging_timeout_seconds, executor.cpus|mem|disk (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// Validate the spec (with overrides) and exit.
    #[arg(long)]
    pub check: bool,
    /// Uninstall the service: kill every pod, TEARDOWN the framework, delete the stored state,
    /// then serve only the finished plan. DC/OS asks for this with SDK_UNINSTALL=true, which
    /// is read too. Cannot be undone; a restart in this mode finishes an interrupted one.
    #[arg(long, env = "CARTRACK_UNINSTALL")]
    pub uninstall: bool,
}

/// Everything the scheduler needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the masters are.
    pub masters: MasterSource,
    /// ZooKeeper for state and election (`--zk`), if given.
    pub zk: Option<ZkUrl>,
    /// ZooKeeper session timeout.
    pub zk_session_timeout: Duration,
    /// The spec.
    pub spec: ValidatedSpec,
    /// State directory.
    pub state_dir: PathBuf,
    /// API address.
    pub http: SocketAddr,
    /// Where others reach the API (`--webui-url`, else from `--http` and `$HOST`): shown in
    /// the Mesos UI, and where standbys send clients while this instance leads.
    pub api_url: String,
    /// API token.
    pub api_token: Option<String>,
    /// Token needed on reads (`--read-token`).
    pub read_token: Option<String>,
    /// Token the workers need on their reads (`--worker-read-token`).
    pub worker_read_token: Option<String>,
    /// Between two load readings of autoscaled groups.
    pub autoscale_interval: Duration,
    /// The API's certificate and key (`--tls-cert`, `--tls-key`), read once: HTTPS when set,
    /// for the standby's answers and the leader's API alike.
    pub tls: Option<Https>,
    /// FrameworkInfo contents.
    pub framework: FrameworkSettings,
    /// What the scheduler presents to the master.
    pub credentials: Credentials,
    /// The CAs trusted on HTTPS (masters, DC/OS login).
    pub trust: Trust,
    /// Core settings.
    pub core: CoreConfig,
    /// How long the master has to answer one call.
    pub call_timeout: Duration,
    /// Time between two utilisation samples (`--report-interval`).
    pub report_interval: Duration,
    /// The page's basemap (`--map-tiles`); `None` for none.
    pub basemap: Option<Basemap>,
    /// Uninstall mode (`--uninstall`, or `SDK_UNINSTALL=true` as DC/OS sets it).
    pub uninstall: bool,
    /// `CARTRACK_<GROUP>_<KEY>` variables naming no group of the spec (likely typos): not
    /// errors (see [`UnknownGroupVariable`]), so the binary logs them, and `--check` prints them.
    pub unknown_group_variables: Vec<UnknownGroupVariable>,
}

/// Why the flags or spec are unusable (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The spec file does not parse.
    #[error("{path}: {source}")]
    Parse {
        /// The spec path.
        path: PathBuf,
        /// What failed.
        source: SpecParseError,
    },
    /// The spec (with overrides) breaks rules.
    #[error("{path}: {source}")]
    Spec {
        /// The spec path.
        path: PathBuf,
        /// Every broken rule.
        source: SpecErrors,
    },
    /// `--master` is malformed.
    #[error(transparent)]
    Masters(#[from] MasterListError),
    /// `--zk` is malformed.
    #[error("--zk {url:?}: {reason}")]
    ZooKeeper {
        /// The flag's value.
        url: String,
        /// What is wrong and how to write it.
        reason: String,
    },
    /// `--tls-cert` / `--tls-key` unusable (the message names which).
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// `--zk-auth` / `--zk-auth-file` unusable.
    #[error("{origin}: {reason}")]
    ZooKeeperAuth {
        /// The flag (and file) the value came from.
        origin: String,
        /// What is wrong and how to write it.
        reason: String,
    },
    /// `--secret-file` / `--service-account-key` unusable.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// `--ca-file` (or DC/OS's sandbox CA bundle) unusable.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// `--map-tiles` is not a tile URL template.
    #[error("--map-tiles {0}")]
    MapTiles(#[from] TileUrlError),
    /// A numeric flag is out of range.
    #[error("--{flag} = {value}: allowed: {allowed}")]
    Flag {
        /// Flag name.
        flag: &'static str,
        /// Value given.
        value: String,
        /// What is allowed.
        allowed: &'static str,
    },
}

/// Where others reach the API listening on `http`: on a wildcard address, the agent's host
/// that Marathon passes as `$HOST`.
fn advertised_url(scheme: &str, http: SocketAddr, host: Option<&str>) -> String {
    match host.map(str::trim).filter(|h| !h.is_empty()) {
        Some(host) if http.ip().is_unspecified() => format!("{scheme}://{host}:{}", http.port()),
        _ => format!("{scheme}://{http}"),
    }
}

/// `--zk-auth`, or the contents of `--zk-auth-file` (read here, so a bad one exits 2 at start).
fn zk_auth(args: &Args) -> Result<Option<ZkAuth>, ConfigError> {
    let (text, origin) = match (&args.zk_auth, &args.zk_auth_file) {
        (Some(text), _) => (text.clone(), "--zk-auth".to_string()),
        (None, Some(path)) => {
            let origin = format!("--zk-auth-file {}", path.display());
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::ZooKeeperAuth {
                origin: origin.clone(),
                reason: format!("cannot read it: {e}"),
            })?;
            (text, origin)
        }
        (None, None) => return Ok(None),
    };
    ZkAuth::parse(&text)
        .map(Some)
        .map_err(|e| ConfigError::ZooKeeperAuth {
            origin,
            reason: e.to_string(),
        })
}

fn positive(flag: &'static str, value: f64) -> Result<f64, ConfigError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(ConfigError::Flag {
            flag,
            value: value.to_string(),
            allowed: "a number of seconds > 0",
        })
    }
}

/// A flag's seconds as a duration: positive, and one a `Duration` holds (1e30 is refused,
/// not a panic).
fn seconds(flag: &'static str, value: f64) -> Result<Duration, ConfigError> {
    positive(flag, value).and_then(|value| {
        Duration::try_from_secs_f64(value).map_err(|_| ConfigError::Flag {
            flag,
            value: value.to_string(),
            allowed: "a number of seconds > 0",
        })
    })
}

/// The agents' fetcher unpacks only what its file name says is an archive; anything else would
/// land in the sandbox as one file and every executor would fail to start.
fn release_tarball(uri: &str) -> Result<String, ConfigError> {
    let path = uri.split(['?', '#']).next().unwrap_or(uri);
    if mesos_proto::fetcher::unpacks(path) {
        Ok(uri.to_string())
    } else {
        Err(ConfigError::Flag {
            flag: "release-uri",
            value: uri.to_string(),
            allowed: "an archive the Mesos fetcher unpacks (.tar, .tgz, .tar.gz, .tbz2, \
                      .tar.bz2, .txz, .tar.xz or .zip); single binaries go to --executor-uri \
                      and --worker-uri",
        })
    }
}

/// Every variable a flag falls back to (`CARTRACK_ZK_SESSION_TIMEOUT`, ...): such a variable
/// is configuration, never a misspelt group override, whatever its name ends with.
fn flag_env_vars() -> Vec<String> {
    Args::command()
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|name| name.to_string_lossy().into_owned())
        .collect()
}

/// `SDK_UNINSTALL`'s values that mean yes (DC/OS's Cosmos sets `true`).
fn is_true(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "yes" | "on"
    )
}

fn beside(dir: Option<&Path>, name: &str) -> String {
    dir.map_or_else(|| name.to_string(), |d| d.join(name).display().to_string())
}

/// Resolves flags + spec text + environment into [`Settings`]; `exe_dir` is where the
/// scheduler binary lives (default home of the executor and worker binaries).
pub fn resolve(
    args: &Args,
    spec_text: &str,
    env: impl IntoIterator<Item = (String, String)> + Clone,
    exe_dir: Option<&Path>,
) -> Result<Settings, ConfigError> {
    let path = args.spec.clone();
    let parsed = ServiceSpec::parse(spec_text).map_err(|source| ConfigError::Parse {
        path: path.clone(),
        source,
    })?;
    let spec_error = |source| ConfigError::Spec {
        path: path.clone(),
        source,
    };
    // Before interpolation, which consumes the `${NAME}` references that mark a variable used.
    let unknown_group_variables = {
        let flag_vars = flag_env_vars();
        let names: Vec<String> = env
            .clone()
            .into_iter()
            .map(|(name, _)| name)
            .filter(|name| !flag_vars.contains(name))
            .collect();
        spec::unknown_group_variables(&parsed, names.iter().map(String::as_str))
    };
    let roles: Vec<String> = args
        .roles
        .iter()
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .collect();
    let spec = spec::prepare(parsed, env.clone(), &args.set, &roles).map_err(spec_error)?;
    let masters = parse_masters(&args.master)?;
    let zk = match args.zk.as_deref().map(str::trim).filter(|z| !z.is_empty()) {
        Some(url) => Some(ZkUrl::parse(url).map_err(|e| ConfigError::ZooKeeper {
            url: url.to_string(),
            reason: e.to_string(),
        })?),
        None => None,
    };
    let zk = match (zk, zk_auth(args)?) {
        (Some(url), Some(auth)) => Some(url.with_auth(auth)),
        (None, Some(_)) => {
            return Err(ConfigError::ZooKeeperAuth {
                origin: "--zk-auth".into(),
                reason: "credentials are for the state in ZooKeeper; give --zk too".into(),
            })
        }
        (zk, None) => zk,
    };
    let zk_session_timeout = seconds("zk-session-timeout", args.zk_session_timeout)?;
    let env: Vec<(String, String)> = env.into_iter().collect();
    let lookup = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let http = match (
        args.http,
        lookup("PORT0").and_then(|p| p.parse::<u16>().ok()),
    ) {
        (Some(addr), _) => addr,
        (None, Some(port)) => SocketAddr::from(([0, 0, 0, 0], port)),
        (None, None) => SocketAddr::from(([127, 0, 0, 1], 8080)),
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        // Read now, so a bad file exits 2 before anything is served.
        (Some(cert), Some(key)) => Some(Https::load(&TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        })?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let api_url = args
        .webui_url
        .clone()
        .unwrap_or_else(|| advertised_url(scheme, http, lookup("HOST").as_deref()));
    let credentials = Credentials::load(&args.auth, args.principal.as_deref(), lookup)?;
    let trust = Trust::from_flag_or_sandbox(
        args.ca_file.as_deref(),
        lookup("MESOS_SANDBOX").as_deref().map(Path::new),
    )?;
    let failover = positive("failover-timeout", args.failover_timeout)?;
    let decline = positive("decline-refuse-seconds", args.decline_refuse_seconds)?;
    let implicit = positive(
        "implicit-reconcile-interval",
        args.implicit_reconcile_interval,
    )?;
    let unreachable = positive("unreachable-timeout", args.unreachable_timeout)?;
    let call_timeout = seconds("call-timeout", args.call_timeout)?;
    let autoscale_interval = seconds("autoscale-interval", args.autoscale_interval)?;
    let report_interval = seconds("report-interval", args.report_interval)?;
    let basemap = Basemap::from_flag(&args.map_tiles)?;
    let binaries = match &args.release_uri {
        Some(uri) => Binaries::Release {
            uri: release_tarball(uri)?,
        },
        None => Binaries::Files {
            executor_uri: args
                .executor_uri
                .clone()
                .unwrap_or_else(|| beside(exe_dir, "cartrack-executor")),
            worker_uri: args
                .worker_uri
                .clone()
                .unwrap_or_else(|| beside(exe_dir, "cartrack-worker")),
        },
    };
    let mut core = CoreConfig::new(binaries);
    core.planner.decline_refuse_seconds = decline;
    core.implicit_reconcile_ms = (implicit * 1000.0) as u64;
    core.unreachable_timeout_ms = (unreachable * 1000.0) as u64;
    core.roles = roles.clone();
    Ok(Settings {
        masters,
        zk,
        zk_session_timeout,
        state_dir: args.state_dir.clone(),
        http,
        api_url: api_url.clone(),
        api_token: args.api_token.clone().filter(|t| !t.is_empty()),
        read_token: args.read_token.clone().filter(|t| !t.is_empty()),
        worker_read_token: args.worker_read_token.clone().filter(|t| !t.is_empty()),
        autoscale_interval,
        tls,
        framework: FrameworkSettings {
            user: args
                .user
                .clone()
                .or_else(|| lookup("USER"))
                .unwrap_or_else(|| "root".into()),
            name: args.name.clone(),
            roles,
            principal: args
                .principal
                .clone()
                .or_else(|| credentials.principal().map(String::from)),
            failover_timeout_seconds: failover,
            webui_url: Some(api_url),
        },
        core,
        call_timeout,
        report_interval,
        basemap,
        uninstall: args.uninstall || lookup("SDK_UNINSTALL").is_some_and(|v| is_true(&v)),
        unknown_group_variables,
        spec,
        credentials,
        trust,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "[[groups]]\nname = \"ingester\"\ncount = 1\n[[groups.tasks]]\nname = \"main\"\ncommand = \"./cartrack-worker\"\ncpus = 0.1\nmem = 64\n";

    fn args(extra: &[&str]) -> Args {
        let mut argv = vec!["cartrack-scheduler", "--spec", "s.toml"];
        argv.extend_from_slice(extra);
        Args::try_parse_from(argv).expect("flags parse")
    }

    fn env(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_follow_the_issue() {
        let s = resolve(
            &args(&[]),
            SPEC,
            env(&[("USER", "alice")]),
            Some(Path::new("/opt/ct")),
        )
        .expect("valid");
        assert_eq!(s.http, "127.0.0.1:8080".parse().expect("addr"));
        assert_eq!(s.framework.failover_timeout_seconds, 604_800.0);
        assert_eq!(s.framework.user, "alice");
        assert_eq!(s.framework.roles, vec!["*"]);
        assert_eq!(
            s.core.binaries,
            Binaries::Files {
                executor_uri: "/opt/ct/cartrack-executor".into(),
                worker_uri: "/opt/ct/cartrack-worker".into(),
            }
        );
        assert_eq!(s.core.planner.decline_refuse_seconds, 3600.0);
        assert_eq!(s.core.implicit_reconcile_ms, 900_000);
        assert_eq!(s.core.unreachable_timeout_ms, 300_000);
    }

    #[test]
    fn port0_is_the_http_fallback() {
        let s = resolve(&args(&[]), SPEC, env(&[("PORT0", "31005")]), None).expect("valid");
        assert_eq!(s.http.port(), 31005);
        let s = resolve(
            &args(&["--http", "127.0.0.1:9000"]),
            SPEC,
            env(&[("PORT0", "31005")]),
            None,
        )
        .expect("valid");
        assert_eq!(s.http.port(), 9000);
    }

    #[test]
    fn a_misspelt_group_variable_is_a_warning_and_flag_variables_never_are() {
        let mut vars: Vec<(String, String)> = flag_env_vars()
            .into_iter()
            .map(|name| (name, "1".to_string()))
            .collect();
        assert!(
            [
                "CARTRACK_ZK_SESSION_TIMEOUT",
                "CARTRACK_DECLINE_REFUSE_SECONDS"
            ]
            .iter()
            .all(|flag| vars.iter().any(|(name, _)| name == flag)),
            "{vars:?}"
        );
        // As the Universe package sets them for the example's groups, whatever the spec.
        vars.extend(env(&[
            ("CARTRACK_INGESTER_COUNT", "2"),
            ("CARTRACK_PROCESSOR_COUNT", "3"),
            ("CARTRACK_INGESTR_MEM", "128"),
        ]));
        let s = resolve(&args(&[]), SPEC, vars, None).expect("warnings are not errors");
        assert_eq!(s.spec.groups[0].count, 2);
        let names: Vec<_> = s
            .unknown_group_variables
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            names,
            vec![
                "CARTRACK_INGESTR_MEM is ignored: the spec has no group \"ingestr\" \
                 (groups: ingester); did you mean CARTRACK_INGESTER_MEM?",
                "CARTRACK_PROCESSOR_COUNT is ignored: the spec has no group \"processor\" \
                 (groups: ingester); did you mean CARTRACK_INGESTER_COUNT?",
            ]
        );
    }

    #[test]
    fn env_and_set_override_the_spec() {
        let s = resolve(
            &args(&["--set", "ingester.mem=128"]),
            SPEC,
            env(&[("CARTRACK_INGESTER_COUNT", "3")]),
            None,
        )
        .expect("valid");
        assert_eq!(s.spec.groups[0].count, 3);
        assert_eq!(s.spec.groups[0].demand.mem, 128_000);
    }

    #[test]
    fn bad_inputs_name_the_problem() {
        let err =
            resolve(&args(&["--master", "zk://x"]), SPEC, env(&[]), None).expect_err("bad master");
        assert!(err.to_string().contains("zk://x"));
        let err = resolve(&args(&["--failover-timeout", "0"]), SPEC, env(&[]), None)
            .expect_err("bad timeout");
        assert!(err.to_string().contains("--failover-timeout"));
        let err = resolve(&args(&[]), "[[groups]]\nname=1", env(&[]), None).expect_err("bad toml");
        assert!(err.to_string().starts_with("s.toml:"), "{err}");
    }

    #[test]
    fn zookeeper_credentials_come_from_the_flag_or_a_file_and_need_zk() {
        let zk = ["--zk", "zk://127.0.0.1:2181/cartrack"];
        let with = |extra: &[&str]| {
            let flags: Vec<&str> = zk.iter().chain(extra).copied().collect();
            resolve(&args(&flags), SPEC, env(&[]), None)
        };
        let settings = with(&["--zk-auth", "digest:cartrack:pw"]).expect("valid");
        let auth = settings.zk.as_ref().and_then(|url| url.auth());
        assert_eq!(auth.map(|a| a.user()), Some("cartrack"));

        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("zk-auth");
        std::fs::write(&file, "digest:cartrack:from-file\n").expect("write");
        let file = file.display().to_string();
        let settings = with(&["--zk-auth-file", &file]).expect("valid file");
        assert!(settings.zk.as_ref().and_then(|url| url.auth()).is_some());

        let err = with(&["--zk-auth", "cartrack:pw"]).expect_err("no scheme");
        assert!(
            err.to_string().starts_with("--zk-auth: it must be digest:"),
            "{err}"
        );
        let missing = dir.path().join("missing").display().to_string();
        let err = with(&["--zk-auth-file", &missing]).expect_err("no file");
        assert!(err.to_string().contains("cannot read it"), "{err}");
        let err = resolve(&args(&["--zk-auth", "digest:u:p"]), SPEC, env(&[]), None)
            .expect_err("no --zk");
        assert!(err.to_string().contains("give --zk too"), "{err}");
        assert!(
            !format!("{err:?}").contains("u:p"),
            "the password is never shown"
        );
    }

    #[test]
    fn the_map_tiles_default_to_openstreetmap_and_can_be_turned_off() {
        let s = resolve(&args(&[]), SPEC, env(&[]), None).expect("valid");
        assert_eq!(
            s.basemap.map(|b| b.tiles).as_deref(),
            Some(OPENSTREETMAP_TILES)
        );
        let s = resolve(&args(&["--map-tiles", ""]), SPEC, env(&[]), None).expect("valid");
        assert_eq!(s.basemap, None);
        let own = "http://tiles.internal/{z}/{x}/{y}.png";
        let s = resolve(&args(&["--map-tiles", own]), SPEC, env(&[]), None).expect("valid");
        assert_eq!(s.basemap.map(|b| b.tiles).as_deref(), Some(own));
        let err = resolve(
            &args(&["--map-tiles", "http://tiles.internal/map.png"]),
            SPEC,
            env(&[]),
            None,
        )
        .expect_err("not a template");
        assert!(
            err.to_string()
                .starts_with("--map-tiles \"http://tiles.internal/map.png\""),
            "{err}"
        );
    }

    #[test]
    fn a_release_tarball_replaces_the_single_binaries() {
        let uri = "https://dl.example/v0.1.0/cartrack-0.1.0-linux-x86_64.tar.gz?sig=abc";
        let s = resolve(&args(&["--release-uri", uri]), SPEC, env(&[]), None).expect("valid");
        assert_eq!(s.core.binaries, Binaries::Release { uri: uri.into() });
        let plain_tar = "file:///opt/cartrack-0.1.0.tar";
        assert!(resolve(&args(&["--release-uri", plain_tar]), SPEC, env(&[]), None).is_ok());
        let err = resolve(
            &args(&["--release-uri", "https://dl.example/cartrack-executor"]),
            SPEC,
            env(&[]),
            None,
        )
        .expect_err("not an archive");
        assert!(err.to_string().contains("--release-uri"), "{err}");
        assert!(err.to_string().contains("--executor-uri"), "{err}");
        let both = Args::try_parse_from([
            "cartrack-scheduler",
            "--spec",
            "s.toml",
            "--release-uri",
            uri,
            "--worker-uri",
            "/w",
        ]);
        assert!(both.is_err(), "--release-uri and --worker-uri conflict");
    }

    #[test]
    fn uninstall_mode_comes_from_the_flag_or_sdk_uninstall() {
        let mode = |flags: &[&str], vars: &[(&str, &str)]| {
            resolve(&args(flags), SPEC, env(vars), None)
                .expect("valid")
                .uninstall
        };
        assert!(!mode(&[], &[]));
        assert!(mode(&["--uninstall"], &[]));
        assert!(mode(&[], &[("SDK_UNINSTALL", "true")]));
        assert!(mode(&[], &[("SDK_UNINSTALL", "TRUE")]));
        assert!(!mode(&[], &[("SDK_UNINSTALL", "false")]));
    }

    #[test]
    fn the_example_spec_hands_the_schedulers_kafka_and_elasticsearch_to_the_pods() {
        let example = include_str!("../../examples/cartrack.toml");
        let task_env = |vars: &[(&str, &str)]| {
            let s = resolve(&args(&[]), example, env(vars), None).expect("valid");
            s.spec
                .groups
                .iter()
                .map(|g| (g.name.clone(), g.tasks[0].env.clone()))
                .collect::<Vec<_>>()
        };
        let given = task_env(&[
            (
                "CARTRACK_KAFKA",
                "broker.kafka.l4lb.thisdcos.directory:9092",
            ),
            ("CARTRACK_ELASTICSEARCH", "http://coordinator.elastic:9200"),
        ]);
        assert_eq!(given.len(), 3);
        for (group, env) in &given {
            assert_eq!(
                env["CARTRACK_KAFKA"], "broker.kafka.l4lb.thisdcos.directory:9092",
                "{group}"
            );
        }
        let indexer = &given[2];
        assert_eq!(indexer.0, "indexer");
        assert_eq!(
            indexer.1["CARTRACK_ELASTICSEARCH"],
            "http://coordinator.elastic:9200"
        );
        // Without them: a local broker, and NDJSON files instead of Elasticsearch.
        for (group, env) in task_env(&[]) {
            assert_eq!(env["CARTRACK_KAFKA"], "127.0.0.1:9092", "{group}");
            assert!(!env.contains_key("CARTRACK_ELASTICSEARCH"), "{group}");
        }
    }

    #[test]
    fn the_ca_file_is_the_flag_or_the_dcos_sandbox_bundle() {
        let err = resolve(
            &args(&["--ca-file", "/nonexistent/ca.crt"]),
            SPEC,
            env(&[]),
            None,
        )
        .expect_err("missing CA file");
        assert!(
            err.to_string().contains("--ca-file /nonexistent/ca.crt"),
            "{err}"
        );
        let sandbox = tempfile::tempdir().expect("tempdir");
        let sandbox_dir = sandbox.path().display().to_string();
        let under_marathon = env(&[("MESOS_SANDBOX", &sandbox_dir)]);
        let s = resolve(&args(&[]), SPEC, under_marathon.clone(), None).expect("no bundle");
        assert_eq!(s.trust.source(), None);
        std::fs::create_dir_all(sandbox.path().join(".ssl")).expect("mkdir");
        std::fs::write(
            sandbox.path().join(".ssl/ca-bundle.crt"),
            "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        let err = resolve(&args(&[]), SPEC, under_marathon, None).expect_err("bad bundle");
        assert!(err.to_string().contains(".ssl/ca-bundle.crt"), "{err}");
    }

    #[test]
    fn the_report_interval_defaults_to_10_s_and_must_be_positive() {
        let resolved = |extra: &[&str]| resolve(&args(extra), SPEC, env(&[]), None);
        let s = resolved(&[]).expect("valid");
        assert_eq!(s.report_interval, Duration::from_secs(10));
        let s = resolved(&["--report-interval", "0.5"]).expect("valid");
        assert_eq!(s.report_interval, Duration::from_millis(500));
        for bad in ["0", "-1", "1e30", "NaN"] {
            let err = resolved(&[&format!("--report-interval={bad}")])
                .expect_err("refused")
                .to_string();
            assert!(err.starts_with("--report-interval = "), "{err}");
            assert!(err.contains("seconds > 0"), "{err}");
        }
    }
}
