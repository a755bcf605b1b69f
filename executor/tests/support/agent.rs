//! A scripted agent: just enough of `POST /api/v1/executor` on 127.0.0.1 to test the
//! executor's wire behaviour (SUBSCRIBE body and headers, UPDATE bookkeeping, reconnects).
//! It is no cluster: no master, no scheduler. End-to-end behaviour is tested on
//! `cartrack-devcluster`.
//!
//! On SUBSCRIBE it answers 200 with an event stream and sends SUBSCRIBED at once; every other
//! call gets 202. With `auto_ack` on (the default) each UPDATE is answered by ACKNOWLEDGED on
//! the current stream.

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use mesos_proto::recordio::MessageCodec;
use mesos_proto::v1::executor::{call, event, Call, Event};
use mesos_proto::v1::{
    framework_info, AgentInfo, CommandInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo,
    KillPolicy, TaskGroupInfo, TaskId, TaskInfo, TaskState,
};
use prost::Message;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Notify};
use tokio_util::codec::Encoder;

type Chunk = Result<Frame<Bytes>, Infallible>;

/// One call the executor made, with the headers that matter.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub call: Call,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub status: u16,
    /// When the agent received it.
    pub at: std::time::Instant,
}

impl Recorded {
    pub fn kind(&self) -> call::Type {
        self.call.r#type()
    }

    /// (task id, state, uuid) of an UPDATE.
    pub fn update(&self) -> Option<(String, TaskState, Vec<u8>)> {
        let status = &self.call.update.as_ref()?.status;
        Some((
            status.task_id.value.clone(),
            status.state(),
            status.uuid.clone().unwrap_or_default(),
        ))
    }
}

#[derive(Default)]
struct State {
    calls: Vec<Recorded>,
    stream: Option<mpsc::UnboundedSender<Chunk>>,
    auto_ack: bool,
    task_killing: bool,
    /// Answer SUBSCRIBE with this status instead of 200 (once per entry).
    refuse_subscribes: Vec<u16>,
}

/// The scripted agent; dropping it stops the listener.
pub struct ScriptedAgent {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for ScriptedAgent {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl ScriptedAgent {
    pub async fn start() -> ScriptedAgent {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            auto_ack: true,
            ..State::default()
        }));
        let changed = Arc::new(Notify::new());
        let server = {
            let state = state.clone();
            let changed = changed.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    let _ = stream.set_nodelay(true);
                    let state = state.clone();
                    let changed = changed.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            handle(req, state.clone(), changed.clone())
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            })
        };
        ScriptedAgent {
            addr,
            state,
            changed,
            server,
        }
    }

    /// `host:port`, for `MESOS_AGENT_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    pub fn set_auto_ack(&self, on: bool) {
        self.state.lock().unwrap().auto_ack = on;
    }

    pub fn set_task_killing(&self, on: bool) {
        self.state.lock().unwrap().task_killing = on;
    }

    /// The next `n` SUBSCRIBEs are answered with `status`.
    pub fn refuse_subscribes(&self, status: u16, n: usize) {
        self.state.lock().unwrap().refuse_subscribes = vec![status; n];
    }

    pub fn calls(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().calls.clone()
    }

    /// Sends an event on the current stream; false when no executor is subscribed.
    pub fn send(&self, event: &Event) -> bool {
        let state = self.state.lock().unwrap();
        match &state.stream {
            Some(stream) => stream.send(Ok(Frame::data(encode(event)))).is_ok(),
            None => false,
        }
    }

    /// Ends the current event stream, as an agent restart would.
    pub fn drop_stream(&self) {
        self.state.lock().unwrap().stream = None;
    }

    /// Waits until at least `n` recorded calls match `pred`, and returns them.
    pub async fn wait_for_calls(
        &self,
        timeout: Duration,
        n: usize,
        pred: impl Fn(&Recorded) -> bool,
    ) -> Vec<Recorded> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            let matching: Vec<Recorded> = self.calls().into_iter().filter(|c| pred(c)).collect();
            if matching.len() >= n {
                return matching;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "timed out waiting for {n} matching calls; got {}: {:#?}",
                    matching.len(),
                    self.calls()
                        .iter()
                        .map(|c| (c.kind(), c.update()))
                        .collect::<Vec<_>>()
                );
            }
        }
    }

    /// Waits for an UPDATE of `task` in `state` and returns it.
    pub async fn wait_for_update(
        &self,
        timeout: Duration,
        task: &str,
        state: TaskState,
    ) -> Recorded {
        self.wait_for_calls(timeout, 1, |c| {
            c.update()
                .is_some_and(|(id, st, _)| id == task && st == state)
        })
        .await
        .remove(0)
    }

    /// Waits for the `n`th SUBSCRIBE.
    pub async fn wait_for_subscribe(&self, timeout: Duration, n: usize) -> Recorded {
        let mut all = self
            .wait_for_calls(timeout, n, |c| c.kind() == call::Type::Subscribe)
            .await;
        all.remove(n - 1)
    }
}

