//! Health checks from `TaskInfo.health_check`: HTTP, TCP and command, with `HealthCheck`'s
//! defaults (delay 15 s, interval 10 s, timeout 20 s, 3 consecutive failures, grace 10 s).
//!
//! [`HealthTracker`] is the pure part: it turns check results into verdicts (health changed;
//! kill the task). [`spawn_checker`] is the loop that runs the checks and feeds verdicts to
//! the supervisor as [`Event::Health`]. Rules, as Mesos' health checker:
//! - failures inside the grace period (counted from the task's start) are ignored until the
//!   task has been healthy once;
//! - health is reported when it changes (so the first success reports `healthy = true`, the
//!   first counted failure `healthy = false`);
//! - `consecutive_failures` counted failures in a row kill the task.
//!
//! HTTP checks `GET http://<address>:<port><path>` and pass on a status in `statuses`, or
//! 200..=399 when empty; `https` is not supported and fails. TCP checks connect to
//! `<address>:<port>`. The address is the one the task was told to bind (`CARTRACK_HTTP_HOST`,
//! the agent's address unless set otherwise, see [`sandbox`]), else 127.0.0.1 as Mesos'
//! checker uses.
//! Command checks run through the process adapter with the task's directory and environment.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use mesos_proto::v1::{health_check, HealthCheck};
use tokio::net::TcpStream;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use crate::process;
use crate::sandbox::{self, BIND_ENV};
use crate::supervisor::Event;

/// The timing and thresholds of one check, with Mesos' defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// Before the first check.
    pub delay: Duration,
    /// Between checks.
    pub interval: Duration,
    /// One check's limit; a slower check fails.
    pub timeout: Duration,
    /// Counted failures in a row that kill the task.
    pub consecutive_failures: u32,
    /// From the task's start, failures are ignored until the first success.
    pub grace_period: Duration,
}

impl Schedule {
    /// The schedule `check` asks for.
    pub fn of(check: &HealthCheck) -> Self {
        let secs = |v: f64| Duration::try_from_secs_f64(v.max(0.0)).unwrap_or(Duration::ZERO);
        Schedule {
            delay: secs(check.delay_seconds()),
            interval: secs(check.interval_seconds()),
            timeout: secs(check.timeout_seconds()),
            consecutive_failures: check.consecutive_failures().max(1),
            grace_period: secs(check.grace_period_seconds()),
        }
    }
}

/// What one check result means for the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Verdict {
    /// The new health, when it changed.
    pub changed: Option<bool>,
    /// Kill the task.
    pub kill: bool,
}

/// The pure health state of one task.
#[derive(Debug, Clone)]
pub struct HealthTracker {
    schedule: Schedule,
    healthy: Option<bool>,
    ever_healthy: bool,
    failures: u32,
}

impl HealthTracker {
    /// A task not checked yet.
    pub fn new(schedule: Schedule) -> Self {
        HealthTracker {
            schedule,
            healthy: None,
            ever_healthy: false,
            failures: 0,
        }
    }

    /// Applies one result; `since_start` is the time since the task started.
    pub fn observe(&mut self, passed: bool, since_start: Duration) -> Verdict {
        if passed {
            self.failures = 0;
            self.ever_healthy = true;
            let changed = (self.healthy != Some(true)).then_some(true);
            self.healthy = Some(true);
            return Verdict {
                changed,
                kill: false,
            };
        }
        if !self.ever_healthy && since_start < self.schedule.grace_period {
            return Verdict::default();
        }
        self.failures += 1;
        let changed = (self.healthy != Some(false)).then_some(false);
        self.healthy = Some(false);
        Verdict {
            changed,
            kill: self.failures >= self.schedule.consecutive_failures,
        }
    }
}

/// Where a task runs, for command checks.
#[derive(Debug, Clone)]
pub struct CheckContext {
    /// The executor sandbox.
    pub sandbox: std::path::PathBuf,
    /// The task id.
    pub task_id: String,
    /// The environment the task got (command checks inherit it).
    pub env: Vec<(String, String)>,
}

