//! `ingest http` over HTTPS (`--tls-cert`, `--tls-key`), against the real binary and the
//! embedded broker in its own process, with certificates of a test CA: a client trusting only
//! that CA posts positions and asks the health check; plain HTTP on the port gets no answer;
//! certificate files replaced with a newly issued pair are served to new connections.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use cartrack_http::test_certs::{issue_for_localhost, Issued};
use cartrack_http::TlsFiles;
use cartrack_pipeline::kafka::topics;
use support::{
    ingest_http, read_topic, wait_until, BrokerKind, ChildGuard, ExternalBroker, DEVICE_KEY,
};

/// A new CA and a certificate it signed for 127.0.0.1; a client trusting only that CA.
fn issue() -> (Issued, reqwest::Client) {
    let issued = issue_for_localhost().expect("test certificate");
    let client = issued.client().expect("client");
    (issued, client)
}

/// `ingest http` serving `files` (written from `issued` first); its `https://` base URL and
/// `host:port`.
fn start_ingest(kafka: &str, files: &TlsFiles, issued: &Issued) -> (ChildGuard, String, String) {
    issued.write(files).expect("write the certificate files");
    let path = |p: &Path| p.to_str().expect("UTF-8 path").to_owned();
    let (cert, key) = (path(&files.cert), path(&files.key));
    let flags = ["--tls-cert", &cert, "--tls-key", &key];
    let (ingest, address) = ingest_http(kafka, &flags);
    (ingest, format!("https://{address}"), address)
}

fn files_in(dir: &Path) -> TlsFiles {
    TlsFiles {
        cert: dir.join("ingest.crt"),
        key: dir.join("ingest.key"),
    }
}

/// `count` position lines of vehicles `{prefix}-N`.
fn positions(prefix: &str, count: usize) -> String {
    let now = cartrack_pipeline::wall_clock_ms();
    (1..=count)
        .map(|n| format!("{{\"vehicle_id\":\"{prefix}-{n:03}\",\"timestamp_ms\":{now},\"lat\":40.75,\"lon\":-73.98,\"speed_mps\":5}}\n"))
        .collect()
}

/// Posts `body` to the intake with the test device key; the status and the `accepted` count.
async fn post(client: &reqwest::Client, base: &str, body: String) -> (u16, serde_json::Value) {
    let answer = client
        .post(format!("{base}/v1/positions"))
        .bearer_auth(DEVICE_KEY)
        .body(body)
        .send()
        .await
        .expect("the intake answers over HTTPS");
    let status = answer.status().as_u16();
    let report: serde_json::Value = answer.json().await.expect("a JSON report");
    (status, report["accepted"].clone())
}

#[tokio::test]
async fn over_https_positions_are_accepted_and_plain_http_gets_no_answer() {
    let broker = ExternalBroker::start(BrokerKind::Embedded);
    let dir = tempfile::tempdir().expect("tempdir");
    let files = files_in(dir.path());
    let (issued, client) = issue();
    let (_ingest, base, address) = start_ingest(&broker.bootstrap, &files, &issued);

    let health = client
        .get(format!("{base}/v1/health"))
        .send()
        .await
        .expect("the health check answers over HTTPS");
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.expect("body"), "ok");

    let (status, accepted) = post(&client, &base, positions("tls", 25)).await;
    assert_eq!((status, accepted), (200, serde_json::json!(25)));
    let expected: BTreeSet<String> = (1..=25).map(|n| format!("tls-{n:03}")).collect();
    let mut produced = BTreeSet::new();
    wait_until(
        Duration::from_secs(30),
        "the positions on the topic",
        || {
            produced = read_topic(&broker.bootstrap, topics::POSITIONS)
                .into_iter()
                .map(|(key, _)| key)
                .collect();
            produced.len() >= expected.len()
        },
    );
    assert_eq!(produced, expected);

    let plain = reqwest::get(format!("http://{address}/v1/health")).await;
    assert!(
        plain.as_ref().map_or(true, |answer| answer.status() != 200),
        "plain HTTP answered on the HTTPS port: {plain:?}"
    );
}

#[tokio::test]
async fn replaced_certificate_files_are_served_to_new_connections() {
    let broker = ExternalBroker::start(BrokerKind::Embedded);
    let dir = tempfile::tempdir().expect("tempdir");
    let files = files_in(dir.path());
    let (issued, first) = issue();
    let (_ingest, base, _) = start_ingest(&broker.bootstrap, &files, &issued);
    let health = format!("{base}/v1/health");
    let answer = first.get(&health).send().await.expect("HTTPS");
    assert_eq!(answer.status(), 200);

    // Another CA: only the new certificate satisfies a client trusting it.
    let (renewed, client) = issue();
    assert!(
        client.get(&health).send().await.is_err(),
        "the old certificate is refused by the new CA's client"
    );
    renewed.write(&files).expect("replace the files");
    // The worker checks the files every 5 s.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match client.get(&health).send().await {
            Ok(answer) => {
                assert_eq!(answer.status(), 200);
                break;
            }
            Err(e) => assert!(
                Instant::now() < deadline,
                "the new certificate not served within 20 s: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, accepted) = post(&client, &base, positions("renewed", 3)).await;
    assert_eq!((status, accepted), (200, serde_json::json!(3)));
}

#[test]
fn an_unusable_certificate_file_exits_2_naming_the_flag_the_file_and_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = files_in(dir.path());
    let (issued, _) = issue();
    issued.write(&files).expect("write the certificate files");
    std::fs::write(&files.cert, "not a certificate").expect("spoil the certificate");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cartrack-worker"))
        .args([
            "ingest",
            "--kafka",
            "127.0.0.1:9",
            "--http-port",
            "0",
            "--tls-cert",
        ])
        .arg(&files.cert)
        .arg("--tls-key")
        .arg(&files.key)
        .output()
        .expect("the worker runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let named = format!("--tls-cert {}: no CERTIFICATE in it", files.cert.display());
    assert!(stderr.contains(&named), "{stderr}");
    assert!(
        output.stdout.is_empty(),
        "nothing served: {}",
        String::from_utf8_lossy(&output.stdout)
    );
}
