//! The operator API's HTTP surface against a scripted driver: auth, routing, body errors, and
//! the bound on waiting for the driver's loop.

use std::time::{Duration, Instant};

use cartrack_framework::api::{self, page::PageSources, ApiTokens, ANSWER_TIMEOUT};
use cartrack_framework::driver::{ApiRequest, Request, RequestError};
use cartrack_http::{Https, TlsFiles};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Starts the API with `token` on writes; the returned receiver sees what reached the driver.
async fn start(token: Option<&str>) -> (String, mpsc::Receiver<ApiRequest>) {
    start_with(ApiTokens {
        write: token.map(String::from),
        read: None,
    })
    .await
}

async fn start_with(tokens: ApiTokens) -> (String, mpsc::Receiver<ApiRequest>) {
    start_on(tokens, None).await
}

async fn start_on(tokens: ApiTokens, https: Option<Https>) -> (String, mpsc::Receiver<ApiRequest>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let scheme = if https.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(api::serve(
        listener,
        https,
        tokens,
        tx,
        PageSources::new(
            cartrack_framework::mesos::Masters::List(Vec::new()),
            &cartrack_framework::tls::Trust::default(),
        ),
        cartrack_framework::driver::decision_histogram(),
        api::UpdateContext::default(),
    ));
    (url, rx)
}

