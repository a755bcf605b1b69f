//! The SUBSCRIBE stream: connect to a master (following 307 to the leader, waiting out 503),
//! decode RecordIO events, watch heartbeats (no event for 5 x interval = dead connection),
//! and reconnect with capped exponential backoff and jitter, re-subscribing with the stored
//! framework id. A new leader is followed at once: the masters of a list are tried in turn
//! without a pause; while a live master answers but no leader takes the SUBSCRIBE (a 503
//! during an election, or a 307 to a leader that is gone) the next round comes within a
//! second; and a leader named by ZooKeeper ends any pending backoff. Events go to the driver over a channel, in order. Every SUBSCRIBE carries
//! the [`Authenticator`]'s header; a 401 is a configuration error: one fresh login for a
//! service account, then an error naming the flags and a long backoff (10 s doubling to
//! 5 min), never a tight loop.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures::StreamExt;
use mesos_proto::http::STREAM_ID_HEADER;
use mesos_proto::recordio::MessageCodec;
use mesos_proto::v1::scheduler::{event, Event};
use prost::Message;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::codec::Decoder;

use super::calls::{self, FrameworkSettings};
use super::request::{post, PostError, Reply};
use super::{backoff, Backoff, Disposition, Masters, Session};
use crate::auth::Authenticator;
use crate::ha::Fence;
use crate::tls::Trust;

/// What the driver hears from the subscription.
#[derive(Debug, Clone)]
pub enum StreamEvent {
    /// A SUBSCRIBE was answered 200 by `leader`; events follow.
    Connected {
        /// The master that answered.
        leader: String,
    },
    /// One event of the stream.
    Event(Box<Event>),
    /// The stream ended; a new SUBSCRIBE follows after a backoff.
    Disconnected {
        /// Why.
        reason: String,
    },
}

/// How to subscribe.
#[derive(Debug, Clone)]
pub struct SubscribeConfig {
    /// Where the leading master is found.
    pub masters: Masters,
    /// Checked before every SUBSCRIBE: a deposed instance must not take the framework back.
    pub fence: Fence,
    /// FrameworkInfo contents (the id comes from the session).
    pub framework: FrameworkSettings,
    /// Heartbeat interval assumed until SUBSCRIBED says otherwise.
    pub default_heartbeat: Duration,
    /// Missed heartbeats before the connection is declared dead.
    pub missed_heartbeats: u32,
    /// The CAs trusted on `https://` masters.
    pub trust: Trust,
}

/// Starts the subscription loop; it runs until the receiver is dropped or the handle aborted.
pub fn spawn_subscription(
    config: SubscribeConfig,
    session: Arc<Session>,
    auth: Authenticator,
    events: mpsc::Sender<StreamEvent>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut masters = config.masters.clone();
        if let Masters::Detected(detected) = &masters {
            tokio::spawn(follow_leader_changes(detected.clone(), session.clone()));
        }
        let client = config
            .trust
            .client()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        let mut backoff = Backoff::new(backoff::RESUBSCRIBE);
        let mut unauthorized_backoff = Backoff::new(backoff::UNAUTHORIZED);
        let mut election_backoff = Backoff::new(backoff::ELECTION);
        let mut next_master = 0usize;
        let mut redirects = 0u32;
        let mut tried_in_round = 0usize;
        let mut election_pending = false;
        loop {
            let target = match session.leader() {
                Some(leader) => leader,
                None => {
                    next_master += 1;
                    match masters.pick(next_master - 1).await {
                        Some(m) => m,
                        None => {
                            tracing::error!("master detection stopped: no master to subscribe to");
                            return;
                        }
                    }
                }
            };
            if let Err(e) = config.fence.confirm().await {
                tracing::error!(error = %e, "not subscribing: this instance no longer leads");
                return;
            }
            let outcome = subscribe_once(
                &client,
                &config,
                &session,
                &auth,
                &target,
                &events,
                &mut backoff,
            )
            .await;
            session.set_stream_id(None);
            // Only a subscription that was answered 200 ends an election: until then its polls
            // (a 503, or a 307 to a leader that is gone) keep stretching up to a second.
            if matches!(outcome, Outcome::Ended(_)) {
                election_backoff.reset();
            }
            match outcome {
                Outcome::Closed => return,
                Outcome::Unauthorized(body) => {
                    // `post` already logged in again once where the credentials allow it.
                    let delay = unauthorized_backoff.next_delay();
                    tracing::error!(
                        master = %target,
                        principal = auth.principal().unwrap_or("(none)"),
                        answer = %body,
                        retry_in_secs = delay.as_secs(),
                        "SUBSCRIBE refused: 401 Unauthorized: {}",
                        auth.unauthorized_hint()
                    );
                    tokio::time::sleep(delay).await;
                    continue;
                }
                Outcome::AuthFailed(reason) => {
                    tracing::error!(master = %target, %reason, "cannot authenticate to the master");
                    session.set_leader(None);
                }
                Outcome::Redirect(base) if redirects < 5 => {
                    redirects += 1;
                    // A live master points elsewhere: leadership is moving (a standby still
                    // names a leader that just died, until its ZooKeeper session expires).
                    election_pending = true;
                    tracing::info!(from = %target, to = %base, "SUBSCRIBE redirected to the leading master");
                    session.set_leader(Some(base));
                    continue;
                }
                Outcome::Redirect(_) => {
                    tracing::warn!("too many redirects; backing off");
                    session.set_leader(None);
                }
                Outcome::NoLeader(reason) => {
                    tracing::info!(master = %target, %reason, "no leading master elected yet");
                    session.set_leader(None);
                    election_pending = true;
                }
                Outcome::Failed(reason) => {
                    tracing::warn!(master = %target, %reason, "subscription failed");
                    session.set_leader(None);
                }
                Outcome::Ended(reason) => {
                    tracing::warn!(master = %target, %reason, "event stream ended");
                    if events
                        .send(StreamEvent::Disconnected { reason })
                        .await
                        .is_err()
                    {
                        return;
                    }
                    session.set_leader(None);
                }
            }
            redirects = 0;
            // The rest of a round (the other masters of a list) is tried at once.
            tried_in_round += 1;
            if tried_in_round < masters.round() {
                continue;
            }
            tried_in_round = 0;
            let pause = if std::mem::take(&mut election_pending) {
                election_backoff.next_delay()
            } else {
                backoff.next_delay()
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = masters.leader_changed() => {
                    backoff.reset();
                    tracing::info!("ZooKeeper names a new leading master; subscribing at once");
                }
            }
        }
    })
}

