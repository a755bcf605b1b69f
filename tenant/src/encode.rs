//! Effects as scheduler calls (pure): the framework crate's call builders, with this
//! framework's command tasks.

use cartrack_framework::driver::scalars;
use cartrack_framework::mesos::calls;
use cartrack_framework::resources::Scalars;
use mesos_proto::v1::scheduler::Call;
use mesos_proto::v1::{offer, AgentId, CommandInfo, TaskId, TaskInfo};

use crate::core::Effect;

/// Seconds the master keeps an offer's unused resources (and declined offers) from us: short,
/// so a rising demand finds offers again within a second, as a busy tenant would.
pub const REFUSE_SECONDS: f64 = 1.0;

/// What every task runs: a sleep that outlasts any run, since the demand rule ends tasks.
pub const TASK_COMMAND: &str = "sleep 100000000";

/// The call carrying `effect` out for framework `framework_id`; `None` for the effects that
/// are not calls ([`Effect::Finish`], [`Effect::Abort`]).
pub fn call(framework_id: &str, task: Scalars, effect: &Effect) -> Option<Call> {
    Some(match effect {
        Effect::Launch {
            offer_id,
            agent_id,
            role,
            task_ids,
        } => {
            let task_infos = task_ids
                .iter()
                .map(|id| TaskInfo {
                    name: id.clone(),
                    task_id: TaskId { value: id.clone() },
                    agent_id: AgentId {
                        value: agent_id.clone(),
                    },
                    resources: scalars(task, role),
                    command: Some(CommandInfo {
                        shell: Some(true),
                        value: Some(TASK_COMMAND.into()),
                        ..CommandInfo::default()
                    }),
                    ..TaskInfo::default()
                })
                .collect();
            let launch = offer::Operation {
                r#type: Some(offer::operation::Type::Launch as i32),
                launch: Some(offer::operation::Launch { task_infos }),
                ..offer::Operation::default()
            };
            calls::accept(framework_id, offer_id, vec![launch], REFUSE_SECONDS)
        }
        Effect::Decline(offer_ids) => calls::decline(framework_id, offer_ids, REFUSE_SECONDS),
        Effect::Kill { task_id, agent_id } => calls::kill(framework_id, task_id, agent_id),
        Effect::Acknowledge {
            agent_id,
            task_id,
            uuid,
        } => calls::acknowledge(framework_id, agent_id, task_id, uuid.clone()),
        Effect::Reconcile(tasks) => calls::reconcile(framework_id, tasks),
        Effect::Suppress => calls::suppress(framework_id),
        Effect::Revive => calls::revive(framework_id),
        Effect::Teardown => calls::teardown(framework_id),
        Effect::Finish | Effect::Abort(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::v1::scheduler::call;

    #[test]
    fn a_launch_is_an_accept_of_sleeping_command_tasks_in_the_offers_role() {
        let task = Scalars {
            cpus: 250,
            mem: 64_000,
            disk: 0,
        };
        let effect = Effect::Launch {
            offer_id: "o1".into(),
            agent_id: "a1".into(),
            role: "batch".into(),
            task_ids: vec!["t-1".into(), "t-2".into()],
        };
        let call = call("fw", task, &effect).expect("a call");
        assert_eq!(call.r#type, Some(call::Type::Accept as i32));
        let accept = call.accept.expect("accept");
        assert_eq!(accept.offer_ids[0].value, "o1");
        let ops = &accept.operations;
        let tasks = &ops[0].launch.as_ref().expect("launch").task_infos;
        assert_eq!(tasks.len(), 2);
        assert_eq!(tasks[1].task_id.value, "t-2");
        assert!(tasks[0].executor.is_none(), "a command task");
        let command = tasks[0].command.as_ref().expect("command");
        assert_eq!(command.value.as_deref(), Some(TASK_COMMAND));
        let cpus = tasks[0]
            .resources
            .iter()
            .find(|r| r.name == "cpus")
            .expect("cpus");
        assert_eq!(cpus.scalar.map(|s| s.value), Some(0.25));
        assert_eq!(
            cpus.allocation_info
                .as_ref()
                .and_then(|a| a.role.as_deref()),
            Some("batch")
        );
        assert!(super::call("fw", task, &Effect::Finish).is_none());
    }
}
