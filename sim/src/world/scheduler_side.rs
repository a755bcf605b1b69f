//! The scheduler's side of the harness: subscription, the driver's round (persist, then
//! send), calls reaching the master, crashes.

use cartrack_devcluster::core::error_event;
use cartrack_framework::driver::{Effect, Input};
use cartrack_framework::mesos::calls;
use cartrack_framework::records::StoredState;
use mesos_proto::v1::scheduler::Call;
use mesos_proto::v1::FrameworkInfo;
use rand::Rng;

use super::{short, Delivery, Ev, MasterStream, World};
use crate::adapter;
use crate::invariants::Violation;
use crate::queue::Fifo;
use crate::scheduler::{Feed, Link};

impl World {
    pub(super) fn subscribe(&mut self, run: u64) {
        if run != self.scheduler.incarnation
            || self.scheduler.core.is_none()
            || self.scheduler.link != Link::Down
        {
            return;
        }
        self.scheduler.link = Link::Subscribing;
        let info = calls::framework_info(
            &self.setup.framework,
            self.scheduler.framework_id.as_deref(),
        );
        self.note(format!(
            "scheduler run {run} sends SUBSCRIBE (id {:?})",
            self.scheduler.framework_id
        ));
        let latency = self.latency();
        let at = self.to_master.arrival(self.queue.now(), latency);
        self.queue.at(
            at,
            Ev::SubscribeArrives {
                run,
                info: Box::new(info),
            },
        );
    }

    pub(super) fn subscribe_arrives(&mut self, run: u64, info: FrameworkInfo) {
        if run != self.scheduler.incarnation || self.scheduler.core.is_none() {
            self.note(format!("SUBSCRIBE of gone run {run} dropped"));
            return;
        }
        if self.queue.now() < self.partitioned_until {
            self.note("SUBSCRIBE fails: scheduler partitioned".into());
            self.scheduler.link = Link::Down;
            let wait = self.rng.random_range(2_000..5_000);
            self.queue.after(wait, Ev::Subscribe { run });
            return;
        }
        match self.cluster.subscribe(info, self.instant()) {
            Ok(subscribed) => {
                self.connections += 1;
                let connection = self.connections;
                self.note(format!(
                    "master subscribes {} on stream {}",
                    subscribed.framework_id,
                    short(&subscribed.stream_id)
                ));
                self.streams.insert(
                    subscribed.framework_id.clone(),
                    MasterStream {
                        stream_id: subscribed.stream_id.clone(),
                        run,
                        connection,
                        fifo: Fifo::default(),
                    },
                );
                self.send_to_scheduler(
                    &subscribed.framework_id,
                    Delivery::Connected {
                        stream_id: subscribed.stream_id,
                    },
                );
                self.apply_effects();
            }
            Err(message) => {
                self.note(format!("master refuses SUBSCRIBE: {message}"));
                self.scheduler.link = Link::Down;
                // The master answers with an ERROR event on the stream before closing it.
                let now = self.now_ms();
                if let Some(core) = self.scheduler.core.as_mut() {
                    core.feed(Input::Event(Box::new(error_event(&message))), now);
                    // A refusal only ends an uninstall, which sends no call it could check.
                    let _ = self.execute(None);
                }
                let wait = self.rng.random_range(2_000..5_000);
                self.queue.after(wait, Ev::Subscribe { run });
            }
        }
    }

    /// Puts a message on the framework's current stream, in order.
    pub(super) fn send_to_scheduler(&mut self, framework_id: &str, what: Delivery) {
        let now = self.queue.now();
        let latency = self.latency();
        let Some(stream) = self.streams.get_mut(framework_id) else {
            return;
        };
        let at = stream.fifo.arrival(now, latency);
        let (run, connection) = (stream.run, stream.connection);
        self.queue.at(
            at,
            Ev::ToScheduler {
                run,
                connection,
                what,
            },
        );
    }

