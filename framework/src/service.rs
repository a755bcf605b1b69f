//! Wiring: store, session, subscription, operator API and driver loop, started together and
//! stopped together. The binary calls [`run`]; tests may too.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::auth::Authenticator;
use crate::config::Settings;
use crate::driver::{self, Core, DriverError, Request, Stopped};
use crate::ha::Fence;
use crate::mesos::{spawn_subscription, HttpCaller, Masters, Session, SubscribeConfig};
use crate::state::{Store, StoreError};

/// The variable the pipeline workers read their `--read-token` from.
const WORKER_READ_TOKEN_ENV: &str = "CARTRACK_WORKER_READ_TOKEN";

/// Why the scheduler could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The API address is taken or not ours; pick another `--http`.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The state could not be loaded.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The driver stopped on an error.
    #[error(transparent)]
    Driver(#[from] DriverError),
    /// `--master zk://...`: Mesos' ZooKeeper cannot be reached.
    #[error("cannot read the leading master from ZooKeeper")]
    MasterDetection(#[source] cartrack_zookeeper::ZkError),
}

/// Runs the scheduler until `shutdown` resolves or `fence` is lost. Shutting down does not
/// tear the framework down: tasks keep running for `failover_timeout` and are adopted on
/// the next start (or by the next leader).
///
/// In uninstall mode (`settings.uninstall`) the driver takes the service apart; once it has
/// (or when the store holds no framework id to begin with) the process never subscribes
/// again and serves only the finished plan until `shutdown`.
pub async fn run<S: Store + 'static>(
    settings: Settings,
    mut store: S,
    fence: Fence,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let stored = store.load().await?;
    let listener = TcpListener::bind(settings.http)
        .await
        .map_err(|source| RunError::Bind {
            addr: settings.http,
            source,
        })?;
    let api_addr = listener.local_addr().unwrap_or(settings.http);
    tracing::info!(%api_addr, "operator API listening");
    let tokens = crate::api::ApiTokens {
        write: settings.api_token.clone(),
        read: settings.read_token.clone(),
    };
    if settings.uninstall && stored.framework_id.is_none() {
        // Finished before (Marathon restarted us before removing the app), or never
        // registered: subscribing now would register a new framework.
        tracing::info!(
            "uninstall mode and no framework id stored: not subscribing; serving the finished plan"
        );
        store.clear().await?;
        let started = stored.uninstall.map_or(0, |u| u.started_at_ms);
        serve_uninstalled(listener, &settings, tokens, started, shutdown).await;
        return Ok(());
    }
    // The API's socket, kept to serve the finished plan after an uninstall without a moment
    // of refused connections.
    let (listener, kept) = listener
        .into_std()
        .and_then(|l| {
            let kept = l.try_clone()?;
            Ok((TcpListener::from_std(l)?, kept))
        })
        .map_err(|source| RunError::Bind {
            addr: settings.http,
            source,
        })?;
    let masters = Masters::start(&settings.masters, settings.zk_session_timeout)
        .await
        .map_err(RunError::MasterDetection)?;
    let session = Arc::new(Session::new(stored.framework_id.clone()));
    if let Some(path) = settings.trust.source() {
        tracing::info!(ca_file = %path.display(), "trusting this file's CAs besides the public roots");
    }
    let auth = Authenticator::new(&settings.credentials, &settings.trust);
    let mut core = Core::new(
        settings.spec.clone(),
        stored,
        settings.core.clone(),
        uuid::Uuid::new_v4().simple().to_string(),
        driver::now_ms(),
    );
    if settings.uninstall {
        // Persisted with the loop's first round; a no-op when resuming one.
        if let Err(e) = core.apply(Request::Uninstall.into(), driver::now_ms()) {
            tracing::warn!(error = %e, "uninstall refused");
        }
    }
    let (stream_tx, stream_rx) = mpsc::channel(1024);
    let (api_tx, api_rx) = mpsc::channel(64);
    let subscription = spawn_subscription(
        SubscribeConfig {
            masters: masters.clone(),
            fence: fence.clone(),
            framework: settings.framework.clone(),
            default_heartbeat: Duration::from_secs(15),
            missed_heartbeats: 5,
            trust: settings.trust.clone(),
        },
        session.clone(),
        auth.clone(),
        stream_tx,
    );
    let decisions = driver::decision_histogram();
    let load_sampler = tokio::spawn(crate::autoscale::sampler::run(
        driver::Handle::new(api_tx.clone()),
        crate::workers::client(settings.worker_read_token.as_deref()),
        settings.autoscale_interval,
    ));
    let samples = crate::report::Samples::default();
    let report_sampler = crate::report::sampler::spawn(
        crate::report::sampler::SamplerConfig {
            interval: settings.report_interval,
            timeout: settings.call_timeout,
            masters: masters.clone(),
            auth: auth.clone(),
        },
        &settings.trust,
        driver::Handle::new(api_tx.clone()),
        samples.clone(),
    );
    let api = tokio::spawn(crate::api::serve(
        listener,
        settings.tls.clone(),
        tokens.clone(),
        api_tx,
        crate::api::page::PageSources::new(masters, &settings.trust)
            .with_basemap(settings.basemap.clone())
            .with_worker_read_token(settings.worker_read_token.as_deref())
            .with_report(samples),
        decisions.clone(),
        crate::api::UpdateContext {
            roles: settings.framework.roles.clone(),
            env: std::env::vars().collect(),
        },
    ));
    let caller = HttpCaller::new(
        session.clone(),
        auth,
        &settings.trust,
        settings.call_timeout,
    );
    let task_env = settings
        .worker_read_token
        .iter()
        .map(|token| (WORKER_READ_TOKEN_ENV.to_string(), token.clone()))
        .collect();
    let encoder = driver::Encoder::new().with_task_env(task_env);
    tokio::pin!(shutdown);
    let result = driver::run_loop(
        core,
        store,
        caller,
        encoder,
        driver::Channels {
            session,
            fence,
            stream: stream_rx,
            requests: api_rx,
            decisions,
        },
        &mut shutdown,
    )
    .await;
    subscription.abort();
    load_sampler.abort();
    report_sampler.abort();
    api.abort();
    if result? == Stopped::Uninstalled {
        let listener = TcpListener::from_std(kept).map_err(|source| RunError::Bind {
            addr: settings.http,
            source,
        })?;
        serve_uninstalled(listener, &settings, tokens, driver::now_ms(), shutdown).await;
    }
    Ok(())
}

/// Serves the finished uninstall until `shutdown`: DC/OS removes the scheduler once it sees
/// the plan COMPLETE, and must not see it fail meanwhile (Marathon would restart it).
async fn serve_uninstalled(
    listener: TcpListener,
    settings: &Settings,
    tokens: crate::api::ApiTokens,
    started_at_ms: u64,
    shutdown: impl Future<Output = ()>,
) {
    tracing::info!("uninstalled: serving only the finished plan until stopped");
    let api = tokio::spawn(crate::api::uninstalled::serve(
        listener,
        settings.tls.clone(),
        tokens,
        started_at_ms,
    ));
    shutdown.await;
    api.abort();
}
