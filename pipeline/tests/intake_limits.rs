//! `ingest http`'s intake limits, against the real binary and the embedded broker in its own
//! process: a body over `--max-body-bytes` is answered 413 with what was accepted, and exactly
//! those lines reach `cartrack.positions`; a line that is not text is answered 400 naming it;
//! a body far over the old 2 MiB buffer, sent in chunks, is accepted whole.

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use cartrack_pipeline::kafka::topics;
use support::{
    http, ingest_http, read_topic, wait_until, BrokerKind, ChildGuard, ExternalBroker, DEVICE_KEY,
};

/// One position line; every line as long as the others for the same `width` of ids.
fn line(number: usize, now_ms: i64) -> String {
    format!(
        "{{\"vehicle_id\":\"line-{number:06}\",\"timestamp_ms\":{now_ms},\"lat\":40.75,\"lon\":-73.98,\"speed_mps\":5}}\n"
    )
}

fn start_ingest(kafka: &str, max_body_bytes: Option<usize>) -> (ChildGuard, String) {
    let limit = max_body_bytes.map(|limit| limit.to_string());
    let flags = match &limit {
        Some(limit) => vec!["--max-body-bytes", limit.as_str()],
        None => Vec::new(),
    };
    ingest_http(kafka, &flags)
}

/// The vehicle ids on `cartrack.positions`, waiting until there are `expected` of them.
fn produced_ids(kafka: &str, expected: usize) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    wait_until(
        Duration::from_secs(30),
        "the positions on the topic",
        || {
            ids = read_topic(kafka, topics::POSITIONS)
                .into_iter()
                .map(|(key, _)| key)
                .collect();
            ids.len() >= expected
        },
    );
    ids
}

#[test]
fn a_body_over_the_limit_is_answered_413_and_exactly_the_lines_before_it_are_produced() {
    let broker = ExternalBroker::start(BrokerKind::Embedded);
    let now = cartrack_pipeline::wall_clock_ms();
    let width = line(0, now).len();
    // Room for 300 lines and half of the next.
    let limit = 300 * width + width / 2;
    let (_ingest, address) = start_ingest(&broker.bootstrap, Some(limit));
    let body: String = (1..=1000).map(|number| line(number, now)).collect();

    let (status, answer) = http(&address, "POST", "/v1/positions", Some(&body));
    assert_eq!(status, 413, "{answer}");
    let report: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(report["accepted"], 300, "{report}");
    assert_eq!(report["lines_read"], 300, "{report}");
    assert_eq!(report["error"]["reason"], "body_too_large", "{report}");
    assert_eq!(report["error"]["line"], 301, "{report}");
    assert_eq!(report["error"]["limit_bytes"], limit, "{report}");

    let expected: BTreeSet<String> = (1..=300).map(|n| format!("line-{n:06}")).collect();
    let produced = produced_ids(&broker.bootstrap, 300);
    assert_eq!(produced, expected, "exactly the lines before the limit");
}

#[test]
fn a_line_that_is_not_text_is_answered_400_naming_it() {
    let broker = ExternalBroker::start(BrokerKind::Embedded);
    let now = cartrack_pipeline::wall_clock_ms();
    let (_ingest, address) = start_ingest(&broker.bootstrap, None);
    let mut body = Vec::new();
    for number in 1..=40 {
        body.extend_from_slice(line(number, now).as_bytes());
    }
    body.extend_from_slice(b"{\"vehicle_id\":\"\xfe\xff\"}\n"); // Line 41.
    for number in 42..=60 {
        body.extend_from_slice(line(number, now).as_bytes());
    }
    let mut stream = TcpStream::connect(&address).unwrap();
    write!(
        stream,
        "POST /v1/positions HTTP/1.0\r\nHost: {address}\r\nAuthorization: Bearer {DEVICE_KEY}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(&body).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.0 400") || response.starts_with("HTTP/1.1 400"),
        "{response}"
    );
    let report: serde_json::Value =
        serde_json::from_str(response.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(report["accepted"], 40, "{report}");
    assert_eq!(report["error"]["reason"], "invalid_utf8", "{report}");
    assert_eq!(report["error"]["line"], 41, "{report}");

    let expected: BTreeSet<String> = (1..=40).map(|n| format!("line-{n:06}")).collect();
    assert_eq!(produced_ids(&broker.bootstrap, 40), expected);
}

/// 80 000 lines (about 7.4 MiB, over three times the old 2 MiB whole-body buffer) sent with chunked
/// transfer encoding in 64 KiB chunks: all accepted, all produced.
#[test]
fn a_large_body_streamed_in_chunks_is_accepted_whole() {
    const LINES: usize = 80_000;
    let broker = ExternalBroker::start(BrokerKind::Embedded);
    let now = cartrack_pipeline::wall_clock_ms();
    let (_ingest, address) = start_ingest(&broker.bootstrap, None);
    let body: String = (1..=LINES).map(|number| line(number, now)).collect();
    assert!(body.len() > 3 * 2 * 1024 * 1024, "{} bytes", body.len());

    let mut stream = TcpStream::connect(&address).unwrap();
    write!(
        stream,
        "POST /v1/positions HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {DEVICE_KEY}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    for chunk in body.as_bytes().chunks(64 * 1024) {
        write!(stream, "{:x}\r\n", chunk.len()).unwrap();
        stream.write_all(chunk).unwrap();
        stream.write_all(b"\r\n").unwrap();
    }
    stream.write_all(b"0\r\n\r\n").unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    let mut response = String::new();
    reader.read_to_string(&mut response).unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}{response}");
    let json = response.split_once("\r\n\r\n").unwrap().1;
    let report: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(report["accepted"], LINES, "{report}");
    assert_eq!(report["lines_read"], LINES, "{report}");
    assert_eq!(produced_ids(&broker.bootstrap, LINES).len(), LINES);
}