/// A new leader in ZooKeeper ends the current stream, so the next SUBSCRIBE goes to it.
async fn follow_leader_changes(
    mut detected: tokio::sync::watch::Receiver<Option<cartrack_zookeeper::MasterAddress>>,
    session: Arc<Session>,
) {
    while detected.changed().await.is_ok() {
        let leader = detected.borrow_and_update().as_ref().map(|m| m.base_url());
        if leader.is_some() && leader != session.leader() {
            tracing::info!(
                leader = leader.as_deref(),
                "ZooKeeper names a new leading master"
            );
            session.set_leader(None);
            session.request_resubscribe();
        }
    }
}

enum Outcome {
    /// The driver is gone.
    Closed,
    Redirect(String),
    Failed(String),
    /// 503: the master is up but no leader is elected yet.
    NoLeader(String),
    Ended(String),
    /// 401: the master refused our credentials.
    Unauthorized(String),
    /// No `Authorization` header could be made (the DC/OS login failed).
    AuthFailed(String),
}

async fn subscribe_once(
    client: &reqwest::Client,
    config: &SubscribeConfig,
    session: &Session,
    auth: &Authenticator,
    master: &str,
    events: &mpsc::Sender<StreamEvent>,
    backoff: &mut Backoff,
) -> Outcome {
    let info = calls::framework_info(&config.framework, session.framework_id().as_deref());
    let body = calls::subscribe(info).encode_to_vec();
    let response = match post(client, auth, master, &body, None).await {
        Ok(Reply::Accepted(r)) if r.status() == http::StatusCode::OK => r,
        Ok(Reply::Accepted(r)) => {
            return Outcome::Failed(format!("SUBSCRIBE answered {}, expected 200", r.status()))
        }
        Ok(Reply::Unauthorized(text)) => return Outcome::Unauthorized(text),
        Ok(Reply::Refused {
            status,
            disposition,
        }) => {
            return match disposition {
                Disposition::Follow(base) => Outcome::Redirect(base),
                Disposition::Retry(r) if status == 503 => Outcome::NoLeader(r),
                Disposition::Done => {
                    Outcome::Failed(format!("SUBSCRIBE answered {status}, expected 200"))
                }
                Disposition::Retry(r) | Disposition::Resubscribe(r) | Disposition::GiveUp(r) => {
                    Outcome::Failed(r)
                }
            }
        }
        Err(PostError::Auth(e)) => return Outcome::AuthFailed(e.to_string()),
        Err(PostError::NotSent(e) | PostError::NoAnswer(e)) => {
            return Outcome::Failed(format!("transport: {e}"))
        }
    };
    let Some(stream_id) = response
        .headers()
        .get(STREAM_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(String::from)
    else {
        return Outcome::Failed("SUBSCRIBE answered 200 without Mesos-Stream-Id".into());
    };
    session.set_leader(Some(master.to_string()));
    session.set_stream_id(Some(stream_id));
    if events
        .send(StreamEvent::Connected {
            leader: master.to_string(),
        })
        .await
        .is_err()
    {
        return Outcome::Closed;
    }
    let mut watchdog = config.default_heartbeat * config.missed_heartbeats;
    let mut codec = MessageCodec::<Event>::default();
    let mut buffer = BytesMut::new();
    let mut stream = response.bytes_stream();
    loop {
        loop {
            match codec.decode(&mut buffer) {
                Ok(Some(event)) => {
                    if event.r#type == Some(event::Type::Subscribed as i32) {
                        backoff.reset();
                        if let Some(secs) = event
                            .subscribed
                            .as_ref()
                            .and_then(|s| s.heartbeat_interval_seconds)
                            .filter(|s| s.is_finite() && *s > 0.0)
                        {
                            watchdog = Duration::from_secs_f64(secs) * config.missed_heartbeats;
                        }
                    }
                    if events
                        .send(StreamEvent::Event(Box::new(event)))
                        .await
                        .is_err()
                    {
                        return Outcome::Closed;
                    }
                }
                Ok(None) => break,
                Err(e) => return Outcome::Ended(format!("undecodable event stream: {e}")),
            }
        }
        let next = tokio::select! {
            next = tokio::time::timeout(watchdog, stream.next()) => next,
            () = session.resubscribe_requested() => return Outcome::Ended("re-subscription requested".into()),
        };
        match next {
            Err(_) => {
                return Outcome::Ended(format!(
                    "no event for {:.1} s ({} missed heartbeats)",
                    watchdog.as_secs_f64(),
                    config.missed_heartbeats
                ))
            }
            Ok(None) => return Outcome::Ended("stream closed by the master".into()),
            Ok(Some(Err(e))) => return Outcome::Ended(format!("transport: {e}")),
            Ok(Some(Ok(chunk))) => buffer.extend_from_slice(&chunk),
        }
    }
}
