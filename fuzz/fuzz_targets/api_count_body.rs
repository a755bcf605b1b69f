//! Fuzzes the body of `PUT /v1/groups/{group}/count` with the decoding its extractor uses
//! (`parse_count`); axum's body reading in front of it only enforces the size limit.
//!
//! Beyond "no panic": a body is a count exactly when it is a JSON object whose only key is
//! `count` holding that whole number, and every refusal says what is expected.
#![no_main]

use cartrack_framework::api::parse_count;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let value = serde_json::from_slice::<serde_json::Value>(data).ok();
    let only_count = value.as_ref().and_then(|value| {
        let object = value.as_object()?;
        (object.len() == 1).then(|| object.get("count")?.as_u64())?
    });
    match parse_count(data) {
        Ok(count) => {
            assert_eq!(only_count, Some(u64::from(count)));
            assert_eq!(
                parse_count(format!("{{\"count\":{count}}}").as_bytes()),
                Ok(count)
            );
        }
        Err(message) => {
            assert!(
                message.starts_with("body must be the JSON object"),
                "{message}"
            );
            assert!(
                only_count.is_none_or(|count| count > u64::from(u32::MAX)),
                "refused a count: {message}"
            );
        }
    }
});
