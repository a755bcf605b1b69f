//! How the scheduler's other tasks (the operator API, the load sampler) ask the driver's
//! loop: a request on its channel, the answer on a oneshot, both within [`ANSWER_TIMEOUT`] so
//! a busy or stalled loop costs the asker an error, not a hang.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::{timeout_at, Instant};

use super::{ApiRequest, Core, ReadContext, Request, RequestError};
use crate::planner::autoscale::LoadSample;

/// The longest an asker waits for the driver's loop (queueing plus answer). The loop never
/// waits on the network, so only a bug or an overloaded machine makes it this slow.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the loop did not do what it was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AskError {
    /// The loop refused the change (no such group or pod, count too large ...).
    #[error(transparent)]
    Refused(#[from] RequestError),
    /// The loop has stopped: the scheduler is shutting down or its loop failed.
    #[error("the scheduler's driver is not running")]
    Gone,
    /// No answer within [`ANSWER_TIMEOUT`]: a read, or a write that never got into the queue.
    #[error("the scheduler's loop did not answer in time")]
    TimedOut,
    /// As [`Self::TimedOut`] for a write already queued: the loop may still apply it.
    #[error("the scheduler's loop did not answer in time; the change is queued")]
    TimedOutQueued,
}

/// The askers' end of the driver's request channel.
#[derive(Debug, Clone)]
pub struct Handle {
    requests: mpsc::Sender<ApiRequest>,
}

impl Handle {
    /// A handle on the loop reading `requests`.
    pub fn new(requests: mpsc::Sender<ApiRequest>) -> Self {
        Self { requests }
    }

    /// Runs `view` on the loop against the core: a consistent snapshot taken between two
    /// inputs. Keep `view` cheap; it holds up the loop.
    pub async fn read<T: Send + 'static>(
        &self,
        view: impl FnOnce(&Core, &ReadContext) -> T + Send + 'static,
    ) -> Result<T, AskError> {
        let (reply, answer) = oneshot::channel();
        let read = Box::new(move |core: &Core, cx: &ReadContext| {
            // A dropped receiver means the asker went away or timed out: nothing to do.
            drop(reply.send(view(core, cx)));
        });
        // Nothing to apply later: a read that timed out in the queue is just late.
        self.ask(ApiRequest::Read(read), answer)
            .await
            .map_err(|err| match err {
                AskError::TimedOutQueued => AskError::TimedOut,
                err => err,
            })
    }

    /// Sends the change `request` and waits for the loop's verdict (given once it is saved).
    pub async fn write(&self, request: Request) -> Result<(), AskError> {
        let (reply, answer) = oneshot::channel();
        self.ask(ApiRequest::Write { request, reply }, answer)
            .await?
            .map_err(AskError::Refused)
    }

    /// Hands the loop a load sample; nothing is answered.
    pub async fn observe(&self, sample: LoadSample) -> Result<(), AskError> {
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        match timeout_at(deadline, self.requests.send(ApiRequest::Observe(sample))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(AskError::Gone),
            Err(_) => Err(AskError::TimedOut),
        }
    }

    /// Queues `request` and waits for its `answer`, both within one [`ANSWER_TIMEOUT`].
    async fn ask<T>(
        &self,
        request: ApiRequest,
        answer: oneshot::Receiver<T>,
    ) -> Result<T, AskError> {
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        match timeout_at(deadline, self.requests.send(request)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(AskError::Gone),
            Err(_) => return Err(AskError::TimedOut),
        }
        match timeout_at(deadline, answer).await {
            Ok(Ok(value)) => Ok(value),
            // The loop dropped the request unanswered: it is stopping.
            Ok(Err(_)) => Err(AskError::Gone),
            Err(_) => Err(AskError::TimedOutQueued),
        }
    }
}
