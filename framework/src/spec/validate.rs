//! The pure validation step: [`validate`] checks every rule of a [`ServiceSpec`] and returns a
//! [`ValidatedSpec`] the planner can use without re-checking anything (no I/O here).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::autoscale::{self, Autoscale};
use super::{HealthSpec, PlacementStrategy, ReadinessSpec, ServiceSpec};
use crate::resources::Scalars;

/// One broken rule: the key (`groups[1].tasks[0].cpus`), the value found and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// Where in the spec, as a path of keys.
    pub key: String,
    /// The offending value as written.
    pub value: String,
    /// What would be accepted.
    pub allowed: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "spec key `{}` = {}: allowed: {}",
            self.key, self.value, self.allowed
        )
    }
}

/// Every broken rule of a spec; the scheduler refuses to start with any of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpecErrors(pub Vec<SpecError>);

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the spec has {} error(s):", self.0.len())?;
        for error in &self.0 {
            write!(f, "\n  - {error}")?;
        }
        Ok(())
    }
}

/// A spec that passed [`validate`]: resources in Mesos' thousandths, constraints parsed,
/// environment merged. The original is kept in `source` for persistence and comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedSpec {
    /// The spec as written (after overrides).
    pub source: ServiceSpec,
    /// Bin-pack or spread.
    pub strategy: PlacementStrategy,
    /// STAGING/STARTING longer than this is killed.
    pub staging_timeout_ms: u64,
    /// The executor's own resources.
    pub executor: Scalars,
    /// Groups in spec order.
    pub groups: Vec<GroupPlan>,
}

impl ValidatedSpec {
    /// The group called `name`.
    pub fn group(&self, name: &str) -> Option<&GroupPlan> {
        self.groups.iter().find(|g| g.name == name)
    }
}

/// A validated pod group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupPlan {
    /// Group name.
    pub name: String,
    /// Pods wanted according to the spec (the operator API may change the live value).
    pub count: u32,
    /// Mesos role of the pods.
    pub role: String,
    /// The id of the executor that runs the pods (one per agent and role).
    pub executor_id: String,
    /// Parsed placement rules.
    pub constraints: Vec<Constraint>,
    /// SIGTERM -> SIGKILL grace.
    pub kill_grace_ms: Option<u64>,
    /// Tasks of one pod.
    pub tasks: Vec<TaskPlan>,
    /// Sum of the tasks' resources (without the executor).
    pub demand: Scalars,
    /// Ports one pod needs.
    pub port_count: u32,
    /// How an update replaces its pods.
    pub rollout: Rollout,
    /// How the count follows the load, if it does.
    pub autoscale: Option<Autoscale>,
}

/// A group's validated rolling-update rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rollout {
    /// Pods that may be unready at once, below the count.
    pub max_unavailable: u32,
    /// Extra pods above the count.
    pub max_surge: u32,
    /// RUNNING this long makes a pod without a health check ready.
    pub min_ready_ms: u64,
    /// Steps that wait for `continue`.
    pub canary_steps: u32,
}

/// A validated task of a pod.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskPlan {
    /// Task name within the pod.
    pub name: String,
    /// Program to run.
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Its resources.
    pub resources: Scalars,
    /// Named ports in order (`PORT0` is the first).
    pub ports: Vec<String>,
    /// Group env overlaid by task env.
    pub env: BTreeMap<String, String>,
    /// Health check, if any.
    pub health: Option<Health>,
    /// Readiness check, if any.
    pub readiness: Option<Readiness>,
}

/// A validated readiness check (the executor runs it as the task's Mesos `check`).
#[derive(Debug, Clone, PartialEq)]
pub struct Readiness {
    /// What to probe.
    pub probe: Probe,
    /// Seconds between checks.
    pub interval_seconds: f64,
    /// Seconds one check may take.
    pub timeout_seconds: f64,
    /// Seconds before the first.
    pub delay_seconds: f64,
}

/// A validated health check; ports are indexes into the task's `ports`.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// What to probe.
    pub probe: Probe,
    /// Seconds between checks.
    pub interval_seconds: f64,
    /// Seconds one check may take.
    pub timeout_seconds: f64,
    /// Seconds of grace after start.
    pub grace_period_seconds: f64,
    /// Failures in a row before the task is killed.
    pub consecutive_failures: u32,
}

