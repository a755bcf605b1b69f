//! The executor's configuration, read from the `MESOS_*` environment the agent sets.
//!
//! Two layers, as in ripgrep: [`Flags`] (clap: each setting as a flag or its `MESOS_*`
//! environment variable, raw strings) -> [`Config::from_lookup`], a pure validation that takes
//! a lookup function (the flags in `main`, a map in tests) and returns a [`Config`] or a
//! [`ConfigError`] naming the variable and the fix. Nothing here touches the network or the
//! file system. The agent sets the variables; the flags exist for running by hand.

use std::path::PathBuf;
use std::time::Duration;

/// Mesos' default `--executor_shutdown_grace_period` (src/slave/constants.hpp).
pub const DEFAULT_SHUTDOWN_GRACE_PERIOD: Duration = Duration::from_secs(5);
/// Mesos' default `--recovery_timeout` (src/slave/constants.hpp): how long a checkpointing
/// executor keeps trying to reach its agent.
pub const DEFAULT_RECOVERY_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Upper bound of the re-subscription backoff when the agent does not set
/// `MESOS_SUBSCRIPTION_BACKOFF_MAX` (the Mesos executor library's default).
pub const DEFAULT_SUBSCRIPTION_BACKOFF_MAX: Duration = Duration::from_secs(2);

/// The raw settings, each from a flag or its environment variable (the flag wins).
#[derive(Debug, Clone, Default, clap::Parser)]
#[command(
    name = "cartrack-executor",
    about = "The cartrack v1 custom executor. A Mesos agent starts it and configures it through MESOS_* variables.",
    version
)]
pub struct Flags {
    /// Framework id, sent in every call.
    #[arg(long, env = "MESOS_FRAMEWORK_ID")]
    pub framework_id: Option<String>,
    /// Executor id, sent in every call.
    #[arg(long, env = "MESOS_EXECUTOR_ID")]
    pub executor_id: Option<String>,
    /// The agent's host:port.
    #[arg(long, env = "MESOS_AGENT_ENDPOINT")]
    pub agent_endpoint: Option<String>,
    /// The executor sandbox (task directories go inside).
    #[arg(long, env = "MESOS_SANDBOX")]
    pub sandbox: Option<String>,
    /// Fallback for --sandbox.
    #[arg(long, env = "MESOS_DIRECTORY")]
    pub directory: Option<String>,
    /// 1: retry a lost agent connection; 0: kill the tasks and exit.
    #[arg(long, env = "MESOS_CHECKPOINT")]
    pub checkpoint: Option<String>,
    /// How long SHUTDOWN may take, e.g. 5secs.
    #[arg(long, env = "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD")]
    pub shutdown_grace_period: Option<String>,
    /// How long a checkpointing executor retries a lost agent, e.g. 15mins.
    #[arg(long, env = "MESOS_RECOVERY_TIMEOUT")]
    pub recovery_timeout: Option<String>,
    /// Cap of the re-subscription backoff, e.g. 2secs.
    #[arg(long, env = "MESOS_SUBSCRIPTION_BACKOFF_MAX")]
    pub subscription_backoff_max: Option<String>,
    /// Sent as `Authorization: Bearer <token>`.
    #[arg(
        long,
        env = "MESOS_EXECUTOR_AUTHENTICATION_TOKEN",
        hide_env_values = true
    )]
    pub authentication_token: Option<String>,
}

impl Flags {
    /// The value given for the environment variable `name`, as flag or variable.
    pub fn lookup(&self, name: &str) -> Option<String> {
        let value = match name {
            "MESOS_FRAMEWORK_ID" => &self.framework_id,
            "MESOS_EXECUTOR_ID" => &self.executor_id,
            "MESOS_AGENT_ENDPOINT" => &self.agent_endpoint,
            "MESOS_SANDBOX" => &self.sandbox,
            "MESOS_DIRECTORY" => &self.directory,
            "MESOS_CHECKPOINT" => &self.checkpoint,
            "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD" => &self.shutdown_grace_period,
            "MESOS_RECOVERY_TIMEOUT" => &self.recovery_timeout,
            "MESOS_SUBSCRIPTION_BACKOFF_MAX" => &self.subscription_backoff_max,
            "MESOS_EXECUTOR_AUTHENTICATION_TOKEN" => &self.authentication_token,
            _ => return None,
        };
        value.clone()
    }
}