fn encode(event: &Event) -> Bytes {
    let mut buf = BytesMut::new();
    MessageCodec::<Event>::default()
        .encode(event, &mut buf)
        .unwrap();
    buf.freeze()
}

async fn handle(
    req: http::Request<hyper::body::Incoming>,
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
) -> Result<http::Response<BoxBody<Bytes, Infallible>>, Infallible> {
    let header = |name: http::header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let authorization = header(http::header::AUTHORIZATION);
    let content_type = header(http::header::CONTENT_TYPE);
    let path_ok = req.uri().path() == "/api/v1/executor";
    let body = req.into_body().collect().await.map(|b| b.to_bytes());
    let empty = |status: u16| {
        http::Response::builder()
            .status(status)
            .body(
                Empty::<Bytes>::new()
                    .map_err(|never| match never {})
                    .boxed(),
            )
            .unwrap()
    };
    let Ok(body) = body else {
        return Ok(empty(400));
    };
    let Ok(call) = Call::decode(body) else {
        return Ok(empty(400));
    };
    if !path_ok {
        return Ok(empty(404));
    }
    let mut st = state.lock().unwrap();
    let kind = call.r#type();
    let status = if kind == call::Type::Subscribe {
        if call.subscribe.is_none() {
            400 // a real agent refuses SUBSCRIBE without the subscribe message
        } else if !st.refuse_subscribes.is_empty() {
            st.refuse_subscribes.remove(0)
        } else {
            200
        }
    } else {
        202
    };
    st.calls.push(Recorded {
        call: call.clone(),
        authorization,
        content_type,
        status,
        at: std::time::Instant::now(),
    });
    let response = if status == 200 {
        let (tx, mut rx) = mpsc::unbounded_channel::<Chunk>();
        let _ = tx.send(Ok(Frame::data(encode(&subscribed(st.task_killing)))));
        st.stream = Some(tx);
        let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
        http::Response::builder()
            .status(200)
            .header(http::header::CONTENT_TYPE, "application/x-protobuf")
            .body(BodyExt::boxed(StreamBody::new(stream)))
            .unwrap()
    } else {
        if st.auto_ack && kind == call::Type::Update {
            if let (Some(stream), Some(update)) = (&st.stream, &call.update) {
                let ack = acknowledged(
                    &update.status.task_id.value,
                    update.status.uuid.clone().unwrap_or_default(),
                );
                let _ = stream.send(Ok(Frame::data(encode(&ack))));
            }
        }
        empty(status)
    };
    drop(st);
    changed.notify_waiters();
    Ok(response)
}

// ---- event builders ----

pub fn subscribed(task_killing: bool) -> Event {
    let capabilities = if task_killing {
        vec![framework_info::Capability {
            r#type: Some(framework_info::capability::Type::TaskKillingState as i32),
        }]
    } else {
        vec![]
    };
    Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(event::Subscribed {
            executor_info: ExecutorInfo {
                executor_id: ExecutorId { value: "ex".into() },
                ..Default::default()
            },
            framework_info: FrameworkInfo {
                user: "cartrack".into(),
                name: "cartrack".into(),
                id: Some(FrameworkId { value: "fw".into() }),
                capabilities,
                ..Default::default()
            },
            agent_info: AgentInfo {
                hostname: "127.0.0.1".into(),
                ..Default::default()
            },
            container_id: None,
        }),
        ..Default::default()
    }
}

pub fn acknowledged(task_id: &str, uuid: Vec<u8>) -> Event {
    Event {
        r#type: Some(event::Type::Acknowledged as i32),
        acknowledged: Some(event::Acknowledged {
            task_id: TaskId {
                value: task_id.into(),
            },
            uuid,
        }),
        ..Default::default()
    }
}

pub fn task(id: &str, command: &str) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        command: Some(CommandInfo {
            value: Some(command.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn launch_group(tasks: Vec<TaskInfo>) -> Event {
    Event {
        r#type: Some(event::Type::LaunchGroup as i32),
        launch_group: Some(event::LaunchGroup {
            task_group: TaskGroupInfo { tasks },
        }),
        ..Default::default()
    }
}

pub fn kill(task_id: &str, grace: Option<Duration>) -> Event {
    Event {
        r#type: Some(event::Type::Kill as i32),
        kill: Some(event::Kill {
            task_id: TaskId {
                value: task_id.into(),
            },
            kill_policy: grace.map(|g| KillPolicy {
                grace_period: Some(mesos_proto::v1::DurationInfo {
                    nanoseconds: g.as_nanos() as i64,
                }),
            }),
        }),
        ..Default::default()
    }
}

pub fn shutdown() -> Event {
    Event {
        r#type: Some(event::Type::Shutdown as i32),
        ..Default::default()
    }
}
