//! Replay of recorded traces from CSV, re-stamped to the present (as the original DC/OS demo
//! did) and optionally sped up, so old data drives a live pipeline.
//!
//! Two schemas: the demo's NYC-taxi one (19 columns, no header) and a plain `id,timestamp,lon,lat`
//! one with a header. Bad lines are rejected with a reason and skipped.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;

use crate::model::Position;
use crate::validate::Reject;

/// The columns of a trace file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CsvSchema {
    /// Decide from the first line: the plain header, or else the taxi schema.
    Auto,
    /// The NYC-taxi schema of the DC/OS demo: 19 columns, no header.
    Taxi,
    /// `id,timestamp,lon,lat` with that header line.
    Plain,
}

/// The plain schema's header line.
pub const PLAIN_HEADER: [&str; 4] = ["id", "timestamp", "lon", "lat"];

/// Columns of the taxi schema.
pub const TAXI_COLUMNS: usize = 19;

/// One trace line, with its original timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceRecord {
    /// The vehicle.
    pub vehicle_id: String,
    /// When the fix was originally taken, ms since the epoch.
    pub recorded_ms: i64,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Extra columns worth keeping.
    pub attributes: BTreeMap<String, String>,
}

impl TraceRecord {
    /// The position this record becomes when replayed at `timestamp_ms`.
    pub fn into_position(self, timestamp_ms: i64) -> Position {
        Position {
            vehicle_id: self.vehicle_id,
            timestamp_ms,
            lat: self.lat,
            lon: self.lon,
            speed_mps: None,
            heading_deg: None,
            attributes: self.attributes,
        }
    }
}

/// Resolves [`CsvSchema::Auto`] from the file's first record; says whether that record is a
/// header to skip.
pub fn detect_schema(requested: CsvSchema, first: &csv::StringRecord) -> (CsvSchema, bool) {
    let is_plain_header = first.len() == PLAIN_HEADER.len()
        && first
            .iter()
            .zip(PLAIN_HEADER)
            .all(|(field, name)| field.trim().eq_ignore_ascii_case(name));
    match requested {
        CsvSchema::Auto if is_plain_header => (CsvSchema::Plain, true),
        CsvSchema::Auto => (CsvSchema::Taxi, false),
        schema => (schema, schema == CsvSchema::Plain && is_plain_header),
    }
}

/// Parses one record of a known schema.
pub fn parse_record(schema: CsvSchema, record: &csv::StringRecord) -> Result<TraceRecord, Reject> {
    let field = |index: usize| record.get(index).map(str::trim).unwrap_or_default();
    let number = |index: usize| field(index).parse::<f64>().map_err(|_| Reject::Malformed);
    match schema {
        CsvSchema::Taxi => {
            if record.len() != TAXI_COLUMNS {
                return Err(Reject::FieldCount);
            }
            let mut attributes = BTreeMap::new();
            for (name, index) in [("passenger_count", 4), ("medallion", 8)] {
                if !field(index).is_empty() {
                    attributes.insert(name.to_owned(), field(index).to_owned());
                }
            }
            Ok(TraceRecord {
                vehicle_id: field(0).to_owned(),
                recorded_ms: parse_timestamp(field(1))?,
                lon: number(2)?,
                lat: number(3)?,
                attributes,
            })
        }
        CsvSchema::Plain | CsvSchema::Auto => {
            if record.len() != PLAIN_HEADER.len() {
                return Err(Reject::FieldCount);
            }
            Ok(TraceRecord {
                vehicle_id: field(0).to_owned(),
                recorded_ms: parse_timestamp(field(1))?,
                lon: number(2)?,
                lat: number(3)?,
                attributes: BTreeMap::new(),
            })
        }
    }
}

/// Epoch numbers below this are seconds, above it milliseconds (1e11 s is the year 5138).
const SECONDS_LIMIT: f64 = 1e11;

/// Reads a timestamp as `YYYY-MM-DD HH:MM:SS[.fff]` (or with a `T`, optional `Z`; taken as
/// UTC), or as epoch seconds or milliseconds.
pub fn parse_timestamp(text: &str) -> Result<i64, Reject> {
    if let Ok(number) = text.parse::<f64>() {
        if !number.is_finite() {
            return Err(Reject::BadTimestamp);
        }
        let ms = if number.abs() < SECONDS_LIMIT {
            number * 1000.0
        } else {
            number
        };
        return Ok(ms.round() as i64);
    }
    let text = text.strip_suffix('Z').unwrap_or(text);
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|time| time.and_utc().timestamp_millis())
        .ok_or(Reject::BadTimestamp)
}

