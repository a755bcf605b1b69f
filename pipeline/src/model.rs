//! The event model: what flows between the ingesters, the processors and the indexers.
//!
//! Positions and vehicle states, the two records of every fix, travel on Kafka as protobuf
//! (compact, and its field numbers let the schema grow without breaking old consumers), many
//! to a record. The processor's other outputs (tile windows, alerts: a few per thousand fixes)
//! travel as JSON lines, which the indexer hands to Elasticsearch unchanged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::ser::{CompactFormatter, Formatter};

/// Kafka header naming the schema of a record's value, so a consumer can refuse a version it
/// does not understand instead of misreading it.
pub const SCHEMA_HEADER: &str = "cartrack-schema";

/// The schema (and version) of single-[`Position`] records on `cartrack.positions`: what
/// `ingest` wrote before [`POSITION_SCHEMA_V2`], still read.
pub const POSITION_SCHEMA_V1: &str = "cartrack.Position/v1";

/// The schema of [`PositionBatch`] records on `cartrack.positions`: what `ingest` writes.
pub const POSITION_SCHEMA_V2: &str = "cartrack.PositionBatch/v2";

/// The schema of single-document JSON records on the processor's output topics (key = document
/// id): what `process` wrote before [`OUTPUT_SCHEMA_V2`], still read by `index`.
pub const OUTPUT_SCHEMA_V1: &str = "cartrack.Output/v1+json";

/// The schema of the processor's output records: one or more JSON documents (each what a v1
/// record held), one per line; no key. A vehicle's states, and a tile window's emissions, are
/// always in the same partition, in order. What `process` writes to `cartrack.tiles` and
/// `cartrack.alerts`, and wrote to `cartrack.vehicles` before [`VEHICLE_STATES_SCHEMA_V3`].
pub const OUTPUT_SCHEMA_V2: &str = "cartrack.Output/v2+ndjson";

/// The schema of `cartrack.vehicles` records: one protobuf `VehicleStates` message (see
/// pipeline/README.md) holding one or more [`VehicleState`]s; no key. A vehicle's states are
/// always in the same partition, in order.
pub const VEHICLE_STATES_SCHEMA_V3: &str = "cartrack.VehicleStates/v3+protobuf";

/// The schema of `cartrack.tile-parts` records (internal to `process`): one [`TileParts`] as
/// JSON per line; no key.
pub const TILE_PARTS_SCHEMA_V1: &str = "cartrack.TileParts/v1+ndjson";

/// One fix reported by (or simulated for) a vehicle: the pipeline's unit of input.
///
/// Field numbers are the wire contract: add new fields with new numbers, never reuse one.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Position {
    /// Stable identity of the vehicle; the Kafka key, so all of a vehicle's fixes stay in order.
    #[prost(string, tag = "1")]
    pub vehicle_id: String,
    /// When the fix was taken, in milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub timestamp_ms: i64,
    /// WGS84 latitude in degrees.
    #[prost(double, tag = "3")]
    pub lat: f64,
    /// WGS84 longitude in degrees.
    #[prost(double, tag = "4")]
    pub lon: f64,
    /// Ground speed the device reported, in metres per second, if it did.
    #[prost(float, optional, tag = "5")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_mps: Option<f32>,
    /// Course over ground the device reported, in degrees clockwise from north, if it did.
    #[prost(float, optional, tag = "6")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heading_deg: Option<f32>,
    /// Free-form facts about the fix (e.g. passenger count) carried through to the index.
    #[prost(btree_map = "string, string", tag = "7")]
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// Many positions in one `cartrack.positions` record: the per-record cost of Kafka (producing,
/// storing, fetching, waking the consumer) is paid once per batch instead of once per fix.
///
/// A record holds the fixes of vehicles of one partition only, each vehicle's in time order.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PositionBatch {
    /// The positions, in the order they were read.
    #[prost(message, repeated, tag = "1")]
    pub positions: Vec<Position>,
}

impl PositionBatch {
    /// Appends `position` to a batch being encoded in `buffer` (a batch's encoding is the
    /// concatenation of its positions' field encodings, so no `PositionBatch` is built).
    pub fn encode_into(position: &Position, buffer: &mut Vec<u8>) {
        prost::encoding::message::encode(1, position, buffer);
    }
}

