//! What the core is fed: everything that happens to the scheduler, time and ids excepted
//! (those come with each call, so the core stays a function of its inputs).

use mesos_proto::v1::scheduler::Event;

/// One thing that happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The event stream of `leader` opened.
    Connected {
        /// The master it opened to.
        leader: String,
    },
    /// The event stream ended.
    Disconnected {
        /// Why.
        reason: String,
    },
    /// An event from the master.
    Event(Box<Event>),
    /// The timer: retries, implicit reconciliation, kill re-sends, backoff expiry.
    Tick,
    /// The ACCEPT launching these tasks may not have reached the master (its outcome is
    /// unknown): they are reconciled, so a launch that never happened comes back LOST or
    /// DROPPED and its slot is relaunched.
    CallFailed {
        /// The tasks of the ACCEPT.
        task_ids: Vec<String>,
    },
    /// An operator request.
    Request(Request),
}

/// A change the operator asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `PUT /v1/groups/{group}/count`.
    SetCount {
        /// The group.
        group: String,
        /// Its new desired count.
        count: u32,
    },
    /// `POST /v1/pods/{slot}/restart` (`replace: false`, same agent) or `/replace` (anywhere).
    Restart {
        /// The slot.
        slot: String,
        /// Anywhere instead of on the same agent.
        replace: bool,
    },
}

impl From<Request> for Input {
    fn from(request: Request) -> Input {
        Input::Request(request)
    }
}
