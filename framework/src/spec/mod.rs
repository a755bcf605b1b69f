//! The service spec: what the operator wants running, as a TOML file (`--spec`).
//!
//! Four steps, in vector's order: [`ServiceSpec::parse`] reads the TOML (serde,
//! `deny_unknown_fields`), [`interpolate`] fills `${NAME}` in `env` values from the scheduler's
//! environment, [`overrides`] applies `CARTRACK_<GROUP>_<KEY>` env vars and `--set` flags, and
//! [`validate`] turns it into a [`ValidatedSpec`] — a pure step with no I/O that reports every
//! broken rule at once, each naming the key, the value and what is allowed.

pub mod autoscale;
pub mod interpolate;
pub mod overrides;
pub mod validate;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use autoscale::{Autoscale, AutoscaleSpec, LoadMetric};
pub use interpolate::interpolate_env;
pub use overrides::{
    apply_env_overrides, apply_overrides, unknown_group_variables, Override, UnknownGroupVariable,
};
pub use validate::{
    executor_id, validate, Constraint, ConstraintKind, GroupPlan, Health, Probe, Readiness,
    Rollout, SpecError, SpecErrors, TaskPlan, ValidatedSpec,
};

/// The whole service as written in the spec file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// How pods are spread over offers: `binpack` fills agents one after another (fewer agents
    /// touched, less fragmentation); `spread` rotates over agents (less blast radius).
    #[serde(default)]
    pub placement_strategy: PlacementStrategy,
    /// Seconds a task may stay STAGING/STARTING before it is killed and relaunched.
    #[serde(default = "default_staging_timeout")]
    pub staging_timeout_seconds: f64,
    /// The resources of the one cartrack executor per (agent, role).
    #[serde(default)]
    pub executor: ExecutorSpec,
    /// The pod groups, launched in this order when offers are scarce.
    pub groups: Vec<GroupSpec>,
}

fn default_staging_timeout() -> f64 {
    300.0
}

/// Bin-pack or spread; see [`ServiceSpec::placement_strategy`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlacementStrategy {
    /// First fit over offers sorted smallest first.
    #[default]
    Binpack,
    /// Next fit over offers sorted largest first, one pod per offer per turn.
    Spread,
}

/// Resources of the executor itself; Mesos rejects executors below cpus 0.01 / mem 32 MB /
/// no disk, failing every task of the group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutorSpec {
    /// CPU shares (>= 0.01).
    #[serde(default = "default_executor_cpus")]
    pub cpus: f64,
    /// Memory in MB (>= 32).
    #[serde(default = "default_executor_mem")]
    pub mem: f64,
    /// Disk in MB (> 0).
    #[serde(default = "default_executor_disk")]
    pub disk: f64,
}

fn default_executor_cpus() -> f64 {
    0.05
}
fn default_executor_mem() -> f64 {
    32.0
}
fn default_executor_disk() -> f64 {
    16.0
}

impl Default for ExecutorSpec {
    fn default() -> Self {
        Self {
            cpus: default_executor_cpus(),
            mem: default_executor_mem(),
            disk: default_executor_disk(),
        }
    }
}

/// A set of identical pods: slots `<name>-0` .. `<name>-<count-1>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// Lowercase letters, digits and `-`; becomes part of slot names and task ids.
    pub name: String,
    /// How many pods to keep running.
    pub count: u32,
    /// The Mesos role the pods run under; default: the framework's first role.
    #[serde(default)]
    pub role: Option<String>,
    /// Environment given to every task of the group (task `env` wins on conflicts); values may
    /// take the scheduler's env with `${NAME}` / `${NAME:-default}` ([`interpolate`]).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Placement rules: `hostname:UNIQUE`, `<field>:MAX_PER:<n>`, `<field>:GROUP_BY`.
    #[serde(default)]
    pub placement: Vec<String>,
    /// Seconds between SIGTERM and SIGKILL when a task is killed.
    #[serde(default)]
    pub kill_grace_seconds: Option<f64>,
    /// How a change of the group's pods is rolled out (not part of the pods: changing it
    /// replaces nothing).
    #[serde(default)]
    pub deploy: DeploySpec,
    /// Autoscaling of the count (not part of the pods either: it changes counts only).
    /// Skipped when absent, so specs without it keep their hashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscale: Option<AutoscaleSpec>,
    /// The tasks of one pod, launched together as one task group.
    pub tasks: Vec<TaskSpec>,
}

/// The rolling-update rules of a group: `deploy = { max_unavailable = 1, ... }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploySpec {
    /// Pods of the group that may be unready at once during an update (below the count).
    #[serde(default = "default_max_unavailable")]
    pub max_unavailable: u32,
    /// Extra pods an update may run above the count, in slots of their own.
    #[serde(default)]
    pub max_surge: u32,
    /// For pods without a health check: seconds RUNNING before a pod counts as ready.
    #[serde(default = "default_min_ready_seconds")]
    pub min_ready_seconds: f64,
    /// Steps of an update that each wait for `continue` before they start (canaries).
    #[serde(default)]
    pub canary_steps: u32,
}

