//! What a record of an output topic becomes: the documents to index, with their ids.
//!
//! Three record formats are read (named in the `cartrack-schema` header, see
//! [`crate::model`]): v1, one JSON document whose id is the record key (what `process` wrote
//! before batching, and what a record without a header is taken for); v2, JSON documents one
//! per line, whose ids are read from the documents themselves; and, on `cartrack.vehicles`, v3,
//! protobuf vehicle states, each indexed as the JSON document a v2 line held.

use std::borrow::Cow;

use bytes::Bytes;
use serde::Deserialize;

use super::{indices, Document};
use crate::kafka::topics;
use crate::model::{
    Alert, TileTraffic, VehicleState, OUTPUT_SCHEMA_V1, OUTPUT_SCHEMA_V2, VEHICLE_STATES_SCHEMA_V3,
};
use crate::vehicle_proto::StatesReader;

/// Why (part of) a record was not indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unroutable {
    /// A v1 record without a UTF-8 key (its document id).
    #[error("the record has no UTF-8 key")]
    BadKey,
    /// A record of a topic that is not an output topic.
    #[error("the record is not from an output topic")]
    Unrouted,
    /// Its schema header names a format this version does not read (on its topic).
    #[error("the record's schema is not {VEHICLE_STATES_SCHEMA_V3} (vehicles only), {OUTPUT_SCHEMA_V2} or {OUTPUT_SCHEMA_V1}")]
    UnknownSchema,
    /// A line of a v2 record that is not a document of its topic, or a state of a v3 record
    /// that is not protobuf of a vehicle state.
    #[error("a line or state of the record is not a document of its topic")]
    Undecodable,
}

impl Unroutable {
    /// Every label, for the rejects metric.
    pub const LABELS: [&'static str; 4] = ["bad_key", "unrouted", "unknown_schema", "undecodable"];

    /// A stable label for the rejects metric.
    pub fn label(self) -> &'static str {
        match self {
            Unroutable::BadKey => Self::LABELS[0],
            Unroutable::Unrouted => Self::LABELS[1],
            Unroutable::UnknownSchema => Self::LABELS[2],
            Unroutable::Undecodable => Self::LABELS[3],
        }
    }
}

/// Appends the documents of one record of `topic` to `out`: a vehicle state becomes its
/// latest-state document (id = vehicle id) and a history document (id =
/// `<vehicle id>-<timestamp ms>`), a tile window and an alert one document each (their
/// deterministic ids). `key` and `timestamp_ms` are the record's (v1 ids come from them).
/// Returns how many output documents the record held (those refused included); each refused
/// one, or the whole record, is passed to `refused`.
///
/// The documents of a v1 or v2 record are slices of one copy of `payload`; those of a v3
/// record, of the JSON written from it.
pub fn route_record(
    topic: &str,
    schema: Option<&[u8]>,
    key: Option<&[u8]>,
    timestamp_ms: i64,
    payload: &[u8],
    out: &mut Vec<Document>,
    mut refused: impl FnMut(Unroutable),
) -> u64 {
    let Some(kind) = Kind::of(topic) else {
        refused(Unroutable::Unrouted);
        return 1;
    };
    match schema {
        Some(schema) if schema == VEHICLE_STATES_SCHEMA_V3.as_bytes() => match kind {
            Kind::Vehicle => route_states(payload, out, refused),
            Kind::Tile | Kind::Alert => {
                refused(Unroutable::UnknownSchema);
                1
            }
        },
        Some(schema) if schema == OUTPUT_SCHEMA_V2.as_bytes() => {
            let payload = Bytes::copy_from_slice(payload);
            let (mut read, mut start) = (0, 0);
            while start < payload.len() {
                let end = memchr::memchr(b'\n', &payload[start..])
                    .map_or(payload.len(), |length| start + length);
                // A slice of the record's bytes: no copy per document.
                let document = payload.slice(start..end);
                start = end + 1;
                if document.is_empty() {
                    continue;
                }
                read += 1;
                if kind.route_document(document, out).is_err() {
                    refused(Unroutable::Undecodable);
                }
            }
            read
        }
        Some(schema) if schema != OUTPUT_SCHEMA_V1.as_bytes() => {
            refused(Unroutable::UnknownSchema);
            1
        }
        _ => {
            match key.map(std::str::from_utf8) {
                Some(Ok(key)) => {
                    kind.route(key, timestamp_ms, Bytes::copy_from_slice(payload), out)
                }
                _ => refused(Unroutable::BadKey),
            }
            1
        }
    }
}

