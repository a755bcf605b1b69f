//! The fault suite: the real scheduler (ZooKeeper store and leader election on a real
//! ZooKeeper 3.8) against the dev cluster, one fault per test. Every case ends by asserting
//! the invariants of `support::invariants` — no slot runs two pods, the scheduler holds each
//! slot once, every update with a uuid was acknowledged (each delivery at most once) — and
//! that the desired count is reached within [`REACH`].

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cartrack_devcluster::{ClusterConfig, DevCluster, LogEntry};
use cartrack_zookeeper::testkit::{register_master, unique_path, TestZooKeeper};
use cartrack_zookeeper::{connect, NodeStore, ZkAuth, ZkUrl};
use mesos_proto::v1::scheduler::call;
use support::cases::{self, Adoption};
use support::invariants::{
    acknowledgements, assert_every_update_acknowledged, assert_no_slot_runs_twice,
    assert_scheduler_holds_each_slot_once, live_on_cluster, update_deliveries,
};
use support::{calls, is, launched_pods, test_cluster_config, wait_until, write_spec, Scheduler};

/// The bound within which desired counts are reached after a fault.
const REACH: Duration = Duration::from_secs(30);
/// The bound for a standby to take over.
const TAKEOVER: Duration = Duration::from_secs(15);
const PODS: usize = 3;

fn spec_text(count: usize) -> String {
    format!(
        "[[groups]]\nname = \"processor\"\ncount = {count}\n[[groups.tasks]]\nname = \"main\"\ncommand = \"./cartrack-worker\"\nargs = [\"process\"]\ncpus = 0.1\nmem = 32\ndisk = 8\n"
    )
}

/// A dev cluster, a ZooKeeper path for the scheduler's state and election, and a spec.
struct Fixture {
    dir: tempfile::TempDir,
    cluster: DevCluster,
    zk: String,
    spec: PathBuf,
}

impl Fixture {
    async fn new(zk_server: &TestZooKeeper, tweak: impl FnOnce(&mut ClusterConfig)) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = test_cluster_config(dir.path(), 3, Vec::new());
        tweak(&mut config);
        let cluster = DevCluster::start(config).await.expect("dev cluster starts");
        let spec = write_spec(dir.path(), &spec_text(PODS));
        Fixture {
            zk: zk_server.url(&unique_path("cartrack")),
            dir,
            cluster,
            spec,
        }
    }

    /// A scheduler instance named `name` (its own log and API port) on the shared ZooKeeper,
    /// with a 2 s ZooKeeper session.
    fn scheduler(&self, name: &str, master: &str) -> Scheduler {
        self.scheduler_with_session(name, master, "2")
    }

    /// The scheduler every single-instance case starts from: `a`, on the dev cluster's
    /// master, once all its pods run.
    async fn running_scheduler(&self) -> Scheduler {
        let scheduler = self.scheduler("a", &self.cluster.master_url());
        scheduler.wait_running(PODS, REACH).await;
        scheduler
    }

    fn scheduler_with_session(&self, name: &str, master: &str, session: &str) -> Scheduler {
        self.scheduler_with_args(name, master, session, &[])
    }

    fn scheduler_with_args(
        &self,
        name: &str,
        master: &str,
        session: &str,
        extra: &[&str],
    ) -> Scheduler {
        let dir = self.dir.path().join(name);
        std::fs::create_dir_all(&dir).expect("instance dir");
        let mut args = vec![
            "--zk",
            &self.zk,
            "--zk-session-timeout",
            session,
            "--unreachable-timeout",
            "2",
        ];
        args.extend_from_slice(extra);
        Scheduler::start_sharing(&dir, self.dir.path(), master, &self.spec, &args)
    }

    /// Waits for `n` RUNNING pods, then asserts every invariant.
    async fn assert_settled(&self, scheduler: &Scheduler, n: usize) {
        scheduler.wait_running(n, REACH).await;
        assert_every_update_acknowledged(&self.cluster, REACH).await;
        wait_until(REACH, "the cluster runs each slot once", || async {
            let live = live_on_cluster(&self.cluster).await;
            (live.len() == n && live.values().all(|ids| ids.len() == 1)).then_some(())
        })
        .await;
        assert_eq!(assert_no_slot_runs_twice(&self.cluster).await, n);
        assert_scheduler_holds_each_slot_once(scheduler).await;
    }

    async fn framework_id(&self, scheduler: &Scheduler) -> String {
        wait_until(REACH, "framework id", || async {
            let health = scheduler.get("/v1/health").await?;
            health["framework_id"].as_str().map(String::from)
        })
        .await
    }

    async fn shutdown(self) {
        self.cluster.shutdown().await;
    }
}

