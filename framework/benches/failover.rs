//! Mesos master failover as the scheduler lives it, on a real Apache Mesos: two masters
//! electing their leader in a real ZooKeeper, two agents, the real `cartrack-scheduler` with
//! three pods. Each round `kill -9`s the leading master, reads on the new leader's
//! `/master/state` its `elected_time` and the framework's `reregistered_time`, waits until
//! every pod is RUNNING there again, and starts the killed master again as the next standby.
//! Prints one row per failover, then the median and the maximum of election -> re-registration.
//!
//! ```sh
//! CARTRACK_MESOS_HOME=$PWD/target/mesos/mesos-1.12.0 cargo bench -p cartrack-framework \
//!     --features cartrack-framework/failpoints --profile dev --bench failover -- --failovers 5
//! # --failovers N (or CARTRACK_FAILOVERS=N; default 5); --via zk (default) | redirects;
//! # --zk-session SECS: the masters' ZooKeeper session (default 10, Mesos' own default)
//! ```
//!
//! `--profile dev` reuses the test build: what is measured is Mesos' and the scheduler's
//! waiting, not their CPU time. Without `CARTRACK_MESOS_HOME` it says it did not run and exits 0.

mod harness;
#[path = "../tests/support/mod.rs"]
mod support;

use std::process::ExitCode;
use std::time::Duration;

use cartrack_testcluster::{MesosHome, RealMesos, RealMesosConfig, RealMesosError};
use cartrack_zookeeper::testkit::TestZooKeeper;
use support::cases::Adoption;
use support::real_ha::{fail_over_master, wait_master_runs, Failover};
use support::{write_spec, Scheduler};

/// Pods the scheduler keeps running through the failovers.
const PODS: usize = 3;
/// Give-up bound of every wait.
const DEADLINE: Duration = Duration::from_secs(60);
const COMMAND: &str = "CARTRACK_MESOS_HOME=$PWD/target/mesos/mesos-1.12.0 cargo bench -p cartrack-framework --features cartrack-framework/failpoints --profile dev --bench failover -- --failovers 5";

/// How the scheduler finds the leading master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    /// `--master zk://.../mesos`.
    ZooKeeper,
    /// `--master http://a,http://b`, following 307 to the leader.
    Redirects,
}

struct Options {
    failovers: usize,
    via: Via,
    /// The masters' `--zk_session_timeout`: how long the dead leader keeps the lead.
    zk_session: Duration,
}

fn main() -> ExitCode {
    harness::main("failover", options, |opts| async move {
        match MesosHome::from_env() {
            Ok(_) => {}
            Err(RealMesosError::NotConfigured) => {
                println!(
                    "failover bench: NOT RUN - set {}=<unpacked Mesos 1.12>; command:\n  {COMMAND}",
                    MesosHome::VAR
                );
                return Ok(());
            }
            Err(e) => return Err(e.to_string()),
        }
        let rows = run(&opts).await?;
        print_table(&opts, &rows);
        Ok(())
    })
}

fn options(args: &mut harness::Args) -> Result<Options, String> {
    let mut opts = Options {
        failovers: 5,
        via: Via::ZooKeeper,
        zk_session: Duration::from_secs(10),
    };
    if let Ok(n) = std::env::var("CARTRACK_FAILOVERS") {
        opts.failovers = harness::positive(&n, "CARTRACK_FAILOVERS")?;
    }
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--failovers" => opts.failovers = args.positive_of("--failovers")?,
            "--zk-session" => {
                let n = args.value_of("--zk-session", "a number of seconds")?;
                opts.zk_session =
                    Duration::from_secs(harness::positive(&n, "--zk-session")? as u64);
            }
            "--via" => {
                opts.via = match args.next().as_deref() {
                    Some("zk") => Via::ZooKeeper,
                    Some("redirects") => Via::Redirects,
                    other => return Err(format!("--via {other:?}: expected zk or redirects")),
                }
            }
            _ => {}
        }
    }
    Ok(opts)
}

