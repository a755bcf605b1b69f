//! Scale of the cartrack scheduler on the dev cluster, printed as a table.
//!
//! ```sh
//! cargo bench -p cartrack-framework --bench scale --features cartrack-framework/failpoints
//! # options after `--`: --runs N (default 3), --only scale|recover|rss, --tmpfs
//! ```
//!
//! Every scenario runs the real `cartrack-scheduler` process (built by this bench) against an
//! in-process dev cluster that starts the real `cartrack-executor`; pods run the tests'
//! sleeping stand-in for `cartrack-worker` (one `sleep` process per task).
//! - `scale`: count 0 -> 1,000 tasks through `PUT /v1/groups/<g>/count`, timed until
//!   `/metrics` shows 1,000 tasks TASK_RUNNING (checked against `/v1/state` after), as
//!   1,000 pods x 1 task and as 100 pods x 10 tasks. The phases come from `/metrics` polled
//!   every 20 ms (first ACCEPT, all pods launched, first and last RUNNING) and from the dev
//!   cluster's log (all RUNNING updates in from the executors, all sent on to the scheduler).
//! - `recover`: with 1,000 tasks running, `kill -9` the scheduler and start it again on the
//!   same state dir; timed until `/v1/health` says subscribed with nothing left to reconcile
//!   and `/metrics` shows the 1,000 tasks RUNNING.
//! - `rss`: a state dir pre-filled with 10,000 RUNNING task records (1,000 pods x 10 tasks);
//!   the scheduler's own VmRSS/VmHWM from `/proc/<pid>/status`.
//!
//! Timing is wall time on whatever machine runs it; repeat (`--runs`) and read the range.
//!
//! Each scale run gets its own directory, and all of them are deleted only after the table is
//! printed: on ext4 without a journal (this project's VM disk) every new inode skips, one by
//! one, the inodes of its block group freed in the last 30 s or more, so deleting one run's
//! 5,000 sandbox inodes right before the next run made that run's executors scan them for
//! each file they create (executor CPU 0.9 s in a first run, 5 s in the following ones).

mod harness;
#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cartrack_devcluster::{ClusterConfig, DevCluster, LogEntry};
use cartrack_framework::records::{Change, TaskPhase};
use cartrack_framework::state::{FileStore, Store};
use cartrack_framework::testkit;
use mesos_proto::v1::TaskState;
use support::{executor_bin, Scheduler};

/// Tasks of the scale and recovery scenarios.
const TASKS: usize = 1_000;
/// Task records of the RSS scenario.
const KNOWN_TASKS: usize = 10_000;
/// Agents of the dev cluster (each runs one executor and its share of the tasks).
const AGENTS: usize = 10;
/// How often the bench polls the scheduler while timing.
const POLL: Duration = Duration::from_millis(20);
/// Give-up bound of every wait.
const DEADLINE: Duration = Duration::from_secs(180);

/// Which scenarios to run and how often.
struct Options {
    runs: usize,
    only: Option<String>,
    /// Put the scheduler's state dir (and the sandboxes) on tmpfs, to see what fsync costs.
    tmpfs: bool,
}

fn main() -> ExitCode {
    harness::main("scale", options, |opts| async move {
        run(opts).await;
        Ok(())
    })
}

fn options(args: &mut harness::Args) -> Result<Options, String> {
    let mut opts = Options {
        runs: 3,
        only: None,
        tmpfs: false,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => opts.runs = args.positive_of("--runs")?,
            "--only" => {
                let v = args.value_of("--only", "scale, recover or rss")?;
                if !["scale", "recover", "rss"].contains(&v.as_str()) {
                    return Err(format!("--only {v}: expected scale, recover or rss"));
                }
                opts.only = Some(v);
            }
            "--tmpfs" => opts.tmpfs = true,
            _ => {}
        }
    }
    Ok(opts)
}

