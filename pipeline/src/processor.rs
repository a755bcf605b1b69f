//! The processing core of `process`: positions in, vehicle states, tile traffic and alerts out.
//!
//! Pure and single-threaded: it owns its state, takes the time as an argument and writes into
//! caller-owned buffers, so it can be benchmarked and tested without Kafka, and the Kafka
//! adapter ([`crate::commands::process`]) stays a thin loop.

use rustc_hash::FxHashMap;

use serde::{Deserialize, Serialize};

use crate::geo::tile_of;
use crate::model::{
    round_to, Alert, GeoPoint, Position, Predictions, TileParts, TileTraffic, VehicleState,
    MOTION_DECIMALS,
};
use crate::transforms::aggregate::{LateFix, TileAggregator, TooLate, WindowConfig};
use crate::transforms::geofence::{Geofences, Membership};
use crate::transforms::merge::LateParts;
use crate::transforms::predict::{straight_on, Kalman, KalmanConfig, StraightOn};
use crate::transforms::track::{self, Kinematics, Stale, TrackConfig};

/// Everything that tunes the processor.
#[derive(Debug, Clone, Default)]
pub struct ProcessorConfig {
    /// Motion detection.
    pub track: TrackConfig,
    /// Tile windows.
    pub windows: WindowConfig,
    /// Kalman noise model.
    pub kalman: KalmanConfig,
    /// Prediction horizon, s.
    pub horizon_s: f64,
    /// Fences to raise alerts for.
    pub geofences: Geofences,
}

impl ProcessorConfig {
    /// The defaults with `geofences`: 30 s predictions, 10 s windows.
    pub fn with_geofences(geofences: Geofences) -> Self {
        Self {
            horizon_s: 30.0,
            geofences,
            ..Self::default()
        }
    }
}

/// A position the processor did not apply, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Skip {
    /// Older than the vehicle's latest fix (duplicate or out of order).
    #[error(transparent)]
    Stale(#[from] Stale),
    /// Coordinates no geohash exists for (validation normally stops these earlier).
    #[error("the position has no geohash tile")]
    NoTile,
}

/// Results of processing, in caller-owned buffers that are reused between calls.
#[derive(Debug, Default)]
pub struct Outputs {
    /// Vehicles whose state changed, by [`VehicleIndex`], in processing order.
    pub vehicles: Vec<VehicleIndex>,
    /// Tile windows emitted for the first time, or again because late positions changed them
    /// (same document id), as far as this processor's inputs make them.
    pub tiles: Vec<TileTraffic>,
    /// The parts (per input) of those windows: all of a window's the first time, the changed
    /// ones after. Merged with other processors' parts, they make the whole windows.
    pub parts: Vec<TileParts>,
    /// Geofence crossings.
    pub alerts: Vec<Alert>,
}

impl Outputs {
    /// Empties the buffers, keeping their capacity.
    pub fn clear(&mut self) {
        self.vehicles.clear();
        self.tiles.clear();
        self.parts.clear();
        self.alerts.clear();
    }
}

/// A vehicle's slot in the processor; stable until inputs are dropped
/// ([`Processor::drop_inputs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VehicleIndex(u32);

#[derive(Debug, Serialize, Deserialize)]
struct Vehicle {
    /// The input (partition) its positions come from.
    input: u32,
    state: VehicleState,
    kinematics: Kinematics,
    kalman: Kalman,
    fences: Membership,
}

/// Counters of what the processor did, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessorStats {
    /// Positions applied.
    pub applied: u64,
    /// Positions older than their vehicle's latest.
    pub stale: u64,
    /// Positions for a tile window past its allowed lateness: not counted in the window
    /// (still applied to the vehicle).
    pub late_for_window: u64,
}

/// How late data fared, as served in the snapshot.
#[derive(Debug, Serialize)]
pub struct LateReport {
    /// How long (event time) after its first emission a window still takes fixes, ms.
    pub allowed_lateness_ms: i64,
    /// Positions that arrived for a window past its allowed lateness, since the start.
    pub beyond_lateness: u64,
    /// Tile windows that can still change (what the allowed lateness holds in memory).
    pub open_windows: usize,
    /// The most recent windows that had positions beyond the lateness, newest first.
    pub windows_beyond_lateness: Vec<TooLate>,
    /// Parts of tile windows (from this or another processor) that reached this processor's
    /// merger after it had dropped their window, since the start (see
    /// [`crate::transforms::merge`]).
    pub parts_beyond_lateness: u64,
    /// The most recent windows that had such parts, newest first.
    pub part_windows_beyond_lateness: Vec<LateParts>,
}

