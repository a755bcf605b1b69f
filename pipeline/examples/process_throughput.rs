//! Throughput of `process`'s core on one core, in-process (no Kafka): positions per second
//! through [`Processor::process`], with windows closing as event time passes.
//!
//! ```sh
//! cargo run --release -p cartrack-pipeline --example process_throughput [-- VEHICLES SECONDS]
//! ```
//!
//! The input is the simulator's (seed 7, Manhattan; default 10 000 vehicles for 1000 s: 10
//! million positions, with the device's speed and heading, two geofences). It is generated in
//! chunks of 10 simulated seconds outside the timed part; only processing is timed.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use cartrack_pipeline::processor::{Outputs, Processor, ProcessorConfig};
use cartrack_pipeline::sources::simulator::{Fleet, SimulatorConfig};
use cartrack_pipeline::transforms::geofence::Geofences;

const START_MS: i64 = 1_790_000_000_000;
const CHUNK_S: u32 = 10;

fn main() -> ExitCode {
    let args: Vec<u32> = match std::env::args().skip(1).map(|a| a.parse()).collect() {
        Ok(args) => args,
        Err(_) => {
            eprintln!("usage: process_throughput [VEHICLES SECONDS]");
            return ExitCode::from(2);
        }
    };
    let (vehicles, seconds) = match args.as_slice() {
        [] => (10_000, 1_000),
        [vehicles, seconds] => (*vehicles, *seconds),
        _ => {
            eprintln!("usage: process_throughput [VEHICLES SECONDS]");
            return ExitCode::from(2);
        }
    };
    let fences =
        Geofences::from_toml(include_str!("data/manhattan-geofences.toml")).unwrap_or_default();
    let mut fleet = Fleet::new(SimulatorConfig {
        vehicles,
        ..SimulatorConfig::default()
    });
    let mut processor = Processor::new(ProcessorConfig::with_geofences(fences));
    let mut outputs = Outputs::default();
    let mut chunk = Vec::with_capacity((vehicles * CHUNK_S) as usize);
    let (mut busy, mut positions, mut emitted) = (Duration::ZERO, 0u64, [0u64; 3]);
    for first in (0..seconds).step_by(CHUNK_S as usize) {
        chunk.clear();
        for second in first..(first + CHUNK_S).min(seconds) {
            fleet.step(1.0);
            fleet.positions(START_MS + i64::from(second) * 1000, &mut chunk);
        }
        let started = Instant::now();
        for (n, position) in chunk.iter().enumerate() {
            let _ = processor.process(position, &mut outputs);
            // As the Kafka adapter does: hand outputs over regularly, let time pass.
            if n % 1000 == 999 {
                processor.advance(position.timestamp_ms, &mut outputs);
                emitted[0] += outputs.vehicles.len() as u64;
                emitted[1] += outputs.tiles.len() as u64;
                emitted[2] += outputs.alerts.len() as u64;
                outputs.clear();
            }
        }
        busy += started.elapsed();
        positions += chunk.len() as u64;
    }
    let per_second = positions as f64 / busy.as_secs_f64();
    println!("| positions | vehicles | time (s) | positions/s | vehicle states | tile windows | alerts |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    println!(
        "| {positions} | {vehicles} | {:.2} | {per_second:.0} | {} | {} | {} |",
        busy.as_secs_f64(),
        emitted[0],
        emitted[1],
        emitted[2]
    );
    ExitCode::SUCCESS
}