/// Agents the master gives up on a second after they stop answering.
fn agents_unreachable_after_a_second(config: &mut ClusterConfig) {
    config.agent_unreachable_timeout = Duration::from_secs(1);
}

fn zookeeper() -> &'static TestZooKeeper {
    TestZooKeeper::shared().expect("a real ZooKeeper (apt-get install -y zookeeper)")
}

/// How many calls of type `t` the cluster recorded.
fn count_calls(cluster: &DevCluster, t: call::Type) -> usize {
    calls(cluster).iter().filter(|(c, _)| is(c, t)).count()
}

fn subscribes(cluster: &DevCluster) -> usize {
    count_calls(cluster, call::Type::Subscribe)
}

/// Waits for a SUBSCRIBE after the first `before` ones.
async fn wait_resubscribed(cluster: &DevCluster, before: usize, what: &str) {
    wait_until(REACH, what, || async {
        (subscribes(cluster) > before).then_some(())
    })
    .await;
}

async fn set_count(scheduler: &Scheduler, count: u32) {
    let response = reqwest::Client::new()
        .put(format!("{}/v1/groups/processor/count", scheduler.api))
        .json(&serde_json::json!({ "count": count }))
        .send()
        .await
        .expect("API answers");
    assert!(response.status().is_success(), "{}", response.status());
}

