//! What the core is fed: everything that happens to the scheduler, time and ids excepted
//! (those come with each call, so the core stays a function of its inputs).

use mesos_proto::v1::scheduler::Event;

use crate::planner::autoscale::LoadSample;
use crate::spec::ValidatedSpec;
use crate::target::Binaries;

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
    /// How the TEARDOWN of an uninstall went.
    Teardown(TeardownOutcome),
    /// A group's load, measured by the sampler.
    Load(LoadSample),
}

/// The outcome of an [`Effect::Teardown`](super::Effect::Teardown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeardownOutcome {
    /// The master took it: the framework, its tasks and executors are gone.
    Done,
    /// It may not have reached the master; it is sent again.
    Failed {
        /// Why.
        reason: String,
    },
}

/// A change the operator asks for.
#[derive(Debug, Clone, PartialEq)]
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
    /// `PUT /v1/config`: a new target (validated against the framework's roles); the
    /// current binaries when `binaries` is `None`. A target equal to the current one is a
    /// no-op.
    Update {
        /// The spec after interpolation and overrides.
        spec: Box<ValidatedSpec>,
        /// New binaries (a new release).
        binaries: Option<Binaries>,
    },
    /// `POST /v1/plans/deploy/{pause,resume,continue,abort}` and per-step `force-complete`.
    Steer(Steer),
    /// `POST /v1/autoscale/{group}/resume`: autoscaling follows the load again after an
    /// operator set the count.
    ResumeAutoscale {
        /// The group.
        group: String,
    },
    /// `POST /v1/uninstall`, or a start with `SDK_UNINSTALL=true`: kill every task, then
    /// TEARDOWN and delete the stored state. Cannot be taken back; asking again is a no-op.
    Uninstall,
}

impl From<Request> for Input {
    fn from(request: Request) -> Input {
        Input::Request(request)
    }
}

/// How the operator steers the running deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Steer {
    /// No new step starts; started ones finish.
    Pause,
    /// Steps start again.
    Resume,
    /// Lets the next canary step of every waiting group (or of `group`) go.
    Continue {
        /// One group only.
        group: Option<String>,
    },
    /// Rolls back to the version before, with the same rolling rules.
    Abort,
    /// Takes the pod in `slot` as up to date without replacing it.
    ForceComplete {
        /// The slot.
        slot: String,
    },
}
