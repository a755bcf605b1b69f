//! The driver: kube's applier for Mesos, in two tasks.
//! - The loop owns the [`Core`]: inputs arrive on channels (stream events, operator
//!   requests, call outcomes, a 1 s tick), each is applied synchronously, and the resulting
//!   [`Ready`] goes to the sender's bounded queue. It never waits on the network or the
//!   disk, so the API answers while the master is slow.
//! - The sender ([`sender`]) carries each `Ready` out in order: persist, publish the
//!   framework id, confirm the fence, send the effects (encoded by [`encode`]). A failed
//!   commit stops the scheduler (exit, restart, reconcile) rather than letting it act on
//!   state it could not save.
//!
//! Pure: [`core`], [`input`], [`effect`]. Adapters: [`encode`], [`launch`], [`sender`] and
//! this loop.

mod core;
mod effect;
mod encode;
mod handle;
mod input;
mod launch;
mod sender;
#[cfg(test)]
mod tests;

use sender::{Backlog, Ended, Round};

use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::{mpsc, oneshot};

pub use self::core::{
    launch_backoff_ms, Core, CoreConfig, Counters, PodCounts, RecentOffer, RequestError,
    UninstallPhase, UninstallPlan, UninstallStep,
};
pub use effect::{Effect, Launch, PodLaunch, Ready};
pub use encode::Encoder;
pub use handle::{AskError, Handle, ANSWER_TIMEOUT};
pub use input::{Input, Request, Steer, TeardownOutcome};
pub use launch::{executor_info, scalars, Binaries};

use crate::ha::{Deposed, Fence};
use crate::mesos::{Caller, Session, StreamEvent};
use crate::planner::autoscale::LoadSample;
use crate::state::{Store, StoreError};

/// Most stream events applied before their changes are handed to the sender.
const MAX_EVENTS_PER_ROUND: usize = 512;

/// Rounds waiting for the sender. When they are all taken (a slow master or store), the
/// core keeps collecting into one `Ready`, so the queue's bound costs no input.
const ROUNDS_IN_FLIGHT: usize = 4;

/// Changes and effects that may wait (collected by the core, or saved and not yet sent)
/// before the loop stops taking the master's events, which make more of them. The master's
/// stream then waits in the subscription's channel and TCP (its heartbeat watch counts only
/// time spent waiting for bytes), and the agents resend unacknowledged updates; operator
/// requests, call outcomes and ticks are still taken.
const MAX_WAITING: usize = 4096;

/// The longest the loop waits for the sender to finish its queue when asked to stop.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Milliseconds since the epoch (the only clock of the scheduler; the core gets it passed).
pub use cartrack_runtime::clock::now_ms;

/// What a read sees besides the core.
#[derive(Debug, Clone)]
pub struct ReadContext {
    /// The leading master, if known.
    pub leader: Option<String>,
    /// The loop's clock.
    pub now_ms: u64,
}

/// A read of the operator API: run on the loop against the core, it answers on a channel of
/// its own. The API renders its views inside it, so the driver knows nothing of them.
pub type Read = Box<dyn FnOnce(&Core, &ReadContext) + Send>;

/// A request from the scheduler's other tasks: the operator API and the load sampler.
pub enum ApiRequest {
    /// A change: answered once saved, or refused with the reason.
    Write {
        /// What to change.
        request: Request,
        /// Answer.
        reply: oneshot::Sender<Result<(), RequestError>>,
    },
    /// `GET` anything: a consistent snapshot taken between two inputs.
    Read(Read),
    /// A group's load, measured: autoscaling decides on it; nothing is answered.
    Observe(LoadSample),
}

impl std::fmt::Debug for ApiRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiRequest::Read(_) => f.write_str("Read"),
            ApiRequest::Observe(sample) => f.debug_tuple("Observe").field(sample).finish(),
            ApiRequest::Write { request, .. } => f.debug_tuple("Write").field(request).finish(),
        }
    }
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
    /// The sender task died (a bug): stopping is all that is safe.
    #[error("the task sending calls to the master died: {0}")]
    Sender(String),
}

/// How the loop ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Asked to stop, or the subscription stopped: the framework stays registered.
    Shutdown,
    /// The uninstall finished: the framework is torn down and the state deleted. The process
    /// must not subscribe again (that would register a new framework).
    Uninstalled,
}

impl From<Ended> for Stopped {
    fn from(ended: Ended) -> Stopped {
        match ended {
            Ended::Closed => Stopped::Shutdown,
            Ended::Uninstalled => Stopped::Uninstalled,
        }
    }
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
    /// Where the time to turn one input into a decision is recorded.
    pub decisions: Histogram,
}

/// The histogram of decision times: 10 µs .. 1 s.
pub fn decision_histogram() -> Histogram {
    Histogram::new([
        0.00001, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0,
    ])
}

impl From<StreamEvent> for Input {
    fn from(event: StreamEvent) -> Input {
        match event {
            StreamEvent::Connected { leader } => Input::Connected { leader },
            StreamEvent::Disconnected { reason } => Input::Disconnected { reason },
            StreamEvent::Event(event) => Input::Event(event),
        }
    }
}

