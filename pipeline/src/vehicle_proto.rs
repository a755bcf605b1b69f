//! Vehicle states as protobuf: the records of `cartrack.vehicles`
//! ([`VEHICLE_STATES_SCHEMA_V3`](crate::model::VEHICLE_STATES_SCHEMA_V3)).
//!
//! A record is one `VehicleStates` message (pipeline/README.md has the `.proto`). Both ends
//! are written by hand (prost-derived types would need the strings copied in or out), against
//! a [`VehicleState`] that is borrowed (`process` writes a state without copying its strings)
//! or reused (`index` reads a record into one state, whose strings keep their capacity). Every
//! field is written, zeros too, so a `-0.0` reads back as it was written; unknown fields are
//! skipped, so fields can be added. The tests hold both ends to prost-derived types of the
//! `.proto`.

use prost::encoding::{self, DecodeContext, WireType};

use crate::model::{GeoPoint, Motion, Predictions, VehicleState};

/// `VehicleStates.states`.
const STATES: u32 = 1;

/// The fields of `VehicleState`.
mod field {
    pub(super) const VEHICLE_ID: u32 = 1;
    pub(super) const TIMESTAMP_MS: u32 = 2;
    pub(super) const LOCATION: u32 = 3;
    pub(super) const SPEED_MPS: u32 = 4;
    pub(super) const HEADING_DEG: u32 = 5;
    pub(super) const MOTION: u32 = 6;
    pub(super) const TILE: u32 = 7;
    pub(super) const PREDICTIONS: u32 = 8;
    pub(super) const ATTRIBUTES: u32 = 9;
}

/// The fields of `Predictions`, after `horizon_s` (1).
const DEAD_RECKONING: u32 = 2;
const TILE_SPEED: u32 = 3;
const KALMAN: u32 = 4;

/// A double field: a one-byte key and eight bytes.
const DOUBLE_LEN: usize = 9;
/// A `GeoPoint` (lat = 1, lon = 2).
const POINT_LEN: usize = 2 * DOUBLE_LEN;
/// A one-byte key and a one-byte length before a nested message shorter than 128 bytes.
const NESTED_HEADER_LEN: usize = 2;
/// `Predictions`: `horizon_s` and three points.
const PREDICTIONS_LEN: usize = DOUBLE_LEN + 3 * (NESTED_HEADER_LEN + POINT_LEN);

/// Why a state of a record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The bytes are not protobuf of the `VehicleState` message.
    #[error("not a protobuf VehicleState: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// A state claims more bytes than the record has left.
    #[error("a state of {claimed} bytes where the record has {left} left")]
    Truncated { claimed: u64, left: usize },
    /// The motion is a value this version does not know.
    #[error("motion {0} is neither 0 (stopped) nor 1 (moving)")]
    UnknownMotion(i32),
}

/// Appends `state` to a `VehicleStates` record being written in `record`. Written byte by byte
/// rather than through prost's generic encoders: a state is written for every position, and
/// every key here is one known byte.
pub(crate) fn write_state(state: &VehicleState, record: &mut Vec<u8>) {
    let length = state_len(state);
    record.reserve(length + 1 + encoding::encoded_len_varint(length as u64));
    put_key(record, STATES, WireType::LengthDelimited);
    encoding::encode_varint(length as u64, record);
    let start = record.len();
    put_str(record, field::VEHICLE_ID, &state.vehicle_id);
    put_key(record, field::TIMESTAMP_MS, WireType::Varint);
    encoding::encode_varint(state.timestamp_ms as u64, record);
    put_point(record, field::LOCATION, state.location);
    put_double(record, field::SPEED_MPS, state.speed_mps);
    put_double(record, field::HEADING_DEG, state.heading_deg);
    put_key(record, field::MOTION, WireType::Varint);
    record.push(motion_number(state.motion));
    put_str(record, field::TILE, &state.tile);
    let predictions = &state.predictions;
    put_key(record, field::PREDICTIONS, WireType::LengthDelimited);
    record.push(PREDICTIONS_LEN as u8);
    put_double(record, 1, predictions.horizon_s);
    put_point(record, DEAD_RECKONING, predictions.dead_reckoning);
    put_point(record, TILE_SPEED, predictions.tile_speed);
    put_point(record, KALMAN, predictions.kalman);
    for (key, value) in &state.attributes {
        put_key(record, field::ATTRIBUTES, WireType::LengthDelimited);
        encoding::encode_varint(entry_len(key, value) as u64, record);
        put_str(record, 1, key);
        put_str(record, 2, value);
    }
    debug_assert_eq!(
        record.len() - start,
        length,
        "state_len is the bytes written"
    );
}

