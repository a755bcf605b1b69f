//! Health checks (`TaskInfo.health_check`) and general checks (`TaskInfo.check`): HTTP, TCP
//! and command probes on a timer, as Mesos runs them.
//!
//! Both share the probes and the timer loop; they differ in what a probe's [`Reading`] becomes.
//!
//! **Health checks** use `HealthCheck`'s defaults (delay 15 s, interval 10 s, timeout 20 s, 3
//! consecutive failures, grace 10 s). [`HealthTracker`] is the pure part: it turns pass/fail
//! into verdicts (health changed; kill the task), which [`spawn_checker`] feeds to the
//! supervisor as [`Event::Health`]. Rules, as Mesos' health checker:
//! - failures inside the grace period (counted from the task's start) are ignored until the
//!   task has been healthy once;
//! - health is reported when it changes (so the first success reports `healthy = true`, the
//!   first counted failure `healthy = false`);
//! - `consecutive_failures` counted failures in a row kill the task.
//!
//! **Checks** (`CheckInfo`, same delay/interval/timeout defaults) have no verdict: every
//! reading becomes a `CheckStatusInfo` ([`check_status`]) that [`spawn_check`] feeds to the
//! supervisor as [`Event::Check`]; the supervisor reports it when it changed and never kills.
//!
//! Probes: HTTP `GET http://<address>:<port><path>` (a health check passes on a status in
//! `statuses`, or 200..=399 when empty; `https` is not supported and fails); TCP connects to
//! `<address>:<port>`; a command runs through the process adapter with the task's directory
//! and environment. The address is the one the task was told to bind (`CARTRACK_HTTP_HOST`,
//! the agent's address unless set otherwise, see [`sandbox`]), else 127.0.0.1 as Mesos'
//! checker uses. A probe that outlives the timeout has no result: no exit code, no HTTP
//! status, no TCP connection.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use mesos_proto::v1::{
    check_info, check_status_info, health_check, CheckInfo, CheckStatusInfo, CommandInfo,
    HealthCheck,
};
use tokio::net::TcpStream;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use crate::process;
use crate::sandbox::{self, BIND_ENV};
use crate::supervisor::{Event, ExitStatus};

/// When a probe runs, with Mesos' defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Before the first probe.
    pub delay: Duration,
    /// Between probes.
    pub interval: Duration,
    /// One probe's limit; a slower probe has no result.
    pub timeout: Duration,
}

impl Timing {
    fn new(delay: f64, interval: f64, timeout: f64) -> Self {
        Timing {
            delay: secs(delay),
            interval: secs(interval),
            timeout: secs(timeout),
        }
    }

    /// The timing `check` asks for.
    pub fn of_check(check: &CheckInfo) -> Self {
        Timing::new(
            check.delay_seconds(),
            check.interval_seconds(),
            check.timeout_seconds(),
        )
    }
}

fn secs(value: f64) -> Duration {
    Duration::try_from_secs_f64(value.max(0.0)).unwrap_or(Duration::ZERO)
}

/// The timing and thresholds of one health check, with Mesos' defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// When the probe runs.
    pub timing: Timing,
    /// Counted failures in a row that kill the task.
    pub consecutive_failures: u32,
    /// From the task's start, failures are ignored until the first success.
    pub grace_period: Duration,
}

impl Schedule {
    /// The schedule `check` asks for.
    pub fn of(check: &HealthCheck) -> Self {
        Schedule {
            timing: Timing::new(
                check.delay_seconds(),
                check.interval_seconds(),
                check.timeout_seconds(),
            ),
            consecutive_failures: check.consecutive_failures().max(1),
            grace_period: secs(check.grace_period_seconds()),
        }
    }
}

/// What one health check result means for the task.
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

/// What one probe looks at.
#[derive(Debug, Clone, PartialEq)]
enum Probe {
    Http {
        port: u32,
        path: Option<String>,
        /// Only health checks name one; anything but `http` fails.
        scheme: Option<String>,
    },
    Tcp {
        port: u32,
    },
    Command(CommandInfo),
    /// The check lacks the part its type needs: it never passes and has no result.
    Unusable,
}

