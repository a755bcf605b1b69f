//! Evaluates the 30 s position predictions of `process` on data the models were not tuned on.
//!
//! ```sh
//! cargo run --release -p cartrack-pipeline --example predict_eval
//! cargo run --release -p cartrack-pipeline --example predict_eval -- --write-trace pipeline/examples/data/eval-trace.csv
//! ```
//!
//! Two data sets, neither used while the models were written (development used seed 7 in
//! Manhattan):
//! - the simulator with seed 20261126 in a Chicago Loop box, 200 vehicles for 20 minutes, a fix
//!   a second with the device's speed and heading;
//! - a replayed trace, `examples/data/eval-trace.csv` (plain `id,timestamp,lon,lat` schema, read
//!   by the same parser as `ingest replay`): 12 vehicles in a Berlin box (seed 4242) for 10
//!   minutes, fixes every 1 to 4 s at random, positions only, so speed and heading are derived.
//!   `--write-trace PATH` regenerates it.
//!
//! For every fix after a minute of warm-up, each model's prediction is compared with where the
//! vehicle really was 30 s later (the fix then, interpolated between the two around it when
//! there is none exactly then). Printed: median and 90th percentile of the error in metres, per
//! model, plus "stay put" (the current position) as the floor any model must beat.

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use cartrack_pipeline::geo::haversine_m;
use cartrack_pipeline::model::{GeoPoint, Position};
use cartrack_pipeline::processor::{Outputs, Processor, ProcessorConfig};
use cartrack_pipeline::sources::replay::{detect_schema, parse_record, CsvSchema};
use cartrack_pipeline::sources::simulator::{CityBox, Fleet, SimulatorConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const HORIZON_MS: i64 = 30_000;
const WARM_UP_MS: i64 = 60_000;
const START_MS: i64 = 1_790_000_000_000;
const TRACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/eval-trace.csv");

const CHICAGO_LOOP: CityBox = CityBox {
    south: 41.865,
    west: -87.648,
    north: 41.895,
    east: -87.617,
};
const BERLIN_MITTE: CityBox = CityBox {
    south: 52.505,
    west: 13.370,
    north: 52.530,
    east: 13.420,
};

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("predict_eval: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => {}
        [flag, path] if flag == "--write-trace" => {
            write_trace(Path::new(path))?;
            println!("wrote {path}");
            return Ok(ExitCode::SUCCESS);
        }
        _ => {
            eprintln!("usage: predict_eval [--write-trace PATH]");
            return Ok(ExitCode::from(2));
        }
    }
    println!("| data | fixes evaluated | model | median error (m) | p90 error (m) |");
    println!("| --- | ---: | --- | ---: | ---: |");
    report(
        "simulator, seed 20261126, Chicago Loop, 200 vehicles, 20 min, 1 Hz",
        &simulated(),
    );
    let trace = read_trace(Path::new(TRACE)).with_context(|| format!("reading {TRACE}"))?;
    report(
        "replayed trace eval-trace.csv, Berlin, 12 vehicles, 10 min, 0.25-1 Hz, positions only",
        &trace,
    );
    Ok(ExitCode::SUCCESS)
}

/// The fleet of the unseen seed and city, with the device's speed and heading.
fn simulated() -> Vec<Position> {
    let mut fleet = Fleet::new(SimulatorConfig {
        vehicles: 200,
        seed: 20_261_126,
        city: CHICAGO_LOOP,
        ..SimulatorConfig::default()
    });
    let mut positions = Vec::new();
    for second in 0..1200 {
        fleet.step(1.0);
        fleet.positions(START_MS + second * 1000, &mut positions);
    }
    positions
}