/// The documents of a v3 record: each state's JSON (the bytes a v2 line held), all written into
/// one buffer that the record's documents share. Returns how many states the record held.
fn route_states(
    payload: &[u8],
    out: &mut Vec<Document>,
    mut refused: impl FnMut(Unroutable),
) -> u64 {
    let mut reader = StatesReader::new(payload);
    // One state, its strings reused from state to state.
    let mut state = VehicleState::default();
    let mut json = Vec::with_capacity(payload.len() * 3);
    let mut ids = String::new();
    // Where each state's JSON and id end, and its time.
    let mut ends = Vec::new();
    let mut read = 0;
    while let Some(result) = reader.read_next(&mut state) {
        read += 1;
        match result {
            Ok(()) => {
                state.write_json(&mut json);
                ids.push_str(&state.vehicle_id);
                ends.push((json.len(), ids.len(), state.timestamp_ms));
            }
            Err(_) => refused(Unroutable::Undecodable),
        }
    }
    let json = Bytes::from(json);
    let (mut json_start, mut id_start) = (0, 0);
    for (json_end, id_end, timestamp_ms) in ends {
        let source = json.slice(json_start..json_end);
        Kind::Vehicle.route(&ids[id_start..id_end], timestamp_ms, source, out);
        (json_start, id_start) = (json_end, id_end);
    }
    read
}

/// The output topics.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Vehicle,
    Tile,
    Alert,
}

/// The fields of a vehicle state that make its ids (the rest is skipped, not parsed).
#[derive(Deserialize)]
struct VehicleIds<'a> {
    #[serde(borrow)]
    vehicle_id: Cow<'a, str>,
    timestamp_ms: i64,
}

