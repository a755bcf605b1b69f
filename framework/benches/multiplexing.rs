//! Workload multiplexing, measured: a day of load replayed in a few minutes on the dev cluster,
//! then the multiplexing report read and the fewest agents that still meet both services'
//! targets searched for.
//!
//! ```sh
//! cargo build --release --workspace     # the executor, the worker and the tenant it launches
//! cargo bench -p cartrack-framework --bench multiplexing
//! # options after `--`: --agents N (one replay on N agents, no search), --max-agents N
//! # (the search's first replay, default 6), --day-seconds S (real seconds per curve day,
//! # default 300), --max-lag RECORDS (default 400), --grace SECONDS (default 5),
//! # --tenant-curve FILE (default tenant/examples/day.toml)
//! ```
//!
//! Each replay starts, on 127.0.0.1, the embedded broker (`cartrack-worker broker`), an
//! in-process dev cluster of N agents of `cpus:4;mem:8192` with an address each
//! (`distinct_hosts`, so pods on different agents never share a port), and the real
//! `cartrack-scheduler` running the pipeline with the real executor and `cartrack-worker`:
//! - `ingester` (`ingest http`, 1 cpu, 1 GB), `indexer` (1 cpu, 1 GB, NDJSON in its sandbox),
//!   one pod each;
//! - `processor` (1.5 cpus, 2 GB) autoscaled 1..=3 on the ingesters' `ingest_rate`, 7,000
//!   positions/s per pod, with `--allowed-lateness-secs 5`: the feed is stamped now, never
//!   late, and the default 600 s would hold the group's commits back by 10 minutes of input,
//!   which a partition's new owner reads again after each step of the autoscaler;
//!
//! then, together, the bench's feeder, posting simulated positions (JSON lines) to the
//! ingester at the rush-hour rate of [`RUSH_HOUR`], and `cartrack-tenant` following its curve
//! (by default a day of batch jobs at night and services by day, 0.5 cpus and 256 MB a task),
//! both compressed to `--day-seconds`. Each second it samples the processors' summed
//! `*_consumer_lag_records`, the autoscaled group's desired and running pods
//! (`GET /v1/autoscale`) and the tenant's desired and running tasks (its `/metrics`). A replay
//! MEETS its targets when the lag was over `--max-lag` records for no more than `--grace`
//! seconds at a stretch (single samples of ~1,160 records were seen, once a replay at most,
//! on 6 agents as on 3; each is printed with the processors running then) and neither the
//! processors (desired by the autoscaler) nor the tenant's tasks (desired by its curve) were
//! short for longer than `--grace` seconds at a stretch. At the end it reads
//! `GET /v1/report/utilisation` over the day and prints it; everything it started is stopped.
//!
//! The search: a replay on `--max-agents`, whose report gives the siloed and the computed
//! multiplexed agent counts; then replays from the computed count down while they meet the
//! targets (or up, when it does not), and the smallest count that met both is "multiplexed,
//! measured".
//!
//! Why the processors scale on `ingest_rate` and not on `lag`: the dev cluster does not cap a
//! pod's CPU, and on a shared 2-core machine one processor keeps up with this feed (about
//! 1.4–2.4 M positions/s a core), so lag would follow the machine's other load rather than
//! the curve; the ingest rate makes the processors' allocation follow the rush hours
//! reproducibly, and the lag stays what is checked. No `hostname:UNIQUE` on the processors:
//! it would make 3 agents the floor whatever the resources, and what is measured here is
//! resource multiplexing.

mod harness;
#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cartrack_devcluster::DevCluster;
use cartrack_pipeline::model::Position;
use cartrack_pipeline::sources::simulator::{Fleet, SimulatorConfig};
use serde_json::Value;
use support::binaries::workspace_bin;
use support::{own_port_block, test_cluster_config, write_spec, Broker, Scheduler};

