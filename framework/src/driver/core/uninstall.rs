//! Uninstall: the core taking its own service apart, in an order a crash can interrupt at any
//! point and a restart (with `SDK_UNINSTALL=true`) finishes:
//!
//! 1. `KillingTasks` is persisted; from then on nothing is launched, offers are declined and
//!    suppressed, and every live task is killed (re-sent until it ends).
//! 2. Once no task is left (each ended, or reconciliation said it is gone): unreserve what
//!    was reserved — nothing today, cartrack launches on unreserved resources only, so the
//!    step is empty and kept for when it does.
//! 3. `TearingDown` is persisted, then TEARDOWN sent (again every few seconds, and on every
//!    subscription, until the master took it). A master that answers a re-subscription with
//!    "Framework has been removed" counts as taken: the TEARDOWN got through before a crash.
//! 4. `Done`, and the shell deletes every stored record, the framework id last.
//!
//! A start in uninstall mode that finds no framework id never subscribes (the shell's
//! concern): the uninstall finished, or nothing was ever registered.
//!
//! Tasks the master cannot reach (UNREACHABLE, UNKNOWN) do not hold the uninstall up: a KILL
//! cannot reach them either, and after TEARDOWN the master kills them if their agent returns.

use serde::Serialize;

use super::Core;
use crate::driver::effect::Effect;
use crate::driver::input::TeardownOutcome;
use crate::records::{
    Change, KillIntent, TaskRecord, UninstallRecord, UninstallStage, UninstallStage::*,
};

/// Offers are refused this long while uninstalling: none will be used again.
const REFUSE_SECONDS: f64 = 3600.0;

/// TEARDOWN is sent again when it had no answer for this long.
const TEARDOWN_RESEND_MS: u64 = 10_000;

/// What a master's ERROR says when a framework id was torn down (Mesos and the dev cluster).
const REMOVED: &str = "has been removed";

/// The uninstall as a plan (`GET /v1/plans/deploy` while uninstalling), in the shape of
/// dcos-commons' uninstall plan: kill the tasks, unreserve, deregister.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UninstallPlan {
    /// Always `uninstall`.
    pub name: &'static str,
    /// `IN_PROGRESS` or `COMPLETE`.
    pub status: &'static str,
    /// When it was asked for (ms since the epoch).
    pub started_at_ms: u64,
    /// The phases, in order.
    pub phases: Vec<UninstallPhase>,
}

/// One phase of the [`UninstallPlan`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UninstallPhase {
    /// `kill-tasks`, `unreserve-resources`, `deregister-service`.
    pub name: &'static str,
    /// `PENDING`, `IN_PROGRESS` or `COMPLETE`.
    pub status: &'static str,
    /// Its steps; `kill-tasks` lists the tasks still to end.
    pub steps: Vec<UninstallStep>,
    /// Why it looks as it does, when that needs saying.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'static str>,
}

/// One step of an [`UninstallPhase`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UninstallStep {
    /// A task id, or `teardown` / `delete-state`.
    pub name: String,
    /// `PENDING`, `IN_PROGRESS` or `COMPLETE`.
    pub status: &'static str,
    /// The task's last state, for a task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'static str>,
}

impl UninstallPlan {
    /// The plan of an uninstall that is over: the state is deleted (also what a restart that
    /// found nothing shows). Only the shell knows that, so only it shows this plan.
    pub fn complete(started_at_ms: u64) -> UninstallPlan {
        plan(started_at_ms, Done, Vec::new(), false, true)
    }

    /// Whether it is over.
    pub fn is_complete(&self) -> bool {
        self.status == "COMPLETE"
    }
}

fn status(done: bool, started: bool) -> &'static str {
    match (done, started) {
        (true, _) => "COMPLETE",
        (false, true) => "IN_PROGRESS",
        (false, false) => "PENDING",
    }
}

fn plan(
    started_at_ms: u64,
    stage: UninstallStage,
    left: Vec<UninstallStep>,
    reconciling: bool,
    deleted: bool,
) -> UninstallPlan {
    let killed = stage != KillingTasks;
    let kill = UninstallPhase {
        name: "kill-tasks",
        status: status(killed, true),
        steps: left,
        message: (!killed && reconciling).then_some("waiting for reconciliation"),
    };
    let unreserve = UninstallPhase {
        name: "unreserve-resources",
        status: status(killed, false),
        steps: Vec::new(),
        message: Some("cartrack reserves no resources: nothing to unreserve"),
    };
    let step = |name: &str, done: bool, started: bool| UninstallStep {
        name: name.to_string(),
        status: status(done, started),
        state: None,
    };
    let deregister = UninstallPhase {
        name: "deregister-service",
        status: status(deleted, killed),
        steps: vec![
            step("teardown", stage == Done, killed),
            step("delete-state", deleted, stage == Done),
        ],
        message: None,
    };
    UninstallPlan {
        name: "uninstall",
        status: status(deleted, true),
        started_at_ms,
        phases: vec![kill, unreserve, deregister],
    }
}

/// A task the uninstall waits for: one the master may still run and can reach.
fn must_end(task: &TaskRecord) -> bool {
    !task.state.is_terminal() && !task.state.is_out_of_reach()
}

impl Core {
    /// Whether an uninstall started (it never stops but by deleting the state).
    pub fn uninstalling(&self) -> bool {
        self.state.uninstall.is_some()
    }

