//! The binary's command line: bad specs and flags exit 2 with a message naming the problem.

use std::process::Command;

fn run(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cartrack-scheduler"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_spec_values_exit_2_naming_key_value_and_allowed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = dir.path().join("bad.toml");
    std::fs::write(&spec, "[[groups]]\nname = \"ingester\"\ncount = 1\n[[groups.tasks]]\nname = \"main\"\ncommand = \"./cartrack-worker\"\ncpus = -2\nmem = 64\n").expect("write");
    let (code, err) = run(&["--spec", spec.to_str().expect("utf8"), "--check"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("groups[0].tasks[0].cpus") && err.contains("-2") && err.contains(">= 0.001"),
        "{err}"
    );
}

#[test]
fn unknown_keys_and_missing_files_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = dir.path().join("typo.toml");
    std::fs::write(&spec, "[[groups]]\nname = \"ingester\"\ncuont = 1\n").expect("write");
    let (code, err) = run(&["--spec", spec.to_str().expect("utf8"), "--check"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("cuont"), "{err}");
    let (code, err) = run(&["--spec", "/nonexistent/spec.toml"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("/nonexistent/spec.toml"), "{err}");
}

#[test]
fn unusable_tls_files_exit_2_naming_the_flag_the_file_and_why() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/cartrack.toml");
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (dir.path().join("api.crt"), dir.path().join("api.key"));
    let (cert, key) = (cert.to_str().expect("utf8"), key.to_str().expect("utf8"));
    let flags = [
        "--spec",
        example,
        "--check",
        "--tls-cert",
        cert,
        "--tls-key",
        key,
    ];
    let (code, err) = run(&flags);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&format!("--tls-cert {cert}: ")), "{err}");
    let issued = cartrack_http::test_certs::issue_for_localhost().expect("test certificate");
    std::fs::write(cert, &issued.cert).expect("write");
    std::fs::write(key, "not a key").expect("write");
    let (code, err) = run(&flags);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!("--tls-key {key}: no usable private key")),
        "{err}"
    );
    std::fs::write(key, &issued.key).expect("write");
    let (code, err) = run(&flags);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn the_example_spec_is_valid_and_env_overrides_are_checked() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/cartrack.toml");
    let (code, err) = run(&["--spec", example, "--check"]);
    assert_eq!(code, Some(0), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_cartrack-scheduler"))
        .args(["--spec", example, "--check"])
        .env("CARTRACK_PROCESSOR_MEM", "lots")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CARTRACK_PROCESSOR_MEM"));
}

#[test]
fn check_warns_about_a_misspelt_group_variable_and_still_passes() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/cartrack.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_cartrack-scheduler"))
        .args(["--spec", example, "--check"])
        .env("CARTRACK_PROCESOR_COUNT", "3")
        .env("CARTRACK_ZK_SESSION_TIMEOUT", "10")
        .env("CARTRACK_DECLINE_REFUSE_SECONDS", "60")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: CARTRACK_PROCESOR_COUNT is ignored")
            && stderr.contains("did you mean CARTRACK_PROCESSOR_COUNT?"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("warning:").count(), 1, "{stderr}");
}
