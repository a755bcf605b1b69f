//! Validated arguments: `flags` after every rule that needs no I/O. A `UsageError` here exits 2.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use reqwest::Url;

use crate::error::UsageError;
use crate::flags::{
    AutoscaleCommand, Command, ConfigCommand, DebugCommand, Flags, LocalFlags, PlanCommand,
    PodsCommand, ReportCommand, UpdateFlags,
};
use crate::local::{Binaries, Cluster, DevCluster, ExistingMaster, LocalArgs};

/// Everything a command needs to run, already checked.
#[derive(Debug, Clone)]
pub struct Args {
    /// Where the scheduler's operator API is, and how to authenticate.
    pub target: ApiTarget,
    /// Tables for people or JSON for programs.
    pub output: Output,
    /// What to do.
    pub action: Action,
}

/// The operator API's base URL and credentials.
#[derive(Debug, Clone)]
pub struct ApiTarget {
    /// Base URL, e.g. `http://127.0.0.1:8080` or `https://dcos.example/service/cartrack`.
    pub base: Url,
    /// The `Authorization` header sent on every request.
    pub auth: Auth,
    /// Accept a self-signed certificate (DC/OS with `DCOS_SSL_VERIFY=false`).
    pub accept_invalid_certs: bool,
    /// CA certificates to trust besides the public roots (`--ca-file`).
    pub extra_roots: Vec<reqwest::Certificate>,
    /// Where `base` came from, so a failure names what to fix.
    pub source: AddressSource,
}

/// Where the operator API's address came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressSource {
    /// Nothing said: the local default.
    Default,
    /// `--url` on the command line.
    UrlFlag,
    /// The `CARTRACK_URL` variable.
    UrlEnv,
    /// `<cluster>/service/<name>`, the DC/OS CLI plugin's way.
    Dcos {
        /// `DCOS_URL` (set by `dcos`), or `--dcos-url` when given on the command line.
        cluster_from: &'static str,
        /// The service name (`--name` / `CARTRACK_SERVICE_NAME`).
        service: String,
    },
}

impl AddressSource {
    /// What to check when nothing answers at the address.
    pub fn hint(&self) -> String {
        match self {
            Self::Default => {
                "is it running? That is the default address; give another with --url or CARTRACK_URL"
                    .into()
            }
            Self::UrlFlag => "is it running, and is --url right?".into(),
            Self::UrlEnv => "is it running, and is CARTRACK_URL right?".into(),
            Self::Dcos {
                cluster_from,
                service,
            } => format!(
                "the address is {cluster_from} plus /service/{service}: is {cluster_from} the right cluster (`dcos cluster list`), and is a service named {service:?} installed and running there (--name / CARTRACK_SERVICE_NAME)? --url overrides both"
            ),
        }
    }
}

/// How requests authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// No header.
    None,
    /// `Authorization: Bearer <token>`: the scheduler's own `--api-token`.
    Bearer(String),
    /// `Authorization: token=<acs token>`: DC/OS Admin Router in front of the service.
    DcosAcs(String),
}

/// Where the operator API is when neither --url nor DCOS_URL says.
const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Aligned tables and sentences.
    Human,
    /// The API's JSON, unchanged, one document per command.
    Json,
}

/// One operator action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `cartrack status`
    Status,
    /// `cartrack scale <group> <count> [--wait --timeout D]`
    Scale {
        /// The group to scale.
        group: String,
        /// The desired pod count.
        count: u32,
        /// `Some(timeout)` with --wait.
        wait: Option<Duration>,
    },
    /// `cartrack pods list`
    PodsList,
    /// `cartrack pods status <slot>`
    PodStatus(String),
    /// `cartrack pods restart|replace <slot>`
    PodAction {
        /// The slot, `<group>-<index>`.
        slot: String,
        /// Same agent or anywhere.
        kind: PodActionKind,
    },
    /// `cartrack plan show`
    PlanShow,
    /// `cartrack plan pause|resume|continue|abort|restart|force-complete`
    Plan(PlanAction),
    /// `cartrack update --spec FILE ...`
    Update(UpdateArgs),
    /// `cartrack config show [ID]`: `None` is the target.
    ConfigShow(Option<u32>),
    /// `cartrack config diff [A] [B]`
    ConfigDiff {
        /// The older version; `None`: the newest kept one before `b`.
        a: Option<u32>,
        /// The newer version; `None`: the target.
        b: Option<u32>,
    },
    /// `cartrack debug offers`
    DebugOffers,
    /// `cartrack autoscale show`
    AutoscaleShow,
    /// `cartrack autoscale resume <group>`
    AutoscaleResume(String),
    /// `cartrack uninstall [--yes] [--wait --timeout D]`
    Uninstall {
        /// Confirmed on the command line.
        yes: bool,
        /// `Some(timeout)` with --wait.
        wait: Option<Duration>,
    },
    /// `cartrack report utilisation [--since D]`: `None` is every kept sample.
    ReportUtilisation {
        /// How far back.
        since: Option<Duration>,
    },
    /// `cartrack local`
    Local(LocalArgs),
    /// `cartrack --info`: the DC/OS CLI's plugin description.
    Info,
}

