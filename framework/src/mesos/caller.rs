//! Sending calls other than SUBSCRIBE, each on its own connection (through `request`, as
//! SUBSCRIBE is sent), through a one-method, `Service`-shaped [`Caller`] (cf. mesos-go's `calls.Caller`), so the
//! driver can be tested with a recording fake.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use mesos_proto::v1::scheduler::{call, Call};
use prost::Message;

use super::request::{post, PostError, Reply};
use super::{backoff, calls, Backoff, Disposition, Session};
use crate::auth::{AuthError, Authenticator};
use crate::tls::Trust;

/// Why a call did not go through.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No subscription is open (no leader or stream id yet); the call was not sent. The
    /// driver re-plans after the next SUBSCRIBED, so nothing is lost.
    #[error("not subscribed: no stream id yet")]
    NotSubscribed,
    /// The master refused the call for good (400, 401, ...); retrying will not help.
    #[error("{call} rejected: {reason}")]
    Rejected {
        /// Call type.
        call: &'static str,
        /// Classifier reason with the master's body.
        reason: String,
    },
    /// The master refused our credentials (401), after one fresh login for a service
    /// account; a configuration error (the hint names the flags), not retried.
    #[error("{call} unauthorized (401): {hint}")]
    Unauthorized {
        /// Call type.
        call: &'static str,
        /// Which flags to check.
        hint: String,
    },
    /// No `Authorization` header could be made (the DC/OS login failed); the call was not
    /// sent. Transient or not, see the source.
    #[error("{call} not sent: {source}")]
    Auth {
        /// Call type.
        call: &'static str,
        /// Why.
        source: AuthError,
    },
    /// The master no longer knows our subscription (403); a re-subscription was requested.
    #[error("{call} needs a new subscription: {reason}")]
    Resubscribe {
        /// Call type.
        call: &'static str,
        /// Classifier reason.
        reason: String,
    },
    /// Retries (503, redirects, connection errors) ran out, or an ACCEPT went unanswered;
    /// the outcome is unknown, so the driver reconciles what the call was about.
    #[error("{call} failed after {attempts} attempts: {last}")]
    Exhausted {
        /// Call type.
        call: &'static str,
        /// Attempts made.
        attempts: u32,
        /// The last reason.
        last: String,
    },
}

/// Sends one call to the master. `&self`, so many calls may be in flight.
pub trait Caller: Send + Sync + 'static {
    /// Sends `call`; `Ok` once the master accepted it (202/200).
    fn call(&self, call: Call) -> impl Future<Output = Result<(), CallError>> + Send;
}

/// The real [`Caller`]: HTTP POST of protobuf to the leading master.
#[derive(Debug, Clone)]
pub struct HttpCaller {
    client: reqwest::Client,
    session: Arc<Session>,
    auth: Authenticator,
    max_attempts: u32,
}

impl HttpCaller {
    /// A caller sharing `session` and `auth` with the subscription, trusting `trust`'s CAs;
    /// the master has `timeout` to answer each attempt.
    pub fn new(
        session: Arc<Session>,
        auth: Authenticator,
        trust: &Trust,
        timeout: Duration,
    ) -> HttpCaller {
        let client = trust
            .client()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .build()
            .unwrap_or_default();
        HttpCaller {
            client,
            session,
            auth,
            max_attempts: 5,
        }
    }
}

impl Caller for HttpCaller {
    async fn call(&self, call: Call) -> Result<(), CallError> {
        let name = calls::type_name(&call);
        // An ACCEPT the master may have taken is not sent again: taking the same offer twice
        // would be refused and report the launched tasks as dropped. Its tasks are
        // reconciled instead. Every other call may be repeated without harm.
        let repeatable = call.r#type != Some(call::Type::Accept as i32);
        let body = call.encode_to_vec();
        let mut backoff = Backoff::new(backoff::CALL);
        let mut last = String::new();
        for attempt in 1..=self.max_attempts {
            let (Some(leader), Some(stream_id)) = (self.session.leader(), self.session.stream_id())
            else {
                return Err(CallError::NotSubscribed);
            };
            let disposition = match post(&self.client, &self.auth, &leader, &body, Some(&stream_id))
                .await
            {
                Ok(Reply::Accepted(_)) => Disposition::Done,
                Ok(Reply::Refused { disposition, .. }) => disposition,
                Ok(Reply::Unauthorized(_)) => {
                    return Err(CallError::Unauthorized {
                        call: name,
                        hint: self.auth.unauthorized_hint(),
                    })
                }
                Err(PostError::Auth(source)) => return Err(CallError::Auth { call: name, source }),
                Err(PostError::NotSent(reason)) => Disposition::Retry(reason),
                Err(PostError::NoAnswer(reason)) if repeatable => Disposition::Retry(reason),
                Err(PostError::NoAnswer(reason)) => {
                    return Err(CallError::Exhausted {
                        call: name,
                        attempts: attempt,
                        last: reason,
                    })
                }
            };
            match disposition {
                Disposition::Done => return Ok(()),
                Disposition::Follow(base) => {
                    tracing::info!(call = name, leader = %base, "following redirect to the leading master");
                    self.session.set_leader(Some(base));
                    last = "redirect".into();
                }
                Disposition::Retry(reason) => {
                    tracing::warn!(call = name, attempt, %reason, "call failed, retrying");
                    last = reason;
                    tokio::time::sleep(backoff.next_delay()).await;
                }
                Disposition::Resubscribe(reason) => {
                    self.session.request_resubscribe();
                    return Err(CallError::Resubscribe { call: name, reason });
                }
                Disposition::GiveUp(reason) => {
                    return Err(CallError::Rejected { call: name, reason })
                }
            }
        }
        Err(CallError::Exhausted {
            call: name,
            attempts: self.max_attempts,
            last,
        })
    }
}
