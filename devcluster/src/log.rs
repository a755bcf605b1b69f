//! The record of every call, event and fault, which tests read to assert what happened.
//!
//! Appending is synchronous and cheap; [`EventLog::wait_for`] lets a test wait on an entry
//! instead of sleeping.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde::{Serialize, Serializer};
use tokio::sync::Notify;

/// One recorded happening in the dev cluster.
// The variants carry the decoded calls by value so tests can match on them directly.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind")]
pub enum LogEntry {
    /// A call to `POST /api/v1/scheduler` and the HTTP status it got.
    SchedulerCall {
        /// The framework the call named (if any).
        framework_id: Option<String>,
        /// The decoded call (serialized as base64 protobuf).
        #[serde(serialize_with = "as_protobuf")]
        call: mesos_proto::v1::scheduler::Call,
        /// The status answered.
        http_status: u16,
    },
    /// An event written to a framework's stream.
    SchedulerEvent {
        /// The receiving framework.
        framework_id: String,
        /// `SUBSCRIBED`, `OFFERS`, `UPDATE`, ...
        event_type: String,
        /// For UPDATE: the task.
        task_id: Option<String>,
        /// For UPDATE: the state name, e.g. `TASK_RUNNING`.
        state: Option<String>,
        /// For UPDATE: the status uuid, when the update must be acknowledged.
        uuid: Option<Vec<u8>>,
    },
    /// A call to an agent's `POST /api/v1/executor`.
    ExecutorCall {
        /// The agent called.
        agent_id: String,
        /// The calling executor.
        executor_id: String,
        /// The decoded call (serialized as base64 protobuf).
        #[serde(serialize_with = "as_protobuf")]
        call: mesos_proto::v1::executor::Call,
        /// The status answered.
        http_status: u16,
    },
    /// An event written to an executor's stream.
    ExecutorEvent {
        /// The sending agent.
        agent_id: String,
        /// The receiving executor.
        executor_id: String,
        /// `SUBSCRIBED`, `LAUNCH`, `LAUNCH_GROUP`, `KILL`, ...
        event_type: String,
    },
    /// An executor process was started.
    ExecutorLaunched {
        /// The agent it runs on.
        agent_id: String,
        /// Its executor id.
        executor_id: String,
        /// Its process id.
        pid: u32,
    },
    /// An executor process ended.
    ExecutorExited {
        /// The agent it ran on.
        agent_id: String,
        /// Its executor id.
        executor_id: String,
        /// Its exit code (None when killed by a signal).
        status: Option<i32>,
    },
    /// A fault was injected or a timeout fired.
    Fault {
        /// What happened, in words.
        description: String,
    },
}

fn as_protobuf<S: Serializer, M: prost::Message>(m: &M, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(m.encode_to_vec()))
}

/// The shared, append-only log. Cheap to clone.
///
/// It keeps the most recent `limit` entries (all of them by default), so a long-running dev
/// cluster does not grow without bound; tests keep the default.
#[derive(Clone, Default)]
pub struct EventLog {
    inner: Arc<LogInner>,
}

#[derive(Default)]
struct LogInner {
    entries: Mutex<VecDeque<LogEntry>>,
    /// 0 = unlimited.
    limit: usize,
    changed: Notify,
}

impl EventLog {
    /// A log keeping at most `limit` recent entries (0 = all).
    pub fn with_limit(limit: usize) -> EventLog {
        EventLog {
            inner: Arc::new(LogInner {
                limit,
                ..Default::default()
            }),
        }
    }

    /// Appends an entry (dropping the oldest beyond the limit) and wakes waiters.
    pub fn record(&self, entry: LogEntry) {
        tracing::debug!(?entry, "recorded");
        if let Ok(mut entries) = self.inner.entries.lock() {
            entries.push_back(entry);
            if self.inner.limit > 0 && entries.len() > self.inner.limit {
                entries.pop_front();
            }
        }
        self.inner.changed.notify_waiters();
    }

    /// A copy of every entry kept.
    pub fn snapshot(&self) -> Vec<LogEntry> {
        self.inner
            .entries
            .lock()
            .map(|e| e.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Waits until an entry (old or new) matches `pred`; `None` on timeout.
    pub async fn wait_for<F: Fn(&LogEntry) -> bool>(
        &self,
        timeout: Duration,
        pred: F,
    ) -> Option<LogEntry> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(found) = self
                .inner
                .entries
                .lock()
                .ok()
                .and_then(|e| e.iter().find(|x| pred(x)).cloned())
            {
                return Some(found);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    /// The whole log as JSON lines, for `GET /log`.
    pub fn to_json_lines(&self) -> String {
        self.snapshot()
            .iter()
            .filter_map(|e| serde_json::to_string(e).ok())
            .map(|l| l + "\n")
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(n: usize) -> LogEntry {
        LogEntry::Fault {
            description: n.to_string(),
        }
    }

    #[test]
    fn a_limited_log_keeps_the_most_recent_entries() {
        let log = EventLog::with_limit(2);
        for n in 0..3 {
            log.record(fault(n));
        }
        let kept: Vec<String> = log
            .snapshot()
            .into_iter()
            .map(|e| match e {
                LogEntry::Fault { description } => description,
                _ => String::new(),
            })
            .collect();
        assert_eq!(kept, ["1", "2"]);
    }

    #[tokio::test]
    async fn wait_for_sees_entries_recorded_later() {
        let log = EventLog::default();
        let writer = log.clone();
        tokio::spawn(async move { writer.record(fault(7)) });
        let found = log
            .wait_for(
                Duration::from_secs(5),
                |e| matches!(e, LogEntry::Fault { description } if description == "7"),
            )
            .await;
        assert!(found.is_some());
    }
}