/// The ids of a vehicle state that starts `{"vehicle_id":"<id without escapes>","timestamp_ms":<integer>`,
/// as `process` writes them: read without parsing the rest of the line, which a full parse
/// would (it cost `index` a fifth of its time). Anything else is left to a full parse.
fn leading_vehicle_ids(line: &[u8]) -> Option<(&str, i64)> {
    let rest = line.strip_prefix(br#"{"vehicle_id":""#)?;
    let end = rest
        .iter()
        .position(|byte| *byte == b'"' || *byte == b'\\')?;
    if rest[end] != b'"' {
        return None;
    }
    let id = std::str::from_utf8(&rest[..end]).ok()?;
    let rest = rest[end..].strip_prefix(br#"","timestamp_ms":"#)?;
    let digits = rest
        .iter()
        .position(|byte| *byte == b',' || *byte == b'}')?;
    let timestamp_ms = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    Some((id, timestamp_ms))
}

impl Kind {
    fn of(topic: &str) -> Option<Self> {
        match topic {
            topics::VEHICLES => Some(Kind::Vehicle),
            topics::TILES => Some(Kind::Tile),
            topics::ALERTS => Some(Kind::Alert),
            _ => None,
        }
    }

    /// The documents of a document whose id is known.
    fn route(self, id: &str, timestamp_ms: i64, source: Bytes, out: &mut Vec<Document>) {
        let document = |index, id| Document {
            index,
            id,
            source: source.clone(),
        };
        match self {
            Kind::Vehicle => {
                out.push(document(indices::VEHICLES, id.to_owned()));
                let mut history_id = String::with_capacity(id.len() + 21);
                history_id.push_str(id);
                history_id.push('-');
                history_id.push_str(itoa::Buffer::new().format(timestamp_ms));
                out.push(document(indices::VEHICLE_HISTORY, history_id));
            }
            Kind::Tile => out.push(document(indices::TILES, id.to_owned())),
            Kind::Alert => out.push(document(indices::ALERTS, id.to_owned())),
        }
    }

    /// The documents of a document whose id is read from it.
    fn route_document(self, source: Bytes, out: &mut Vec<Document>) -> serde_json::Result<()> {
        match self {
            Kind::Vehicle => match leading_vehicle_ids(&source) {
                Some((id, timestamp_ms)) => self.route(id, timestamp_ms, source.clone(), out),
                None => {
                    let ids: VehicleIds = serde_json::from_slice(&source)?;
                    let (id, timestamp_ms) = (ids.vehicle_id.into_owned(), ids.timestamp_ms);
                    self.route(&id, timestamp_ms, source, out);
                }
            },
            Kind::Tile => {
                let tile: TileTraffic = serde_json::from_slice(&source)?;
                self.route(&tile.document_id(), tile.window_start_ms, source, out);
            }
            Kind::Alert => {
                let alert: Alert = serde_json::from_slice(&source)?;
                self.route(&alert.document_id(), alert.timestamp_ms, source, out);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A document as (index, id, source).
    type Target = (&'static str, String, String);

    fn route(
        topic: &str,
        schema: Option<&str>,
        key: Option<&str>,
        payload: impl AsRef<[u8]>,
    ) -> (Vec<Target>, u64, Vec<Unroutable>) {
        let mut out = Vec::new();
        let mut refusals = Vec::new();
        let read = route_record(
            topic,
            schema.map(str::as_bytes),
            key.map(str::as_bytes),
            1_700,
            payload.as_ref(),
            &mut out,
            |why| refusals.push(why),
        );
        let documents = out
            .into_iter()
            .map(|d| (d.index, d.id, String::from_utf8(d.source.to_vec()).unwrap()))
            .collect();
        (documents, read, refusals)
    }

    fn owned(documents: &[(&'static str, &str, &str)]) -> Vec<Target> {
        documents
            .iter()
            .map(|(index, id, source)| (*index, id.to_string(), source.to_string()))
            .collect()
    }

    #[test]
    fn v1_records_take_their_ids_from_the_key_and_timestamp() {
        let v1 = Some(OUTPUT_SCHEMA_V1);
        let (documents, read, refusals) = route(topics::VEHICLES, v1, Some("cab-1"), "{}");
        assert_eq!(
            documents,
            owned(&[
                (indices::VEHICLES, "cab-1", "{}"),
                (indices::VEHICLE_HISTORY, "cab-1-1700", "{}")
            ])
        );
        assert_eq!((read, refusals), (1, vec![]));
        let (tiles, ..) = route(topics::TILES, None, Some("dr5ru6-10000"), "{}");
        assert_eq!(tiles, owned(&[(indices::TILES, "dr5ru6-10000", "{}")]));
        let (alerts, ..) = route(topics::ALERTS, v1, Some("a"), "{}");
        assert_eq!(alerts, owned(&[(indices::ALERTS, "a", "{}")]));
        let (_, _, refusals) = route(topics::ALERTS, v1, None, "{}");
        assert_eq!(refusals, [Unroutable::BadKey]);
    }

    #[test]
    fn v2_records_yield_one_document_per_line_with_ids_from_the_documents() {
        let v2 = Some(OUTPUT_SCHEMA_V2);
        let states = "{\"vehicle_id\":\"cab-1\",\"timestamp_ms\":5,\"x\":[1,{\"y\":2}]}\n{\"timestamp_ms\":6,\"vehicle_id\":\"c\\\"2\"}\n";
        let (documents, read, refusals) = route(topics::VEHICLES, v2, None, states);
        let first = "{\"vehicle_id\":\"cab-1\",\"timestamp_ms\":5,\"x\":[1,{\"y\":2}]}";
        let second = "{\"timestamp_ms\":6,\"vehicle_id\":\"c\\\"2\"}";
        assert_eq!(
            documents,
            owned(&[
                (indices::VEHICLES, "cab-1", first),
                (indices::VEHICLE_HISTORY, "cab-1-5", first),
                (indices::VEHICLES, "c\"2", second),
                (indices::VEHICLE_HISTORY, "c\"2-6", second),
            ])
        );
        assert_eq!((read, refusals), (2, vec![]));

        let tile = r#"{"tile":"dr5ru6","window_start_ms":10000,"window_end_ms":20000,"location":{"lat":1.0,"lon":2.0},"vehicles":1,"observations":2,"mean_speed_mps":3.0}"#;
        let (tiles, ..) = route(topics::TILES, v2, None, tile);
        assert_eq!(
            tiles,
            owned(&[(indices::TILES, "dr5ru6-10000", tile)]),
            "no final newline needed"
        );
        let alert = r#"{"vehicle_id":"cab","geofence":"north","crossing":"enter","timestamp_ms":7,"location":{"lat":1.0,"lon":2.0}}"#;
        let (alerts, ..) = route(topics::ALERTS, v2, None, alert);
        assert_eq!(
            alerts,
            owned(&[(indices::ALERTS, "cab-north-enter-7", alert)])
        );
    }

    #[test]
    fn v3_records_yield_each_states_json_as_a_v2_line_held_it() {
        let state = |id: &str, timestamp_ms| VehicleState {
            vehicle_id: id.into(),
            timestamp_ms,
            speed_mps: 1.5,
            attributes: [("k".to_string(), "v".to_string())].into(),
            ..VehicleState::default()
        };
        let states = [state("cab-1", 5), state("c\"2", 6)];
        let mut record = Vec::new();
        for state in &states {
            crate::vehicle_proto::write_state(state, &mut record);
        }
        let v3 = Some(VEHICLE_STATES_SCHEMA_V3);
        let (documents, read, refusals) = route(topics::VEHICLES, v3, None, &record);
        let json: Vec<String> = states
            .iter()
            .map(|state| {
                let mut line = Vec::new();
                state.write_json(&mut line);
                String::from_utf8(line).unwrap()
            })
            .collect();
        assert_eq!(
            documents,
            vec![
                (indices::VEHICLES, "cab-1".to_string(), json[0].clone()),
                (
                    indices::VEHICLE_HISTORY,
                    "cab-1-5".to_string(),
                    json[0].clone()
                ),
                (indices::VEHICLES, "c\"2".to_string(), json[1].clone()),
                (
                    indices::VEHICLE_HISTORY,
                    "c\"2-6".to_string(),
                    json[1].clone()
                ),
            ]
        );
        assert_eq!((read, refusals), (2, vec![]));

        // A damaged state is refused and counted; the whole ones before it are indexed.
        let (documents, read, refusals) =
            route(topics::VEHICLES, v3, None, &record[..record.len() - 3]);
        assert_eq!((read, documents.len()), (2, 2));
        assert_eq!(refusals, [Unroutable::Undecodable]);
        // v3 is the vehicles' format only.
        let (_, _, refusals) = route(topics::TILES, Some(VEHICLE_STATES_SCHEMA_V3), None, "{}");
        assert_eq!(refusals, [Unroutable::UnknownSchema]);
    }

    #[test]
    fn vehicle_ids_are_read_from_the_start_of_the_line_when_process_wrote_it() {
        assert_eq!(
            leading_vehicle_ids(br#"{"vehicle_id":"cab-1","timestamp_ms":-5,"speed_mps":1.0}"#),
            Some(("cab-1", -5))
        );
        // Escapes, another field order, a float or an unfinished line: the full parse decides.
        for line in [
            r#"{"vehicle_id":"c\"2","timestamp_ms":5}"#,
            r#"{"timestamp_ms":5,"vehicle_id":"cab-1"}"#,
            r#"{"vehicle_id":"cab-1","timestamp_ms":5.5}"#,
            r#"{"vehicle_id":"cab-1","timestamp_ms":5"#,
            r#"{"vehicle_id": "cab-1","timestamp_ms":5}"#,
        ] {
            assert_eq!(leading_vehicle_ids(line.as_bytes()), None, "{line}");
        }
    }

    #[test]
    fn bad_lines_records_and_topics_are_refused_and_counted() {
        let v2 = Some(OUTPUT_SCHEMA_V2);
        let (documents, read, refusals) = route(
            topics::VEHICLES,
            v2,
            None,
            "{\"vehicle_id\":\"a\",\"timestamp_ms\":1}\nnot json\n\n{\"vehicle_id\":\"a\"}\n",
        );
        assert_eq!(documents.len(), 2, "the good line is still indexed");
        assert_eq!(read, 3);
        assert_eq!(refusals, [Unroutable::Undecodable, Unroutable::Undecodable]);
        let (_, _, refusals) = route(topics::VEHICLES, Some("cartrack.Output/v3"), None, "{}");
        assert_eq!(refusals, [Unroutable::UnknownSchema]);
        let (_, _, refusals) = route("other", v2, None, "{}");
        assert_eq!(refusals, [Unroutable::Unrouted]);
    }
}
