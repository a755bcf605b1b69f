//! The smallest scheduler that can drive the executor through a dev cluster: subscribe, take
//! one offer, LAUNCH_GROUP with the executor under test, acknowledge updates, KILL, SHUTDOWN.
//! Not the cartrack scheduler (that lives in framework/): just enough for executor tests.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use futures::StreamExt;
use mesos_proto::http::{PROTOBUF, SCHEDULER_PATH, STREAM_ID_HEADER};
use mesos_proto::recordio::MessageCodec;
use mesos_proto::v1::scheduler::{call, event, Call, Event};
use mesos_proto::v1::{
    executor_info, framework_info, offer, value, CommandInfo, ExecutorId, ExecutorInfo,
    FrameworkId, FrameworkInfo, Offer, Resource, TaskGroupInfo, TaskInfo, TaskState, TaskStatus,
};
use prost::Message;
use tokio::sync::Notify;
use tokio_util::codec::Decoder;

pub struct Framework {
    master: String,
    http: reqwest::Client,
    pub framework_id: String,
    stream_id: String,
    events: Arc<Mutex<Vec<Event>>>,
    changed: Arc<Notify>,
    reader: tokio::task::JoinHandle<()>,
    auto_ack: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Framework {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

pub fn scalar(name: &str, value: f64) -> Resource {
    Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value }),
        ..Default::default()
    }
}

/// A CUSTOM executor running the binary under test with checkpointing as asked.
pub fn executor_info(id: &str, binary: &std::path::Path) -> ExecutorInfo {
    ExecutorInfo {
        executor_id: ExecutorId { value: id.into() },
        r#type: Some(executor_info::Type::Custom as i32),
        command: Some(CommandInfo {
            value: Some(binary.display().to_string()),
            shell: Some(false),
            ..Default::default()
        }),
        resources: vec![
            scalar("cpus", 0.1),
            scalar("mem", 32.0),
            scalar("disk", 10.0),
        ],
        ..Default::default()
    }
}

