//! Adapter: the one place where the core's [`Effect`]s become the master's protobuf calls.

use mesos_proto::v1::scheduler::Call;

use super::effect::Effect;
use super::launch::launch_group;
use crate::mesos::calls;

/// What encoding needs besides the effect (a launch carries its config version).
#[derive(Debug, Clone, Default)]
pub struct Encoder {
    task_env: Vec<(String, String)>,
}

impl Encoder {
    /// An encoder adding nothing to the effects.
    pub fn new() -> Encoder {
        Encoder::default()
    }

    /// Every task also gets these environment variables (settings of the scheduler's, such as
    /// the workers' read token, kept out of the stored spec).
    pub fn with_task_env(mut self, task_env: Vec<(String, String)>) -> Encoder {
        self.task_env = task_env;
        self
    }

    /// The call that carries out `effect` for the framework `framework_id`.
    pub fn call(&self, effect: &Effect, framework_id: &str) -> Call {
        match effect {
            Effect::Launch(launch) => {
                let operations = launch
                    .pods
                    .iter()
                    .map(|pod| {
                        launch_group(&launch.target, &self.task_env, framework_id, launch, pod)
                    })
                    .collect();
                calls::accept(
                    framework_id,
                    &launch.offer_id,
                    operations,
                    launch.refuse_seconds,
                )
            }
            Effect::Decline {
                offer_ids,
                refuse_seconds,
            } => calls::decline(framework_id, offer_ids, *refuse_seconds),
            Effect::Kill { task_id, agent_id } => calls::kill(framework_id, task_id, agent_id),
            Effect::Acknowledge {
                agent_id,
                task_id,
                uuid,
            } => calls::acknowledge(framework_id, agent_id, task_id, uuid.clone()),
            Effect::Reconcile { tasks } => calls::reconcile(framework_id, tasks),
            Effect::Revive => calls::revive(framework_id),
            Effect::Suppress => calls::suppress(framework_id),
            Effect::Teardown => calls::teardown(framework_id),
        }
    }
}
