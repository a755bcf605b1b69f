//! The scheduler process as the simulation runs it: the real [`Core`], rebuilt from the
//! store on every (re)start exactly as `service::run` builds it, plus the session a real
//! process keeps (framework id, current stream).

use cartrack_framework::driver::{Binaries, Core, CoreConfig, Encoder, Input};
use cartrack_framework::mesos::calls::FrameworkSettings;
use cartrack_framework::records::StoredState;
use cartrack_framework::spec::{validate, ServiceSpec, ValidatedSpec};

/// The spec the simulation runs: one autoscaled group of single-task pods, one of two-task
/// pods, and a small one; sizes such that every group at the largest scale fits the agents.
const SPEC: &str = r#"
placement_strategy = "spread"

[executor]
cpus = 0.05
mem = 32
disk = 16

[[groups]]
name = "web"
count = 2
autoscale = { min = 1, max = 4, metric = "lag", target = 100, scale_up_after_s = 1, scale_down_after_s = 2, cooldown_s = 1 }
  [[groups.tasks]]
  name = "main"
  command = "./cartrack-worker"
  cpus = 0.5
  mem = 256
  disk = 16
  ports = ["http"]

[[groups]]
name = "pair"
count = 1
  [[groups.tasks]]
  name = "left"
  command = "./cartrack-worker"
  cpus = 0.25
  mem = 128
  disk = 16
  [[groups.tasks]]
  name = "right"
  command = "./cartrack-worker"
  cpus = 0.25
  mem = 128
  disk = 16

[[groups]]
name = "solo"
count = 1
  [[groups.tasks]]
  name = "main"
  command = "./cartrack-worker"
  cpus = 0.1
  mem = 64
  disk = 16
"#;

/// Why the simulation cannot start: its built-in spec does not validate.
#[derive(Debug, thiserror::Error)]
#[error("the simulation's spec is invalid: {0}")]
pub struct SpecError(String);

/// What stays the same across scheduler restarts.
pub(crate) struct Setup {
    pub(crate) spec: ValidatedSpec,
    /// The scheduler's own encoding of its effects into calls.
    pub(crate) encoder: Encoder,
    pub(crate) config: CoreConfig,
    pub(crate) framework: FrameworkSettings,
}

impl Setup {
    pub(crate) fn new() -> Result<Setup, SpecError> {
        let source = ServiceSpec::parse(SPEC).map_err(|e| SpecError(e.to_string()))?;
        let spec = validate(&source, &["*".to_string()]).map_err(|e| SpecError(e.to_string()))?;
        let mut config = CoreConfig::new(Binaries::Files {
            executor_uri: "file:///sim/cartrack-executor".into(),
            worker_uri: "file:///sim/cartrack-worker".into(),
        });
        // Shorter than production so that faults and their repair fit a ~3 minute run.
        config.unreachable_timeout_ms = 30_000;
        config.implicit_reconcile_ms = 120_000;
        Ok(Setup {
            encoder: Encoder::new(),
            spec,
            config,
            framework: FrameworkSettings {
                user: "sim".into(),
                name: "cartrack".into(),
                roles: vec!["*".into()],
                principal: None,
                failover_timeout_seconds: 7.0 * 24.0 * 3600.0,
                webui_url: None,
            },
        })
    }

    pub(crate) fn group_names(&self) -> Vec<String> {
        self.spec.groups.iter().map(|g| g.name.clone()).collect()
    }
}

/// The subscription as the process sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Link {
    /// No stream; a SUBSCRIBE is scheduled.
    Down,
    /// A SUBSCRIBE is on its way.
    Subscribing,
    /// Stream `connection` is open with this `Mesos-Stream-Id`.
    Up { connection: u64, stream_id: String },
}

/// The scheduler process.
pub(crate) struct Scheduler {
    /// Bumped on every start: messages to an earlier run are dropped.
    pub(crate) incarnation: u64,
    /// `None` while crashed.
    pub(crate) core: Option<Core>,
    /// The session's framework id.
    pub(crate) framework_id: Option<String>,
    pub(crate) link: Link,
    /// Set by [`crate::input::Fault::SchedulerCrashMidRound`]: die inside the next round.
    pub(crate) crash_mid_round: Option<Option<usize>>,
}

impl Scheduler {
    pub(crate) fn new() -> Scheduler {
        Scheduler {
            incarnation: 0,
            core: None,
            framework_id: None,
            link: Link::Down,
            crash_mid_round: None,
        }
    }

    /// Starts a new run from the stored state, as `service::run` does.
    pub(crate) fn boot(&mut self, setup: &Setup, stored: &StoredState, now_ms: u64) {
        self.incarnation += 1;
        self.framework_id = stored.framework_id.clone();
        self.link = Link::Down;
        self.crash_mid_round = None;
        self.core = Some(Core::new(
            setup.spec.clone(),
            stored.clone(),
            setup.config.clone(),
            // Task ids must be unique across runs: the run number is part of each.
            format!("r{}", self.incarnation),
            now_ms,
        ));
    }

    /// The current stream's id, if subscribed.
    pub(crate) fn stream_id(&self) -> Option<&str> {
        match &self.link {
            Link::Up { stream_id, .. } => Some(stream_id),
            _ => None,
        }
    }
}

/// Feeding the core what is not an operator request, which it cannot refuse.
pub(crate) trait Feed {
    fn feed(&mut self, input: Input, now_ms: u64);
}

impl Feed for Core {
    fn feed(&mut self, input: Input, now_ms: u64) {
        if let Err(e) = self.apply(input, now_ms) {
            unreachable!("only operator requests are refused, not this: {e}");
        }
    }
}
