//! Executor benchmarks against the scripted agent: RSS idle and with 20 tasks, and the latency
//! from sending LAUNCH_GROUP to receiving the task's RUNNING update (median and p99 over 200
//! launches). Prints a Markdown table for BENCHMARKS.md.
//!
//! Run: `cargo build --release -p cartrack-executor --bins --examples &&
//! target/release/examples/executor_bench` (with your CARGO_TARGET_DIR).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use mesos_proto::v1::TaskState;
use support::agent::{self, ScriptedAgent};
use support::ExecutorProcess;

const LAUNCHES: usize = 200;
const TASKS_FOR_RSS: usize = 20;
const T: Duration = Duration::from_secs(30);

fn rss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn guard_pid(executor_pid: i32) -> Option<i32> {
    // The guard helper is the executor's only direct child that is not a task.
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let after = stat.rsplit(')').next()?;
            let ppid: i32 = after.split_whitespace().nth(1)?.parse().ok()?;
            let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
            let is_guard = environ
                .split(|b| *b == 0)
                .any(|v| v.starts_with(b"CARTRACK_EXECUTOR_GUARD="));
            (ppid == executor_pid && is_guard).then_some(pid)
        })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let agent = ScriptedAgent::start().await;
    let executor = ExecutorProcess::start(&agent.endpoint(), &[("RUST_LOG", "warn")]);
    agent.wait_for_subscribe(T, 1).await;
    // Let the executor settle after subscribing before sampling idle memory.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = executor.pid();
    let idle = rss_kib(pid);
    let guard = guard_pid(pid).map(rss_kib).unwrap_or(0);

    let mut latencies = Vec::with_capacity(LAUNCHES);
    for i in 0..LAUNCHES {
        let id = format!("lat-{i}");
        let sent = Instant::now();
        agent.send(&agent::launch_group(vec![agent::task(
            &id,
            "exec sleep 300",
        )]));
        let running = agent.wait_for_update(T, &id, TaskState::TaskRunning).await;
        latencies.push(running.at.saturating_duration_since(sent));
        agent.send(&agent::kill(&id, Some(Duration::ZERO)));
        agent.wait_for_update(T, &id, TaskState::TaskKilled).await;
    }
    latencies.sort();

    for i in 0..TASKS_FOR_RSS {
        agent.send(&agent::launch_group(vec![agent::task(
            &format!("rss-{i}"),
            "exec sleep 300",
        )]));
    }
    for i in 0..TASKS_FOR_RSS {
        agent
            .wait_for_update(T, &format!("rss-{i}"), TaskState::TaskRunning)
            .await;
    }
    let loaded = rss_kib(pid);

    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
    println!("| measure | value | target |");
    println!("| --- | --- | --- |");
    println!(
        "| executor RSS idle (subscribed, no task) | {:.1} MiB | < 10 MiB |",
        idle as f64 / 1024.0
    );
    println!(
        "| executor RSS with {TASKS_FOR_RSS} running tasks | {:.1} MiB | |",
        loaded as f64 / 1024.0
    );
    println!("| guard helper RSS | {:.1} MiB | |", guard as f64 / 1024.0);
    println!(
        "| LAUNCH_GROUP -> RUNNING median ({LAUNCHES} launches) | {} | |",
        ms(percentile(&latencies, 0.5))
    );
    println!(
        "| LAUNCH_GROUP -> RUNNING p99 ({LAUNCHES} launches) | {} | < 20 ms |",
        ms(percentile(&latencies, 0.99))
    );
    println!(
        "| LAUNCH_GROUP -> RUNNING max | {} | |",
        ms(*latencies.last().unwrap_or(&Duration::ZERO))
    );
}
