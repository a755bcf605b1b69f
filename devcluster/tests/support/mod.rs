//! A small test scheduler over real HTTP, and builders for frameworks, executors and tasks.
#![allow(dead_code)]

use std::time::Duration;

use bytes::BytesMut;
use cartrack_devcluster::{ClusterConfig, DevCluster};
use mesos_proto::http::{PROTOBUF, SCHEDULER_PATH, STREAM_ID_HEADER};
use mesos_proto::recordio::MessageCodec;
use mesos_proto::v1::scheduler::{call, event, Call, Event};
use mesos_proto::v1::{
    executor_info, framework_info, offer, value, AgentId, CommandInfo, ExecutorId, ExecutorInfo,
    FrameworkId, FrameworkInfo, Offer, OfferId, Resource, TaskId, TaskInfo, TaskState, TaskStatus,
};
use prost::Message as _;
use tokio::sync::mpsc;
use tokio_util::codec::Decoder;

/// Generous bound for anything that should happen "at once".
pub const WAIT: Duration = Duration::from_secs(10);

/// A cluster in a temp dir, with `tweak` applied to the default config.
pub async fn cluster(tweak: impl FnOnce(&mut ClusterConfig)) -> (DevCluster, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = ClusterConfig {
        work_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    tweak(&mut config);
    let cluster = DevCluster::start(config).await.expect("cluster starts");
    (cluster, dir)
}

pub fn framework(name: &str, caps: &[framework_info::capability::Type]) -> FrameworkInfo {
    FrameworkInfo {
        user: "test".into(),
        name: name.into(),
        capabilities: caps
            .iter()
            .map(|c| framework_info::Capability {
                r#type: Some(*c as i32),
            })
            .collect(),
        ..Default::default()
    }
}

pub fn scalar(name: &str, v: f64) -> Resource {
    Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: v }),
        ..Default::default()
    }
}

pub fn small(cpus: f64, mem: f64, disk: f64) -> Vec<Resource> {
    let mut r = vec![scalar("cpus", cpus), scalar("mem", mem)];
    if disk > 0.0 {
        r.push(scalar("disk", disk));
    }
    r
}

/// The test executor binary as a CUSTOM executor.
pub fn test_executor(id: &str) -> ExecutorInfo {
    ExecutorInfo {
        r#type: Some(executor_info::Type::Custom as i32),
        executor_id: ExecutorId { value: id.into() },
        command: Some(CommandInfo {
            value: Some(env!("CARGO_BIN_EXE_devcluster-test-executor").to_string()),
            ..Default::default()
        }),
        resources: small(0.1, 32.0, 10.0),
        ..Default::default()
    }
}

pub fn task(id: &str, agent_id: &str, data: &str, executor: Option<ExecutorInfo>) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        agent_id: AgentId {
            value: agent_id.into(),
        },
        resources: small(0.1, 32.0, 0.0),
        executor,
        data: (!data.is_empty()).then(|| data.as_bytes().to_vec()),
        ..Default::default()
    }
}

pub fn launch(tasks: Vec<TaskInfo>) -> offer::Operation {
    offer::Operation {
        r#type: Some(offer::operation::Type::Launch as i32),
        launch: Some(offer::operation::Launch { task_infos: tasks }),
        ..Default::default()
    }
}

pub fn launch_group(executor: ExecutorInfo, tasks: Vec<TaskInfo>) -> offer::Operation {
    offer::Operation {
        r#type: Some(offer::operation::Type::LaunchGroup as i32),
        launch_group: Some(offer::operation::LaunchGroup {
            executor,
            task_group: mesos_proto::v1::TaskGroupInfo { tasks },
        }),
        ..Default::default()
    }
}

/// POSTs a call; returns the status and the response (for SUBSCRIBE streams).
pub async fn post(base: &str, call: &Call, stream_id: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(format!("{base}{SCHEDULER_PATH}"))
        .header("Content-Type", PROTOBUF)
        .header("Accept", PROTOBUF)
        .body(call.encode_to_vec());
    if let Some(s) = stream_id {
        req = req.header(STREAM_ID_HEADER, s);
    }
    req.send().await.expect("master answers")
}

