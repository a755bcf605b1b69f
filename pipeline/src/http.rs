//! The HTTP endpoint every subcommand serves (metrics, and per subcommand the snapshot or the
//! position intake), and where its port comes from.

use std::net::{IpAddr, SocketAddr};

use axum::routing::get;
use axum::Router;
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

#[cfg(test)]
mod tests {
    use super::*;

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