/// The probe of a [`Health`] check.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    /// HTTP GET on the task's port `port` (index) and `path`; 2xx/3xx = healthy.
    Http {
        /// Index into the task's ports.
        port: usize,
        /// Path starting with `/`.
        path: String,
    },
    /// TCP connect to the task's port `port` (index).
    Tcp {
        /// Index into the task's ports.
        port: usize,
    },
    /// Shell command; exit 0 = healthy.
    Command {
        /// The command line.
        command: String,
    },
}

/// A placement rule on the agent's hostname or one of its attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    /// `hostname` or an attribute name.
    pub field: String,
    /// The rule.
    pub kind: ConstraintKind,
}

/// What a [`Constraint`] demands of the pods of one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstraintKind {
    /// At most one pod per value.
    Unique,
    /// At most `n` pods per value.
    MaxPer(u32),
    /// Pods spread evenly over the values seen: a value may take a pod only while it has no
    /// more pods than the least used value.
    GroupBy,
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ConstraintKind::Unique => write!(f, "{}:UNIQUE", self.field),
            ConstraintKind::MaxPer(n) => write!(f, "{}:MAX_PER:{n}", self.field),
            ConstraintKind::GroupBy => write!(f, "{}:GROUP_BY", self.field),
        }
    }
}

const NAME_RULE: &str = "1-40 characters of a-z, 0-9 and '-', starting with a letter";
const PORT_RULE: &str = "1-30 characters of a-z, 0-9 and '_', starting with a letter";
const ENV_RULE: &str = "a name of A-Z, a-z, 0-9 and '_', not starting with a digit";
const CONSTRAINT_RULE: &str =
    "`<field>:UNIQUE`, `<field>:MAX_PER:<n>` (n >= 1) or `<field>:GROUP_BY`, field = `hostname` or an attribute name";

/// Collects errors so a user sees every problem in one run.
pub(super) struct Report(Vec<SpecError>);

impl Report {
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    pub(super) fn push(&mut self, key: String, value: impl fmt::Debug, allowed: impl Into<String>) {
        self.0.push(SpecError {
            key,
            value: format!("{value:?}"),
            allowed: allowed.into(),
        });
    }

    pub(super) fn scalar(
        &mut self,
        key: String,
        value: f64,
        min: f64,
        inclusive: bool,
        unit: &str,
    ) -> i64 {
        let ok = value.is_finite() && if inclusive { value >= min } else { value > min };
        if !ok {
            let op = if inclusive { ">=" } else { ">" };
            self.push(key, value, format!("a number {op} {min} ({unit})"));
            return 0;
        }
        Scalars::to_milli(value)
    }
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && name.len() <= 40
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-'))
        && !name.ends_with('-')
}

fn is_port_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && name.len() <= 30
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('A'..='Z' | 'a'..='z' | '_'))
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A Mesos role name: `*` or a name without `/` at the ends, `..`, spaces or control chars.
fn is_role(role: &str) -> bool {
    role == "*"
        || (!role.is_empty()
            && role != "."
            && role != ".."
            && !role.starts_with('-')
            && !role.starts_with('/')
            && !role.ends_with('/')
            && role
                .chars()
                .all(|c| c.is_ascii_graphic() && c != '*' && c != '\\'))
}

/// Parses one placement rule (`hostname:UNIQUE`, `rack:MAX_PER:2`, `zone:GROUP_BY`).
pub fn parse_constraint(text: &str) -> Option<Constraint> {
    let parts: Vec<&str> = text.split(':').collect();
    let field = (*parts.first()?).to_string();
    if field.is_empty()
        || !field
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        return None;
    }
    let kind = match parts.as_slice() {
        [_, "UNIQUE"] => ConstraintKind::Unique,
        [_, "GROUP_BY"] => ConstraintKind::GroupBy,
        [_, "MAX_PER", n] => match n.parse::<u32>() {
            Ok(n) if n >= 1 => ConstraintKind::MaxPer(n),
            _ => return None,
        },
        _ => return None,
    };
    Some(Constraint { field, kind })
}