/// Why a record on `cartrack.positions` could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Its schema header names another schema or version.
    #[error("the record's schema is neither {POSITION_SCHEMA_V2} nor {POSITION_SCHEMA_V1}")]
    UnknownSchema,
    /// The value is not a protobuf `Position` (v1) or `PositionBatch` (v2).
    #[error("the record is not a protobuf Position or PositionBatch")]
    Undecodable,
}

impl DecodeError {
    /// A stable label for the rejects metric.
    pub fn label(self) -> &'static str {
        match self {
            DecodeError::UnknownSchema => "unknown_schema",
            DecodeError::Undecodable => "undecodable",
        }
    }
}

impl Position {
    /// Reads a record from `cartrack.positions` given its schema header, appending its
    /// positions to `out` (nothing if it is refused). Records without a header are taken as
    /// single positions (v1), as the first `ingest` wrote them.
    pub fn from_record(
        schema: Option<&[u8]>,
        payload: &[u8],
        out: &mut Vec<Position>,
    ) -> Result<(), DecodeError> {
        let mut positions = Positions::default();
        positions.read_record(schema, payload)?;
        positions.slots.truncate(positions.len);
        out.append(&mut positions.slots);
        Ok(())
    }
}

/// The positions of one `cartrack.positions` record, decoded into slots that are reused from
/// record to record: a position's strings keep their capacity, so reading a record allocates
/// nothing once the slots have grown, and no position is moved after it is decoded.
#[derive(Debug, Default)]
pub(crate) struct Positions {
    slots: Vec<Position>,
    /// How many slots the last record filled.
    len: usize,
}

impl Positions {
    /// Reads a record as [`Position::from_record`] does, replacing the previous record's
    /// positions (none are left if it is refused).
    pub(crate) fn read_record(
        &mut self,
        schema: Option<&[u8]>,
        payload: &[u8],
    ) -> Result<&[Position], DecodeError> {
        use prost::encoding::{decode_key, message, skip_field, DecodeContext};
        use prost::Message as _;
        self.len = 0;
        let read = match schema {
            Some(schema) if schema == POSITION_SCHEMA_V2.as_bytes() => {
                // A `PositionBatch`: every field 1 is a position.
                let mut buf = payload;
                let mut read = Ok(());
                while !buf.is_empty() && read.is_ok() {
                    read = decode_key(&mut buf).and_then(|(tag, wire_type)| {
                        let context = DecodeContext::default();
                        match tag {
                            1 => message::merge(wire_type, self.next_slot(), &mut buf, context),
                            _ => skip_field(wire_type, tag, &mut buf, context),
                        }
                    });
                }
                read
            }
            Some(schema) if schema != POSITION_SCHEMA_V1.as_bytes() => {
                return Err(DecodeError::UnknownSchema)
            }
            _ => self.next_slot().merge(payload),
        };
        match read {
            Ok(()) => Ok(&self.slots[..self.len]),
            Err(_) => {
                self.len = 0;
                Err(DecodeError::Undecodable)
            }
        }
    }

    /// The next slot, emptied.
    fn next_slot(&mut self) -> &mut Position {
        if self.len == self.slots.len() {
            self.slots.push(Position::default());
        } else {
            let slot = &mut self.slots[self.len];
            slot.vehicle_id.clear();
            slot.attributes.clear();
            let (vehicle_id, attributes) = (
                std::mem::take(&mut slot.vehicle_id),
                std::mem::take(&mut slot.attributes),
            );
            *slot = Position {
                vehicle_id,
                attributes,
                ..Position::default()
            };
        }
        self.len += 1;
        &mut self.slots[self.len - 1]
    }
}

/// A WGS84 point in the shape Elasticsearch's `geo_point` accepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lon: f64,
}

impl GeoPoint {
    /// The point to [`COORDINATE_DECIMALS`] decimal places.
    pub fn rounded(self) -> Self {
        Self {
            lat: round_to(self.lat, COORDINATE_DECIMALS),
            lon: round_to(self.lon, COORDINATE_DECIMALS),
        }
    }
}

/// Decimal places of a vehicle state's coordinates (1e-7 degrees is about a centimetre):
/// finer digits are noise far below a GPS fix's accuracy, yet every state is formatted, sent,
/// stored and indexed twice, so they cost on every position.
pub const COORDINATE_DECIMALS: u32 = 7;