async fn run(opts: Options) {
    // Build (or find) the executor before any clock runs.
    let executor = executor_bin();
    eprintln!("executor: {}", executor.display());
    let wants = |s: &str| opts.only.as_deref().is_none_or(|o| o == s);
    let mut rows: Vec<Row> = Vec::new();
    // Holds every scale run's sandboxes until the table is printed (see the module docs).
    let series = work_dir(opts.tmpfs);
    if wants("scale") || wants("recover") {
        for (pods, per_pod) in [(TASKS, 1), (TASKS / 10, 10)] {
            let mut scale = Vec::new();
            let mut recover = Vec::new();
            let mut cpu = Vec::new();
            for run in 0..opts.runs {
                let dir = series.path().join(format!("{pods}x{per_pod}-{run}"));
                let r = scale_run(&dir, pods, per_pod, wants("recover") && per_pod == 1).await;
                eprintln!("scale {pods}x{per_pod} run {run}: {r:?}");
                scale.push(r.scale);
                cpu.push(r.cpu);
                recover.extend(r.recover);
            }
            if wants("scale") {
                rows.push(Row::timed(
                    format!("scale 0 -> {TASKS} RUNNING ({pods} pods x {per_pod})"),
                    &scale.iter().map(|s| s.total).collect::<Vec<_>>(),
                    "< 3 s",
                ));
                for (name, pick) in PHASES {
                    rows.push(Row::timed(
                        format!("  {name}"),
                        &scale.iter().map(pick).collect::<Vec<_>>(),
                        "",
                    ));
                }
                for (name, pick) in CPU {
                    rows.push(Row::timed(
                        format!("  CPU time: {name}"),
                        &cpu.iter().map(pick).collect::<Vec<_>>(),
                        "",
                    ));
                }
            }
            if !recover.is_empty() {
                rows.push(Row::timed(
                    format!("recover {TASKS} tasks: kill -9 -> reconciled, all RUNNING"),
                    &recover.iter().map(|r| r.reconciled).collect::<Vec<_>>(),
                    "< 5 s",
                ));
                rows.push(Row::timed(
                    "  of which: start -> API answers".into(),
                    &recover.iter().map(|r| r.api_up).collect::<Vec<_>>(),
                    "",
                ));
            }
        }
    }
    if wants("rss") {
        let mut rss = Vec::new();
        for run in 0..opts.runs {
            let r = rss_run(opts.tmpfs).await;
            eprintln!("rss run {run}: {r:?}");
            rss.push(r);
        }
        let pick = |f: fn(&RssResult) -> u64| rss.iter().map(f).collect::<Vec<_>>();
        rows.push(Row::kib(
            format!("RSS, {KNOWN_TASKS} tasks loaded, not subscribed (VmRSS)"),
            &pick(|r| r.loaded_rss),
            "< 50 MiB",
        ));
        rows.push(Row::kib(
            format!("RSS, {KNOWN_TASKS} tasks, subscribed + reconciling (VmRSS)"),
            &pick(|r| r.subscribed_rss),
            "< 50 MiB",
        ));
        rows.push(Row::kib(
            "  peak over the run (VmHWM)".into(),
            &pick(|r| r.peak),
            "",
        ));
    }
    print_table(&rows, opts.runs);
    drop(series);
}

/// The phases of one scale-up, from the count change.
#[derive(Debug, Clone, Copy, Default)]
struct ScaleTimes {
    /// First ACCEPT seen (`cartrack_offers_accepted_total` > 0).
    first_accept: Duration,
    /// Every pod launched (`cartrack_pods_launched_total` reached the pod count).
    all_launched: Duration,
    /// First task RUNNING.
    first_running: Duration,
    /// Every task's TASK_RUNNING update taken in by its agent (the executors' part is done).
    updates_in: Duration,
    /// Every TASK_RUNNING update written to the scheduler's event stream.
    updates_out: Duration,
    /// All tasks RUNNING.
    total: Duration,
}

