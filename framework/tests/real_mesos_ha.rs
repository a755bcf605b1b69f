//! High availability and authentication of the real `cartrack-scheduler` on a real Apache Mesos
//! (`cartrack-testcluster`): two masters electing their leader through a real ZooKeeper, a
//! leader and a standby scheduler, master failover followed through ZooKeeper and through 307
//! redirects, and HTTP Basic against a master with `--authenticate_http_frameworks`.
//!
//! ```sh
//! CARTRACK_MESOS_HOME=$PWD/target/mesos/mesos-1.12.0 cargo nextest run -p cartrack-framework \
//!     --features cartrack-framework/failpoints --test real_mesos_ha --run-ignored only
//! ```
//!
//! What real Mesos 1.12 shows here, unlike the dev cluster: a new leading master (in-memory
//! registry) starts empty, so it answers the scheduler's explicit reconciliation with
//! TASK_UNKNOWN ("Reconciliation: Task is unknown") until the agents re-register, then sends
//! TASK_RUNNING ("Unknown agent reregistered"). The schedulers here run with
//! `--unreachable-timeout 10`, so that a slow agent re-registration on a loaded machine is
//! not taken for a lost pod (and a relaunch would change the task ids these tests compare).

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cartrack_testcluster::{RealMesos, RealMesosConfig};
use cartrack_zookeeper::testkit::TestZooKeeper;
use support::cases::{live_in_master_state, Adoption};
use support::invariants::assert_scheduler_holds_each_slot_once;
use support::real_ha::{
    basic_auth_refused_then_subscribes, fail_over_master, framework, leading_state, summary,
    wait_master_runs, BasicAuthMaster, Failover,
};
use support::{wait_until, write_spec, Scheduler};

/// The bound of every wait but the takeover.
const REACH: Duration = Duration::from_secs(30);
/// The bound for a standby scheduler to take over (a 2 s ZooKeeper session).
const TAKEOVER: Duration = Duration::from_secs(15);
/// The bound from a new master's election to the framework's re-registration there.
const REREGISTERED_WITHIN: f64 = 5.0;
const PODS: usize = 3;

fn spec_text(count: usize) -> String {
    format!(
        "[[groups]]\nname = \"processor\"\ncount = {count}\n[[groups.tasks]]\nname = \"main\"\ncommand = \"./cartrack-worker\"\nargs = [\"process\"]\ncpus = 0.1\nmem = 32\ndisk = 8\n"
    )
}

/// Two real masters electing their leader in a real ZooKeeper, two agents, and a spec of
/// [`PODS`] pods. Fields drop in order: the cluster first, then ZooKeeper, then the folder.
struct Ha {
    mesos: RealMesos,
    zk: TestZooKeeper,
    dir: tempfile::TempDir,
    spec: PathBuf,
}

impl Ha {
    async fn start() -> Ha {
        Ha::start_with(RealMesosConfig::default().zk_session_timeout).await
    }

    /// With the masters' ZooKeeper session `session`: how long a dead leader keeps the lead.
    async fn start_with(session: Duration) -> Ha {
        let zk = TestZooKeeper::start().expect("a real ZooKeeper (apt-get install -y zookeeper)");
        let mesos = RealMesos::start(RealMesosConfig {
            masters: 2,
            agents: 2,
            zookeeper: Some(format!("127.0.0.1:{}", zk.port())),
            zk_session_timeout: session,
            ..RealMesosConfig::default()
        })
        .await
        .expect("real Mesos starts");
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = write_spec(dir.path(), &spec_text(PODS));
        Ha {
            mesos,
            zk,
            dir,
            spec,
        }
    }

    /// `zk://127.0.0.1:PORT/mesos`: the masters' group.
    fn masters_in_zookeeper(&self) -> String {
        self.mesos.zk_url().expect("the cluster uses ZooKeeper")
    }

    /// A scheduler instance named `name` (its own folder, log and API port) on `master`;
    /// with `ha`, it keeps its state and campaigns in ZooKeeper (2 s session).
    fn scheduler(&self, name: &str, master: &str, ha: bool) -> Scheduler {
        let dir = self.dir.path().join(name);
        std::fs::create_dir_all(&dir).expect("instance dir");
        let store = self.zk.url("/cartrack");
        let mut flags = vec!["--unreachable-timeout", "10"];
        if ha {
            // Our nodes closed to other identities, beside Mesos' open ones.
            flags.extend(["--zk", &store, "--zk-session-timeout", "2"]);
            flags.extend(["--zk-auth", "digest:cartrack:s3cret"]);
        }
        Scheduler::start_sharing(&dir, self.dir.path(), master, &self.spec, &flags)
    }
}

async fn framework_id(s: &Scheduler) -> String {
    wait_until(REACH, "the framework id in /v1/health", || async {
        let health = s.get("/v1/health").await?;
        health["framework_id"].as_str().map(String::from)
    })
    .await
}

