//! `devcluster-test-executor`: a tiny custom executor speaking the v1 executor API, for the dev
//! cluster's tests and for trying a scheduler by hand.
//!
//! Behaviour, per task, chosen by the task's `data`:
//! - (anything): TASK_RUNNING, whose `data` is a JSON object: `env` (the `MESOS_*`
//!   environment), `files` (the sandbox's files), `roles` (the task resources' allocation roles);
//! - `finish`: then TASK_FINISHED; `fail`: then TASK_FAILED; `exit`: the process exits with 3.
//!
//! KILL answers TASK_KILLED for the task and the rest of its group; MESSAGE is echoed back;
//! SHUTDOWN kills every task and exits 0. When the connection drops, a checkpointing executor
//! (`MESOS_CHECKPOINT=1`) re-subscribes with its unacknowledged updates and tasks; others exit 1;
//! with `TEST_EXECUTOR_ON_DISCONNECT=hang` it stays alive without re-subscribing.

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;
use std::time::Duration;

use bytes::BytesMut;
use mesos_proto::http::{EXECUTOR_PATH, PROTOBUF};
use mesos_proto::recordio::MessageCodec;
use mesos_proto::v1::executor::{call, event, Call, Event};
use mesos_proto::v1::{ExecutorId, FrameworkId, TaskId, TaskInfo, TaskState, TaskStatus};
use prost::Message as _;
use tokio_util::codec::Decoder;

struct Executor {
    http: reqwest::Client,
    url: String,
    framework_id: FrameworkId,
    executor_id: ExecutorId,
    /// uuid -> update not yet acknowledged.
    unacked: BTreeMap<Vec<u8>, TaskStatus>,
    /// Tasks launched and not terminal, with their group index.
    tasks: HashMap<String, (TaskInfo, usize)>,
    next_group: usize,
}

enum Next {
    Reconnect,
    Exit(u8),
}

impl Executor {
    fn call(&self, kind: call::Type) -> Call {
        Call {
            executor_id: self.executor_id.clone(),
            framework_id: self.framework_id.clone(),
            r#type: Some(kind as i32),
            ..Default::default()
        }
    }

    async fn post(&self, call: &Call) -> Result<reqwest::Response, reqwest::Error> {
        self.http
            .post(&self.url)
            .header("Content-Type", PROTOBUF)
            .header("Accept", PROTOBUF)
            .body(call.encode_to_vec())
            .send()
            .await
    }

    async fn update(
        &mut self,
        task_id: &str,
        state: TaskState,
        data: Option<Vec<u8>>,
        message: Option<String>,
    ) {
        let uuid = uuid::Uuid::new_v4().as_bytes().to_vec();
        let status = TaskStatus {
            task_id: TaskId {
                value: task_id.to_string(),
            },
            state: state as i32,
            uuid: Some(uuid.clone()),
            executor_id: Some(self.executor_id.clone()),
            source: Some(mesos_proto::v1::task_status::Source::Executor as i32),
            data,
            message,
            ..Default::default()
        };
        self.unacked.insert(uuid, status.clone());
        let mut c = self.call(call::Type::Update);
        c.update = Some(call::Update { status });
        let _ = self.post(&c).await;
        if matches!(
            state,
            TaskState::TaskFinished | TaskState::TaskFailed | TaskState::TaskKilled
        ) {
            self.tasks.remove(task_id);
        }
    }

    async fn launch(&mut self, tasks: Vec<TaskInfo>) -> Option<u8> {
        let group = self.next_group;
        self.next_group += 1;
        for task in tasks {
            let id = task.task_id.value.clone();
            let behaviour = task.data.clone().unwrap_or_default();
            self.tasks.insert(id.clone(), (task.clone(), group));
            let env: BTreeMap<String, String> = std::env::vars()
                .filter(|(k, _)| k.starts_with("MESOS_"))
                .collect();
            let files: Vec<String> = std::fs::read_dir(".")
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            let roles: Vec<String> = task
                .resources
                .iter()
                .map(|r| {
                    r.allocation_info
                        .as_ref()
                        .and_then(|a| a.role.clone())
                        .unwrap_or_default()
                })
                .collect();
            let report = serde_json::json!({ "env": env, "files": files, "roles": roles });
            let data = serde_json::to_vec(&report).ok();
            self.update(&id, TaskState::TaskRunning, data, None).await;
            match behaviour.as_slice() {
                b"finish" => self.update(&id, TaskState::TaskFinished, None, None).await,
                b"fail" => self.update(&id, TaskState::TaskFailed, None, None).await,
                b"exit" => return Some(3),
                _ => {}
            }
        }
        None
    }

