//! The driver: kube's applier for Mesos. One task owns the [`Core`]; inputs arrive on
//! channels (stream events, operator requests, a 1 s tick), each is applied synchronously,
//! and the resulting [`Ready`] is executed in order: persist, publish the framework id, send
//! calls. A failed commit stops the scheduler (exit, restart, reconcile) rather than letting
//! it act on state it could not save.

mod core;
mod launch;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mesos_proto::v1::scheduler::{call, Call};
use tokio::sync::{mpsc, oneshot};

pub use self::core::{
    launch_backoff_ms, Core, CoreConfig, Counters, Ready, RecentOffer, RequestError,
};
pub use launch::{executor_info, launch_pod, Binaries};

use crate::api::{self, metrics::Histogram};
use crate::failpoint::crash_point;
use crate::ha::{Deposed, Fence};
use crate::mesos::{calls, CallError, Caller, Session, StreamEvent};
use crate::state::{Store, StoreError};

/// Most stream events applied before their changes are persisted and their calls sent.
const MAX_EVENTS_PER_ROUND: usize = 512;

/// Milliseconds since the epoch (the only clock of the scheduler; the core gets it passed).
pub use cartrack_runtime::clock::now_ms;

/// A request from the operator API, answered on its oneshot.
#[derive(Debug)]
pub enum ApiRequest {
    /// `GET /v1/health`.
    Health(oneshot::Sender<api::views::HealthView>),
    /// `GET /v1/state`.
    State(oneshot::Sender<api::views::StateView>),
    /// `GET /v1/plan`.
    Plan(oneshot::Sender<crate::planner::PlanView>),
    /// `GET /v1/debug/offers`.
    DebugOffers(oneshot::Sender<api::views::DebugOffersView>),
    /// `GET /metrics`.
    Metrics(oneshot::Sender<String>),
    /// `PUT /v1/groups/{group}/count`.
    SetCount {
        /// Group.
        group: String,
        /// New count.
        count: u32,
        /// Answer.
        reply: oneshot::Sender<Result<(), RequestError>>,
    },
    /// `POST /v1/pods/{slot}/restart|replace`.
    Restart {
        /// Slot.
        slot: String,
        /// Anywhere (`replace`) or same agent (`restart`).
        replace: bool,
        /// Answer.
        reply: oneshot::Sender<Result<(), RequestError>>,
    },
}

/// Why the driver stopped.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The store refused a commit: the scheduler must stop (restart resumes from the last
    /// good state and reconciles).
    #[error("cannot persist state: {0}")]
    Store(#[from] StoreError),
    /// Another instance leads now: this one must stop without another call or write.
    #[error(transparent)]
    Deposed(#[from] Deposed),
}

/// What the loop listens to and shares besides the core, store and caller.
#[derive(Debug)]
pub struct Channels {
    /// Leader and stream id, shared with the subscription and the caller.
    pub session: Arc<Session>,
    /// The right to act, confirmed before every batch of calls.
    pub fence: Fence,
    /// Events from the subscription.
    pub stream: mpsc::Receiver<StreamEvent>,
    /// Operator API requests.
    pub requests: mpsc::Receiver<ApiRequest>,
}

fn accepted_task_ids(call: &Call) -> Vec<String> {
    call.accept
        .iter()
        .flat_map(|a| a.operations.iter())
        .filter_map(|op| op.launch_group.as_ref())
        .flat_map(|lg| lg.task_group.tasks.iter().map(|t| t.task_id.value.clone()))
        .collect()
}

/// Runs the loop until the stream channel closes, `shutdown` resolves, or leadership is lost.
pub async fn run_loop<S: Store, C: Caller>(
    mut core: Core,
    mut store: S,
    caller: C,
    channels: Channels,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), DriverError> {
    let Channels {
        session,
        fence,
        mut stream,
        mut requests,
    } = channels;
    let shell = Shell {
        caller: &caller,
        session: &session,
        fence: &fence,
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut decisions = Histogram::decision_seconds();
    tokio::pin!(shutdown);
    // Changes made while starting (spec, desired counts) are persisted before anything else.
    execute(&mut core, &mut store, &shell).await?;
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            () = fence.lost() => {
                tracing::error!("leadership lost: stopping without another call or write");
                return fence.confirm().await.map_err(DriverError::from);
            }
            input = stream.recv() => {
                let Some(input) = input else {
                    // The subscription stopped: because this instance was deposed (an
                    // error, so the process exits 1 and restarts as a standby) or on shutdown.
                    return fence.confirm().await.map_err(DriverError::from);
                };
                let started = Instant::now();
                core.on_stream(input, now_ms());
                // Events already waiting join this round: one commit and one fence check
                // for a burst of updates instead of one each (raft's batched Ready).
                let mut batched = 1;
                while batched < MAX_EVENTS_PER_ROUND {
                    let Ok(more) = stream.try_recv() else { break };
                    core.on_stream(more, now_ms());
                    batched += 1;
                }
                decisions.observe(started.elapsed().as_secs_f64());
            }
            Some(request) = requests.recv() => answer(&mut core, request, &decisions, &session),
            _ = tick.tick() => core.on_tick(now_ms()),
        }
        execute(&mut core, &mut store, &shell).await?;
    }
}