pub fn subscribe_call(info: FrameworkInfo) -> Call {
    Call {
        framework_id: info.id.clone(),
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: info,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Reads RecordIO events off a response into a channel; the channel closes with the stream.
pub fn read_events(response: reqwest::Response) -> mpsc::UnboundedReceiver<Event> {
    read_events_with_handle(response).0
}

/// As [`read_events`], with the reader task's handle (abort it to close the connection); reads
/// any event type (the executor API's too).
pub fn read_events_with_handle<M: prost::Message + Default + Send + 'static>(
    mut response: reqwest::Response,
) -> (mpsc::UnboundedReceiver<M>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = tokio::spawn(async move {
        let mut codec = MessageCodec::<M>::default();
        let mut buf = BytesMut::new();
        loop {
            while let Ok(Some(event)) = codec.decode(&mut buf) {
                if tx.send(event).is_err() {
                    return;
                }
            }
            match response.chunk().await {
                Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
                _ => return,
            }
        }
    });
    (rx, handle)
}

/// A subscribed framework.
pub struct TestScheduler {
    pub base: String,
    pub framework_id: String,
    pub stream_id: String,
    pub info: FrameworkInfo,
    events: mpsc::UnboundedReceiver<Event>,
    buffered: Vec<Event>,
    closed: bool,
    reader: tokio::task::JoinHandle<()>,
}

impl TestScheduler {
    pub async fn subscribe(base: &str, info: FrameworkInfo) -> TestScheduler {
        let response = post(base, &subscribe_call(info.clone()), None).await;
        assert_eq!(response.status(), 200, "SUBSCRIBE answers 200");
        let stream_id = response
            .headers()
            .get(STREAM_ID_HEADER)
            .expect("Mesos-Stream-Id header")
            .to_str()
            .expect("ascii")
            .to_string();
        let (events, reader) = read_events_with_handle(response);
        let mut s = TestScheduler {
            base: base.to_string(),
            framework_id: String::new(),
            stream_id,
            info,
            events,
            buffered: Vec::new(),
            closed: false,
            reader,
        };
        let subscribed = s.wait_type(event::Type::Subscribed).await;
        s.framework_id = subscribed
            .subscribed
            .expect("subscribed")
            .framework_id
            .value;
        s.info.id = Some(FrameworkId {
            value: s.framework_id.clone(),
        });
        s
    }

    /// Closes the subscription's connection from the client side, as a crashed scheduler would.
    pub fn disconnect(&self) {
        self.reader.abort();
    }

    /// Sends a call for this framework with its stream id; returns the HTTP status.
    pub async fn call(&self, mut call: Call) -> u16 {
        call.framework_id = Some(FrameworkId {
            value: self.framework_id.clone(),
        });
        post(&self.base, &call, Some(&self.stream_id))
            .await
            .status()
            .as_u16()
    }

    /// Waits for an event matching `pred`, leaving others buffered. None on timeout/close.
    pub async fn try_wait(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&Event) -> bool,
    ) -> Option<Event> {
        if let Some(i) = self.buffered.iter().position(&pred) {
            return Some(self.buffered.remove(i));
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(e)) if pred(&e) => return Some(e),
                Ok(Some(e)) => self.buffered.push(e),
                Ok(None) => {
                    self.closed = true;
                    return None;
                }
                Err(_) => return None,
            }
        }
    }

    pub async fn wait(&mut self, pred: impl Fn(&Event) -> bool) -> Event {
        self.try_wait(WAIT, pred)
            .await
            .expect("expected event did not arrive")
    }

    pub async fn wait_type(&mut self, t: event::Type) -> Event {
        self.wait(|e| e.r#type() == t).await
    }

    /// The next event of any kind (buffered first).
    pub async fn next(&mut self) -> Option<Event> {
        if !self.buffered.is_empty() {
            return Some(self.buffered.remove(0));
        }
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .ok()
            .flatten()
    }

    /// True once the master closed the stream (waits up to `WAIT`).
    pub async fn stream_closed(&mut self) -> bool {
        if self.closed {
            return true;
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(e)) => self.buffered.push(e),
                Ok(None) => {
                    self.closed = true;
                    return true;
                }
                Err(_) => return false,
            }
        }
    }

    pub async fn offer(&mut self) -> Offer {
        self.offer_where(|_| true).await
    }

    pub async fn offer_where(&mut self, pred: impl Fn(&Offer) -> bool) -> Offer {
        let e = self
            .wait(|e| {
                e.r#type() == event::Type::Offers
                    && e.offers
                        .as_ref()
                        .is_some_and(|o| o.offers.iter().any(&pred))
            })
            .await;
        // One OFFERS event carries every agent of an allocation: the offers not taken stay
        // buffered for the next `offer*` call, as a real scheduler would keep them.
        let mut offers = e.offers.expect("offers").offers;
        let at = offers.iter().position(&pred).expect("matching offer");
        let offer = offers.remove(at);
        if !offers.is_empty() {
            self.buffered.insert(
                0,
                Event {
                    r#type: Some(event::Type::Offers as i32),
                    offers: Some(event::Offers { offers }),
                    ..Default::default()
                },
            );
        }
        offer
    }

    /// The next UPDATE for `task_id` (any state).
    pub async fn update(&mut self, task_id: &str) -> TaskStatus {
        self.update_where(task_id, |_| true).await
    }

    pub async fn update_where(
        &mut self,
        task_id: &str,
        pred: impl Fn(&TaskStatus) -> bool,
    ) -> TaskStatus {
        let tid = task_id.to_string();
        self.wait(move |e| {
            e.update
                .as_ref()
                .is_some_and(|u| u.status.task_id.value == tid && pred(&u.status))
        })
        .await
        .update
        .expect("update")
        .status
    }

    /// Waits for `state` of `task_id`, acknowledging every update with a uuid on the way.
    pub async fn until_state(&mut self, task_id: &str, state: TaskState) -> TaskStatus {
        loop {
            let s = self.update(task_id).await;
            self.ack(&s).await;
            if s.state() == state {
                return s;
            }
        }
    }

    pub async fn ack(&self, status: &TaskStatus) -> Option<u16> {
        let uuid = status.uuid.clone()?;
        let call = Call {
            r#type: Some(call::Type::Acknowledge as i32),
            acknowledge: Some(call::Acknowledge {
                agent_id: status.agent_id.clone().unwrap_or_default(),
                task_id: status.task_id.clone(),
                uuid,
            }),
            ..Default::default()
        };
        Some(self.call(call).await)
    }

    pub async fn accept(&self, offer_ids: &[&OfferId], ops: Vec<offer::Operation>) -> u16 {
        self.accept_refusing(offer_ids, ops, None).await
    }

    /// ACCEPT with `Filters.refuse_seconds` for what is left unused (None = Mesos' 5 s).
    ///
    /// Fills this framework's id into every LAUNCH_GROUP executor that lacks one, as a real
    /// framework must: the Mesos 1.12 master fills `ExecutorInfo.framework_id` in only for
    /// LAUNCH and fails a LAUNCH_GROUP without it with TASK_ERROR.
    pub async fn accept_refusing(
        &self,
        offer_ids: &[&OfferId],
        mut ops: Vec<offer::Operation>,
        refuse_seconds: Option<f64>,
    ) -> u16 {
        for group in ops.iter_mut().filter_map(|op| op.launch_group.as_mut()) {
            group
                .executor
                .framework_id
                .get_or_insert_with(|| FrameworkId {
                    value: self.framework_id.clone(),
                });
        }
        self.call(Call {
            r#type: Some(call::Type::Accept as i32),
            accept: Some(call::Accept {
                offer_ids: offer_ids.iter().map(|o| (*o).clone()).collect(),
                operations: ops,
                filters: refuse_seconds.map(|r| mesos_proto::v1::Filters {
                    refuse_seconds: Some(r),
                }),
            }),
            ..Default::default()
        })
        .await
    }

    pub async fn decline(&self, offer_id: &OfferId, refuse_seconds: f64) -> u16 {
        self.call(Call {
            r#type: Some(call::Type::Decline as i32),
            decline: Some(call::Decline {
                offer_ids: vec![offer_id.clone()],
                filters: Some(mesos_proto::v1::Filters {
                    refuse_seconds: Some(refuse_seconds),
                }),
            }),
            ..Default::default()
        })
        .await
    }

    pub async fn simple(&self, t: call::Type) -> u16 {
        self.call(Call {
            r#type: Some(t as i32),
            ..Default::default()
        })
        .await
    }

    pub async fn kill(&self, task_id: &str) -> u16 {
        self.call(Call {
            r#type: Some(call::Type::Kill as i32),
            kill: Some(call::Kill {
                task_id: TaskId {
                    value: task_id.into(),
                },
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
    }

    pub async fn reconcile(&self, tasks: &[(&str, Option<&str>)]) -> u16 {
        self.call(Call {
            r#type: Some(call::Type::Reconcile as i32),
            reconcile: Some(call::Reconcile {
                tasks: tasks
                    .iter()
                    .map(|(t, a)| call::reconcile::Task {
                        task_id: TaskId {
                            value: t.to_string(),
                        },
                        agent_id: a.map(|a| AgentId {
                            value: a.to_string(),
                        }),
                    })
                    .collect(),
            }),
            ..Default::default()
        })
        .await
    }

    /// Takes an offer and runs `tasks` on it with LAUNCH; returns the agent id.
    pub async fn launch_on_next_offer(
        &mut self,
        make: impl FnOnce(&str) -> Vec<offer::Operation>,
    ) -> String {
        let offer = self.offer().await;
        let agent = offer.agent_id.value.clone();
        assert_eq!(self.accept(&[&offer.id], make(&agent)).await, 202);
        agent
    }
}

/// The JSON report the test executor puts in TASK_RUNNING's data.
pub fn running_report(status: &TaskStatus) -> serde_json::Value {
    serde_json::from_slice(status.data.as_deref().unwrap_or(b"{}")).expect("json report")
}

/// Polls `cond` until true or `timeout` passes.
pub async fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cond()
}

/// True when a process with this pid exists.
pub fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
}
