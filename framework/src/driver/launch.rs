//! Adapter: turning a placed pod into Mesos messages: the shared `ExecutorInfo` of the one
//! executor per (agent, role), and a `TaskInfo` per task with its resources, command, environment
//! (`PORT_<NAME>`, `PORT<i>`, `CARTRACK_SLOT`/`GROUP`/`INDEX`), health check and kill policy.

use std::collections::BTreeMap;

use mesos_proto::v1::{
    check_info, command_info::Uri, environment, executor_info, health_check, offer,
    resource::AllocationInfo, value, AgentId, CheckInfo, CommandInfo, DurationInfo, Environment,
    ExecutorId, ExecutorInfo, FrameworkId, HealthCheck, KillPolicy, Resource, TaskGroupInfo,
    TaskId, TaskInfo,
};

use super::effect::{Launch, PodLaunch};
use crate::resources::Scalars;
use crate::spec::{GroupPlan, Probe, Readiness};
pub use crate::target::Binaries;
use crate::target::Target;

impl Binaries {
    fn uris(&self) -> Vec<Uri> {
        match self {
            Binaries::Files {
                executor_uri,
                worker_uri,
            } => vec![
                executable(executor_uri, "cartrack-executor"),
                executable(worker_uri, "cartrack-worker"),
            ],
            Binaries::Release { uri } => vec![Uri {
                value: uri.clone(),
                executable: Some(false),
                extract: Some(true),
                cache: Some(false),
                output_file: None,
            }],
        }
    }
}

fn scalar(name: &str, milli: i64, role: &str) -> Resource {
    Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar {
            value: Scalars::from_milli(milli),
        }),
        allocation_info: Some(AllocationInfo {
            role: Some(role.into()),
        }),
        ..Resource::default()
    }
}

/// `s` as the cpus, mem and (when above 0) disk resources of a task or executor, allocated
/// to `role`.
pub fn scalars(s: Scalars, role: &str) -> Vec<Resource> {
    let mut out = vec![scalar("cpus", s.cpus, role), scalar("mem", s.mem, role)];
    if s.disk > 0 {
        out.push(scalar("disk", s.disk, role));
    }
    out
}

fn executable(value: &str, output_file: &str) -> Uri {
    Uri {
        value: value.into(),
        executable: Some(true),
        extract: Some(false),
        cache: Some(false),
        output_file: Some(output_file.into()),
    }
}

/// The ExecutorInfo of the executor for the pods of `group` under `target`: identical for
/// every pod of its executor id on every agent (Mesos requires a running executor's info to
/// match exactly; the id names the executor settings, so a change starts a new executor).
pub fn executor_info(target: &Target, framework_id: &str, group: &GroupPlan) -> ExecutorInfo {
    let role = &group.role;
    let binaries = &target.version.binaries;
    ExecutorInfo {
        r#type: Some(executor_info::Type::Custom as i32),
        executor_id: ExecutorId {
            value: group.executor_id.clone(),
        },
        framework_id: Some(FrameworkId {
            value: framework_id.into(),
        }),
        name: Some(format!("cartrack-executor ({role})")),
        command: Some(CommandInfo {
            uris: binaries.uris(),
            shell: Some(false),
            value: Some("./cartrack-executor".into()),
            arguments: vec!["cartrack-executor".into()],
            ..CommandInfo::default()
        }),
        resources: scalars(target.spec.executor, role),
        ..ExecutorInfo::default()
    }
}

fn variable(name: &str, value: String) -> environment::Variable {
    environment::Variable {
        name: name.into(),
        value: Some(value),
        ..environment::Variable::default()
    }
}

