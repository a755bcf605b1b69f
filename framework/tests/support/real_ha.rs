//! Real-Mesos high availability and authentication (`real_mesos_ha.rs`, `auth.rs`,
//! `benches/failover.rs`): the leading real master's state, a master failover as the new leader
//! reports it, and the HTTP Basic case the dev cluster and a real Mesos both run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cartrack_devcluster::DevCluster;
use cartrack_testcluster::RealMesos;
use mesos_proto::v1::scheduler::call;
use serde_json::Value;

use super::{calls, is, wait_until, Scheduler};

/// The bound of every wait of the shared authentication case.
const T: Duration = Duration::from_secs(60);

/// A client that does not follow a standby master's 307 (we ask the leader itself).
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .expect("HTTP client")
}

/// The leading master's index and `/master/state`; `None` while no live master leads.
pub async fn leading_state(mesos: &mut RealMesos) -> Option<(usize, Value)> {
    let i = mesos.leader().await?;
    let url = format!("{}/master/state", mesos.master_url_of(i));
    let state: Value = client().get(url).send().await.ok()?.json().await.ok()?;
    state["elected_time"].is_number().then_some((i, state))
}

/// Framework `id` as a master's state shows it.
pub fn framework<'a>(state: &'a Value, id: &str) -> Option<&'a Value> {
    state["frameworks"]
        .as_array()?
        .iter()
        .find(|f| f["id"] == id)
}