/// Everything the executor needs to know about where it runs, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `MESOS_FRAMEWORK_ID`: sent in every call.
    pub framework_id: String,
    /// `MESOS_EXECUTOR_ID`: sent in every call.
    pub executor_id: String,
    /// `MESOS_AGENT_ENDPOINT` as `host:port`: where SUBSCRIBE and every call go.
    pub agent_endpoint: String,
    /// `MESOS_SANDBOX` (falls back to `MESOS_DIRECTORY`): the executor sandbox, where the
    /// executor's URIs were fetched and where task directories are made.
    pub sandbox: PathBuf,
    /// `MESOS_CHECKPOINT=1`: survive a lost agent connection by re-subscribing.
    pub checkpoint: bool,
    /// `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD`: how long SHUTDOWN may take before the agent
    /// kills us; tasks get three quarters of it.
    pub shutdown_grace_period: Duration,
    /// `MESOS_RECOVERY_TIMEOUT`: how long a checkpointing executor retries a lost agent.
    pub recovery_timeout: Duration,
    /// `MESOS_SUBSCRIPTION_BACKOFF_MAX`: cap of the re-subscription backoff.
    pub subscription_backoff_max: Duration,
    /// `MESOS_EXECUTOR_AUTHENTICATION_TOKEN`: sent as `Authorization: Bearer <token>`.
    pub authentication_token: Option<String>,
}

/// Why the environment does not describe a usable executor; the agent sets all of these, so
/// seeing one usually means the binary was started by hand. Never worth retrying.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("environment variable {name} is not set; the Mesos agent sets it when it launches the executor (outside an agent, set it or pass the matching --flag)")]
    Missing {
        /// The variable's name.
        name: &'static str,
    },
    /// A variable is set but its value cannot be used.
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    Invalid {
        /// The variable's name.
        name: &'static str,
        /// The value found.
        value: String,
        /// What was expected.
        reason: &'static str,
    },
}

impl Config {
    /// Reads and validates the configuration from `lookup` (a variable name to its value);
    /// empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &'static str| lookup(name).filter(|value| !value.is_empty());
        let required = |name: &'static str| get(name).ok_or(ConfigError::Missing { name });
        let duration = |name: &'static str, default: Duration| match get(name) {
            None => Ok(default),
            Some(value) => parse_duration(&value).ok_or(ConfigError::Invalid {
                name,
                value,
                reason: "expected a Mesos duration such as 5secs, 500ms, 15mins, 1hrs or 2days",
            }),
        };

        let agent_endpoint = required("MESOS_AGENT_ENDPOINT")?;
        let endpoint_ok = agent_endpoint
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !endpoint_ok {
            return Err(ConfigError::Invalid {
                name: "MESOS_AGENT_ENDPOINT",
                value: agent_endpoint,
                reason: "expected host:port, e.g. 127.0.0.1:5051",
            });
        }
        let checkpoint = match get("MESOS_CHECKPOINT").as_deref() {
            None | Some("0") | Some("false") => false,
            Some("1") | Some("true") => true,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "MESOS_CHECKPOINT",
                    value: other.to_string(),
                    reason: "expected 1 or 0",
                })
            }
        };
        let sandbox = get("MESOS_SANDBOX")
            .or_else(|| get("MESOS_DIRECTORY"))
            .ok_or(ConfigError::Missing {
                name: "MESOS_SANDBOX",
            })?;

        Ok(Config {
            framework_id: required("MESOS_FRAMEWORK_ID")?,
            executor_id: required("MESOS_EXECUTOR_ID")?,
            agent_endpoint,
            sandbox: PathBuf::from(sandbox),
            checkpoint,
            shutdown_grace_period: duration(
                "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
                DEFAULT_SHUTDOWN_GRACE_PERIOD,
            )?,
            recovery_timeout: duration("MESOS_RECOVERY_TIMEOUT", DEFAULT_RECOVERY_TIMEOUT)?,
            subscription_backoff_max: duration(
                "MESOS_SUBSCRIPTION_BACKOFF_MAX",
                DEFAULT_SUBSCRIPTION_BACKOFF_MAX,
            )?,
            authentication_token: get("MESOS_EXECUTOR_AUTHENTICATION_TOKEN"),
        })
    }
}

