//! Fuzzes the body of `POST /v1/positions` the way the ingest handler reads it: the first byte
//! picks the chunk size and the limits, the rest is the body, split into lines by `LineReader`,
//! each parsed by `parse_line` and checked by `validate`.
//!
//! Beyond "no panic": when nothing was refused the lines read, joined by `\n`, are the body;
//! every line is within the line limit and numbered in order; a refusal names the right cause;
//! and every admitted position survives the protobuf batch that carries it to Kafka unchanged.
#![no_main]

use bytes::BytesMut;
use cartrack_pipeline::model::{Position, PositionBatch, POSITION_SCHEMA_V2};
use cartrack_pipeline::sources::http::{parse_line, LineReader, Refusal, MAX_LINE_BYTES};
use cartrack_pipeline::validate::{validate, Limits};
use libfuzzer_sys::fuzz_target;

/// The validation clock: fixed, so a run is reproducible.
const NOW_MS: i64 = 1_700_000_000_000;

/// What the body gave so far.
struct Intake {
    max_line: usize,
    /// The lines, joined by `\n`.
    rebuilt: Vec<u8>,
    next_line: usize,
    admitted: Vec<Position>,
    refusal: Option<Refusal>,
}

impl Intake {
    /// Takes what the reader returned; false once it needs more body or stopped.
    fn take(&mut self, line: Result<Option<(usize, BytesMut)>, Refusal>) -> bool {
        let (number, line) = match line {
            Ok(Some(line)) => line,
            Ok(None) => return false,
            Err(stop) => {
                self.refusal = Some(stop);
                return false;
            }
        };
        assert_eq!(number, self.next_line);
        self.next_line += 1;
        assert!(line.len() <= self.max_line);
        assert!(!line.contains(&b'\n'));
        if number > 1 {
            self.rebuilt.push(b'\n');
        }
        self.rebuilt.extend_from_slice(&line);
        match parse_line(number, &line) {
            Ok(Some(Ok(position))) => {
                if validate(&position, &Limits::default(), NOW_MS).is_ok() {
                    self.admitted.push(position);
                }
                true
            }
            Ok(Some(Err(_)) | None) => true,
            Err(stop) => {
                assert_eq!(stop, Refusal::InvalidUtf8 { line: number });
                assert!(std::str::from_utf8(&line).is_err());
                self.refusal = Some(stop);
                false
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&knob, body)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(knob % 32) + 1;
    // Small limits on some inputs, so both refusals are reached with short bodies.
    let max_line = if knob & 0x20 != 0 {
        128
    } else {
        MAX_LINE_BYTES
    };
    let max_body = if knob & 0x40 != 0 { 512 } else { usize::MAX };
    let mut reader = LineReader::new(max_body, max_line);
    let mut intake = Intake {
        max_line,
        rebuilt: Vec::with_capacity(body.len()),
        next_line: 1,
        admitted: Vec::new(),
        refusal: None,
    };

    'body: {
        for piece in body.chunks(chunk) {
            reader.push(piece);
            while intake.take(reader.next_line()) {}
            if intake.refusal.is_some() {
                break 'body;
            }
        }
        while intake.take(reader.finish()) {}
    }

    match intake.refusal {
        None => {
            let body = body.strip_suffix(b"\n").unwrap_or(body);
            assert_eq!(intake.rebuilt, body, "the lines are not the body");
        }
        Some(Refusal::BodyTooLarge { limit_bytes, .. }) => {
            assert_eq!(limit_bytes, max_body);
            assert!(body.len() > max_body);
        }
        Some(Refusal::LineTooLong { limit_bytes, .. }) => {
            assert_eq!(limit_bytes, max_line);
            assert!(body.len() > max_line);
        }
        Some(Refusal::InvalidUtf8 { .. }) => {}
        Some(Refusal::BodyUnreadable { .. }) => panic!("no body broke off here"),
        Some(Refusal::RateLimited { .. }) => panic!("no device key, so no rate limit, here"),
    }

    // What `ingest` produces for the admitted positions reads back as the same positions.
    let mut encoded = Vec::new();
    for position in &intake.admitted {
        PositionBatch::encode_into(position, &mut encoded);
    }
    let mut decoded = Vec::new();
    Position::from_record(Some(POSITION_SCHEMA_V2.as_bytes()), &encoded, &mut decoded)
        .expect("an encoded batch decodes");
    assert_eq!(decoded, intake.admitted);
});
