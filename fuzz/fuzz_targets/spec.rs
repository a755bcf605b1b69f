//! Fuzzes the service spec: `ServiceSpec::parse` on arbitrary text, then `spec::validate`.
//!
//! Beyond "no panic": a spec that parses serialises back to TOML that parses, and the copy
//! validates exactly as the original (the same plan, or the same errors).
#![no_main]

use cartrack_framework::spec::{validate, ServiceSpec};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(spec) = ServiceSpec::parse(text) else {
        return;
    };
    let roles = ["cartrack".to_owned(), "other-role".to_owned()];
    let validated = validate(&spec, &roles);

    let written = toml::to_string(&spec).expect("a parsed spec serialises");
    let copy = ServiceSpec::parse(&written)
        .unwrap_or_else(|e| panic!("the serialised spec does not parse: {e}\n{written}"));
    // Debug text, not `==`: a NaN a spec may hold is never equal to itself.
    assert_eq!(format!("{copy:?}"), format!("{spec:?}"), "{written}");
    assert_eq!(
        format!("{:?}", validate(&copy, &roles)),
        format!("{validated:?}"),
        "{written}"
    );
});
