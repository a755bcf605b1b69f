//! The fast path of reading a posted JSON line: the common shape of a [`Position`] read without
//! serde's generic machinery (visitors, field identifiers, a number parser for every type), which
//! is most of what parsing a line costs.
//!
//! [`parse`] answers only when it is sure to give what `serde_json::from_str::<Position>` gives,
//! bit for bit: a flat object of the fields other than `attributes`, each at most once, in any
//! order, strings without escapes, numbers in plain JSON form. Anything else (errors included)
//! is `None`, and the caller asks serde_json, so every rejection stays serde_json's.
//!
//! Numbers: serde_json's float parsing depends on its `float_roundtrip` feature (off in the
//! worker's build, on when a workspace-wide build unifies it in from a dev-dependency). Both agree
//! with correct rounding when the decimal significand is at most 2^53 and the power of ten at
//! most 22 (one IEEE operation on exact operands), so those are computed here; any other number
//! is handed, as its own text, to serde_json's parser of that one number (the same code the
//! struct's field runs). An `f32` field is, without `float_roundtrip`, rounded to `f64` then to
//! `f32`: that agrees with rounding straight to `f32` unless the `f64` lands exactly halfway
//! between two `f32`s, which is also handed to serde_json.

use crate::model::Position;

/// Reads `text` (one trimmed line) as a position, or `None` if serde_json must decide.
pub(crate) fn parse(text: &str) -> Option<Position> {
    let mut cursor = Cursor {
        text,
        bytes: text.as_bytes(),
        at: 0,
    };
    cursor.skip_whitespace();
    cursor.eat(b'{')?;
    let mut fields = Fields::default();
    loop {
        cursor.skip_whitespace();
        let field = cursor.key()?;
        if fields.seen & field.bit() != 0 {
            return None; // serde_json: duplicate field
        }
        fields.seen |= field.bit();
        cursor.skip_whitespace();
        cursor.eat(b':')?;
        cursor.skip_whitespace();
        match field {
            Field::VehicleId => fields.vehicle_id = Some(cursor.string()?),
            Field::TimestampMs => fields.timestamp_ms = Some(cursor.number()?.to_i64()?),
            Field::Lat => fields.lat = Some(cursor.number()?.to_f64()?),
            Field::Lon => fields.lon = Some(cursor.number()?.to_f64()?),
            Field::SpeedMps => fields.speed_mps = cursor.optional_f32()?,
            Field::HeadingDeg => fields.heading_deg = cursor.optional_f32()?,
        }
        cursor.skip_whitespace();
        match cursor.next()? {
            b',' => continue,
            b'}' => break,
            _ => return None,
        }
    }
    cursor.skip_whitespace();
    if cursor.at != cursor.bytes.len() {
        return None;
    }
    Some(Position {
        vehicle_id: fields.vehicle_id?.to_owned(),
        timestamp_ms: fields.timestamp_ms?,
        lat: fields.lat?,
        lon: fields.lon?,
        speed_mps: fields.speed_mps,
        heading_deg: fields.heading_deg,
        attributes: Default::default(),
    })
}

/// The fields read so far.
#[derive(Default)]
struct Fields<'a> {
    seen: u8,
    vehicle_id: Option<&'a str>,
    timestamp_ms: Option<i64>,
    lat: Option<f64>,
    lon: Option<f64>,
    speed_mps: Option<f32>,
    heading_deg: Option<f32>,
}

/// The keys the fast path reads (`attributes` is left to serde_json).
#[derive(Clone, Copy)]
enum Field {
    VehicleId,
    TimestampMs,
    Lat,
    Lon,
    SpeedMps,
    HeadingDeg,
}

impl Field {
    fn bit(self) -> u8 {
        1 << self as u8
    }
}

