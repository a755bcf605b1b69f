//! The adapter loop: the framework crate's subscription feeds the [`Core`] events, a tick
//! feeds it time, a stop request feeds it [`Input::Stop`]; its effects go out as calls
//! through the framework crate's [`HttpCaller`], one after the other, in order.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cartrack_framework::auth::Authenticator;
use cartrack_framework::ha::Fence;
use cartrack_framework::mesos::calls::{self, FrameworkSettings};
use cartrack_framework::mesos::{
    spawn_subscription, Caller, HttpCaller, Masters, Session, StreamEvent, SubscribeConfig,
};
use cartrack_framework::tls::Trust;
use cartrack_runtime::task::AbortOnDrop;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::config::Settings;
use crate::core::{Core, CoreConfig, Effect, Input};
use crate::{encode, metrics};

/// How often time is fed to the core: the curve is sampled this often (real time).
const TICK: Duration = Duration::from_millis(100);

/// How long the master keeps our tasks when this process dies without a TEARDOWN: short, so
/// a killed load generator leaves no load behind for long.
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(60);

/// Each call's answer timeout.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// After a stop request, how long a broken subscription may take to come back so that the
/// TEARDOWN can be sent; past it the process ends and the failover timeout cleans up.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// ZooKeeper session timeout when `--master` is `zk://`.
const ZK_SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the run ended badly.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// `--master zk://...` cannot be read.
    #[error("cannot read the leading master from ZooKeeper")]
    MasterDetection(#[source] cartrack_zookeeper::ZkError),
    /// The master sent an ERROR event (e.g. the framework was removed).
    #[error("the master refused the framework: {0}")]
    Refused(String),
    /// The subscription task ended (master detection stopped).
    #[error("the subscription stopped: no master to subscribe to")]
    SubscriptionStopped,
}

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// TEARDOWN sent (or nothing was ever registered).
    TornDown,
    /// Stopped while no subscription was open: the master removes the framework after its
    /// failover timeout.
    LeftToFailover,
}

/// Runs the tenant until the curve ends, `--duration` passes or `shutdown` resolves; serves
/// `/metrics` on `listener` meanwhile.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<Ended, RunError> {
    let mut core = Core::new(
        CoreConfig {
            time_scale: settings.time_scale,
            duration: settings.duration,
            task: settings.task,
            task_prefix: settings.name.clone(),
        },
        settings.curve.clone(),
    );
    let (snapshots, snapshot) = watch::channel(core.snapshot());
    let _server = AbortOnDrop::spawn(cartrack_http::serve(
        listener,
        metrics::router(snapshot),
        None,
    ));
    let masters = Masters::start(&settings.masters, ZK_SESSION_TIMEOUT)
        .await
        .map_err(RunError::MasterDetection)?;
    let session = Arc::new(Session::new(None));
    let auth = Authenticator::none();
    let trust = Trust::default();
    let (events_tx, mut events) = mpsc::channel(1024);
    let subscription = spawn_subscription(
        SubscribeConfig {
            masters,
            fence: Fence::none(),
            framework: FrameworkSettings {
                user: settings.user.clone(),
                name: settings.name.clone(),
                roles: vec![settings.role.clone()],
                principal: None,
                failover_timeout_seconds: FAILOVER_TIMEOUT.as_secs_f64(),
                webui_url: None,
            },
            default_heartbeat: Duration::from_secs(15),
            missed_heartbeats: 5,
            trust: trust.clone(),
        },
        session.clone(),
        auth.clone(),
        events_tx,
    );
    let _subscription = AbortOnDrop::spawn(async move {
        let _ = subscription.await;
    });
    let caller = HttpCaller::new(session.clone(), auth, &trust, CALL_TIMEOUT);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    let start = Instant::now();
    let mut stop_deadline: Option<Instant> = None;
    loop {
        let input = tokio::select! {
            event = events.recv() => match event {
                Some(StreamEvent::Event(event)) => Input::Event(event),
                Some(StreamEvent::Disconnected { reason }) => {
                    tracing::warn!(%reason, "event stream ended; subscribing again");
                    Input::Disconnected
                }
                Some(StreamEvent::Connected { leader }) => {
                    tracing::info!(%leader, "subscribed to the master");
                    continue;
                }
                None => return Err(RunError::SubscriptionStopped),
            },
            _ = tick.tick() => Input::Tick,
            () = &mut shutdown, if stop_deadline.is_none() => {
                stop_deadline = Some(Instant::now() + STOP_GRACE);
                Input::Stop
            }
        };
        if stop_deadline.is_some_and(|d| Instant::now() >= d) {
            tracing::warn!(
                failover_timeout_secs = FAILOVER_TIMEOUT.as_secs(),
                "stopping without TEARDOWN: no subscription came back; the master removes the framework after its failover timeout"
            );
            return Ok(Ended::LeftToFailover);
        }
        let effects = core.handle(input, start.elapsed());
        if let Some(id) = core.framework_id() {
            if session.framework_id().as_deref() != Some(id) {
                tracing::info!(framework_id = id, "registered");
                // Re-subscriptions keep the framework (and its tasks).
                session.set_framework_id(id.to_string());
            }
        }
        snapshots.send_replace(core.snapshot());
        for effect in effects {
            match effect {
                Effect::Finish => {
                    tracing::info!("done");
                    return Ok(Ended::TornDown);
                }
                Effect::Abort(message) => return Err(RunError::Refused(message)),
                effect => send(&caller, &core, &effect).await,
            }
        }
    }
}

/// Sends one effect's call; a failure is logged, as the demand rule retries what matters
/// (a lost launch ends as TASK_LOST or is never seen, a lost kill is sent again on the next
/// SUBSCRIBED).
async fn send(caller: &HttpCaller, core: &Core, effect: &Effect) {
    let Some(framework_id) = core.framework_id() else {
        return;
    };
    let Some(call) = encode::call(framework_id, core.task_size(), effect) else {
        return;
    };
    match effect {
        Effect::Launch {
            agent_id, task_ids, ..
        } => tracing::info!(agent = %agent_id, tasks = ?task_ids, "launching"),
        Effect::Kill { task_id, .. } => tracing::info!(task = %task_id, "killing (demand fell)"),
        Effect::Suppress => tracing::info!("at demand: suppressing offers"),
        Effect::Revive => tracing::info!("below demand: reviving offers"),
        Effect::Teardown => tracing::info!(framework_id, "tearing the framework down"),
        _ => tracing::debug!(call = calls::type_name(&call), "sending"),
    }
    if let Err(e) = caller.call(call).await {
        tracing::warn!(error = %e, "call failed");
    }
}