/// How many windows with positions (or parts) beyond the lateness the snapshot lists.
pub const SNAPSHOT_TOO_LATE_WINDOWS: usize = 100;

/// The current picture, as served to the map page.
#[derive(Debug, Serialize)]
pub struct Snapshot<'a> {
    /// When the snapshot was taken, ms since the epoch.
    pub generated_at_ms: i64,
    /// Every vehicle's latest state, with predictions.
    pub vehicles: Vec<&'a VehicleState>,
    /// Every tile's last emitted window.
    pub tiles: Vec<&'a TileTraffic>,
    /// Positions that came too late for their tile window.
    pub late: LateReport,
}

/// The per-vehicle and per-tile state of the stream.
///
/// Serialisable (vehicles, open tile windows, counters; not the configuration), so `process`
/// can checkpoint it and commit its input past windows that can still change; see
/// [`Self::restored`].
#[derive(Debug, Serialize, Deserialize)]
pub struct Processor {
    #[serde(skip)]
    config: ProcessorConfig,
    /// Fx hashing: keys are our own vehicle ids, and SipHash's DoS resistance costs a tenth
    /// of the hot path (measured with `perf`, examples/process_throughput.rs). Not serialised:
    /// rebuilt from the vehicles.
    #[serde(skip)]
    index_of: FxHashMap<String, VehicleIndex>,
    vehicles: Vec<Vehicle>,
    tiles: TileAggregator,
    stats: ProcessorStats,
}

impl Processor {
    /// A processor that has seen nothing.
    pub fn new(config: ProcessorConfig) -> Self {
        Self {
            tiles: TileAggregator::new(config.windows),
            config,
            index_of: FxHashMap::default(),
            vehicles: Vec::new(),
            stats: ProcessorStats::default(),
        }
    }

    /// This processor's state (as checkpointed and read back) under `config`: it goes on
    /// exactly as the processor that was checkpointed would have, given the same input.
    pub fn restored(self, config: ProcessorConfig) -> Self {
        let Self {
            vehicles,
            tiles,
            stats,
            ..
        } = self;
        let index_of = index_of(&vehicles);
        Self {
            tiles: tiles.restored(config.windows),
            config,
            index_of,
            vehicles,
            stats,
        }
    }

    /// Applies one (validated) position: updates the vehicle, counts it in its tile window and
    /// checks the geofences. For a single, event-time ordered input; see [`Self::process_from`]
    /// for several.
    pub fn process(&mut self, position: &Position, out: &mut Outputs) -> Result<(), Skip> {
        self.process_from(0, 0, position, out)
    }

    /// [`Self::process`] for a position read from `input` (the Kafka partition) at `offset`:
    /// tile windows close only once every active input has passed them, so inputs read at
    /// different paces (a backlog after a restart) do not make each other's fixes late; and
    /// each window's part of `input` carries the offset of its newest fix.
    pub fn process_from(
        &mut self,
        input: u32,
        offset: i64,
        position: &Position,
        out: &mut Outputs,
    ) -> Result<(), Skip> {
        let result = self.apply(input, offset, position, out);
        match result {
            Ok(()) => self.stats.applied += 1,
            Err(Skip::Stale(_)) => self.stats.stale += 1,
            Err(Skip::NoTile) => {}
        }
        result
    }

