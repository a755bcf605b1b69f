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
    /// Counts above this are refused with 400 and the scheduler's JSON reason (None: none).
    count_limit: Option<u64>,
    /// A replaced pod is not relaunched: no offer fits.
    no_offer_fits: bool,
    /// `GET /v1/plan`'s and `/v1/plans/deploy`'s answer (None: every phase complete).
    plan: Option<Value>,
    /// The scheduler reaches no Mesos master (`/v1/health` says `subscribed: false`).
    master_unreachable: bool,
    reads: usize,
    requests: Vec<String>,
}

type Shared = Arc<Mutex<Script>>;

async fn serve(script: Shared) -> SocketAddr {
    serve_with(move |req| handle(script.clone(), req)).await
}

/// Serves HTTP/1.1 on a free 127.0.0.1 port with `handler`.
async fn serve_with<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(handler);
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
    let req_query = req.uri().query().map(str::to_string);
    let path = raw_path.trim_start_matches("/service/cartrack").to_string();
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let mut s = script.lock().unwrap();
    let query = req_query.map(|q| format!("?{q}")).unwrap_or_default();
    s.requests.push(format!(
        "{method} {raw_path}{query} {}",
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
        ("GET", "/v1/health") => (
            StatusCode::OK,
            json!({"status": if s.master_unreachable { "connecting" } else { "ok" },
                   "subscribed": !s.master_unreachable, "framework_id": "fw-1",
                   "reconciling": 0, "master": "http://127.0.0.1:5050"}),
        ),
        ("GET", "/v1/plan" | "/v1/plans/deploy") => (
            StatusCode::OK,
            s.plan.clone().unwrap_or_else(
                || json!({"phases": [{"name": "processor", "status": "COMPLETE"}]}),
            ),
        ),
        (_, _) if !authorized => (StatusCode::UNAUTHORIZED, json!({"error": "token"})),
        ("PUT", p) if p.starts_with("/v1/groups/") && p.ends_with("/count") => {
            let group = p
                .trim_start_matches("/v1/groups/")
                .trim_end_matches("/count");
            let count = serde_json::from_slice::<Value>(&body).unwrap()["count"].clone();
            match s.count_limit {
                Some(limit) if count.as_u64().is_some_and(|c| c > limit) => (
                    StatusCode::BAD_REQUEST,
                    json!({"error": format!("count {count} is above the limit {limit}")}),
                ),
                _ => {
                    for g in s.state["groups"].as_array_mut().unwrap() {
                        if g["name"] == group {
                            g["count"] = count.clone();
                        }
                    }
                    (StatusCode::OK, json!({ "count": count }))
                }
            }
        }
        ("POST", p) if p.starts_with("/v1/plans/deploy/") => (
            // As the scheduler with no deployment running.
            StatusCode::CONFLICT,
            json!({"error": "no deployment is running"}),
        ),
        ("POST", p) if p.starts_with("/v1/pods/") => {
            // As the scheduler: 404 with its reason when the slot has no live pod.
            let (slot, action) = p.trim_start_matches("/v1/pods/").split_once('/').unwrap();
            let no_offer_fits = s.no_offer_fits;
            let tasks = s.state["tasks"].as_array_mut().unwrap();
            match tasks.iter().position(|t| t["slot"] == slot) {
                None => (
                    StatusCode::NOT_FOUND,
                    json!({"error": format!("slot {slot:?} has no live pod")}),
                ),
                Some(index) => {
                    if action == "replace" && !no_offer_fits {
                        // Killed and relaunched on another agent at once.
                        tasks[index] = json!({"slot": slot, "task_id": format!("{slot}-main__new"),
                            "agent_id": "a3", "hostname": "agent-3", "state": "TASK_STAGING",
                            "healthy": null, "ports": {}});
                    }
                    (
                        StatusCode::ACCEPTED,
                        json!({"slot": slot, "action": action}),
                    )
                }
            }
        }
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

/// `cartrack` with no address or token from this shell's environment.
fn cartrack_command() -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_cartrack"));
    command
        .env_remove("CARTRACK_URL")
        .env_remove("CARTRACK_API_TOKEN")
        .env_remove("DCOS_URL")
        .env_remove("DCOS_ACS_TOKEN")
        .kill_on_drop(true);
    command
}

async fn cartrack(addr: SocketAddr, args: &[&str]) -> Output {
    let mut command = cartrack_command();
    command
        .arg("--url")
        .arg(format!("http://{addr}"))
        .args(args);
    finish(command).await
}

async fn finish(mut command: tokio::process::Command) -> Output {
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
    assert!(
        stdout.contains("master:    http://127.0.0.1:5050 (subscribed)"),
        "{stdout}"
    );
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

/// A standby scheduler: its own health naming the leader, and 307 to the leader for the rest.
async fn standby_of(leader: SocketAddr) -> SocketAddr {
    serve_with(move |req: Request<Incoming>| async move {
        let leader = format!("http://{leader}");
        let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let response = if req.uri().path() == "/v1/health" {
            let body = json!({"status": "standby", "role": "standby",
                              "subscribed": false, "leader": leader});
            Response::new(Full::new(Bytes::from(body.to_string())))
        } else {
            Response::builder()
                .status(StatusCode::TEMPORARY_REDIRECT)
                .header("location", format!("{leader}{target}"))
                .body(Full::new(Bytes::from_static(b"{}")))
                .unwrap()
        };
        Ok(response)
    })
    .await
}

#[tokio::test]
async fn through_a_standby_commands_reach_the_leader_with_the_token() {
    let (script, leader) = fake(two_groups()).await;
    script.lock().unwrap().token = Some("s3cret".into());
    let standby = standby_of(leader).await;
    let out = cartrack(standby, &["--token", "s3cret", "scale", "processor", "3"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let requests = script.lock().unwrap().requests.clone();
    assert!(
        requests.contains(&"PUT /v1/groups/processor/count {\"count\":3}".to_string()),
        "{requests:?}"
    );
    // `status` shows the leader's health, not the standby's.
    let out = cartrack(standby, &["status"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("master:    http://127.0.0.1:5050 (subscribed)"),
        "{stdout}"
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
    assert!(
        stderr.contains("processor-1: no offer fits: agent-2: cpus: needs 1.0, offer has 0.2"),
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
async fn plan_show_prints_the_plan_as_a_tree() {
    let (state, plan) = crash_looping_processor();
    let (script, addr) = fake(state).await;
    script.lock().unwrap().plan = Some(plan);
    let out = cartrack(addr, &["plan", "show"]).await;
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout),
        "deploy (IN_PROGRESS)\n└─ processor (IN_PROGRESS)\n   └─ processor-0 (DELAYED)  failed 4x, \
         relaunch in 2 s, Command exited with status 1; stderr ends: Error: cannot reach Kafka\n"
    );
}

#[tokio::test]
async fn plan_actions_send_their_phase_or_step_and_a_conflict_exits_2() {
    let (script, addr) = fake(two_groups()).await;
    let out = cartrack(addr, &["plan", "continue", "--phase", "processor"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "cartrack: cannot continue processor: no deployment is running
"
    );
    let out = cartrack(addr, &["plan", "force-complete", "processor-0"]).await;
    assert_eq!(out.status.code(), Some(2));
    let requests = script.lock().unwrap().requests.clone();
    assert!(
        requests.contains(&"POST /v1/plans/deploy/continue?phase=processor ".to_string()),
        "{requests:?}"
    );
    assert!(
        requests.contains(&"POST /v1/plans/deploy/force-complete?step=processor-0 ".to_string()),
        "{requests:?}"
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

/// A service with `tasks` processor pods: its tables are far bigger than a pipe's buffer.
fn many_tasks(tasks: usize) -> Value {
    let tasks: Vec<Value> = (0..tasks)
        .map(|i| {
            json!({"slot": format!("processor-{i}"), "task_id": format!("processor-{i}-main__{i:08}"),
                   "agent_id": "a1", "hostname": "agent-1", "state": "TASK_RUNNING",
                   "healthy": true, "ports": {"http": 31000}})
        })
        .collect();
    json!({
        "framework_id": "fw-1",
        "groups": [{"name": "processor", "count": tasks.len(), "running": tasks.len()}],
        "tasks": tasks
    })
}

/// Runs `cartrack <args>` with stdout a pipe whose reader takes a few bytes and goes away, as
/// `cartrack ... | head -3` does.
async fn with_stdout_closed_early(addr: SocketAddr, args: &[&str]) -> (Option<i32>, String) {
    use tokio::io::AsyncReadExt as _;
    let mut command = cartrack_command();
    command
        .arg("--url")
        .arg(format!("http://{addr}"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("cartrack starts");
    let mut reader = child.stdout.take().expect("stdout piped");
    let mut first = [0u8; 16];
    reader
        .read_exact(&mut first)
        .await
        .expect("cartrack prints");
    drop(reader);
    let mut stderr = String::new();
    let mut stderr_pipe = child.stderr.take().expect("stderr piped");
    stderr_pipe.read_to_string(&mut stderr).await.unwrap();
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait())
        .await
        .expect("cartrack finished within 30 s")
        .expect("cartrack ran");
    (status.code(), stderr)
}

#[tokio::test]
async fn a_closed_stdout_ends_every_printing_command_quietly_with_exit_0() {
    let (_, addr) = fake(many_tasks(4000)).await;
    for args in [
        &["status"][..],
        &["--json", "status"],
        &["pods", "list"],
        &["--json", "pods", "list"],
    ] {
        let (code, stderr) = with_stdout_closed_early(addr, args).await;
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
        assert_eq!(stderr, "", "{args:?}");
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn scale_above_the_schedulers_cap_exits_2_naming_the_limit() {
    let (script, addr) = fake(two_groups()).await;
    let out = cartrack(addr, &["scale", "processor", "100001"]).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("limit of 100000 pods per group"),
        "{stderr}"
    );
    assert!(!stderr.contains('{'), "{stderr}");
    assert!(!script
        .lock()
        .unwrap()
        .requests
        .iter()
        .any(|r| r.starts_with("PUT")));
}

#[tokio::test]
async fn scale_to_a_negative_count_exits_2_without_clap_s_double_dash_tip() {
    let (_, addr) = fake(two_groups()).await;
    let out = cartrack(addr, &["scale", "processor", "-1"]).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("count -1 is negative"), "{stderr}");
    assert!(!stderr.contains("-- -1"), "{stderr}");
}

#[tokio::test]
async fn a_refused_scale_prints_the_schedulers_reason_and_exits_2() {
    let (script, addr) = fake(two_groups()).await;
    script.lock().unwrap().count_limit = Some(50);
    let out = cartrack(addr, &["scale", "processor", "60"]).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert_eq!(
        stderr.trim(),
        "cartrack: cannot scale processor to 60: count 60 is above the limit 50"
    );
}

#[tokio::test]
async fn json_is_honoured_by_scale_and_pod_actions() {
    let (script, addr) = fake(two_groups()).await;
    let out = cartrack(addr, &["--json", "scale", "processor", "2"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).expect("scale prints JSON");
    assert_eq!(printed, json!({"group": "processor", "count": 2}));

    script.lock().unwrap().converge_after_reads = Some(0);
    let out = cartrack(addr, &["--json", "scale", "processor", "3", "--wait"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).expect("scale --wait prints JSON");
    assert_eq!(printed["converged"], true);
    assert_eq!(printed["running"], 3);

    let out = cartrack(addr, &["--json", "pods", "restart", "ingester-0"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).expect("restart prints JSON");
    assert_eq!(printed, json!({"slot": "ingester-0", "action": "restart"}));

    let out = cartrack(addr, &["--json", "pods", "replace", "processor-0"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).expect("replace prints JSON");
    assert_eq!(printed["action"], "replace");
    assert_eq!(printed["placement"]["hostname"], "agent-3");
}

#[tokio::test]
async fn pods_replace_says_where_the_pod_went() {
    let (_, addr) = fake(two_groups()).await;
    let out = cartrack(addr, &["pods", "replace", "processor-0"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "processor-0: replaced; now on agent-3 (a3) as processor-0-main__new (TASK_STAGING)"
    );
}

#[tokio::test]
async fn pods_replace_without_a_fitting_offer_says_it_is_not_placed_yet() {
    let (script, addr) = fake(two_groups()).await;
    script.lock().unwrap().no_offer_fits = true;
    let out = cartrack(addr, &["pods", "replace", "processor-0", "--timeout", "1s"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("processor-0: replace requested; not placed after 1s"),
        "{stdout}"
    );
}

#[tokio::test]
async fn the_unreachable_hint_names_where_the_address_came_from() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);

    let mut command = cartrack_command();
    command
        .arg("status")
        .env("DCOS_URL", format!("http://{addr}"));
    let out = finish(command).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("DCOS_URL plus /service/cartrack"),
        "{stderr}"
    );
    assert!(!stderr.contains("--url right"), "{stderr}");

    let mut command = cartrack_command();
    command
        .arg("status")
        .env("CARTRACK_URL", format!("http://{addr}"));
    let out = finish(command).await;
    let stderr = text(&out.stderr);
    assert!(stderr.contains("is CARTRACK_URL right?"), "{stderr}");

    let out = cartrack(addr, &["status"]).await;
    let stderr = text(&out.stderr);
    assert!(stderr.contains("is --url right?"), "{stderr}");
}

#[tokio::test]
async fn pods_restart_of_a_slot_without_a_live_pod_prints_the_schedulers_reason() {
    let mut state = two_groups();
    // processor-0 is wanted but its task is gone (crash-looping between launches).
    state["tasks"].as_array_mut().unwrap().remove(1);
    let (_, addr) = fake(state).await;
    let out = cartrack(addr, &["pods", "restart", "processor-0"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim(),
        "cartrack: cannot restart processor-0: slot \"processor-0\" has no live pod"
    );
}

#[tokio::test]
async fn pods_status_in_a_group_scaled_to_0_suggests_no_other_groups_slot() {
    let state = json!({
        "framework_id": "fw-1",
        "groups": [
            {"name": "ingester", "count": 0},
            {"name": "indexer", "count": 1, "running": 1}
        ],
        "tasks": [{"slot": "indexer-0", "task_id": "indexer-0-main__a", "agent_id": "a1",
                   "hostname": "agent-1", "state": "TASK_RUNNING", "ports": {}}]
    });
    let (_, addr) = fake(state).await;
    let out = cartrack(addr, &["pods", "status", "ingester-0"]).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("indexer-0"), "{stderr}");
    assert!(
        stderr.contains("group \"ingester\" has 0 pods now"),
        "{stderr}"
    );
}

/// The scheduler's state and plan while processor-0 crash-loops: no live task, a DELAYED step
/// with the executor's failure message.
fn crash_looping_processor() -> (Value, Value) {
    let mut state = two_groups();
    state["tasks"].as_array_mut().unwrap().remove(1);
    state["groups"][1]["running"] = json!(0);
    state["groups"][1]["failed"] = json!(1);
    let plan = json!({"status": "IN_PROGRESS", "phases": [{"name": "processor", "status": "IN_PROGRESS",
        "steps": [{"name": "processor-0", "status": "DELAYED", "failures": 4, "relaunch_in_ms": 1400,
                   "message": "Command exited with status 1; stderr ends: Error: cannot reach Kafka"}]}]});
    (state, plan)
}

#[tokio::test]
async fn a_crash_loop_is_named_with_its_exit_status_and_stderr_not_as_a_wait_for_offers() {
    let (state, plan) = crash_looping_processor();
    let (script, addr) = fake(state).await;
    script.lock().unwrap().plan = Some(plan);
    let expected = "crash-looping: failed 4 times in a row; last: Command exited with status 1; \
                    stderr ends: Error: cannot reach Kafka; relaunch in 2 s (launch backoff)";

    let status = cartrack(addr, &["pods", "status", "processor-0"]).await;
    assert_eq!(status.status.code(), Some(0));
    assert_eq!(
        text(&status.stdout),
        format!("processor-0: no live task: {expected}\n")
    );

    let scale = cartrack(
        addr,
        &["scale", "processor", "1", "--wait", "--timeout", "1s"],
    )
    .await;
    assert_eq!(scale.status.code(), Some(1));
    let stderr = text(&scale.stderr);
    assert!(
        stderr.contains(&format!("  processor-0: {expected}\n")),
        "{stderr}"
    );
    assert!(!stderr.contains("no offer"), "{stderr}");
}

#[tokio::test]
async fn a_flood_of_stuck_pods_is_told_in_a_few_grouped_lines() {
    let (_, addr) = fake(two_groups()).await;
    let scale = cartrack(
        addr,
        &["scale", "processor", "100000", "--wait", "--timeout", "1s"],
    )
    .await;
    assert_eq!(scale.status.code(), Some(1));
    let stderr = text(&scale.stderr);
    assert!(stderr.lines().count() < 20, "{stderr}");
    assert!(
        stderr.contains("99999 stuck:"),
        "the count of stuck pods: {stderr}"
    );
    assert!(
        stderr.contains("processor-2, processor-3, processor-4, processor-5, processor-6 and 99993 more: no offer was evaluated"),
        "{stderr}"
    );
}

#[tokio::test]
async fn status_with_the_master_unreachable_says_so_and_exits_1() {
    let (script, addr) = fake(two_groups()).await;
    script.lock().unwrap().master_unreachable = true;
    let out = cartrack(addr, &["status"]).await;
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("master:    NOT SUBSCRIBED: the scheduler cannot reach a leading Mesos master (last known: http://127.0.0.1:5050)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("processor-0"),
        "the last known pods still show: {stdout}"
    );
}

/// A scheduler that takes `POST /v1/uninstall` and reports its uninstall plan in progress for
/// `reads_in_progress` reads of `/v1/plans/deploy` (202), then complete (200); it records
/// every request.
async fn uninstalling(reads_in_progress: usize) -> (Arc<Mutex<Vec<String>>>, SocketAddr) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let addr = serve_with(move |req: Request<Incoming>| {
        let log = log.clone();
        async move {
            let line = format!("{} {}", req.method(), req.uri().path());
            let reads = {
                let mut log = log.lock().unwrap();
                log.push(line.clone());
                log.iter().filter(|l| l.starts_with("GET ")).count()
            };
            let (status, body) = match line.as_str() {
                "POST /v1/uninstall" => (
                    StatusCode::ACCEPTED,
                    json!({"uninstall": "started", "plan": "/v1/plans/deploy"}),
                ),
                "GET /v1/plans/deploy" if reads <= reads_in_progress => (
                    StatusCode::ACCEPTED,
                    json!({"name": "uninstall", "status": "IN_PROGRESS", "phases": [
                        {"name": "kill-tasks", "status": "IN_PROGRESS", "steps": [{"name": "t1"}]},
                        {"name": "unreserve-resources", "status": "PENDING", "steps": []},
                        {"name": "deregister-service", "status": "PENDING", "steps": []}
                    ]}),
                ),
                "GET /v1/plans/deploy" => (
                    StatusCode::OK,
                    json!({"name": "uninstall", "status": "COMPLETE", "phases": []}),
                ),
                _ => (StatusCode::NOT_FOUND, json!({"error": "no such endpoint"})),
            };
            let response = Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body.to_string())))
                .unwrap();
            Ok::<_, Infallible>(response)
        }
    })
    .await;
    (seen, addr)
}

#[tokio::test]
async fn uninstall_without_yes_and_no_terminal_exits_2_and_sends_nothing() {
    let (seen, addr) = uninstalling(0).await;
    let out = cartrack(addr, &["uninstall"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--yes"), "{}", text(&out.stderr));
    assert!(seen.lock().unwrap().is_empty(), "nothing was asked");
}

#[tokio::test]
async fn uninstall_yes_wait_follows_the_plan_until_complete() {
    let (seen, addr) = uninstalling(2).await;
    let out = cartrack(addr, &["uninstall", "--yes", "--wait", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(plan["status"], "COMPLETE");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0], "POST /v1/uninstall");
    assert_eq!(
        seen.len(),
        4,
        "posted once, then read until complete: {seen:?}"
    );
}

#[tokio::test]
async fn uninstall_wait_times_out_with_exit_1_naming_the_tasks_left() {
    let (_, addr) = uninstalling(usize::MAX).await;
    let out = cartrack(addr, &["uninstall", "--yes", "--wait", "--timeout", "1s"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("kill-tasks: 1 tasks left"),
        "{}",
        text(&out.stderr)
    );
}
