//! The operator API's HTTP surface against a scripted driver: auth, routing, body errors.

use std::time::Duration;

use cartrack_framework::api::{self, page::PageSources};
use cartrack_framework::driver::{ApiRequest, RequestError};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Starts the API with `token`; the returned receiver sees what reached the driver.
async fn start(token: Option<&str>) -> (String, mpsc::Receiver<ApiRequest>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(api::serve(
        listener,
        token.map(String::from),
        tx,
        PageSources::new(
            cartrack_framework::mesos::Masters::List(Vec::new()),
            &cartrack_framework::tls::Trust::default(),
        ),
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
        Some(ApiRequest::Restart {
            slot,
            replace,
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
        Some(ApiRequest::Health(reply)) => drop(reply),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        health.await.expect("join").expect("reply").status(),
        503,
        "driver gave no answer"
    );
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
        Some(ApiRequest::SetCount {
            group,
            count,
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