    fn apply(
        &mut self,
        input: u32,
        offset: i64,
        position: &Position,
        out: &mut Outputs,
    ) -> Result<(), Skip> {
        let point = GeoPoint {
            lat: position.lat,
            lon: position.lon,
        };
        let config = &self.config;
        let existing = self.index_of.get(position.vehicle_id.as_str()).copied();
        let previous = existing.map(|index| &self.vehicles[index.0 as usize]);
        let kinematics = track::advance(previous.map(|v| &v.kinematics), position, &config.track)?;
        let tile = tile_of(point).ok_or(Skip::NoTile)?;

        let index = match existing {
            Some(index) => index,
            None => {
                let index = VehicleIndex(self.vehicles.len() as u32);
                self.index_of.insert(position.vehicle_id.clone(), index);
                index
            }
        };
        if self.tiles.observe_at(
            input,
            offset,
            &tile,
            index.0,
            kinematics.speed_mps,
            position.timestamp_ms,
        ) == Err(LateFix)
        {
            self.stats.late_for_window += 1;
        }

        let fences_after = config.geofences.membership(point);
        let fences_before = previous.map_or(0, |vehicle| vehicle.fences);
        config.geofences.crossings(
            fences_before,
            fences_after,
            &position.vehicle_id,
            point,
            position.timestamp_ms,
            &mut out.alerts,
        );

        let mut kalman = previous.map_or_else(
            || Kalman::new(point, position.timestamp_ms, &config.kalman),
            |vehicle| vehicle.kalman,
        );
        kalman.observe(point, position.timestamp_ms, &config.kalman);
        let horizon_s = config.horizon_s;
        let StraightOn {
            dead_reckoning,
            tile_speed,
        } = straight_on(
            point,
            kinematics.speed_mps,
            kinematics.heading_deg,
            self.tiles.current_speed_mps(&tile),
            horizon_s,
        );
        let predictions = Predictions {
            horizon_s,
            dead_reckoning,
            tile_speed,
            kalman: kalman.predict(horizon_s),
        };

        // The state's precision (what is written for every position); the kinematics and
        // the filter keep theirs.
        let predictions = predictions.rounded();
        let location = point.rounded();
        let speed_mps = round_to(kinematics.speed_mps, MOTION_DECIMALS);
        let heading_deg = round_to(kinematics.heading_deg, MOTION_DECIMALS);
        match self.vehicles.get_mut(index.0 as usize) {
            // Updated in place: a known vehicle's id (and usually its attributes) stay as they
            // are, which saves allocations on the hot path.
            Some(vehicle) => {
                let state = &mut vehicle.state;
                state.timestamp_ms = position.timestamp_ms;
                state.location = location;
                state.speed_mps = speed_mps;
                state.heading_deg = heading_deg;
                state.motion = kinematics.motion;
                if state.tile != *tile {
                    state.tile.clear();
                    state.tile.push_str(&tile);
                }
                state.predictions = predictions;
                if state.attributes != position.attributes {
                    state.attributes.clone_from(&position.attributes);
                }
                vehicle.kinematics = kinematics;
                vehicle.kalman = kalman;
                vehicle.fences = fences_after;
            }
            None => self.vehicles.push(Vehicle {
                input,
                state: VehicleState {
                    vehicle_id: position.vehicle_id.clone(),
                    timestamp_ms: position.timestamp_ms,
                    location,
                    speed_mps,
                    heading_deg,
                    motion: kinematics.motion,
                    tile: tile.to_string(),
                    predictions,
                    attributes: position.attributes.clone(),
                },
                kinematics,
                kalman,
                fences: fences_after,
            }),
        }
        out.vehicles.push(index);
        Ok(())
    }

    /// Declares the inputs positions will come from, as of wall time `now_ms` (see
    /// [`TileAggregator::expect_inputs`]): call it when the consumer's assignment is known.
    pub fn expect_inputs(&mut self, inputs: &[u32], now_ms: i64) {
        self.tiles.expect_inputs(inputs, now_ms);
    }

    /// Forgets everything read from `inputs` (partitions revoked from this consumer): their
    /// vehicles and their parts of the tile windows, which the inputs' next reader rebuilds.
    /// Changes [`VehicleIndex`]es: call it with no vehicle outputs pending.
    pub fn drop_inputs(&mut self, inputs: &[u32]) {
        if inputs.is_empty() {
            return;
        }
        self.tiles.drop_inputs(inputs);
        self.vehicles
            .retain(|vehicle| !inputs.contains(&vehicle.input));
        self.index_of = index_of(&self.vehicles);
    }

    /// Lets time pass: emits the tile windows the watermark (event time, or `now_ms` once the
    /// stream has been idle) has passed, re-emits those changed by late positions, and drops
    /// those past their allowed lateness.
    pub fn advance(&mut self, now_ms: i64, out: &mut Outputs) {
        self.tiles
            .advance_with_parts(now_ms, &mut out.tiles, &mut out.parts);
    }

    /// Start of the tile window `timestamp_ms` falls in.
    pub fn window_of(&self, timestamp_ms: i64) -> i64 {
        self.config.windows.window_start(timestamp_ms)
    }

    /// Start of the oldest tile window that can still change (emitted or not). A restart must
    /// re-read every fix of the windows from here on to emit them complete.
    pub fn oldest_open_window_ms(&self) -> i64 {
        self.tiles.oldest_open_window_ms()
    }

    /// Tile windows (tile and start) that can still change: what the allowed lateness holds
    /// in memory.
    pub fn open_tile_windows(&self) -> usize {
        self.tiles.open_windows()
    }

