//! Validated arguments: `flags` after every rule that needs no I/O. A `UsageError` here exits 2.

use std::time::Duration;

use reqwest::Url;

use crate::error::UsageError;
use crate::flags::{Command, DebugCommand, Flags, LocalFlags, PlanCommand, PodsCommand};
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
    /// `cartrack debug offers`
    DebugOffers,
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
    /// Kill and relaunch wherever an offer fits.
    Replace,
}

impl PodActionKind {
    /// The API path segment and the verb shown to people.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Restart => "restart",
            Self::Replace => "replace",
        }
    }
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
        return Ok(ApiTarget {
            base: parse_url("--url", url)?,
            auth: bearer(),
            accept_invalid_certs: false,
        });
    }
    let Some(dcos_url) = flags.dcos_url.as_deref().filter(|u| !u.is_empty()) else {
        return Ok(ApiTarget {
            base: parse_url("--url", DEFAULT_URL)?,
            auth: bearer(),
            accept_invalid_certs: false,
        });
    };
    let service = format!("{}/service/{}", dcos_url.trim_end_matches('/'), flags.name);
    Ok(ApiTarget {
        base: parse_url("DCOS_URL", &service)?,
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
    })
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
            count,
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
        Command::Pods(PodsCommand::Replace { slot }) => Action::PodAction {
            slot,
            kind: PodActionKind::Replace,
        },
        Command::Plan(PlanCommand::Show) => Action::PlanShow,
        Command::Debug(DebugCommand::Offers) => Action::DebugOffers,
        Command::Local(flags) => Action::Local(local(flags)?),
    })
}

fn local(flags: LocalFlags) -> Result<LocalArgs, UsageError> {
    let http = flags.http.parse().map_err(|_| {
        UsageError::new(format!(
            "--http {:?} is not an address; write HOST:PORT, e.g. 127.0.0.1:8080",
            flags.http
        ))
    })?;
    // clap already refused --master with a dev cluster flag, and --release-uri with the others.
    let cluster = match flags.master {
        Some(master) => Cluster::Existing(ExistingMaster::parse(&master).map_err(UsageError::new)?),
        None => {
            if flags.agents == 0 {
                return Err(UsageError::new("--agents must be at least 1"));
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
    fn local_refuses_a_bad_master_or_an_empty_uri() {
        let err = args(&["local", "--master", "127.0.0.1:5050"]).unwrap_err();
        assert!(err.to_string().contains("--master"), "{err}");
        let err = args(&["local", "--worker-uri", " "]).unwrap_err();
        assert!(err.to_string().contains("--worker-uri"), "{err}");
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