/// A field's key: every tag here is below 16, so it is one byte.
fn put_key(record: &mut Vec<u8>, tag: u32, wire_type: WireType) {
    debug_assert!(tag < 16);
    record.push((tag << 3 | wire_type as u32) as u8);
}

fn put_double(record: &mut Vec<u8>, tag: u32, value: f64) {
    put_key(record, tag, WireType::SixtyFourBit);
    record.extend_from_slice(&value.to_le_bytes());
}

fn put_str(record: &mut Vec<u8>, tag: u32, value: &str) {
    put_key(record, tag, WireType::LengthDelimited);
    encoding::encode_varint(value.len() as u64, record);
    record.extend_from_slice(value.as_bytes());
}

/// A `GeoPoint`, whose length (below 128) is one byte.
fn put_point(record: &mut Vec<u8>, tag: u32, point: GeoPoint) {
    put_key(record, tag, WireType::LengthDelimited);
    record.push(POINT_LEN as u8);
    put_double(record, 1, point.lat);
    put_double(record, 2, point.lon);
}

fn motion_number(motion: Motion) -> u8 {
    match motion {
        Motion::Stopped => 0,
        Motion::Moving => 1,
    }
}

/// The motion [`motion_number`] gives `number`, if any.
fn motion_of(number: i32) -> Option<Motion> {
    match number {
        0 => Some(Motion::Stopped),
        1 => Some(Motion::Moving),
        _ => None,
    }
}

/// The bytes of a string field with a one-byte key.
fn string_len(value: &str) -> usize {
    1 + encoding::encoded_len_varint(value.len() as u64) + value.len()
}

/// The bytes of an attribute's map entry, without its key and length.
fn entry_len(key: &str, value: &str) -> usize {
    string_len(key) + string_len(value)
}

/// The bytes of `state`'s `VehicleState` message, without its key and length.
fn state_len(state: &VehicleState) -> usize {
    let attributes: usize = state
        .attributes
        .iter()
        .map(|(key, value)| {
            let entry = entry_len(key, value);
            1 + encoding::encoded_len_varint(entry as u64) + entry
        })
        .sum();
    string_len(&state.vehicle_id)
        + 1
        + encoding::encoded_len_varint(state.timestamp_ms as u64)
        + NESTED_HEADER_LEN
        + POINT_LEN
        + 2 * DOUBLE_LEN
        + 2 // motion: a key and a one-byte varint
        + string_len(&state.tile)
        + NESTED_HEADER_LEN
        + PREDICTIONS_LEN
        + attributes
}

/// Reads the states of one `VehicleStates` record, one at a time.
#[derive(Debug)]
pub(crate) struct StatesReader<'a> {
    rest: &'a [u8],
}

impl<'a> StatesReader<'a> {
    pub(crate) fn new(record: &'a [u8]) -> Self {
        Self { rest: record }
    }

    /// Reads the next state into `state` (every field is overwritten); `None` at the end of
    /// the record. After an error in the record's framing the rest of it is unreadable, and
    /// the next call returns `None`.
    pub(crate) fn read_next(&mut self, state: &mut VehicleState) -> Option<Result<(), StateError>> {
        while !self.rest.is_empty() {
            match self.next_state() {
                Ok(Some(message)) => return Some(read_state(message, state)),
                Ok(None) => {}
                Err(err) => {
                    self.rest = &[];
                    return Some(Err(err));
                }
            }
        }
        None
    }

    /// The next state's message, or `None` for a field of the record that is not a state.
    fn next_state(&mut self) -> Result<Option<&'a [u8]>, StateError> {
        let (tag, wire_type) = encoding::decode_key(&mut self.rest)?;
        if tag != STATES || wire_type != WireType::LengthDelimited {
            encoding::skip_field(wire_type, tag, &mut self.rest, DecodeContext::default())?;
            return Ok(None);
        }
        let claimed = encoding::decode_varint(&mut self.rest)?;
        let length = usize::try_from(claimed)
            .ok()
            .filter(|length| *length <= self.rest.len())
            .ok_or(StateError::Truncated {
                claimed,
                left: self.rest.len(),
            })?;
        let (message, rest) = self.rest.split_at(length);
        self.rest = rest;
        Ok(Some(message))
    }
}