/// The feeder's rate over the day: (hour, positions/s), linear in between. Quiet at night,
/// the morning rush 07:30–09:00 and the evening rush 17:00–19:00 at the peak.
const RUSH_HOUR: &[(f64, f64)] = &[
    (0.0, 1_500.0),
    (5.0, 1_500.0),
    (6.5, 8_000.0),
    (7.5, 20_000.0),
    (9.0, 20_000.0),
    (10.0, 6_000.0),
    (16.0, 6_000.0),
    (17.0, 20_000.0),
    (19.0, 20_000.0),
    (20.5, 5_000.0),
    (22.0, 2_000.0),
    (24.0, 1_500.0),
];
/// Positions per second one processor is sized for (the autoscaler's `target`): 3 at the
/// peak, 1 at night and at midday.
const PER_PROCESSOR: f64 = 7_000.0;
/// Vehicles of the simulated fleet; each round of fixes is one per vehicle.
const VEHICLES: u32 = 2_000;
/// How often the feeder posts (what is due since the last post, in one request).
const POST_EVERY: Duration = Duration::from_millis(100);
/// How often the run is sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Give-up bound of the start-up waits.
const DEADLINE: Duration = Duration::from_secs(120);
const COMMAND: &str = "cargo bench -p cartrack-framework --bench multiplexing";

struct Options {
    /// One replay on this many agents, no search.
    agents: Option<usize>,
    /// The search's first replay.
    max_agents: usize,
    day_seconds: usize,
    max_lag: u64,
    grace: f64,
    tenant_curve: PathBuf,
}

fn main() -> ExitCode {
    harness::main("multiplexing", options, |opts| async move {
        let runs = match opts.agents {
            Some(agents) => vec![replay(&opts, agents).await?],
            None => search(&opts).await?,
        };
        print_summary(&opts, &runs);
        Ok(())
    })
}

fn options(args: &mut harness::Args) -> Result<Options, String> {
    let mut opts = Options {
        agents: None,
        max_agents: 6,
        day_seconds: 300,
        max_lag: 400,
        grace: 5.0,
        tenant_curve: Path::new(env!("CARGO_MANIFEST_DIR")).join("../tenant/examples/day.toml"),
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--agents" => opts.agents = Some(args.positive_of("--agents")?),
            "--max-agents" => opts.max_agents = args.positive_of("--max-agents")?,
            "--day-seconds" => opts.day_seconds = args.positive_of("--day-seconds")?,
            "--max-lag" => opts.max_lag = args.positive_of("--max-lag")? as u64,
            "--grace" => {
                let text = args.value_of("--grace", "a number of seconds")?;
                opts.grace = text
                    .parse()
                    .ok()
                    .filter(|g: &f64| g.is_finite() && *g >= 0.0)
                    .ok_or(format!("--grace {text}: expected seconds, 0 or more"))?;
            }
            "--tenant-curve" => {
                opts.tenant_curve = PathBuf::from(args.value_of("--tenant-curve", "a file")?);
                if !opts.tenant_curve.is_file() {
                    return Err(format!(
                        "--tenant-curve {}: no such file; give a curve file (see tenant/README.md)",
                        opts.tenant_curve.display()
                    ));
                }
            }
            _ => {}
        }
    }
    if opts.day_seconds < 60 {
        return Err(format!(
            "--day-seconds {}: at least 60, or the autoscaler's and the tenant's reactions take whole hours of the day",
            opts.day_seconds
        ));
    }
    Ok(opts)
}

/// The positions/s of the rush-hour curve at `hour` (0..24), linear between its points.
fn rate_at(hour: f64) -> f64 {
    let hour = hour.rem_euclid(24.0);
    RUSH_HOUR
        .windows(2)
        .find(|w| hour >= w[0].0 && hour <= w[1].0)
        .map(|w| {
            let ((h0, r0), (h1, r1)) = (w[0], w[1]);
            r0 + (r1 - r0) * (hour - h0) / (h1 - h0)
        })
        .unwrap_or(RUSH_HOUR[0].1)
}

/// Curve seconds per real second.
fn time_scale(opts: &Options) -> f64 {
    86_400.0 / opts.day_seconds as f64
}

