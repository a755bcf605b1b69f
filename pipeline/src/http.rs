//! The HTTP endpoint every subcommand serves (metrics, and per subcommand the snapshot or the
//! position intake), over HTTPS with `--tls-cert`, and where its port comes from.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use cartrack_http::Https;
use cartrack_runtime::backoff::{Backoff, Schedule};
use cartrack_runtime::bearer::{bearer_token, same_token};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use serde::Serialize;
use tokio::net::TcpListener;

use crate::metrics::Metrics;

/// Environment variable through which the Mesos scheduler hands over the named port `http`.
pub const SCHEDULER_PORT_ENV: &str = "PORT_HTTP";
/// Environment variable a user sets for the port.
pub const USER_PORT_ENV: &str = "CARTRACK_HTTP_PORT";

/// An unusable port setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{source_name}={value:?} is not a port number; use an integer 0-65535 (0 picks a free port)"
)]
pub struct PortError {
    /// The variable that held it.
    pub source_name: &'static str,
    /// What it held.
    pub value: String,
}

/// The port to listen on: `--http-port`, else the scheduler's `PORT_HTTP`, else the user's
/// `CARTRACK_HTTP_PORT`, else 0 (any free port; the chosen one is printed).
pub fn resolve_port(
    flag: Option<u16>,
    scheduler_env: Option<String>,
    user_env: Option<String>,
) -> Result<u16, PortError> {
    if let Some(port) = flag {
        return Ok(port);
    }
    for (source_name, value) in [
        (SCHEDULER_PORT_ENV, scheduler_env),
        (USER_PORT_ENV, user_env),
    ] {
        if let Some(value) = value {
            return value
                .trim()
                .parse()
                .map_err(|_| PortError { source_name, value });
        }
    }
    Ok(0)
}

/// Binds the listener and announces it on stdout as `http: ADDRESS`, so scripts and tests can
/// find an ephemeral port.
pub async fn bind(host: IpAddr, port: u16) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(SocketAddr::new(host, port)).await?;
    println!("http: {}", listener.local_addr()?);
    Ok(listener)
}

/// Serves `app` on `listener` in a task of its own, over TLS with `https`. With `read_token`,
/// every request but the health and readiness checks (which Mesos and Marathon ask without
/// credentials) and the intake (whose callers are devices, not readers) needs
/// `Authorization: Bearer <token>`: `/metrics` and `/v1/snapshot` tell where every vehicle is.
pub fn spawn_server(
    listener: TcpListener,
    app: Router,
    read_token: Option<String>,
    https: Option<Https>,
) -> tokio::task::JoinHandle<()> {
    let app = match read_token {
        Some(token) => app.layer(axum::middleware::from_fn_with_state(
            Arc::<str>::from(token),
            require_read_token,
        )),
        None => app,
    };
    let scheme = if https.is_some() { "https" } else { "http" };
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(%address, scheme, "serving the HTTP endpoint");
    tokio::spawn(async move { cartrack_http::serve(listener, app, https.as_ref()).await })
}

/// Paths open without the read token.
const OPEN_PATHS: [&str; 3] = ["/v1/health", "/v1/ready", "/v1/positions"];

async fn require_read_token(
    axum::extract::State(token): axum::extract::State<Arc<str>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let given = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer_token);
    if OPEN_PATHS.contains(&request.uri().path()) || given.is_some_and(|g| same_token(g, &token)) {
        return next.run(request).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(axum::http::header::WWW_AUTHENTICATE, "Bearer")],
        Json(serde_json::json!({
            "error": "missing or wrong `Authorization: Bearer <token>` (the worker's --read-token)"
        })),
    )
        .into_response()
}

/// A router with `GET /metrics` and `GET /v1/health` (the scheduler's HTTP health check);
/// subcommands merge their own routes into it.
pub fn base_router(metrics: Metrics) -> Router {
    Router::new()
        .route("/v1/health", get(|| async { "ok" }))
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
                        metrics.render(),
                    )
                }
            }),
        )
}

/// How often a consumer asks the broker for metadata to learn whether it answers.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// How long a probe waits for the answer before the broker counts as unreachable.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Every this many probes, the consumer's lag is measured too (one watermark request per
/// partition it holds).
const LAG_EVERY_PROBES: u32 = 5;