async fn agents_running_our_tasks(cluster: &DevCluster) -> Vec<String> {
    let live = live_on_cluster(cluster).await;
    let state: serde_json::Value = reqwest::get(format!("{}/state", cluster.master_url()))
        .await
        .expect("state")
        .json()
        .await
        .expect("json");
    let ids: Vec<&String> = live.values().flatten().collect();
    let mut agents: Vec<String> = state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["tasks"].as_array().cloned().unwrap_or_default())
        .filter(|t| ids.iter().any(|id| t["id"] == id.as_str()))
        .filter_map(|t| t["slave_id"].as_str().map(String::from))
        .collect();
    agents.sort();
    agents.dedup();
    agents
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_takes_over_after_the_leader_is_killed_and_adopts_its_pods() {
    let f = Fixture::new(zookeeper(), |_| {}).await;
    let master = f.cluster.master_url();
    let mut a = f.scheduler("a", &master);
    a.wait_running(PODS, REACH).await;
    let b = f.scheduler("b", &master);
    let before = subscribes(&f.cluster);
    // The standby waits without subscribing. Its API says so and names the leader, and sends
    // every other request there.
    let health = wait_until(REACH, "the standby's health", || async {
        let health = b.get("/v1/health").await?;
        (health["role"] == "standby").then_some(health)
    })
    .await;
    assert_eq!(health["leader"], a.api.as_str(), "{health}");
    assert_eq!(health["subscribed"], false, "{health}");
    let own = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let write = own
        .put(format!("{}/v1/groups/processor/count?why=test", b.api))
        .json(&serde_json::json!({ "count": PODS }))
        .send()
        .await
        .expect("the standby answers");
    assert_eq!(write.status(), reqwest::StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        write.headers()[reqwest::header::LOCATION],
        format!("{}/v1/groups/processor/count?why=test", a.api).as_str()
    );
    // A client that follows (method and body kept) gets the leader's answer.
    let followed: serde_json::Value = reqwest::get(format!("{}/v1/state", b.api))
        .await
        .expect("followed to the leader")
        .json()
        .await
        .expect("json");
    assert_eq!(
        followed["groups"],
        a.get("/v1/state").await.expect("state")["groups"]
    );
    assert!(
        b.metrics().await.contains("cartrack_leader 0"),
        "a standby's metrics are its own"
    );
    assert!(a.metrics().await.contains("cartrack_leader 1"));

    a.kill9();
    let killed = Instant::now();
    b.wait_running(PODS, TAKEOVER).await;
    let took = killed.elapsed();
    eprintln!("takeover after kill -9: {took:?}");
    assert!(took < TAKEOVER, "takeover took {took:?}");
    // Its API shows the stored pods RUNNING before its SUBSCRIBE is answered: wait for that.
    wait_until(REACH, "the new leader subscribed", || async {
        let health = b.get("/v1/health").await?;
        (health["subscribed"] == true).then_some(())
    })
    .await;
    assert_eq!(
        subscribes(&f.cluster),
        before + 1,
        "only the new leader subscribed"
    );
    assert_eq!(launched_pods(&f.cluster), PODS, "adopted, not relaunched");
    f.assert_settled(&b, PODS).await;
    drop((a, b));
    f.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_zookeeper_credentials_only_that_identity_reads_the_state_and_a_standby_takes_over() {
    let f = Fixture::new(zookeeper(), |_| {}).await;
    let master = f.cluster.master_url();
    let credentials = ["--zk-auth", "digest:cartrack:s3cret"];
    let mut a = f.scheduler_with_args("a", &master, "2", &credentials);
    a.wait_running(PODS, REACH).await;

    let url = ZkUrl::parse(&f.zk).expect("url");
    let state = format!("{}/cartrack/state", url.path());
    for (who, url) in [
        ("no credentials", url.clone()),
        (
            "other credentials",
            url.clone()
                .with_auth(ZkAuth::parse("digest:intruder:guess").expect("auth")),
        ),
    ] {
        let zk = connect(&url, Duration::from_secs(5))
            .await
            .expect("connect");
        let read = NodeStore::new(zk, state.clone()).load().await;
        assert!(
            format!("{read:?}").contains("NoAuth"),
            "{who} reads the state: {read:?}"
        );
    }

    // A standby with the same credentials reads it and takes over.
    let b = f.scheduler_with_args("b", &master, "2", &credentials);
    a.kill9();
    b.wait_running(PODS, TAKEOVER).await;
    assert_eq!(launched_pods(&f.cluster), PODS, "adopted, not relaunched");
    f.assert_settled(&b, PODS).await;
    drop((a, b));
    f.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_is_replaced_and_does_nothing_when_it_wakes() {
    let f = Fixture::new(zookeeper(), |_| {}).await;
    let master = f.cluster.master_url();
    let mut a = f.scheduler("a", &master);
    a.wait_running(PODS, REACH).await;
    let b = f.scheduler("b", &master);

    a.signal("STOP");
    let paused = Instant::now();
    b.wait_running(PODS, TAKEOVER).await;
    let took = paused.elapsed();
    eprintln!("takeover after SIGSTOP: {took:?}");
    assert!(took < TAKEOVER, "takeover took {took:?}");
    // Its API shows the stored pods RUNNING before its SUBSCRIBE is answered: wait for that,
    // so the count below holds the new leader's SUBSCRIBE.
    wait_until(REACH, "the new leader subscribed", || async {
        let health = b.get("/v1/health").await?;
        (health["subscribed"] == true).then_some(())
    })
    .await;
    let subscribed = subscribes(&f.cluster);
    let calls_before_wake = calls(&f.cluster).len();

    a.signal("CONT");
    let status = a.wait_exit(REACH).await;
    assert_eq!(
        status.code(),
        Some(1),
        "the deposed leader stops; log:\n{}",
        a.log()
    );
    assert!(
        a.log().contains("no longer"),
        "it says why it stopped: {}",
        a.log()
    );
    assert_eq!(
        subscribes(&f.cluster),
        subscribed,
        "the woken leader made no SUBSCRIBE"
    );
    // Whatever was called meanwhile came from the new leader's stream, not from a.
    let late: Vec<_> = calls(&f.cluster)
        .into_iter()
        .skip(calls_before_wake)
        .filter(|(_, status)| *status == 403 || *status == 400)
        .collect();
    assert!(
        late.is_empty(),
        "no refused call from a stale leader: {late:?}"
    );
    assert_eq!(launched_pods(&f.cluster), PODS);
    f.assert_settled(&b, PODS).await;
    drop((a, b));
    f.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_kill_9_and_restart_on_the_zookeeper_store_adopts_every_pod() {
    let f = Fixture::new(zookeeper(), |_| {}).await;
    let mut s = f.running_scheduler().await;
    s.restart();
    f.assert_settled(&s, PODS).await;
    assert_eq!(launched_pods(&f.cluster), PODS, "adopted, not relaunched");
    drop(s);
    f.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_restart_with_and_without_state() {
    let f = Fixture::new(zookeeper(), |_| {}).await;
    let s = f.running_scheduler().await;
    for keep_state in [true, false] {
        let pods = Adoption::of(&s, PODS).await;
        let before = subscribes(&f.cluster);
        f.cluster.restart_master(keep_state).await;
        wait_resubscribed(&f.cluster, before, "re-subscribed").await;
        pods.assert_adopted(&s, REACH).await;
        f.assert_settled(&s, PODS).await;
    }
    assert_eq!(
        launched_pods(&f.cluster),
        PODS,
        "the restarts relaunched nothing"
    );
    set_count(&s, PODS as u32 + 1).await;
    f.assert_settled(&s, PODS + 1).await;
    drop(s);
    f.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_leader_change_is_followed_through_zookeeper_and_redirects() {
    let server = zookeeper();
    let f = Fixture::new(server, |_| {}).await;
    let group = unique_path("mesos");
    let port_of = |url: &str| -> u16 {
        url.rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("url with a port")
    };
    let first = register_master(
        server.port(),
        &group,
        "127.0.0.1",
        port_of(&f.cluster.master_url()),
    )
    .await
    .expect("register the leading master");
    let second = register_master(
        server.port(),
        &group,
        "127.0.0.1",
        port_of(&f.cluster.standby_master_url()),
    )
    .await
    .expect("register the standby master");
    let s = f.scheduler("a", &server.url(&group));
    s.wait_running(PODS, REACH).await;

    // The second listener leads now (the first answers 307), and ZooKeeper says so.
    let before = subscribes(&f.cluster);
    f.cluster.elect_leader(Some(1)).await;
    drop(first);
    wait_resubscribed(&f.cluster, before, "re-subscribed to the new leader").await;
    set_count(&s, PODS as u32 + 1).await;
    f.assert_settled(&s, PODS + 1).await;
    drop((s, second));
    f.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_agent_s_pods_are_replaced_elsewhere() {
    let f = Fixture::new(zookeeper(), agents_unreachable_after_a_second).await;
    let s = f.running_scheduler().await;
    let victim = agents_running_our_tasks(&f.cluster).await[0].clone();
    f.cluster.kill_agent(&victim).await.expect("kill agent");
    wait_until(REACH, "pods replaced on the other agents", || async {
        let agents = agents_running_our_tasks(&f.cluster).await;
        let live = live_on_cluster(&f.cluster).await.len();
        (live == PODS && !agents.contains(&victim)).then_some(())
    })
    .await;
    f.assert_settled(&s, PODS).await;
    drop(s);
    f.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_agent_s_pods_are_replaced_and_killed_when_it_returns() {
    let f = Fixture::new(zookeeper(), agents_unreachable_after_a_second).await;
    let s = f.running_scheduler().await;
    let victim = agents_running_our_tasks(&f.cluster).await[0].clone();
    f.cluster.partition_agent(&victim).await.expect("partition");
    // UNREACHABLE, then replaced after --unreachable-timeout; the scheduler never holds a
    // slot twice meanwhile.
    cases::wait_replaced_while_given_up(&s, PODS, REACH).await;
    f.cluster.heal_agent(&victim).await.expect("heal");
    f.assert_settled(&s, PODS).await;
    cases::wait_given_up_tasks_cleared(&s, REACH).await;
    let kills = count_calls(&f.cluster, call::Type::Kill);
    assert!(kills >= 1, "the returned task was killed");
    drop(s);
    f.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_given_up_and_heard_again_end_before_their_replacements_launch() {
    // One agent: while it is partitioned nothing can replace its pods, so they are given up
    // and come back before any replacement launched (the simulation's seed 72). They are
    // killed, and take their 3 s grace to die (they ignore SIGTERM): a replacement launched
    // before its pod ended would run beside it.
    let f = Fixture::new(zookeeper(), |config| {
        agents_unreachable_after_a_second(config);
        config.agents = 1;
    })
    .await;
    std::fs::write(
        &f.spec,
        format!(
            "[[groups]]\nname = \"processor\"\ncount = {PODS}\nkill_grace_seconds = 3\n\
             [[groups.tasks]]\nname = \"main\"\ncommand = \"sh\"\n\
             args = [\"-c\", \"trap '' TERM; exec sleep 100000\"]\ncpus = 0.1\nmem = 32\ndisk = 8\n"
        ),
    )
    .expect("spec");
    let s = f.running_scheduler().await;
    let old = cases::task_ids(&s.get("/v1/state").await.expect("state"));
    let agent = agents_running_our_tasks(&f.cluster).await[0].clone();
    f.cluster.partition_agent(&agent).await.expect("partition");
    wait_until(REACH, "every pod given up", || async {
        let state = s.get("/v1/state").await?;
        let tasks = state["tasks"].as_array()?;
        (tasks.len() == PODS && tasks.iter().all(|t| t["holds_slot"] == false)).then_some(())
    })
    .await;
    assert_eq!(
        launched_pods(&f.cluster),
        PODS,
        "no agent to replace them on"
    );
    f.cluster.heal_agent(&agent).await.expect("heal");
    f.assert_settled(&s, PODS).await;
    cases::wait_given_up_tasks_cleared(&s, REACH).await;

    // In the dev cluster's log: each old task's end comes before the launch in its slot.
    let log = f.cluster.log();
    let slot_of = |task: &str| task.split("-main__").next().unwrap_or(task).to_string();
    for task in &old {
        let ended = log.iter().position(|entry| {
            matches!(entry, LogEntry::SchedulerEvent { task_id: Some(t), state: Some(state), .. }
                if t == task && ["TASK_KILLED", "TASK_FAILED", "TASK_LOST", "TASK_GONE"].contains(&state.as_str()))
        });
        let relaunched = log.iter().position(|entry| match entry {
            LogEntry::SchedulerCall {
                call,
                http_status: 202,
                ..
            } => call
                .accept
                .iter()
                .flat_map(|a| &a.operations)
                .filter_map(|op| op.launch_group.as_ref())
                .flat_map(|lg| &lg.task_group.tasks)
                .any(|t| {
                    slot_of(&t.task_id.value) == slot_of(task) && !old.contains(&t.task_id.value)
                }),
            _ => false,
        });
        let (Some(ended), Some(relaunched)) = (ended, relaunched) else {
            panic!("{task}: ended at {ended:?}, its slot relaunched at {relaunched:?}");
        };
        assert!(
            ended < relaunched,
            "{task}: its slot relaunched (log entry {relaunched}) before it ended (entry {ended})"
        );
    }
    drop(s);
    f.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_executor_s_pods_are_relaunched() {
    let f = Fixture::new(zookeeper(), |_| {}).await;
    let s = f.running_scheduler().await;
    let pid = *f
        .cluster
        .executor_pids()
        .first()
        .expect("an executor was launched");
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    wait_until(REACH, "relaunched", || async {
        (launched_pods(&f.cluster) > PODS).then_some(())
    })
    .await;
    f.assert_settled(&s, PODS).await;
    drop(s);
    f.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_event_stream_is_resubscribed_without_relaunching() {
    let f = Fixture::new(zookeeper(), |_| {}).await;
    let s = f.running_scheduler().await;
    let id = f.framework_id(&s).await;
    let before = subscribes(&f.cluster);
    f.cluster.drop_framework_stream(&id).await;
    wait_resubscribed(&f.cluster, before, "re-subscribed").await;
    f.assert_settled(&s, PODS).await;
    assert_eq!(launched_pods(&f.cluster), PODS);
    drop(s);
    f.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_and_delayed_updates_change_nothing() {
    let f = Fixture::new(zookeeper(), |_| {}).await;
    f.cluster.set_duplicate_updates(true);
    f.cluster.set_update_delay(Duration::from_millis(300));
    let s = f.scheduler("a", &f.cluster.master_url());
    f.assert_settled(&s, PODS).await;
    assert_eq!(launched_pods(&f.cluster), PODS, "no relaunch");
    let kills = count_calls(&f.cluster, call::Type::Kill);
    assert_eq!(kills, 0, "no kill");
    drop(s);
    f.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_acknowledgement_is_given_again_when_the_agent_re_sends() {
    let f = Fixture::new(zookeeper(), |_| {}).await;
    // The master takes the first ACKNOWLEDGE (202) but the agent never gets it, as when an
    // agent dies before checkpointing it: the agent re-sends that update.
    f.cluster.lose_acknowledgements(1);
    let s = f.scheduler("a", &f.cluster.master_url());
    f.assert_settled(&s, PODS).await;
    let delivered = update_deliveries(&f.cluster);
    let acked = acknowledgements(&f.cluster);
    let resent: Vec<_> = delivered.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        !resent.is_empty(),
        "the update with the lost acknowledgement came again"
    );
    for (uuid, n) in resent {
        assert_eq!(
            acked.get(uuid),
            Some(n),
            "every delivery of {uuid:?} acknowledged"
        );
    }
    drop(s);
    f.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zookeeper_restart_keeps_the_leader_working() {
    let mut server =
        TestZooKeeper::start().expect("a real ZooKeeper (apt-get install -y zookeeper)");
    let f = Fixture::new(&server, |_| {}).await;
    // A 5 s session (the test server's longest) outlives the restart.
    let s = f.scheduler_with_session("a", &f.cluster.master_url(), "5");
    s.wait_running(PODS, REACH).await;
    server.kill();
    // A write while ZooKeeper is down: its commit and the fence checks wait for the
    // session to reconnect (what was in flight is tried again). The API may give up
    // waiting (503) before ZooKeeper is back; the change is the core's and is saved then.
    let write = tokio::spawn(
        reqwest::Client::new()
            .put(format!("{}/v1/groups/processor/count", s.api))
            .json(&serde_json::json!({ "count": PODS + 1 }))
            .send(),
    );
    server.restart().await.expect("ZooKeeper restarts");
    let status = write
        .await
        .expect("write task")
        .expect("the scheduler outlives the outage")
        .status();
    assert!(
        status.is_success() || status == reqwest::StatusCode::SERVICE_UNAVAILABLE,
        "{status}"
    );
    f.assert_settled(&s, PODS + 1).await;
    // The session outlived the restart: the same leader goes on writing.
    set_count(&s, PODS as u32 + 2).await;
    f.assert_settled(&s, PODS + 2).await;
    drop(s);
    f.shutdown().await;
}