    pub(super) fn delivery_arrives(
        &mut self,
        run: u64,
        connection: u64,
        what: Delivery,
    ) -> Result<(), Violation> {
        let now = self.now_ms();
        let up = matches!(&self.scheduler.link, Link::Up { connection: c, .. } if *c == connection);
        let live = run == self.scheduler.incarnation && self.scheduler.core.is_some();
        match what {
            Delivery::Connected { stream_id }
                if live && self.scheduler.link == Link::Subscribing =>
            {
                self.note(format!(
                    "scheduler run {run}: stream {} open",
                    short(&stream_id)
                ));
                self.scheduler.link = Link::Up {
                    connection,
                    stream_id,
                };
                if let Some(core) = self.scheduler.core.as_mut() {
                    core.feed(
                        Input::Connected {
                            leader: "sim-master".into(),
                        },
                        now,
                    );
                }
                self.execute(None)
            }
            Delivery::Event(mut event) if live && up => {
                let mut delivered = None;
                match event.update.as_mut() {
                    Some(update) => {
                        let status = &mut update.status;
                        // Status timestamps are the dev cluster's wall clock: virtual time
                        // instead, so the scheduler's input is the same on every run.
                        status.timestamp = Some(now as f64 / 1000.0);
                        let text = adapter::describe_status(status);
                        if let Some(uuid) = status.uuid.clone().filter(|u| !u.is_empty()) {
                            delivered = Some((status.task_id.value.clone(), uuid));
                        }
                        self.note(format!("scheduler gets UPDATE {text}"));
                    }
                    None => self.note(format!("scheduler gets {}", event.r#type().as_str_name())),
                }
                if let Some(core) = self.scheduler.core.as_mut() {
                    core.feed(Input::Event(event), now);
                }
                self.execute(delivered)
            }
            Delivery::Disconnected(reason) if live && up => {
                self.note(format!("scheduler run {run}: stream lost ({reason})"));
                self.scheduler.link = Link::Down;
                if let Some(core) = self.scheduler.core.as_mut() {
                    core.feed(Input::Disconnected { reason }, now);
                }
                let wait = self.rng.random_range(1_000..3_000);
                self.queue.after(wait, Ev::Subscribe { run });
                self.execute(None)
            }
            _ => {
                self.note(format!(
                    "message to scheduler run {run} connection {connection} dropped (gone)"
                ));
                Ok(())
            }
        }
    }

    /// The driver's checklist for one round: persist, publish the framework id, send calls.
    /// `delivered`: the uuid update this round handled, which must be acknowledged once.
    pub(super) fn execute(
        &mut self,
        delivered: Option<(String, Vec<u8>)>,
    ) -> Result<(), Violation> {
        let Some(core) = self.scheduler.core.as_mut() else {
            return Ok(());
        };
        let ready = core.take_ready();
        if let Some((task_id, uuid)) = delivered {
            let acks = ready
                .effects
                .iter()
                .filter(|e| matches!(e, Effect::Acknowledge { uuid: u, .. } if *u == uuid))
                .count();
            if acks != 1 {
                return Err(Violation::Acknowledgements {
                    task_id,
                    uuid: adapter::short_uuid(&uuid),
                    acks,
                });
            }
        }
        if ready.is_empty() {
            return Ok(());
        }
        let cut = self.scheduler.crash_mid_round.take();
        if cut == Some(None) {
            self.note("scheduler crashes before persisting".into());
            self.crash_scheduler();
            return Ok(());
        }
        for change in &ready.changes {
            self.store.apply(change);
        }
        if ready.delete_state {
            // The persister deletes the state right after this commit and stops; the
            // process then serves only the finished plan.
            self.note("scheduler deletes its state: uninstalled".into());
            self.store = StoredState::default();
            self.uninstalled = true;
            self.scheduler.core = None;
            self.scheduler.link = Link::Down;
            return Ok(());
        }
        if let Some(id) = ready.framework_id {
            self.scheduler.framework_id = Some(id);
        }
        let sendable = cut.flatten().unwrap_or(usize::MAX);
        let framework_id = self.scheduler.framework_id.clone().unwrap_or_default();
        let mut sent = Vec::new();
        for effect in ready.effects.into_iter().take(sendable) {
            if let Effect::Launch(launch) = &effect {
                if let Some(id) = launch
                    .task_ids()
                    .find(|id| !self.store.tasks.contains_key(*id))
                {
                    return Err(Violation::LaunchIntentNotPersisted(id.to_string()));
                }
                self.pods.learn(adapter::launched_pods(launch));
            }
            sent.push(effect.to_string());
            let call = self.setup.encoder.call(&effect, &framework_id);
            self.send_call(call);
        }
        if !sent.is_empty() {
            self.note(format!("scheduler sends {}", sent.join(", ")));
        }
        if let Some(Some(n)) = cut {
            self.note(format!("scheduler crashes after persisting and {n} calls"));
            self.crash_scheduler();
        }
        Ok(())
    }

    pub(super) fn send_call(&mut self, call: Call) {
        let run = self.scheduler.incarnation;
        let Some(stream_id) = self.scheduler.stream_id().map(str::to_string) else {
            // The real caller refuses to send without a stream id (NotSubscribed).
            return;
        };
        if self.queue.now() < self.partitioned_until {
            if adapter::is_accept(&call) {
                let task_ids = accepted_ids(&call);
                let wait = self.rng.random_range(5_000..15_000);
                self.queue.after(wait, Ev::CallFailed { run, task_ids });
            }
            return;
        }
        let latency = self.latency();
        let at = self.to_master.arrival(self.queue.now(), latency);
        self.queue.at(
            at,
            Ev::CallArrives {
                run,
                stream_id,
                call: Box::new(call),
            },
        );
    }

    pub(super) fn call_arrives(&mut self, run: u64, stream_id: &str, call: Call) {
        let lose = call.acknowledge.is_some() && self.chance(self.noise.lose_ack);
        let desc = adapter::describe(&call);
        let teardown = adapter::is_teardown(&call);
        let failed = if adapter::is_accept(&call) {
            accepted_ids(&call)
        } else {
            Vec::new()
        };
        let now = self.instant();
        match adapter::deliver(&mut self.cluster, stream_id, call, lose, now) {
            Ok(()) if lose => {
                self.note(format!("master takes {desc}, the agent never hears of it"))
            }
            Ok(()) => {
                self.note(format!("master takes {desc}"));
                if teardown {
                    let latency = self.latency();
                    self.queue.after(latency, Ev::TeardownTaken { run });
                }
            }
            Err(e) => {
                self.note(format!("master refuses {desc}: {e}"));
                if !failed.is_empty() {
                    let latency = self.latency();
                    self.queue.after(
                        latency,
                        Ev::CallFailed {
                            run,
                            task_ids: failed,
                        },
                    );
                }
            }
        }
        self.apply_effects();
    }

    pub(super) fn crash_scheduler(&mut self) {
        let run = self.scheduler.incarnation;
        self.scheduler.core = None;
        self.scheduler.link = Link::Down;
        self.scheduler.crash_mid_round = None;
        if let Some(fid) = self.scheduler.framework_id.clone() {
            if let Some(stream) = self.streams.get(&fid).filter(|s| s.run == run) {
                let stream_id = stream.stream_id.clone();
                let latency = self.latency();
                self.queue.after(
                    latency,
                    Ev::StreamClosed {
                        framework_id: fid,
                        stream_id,
                    },
                );
            }
        }
        let wait = self.rng.random_range(500..8_000);
        self.queue.after(wait, Ev::SchedulerRestart);
    }
}

fn accepted_ids(call: &Call) -> Vec<String> {
    adapter::accepted_pods(call)
        .into_iter()
        .flat_map(|p| p.2)
        .collect()
}
