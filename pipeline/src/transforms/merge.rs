//! Stage 2 of the tile windows: merges the parts that processors emit (each for the input
//! partitions it reads, [`crate::transforms::aggregate`]) into whole windows.
//!
//! Parts arrive on the partitions of `cartrack.tile-parts`, all of a window's on one. Per open
//! window the merger keeps the newest part of each input partition (newest: the highest input
//! offset, so a part from a previous owner of the input, or an old copy re-read after a
//! restart, never replaces one that has seen more) and emits the window, the sum of its parts,
//! whenever it changed. The sums are integers, so the merged window is, bit for bit, the window
//! one processor reading every input would have made.
//!
//! Each tile-parts partition has a clock: the newest window end it has seen. A window is
//! dropped once the clock is past its end by [`keep_ms`] (twice the allowed lateness and a
//! margin); a part for a dropped window is counted as late, not applied (and logged once per
//! window). That only happens when one processor's event time trails another's by more than
//! the allowed lateness.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::model::{PartTotals, TilePart, TileParts, TileTraffic};
use crate::transforms::aggregate::WindowConfig;

/// How many windows with late parts are remembered (for the log-once rule and the snapshot).
const TOO_LATE_WINDOWS_KEPT: usize = 1024;

/// How far past its end a window is kept, ms. The clock follows the newest window any
/// processor emitted, while a processor emits a window's part once its own watermark (its
/// slowest partition's event time less the emit delay) has passed the window, again on late
/// fixes until the allowed lateness after that, and a partition's new owner re-reads (and
/// re-emits the parts of) the windows of the allowed lateness before the previous owner's
/// watermark. So a part for a window up to the allowed lateness behind its processor's
/// watermark must be taken while that processor trails the fastest one by up to the allowed
/// lateness: twice the lateness, plus two window lengths and the emit delay for the
/// difference between a window's end and the watermark that emits it.
pub fn keep_ms(config: &WindowConfig) -> i64 {
    config
        .allowed_lateness_ms
        .saturating_mul(2)
        .saturating_add(config.length_ms.saturating_mul(2))
        .saturating_add(config.emit_delay_ms)
}

/// What became of a received line of parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// The window is open: its parts were applied (those not stale).
    Open,
    /// The window was dropped: its parts are counted as late, not applied.
    Late,
}

/// Counters of what the merger did, for metrics and the snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MergeStats {
    /// Parts that changed their window.
    pub applied: u64,
    /// Parts older (lower offset) than the one already held for their input: ignored.
    pub stale: u64,
    /// Parts for a window already dropped: not applied.
    pub late: u64,
}

/// Late parts of one window, as listed in the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LateParts {
    /// The window's document id, `<geohash>-<window_start_ms>`.
    pub window: String,
    /// How many parts arrived for it after it was dropped.
    pub parts: u64,
}

#[derive(Debug)]
struct Partition {
    /// The newest window end seen (`i64::MIN`: none yet).
    clock_end_ms: i64,
    /// Open windows by start, then tile: the newest part of each input.
    windows: BTreeMap<i64, FxHashMap<String, Vec<TilePart>>>,
    /// Windows changed since they were last emitted.
    dirty: BTreeSet<(i64, String)>,
}

/// The open windows of the tile-parts partitions this merger reads.
#[derive(Debug)]
pub struct TileMerger {
    config: WindowConfig,
    partitions: FxHashMap<u32, Partition>,
    /// Changed windows dropped before the next emission: emitted then.
    ready: Vec<TileTraffic>,
    stats: MergeStats,
    /// Late parts per window (by start, then id), the most recent [`TOO_LATE_WINDOWS_KEPT`].
    too_late: BTreeMap<(i64, String), u64>,
}

impl TileMerger {
    /// A merger with nothing received.
    pub fn new(config: WindowConfig) -> Self {
        Self {
            config,
            partitions: FxHashMap::default(),
            ready: Vec::new(),
            stats: MergeStats::default(),
            too_late: BTreeMap::new(),
        }
    }