    async fn handle(&mut self, event: Event) -> Option<Next> {
        match event.r#type() {
            event::Type::Launch => {
                if let Some(l) = event.launch {
                    if let Some(code) = self.launch(vec![l.task]).await {
                        return Some(Next::Exit(code));
                    }
                }
            }
            event::Type::LaunchGroup => {
                if let Some(g) = event.launch_group {
                    if let Some(code) = self.launch(g.task_group.tasks).await {
                        return Some(Next::Exit(code));
                    }
                }
            }
            event::Type::Kill => {
                if let Some(k) = event.kill {
                    let group = self.tasks.get(&k.task_id.value).map(|(_, g)| *g);
                    let victims: Vec<String> = match group {
                        Some(g) => self
                            .tasks
                            .iter()
                            .filter(|(_, (_, x))| *x == g)
                            .map(|(id, _)| id.clone())
                            .collect(),
                        None => vec![k.task_id.value.clone()],
                    };
                    for id in victims {
                        self.update(&id, TaskState::TaskKilled, None, None).await;
                    }
                }
            }
            event::Type::Acknowledged => {
                if let Some(a) = event.acknowledged {
                    self.unacked.remove(&a.uuid);
                }
            }
            event::Type::Message => {
                if let Some(m) = event.message {
                    let mut c = self.call(call::Type::Message);
                    c.message = Some(call::Message { data: m.data });
                    let _ = self.post(&c).await;
                }
            }
            event::Type::Shutdown => {
                let ids: Vec<String> = self.tasks.keys().cloned().collect();
                for id in ids {
                    self.update(&id, TaskState::TaskKilled, None, None).await;
                }
                return Some(Next::Exit(0));
            }
            _ => {}
        }
        None
    }

    async fn session(&mut self) -> Next {
        let mut subscribe = self.call(call::Type::Subscribe);
        subscribe.subscribe = Some(call::Subscribe {
            unacknowledged_tasks: self.tasks.values().map(|(t, _)| t.clone()).collect(),
            unacknowledged_updates: self
                .unacked
                .values()
                .map(|s| call::Update { status: s.clone() })
                .collect(),
        });
        let mut response = match self.post(&subscribe).await {
            Ok(r) if r.status().is_success() => r,
            _ => return Next::Reconnect,
        };
        let mut codec = MessageCodec::<Event>::default();
        let mut buf = BytesMut::new();
        loop {
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(event)) => {
                        if let Some(next) = self.handle(event).await {
                            return next;
                        }
                    }
                    Ok(None) => break,
                    Err(_) => return Next::Reconnect,
                }
            }
            match response.chunk().await {
                Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
                _ => return Next::Reconnect,
            }
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let (Some(endpoint), Some(framework_id), Some(executor_id)) = (
        env("MESOS_AGENT_ENDPOINT"),
        env("MESOS_FRAMEWORK_ID"),
        env("MESOS_EXECUTOR_ID"),
    ) else {
        eprintln!("devcluster-test-executor: MESOS_AGENT_ENDPOINT, MESOS_FRAMEWORK_ID and MESOS_EXECUTOR_ID must be set (run me from an agent)");
        return ExitCode::from(2);
    };
    let checkpoint = env("MESOS_CHECKPOINT").as_deref() == Some("1");
    let mut executor = Executor {
        http: reqwest::Client::new(),
        url: format!("http://{endpoint}{EXECUTOR_PATH}"),
        framework_id: FrameworkId {
            value: framework_id,
        },
        executor_id: ExecutorId { value: executor_id },
        unacked: BTreeMap::new(),
        tasks: HashMap::new(),
        next_group: 0,
    };
    let recovery = Duration::from_secs(60);
    let mut disconnected_since: Option<tokio::time::Instant> = None;
    loop {
        match executor.session().await {
            Next::Exit(code) => return ExitCode::from(code),
            Next::Reconnect => {
                if env("TEST_EXECUTOR_ON_DISCONNECT").as_deref() == Some("hang") {
                    // Stay alive without re-subscribing, for re-registration timeout tests.
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return ExitCode::from(1);
                }
                if !checkpoint {
                    return ExitCode::from(1);
                }
                let since = *disconnected_since.get_or_insert_with(tokio::time::Instant::now);
                if since.elapsed() > recovery {
                    return ExitCode::from(1);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