/// Runs the loop until the stream channel closes, `shutdown` resolves, or leadership is lost.
pub async fn run_loop<S: Store + 'static, C: Caller>(
    mut core: Core,
    store: S,
    caller: C,
    encoder: Encoder,
    channels: Channels,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<Stopped, DriverError> {
    let Channels {
        session,
        fence,
        mut stream,
        mut requests,
        decisions,
    } = channels;
    let (queue, queued) = mpsc::channel(ROUNDS_IN_FLIGHT);
    let (outcomes_tx, mut outcomes) = mpsc::channel(64);
    let backlog = Backlog::default();
    let mut sender = tokio::spawn(sender::run(
        store,
        caller,
        session.clone(),
        fence.clone(),
        encoder,
        outcomes_tx,
        queued,
        backlog.clone(),
    ));
    let mut taking_events = true;
    // Operator writes the core took, answered once the round holding them is saved.
    let mut saved = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    // Changes made while starting (spec, desired counts) are the sender's first round.
    let stop = loop {
        let pending = core.has_ready() || !saved.is_empty();
        let waiting = core.ready_len() + backlog.len();
        if taking_events != (waiting < MAX_WAITING) {
            taking_events = !taking_events;
            if taking_events {
                tracing::info!(waiting, "the master takes calls again: taking its events");
            } else {
                tracing::warn!(waiting, "{MAX_WAITING}+ changes and calls wait for a slow master or store: not taking the master's events until they are done");
            }
        }
        tokio::select! {
            () = &mut shutdown => break Stop::Shutdown,
            () = fence.lost() => break Stop::Deposed,
            ended = &mut sender => {
                // The sender only ends early on a failed commit, a lost fence, or once the
                // state is deleted at the end of an uninstall.
                return ended
                    .unwrap_or_else(|e| Err(DriverError::Sender(e.to_string())))
                    .map(Stopped::from);
            }
            Ok(permit) = queue.reserve(), if pending => permit.send(Round {
                ready: core.take_ready(),
                saved: std::mem::take(&mut saved),
            }),
            input = stream.recv(), if taking_events => {
                let Some(input) = input else {
                    // The subscription stopped: because this instance was deposed (an
                    // error, so the process exits 1 and restarts as a standby) or on shutdown.
                    break Stop::StreamClosed;
                };
                let started = Instant::now();
                apply(&mut core, input.into());
                // Events already waiting join this round: one commit and one fence check
                // for a burst of updates instead of one each (raft's batched Ready).
                let mut batched = 1;
                while batched < MAX_EVENTS_PER_ROUND {
                    let Ok(more) = stream.try_recv() else { break };
                    apply(&mut core, more.into());
                    batched += 1;
                }
                decisions.observe(started.elapsed().as_secs_f64());
            }
            Some(outcome) = outcomes.recv() => apply(&mut core, outcome),
            Some(request) = requests.recv() => answer(&mut core, request, &session, &mut saved),
            _ = tick.tick() => apply(&mut core, Input::Tick),
        }
    };
    match stop {
        Stop::Shutdown => {
            let _ = queue.try_send(Round {
                ready: core.take_ready(),
                saved,
            });
            drop(queue);
            // What is queued gets a moment to finish; an unsent round costs what a crash
            // costs (nothing unpersisted was acted on).
            match tokio::time::timeout(STOP_GRACE, &mut sender).await {
                Ok(Ok(result)) => result.map(Stopped::from),
                _ => {
                    sender.abort();
                    Ok(Stopped::Shutdown)
                }
            }
        }
        Stop::Deposed | Stop::StreamClosed => {
            if matches!(stop, Stop::Deposed) {
                tracing::error!("leadership lost: stopping without another call or write");
            }
            sender.abort();
            fence.confirm().await.map_err(DriverError::from)?;
            Ok(Stopped::Shutdown)
        }
    }
}

/// The answer to an operator write.
type Reply = oneshot::Sender<Result<(), RequestError>>;

/// Why the loop ended.
enum Stop {
    Shutdown,
    Deposed,
    StreamClosed,
}

/// Applies an input that cannot be refused (only operator requests can).
fn apply(core: &mut Core, input: Input) {
    if let Err(e) = core.apply(input, now_ms()) {
        tracing::warn!(error = %e, "input refused");
    }
}

fn answer(core: &mut Core, request: ApiRequest, session: &Session, saved: &mut Vec<Reply>) {
    // A dropped receiver means the HTTP client went away: nothing to do.
    let (request, reply) = match request {
        ApiRequest::Read(read) => {
            let context = ReadContext {
                leader: session.leader(),
                now_ms: now_ms(),
            };
            return read(core, &context);
        }
        ApiRequest::Write { request, reply } => (request, reply),
        ApiRequest::Observe(sample) => return apply(core, Input::Load(sample)),
    };
    // A write is answered once it is saved; a refusal changed nothing and is answered now.
    match core.apply(Input::Request(request), now_ms()) {
        Ok(()) => saved.push(reply),
        Err(e) => drop(reply.send(Err(e))),
    }
}