fn read_state(message: &[u8], state: &mut VehicleState) -> Result<(), StateError> {
    if read_as_written(message, state).is_some() {
        return Ok(());
    }
    read_any(message, state)
}

/// Reads a state laid out as [`write_state`] writes one without attributes, field by field in
/// order, without the generic field loop (which was a tenth of `index`). `None` for any other
/// layout, which [`read_any`] then reads; `state` may be partly overwritten by then.
fn read_as_written(message: &[u8], state: &mut VehicleState) -> Option<()> {
    let mut bytes = Fields(message);
    bytes.str(field::VEHICLE_ID, &mut state.vehicle_id)?;
    bytes.key(field::TIMESTAMP_MS, WireType::Varint)?;
    state.timestamp_ms = encoding::decode_varint(&mut bytes.0).ok()? as i64;
    state.location = bytes.point(field::LOCATION)?;
    state.speed_mps = bytes.double(field::SPEED_MPS)?;
    state.heading_deg = bytes.double(field::HEADING_DEG)?;
    bytes.key(field::MOTION, WireType::Varint)?;
    state.motion = motion_of(i32::from(bytes.byte()?))?;
    bytes.str(field::TILE, &mut state.tile)?;
    bytes.key(field::PREDICTIONS, WireType::LengthDelimited)?;
    (bytes.byte()? == PREDICTIONS_LEN as u8).then_some(())?;
    state.predictions = Predictions {
        horizon_s: bytes.double(1)?,
        dead_reckoning: bytes.point(DEAD_RECKONING)?,
        tile_speed: bytes.point(TILE_SPEED)?,
        kalman: bytes.point(KALMAN)?,
    };
    bytes.0.is_empty().then_some(())?;
    state.attributes.clear();
    Some(())
}

/// The fields of a message, read in an expected order.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*first)
    }

    /// The one-byte key of field `tag`, or `None`.
    fn key(&mut self, tag: u32, wire_type: WireType) -> Option<()> {
        (self.byte()? == (tag << 3 | wire_type as u32) as u8).then_some(())
    }

    fn double(&mut self, tag: u32) -> Option<f64> {
        self.key(tag, WireType::SixtyFourBit)?;
        let (value, rest) = self.0.split_first_chunk::<8>()?;
        self.0 = rest;
        Some(f64::from_le_bytes(*value))
    }

    fn point(&mut self, tag: u32) -> Option<GeoPoint> {
        self.key(tag, WireType::LengthDelimited)?;
        (self.byte()? == POINT_LEN as u8).then_some(())?;
        Some(GeoPoint {
            lat: self.double(1)?,
            lon: self.double(2)?,
        })
    }

    fn str(&mut self, tag: u32, into: &mut String) -> Option<()> {
        self.key(tag, WireType::LengthDelimited)?;
        let length = usize::try_from(encoding::decode_varint(&mut self.0).ok()?).ok()?;
        let (value, rest) = self.0.split_at_checked(length)?;
        self.0 = rest;
        into.clear();
        into.push_str(std::str::from_utf8(value).ok()?);
        Some(())
    }
}

