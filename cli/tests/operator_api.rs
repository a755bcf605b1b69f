//! The real `cartrack` binary against a scripted operator API on 127.0.0.1: what it prints,
//! which requests it makes, and its exit codes.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Output;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};

/// What the fake scheduler knows and what it was asked.
#[derive(Default)]
struct Script {
    state: Value,
    token: Option<String>,
    /// Each group scaled becomes RUNNING after this many state reads (None: never).
    converge_after_reads: Option<usize>,
    /// When set, every request must carry `Authorization: <this>` (DC/OS Admin Router).
    required_authorization: Option<String>,
    reads: usize,
    requests: Vec<String>,
}

type Shared = Arc<Mutex<Script>>;

async fn serve(script: Shared) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let script = script.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| handle(script.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

async fn handle(
    script: Shared,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().clone();
    // Behind DC/OS Admin Router the API lives under /service/<name>.
    let raw_path = req.uri().path().to_string();
    let path = raw_path.trim_start_matches("/service/cartrack").to_string();
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let mut s = script.lock().unwrap();
    s.requests.push(format!(
        "{method} {raw_path} {}",
        String::from_utf8_lossy(&body)
    ));
    let authorized = match &s.token {
        None => true,
        Some(token) => auth.as_deref() == Some(&format!("Bearer {token}")),
    };
    let router_refuses = s.required_authorization.is_some() && s.required_authorization != auth;
    let (status, answer) = match (method.as_str(), path.as_str()) {
        _ if router_refuses => (StatusCode::UNAUTHORIZED, json!({"error": "admin router"})),
        ("GET", "/v1/state") => {
            s.reads += 1;
            if s.converge_after_reads.is_some_and(|n| s.reads > n) {
                converge(&mut s.state);
            }
            (StatusCode::OK, s.state.clone())
        }
        ("GET", "/v1/debug/offers") => (
            StatusCode::OK,
            json!({"offers": [{"hostname": "agent-2", "pods": [
                {"slot": "processor-1", "reasons": ["cpus: needs 1.0, offer has 0.2"]}]}]}),
        ),
        ("GET", "/v1/plan") => (
            StatusCode::OK,
            json!({"phases": [{"name": "processor", "status": "COMPLETE"}]}),
        ),
        (_, _) if !authorized => (StatusCode::UNAUTHORIZED, json!({"error": "token"})),
        ("PUT", p) if p.starts_with("/v1/groups/") && p.ends_with("/count") => {
            let group = p
                .trim_start_matches("/v1/groups/")
                .trim_end_matches("/count");
            let count = serde_json::from_slice::<Value>(&body).unwrap()["count"].clone();
            for g in s.state["groups"].as_array_mut().unwrap() {
                if g["name"] == group {
                    g["count"] = count.clone();
                }
            }
            (StatusCode::OK, json!({}))
        }
        ("POST", p) if p.starts_with("/v1/pods/") => (StatusCode::ACCEPTED, json!({})),
        _ => (StatusCode::NOT_FOUND, json!({"error": "no such path"})),
    };
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(answer.to_string())))
        .unwrap())
}

/// Makes every group's running count equal its desired count.
fn converge(state: &mut Value) {
    for g in state["groups"].as_array_mut().unwrap() {
        g["running"] = g["count"].clone();
        g["staging"] = json!(0);
    }
}

fn two_groups() -> Value {
    json!({
        "framework_id": "fw-1",
        "groups": [
            {"name": "ingester", "count": 1, "running": 1, "staging": 0, "failed": 0},
            {"name": "processor", "count": 1, "running": 1, "staging": 0, "failed": 0}
        ],
        "tasks": [
            {"slot": "ingester-0", "task_id": "ingester-0-main__a", "agent_id": "a1", "hostname": "agent-1",
             "state": "TASK_RUNNING", "healthy": null, "ports": {}},
            {"slot": "processor-0", "task_id": "processor-0-main__b", "agent_id": "a2", "hostname": "agent-2",
             "state": "TASK_RUNNING", "healthy": true, "ports": {"http": 31005}}
        ]
    })
}

async fn cartrack(addr: SocketAddr, args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_cartrack"));
    command
        .arg("--url")
        .arg(format!("http://{addr}"))
        .args(args)
        .env_remove("CARTRACK_URL")
        .env_remove("CARTRACK_API_TOKEN")
        .kill_on_drop(true);
    let output = tokio::time::timeout(std::time::Duration::from_secs(30), command.output())
        .await
        .expect("cartrack finished within 30 s")
        .expect("cartrack ran");
    output
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn fake(state: Value) -> (Shared, SocketAddr) {
    let script = Arc::new(Mutex::new(Script {
        state,
        ..Default::default()
    }));
    let addr = serve(script.clone()).await;
    (script, addr)
}

#[tokio::test]
async fn status_prints_groups_and_tasks() {
    let (_, addr) = fake(two_groups()).await;
    let out = cartrack(addr, &["status"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("framework: fw-1"), "{stdout}");
    assert!(stdout.contains("processor  1      1"), "{stdout}");
    assert!(
        stdout.contains("processor-0  TASK_RUNNING  yes"),
        "{stdout}"
    );
    assert!(stdout.contains("http=31005"), "{stdout}");
}

#[tokio::test]
async fn status_json_is_the_api_answer() {
    let (_, addr) = fake(two_groups()).await;
    let out = cartrack(addr, &["--json", "status"]).await;
    assert!(out.status.success());
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, two_groups());
}

#[tokio::test]
async fn scale_of_a_misspelt_group_exits_2_with_a_suggestion() {
    let (script, addr) = fake(two_groups()).await;
    let out = cartrack(addr, &["scale", "procesor", "3"]).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("did you mean \"processor\"?"), "{stderr}");
    assert!(!script
        .lock()
        .unwrap()
        .requests
        .iter()
        .any(|r| r.starts_with("PUT")));
}

