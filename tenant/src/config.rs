//! Flags (each with a `CARTRACK_TENANT_*` variable) and their checked form, [`Settings`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use cartrack_framework::mesos::{parse_masters, MasterListError, MasterSource};
use cartrack_framework::resources::Scalars;
use clap::Parser;

use crate::curve::{self, Curve, LoadError};

/// Task cpus when neither the flag nor the curve file sets them.
pub const DEFAULT_TASK_CPUS: f64 = 0.1;
/// Task mem (MB) when neither the flag nor the curve file sets it.
pub const DEFAULT_TASK_MEM: f64 = 32.0;
/// The fastest replay: a day in under a tenth of a second is no longer a curve.
pub const MAX_TIME_SCALE: f64 = 1_000_000.0;

/// `cartrack-tenant`: another tenant of the Mesos cluster, launching sleep tasks along a load
/// curve so that cartrack competes for offers as it would on a shared cluster.
#[derive(Debug, Clone, Parser)]
#[command(name = "cartrack-tenant", version)]
pub struct Args {
    /// Mesos master: http[s]://host:port, a comma list of them, or zk://host:port/path
    #[arg(long, env = "CARTRACK_TENANT_MASTER")]
    pub master: String,
    /// The load curve (TOML; see the README)
    #[arg(long, env = "CARTRACK_TENANT_CURVE")]
    pub curve: PathBuf,
    /// Curve seconds per real second (3600: an hour of the curve each second)
    #[arg(long, env = "CARTRACK_TENANT_TIME_SCALE", default_value_t = 1.0)]
    pub time_scale: f64,
    /// Framework name
    #[arg(long, env = "CARTRACK_TENANT_NAME", default_value = "cartrack-tenant")]
    pub name: String,
    /// Mesos role of the framework and its tasks
    #[arg(long, env = "CARTRACK_TENANT_ROLE", default_value = "*")]
    pub role: String,
    /// Unix user the tasks run as [default: $USER, else root]
    #[arg(long, env = "CARTRACK_TENANT_USER")]
    pub user: Option<String>,
    /// Stop after this many real seconds [default: at the curve's end; never if it repeats]
    #[arg(long, env = "CARTRACK_TENANT_DURATION")]
    pub duration: Option<f64>,
    /// Each task's cpus [default: the curve's task_cpus, else 0.1]
    #[arg(long, env = "CARTRACK_TENANT_TASK_CPUS")]
    pub task_cpus: Option<f64>,
    /// Each task's memory in MB [default: the curve's task_mem, else 32]
    #[arg(long, env = "CARTRACK_TENANT_TASK_MEM")]
    pub task_mem: Option<f64>,
    /// Where /metrics and /v1/health are served (port 0: any free port, printed at start)
    #[arg(
        long,
        env = "CARTRACK_TENANT_METRICS_ADDR",
        default_value = "127.0.0.1:0"
    )]
    pub metrics_addr: SocketAddr,
}

/// Checked settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the masters are.
    pub masters: MasterSource,
    /// The curve.
    pub curve: Curve,
    /// Curve seconds per real second.
    pub time_scale: f64,
    /// Real-time limit.
    pub duration: Option<Duration>,
    /// Framework name.
    pub name: String,
    /// Role.
    pub role: String,
    /// Unix user.
    pub user: String,
    /// Each task's cpus and mem.
    pub task: Scalars,
    /// Metrics listener.
    pub metrics_addr: SocketAddr,
}

