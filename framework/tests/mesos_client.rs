//! The Mesos client against a scripted fake master (kube's `mock_tests` style): redirects,
//! 503 retries, 403 re-subscription, the heartbeat watchdog, RecordIO split across chunks.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cartrack_framework::auth::Authenticator;
use cartrack_framework::mesos::calls::{self, FrameworkSettings};
use cartrack_framework::mesos::{
    spawn_subscription, CallError, Caller, HttpCaller, Session, StreamEvent, SubscribeConfig,
};
use cartrack_framework::tls::Trust;
use futures::channel::mpsc as fmpsc;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::Frame;
use mesos_proto::v1::scheduler::{event, Call, Event};
use mesos_proto::v1::FrameworkId;
use prost::Message;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const CALL_TIMEOUT: Duration = Duration::from_secs(10);

type Body = BoxBody<Bytes, Infallible>;

/// What the fake master answers next.
enum Reply {
    Status(u16),
    Redirect(String),
    /// 200 + stream id, then these chunks; the stream stays open (silent) afterwards.
    Stream(Vec<Vec<u8>>),
}

#[derive(Default)]
struct Script {
    replies: VecDeque<Reply>,
    calls: Vec<(Call, Option<String>)>,
    open_streams: Vec<fmpsc::UnboundedSender<Result<Frame<Bytes>, Infallible>>>,
}

#[derive(Clone)]
struct FakeMaster {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
}

impl FakeMaster {
    async fn start() -> FakeMaster {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let script = Arc::new(Mutex::new(Script::default()));
        let shared = script.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let shared = shared.clone();
                            async move {
                                let stream_id = req
                                    .headers()
                                    .get("Mesos-Stream-Id")
                                    .and_then(|v| v.to_str().ok())
                                    .map(String::from);
                                let body = req
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes())
                                    .unwrap_or_default();
                                let call = Call::decode(body).unwrap_or_default();
                                let mut s = shared.lock().expect("script");
                                s.calls.push((call, stream_id));
                                let reply = s.replies.pop_front().unwrap_or(Reply::Status(202));
                                let response = match reply {
                                    Reply::Status(code) => hyper::Response::builder()
                                        .status(code)
                                        .body(Full::new(Bytes::from_static(b"scripted")).boxed()),
                                    Reply::Redirect(location) => hyper::Response::builder()
                                        .status(307)
                                        .header("Location", location)
                                        .body(Full::new(Bytes::new()).boxed()),
                                    Reply::Stream(chunks) => {
                                        let (tx, rx) = fmpsc::unbounded();
                                        for chunk in chunks {
                                            let _ = tx.unbounded_send(Ok(Frame::data(
                                                Bytes::from(chunk),
                                            )));
                                        }
                                        s.open_streams.push(tx);
                                        let body: Body = StreamBody::new(rx).boxed();
                                        hyper::Response::builder()
                                            .status(200)
                                            .header("Mesos-Stream-Id", "stream-1")
                                            .body(body)
                                    }
                                };
                                Ok::<_, Infallible>(response.expect("response"))
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeMaster { addr, script }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn push(&self, reply: Reply) {
        self.script.lock().expect("script").replies.push_back(reply);
    }

    fn calls(&self) -> Vec<(Call, Option<String>)> {
        self.script.lock().expect("script").calls.clone()
    }

    /// Ends every open event stream (as a master closing the connection).
    fn close_streams(&self) {
        self.script.lock().expect("script").open_streams.clear();
    }
}

fn record(event: &Event) -> Vec<u8> {
    let bytes = event.encode_to_vec();
    let mut out = format!("{}\n", bytes.len()).into_bytes();
    out.extend(bytes);
    out
}

fn subscribed(heartbeat: f64) -> Event {
    Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(event::Subscribed {
            framework_id: FrameworkId {
                value: "fw-1".into(),
            },
            heartbeat_interval_seconds: Some(heartbeat),
            master_info: None,
        }),
        ..Event::default()
    }
}

fn settings() -> FrameworkSettings {
    FrameworkSettings {
        user: "tester".into(),
        name: "cartrack".into(),
        roles: vec!["*".into()],
        principal: None,
        failover_timeout_seconds: 604_800.0,
        webui_url: None,
    }
}

fn subscribe_config(masters: Vec<String>) -> SubscribeConfig {
    SubscribeConfig {
        masters: cartrack_framework::mesos::Masters::List(masters),
        fence: cartrack_framework::ha::Fence::none(),
        framework: settings(),
        default_heartbeat: Duration::from_secs(15),
        missed_heartbeats: 5,
        trust: Trust::default(),
    }
}

async fn next(rx: &mut mpsc::Receiver<StreamEvent>) -> StreamEvent {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("event in time")
        .expect("channel open")
}

fn connected_session(master: &FakeMaster) -> Arc<Session> {
    let session = Arc::new(Session::new(Some("fw-1".into())));
    session.set_leader(Some(master.url()));
    session.set_stream_id(Some("stream-1".into()));
    session
}

#[tokio::test]
async fn calls_carry_the_stream_id_and_follow_redirects() {
    let leader = FakeMaster::start().await;
    let standby = FakeMaster::start().await;
    standby.push(Reply::Redirect(format!(
        "//{}/api/v1/scheduler",
        leader.addr
    )));
    let session = connected_session(&standby);
    let caller = HttpCaller::new(
        session.clone(),
        Authenticator::none(),
        &Trust::default(),
        CALL_TIMEOUT,
    );
    caller
        .call(calls::revive("fw-1"))
        .await
        .expect("accepted after redirect");
    assert_eq!(session.leader(), Some(leader.url()));
    let (call, stream_id) = &leader.calls()[0];
    assert_eq!(calls::type_name(call), "REVIVE");
    assert_eq!(stream_id.as_deref(), Some("stream-1"));
}