impl CheckContext {
    /// Where the task's ports are reached: the address it was told to bind, else loopback
    /// (also for a wildcard, which loopback reaches).
    fn address(&self) -> IpAddr {
        self.env
            .iter()
            .rev()
            .find(|(name, _)| name == BIND_ENV)
            .and_then(|(_, value)| value.trim().parse::<IpAddr>().ok())
            .filter(|address| !address.is_unspecified())
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }
}

/// Runs `check` for a task until the returned handle is aborted or a kill verdict is sent.
pub fn spawn_checker(
    check: HealthCheck,
    context: CheckContext,
    events: UnboundedSender<Event>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let started = Instant::now();
        let schedule = Schedule::of(&check);
        let mut tracker = HealthTracker::new(schedule);
        tokio::time::sleep(schedule.delay).await;
        loop {
            let passed = tokio::time::timeout(schedule.timeout, run_once(&check, &context))
                .await
                .unwrap_or(false);
            let verdict = tracker.observe(passed, started.elapsed());
            if verdict != Verdict::default() {
                let event = Event::Health {
                    task_id: context.task_id.clone(),
                    changed: verdict.changed,
                    kill: verdict.kill,
                };
                if events.send(event).is_err() || verdict.kill {
                    return;
                }
            }
            tokio::time::sleep(schedule.interval).await;
        }
    })
}

async fn run_once(check: &HealthCheck, context: &CheckContext) -> bool {
    match check.r#type() {
        health_check::Type::Http => match &check.http {
            Some(http) => http_check(http, context.address()).await,
            None => false,
        },
        health_check::Type::Tcp => match check.tcp.as_ref().and_then(|tcp| port(tcp.port)) {
            Some(port) => TcpStream::connect((context.address(), port)).await.is_ok(),
            None => false,
        },
        health_check::Type::Command => match &check.command {
            Some(command) => command_check(command, context, check).await,
            None => false,
        },
        health_check::Type::Unknown => false,
    }
}

fn port(value: u32) -> Option<u16> {
    u16::try_from(value).ok().filter(|port| *port != 0)
}

async fn http_check(http: &health_check::HttpCheckInfo, address: IpAddr) -> bool {
    if http
        .scheme
        .as_deref()
        .is_some_and(|scheme| scheme != "http")
    {
        return false;
    }
    let Some(port) = port(http.port) else {
        return false;
    };
    let path = http.path.clone().unwrap_or_else(|| "/".to_string());
    let target = SocketAddr::new(address, port);
    let Ok(stream) = TcpStream::connect(target).await else {
        return false;
    };
    let Ok((mut sender, connection)) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    else {
        return false;
    };
    tokio::spawn(connection);
    let Ok(request) = http::Request::get(&path)
        .header(http::header::HOST, target.to_string())
        .body(Empty::<Bytes>::new())
    else {
        return false;
    };
    match sender.send_request(request).await {
        Ok(response) => {
            let status = u32::from(response.status().as_u16());
            if http.statuses.is_empty() {
                (200..400).contains(&status)
            } else {
                http.statuses.contains(&status)
            }
        }
        Err(_) => false,
    }
}