struct Cursor<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn eat(&mut self, expected: u8) -> Option<()> {
        (self.next()? == expected).then_some(())
    }

    /// JSON's whitespace only: serde_json refuses any other.
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// One of the keys the fast path reads, quotes included; `None` for any other (or escaped)
    /// key.
    #[inline]
    fn key(&mut self) -> Option<Field> {
        let rest = &self.bytes[self.at..];
        let (length, field) = match rest.get(1)? {
            b'v' => quoted(rest, b"\"vehicle_id\"", Field::VehicleId),
            b't' => quoted(rest, b"\"timestamp_ms\"", Field::TimestampMs),
            b'l' if rest.get(2) == Some(&b'a') => quoted(rest, b"\"lat\"", Field::Lat),
            b'l' => quoted(rest, b"\"lon\"", Field::Lon),
            b's' => quoted(rest, b"\"speed_mps\"", Field::SpeedMps),
            b'h' => quoted(rest, b"\"heading_deg\"", Field::HeadingDeg),
            _ => None,
        }?;
        self.at += length;
        Some(field)
    }

    /// A string without escapes or control characters (which serde_json refuses unescaped).
    #[inline]
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        loop {
            match self.next()? {
                b'"' => break,
                b'\\' | 0..=0x1f => return None,
                _ => {}
            }
        }
        // Both ends are ASCII quotes, so on character boundaries.
        Some(&self.text[start..self.at - 1])
    }

    /// `null` (`None`) or a number, for an optional `f32` field.
    #[inline]
    fn optional_f32(&mut self) -> Option<Option<f32>> {
        if self.bytes[self.at..].first_chunk() == Some(b"null") {
            self.at += 4;
            return Some(None);
        }
        self.number()?.to_f32().map(Some)
    }

    /// A number in JSON's grammar (what serde_json accepts); `None` for anything else.
    #[inline]
    fn number(&mut self) -> Option<Number<'a>> {
        let start = self.at;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        let mut digits = Digits::default();
        match self.next()? {
            b'0' => {
                if let Some(b'0'..=b'9') = self.peek() {
                    return None; // a leading zero
                }
            }
            digit @ b'1'..=b'9' => {
                digits.push(digit);
                while let Some(digit @ b'0'..=b'9') = self.peek() {
                    digits.push(digit);
                    self.at += 1;
                }
            }
            _ => return None,
        }
        let mut exponent: i32 = 0;
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.at += 1;
            integer = false;
            let fraction = self.at;
            while let Some(digit @ b'0'..=b'9') = self.peek() {
                digits.push(digit);
                self.at += 1;
            }
            if self.at == fraction {
                return None;
            }
            // Cannot saturate (a line is bounded); a number that long is left to serde_json.
            exponent = -i32::try_from(self.at - fraction).unwrap_or(i32::MAX);
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            integer = false;
            let positive = match self.peek() {
                Some(b'+') => {
                    self.at += 1;
                    true
                }
                Some(b'-') => {
                    self.at += 1;
                    false
                }
                _ => true,
            };
            let start = self.at;
            let mut power: i32 = 0;
            while let Some(digit @ b'0'..=b'9') = self.peek() {
                power = power
                    .saturating_mul(10)
                    .saturating_add(i32::from(digit - b'0'));
                self.at += 1;
            }
            if self.at == start {
                return None;
            }
            exponent = if positive {
                exponent.saturating_add(power)
            } else {
                exponent.saturating_sub(power)
            };
        }
        Some(Number {
            text: &self.bytes[start..self.at],
            negative,
            significand: digits.value,
            exact_significand: !digits.overflowed,
            exponent,
            integer,
        })
    }
}

/// `field` and the length of `key` if `rest` starts with it (a fixed-length comparison, inlined).
fn quoted<const N: usize>(rest: &[u8], key: &[u8; N], field: Field) -> Option<(usize, Field)> {
    (rest.first_chunk::<N>() == Some(key)).then_some((N, field))
}

/// The decimal significand, while it fits.
#[derive(Default)]
struct Digits {
    value: u64,
    overflowed: bool,
}

impl Digits {
    fn push(&mut self, digit: u8) {
        match self
            .value
            .checked_mul(10)
            .and_then(|value| value.checked_add(u64::from(digit - b'0')))
        {
            Some(value) => self.value = value,
            None => self.overflowed = true,
        }
    }
}

/// A number token: its text, and its value as ± significand × 10^exponent when that fit.
struct Number<'a> {
    text: &'a [u8],
    negative: bool,
    significand: u64,
    exact_significand: bool,
    exponent: i32,
    /// Neither a fraction nor an exponent: serde_json reads it as an integer.
    integer: bool,
}