/// The wait before a consumer reads again after an error, and between other retries of a
/// Kafka call: 0.1 s doubling to 5 s (librdkafka reconnects by itself; the wait keeps an outage
/// from flooding the log, and 5 s at most keeps the pipeline close behind a returning broker).
pub fn kafka_backoff() -> Backoff {
    Backoff::new(Schedule::doubling(
        Duration::from_millis(100),
        Duration::from_secs(5),
    ))
}

/// Whether the Kafka broker answers, for `GET /v1/ready` and the `broker_reachable` gauge.
///
/// Readiness, not liveness: `/v1/health` stays 200 while the broker is away (the process is
/// fine and retries; failing the health check would only make Mesos kill it).
#[derive(Debug, Clone)]
pub struct BrokerHealth {
    /// Why the broker counts as unreachable and since when; `None` while it answers.
    state: Arc<Mutex<Option<(String, Instant)>>>,
    metrics: Metrics,
}

/// The body of `GET /v1/ready`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Readiness {
    /// Whether the broker answers (the status is 200 if so, 503 if not).
    pub ready: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For how long not, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreachable_for_s: Option<f64>,
}

impl BrokerHealth {
    /// Unreachable until the first answer; `metrics` should have the broker gauge
    /// ([`Metrics::with_broker`]).
    pub fn new(metrics: Metrics) -> Self {
        metrics.set_broker_reachable(false);
        Self {
            state: Arc::new(Mutex::new(Some((
                "not connected to Kafka yet".to_owned(),
                Instant::now(),
            )))),
            metrics,
        }
    }

    /// The broker answered.
    pub fn reachable(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, since)) = state.take() {
            tracing::info!(after_s = since.elapsed().as_secs_f64(), "Kafka reachable");
        }
        self.metrics.set_broker_reachable(true);
    }

    /// The broker did not answer, or the client reported `reason`.
    pub fn unreachable(&self, reason: String) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut *state {
            Some((known, _)) => *known = reason,
            None => {
                tracing::warn!(%reason, "Kafka unreachable; retrying");
                *state = Some((reason, Instant::now()));
            }
        }
        self.metrics.set_broker_reachable(false);
    }

    /// A consumer's error: a fatal one (the client is unusable, only a restart helps) is
    /// returned; any other (transport failure, timeout, broker down) marks the broker
    /// unreachable and gives how long to wait before reading again, from `backoff` (reset it
    /// after the next message).
    pub fn consumer_error(
        &self,
        err: KafkaError,
        backoff: &mut Backoff,
    ) -> Result<Duration, KafkaError> {
        if matches!(err, KafkaError::MessageConsumptionFatal(_)) {
            return Err(err);
        }
        let wait = backoff.next_delay();
        tracing::warn!(error = %err, wait_ms = wait.as_millis() as u64, "Kafka consumer error; retrying");
        self.metrics.kafka_error();
        self.unreachable(err.to_string());
        Ok(wait)
    }

    /// What `/v1/ready` answers now.
    pub fn readiness(&self) -> Readiness {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match &*state {
            None => Readiness {
                ready: true,
                reason: None,
                unreachable_for_s: None,
            },
            Some((reason, since)) => Readiness {
                ready: false,
                reason: Some(format!("Kafka broker unreachable: {reason}")),
                unreachable_for_s: Some(since.elapsed().as_secs_f64()),
            },
        }
    }

    /// Asks the broker for the metadata of `topic` every [`PROBE_INTERVAL`] through
    /// `consumer`'s own connections, until the returned task is aborted. A frozen or
    /// partitioned broker sends no error, only silence, so silence is what this measures.
    /// Every few probes that were answered, it also measures the consumer's lag for the
    /// `consumer_lag_records` gauge.
    pub fn watch(
        &self,
        consumer: Arc<StreamConsumer>,
        topic: &'static str,
    ) -> tokio::task::JoinHandle<()> {
        let health = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(PROBE_INTERVAL);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut probes = 0u32;
            loop {
                ticker.tick().await;
                let consumer = Arc::clone(&consumer);
                let measure_lag = probes.is_multiple_of(LAG_EVERY_PROBES);
                probes = probes.wrapping_add(1);
                let metrics = health.metrics.clone();
                let probe = tokio::task::spawn_blocking(move || {
                    consumer
                        .client()
                        .fetch_metadata(Some(topic), PROBE_TIMEOUT)
                        .map(drop)?;
                    if measure_lag {
                        match crate::kafka::lag(&consumer, PROBE_TIMEOUT) {
                            Ok(records) => metrics.set_consumer_lag(records),
                            Err(err) => tracing::debug!(error = %err, "lag not measured"),
                        }
                    }
                    Ok::<(), KafkaError>(())
                })
                .await;
                match probe {
                    Ok(Ok(())) => health.reachable(),
                    Ok(Err(err)) => health.unreachable(format!(
                        "no metadata within {} s ({err})",
                        PROBE_TIMEOUT.as_secs()
                    )),
                    Err(err) => tracing::error!(error = %err, "broker probe failed"),
                }
            }
        })
    }
}