async fn run(opts: &Options) -> Result<Vec<Failover>, String> {
    let zk = TestZooKeeper::start().map_err(|e| format!("ZooKeeper: {e}"))?;
    let mut mesos = RealMesos::start(RealMesosConfig {
        masters: 2,
        agents: 2,
        zookeeper: Some(format!("127.0.0.1:{}", zk.port())),
        zk_session_timeout: opts.zk_session,
        ..RealMesosConfig::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let spec = write_spec(
        dir.path(),
        &format!(
            "[[groups]]\nname = \"processor\"\ncount = {PODS}\n[[groups.tasks]]\nname = \"main\"\ncommand = \"./cartrack-worker\"\nargs = [\"process\"]\ncpus = 0.1\nmem = 32\ndisk = 8\n"
        ),
    );
    let master = match opts.via {
        Via::ZooKeeper => mesos.zk_url().ok_or("no ZooKeeper URL")?,
        Via::Redirects => mesos.master_list(),
    };
    // A long unreachable timeout: a new master answers reconciliation with TASK_UNKNOWN
    // until the agents re-register, which must not make the scheduler relaunch pods.
    let scheduler = Scheduler::start(dir.path(), &master, &spec, &["--unreachable-timeout", "60"]);
    let pods = Adoption::of(&scheduler, PODS).await;
    let health = scheduler.get("/v1/health").await.unwrap_or_default();
    let id = health["framework_id"]
        .as_str()
        .ok_or(format!("no framework id in {health}"))?
        .to_string();
    wait_master_runs(&mut mesos, &id, pods.task_ids(), DEADLINE).await;
    let mut rows = Vec::new();
    for round in 1..=opts.failovers {
        let failover = fail_over_master(&mut mesos, &id, DEADLINE)
            .await
            .map_err(|e| format!("failover {round}: {e}\nscheduler log:\n{}", scheduler.log()))?;
        eprintln!(
            "failover {round}: re-registered {:.3} s after the election",
            failover.elected_to_reregistered()
        );
        // Settle before the next round: every pod RUNNING on the new leader under the same
        // task ids, both agents back, and the killed master up again as the standby.
        pods.assert_adopted(&scheduler, DEADLINE).await;
        wait_master_runs(&mut mesos, &id, pods.task_ids(), DEADLINE).await;
        mesos
            .wait_agents_active(2, DEADLINE)
            .await
            .map_err(|e| e.to_string())?;
        mesos
            .start_master(failover.killed)
            .map_err(|e| e.to_string())?;
        wait_standby(&mesos, failover.killed).await?;
        rows.push(failover);
    }
    Ok(rows)
}

/// Waits until master `i` answers as a standby: a 307 to the leader for `/master/state`.
async fn wait_standby(mesos: &RealMesos, i: usize) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("{}/master/state", mesos.master_url_of(i));
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Ok(r) = client.get(&url).send().await {
            if r.status() == 307 {
                return Ok(());
            }
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("master {i} did not come back as a standby"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn print_table(opts: &Options, rows: &[Failover]) {
    println!(
        "master failover on a real Mesos 1.12 (2 masters, ZooKeeper, --zk_session_timeout {} s), \
         scheduler --master via {:?}, {PODS} pods",
        opts.zk_session.as_secs(),
        opts.via
    );
    println!(
        "{:>8} {:>7} {:>7} {:>17} {:>28} {:>16}",
        "failover",
        "killed",
        "leader",
        "kill->elected s",
        "elected->reregistered s",
        "kill->active s"
    );
    for (i, f) in rows.iter().enumerate() {
        println!(
            "{:>8} {:>7} {:>7} {:>17.3} {:>28.3} {:>16.3}",
            i + 1,
            f.killed,
            f.leader,
            f.killed_to_elected(),
            f.elected_to_reregistered(),
            f.kill_to_active.as_secs_f64()
        );
    }
    let mut delays: Vec<f64> = rows.iter().map(Failover::elected_to_reregistered).collect();
    delays.sort_by(f64::total_cmp);
    let median = match delays.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => delays[n / 2],
        n => (delays[n / 2 - 1] + delays[n / 2]) / 2.0,
    };
    let max = delays.last().copied().unwrap_or(f64::NAN);
    println!("elected->reregistered (the new leader's elected_time to the framework's reregistered_time): median {median:.3} s, max {max:.3} s");
    println!("command: {COMMAND}");
}