type Phase = (&'static str, fn(&ScaleTimes) -> Duration);
const PHASES: [Phase; 5] = [
    ("of which: count set -> first ACCEPT", |s| s.first_accept),
    ("of which: count set -> all pods launched", |s| {
        s.all_launched
    }),
    ("of which: count set -> first task RUNNING", |s| {
        s.first_running
    }),
    (
        "of which: count set -> all RUNNING updates at agents",
        |s| s.updates_in,
    ),
    ("of which: count set -> all RUNNING updates sent on", |s| {
        s.updates_out
    }),
];

type CpuPick = (&'static str, fn(&CpuUse) -> Duration);
const CPU: [CpuPick; 3] = [
    ("scheduler", |c| c.scheduler),
    ("executors (not their tasks)", |c| c.executors),
    ("dev cluster + bench", |c| c.cluster),
];

#[derive(Debug)]
struct RecoverTimes {
    api_up: Duration,
    reconciled: Duration,
}

#[derive(Debug)]
struct ScaleResult {
    scale: ScaleTimes,
    cpu: CpuUse,
    recover: Option<RecoverTimes>,
}

fn spec_text(pods: usize, per_pod: usize, count: usize) -> String {
    let _ = pods;
    let mut text = format!(
        "placement_strategy = \"spread\"\nstaging_timeout_seconds = 300\n[[groups]]\nname = \"bench\"\ncount = {count}\n"
    );
    for t in 0..per_pod {
        text.push_str(&format!(
            "[[groups.tasks]]\nname = \"t{t}\"\ncommand = \"./cartrack-worker\"\ncpus = 0.001\nmem = 1\ndisk = 0\n"
        ));
    }
    text
}

async fn dev_cluster(dir: &Path) -> DevCluster {
    DevCluster::start(ClusterConfig {
        agents: AGENTS,
        agent_resources: "cpus:8;mem:16384;disk:20000;ports:[31000-32999]".into(),
        work_dir: dir.join("cluster"),
        ..ClusterConfig::default()
    })
    .await
    .unwrap_or_else(|e| panic!("dev cluster: {e}"))
}

/// Metrics of interest, parsed from `/metrics`.
#[derive(Debug, Default)]
struct Metrics {
    accepted: u64,
    launched: u64,
    running: u64,
    subscribed: bool,
}

async fn metrics(scheduler: &Scheduler) -> Option<Metrics> {
    let text = reqwest::get(format!("{}/metrics", scheduler.api))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
            .map_or(0, |v| v as u64)
    };
    Some(Metrics {
        accepted: value("cartrack_offers_accepted_total "),
        launched: value("cartrack_pods_launched_total "),
        running: value("cartrack_tasks{state=\"TASK_RUNNING\"} "),
        subscribed: value("cartrack_subscribed ") == 1,
    })
}

/// How many TASK_RUNNING updates the agents took in from executors, and how many the master
/// wrote to the scheduler's stream.
fn running_updates(cluster: &DevCluster) -> (usize, usize) {
    let log = cluster.log();
    let taken_in = log
        .iter()
        .filter(|e| {
            matches!(e, LogEntry::ExecutorCall { call, http_status: 202, .. }
                if call.update.as_ref().is_some_and(|u| u.status.state() == TaskState::TaskRunning))
        })
        .count();
    let sent_on = log
        .iter()
        .filter(|e| {
            matches!(e, LogEntry::SchedulerEvent { event_type, state: Some(state), .. }
                if event_type == "UPDATE" && state == "TASK_RUNNING")
        })
        .count();
    (taken_in, sent_on)
}

/// Polls `/metrics` until `done`, noting when each phase was first seen; with `cluster`, also
/// when the dev cluster had seen all `TASKS` RUNNING updates come in from the executors and go
/// out to the scheduler.
async fn watch<F: Fn(&Metrics) -> bool>(
    scheduler: &Scheduler,
    cluster: Option<&DevCluster>,
    started: Instant,
    pods: u64,
    done: F,
) -> ScaleTimes {
    let mut times = ScaleTimes::default();
    let (mut accept, mut launched, mut running) = (None, None, None);
    let (mut updates_in, mut updates_out) = (None, None);
    loop {
        if let Some(cluster) = cluster.filter(|_| updates_out.is_none()) {
            let (taken_in, sent_on) = running_updates(cluster);
            let now = started.elapsed();
            if taken_in >= TASKS {
                updates_in.get_or_insert(now);
            }
            if sent_on >= TASKS {
                updates_out.get_or_insert(now);
            }
        }
        if let Some(m) = metrics(scheduler).await {
            let now = started.elapsed();
            if m.accepted > 0 {
                accept.get_or_insert(now);
            }
            if m.launched >= pods {
                launched.get_or_insert(now);
            }
            if m.running > 0 {
                running.get_or_insert(now);
            }
            if done(&m) {
                times.first_accept = accept.unwrap_or(now);
                times.all_launched = launched.unwrap_or(now);
                times.first_running = running.unwrap_or(now);
                times.updates_in = updates_in.unwrap_or(now);
                times.updates_out = updates_out.unwrap_or(now);
                times.total = now;
                return times;
            }
        }
        assert!(
            started.elapsed() < DEADLINE,
            "gave up after {DEADLINE:?}; scheduler log:\n{}",
            tail(&scheduler.log())
        );
        tokio::time::sleep(POLL).await;
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

async fn wait_subscribed(scheduler: &Scheduler, started: Instant) -> Duration {
    loop {
        if let Some(h) = scheduler.get("/v1/health").await {
            if h["subscribed"] == true && h["reconciling"] == 0 {
                return started.elapsed();
            }
        }
        assert!(
            started.elapsed() < DEADLINE,
            "not subscribed; log:\n{}",
            tail(&scheduler.log())
        );
        tokio::time::sleep(POLL).await;
    }
}

/// A scratch directory: on disk (like a real `--state-dir`) or on tmpfs.
fn work_dir(tmpfs: bool) -> tempfile::TempDir {
    let dir = if tmpfs {
        tempfile::tempdir_in("/dev/shm")
    } else {
        tempfile::tempdir()
    };
    dir.unwrap_or_else(|e| panic!("tempdir: {e}"))
}

/// CPU time (user + system) a process used so far; `/proc` counts in USER_HZ = 100 ticks.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse().ok())
        .collect();
    Duration::from_millis(fields.iter().sum::<u64>() * 10)
}

/// CPU used during the scale-up, by process.
#[derive(Debug, Clone, Copy, Default)]
struct CpuUse {
    scheduler: Duration,
    executors: Duration,
    /// The bench process: the in-process dev cluster plus the bench's polling.
    cluster: Duration,
}

/// One scale-up (and recovery) with its scheduler state and sandboxes in `dir`, which is
/// left in place for the caller to delete.
async fn scale_run(dir: &Path, pods: usize, per_pod: usize, recover: bool) -> ScaleResult {
    std::fs::create_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let cluster = dev_cluster(dir).await;
    let spec = support::write_spec(dir, &spec_text(pods, per_pod, 0));
    let mut scheduler = Scheduler::start(dir, &cluster.master_url(), &spec, &[]);
    wait_subscribed(&scheduler, Instant::now()).await;
    let client = reqwest::Client::new();
    let scheduler_pid = scheduler_pid(&dir.join("state"));
    let cpu_before = (
        scheduler_pid.map(cpu_time).unwrap_or_default(),
        cpu_time(std::process::id()),
    );
    let started = Instant::now();
    let put = client
        .put(format!("{}/v1/groups/bench/count", scheduler.api))
        .json(&serde_json::json!({ "count": pods }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PUT count: {e}"));
    assert!(put.status().is_success(), "PUT count: {}", put.status());
    let scale = watch(&scheduler, Some(&cluster), started, pods as u64, |m| {
        m.running >= TASKS as u64
    })
    .await;
    // The gauge counts tasks; /v1/state confirms they are the ones wanted, once.
    let state = scheduler.wait_running(TASKS, DEADLINE).await;
    let running_pods = state["groups"][0]["running"].as_u64();
    assert_eq!(running_pods, Some(pods as u64), "{}", state["groups"]);
    let executors = cluster
        .log()
        .iter()
        .filter(|e| matches!(e, LogEntry::ExecutorLaunched { .. }))
        .count();
    let cpu = CpuUse {
        scheduler: scheduler_pid
            .map(cpu_time)
            .unwrap_or_default()
            .saturating_sub(cpu_before.0),
        executors: cluster.executor_pids().into_iter().map(cpu_time).sum(),
        cluster: cpu_time(std::process::id()).saturating_sub(cpu_before.1),
    };
    eprintln!("executors launched: {executors}; cpu {cpu:?}");
    let recover = if recover {
        scheduler.kill9();
        let started = Instant::now();
        scheduler.restart();
        let api_up = loop {
            if scheduler.get("/v1/health").await.is_some() {
                break started.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        wait_subscribed(&scheduler, started).await;
        let done = watch(&scheduler, None, started, 0, |m| {
            m.subscribed && m.running >= TASKS as u64
        })
        .await;
        Some(RecoverTimes {
            api_up,
            reconciled: done.total,
        })
    } else {
        None
    };
    drop(scheduler);
    cluster.shutdown().await;
    ScaleResult {
        scale,
        cpu,
        recover,
    }
}

#[derive(Debug)]
struct RssResult {
    loaded_rss: u64,
    subscribed_rss: u64,
    peak: u64,
}

/// Writes a state with `KNOWN_TASKS` RUNNING records of group `bench` (pods of 10 tasks).
async fn prefill(state_dir: &Path, framework_id: &str) {
    let mut store = FileStore::open(state_dir).unwrap_or_else(|e| panic!("store: {e}"));
    let mut changes = vec![
        Change::FrameworkId(framework_id.into()),
        Change::Desired("bench".into(), (KNOWN_TASKS / 10) as u32),
    ];
    for i in 0..KNOWN_TASKS {
        let pod = (i / 10) as u32;
        let mut task = testkit::task("bench", pod, i % AGENTS, TaskPhase::Running);
        task.task_name = format!("t{}", i % 10);
        task.task_id = format!("{}-{}__{:032x}", task.slot, task.task_name, i);
        task.launched_at_ms = 1_700_000_000_000;
        task.running_since_ms = Some(1_700_000_001_000);
        changes.push(Change::PutTask(Box::new(task)));
    }
    store
        .commit(&changes)
        .await
        .unwrap_or_else(|e| panic!("prefill: {e}"));
}

/// `VmRSS` and `VmHWM` of a process, KiB.
fn rss_of(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status.lines().find_map(|l| {
            l.strip_prefix(name)?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        })
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// The pid of the scheduler started with `state_dir` (its command line names it).
fn scheduler_pid(state_dir: &Path) -> Option<u32> {
    let needle = state_dir.display().to_string();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline);
        (cmdline.contains("cartrack-scheduler") && cmdline.contains(&needle)).then_some(pid)
    })
}

async fn rss_run(tmpfs: bool) -> RssResult {
    let dir = work_dir(tmpfs);
    let cluster = dev_cluster(dir.path()).await;
    // No leader first: the scheduler loads its 10,000 records and serves its API, but cannot
    // subscribe (503), so nothing changes them.
    cluster.elect_leader(None).await;
    let state_dir: PathBuf = dir.path().join("state");
    prefill(&state_dir, "bench-framework").await;
    let spec = support::write_spec(dir.path(), &spec_text(KNOWN_TASKS / 10, 10, 1));
    let scheduler = Scheduler::start(dir.path(), &cluster.master_url(), &spec, &[]);
    let pid = loop {
        if let Some(pid) = scheduler_pid(&state_dir) {
            break pid;
        }
        tokio::time::sleep(POLL).await;
    };
    // Loaded: /v1/state lists every task (rendering it is part of what the process holds).
    let started = Instant::now();
    loop {
        let n = scheduler
            .get("/v1/state")
            .await
            .and_then(|s| s["tasks"].as_array().map(Vec::len));
        if n == Some(KNOWN_TASKS) {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "state never loaded");
        tokio::time::sleep(POLL).await;
    }
    let (loaded_rss, _) = rss_of(pid).unwrap_or_default();
    // Now let it subscribe: it re-registers with its id and reconciles all 10,000 tasks; the
    // dev cluster never saw them, so the answers are TASK_LOST and the records drain away.
    cluster.elect_leader(Some(0)).await;
    let started = Instant::now();
    loop {
        let subscribed = metrics(&scheduler).await.is_some_and(|m| m.subscribed);
        if subscribed {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "never subscribed");
        tokio::time::sleep(POLL).await;
    }
    let (subscribed_rss, _) = rss_of(pid).unwrap_or_default();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, peak) = rss_of(pid).unwrap_or_default();
    drop(scheduler);
    cluster.shutdown().await;
    RssResult {
        loaded_rss,
        subscribed_rss,
        peak,
    }
}

/// One line of the printed table.
struct Row {
    what: String,
    median: String,
    range: String,
    target: &'static str,
}

impl Row {
    fn timed(what: String, samples: &[Duration], target: &'static str) -> Row {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let fmt = |v: f64| format!("{:.2} s", v / 1e3);
        Row {
            what,
            median: ms.get(ms.len() / 2).map_or("-".into(), |v| fmt(*v)),
            range: match (ms.first(), ms.last()) {
                (Some(a), Some(b)) => format!("{} .. {}", fmt(*a), fmt(*b)),
                _ => "-".into(),
            },
            target,
        }
    }

    fn kib(what: String, samples: &[u64], target: &'static str) -> Row {
        let mut v = samples.to_vec();
        v.sort_unstable();
        let fmt = |k: u64| format!("{:.1} MiB", k as f64 / 1024.0);
        Row {
            what,
            median: v.get(v.len() / 2).map_or("-".into(), |k| fmt(*k)),
            range: match (v.first(), v.last()) {
                (Some(a), Some(b)) => format!("{} .. {}", fmt(*a), fmt(*b)),
                _ => "-".into(),
            },
            target,
        }
    }
}

fn print_table(rows: &[Row], runs: usize) {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\nscale bench: {runs} run(s) each; load average {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let w = rows.iter().map(|r| r.what.len()).max().unwrap_or(10);
    println!(
        "| {:w$} | {:>10} | {:>22} | {:>8} |",
        "what", "median", "range", "target"
    );
    println!(
        "|{}|{}|{}|{}|",
        "-".repeat(w + 2),
        "-".repeat(12),
        "-".repeat(24),
        "-".repeat(10)
    );
    for r in rows {
        println!(
            "| {:w$} | {:>10} | {:>22} | {:>8} |",
            r.what, r.median, r.range, r.target
        );
    }
}