fn health_check(health: &crate::spec::Health, ports: &[u16]) -> HealthCheck {
    let mut check = HealthCheck {
        interval_seconds: Some(health.interval_seconds),
        timeout_seconds: Some(health.timeout_seconds),
        grace_period_seconds: Some(health.grace_period_seconds),
        consecutive_failures: Some(health.consecutive_failures),
        delay_seconds: Some(0.0),
        ..HealthCheck::default()
    };
    let port = |i: usize| u32::from(ports.get(i).copied().unwrap_or(0));
    match &health.probe {
        Probe::Http { port: i, path } => {
            check.r#type = Some(health_check::Type::Http as i32);
            check.http = Some(health_check::HttpCheckInfo {
                port: port(*i),
                path: Some(path.clone()),
                scheme: Some("http".into()),
                ..health_check::HttpCheckInfo::default()
            });
        }
        Probe::Tcp { port: i } => {
            check.r#type = Some(health_check::Type::Tcp as i32);
            check.tcp = Some(health_check::TcpCheckInfo {
                port: port(*i),
                ..health_check::TcpCheckInfo::default()
            });
        }
        Probe::Command { command } => {
            check.r#type = Some(health_check::Type::Command as i32);
            check.command = Some(CommandInfo {
                value: Some(command.clone()),
                shell: Some(true),
                ..CommandInfo::default()
            });
        }
    }
    check
}

/// A readiness check as the task's Mesos `check` (reported in `check_status`, never kills).
fn readiness_check(readiness: &Readiness, ports: &[u16]) -> CheckInfo {
    let mut check = CheckInfo {
        delay_seconds: Some(readiness.delay_seconds),
        interval_seconds: Some(readiness.interval_seconds),
        timeout_seconds: Some(readiness.timeout_seconds),
        ..CheckInfo::default()
    };
    let port = |i: usize| u32::from(ports.get(i).copied().unwrap_or(0));
    match &readiness.probe {
        Probe::Http { port: i, path } => {
            check.r#type = Some(check_info::Type::Http as i32);
            check.http = Some(check_info::Http {
                port: port(*i),
                path: Some(path.clone()),
            });
        }
        Probe::Tcp { port: i } => {
            check.r#type = Some(check_info::Type::Tcp as i32);
            check.tcp = Some(check_info::Tcp { port: port(*i) });
        }
        Probe::Command { command } => {
            check.r#type = Some(check_info::Type::Command as i32);
            check.command = Some(check_info::Command {
                command: CommandInfo {
                    value: Some(command.clone()),
                    shell: Some(true),
                    ..CommandInfo::default()
                },
            });
        }
    }
    check
}