/// Reads a state in any layout protobuf allows.
fn read_any(mut message: &[u8], state: &mut VehicleState) -> Result<(), StateError> {
    state.vehicle_id.clear();
    state.timestamp_ms = 0;
    state.location = GeoPoint::default();
    state.speed_mps = 0.0;
    state.heading_deg = 0.0;
    state.tile.clear();
    state.predictions = Predictions::default();
    state.attributes.clear();
    let mut motion = 0;
    let ctx = DecodeContext::default();
    while !message.is_empty() {
        let (tag, wire_type) = encoding::decode_key(&mut message)?;
        let buf = &mut message;
        match tag {
            field::VEHICLE_ID => {
                encoding::string::merge(wire_type, &mut state.vehicle_id, buf, ctx.clone())?
            }
            field::TIMESTAMP_MS => {
                encoding::int64::merge(wire_type, &mut state.timestamp_ms, buf, ctx.clone())?
            }
            field::LOCATION => read_point(wire_type, &mut state.location, buf, ctx.clone())?,
            field::SPEED_MPS => {
                encoding::double::merge(wire_type, &mut state.speed_mps, buf, ctx.clone())?
            }
            field::HEADING_DEG => {
                encoding::double::merge(wire_type, &mut state.heading_deg, buf, ctx.clone())?
            }
            field::MOTION => encoding::int32::merge(wire_type, &mut motion, buf, ctx.clone())?,
            field::TILE => encoding::string::merge(wire_type, &mut state.tile, buf, ctx.clone())?,
            field::PREDICTIONS => {
                encoding::check_wire_type(WireType::LengthDelimited, wire_type)?;
                let predictions = &mut state.predictions;
                encoding::merge_loop(predictions, buf, ctx.clone(), |predictions, buf, ctx| {
                    let (tag, wire_type) = encoding::decode_key(buf)?;
                    match tag {
                        1 => {
                            encoding::double::merge(wire_type, &mut predictions.horizon_s, buf, ctx)
                        }
                        DEAD_RECKONING => {
                            read_point(wire_type, &mut predictions.dead_reckoning, buf, ctx)
                        }
                        TILE_SPEED => read_point(wire_type, &mut predictions.tile_speed, buf, ctx),
                        KALMAN => read_point(wire_type, &mut predictions.kalman, buf, ctx),
                        _ => encoding::skip_field(wire_type, tag, buf, ctx),
                    }
                })?
            }
            field::ATTRIBUTES => encoding::btree_map::merge(
                encoding::string::merge,
                encoding::string::merge,
                &mut state.attributes,
                buf,
                ctx.clone(),
            )?,
            _ => encoding::skip_field(wire_type, tag, buf, ctx.clone())?,
        }
    }
    state.motion = motion_of(motion).ok_or(StateError::UnknownMotion(motion))?;
    Ok(())
}

