//! The adapter that takes the samples: every interval it asks the driver's loop for our
//! records (a read between two inputs; the loop itself never waits on the network), GETs the
//! leading master's `/master/state` with the scheduler's credentials, and keeps one
//! [`Sample`](super::Sample). A master that does not answer costs that sample only.

use std::collections::HashMap;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::sample::{self, Interner, OurTask, Records};
use super::Samples;
use crate::auth::Authenticator;
use crate::driver::{Core, Handle, ReadContext};
use crate::mesos::Masters;
use crate::tls::{describe, Trust};

/// Where and how often to sample.
#[derive(Debug, Clone)]
pub struct SamplerConfig {
    /// Time between two samples (`--report-interval`).
    pub interval: Duration,
    /// How long a master has to answer.
    pub timeout: Duration,
    /// The masters to ask when the session names no leader.
    pub masters: Masters,
    /// The scheduler's credentials, as its calls send them.
    pub auth: Authenticator,
}

/// Why one sample was not taken.
#[derive(Debug, thiserror::Error)]
enum SampleError {
    #[error("the scheduler's loop did not give its records")]
    Records,
    #[error("no master is known yet")]
    NoMaster,
    #[error("GET {url}: {reason}")]
    Master { url: String, reason: String },
}

/// What one read of the loop gives: the records and the leader the session knows.
struct Known {
    records: Records,
    leader: Option<String>,
}

fn known(core: &Core, cx: &ReadContext) -> Known {
    let state = core.state();
    let tasks: HashMap<String, OurTask> = state
        .tasks
        .values()
        .filter(|t| !t.state.is_terminal())
        .map(|t| {
            (
                t.task_id.clone(),
                OurTask {
                    group: t.group.clone(),
                    executor_id: t.executor_id.clone(),
                },
            )
        })
        .collect();
    Known {
        records: Records {
            framework_id: state.framework_id.clone(),
            tasks,
        },
        leader: cx.leader.clone(),
    }
}

/// Starts sampling into `samples` until the task is aborted.
pub fn spawn(
    config: SamplerConfig,
    trust: &Trust,
    driver: Handle,
    samples: Samples,
) -> JoinHandle<()> {
    let http = trust
        .client()
        .timeout(config.timeout)
        .build()
        .unwrap_or_default();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(config.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut names = Interner::default();
        let mut failing = false;
        loop {
            ticks.tick().await;
            match take(&config, &http, &driver, &mut names).await {
                Ok(sample) => {
                    if failing {
                        tracing::info!("utilisation samples are taken again");
                        failing = false;
                    }
                    samples.push(sample);
                }
                // Once per outage at warn: a master down for an hour must not flood the log.
                Err(error) if !failing => {
                    tracing::warn!(%error, "no utilisation sample this time");
                    failing = true;
                }
                Err(error) => tracing::debug!(%error, "no utilisation sample this time"),
            }
        }
    })
}

async fn take(
    config: &SamplerConfig,
    http: &reqwest::Client,
    driver: &Handle,
    names: &mut Interner,
) -> Result<sample::Sample, SampleError> {
    let known = driver.read(known).await.map_err(|_| SampleError::Records)?;
    let mut masters: Vec<String> = known.leader.into_iter().collect();
    for master in config.masters.known() {
        if !masters.contains(&master) {
            masters.push(master);
        }
    }
    let mut last = SampleError::NoMaster;
    for master in masters {
        match master_state(http, &config.auth, &master).await {
            Ok(state) => {
                let view = cartrack_webui::cluster::from_master_state(
                    &state,
                    known.records.framework_id.as_deref(),
                );
                return Ok(sample::sample(
                    crate::driver::now_ms(),
                    &view,
                    &known.records,
                    names,
                ));
            }
            Err(error) => last = error,
        }
    }
    Err(last)
}

/// `GET <master>/master/state` as JSON, with our `Authorization` (one fresh login after a 401
/// where the credentials allow one).
async fn master_state(
    http: &reqwest::Client,
    auth: &Authenticator,
    master: &str,
) -> Result<serde_json::Value, SampleError> {
    let url = format!("{}/master/state", master.trim_end_matches('/'));
    let failed = |reason: String| SampleError::Master {
        url: url.clone(),
        reason,
    };
    let mut refreshed = false;
    loop {
        let mut request = http.get(&url);
        let header = auth.header().await.map_err(|e| failed(e.to_string()))?;
        if let Some(value) = header {
            request = request.header(http::header::AUTHORIZATION, value);
        }
        let response = request.send().await.map_err(|e| failed(describe(&e)))?;
        if response.status() == reqwest::StatusCode::UNAUTHORIZED {
            auth.invalidate();
            if auth.can_refresh() && !refreshed {
                refreshed = true;
                continue;
            }
            return Err(failed(format!("401: {}", auth.unauthorized_hint())));
        }
        let response = response
            .error_for_status()
            .map_err(|e| failed(describe(&e)))?;
        return response.json().await.map_err(|e| failed(describe(&e)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Credentials, Secret};
    use axum::http::{header, HeaderMap, StatusCode};

    /// A master whose `/master/state` needs HTTP Basic `cartrack:s3cret`.
    async fn master() -> (String, tokio::task::JoinHandle<()>) {
        let app = axum::Router::new().route(
            "/master/state",
            axum::routing::get(|headers: HeaderMap| async move {
                // base64("cartrack:s3cret")
                match headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()) {
                    Some(b"Basic Y2FydHJhY2s6czNjcmV0") => {
                        Ok(axum::Json(serde_json::json!({"slaves": []})))
                    }
                    _ => Err(StatusCode::UNAUTHORIZED),
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (url, server)
    }

    #[tokio::test]
    async fn the_master_state_is_asked_with_the_schedulers_credentials() {
        let (url, server) = master().await;
        let http = reqwest::Client::new();
        let basic = Authenticator::new(
            &Credentials::Basic {
                principal: "cartrack".into(),
                secret: Secret::new("s3cret".into()),
            },
            &Trust::default(),
        );
        let state = master_state(&http, &basic, &format!("{url}/"))
            .await
            .expect("answered");
        assert_eq!(state, serde_json::json!({"slaves": []}));
        let refused = master_state(&http, &Authenticator::none(), &url)
            .await
            .expect_err("refused")
            .to_string();
        assert!(
            refused.contains(&format!("GET {url}/master/state: 401"))
                && refused.contains("--principal"),
            "{refused}"
        );
        server.abort();
    }
}
