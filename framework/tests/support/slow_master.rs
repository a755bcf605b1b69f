//! A master that holds back its answers to calls while the scheduler scales up: the scenario
//! the slow-master test asserts on and the `slow_master` bench times. The scheduler gives
//! the master [`CALL_TIMEOUT`] per call, far less than the answers are held back, so every
//! call it sends meanwhile times out: ACCEPTs are reconciled, the others retried.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use cartrack_devcluster::{DevCluster, LogEntry};
use mesos_proto::v1::scheduler::{call, Call};

use super::{cluster, is, wait_until, write_spec, Scheduler};

/// `--call-timeout` of the scheduler, in seconds.
pub const CALL_TIMEOUT: &str = "1";
/// The one group of the spec.
pub const GROUP: &str = "processor";

/// A request of the operator API whose answer is waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiCall {
    /// `GET /v1/health`.
    Health,
    /// `GET /v1/state`.
    State,
    /// `PUT /v1/groups/<GROUP>/count`.
    SetCount(u32),
}

impl ApiCall {
    /// How it is named in failure messages and tables.
    pub fn name(self) -> &'static str {
        match self {
            ApiCall::Health => "GET /v1/health",
            ApiCall::State => "GET /v1/state",
            ApiCall::SetCount(_) => "PUT /v1/groups/processor/count",
        }
    }
}

/// The dev cluster and the scheduler on it.
pub struct SlowMaster {
    pub cluster: DevCluster,
    pub scheduler: Scheduler,
    http: reqwest::Client,
}

impl SlowMaster {
    /// A dev cluster of 2 agents in `dir` and the scheduler on it with `pods` pods, all
    /// RUNNING within `within`.
    pub async fn start(dir: &Path, pods: usize, within: Duration) -> SlowMaster {
        let cluster = cluster(dir, 2, Vec::new()).await;
        let spec = write_spec(
            dir,
            &format!(
                "[[groups]]\nname = \"{GROUP}\"\ncount = {pods}\n[[groups.tasks]]\nname = \"main\"\n\
                 command = \"./cartrack-worker\"\nargs = [\"process\"]\ncpus = 0.1\nmem = 32\ndisk = 8\n"
            ),
        );
        let scheduler = Scheduler::start(
            dir,
            &cluster.master_url(),
            &spec,
            &["--call-timeout", CALL_TIMEOUT],
        );
        scheduler.wait_running(pods, within).await;
        SlowMaster {
            cluster,
            scheduler,
            http: reqwest::Client::new(),
        }
    }

    /// Holds the master's answers back for `hold`, asks for `count` pods, and waits (up to
    /// `within`) until an ACCEPT launching pods reached the master while its answers were
    /// held back; returns the ids of the tasks those ACCEPTs launched.
    pub async fn hold_answers_and_scale(
        &self,
        hold: Duration,
        count: u32,
        within: Duration,
    ) -> BTreeSet<String> {
        let mark = self.cluster.log().len();
        self.cluster.set_call_answer_delay(hold);
        let status = self
            .request(ApiCall::SetCount(count))
            .await
            .unwrap_or_else(|e| panic!("PUT count {count}: {e}"));
        assert_eq!(status, 200, "PUT count {count}");
        wait_until(within, "an ACCEPT while answers are held back", || async {
            let launched = accepted_task_ids(&self.cluster.log()[mark..]);
            (!launched.is_empty()).then_some(launched)
        })
        .await
    }

    /// Answers at once again.
    pub fn release(&self) {
        self.cluster.set_call_answer_delay(Duration::ZERO);
    }

    /// Sends `call` to the scheduler's API; the HTTP status of its answer.
    pub async fn request(&self, call: ApiCall) -> Result<u16, reqwest::Error> {
        let api = &self.scheduler.api;
        let request = match call {
            ApiCall::Health => self.http.get(format!("{api}/v1/health")),
            ApiCall::State => self.http.get(format!("{api}/v1/state")),
            ApiCall::SetCount(count) => self
                .http
                .put(format!("{api}/v1/groups/{GROUP}/count"))
                .json(&serde_json::json!({ "count": count })),
        };
        let response = request.send().await?;
        let status = response.status().as_u16();
        // The whole body, so the time measured covers the answer, not only its head.
        response.bytes().await?;
        Ok(status)
    }

    /// [`SlowMaster::request`], and how long the answer took.
    pub async fn timed(&self, call: ApiCall) -> (Result<u16, reqwest::Error>, Duration) {
        let started = Instant::now();
        let status = self.request(call).await;
        (status, started.elapsed())
    }
}

/// The ids of the tasks launched by the ACCEPTs among `log`, whatever their answer.
pub fn accepted_task_ids(log: &[LogEntry]) -> BTreeSet<String> {
    log.iter()
        .filter_map(|entry| match entry {
            LogEntry::SchedulerCall { call, .. } => Some(launched_by(call)),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The ids of the tasks an ACCEPT launches (none for other calls).
pub fn launched_by(call: &Call) -> BTreeSet<String> {
    call.accept
        .iter()
        .filter(|_| is(call, call::Type::Accept))
        .flat_map(|accept| &accept.operations)
        .filter_map(|op| op.launch_group.as_ref())
        .flat_map(|group| &group.task_group.tasks)
        .map(|task| task.task_id.value.clone())
        .collect()
}