fn read_point(
    wire_type: WireType,
    point: &mut GeoPoint,
    buf: &mut &[u8],
    ctx: DecodeContext,
) -> Result<(), prost::DecodeError> {
    encoding::check_wire_type(WireType::LengthDelimited, wire_type)?;
    *point = GeoPoint::default();
    encoding::merge_loop(point, buf, ctx, |point, buf, ctx| {
        let (tag, wire_type) = encoding::decode_key(buf)?;
        match tag {
            1 => encoding::double::merge(wire_type, &mut point.lat, buf, ctx),
            2 => encoding::double::merge(wire_type, &mut point.lon, buf, ctx),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use prost::Message;

    use super::*;

    /// The documented `.proto` (pipeline/README.md), derived by prost: the reference for both ends.
    #[derive(Clone, PartialEq, prost::Message)]
    struct WireStates {
        #[prost(message, repeated, tag = "1")]
        states: Vec<WireState>,
        /// Not in the schema: a field a later version might add.
        #[prost(string, tag = "15")]
        later: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct WireState {
        #[prost(string, tag = "1")]
        vehicle_id: String,
        #[prost(int64, tag = "2")]
        timestamp_ms: i64,
        #[prost(message, optional, tag = "3")]
        location: Option<WirePoint>,
        #[prost(double, tag = "4")]
        speed_mps: f64,
        #[prost(double, tag = "5")]
        heading_deg: f64,
        #[prost(int32, tag = "6")]
        motion: i32,
        #[prost(string, tag = "7")]
        tile: String,
        #[prost(message, optional, tag = "8")]
        predictions: Option<WirePredictions>,
        #[prost(btree_map = "string, string", tag = "9")]
        attributes: BTreeMap<String, String>,
        /// Not in the schema: a field a later version might add.
        #[prost(double, tag = "20")]
        later: f64,
    }

    #[derive(Clone, Copy, PartialEq, prost::Message)]
    struct WirePoint {
        #[prost(double, tag = "1")]
        lat: f64,
        #[prost(double, tag = "2")]
        lon: f64,
    }

    #[derive(Clone, Copy, PartialEq, prost::Message)]
    struct WirePredictions {
        #[prost(double, tag = "1")]
        horizon_s: f64,
        #[prost(message, optional, tag = "2")]
        dead_reckoning: Option<WirePoint>,
        #[prost(message, optional, tag = "3")]
        tile_speed: Option<WirePoint>,
        #[prost(message, optional, tag = "4")]
        kalman: Option<WirePoint>,
    }

    fn wire_point(point: GeoPoint) -> Option<WirePoint> {
        Some(WirePoint {
            lat: point.lat,
            lon: point.lon,
        })
    }

    fn to_wire(state: &VehicleState) -> WireState {
        WireState {
            vehicle_id: state.vehicle_id.clone(),
            timestamp_ms: state.timestamp_ms,
            location: wire_point(state.location),
            speed_mps: state.speed_mps,
            heading_deg: state.heading_deg,
            motion: i32::from(motion_number(state.motion)),
            tile: state.tile.clone(),
            predictions: Some(WirePredictions {
                horizon_s: state.predictions.horizon_s,
                dead_reckoning: wire_point(state.predictions.dead_reckoning),
                tile_speed: wire_point(state.predictions.tile_speed),
                kalman: wire_point(state.predictions.kalman),
            }),
            attributes: state.attributes.clone(),
            later: 0.0,
        }
    }

    fn point(lat: f64, lon: f64) -> GeoPoint {
        GeoPoint { lat, lon }
    }

    /// States with what the encoding must carry exactly: long and escaped strings, negative
    /// and zero numbers (-0.0 too), attributes, both motions.
    fn states() -> Vec<VehicleState> {
        let moving = VehicleState {
            vehicle_id: "cab-17".into(),
            timestamp_ms: 1_765_000_000_123,
            location: point(40.7127753, -74.0059728),
            speed_mps: 12.34,
            heading_deg: 359.99,
            motion: Motion::Moving,
            tile: "dr5reg".into(),
            predictions: Predictions {
                horizon_s: 30.0,
                dead_reckoning: point(40.7131, -74.0061),
                tile_speed: point(40.713, -74.006),
                kalman: point(40.7129999, -74.0060001),
            },
            attributes: BTreeMap::new(),
        };
        let stopped = VehicleState {
            vehicle_id: format!("v\"é\\{}", "x".repeat(300)),
            timestamp_ms: -5,
            location: point(-0.0, 0.0),
            speed_mps: 0.0,
            heading_deg: -0.0,
            motion: Motion::Stopped,
            tile: String::new(),
            predictions: Predictions::default(),
            attributes: BTreeMap::from([
                ("passengers".into(), "3".into()),
                ("note".into(), "a \"quoted\"\nline".into()),
                (String::new(), String::new()),
            ]),
        };
        vec![moving, stopped.clone(), VehicleState::default(), stopped]
    }

    fn record_of(states: &[VehicleState]) -> Vec<u8> {
        let mut record = Vec::new();
        for state in states {
            write_state(state, &mut record);
        }
        record
    }

    fn read_all(record: &[u8]) -> Vec<Result<VehicleState, StateError>> {
        let mut reader = StatesReader::new(record);
        let mut state = VehicleState::default();
        let mut read = Vec::new();
        while let Some(result) = reader.read_next(&mut state) {
            read.push(result.map(|()| state.clone()));
        }
        read
    }

    fn json(state: &VehicleState) -> String {
        let mut out = Vec::new();
        state.write_json(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn states_read_back_as_written_to_the_bit() {
        let written = states();
        let read: Vec<VehicleState> = read_all(&record_of(&written))
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(read, written);
        // PartialEq takes -0.0 for 0.0; the JSON does not.
        for (read, written) in read.iter().zip(&written) {
            assert_eq!(json(read), json(written));
        }
        assert!(json(&read[1]).contains(r#""lat":-0.0"#));
    }

    #[test]
    fn states_as_written_are_read_by_the_direct_reader_as_by_the_general_one() {
        for written in states() {
            let mut record = Vec::new();
            write_state(&written, &mut record);
            // The state's message, after its key and one- or two-byte length.
            let message = &record[record.len() - state_len(&written)..];
            let (mut direct, mut general) = (VehicleState::default(), VehicleState::default());
            let read = read_as_written(message, &mut direct);
            read_any(message, &mut general).unwrap();
            assert_eq!(general, written);
            if written.attributes.is_empty() {
                assert_eq!(read, Some(()));
                assert_eq!(json(&direct), json(&general));
            } else {
                assert_eq!(read, None, "attributes are left to the general reader");
            }
        }
    }

    #[test]
    fn the_proto_in_the_readme_has_the_fields_written() {
        use prost_types::field_descriptor_proto::Type;

        let readme = include_str!("../README.md");
        let block = readme
            .split("```proto\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("a proto block in README.md");
        // The block is indented in a list item.
        let proto: String = block
            .lines()
            .map(|line| format!("{}\n", line.strip_prefix("  ").unwrap_or(line)))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("vehicles.proto"), proto).unwrap();
        let set = protox::compile(["vehicles.proto"], [dir.path()]).unwrap();
        let fields = |message: &str| -> Vec<(String, u32, Type)> {
            let message = set.file[0]
                .message_type
                .iter()
                .find(|known| known.name() == message)
                .unwrap_or_else(|| panic!("no message {message}"));
            message
                .field
                .iter()
                .map(|field| {
                    (
                        field.name().to_owned(),
                        field.number() as u32,
                        field.r#type(),
                    )
                })
                .collect()
        };
        let wanted = |fields: &[(&str, u32, Type)]| -> Vec<(String, u32, Type)> {
            fields
                .iter()
                .map(|(name, number, kind)| (name.to_string(), *number, *kind))
                .collect()
        };
        assert_eq!(
            fields("VehicleStates"),
            wanted(&[("states", STATES, Type::Message)])
        );
        assert_eq!(
            fields("VehicleState"),
            wanted(&[
                ("vehicle_id", field::VEHICLE_ID, Type::String),
                ("timestamp_ms", field::TIMESTAMP_MS, Type::Int64),
                ("location", field::LOCATION, Type::Message),
                ("speed_mps", field::SPEED_MPS, Type::Double),
                ("heading_deg", field::HEADING_DEG, Type::Double),
                ("motion", field::MOTION, Type::Enum),
                ("tile", field::TILE, Type::String),
                ("predictions", field::PREDICTIONS, Type::Message),
                ("attributes", field::ATTRIBUTES, Type::Message),
            ])
        );
        assert_eq!(
            fields("GeoPoint"),
            wanted(&[("lat", 1, Type::Double), ("lon", 2, Type::Double)])
        );
        assert_eq!(
            fields("Predictions"),
            wanted(&[
                ("horizon_s", 1, Type::Double),
                ("dead_reckoning", DEAD_RECKONING, Type::Message),
                ("tile_speed", TILE_SPEED, Type::Message),
                ("kalman", KALMAN, Type::Message),
            ])
        );
        let motion = &set.file[0].enum_type[0];
        let values: Vec<(&str, i32)> = motion
            .value
            .iter()
            .map(|value| (value.name(), value.number()))
            .collect();
        let numbers = [Motion::Stopped, Motion::Moving].map(|m| i32::from(motion_number(m)));
        assert_eq!(values, [("STOPPED", numbers[0]), ("MOVING", numbers[1])]);
    }

    #[test]
    fn a_protobuf_reader_of_the_schema_reads_what_is_written() {
        let written = states();
        let decoded = WireStates::decode(record_of(&written).as_slice()).unwrap();
        let expected: Vec<WireState> = written.iter().map(to_wire).collect();
        assert_eq!(decoded.states, expected);
    }

    #[test]
    fn what_a_protobuf_writer_of_the_schema_writes_is_read() {
        // prost leaves out zeros and empty strings, and a later version may add fields.
        let written = states();
        let mut wire = WireStates {
            states: written.iter().map(to_wire).collect(),
            later: "ignored".into(),
        };
        wire.states[0].later = 2.5;
        wire.states[2].location = None;
        wire.states[2].predictions = None;
        let read: Vec<VehicleState> = read_all(&wire.encode_to_vec())
            .into_iter()
            .map(Result::unwrap)
            .collect();
        // Apart from -0.0, which prost writes as no value, the states read are those written.
        for (read, written) in read.iter().zip(&written) {
            assert_eq!(read, written);
        }
        assert_eq!(read.len(), written.len());
    }

    #[test]
    fn a_bad_state_is_an_error_and_the_rest_of_the_record_still_reads() {
        let mut wire = WireStates {
            states: states().iter().map(to_wire).collect(),
            later: String::new(),
        };
        wire.states[1].motion = 7;
        let read = read_all(&wire.encode_to_vec());
        assert!(
            matches!(read[1], Err(StateError::UnknownMotion(7))),
            "{read:?}"
        );
        assert_eq!(read.iter().filter(|state| state.is_ok()).count(), 3);

        // A record cut short: its whole states, then one error, then nothing.
        let record = record_of(&states());
        let read = read_all(&record[..record.len() - 10]);
        assert_eq!(read.len(), 4);
        assert!(read[..3].iter().all(Result::is_ok));
        assert!(
            matches!(read[3], Err(StateError::Truncated { .. })),
            "{read:?}"
        );
        let read = read_all(&[0x0a, 0x05, 0x0a]);
        assert!(
            matches!(read[..], [Err(StateError::Truncated { .. })]),
            "{read:?}"
        );
    }
}