pub fn task(id: &str, command: &str, agent_id: &str) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: mesos_proto::v1::TaskId { value: id.into() },
        agent_id: mesos_proto::v1::AgentId {
            value: agent_id.into(),
        },
        resources: vec![scalar("cpus", 0.1), scalar("mem", 16.0)],
        command: Some(CommandInfo {
            value: Some(command.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl Framework {
    /// Subscribes with the given checkpoint flag and TASK_KILLING_STATE capability.
    pub async fn subscribe(master: &str, checkpoint: bool, task_killing: bool) -> Framework {
        let http = reqwest::Client::new();
        let mut capabilities = Vec::new();
        if task_killing {
            capabilities.push(framework_info::Capability {
                r#type: Some(framework_info::capability::Type::TaskKillingState as i32),
            });
        }
        let call = Call {
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(call::Subscribe {
                framework_info: FrameworkInfo {
                    user: "root".into(),
                    name: "executor-tests".into(),
                    checkpoint: Some(checkpoint),
                    failover_timeout: Some(3600.0),
                    capabilities,
                    ..Default::default()
                },
                ..Default::default()
            }),
            ..Default::default()
        };
        let response = http
            .post(format!("{master}{SCHEDULER_PATH}"))
            .header("Content-Type", PROTOBUF)
            .header("Accept", PROTOBUF)
            .body(call.encode_to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "framework SUBSCRIBE refused");
        let stream_id = response
            .headers()
            .get(STREAM_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let events = Arc::new(Mutex::new(Vec::new()));
        let changed = Arc::new(Notify::new());
        let auto_ack = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let reader = {
            let events = events.clone();
            let changed = changed.clone();
            let auto_ack = auto_ack.clone();
            let (http, master, stream_id) = (http.clone(), master.to_string(), stream_id.clone());
            let mut body = response.bytes_stream();
            tokio::spawn(async move {
                let mut buffer = BytesMut::new();
                let mut codec = MessageCodec::<Event>::default();
                let mut framework_id = String::new();
                while let Some(Ok(chunk)) = body.next().await {
                    buffer.extend_from_slice(&chunk);
                    while let Ok(Some(event)) = codec.decode(&mut buffer) {
                        if let Some(subscribed) = &event.subscribed {
                            framework_id = subscribed.framework_id.value.clone();
                        }
                        let ack = event.update.as_ref().and_then(|update| {
                            let status = &update.status;
                            let uuid = status.uuid.clone()?;
                            Some(call::Acknowledge {
                                agent_id: status.agent_id.clone().unwrap_or_default(),
                                task_id: status.task_id.clone(),
                                uuid,
                            })
                        });
                        events.lock().unwrap().push(event);
                        changed.notify_waiters();
                        if let Some(ack) =
                            ack.filter(|_| auto_ack.load(std::sync::atomic::Ordering::SeqCst))
                        {
                            let call = Call {
                                framework_id: Some(FrameworkId {
                                    value: framework_id.clone(),
                                }),
                                r#type: Some(call::Type::Acknowledge as i32),
                                acknowledge: Some(ack),
                                ..Default::default()
                            };
                            let _ = http
                                .post(format!("{master}{SCHEDULER_PATH}"))
                                .header("Content-Type", PROTOBUF)
                                .header(STREAM_ID_HEADER, &stream_id)
                                .body(call.encode_to_vec())
                                .send()
                                .await;
                        }
                    }
                }
            })
        };
        let mut framework = Framework {
            master: master.to_string(),
            http,
            framework_id: String::new(),
            stream_id,
            events,
            changed,
            reader,
            auto_ack,
        };
        let subscribed = framework
            .wait_event(Duration::from_secs(10), |e| {
                e.r#type() == event::Type::Subscribed
            })
            .await;
        framework.framework_id = subscribed
            .subscribed
            .map(|s| s.framework_id.value)
            .unwrap_or_default();
        framework
    }

    /// Whether updates are acknowledged as they arrive (the default).
    pub fn set_auto_ack(&self, on: bool) {
        self.auto_ack.store(on, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    pub async fn wait_event(&self, timeout: Duration, pred: impl Fn(&Event) -> bool) -> Event {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            if let Some(event) = self.events().into_iter().find(|e| pred(e)) {
                return event;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let seen: Vec<_> = self
                    .updates()
                    .iter()
                    .map(|s| (s.task_id.value.clone(), s.state(), s.message.clone()))
                    .collect();
                panic!("timed out waiting for a scheduler event; updates so far: {seen:#?}");
            }
        }
    }

    /// Every UPDATE's status so far, in arrival order.
    pub fn updates(&self) -> Vec<TaskStatus> {
        self.events()
            .into_iter()
            .filter_map(|e| e.update.map(|u| u.status))
            .collect()
    }

    pub async fn wait_update(&self, timeout: Duration, task: &str, state: TaskState) -> TaskStatus {
        let event = self
            .wait_event(timeout, |e| {
                e.update
                    .as_ref()
                    .is_some_and(|u| u.status.task_id.value == task && u.status.state() == state)
            })
            .await;
        event.update.map(|u| u.status).unwrap_or_default()
    }

    async fn call(&self, call: Call) -> u16 {
        self.http
            .post(format!("{}{SCHEDULER_PATH}", self.master))
            .header("Content-Type", PROTOBUF)
            .header(STREAM_ID_HEADER, &self.stream_id)
            .body(call.encode_to_vec())
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    fn base(&self, kind: call::Type) -> Call {
        Call {
            framework_id: Some(FrameworkId {
                value: self.framework_id.clone(),
            }),
            r#type: Some(kind as i32),
            ..Default::default()
        }
    }

    /// Acknowledges every update with a uuid not acknowledged yet.
    pub async fn acknowledge_all(&self, done: &mut Vec<Vec<u8>>) {
        for status in self.updates() {
            let Some(uuid) = status.uuid.clone() else {
                continue;
            };
            if done.contains(&uuid) {
                continue;
            }
            done.push(uuid.clone());
            let mut ack = self.base(call::Type::Acknowledge);
            ack.acknowledge = Some(call::Acknowledge {
                agent_id: status.agent_id.clone().unwrap_or_default(),
                task_id: status.task_id.clone(),
                uuid,
            });
            assert_eq!(self.call(ack).await, 202);
        }
    }

    pub async fn wait_offer(&self) -> Offer {
        self.wait_offer_except(&[]).await
    }

    /// Waits for an offer whose id is not in `used`.
    pub async fn wait_offer_except(&self, used: &[&Offer]) -> Offer {
        let fresh = |o: &Offer| !used.iter().any(|u| u.id == o.id);
        let event = self
            .wait_event(Duration::from_secs(15), |e| {
                e.offers
                    .as_ref()
                    .is_some_and(|o| o.offers.iter().any(fresh))
            })
            .await;
        event
            .offers
            .and_then(|o| o.offers.into_iter().find(fresh))
            .unwrap_or_default()
    }

    /// LAUNCH_GROUP on `offer`; the executor gets this framework's id (a real master refuses
    /// the group without it: TASK_ERROR "'ExecutorInfo.framework_id' must be set").
    pub async fn launch_group(
        &self,
        offer: &Offer,
        mut executor: ExecutorInfo,
        tasks: Vec<TaskInfo>,
    ) {
        executor.framework_id.get_or_insert_with(|| FrameworkId {
            value: self.framework_id.clone(),
        });
        let mut accept = self.base(call::Type::Accept);
        accept.accept = Some(call::Accept {
            offer_ids: vec![offer.id.clone()],
            operations: vec![offer::Operation {
                r#type: Some(offer::operation::Type::LaunchGroup as i32),
                launch_group: Some(offer::operation::LaunchGroup {
                    executor,
                    task_group: TaskGroupInfo { tasks },
                }),
                ..Default::default()
            }],
            filters: None,
        });
        assert_eq!(self.call(accept).await, 202);
    }

    pub async fn kill(&self, task: &str, agent_id: &str) {
        self.kill_with_grace(task, agent_id, None).await;
    }

    /// KILL with a kill policy overriding the task's.
    pub async fn kill_with_grace(&self, task: &str, agent_id: &str, grace: Option<Duration>) {
        let mut kill = self.base(call::Type::Kill);
        kill.kill = Some(call::Kill {
            task_id: mesos_proto::v1::TaskId { value: task.into() },
            agent_id: Some(mesos_proto::v1::AgentId {
                value: agent_id.into(),
            }),
            kill_policy: grace.map(|g| mesos_proto::v1::KillPolicy {
                grace_period: Some(mesos_proto::v1::DurationInfo {
                    nanoseconds: i64::try_from(g.as_nanos()).unwrap_or(i64::MAX),
                }),
            }),
        });
        assert_eq!(self.call(kill).await, 202);
    }

    pub async fn shutdown(&self, executor_id: &str, agent_id: &str) {
        let mut shutdown = self.base(call::Type::Shutdown);
        shutdown.shutdown = Some(call::Shutdown {
            executor_id: ExecutorId {
                value: executor_id.into(),
            },
            agent_id: mesos_proto::v1::AgentId {
                value: agent_id.into(),
            },
        });
        assert_eq!(self.call(shutdown).await, 202);
    }
}
