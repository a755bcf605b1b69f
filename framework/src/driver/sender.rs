//! Adapter: the two tasks between the core and the world, so the loop never waits on the
//! network or the disk.
//! - The persister takes the core's [`Ready`]s in order from a bounded queue: it commits the
//!   changes, publishes the framework id, answers the operator writes the round carries (a
//!   200 means saved), and passes the effects on.
//! - The sender confirms the fence and sends the effects in order, reporting failed
//!   ACCEPTs back to the loop as [`Input`]s.
//!
//! A slow master holds up only the sender: the persister keeps saving (and answering writes)
//! and collects the effects that wait, so nothing is acted on before it is saved and nothing
//! saved is dropped. The effects waiting are counted ([`Backlog`]) so the loop can stop taking
//! the master's events, which make more of them, until the sender catches up.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use cartrack_runtime::task::AbortOnDrop;
use tokio::sync::mpsc;

use super::effect::{Effect, Ready};
use super::encode::Encoder;
use super::input::{Input, TeardownOutcome};
use super::DriverError;
use crate::failpoint::crash_point;
use crate::ha::Fence;
use crate::mesos::{CallError, Caller, Session};
use crate::state::Store;

/// What the loop hands over: the core's `Ready` and the operator writes answered once it is
/// saved.
#[derive(Debug, Default)]
pub(crate) struct Round {
    pub(crate) ready: Ready,
    pub(crate) saved: Vec<super::Reply>,
}

/// Batches of saved effects waiting for the sender.
const BATCHES_IN_FLIGHT: usize = 4;

/// Effects saved and not yet sent (or given up on); cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct Backlog(Arc<AtomicUsize>);

impl Backlog {
    /// How many wait.
    pub(crate) fn len(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self, count: usize) {
        self.0.fetch_add(count, Ordering::Relaxed);
    }

    fn done(&self, count: usize) {
        self.0.fetch_sub(count, Ordering::Relaxed);
    }
}

/// How the persister and the sender ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The loop closed its queue.
    Closed,
    /// A round asked for the state to be deleted, and it was: the uninstall is over, and
    /// nothing is persisted after it.
    Uninstalled,
}

/// Runs the persister and the sender until the loop closes its queue (then the effects
/// already saved are still sent), the state is deleted at the end of an uninstall, or one of
/// them fails: a failed commit or a lost fence ends both with the error, since the scheduler
/// must not act on what it could not save, nor act after another instance took over.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run<S: Store, C: Caller>(
    mut store: S,
    caller: C,
    session: Arc<Session>,
    fence: Fence,
    encoder: Encoder,
    outcomes: mpsc::Sender<Input>,
    mut rounds: mpsc::Receiver<Round>,
    backlog: Backlog,
) -> Result<Ended, DriverError> {
    let (batches, queued) = mpsc::channel(BATCHES_IN_FLIGHT);
    // However the persister ends (an error, or the loop aborting it when deposed), the sender
    // ends with it: no call may go out after that.
    let mut sending = AbortOnDrop::spawn(
        Sender {
            caller,
            session: session.clone(),
            fence,
            encoder,
            outcomes,
            backlog: backlog.clone(),
        }
        .run(queued),
    );
    let mut waiting: Vec<Effect> = Vec::new();
    let mut open = true;
    let mut ended = Ended::Closed;
    loop {
        tokio::select! {
            round = rounds.recv(), if open => match round {
                Some(round) => {
                    store.commit(&round.ready.changes).await?;
                    if let Some(id) = round.ready.framework_id {
                        session.set_framework_id(id);
                    }
                    for reply in round.saved {
                        let _ = reply.send(Ok(()));
                    }
                    backlog.add(round.ready.effects.len());
                    waiting.extend(round.ready.effects);
                    if round.ready.delete_state {
                        store.clear().await?;
                        tracing::info!("uninstall complete: the stored state is deleted");
                        ended = Ended::Uninstalled;
                        open = false;
                    }
                }
                None => open = false,
            },
            Ok(permit) = batches.reserve(), if !waiting.is_empty() => {
                permit.send(std::mem::take(&mut waiting));
            }
            done = &mut sending => return joined(done).map(|()| ended),
        }
        if !open && waiting.is_empty() {
            drop(batches);
            return joined((&mut sending).await).map(|()| ended);
        }
    }
}

fn joined(
    ended: Result<Result<(), DriverError>, tokio::task::JoinError>,
) -> Result<(), DriverError> {
    ended.unwrap_or_else(|e| Err(DriverError::Sender(e.to_string())))
}

/// The one task that talks to the master.
struct Sender<C> {
    caller: C,
    session: Arc<Session>,
    fence: Fence,
    encoder: Encoder,
    /// Outcomes the core must hear about.
    outcomes: mpsc::Sender<Input>,
    /// Counted down as each effect is done with.
    backlog: Backlog,
}

impl<C: Caller> Sender<C> {
    async fn run(mut self, mut batches: mpsc::Receiver<Vec<Effect>>) -> Result<(), DriverError> {
        while let Some(effects) = batches.recv().await {
            self.fence.confirm().await?;
            let Some(framework_id) = self.session.framework_id() else {
                // The core acts only once it has a framework id, published before its
                // effects were passed on.
                tracing::warn!(effects = effects.len(), "no framework id: effects not sent");
                self.backlog.done(effects.len());
                continue;
            };
            for effect in effects {
                self.send(effect, &framework_id).await;
                self.backlog.done(1);
            }
        }
        Ok(())
    }

    async fn send(&mut self, effect: Effect, framework_id: &str) {
        let name = effect.call_name();
        match &effect {
            Effect::Launch(_) => crash_point("crash-before-accept"),
            // Every delivery is acknowledged, a re-sent one too: the agent re-sends an
            // update only while it has no acknowledgement, even when the master took ours
            // (the agent may have died before checkpointing it).
            Effect::Acknowledge { .. } => crash_point("crash-before-acknowledge"),
            _ => {}
        }
        let call = self.encoder.call(&effect, framework_id);
        let sent = self.caller.call(call).await;
        match &effect {
            Effect::Kill { .. } => crash_point("crash-after-kill"),
            Effect::Teardown => crash_point("crash-after-teardown"),
            _ => {}
        }
        if matches!(effect, Effect::Teardown) {
            let outcome = match &sent {
                Ok(()) => TeardownOutcome::Done,
                Err(e) => TeardownOutcome::Failed {
                    reason: e.to_string(),
                },
            };
            // As for a failed ACCEPT below: the loop drains outcomes, so this ends.
            let _ = self.outcomes.send(Input::Teardown(outcome)).await;
        }
        match sent {
            Ok(()) => {
                tracing::debug!(call = name, "sent");
                if matches!(effect, Effect::Launch(_)) {
                    crash_point("crash-after-accept");
                }
            }
            Err(CallError::NotSubscribed) => {
                tracing::debug!(call = name, "not sent: not subscribed")
            }
            Err(e) => {
                tracing::warn!(call = name, error = %e, "call failed");
                if let Effect::Launch(launch) = effect {
                    let task_ids = launch.task_ids().map(String::from).collect();
                    // The loop drains outcomes and never waits on this task, so this
                    // wait ends; a closed loop means the driver is stopping.
                    let _ = self.outcomes.send(Input::CallFailed { task_ids }).await;
                }
            }
        }
    }
}