#[tokio::test]
async fn calls_retry_503_and_classify_403_and_400() {
    let master = FakeMaster::start().await;
    let session = connected_session(&master);
    let caller = HttpCaller::new(
        session.clone(),
        Authenticator::none(),
        &Trust::default(),
        CALL_TIMEOUT,
    );
    master.push(Reply::Status(503));
    master.push(Reply::Status(503));
    caller
        .call(calls::suppress("fw-1"))
        .await
        .expect("third attempt accepted");
    assert_eq!(master.calls().len(), 3);
    master.push(Reply::Status(403));
    assert!(matches!(
        caller.call(calls::revive("fw-1")).await,
        Err(CallError::Resubscribe { .. })
    ));
    master.push(Reply::Status(400));
    let err = caller.call(calls::revive("fw-1")).await.expect_err("400");
    assert!(
        matches!(&err, CallError::Rejected { reason, .. } if reason.contains("scripted")),
        "{err}"
    );
    let unsubscribed = HttpCaller::new(
        Arc::new(Session::new(None)),
        Authenticator::none(),
        &Trust::default(),
        CALL_TIMEOUT,
    );
    assert!(matches!(
        unsubscribed.call(calls::revive("fw-1")).await,
        Err(CallError::NotSubscribed)
    ));
}

#[tokio::test]
async fn subscription_follows_redirect_and_decodes_records_split_across_chunks() {
    let leader = FakeMaster::start().await;
    let standby = FakeMaster::start().await;
    standby.push(Reply::Redirect(format!(
        "//{}/api/v1/scheduler",
        leader.addr
    )));
    // One SUBSCRIBED record cut into single bytes, then a HEARTBEAT and an UPDATE-less OFFERS
    // sharing one chunk.
    let mut chunks: Vec<Vec<u8>> = record(&subscribed(15.0))
        .into_iter()
        .map(|b| vec![b])
        .collect();
    let heartbeat = Event {
        r#type: Some(event::Type::Heartbeat as i32),
        ..Event::default()
    };
    let offers = Event {
        r#type: Some(event::Type::Offers as i32),
        offers: Some(event::Offers { offers: Vec::new() }),
        ..Event::default()
    };
    chunks.push([record(&heartbeat), record(&offers)].concat());
    leader.push(Reply::Stream(chunks));
    let session = Arc::new(Session::new(None));
    let (tx, mut rx) = mpsc::channel(16);
    let handle = spawn_subscription(
        subscribe_config(vec![standby.url()]),
        session.clone(),
        Authenticator::none(),
        tx,
    );
    assert!(
        matches!(next(&mut rx).await, StreamEvent::Connected { leader: l } if l == leader.url())
    );
    let types: Vec<i32> = [
        next(&mut rx).await,
        next(&mut rx).await,
        next(&mut rx).await,
    ]
    .into_iter()
    .filter_map(|e| match e {
        StreamEvent::Event(e) => e.r#type,
        _ => None,
    })
    .collect();
    assert_eq!(
        types,
        vec![
            event::Type::Subscribed as i32,
            event::Type::Heartbeat as i32,
            event::Type::Offers as i32
        ]
    );
    assert_eq!(session.stream_id().as_deref(), Some("stream-1"));
    let (first, stream_id) = &leader.calls()[0];
    assert!(stream_id.is_none(), "SUBSCRIBE never carries a stream id");
    let info = &first.subscribe.as_ref().expect("subscribe").framework_info;
    assert_eq!(info.failover_timeout, Some(604_800.0));
    assert_eq!(info.checkpoint, Some(true));
    assert_eq!(
        info.capabilities.len(),
        3,
        "MULTI_ROLE, TASK_KILLING_STATE, PARTITION_AWARE"
    );
    handle.abort();
}

#[tokio::test]
async fn silent_stream_trips_the_watchdog_and_resubscribes_with_the_framework_id() {
    let master = FakeMaster::start().await;
    // Heartbeat every 0.1 s announced, then silence: 5 missed = 0.5 s.
    master.push(Reply::Stream(vec![record(&subscribed(0.1))]));
    master.push(Reply::Stream(vec![record(&subscribed(15.0))]));
    let session = Arc::new(Session::new(None));
    let (tx, mut rx) = mpsc::channel(16);
    let handle = spawn_subscription(
        subscribe_config(vec![master.url()]),
        session.clone(),
        Authenticator::none(),
        tx,
    );
    assert!(matches!(next(&mut rx).await, StreamEvent::Connected { .. }));
    assert!(matches!(next(&mut rx).await, StreamEvent::Event(_)));
    session.set_framework_id("fw-1".into()); // what the driver does once it is persisted
    let started = Instant::now();
    match next(&mut rx).await {
        StreamEvent::Disconnected { reason } => {
            assert!(reason.contains("missed heartbeats"), "{reason}")
        }
        other => panic!("expected a disconnect, got {other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert!(matches!(next(&mut rx).await, StreamEvent::Connected { .. }));
    let calls = master.calls();
    let second = calls[1].0.subscribe.as_ref().expect("second subscribe");
    assert_eq!(
        second.framework_info.id.as_ref().map(|i| i.value.as_str()),
        Some("fw-1")
    );
    assert_eq!(
        calls[1].0.framework_id.as_ref().map(|i| i.value.as_str()),
        Some("fw-1")
    );
    // A master closing the stream is also a disconnect.
    master.close_streams();
    assert!(
        matches!(next(&mut rx).await, StreamEvent::Event(_)),
        "SUBSCRIBED of the second stream"
    );
    assert!(
        matches!(next(&mut rx).await, StreamEvent::Disconnected { reason } if reason.contains("closed"))
    );
    handle.abort();
}