/// Checks every rule; `roles` are the framework's roles (`--role`), the first being the
/// default role of groups that name none.
pub fn validate(spec: &ServiceSpec, roles: &[String]) -> Result<ValidatedSpec, SpecErrors> {
    let mut report = Report(Vec::new());
    if spec.groups.is_empty() {
        report.push("groups".into(), "[]", "at least one [[groups]] table");
    }
    let staging = report.scalar(
        "staging_timeout_seconds".into(),
        spec.staging_timeout_seconds,
        0.0,
        false,
        "seconds",
    );
    let executor = Scalars {
        cpus: report.scalar(
            "executor.cpus".into(),
            spec.executor.cpus,
            0.01,
            true,
            "CPU shares; Mesos' minimum for executors",
        ),
        mem: report.scalar(
            "executor.mem".into(),
            spec.executor.mem,
            32.0,
            true,
            "MB; Mesos' minimum for executors",
        ),
        disk: report.scalar(
            "executor.disk".into(),
            spec.executor.disk,
            0.0,
            false,
            "MB; Mesos rejects executors without disk",
        ),
    };
    let default_role = roles.first().cloned().unwrap_or_else(|| "*".to_string());
    let mut seen_groups = BTreeSet::new();
    let mut groups = Vec::with_capacity(spec.groups.len());
    for (gi, group) in spec.groups.iter().enumerate() {
        let gkey = format!("groups[{gi}]");
        if !is_name(&group.name) {
            report.push(format!("{gkey}.name"), &group.name, NAME_RULE);
        } else if !seen_groups.insert(group.name.clone()) {
            report.push(
                format!("{gkey}.name"),
                &group.name,
                "a name no other group uses",
            );
        }
        if group.count > 100_000 {
            report.push(format!("{gkey}.count"), group.count, "0 ..= 100000");
        }
        let role = group.role.clone().unwrap_or_else(|| default_role.clone());
        if !is_role(&role) {
            report.push(format!("{gkey}.role"), &role, "`*` or a Mesos role name");
        } else if !roles.is_empty() && !roles.contains(&role) {
            report.push(
                format!("{gkey}.role"),
                &role,
                format!("one of the framework's roles {roles:?} (see --role)"),
            );
        }
        for name in group.env.keys() {
            if !is_env_name(name) {
                report.push(format!("{gkey}.env.{name}"), name, ENV_RULE);
            }
        }
        let mut constraints = Vec::new();
        for (ci, text) in group.placement.iter().enumerate() {
            match parse_constraint(text) {
                Some(c) => constraints.push(c),
                None => report.push(format!("{gkey}.placement[{ci}]"), text, CONSTRAINT_RULE),
            }
        }
        let kill_grace_ms = match group.kill_grace_seconds {
            Some(s) if !(s.is_finite() && s >= 0.0) => {
                report.push(
                    format!("{gkey}.kill_grace_seconds"),
                    s,
                    "a number >= 0 (seconds)",
                );
                None
            }
            Some(s) => Some((s * 1000.0).round() as u64),
            None => None,
        };
        let deploy = &group.deploy;
        if deploy.max_unavailable == 0 && deploy.max_surge == 0 {
            report.push(
                format!("{gkey}.deploy"),
                "max_unavailable = 0, max_surge = 0",
                "max_unavailable >= 1 or max_surge >= 1 (else an update could never replace a pod)",
            );
        }
        let min_ready_ms = report.scalar(
            format!("{gkey}.deploy.min_ready_seconds"),
            deploy.min_ready_seconds,
            0.0,
            true,
            "seconds",
        ) as u64;
        let rollout = Rollout {
            max_unavailable: deploy.max_unavailable,
            max_surge: deploy.max_surge,
            min_ready_ms,
            canary_steps: deploy.canary_steps,
        };
        if group.tasks.is_empty() {
            report.push(
                format!("{gkey}.tasks"),
                "[]",
                "at least one [[groups.tasks]] table",
            );
        }
        let mut seen_tasks = BTreeSet::new();
        let mut seen_ports = BTreeSet::new();
        let mut tasks = Vec::with_capacity(group.tasks.len());
        let mut demand = Scalars::default();
        let mut port_count = 0u32;
        for (ti, task) in group.tasks.iter().enumerate() {
            let tkey = format!("{gkey}.tasks[{ti}]");
            if !is_name(&task.name) {
                report.push(format!("{tkey}.name"), &task.name, NAME_RULE);
            } else if !seen_tasks.insert(task.name.clone()) {
                report.push(
                    format!("{tkey}.name"),
                    &task.name,
                    "a name no other task of the group uses",
                );
            }
            if task.command.trim().is_empty() {
                report.push(
                    format!("{tkey}.command"),
                    &task.command,
                    "a program to run, e.g. \"./cartrack-worker\"",
                );
            }
            let resources = Scalars {
                cpus: report.scalar(format!("{tkey}.cpus"), task.cpus, 0.001, true, "CPU shares"),
                mem: report.scalar(format!("{tkey}.mem"), task.mem, 1.0, true, "MB"),
                disk: report.scalar(format!("{tkey}.disk"), task.disk, 0.0, true, "MB"),
            };
            demand = demand.plus(resources);
            for (pi, port) in task.ports.iter().enumerate() {
                if !is_port_name(port) {
                    report.push(format!("{tkey}.ports[{pi}]"), port, PORT_RULE);
                } else if !seen_ports.insert(port.clone()) {
                    report.push(
                        format!("{tkey}.ports[{pi}]"),
                        port,
                        "a port name not used by another task of the pod",
                    );
                }
            }
            port_count += task.ports.len() as u32;
            for name in task.env.keys() {
                if !is_env_name(name) {
                    report.push(format!("{tkey}.env.{name}"), name, ENV_RULE);
                }
            }
            let mut env = group.env.clone();
            env.extend(task.env.clone());
            let health = task.health.as_ref().and_then(|h| {
                validate_health(h, &task.ports, &format!("{tkey}.health"), &mut report)
            });
            let readiness = task.readiness.as_ref().and_then(|r| {
                validate_readiness(r, &task.ports, &format!("{tkey}.readiness"), &mut report)
            });
            tasks.push(TaskPlan {
                name: task.name.clone(),
                command: task.command.clone(),
                args: task.args.clone(),
                resources,
                ports: task.ports.clone(),
                env,
                health,
                readiness,
            });
        }
        groups.push(GroupPlan {
            name: group.name.clone(),
            count: group.count,
            executor_id: executor_id(&role),
            role,
            constraints,
            kill_grace_ms,
            tasks,
            demand,
            port_count,
            rollout,
            autoscale: group
                .autoscale
                .as_ref()
                .and_then(|a| autoscale::validate(a, group, &spec.groups, &gkey, &mut report)),
        });
    }
    if !report.0.is_empty() {
        return Err(SpecErrors(report.0));
    }
    Ok(ValidatedSpec {
        source: spec.clone(),
        strategy: spec.placement_strategy,
        staging_timeout_ms: staging.max(0) as u64,
        executor,
        groups,
    })
}