fn default_max_unavailable() -> u32 {
    1
}
fn default_min_ready_seconds() -> f64 {
    10.0
}

impl Default for DeploySpec {
    fn default() -> Self {
        DeploySpec {
            max_unavailable: default_max_unavailable(),
            max_surge: 0,
            min_ready_seconds: default_min_ready_seconds(),
            canary_steps: 0,
        }
    }
}

/// One process of a pod, run by the cartrack executor from its sandbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// Lowercase letters, digits and `-`; unique in the group.
    pub name: String,
    /// The program, e.g. `./cartrack-worker` (relative to the executor sandbox).
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// CPU shares.
    pub cpus: f64,
    /// Memory in MB.
    pub mem: f64,
    /// Disk in MB.
    #[serde(default)]
    pub disk: f64,
    /// Named ports, taken from the offer; reach the task as `PORT_<NAME>` and `PORT<i>`.
    #[serde(default)]
    pub ports: Vec<String>,
    /// Extra environment, as the group's `env`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// A health check the executor runs.
    #[serde(default)]
    pub health: Option<HealthSpec>,
    /// A readiness check the executor runs (never kills): during an update the next pod is
    /// replaced only once this one passes.
    #[serde(default)]
    pub readiness: Option<ReadinessSpec>,
}

/// A readiness check as written: the probe of a [`HealthSpec`], without kills.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadinessSpec {
    /// `http`, `tcp` or `command`.
    pub kind: String,
    /// For `http`/`tcp`: the name of one of the task's ports.
    #[serde(default)]
    pub port: Option<String>,
    /// For `http`: the path, starting with `/`.
    #[serde(default)]
    pub path: Option<String>,
    /// For `command`: a shell command; exit 0 = ready.
    #[serde(default)]
    pub command: Option<String>,
    /// Seconds between checks.
    #[serde(default = "default_readiness_interval")]
    pub interval_seconds: f64,
    /// Seconds one check may take.
    #[serde(default = "default_health_timeout")]
    pub timeout_seconds: f64,
    /// Seconds after start before the first check.
    #[serde(default)]
    pub delay_seconds: f64,
}

fn default_readiness_interval() -> f64 {
    2.0
}

/// A health check as written; `kind` decides which other fields matter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthSpec {
    /// `http`, `tcp` or `command`.
    pub kind: String,
    /// For `http`/`tcp`: the name of one of the task's ports.
    #[serde(default)]
    pub port: Option<String>,
    /// For `http`: the path, starting with `/`.
    #[serde(default)]
    pub path: Option<String>,
    /// For `command`: a shell command; exit 0 = healthy.
    #[serde(default)]
    pub command: Option<String>,
    /// Seconds between checks.
    #[serde(default = "default_health_interval")]
    pub interval_seconds: f64,
    /// Seconds one check may take.
    #[serde(default = "default_health_timeout")]
    pub timeout_seconds: f64,
    /// Seconds after start during which failures do not count.
    #[serde(default = "default_health_grace")]
    pub grace_period_seconds: f64,
    /// Failures in a row that make the executor kill the task.
    #[serde(default = "default_health_failures")]
    pub consecutive_failures: u32,
}

fn default_health_interval() -> f64 {
    10.0
}
fn default_health_timeout() -> f64 {
    5.0
}
fn default_health_grace() -> f64 {
    30.0
}
fn default_health_failures() -> u32 {
    3
}

/// Why a spec file could not be read at all (before validation).
#[derive(Debug, thiserror::Error)]
pub enum SpecParseError {
    /// The file is not valid TOML or has unknown/mistyped keys; fix the file.
    #[error("spec is not valid: {0}")]
    Toml(#[from] toml::de::Error),
}

impl ServiceSpec {
    /// Reads a spec from TOML text; unknown keys are errors (typos must not pass silently).
    pub fn parse(text: &str) -> Result<Self, SpecParseError> {
        Ok(toml::from_str(text)?)
    }
}

/// Steps two to four on a parsed spec: `${NAME}` from `env`, `CARTRACK_<GROUP>_<KEY>` from
/// `env`, then the `--set` flags `sets` (each `path=value`), then validation against the
/// framework's `roles`. The one path to a [`ValidatedSpec`], at start-up and for
/// `cartrack update`; every broken rule is reported at once.
pub fn prepare(
    mut spec: ServiceSpec,
    env: impl IntoIterator<Item = (String, String)> + Clone,
    sets: &[String],
    roles: &[String],
) -> Result<ValidatedSpec, SpecErrors> {
    interpolate_env(&mut spec, env.clone())?;
    apply_env_overrides(&mut spec, env)?;
    let mut overrides = Vec::new();
    let mut bad = Vec::new();
    for text in sets {
        match Override::from_flag(text) {
            Ok(o) => overrides.push(o),
            Err(e) => bad.push(e),
        }
    }
    if !bad.is_empty() {
        return Err(SpecErrors(bad));
    }
    apply_overrides(&mut spec, &overrides)?;
    validate(&spec, roles)
}
