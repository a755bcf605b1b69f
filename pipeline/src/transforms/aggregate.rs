//! Traffic per map tile in tumbling event-time windows: how many distinct vehicles, how fast.
//!
//! Fixes come from several inputs (Kafka partitions), each in event-time order but read at
//! their own pace: a backlog read after a restart may deliver one partition's minute before
//! another's. So each input keeps its own clock (the newest event time read from it), and the
//! event-time watermark is the slowest active input's clock less an emit delay (2 s). A window
//! is emitted when a watermark passes its end; when every input is idle, the wall clock drives
//! that first emission too, so windows show up when a fleet goes quiet.
//!
//! An emitted window stays open for the allowed lateness (event time): a fix that arrives for
//! it later updates it, and it is emitted again under the same id, so the index overwrites it.
//! Only the event-time watermark of active inputs finalises windows, never the wall clock: a
//! fleet going quiet (or every partition idling) cannot make the older fixes that arrive
//! afterwards late. A fix for a finalised window is counted, not applied, and logged once per
//! window.
//!
//! Speeds are summed as integers (micrometres per second), so a window's mean speed does not
//! depend on the order its fixes were read in: a re-emission, or an offline run over the same
//! input, gives the same bits.
//!
//! Each window is kept per input, as parts: a vehicle's fixes all come from one input (Kafka
//! partitions by vehicle id), so the distinct vehicles, fixes and speed sums of a window are the
//! sums over its parts. Alongside the window (this aggregator's view), [`TileAggregator::advance`]
//! emits the parts themselves, which processors that each read some of the inputs send to a
//! merger ([`crate::transforms::merge`]) to make the whole window.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use crate::model::{PartTotals, TilePart, TileParts, TileTraffic, SPEED_UNITS_PER_MPS};

/// Window geometry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowConfig {
    /// Length of each tumbling window, ms.
    pub length_ms: i64,
    /// How far the watermark trails the slowest active input's newest event time, ms: a window
    /// is first emitted this long (event time) after its end, so slightly out-of-order fixes
    /// are in its first emission.
    pub emit_delay_ms: i64,
    /// How long (event time) after its first emission a window still takes fixes, each change
    /// re-emitting it, ms. Fixes for older windows are counted as beyond the lateness.
    pub allowed_lateness_ms: i64,
    /// How long (wall clock) without a newer event before an input stops holding the watermark
    /// back, ms; once every input is idle the wall clock emits windows (but never finalises
    /// them).
    pub idle_timeout_ms: i64,
}

/// The default allowed lateness: ten minutes of event time (see the README for its cost).
pub const DEFAULT_ALLOWED_LATENESS_MS: i64 = 600_000;

impl Default for WindowConfig {
    fn default() -> Self {
        Self {
            length_ms: 10_000,
            emit_delay_ms: 2_000,
            allowed_lateness_ms: DEFAULT_ALLOWED_LATENESS_MS,
            idle_timeout_ms: 5_000,
        }
    }
}

impl WindowConfig {
    /// Start of the window containing `timestamp_ms` (floors negative times too).
    pub fn window_start(&self, timestamp_ms: i64) -> i64 {
        // Saturating: a garbage timestamp near i64::MIN (process does not validate) must not overflow.
        timestamp_ms.saturating_sub(timestamp_ms.rem_euclid(self.length_ms))
    }
}

/// A fix for a window that is final (its allowed lateness has passed); counted, not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the fix belongs to a tile window past its allowed lateness")]
pub struct LateFix;

/// How many windows with fixes beyond the lateness are remembered (for the log-once rule and
/// the snapshot); the oldest are forgotten first.
const TOO_LATE_WINDOWS_KEPT: usize = 1024;

/// One input's part of one tile window.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Accumulator {
    vehicles: FxHashSet<u32>,
    observations: u32,
    /// Sum of the fixes' speeds in [`SPEED_UNITS_PER_MPS`].
    speed_sum: i64,
    /// The offset (in its input) of the newest fix counted.
    last_offset: i64,
    /// Changed since it was last emitted (only set once the window has been emitted).
    dirty: bool,
}