/// Restart in place or replace anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodActionKind {
    /// Kill and relaunch on the same agent.
    Restart,
    /// Kill and relaunch wherever an offer fits, then wait up to `timeout` for the new
    /// placement to report it.
    Replace {
        /// How long to wait for the pod's new task to appear.
        timeout: Duration,
    },
}

impl PodActionKind {
    /// The API path segment and the verb shown to people.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Restart => "restart",
            Self::Replace { .. } => "replace",
        }
    }
}

/// A request that steers the running deployment (`POST /v1/plans/deploy/<action>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanAction {
    /// Start no new step.
    Pause,
    /// Go on after a pause.
    Resume,
    /// Let the waiting canary step of one group (or of every group) go.
    Continue {
        /// The group; `None`: every group.
        phase: Option<String>,
    },
    /// Roll back to the version before.
    Abort,
    /// Restart one step's pod in place.
    Restart(String),
    /// Take one step's pod as up to date.
    ForceComplete(String),
}

impl PlanAction {
    /// The API path segment and the verb shown to people.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Continue { .. } => "continue",
            Self::Abort => "abort",
            Self::Restart(_) => "restart",
            Self::ForceComplete(_) => "force-complete",
        }
    }

    /// The request's query: `phase=<group>` or `step=<slot>`.
    pub fn query(&self) -> Option<(&'static str, &str)> {
        match self {
            Self::Continue { phase: Some(group) } => Some(("phase", group)),
            Self::Restart(step) | Self::ForceComplete(step) => Some(("step", step)),
            _ => None,
        }
    }
}

/// `cartrack update`, its spec file already read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateArgs {
    /// The spec file's text, sent as it is: the scheduler parses and validates it.
    pub spec: String,
    /// `path=value` overrides, in order.
    pub set: Vec<String>,
    /// A new release tarball.
    pub release_uri: Option<String>,
    /// `Some(timeout)` with --wait.
    pub wait: Option<Duration>,
}

impl TryFrom<Flags> for Args {
    type Error = UsageError;

    fn try_from(flags: Flags) -> Result<Self, UsageError> {
        Ok(Args {
            target: target(&flags)?,
            output: if flags.json {
                Output::Json
            } else {
                Output::Human
            },
            action: match (flags.info, flags.command) {
                (true, _) => Action::Info,
                (false, Some(command)) => action(command)?,
                (false, None) => {
                    return Err(UsageError::new(
                        "no command given; try `cartrack status`, or `cartrack --help` for all commands",
                    ))
                }
            },
        })
    }
}

/// --url wins; else, as a DC/OS CLI plugin, `<DCOS_URL>/service/<name>` with the ACS token;
/// else the local default.
fn target(flags: &Flags) -> Result<ApiTarget, UsageError> {
    let bearer = || match flags.token.as_deref() {
        Some(token) if !token.is_empty() => Auth::Bearer(token.to_string()),
        _ => Auth::None,
    };
    if let Some(url) = &flags.url {
        let (name, source) = if flags.url_from_env {
            ("CARTRACK_URL", AddressSource::UrlEnv)
        } else {
            ("--url", AddressSource::UrlFlag)
        };
        return Ok(ApiTarget {
            base: parse_url(name, url)?,
            auth: bearer(),
            accept_invalid_certs: false,
            extra_roots: extra_roots(flags)?,
            source,
        });
    }
    let Some(dcos_url) = flags.dcos_url.as_deref().filter(|u| !u.is_empty()) else {
        return Ok(ApiTarget {
            base: parse_url("--url", DEFAULT_URL)?,
            auth: bearer(),
            accept_invalid_certs: false,
            extra_roots: extra_roots(flags)?,
            source: AddressSource::Default,
        });
    };
    let cluster_from = if flags.dcos_url_from_env {
        "DCOS_URL"
    } else {
        "--dcos-url"
    };
    let service = format!("{}/service/{}", dcos_url.trim_end_matches('/'), flags.name);
    Ok(ApiTarget {
        base: parse_url(cluster_from, &service)?,
        source: AddressSource::Dcos {
            cluster_from,
            service: flags.name.clone(),
        },
        auth: match flags.dcos_acs_token.as_deref() {
            Some(token) if !token.is_empty() => Auth::DcosAcs(token.to_string()),
            _ => Auth::None,
        },
        accept_invalid_certs: matches!(
            flags
                .dcos_ssl_verify
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("false" | "0" | "no")
        ),
        extra_roots: extra_roots(flags)?,
    })
}

