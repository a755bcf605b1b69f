//! No loss at volume: N positions posted to `ingest http` as fast as the client can, through
//! `broker`, `process` and `index --ndjson-dir` (each its own process), then every position
//! must be in the sink's vehicle history exactly once by `_id`.
//!
//! ```sh
//! cargo build --release -p cartrack-pipeline --bins --examples
//! target/release/examples/no_loss [POSITIONS [CLIENTS [VEHICLES]]]   # default 2000000, 4, POSITIONS/1000
//! ```
//!
//! The input is a simulated fleet (seed 57, Manhattan) of VEHICLES, one fix per vehicle per
//! second, for as many seconds as POSITIONS takes (1000 s by default), ending a minute ago.
//! Each of CLIENTS threads posts 10,000-line requests, one after the other, for its share of
//! the vehicles (a vehicle's fixes stay in one client, in time order); a 503 makes it resend
//! the lines the answer says were not accepted, nothing else slows it. Prints the time to post
//! everything, the time until `index` reported a history document written per position, the
//! distinct `_id`s then found in the sink's history, lost (expected ids not found), the CPU
//! seconds each process used until then (and their sum per million positions), the positions
//! per second end to end, and the CPU seconds of this program (the feeder: simulating the
//! fleet, writing and posting the JSON). `process` runs with `--checkpoint-dir` (a temporary
//! directory).

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use cartrack_pipeline::kafka::partition_of;
use cartrack_pipeline::keys::{hash_hex, hash_key};
use cartrack_pipeline::model::Position;
use cartrack_pipeline::sources::simulator::{CityBox, Fleet, SimulatorConfig};

const REQUEST_LINES: usize = 10_000;
/// How many seconds of fixes the default fleet reports.
const SECONDS: u32 = 1_000;

#[path = "support/worker.rs"]
mod worker;

use worker::Worker;

/// The device key the clients post with, as devices do; the ingester's keys file lists it.
const DEVICE_KEY: &str = "ck_no-loss-clients";

/// One HTTP/1.0 POST of positions: (status, body).
fn post(address: &str, body: &str) -> anyhow::Result<(u16, String)> {
    let key = format!("Authorization: Bearer {DEVICE_KEY}\r\n");
    request(address, "POST /v1/positions", &key, body)
}

/// One HTTP/1.0 request (`line` is method and path, `headers` end in CRLF each): (status,
/// body).
fn request(address: &str, line: &str, headers: &str, body: &str) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(address)?;
    write!(
        stream,
        "{line} HTTP/1.0\r\nHost: {address}\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, body)| body)
        .to_owned();
    Ok((status, body))
}

/// The history documents `index` has written so far, from its `/metrics`.
fn history_written(index_http: &str) -> anyhow::Result<u64> {
    let (_, metrics) = request(index_http, "GET /metrics", "", "")?;
    Ok(metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix(
                "cartrack_index_records_out_total{endpoint=\"cartrack-vehicle-history\"} ",
            )
        })
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or(0))
}