/// The search: `--max-agents`, then from the computed multiplexed count down while the
/// targets are met, or up while they are not.
async fn search(opts: &Options) -> Result<Vec<Run>, String> {
    let first = replay(opts, opts.max_agents).await?;
    if !first.met(opts) {
        return Err(format!(
            "the replay on --max-agents {} did not meet its targets ({}); give more agents",
            opts.max_agents,
            first.verdict(opts)
        ));
    }
    let computed = first.multiplexed_computed.max(1) as usize;
    let mut runs = vec![first];
    let mut agents = computed.min(opts.max_agents);
    loop {
        let known = runs
            .iter()
            .find(|r| r.agents == agents)
            .map(|r| r.met(opts));
        let met = match known {
            Some(met) => met,
            None => {
                let run = replay(opts, agents).await?;
                let met = run.met(opts);
                runs.push(run);
                met
            }
        };
        let smallest_met = runs.iter().filter(|r| r.met(opts)).map(|r| r.agents).min();
        let largest_failed = runs.iter().filter(|r| !r.met(opts)).map(|r| r.agents).max();
        match (smallest_met, largest_failed) {
            // Bracketed: the next count down failed (or there is none).
            (Some(m), f) if m == 1 || f == Some(m - 1) => break,
            _ if met => agents -= 1,
            _ => agents += 1,
        }
    }
    Ok(runs)
}

/// What one replay measured.
struct Run {
    agents: usize,
    report: Value,
    siloed: u64,
    multiplexed_computed: u64,
    max_lag: Option<u64>,
    /// The longest stretch (s) the lag stayed over `--max-lag`.
    lag_over: f64,
    /// When (s into the day) the lag was over `--max-lag`, with the processors running then.
    lag_over_at: Vec<(f64, u64, u64)>,
    lag_samples: usize,
    processors_short: f64,
    tenant_short: f64,
    max_processors: u64,
    tenant_peak_running: u64,
    feed: FeedStats,
    /// The autoscaler's steps up and down over the day.
    decisions: (usize, usize),
}

impl Run {
    fn met(&self, opts: &Options) -> bool {
        self.lag_samples > 0
            && self.lag_over <= opts.grace
            && self.processors_short <= opts.grace
            && self.tenant_short <= opts.grace
    }

    fn verdict(&self, opts: &Options) -> String {
        format!(
            "{}: lag over {} records for {:.1} s at most (max {} records), processors short {:.1} s, tenant short {:.1} s at most (grace {} s)",
            if self.met(opts) { "MET" } else { "NOT MET" },
            opts.max_lag,
            self.lag_over,
            self.max_lag
                .map_or("never read".to_string(), |l| l.to_string()),
            self.processors_short,
            self.tenant_short,
            opts.grace
        )
    }
}

/// One sample of the run.
#[derive(Debug, Clone, Default)]
struct Sample {
    /// Real seconds since the day started.
    at: f64,
    /// The processors' summed consumer lag, when every RUNNING one answered.
    lag: Option<u64>,
    processors_desired: Option<u64>,
    processors_running: Option<u64>,
    tenant_desired: Option<u64>,
    tenant_running: Option<u64>,
}

/// The longest stretch (seconds) over which `short` held, from its first sample to the first
/// sample where it no longer did (or the last sample).
fn longest_short(samples: &[Sample], short: impl Fn(&Sample) -> bool) -> f64 {
    let mut longest: f64 = 0.0;
    let mut since: Option<f64> = None;
    for s in samples {
        match (short(s), since) {
            (true, None) => since = Some(s.at),
            (false, Some(start)) => {
                longest = longest.max(s.at - start);
                since = None;
            }
            _ => {}
        }
    }
    if let (Some(start), Some(last)) = (since, samples.last()) {
        longest = longest.max(last.at - start);
    }
    longest
}

fn spec(bootstrap: &str) -> String {
    format!(
        r#"
[executor]
cpus = 0.05
mem = 32
disk = 16

[[groups]]
name = "ingester"
count = 1
env = {{ CARTRACK_KAFKA = "{bootstrap}", CARTRACK_INGEST_AUTH = "none" }}
  [[groups.tasks]]
  name = "main"
  command = "./cartrack-worker"
  args = ["ingest", "http"]
  cpus = 1
  mem = 1024
  disk = 16
  ports = ["http"]

[[groups]]
name = "processor"
count = 1
env = {{ CARTRACK_KAFKA = "{bootstrap}" }}
autoscale = {{ min = 1, max = 3, metric = "ingest_rate", target = {PER_PROCESSOR}, source = "ingester", scale_up_after_s = 2, scale_down_after_s = 6, step = 1, cooldown_s = 2 }}
  [[groups.tasks]]
  name = "main"
  command = "./cartrack-worker"
  args = ["process", "--allowed-lateness-secs", "5"]
  cpus = 1.5
  mem = 2048
  disk = 16
  ports = ["http"]

[[groups]]
name = "indexer"
count = 1
env = {{ CARTRACK_KAFKA = "{bootstrap}" }}
  [[groups.tasks]]
  name = "main"
  command = "./cartrack-worker"
  args = ["index"]
  cpus = 1
  mem = 1024
  disk = 16
  ports = ["http"]
"#
    )
}