/// The certificates of `--ca-file`, read now so a bad file exits 2 before any request.
fn extra_roots(flags: &Flags) -> Result<Vec<reqwest::Certificate>, UsageError> {
    let Some(path) = &flags.ca_file else {
        return Ok(Vec::new());
    };
    let bad = |why: String| UsageError::new(format!("--ca-file {}: {why}", path.display()));
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let roots = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad(e.to_string()))?;
    if roots.is_empty() {
        return Err(bad("no PEM CERTIFICATE in it".into()));
    }
    Ok(roots)
}

fn action(command: Command) -> Result<Action, UsageError> {
    Ok(match command {
        Command::Status => Action::Status,
        Command::Scale {
            group,
            count,
            wait,
            timeout,
        } => Action::Scale {
            group,
            count: parse_count(&count)?,
            wait: if wait {
                Some(parse_timeout(&timeout)?)
            } else {
                None
            },
        },
        Command::Pods(PodsCommand::List) => Action::PodsList,
        Command::Pods(PodsCommand::Status { slot }) => Action::PodStatus(slot),
        Command::Pods(PodsCommand::Restart { slot }) => Action::PodAction {
            slot,
            kind: PodActionKind::Restart,
        },
        Command::Pods(PodsCommand::Replace { slot, timeout }) => Action::PodAction {
            slot,
            kind: PodActionKind::Replace {
                timeout: parse_timeout(&timeout)?,
            },
        },
        Command::Plan(PlanCommand::Show) => Action::PlanShow,
        Command::Plan(PlanCommand::Pause) => Action::Plan(PlanAction::Pause),
        Command::Plan(PlanCommand::Resume) => Action::Plan(PlanAction::Resume),
        Command::Plan(PlanCommand::Continue { phase }) => {
            Action::Plan(PlanAction::Continue { phase })
        }
        Command::Plan(PlanCommand::Abort) => Action::Plan(PlanAction::Abort),
        Command::Plan(PlanCommand::Restart { step }) => Action::Plan(PlanAction::Restart(step)),
        Command::Plan(PlanCommand::ForceComplete { step }) => {
            Action::Plan(PlanAction::ForceComplete(step))
        }
        Command::Update(flags) => Action::Update(update(flags)?),
        Command::Config(ConfigCommand::Show { id }) => Action::ConfigShow(id),
        Command::Config(ConfigCommand::Diff { a, b }) => Action::ConfigDiff { a, b },
        Command::Debug(DebugCommand::Offers) => Action::DebugOffers,
        Command::Autoscale(AutoscaleCommand::Show) => Action::AutoscaleShow,
        Command::Autoscale(AutoscaleCommand::Resume { group }) => Action::AutoscaleResume(group),
        Command::Uninstall { yes, wait, timeout } => Action::Uninstall {
            yes,
            wait: if wait {
                Some(parse_timeout(&timeout)?)
            } else {
                None
            },
        },
        Command::Report(ReportCommand::Utilisation { since }) => Action::ReportUtilisation {
            since: since.as_deref().map(parse_since).transpose()?,
        },
        Command::Local(flags) => Action::Local(local(flags)?),
    })
}

/// `HOST:PORT` with HOST an IP address or a name (`localhost`), resolved here: IPv4 first,
/// as the page's URL and the scheduler's `--http` take one address.
fn listen_address(value: &str) -> Option<SocketAddr> {
    if let Ok(addr) = value.parse() {
        return Some(addr);
    }
    let addrs: Vec<SocketAddr> = value.to_socket_addrs().ok()?.collect();
    addrs
        .iter()
        .find(|addr| addr.is_ipv4())
        .or(addrs.first())
        .copied()
}