#[tokio::test]
async fn mutations_need_the_bearer_token_and_reads_do_not() {
    let (url, mut driver) = start(Some("t0ken")).await;
    let client = reqwest::Client::new();
    let denied = client
        .post(format!("{url}/v1/pods/ingester-0/restart"))
        .send()
        .await
        .expect("reply");
    assert_eq!(denied.status(), 401);
    assert_eq!(
        denied
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    let request = client
        .post(format!("{url}/v1/pods/ingester-0/replace"))
        .bearer_auth("t0ken")
        .send();
    let answer = tokio::spawn(request);
    match tokio::time::timeout(Duration::from_secs(5), driver.recv())
        .await
        .expect("in time")
    {
        Some(ApiRequest::Write {
            request: Request::Restart { slot, replace },
            reply,
        }) => {
            assert_eq!((slot.as_str(), replace), ("ingester-0", true));
            let _ = reply.send(Err(RequestError::NoSuchPod(slot)));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(answer.await.expect("join").expect("reply").status(), 404);
    let health = tokio::spawn(reqwest::get(format!("{url}/v1/health")));
    match driver.recv().await {
        Some(ApiRequest::Read(read)) => drop(read),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        health.await.expect("join").expect("reply").status(),
        503,
        "driver gave no answer"
    );
}

#[tokio::test]
async fn with_a_read_token_reads_need_it_but_the_health_check_and_the_page_files() {
    let (url, mut driver) = start_with(ApiTokens {
        write: Some("wr1te".into()),
        read: Some("r3ad".into()),
    })
    .await;
    // The loop answers nothing: a read that reaches it gets 503 after the answer timeout,
    // one refused at the door 401 at once.
    tokio::spawn(async move { while driver.recv().await.is_some() {} });
    let client = reqwest::Client::new();
    let status = |request: reqwest::RequestBuilder| async move {
        request.send().await.expect("reply").status().as_u16()
    };
    for path in [
        "/v1/state",
        "/v1/map",
        "/v1/debug/offers",
        "/v1/report/utilisation",
        "/metrics",
        "/v1/nope",
    ] {
        let url = format!("{url}{path}");
        assert_eq!(
            status(client.get(&url)).await,
            401,
            "{path} without a token"
        );
        assert_eq!(
            status(client.get(&url).bearer_auth("wrong")).await,
            401,
            "{path} with a wrong token"
        );
    }
    for path in ["/", "/app.js", "/style.css"] {
        assert_eq!(
            status(client.get(format!("{url}{path}"))).await,
            200,
            "{path}"
        );
    }
    // Past the door: the page config and the utilisation report need no loop; the rest waits
    // for the silent loop.
    for token in ["r3ad", "wr1te"] {
        for path in ["/v1/page-config", "/v1/report/utilisation"] {
            assert_eq!(
                status(client.get(format!("{url}{path}")).bearer_auth(token)).await,
                200,
                "{path} with {token}"
            );
        }
    }
    // The read token does not write.
    let write = client
        .put(format!("{url}/v1/groups/processor/count"))
        .bearer_auth("r3ad")
        .json(&serde_json::json!({ "count": 2 }));
    assert_eq!(status(write).await, 401);
}

#[tokio::test]
async fn bad_bodies_unknown_paths_and_methods_are_refused() {
    let (url, mut driver) = start(None).await;
    let client = reqwest::Client::new();
    let bad = client
        .put(format!("{url}/v1/groups/ingester/count"))
        .body("{\"count\": -1}")
        .send()
        .await
        .expect("reply");
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.expect("body").contains("count"));
    assert_eq!(
        reqwest::get(format!("{url}/v1/nope"))
            .await
            .expect("reply")
            .status(),
        404
    );
    assert_eq!(
        client
            .delete(format!("{url}/v1/plan"))
            .send()
            .await
            .expect("reply")
            .status(),
        405
    );
    let ok = tokio::spawn(
        client
            .put(format!("{url}/v1/groups/ingester/count"))
            .body("{\"count\": 3}")
            .send(),
    );
    match driver.recv().await {
        Some(ApiRequest::Write {
            request: Request::SetCount { group, count },
            reply,
        }) => {
            assert_eq!((group.as_str(), count), ("ingester", 3));
            let _ = reply.send(Ok(()));
        }
        other => panic!("unexpected {other:?}"),
    }
    let ok = ok.await.expect("join").expect("reply");
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.json::<serde_json::Value>().await.expect("json"),
        serde_json::json!({ "count": 3 })
    );
}

/// Answers the next request that reaches the driver, which must be a restart, with success.
async fn accept_restart(driver: &mut mpsc::Receiver<ApiRequest>) {
    match tokio::time::timeout(Duration::from_secs(5), driver.recv())
        .await
        .expect("in time")
    {
        Some(ApiRequest::Write {
            request: Request::Restart { .. },
            reply,
        }) => {
            let _ = reply.send(Ok(()));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let (url, mut driver) = start(Some("t0ken")).await;
    let client = reqwest::Client::new();
    for header in ["bearer t0ken", "BEARER t0ken", "Bearer t0ken"] {
        let request = client
            .post(format!("{url}/v1/pods/ingester-0/restart"))
            .header("authorization", header)
            .send();
        let answer = tokio::spawn(request);
        accept_restart(&mut driver).await;
        assert_eq!(
            answer.await.expect("join").expect("reply").status(),
            202,
            "{header}"
        );
    }
    for header in ["bearer wrong", "Basic t0ken", "bearert0ken"] {
        let denied = client
            .post(format!("{url}/v1/pods/ingester-0/restart"))
            .header("authorization", header)
            .send()
            .await
            .expect("reply");
        assert_eq!(denied.status(), 401, "{header}");
    }
}

#[tokio::test]
async fn a_body_over_64_kib_is_413_naming_the_limit() {
    let (url, _driver) = start(None).await;
    let too_large = reqwest::Client::new()
        .put(format!("{url}/v1/groups/ingester/count"))
        .body(vec![b' '; 64 * 1024 + 1])
        .send()
        .await
        .expect("reply");
    assert_eq!(too_large.status(), 413);
    let body: serde_json::Value = too_large.json().await.expect("json");
    let message = body["error"].as_str().unwrap_or_default();
    assert!(message.contains("65536 bytes"), "{body}");
}

#[tokio::test]
async fn a_count_body_other_than_the_object_form_is_400_naming_it() {
    let (url, _driver) = start(None).await;
    let client = reqwest::Client::new();
    for body in ["[1]", "1", "\"1\"", "null", "{\"count\": 1, \"extra\": 2}"] {
        let refused = client
            .put(format!("{url}/v1/groups/ingester/count"))
            .body(body)
            .send()
            .await
            .expect("reply");
        assert_eq!(refused.status(), 400, "{body}");
        let answer: serde_json::Value = refused.json().await.expect("json");
        let message = answer["error"].as_str().unwrap_or_default();
        assert!(message.contains("{\"count\": N}"), "{body}: {answer}");
    }
}

#[tokio::test]
async fn an_unknown_pod_action_is_404_listing_the_actions() {
    let (url, _driver) = start(None).await;
    let client = reqwest::Client::new();
    let unknown = client
        .post(format!("{url}/v1/pods/ingester-0/frobnicate"))
        .send()
        .await
        .expect("reply");
    assert_eq!(unknown.status(), 404);
    let answer: serde_json::Value = unknown.json().await.expect("json");
    let message = answer["error"].as_str().unwrap_or_default();
    assert!(
        message.contains("frobnicate") && message.contains("restart, replace"),
        "{answer}"
    );
    let wrong_method = client
        .get(format!("{url}/v1/pods/ingester-0/restart"))
        .send()
        .await
        .expect("reply");
    assert_eq!(wrong_method.status(), 405, "a known action keeps its 405");
}

#[tokio::test]
async fn a_request_the_loop_holds_is_503_once_the_bound_passes() {
    let (url, mut driver) = start(None).await;
    let client = reqwest::Client::new();
    let started = Instant::now();
    let read = tokio::spawn(client.get(format!("{url}/v1/state")).send());
    let write = tokio::spawn(
        client
            .put(format!("{url}/v1/groups/ingester/count"))
            .body("{\"count\": 2}")
            .send(),
    );
    // The scripted loop takes both requests and never answers them (nor drops them).
    let mut held = Vec::new();
    while held.len() < 2 {
        let request = tokio::time::timeout(Duration::from_secs(5), driver.recv())
            .await
            .expect("both requests reach the loop")
            .expect("the API is running");
        held.push(request);
    }
    // Generous: the bound plus whatever a loaded machine adds.
    let deadline = ANSWER_TIMEOUT * 4;
    for (answer, queued) in [(read, false), (write, true)] {
        let answer = tokio::time::timeout(deadline, answer)
            .await
            .expect("answered within the bound")
            .expect("join")
            .expect("reply");
        assert_eq!(answer.status(), 503);
        let body: serde_json::Value = answer.json().await.expect("json");
        let message = body["error"].as_str().unwrap_or_default();
        assert!(message.contains("did not answer in time"), "{body}");
        assert_eq!(message.contains("may still take effect"), queued, "{body}");
    }
    assert!(
        started.elapsed() >= ANSWER_TIMEOUT,
        "answered before the bound: not the timeout"
    );
    drop(held);
}

#[tokio::test]
async fn refusals_are_json_a_405_names_the_allowed_methods_and_auth_comes_first() {
    let (url, _driver) = start(Some("t0ken")).await;
    let client = reqwest::Client::new();
    let wrong_method = client
        .get(format!("{url}/v1/groups/ingester/count"))
        .send()
        .await
        .expect("reply");
    assert_eq!(wrong_method.status(), 405);
    assert_eq!(
        wrong_method
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok()),
        Some("PUT")
    );
    let body: serde_json::Value = wrong_method.json().await.expect("json");
    assert_eq!(body["error"], "method not allowed on this path");
    let nowhere = client
        .get(format!("{url}/v1/nope"))
        .send()
        .await
        .expect("reply");
    assert_eq!(nowhere.status(), 404);
    let body: serde_json::Value = nowhere.json().await.expect("json");
    let message = body["error"].as_str().unwrap_or_default();
    assert!(
        message.contains("/v1/health") && message.contains("PUT /v1/groups/{group}/count"),
        "{body}"
    );
    // Without the token, a mutating method is 401 on any path, known or not.
    for path in ["/v1/plan", "/v1/nope"] {
        let denied = client
            .delete(format!("{url}{path}"))
            .send()
            .await
            .expect("reply");
        assert_eq!(denied.status(), 401, "{path}");
    }
    let missing_asset = client
        .get(format!("{url}/vendor/leaflet/nope.js"))
        .send()
        .await
        .expect("reply");
    assert_eq!(missing_asset.status(), 404);
    let body: serde_json::Value = missing_asset.json().await.expect("json");
    assert_eq!(body["error"], "no such page asset");
    let page = client.get(format!("{url}/")).send().await.expect("reply");
    assert_eq!(page.status(), 200);
    assert_eq!(
        page.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/html; charset=utf-8")
    );
}

/// A new CA and a certificate it signed for 127.0.0.1, written as the API's PEM files; a
/// client trusting only that CA.
fn issue(files: &TlsFiles) -> reqwest::Client {
    let issued = cartrack_http::test_certs::issue_for_localhost().expect("test certificate");
    issued.write(files).expect("write the files");
    issued.client().expect("client")
}

#[tokio::test]
async fn over_https_a_renewed_certificate_is_served_without_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = TlsFiles {
        cert: dir.path().join("api.crt"),
        key: dir.path().join("api.key"),
    };
    let first = issue(&files);
    let https = Https::load(&files).expect("the files load");
    let (url, _driver) = start_on(ApiTokens::default(), Some(https)).await;
    assert!(url.starts_with("https://"));
    let page_config = format!("{url}/v1/page-config");
    let answer = first.get(&page_config).send().await.expect("HTTPS");
    assert_eq!(answer.status(), 200);
    let plain = reqwest::get(page_config.replacen("https://", "http://", 1)).await;
    assert!(plain.is_err(), "no plain HTTP on the HTTPS port");

    // Renewed in place (a new CA, so only the new certificate satisfies a client trusting it).
    let renewed = issue(&files);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match renewed.get(&page_config).send().await {
            Ok(answer) => {
                assert_eq!(answer.status(), 200);
                break;
            }
            Err(e) => assert!(Instant::now() < deadline, "not renewed after 30 s: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