/// The trace fixture: a Berlin fleet (seed 4242) sampled at irregular intervals, positions
/// only, time-ordered.
fn write_trace(path: &Path) -> anyhow::Result<()> {
    let mut fleet = Fleet::new(SimulatorConfig {
        vehicles: 12,
        seed: 4242,
        city: BERLIN_MITTE,
        ..SimulatorConfig::default()
    });
    let mut rng = StdRng::seed_from_u64(4242);
    let mut next_fix_s: Vec<i64> = (0..12).map(|_| rng.random_range(1..=4)).collect();
    let mut text = String::from("id,timestamp,lon,lat\n");
    let mut fixes = Vec::new();
    for second in 1..=600 {
        fleet.step(1.0);
        fixes.clear();
        fleet.positions(START_MS + second * 1000, &mut fixes);
        for (vehicle, fix) in fixes.iter().enumerate() {
            if next_fix_s[vehicle] == second {
                text.push_str(&format!(
                    "{},{},{:.7},{:.7}\n",
                    fix.vehicle_id, fix.timestamp_ms, fix.lon, fix.lat
                ));
                next_fix_s[vehicle] += rng.random_range(1..=4);
            }
        }
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Reads a trace the way `ingest replay` does (without re-stamping).
fn read_trace(path: &Path) -> anyhow::Result<Vec<Position>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)?;
    let mut schema = None;
    let mut positions = Vec::new();
    for record in reader.records() {
        let record = record?;
        let resolved = match schema {
            Some(schema) => schema,
            None => {
                let (detected, is_header) = detect_schema(CsvSchema::Auto, &record);
                schema = Some(detected);
                if is_header {
                    continue;
                }
                detected
            }
        };
        let trace = parse_record(resolved, &record)
            .map_err(|reject| anyhow::anyhow!("line {:?}: {reject}", record.position()))?;
        let recorded_ms = trace.recorded_ms;
        positions.push(trace.into_position(recorded_ms));
    }
    Ok(positions)
}

/// Where the vehicle was at `at_ms`, from its time-ordered fixes; `None` outside them.
fn truth_at(track: &[(i64, GeoPoint)], at_ms: i64) -> Option<GeoPoint> {
    let after = track.partition_point(|(t, _)| *t < at_ms);
    let (t1, p1) = *track.get(after)?;
    if t1 == at_ms {
        return Some(p1);
    }
    let (t0, p0) = *track.get(after.checked_sub(1)?)?;
    let f = (at_ms - t0) as f64 / (t1 - t0) as f64;
    Some(GeoPoint {
        lat: p0.lat + (p1.lat - p0.lat) * f,
        lon: p0.lon + (p1.lon - p0.lon) * f,
    })
}

/// Runs the processor over `positions` (time-ordered) and prints each model's errors.
fn report(data: &str, positions: &[Position]) {
    let mut tracks: HashMap<&str, Vec<(i64, GeoPoint)>> = HashMap::new();
    for p in positions {
        let point = GeoPoint {
            lat: p.lat,
            lon: p.lon,
        };
        tracks
            .entry(&p.vehicle_id)
            .or_default()
            .push((p.timestamp_ms, point));
    }
    let start_ms = positions.first().map_or(0, |p| p.timestamp_ms);
    let models = ["stay put", "dead reckoning", "tile speed", "Kalman"];
    let mut errors: Vec<Vec<f64>> = vec![Vec::new(); models.len()];
    let mut processor = Processor::new(ProcessorConfig::with_geofences(Default::default()));
    let mut out = Outputs::default();
    for p in positions {
        out.clear();
        processor.advance(p.timestamp_ms, &mut out);
        if processor.process(p, &mut out).is_err() || p.timestamp_ms < start_ms + WARM_UP_MS {
            continue;
        }
        let Some(truth) = truth_at(&tracks[p.vehicle_id.as_str()], p.timestamp_ms + HORIZON_MS)
        else {
            continue;
        };
        let Some(&index) = out.vehicles.last() else {
            continue;
        };
        let state = processor.vehicle(index);
        let predictions = state.predictions;
        let guesses = [
            state.location,
            predictions.dead_reckoning,
            predictions.tile_speed,
            predictions.kalman,
        ];
        for (errors, guess) in errors.iter_mut().zip(guesses) {
            errors.push(haversine_m(guess, truth));
        }
    }
    for (model, errors) in models.iter().zip(&mut errors) {
        if errors.is_empty() {
            continue;
        }
        errors.sort_unstable_by(f64::total_cmp);
        let quantile = |q: f64| errors[((errors.len() - 1) as f64 * q).round() as usize];
        println!(
            "| {data} | {} | {model} | {:.0} | {:.0} |",
            errors.len(),
            quantile(0.5),
            quantile(0.9)
        );
    }
}
