//! Traffic per map tile in tumbling event-time windows: how many distinct vehicles, how fast.
//!
//! Windows close when the watermark passes their end. Fixes come from several inputs (Kafka
//! partitions), each in event-time order but read at their own pace: a backlog read after a
//! restart may deliver one partition's minute before another's. So each input keeps its own
//! clock (the newest event time read from it), and the watermark is the slowest active input's
//! clock less an allowed lateness. An input with nothing newer for an idle timeout (wall clock)
//! stops holding the watermark back; once every input is idle, the wall clock (less the
//! lateness) moves it on, so windows close when a fleet goes quiet, while a backlog is windowed
//! by its own times rather than thrown away as late. Each window is emitted once, under a
//! deterministic id, so a re-emission after a restart overwrites.

use std::collections::BTreeMap;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::geo::tile_centre;
use crate::model::{GeoPoint, TileTraffic};

/// Window geometry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowConfig {
    /// Length of each tumbling window, ms.
    pub length_ms: i64,
    /// How long after a window's end fixes for it are still accepted, ms.
    pub allowed_lateness_ms: i64,
    /// How long (wall clock) without a newer event before the wall clock drives the watermark,
    /// ms; lets windows close when fixes stop coming.
    pub idle_timeout_ms: i64,
}

impl Default for WindowConfig {
    fn default() -> Self {
        Self {
            length_ms: 10_000,
            allowed_lateness_ms: 2_000,
            idle_timeout_ms: 5_000,
        }
    }
}

impl WindowConfig {
    /// Start of the window containing `timestamp_ms` (floors negative times too).
    pub fn window_start(&self, timestamp_ms: i64) -> i64 {
        timestamp_ms - timestamp_ms.rem_euclid(self.length_ms)
    }
}

/// A fix that arrived after its window was emitted; counted, not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the fix belongs to a window that has already closed")]
pub struct LateFix;

#[derive(Debug, Default)]
struct Accumulator {
    vehicles: FxHashSet<u32>,
    observations: u32,
    speed_sum_mps: f64,
}

/// One input's progress in event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct InputClock {
    /// The newest event time read from the input (`i64::MIN`: none yet).
    max_event_ms: i64,
    /// The input's newest event time as of the last `advance`, and the wall time it was first
    /// seen there: how long the input has been idle.
    noticed: Option<(i64, i64)>,
}

impl InputClock {
    const UNSEEN: InputClock = InputClock {
        max_event_ms: i64::MIN,
        noticed: None,
    };
}

/// The open windows of every tile, and the last closed window of each.
#[derive(Debug)]
pub struct TileAggregator {
    config: WindowConfig,
    /// Open windows by start, then by tile (so a lookup by `&str` needs no allocation).
    open: BTreeMap<i64, FxHashMap<String, Accumulator>>,
    /// Every window ending at or before this has been emitted.
    closed_until_ms: i64,
    max_event_ms: i64,
    /// Per input (by number: the Kafka partition), its clock; `None` for numbers never used.
    inputs: Vec<Option<InputClock>>,
    latest: FxHashMap<String, TileTraffic>,
}

impl TileAggregator {
    /// An aggregator with nothing seen yet.
    pub fn new(config: WindowConfig) -> Self {
        Self {
            config,
            open: BTreeMap::new(),
            closed_until_ms: i64::MIN,
            max_event_ms: i64::MIN,
            inputs: Vec::new(),
            latest: FxHashMap::default(),
        }
    }

    /// Declares the inputs fixes will come from (e.g. the partitions assigned to this
    /// consumer), as of wall time `now_ms`: an input not read from yet holds the watermark back
    /// until it has been idle for the idle timeout, so a partition whose backlog has not been
    /// fetched yet does not find its windows closed. Inputs not listed any more are forgotten.
    pub fn expect_inputs(&mut self, inputs: &[u32], now_ms: i64) {
        for (number, clock) in self.inputs.iter_mut().enumerate() {
            if !inputs.contains(&(number as u32)) {
                *clock = None;
            }
        }
        for &input in inputs {
            let clock = self.input_mut(input);
            if clock.is_none() {
                *clock = Some(InputClock {
                    noticed: Some((i64::MIN, now_ms)),
                    ..InputClock::UNSEEN
                });
            }
        }
    }

    fn input_mut(&mut self, input: u32) -> &mut Option<InputClock> {
        let number = input as usize;
        if number >= self.inputs.len() {
            self.inputs.resize(number + 1, None);
        }
        &mut self.inputs[number]
    }

    /// Counts one fix of vehicle number `vehicle` (any id unique per vehicle) in `tile`, read
    /// from `input` (any small number per input, e.g. the Kafka partition; 0 if there is one).
    pub fn observe(
        &mut self,
        input: u32,
        tile: &str,
        vehicle: u32,
        speed_mps: f64,
        timestamp_ms: i64,
    ) -> Result<(), LateFix> {
        let start = self.config.window_start(timestamp_ms);
        if start + self.config.length_ms <= self.closed_until_ms {
            return Err(LateFix);
        }
        self.max_event_ms = self.max_event_ms.max(timestamp_ms);
        let clock = self.input_mut(input).get_or_insert(InputClock::UNSEEN);
        clock.max_event_ms = clock.max_event_ms.max(timestamp_ms);
        let tiles = self.open.entry(start).or_default();
        let accumulator = match tiles.get_mut(tile) {
            Some(accumulator) => accumulator,
            None => tiles.entry(tile.to_owned()).or_default(),
        };
        accumulator.vehicles.insert(vehicle);
        accumulator.observations += 1;
        accumulator.speed_sum_mps += speed_mps;
        Ok(())
    }