/// One day replayed on `agents` agents.
async fn replay(opts: &Options, agents: usize) -> Result<Run, String> {
    eprintln!(
        "replay on {agents} agents: one day in {} s (time scale {:.0})",
        opts.day_seconds,
        time_scale(opts)
    );
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let broker = Broker::start();
    let mut config = test_cluster_config(dir.path(), agents, Vec::new());
    config.agent_resources = own_port_block();
    config.distinct_hosts = true;
    // Offers and updates of a whole day: keep the log bounded (nothing here reads it).
    config.log_limit = 1_000;
    let cluster = DevCluster::start(config)
        .await
        .map_err(|e| format!("dev cluster: {e}"))?;
    let result = replay_on(opts, agents, dir.path(), &cluster, &broker).await;
    cluster.shutdown().await;
    drop(broker);
    result
}

async fn replay_on(
    opts: &Options,
    agents: usize,
    dir: &Path,
    cluster: &DevCluster,
    broker: &Broker,
) -> Result<Run, String> {
    let spec = write_spec(dir, &spec(&broker.bootstrap));
    let scheduler = Scheduler::start_with_real_worker(
        dir,
        &cluster.master_url(),
        &spec,
        &["--autoscale-interval", "1", "--report-interval", "2"],
        &[],
    );
    let state = scheduler.wait_running(3, DEADLINE).await;
    let intake = task_address(&state, "ingester-0")
        .map(|a| format!("http://{a}/v1/positions"))
        .ok_or(format!("no ingester-0 address in {state}"))?;
    warm_up(&intake).await?;
    let mut tenant = TenantProcess::start(dir, &cluster.master_url(), opts)?;
    let day = Duration::from_secs(opts.day_seconds as u64);
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let feed = FeedStats::default();
    let feeder = tokio::spawn(feed_positions(
        intake,
        start,
        time_scale(opts),
        stop.clone(),
        feed.clone(),
    ));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let mut samples = Vec::new();
    let mut ticks = tokio::time::interval(SAMPLE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while start.elapsed() < day {
        ticks.tick().await;
        let sample = sample(&client, &scheduler, &tenant, start).await;
        samples.push(sample);
        if let Some(status) = tenant.exited() {
            if start.elapsed() + Duration::from_secs(2) < day {
                return Err(format!(
                    "cartrack-tenant exited early ({status}); log:\n{}",
                    tenant.log()
                ));
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = feeder.await;
    let since = start.elapsed().as_secs() + 1;
    let report = scheduler
        .get(&format!("/v1/report/utilisation?since={since}"))
        .await
        .ok_or(format!(
            "no /v1/report/utilisation; scheduler log:\n{}",
            scheduler.log()
        ))?;
    tenant.stop();
    // The last 100 decisions, newest first: each is one step of the processors' count.
    let decisions = scheduler
        .get("/v1/autoscale")
        .await
        .and_then(|a| a["decisions"].as_array().cloned())
        .unwrap_or_default();
    let steps = |up: bool| {
        decisions
            .iter()
            .filter(|d| {
                let (from, to) = (d["from"].as_u64(), d["to"].as_u64());
                if up {
                    to > from
                } else {
                    to < from
                }
            })
            .count()
    };
    let decisions = (steps(true), steps(false));
    let lag_samples = samples.iter().filter(|s| s.lag.is_some()).count();
    let run = Run {
        agents,
        siloed: report["siloed_agents"].as_u64().unwrap_or(0),
        multiplexed_computed: report["multiplexed_agents"].as_u64().unwrap_or(0),
        max_lag: samples.iter().filter_map(|s| s.lag).max(),
        lag_over: longest_short(&samples, |s| s.lag.is_some_and(|l| l > opts.max_lag)),
        lag_over_at: samples
            .iter()
            .filter_map(|s| {
                let lag = s.lag.filter(|l| *l > opts.max_lag)?;
                Some((s.at, lag, s.processors_running.unwrap_or(0)))
            })
            .collect(),
        lag_samples,
        processors_short: longest_short(
            &samples,
            |s| matches!((s.processors_desired, s.processors_running), (Some(d), Some(r)) if r < d),
        ),
        tenant_short: longest_short(
            &samples,
            |s| matches!((s.tenant_desired, s.tenant_running), (Some(d), Some(r)) if r < d),
        ),
        max_processors: samples
            .iter()
            .filter_map(|s| s.processors_running)
            .max()
            .unwrap_or(0),
        tenant_peak_running: samples
            .iter()
            .filter_map(|s| s.tenant_running)
            .max()
            .unwrap_or(0),
        feed: feed.snapshot(),
        decisions,
        report,
    };
    print_run(opts, &run, samples.len());
    Ok(run)
}

/// Posts one position until the ingester takes it: its producer reaches Kafka on its first
/// batch (`/v1/ready` says unreachable until then), and the day must not start with refusals.
async fn warm_up(intake: &str) -> Result<(), String> {
    let mut fleet = Fleet::new(SimulatorConfig {
        vehicles: 1,
        ..SimulatorConfig::default()
    });
    let deadline = Instant::now() + DEADLINE;
    let client = reqwest::Client::new();
    loop {
        let mut fix = Vec::new();
        fleet.positions(cartrack_pipeline::wall_clock_ms(), &mut fix);
        let body = fix
            .first()
            .and_then(|p| serde_json::to_string(p).ok())
            .unwrap_or_default();
        let answer = client.post(intake).body(body).send().await;
        if answer.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("{intake} took no position within {DEADLINE:?}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `host:port` of the `http` port of the task in `slot`.
fn task_address(state: &Value, slot: &str) -> Option<String> {
    let task = state["tasks"]
        .as_array()?
        .iter()
        .find(|t| t["slot"] == slot && t["state"] == "TASK_RUNNING")?;
    Some(format!(
        "{}:{}",
        task["hostname"].as_str()?,
        task["ports"]["http"].as_u64()?
    ))
}

async fn sample(
    client: &reqwest::Client,
    scheduler: &Scheduler,
    tenant: &TenantProcess,
    start: Instant,
) -> Sample {
    let tenant_url = format!("{}/metrics", tenant.base);
    let (autoscale, state, tenant_metrics) = tokio::join!(
        scheduler.get("/v1/autoscale"),
        scheduler.get("/v1/state"),
        text(client, &tenant_url),
    );
    let group = autoscale.as_ref().and_then(|a| {
        a["groups"]
            .as_array()?
            .iter()
            .find(|g| g["group"] == "processor")
            .cloned()
    });
    let processors: Vec<String> = state
        .as_ref()
        .and_then(|s| s["tasks"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter(|t| {
            t["state"] == "TASK_RUNNING"
                && t["slot"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("processor-"))
        })
        .filter_map(|t| {
            Some(format!(
                "http://{}:{}/metrics",
                t["hostname"].as_str()?,
                t["ports"]["http"].as_u64()?
            ))
        })
        .collect();
    let lags = futures::future::join_all(processors.iter().map(|url| text(client, url))).await;
    let lag = if processors.is_empty() {
        None
    } else {
        lags.iter()
            .map(|m| m.as_deref().map(|m| gauge_sum(m, "_consumer_lag_records")))
            .sum::<Option<f64>>()
            .map(|l| l as u64)
    };
    let tenant_gauge = |name: &str| tenant_metrics.as_deref().map(|m| gauge_sum(m, name) as u64);
    Sample {
        at: start.elapsed().as_secs_f64(),
        lag,
        processors_desired: group.as_ref().and_then(|g| g["desired"].as_u64()),
        processors_running: group.as_ref().and_then(|g| g["running"].as_u64()),
        tenant_desired: tenant_gauge("cartrack_tenant_desired_tasks"),
        tenant_running: tenant_gauge("cartrack_tenant_running_tasks"),
    }
}

async fn text(client: &reqwest::Client, url: &str) -> Option<String> {
    let r = client.get(url).send().await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.text().await.ok()
}

/// The sum of every sample in Prometheus `text` whose metric name ends with `suffix` (or is
/// it).
fn gauge_sum(text: &str, suffix: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            let metric = name.split('{').next()?;
            metric
                .ends_with(suffix)
                .then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

/// What the feeder sent.
#[derive(Debug, Clone, Default)]
struct FeedStats {
    positions_sent: Arc<AtomicU64>,
    positions_accepted: Arc<AtomicU64>,
    posts_failed: Arc<AtomicU64>,
    /// What the first failed post said.
    first_failure: Arc<std::sync::Mutex<Option<String>>>,
}

impl FeedStats {
    fn snapshot(&self) -> FeedStats {
        let copy = |a: &Arc<AtomicU64>| Arc::new(AtomicU64::new(a.load(Ordering::Relaxed)));
        FeedStats {
            positions_sent: copy(&self.positions_sent),
            positions_accepted: copy(&self.positions_accepted),
            posts_failed: copy(&self.posts_failed),
            first_failure: Arc::new(std::sync::Mutex::new(self.first_failure())),
        }
    }

    fn first_failure(&self) -> Option<String> {
        self.first_failure.lock().ok().and_then(|f| f.clone())
    }

    fn fail(&self, why: String) {
        self.posts_failed.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_failure.lock() {
            first.get_or_insert(why);
        }
    }

    fn get(a: &Arc<AtomicU64>) -> u64 {
        a.load(Ordering::Relaxed)
    }
}

/// Posts the simulated fleet's fixes to `intake` at [`rate_at`] of the compressed day, every
/// [`POST_EVERY`] what is due since the last post, until `stop`.
async fn feed_positions(
    intake: String,
    start: Instant,
    scale: f64,
    stop: Arc<AtomicBool>,
    stats: FeedStats,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build();
    let client = match client {
        Ok(c) => c,
        Err(e) => return stats.fail(format!("HTTP client: {e}")),
    };
    let mut fleet = Fleet::new(SimulatorConfig {
        vehicles: VEHICLES,
        ..SimulatorConfig::default()
    });
    let mut fixes: Vec<Position> = Vec::new();
    let mut last_round = Instant::now();
    let mut due = 0.0_f64;
    let mut last = Instant::now();
    let mut ticks = tokio::time::interval(POST_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while !stop.load(Ordering::Relaxed) {
        ticks.tick().await;
        let now = Instant::now();
        let hour = start.elapsed().as_secs_f64() * scale / 3_600.0;
        due += rate_at(hour) * (now - last).as_secs_f64();
        last = now;
        let n = due.floor() as usize;
        due -= n as f64;
        let mut body = Vec::with_capacity(n * 160);
        for _ in 0..n {
            if fixes.is_empty() {
                // A new round of fixes, one per vehicle, as far on as real time went.
                fleet.step(last_round.elapsed().as_secs_f64().max(0.1));
                last_round = Instant::now();
                fleet.positions(cartrack_pipeline::wall_clock_ms(), &mut fixes);
            }
            if let Some(p) = fixes.pop() {
                if serde_json::to_writer(&mut body, &p).is_ok() {
                    body.push(b'\n');
                }
            }
        }
        if n == 0 {
            continue;
        }
        stats.positions_sent.fetch_add(n as u64, Ordering::Relaxed);
        match client.post(&intake).body(body).send().await {
            Ok(r) if r.status().is_success() => {
                stats
                    .positions_accepted
                    .fetch_add(n as u64, Ordering::Relaxed);
            }
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                stats.fail(format!("{status}: {text}"));
            }
            Err(e) => {
                // The transport's own reason (refused, reset, timed out) is in the sources.
                let mut why = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    why.push_str(&format!(": {s}"));
                    source = s.source();
                }
                stats.fail(why)
            }
        }
    }
}

/// `cartrack-tenant`, killed and reaped on drop.
struct TenantProcess {
    child: Child,
    /// `http://127.0.0.1:PORT` of its `/metrics`.
    base: String,
    log: PathBuf,
}

impl TenantProcess {
    fn start(dir: &Path, master: &str, opts: &Options) -> Result<TenantProcess, String> {
        let bin = workspace_bin("CARTRACK_TENANT_BIN", "cartrack-tenant", "cartrack-tenant");
        let log = dir.join("tenant.log");
        let stderr = std::fs::File::create(&log).map_err(|e| format!("tenant log: {e}"))?;
        let mut child = Command::new(&bin)
            .arg("--master")
            .arg(master)
            .arg("--curve")
            .arg(&opts.tenant_curve)
            .arg("--time-scale")
            .arg(time_scale(opts).to_string())
            .arg("--duration")
            .arg(opts.day_seconds.to_string())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            let _ = BufReader::new(stdout).read_line(&mut line);
        }
        let base = line
            .trim()
            .strip_prefix("metrics: ")
            .and_then(|url| url.strip_suffix("/metrics"))
            .map(String::from);
        let mut tenant = TenantProcess {
            child,
            base: String::new(),
            log,
        };
        match base {
            Some(base) => {
                tenant.base = base;
                Ok(tenant)
            }
            None => {
                tenant.stop();
                Err(format!(
                    "cartrack-tenant printed no metrics line ({line:?}); log:\n{}",
                    tenant.log()
                ))
            }
        }
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TenantProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

fn print_run(opts: &Options, run: &Run, samples: usize) {
    let r = &run.report;
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    println!(
        "\n== {} agents of 4 cpus and 8 GB, one day in {} s ==",
        run.agents, opts.day_seconds
    );
    println!(
        "report: {} samples; agent size {} cpus / {} MB; siloed {} agents, multiplexed (computed) {}, actual {}",
        r["period"]["samples"],
        f(&r["agent_size"]["cpus"]),
        f(&r["agent_size"]["mem"]),
        run.siloed,
        run.multiplexed_computed,
        r["cluster"]["agents"]
    );
    println!(
        "average utilisation: cpus {:.1} %, mem {:.1} %",
        100.0 * f(&r["cluster"]["avg_utilisation"]["cpus"]),
        100.0 * f(&r["cluster"]["avg_utilisation"]["mem"])
    );
    println!("| service | peak cpus | peak mem MB | avg cpus | avg mem MB | siloed agents |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for s in r["services"].as_array().into_iter().flatten() {
        println!(
            "| {} | {:.2} | {:.0} | {:.2} | {:.0} | {} |",
            s["name"].as_str().unwrap_or("?"),
            f(&s["peak"]["cpus"]),
            f(&s["peak"]["mem"]),
            f(&s["avg"]["cpus"]),
            f(&s["avg"]["mem"]),
            s["siloed_agents"]
        );
    }
    println!(
        "targets ({samples} samples): {}; processors at most {} running ({} steps up, {} down); tenant at most {} tasks running",
        run.verdict(opts),
        run.max_processors,
        run.decisions.0,
        run.decisions.1,
        run.tenant_peak_running
    );
    println!(
        "feeder: {} positions sent, {} accepted, {} posts failed",
        FeedStats::get(&run.feed.positions_sent),
        FeedStats::get(&run.feed.positions_accepted),
        FeedStats::get(&run.feed.posts_failed)
    );
    for (at, lag, running) in &run.lag_over_at {
        println!("lag over the bound at {at:.0} s: {lag} records, {running} processors running");
    }
    if let Some(why) = run.feed.first_failure() {
        println!("feeder: the first failed post: {why}");
    }
}

fn print_summary(opts: &Options, runs: &[Run]) {
    println!("\n== multiplexing: {COMMAND} ==");
    println!("| agents | max lag (records) | lag over bound (s) | processors short (s) | tenant short (s) | targets | siloed (report) | multiplexed, computed (report) | avg cpus | avg mem |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut sorted: Vec<&Run> = runs.iter().collect();
    sorted.sort_by_key(|r| std::cmp::Reverse(r.agents));
    for run in &sorted {
        let u = &run.report["cluster"]["avg_utilisation"];
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.1} | {} | {} | {} | {:.1} % | {:.1} % |",
            run.agents,
            run.max_lag.map_or("-".to_string(), |l| l.to_string()),
            run.lag_over,
            run.processors_short,
            run.tenant_short,
            if run.met(opts) { "met" } else { "NOT met" },
            run.siloed,
            run.multiplexed_computed,
            100.0 * u["cpus"].as_f64().unwrap_or(0.0),
            100.0 * u["mem"].as_f64().unwrap_or(0.0)
        );
    }
    if opts.agents.is_none() {
        match runs.iter().filter(|r| r.met(opts)).map(|r| r.agents).min() {
            Some(measured) => println!(
                "multiplexed, measured: {measured} agents (the fewest that met both targets); siloed (report of the {}-agent replay): {}",
                runs[0].agents, runs[0].siloed
            ),
            None => println!("multiplexed, measured: no replay met both targets"),
        }
    }
}