    /// The latest state of the vehicle in `index`.
    pub fn vehicle(&self, index: VehicleIndex) -> &VehicleState {
        &self.vehicles[index.0 as usize].state
    }

    /// What the processor has done so far.
    pub fn stats(&self) -> ProcessorStats {
        self.stats
    }

    /// The current vehicles and tiles, for the map page.
    pub fn snapshot(&self, now_ms: i64) -> Snapshot<'_> {
        let mut vehicles: Vec<_> = self.vehicles.iter().map(|v| &v.state).collect();
        vehicles.sort_unstable_by(|a, b| a.vehicle_id.cmp(&b.vehicle_id));
        let mut tiles: Vec<_> = self.tiles.current().collect();
        tiles.sort_unstable_by(|a, b| a.tile.cmp(&b.tile));
        Snapshot {
            generated_at_ms: now_ms,
            vehicles,
            tiles,
            late: LateReport {
                allowed_lateness_ms: self.tiles.allowed_lateness_ms(),
                beyond_lateness: self.stats.late_for_window,
                open_windows: self.open_tile_windows(),
                windows_beyond_lateness: self
                    .tiles
                    .too_late()
                    .take(SNAPSHOT_TOO_LATE_WINDOWS)
                    .collect(),
                parts_beyond_lateness: 0,
                part_windows_beyond_lateness: Vec::new(),
            },
        }
    }
}