/// The probe fields health and readiness checks share.
struct ProbeFields<'a> {
    kind: &'a str,
    port: Option<&'a String>,
    path: Option<&'a String>,
    command: Option<&'a String>,
    interval_seconds: f64,
    timeout_seconds: f64,
}

fn validate_readiness(
    r: &ReadinessSpec,
    ports: &[String],
    key: &str,
    report: &mut Report,
) -> Option<Readiness> {
    let before = report.0.len();
    let fields = ProbeFields {
        kind: &r.kind,
        port: r.port.as_ref(),
        path: r.path.as_ref(),
        command: r.command.as_ref(),
        interval_seconds: r.interval_seconds,
        timeout_seconds: r.timeout_seconds,
    };
    let probe = validate_probe(&fields, ports, key, report)?;
    if !(r.delay_seconds.is_finite() && r.delay_seconds >= 0.0) {
        report.push(
            format!("{key}.delay_seconds"),
            r.delay_seconds,
            "a number >= 0 (seconds)",
        );
    }
    (report.0.len() == before).then_some(Readiness {
        probe,
        interval_seconds: r.interval_seconds,
        timeout_seconds: r.timeout_seconds,
        delay_seconds: r.delay_seconds,
    })
}

fn validate_health(
    h: &HealthSpec,
    ports: &[String],
    key: &str,
    report: &mut Report,
) -> Option<Health> {
    let before = report.0.len();
    let fields = ProbeFields {
        kind: &h.kind,
        port: h.port.as_ref(),
        path: h.path.as_ref(),
        command: h.command.as_ref(),
        interval_seconds: h.interval_seconds,
        timeout_seconds: h.timeout_seconds,
    };
    let probe = validate_probe(&fields, ports, key, report)?;
    if !(h.grace_period_seconds.is_finite() && h.grace_period_seconds >= 0.0) {
        report.push(
            format!("{key}.grace_period_seconds"),
            h.grace_period_seconds,
            "a number >= 0 (seconds)",
        );
    }
    if h.consecutive_failures == 0 {
        report.push(format!("{key}.consecutive_failures"), 0, "an integer >= 1");
    }
    (report.0.len() == before).then_some(Health {
        probe,
        interval_seconds: h.interval_seconds,
        timeout_seconds: h.timeout_seconds,
        grace_period_seconds: h.grace_period_seconds,
        consecutive_failures: h.consecutive_failures,
    })
}