/// Maps recorded times onto the wall clock: the first record replays at the start, later ones
/// after their recorded offset divided by the speed-up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Restamp {
    start_ms: i64,
    speedup: f64,
    first_recorded_ms: Option<i64>,
}

impl Restamp {
    /// Replays starting at wall time `start_ms`, `speedup` times faster than recorded.
    pub fn new(start_ms: i64, speedup: f64) -> Self {
        Self {
            start_ms,
            speedup,
            first_recorded_ms: None,
        }
    }

    /// The wall time, ms, at which the record taken at `recorded_ms` is due (and stamped).
    pub fn due_ms(&mut self, recorded_ms: i64) -> i64 {
        let first = *self.first_recorded_ms.get_or_insert(recorded_ms);
        self.start_ms + ((recorded_ms - first) as f64 / self.speedup).round() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &str) -> Vec<csv::StringRecord> {
        csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes())
            .records()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    const TAXI: &str = "\
1,2013-01-01 00:00:00,-73.978165,40.757977,1,382,1.00,1,89D227B655E5C82AECF13C3F540D4CF4,BA96DE419E711691B9445D6A6307C170,CMT,1,N,2013-01-01 15:11:48,2013-01-01 15:18:10,-73.978165,40.757977,-73.989838,40.751171
2,2013-01-01 00:00:10,-73.989838,40.751171,2,382,1.00,2,0BD7C8F5BA12B88E0B67BED28BEA73D8,9FD8F69F0804BDB5549F40E9DA1BE472,CMT,1,N,2013-01-06 00:18:35,2013-01-06 00:22:54,-74.006683,40.731781,-73.994499,40.75066
3,not-a-time,-73.9,40.7,1,1,1,1,a,b,c,1,N,x,y,1,2,3,4
4,2013-01-01 00:00:20,east,40.7,1,1,1,1,a,b,c,1,N,x,y,1,2,3,4
5,2013-01-01 00:00:20,-73.9
";

    #[test]
    fn parses_the_taxi_schema_and_rejects_bad_lines_by_reason() {
        let lines = records(TAXI);
        assert_eq!(
            detect_schema(CsvSchema::Auto, &lines[0]),
            (CsvSchema::Taxi, false)
        );
        let parsed: Vec<_> = lines
            .iter()
            .map(|r| parse_record(CsvSchema::Taxi, r))
            .collect();
        let first = parsed[0].clone().unwrap();
        assert_eq!(first.vehicle_id, "1");
        assert_eq!(first.recorded_ms, 1_356_998_400_000);
        assert_eq!((first.lon, first.lat), (-73.978165, 40.757977));
        assert_eq!(first.attributes["passenger_count"], "1");
        assert_eq!(parsed[1].as_ref().unwrap().recorded_ms, 1_356_998_410_000);
        assert_eq!(parsed[2], Err(Reject::BadTimestamp));
        assert_eq!(parsed[3], Err(Reject::Malformed));
        assert_eq!(parsed[4], Err(Reject::FieldCount));
    }

    #[test]
    fn parses_the_plain_schema_with_its_header() {
        let lines = records("id,timestamp,lon,lat\ncar-1,1700000000,-73.98,40.75\ncar-2,1700000000500,-73.97,40.76\ncar-3,2023-11-14T22:13:20Z,-73.97,40.76\ncar-4,,1,2\n");
        assert_eq!(
            detect_schema(CsvSchema::Auto, &lines[0]),
            (CsvSchema::Plain, true)
        );
        let parsed: Vec<_> = lines[1..]
            .iter()
            .map(|r| parse_record(CsvSchema::Plain, r))
            .collect();
        assert_eq!(parsed[0].as_ref().unwrap().recorded_ms, 1_700_000_000_000);
        assert_eq!(parsed[1].as_ref().unwrap().recorded_ms, 1_700_000_000_500);
        assert_eq!(parsed[2].as_ref().unwrap().recorded_ms, 1_700_000_000_000);
        assert_eq!(parsed[3], Err(Reject::BadTimestamp));
        assert_eq!(
            parse_record(CsvSchema::Plain, &lines[0]),
            Err(Reject::BadTimestamp)
        );
    }

    #[test]
    fn restamping_keeps_offsets_divided_by_the_speedup() {
        let mut restamp = Restamp::new(5_000, 10.0);
        assert_eq!(restamp.due_ms(1_000_000), 5_000);
        assert_eq!(restamp.due_ms(1_010_000), 6_000);
        assert_eq!(restamp.due_ms(1_000_500), 5_050);
        let position = parse_record(CsvSchema::Plain, &records("a,0,1.5,2.5\n")[0])
            .unwrap()
            .into_position(42);
        assert_eq!(
            (position.timestamp_ms, position.lat, position.lon),
            (42, 2.5, 1.5)
        );
    }
}