/// 2^53: every integer up to it is an exact `f64`.
const MAX_EXACT_SIGNIFICAND: u64 = 1 << 53;

/// The powers of ten that are exact `f64`s.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

impl Number<'_> {
    /// An `i64` field: an integer in range, as serde_json reads it (`-0`, fractions and exponents
    /// are errors there, left to it).
    #[inline]
    fn to_i64(&self) -> Option<i64> {
        if !self.integer || !self.exact_significand {
            return None;
        }
        if self.negative {
            // `-0` is a float to serde_json, refused for an integer field.
            if self.significand == 0 {
                return None;
            }
            0i64.checked_sub_unsigned(self.significand)
        } else {
            i64::try_from(self.significand).ok()
        }
    }

    /// The value when both of serde_json's algorithms round it correctly: one exact operation.
    #[inline]
    fn exact_f64(&self) -> Option<f64> {
        if !self.exact_significand || self.significand > MAX_EXACT_SIGNIFICAND {
            return None;
        }
        let power = EXACT_POWERS_OF_TEN.get(self.exponent.unsigned_abs() as usize)?;
        let magnitude = self.significand as f64;
        let value = if self.exponent >= 0 {
            magnitude * power
        } else {
            magnitude / power
        };
        Some(if self.negative { -value } else { value })
    }

    #[inline]
    fn to_f64(&self) -> Option<f64> {
        self.exact_f64().or_else(|| by_serde_json(self.text))
    }

    /// The `f32` value when rounding through `f64` (as serde_json does without
    /// `float_roundtrip`) agrees with rounding straight to `f32` (as it does with it).
    #[inline]
    fn exact_f32(&self) -> Option<f32> {
        let wide = self.exact_f64()?;
        let narrow = wide as f32;
        (narrow.is_finite() && !halfway_between_f32s(wide, narrow)).then_some(narrow)
    }

    #[inline]
    fn to_f32(&self) -> Option<f32> {
        self.exact_f32().or_else(|| by_serde_json(self.text))
    }
}

/// A number as serde_json reads it for a field of type `T` (rare: kept out of the hot path).
#[cold]
#[inline(never)]
fn by_serde_json<T: serde::de::DeserializeOwned>(number: &[u8]) -> Option<T> {
    serde_json::from_slice(number).ok()
}