/// The probe of a check, and its interval and timeout checked; `None` when the probe itself
/// cannot be built (reported).
fn validate_probe(
    h: &ProbeFields<'_>,
    ports: &[String],
    key: &str,
    report: &mut Report,
) -> Option<Probe> {
    let port_index = |report: &mut Report| -> usize {
        match h.port {
            Some(name) => match ports.iter().position(|p| p == name) {
                Some(i) => i,
                None => {
                    report.push(
                        format!("{key}.port"),
                        name,
                        format!("one of the task's ports {ports:?}"),
                    );
                    0
                }
            },
            None => {
                report.push(
                    format!("{key}.port"),
                    "(missing)",
                    format!("one of the task's ports {ports:?}"),
                );
                0
            }
        }
    };
    let probe = match h.kind {
        "http" => {
            let port = port_index(report);
            let path = h.path.cloned().unwrap_or_else(|| "/".to_string());
            if !path.starts_with('/') {
                report.push(format!("{key}.path"), &path, "a path starting with '/'");
            }
            Probe::Http { port, path }
        }
        "tcp" => Probe::Tcp {
            port: port_index(report),
        },
        "command" => match h.command {
            Some(c) if !c.trim().is_empty() => Probe::Command { command: c.clone() },
            other => {
                report.push(
                    format!("{key}.command"),
                    other,
                    "a shell command for kind = \"command\"",
                );
                return None;
            }
        },
        other => {
            report.push(
                format!("{key}.kind"),
                other,
                "\"http\", \"tcp\" or \"command\"",
            );
            return None;
        }
    };
    for (name, value) in [
        ("interval_seconds", h.interval_seconds),
        ("timeout_seconds", h.timeout_seconds),
    ] {
        if !(value.is_finite() && value > 0.0) {
            report.push(format!("{key}.{name}"), value, "a number > 0 (seconds)");
        }
    }
    Some(probe)
}