    /// Applies a line of parts read from tile-parts partition `partition`.
    pub fn receive(&mut self, partition: u32, line: &TileParts) -> Receipt {
        let start = line.window_start_ms;
        let end = start.saturating_add(self.config.length_ms);
        let keep_ms = keep_ms(&self.config);
        let state = self.partitions.entry(partition).or_insert(Partition {
            clock_end_ms: i64::MIN,
            windows: BTreeMap::new(),
            dirty: BTreeSet::new(),
        });
        if end.saturating_add(keep_ms) < state.clock_end_ms {
            self.count_late(line);
            return Receipt::Late;
        }
        state.clock_end_ms = state.clock_end_ms.max(end);
        let held = match state.windows.entry(start).or_default().get_mut(&line.tile) {
            Some(held) => held,
            None => state
                .windows
                .entry(start)
                .or_default()
                .entry(line.tile.clone())
                .or_default(),
        };
        let mut changed = false;
        for part in &line.parts {
            match held.iter_mut().find(|h| h.partition == part.partition) {
                None => {
                    held.push(*part);
                    changed = true;
                }
                Some(old) if part.offset < old.offset => self.stats.stale += 1,
                Some(old) => {
                    // An equal offset has seen the same fixes; a later owner's copy wins if it
                    // differs (it is the one still reading the input).
                    changed |= old.totals != part.totals;
                    *old = *part;
                }
            }
        }
        if changed {
            self.stats.applied += 1;
            state.dirty.insert((start, line.tile.clone()));
        }
        // Windows past the clock by the lateness are dropped; changes not emitted yet go first.
        let drop_before_end = state.clock_end_ms.saturating_sub(keep_ms);
        let first_kept = drop_before_end.saturating_sub(self.config.length_ms);
        if state
            .windows
            .first_key_value()
            .is_some_and(|(&oldest, _)| oldest < first_kept)
        {
            let kept = state.windows.split_off(&first_kept);
            let dropped = std::mem::replace(&mut state.windows, kept);
            let still_dirty = state.dirty.split_off(&(first_kept, String::new()));
            for (start, tile) in std::mem::replace(&mut state.dirty, still_dirty) {
                if let Some(parts) = dropped.get(&start).and_then(|tiles| tiles.get(&tile)) {
                    self.ready
                        .push(merged(&tile, start, self.config.length_ms, parts));
                }
            }
        }
        Receipt::Open
    }

    /// Counts a late line's parts; the first of a window is logged.
    fn count_late(&mut self, line: &TileParts) {
        let parts = line.parts.len() as u64;
        self.stats.late += parts;
        let key = (line.window_start_ms, line.tile.clone());
        let count = self.too_late.entry(key).or_insert(0);
        if *count == 0 {
            tracing::warn!(
                window = %line.document_id(),
                allowed_lateness_ms = self.config.allowed_lateness_ms,
                "a tile window's part arrived after the window was dropped (a processor trails another by more than the allowed lateness): not merged (logged once per window; counted as late_part)"
            );
        }
        *count += parts;
        while self.too_late.len() > TOO_LATE_WINDOWS_KEPT {
            self.too_late.pop_first();
        }
    }

    /// Moves every window changed since the last call into `out`, merged, in (partition,
    /// window start, tile) order per partition.
    pub fn emit(&mut self, out: &mut Vec<TileTraffic>) {
        out.append(&mut self.ready);
        let length = self.config.length_ms;
        for state in self.partitions.values_mut() {
            for (start, tile) in std::mem::take(&mut state.dirty) {
                if let Some(parts) = state.windows.get(&start).and_then(|t| t.get(&tile)) {
                    out.push(merged(&tile, start, length, parts));
                }
            }
        }
    }

    /// Keeps only the windows of `partitions` (those assigned): the others' next reader
    /// re-reads their parts.
    pub fn retain_partitions(&mut self, partitions: &[u32]) {
        self.partitions
            .retain(|partition, _| partitions.contains(partition));
    }

