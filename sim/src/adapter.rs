//! The one seam between the scheduler core's effects, encoded by the scheduler's own
//! [`Encoder`](cartrack_framework::driver::Encoder), and the dev cluster core's input.
//! Everything that looks inside a call lives here.

use cartrack_devcluster::core::{CallError, Core as Cluster};
use cartrack_framework::driver::Launch;
use mesos_proto::v1::scheduler::{call, Call};
use mesos_proto::v1::{TaskInfo, TaskState, TaskStatus};
use std::time::Instant;

/// The pods a launch starts: (pod's first task id, slot, task ids).
pub(crate) fn launched_pods(launch: &Launch) -> Vec<(String, String, Vec<String>)> {
    launch
        .pods
        .iter()
        .filter_map(|pod| {
            let first = pod.task_ids.first()?;
            Some((
                first.clone(),
                pod.placement.slot.clone(),
                pod.task_ids.clone(),
            ))
        })
        .collect()
}

/// The tasks an ACCEPT launches, one entry per pod: (pod's first task id, slot, task ids).
pub(crate) fn accepted_pods(call: &Call) -> Vec<(String, String, Vec<String>)> {
    call.accept
        .iter()
        .flat_map(|a| a.operations.iter())
        .filter_map(|op| op.launch_group.as_ref())
        .filter_map(|lg| {
            let tasks = &lg.task_group.tasks;
            let first = tasks.first()?;
            let slot = slot_of(first)?;
            let ids = tasks.iter().map(|t| t.task_id.value.clone()).collect();
            Some((first.task_id.value.clone(), slot, ids))
        })
        .collect()
}

/// The slot a task belongs to, from the `CARTRACK_SLOT` the scheduler gives every task.
pub(crate) fn slot_of(task: &TaskInfo) -> Option<String> {
    task.command
        .as_ref()?
        .environment
        .as_ref()?
        .variables
        .iter()
        .find(|v| v.name == "CARTRACK_SLOT")
        .and_then(|v| v.value.clone())
}

/// Whether the call is an ACCEPT.
pub(crate) fn is_teardown(call: &Call) -> bool {
    call.r#type == Some(mesos_proto::v1::scheduler::call::Type::Teardown as i32)
}

pub(crate) fn is_accept(call: &Call) -> bool {
    call.r#type() == call::Type::Accept
}

/// A short description for the trace.
pub(crate) fn describe(call: &Call) -> String {
    let kind = call.r#type().as_str_name();
    if let Some(ack) = &call.acknowledge {
        return format!("{kind} {} {}", ack.task_id.value, short_uuid(&ack.uuid));
    }
    if is_accept(call) {
        let pods: Vec<String> = accepted_pods(call).into_iter().map(|p| p.1).collect();
        return format!("{kind} pods {pods:?}");
    }
    if let Some(kill) = &call.kill {
        return format!("{kind} {}", kill.task_id.value);
    }
    if let Some(r) = &call.reconcile {
        return format!("{kind} {} tasks", r.tasks.len());
    }
    kind.to_string()
}

/// The master takes a call on the stream `stream_id`: Mesos' checks, then the call itself.
/// `lose_ack`: an ACKNOWLEDGE is answered 202 but never reaches the agent.
pub(crate) fn deliver(
    cluster: &mut Cluster,
    stream_id: &str,
    call: Call,
    lose_ack: bool,
    now: Instant,
) -> Result<(), CallError> {
    let framework_id = cluster.check_call_stream(&call, Some(stream_id))?;
    if lose_ack && call.acknowledge.is_some() {
        return Ok(());
    }
    cluster.handle_call(&framework_id, call, now)
}

/// A status in a few words.
pub(crate) fn describe_status(status: &TaskStatus) -> String {
    let state = TaskState::try_from(status.state)
        .map(|s| s.as_str_name())
        .unwrap_or("?");
    match &status.uuid {
        Some(u) => format!("{} {state} {}", status.task_id.value, short_uuid(u)),
        None => format!("{} {state}", status.task_id.value),
    }
}

pub(crate) fn short_uuid(uuid: &[u8]) -> String {
    uuid.iter().take(3).map(|b| format!("{b:02x}")).collect()
}
