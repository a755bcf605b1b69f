//! Fuzzes the decoder of `cartrack.positions` records (`Position::from_record`): the first byte
//! picks the schema header (none, v1, v2, or the bytes up to the first NUL), the rest is the
//! record's value.
//!
//! Beyond "no panic": the header alone decides an unknown schema; a record without a header
//! reads as v1; what decodes re-encodes to bytes that decode to the same bytes again (compared
//! as bytes, since a NaN is never equal to itself), and a position that passes validation comes
//! back from its batch equal.
#![no_main]

use cartrack_pipeline::model::{
    DecodeError, Position, PositionBatch, POSITION_SCHEMA_V1, POSITION_SCHEMA_V2,
};
use cartrack_pipeline::validate::{validate, Limits};
use libfuzzer_sys::fuzz_target;

const NOW_MS: i64 = 1_700_000_000_000;

fn read(schema: Option<&[u8]>, payload: &[u8]) -> Result<Vec<Position>, DecodeError> {
    let mut out = Vec::new();
    Position::from_record(schema, payload, &mut out).map(|()| out)
}

fn encode(positions: &[Position]) -> Vec<u8> {
    let mut encoded = Vec::new();
    for position in positions {
        PositionBatch::encode_into(position, &mut encoded);
    }
    encoded
}

fuzz_target!(|data: &[u8]| {
    let Some((&knob, rest)) = data.split_first() else {
        return;
    };
    let (schema, payload) = match knob % 4 {
        0 => (None, rest),
        1 => (Some(POSITION_SCHEMA_V1.as_bytes()), rest),
        2 => (Some(POSITION_SCHEMA_V2.as_bytes()), rest),
        _ => match rest.iter().position(|&b| b == 0) {
            Some(nul) => (Some(&rest[..nul]), &rest[nul + 1..]),
            None => (Some(rest), &[][..]),
        },
    };
    let known = schema.is_none_or(|schema| {
        schema == POSITION_SCHEMA_V1.as_bytes() || schema == POSITION_SCHEMA_V2.as_bytes()
    });
    let read_back = read(schema, payload);
    if !known {
        assert_eq!(read_back, Err(DecodeError::UnknownSchema));
        return;
    }
    if schema.is_none() {
        let v1 = read(Some(POSITION_SCHEMA_V1.as_bytes()), payload);
        assert_eq!(encode_result(&read_back), encode_result(&v1));
    }
    let Ok(positions) = read_back else {
        assert_eq!(read_back, Err(DecodeError::Undecodable));
        return;
    };
    if schema != Some(POSITION_SCHEMA_V2.as_bytes()) {
        assert_eq!(positions.len(), 1);
    }

    let v2 = Some(POSITION_SCHEMA_V2.as_bytes());
    let encoded = encode(&positions);
    let again = read(v2, &encoded).expect("a re-encoded batch decodes");
    assert_eq!(encode(&again), encoded);
    for (before, after) in positions.iter().zip(&again) {
        if validate(before, &Limits::default(), NOW_MS).is_ok() {
            assert_eq!(before, after);
        }
    }
});

fn encode_result(result: &Result<Vec<Position>, DecodeError>) -> Result<Vec<u8>, DecodeError> {
    result
        .as_ref()
        .map(|positions| encode(positions))
        .map_err(|e| *e)
}