/// Whether `wide` lies exactly halfway between `narrow` (its rounding) and the next `f32` on its
/// other side: there, rounding the decimal straight to `f32` may differ from rounding `wide`.
fn halfway_between_f32s(wide: f64, narrow: f32) -> bool {
    let near = f64::from(narrow);
    if near == wide {
        return false;
    }
    let other = if near < wide {
        narrow.next_up()
    } else {
        narrow.next_down()
    };
    // Exact: two neighbouring f32s and their half are all f64s.
    (near + f64::from(other)) / 2.0 == wide
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use rand::rngs::StdRng;
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::sources::http::parse_line;
    use crate::sources::simulator::CityBox;
    use crate::testkit::fleet_positions;
    use crate::validate::Reject;

    /// What `parse_line` answered before the fast path: serde_json alone.
    fn serde_verdict(line: &str) -> Result<Position, Reject> {
        serde_json::from_str::<Position>(line.trim()).map_err(|_| Reject::Malformed)
    }

    /// Equality with floats compared bit for bit (so `-0.0` is not `0.0`).
    fn identical(a: &Result<Position, Reject>, b: &Result<Position, Reject>) -> bool {
        match (a, b) {
            (Ok(a), Ok(b)) => {
                a.vehicle_id == b.vehicle_id
                    && a.timestamp_ms == b.timestamp_ms
                    && a.lat.to_bits() == b.lat.to_bits()
                    && a.lon.to_bits() == b.lon.to_bits()
                    && a.speed_mps.map(f32::to_bits) == b.speed_mps.map(f32::to_bits)
                    && a.heading_deg.map(f32::to_bits) == b.heading_deg.map(f32::to_bits)
                    && a.attributes == b.attributes
            }
            (Err(a), Err(b)) => a == b,
            _ => false,
        }
    }

    fn fleet_lines(seed: u64, vehicles: u32, seconds: u32) -> Vec<String> {
        fleet_positions(seed, CityBox::MANHATTAN, vehicles, seconds)
            .iter()
            .map(|position| serde_json::to_string(position).unwrap())
            .collect()
    }

    /// What a device typically posts: six decimals of latitude and longitude.
    fn device_line(rng: &mut StdRng, n: usize) -> String {
        format!(
            r#"{{"vehicle_id":"cab-{n}","timestamp_ms":{},"lat":{:.6},"lon":{:.6},"speed_mps":{:.1},"heading_deg":{}}}"#,
            1_765_100_000_000i64 + n as i64 * 1000,
            rng.random_range(40.7..40.8),
            rng.random_range(-74.02..-73.93),
            rng.random_range(0.0..30.0),
            rng.random_range(0..360),
        )
    }

    fn pick<'a>(rng: &mut StdRng, choices: &[&'a str]) -> &'a str {
        choices[rng.random_range(0..choices.len())]
    }

    /// A decimal of random shape: long or short, with or without fraction and exponent.
    fn random_decimal(rng: &mut StdRng) -> String {
        let mut text = String::new();
        if rng.random_bool(0.3) {
            text.push('-');
        }
        let digits = |rng: &mut StdRng, count: usize| -> String {
            (0..count)
                .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                .collect()
        };
        let integer = rng.random_range(0..=24);
        if integer == 0 {
            text.push('0');
        } else {
            text.push(char::from(b'1' + rng.random_range(0..9u8)));
            text += &digits(rng, integer - 1);
        }
        if rng.random_bool(0.7) {
            let fraction = rng.random_range(1..=24);
            text.push('.');
            text += &digits(rng, fraction);
        }
        if rng.random_bool(0.3) {
            text += pick(rng, &["e", "E", "e+", "e-", "E-"]);
            text += &rng.random_range(0..40).to_string();
            if rng.random_bool(0.05) {
                text += "00";
            }
        }
        text
    }

    fn random_f64(rng: &mut StdRng) -> f64 {
        match rng.random_range(0..9) {
            0 => f64::from_bits(rng.random()),
            1 => f64::from_bits(rng.random_range(1..1u64 << 52)), // subnormal
            2 => rng.random_range(-1.0..1.0) * f64::MAX,
            3 => pick_f64(
                rng,
                &[0.0, -0.0, 1.0, -1.0, f64::MIN_POSITIVE, 9007199254740993.0],
            ),
            4 => rng.random_range(-1e6..1e6f64).round(),
            5 => rng.random_range(-90.0..90.0),
            6 => f64::from(rng.random_range(-180.0..180.0f32)),
            // Around where the exact computation stops: significands near 2^53, powers near 22.
            7 => rng.random_range(9.0e15..9.1e15) * 10f64.powi(rng.random_range(-24..24)),
            _ => rng.random_range(-1.0..1.0) * 10f64.powi(rng.random_range(-320..300)),
        }
    }

    fn pick_f64(rng: &mut StdRng, choices: &[f64]) -> f64 {
        choices[rng.random_range(0..choices.len())]
    }

    /// A float written the ways a device might: shortest, fixed, scientific, or any decimal.
    fn float_text(rng: &mut StdRng, value: f64) -> String {
        match rng.random_range(0..7) {
            0 => serde_json::to_string(&value).unwrap(),
            1 => format!("{value}"),
            2 => format!("{value:e}"),
            3 => format!("{value:E}"),
            4 => format!("{value:.*}", rng.random_range(0..20)),
            5 => format!("{value:.*e}", rng.random_range(0..25)),
            _ => random_decimal(rng),
        }
    }

    fn random_float_text(rng: &mut StdRng) -> String {
        let value = random_f64(rng);
        float_text(rng, value)
    }

    fn f32_text(rng: &mut StdRng) -> String {
        let value = match rng.random_range(0..6) {
            0 => f32::from_bits(rng.random()),
            1 => rng.random_range(0.0..60.0f32),
            2 => rng.random_range(0.0..360.0f32),
            3 => f32::from_bits(rng.random_range(1..1u32 << 23)), // subnormal
            // Halfway between two f32s, where rounding twice can differ from rounding once.
            4 => {
                // Any binade from 1e-3 to 1e6, so that many have long exact decimals.
                let low = f32::from_bits(rng.random_range(0x3a83_126f..0x4974_2400));
                let halfway = (f64::from(low) + f64::from(low.next_up())) / 2.0;
                // Its shortest form, its exact one, or a decimal near it that rounds to it.
                return match rng.random_range(0..3) {
                    0 => format!("{halfway}"),
                    1 => format!("{halfway:.40}"),
                    _ => format!("{halfway:.*e}", rng.random_range(12..17)),
                };
            }
            _ => return random_float_text(rng),
        };
        match rng.random_range(0..3) {
            0 => serde_json::to_string(&value).unwrap(),
            1 => format!("{value}"),
            _ => float_text(rng, f64::from(value)),
        }
    }

    fn timestamp_text(rng: &mut StdRng) -> String {
        match rng.random_range(0..10) {
            0 => pick(
                rng,
                &[
                    "0",
                    "-0",
                    "00",
                    "01",
                    "1.0",
                    "1e3",
                    "-1",
                    "9223372036854775807",
                    "9223372036854775808",
                    "-9223372036854775808",
                    "-9223372036854775809",
                    "18446744073709551615",
                    "18446744073709551616",
                    "123456789012345678901234",
                    "\"1765100000000\"",
                    "null",
                ],
            )
            .to_owned(),
            1 => rng.random::<i64>().to_string(),
            2 => random_decimal(rng),
            _ => rng
                .random_range(1_700_000_000_000i64..1_800_000_000_000)
                .to_string(),
        }
    }

    fn vehicle_id_text(rng: &mut StdRng) -> String {
        let id = match rng.random_range(0..10) {
            0 => pick(
                rng,
                &[
                    "",
                    "a\"b",
                    "back\\slash",
                    "tab\there",
                    "café",
                    "🚕-1",
                    "a/b",
                ],
            ),
            1 => {
                return pick(rng, &["\"l\\u0061t\"", "\"raw\u{1}control\"", "42", "null"])
                    .to_owned()
            }
            _ => return format!("\"car-{}\"", rng.random_range(0..10_000)),
        };
        serde_json::to_string(id).unwrap()
    }

    /// A line: the fields in random order with random whitespace, now and then broken.
    fn random_line(rng: &mut StdRng) -> String {
        let mut fields: Vec<(String, String)> = vec![
            ("vehicle_id".into(), vehicle_id_text(rng)),
            ("timestamp_ms".into(), timestamp_text(rng)),
            ("lat".into(), random_float_text(rng)),
            ("lon".into(), random_float_text(rng)),
        ];
        for key in ["speed_mps", "heading_deg"] {
            match rng.random_range(0..5) {
                0 => {}
                1 => fields.push((key.into(), "null".into())),
                _ => fields.push((key.into(), f32_text(rng))),
            }
        }
        if rng.random_bool(0.8) {
            fields.shuffle(rng);
        }
        if rng.random_bool(0.25) {
            break_fields(rng, &mut fields);
        }
        let space = |rng: &mut StdRng| -> &'static str {
            if rng.random_bool(0.8) {
                ""
            } else if rng.random_bool(0.99) {
                pick(rng, &[" ", "  ", "\t", "\n", "\r\n"])
            } else {
                pick(rng, &["\u{a0}", "\u{b}"]) // not JSON's whitespace
            }
        };
        let mut line = String::from(space(rng));
        line.push('{');
        for (i, (key, value)) in fields.iter().enumerate() {
            if i > 0 {
                line += space(rng);
                line.push(',');
            }
            line += space(rng);
            line += &format!("\"{key}\"");
            line += space(rng);
            line.push(':');
            line += space(rng);
            line += value;
        }
        line += space(rng);
        line.push('}');
        line += space(rng);
        if rng.random_bool(0.05) {
            break_text(rng, &mut line);
        }
        line
    }

    /// The ways a line's fields go wrong.
    fn break_fields(rng: &mut StdRng, fields: &mut Vec<(String, String)>) {
        let i = rng.random_range(0..fields.len());
        match rng.random_range(0..7) {
            0 => {
                fields.remove(i);
            }
            1 => {
                let duplicate = (fields[i].0.clone(), random_float_text(rng));
                fields.push(duplicate);
            }
            2 => fields.push(("altitude".into(), "12".into())),
            3 => {
                let attributes = pick(rng, &["{\"pax\":\"2\"}", "{}", "null", "{\"n\":2}"]);
                fields.push(("attributes".into(), attributes.into()));
            }
            4 => {
                let wrong = pick(
                    rng,
                    &[
                        "\"1.5\"", "true", "[]", "{}", "null", "nul", "-", "+1", ".5", "1.",
                        "01.5", "0x10", "NaN", "Infinity", "1e400", "-1e400", "1e-400", "1.5.2",
                        "2e", "1e+",
                    ],
                );
                fields[i].1 = wrong.into();
            }
            5 => fields[i].0 = pick(rng, &["Lat", "vehicle-id", "lat ", "l\\u0061t", ""]).into(),
            _ => fields[i].1 += pick(rng, &["x", " 1", ",", "}", "\""]),
        }
    }

    /// The ways a line's text goes wrong.
    fn break_text(rng: &mut StdRng, line: &mut String) {
        match rng.random_range(0..5) {
            0 => {
                let mut cut = rng.random_range(0..line.len());
                while !line.is_char_boundary(cut) {
                    cut -= 1;
                }
                line.truncate(cut);
            }
            1 => *line = line.replacen('}', ",}", 1),
            2 => *line += pick(rng, &["x", "{}", ",", "}"]),
            3 => *line = line.replacen(',', "", 1),
            _ => *line = format!("[{line}]"),
        }
    }

    #[test]
    fn gives_exactly_what_serde_json_gives() {
        let mut rng = StdRng::seed_from_u64(0x5eed);
        let mut lines = fleet_lines(7, 50, 100);
        lines.extend((0..5_000).map(|n| device_line(&mut rng, n)));
        lines.extend((0..90_000).map(|_| random_line(&mut rng)));
        let (mut fast, mut accepted) = (0, 0);
        for line in &lines {
            let Some(got) = parse_line(1, line.as_bytes()).unwrap() else {
                assert!(line.trim().is_empty(), "{line:?} taken for blank");
                continue;
            };
            let expected = serde_verdict(line);
            assert!(
                identical(&got, &expected),
                "{line:?}: parse_line gave {got:?}, serde_json {expected:?}"
            );
            fast += usize::from(parse(line.trim()).is_some());
            accepted += usize::from(expected.is_ok());
        }
        // Not vacuous: both paths, and both verdicts, are well exercised.
        let total = lines.len();
        println!("{total} lines: {fast} fast, {accepted} accepted");
        assert!(fast > total / 3, "fast path took {fast} of {total}");
        assert!(
            accepted - fast > total / 50,
            "{accepted} accepted, {fast} fast"
        );
        assert!(
            total - accepted > total / 10,
            "{accepted} accepted of {total}"
        );
    }

    /// What the fast path computes itself (not handing the number to serde_json) is the
    /// correctly rounded value, which both of serde_json's algorithms give there: this holds
    /// whichever of them this build has.
    #[test]
    fn computes_only_correctly_rounded_numbers() {
        let mut rng = StdRng::seed_from_u64(0xf10a7);
        let (mut wide, mut narrow) = (0, 0);
        for _ in 0..100_000 {
            let text = match rng.random_range(0..3) {
                0 => random_float_text(&mut rng),
                1 => f32_text(&mut rng),
                _ => random_decimal(&mut rng),
            };
            let mut cursor = Cursor {
                text: &text,
                bytes: text.as_bytes(),
                at: 0,
            };
            let Some(number) = cursor.number().filter(|_| cursor.at == text.len()) else {
                continue;
            };
            if let Some(value) = number.exact_f64() {
                let expected: f64 = text.parse().unwrap();
                assert_eq!(value.to_bits(), expected.to_bits(), "{text} as f64");
                wide += 1;
            }
            if let Some(value) = number.exact_f32() {
                let expected: f32 = text.parse().unwrap();
                assert_eq!(value.to_bits(), expected.to_bits(), "{text} as f32");
                narrow += 1;
            }
        }
        assert!(wide > 20_000 && narrow > 20_000, "{wide} f64, {narrow} f32");
    }

    #[test]
    fn takes_the_common_shapes() {
        let mut rng = StdRng::seed_from_u64(1);
        for line in fleet_lines(3, 20, 10)
            .into_iter()
            .chain((0..200).map(|n| device_line(&mut rng, n)))
        {
            assert!(parse(&line).is_some(), "{line}");
        }
        // Without handing numbers to serde_json: what devices send, and f32 fields as written.
        for text in [
            "40.748817",
            "-73.985428",
            "12.5",
            "270",
            "0",
            "-0.0",
            "1e3",
            "13.423456",
        ] {
            let number = Cursor {
                text,
                bytes: text.as_bytes(),
                at: 0,
            }
            .number()
            .unwrap();
            assert!(number.exact_f64().is_some(), "{text}");
        }
    }

    #[test]
    fn keeps_serde_json_edge_cases() {
        let line = |lat: &str, speed: &str, timestamp: &str| {
            format!(
                r#"{{"vehicle_id":"v","timestamp_ms":{timestamp},"lat":{lat},"lon":0,"speed_mps":{speed}}}"#
            )
        };
        let position = parse(&line("-0", "null", "-9223372036854775808")).unwrap();
        assert_eq!(position.lat.to_bits(), (-0.0f64).to_bits());
        assert_eq!(position.speed_mps, None);
        assert_eq!(position.timestamp_ms, i64::MIN);
        // Errors are serde_json's to give.
        assert!(parse(&line("1", "1", "-0")).is_none());
        assert!(parse(&line("1", "1", "1.0")).is_none());
        assert!(parse(&line("1", "1", "9223372036854775808")).is_none());
        // Numbers past the exact computation still parse, as serde_json reads them.
        for lat in ["0.30000000000000004", "1e-300", "123456789012345678901"] {
            let position = parse(&line(lat, "1", "0")).unwrap();
            let expected = serde_json::from_str::<f64>(lat).unwrap();
            assert_eq!(position.lat.to_bits(), expected.to_bits(), "{lat}");
        }
        // Halfway between the f32s 1 and 1 + 2^-23.
        let halfway = "1.00000005960464477539062500001";
        let position = parse(&line("1", halfway, "0")).unwrap();
        let expected = serde_json::from_str::<f32>(halfway).unwrap();
        assert_eq!(
            position.speed_mps.map(f32::to_bits),
            Some(expected.to_bits())
        );
    }

    /// Prints ns per line for `parse_line` before (serde_json alone) and now, on lines already in
    /// cache as a posted body's are (run in release: `cargo test --release -p cartrack-pipeline
    /// --lib position_line -- --ignored --nocapture`).
    #[test]
    #[ignore = "a measurement, not a check"]
    fn measure_ns_per_line() {
        use std::hint::black_box;
        let before = |line: &[u8]| {
            let text = std::str::from_utf8(line).unwrap().trim();
            serde_json::from_str::<Position>(text).map_err(|_| Reject::Malformed)
        };
        let now = |line: &[u8]| parse_line(1, line).unwrap().unwrap();
        let time = |lines: &[String], parse: &dyn Fn(&[u8]) -> Result<Position, Reject>| {
            let passes = 100;
            let started = Instant::now();
            for _ in 0..passes {
                for line in lines {
                    black_box(parse(black_box(line.as_bytes())).is_ok());
                }
            }
            started.elapsed().as_nanos() as f64 / (passes * lines.len()) as f64
        };
        let mut rng = StdRng::seed_from_u64(2);
        let fleet = fleet_lines(5, 100, 100);
        let devices: Vec<String> = (0..10_000).map(|n| device_line(&mut rng, n)).collect();
        for (shape, lines) in [
            ("simulator lines (serde_json::to_string)", &fleet),
            ("device lines (6 decimals)", &devices),
        ] {
            // The best of a few rounds: the machine is shared.
            let (mut serde, mut fast) = (f64::MAX, f64::MAX);
            for _ in 0..5 {
                serde = serde.min(time(lines, &before));
                fast = fast.min(time(lines, &now));
            }
            let total = lines.len() * 100;
            println!(
                "{shape}, {total} parses: serde_json {serde:.0} ns/line, now {fast:.0} ns/line"
            );
        }
    }
}
