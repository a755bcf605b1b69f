//! What the seeded schedule injects: faults and operator requests. Each kind is one variant;
//! operations that follow a plan of their own (deployments, uninstall, autoscaling readings)
//! are drawn by their own functions here; all are carried out in `World::apply_input`.

use std::fmt;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One scheduled input.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Something breaks.
    Fault(Fault),
    /// The operator asks for something.
    Operator(Operator),
}

/// A fault.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The leading master fails over; `keep_state = false` also loses frameworks and offers.
    MasterFailover {
        /// Whether the new leader knows the frameworks.
        keep_state: bool,
    },
    /// The agent process dies with its executors.
    AgentKill(usize),
    /// The agent process restarts (a killed one comes back empty).
    AgentRestart(usize),
    /// The master stops seeing the agent; its executors keep running.
    AgentPartition(usize),
    /// The partition ends.
    AgentHeal(usize),
    /// An executor process exits with status 1 (the n-th live one, modulo their number).
    ExecutorCrash(usize),
    /// An executor's connection to its agent breaks; it subscribes again.
    ExecutorDisconnect(usize),
    /// The scheduler process dies now and restarts from its store.
    SchedulerCrash,
    /// The scheduler dies inside its next round: before persisting (`None`) or after
    /// persisting and sending this many calls.
    SchedulerCrashMidRound(Option<usize>),
    /// The network between scheduler and master is cut for this many ms.
    SchedulerPartition(u64),
}

/// An operator request (the operator API's effect on the core).
#[derive(Debug, Clone, PartialEq)]
pub enum Operator {
    /// `PUT /v1/groups/{group}/count`.
    Scale {
        /// Group index in the spec.
        group: usize,
        /// New count.
        count: u32,
    },
    /// `POST /v1/pods/{slot}/restart` or `/replace`.
    Restart {
        /// Group index in the spec.
        group: usize,
        /// Pod index.
        index: u32,
        /// Anywhere (`replace`) or on the same agent.
        replace: bool,
    },
    /// `POST /v1/uninstall`, or DC/OS relaunching the scheduler with `SDK_UNINSTALL=true`:
    /// every later start of the scheduler is in uninstall mode too. The run then ends with
    /// nothing of the framework left (see `World::unconverged`).
    Uninstall,
    /// `PUT /v1/config`: the `web` group's env set to `SIM_VERSION = version`, which
    /// replaces its pods by a rolling update.
    Update {
        /// The value.
        version: u32,
    },
    /// `POST /v1/plans/deploy/<action>`.
    Steer(Steer),
    /// The load sampler's reading of the autoscaled `web` group: its pods' summed lag, or
    /// `None` when no pod answered.
    Load {
        /// The lag.
        value: Option<f64>,
    },
}

/// The deploy-plan actions the simulation takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Steer {
    /// No new step starts.
    Pause,
    /// Steps start again.
    Resume,
    /// Back to the version before.
    Abort,
}

/// Seeds that deploy, out of every this many.
const DEPLOY_ONE_IN: u64 = 4;

/// The deployment `seed`'s run goes through, as (step, operator) in step order: an update,
/// then maybe a pause and a resume, and maybe an abort. Drawn from an RNG of its own, so the
/// schedule of every seed that does not deploy stays as it was.
pub fn deploy_steps(seed: u64, steps: usize) -> Vec<(usize, Operator)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6465_706c_6f79);
    if rng.random_range(0..DEPLOY_ONE_IN) != 0 || steps < 4 {
        return Vec::new();
    }
    let update = rng.random_range(0..steps / 2);
    let mut ops = vec![(
        update,
        Operator::Update {
            version: rng.random_range(2..100),
        },
    )];
    if rng.random_bool(0.5) {
        let pause = rng.random_range(update..steps - 1);
        let resume = rng.random_range(pause + 1..steps);
        ops.push((pause, Operator::Steer(Steer::Pause)));
        ops.push((resume, Operator::Steer(Steer::Resume)));
    }
    if rng.random_bool(0.3) {
        ops.push((
            rng.random_range(update..steps),
            Operator::Steer(Steer::Abort),
        ));
    }
    ops.sort_by_key(|(step, _)| *step);
    ops
}

/// Seeds that autoscale, out of every this many.
const AUTOSCALE_ONE_IN: u64 = 4;

/// The load readings `seed`'s run feeds the autoscaled `web` group, as (step, operator) in
/// step order: every few steps from a random start, a burst (3 to 9 pods' worth at the
/// spec's target of 100), then quiet, some readings missing. Drawn from an RNG of its own, so
/// the schedule of every other input stays as it was.
pub fn autoscale_steps(seed: u64, steps: usize) -> Vec<(usize, Operator)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6175_746f_7363_616c);
    if rng.random_range(0..AUTOSCALE_ONE_IN) != 0 || steps < 10 {
        return Vec::new();
    }
    let start = rng.random_range(0..steps / 2);
    let quiet_from = rng.random_range(start..steps);
    let burst = rng.random_range(300.0..900.0);
    (start..steps)
        .step_by(5)
        .map(|step| {
            let value = if rng.random_bool(0.1) {
                None
            } else if step < quiet_from {
                Some(burst)
            } else {
                Some(rng.random_range(0.0..50.0))
            };
            (step, Operator::Load { value })
        })
        .collect()
}

/// Seeds that uninstall, out of every this many.
const UNINSTALL_ONE_IN: u64 = 8;

/// The step at which `seed`'s run uninstalls, if it does: drawn from an RNG of its own, so
/// the schedule of every other input (and every seed that does not uninstall) stays as it was.
pub fn uninstall_step(seed: u64, steps: usize) -> Option<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x756e_696e_7374_616c);
    (rng.random_range(0..UNINSTALL_ONE_IN) == 0 && steps > 0).then(|| rng.random_range(0..steps))
}

impl Input {
    /// A random input for a cluster of `agents` agents and `groups` groups.
    pub(crate) fn pick(rng: &mut ChaCha8Rng, agents: usize, groups: usize) -> Input {
        let agent = rng.random_range(0..agents);
        match rng.random_range(0..100u32) {
            0..=5 => Input::Fault(Fault::MasterFailover {
                keep_state: rng.random_bool(0.5),
            }),
            6..=13 => Input::Fault(Fault::AgentKill(agent)),
            14..=23 => Input::Fault(Fault::AgentRestart(agent)),
            24..=31 => Input::Fault(Fault::AgentPartition(agent)),
            32..=41 => Input::Fault(Fault::AgentHeal(agent)),
            42..=49 => Input::Fault(Fault::ExecutorCrash(rng.random_range(0..64))),
            50..=55 => Input::Fault(Fault::ExecutorDisconnect(rng.random_range(0..64))),
            56..=61 => Input::Fault(Fault::SchedulerCrash),
            62..=67 => {
                let sent = if rng.random_bool(0.3) {
                    None
                } else {
                    Some(rng.random_range(0..4))
                };
                Input::Fault(Fault::SchedulerCrashMidRound(sent))
            }
            68..=72 => Input::Fault(Fault::SchedulerPartition(rng.random_range(1_000..40_000))),
            73..=86 => Input::Operator(Operator::Scale {
                group: rng.random_range(0..groups),
                count: rng.random_range(0..=4),
            }),
            _ => Input::Operator(Operator::Restart {
                group: rng.random_range(0..groups),
                index: rng.random_range(0..4),
                replace: rng.random_bool(0.5),
            }),
        }
    }
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Fault(fault) => write!(f, "FAULT {fault:?}"),
            Input::Operator(op) => write!(f, "OPERATOR {op:?}"),
        }
    }
}
