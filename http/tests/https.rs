//! Serving over HTTPS with the certificate files of a test CA: unusable files are refused
//! naming the flag and the file, and one `Https` handed to two servers serves both, and both
//! see a renewal.

use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use cartrack_http::test_certs::{issue_for_localhost, Issued};
use cartrack_http::{serve, Https, TlsFiles};
use cartrack_runtime::task::AbortOnDrop;
use tokio::net::TcpListener;

fn files_in(dir: &std::path::Path) -> TlsFiles {
    TlsFiles {
        cert: dir.join("server.crt"),
        key: dir.join("server.key"),
    }
}

/// A new CA and a certificate it signed; a client trusting only that CA.
fn issue() -> (Issued, reqwest::Client) {
    let issued = issue_for_localhost().expect("test certificate");
    let client = issued.client().expect("client");
    (issued, client)
}

/// A server of `GET /` answering `name` over `https`, and its URL.
async fn start(name: &'static str, https: &Https) -> (AbortOnDrop<()>, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("https://{}/", listener.local_addr().expect("address"));
    let https = https.clone();
    let router = Router::new().route("/", get(move || async move { name }));
    let server = AbortOnDrop::spawn(async move { serve(listener, router, Some(&https)).await });
    (server, url)
}

#[test]
fn unusable_files_are_refused_naming_the_flag_and_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = files_in(dir.path());
    let err = Https::load(&files).expect_err("no files");
    let message = err.to_string();
    assert!(message.starts_with("--tls-cert "), "{message}");
    assert!(message.contains("server.crt"), "{message}");

    issue().0.write(&files).expect("write the files");
    std::fs::write(&files.key, "not a key").expect("write");
    let message = Https::load(&files).expect_err("bad key").to_string();
    assert!(message.starts_with("--tls-key "), "{message}");
    assert!(message.contains("server.key"), "{message}");

    // A key of another certificate.
    let other = issue_for_localhost().expect("test certificate");
    std::fs::write(&files.key, other.key).expect("write");
    let message = Https::load(&files).expect_err("mismatch").to_string();
    assert!(message.starts_with("--tls-key "), "{message}");
}

#[tokio::test]
async fn one_https_serves_two_servers_and_both_see_a_renewal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = files_in(dir.path());
    let (issued, first) = issue();
    issued.write(&files).expect("write the files");
    let https = Https::load(&files).expect("the files load");
    let (_a, url_a) = start("a", &https).await;
    let (_b, url_b) = start("b", &https).await;
    // Only the servers' clones keep the watch alive from here on.
    drop(https);
    for (url, name) in [(&url_a, "a"), (&url_b, "b")] {
        let answer = first.get(url).send().await.expect("HTTPS");
        assert_eq!(answer.text().await.expect("body"), name);
    }

    // A new CA: only the renewed certificate satisfies a client trusting it.
    let (issued, renewed) = issue();
    assert!(
        renewed.get(&url_a).send().await.is_err(),
        "another CA's client is refused"
    );
    issued.write(&files).expect("write the files");
    let deadline = Instant::now() + Duration::from_secs(20);
    for url in [&url_a, &url_b] {
        loop {
            match renewed.get(url).send().await {
                Ok(answer) => {
                    assert_eq!(answer.status(), 200);
                    break;
                }
                Err(e) => assert!(Instant::now() < deadline, "{url} not renewed in 20 s: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
