//! How handlers ask the driver's loop: a request on its channel, the answer on a oneshot,
//! both within [`ANSWER_TIMEOUT`] so a busy or stalled loop costs a 503, not a hung client.

use tokio::sync::{mpsc, oneshot};
use tokio::time::{timeout_at, Instant};

use super::error::ApiError;
use super::ANSWER_TIMEOUT;
use crate::driver::{ApiRequest, Core, ReadContext, Request};

/// The API's end of the driver's request channel.
#[derive(Debug, Clone)]
pub(crate) struct DriverHandle {
    requests: mpsc::Sender<ApiRequest>,
}

impl DriverHandle {
    pub(crate) fn new(requests: mpsc::Sender<ApiRequest>) -> Self {
        Self { requests }
    }

    /// Runs `view` on the loop against the core: a consistent snapshot taken between two
    /// inputs. Keep `view` cheap; it holds up the loop.
    pub(crate) async fn read<T: Send + 'static>(
        &self,
        view: impl FnOnce(&Core, &ReadContext) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let (reply, answer) = oneshot::channel();
        let read = Box::new(move |core: &Core, cx: &ReadContext| {
            // A dropped receiver means the HTTP client went away or timed out: nothing to do.
            drop(reply.send(view(core, cx)));
        });
        // Nothing to apply later: a read that timed out in the queue is just late.
        self.ask(ApiRequest::Read(read), answer)
            .await
            .map_err(|err| match err {
                ApiError::TimedOutQueued => ApiError::TimedOut,
                err => err,
            })
    }

    /// Sends the change `request` and waits for the loop's verdict.
    pub(crate) async fn write(&self, request: Request) -> Result<(), ApiError> {
        let (reply, answer) = oneshot::channel();
        self.ask(ApiRequest::Write { request, reply }, answer)
            .await?
            .map_err(ApiError::Refused)
    }

    /// Queues `request` and waits for its `answer`, both within one [`ANSWER_TIMEOUT`].
    async fn ask<T>(
        &self,
        request: ApiRequest,
        answer: oneshot::Receiver<T>,
    ) -> Result<T, ApiError> {
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        match timeout_at(deadline, self.requests.send(request)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(ApiError::DriverGone),
            Err(_) => return Err(ApiError::TimedOut),
        }
        match timeout_at(deadline, answer).await {
            Ok(Ok(value)) => Ok(value),
            // The loop dropped the request unanswered: it is stopping.
            Ok(Err(_)) => Err(ApiError::DriverGone),
            Err(_) => Err(ApiError::TimedOutQueued),
        }
    }
}