    /// The uninstall's plan, if one started; never complete, as the core cannot see the
    /// state deleted (the scheduler shows [`UninstallPlan::complete`] once it is).
    pub fn uninstall_plan(&self) -> Option<UninstallPlan> {
        let record = self.state.uninstall?;
        let left = if record.stage == KillingTasks {
            self.state
                .tasks
                .values()
                .filter(|t| must_end(t))
                .map(|t| UninstallStep {
                    name: t.task_id.clone(),
                    status: if t.last_kill_sent_ms.is_some() {
                        "IN_PROGRESS"
                    } else {
                        "PENDING"
                    },
                    state: Some(t.state.name()),
                })
                .collect()
        } else {
            Vec::new()
        };
        Some(plan(
            record.started_at_ms,
            record.stage,
            left,
            !self.reconciliation.waiting.is_empty(),
            false,
        ))
    }

    /// `Request::Uninstall`: starts it (asking again changes nothing, but for finishing the
    /// deletion of a state a crash interrupted).
    pub(super) fn start_uninstall(&mut self, now_ms: u64) {
        if let Some(record) = self.state.uninstall {
            if record.stage == Done {
                self.ready.delete_state = true;
            }
            return;
        }
        tracing::warn!("uninstalling: every task is killed, then the framework torn down and its state deleted; this cannot be undone");
        self.set_uninstall(UninstallRecord {
            started_at_ms: now_ms,
            stage: KillingTasks,
            teardown_sent_ms: None,
        });
        if self.state.framework_id.is_none() {
            // Never registered: nothing runs and there is nothing to tear down.
            self.finish_uninstall();
            return;
        }
        if self.subscribed {
            self.effect(Effect::Suppress);
            self.counters.suppressions += 1;
        }
        self.plan_now(&[], now_ms);
    }

    /// What `plan_now` does instead of planning while uninstalling (subscribed, with a
    /// framework id).
    pub(super) fn uninstall_step(&mut self, offers: &[mesos_proto::v1::Offer], now_ms: u64) {
        let Some(record) = self.state.uninstall else {
            return;
        };
        if !offers.is_empty() && record.stage != Done {
            self.counters.offers_declined += offers.len() as u64;
            self.effect(Effect::Decline {
                offer_ids: offers.iter().map(|o| o.id.value.clone()).collect(),
                refuse_seconds: REFUSE_SECONDS,
            });
            self.effect(Effect::Suppress);
            self.counters.suppressions += 1;
        }
        match record.stage {
            KillingTasks => {
                self.kill_every_task(now_ms);
                let left = self.state.tasks.values().any(must_end);
                if left || !self.reconciliation.waiting.is_empty() {
                    return;
                }
                self.unreserve();
                tracing::info!("no task left: tearing the framework down");
                self.send_teardown(record, now_ms);
            }
            TearingDown => {
                let due = record
                    .teardown_sent_ms
                    .is_none_or(|sent| now_ms.saturating_sub(sent) >= TEARDOWN_RESEND_MS);
                if due {
                    self.send_teardown(record, now_ms);
                }
            }
            Done => {}
        }
    }

    /// How the TEARDOWN went.
    pub(super) fn on_teardown(&mut self, outcome: TeardownOutcome) {
        match outcome {
            TeardownOutcome::Done => {
                if self.state.uninstall.is_some_and(|r| r.stage == TearingDown) {
                    tracing::info!("framework torn down: deleting the state");
                    self.finish_uninstall();
                }
            }
            TeardownOutcome::Failed { reason } => {
                tracing::warn!(%reason, "TEARDOWN failed: sending it again shortly");
            }
        }
    }

    /// A master ERROR: while uninstalling, "removed" means the framework is gone already (a
    /// TEARDOWN that got through before a crash, or an expired failover timeout), so its
    /// tasks are too.
    pub(super) fn on_master_error(&mut self, message: &str) {
        if self.state.uninstall.is_some() && message.contains(REMOVED) {
            tracing::info!(%message, "the master removed the framework already: deleting the state");
            self.finish_uninstall();
        }
    }

    /// Kills every task the master may still run, once now and again every
    /// `kill_resend_ms` until it ends.
    fn kill_every_task(&mut self, now_ms: u64) {
        let resend = self.config.planner.kill_resend_ms;
        let due: Vec<TaskRecord> = self
            .state
            .tasks
            .values()
            .filter(|t| must_end(t))
            .filter(|t| {
                t.last_kill_sent_ms
                    .is_none_or(|sent| now_ms.saturating_sub(sent) >= resend)
            })
            .cloned()
            .collect();
        for mut task in due {
            tracing::info!(task = %task.task_id, "uninstall: killing");
            task.kill = Some(KillIntent::Uninstall);
            task.last_kill_sent_ms = Some(now_ms);
            let kill = Effect::Kill {
                task_id: task.task_id.clone(),
                agent_id: task.agent_id.clone(),
            };
            self.put_task(task);
            self.effect(kill);
            self.counters.kills_sent += 1;
        }
    }

    /// Releases what the service reserved. cartrack reserves nothing (no dynamic
    /// reservations, no persistent volumes), so there is nothing to release; a service that
    /// reserves would UNRESERVE (and DESTROY volumes) from the offers here, and wait for them
    /// before tearing down.
    fn unreserve(&mut self) {
        tracing::debug!("nothing reserved: nothing to unreserve");
    }

    fn send_teardown(&mut self, record: UninstallRecord, now_ms: u64) {
        // Persisted before it is sent, so a restart knows it may have happened.
        self.set_uninstall(UninstallRecord {
            stage: TearingDown,
            teardown_sent_ms: Some(now_ms),
            ..record
        });
        self.effect(Effect::Teardown);
    }

    fn finish_uninstall(&mut self) {
        if let Some(record) = self.state.uninstall {
            self.set_uninstall(UninstallRecord {
                stage: Done,
                ..record
            });
        }
        self.ready.delete_state = true;
    }

    fn set_uninstall(&mut self, record: UninstallRecord) {
        self.change(Change::Uninstall(record));
    }
}
