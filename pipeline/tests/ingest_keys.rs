//! Device keys with the real `ingest http` and the embedded broker: a key added to the file is
//! taken without a restart, a revoked one is refused, the refusals are counted on `/metrics`,
//! and an intake-only ingester without keys refuses to start.

mod support;

use std::process::Command;
use std::time::Duration;

use cartrack_pipeline::keys::{hash_hex, hash_key};
use support::{counter, http_with_key, wait_until, BrokerKind, ChildGuard, ExternalBroker};

/// A keys-file entry for `key`.
fn entry(name: &str, key: &str, extra: &str) -> String {
    format!(
        "[[keys]]\nname = \"{name}\"\nsha256 = \"{}\"\n{extra}\n",
        hash_hex(&hash_key(key))
    )
}

/// A POST of one position with `key`: (status, body).
fn post(address: &str, key: &str, vehicle: &str) -> (u16, serde_json::Value) {
    let now = cartrack_pipeline::wall_clock_ms();
    let body = format!(
        "{{\"vehicle_id\":\"{vehicle}\",\"timestamp_ms\":{now},\"lat\":40.75,\"lon\":-73.98}}\n"
    );
    let (status, answer) = http_with_key(address, "POST", "/v1/positions", Some(key), Some(&body));
    (status, serde_json::from_str(&answer).unwrap())
}

#[test]
fn keys_are_reloaded_without_a_restart_and_revoked_ones_refused() {
    let broker = ExternalBroker::start(BrokerKind::Embedded);
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.toml");
    std::fs::write(
        &keys,
        entry("north", "k-north", "vehicle_prefixes = [\"n-\"]"),
    )
    .unwrap();
    let mut ingest = ChildGuard::worker(
        "ingest",
        &[
            "ingest",
            "--kafka",
            &broker.bootstrap,
            "--http-port",
            "0",
            "--ingest-keys",
            keys.to_str().unwrap(),
            "http",
        ],
    );
    let address = ingest.announced_after("http:", Duration::from_secs(30));

    let (status, report) = post(&address, "k-north", "n-1");
    assert_eq!((status, &report["accepted"]), (200, &1.into()), "{report}");
    let (status, report) = post(&address, "k-north", "s-1");
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["rejected"]["vehicle_not_allowed"], 1, "{report}");
    let (status, report) = post(&address, "k-south", "s-1");
    assert_eq!(status, 401, "{report}");
    assert_eq!(report["error"]["reason"], "unknown_key", "{report}");

    // A new key is taken once the file changed; nothing restarts.
    let text =
        entry("north", "k-north", "vehicle_prefixes = [\"n-\"]") + &entry("south", "k-south", "");
    std::fs::write(&keys, text).unwrap();
    wait_until(Duration::from_secs(30), "the new key to be taken", || {
        post(&address, "k-south", "s-1").0 == 200
    });
    // A file that does not load keeps the keys before it.
    std::fs::write(&keys, "[[keys]]\nname = ").unwrap();
    wait_until(
        Duration::from_secs(30),
        "the failed reload to be counted",
        || {
            counter(
                &address,
                "cartrack_ingest_intake_keys_reload_failures_total",
            ) >= 1.0
        },
    );
    assert_eq!(post(&address, "k-south", "s-2").0, 200);
    // Revoked: refused, and told so.
    let text = entry("north", "k-north", "") + &entry("south", "k-south", "revoked = true");
    std::fs::write(&keys, text).unwrap();
    wait_until(Duration::from_secs(30), "the key to be revoked", || {
        post(&address, "k-south", "s-3").1["error"]["reason"] == "revoked_key"
    });
    let refused = |reason: &str| {
        counter(
            &address,
            &format!("cartrack_ingest_intake_auth_refused_total{{reason=\"{reason}\"}}"),
        )
    };
    assert!(refused("unknown_key") >= 1.0);
    assert!(refused("revoked_key") >= 1.0);
    assert_eq!(
        counter(
            &address,
            "cartrack_ingest_intake_accepted_total{key=\"north\"}"
        ),
        1.0
    );
    ingest.assert_running();
}

#[test]
fn an_intake_only_ingester_without_keys_does_not_start() {
    let output = Command::new(env!("CARGO_BIN_EXE_cartrack-worker"))
        .args([
            "ingest",
            "--kafka",
            "127.0.0.1:9",
            "--http-port",
            "0",
            "http",
        ])
        .env_remove("CARTRACK_INGEST_KEYS")
        .env_remove("CARTRACK_INGEST_AUTH")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--ingest-keys FILE"), "{stderr}");
    assert!(stderr.contains("--ingest-auth none"), "{stderr}");
}

#[test]
fn keys_new_prints_a_key_its_entry_admits() {
    let output = Command::new(env!("CARGO_BIN_EXE_cartrack-worker"))
        .args([
            "keys",
            "new",
            "--name",
            "north",
            "--vehicle-prefix",
            "n-",
            "--rate-per-second",
            "100",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let shown = String::from_utf8(output.stderr).unwrap();
    let key = shown
        .lines()
        .find(|line| line.starts_with("ck_"))
        .expect("the key on stderr");
    assert!(
        !text.contains(key),
        "stdout, which goes to the file, holds no key: {text}"
    );
    let ring = cartrack_pipeline::keys::KeyRing::parse(&text).unwrap();
    let policy = ring.find(key).unwrap();
    assert!(policy.allows("n-7") && !policy.allows("s-7"));
    let bad = Command::new(env!("CARGO_BIN_EXE_cartrack-worker"))
        .args(["keys", "new", "--name", "north", "--rate-per-second", "0"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("rate_per_second must be positive"),
        "{stderr}"
    );
}