fn local(flags: LocalFlags) -> Result<LocalArgs, UsageError> {
    let http = listen_address(&flags.http).ok_or_else(|| {
        UsageError::new(format!(
            "--http {:?} is not an address this machine has; write HOST:PORT, e.g. 127.0.0.1:8080 or localhost:8080",
            flags.http
        ))
    })?;
    // clap already refused --master with a dev cluster flag, and --release-uri with the others.
    let cluster = match flags.master {
        Some(master) => Cluster::Existing(
            ExistingMaster::parse(&master).map_err(|e| UsageError::new(e.to_string()))?,
        ),
        None => {
            // The dev cluster's own range (`cartrack-devcluster --agents`).
            if !(1..=100).contains(&flags.agents) {
                return Err(UsageError::new(format!(
                    "--agents {} is not in 1..=100 (the dev cluster runs 1 to 100 agents)",
                    flags.agents
                )));
            }
            Cluster::Dev(DevCluster {
                master_port: flags.master_port,
                agents: flags.agents,
                agent_resources: flags.agent_resources,
                tenant_load: flags.tenant_load,
            })
        }
    };
    let binaries = match flags.release_uri {
        Some(release) => Binaries::Release(non_empty("--release-uri", release)?),
        None => Binaries::Separate {
            executor: flags
                .executor_uri
                .map(|uri| non_empty("--executor-uri", uri))
                .transpose()?,
            worker: flags
                .worker_uri
                .map(|uri| non_empty("--worker-uri", uri))
                .transpose()?,
        },
    };
    Ok(LocalArgs {
        http,
        cluster,
        binaries,
        work_dir: flags.work_dir,
        map_tiles: flags.map_tiles,
    })
}

/// Reads the spec file now, so a missing one exits 2 before any request.
fn update(flags: UpdateFlags) -> Result<UpdateArgs, UsageError> {
    let spec = std::fs::read_to_string(&flags.spec)
        .map_err(|e| UsageError::new(format!("--spec {}: {e}", flags.spec.display())))?;
    for set in &flags.set {
        if set
            .split_once('=')
            .is_none_or(|(path, _)| path.trim().is_empty())
        {
            return Err(UsageError::new(format!(
                "--set {set:?} is not PATH=VALUE; write e.g. --set processor.count=3"
            )));
        }
    }
    Ok(UpdateArgs {
        spec,
        set: flags.set,
        release_uri: flags
            .release_uri
            .map(|uri| non_empty("--release-uri", uri))
            .transpose()?,
        wait: if flags.wait {
            Some(parse_timeout(&flags.timeout)?)
        } else {
            None
        },
    })
}

/// A URI flag's value, refused when blank: the scheduler would start, and no agent could fetch.
fn non_empty(flag: &str, value: String) -> Result<String, UsageError> {
    if value.trim().is_empty() {
        return Err(UsageError::new(format!(
            "{flag} is empty; give a URI the agents can fetch, e.g. /opt/cartrack/cartrack-executor"
        )));
    }
    Ok(value)
}