/// Parses a duration as Mesos prints it (`stringify(Duration)`): a non-negative decimal number
/// followed by one of `ns`, `us`, `ms`, `secs`, `mins`, `hrs`, `days`, `weeks`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds_per_unit = match unit {
        "ns" => 1e-9,
        "us" => 1e-6,
        "ms" => 1e-3,
        "secs" => 1.0,
        "mins" => 60.0,
        "hrs" => 3600.0,
        "days" => 86_400.0,
        "weeks" => 604_800.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(number * seconds_per_unit).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn base() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("MESOS_FRAMEWORK_ID", "fw-1"),
            ("MESOS_EXECUTOR_ID", "ex-1"),
            ("MESOS_AGENT_ENDPOINT", "127.0.0.1:5051"),
            ("MESOS_SANDBOX", "/tmp/sandbox"),
        ])
    }

    fn read(vars: &HashMap<&'static str, &'static str>) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| vars.get(name).map(|v| v.to_string()))
    }

    #[test]
    fn minimal_environment_uses_mesos_defaults() {
        let config = read(&base()).unwrap();
        assert_eq!(config.framework_id, "fw-1");
        assert_eq!(config.executor_id, "ex-1");
        assert_eq!(config.agent_endpoint, "127.0.0.1:5051");
        assert_eq!(config.sandbox, PathBuf::from("/tmp/sandbox"));
        assert!(!config.checkpoint);
        assert_eq!(config.shutdown_grace_period, DEFAULT_SHUTDOWN_GRACE_PERIOD);
        assert_eq!(config.recovery_timeout, DEFAULT_RECOVERY_TIMEOUT);
        assert_eq!(config.authentication_token, None);
    }

    #[test]
    fn every_variable_is_read() {
        let mut vars = base();
        vars.insert("MESOS_CHECKPOINT", "1");
        vars.insert("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "10secs");
        vars.insert("MESOS_RECOVERY_TIMEOUT", "15mins");
        vars.insert("MESOS_SUBSCRIPTION_BACKOFF_MAX", "500ms");
        vars.insert("MESOS_EXECUTOR_AUTHENTICATION_TOKEN", "tok");
        let config = read(&vars).unwrap();
        assert!(config.checkpoint);
        assert_eq!(config.shutdown_grace_period, Duration::from_secs(10));
        assert_eq!(config.recovery_timeout, Duration::from_secs(900));
        assert_eq!(config.subscription_backoff_max, Duration::from_millis(500));
        assert_eq!(config.authentication_token.as_deref(), Some("tok"));
    }

    #[test]
    fn validate_rejects_missing_framework_id_naming_it() {
        let mut vars = base();
        vars.remove("MESOS_FRAMEWORK_ID");
        let err = read(&vars).unwrap_err();
        assert_eq!(
            err,
            ConfigError::Missing {
                name: "MESOS_FRAMEWORK_ID"
            }
        );
        assert!(err.to_string().contains("MESOS_FRAMEWORK_ID"));
    }

    #[test]
    fn validate_rejects_empty_executor_id() {
        let mut vars = base();
        vars.insert("MESOS_EXECUTOR_ID", "");
        assert_eq!(
            read(&vars).unwrap_err(),
            ConfigError::Missing {
                name: "MESOS_EXECUTOR_ID"
            }
        );
    }

    #[test]
    fn sandbox_falls_back_to_directory_and_is_required() {
        let mut vars = base();
        vars.remove("MESOS_SANDBOX");
        assert_eq!(
            read(&vars).unwrap_err(),
            ConfigError::Missing {
                name: "MESOS_SANDBOX"
            }
        );
        vars.insert("MESOS_DIRECTORY", "/var/sandbox");
        assert_eq!(read(&vars).unwrap().sandbox, PathBuf::from("/var/sandbox"));
    }

    #[test]
    fn validate_rejects_endpoint_without_port() {
        let mut vars = base();
        vars.insert("MESOS_AGENT_ENDPOINT", "localhost");
        let err = read(&vars).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                name: "MESOS_AGENT_ENDPOINT",
                ..
            }
        ));
    }

    #[test]
    fn validate_rejects_bad_checkpoint_flag() {
        let mut vars = base();
        vars.insert("MESOS_CHECKPOINT", "yes");
        assert!(matches!(
            read(&vars).unwrap_err(),
            ConfigError::Invalid {
                name: "MESOS_CHECKPOINT",
                ..
            }
        ));
    }

    #[test]
    fn validate_rejects_bad_duration_naming_the_variable() {
        let mut vars = base();
        vars.insert("MESOS_RECOVERY_TIMEOUT", "15 minutes");
        let err = read(&vars).unwrap_err();
        assert!(err.to_string().contains("MESOS_RECOVERY_TIMEOUT"), "{err}");
    }

    #[test]
    fn flags_win_over_the_environment_and_feed_validation() {
        use clap::Parser;
        let flags = Flags::try_parse_from([
            "cartrack-executor",
            "--framework-id",
            "fw-flag",
            "--executor-id",
            "ex",
            "--agent-endpoint",
            "127.0.0.1:5051",
            "--sandbox",
            "/sb",
            "--checkpoint",
            "1",
        ])
        .unwrap();
        let config = Config::from_lookup(|name| flags.lookup(name)).unwrap();
        assert_eq!(config.framework_id, "fw-flag");
        assert!(config.checkpoint);
        assert_eq!(flags.lookup("UNRELATED"), None);
    }

    #[test]
    fn parses_every_mesos_duration_unit() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2.5secs"), Some(Duration::from_millis(2500)));
        assert_eq!(parse_duration("3mins"), Some(Duration::from_secs(180)));
        assert_eq!(parse_duration("1hrs"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1days"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("1weeks"), Some(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("7us"), Some(Duration::from_micros(7)));
        assert_eq!(parse_duration("9ns"), Some(Duration::from_nanos(9)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("secs"), None);
        assert_eq!(parse_duration("5fortnights"), None);
    }
}
