//! What the subscription and the callers share: the leading master, the current stream id,
//! and a way to ask for a fresh subscription.

use std::sync::Mutex;

use tokio::sync::Notify;

#[derive(Debug, Default)]
struct Inner {
    leader: Option<String>,
    stream_id: Option<String>,
    framework_id: Option<String>,
}

/// Shared connection facts (cheap to read, behind a mutex held for microseconds).
#[derive(Debug, Default)]
pub struct Session {
    inner: Mutex<Inner>,
    resubscribe: Notify,
}

impl Session {
    /// A session that knows nothing yet; `framework_id` is the persisted id, if any.
    pub fn new(framework_id: Option<String>) -> Session {
        Session {
            inner: Mutex::new(Inner {
                framework_id,
                ..Inner::default()
            }),
            resubscribe: Notify::new(),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut guard = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }

    /// The master we believe leads (`http://host:port`).
    pub fn leader(&self) -> Option<String> {
        self.with(|i| i.leader.clone())
    }

    /// Records the leading master (after a redirect or a successful SUBSCRIBE).
    pub fn set_leader(&self, leader: Option<String>) {
        self.with(|i| i.leader = leader);
    }

    /// The stream id of the live subscription, if one is open.
    pub fn stream_id(&self) -> Option<String> {
        self.with(|i| i.stream_id.clone())
    }

    /// Records (or clears) the stream id.
    pub fn set_stream_id(&self, stream_id: Option<String>) {
        self.with(|i| i.stream_id = stream_id);
    }

    /// The framework id to re-subscribe with (set only once it is persisted).
    pub fn framework_id(&self) -> Option<String> {
        self.with(|i| i.framework_id.clone())
    }

    /// Publishes a persisted framework id.
    pub fn set_framework_id(&self, id: String) {
        self.with(|i| i.framework_id = Some(id));
    }

    /// Asks the subscription to drop its open stream and subscribe again (after a 403, or
    /// when ZooKeeper names another leader). Only a stream open now is dropped: a request
    /// kept for later would end the next, healthy subscription at once.
    pub fn request_resubscribe(&self) {
        self.resubscribe.notify_waiters();
    }

    /// Resolves when a re-subscription was asked for.
    pub async fn resubscribe_requested(&self) {
        self.resubscribe.notified().await;
    }
}
