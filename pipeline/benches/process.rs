//! Throughput of the processing core (no Kafka): the part-2 target is 1M positions/s/core.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use cartrack_pipeline::model::Position;
use cartrack_pipeline::processor::{Outputs, Processor, ProcessorConfig};
use cartrack_pipeline::sources::simulator::{Fleet, SimulatorConfig};
use cartrack_pipeline::transforms::geofence::Geofences;

/// 1000 vehicles reporting once a second for 100 s, as the simulator drives them.
fn positions() -> Vec<Position> {
    let mut fleet = Fleet::new(SimulatorConfig {
        vehicles: 1000,
        ..SimulatorConfig::default()
    });
    let mut positions = Vec::new();
    for second in 0..100 {
        fleet.step(1.0);
        fleet.positions(1_700_000_000_000 + second * 1000, &mut positions);
    }
    positions
}

fn geofences() -> Geofences {
    Geofences::from_toml(include_str!("../examples/data/manhattan-geofences.toml"))
        .unwrap_or_default()
}

fn process(c: &mut Criterion) {
    let positions = positions();
    let mut group = c.benchmark_group("processor");
    group.throughput(Throughput::Elements(positions.len() as u64));
    group.bench_function("process_100k_positions", |b| {
        b.iter_batched(
            || Processor::new(ProcessorConfig::with_geofences(geofences())),
            |mut processor| {
                let mut outputs = Outputs::default();
                for (n, position) in positions.iter().enumerate() {
                    let _ = processor.process(position, &mut outputs);
                    if n % 1000 == 999 {
                        processor.advance(position.timestamp_ms, &mut outputs);
                        outputs.clear();
                    }
                }
                processor
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// Writing the vehicle states `process` emits (one per position) as the JSON documents `index`
/// writes, one per line.
fn write_states(c: &mut Criterion) {
    let positions = positions();
    let mut processor = Processor::new(ProcessorConfig::with_geofences(geofences()));
    let mut outputs = Outputs::default();
    let mut states = Vec::new();
    for position in &positions {
        let _ = processor.process(position, &mut outputs);
        if let Some(index) = outputs.vehicles.pop() {
            states.push(processor.vehicle(index).clone());
        }
    }
    let mut group = c.benchmark_group("processor");
    group.throughput(Throughput::Elements(states.len() as u64));
    group.bench_function("write_100k_vehicle_states", |b| {
        let mut buffer = Vec::with_capacity(64 << 20);
        b.iter(|| {
            buffer.clear();
            for state in &states {
                state.write_json(&mut buffer);
                buffer.push(b'\n');
            }
            buffer.len()
        })
    });
    group.finish();
}

criterion_group!(benches, process, write_states);
criterion_main!(benches);