#[tokio::test]
async fn scale_sends_the_count_with_the_token() {
    let (script, addr) = fake(two_groups()).await;
    script.lock().unwrap().token = Some("s3cret".into());
    let out = cartrack(addr, &["--token", "s3cret", "scale", "processor", "3"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let requests = script.lock().unwrap().requests.clone();
    assert!(
        requests.contains(&"PUT /v1/groups/processor/count {\"count\":3}".to_string()),
        "{requests:?}"
    );
}

#[tokio::test]
async fn scale_without_the_token_says_how_to_pass_it() {
    let (script, addr) = fake(two_groups()).await;
    script.lock().unwrap().token = Some("s3cret".into());
    let out = cartrack(addr, &["scale", "processor", "3"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--token or CARTRACK_API_TOKEN"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn scale_wait_returns_once_the_group_runs() {
    let (script, addr) = fake(two_groups()).await;
    script.lock().unwrap().converge_after_reads = Some(3);
    let out = cartrack(
        addr,
        &["scale", "processor", "3", "--wait", "--timeout", "20s"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("processor: 3/3 pods running"),
        "{}",
        text(&out.stdout)
    );
    assert!(script.lock().unwrap().reads > 3);
}

#[tokio::test]
async fn scale_wait_times_out_naming_stuck_pods_and_why() {
    let (_, addr) = fake(two_groups()).await;
    let out = cartrack(
        addr,
        &["scale", "processor", "2", "--wait", "--timeout", "1s"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("processor-1: no task"), "{stderr}");
    assert!(
        stderr.contains("agent-2: cpus: needs 1.0, offer has 0.2"),
        "{stderr}"
    );
    assert!(!stderr.contains("processor-0:"), "{stderr}");
}

#[tokio::test]
async fn pods_restart_of_an_unknown_slot_suggests_the_closest() {
    let (_, addr) = fake(two_groups()).await;
    let out = cartrack(addr, &["pods", "restart", "procesor-0"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("did you mean \"processor-0\"?"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn pods_replace_posts_to_the_slot() {
    let (script, addr) = fake(two_groups()).await;
    let out = cartrack(addr, &["pods", "replace", "processor-0"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let requests = script.lock().unwrap().requests.clone();
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("POST /v1/pods/processor-0/replace")),
        "{requests:?}"
    );
}

#[tokio::test]
async fn plan_show_prints_an_outline() {
    let (_, addr) = fake(two_groups()).await;
    let out = cartrack(addr, &["plan", "show"]).await;
    assert!(out.status.success());
    assert!(
        text(&out.stdout).contains("name: processor"),
        "{}",
        text(&out.stdout)
    );
}

#[tokio::test]
async fn an_unreachable_scheduler_exits_1_and_says_so() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let out = cartrack(addr, &["status"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot reach the cartrack scheduler"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn as_a_dcos_plugin_it_talks_to_the_service_path_with_the_acs_token() {
    let (script, addr) = fake(two_groups()).await;
    script.lock().unwrap().required_authorization = Some("token=acs-123".into());
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("dcos-cartrack");
    std::fs::copy(env!("CARGO_BIN_EXE_cartrack"), &plugin).unwrap();
    let run = |args: &[&str]| {
        let mut command = tokio::process::Command::new(&plugin);
        command
            .args(args)
            .env_remove("CARTRACK_URL")
            .env_remove("CARTRACK_API_TOKEN")
            .env("DCOS_URL", format!("http://{addr}"))
            .env("DCOS_ACS_TOKEN", "acs-123")
            .env("DCOS_SSL_VERIFY", "false")
            .kill_on_drop(true);
        command.output()
    };
    let info = run(&["cartrack", "--info"]).await.unwrap();
    assert!(info.status.success());
    assert!(
        text(&info.stdout).contains("cartrack"),
        "{}",
        text(&info.stdout)
    );

    let out = run(&["cartrack", "scale", "processor", "2"]).await.unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let requests = script.lock().unwrap().requests.clone();
    assert!(
        requests
            .contains(&"PUT /service/cartrack/v1/groups/processor/count {\"count\":2}".to_string()),
        "{requests:?}"
    );
}