/// Posts `lines` until all are accepted; returns the 503s seen.
fn post_all(address: &str, lines: &[String]) -> anyhow::Result<u64> {
    let mut from = 0;
    let mut refusals = 0;
    while from < lines.len() {
        let (status, answer) = post(address, &lines[from..].concat())?;
        let report: serde_json::Value =
            serde_json::from_str(&answer).with_context(|| format!("{status}: {answer}"))?;
        let accepted = report["accepted"].as_u64().unwrap_or(0) as usize;
        match status {
            200 if accepted == lines.len() - from => from = lines.len(),
            503 => {
                refusals += 1;
                from += accepted;
            }
            _ => bail!("unexpected answer {status}: {answer}"),
        }
    }
    Ok(refusals)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("no_loss: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count: u32 = args.first().map_or(Ok(2_000_000), |a| a.parse())?;
    let clients: usize = args.get(1).map_or(Ok(4), |a| a.parse())?;
    let vehicles: u32 = args
        .get(2)
        .map_or(Ok(count / SECONDS), |a| a.parse())?
        .max(1);
    let seconds = count.div_ceil(vehicles);
    let binary = worker::binary()?;
    let sink = tempfile::tempdir()?;
    let sink_dir = sink.path().to_str().context("temp dir path")?;
    // `process` checkpoints its open windows, as a deployment that keeps a directory does: its
    // commits then pass the windows, and the broker holds only the input since the last
    // checkpoint rather than the allowed lateness of it.
    let state = tempfile::tempdir()?;
    let state_dir = state.path().to_str().context("temp dir path")?;

    let mut broker = Worker::start(&binary, "broker", &["broker", "--partitions", "4"])?;
    let kafka = broker.announced("kafka:")?;
    // Consumers read from the start: every position posted counts.
    let earliest = ["--kafka-option", "auto.offset.reset=earliest"];
    let process_args = [&["--checkpoint-dir", state_dir][..], &earliest].concat();
    let (mut process, process_http) =
        Worker::start_in_group(&binary, "process", &kafka, &process_args)?;
    let index_args = [&["--ndjson-dir", sink_dir][..], &earliest].concat();
    let (mut index, index_http) = Worker::start_in_group(&binary, "index", &kafka, &index_args)?;
    let keys_dir = tempfile::tempdir()?;
    let keys = keys_dir.path().join("ingest-keys.toml");
    std::fs::write(
        &keys,
        format!(
            "[[keys]]\nname = \"no-loss\"\nsha256 = \"{}\"\n",
            hash_hex(&hash_key(DEVICE_KEY))
        ),
    )?;
    let keys = keys.to_str().context("keys file path")?;
    let mut ingest = Worker::start(
        &binary,
        "ingest",
        &[
            "ingest",
            "--kafka",
            &kafka,
            "--http-port",
            "0",
            "--ingest-keys",
            keys,
            "http",
        ],
    )?;
    let intake = ingest.announced("http:")?;

    // Clients, fed request bodies as the fleet is simulated (so 10 M lines are never all in
    // memory at once).
    let refusals = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::new();
    let mut threads = Vec::new();
    for _ in 0..clients {
        let (sender, requests) = mpsc::sync_channel::<Vec<String>>(4);
        senders.push(sender);
        let (intake, refusals) = (intake.clone(), refusals.clone());
        threads.push(std::thread::spawn(move || -> anyhow::Result<()> {
            for request in requests {
                refusals.fetch_add(post_all(&intake, &request)?, Ordering::Relaxed);
            }
            Ok(())
        }));
    }
    let now_ms = cartrack_pipeline::wall_clock_ms();
    let t0_ms = now_ms - 60_000 - i64::from(seconds) * 1000;
    let mut fleet = Fleet::new(SimulatorConfig {
        vehicles,
        seed: 57,
        city: CityBox::MANHATTAN,
        ..SimulatorConfig::default()
    });
    let mut expected: HashSet<String> = HashSet::with_capacity(count as usize);
    let mut pending: Vec<Vec<String>> = vec![Vec::with_capacity(REQUEST_LINES); clients];
    let mut positions: Vec<Position> = Vec::new();
    let started = Instant::now();
    let cpu_before: Vec<f64> = [&broker, &process, &index, &ingest]
        .iter()
        .map(|w| w.cpu_seconds())
        .collect();
    let feeder_cpu_before = worker::cpu_seconds_of("self");
    for second in 0..seconds {
        fleet.step(1.0);
        positions.clear();
        fleet.positions(t0_ms + i64::from(second) * 1000, &mut positions);
        for position in &positions {
            expected.insert(format!("{}-{}", position.vehicle_id, position.timestamp_ms));
            let client = partition_of(position.vehicle_id.as_bytes(), 4) as usize % clients;
            let mut line = serde_json::to_string(position)?;
            line.push('\n');
            pending[client].push(line);
            if pending[client].len() == REQUEST_LINES {
                let full =
                    std::mem::replace(&mut pending[client], Vec::with_capacity(REQUEST_LINES));
                senders[client]
                    .send(full)
                    .ok()
                    .context("a client stopped")?;
            }
        }
    }
    for (client, rest) in pending.into_iter().enumerate() {
        if !rest.is_empty() {
            senders[client]
                .send(rest)
                .ok()
                .context("a client stopped")?;
        }
    }
    drop(senders);
    for thread in threads {
        thread
            .join()
            .map_err(|_| anyhow::anyhow!("a client panicked"))??;
    }
    let posted = started.elapsed();

    // Until `index` says it has written a history document per position (or stops making
    // progress): the file is read only afterwards, so the check does not compete with the
    // workers for the two cores and the page cache while they are measured.
    let deadline = Instant::now() + Duration::from_secs(600);
    let (mut written, mut last_growth) = (0, Instant::now());
    while written < expected.len() as u64 {
        for worker in [&mut broker, &mut process, &mut index, &mut ingest] {
            worker.assert_running()?;
        }
        if Instant::now() > deadline || last_growth.elapsed() > Duration::from_secs(60) {
            break;
        }
        let now = history_written(&index_http)?;
        if now > written {
            (written, last_growth) = (now, Instant::now());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let delivered = started.elapsed();
    let cpu: Vec<f64> = [&broker, &process, &index, &ingest]
        .iter()
        .zip(&cpu_before)
        .map(|(w, before)| w.cpu_seconds() - before)
        .collect();
    let feeder_cpu = worker::cpu_seconds_of("self") - feeder_cpu_before;

    let history = sink.path().join("cartrack-vehicle-history.ndjson");
    let mut found: HashSet<String> = HashSet::with_capacity(expected.len());
    let mut lines = 0u64;
    for line in BufReader::new(std::fs::File::open(&history)?).lines() {
        let line = line?;
        lines += 1;
        let id = line
            .strip_prefix("{\"_id\":\"")
            .and_then(|rest| rest.split('"').next())
            .context("unexpected sink line")?;
        found.insert(id.to_owned());
    }
    let lost = expected.difference(&found).count();
    let unexpected = found.difference(&expected).count();
    let total: f64 = cpu.iter().sum();
    let millions = expected.len() as f64 / 1e6;
    println!("| positions | vehicles | clients | posted in (s) | all in the sink after (s) | 503s | distinct ids | history lines | lost | unexpected | CPU s broker / process / index / ingest | CPU s per million | positions/s | feeder CPU s |");
    println!(
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |"
    );
    println!(
        "| {} | {vehicles} | {clients} | {:.1} | {:.1} | {} | {} | {lines} | {lost} | {unexpected} | {:.1} / {:.1} / {:.1} / {:.1} | {:.2} | {:.0} | {feeder_cpu:.1} |",
        expected.len(),
        posted.as_secs_f64(),
        delivered.as_secs_f64(),
        refusals.load(Ordering::Relaxed),
        found.len(),
        cpu[0],
        cpu[1],
        cpu[2],
        cpu[3],
        total / millions,
        expected.len() as f64 / delivered.as_secs_f64(),
    );
    let sizes: Vec<String> = std::fs::read_dir(sink.path())?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let bytes = entry.metadata().ok()?.len();
            Some(format!(
                "{} {:.1} MB",
                entry.file_name().to_string_lossy(),
                bytes as f64 / 1e6
            ))
        })
        .collect();
    println!("sink: {}", sizes.join(", "));
    if lost > 0 || unexpected > 0 {
        // Where they went: each worker's counters of what it read, wrote and refused.
        for address in [&intake, &process_http, &index_http] {
            let (_, metrics) = request(address, "GET /metrics", "", "")?;
            for line in metrics.lines().filter(|line| line.starts_with("cartrack_")) {
                eprintln!("{line}");
            }
        }
        bail!("{lost} positions lost, {unexpected} unexpected ids");
    }
    Ok(())
}
