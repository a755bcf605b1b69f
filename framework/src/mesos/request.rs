//! The one way a scheduler call reaches a master, SUBSCRIBE included: protobuf both ways, the
//! `Mesos-Stream-Id` once subscribed, the [`Authenticator`]'s `Authorization` header, one
//! fresh login on a 401 when the credentials can be refreshed, and every other answer
//! classified by [`classify`].

use mesos_proto::http::{PROTOBUF, SCHEDULER_PATH, STREAM_ID_HEADER};

use super::{classify, Disposition};
use crate::auth::{AuthError, Authenticator};
use crate::tls::describe;

/// What the master answered.
#[derive(Debug)]
pub(crate) enum Reply {
    /// 200 or 202; SUBSCRIBE's response carries the event stream.
    Accepted(reqwest::Response),
    /// Any other answer but 401, classified.
    Refused {
        /// The HTTP status.
        status: u16,
        /// What to do about it.
        disposition: Disposition,
    },
    /// 401, after a fresh login where the credentials allow one: the master's answer.
    Unauthorized(String),
}

/// Why there is no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PostError {
    /// No `Authorization` header could be made (the DC/OS login failed); nothing was sent.
    #[error(transparent)]
    Auth(AuthError),
    /// The connection could not be made: the master never saw the call, sending it again is
    /// safe.
    #[error("not sent: {0}")]
    NotSent(String),
    /// Sent but not answered (timeout, connection lost): the master may have acted on it.
    #[error("no answer: {0}")]
    NoAnswer(String),
}

/// POSTs `body` (an encoded call) to `master`.
pub(crate) async fn post(
    client: &reqwest::Client,
    auth: &Authenticator,
    master: &str,
    body: &[u8],
    stream_id: Option<&str>,
) -> Result<Reply, PostError> {
    let mut refreshed = false;
    loop {
        let mut request = client
            .post(format!("{master}{SCHEDULER_PATH}"))
            .header(http::header::CONTENT_TYPE, PROTOBUF)
            .header(http::header::ACCEPT, PROTOBUF);
        if let Some(id) = stream_id {
            request = request.header(STREAM_ID_HEADER, id);
        }
        if let Some(value) = auth.header().await.map_err(PostError::Auth)? {
            request = request.header(http::header::AUTHORIZATION, value);
        }
        let response = match request.body(body.to_vec()).send().await {
            Ok(response) => response,
            Err(e) if e.is_connect() => return Err(PostError::NotSent(describe(&e))),
            Err(e) => return Err(PostError::NoAnswer(describe(&e))),
        };
        let status = response.status().as_u16();
        if matches!(status, 200 | 202) {
            return Ok(Reply::Accepted(response));
        }
        if status == 401 {
            // A service account's token may have been revoked or expired early: one fresh
            // login, then give up (the caller names the flags to check).
            auth.invalidate();
            if auth.can_refresh() && !refreshed {
                refreshed = true;
                continue;
            }
            let text = response.text().await.unwrap_or_default();
            return Ok(Reply::Unauthorized(text.trim().chars().take(200).collect()));
        }
        let location = response
            .headers()
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let text = response.text().await.unwrap_or_default();
        return Ok(Reply::Refused {
            status,
            disposition: classify(status, master, location.as_deref(), &text),
        });
    }
}