impl Accumulator {
    fn totals(&self) -> PartTotals {
        PartTotals {
            vehicles: self.vehicles.len() as u32,
            observations: self.observations,
            speed_sum: self.speed_sum,
        }
    }
}

/// A tile window's parts, one per input that had fixes in it (a handful: a list).
type Parts = Vec<(u32, Accumulator)>;

/// Fixes beyond the allowed lateness for one window start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TooLate {
    /// The window the fixes belonged to.
    pub window_start_ms: i64,
    /// How many fixes were not counted in it.
    pub fixes: u64,
}

/// One input's progress in event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct InputClock {
    /// The newest event time read from the input (`i64::MIN`: none yet).
    max_event_ms: i64,
    /// The input's newest event time as of the last `advance`, and the wall time it was first
    /// seen there: how long the input has been idle. Not checkpointed: a restored input counts
    /// as active from the first `advance` after the restart, as a newly expected one does.
    #[serde(skip)]
    noticed: Option<(i64, i64)>,
}

impl InputClock {
    const UNSEEN: InputClock = InputClock {
        max_event_ms: i64::MIN,
        noticed: None,
    };
}

/// The windows of every tile that can still change, and the last emitted window of each tile.
///
/// Serialisable, so `process` can checkpoint the windows that can still change and commit its
/// input past them; the configuration is not part of the state (see [`Self::restored`]).
#[derive(Debug, Serialize, Deserialize)]
pub struct TileAggregator {
    #[serde(skip)]
    config: WindowConfig,
    /// Windows that can still change, by start, then by tile (so a lookup by `&str` needs no
    /// allocation), then by input.
    open: BTreeMap<i64, FxHashMap<String, Parts>>,
    /// Starts of emitted windows with changes not emitted yet.
    dirty: BTreeSet<i64>,
    /// Every window ending at or before this has been emitted at least once.
    emitted_until_ms: i64,
    /// Every window ending at or before this is final: dropped, its fixes beyond the lateness.
    final_until_ms: i64,
    max_event_ms: i64,
    /// Per input (by number: the Kafka partition), its clock; `None` for numbers never used.
    inputs: Vec<Option<InputClock>>,
    latest: FxHashMap<String, TileTraffic>,
    /// Fixes beyond the lateness per window start, the most recent [`TOO_LATE_WINDOWS_KEPT`].
    too_late: BTreeMap<i64, u64>,
}

impl TileAggregator {
    /// An aggregator with nothing seen yet.
    pub fn new(config: WindowConfig) -> Self {
        Self {
            config,
            open: BTreeMap::new(),
            dirty: BTreeSet::new(),
            emitted_until_ms: i64::MIN,
            final_until_ms: i64::MIN,
            max_event_ms: i64::MIN,
            inputs: Vec::new(),
            latest: FxHashMap::default(),
            too_late: BTreeMap::new(),
        }
    }

    /// This aggregator's state (as checkpointed) under `config`: the windows are those it had,
    /// the geometry and lateness those of the current run.
    pub fn restored(mut self, config: WindowConfig) -> Self {
        self.config = config;
        self
    }

