//! The operator API's response time while the master holds back its answers to calls: the
//! dev cluster takes every call at once but answers 20 s late, the scheduler
//! (`--call-timeout 1`) is scaling 2 -> 6 pods, so its sender is busy timing out and retrying
//! calls while the requests are timed. Times `--requests` requests each of `GET /v1/health`,
//! `GET /v1/state` and `PUT /v1/groups/processor/count` (one of each every 100 ms, so the
//! timing spans several call timeouts), first with the master answering at once, then with
//! its answers held back; prints p50, p99 and max, and how many calls the master took
//! meanwhile.
//!
//! ```sh
//! cargo bench -p cartrack-framework --features cartrack-framework/failpoints \
//!     --bench slow_master -- --requests 50
//! ```
//!
//! The scheduler is the real binary of the bench's profile (release); the executor and worker
//! stand-in are the tests' (see `tests/support`).

mod harness;
#[path = "../tests/support/mod.rs"]
mod support;

use std::process::ExitCode;
use std::time::Duration;

use cartrack_devcluster::LogEntry;
use support::slow_master::{ApiCall, SlowMaster};

/// How long the master holds back each answer.
const HOLD: Duration = Duration::from_secs(20);
/// Pods before the scale-up, and after it.
const PODS: usize = 2;
const SCALE_TO: u32 = 6;
/// One request of each kind this often.
const PACE: Duration = Duration::from_millis(100);
/// Give-up bound of every wait.
const DEADLINE: Duration = Duration::from_secs(60);
const COMMAND: &str = "cargo bench -p cartrack-framework --features cartrack-framework/failpoints --bench slow_master -- --requests 50";

fn main() -> ExitCode {
    harness::main("slow_master", requests, |requests| async move {
        let rows = run(requests).await?;
        print_table(requests, &rows);
        Ok(())
    })
}

fn requests(args: &mut harness::Args) -> Result<usize, String> {
    let mut requests = 50;
    while let Some(arg) = args.next() {
        if arg == "--requests" {
            requests = args.positive_of("--requests")?;
        }
    }
    Ok(requests)
}

/// One line of the table: a request while the master answered at once or held back.
struct Row {
    master: &'static str,
    request: &'static str,
    /// Sorted response times.
    times: Vec<Duration>,
}

async fn run(requests: usize) -> Result<Vec<Row>, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let f = SlowMaster::start(dir.path(), PODS, DEADLINE).await;
    let mut rows = time_each(&f, "answers at once", requests, PODS as u32).await?;
    f.hold_answers_and_scale(HOLD, SCALE_TO, DEADLINE).await;
    let mark = f.cluster.log().len();
    rows.extend(time_each(&f, "answers held 20 s", requests, SCALE_TO).await?);
    // Evidence that the sender was busy meanwhile: the calls the master took while timing.
    let calls = f.cluster.log()[mark..]
        .iter()
        .filter(|e| matches!(e, LogEntry::SchedulerCall { .. }))
        .count();
    println!("calls the master took (answers held back) while the held rows were timed: {calls}");
    f.release();
    f.scheduler.wait_running(SCALE_TO as usize, DEADLINE).await;
    drop(f.scheduler);
    f.cluster.shutdown().await;
    Ok(rows)
}

/// Times `requests` of each kind, one of each every [`PACE`] (as a dashboard polls, so the
/// timing spans several call timeouts); `count` is what the PUTs ask for (the current count,
/// so the scale-up in progress is left as it is).
async fn time_each(
    f: &SlowMaster,
    master: &'static str,
    requests: usize,
    count: u32,
) -> Result<Vec<Row>, String> {
    let calls = [ApiCall::Health, ApiCall::State, ApiCall::SetCount(count)];
    let mut times: Vec<Vec<Duration>> = vec![Vec::with_capacity(requests); calls.len()];
    let mut pace = tokio::time::interval(PACE);
    for _ in 0..requests {
        pace.tick().await;
        for (call, times) in calls.iter().zip(&mut times) {
            let (status, took) = f.timed(*call).await;
            match status {
                Ok(200) => times.push(took),
                Ok(other) => return Err(format!("{}: status {other}", call.name())),
                Err(e) => return Err(format!("{}: {e}", call.name())),
            }
        }
    }
    Ok(calls
        .iter()
        .zip(times)
        .map(|(call, mut times)| {
            times.sort();
            Row {
                master,
                request: call.name(),
                times,
            }
        })
        .collect())
}

/// The `q` quantile (nearest rank) of sorted `times`.
fn quantile(times: &[Duration], q: f64) -> Duration {
    let rank = ((q * times.len() as f64).ceil() as usize).clamp(1, times.len().max(1));
    times.get(rank - 1).copied().unwrap_or_default()
}

fn print_table(requests: usize, rows: &[Row]) {
    println!(
        "operator API response time, {requests} requests of each kind, one of each every {} ms; \
         scheduler --call-timeout 1, scaling {PODS} -> {SCALE_TO} pods",
        PACE.as_millis()
    );
    println!(
        "{:<18} {:<32} {:>9} {:>9} {:>9}",
        "master", "request", "p50 ms", "p99 ms", "max ms"
    );
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    for row in rows {
        println!(
            "{:<18} {:<32} {:>9.2} {:>9.2} {:>9.2}",
            row.master,
            row.request,
            ms(quantile(&row.times, 0.5)),
            ms(quantile(&row.times, 0.99)),
            ms(row.times.last().copied().unwrap_or_default()),
        );
    }
    println!("command: {COMMAND}");
}
