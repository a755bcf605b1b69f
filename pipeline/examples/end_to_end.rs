//! Ingest -> index end to end on this machine: throughput and latency from the simulator's
//! clock to the sink, with every subcommand a process of its own and the embedded broker.
//!
//! ```sh
//! cargo build --release -p cartrack-pipeline --bins --examples
//! target/release/examples/end_to_end [RATE [SECONDS [VEHICLES]]]   # default 100000/s, 20 s, 1000
//! ```
//!
//! Starts `broker`, `process`, `index --ndjson-dir` and `ingest simulator --rate RATE
//! --vehicles VEHICLES` from the `cartrack-worker` next to this example (or `$CARTRACK_WORKER`). After 5 s
//! of warm-up it follows `cartrack-vehicle-history.ndjson` for SECONDS: each document's latency
//! is the time it was seen in the file less its `timestamp_ms` (the simulator's wall clock when
//! it produced the fix; the file is polled every 5 ms, so latencies are up to 5 ms high).
//! The simulator reports the whole fleet at once every VEHICLES/RATE seconds, all fixes stamped
//! with the same instant, so the last fix of a round waits for the whole round to pass every
//! stage: with 10 000 vehicles that burst alone costs about 70 ms; 1000 vehicles at 100 000/s
//! make rounds every 10 ms, close to devices spread over the second.
//! Prints the delivered rate and latency percentiles, and the CPU each process used.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

#[path = "support/worker.rs"]
mod worker;

use worker::Worker;

fn now_ms() -> i64 {
    cartrack_pipeline::wall_clock_ms()
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("end_to_end: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parse = |n: usize, default: u64| -> Option<u64> {
        args.get(n).map_or(Some(default), |a| a.parse().ok())
    };
    let (Some(rate), Some(seconds), Some(vehicles)) =
        (parse(0, 100_000), parse(1, 20), parse(2, 1_000))
    else {
        eprintln!("usage: end_to_end [RATE [SECONDS [VEHICLES]]]");
        return Ok(ExitCode::from(2));
    };
    let binary = worker::binary()?;
    let sink = tempfile::tempdir()?;
    let sink_dir = sink.path().to_str().context("temp dir path")?;

    let mut broker = Worker::start(&binary, "broker", &["broker", "--partitions", "4"])?;
    let kafka = broker.announced("kafka:")?;
    let (process, _) = Worker::start_in_group(&binary, "process", &kafka, &[])?;
    let (index, _) = Worker::start_in_group(&binary, "index", &kafka, &["--ndjson-dir", sink_dir])?;
    let (rate_text, vehicles_text) = (rate.to_string(), vehicles.to_string());
    let mut ingest = Worker::start(
        &binary,
        "ingest",
        &[
            "ingest",
            "--kafka",
            &kafka,
            "--http-port",
            "0",
            "simulator",
            "--vehicles",
            &vehicles_text,
            "--rate",
            &rate_text,
        ],
    )?;
    ingest.announced("http:")?;

    let history = sink.path().join("cartrack-vehicle-history.ndjson");
    let warm_up_until = Instant::now() + Duration::from_secs(5);
    let mut follower = Follower::default();
    while Instant::now() < warm_up_until {
        follower.read_new(&history, None)?;
        std::thread::sleep(Duration::from_millis(5));
    }
    let workers = [&broker, &process, &index, &ingest];
    let cpu_before: Vec<f64> = workers.iter().map(|w| w.cpu_seconds()).collect();
    let started = Instant::now();
    let mut latencies_ms = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        follower.read_new(&history, Some(&mut latencies_ms))?;
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu: Vec<f64> = workers
        .iter()
        .zip(&cpu_before)
        .map(|(w, before)| (w.cpu_seconds() - before) / elapsed)
        .collect();
    if latencies_ms.is_empty() {
        bail!("nothing reached the sink");
    }
    latencies_ms.sort_unstable();
    let pick = |q: f64| latencies_ms[((latencies_ms.len() - 1) as f64 * q).round() as usize];
    println!("| offered (positions/s) | vehicles | delivered (positions/s) | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) | CPU broker / process / index / ingest (cores) |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    println!(
        "| {rate} | {vehicles} | {:.0} | {} | {} | {} | {} | {:.2} / {:.2} / {:.2} / {:.2} |",
        latencies_ms.len() as f64 / elapsed,
        pick(0.5),
        pick(0.9),
        pick(0.99),
        latencies_ms[latencies_ms.len() - 1],
        cpu[0],
        cpu[1],
        cpu[2],
        cpu[3]
    );
    Ok(ExitCode::SUCCESS)
}

/// Follows a growing NDJSON file, reading only what was appended.
#[derive(Default)]
struct Follower {
    offset: u64,
    partial: String,
}

impl Follower {
    /// Reads the lines appended since the last call; with `latencies_ms`, records for each
    /// document how long ago its `timestamp_ms` was.
    fn read_new(&mut self, path: &Path, latencies_ms: Option<&mut Vec<i64>>) -> anyhow::Result<()> {
        let Ok(mut file) = std::fs::File::open(path) else {
            return Ok(()); // Not written yet.
        };
        file.seek(SeekFrom::Start(self.offset))?;
        let mut text = std::mem::take(&mut self.partial);
        let read = file.read_to_string(&mut text)?;
        self.offset += read as u64;
        let seen_ms = now_ms();
        let complete = text.rfind('\n').map_or(0, |end| end + 1);
        self.partial = text[complete..].to_owned();
        if let Some(latencies) = latencies_ms {
            for line in text[..complete].lines() {
                if let Some(timestamp) = timestamp_ms(line) {
                    latencies.push(seen_ms - timestamp);
                }
            }
        }
        Ok(())
    }
}

/// The `timestamp_ms` field of a vehicle document line, without parsing the whole line.
fn timestamp_ms(line: &str) -> Option<i64> {
    let (_, rest) = line.split_once("\"timestamp_ms\":")?;
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..digits].parse().ok()
}