/// `GET /v1/ready`: 200 while the broker answers, else 503 with the reason (JSON).
pub fn readiness_router(health: BrokerHealth) -> Router {
    Router::new().route(
        "/v1/ready",
        get(move || {
            let readiness = health.readiness();
            async move {
                let status = if readiness.ready {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                (status, Json(readiness))
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client trusting only a new test CA, and HTTPS with a certificate it signed.
    fn test_https(dir: &std::path::Path) -> (reqwest::Client, Https) {
        let issued = cartrack_http::test_certs::issue_for_localhost().expect("test certificate");
        let files = cartrack_http::TlsFiles {
            cert: dir.join("server.crt"),
            key: dir.join("server.key"),
        };
        issued.write(&files).expect("write the files");
        let client = issued.client().expect("client");
        (client, Https::load(&files).expect("the files load"))
    }

    #[tokio::test]
    async fn with_a_read_token_only_the_checks_and_the_intake_are_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (https_client, https) = test_https(dir.path());
        for (client, https) in [(reqwest::Client::new(), None), (https_client, Some(https))] {
            read_token_guards_all_but_the_checks_and_the_intake(client, https).await;
        }
    }

    async fn read_token_guards_all_but_the_checks_and_the_intake(
        client: reqwest::Client,
        https: Option<Https>,
    ) {
        let app = base_router(Metrics::new("process", &[]))
            .route("/v1/snapshot", get(|| async { "{}" }))
            .route("/v1/ready", get(|| async { "ready" }))
            .route("/v1/positions", axum::routing::post(|| async { "{}" }));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let scheme = if https.is_some() { "https" } else { "http" };
        let base = format!("{scheme}://{}", listener.local_addr().expect("address"));
        let server = spawn_server(listener, app, Some("r3ad".into()), https);
        let status = |request: reqwest::RequestBuilder| async move {
            request.send().await.expect("answer").status().as_u16()
        };
        for path in ["/metrics", "/v1/snapshot"] {
            let url = format!("{base}{path}");
            assert_eq!(status(client.get(&url)).await, 401, "{path}");
            assert_eq!(status(client.get(&url).bearer_auth("wrong")).await, 401);
            assert_eq!(status(client.get(&url).bearer_auth("r3ad")).await, 200);
        }
        for path in ["/v1/health", "/v1/ready"] {
            assert_eq!(
                status(client.get(format!("{base}{path}"))).await,
                200,
                "{path}"
            );
        }
        let intake = client.post(format!("{base}/v1/positions"));
        assert_eq!(status(intake).await, 200);
        server.abort();
    }

    #[test]
    fn readiness_follows_the_broker_and_the_gauge_with_it() {
        let metrics = Metrics::with_broker("index", &[]);
        let health = BrokerHealth::new(metrics.clone());
        let before = health.readiness();
        assert!(!before.ready);
        assert!(before.reason.unwrap().contains("not connected"));
        health.reachable();
        assert_eq!(health.readiness().reason, None);
        assert!(metrics
            .render()
            .contains("cartrack_index_broker_reachable 1"));
        health.unreachable("timed out".into());
        health.unreachable("timed out again".into());
        let after = health.readiness();
        assert!(!after.ready);
        assert_eq!(
            after.reason.as_deref(),
            Some("Kafka broker unreachable: timed out again")
        );
        assert!(metrics
            .render()
            .contains("cartrack_index_broker_reachable 0"));
    }

    #[test]
    fn port_precedence_is_flag_then_scheduler_then_user() {
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(resolve_port(Some(1), some("2"), some("3")), Ok(1));
        assert_eq!(resolve_port(None, some("2"), some("3")), Ok(2));
        assert_eq!(resolve_port(None, None, some("3")), Ok(3));
        assert_eq!(resolve_port(None, None, None), Ok(0));
        let err = resolve_port(None, some("http"), None).unwrap_err();
        assert_eq!(err.source_name, "PORT_HTTP");
        assert!(err.to_string().contains("0-65535"));
    }
}