impl Probe {
    fn of_health_check(check: &HealthCheck) -> Self {
        match check.r#type() {
            health_check::Type::Http => {
                check
                    .http
                    .as_ref()
                    .map_or(Probe::Unusable, |http| Probe::Http {
                        port: http.port,
                        path: http.path.clone(),
                        scheme: http.scheme.clone(),
                    })
            }
            health_check::Type::Tcp => check
                .tcp
                .as_ref()
                .map_or(Probe::Unusable, |tcp| Probe::Tcp { port: tcp.port }),
            health_check::Type::Command => check
                .command
                .clone()
                .map_or(Probe::Unusable, Probe::Command),
            health_check::Type::Unknown => Probe::Unusable,
        }
    }

    fn of_check(check: &CheckInfo) -> Self {
        match check.r#type() {
            check_info::Type::Http => {
                check
                    .http
                    .as_ref()
                    .map_or(Probe::Unusable, |http| Probe::Http {
                        port: http.port,
                        path: http.path.clone(),
                        scheme: None,
                    })
            }
            check_info::Type::Tcp => check
                .tcp
                .as_ref()
                .map_or(Probe::Unusable, |tcp| Probe::Tcp { port: tcp.port }),
            check_info::Type::Command => {
                check.command.as_ref().map_or(Probe::Unusable, |command| {
                    Probe::Command(command.command.clone())
                })
            }
            check_info::Type::Unknown => Probe::Unusable,
        }
    }

    /// Runs the probe once, within `timeout`.
    async fn run(&self, context: &CheckContext, timeout: Duration) -> Reading {
        let address = context.address();
        let network = match self {
            Probe::Http { port, path, scheme } => {
                if scheme.as_deref().is_some_and(|scheme| scheme != "http") {
                    return Reading::Http(None);
                }
                tokio::time::timeout(timeout, http_get(address, *port, path.as_deref()))
                    .await
                    .map(Reading::Http)
            }
            Probe::Tcp { port } => tokio::time::timeout(timeout, tcp_connect(address, *port))
                .await
                .map(Reading::Tcp),
            // The adapter enforces the timeout itself, so that a slow command's process group
            // is killed and reaped rather than dropped.
            Probe::Command(command) => {
                return Reading::Exit(run_command(command, context, timeout).await)
            }
            Probe::Unusable => return Reading::Nothing,
        };
        network.unwrap_or_else(|_| self.timed_out())
    }

    fn timed_out(&self) -> Reading {
        match self {
            Probe::Http { .. } => Reading::Http(None),
            Probe::Tcp { .. } => Reading::Tcp(false),
            Probe::Command(_) => Reading::Exit(None),
            Probe::Unusable => Reading::Nothing,
        }
    }
}

/// What one probe saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// The command's exit code (128 + the signal when a signal ended it, as a shell says);
    /// `None` when it timed out or could not run.
    Exit(Option<i32>),
    /// The HTTP status; `None` on a connection error, an unsupported scheme or a timeout.
    Http(Option<u32>),
    /// Whether a TCP connection was made in time.
    Tcp(bool),
    /// The check lacks the part its type needs, so it cannot run.
    Nothing,
}

impl Reading {
    /// Whether a health check with these HTTP `statuses` passes.
    fn passes(self, statuses: &[u32]) -> bool {
        match self {
            Reading::Exit(code) => code == Some(0),
            Reading::Http(Some(status)) if statuses.is_empty() => (200..400).contains(&status),
            Reading::Http(Some(status)) => statuses.contains(&status),
            Reading::Http(None) | Reading::Nothing => false,
            Reading::Tcp(connected) => connected,
        }
    }
}