/// The executor id of the one cartrack executor per (agent, role).
pub fn executor_id(role: &str) -> String {
    let role: String = role
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("cartrack-executor.{role}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        [[groups]]
        name = "processor"
        count = 2
        placement = ["hostname:UNIQUE", "rack:MAX_PER:2", "zone:GROUP_BY"]
        env = { CARTRACK_KAFKA = "127.0.0.1:9092" }
        [[groups.tasks]]
        name = "main"
        command = "./cartrack-worker"
        args = ["process"]
        cpus = 0.1
        mem = 64
        disk = 16
        ports = ["http"]
        health = { kind = "http", port = "http", path = "/v1/health" }
    "#;

    fn roles() -> Vec<String> {
        vec!["*".to_string()]
    }

    fn errors_of(text: &str) -> Vec<SpecError> {
        let spec = ServiceSpec::parse(text).expect("parses");
        validate(&spec, &roles()).expect_err("must be rejected").0
    }

    fn with(replace: &str, by: &str) -> String {
        assert!(GOOD.contains(replace), "fixture has {replace}");
        GOOD.replacen(replace, by, 1)
    }

    #[test]
    fn validate_accepts_good_spec_in_thousandths() {
        let spec = ServiceSpec::parse(GOOD).expect("parses");
        let v = validate(&spec, &roles()).expect("valid");
        let g = &v.groups[0];
        assert_eq!(
            g.demand,
            Scalars {
                cpus: 100,
                mem: 64_000,
                disk: 16_000
            }
        );
        assert_eq!(g.port_count, 1);
        assert_eq!(g.role, "*");
        assert_eq!(g.constraints.len(), 3);
        assert_eq!(g.constraints[1].kind, ConstraintKind::MaxPer(2));
        assert_eq!(g.tasks[0].env["CARTRACK_KAFKA"], "127.0.0.1:9092");
        assert_eq!(
            g.tasks[0].health.as_ref().map(|h| h.probe.clone()),
            Some(Probe::Http {
                port: 0,
                path: "/v1/health".into()
            })
        );
        assert_eq!(v.staging_timeout_ms, 300_000);
    }

    #[test]
    fn parse_rejects_unknown_keys() {
        let err = ServiceSpec::parse(&with("count = 2", "count = 2\ncuont = 3")).expect_err("typo");
        assert!(err.to_string().contains("cuont"), "{err}");
    }

    #[test]
    fn validate_rejects_negative_cpus_naming_key_and_value() {
        let errors = errors_of(&with("cpus = 0.1", "cpus = -1"));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].key, "groups[0].tasks[0].cpus");
        assert_eq!(errors[0].value, "-1.0");
        assert!(errors[0].allowed.contains(">= 0.001"));
    }

    #[test]
    fn validate_rejects_bad_group_name() {
        let errors = errors_of(&with("name = \"processor\"", "name = \"Proc_1\""));
        assert_eq!(errors[0].key, "groups[0].name");
        assert!(errors[0].to_string().contains("Proc_1"));
    }

    #[test]
    fn validate_rejects_duplicate_groups() {
        let text = format!("{GOOD}\n{}", GOOD);
        let errors = errors_of(&text);
        assert!(errors
            .iter()
            .any(|e| e.key == "groups[1].name" && e.allowed.contains("no other group")));
    }

    #[test]
    fn validate_rejects_bad_constraint() {
        let errors = errors_of(&with("rack:MAX_PER:2", "rack:MAX_PER:0"));
        assert_eq!(errors[0].key, "groups[0].placement[1]");
        assert!(errors[0].allowed.contains("MAX_PER"));
        let errors = errors_of(&with("hostname:UNIQUE", "hostname:CLUSTER"));
        assert_eq!(errors[0].key, "groups[0].placement[0]");
    }

    #[test]
    fn validate_rejects_health_on_unknown_port() {
        let errors = errors_of(&with("port = \"http\"", "port = \"admin\""));
        assert_eq!(errors[0].key, "groups[0].tasks[0].health.port");
        assert!(errors[0].allowed.contains("http"));
    }

    #[test]
    fn a_readiness_check_is_validated_like_a_probe_and_never_kills() {
        let health = "health = { kind = \"http\", port = \"http\", path = \"/v1/health\" }";
        let ready = with(health, "readiness = { kind = \"http\", port = \"http\", path = \"/v1/ready\", delay_seconds = 1 }");
        let spec = validate(&ServiceSpec::parse(&ready).expect("parses"), &roles()).expect("valid");
        let readiness = spec.groups[0].tasks[0]
            .readiness
            .clone()
            .expect("readiness");
        assert_eq!(
            readiness.probe,
            Probe::Http {
                port: 0,
                path: "/v1/ready".into()
            }
        );
        assert_eq!(readiness.delay_seconds, 1.0);
        let errors = errors_of(&with(
            health,
            "readiness = { kind = \"command\", delay_seconds = -1 }",
        ));
        assert_eq!(errors[0].key, "groups[0].tasks[0].readiness.command");
        // Readiness never kills: the health check's kill settings are not its keys.
        let killing = with(
            health,
            "readiness = { kind = \"tcp\", port = \"http\", consecutive_failures = 3 }",
        );
        let refused = ServiceSpec::parse(&killing).err().map(|e| e.to_string());
        assert!(refused.is_some_and(|e| e.contains("consecutive_failures")));
    }

    #[test]
    fn validate_rejects_role_not_of_framework() {
        let errors = errors_of(&with("count = 2", "count = 2\nrole = \"analytics\""));
        assert_eq!(errors[0].key, "groups[0].role");
        assert!(errors[0].allowed.contains("--role"));
    }

    #[test]
    fn validate_rejects_small_executor() {
        let errors = errors_of(&format!("[executor]\nmem = 16\n{GOOD}"));
        assert_eq!(errors[0].key, "executor.mem");
        assert!(errors[0].allowed.contains("32"));
    }

    #[test]
    fn validate_rejects_empty_tasks_and_groups() {
        let errors = errors_of("groups = []");
        assert_eq!(errors[0].key, "groups");
        let errors = errors_of("[[groups]]\nname = \"a\"\ncount = 1\ntasks = []");
        assert_eq!(errors[0].key, "groups[0].tasks");
    }

    #[test]
    fn validate_reports_every_error_at_once() {
        let text = with("cpus = 0.1", "cpus = 0").replace("mem = 64", "mem = 0");
        let errors = errors_of(&text);
        assert_eq!(errors.len(), 2, "{errors:?}");
    }

    #[test]
    fn validate_rejects_bad_env_and_port_names() {
        let errors = errors_of(&with("ports = [\"http\"]", "ports = [\"HTTP\"]"));
        assert!(errors
            .iter()
            .any(|e| e.key == "groups[0].tasks[0].ports[0]"));
        let errors = errors_of(&with("CARTRACK_KAFKA", "\"1BAD\""));
        assert!(errors.iter().any(|e| e.key.starts_with("groups[0].env.")));
    }

    #[test]
    fn validate_accepts_autoscale_with_defaults_and_the_source_named() {
        let text = with(
            "count = 2\n",
            "count = 2\nautoscale = { min = 1, max = 4, metric = \"lag\", target = 50000 }\n",
        );
        let v = validate(&ServiceSpec::parse(&text).expect("parses"), &roles()).expect("valid");
        let a = v.groups[0].autoscale.clone().expect("autoscaled");
        assert_eq!((a.min, a.max, a.step), (1, 4, 1));
        assert_eq!(
            (a.up_after_ms, a.down_after_ms, a.cooldown_ms),
            (30_000, 120_000, 60_000)
        );
        assert_eq!((a.source.as_str(), a.port.as_str()), ("processor", "http"));
    }

    #[test]
    fn validate_rejects_autoscale_rules_naming_each_key() {
        let text = with(
            "count = 2\n",
            "count = 5\nautoscale = { min = 0, max = 3, metric = \"ingest_rate\", target = -1, step = 0, cooldown_s = -2, source = \"nope\" }\n",
        );
        let keys: Vec<String> = errors_of(&text).into_iter().map(|e| e.key).collect();
        for key in [
            "groups[0].autoscale.min",
            "groups[0].count",
            "groups[0].autoscale.step",
            "groups[0].autoscale.target",
            "groups[0].autoscale.cooldown_s",
            "groups[0].autoscale.source",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} not in {keys:?}");
        }
        let text = with(
            "count = 2\n",
            "count = 2\nautoscale = { min = 1, max = 3, metric = \"lag\", target = 10, port = \"metrics\" }\n",
        );
        let errors = errors_of(&text);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].key, "groups[0].autoscale.port");
        assert!(errors[0].allowed.contains("processor"), "{}", errors[0]);
    }

    #[test]
    fn an_unknown_metric_is_a_parse_error_naming_it() {
        let text = with(
            "count = 2\n",
            "count = 2\nautoscale = { min = 1, max = 3, metric = \"cpu\", target = 10 }\n",
        );
        let err = ServiceSpec::parse(&text).expect_err("unknown metric");
        assert!(err.to_string().contains("cpu"), "{err}");
    }
}