/// Waits until the leading master shows framework `id` active and subscribed by the
/// instance whose API is `api` (its `webui_url`); that state.
async fn wait_subscribed_from(mesos: &mut RealMesos, id: &str, api: &str) -> serde_json::Value {
    let deadline = Instant::now() + REACH;
    loop {
        let state = leading_state(mesos).await.map(|(_, state)| state);
        if let Some(state) = &state {
            if framework(state, id).is_some_and(|f| f["active"] == true && f["webui_url"] == api) {
                return state.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "framework {id} not subscribed from {api} within {REACH:?}: {}",
            state.map(|s| summary(&s)).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn report(what: &str, f: &Failover) {
    eprintln!(
        "{what}: master {} killed, master {} elected {:.3} s later; framework re-registered \
         {:.3} s after the election (elected_time {:.3}, reregistered_time {:.3}); active on \
         the new leader {:.3} s after the kill",
        f.killed,
        f.leader,
        f.killed_to_elected(),
        f.elected_to_reregistered(),
        f.elected_time,
        f.reregistered_time,
        f.kill_to_active.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn master_failover_then_scheduler_kill_9_the_standby_adopts_every_pod() {
    let mut f = Ha::start().await;
    let masters = f.masters_in_zookeeper();
    let mut a = f.scheduler("a", &masters, true);
    let pods = Adoption::of(&a, PODS).await;
    let id = framework_id(&a).await;
    let b = f.scheduler("b", &masters, true);
    wait_until(REACH, "b campaigns", || async {
        b.log().contains("campaigning for leadership").then_some(())
    })
    .await;
    let health = b.get("/v1/health").await.expect("the standby answers");
    assert_eq!(health["role"], "standby", "{health}");
    assert_eq!(health["leader"], a.api.as_str(), "{health}");
    wait_master_runs(&mut f.mesos, &id, pods.task_ids(), REACH).await;

    // The leading master dies: the other one leads, and the leading scheduler follows it.
    let failover = fail_over_master(&mut f.mesos, &id, REACH)
        .await
        .unwrap_or_else(|e| panic!("{e}\nscheduler a:\n{}", a.log()));
    report("master failover", &failover);
    pods.assert_adopted(&a, REACH).await;
    wait_master_runs(&mut f.mesos, &id, pods.task_ids(), REACH).await;
    assert_eq!(
        b.role().await.as_deref(),
        Some("standby"),
        "b is still a standby"
    );

    // The leading scheduler dies: the standby takes the framework over on the new master.
    a.kill9();
    let killed = Instant::now();
    pods.assert_adopted(&b, TAKEOVER).await;
    eprintln!("scheduler takeover after kill -9: {:?}", killed.elapsed());
    let subscribed_b = wait_subscribed_from(&mut f.mesos, &id, &b.api).await;
    let state = wait_master_runs(&mut f.mesos, &id, pods.task_ids(), REACH).await;
    assert_eq!(
        state["elected_time"], subscribed_b["elected_time"],
        "no further master failover"
    );
    let frameworks = state["frameworks"].as_array().cloned().unwrap_or_default();
    assert_eq!(frameworks.len(), 1, "one framework: {}", summary(&state));
    assert_eq!(frameworks[0]["id"], id.as_str(), "the same framework");
    assert_eq!(
        state["completed_frameworks"].as_array().map(Vec::len),
        Some(0),
        "no framework was torn down: {}",
        summary(&state)
    );
    let live = live_in_master_state(&state);
    assert_eq!(live.len(), PODS, "{live:?}");
    let doubled: Vec<_> = live.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(doubled.is_empty(), "slots with two live tasks: {doubled:?}");
    assert_scheduler_holds_each_slot_once(&b).await;
}

/// How the scheduler finds the leading master.
#[derive(Debug, Clone, Copy)]
enum Via {
    /// `--master zk://.../mesos`: the leader named in ZooKeeper.
    ZooKeeper,
    /// `--master http://a,http://b`: any master, following its 307 to the leader.
    Redirects,
}

/// One scheduler, the leading master killed: the new leader shows the framework active and
/// re-registered within [`REREGISTERED_WITHIN`] of its election, and every pod is adopted.
/// The masters keep Mesos' default 10 s ZooKeeper session, as on the cluster where the gap was
/// seen: a scheduler that kept growing its reconnect backoff toward the dead master during
/// those 10 s would sleep well past the new leader's election.
async fn master_failover_reregisters_quickly(via: Via) {
    let mut f = Ha::start_with(Duration::from_secs(10)).await;
    let master = match via {
        Via::ZooKeeper => f.masters_in_zookeeper(),
        Via::Redirects => f.mesos.master_list(),
    };
    let s = f.scheduler("a", &master, false);
    let pods = Adoption::of(&s, PODS).await;
    let id = framework_id(&s).await;
    wait_master_runs(&mut f.mesos, &id, pods.task_ids(), REACH).await;

    let failover = fail_over_master(&mut f.mesos, &id, REACH)
        .await
        .unwrap_or_else(|e| panic!("{e}\nscheduler log:\n{}", s.log()));
    report(&format!("master failover via {via:?}"), &failover);
    assert!(
        failover.elected_to_reregistered() < REREGISTERED_WITHIN,
        "via {via:?}: the framework re-registered {:.3} s after the new master's election \
         (bound {REREGISTERED_WITHIN} s); scheduler log:\n{}",
        failover.elected_to_reregistered(),
        s.log()
    );
    pods.assert_adopted(&s, REACH).await;
    wait_master_runs(&mut f.mesos, &id, pods.task_ids(), REACH).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn master_failover_via_zookeeper_reregisters_within_5_s_of_the_election() {
    master_failover_reregisters_quickly(Via::ZooKeeper).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn master_failover_via_redirects_reregisters_within_5_s_of_the_election() {
    master_failover_reregisters_quickly(Via::Redirects).await;
}

/// The real-Mesos variant of `auth.rs`'s
/// `basic_auth_401_without_credentials_then_subscribes_and_launches_with_them`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn basic_auth_401_without_or_with_wrong_credentials_then_subscribes_with_them() {
    let (principal, secret) = ("cartrack", "s3cret");
    let mut mesos = RealMesos::start(RealMesosConfig {
        basic_auth: Some((principal.into(), secret.into())),
        ..RealMesosConfig::default()
    })
    .await
    .expect("real Mesos starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = write_spec(dir.path(), &spec_text(1));
    basic_auth_refused_then_subscribes(
        dir.path(),
        &spec,
        BasicAuthMaster::Real(&mut mesos),
        principal,
        secret,
    )
    .await;
}
