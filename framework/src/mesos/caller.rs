//! Sending calls other than SUBSCRIBE: each on its own connection with `Mesos-Stream-Id`
//! and the [`Authenticator`]'s `Authorization` header,
//! through a one-method, `Service`-shaped [`Caller`] (cf. mesos-go's `calls.Caller`), so the
//! driver can be tested with a recording fake.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use mesos_proto::http::{PROTOBUF, SCHEDULER_PATH, STREAM_ID_HEADER};
use mesos_proto::v1::scheduler::Call;
use prost::Message;

use super::{backoff, calls, classify, Backoff, Disposition, Session};
use crate::auth::{AuthError, Authenticator};
use crate::tls::{describe, Trust};

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
    /// Retries (503, redirects, connection errors) ran out; the outcome is unknown, so the
    /// driver reconciles what the call was about.
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
    /// A caller sharing `session` and `auth` with the subscription, trusting `trust`'s CAs.
    pub fn new(session: Arc<Session>, auth: Authenticator, trust: &Trust) -> HttpCaller {
        let client = trust
            .client()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
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
        let body = call.encode_to_vec();
        let mut backoff = Backoff::new(backoff::CALL);
        let mut last = String::new();
        let mut refreshed = false;
        for attempt in 1..=self.max_attempts {
            let (Some(leader), Some(stream_id)) = (self.session.leader(), self.session.stream_id())
            else {
                return Err(CallError::NotSubscribed);
            };
            let mut request = self
                .client
                .post(format!("{leader}{SCHEDULER_PATH}"))
                .header(http::header::CONTENT_TYPE, PROTOBUF)
                .header(http::header::ACCEPT, PROTOBUF)
                .header(STREAM_ID_HEADER, stream_id);
            match self.auth.header().await {
                Ok(Some(value)) => request = request.header(http::header::AUTHORIZATION, value),
                Ok(None) => {}
                Err(source) => return Err(CallError::Auth { call: name, source }),
            }
            let response = request.body(body.clone()).send().await;
            let disposition = match response {
                Ok(r) if r.status() == http::StatusCode::UNAUTHORIZED => {
                    // A service account's token may have been revoked or expired early: one
                    // fresh login, then give up (the hint names the flags).
                    self.auth.invalidate();
                    if self.auth.can_refresh() && !refreshed {
                        refreshed = true;
                        last = "401 unauthorized".into();
                        continue;
                    }
                    return Err(CallError::Unauthorized {
                        call: name,
                        hint: self.auth.unauthorized_hint(),
                    });
                }
                Ok(r) => {
                    let status = r.status().as_u16();
                    let location = r
                        .headers()
                        .get(http::header::LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .map(String::from);
                    let text = r.text().await.unwrap_or_default();
                    classify(status, &leader, location.as_deref(), &text)
                }
                Err(e) => Disposition::Retry(format!("transport: {}", describe(&e))),
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