/// A flag or the curve file is wrong; the message names it and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--master` is not a master list.
    #[error("--master: {0}")]
    Master(#[from] MasterListError),
    /// The curve file.
    #[error(transparent)]
    Curve(#[from] LoadError),
    /// A number out of range.
    #[error("{flag} {value}: {fix}")]
    Number {
        /// The flag.
        flag: &'static str,
        /// As given.
        value: f64,
        /// What would do.
        fix: &'static str,
    },
    /// `--name` or `--role` is empty.
    #[error("{0} is empty: give a name")]
    Empty(&'static str),
}

fn positive(
    flag: &'static str,
    value: f64,
    max: f64,
    fix: &'static str,
) -> Result<f64, ConfigError> {
    if value.is_finite() && value > 0.0 && value <= max {
        Ok(value)
    } else {
        Err(ConfigError::Number { flag, value, fix })
    }
}

/// Checks the flags and reads the curve; `user_env` is `$USER`.
pub fn resolve(args: &Args, user_env: Option<String>) -> Result<Settings, ConfigError> {
    let masters = parse_masters(&args.master)?;
    let curve = curve::load(&args.curve)?;
    let time_scale = positive(
        "--time-scale",
        args.time_scale,
        MAX_TIME_SCALE,
        "give curve seconds per real second, above 0 and at most 1000000 (e.g. 3600 replays an hour a second)",
    )?;
    let duration = args
        .duration
        .map(|d| {
            positive(
                "--duration",
                d,
                1e9,
                "give real seconds above 0, or leave it out to stop at the curve's end",
            )
            .map(Duration::from_secs_f64)
        })
        .transpose()?;
    let cpus = match args.task_cpus {
        Some(c) => positive("--task-cpus", c, 1e6, "give cpus above 0 (e.g. 0.1)")?,
        None => curve.task_cpus.unwrap_or(DEFAULT_TASK_CPUS),
    };
    let mem = match args.task_mem {
        Some(m) => positive("--task-mem", m, 1e9, "give MB above 0 (e.g. 32)")?,
        None => curve.task_mem.unwrap_or(DEFAULT_TASK_MEM),
    };
    let task = Scalars {
        cpus: Scalars::to_milli(cpus),
        mem: Scalars::to_milli(mem),
        disk: 0,
    };
    // Mesos rounds to thousandths: 0.0001 cpus would be a task of nothing.
    if task.cpus <= 0 {
        return Err(ConfigError::Number {
            flag: "--task-cpus",
            value: cpus,
            fix: "give at least 0.001 cpus",
        });
    }
    if args.name.trim().is_empty() {
        return Err(ConfigError::Empty("--name"));
    }
    if args.role.trim().is_empty() {
        return Err(ConfigError::Empty("--role"));
    }
    Ok(Settings {
        masters,
        curve,
        time_scale,
        duration,
        name: args.name.clone(),
        role: args.role.clone(),
        user: args
            .user
            .clone()
            .or(user_env)
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "root".into()),
        task,
        metrics_addr: args.metrics_addr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(dir: &std::path::Path, extra: &[&str]) -> Args {
        let curve = dir.join("curve.toml");
        std::fs::write(&curve, "task_mem = 64\n[[point]]\nat = 0\ntasks = 1\n").expect("write");
        let mut argv = vec![
            "cartrack-tenant".to_string(),
            "--master".into(),
            "http://127.0.0.1:5050".into(),
            "--curve".into(),
            curve.display().to_string(),
        ];
        argv.extend(extra.iter().map(|s| s.to_string()));
        Args::try_parse_from(argv).expect("flags parse")
    }

    #[test]
    fn flags_override_the_file_which_overrides_the_defaults() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = resolve(&args(dir.path(), &[]), Some("alice".into())).expect("valid");
        assert_eq!((s.task.cpus, s.task.mem), (100, 64_000));
        assert_eq!(s.user, "alice");
        assert_eq!(s.role, "*");
        let s = resolve(
            &args(dir.path(), &["--task-mem", "128", "--task-cpus", "2"]),
            None,
        )
        .expect("valid");
        assert_eq!((s.task.cpus, s.task.mem), (2000, 128_000));
        assert_eq!(s.user, "root");
    }

    #[test]
    fn bad_numbers_name_the_flag() {
        let dir = tempfile::tempdir().expect("tmp");
        for (flags, expected) in [
            (
                &["--time-scale", "0"][..],
                "--time-scale 0: give curve seconds",
            ),
            (&["--time-scale", "NaN"][..], "--time-scale NaN"),
            (&["--duration=-1"][..], "--duration -1"),
            (
                &["--task-cpus", "0.0001"][..],
                "--task-cpus 0.0001: give at least 0.001",
            ),
            (&["--task-mem", "0"][..], "--task-mem 0"),
            (&["--name", " "][..], "--name is empty"),
        ] {
            let error = resolve(&args(dir.path(), flags), None)
                .expect_err(&format!("{flags:?}"))
                .to_string();
            assert!(error.contains(expected), "{flags:?}: {error}");
        }
        let mut a = args(dir.path(), &[]);
        a.master = "127.0.0.1:5050".into();
        let error = resolve(&a, None).expect_err("no scheme").to_string();
        assert!(
            error.starts_with("--master: ") && error.contains("127.0.0.1:5050"),
            "{error}"
        );
    }

    #[test]
    fn a_missing_curve_file_is_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut a = args(dir.path(), &[]);
        a.curve = dir.path().join("nope.toml");
        let error = resolve(&a, None).expect_err("missing").to_string();
        assert!(
            error.contains("cannot read --curve") && error.contains("nope.toml"),
            "{error}"
        );
    }
}
