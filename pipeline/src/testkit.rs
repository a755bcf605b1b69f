//! Fixtures for tests and benchmarks (feature `testkit`, never in the worker's build): a
//! deterministic fleet's positions and the tile windows an offline run of the processing core
//! makes of them, what end-to-end tests compare the pipeline's output with.

use std::collections::HashMap;

use crate::model::{Position, TileTraffic};
use crate::processor::{Outputs, Processor, ProcessorConfig};
use crate::sources::simulator::{CityBox, Fleet, SimulatorConfig};

/// A start time for the deterministic input: an hour ago, on a 10 s window boundary. Recent,
/// because brokers drop records older than their retention (7 days by default) by timestamp;
/// the input is the same fleet whatever the start, only shifted in time.
pub fn recent_t0_ms() -> i64 {
    let hour_ago = crate::wall_clock_ms() - 3_600_000;
    hour_ago - hour_ago % 10_000
}

/// The deterministic input: `vehicles` simulated vehicles (seed `seed`, in `city`), one fix
/// each per second for `seconds` seconds from [`recent_t0_ms`], in time order.
pub fn fleet_positions(seed: u64, city: CityBox, vehicles: u32, seconds: u32) -> Vec<Position> {
    let t0_ms = recent_t0_ms();
    let mut fleet = Fleet::new(SimulatorConfig {
        vehicles,
        seed,
        city,
        ..SimulatorConfig::default()
    });
    let mut positions = Vec::with_capacity((vehicles * seconds) as usize);
    for second in 0..seconds {
        fleet.step(1.0);
        fleet.positions(t0_ms + i64::from(second) * 1000, &mut positions);
    }
    positions
}

/// The tile windows of the whole input, computed offline by the same processing core, by
/// document id.
pub fn offline_tiles(positions: &[Position]) -> HashMap<String, TileTraffic> {
    let mut processor = Processor::new(ProcessorConfig::with_geofences(Default::default()));
    let mut out = Outputs::default();
    let mut tiles = HashMap::new();
    for position in positions {
        let _ = processor.process(position, &mut out);
        out.vehicles.clear();
    }
    // Past the end, then idle long enough for every window to close.
    let end = positions.iter().map(|p| p.timestamp_ms).max().unwrap_or(0) + 60_000;
    processor.advance(end, &mut out);
    processor.advance(end + 60_000, &mut out);
    for tile in out.tiles.drain(..) {
        assert!(
            tiles.insert(tile.document_id(), tile).is_none(),
            "a window emitted twice offline"
        );
    }
    tiles
}