async fn command_check(
    command: &mesos_proto::v1::CommandInfo,
    context: &CheckContext,
    check: &HealthCheck,
) -> bool {
    let spec = sandbox::launch_spec(
        Path::new(&context.sandbox),
        &context.task_id,
        command,
        context.env.clone(),
    );
    match spec {
        Ok(mut spec) => {
            spec.output = None;
            let timeout = Schedule::of(check).timeout;
            process::run_check(&spec, timeout).await.unwrap_or(false)
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(consecutive_failures: u32, grace_secs: u64) -> Schedule {
        Schedule {
            delay: Duration::ZERO,
            interval: Duration::from_millis(10),
            timeout: Duration::from_secs(1),
            consecutive_failures,
            grace_period: Duration::from_secs(grace_secs),
        }
    }

    #[test]
    fn defaults_follow_mesos() {
        let s = Schedule::of(&HealthCheck::default());
        assert_eq!(s.delay, Duration::from_secs(15));
        assert_eq!(s.interval, Duration::from_secs(10));
        assert_eq!(s.timeout, Duration::from_secs(20));
        assert_eq!(s.consecutive_failures, 3);
        assert_eq!(s.grace_period, Duration::from_secs(10));
    }

    #[test]
    fn first_success_reports_healthy_once() {
        let mut t = HealthTracker::new(schedule(3, 0));
        assert_eq!(t.observe(true, Duration::ZERO).changed, Some(true));
        assert_eq!(t.observe(true, Duration::ZERO), Verdict::default());
    }

    #[test]
    fn failures_in_grace_period_are_ignored_until_first_success() {
        let mut t = HealthTracker::new(schedule(1, 10));
        assert_eq!(t.observe(false, Duration::from_secs(1)), Verdict::default());
        t.observe(true, Duration::from_secs(2));
        // After a success the grace period no longer protects.
        let v = t.observe(false, Duration::from_secs(3));
        assert_eq!(
            v,
            Verdict {
                changed: Some(false),
                kill: true
            }
        );
    }

    #[test]
    fn consecutive_failures_kill_and_a_success_resets_the_count() {
        let mut t = HealthTracker::new(schedule(3, 0));
        let late = Duration::from_secs(60);
        assert_eq!(
            t.observe(false, late),
            Verdict {
                changed: Some(false),
                kill: false
            }
        );
        assert_eq!(t.observe(false, late), Verdict::default());
        assert_eq!(t.observe(true, late).changed, Some(true));
        t.observe(false, late);
        t.observe(false, late);
        assert!(t.observe(false, late).kill);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn http_check_passes_on_listed_status_and_fails_on_closed_port() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|req: http::Request<_>| async move {
                        let status = if req.uri().path() == "/ok" { 200 } else { 503 };
                        http::Response::builder()
                            .status(status)
                            .body(Empty::<Bytes>::new())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let info = |path: &str| health_check::HttpCheckInfo {
            port: u32::from(port),
            path: Some(path.into()),
            ..Default::default()
        };
        let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert!(http_check(&info("/ok"), loopback).await);
        assert!(!http_check(&info("/bad"), loopback).await);
        let mut listed = info("/bad");
        listed.statuses = vec![503];
        assert!(http_check(&listed, loopback).await);
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        let mut gone = info("/ok");
        gone.port = u32::from(closed_port);
        assert!(!http_check(&gone, loopback).await);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn checks_reach_the_address_the_task_was_told_to_bind() {
        let own = Ipv4Addr::new(127, 0, 0, 3);
        let listener = tokio::net::TcpListener::bind((own, 0)).await.unwrap();
        let port = u32::from(listener.local_addr().unwrap().port());
        let tcp = HealthCheck {
            r#type: Some(health_check::Type::Tcp as i32),
            tcp: Some(health_check::TcpCheckInfo {
                port,
                ..Default::default()
            }),
            ..Default::default()
        };
        let context = |env: &[(&str, &str)]| CheckContext {
            sandbox: std::env::temp_dir(),
            task_id: "t".into(),
            env: env
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
        };
        let bound_there = context(&[(BIND_ENV, "127.0.0.3")]);
        assert_eq!(bound_there.address(), IpAddr::V4(own));
        assert!(run_once(&tcp, &bound_there).await);
        // Nothing listens on loopback's 127.0.0.1 at that port.
        assert!(!run_once(&tcp, &context(&[])).await);
        for wildcard_or_name in ["0.0.0.0", "agent-7.example"] {
            let address = context(&[(BIND_ENV, wildcard_or_name)]).address();
            assert_eq!(
                address,
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                "{wildcard_or_name}"
            );
        }
    }
}