/// Decimal places of a vehicle state's speed (m/s) and heading (degrees).
pub const MOTION_DECIMALS: u32 = 2;

/// `value` rounded to `decimals` decimal places (half away from zero); values too large for
/// that to mean anything, and non-finite ones, are returned as they are.
pub(crate) fn round_to(value: f64, decimals: u32) -> f64 {
    let scale = 10u64.pow(decimals) as f64;
    match scaled_abs(value, scale) {
        Some(scaled) => (scaled as f64).copysign(value) / scale,
        None => value,
    }
}

/// `|value| * scale` rounded half up, if it is an integer an `f64` holds exactly.
#[inline]
fn scaled_abs(value: f64, scale: f64) -> Option<u64> {
    let scaled = value.abs() * scale;
    // A float-to-int cast truncates (one instruction); `f64::round` is a libm call.
    (scaled < 9e15).then_some((scaled + 0.5) as u64)
}

/// Whether a vehicle is going anywhere; maps colour by it and predictions trust it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Motion {
    /// Below the stopped-speed threshold.
    #[default]
    Stopped,
    /// At or above the stopped-speed threshold.
    Moving,
}

/// Where a vehicle is expected to be a fixed time ahead, by each model, so they can be compared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Predictions {
    /// How far ahead, in seconds.
    pub horizon_s: f64,
    /// Straight on at the last speed and heading.
    pub dead_reckoning: GeoPoint,
    /// Straight on at the speed traffic currently moves in the vehicle's tile.
    pub tile_speed: GeoPoint,
    /// A constant-velocity Kalman filter's extrapolation, which smooths GPS noise.
    pub kalman: GeoPoint,
}

impl Predictions {
    /// The predicted points to [`COORDINATE_DECIMALS`] decimal places.
    pub fn rounded(self) -> Self {
        Self {
            horizon_s: self.horizon_s,
            dead_reckoning: self.dead_reckoning.rounded(),
            tile_speed: self.tile_speed.rounded(),
            kalman: self.kalman.rounded(),
        }
    }
}

/// The latest known state of one vehicle: the `cartrack.vehicles` record and the document the
/// map and queries read (one per vehicle, id = vehicle id, plus a time series of them).
///
/// Its coordinates are rounded to [`COORDINATE_DECIMALS`] places, its speed and heading to
/// [`MOTION_DECIMALS`] (the processor rounds them as it makes the state).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VehicleState {
    /// The vehicle's identity.
    pub vehicle_id: String,
    /// Time of the fix this state reflects, ms since the epoch.
    pub timestamp_ms: i64,
    /// Where the vehicle was.
    pub location: GeoPoint,
    /// Speed in m/s: the device's if reported, else derived from the previous fix.
    pub speed_mps: f64,
    /// Heading in degrees clockwise from north: the device's if reported, else derived.
    pub heading_deg: f64,
    /// Stopped or moving.
    pub motion: Motion,
    /// The geohash tile (precision 6, about 1.2 km x 0.6 km) the vehicle is in.
    pub tile: String,
    /// Where the vehicle is expected to be shortly.
    pub predictions: Predictions,
    /// The attributes of the fix, passed through.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