/// A framework's tasks on a master's state: task id -> state.
pub fn tasks_of(framework: &Value) -> BTreeMap<String, String> {
    framework["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some((
                t["id"].as_str()?.to_string(),
                t["state"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// Waits until the leading master shows framework `id` active with exactly the tasks
/// `task_ids`, all RUNNING (after a master failover: the agents re-registered them);
/// returns that state.
pub async fn wait_master_runs(
    mesos: &mut RealMesos,
    id: &str,
    want: &BTreeSet<String>,
    within: Duration,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let state = leading_state(mesos).await;
        let runs = state.as_ref().is_some_and(|(_, state)| {
            framework(state, id).is_some_and(|f| {
                let tasks = tasks_of(f);
                f["active"] == true
                    && tasks.len() == want.len()
                    && want
                        .iter()
                        .all(|t| tasks.get(t).map(String::as_str) == Some("TASK_RUNNING"))
            })
        });
        if let (true, Some((_, state))) = (runs, &state) {
            return state.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the leading master never showed framework {id} active with {want:?} RUNNING \
             within {within:?}; last state: {}; Mesos logs in {}",
            state.map(|(_, s)| summary(&s)).unwrap_or_default(),
            mesos.run_dir().join("logs").display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The frameworks of a master's state without their resources and offers, for messages.
pub fn summary(state: &Value) -> String {
    let frameworks: Vec<Value> = state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            serde_json::json!({
                "id": f["id"], "active": f["active"], "connected": f["connected"],
                "recovered": f["recovered"], "registered_time": f["registered_time"],
                "reregistered_time": f["reregistered_time"], "tasks": tasks_of(f),
            })
        })
        .collect();
    format!(
        "leader {} elected_time {} frameworks {}",
        state["leader"],
        state["elected_time"],
        Value::from(frameworks)
    )
}

/// One master failover as the new leading master reports it (times in seconds since the
/// epoch, the masters' own clock).
#[derive(Debug, Clone)]
pub struct Failover {
    /// The master that was killed.
    pub killed: usize,
    /// The master that leads now.
    pub leader: usize,
    /// When the old leader was killed.
    pub killed_at: f64,
    /// The new leader's `elected_time`.
    pub elected_time: f64,
    /// The framework's `reregistered_time` on the new leader. A new leader with the
    /// in-memory registry shows both `registered_time` and `reregistered_time` (the same
    /// instant, a few µs apart); `registered_time` is taken only if the other is missing.
    pub reregistered_time: f64,
    /// From the kill until the bench saw the framework active on the new leader.
    pub kill_to_active: Duration,
}

impl Failover {
    /// From the new leader's election to the framework's re-registration: what the
    /// scheduler's failover handling controls.
    pub fn elected_to_reregistered(&self) -> f64 {
        self.reregistered_time - self.elected_time
    }

    /// From the kill to the election: the dead leader's ZooKeeper session running out.
    pub fn killed_to_elected(&self) -> f64 {
        self.elected_time - self.killed_at
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// `kill -9` of the leading master, then waits (at most `within`) until another master
/// leads and shows framework `id` active again; the times its state gives.
pub async fn fail_over_master(
    mesos: &mut RealMesos,
    id: &str,
    within: Duration,
) -> Result<Failover, String> {
    let killed = mesos.leader().await.ok_or("no master leads")?;
    let killed_at = unix_now();
    mesos.kill_master(killed);
    let started = Instant::now();
    let mut last = None;
    loop {
        if let Some((leader, state)) = leading_state(mesos).await {
            let active = framework(&state, id).filter(|f| f["active"] == true);
            let time = active.and_then(|f| {
                f["reregistered_time"]
                    .as_f64()
                    .or_else(|| f["registered_time"].as_f64())
            });
            if let (Some(reregistered_time), Some(elected_time)) =
                (time, state["elected_time"].as_f64())
            {
                return Ok(Failover {
                    killed,
                    leader,
                    killed_at,
                    elected_time,
                    reregistered_time,
                    kill_to_active: started.elapsed(),
                });
            }
            last = Some(summary(&state));
        }
        if started.elapsed() > within {
            return Err(format!(
                "after killing master {killed}: framework {id} not active on a new leader \
                 within {within:?}; last leader state: {}; Mesos logs in {}",
                last.unwrap_or_else(|| "no leader".into()),
                mesos.run_dir().join("logs").display()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The log line without terminal colour codes (`ESC [ ... m`).
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The master of the HTTP Basic case: the dev cluster (which records every call) or a
/// one-master real Mesos (whose `/master/state` is all there is to see).
pub enum BasicAuthMaster<'a> {
    /// A dev cluster with `require_basic_auth`.
    Dev(&'a DevCluster),
    /// A real Mesos with `basic_auth`.
    Real(&'a mut RealMesos),
}

impl BasicAuthMaster<'_> {
    fn url(&self) -> String {
        match self {
            BasicAuthMaster::Dev(cluster) => cluster.master_url(),
            BasicAuthMaster::Real(mesos) => mesos.master_url(),
        }
    }

    /// Nothing got past authentication: no call recorded (dev cluster), no framework
    /// known, active or completed (real master).
    async fn assert_nothing_registered(&mut self) {
        match self {
            BasicAuthMaster::Dev(cluster) => {
                let calls = calls(cluster);
                assert!(calls.is_empty(), "no call got past the 401: {calls:?}");
            }
            BasicAuthMaster::Real(mesos) => {
                let (_, state) = leading_state(mesos).await.expect("the master leads");
                assert_eq!(
                    (
                        state["frameworks"].as_array().map(Vec::len),
                        state["completed_frameworks"].as_array().map(Vec::len)
                    ),
                    (Some(0), Some(0)),
                    "no framework got past the 401: {}",
                    summary(&state)
                );
            }
        }
    }

    /// The framework registered with `principal` in its FrameworkInfo, and (dev cluster)
    /// every call it made was authenticated.
    async fn assert_registered_as(&mut self, principal: &str) {
        match self {
            BasicAuthMaster::Dev(cluster) => {
                let calls = calls(cluster);
                let subscribe = calls
                    .iter()
                    .find(|(c, _)| is(c, call::Type::Subscribe))
                    .expect("a SUBSCRIBE was recorded");
                assert_eq!(
                    subscribe
                        .0
                        .subscribe
                        .as_ref()
                        .and_then(|s| s.framework_info.principal.as_deref()),
                    Some(principal),
                    "FrameworkInfo.principal"
                );
                assert!(
                    calls.iter().all(|(_, status)| (200..300).contains(status)),
                    "every call authenticated: {:?}",
                    calls.iter().map(|(_, s)| s).collect::<Vec<_>>()
                );
            }
            BasicAuthMaster::Real(mesos) => {
                let (_, state) = leading_state(mesos).await.expect("the master leads");
                let frameworks = state["frameworks"].as_array().cloned().unwrap_or_default();
                assert_eq!(frameworks.len(), 1, "{}", summary(&state));
                assert_eq!(
                    frameworks[0]["principal"], principal,
                    "FrameworkInfo.principal"
                );
                assert_eq!(frameworks[0]["active"], true, "{}", summary(&state));
            }
        }
    }
}

/// HTTP Basic against a master requiring `principal`/`secret`: without credentials and
/// with a wrong secret, the SUBSCRIBE is refused with one ERROR naming the flags, a wait
/// of at least 5 s before the next try, `/v1/health` saying `connecting`, and nothing
/// registered; with `--principal` and `--secret-file` the scheduler subscribes under
/// that principal and runs the spec's one pod, and the secret never shows in its log.
pub async fn basic_auth_refused_then_subscribes(
    dir: &Path,
    spec: &Path,
    mut master: BasicAuthMaster<'_>,
    principal: &str,
    secret: &str,
) {
    let url = master.url();
    let wrong_secret = dir.join("wrong-secret");
    std::fs::write(&wrong_secret, "not-the-secret\n").expect("secret file");
    let wrong_secret = wrong_secret.display().to_string();
    let refused: [(&str, Vec<&str>); 2] = [
        ("anonymous", vec![]),
        (
            "wrong-secret",
            vec!["--principal", principal, "--secret-file", &wrong_secret],
        ),
    ];
    for (name, flags) in refused {
        let instance_dir = dir.join(format!("refused-{name}"));
        std::fs::create_dir_all(&instance_dir).expect("dir");
        let refused = Scheduler::start(&instance_dir, &url, spec, &flags);
        let line = wait_until(T, "the 401 error in the scheduler's log", || async {
            refused
                .log()
                .lines()
                .find(|l| l.contains("401 Unauthorized"))
                .map(strip_ansi)
        })
        .await;
        eprintln!("{name}: {line}");
        assert!(line.contains("ERROR"), "{name}: {line}");
        assert!(
            line.contains("SUBSCRIBE refused: 401 Unauthorized"),
            "{name}: {line}"
        );
        assert!(
            line.contains("--principal") && line.contains("--secret-file"),
            "{name}: {line}"
        );
        let retry_in: u64 = line
            .split("retry_in_secs=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{name}: no retry_in_secs in {line}"));
        assert!(
            retry_in >= 5,
            "{name}: a 401 is not retried in a tight loop: {line}"
        );
        let health = refused.get("/v1/health").await.expect("/v1/health answers");
        assert_eq!(
            (&health["status"], &health["subscribed"]),
            (&Value::from("connecting"), &Value::from(false)),
            "{name}: {health}"
        );
        let log = refused.log();
        assert_eq!(
            log.lines()
                .filter(|l| l.contains("SUBSCRIBE refused"))
                .count(),
            1,
            "{name}: one refused SUBSCRIBE, then the backoff; log:\n{log}"
        );
        assert!(
            !log.contains(secret) && !log.contains("not-the-secret"),
            "{name}: no secret in the log"
        );
        drop(refused);
        master.assert_nothing_registered().await;
    }

    let secret_file = dir.join("secret");
    std::fs::write(&secret_file, format!("{secret}\n")).expect("secret file");
    let secret_file = secret_file.display().to_string();
    let scheduler = Scheduler::start(
        dir,
        &url,
        spec,
        &["--principal", principal, "--secret-file", &secret_file],
    );
    scheduler.wait_running(1, T).await;
    master.assert_registered_as(principal).await;
    assert!(
        !scheduler.log().contains(secret),
        "the secret never shows in the log"
    );
}