    /// Forgets the parts of `inputs` (partitions revoked from this consumer): their windows
    /// are no longer this aggregator's to emit, and the input's next reader re-reads them.
    pub fn drop_inputs(&mut self, inputs: &[u32]) {
        if inputs.is_empty() {
            return;
        }
        for tiles in self.open.values_mut() {
            tiles.retain(|_, parts| {
                parts.retain(|(input, _)| !inputs.contains(input));
                !parts.is_empty()
            });
        }
        self.open.retain(|_, tiles| !tiles.is_empty());
        for &input in inputs {
            if let Some(clock) = self.inputs.get_mut(input as usize) {
                *clock = None;
            }
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
    /// A fix for an emitted window that can still change marks it for re-emission.
    pub fn observe(
        &mut self,
        input: u32,
        tile: &str,
        vehicle: u32,
        speed_mps: f64,
        timestamp_ms: i64,
    ) -> Result<(), LateFix> {
        self.observe_at(input, 0, tile, vehicle, speed_mps, timestamp_ms)
    }

    /// [`Self::observe`] for a fix at `offset` in its input (the Kafka offset): the part it
    /// counts in carries the newest such offset.
    pub fn observe_at(
        &mut self,
        input: u32,
        offset: i64,
        tile: &str,
        vehicle: u32,
        speed_mps: f64,
        timestamp_ms: i64,
    ) -> Result<(), LateFix> {
        let start = self.config.window_start(timestamp_ms);
        let end = start.saturating_add(self.config.length_ms);
        if end <= self.final_until_ms {
            self.count_too_late(start);
            return Err(LateFix);
        }
        self.max_event_ms = self.max_event_ms.max(timestamp_ms);
        let clock = self.input_mut(input).get_or_insert(InputClock::UNSEEN);
        clock.max_event_ms = clock.max_event_ms.max(timestamp_ms);
        let tiles = self.open.entry(start).or_default();
        let parts = match tiles.get_mut(tile) {
            Some(parts) => parts,
            None => tiles.entry(tile.to_owned()).or_default(),
        };
        let at = match parts.iter().position(|(of, _)| *of == input) {
            Some(at) => at,
            None => {
                parts.push((input, Accumulator::default()));
                parts.len() - 1
            }
        };
        let accumulator = &mut parts[at].1;
        accumulator.last_offset = accumulator.last_offset.max(offset);
        accumulator.vehicles.insert(vehicle);
        accumulator.observations += 1;
        // Saturating float-to-int cast (NaN counts as 0); speeds are at most 100 m/s.
        let speed = (speed_mps * SPEED_UNITS_PER_MPS).round() as i64;
        accumulator.speed_sum = accumulator.speed_sum.saturating_add(speed);
        if end <= self.emitted_until_ms && !accumulator.dirty {
            accumulator.dirty = true;
            self.dirty.insert(start);
        }
        Ok(())
    }

    /// Counts a fix beyond the lateness; the first one of a window is logged.
    fn count_too_late(&mut self, start: i64) {
        let fixes = self.too_late.entry(start).or_insert(0);
        if *fixes == 0 {
            tracing::warn!(
                window_start_ms = start,
                allowed_lateness_ms = self.config.allowed_lateness_ms,
                final_until_ms = self.final_until_ms,
                "a fix arrived for a tile window past its allowed lateness: not counted in the window (logged once per window; counted as late_for_window)"
            );
        }
        *fixes += 1;
        while self.too_late.len() > TOO_LATE_WINDOWS_KEPT {
            self.too_late.pop_first();
        }
    }

    /// Emits, in (window, tile) order, every window a watermark has passed for the first time
    /// and every emitted window that changed since, then drops the windows that became final.
    /// `now_ms` is the wall clock, which emits windows (never finalises them) when every input
    /// is idle.
    pub fn advance(&mut self, now_ms: i64, out: &mut Vec<TileTraffic>) {
        self.advance_with_parts(now_ms, out, &mut Vec::new());
    }

    /// [`Self::advance`], also emitting into `parts` the parts of each window emitted: all of
    /// them the first time, the changed ones after.
    pub fn advance_with_parts(
        &mut self,
        now_ms: i64,
        out: &mut Vec<TileTraffic>,
        parts: &mut Vec<TileParts>,
    ) {
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
        let delay = self.config.emit_delay_ms;
        // Event time alone finalises windows; with every input idle it stays where it was.
        let event_watermark = slowest_active.map(|max_event| max_event.saturating_sub(delay));
        let emit_watermark =
            event_watermark.unwrap_or_else(|| self.max_event_ms.max(now_ms).saturating_sub(delay));

        let length = self.config.length_ms;
        // Windows ending at or before `due_until` are due: emitted if new, re-emitted if
        // changed. A changed window the watermark has not passed again (a backlog after the
        // wall clock emitted everything) waits, so it is not re-emitted while it fills.
        let due_until = self.config.window_start(emit_watermark);
        let last_due = due_until.saturating_sub(length);
        let emitted_before = self.emitted_until_ms;
        let emitted_until = due_until.max(emitted_before);
        self.emitted_until_ms = emitted_until;
        let first_time = self
            .open
            .range(..=last_due)
            .map(|(&start, _)| start)
            .filter(|&start| start.saturating_add(length) > emitted_before);
        let not_due = self.dirty.split_off(&last_due.saturating_add(1));
        let due_changes = std::mem::replace(&mut self.dirty, not_due);
        let starts: BTreeSet<i64> = first_time.chain(due_changes).collect();
        for start in starts {
            let Some(tiles) = self.open.get_mut(&start) else {
                continue;
            };
            let whole = start.saturating_add(length) > emitted_before;
            let first_of_window = out.len();
            let first_parts = parts.len();
            for (tile, tile_parts) in tiles.iter_mut() {
                if !(whole || tile_parts.iter().any(|(_, part)| part.dirty)) {
                    continue;
                }
                let mut totals = PartTotals::default();
                let mut emitted = Vec::with_capacity(tile_parts.len());
                for (input, part) in tile_parts.iter_mut() {
                    totals = totals.plus(part.totals());
                    if whole || part.dirty {
                        emitted.push(TilePart {
                            partition: *input,
                            offset: part.last_offset,
                            totals: part.totals(),
                        });
                    }
                    part.dirty = false;
                }
                emitted.sort_unstable_by_key(|part| part.partition);
                parts.push(TileParts {
                    tile: tile.clone(),
                    window_start_ms: start,
                    parts: emitted,
                });
                out.push(TileTraffic::from_totals(
                    tile,
                    start,
                    start.saturating_add(length),
                    totals,
                ));
            }
            parts[first_parts..].sort_unstable_by(|a, b| a.tile.cmp(&b.tile));
            let window = &mut out[first_of_window..];
            window.sort_unstable_by(|a, b| a.tile.cmp(&b.tile));
            for traffic in window.iter() {
                let newer = self
                    .latest
                    .get(&traffic.tile)
                    .is_none_or(|known| known.window_start_ms <= traffic.window_start_ms);
                if newer {
                    self.latest.insert(traffic.tile.clone(), traffic.clone());
                }
            }
        }

        if let Some(watermark) = event_watermark {
            let lateness = self.config.allowed_lateness_ms;
            let final_until = self
                .config
                .window_start(watermark.saturating_sub(lateness))
                .min(emitted_until);
            if final_until > self.final_until_ms {
                self.final_until_ms = final_until;
                let first_open = final_until.saturating_sub(length).saturating_add(1);
                self.open = self.open.split_off(&first_open);
            }
        }
        // Tiles nobody drove through for a while no longer describe current traffic.
        let stale_before = emitted_until.saturating_sub(6 * length);
        self.latest
            .retain(|_, traffic| traffic.window_start_ms >= stale_before);
    }

    /// Start of the oldest window that may still change: every window starting earlier is
    /// final (a restart need not re-read its fixes).
    pub fn oldest_open_window_ms(&self) -> i64 {
        self.final_until_ms
    }

    /// How many windows (tile and start) can still change: what the allowed lateness costs
    /// in memory.
    pub fn open_windows(&self) -> usize {
        self.open.values().map(FxHashMap::len).sum()
    }

    /// Mean speed in `tile` during its last emitted window, if it has a recent one.
    pub fn current_speed_mps(&self, tile: &str) -> Option<f64> {
        self.latest.get(tile).map(|traffic| traffic.mean_speed_mps)
    }

    /// The last emitted window of every tile with recent traffic.
    pub fn current(&self) -> impl Iterator<Item = &TileTraffic> {
        self.latest.values()
    }

    /// The most recent windows that had fixes beyond the lateness, newest first.
    pub fn too_late(&self) -> impl Iterator<Item = TooLate> + '_ {
        self.too_late
            .iter()
            .rev()
            .map(|(&window_start_ms, &fixes)| TooLate {
                window_start_ms,
                fixes,
            })
    }

    /// The allowed lateness, ms.
    pub fn allowed_lateness_ms(&self) -> i64 {
        self.config.allowed_lateness_ms
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
        let mut aggregator = TileAggregator::new(WindowConfig {
            allowed_lateness_ms: 0,
            ..WindowConfig::default()
        });
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

    fn summary(out: &[TileTraffic]) -> Vec<(String, i64, u32, u32, f64)> {
        out.iter()
            .map(|t| {
                (
                    t.document_id(),
                    t.window_start_ms - T0,
                    t.vehicles,
                    t.observations,
                    t.mean_speed_mps,
                )
            })
            .collect()
    }

    #[test]
    fn a_fix_within_the_lateness_updates_its_emitted_window_under_the_same_id() {
        let mut aggregator = TileAggregator::new(WindowConfig::default());
        let mut out = Vec::new();
        aggregator.observe(0, "a", 1, 10.0, T0 + 1_000).unwrap();
        aggregator.observe(0, "b", 1, 4.0, T0 + 2_000).unwrap();
        aggregator.observe(0, "a", 2, 2.0, T0 + 25_000).unwrap();
        aggregator.advance(T0, &mut out);
        assert_eq!(
            summary(&out),
            [
                (format!("a-{T0}"), 0, 1, 1, 10.0),
                (format!("b-{T0}"), 0, 1, 1, 4.0)
            ]
        );
        out.clear();

        // Event time has moved 25 s past the window: the fix is late, but within the lateness.
        assert_eq!(aggregator.observe(0, "a", 3, 20.0, T0 + 9_000), Ok(()));
        assert_eq!(aggregator.observe(0, "a", 3, 30.0, T0 + 9_500), Ok(()));
        aggregator.advance(T0 + 250, &mut out);
        assert_eq!(
            summary(&out),
            [(format!("a-{T0}"), 0, 2, 3, 20.0)],
            "only the changed tile, re-emitted whole under its id"
        );
        assert_eq!(aggregator.current_speed_mps("a"), Some(20.0));
        out.clear();
        aggregator.advance(T0 + 500, &mut out);
        assert!(out.is_empty(), "nothing changed since: {out:?}");
        assert!(aggregator.oldest_open_window_ms() <= T0);
        assert_eq!(aggregator.open_windows(), 3);
    }

    #[test]
    fn idle_inputs_emit_windows_by_the_wall_clock_but_never_make_older_fixes_late() {
        let mut aggregator = TileAggregator::new(WindowConfig::default());
        let mut out = Vec::new();
        aggregator.expect_inputs(&[0, 1], T0 + 3_600_000);
        aggregator.observe(0, "a", 1, 1.0, T0 + 1_000).unwrap();
        aggregator.observe(1, "a", 2, 1.0, T0 + 2_000).unwrap();
        aggregator.advance(T0 + 3_600_000, &mut out);
        assert!(out.is_empty());
        // Both partitions idle: the wall clock, an hour ahead, emits the window ...
        aggregator.advance(T0 + 3_605_000, &mut out);
        assert_eq!(summary(&out), [(format!("a-{T0}"), 0, 2, 2, 1.0)]);
        out.clear();
        // ... but finalises nothing, so the rest of the backlog still counts.
        assert!(aggregator.oldest_open_window_ms() < T0);
        aggregator.observe(0, "a", 1, 3.0, T0 + 3_000).unwrap();
        aggregator.observe(1, "a", 3, 3.0, T0 + 12_000).unwrap();
        aggregator.observe(0, "a", 1, 3.0, T0 + 14_000).unwrap();
        aggregator.advance(T0 + 3_605_250, &mut out);
        assert_eq!(summary(&out), [(format!("a-{T0}"), 0, 2, 3, 5.0 / 3.0)]);
        out.clear();
        // Event time moves on: window 10 000 closes by event time, no re-emission of the first.
        aggregator.observe(0, "a", 1, 3.0, T0 + 30_000).unwrap();
        aggregator.observe(1, "a", 3, 3.0, T0 + 30_000).unwrap();
        aggregator.advance(T0 + 3_605_500, &mut out);
        assert_eq!(
            summary(&out),
            [(format!("a-{}", T0 + 10_000), 10_000, 2, 2, 3.0)]
        );
    }

    #[test]
    fn fixes_beyond_the_lateness_are_counted_per_window_and_not_applied() {
        let mut aggregator = TileAggregator::new(WindowConfig {
            allowed_lateness_ms: 20_000,
            ..WindowConfig::default()
        });
        let mut out = Vec::new();
        aggregator.observe(0, "a", 1, 1.0, T0).unwrap();
        aggregator.observe(0, "a", 1, 1.0, T0 + 25_000).unwrap();
        aggregator.advance(T0, &mut out);
        assert_eq!(
            aggregator.oldest_open_window_ms(),
            T0,
            "window 0 can still change: 23 s is not 20 s past its end"
        );
        assert_eq!(aggregator.observe(0, "a", 2, 1.0, T0 + 5_000), Ok(()));
        aggregator.observe(0, "a", 1, 1.0, T0 + 32_000).unwrap();
        aggregator.advance(T0 + 250, &mut out);
        assert_eq!(aggregator.oldest_open_window_ms(), T0 + 10_000);
        assert_eq!(
            aggregator.open_windows(),
            2,
            "window 0 is final and dropped"
        );
        out.clear();

        for _ in 0..3 {
            assert_eq!(aggregator.observe(0, "a", 3, 1.0, T0 + 9_000), Err(LateFix));
        }
        assert_eq!(aggregator.observe(0, "b", 3, 1.0, T0 - 1), Err(LateFix));
        assert_eq!(aggregator.observe(0, "a", 3, 1.0, T0 + 10_000), Ok(()));
        aggregator.advance(T0 + 500, &mut out);
        assert!(out.iter().all(|t| t.window_start_ms != T0), "{out:?}");
        let too_late: Vec<_> = aggregator.too_late().collect();
        assert_eq!(
            too_late,
            [
                TooLate {
                    window_start_ms: T0,
                    fixes: 3
                },
                TooLate {
                    window_start_ms: T0 - 10_000,
                    fixes: 1
                }
            ]
        );
    }

    #[test]
    fn the_mean_speed_does_not_depend_on_the_order_fixes_are_read_in() {
        let speeds = [0.1, 13.37, 7.000_000_3, 0.2, 99.9, 1e-3, 42.42];
        let mean_of = |order: &mut dyn Iterator<Item = &f64>| {
            let mut aggregator = TileAggregator::new(WindowConfig::default());
            for (vehicle, &speed) in order.enumerate() {
                aggregator
                    .observe(0, "a", vehicle as u32, speed, T0 + 1_000)
                    .unwrap();
            }
            let mut out = Vec::new();
            aggregator.advance(T0 + 60_000, &mut out);
            aggregator.advance(T0 + 70_000, &mut out);
            out[0].mean_speed_mps
        };
        let forward = mean_of(&mut speeds.iter());
        let backward = mean_of(&mut speeds.iter().rev());
        assert_eq!(forward.to_bits(), backward.to_bits());
        assert!((forward - speeds.iter().sum::<f64>() / 7.0).abs() < 1e-6);
    }
}