    /// Start of the oldest open window of `partition` (`i64::MAX` if none): a new reader of
    /// the partition must re-read every part from that window's first on.
    pub fn oldest_open_window_ms(&self, partition: u32) -> i64 {
        self.partitions
            .get(&partition)
            .and_then(|state| state.windows.first_key_value())
            .map_or(i64::MAX, |(&start, _)| start)
    }

    /// Open windows, over every partition.
    pub fn open_windows(&self) -> usize {
        self.partitions
            .values()
            .flat_map(|state| state.windows.values())
            .map(FxHashMap::len)
            .sum()
    }

    /// What the merger did so far.
    pub fn stats(&self) -> MergeStats {
        self.stats
    }

    /// The most recent windows that had late parts, newest first.
    pub fn too_late(&self) -> impl Iterator<Item = LateParts> + '_ {
        self.too_late
            .iter()
            .rev()
            .map(|((start, tile), &parts)| LateParts {
                window: format!("{tile}-{start}"),
                parts,
            })
    }
}

/// The window made of `parts`.
fn merged(tile: &str, start: i64, length: i64, parts: &[TilePart]) -> TileTraffic {
    let totals = parts
        .iter()
        .fold(PartTotals::default(), |sum, part| sum.plus(part.totals));
    TileTraffic::from_totals(tile, start, start.saturating_add(length), totals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::aggregate::TileAggregator;

    const T0: i64 = 1_700_000_000_000;

    fn part(partition: u32, offset: i64, vehicles: u32, speed_sum: i64) -> TilePart {
        TilePart {
            partition,
            offset,
            totals: PartTotals {
                vehicles,
                observations: vehicles * 2,
                speed_sum,
            },
        }
    }

    fn line(start: i64, parts: &[TilePart]) -> TileParts {
        TileParts {
            tile: "dr5ru6".into(),
            window_start_ms: start,
            parts: parts.to_vec(),
        }
    }

    fn emitted(merger: &mut TileMerger) -> Vec<(i64, u32, u32)> {
        let mut out = Vec::new();
        merger.emit(&mut out);
        out.iter()
            .map(|t| (t.window_start_ms - T0, t.vehicles, t.observations))
            .collect()
    }

    #[test]
    fn the_sum_of_parts_from_several_processors_is_the_single_processors_window() {
        // Vehicles 0..40 over four inputs (a vehicle stays in one), speeds that do not add up
        // exactly in floating point.
        let fixes: Vec<(u32, u32, f64, i64)> = (0..400)
            .map(|i| {
                let vehicle = i % 40;
                (
                    vehicle % 4,
                    vehicle,
                    0.1 + f64::from(i) * 1.37,
                    T0 + i64::from(i) * 20,
                )
            })
            .collect();
        let config = WindowConfig::default();
        let mut single = TileAggregator::new(config);
        let mut first = TileAggregator::new(config);
        let mut second = TileAggregator::new(config);
        for (offset, &(input, vehicle, speed, at)) in fixes.iter().enumerate() {
            single
                .observe_at(input, offset as i64, "dr5ru6", vehicle, speed, at)
                .unwrap();
            // One processor reads inputs 0 and 1, the other 2 and 3.
            let half = if input < 2 { &mut first } else { &mut second };
            half.observe_at(input, offset as i64, "dr5ru6", vehicle, speed, at)
                .unwrap();
        }
        let end = T0 + 60_000;
        let (mut expected, mut local) = (Vec::new(), Vec::new());
        single.advance(end, &mut expected);
        single.advance(end + 60_000, &mut expected);
        let mut parts = Vec::new();
        for half in [&mut first, &mut second] {
            half.advance_with_parts(end, &mut local, &mut parts);
            half.advance_with_parts(end + 60_000, &mut local, &mut parts);
        }
        assert_ne!(
            local[0], expected[0],
            "each processor alone sees part of the window"
        );
        let mut merger = TileMerger::new(config);
        for line in &parts {
            assert_eq!(merger.receive(0, line), Receipt::Open);
        }
        let mut merged = Vec::new();
        merger.emit(&mut merged);
        merged.sort_by_key(|t| t.window_start_ms);
        assert_eq!(merged.len(), expected.len());
        assert_eq!(merged, expected);
        for (merged, expected) in merged.iter().zip(&expected) {
            assert_eq!(
                merged.mean_speed_mps.to_bits(),
                expected.mean_speed_mps.to_bits()
            );
        }
    }

    #[test]
    fn a_stale_part_never_replaces_a_newer_one_and_changes_are_emitted_once() {
        let mut merger = TileMerger::new(WindowConfig::default());
        merger.receive(0, &line(T0, &[part(0, 100, 3, 10), part(1, 50, 2, 10)]));
        assert_eq!(emitted(&mut merger), [(0, 5, 10)]);
        assert_eq!(emitted(&mut merger), [], "nothing changed since");
        // The previous owner of input 0 emits its older part after the new one's.
        merger.receive(0, &line(T0, &[part(0, 90, 1, 10)]));
        assert_eq!(emitted(&mut merger), []);
        assert_eq!(merger.stats().stale, 1);
        // A later fix of input 1 (a higher offset) changes the window.
        merger.receive(0, &line(T0, &[part(1, 51, 3, 10)]));
        assert_eq!(emitted(&mut merger), [(0, 6, 12)]);
        // Re-read after a restart: the same offsets change nothing.
        merger.receive(0, &line(T0, &[part(0, 100, 3, 10), part(1, 51, 3, 10)]));
        assert_eq!(emitted(&mut merger), []);
    }

    #[test]
    fn windows_are_dropped_after_the_lateness_and_their_late_parts_counted() {
        let config = WindowConfig {
            allowed_lateness_ms: 60_000,
            ..WindowConfig::default()
        };
        let keep = keep_ms(&config);
        assert_eq!(keep, 2 * 60_000 + 22_000);
        let mut merger = TileMerger::new(config);
        merger.receive(2, &line(T0, &[part(0, 1, 1, 10)]));
        // A part of a window whose end is exactly `keep` past window 0's end: window 0 stays.
        merger.receive(2, &line(T0 + keep, &[part(0, 2, 1, 10)]));
        assert_eq!(merger.oldest_open_window_ms(2), T0);
        assert_eq!(
            merger.receive(2, &line(T0, &[part(1, 7, 1, 10)])),
            Receipt::Open
        );
        // One window later, window 0 is dropped, its last change emitted first.
        merger.receive(2, &line(T0 + keep + 10_000, &[part(0, 3, 1, 10)]));
        assert_eq!(merger.oldest_open_window_ms(2), T0 + keep);
        let out = emitted(&mut merger);
        assert!(out.contains(&(0, 2, 4)), "{out:?}");
        assert_eq!(
            merger.receive(2, &line(T0, &[part(2, 9, 1, 10), part(3, 9, 1, 10)])),
            Receipt::Late
        );
        assert_eq!(
            merger.receive(2, &line(T0, &[part(2, 10, 1, 10)])),
            Receipt::Late
        );
        assert_eq!(emitted(&mut merger), []);
        assert_eq!(merger.stats().late, 3);
        let late: Vec<_> = merger.too_late().collect();
        assert_eq!(
            late,
            [LateParts {
                window: format!("dr5ru6-{T0}"),
                parts: 3
            }]
        );
        // Each partition has its own clock: the same window is open on another partition.
        assert_eq!(
            merger.receive(1, &line(T0, &[part(0, 1, 1, 10)])),
            Receipt::Open
        );
        // A revoked partition's windows go.
        merger.retain_partitions(&[1]);
        assert_eq!(merger.oldest_open_window_ms(2), i64::MAX);
        assert_eq!(merger.open_windows(), 1);
    }
}