    /// Emits, in (window, tile) order, every window the watermark has passed. `now_ms` is the
    /// wall clock, which moves the watermark only when the stream has been idle.
    pub fn advance(&mut self, now_ms: i64, out: &mut Vec<TileTraffic>) {
        if self.max_event_ms == i64::MIN {
            return; // Nothing seen yet: nothing to close, and no reason to refuse a backlog.
        }
        // The slowest input that is not idle sets the pace.
        let mut slowest_active: Option<i64> = None;
        for clock in self.inputs.iter_mut().flatten() {
            let idle_since = match clock.noticed {
                Some((max_event, since)) if max_event == clock.max_event_ms => since,
                _ => {
                    clock.noticed = Some((clock.max_event_ms, now_ms));
                    now_ms
                }
            };
            if now_ms - idle_since < self.config.idle_timeout_ms {
                let max_event = clock.max_event_ms;
                slowest_active = Some(slowest_active.map_or(max_event, |m| m.min(max_event)));
            }
        }
        if slowest_active == Some(i64::MIN) {
            return; // An expected input has not been read from yet.
        }
        let lateness = self.config.allowed_lateness_ms;
        let watermark = match slowest_active {
            Some(max_event) => max_event.saturating_sub(lateness),
            // Every input idle: the wall clock takes over.
            None => self.max_event_ms.max(now_ms).saturating_sub(lateness),
        };
        let closed_until = self.config.window_start(watermark);
        if closed_until <= self.closed_until_ms {
            return;
        }
        self.closed_until_ms = closed_until;
        let length = self.config.length_ms;
        let still_open = self.open.split_off(&(closed_until - length + 1));
        for (start, tiles) in std::mem::replace(&mut self.open, still_open) {
            let first_of_window = out.len();
            out.extend(tiles.into_iter().map(|(tile, accumulator)| TileTraffic {
                location: tile_centre(&tile).unwrap_or(GeoPoint { lat: 0.0, lon: 0.0 }),
                tile,
                window_start_ms: start,
                window_end_ms: start + length,
                vehicles: accumulator.vehicles.len() as u32,
                observations: accumulator.observations,
                mean_speed_mps: accumulator.speed_sum_mps
                    / f64::from(accumulator.observations.max(1)),
            }));
            let window = &mut out[first_of_window..];
            window.sort_unstable_by(|a, b| a.tile.cmp(&b.tile));
            for traffic in window.iter() {
                self.latest.insert(traffic.tile.clone(), traffic.clone());
            }
        }
        // Tiles nobody drove through for a while no longer describe current traffic.
        let stale_before = closed_until - 6 * length;
        self.latest
            .retain(|_, traffic| traffic.window_start_ms >= stale_before);
    }

    /// Start of the oldest window that may still be open: every window starting earlier has
    /// been emitted.
    pub fn oldest_open_window_ms(&self) -> i64 {
        self.closed_until_ms
    }

    /// Mean speed in `tile` during its last closed window, if it has a recent one.
    pub fn current_speed_mps(&self, tile: &str) -> Option<f64> {
        self.latest.get(tile).map(|traffic| traffic.mean_speed_mps)
    }

