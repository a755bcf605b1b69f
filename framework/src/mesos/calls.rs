//! Builders of scheduler [`Call`]s: one function per call type, pure.

use mesos_proto::v1::scheduler::{call, Call};
use mesos_proto::v1::{
    framework_info, offer, AgentId, Filters, FrameworkId, FrameworkInfo, OfferId, TaskId,
};

fn base(framework_id: Option<&str>, kind: call::Type) -> Call {
    Call {
        framework_id: framework_id.map(|id| FrameworkId {
            value: id.to_string(),
        }),
        r#type: Some(kind as i32),
        ..Call::default()
    }
}

/// What goes into `FrameworkInfo`.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameworkSettings {
    /// Unix user for executors and tasks.
    pub user: String,
    /// Framework name.
    pub name: String,
    /// Roles (MULTI_ROLE).
    pub roles: Vec<String>,
    /// Principal, if authenticating.
    pub principal: Option<String>,
    /// Seconds the master keeps our tasks while we are away.
    pub failover_timeout_seconds: f64,
    /// Link shown in the Mesos UI.
    pub webui_url: Option<String>,
}

/// The FrameworkInfo: checkpointing on, MULTI_ROLE with `roles`, TASK_KILLING_STATE,
/// PARTITION_AWARE (a silent agent's tasks become UNREACHABLE, not LOST, and may come back),
/// a long failover timeout (0 would kill every task on the first disconnect).
pub fn framework_info(settings: &FrameworkSettings, id: Option<&str>) -> FrameworkInfo {
    let capability = |t: framework_info::capability::Type| framework_info::Capability {
        r#type: Some(t as i32),
    };
    FrameworkInfo {
        user: settings.user.clone(),
        name: settings.name.clone(),
        id: id.map(|id| FrameworkId {
            value: id.to_string(),
        }),
        failover_timeout: Some(settings.failover_timeout_seconds),
        checkpoint: Some(true),
        roles: settings.roles.clone(),
        principal: settings.principal.clone(),
        webui_url: settings.webui_url.clone(),
        capabilities: vec![
            capability(framework_info::capability::Type::MultiRole),
            capability(framework_info::capability::Type::TaskKillingState),
            capability(framework_info::capability::Type::PartitionAware),
        ],
        ..FrameworkInfo::default()
    }
}

/// SUBSCRIBE (with the framework id inside `framework_info` when resuming).
pub fn subscribe(info: FrameworkInfo) -> Call {
    let id = info.id.as_ref().map(|i| i.value.clone());
    Call {
        subscribe: Some(call::Subscribe {
            framework_info: info,
            suppressed_roles: Vec::new(),
        }),
        ..base(id.as_deref(), call::Type::Subscribe)
    }
}

/// ACCEPT `offer_id` with operations; unused resources are filtered for `refuse_seconds`.
pub fn accept(
    framework_id: &str,
    offer_id: &str,
    operations: Vec<offer::Operation>,
    refuse_seconds: f64,
) -> Call {
    Call {
        accept: Some(call::Accept {
            offer_ids: vec![OfferId {
                value: offer_id.to_string(),
            }],
            operations,
            filters: Some(Filters {
                refuse_seconds: Some(refuse_seconds),
            }),
        }),
        ..base(Some(framework_id), call::Type::Accept)
    }
}

/// DECLINE offers with a filter.
pub fn decline(framework_id: &str, offer_ids: &[String], refuse_seconds: f64) -> Call {
    Call {
        decline: Some(call::Decline {
            offer_ids: offer_ids
                .iter()
                .map(|id| OfferId { value: id.clone() })
                .collect(),
            filters: Some(Filters {
                refuse_seconds: Some(refuse_seconds),
            }),
        }),
        ..base(Some(framework_id), call::Type::Decline)
    }
}

/// KILL one task.
pub fn kill(framework_id: &str, task_id: &str, agent_id: &str) -> Call {
    Call {
        kill: Some(call::Kill {
            task_id: TaskId {
                value: task_id.to_string(),
            },
            agent_id: Some(AgentId {
                value: agent_id.to_string(),
            }),
            kill_policy: None,
        }),
        ..base(Some(framework_id), call::Type::Kill)
    }
}

/// ACKNOWLEDGE an update that carried a uuid.
pub fn acknowledge(framework_id: &str, agent_id: &str, task_id: &str, uuid: Vec<u8>) -> Call {
    Call {
        acknowledge: Some(call::Acknowledge {
            agent_id: AgentId {
                value: agent_id.to_string(),
            },
            task_id: TaskId {
                value: task_id.to_string(),
            },
            uuid,
        }),
        ..base(Some(framework_id), call::Type::Acknowledge)
    }
}

/// RECONCILE: explicit for the given (task, agent) pairs, implicit when empty.
pub fn reconcile(framework_id: &str, tasks: &[(String, String)]) -> Call {
    Call {
        reconcile: Some(call::Reconcile {
            tasks: tasks
                .iter()
                .map(|(task, agent)| call::reconcile::Task {
                    task_id: TaskId {
                        value: task.clone(),
                    },
                    agent_id: (!agent.is_empty()).then(|| AgentId {
                        value: agent.clone(),
                    }),
                })
                .collect(),
        }),
        ..base(Some(framework_id), call::Type::Reconcile)
    }
}

/// REVIVE all our roles (clears every offer filter).
pub fn revive(framework_id: &str) -> Call {
    Call {
        revive: Some(call::Revive { roles: Vec::new() }),
        ..base(Some(framework_id), call::Type::Revive)
    }
}

/// SUPPRESS offers for all our roles.
pub fn suppress(framework_id: &str) -> Call {
    Call {
        suppress: Some(call::Suppress { roles: Vec::new() }),
        ..base(Some(framework_id), call::Type::Suppress)
    }
}

/// TEARDOWN: the master kills every task and executor of the framework and forgets it; the
/// framework id can never subscribe again.
pub fn teardown(framework_id: &str) -> Call {
    base(Some(framework_id), call::Type::Teardown)
}

/// The call type's Mesos name, for logs and metrics.
pub fn type_name(call: &Call) -> &'static str {
    call.r#type
        .and_then(|t| call::Type::try_from(t).ok())
        .map_or("UNKNOWN", |t| t.as_str_name())
}