/// The LAUNCH_GROUP operation for one pod of `launch`.
pub fn launch_group(
    target: &Target,
    task_env: &[(String, String)],
    framework_id: &str,
    launch: &Launch,
    pod: &PodLaunch,
) -> offer::Operation {
    let placement = &pod.placement;
    let group: &GroupPlan = &target.spec.groups[placement.group];
    let infos = group
        .tasks
        .iter()
        .zip(&pod.task_ids)
        .enumerate()
        .map(|(ti, (task, task_id))| {
            let ports: &[u16] = placement.ports.get(ti).map_or(&[], Vec::as_slice);
            let named: BTreeMap<&str, u16> = task
                .ports
                .iter()
                .map(String::as_str)
                .zip(ports.iter().copied())
                .collect();
            let mut env: Vec<environment::Variable> = task
                .env
                .iter()
                .map(|(k, v)| variable(k, v.clone()))
                .collect();
            for (i, port) in ports.iter().enumerate() {
                env.push(variable(&format!("PORT{i}"), port.to_string()));
            }
            if let Some(first) = ports.first() {
                env.push(variable("PORT", first.to_string()));
            }
            for (name, port) in &named {
                env.push(variable(
                    &format!("PORT_{}", name.to_uppercase()),
                    port.to_string(),
                ));
            }
            env.push(variable("CARTRACK_SLOT", placement.slot.clone()));
            env.push(variable("CARTRACK_GROUP", group.name.clone()));
            env.push(variable("CARTRACK_INDEX", placement.index.to_string()));
            env.push(variable("CARTRACK_TASK", task.name.clone()));
            env.extend(task_env.iter().map(|(k, v)| variable(k, v.clone())));
            let mut resources = scalars(task.resources, &launch.role);
            if !ports.is_empty() {
                resources.push(Resource {
                    name: "ports".into(),
                    r#type: value::Type::Ranges as i32,
                    ranges: Some(value::Ranges {
                        range: ports
                            .iter()
                            .map(|p| value::Range {
                                begin: u64::from(*p),
                                end: u64::from(*p),
                            })
                            .collect(),
                    }),
                    allocation_info: Some(AllocationInfo {
                        role: Some(launch.role.clone()),
                    }),
                    ..Resource::default()
                });
            }
            let mut arguments = vec![task.command.clone()];
            arguments.extend(task.args.iter().cloned());
            TaskInfo {
                name: format!("{}-{}", placement.slot, task.name),
                task_id: TaskId {
                    value: task_id.clone(),
                },
                agent_id: AgentId {
                    value: launch.agent_id.clone(),
                },
                resources,
                command: Some(CommandInfo {
                    environment: Some(Environment { variables: env }),
                    shell: Some(false),
                    value: Some(task.command.clone()),
                    arguments,
                    ..CommandInfo::default()
                }),
                health_check: task.health.as_ref().map(|h| health_check(h, ports)),
                check: task.readiness.as_ref().map(|r| readiness_check(r, ports)),
                kill_policy: group.kill_grace_ms.map(|ms| KillPolicy {
                    grace_period: Some(DurationInfo {
                        nanoseconds: (ms as i64).saturating_mul(1_000_000),
                    }),
                }),
                ..TaskInfo::default()
            }
        })
        .collect();
    offer::Operation {
        r#type: Some(offer::operation::Type::LaunchGroup as i32),
        launch_group: Some(offer::operation::LaunchGroup {
            executor: executor_info(target, framework_id, group),
            task_group: TaskGroupInfo { tasks: infos },
        }),
        ..offer::Operation::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::Origin;
    use crate::testkit::{group_toml, spec};

    fn command_of(binaries: &Binaries) -> CommandInfo {
        let spec = spec(&group_toml("ingester", 1, 0.1, 64.0, &["http"], &[]));
        let target = Target::new(1, spec, binaries.clone(), Origin::Startup, 0);
        executor_info(&target, "fw-1", &target.spec.groups[0])
            .command
            .unwrap_or_default()
    }

    #[test]
    fn single_binaries_are_fetched_executable_under_their_own_names() {
        let command = command_of(&Binaries::Files {
            executor_uri: "https://dl/v1/exec".into(),
            worker_uri: "https://dl/v1/work".into(),
        });
        let fetched: Vec<_> = command
            .uris
            .iter()
            .map(|u| {
                (
                    u.value.as_str(),
                    u.output_file(),
                    u.executable(),
                    u.extract(),
                )
            })
            .collect();
        assert_eq!(
            fetched,
            vec![
                ("https://dl/v1/exec", "cartrack-executor", true, false),
                ("https://dl/v1/work", "cartrack-worker", true, false),
            ]
        );
        assert_eq!(command.value(), "./cartrack-executor");
    }

    #[test]
    fn a_release_tarball_is_one_uri_unpacked_into_the_sandbox() {
        let command = command_of(&Binaries::Release {
            uri: "https://dl/v1/cartrack-0.1.0-linux-x86_64.tar.gz".into(),
        });
        assert_eq!(command.uris.len(), 1);
        let uri = &command.uris[0];
        assert_eq!(
            uri.value,
            "https://dl/v1/cartrack-0.1.0-linux-x86_64.tar.gz"
        );
        assert!(uri.extract() && !uri.executable());
        assert_eq!(
            uri.output_file, None,
            "the fetcher names the archive itself"
        );
        assert_eq!(command.value(), "./cartrack-executor");
    }
}