    /// The last closed window of every tile with recent traffic.
    pub fn current(&self) -> impl Iterator<Item = &TileTraffic> {
        self.latest.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000; // A multiple of 10 s.

    #[test]
    fn window_start_floors_to_the_window_length() {
        let config = WindowConfig::default();
        assert_eq!(config.window_start(T0), T0);
        assert_eq!(config.window_start(T0 + 9_999), T0);
        assert_eq!(config.window_start(T0 + 10_000), T0 + 10_000);
        assert_eq!(config.window_start(-1), -10_000);
    }

    #[test]
    fn counts_distinct_vehicles_and_mean_speed_per_tile_and_window() {
        let mut aggregator = TileAggregator::new(WindowConfig::default());
        aggregator
            .observe(0, "dr5ru6", 1, 10.0, T0 + 1_000)
            .unwrap();
        aggregator
            .observe(0, "dr5ru6", 1, 20.0, T0 + 2_000)
            .unwrap();
        aggregator.observe(0, "dr5ru6", 2, 0.0, T0 + 3_000).unwrap();
        aggregator.observe(0, "dr5ru7", 3, 5.0, T0 + 4_000).unwrap();
        aggregator
            .observe(0, "dr5ru6", 4, 8.0, T0 + 10_500)
            .unwrap();

        let mut out = Vec::new();
        aggregator.advance(T0 + 11_000, &mut out);
        assert!(
            out.is_empty(),
            "the first window is still within its lateness"
        );
        aggregator.advance(T0 + 15_999, &mut out);
        assert!(
            out.is_empty(),
            "not idle long enough for the wall clock to count"
        );
        aggregator.advance(T0 + 16_000, &mut out);
        let summary: Vec<_> = out
            .iter()
            .map(|t| {
                (
                    t.tile.as_str(),
                    t.window_start_ms - T0,
                    t.vehicles,
                    t.observations,
                    t.mean_speed_mps,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [("dr5ru6", 0, 2, 3, 10.0), ("dr5ru7", 0, 1, 1, 5.0)]
        );
        assert_eq!(out[0].document_id(), format!("dr5ru6-{T0}"));
        assert_eq!(aggregator.current_speed_mps("dr5ru6"), Some(10.0));

        out.clear();
        aggregator.advance(T0 + 22_000, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].window_start_ms - T0, out[0].vehicles), (10_000, 1));
    }

    #[test]
    fn event_time_drives_the_watermark_and_late_fixes_are_refused() {
        let mut aggregator = TileAggregator::new(WindowConfig::default());
        aggregator.observe(0, "a", 1, 1.0, T0).unwrap();
        aggregator.observe(0, "a", 1, 1.0, T0 + 12_000).unwrap();
        let mut out = Vec::new();
        aggregator.advance(0, &mut out); // The wall clock lags; event time alone closes it.
        assert_eq!(out.len(), 1);
        assert_eq!(aggregator.observe(0, "a", 2, 1.0, T0 + 9_000), Err(LateFix));
        assert_eq!(aggregator.observe(0, "a", 2, 1.0, T0 + 10_000), Ok(()));
    }

    #[test]
    fn a_backlog_older_than_the_wall_clock_is_windowed_not_refused() {
        let mut aggregator = TileAggregator::new(WindowConfig::default());
        let mut out = Vec::new();
        aggregator.advance(T0 + 60_000, &mut out); // Started, nothing read yet.
        aggregator.observe(0, "a", 1, 1.0, T0).unwrap();
        aggregator.advance(T0 + 60_250, &mut out);
        aggregator.observe(0, "a", 2, 1.0, T0 + 5_000).unwrap();
        aggregator.observe(0, "a", 3, 1.0, T0 + 13_000).unwrap();
        aggregator.advance(T0 + 60_500, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].vehicles, 2);
    }

    #[test]
    fn windows_are_emitted_exactly_once() {
        let mut aggregator = TileAggregator::new(WindowConfig::default());
        aggregator.observe(0, "a", 1, 1.0, T0).unwrap();
        let mut out = Vec::new();
        aggregator.advance(T0 + 20_000, &mut out);
        aggregator.advance(T0 + 30_000, &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn a_partition_read_ahead_does_not_make_a_slower_ones_fixes_late() {
        let mut aggregator = TileAggregator::new(WindowConfig::default());
        let mut out = Vec::new();
        aggregator.expect_inputs(&[0, 1], T0 + 100_000);
        // Partition 0's backlog is read a minute ahead of partition 1's.
        aggregator.observe(0, "a", 1, 1.0, T0).unwrap();
        aggregator.observe(0, "a", 1, 1.0, T0 + 60_000).unwrap();
        aggregator.advance(T0 + 100_000, &mut out);
        assert!(out.is_empty(), "partition 1 has not been read yet");
        aggregator.observe(1, "a", 2, 1.0, T0 + 1_000).unwrap();
        aggregator.observe(1, "a", 2, 1.0, T0 + 30_000).unwrap();
        aggregator.advance(T0 + 100_250, &mut out);
        let windows: Vec<_> = out
            .iter()
            .map(|t| (t.window_start_ms - T0, t.vehicles))
            .collect();
        assert_eq!(windows, [(0, 2)]);
        // Partition 1 runs dry: after the idle timeout it no longer holds the others back.
        out.clear();
        aggregator.observe(0, "a", 1, 1.0, T0 + 70_000).unwrap();
        aggregator.advance(T0 + 105_250, &mut out);
        let windows: Vec<_> = out.iter().map(|t| t.window_start_ms - T0).collect();
        assert_eq!(windows, [30_000], "window 60 000 is still open");
    }

    #[test]
    fn an_expected_partition_never_read_holds_windows_only_until_idle() {
        let mut aggregator = TileAggregator::new(WindowConfig::default());
        let mut out = Vec::new();
        aggregator.expect_inputs(&[0, 1], T0);
        aggregator.observe(0, "a", 1, 1.0, T0).unwrap();
        aggregator.observe(0, "a", 1, 1.0, T0 + 15_000).unwrap();
        aggregator.advance(T0 + 1_000, &mut out);
        assert!(out.is_empty());
        aggregator.advance(T0 + 5_000, &mut out);
        assert_eq!(
            out.len(),
            1,
            "partition 1 idle since T0 for the 5 s timeout"
        );
        aggregator.expect_inputs(&[0], T0 + 5_000);
        assert_eq!(aggregator.inputs.iter().flatten().count(), 1);
    }
}