/// Each vehicle's slot, by id.
fn index_of(vehicles: &[Vehicle]) -> FxHashMap<String, VehicleIndex> {
    vehicles
        .iter()
        .enumerate()
        .map(|(index, vehicle)| (vehicle.state.vehicle_id.clone(), VehicleIndex(index as u32)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::destination;
    use crate::model::{Crossing, Motion};

    const T0: i64 = 1_700_000_000_000;
    const START: GeoPoint = GeoPoint {
        lat: 40.75,
        lon: -73.98,
    };

    fn fix(vehicle: &str, timestamp_ms: i64, point: GeoPoint) -> Position {
        Position {
            vehicle_id: vehicle.into(),
            timestamp_ms,
            lat: point.lat,
            lon: point.lon,
            ..Default::default()
        }
    }

    fn processor() -> Processor {
        let fences = Geofences::from_toml(
            "[[geofence]]\nname = \"north\"\npolygon = [[-74.0, 40.7505], [-73.9, 40.7505], [-73.9, 40.8], [-74.0, 40.8]]",
        )
        .unwrap();
        Processor::new(ProcessorConfig::with_geofences(fences))
    }

    #[test]
    fn a_moving_vehicle_gets_kinematics_predictions_and_alerts() {
        let mut processor = processor();
        let mut out = Outputs::default();
        // Due north at 10 m/s, a fix a second; the fence starts 55.6 m north of START.
        for second in 0..10 {
            let point = destination(START, 0.0, 10.0 * second as f64);
            processor
                .process(&fix("cab", T0 + second * 1000, point), &mut out)
                .unwrap();
        }
        assert_eq!(out.vehicles.len(), 10);
        let state = processor.vehicle(out.vehicles[9]);
        assert_eq!(state.motion, Motion::Moving);
        assert!((state.speed_mps - 10.0).abs() < 1e-6);
        assert!(state.heading_deg.abs() < 1e-6 || (state.heading_deg - 360.0).abs() < 1e-6);
        let expected = destination(state.location, 0.0, 300.0);
        let reckoned = state.predictions.dead_reckoning;
        // Both points are rounded to 1e-7 degrees (about a centimetre).
        assert!(crate::geo::haversine_m(reckoned, expected) < 0.02);
        let kalman_error = crate::geo::haversine_m(state.predictions.kalman, expected);
        assert!(kalman_error < 40.0, "kalman is {kalman_error} m off");

        assert_eq!(out.alerts.len(), 1);
        assert_eq!(out.alerts[0].crossing, Crossing::Enter);
        assert_eq!(out.alerts[0].timestamp_ms, T0 + 6_000);
    }

    #[test]
    fn redelivered_fixes_change_nothing() {
        let mut processor = processor();
        let mut out = Outputs::default();
        let first = fix("cab", T0, START);
        processor.process(&first, &mut out).unwrap();
        out.clear();
        assert_eq!(
            processor.process(&first, &mut out),
            Err(Skip::Stale(Stale::NotNewer))
        );
        assert!(out.vehicles.is_empty() && out.alerts.is_empty());
        assert_eq!(processor.stats().stale, 1);
    }

    #[test]
    fn tiles_close_with_time_and_feed_the_snapshot() {
        let mut processor = processor();
        let mut out = Outputs::default();
        processor
            .process(&fix("a", T0 + 1_000, START), &mut out)
            .unwrap();
        processor
            .process(&fix("b", T0 + 2_000, START), &mut out)
            .unwrap();
        processor.advance(T0 + 12_000, &mut out);
        assert!(
            out.tiles.is_empty(),
            "event time has not passed the window yet"
        );
        processor.advance(T0 + 17_000, &mut out); // Idle: the wall clock takes over.
        assert_eq!(out.tiles.len(), 1);
        assert_eq!((out.tiles[0].vehicles, out.tiles[0].observations), (2, 2));

        let snapshot = processor.snapshot(T0 + 12_000);
        let ids: Vec<_> = snapshot
            .vehicles
            .iter()
            .map(|v| v.vehicle_id.as_str())
            .collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(snapshot.tiles.len(), 1);
    }

    #[test]
    fn positions_beyond_the_lateness_are_counted_and_shown_in_the_snapshot() {
        let mut processor = Processor::new(ProcessorConfig {
            windows: WindowConfig {
                allowed_lateness_ms: 10_000,
                ..WindowConfig::default()
            },
            ..ProcessorConfig::with_geofences(Geofences::default())
        });
        let mut out = Outputs::default();
        processor.process(&fix("a", T0, START), &mut out).unwrap();
        processor
            .process(&fix("b", T0 + 40_000, START), &mut out)
            .unwrap();
        processor.advance(T0, &mut out);
        assert_eq!(out.tiles.len(), 1, "window 0 emitted and final");
        out.clear();
        // Applied to the vehicle (a new one), not to the final window.
        processor
            .process(&fix("c", T0 + 5_000, START), &mut out)
            .unwrap();
        assert_eq!(out.vehicles.len(), 1);
        processor.advance(T0 + 250, &mut out);
        assert!(out.tiles.is_empty(), "{:?}", out.tiles);
        assert_eq!(processor.stats().late_for_window, 1);
        let snapshot = serde_json::to_value(processor.snapshot(T0)).unwrap();
        assert_eq!(snapshot["late"]["beyond_lateness"], 1, "{snapshot}");
        assert_eq!(snapshot["late"]["allowed_lateness_ms"], 10_000);
        assert_eq!(
            snapshot["late"]["windows_beyond_lateness"][0]["window_start_ms"],
            T0
        );
    }

    #[test]
    fn a_dropped_input_is_forgotten_and_its_reread_parts_are_those_of_before() {
        let fixes = |vehicle: &str| -> Vec<Position> {
            (0..30)
                .map(|second| {
                    let point = destination(START, 90.0, 8.0 * second as f64);
                    let mut position = fix(vehicle, T0 + second * 1000, point);
                    position.speed_mps = Some(8.0);
                    position
                })
                .collect()
        };
        let (first, second) = (fixes("cab-0"), fixes("cab-1"));
        let run = |processor: &mut Processor, input: u32, fixes: &[Position]| {
            let mut out = Outputs::default();
            for (offset, position) in fixes.iter().enumerate() {
                processor
                    .process_from(input, offset as i64, position, &mut out)
                    .unwrap();
            }
        };
        let parts_of = |processor: &mut Processor, input: u32| {
            let mut out = Outputs::default();
            processor.advance(T0 + 600_000, &mut out);
            let mut parts: Vec<_> = out
                .parts
                .iter()
                .flat_map(|line| {
                    line.parts
                        .iter()
                        .filter(|part| part.partition == input)
                        .map(|part| (line.document_id(), *part))
                })
                .collect();
            parts.sort_by(|a, b| a.0.cmp(&b.0));
            parts
        };

        let mut straight = processor();
        run(&mut straight, 0, &first);
        run(&mut straight, 1, &second);
        let expected = parts_of(&mut straight, 1);
        assert!(!expected.is_empty());

        let mut moved = processor();
        run(&mut moved, 0, &first);
        run(&mut moved, 1, &second[..20]);
        moved.drop_inputs(&[1]);
        let ids: Vec<_> = moved
            .snapshot(0)
            .vehicles
            .iter()
            .map(|state| state.vehicle_id.clone())
            .collect();
        assert_eq!(ids, ["cab-0"], "input 1's vehicle is forgotten");
        // Input 1 comes back (re-read from the group's commit): its parts are rebuilt whole,
        // with the same newest offsets.
        run(&mut moved, 1, &second);
        assert_eq!(parts_of(&mut moved, 1), expected);
    }
}