impl VehicleState {
    /// Appends the state's JSON to `out`: the bytes `serde_json::to_writer` writes (a test
    /// holds them equal), written field by field because the generic serialiser, escaping every
    /// key, took about a sixth of `process`'s CPU (`perf`, see BENCHMARKS.md); a state is
    /// written for every position.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(br#"{"vehicle_id":"#);
        write_json_str(out, &self.vehicle_id);
        out.extend_from_slice(br#","timestamp_ms":"#);
        // ok: writing into a Vec cannot fail.
        let _ = CompactFormatter.write_i64(out, self.timestamp_ms);
        out.extend_from_slice(br#","location":"#);
        write_json_point(out, self.location);
        out.extend_from_slice(br#","speed_mps":"#);
        write_json_decimal::<MOTION_DECIMALS>(out, self.speed_mps);
        out.extend_from_slice(br#","heading_deg":"#);
        write_json_decimal::<MOTION_DECIMALS>(out, self.heading_deg);
        out.extend_from_slice(match self.motion {
            Motion::Stopped => br#","motion":"stopped""#.as_slice(),
            Motion::Moving => br#","motion":"moving""#.as_slice(),
        });
        out.extend_from_slice(br#","tile":"#);
        write_json_str(out, &self.tile);
        let predictions = &self.predictions;
        out.extend_from_slice(br#","predictions":{"horizon_s":"#);
        write_json_decimal::<MOTION_DECIMALS>(out, predictions.horizon_s);
        out.extend_from_slice(br#","dead_reckoning":"#);
        write_json_point(out, predictions.dead_reckoning);
        out.extend_from_slice(br#","tile_speed":"#);
        write_json_point(out, predictions.tile_speed);
        out.extend_from_slice(br#","kalman":"#);
        write_json_point(out, predictions.kalman);
        out.push(b'}');
        if !self.attributes.is_empty() {
            out.extend_from_slice(br#","attributes":"#);
            // ok: a map of strings always serialises, and into a Vec.
            let _ = serde_json::to_writer(&mut *out, &self.attributes);
        }
        out.push(b'}');
    }
}

/// A JSON string, escaped as serde_json escapes it: ids and tiles rarely hold a byte to
/// escape, so those are copied as they are and only the rest go through serde_json.
pub(crate) fn write_json_str(out: &mut Vec<u8>, value: &str) {
    if value
        .bytes()
        .any(|byte| byte < 0x20 || byte == b'"' || byte == b'\\')
    {
        // ok: a string always serialises, and into a Vec.
        let _ = serde_json::to_writer(out, value);
        return;
    }
    out.reserve(value.len() + 2);
    out.push(b'"');
    out.extend_from_slice(value.as_bytes());
    out.push(b'"');
}

/// A JSON number as serde_json writes an `f64` (`null` if not finite).
fn write_json_f64(out: &mut Vec<u8>, value: f64) {
    if value.is_finite() {
        // ok: writing into a Vec cannot fail.
        let _ = CompactFormatter.write_f64(out, value);
    } else {
        out.extend_from_slice(b"null");
    }
}

/// [`write_json_f64`], with a cheaper path for a value of at most `DECIMALS` decimal places
/// (what [`round_to`] returns) of a magnitude where the shortest decimal that reads back as
/// the value is exactly those digits, trailing zeros cut: the same bytes, without searching
/// for the shortest digits.
///
/// `DECIMALS` is a constant so that the divisions by its power of ten compile to
/// multiplications (a 64-bit division by a variable made this slower than the search).
#[inline]
fn write_json_decimal<const DECIMALS: u32>(out: &mut Vec<u8>, value: f64) {
    let scale = const { 10u64.pow(DECIMALS) };
    let scaled = match scaled_abs(value, scale as f64) {
        Some(scaled)
            if (1e-3..1e6).contains(&value.abs())
                && scaled as f64 / scale as f64 == value.abs() =>
        {
            scaled
        }
        _ => return write_json_f64(out, value),
    };
    // Into one buffer from the last digit back, two digits per step (each step waits for the
    // previous division, so halving the steps halves the wait), then one copy.
    let mut buffer = [b'0'; 40];
    let mut end = buffer.len();
    let mut start = end;
    let mut fraction = scaled % scale;
    let mut left = DECIMALS;
    while left >= 2 {
        let pair = (fraction % 100) as usize * 2;
        fraction /= 100;
        start -= 2;
        buffer[start..start + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
        left -= 2;
    }
    if left == 1 {
        start -= 1;
        buffer[start] = b'0' + fraction as u8;
    }
    // Trailing zeros go, but one digit always stays ("2.0").
    while end - start > 1 && buffer[end - 1] == b'0' {
        end -= 1;
    }
    start -= 1;
    buffer[start] = b'.';
    let mut whole = scaled / scale;
    while whole >= 10 {
        let pair = (whole % 100) as usize * 2;
        whole /= 100;
        start -= 2;
        buffer[start..start + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if whole > 0 || buffer[start] == b'.' {
        start -= 1;
        buffer[start] = b'0' + whole as u8;
    }
    if value < 0.0 {
        start -= 1;
        buffer[start] = b'-';
    }
    out.extend_from_slice(&buffer[start..end]);
}

/// "00" to "99", for writing two digits at a time.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

fn write_json_point(out: &mut Vec<u8>, point: GeoPoint) {
    out.extend_from_slice(br#"{"lat":"#);
    write_json_decimal::<COORDINATE_DECIMALS>(out, point.lat);
    out.extend_from_slice(br#","lon":"#);
    write_json_decimal::<COORDINATE_DECIMALS>(out, point.lon);
    out.push(b'}');
}

/// Traffic in one map tile during one window: the `cartrack.tiles` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TileTraffic {
    /// The geohash of the tile.
    pub tile: String,
    /// Window start, ms since the epoch (inclusive).
    pub window_start_ms: i64,
    /// Window end, ms since the epoch (exclusive).
    pub window_end_ms: i64,
    /// The tile's centre, so the document can be put on a map.
    pub location: GeoPoint,
    /// Distinct vehicles seen in the tile during the window.
    pub vehicles: u32,
    /// Fixes seen in the tile during the window.
    pub observations: u32,
    /// Mean speed of those fixes in m/s.
    pub mean_speed_mps: f64,
}

impl TileTraffic {
    /// The document id: deterministic, so re-emitting a window after a restart overwrites
    /// rather than double-counts.
    pub fn document_id(&self) -> String {
        format!("{}-{}", self.tile, self.window_start_ms)
    }

    /// The window of `tile` from `start_ms` to `end_ms` with these totals, `speed_sum` in
    /// [`SPEED_UNITS_PER_MPS`]: the one place the mean is computed, so a window aggregated in
    /// one piece and one merged from parts with the same totals have the same bits.
    pub fn from_totals(tile: &str, start_ms: i64, end_ms: i64, totals: PartTotals) -> Self {
        Self {
            location: crate::geo::tile_centre(tile).unwrap_or(GeoPoint { lat: 0.0, lon: 0.0 }),
            tile: tile.to_owned(),
            window_start_ms: start_ms,
            window_end_ms: end_ms,
            vehicles: totals.vehicles,
            observations: totals.observations,
            mean_speed_mps: totals.speed_sum as f64
                / SPEED_UNITS_PER_MPS
                / f64::from(totals.observations.max(1)),
        }
    }
}

/// Speeds are summed in these units per m/s (micrometres per second): exact integer sums.
pub const SPEED_UNITS_PER_MPS: f64 = 1e6;

/// Additive totals of a tile window, or of a part of one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartTotals {
    /// Distinct vehicles (additive across parts: a vehicle lives in one input partition).
    pub vehicles: u32,
    /// Fixes.
    pub observations: u32,
    /// Sum of the fixes' speeds in [`SPEED_UNITS_PER_MPS`].
    pub speed_sum: i64,
}

impl PartTotals {
    /// These totals plus `other`'s.
    pub fn plus(self, other: PartTotals) -> PartTotals {
        PartTotals {
            vehicles: self.vehicles.saturating_add(other.vehicles),
            observations: self.observations.saturating_add(other.observations),
            speed_sum: self.speed_sum.saturating_add(other.speed_sum),
        }
    }
}

/// What one input partition's fixes add to a tile window: the whole state of (tile, window,
/// partition) as one processor has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TilePart {
    /// The `cartrack.positions` partition.
    pub partition: u32,
    /// The offset of the newest position folded into the part: of two parts of one partition,
    /// the one with the higher offset has seen more (a later owner's re-read part, or a late
    /// fix), so a stale one never replaces it.
    pub offset: i64,
    /// The partition's totals in the window.
    #[serde(flatten)]
    pub totals: PartTotals,
}

/// The parts of one tile window that one processor emits at once (all of them the first
/// time, the changed ones on late data): the `cartrack.tile-parts` item, partitioned by
/// [`Self::document_id`], so every part of a window reaches one merger, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TileParts {
    /// The geohash of the tile.
    pub tile: String,
    /// Window start, ms since the epoch.
    pub window_start_ms: i64,
    /// One per input partition that had fixes in the window.
    pub parts: Vec<TilePart>,
}

impl TileParts {
    /// The merged window's document id, `<geohash>-<window_start_ms>`.
    pub fn document_id(&self) -> String {
        format!("{}-{}", self.tile, self.window_start_ms)
    }
}

/// Which way a vehicle crossed a geofence boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Crossing {
    /// It was outside (or unseen) and is now inside.
    Enter,
    /// It was inside and is now outside.
    Exit,
}

/// A vehicle crossing a configured geofence: the `cartrack.alerts` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The vehicle that crossed.
    pub vehicle_id: String,
    /// The name of the geofence.
    pub geofence: String,
    /// Entered or left.
    pub crossing: Crossing,
    /// Time of the first fix on the new side, ms since the epoch.
    pub timestamp_ms: i64,
    /// Where that fix was.
    pub location: GeoPoint,
}

impl Alert {
    /// The document id: deterministic, so replaying the same fixes yields the same alert.
    pub fn document_id(&self) -> String {
        let crossing = match self.crossing {
            Crossing::Enter => "enter",
            Crossing::Exit => "exit",
        };
        format!(
            "{}-{}-{}-{}",
            self.vehicle_id, self.geofence, crossing, self.timestamp_ms
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use rand::{Rng, SeedableRng};

    #[test]
    fn decimals_are_written_as_serde_writes_them() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut fast = 0;
        for n in 0..400_000 {
            let decimals = [COORDINATE_DECIMALS, MOTION_DECIMALS][n % 2];
            let magnitude = 10f64.powi(rng.random_range(-6..9));
            let raw = rng.random_range(-1.0..1.0) * magnitude;
            // Mostly rounded values, as the processor makes them; some not, some edges.
            let value = match n % 10 {
                0 => raw,
                1 => [0.0, -0.0, 1e-3, -1e-3, 1e6, 999_999.999_999_9, 0.1, 2.0][n / 10 % 8],
                _ => round_to(raw, decimals),
            };
            let mut written = Vec::new();
            if decimals == COORDINATE_DECIMALS {
                write_json_decimal::<COORDINATE_DECIMALS>(&mut written, value);
            } else {
                write_json_decimal::<MOTION_DECIMALS>(&mut written, value);
            }
            let expected = serde_json::to_string(&value).unwrap();
            assert_eq!(String::from_utf8(written).unwrap(), expected, "{value:e}");
            fast += usize::from(
                round_to(value, decimals) == value && (1e-3..1e6).contains(&value.abs()),
            );
        }
        assert!(fast > 150_000, "the cheap path is exercised: {fast}");
    }

    #[test]
    fn rounding_keeps_what_it_cannot_round() {
        assert_eq!(round_to(40.751_234_567_89, 7), 40.751_234_6);
        assert_eq!(round_to(-73.981_234_55, 2), -73.98);
        assert_eq!(round_to(5e20, 7), 5e20);
        assert!(round_to(f64::NAN, 7).is_nan());
        assert_eq!(round_to(f64::INFINITY, 2), f64::INFINITY);
    }

    fn sample() -> Position {
        Position {
            vehicle_id: "taxi-7".into(),
            timestamp_ms: 1_700_000_000_123,
            lat: 40.75,
            lon: -73.98,
            speed_mps: Some(8.5),
            heading_deg: None,
            attributes: BTreeMap::from([("passengers".into(), "2".into())]),
        }
    }

    #[test]
    fn position_round_trips_through_protobuf() {
        let position = sample();
        let decoded = Position::decode(position.encode_to_vec().as_slice()).unwrap();
        assert_eq!(decoded, position);
    }

    fn read(schema: Option<&[u8]>, payload: &[u8]) -> Result<Vec<Position>, DecodeError> {
        let mut out = Vec::new();
        Position::from_record(schema, payload, &mut out).map(|()| out)
    }

    #[test]
    fn single_position_records_of_v1_are_still_read() {
        let bytes = sample().encode_to_vec();
        let v1 = Some(POSITION_SCHEMA_V1.as_bytes());
        assert_eq!(read(v1, &bytes), Ok(vec![sample()]));
        assert_eq!(read(None, &bytes), Ok(vec![sample()]));
    }

    #[test]
    fn batch_records_of_v2_yield_their_positions_in_order() {
        let second = Position {
            vehicle_id: "taxi-8".into(),
            ..sample()
        };
        let mut bytes = Vec::new();
        PositionBatch::encode_into(&sample(), &mut bytes);
        PositionBatch::encode_into(&second, &mut bytes);
        let v2 = Some(POSITION_SCHEMA_V2.as_bytes());
        assert_eq!(read(v2, &bytes), Ok(vec![sample(), second]));
        assert_eq!(read(v2, &[]), Ok(vec![]), "an empty batch is no error");
    }

    #[test]
    fn reused_slots_keep_nothing_of_the_previous_record() {
        let bare = Position {
            vehicle_id: "b".into(),
            speed_mps: None,
            attributes: BTreeMap::new(),
            ..sample()
        };
        let (v1, v2) = (
            Some(POSITION_SCHEMA_V1.as_bytes()),
            Some(POSITION_SCHEMA_V2.as_bytes()),
        );
        let mut full = Vec::new();
        PositionBatch::encode_into(&sample(), &mut full);
        PositionBatch::encode_into(&sample(), &mut full);
        let mut positions = Positions::default();
        assert_eq!(
            positions.read_record(v2, &full),
            Ok(&[sample(), sample()][..])
        );
        let mut short = Vec::new();
        PositionBatch::encode_into(&bare, &mut short);
        assert_eq!(positions.read_record(v2, &short), Ok(&[bare.clone()][..]));
        assert_eq!(
            positions.read_record(v1, &[0xff, 0xff]),
            Err(DecodeError::Undecodable)
        );
        assert_eq!(
            positions.read_record(v1, &bare.encode_to_vec()),
            Ok(&[bare][..])
        );
    }

    #[test]
    fn records_of_other_schemas_or_garbage_are_refused() {
        let bytes = sample().encode_to_vec();
        assert_eq!(
            read(Some(b"cartrack.Position/v3"), &bytes),
            Err(DecodeError::UnknownSchema)
        );
        assert_eq!(
            read(Some(POSITION_SCHEMA_V1.as_bytes()), &[0xff, 0xff]),
            Err(DecodeError::Undecodable)
        );
        assert_eq!(
            read(Some(POSITION_SCHEMA_V2.as_bytes()), &[0xff, 0xff]),
            Err(DecodeError::Undecodable)
        );
    }

    #[test]
    fn position_json_omits_absent_optionals_and_rejects_unknown_fields() {
        let json = serde_json::to_value(sample()).unwrap();
        assert!(json.get("heading_deg").is_none());
        assert_eq!(json["speed_mps"], 8.5);
        let err = serde_json::from_str::<Position>(
            r#"{"vehicle_id":"a","timestamp_ms":1,"lat":0,"lon":0,"sped":3}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("sped"), "{err}");
    }

    #[test]
    fn strings_are_escaped_as_serde_escapes_them() {
        for value in [
            "taxi-7",
            "",
            "q\"uote",
            "back\\slash",
            "tab\there",
            "\u{1f}",
            "\u{7f}é🚕",
        ] {
            let mut out = Vec::new();
            write_json_str(&mut out, value);
            assert_eq!(out, serde_json::to_vec(value).unwrap(), "{value:?}");
        }
    }

    #[test]
    fn vehicle_state_json_is_what_serde_writes() {
        let point = |lat, lon| GeoPoint { lat, lon };
        let mut state = VehicleState {
            vehicle_id: "cab \"7\"\u{1}é".into(),
            timestamp_ms: -1_700_000_000_123,
            location: point(40.751_234_567_890_12, -73.98),
            speed_mps: 11.119_508_022_758_447,
            heading_deg: 0.0,
            motion: Motion::Moving,
            tile: "dr5ru7".into(),
            predictions: Predictions {
                horizon_s: 30.0,
                dead_reckoning: point(1e-300, -0.0),
                tile_speed: point(f64::NAN, f64::INFINITY),
                kalman: point(123_456_789.123, 5e20),
            },
            attributes: BTreeMap::new(),
        };
        let mut written = Vec::new();
        state.write_json(&mut written);
        assert_eq!(
            String::from_utf8(written).unwrap(),
            serde_json::to_string(&state).unwrap()
        );
        state.motion = Motion::Stopped;
        state.vehicle_id = "cab-7é\u{7f}".into();
        state.attributes = BTreeMap::from([("a\n".into(), "1".into()), ("b".into(), "".into())]);
        let mut written = Vec::new();
        state.write_json(&mut written);
        assert_eq!(
            String::from_utf8(written).unwrap(),
            serde_json::to_string(&state).unwrap()
        );
    }

    #[test]
    fn document_ids_are_deterministic() {
        let tile = TileTraffic {
            tile: "dr5ru7".into(),
            window_start_ms: 10_000,
            window_end_ms: 20_000,
            location: GeoPoint { lat: 0.0, lon: 0.0 },
            vehicles: 1,
            observations: 1,
            mean_speed_mps: 0.0,
        };
        assert_eq!(tile.document_id(), "dr5ru7-10000");
    }
}