fn parse_url(source: &str, raw: &str) -> Result<Url, UsageError> {
    let url = Url::parse(raw).map_err(|err| {
        UsageError::new(format!(
            "{source} {raw:?} is not a URL ({err}); write it as http://HOST:PORT, e.g. http://127.0.0.1:8080"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(UsageError::new(format!(
            "{source} {raw:?} must be an http:// or https:// URL with a host, e.g. http://127.0.0.1:8080"
        )));
    }
    Ok(url)
}

/// The most pods a group may have: the scheduler refuses more (its `set_count` and the spec's
/// validation in framework/src both cap a count at 100,000).
pub const MAX_COUNT: u32 = 100_000;

/// `scale`'s count: a whole number from 0 to [`MAX_COUNT`].
fn parse_count(raw: &str) -> Result<u32, UsageError> {
    let trimmed = raw.trim();
    let digits = trimmed.strip_prefix('+').unwrap_or(trimmed);
    let all_digits = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    let negative = trimmed
        .strip_prefix('-')
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()));
    if negative {
        return Err(UsageError::new(format!(
            "count {raw} is negative; a group has 0 to {MAX_COUNT} pods (0 stops all of them)"
        )));
    }
    if !all_digits {
        return Err(UsageError::new(format!(
            "count {raw:?} is not a whole number; give 0 to {MAX_COUNT}, e.g. `cartrack scale processor 3`"
        )));
    }
    // All digits: the only way to fail is being too large for a u32, which is above the cap too.
    match digits.parse::<u32>() {
        Ok(count) if count <= MAX_COUNT => Ok(count),
        _ => Err(UsageError::new(format!(
            "count {digits} is above the scheduler's limit of {MAX_COUNT} pods per group"
        ))),
    }
}

/// `report utilisation --since`: a duration of at least a second (the API counts seconds).
fn parse_since(raw: &str) -> Result<Duration, UsageError> {
    match humantime::parse_duration(raw) {
        Ok(d) if d >= Duration::from_secs(1) => Ok(d),
        Ok(_) => Err(UsageError::new(format!(
            "--since {raw:?} must be at least 1s, e.g. 1h or 30m"
        ))),
        Err(err) => Err(UsageError::new(format!(
            "--since {raw:?} is not a duration ({err}); write e.g. 1h or 30m"
        ))),
    }
}

fn parse_timeout(raw: &str) -> Result<Duration, UsageError> {
    match humantime::parse_duration(raw) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(UsageError::new(format!(
            "--timeout {raw:?} must be longer than zero, e.g. 120s or 5m"
        ))),
        Err(err) => Err(UsageError::new(format!(
            "--timeout {raw:?} is not a duration ({err}); write e.g. 120s or 5m"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(argv: &[&str]) -> Result<Args, UsageError> {
        let flags = Flags::try_parse_from(std::iter::once("cartrack").chain(argv.iter().copied()))
            .expect("flags parse");
        Args::try_from(flags)
    }

    #[test]
    fn scale_with_wait_parses_timeout() {
        let parsed = args(&["scale", "processor", "3", "--wait", "--timeout", "2m"]).unwrap();
        assert_eq!(
            parsed.action,
            Action::Scale {
                group: "processor".into(),
                count: 3,
                wait: Some(Duration::from_secs(120))
            }
        );
    }

    #[test]
    fn scale_counts_are_whole_numbers_up_to_the_schedulers_cap() {
        assert_eq!(parse_count("0").unwrap(), 0);
        assert_eq!(parse_count("100000").unwrap(), MAX_COUNT);
        let err = parse_count("100001").unwrap_err().to_string();
        assert!(err.contains("limit of 100000 pods per group"), "{err}");
        let err = parse_count("99999999999999999999").unwrap_err().to_string();
        assert!(err.contains("limit of 100000"), "{err}");
        let err = parse_count("-1").unwrap_err().to_string();
        assert!(err.contains("count -1 is negative"), "{err}");
        let err = parse_count("three").unwrap_err().to_string();
        assert!(err.contains("not a whole number"), "{err}");
        let err = parse_count("1.5").unwrap_err().to_string();
        assert!(err.contains("not a whole number"), "{err}");
    }

    #[test]
    fn a_negative_count_reaches_validation_not_clap() {
        let err = args(&["scale", "processor", "-1"]).unwrap_err().to_string();
        assert!(err.contains("negative"), "{err}");
        assert!(!err.contains("--"), "{err}");
    }

    #[test]
    fn the_address_source_names_the_flag_or_variable_it_came_from() {
        assert_eq!(
            args(&["status"]).unwrap().target.source,
            AddressSource::Default
        );
        let parsed = args(&["--url", "http://127.0.0.1:1", "status"]).unwrap();
        assert_eq!(parsed.target.source, AddressSource::UrlFlag);
        assert!(parsed.target.source.hint().contains("--url"));
        let parsed = args(&["--dcos-url", "https://dcos.example", "status"]).unwrap();
        let hint = parsed.target.source.hint();
        assert!(hint.contains("--dcos-url plus /service/cartrack"), "{hint}");
        assert!(!hint.contains("is --url right"), "{hint}");
    }

    #[test]
    fn validate_rejects_a_bad_timeout_naming_the_flag() {
        let err = args(&["scale", "processor", "3", "--wait", "--timeout", "soon"]).unwrap_err();
        assert!(err.to_string().contains("--timeout \"soon\""), "{err}");
        let err = args(&["scale", "processor", "3", "--wait", "--timeout", "0s"]).unwrap_err();
        assert!(err.to_string().contains("longer than zero"), "{err}");
    }

    #[test]
    fn validate_rejects_a_url_without_http_scheme() {
        let err = args(&["--url", "127.0.0.1:8080", "status"]).unwrap_err();
        assert!(err.to_string().contains("--url"), "{err}");
        let err = args(&["--url", "ftp://host", "status"]).unwrap_err();
        assert!(err.to_string().contains("http://"), "{err}");
    }

    #[test]
    fn a_ca_file_is_read_at_once_and_a_bad_one_named() {
        let err = args(&["--ca-file", "/nonexistent/ca.crt", "status"]).unwrap_err();
        assert!(
            err.to_string().contains("--ca-file /nonexistent/ca.crt"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.crt");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        let err = args(&["--ca-file", empty.to_str().unwrap(), "status"]).unwrap_err();
        assert!(err.to_string().contains("no PEM CERTIFICATE"), "{err}");
        assert!(args(&["status"]).unwrap().target.extra_roots.is_empty());
    }

    #[test]
    fn an_empty_token_means_no_token() {
        let parsed = args(&["--token", "", "status"]).unwrap();
        assert_eq!(parsed.target.auth, Auth::None);
    }

    #[test]
    fn dcos_url_targets_the_service_path_with_the_acs_token() {
        let parsed = args(&[
            "--dcos-url",
            "https://dcos.example/",
            "--dcos-acs-token",
            "acs",
            "--dcos-ssl-verify",
            "false",
            "--name",
            "fleet",
            "status",
        ])
        .unwrap();
        assert_eq!(
            parsed.target.base.as_str(),
            "https://dcos.example/service/fleet"
        );
        assert_eq!(parsed.target.auth, Auth::DcosAcs("acs".into()));
        assert!(parsed.target.accept_invalid_certs);
    }

    #[test]
    fn an_explicit_url_wins_over_dcos_url() {
        let parsed = args(&[
            "--dcos-url",
            "https://dcos.example",
            "--url",
            "http://127.0.0.2:8080",
            "status",
        ])
        .unwrap();
        assert_eq!(parsed.target.base.as_str(), "http://127.0.0.2:8080/");
    }

    #[test]
    fn local_with_master_runs_no_dev_cluster_and_passes_the_uris() {
        let parsed = args(&[
            "local",
            "--master",
            "http://127.0.0.1:5050",
            "--executor-uri",
            "/opt/ct/cartrack-executor",
        ])
        .unwrap();
        let Action::Local(local) = parsed.action else {
            panic!("not local: {:?}", parsed.action)
        };
        assert_eq!(
            local.cluster,
            Cluster::Existing(ExistingMaster::parse("http://127.0.0.1:5050").unwrap())
        );
        assert_eq!(
            local.binaries,
            Binaries::Separate {
                executor: Some("/opt/ct/cartrack-executor".into()),
                worker: None
            }
        );
        let parsed = args(&["local", "--release-uri", "https://x/cartrack.tar.gz"]).unwrap();
        let Action::Local(local) = parsed.action else {
            panic!("not local")
        };
        assert!(matches!(
            local.cluster,
            Cluster::Dev(DevCluster { agents: 3, .. })
        ));
        assert_eq!(
            local.binaries,
            Binaries::Release("https://x/cartrack.tar.gz".into())
        );
    }

    #[test]
    fn local_http_takes_a_host_name_or_an_address() {
        let http = |value: &str| match args(&["local", "--http", value]).map(|a| a.action) {
            Ok(Action::Local(local)) => Ok(local.http),
            Ok(other) => panic!("not local: {other:?}"),
            Err(err) => Err(err.to_string()),
        };
        assert_eq!(
            http("localhost:8080"),
            Ok(SocketAddr::from(([127, 0, 0, 1], 8080)))
        );
        assert_eq!(
            http("127.0.0.1:9"),
            Ok(SocketAddr::from(([127, 0, 0, 1], 9)))
        );
        let err = http("8080").unwrap_err();
        assert!(
            err.contains("--http \"8080\"") && err.contains("HOST:PORT"),
            "{err}"
        );
    }

    #[test]
    fn local_refuses_a_bad_master_or_an_empty_uri() {
        let err = args(&["local", "--master", "127.0.0.1:5050"]).unwrap_err();
        assert!(err.to_string().contains("--master"), "{err}");
        let err = args(&["local", "--worker-uri", " "]).unwrap_err();
        assert!(err.to_string().contains("--worker-uri"), "{err}");
    }

    #[test]
    fn update_reads_the_spec_and_keeps_overrides_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("cartrack.toml");
        std::fs::write(&spec, "[[groups]]\nname = \"web\"\n").unwrap();
        let path = spec.to_str().unwrap();
        let parsed = args(&[
            "update",
            "--spec",
            path,
            "--set",
            "web.count=3",
            "--set",
            "web.mem=64",
            "--wait",
            "--timeout",
            "90s",
        ])
        .unwrap();
        assert_eq!(
            parsed.action,
            Action::Update(UpdateArgs {
                spec: "[[groups]]\nname = \"web\"\n".into(),
                set: vec!["web.count=3".into(), "web.mem=64".into()],
                release_uri: None,
                wait: Some(Duration::from_secs(90)),
            })
        );
        let Action::Update(update) = args(&["update", "--spec", path]).unwrap().action else {
            panic!("not update")
        };
        assert_eq!(update.wait, None);
    }

    #[test]
    fn validate_rejects_a_missing_spec_or_a_set_without_a_path() {
        let err = args(&["update", "--spec", "/nonexistent/cartrack.toml"]).unwrap_err();
        assert!(
            err.to_string()
                .contains("--spec /nonexistent/cartrack.toml"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("cartrack.toml");
        std::fs::write(&spec, "").unwrap();
        let path = spec.to_str().unwrap();
        for bad in ["web.count", "=3"] {
            let err = args(&["update", "--spec", path, "--set", bad]).unwrap_err();
            assert!(err.to_string().contains("is not PATH=VALUE"), "{err}");
        }
        let err = args(&["update", "--spec", path, "--release-uri", ""]).unwrap_err();
        assert!(err.to_string().contains("--release-uri is empty"), "{err}");
    }

    #[test]
    fn plan_actions_carry_their_phase_or_step_as_the_query() {
        let action = |argv: &[&str]| match args(argv).map(|a| a.action) {
            Ok(Action::Plan(action)) => action,
            other => panic!("not a plan action: {other:?}"),
        };
        assert_eq!(action(&["plan", "pause"]).query(), None);
        let go = action(&["plan", "continue", "--phase", "web"]);
        assert_eq!(
            (go.as_str(), go.query()),
            ("continue", Some(("phase", "web")))
        );
        assert_eq!(action(&["plan", "continue"]).query(), None);
        let force = action(&["plan", "force-complete", "web-1"]);
        assert_eq!(
            (force.as_str(), force.query()),
            ("force-complete", Some(("step", "web-1")))
        );
        assert_eq!(
            action(&["plan", "restart", "web-0"]),
            PlanAction::Restart("web-0".into())
        );
    }

    #[test]
    fn config_versions_are_optional_numbers() {
        assert_eq!(
            args(&["config", "show"]).unwrap().action,
            Action::ConfigShow(None)
        );
        assert_eq!(
            args(&["config", "diff", "3"]).unwrap().action,
            Action::ConfigDiff {
                a: Some(3),
                b: None
            }
        );
        let refused = Flags::try_parse_from(["cartrack", "config", "show", "latest"]);
        assert!(refused.is_err());
    }

    #[test]
    fn report_since_is_a_duration_of_a_second_or_more() {
        assert_eq!(
            args(&["report", "utilisation"]).unwrap().action,
            Action::ReportUtilisation { since: None }
        );
        assert_eq!(
            args(&["report", "utilisation", "--since", "1h"])
                .unwrap()
                .action,
            Action::ReportUtilisation {
                since: Some(Duration::from_secs(3600))
            }
        );
        let err = args(&["report", "utilisation", "--since", "soon"]).unwrap_err();
        assert!(
            err.to_string()
                .contains("--since \"soon\" is not a duration"),
            "{err}"
        );
        let err = args(&["report", "utilisation", "--since", "0s"]).unwrap_err();
        assert!(err.to_string().contains("at least 1s"), "{err}");
    }

    #[test]
    fn info_needs_no_command() {
        assert_eq!(args(&["--info"]).unwrap().action, Action::Info);
        assert!(args(&[])
            .unwrap_err()
            .to_string()
            .contains("no command given"));
    }
}