/// The `CheckStatusInfo` a check of type `kind` reports for `reading`: the type, and the part
/// of that type with the result left unset when there is none (`Reading::Nothing` gives the
/// empty status Mesos sends before the first result).
pub fn check_status(kind: check_info::Type, reading: Reading) -> CheckStatusInfo {
    let mut status = CheckStatusInfo {
        r#type: Some(kind as i32),
        ..Default::default()
    };
    match kind {
        check_info::Type::Command => {
            let exit_code = match reading {
                Reading::Exit(code) => code,
                _ => None,
            };
            status.command = Some(check_status_info::Command { exit_code });
        }
        check_info::Type::Http => {
            let status_code = match reading {
                Reading::Http(code) => code,
                _ => None,
            };
            status.http = Some(check_status_info::Http { status_code });
        }
        check_info::Type::Tcp => {
            let succeeded = match reading {
                Reading::Tcp(connected) => Some(connected),
                _ => None,
            };
            status.tcp = Some(check_status_info::Tcp { succeeded });
        }
        check_info::Type::Unknown => {}
    }
    status
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

/// Runs `probe` after `timing.delay`, then every `timing.interval` after the previous one
/// ended, handing each reading to `report` until it returns false or the handle is aborted.
fn spawn_probe_loop<F>(
    probe: Probe,
    timing: Timing,
    context: CheckContext,
    mut report: F,
) -> JoinHandle<()>
where
    F: FnMut(Reading) -> bool + Send + 'static,
{
    tokio::spawn(async move {
        tokio::time::sleep(timing.delay).await;
        loop {
            let reading = probe.run(&context, timing.timeout).await;
            if !report(reading) {
                return;
            }
            tokio::time::sleep(timing.interval).await;
        }
    })
}

/// Runs the health check `check` for a task until the returned handle is aborted or a kill
/// verdict is sent.
pub fn spawn_checker(
    check: HealthCheck,
    context: CheckContext,
    events: UnboundedSender<Event>,
) -> JoinHandle<()> {
    let started = Instant::now();
    let schedule = Schedule::of(&check);
    let statuses = check
        .http
        .as_ref()
        .map(|http| http.statuses.clone())
        .unwrap_or_default();
    let mut tracker = HealthTracker::new(schedule);
    let task_id = context.task_id.clone();
    let probe = Probe::of_health_check(&check);
    spawn_probe_loop(probe, schedule.timing, context, move |reading| {
        let verdict = tracker.observe(reading.passes(&statuses), started.elapsed());
        if verdict == Verdict::default() {
            return true;
        }
        let event = Event::Health {
            task_id: task_id.clone(),
            changed: verdict.changed,
            kill: verdict.kill,
        };
        events.send(event).is_ok() && !verdict.kill
    })
}

/// Runs the check `check` for a task until the returned handle is aborted, feeding every
/// result to the supervisor (which reports only changes).
pub fn spawn_check(
    check: CheckInfo,
    context: CheckContext,
    events: UnboundedSender<Event>,
) -> JoinHandle<()> {
    let kind = check.r#type();
    let task_id = context.task_id.clone();
    let probe = Probe::of_check(&check);
    spawn_probe_loop(probe, Timing::of_check(&check), context, move |reading| {
        let event = Event::Check {
            task_id: task_id.clone(),
            status: check_status(kind, reading),
        };
        events.send(event).is_ok()
    })
}

fn port(value: u32) -> Option<u16> {
    u16::try_from(value).ok().filter(|port| *port != 0)
}

async fn tcp_connect(address: IpAddr, port: u32) -> bool {
    match self::port(port) {
        Some(port) => TcpStream::connect((address, port)).await.is_ok(),
        None => false,
    }
}

/// `GET http://<address>:<port><path>`: the response's status, `None` when there is none.
async fn http_get(address: IpAddr, port: u32, path: Option<&str>) -> Option<u32> {
    let target = SocketAddr::new(address, self::port(port)?);
    let stream = TcpStream::connect(target).await.ok()?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(connection);
    let request = http::Request::get(path.unwrap_or("/"))
        .header(http::header::HOST, target.to_string())
        .body(Empty::<Bytes>::new())
        .ok()?;
    let response = sender.send_request(request).await.ok()?;
    Some(u32::from(response.status().as_u16()))
}

/// Runs `command` in the task's directory with its environment: the exit code, `None` when
/// it could not run or outlived `timeout`.
async fn run_command(
    command: &CommandInfo,
    context: &CheckContext,
    timeout: Duration,
) -> Option<i32> {
    let mut spec = sandbox::launch_spec(
        Path::new(&context.sandbox),
        &context.task_id,
        command,
        context.env.clone(),
    )
    .ok()?;
    spec.output = None;
    match process::run_check(&spec, timeout).await {
        Ok(Some(ExitStatus::Code(code))) => Some(code),
        Ok(Some(ExitStatus::Signal(signal))) => Some(128 + signal),
        Ok(None) => None,
        Err(error) => {
            tracing::debug!(task = %context.task_id, %error, "cannot run the check command");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(consecutive_failures: u32, grace_secs: u64) -> Schedule {
        Schedule {
            timing: Timing {
                delay: Duration::ZERO,
                interval: Duration::from_millis(10),
                timeout: Duration::from_secs(1),
            },
            consecutive_failures,
            grace_period: Duration::from_secs(grace_secs),
        }
    }

    #[test]
    fn defaults_follow_mesos() {
        let mesos = Timing {
            delay: Duration::from_secs(15),
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(20),
        };
        let s = Schedule::of(&HealthCheck::default());
        assert_eq!(s.timing, mesos);
        assert_eq!(s.consecutive_failures, 3);
        assert_eq!(s.grace_period, Duration::from_secs(10));
        assert_eq!(Timing::of_check(&CheckInfo::default()), mesos);
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
        let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let ok = Reading::Http(http_get(loopback, u32::from(port), Some("/ok")).await);
        let bad = Reading::Http(http_get(loopback, u32::from(port), Some("/bad")).await);
        assert_eq!(
            (ok, bad),
            (Reading::Http(Some(200)), Reading::Http(Some(503)))
        );
        assert!(ok.passes(&[]));
        assert!(!bad.passes(&[]));
        assert!(bad.passes(&[503]));
        assert!(!ok.passes(&[503]));
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        let gone = http_get(loopback, u32::from(closed_port), Some("/ok")).await;
        assert_eq!(gone, None);
        assert!(!Reading::Http(gone).passes(&[]));
        // A check reports the status whatever it is, and no status on a closed port.
        let check = |port: u16| CheckInfo {
            r#type: Some(check_info::Type::Http as i32),
            http: Some(check_info::Http {
                port: u32::from(port),
                path: Some("/bad".into()),
            }),
            ..Default::default()
        };
        let context = CheckContext {
            sandbox: std::env::temp_dir(),
            task_id: "t".into(),
            env: Vec::new(),
        };
        let second = Duration::from_secs(1);
        let served = Probe::of_check(&check(port)).run(&context, second).await;
        assert_eq!(
            check_status(check_info::Type::Http, served).http,
            Some(check_status_info::Http {
                status_code: Some(503)
            })
        );
        let refused = Probe::of_check(&check(closed_port))
            .run(&context, second)
            .await;
        assert_eq!(
            check_status(check_info::Type::Http, refused).http,
            Some(check_status_info::Http { status_code: None })
        );
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
        let probe = Probe::of_health_check(&tcp);
        let second = Duration::from_secs(1);
        assert_eq!(probe.run(&bound_there, second).await, Reading::Tcp(true));
        // Nothing listens on loopback's 127.0.0.1 at that port.
        assert_eq!(probe.run(&context(&[]), second).await, Reading::Tcp(false));
        for wildcard_or_name in ["0.0.0.0", "agent-7.example"] {
            let address = context(&[(BIND_ENV, wildcard_or_name)]).address();
            assert_eq!(
                address,
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                "{wildcard_or_name}"
            );
        }
    }

    fn command_check(script: &str, timeout_secs: f64) -> CheckInfo {
        CheckInfo {
            r#type: Some(check_info::Type::Command as i32),
            command: Some(check_info::Command {
                command: CommandInfo {
                    value: Some(script.into()),
                    ..Default::default()
                },
            }),
            timeout_seconds: Some(timeout_secs),
            ..Default::default()
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn command_checks_report_the_exit_code_in_the_task_directory_with_its_env() {
        let sandbox = tempfile::tempdir().unwrap();
        let context = CheckContext {
            sandbox: sandbox.path().to_path_buf(),
            task_id: "t".into(),
            env: vec![("GREETING".into(), "hi".into())],
        };
        std::fs::create_dir_all(sandbox::task_dir(sandbox.path(), "t")).unwrap();
        let run = |script: &str, timeout_secs: f64| {
            let check = command_check(script, timeout_secs);
            let context = context.clone();
            async move {
                let timing = Timing::of_check(&check);
                let reading = Probe::of_check(&check).run(&context, timing.timeout).await;
                check_status(check_info::Type::Command, reading)
                    .command
                    .and_then(|command| command.exit_code)
            }
        };
        assert_eq!(run("test -f ready", 10.0).await, Some(1));
        std::fs::write(sandbox::task_dir(sandbox.path(), "t").join("ready"), "").unwrap();
        assert_eq!(run("test -f ready", 10.0).await, Some(0));
        assert_eq!(
            run(r#"test "$GREETING" = hi && exit 7"#, 10.0).await,
            Some(7)
        );
        assert_eq!(run("kill -9 $$", 10.0).await, Some(128 + 9));
        // Too slow: no exit code at all.
        assert_eq!(run("sleep 300", 0.2).await, None);
    }

    #[test]
    fn check_statuses_carry_the_type_and_leave_a_missing_result_unset() {
        let empty = check_status(check_info::Type::Tcp, Reading::Nothing);
        assert_eq!(empty.r#type(), check_info::Type::Tcp);
        assert_eq!(empty.tcp, Some(check_status_info::Tcp { succeeded: None }));
        let refused = check_status(check_info::Type::Tcp, Reading::Tcp(false));
        assert_eq!(refused.tcp.and_then(|tcp| tcp.succeeded), Some(false));
        assert_eq!(
            check_status(check_info::Type::Command, Reading::Exit(None)).command,
            Some(check_status_info::Command { exit_code: None })
        );
        let incomplete = CheckInfo {
            r#type: Some(check_info::Type::Command as i32),
            ..Default::default()
        };
        assert_eq!(Probe::of_check(&incomplete), Probe::Unusable);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_check_loop_feeds_every_result_and_a_health_loop_only_changes() {
        let sandbox = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(sandbox::task_dir(sandbox.path(), "t")).unwrap();
        let context = CheckContext {
            sandbox: sandbox.path().to_path_buf(),
            task_id: "t".into(),
            env: Vec::new(),
        };
        let mut check = command_check("exit 3", 10.0);
        check.delay_seconds = Some(0.0);
        check.interval_seconds = Some(0.01);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let checker = spawn_check(check, context.clone(), tx.clone());
        for _ in 0..2 {
            let event = rx.recv().await.unwrap();
            let Event::Check { task_id, status } = event else {
                panic!("not a check result: {event:?}");
            };
            assert_eq!(task_id, "t");
            assert_eq!(status.command.and_then(|c| c.exit_code), Some(3));
        }
        checker.abort();
        let _ = checker.await;
        while rx.try_recv().is_ok() {}
        let health = HealthCheck {
            r#type: Some(health_check::Type::Command as i32),
            command: Some(CommandInfo {
                value: Some("exit 0".into()),
                ..Default::default()
            }),
            delay_seconds: Some(0.0),
            interval_seconds: Some(0.01),
            ..Default::default()
        };
        let checker = spawn_checker(health, context, tx);
        let first = rx.recv().await.unwrap();
        assert_eq!(
            first,
            Event::Health {
                task_id: "t".into(),
                changed: Some(true),
                kill: false
            }
        );
        // Later passes change nothing, so nothing more arrives.
        let more = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await;
        assert!(more.is_err(), "{more:?}");
        checker.abort();
    }
}
