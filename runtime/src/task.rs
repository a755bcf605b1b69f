//! Tasks tied to their owner: a spawned task that must not outlive the code that started it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::task::{JoinError, JoinHandle};

/// A spawned task, aborted when this handle is dropped (an early return, a `?`, a lost
/// `select!` branch), so nothing it does can happen after its owner gave up on it. Await it
/// for its result.
#[derive(Debug)]
pub struct AbortOnDrop<T>(JoinHandle<T>);

impl<T: Send + 'static> AbortOnDrop<T> {
    /// Spawns `future` on the current runtime.
    pub fn spawn(future: impl Future<Output = T> + Send + 'static) -> AbortOnDrop<T> {
        AbortOnDrop(tokio::spawn(future))
    }

    /// Aborts the task and waits until it is gone, with everything it owned (a listener's
    /// port is free again).
    pub async fn stop(mut self) {
        self.0.abort();
        let _ = (&mut self.0).await;
    }
}

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dropping_the_handle_aborts_the_task_and_awaiting_it_joins() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = AbortOnDrop::spawn(async move {
            // Held until the task ends: the receiver sees the sender dropped.
            let _tx = tx;
            std::future::pending::<()>().await;
        });
        drop(task);
        assert!(rx.await.is_err(), "the aborted task dropped what it held");

        assert_eq!(AbortOnDrop::spawn(async { 7 }).await.ok(), Some(7));
    }

    #[tokio::test]
    async fn stop_returns_once_the_task_is_gone() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = AbortOnDrop::spawn(async move {
            let _listener = listener;
            std::future::pending::<()>().await;
        });
        task.stop().await;
        tokio::net::TcpListener::bind(addr)
            .await
            .expect("the port is free again");
    }
}