fn answer(core: &mut Core, request: ApiRequest, decisions: &Histogram, session: &Session) {
    // A dropped receiver means the HTTP client went away: nothing to do.
    match request {
        ApiRequest::Health(reply) => drop(reply.send(api::views::health(core, session.leader()))),
        ApiRequest::State(reply) => drop(reply.send(api::views::state(core))),
        ApiRequest::Plan(reply) => drop(reply.send(api::views::plan(core, now_ms()))),
        ApiRequest::DebugOffers(reply) => {
            drop(reply.send(api::views::debug_offers(core, now_ms())))
        }
        ApiRequest::Metrics(reply) => drop(reply.send(api::metrics::render(core, decisions))),
        ApiRequest::SetCount {
            group,
            count,
            reply,
        } => drop(reply.send(core.set_count(&group, count, now_ms()))),
        ApiRequest::Restart {
            slot,
            replace,
            reply,
        } => drop(reply.send(core.restart(&slot, replace, now_ms()))),
    }
}

/// The effects `execute` needs besides the store.
struct Shell<'a, C> {
    caller: &'a C,
    session: &'a Session,
    fence: &'a Fence,
}

async fn execute<S: Store, C: Caller>(
    core: &mut Core,
    store: &mut S,
    shell: &Shell<'_, C>,
) -> Result<(), DriverError> {
    let Shell {
        caller,
        session,
        fence,
    } = *shell;
    let ready = core.take_ready();
    if ready.is_empty() {
        return Ok(());
    }
    store.commit(&ready.changes).await?;
    if let Some(id) = ready.framework_id {
        session.set_framework_id(id);
    }
    if !ready.calls.is_empty() {
        fence.confirm().await?;
    }
    for call in ready.calls {
        let name = calls::type_name(&call);
        let is_accept = call.r#type == Some(call::Type::Accept as i32);
        let launched = if is_accept {
            crash_point("crash-before-accept");
            accepted_task_ids(&call)
        } else {
            Vec::new()
        };
        // Every delivery is acknowledged, a re-sent one too: the agent re-sends an update
        // only while it has no acknowledgement, even when the master took ours (the agent
        // may have died before checkpointing it).
        if call.acknowledge.is_some() {
            crash_point("crash-before-acknowledge");
        }
        match caller.call(call).await {
            Ok(()) => {
                tracing::debug!(call = name, "sent");
                if is_accept {
                    crash_point("crash-after-accept");
                }
            }
            Err(CallError::NotSubscribed) => {
                tracing::debug!(call = name, "not sent: not subscribed")
            }
            Err(e) => {
                tracing::warn!(call = name, error = %e, "call failed");
                if is_accept {
                    core.reconcile_tasks(launched, now_ms());
                }
            }
        }
    }
    Ok(())
}
