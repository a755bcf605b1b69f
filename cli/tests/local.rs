//! `cartrack local` end to end, as a newcomer runs it: every sibling binary from the build
//! folder, the example pipeline on the dev cluster, vehicles on the map's data within 30 s,
//! the page in headless Chromium (offline basemap, 1024 and 1400 px layouts, the banner once
//! the scheduler is gone), `cartrack scale processor 3 --wait`, and SIGINT leaving no
//! descendant process behind.
//!
//! Needs the workspace's binaries built beside `cartrack` (`cargo build --workspace --bins`,
//! which `./test.sh` does first).

mod support;

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncReadExt as _;
use tokio::process::Command;
use tokio::time::Instant;

use support::process::{
    alive, assert_siblings_built, descendants, free_port, get, interrupt, wait_for,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_run_tracks_vehicles_scales_and_stops_cleanly() {
    assert_siblings_built();
    let work = tempfile::tempdir().unwrap();
    let http_addr = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{http_addr}");
    let tiles = DeadTileServer::start().await;
    let started = Instant::now();
    let mut local = Command::new(env!("CARGO_BIN_EXE_cartrack"))
        .args([
            "local",
            "--http",
            &http_addr,
            "--master-port",
            "0",
            "--map-tiles",
            &tiles.template,
            "--work-dir",
        ])
        .arg(work.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = local.id().unwrap();
    let http = reqwest::Client::new();

    // Every pod of the example spec runs.
    wait_for("every group running", Duration::from_secs(60), || async {
        let state = get(&http, &format!("{base}/v1/state")).await?;
        let groups = state["groups"].as_array()?;
        let all = !groups.is_empty()
            && groups
                .iter()
                .all(|g| g["running"] == g["count"] && g["count"].as_u64() > Some(0));
        all.then_some(())
    })
    .await;

    // The ingesters' intake is open on one machine: a post without a device key is taken.
    let state = get(&http, &format!("{base}/v1/state"))
        .await
        .expect("state");
    let ingester = state["tasks"]
        .as_array()
        .and_then(|tasks| {
            tasks.iter().find(|t| {
                t["slot"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("ingester"))
            })
        })
        .cloned()
        .expect("an ingester task");
    let intake = format!(
        "http://{}:{}/v1/positions",
        ingester["hostname"].as_str().expect("hostname"),
        ingester["ports"]["http"]
    );
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let posted = http
        .post(&intake)
        .body(format!(
            "{{\"vehicle_id\":\"walk-in\",\"timestamp_ms\":{now_ms},\"lat\":40.75,\"lon\":-73.98}}\n"
        ))
        .send()
        .await
        .expect("the intake answers");
    assert_eq!(posted.status(), 200, "{intake}");

    // Simulated vehicles reach the page's data within 30 s of the start.
    let vehicles = wait_for(
        "vehicles on /v1/map",
        Duration::from_secs(30)
            .saturating_sub(started.elapsed())
            .max(Duration::from_secs(1)),
        || async {
            let map = get(&http, &format!("{base}/v1/map")).await?;
            let vehicles = map["vehicles"].as_array()?.clone();
            (!vehicles.is_empty()).then_some(vehicles)
        },
    )
    .await;
    assert!(vehicles.iter().all(|v| v["location"]["lat"]
        .as_f64()
        .is_some_and(|lat| (40.0..41.5).contains(&lat))));

    // The page's cluster view shows the shared agents, with other tenants' load summarised.
    let cluster = get(&http, &format!("{base}/v1/cluster"))
        .await
        .expect("cluster view");
    let agents = cluster["agents"].as_array().expect("agents");
    assert_eq!(agents.len(), 3, "{cluster}");
    // Each agent on a loopback address of its own, as hosts of a cluster.
    let hostnames: std::collections::BTreeSet<&str> = agents
        .iter()
        .filter_map(|a| a["hostname"].as_str())
        .collect();
    assert_eq!(
        hostnames,
        ["127.0.0.2", "127.0.0.3", "127.0.0.4"].into(),
        "{cluster}"
    );
    assert!(
        agents.iter().all(|a| a["other_frameworks"]
            .as_array()
            .is_some_and(|others| others.len() == 1 && others[0]["framework"] == "other tenants")),
        "{cluster}"
    );
    let page_config = get(&http, &format!("{base}/v1/page-config"))
        .await
        .expect("page config");
    assert_eq!(page_config["basemap"]["tiles"], tiles.template.as_str());

    // The page in headless Chromium: it draws the agents, and exactly the vehicles of the map
    // data it fetched, though no basemap tile loads; scaling from the page changes the group's
    // count.
    let profile = tempfile::tempdir().unwrap();
    let browser = support::webdriver::Browser::start(profile.path()).await;
    browser.open(&format!("{base}/")).await;
    wait_for("the page's first full refresh", Duration::from_secs(20), || async {
        let ready = browser
            .eval("const p = window.cartrackPage; return !!(p && p.map && p.cluster && p.state && p.map.vehicles.length);")
            .await;
        (ready == true).then_some(())
    })
    .await;
    let agents = browser
        .eval(
            "return [...document.querySelectorAll('.agent')].map(a =>
                 [...a.querySelectorAll('.task.other')].map(t => t.textContent));",
        )
        .await;
    assert_eq!(
        agents,
        serde_json::json!([
            ["other tenants · 1 task · 1 cpu, 2048 MB"],
            ["other tenants · 1 task · 1 cpu, 2048 MB"],
            ["other tenants · 1 task · 1 cpu, 2048 MB"]
        ]),
        "one summary tag per other framework and agent"
    );
    // Offline basemap: the page asked the tile server, got nothing, says so, and still draws.
    let note = wait_for("the basemap's failure shown", Duration::from_secs(20), || async {
        let note = browser
            .eval("const t = window.cartrackPage.tiles; return t.failed > 0 && t.loaded === 0 ? document.getElementById('map-note').textContent : null;")
            .await;
        note.as_str().map(String::from)
    })
    .await;
    assert!(note.contains("Basemap unavailable"), "{note}");
    let requested = tiles.requests();
    assert!(
        requested.iter().any(|r| r.starts_with("GET /tiles/")),
        "the page asked the configured tile server: {requested:?}"
    );
    let page = browser
        .eval(
            "return { fetched: window.cartrackPage.map.vehicles.map(v => [v.vehicle_id, v.location.lat, v.location.lon]).sort(),
                      drawn: [...document.querySelectorAll('path.vehicle')].map(c => [c.dataset.vehicleId, +c.dataset.lat, +c.dataset.lon]).sort() };",
        )
        .await;
    assert_eq!(
        page["fetched"], page["drawn"],
        "the page draws what /v1/map gave it"
    );
    // The first data fitted the map to the fleet; the button fits it again to where it is now.
    assert_eq!(
        browser.eval("return window.cartrackPage.fitted;").await,
        true
    );
    browser.click(".fit-fleet").await;
    wait_for("every vehicle in view", Duration::from_secs(10), || async {
        let outside = browser
            .eval(
                "const m = document.getElementById('map').getBoundingClientRect();
                 return [...document.querySelectorAll('path.vehicle')].filter(c => {
                     const r = c.getBoundingClientRect();
                     return !(r.width > 0 && r.left >= m.left && r.right <= m.right && r.top >= m.top && r.bottom <= m.bottom); }).length;",
            )
            .await;
        (outside == 0).then_some(())
    })
    .await;
    // Every control stays visible, with no horizontal scroll, from 1024 px up.
    for (width, height) in [(1024, 768), (1400, 1000)] {
        browser.set_window_size(width, height).await;
        let problems = wait_for(
            &format!("the layout at {width} px"),
            Duration::from_secs(10),
            || async {
                let report = browser.eval(LAYOUT_PROBLEMS).await;
                (report["width"] == width).then_some(report)
            },
        )
        .await;
        assert_eq!(problems["controls"], 6 + 1 + 1 + 2 + 3, "{problems}");
        assert_eq!(problems["problems"], serde_json::json!([]), "at {width} px");
    }
    let served = get(&http, &format!("{base}/v1/map")).await.expect("map");
    let served_ids: Vec<&str> = served["vehicles"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["vehicle_id"].as_str())
        .collect();
    for vehicle in page["drawn"].as_array().unwrap() {
        let id = vehicle[0].as_str().unwrap();
        assert!(
            served_ids.contains(&id),
            "drawn vehicle {id} is not in /v1/map: {served_ids:?}"
        );
    }
    let processors = |state: &Value| {
        state["groups"]
            .as_array()
            .and_then(|g| g.iter().find(|g| g["name"] == "processor"))
            .map(|g| g["count"].clone())
    };
    let before = processors(&get(&http, &format!("{base}/v1/state")).await.unwrap())
        .and_then(|c| c.as_u64())
        .unwrap();
    browser.click("button[data-scale='processor:+1']").await;
    wait_for(
        "the page's scale-up to reach the scheduler",
        Duration::from_secs(10),
        || async {
            let state = get(&http, &format!("{base}/v1/state")).await?;
            (processors(&state)?.as_u64()? == before + 1).then_some(())
        },
    )
    .await;
    let png = browser.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"), "screenshot is a PNG");
    let artifact = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cartrack-page.png");
    std::fs::write(&artifact, png).unwrap();
    eprintln!("page screenshot: {}", artifact.display());

    // The CLI scales a group and waits for it.
    let scale_started = Instant::now();
    let scaled = Command::new(env!("CARGO_BIN_EXE_cartrack"))
        .args([
            "--url",
            &base,
            "scale",
            "processor",
            "3",
            "--wait",
            "--timeout",
            "90s",
        ])
        .output()
        .await
        .unwrap();
    assert!(
        scaled.status.success(),
        "scale failed: {}",
        String::from_utf8_lossy(&scaled.stderr)
    );
    eprintln!(
        "scale processor 3 --wait: {:.1} s",
        scale_started.elapsed().as_secs_f64()
    );

    // SIGINT stops everything it started.
    let family = descendants(pid);
    assert!(
        family.len() >= 4,
        "expected broker, cluster, scheduler, executors: {family:?}"
    );
    interrupt(pid);
    let stopping = Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(60), local.wait())
        .await
        .expect("cartrack local stopped within 60 s")
        .unwrap();
    eprintln!(
        "cartrack local stopped: {:.1} s",
        stopping.elapsed().as_secs_f64()
    );
    assert!(status.success(), "cartrack local exited with {status}");
    wait_for("no descendant left", Duration::from_secs(10), || async {
        let left: Vec<u32> = family.iter().copied().filter(|p| alive(*p)).collect();
        left.is_empty().then_some(())
    })
    .await;

    // The page, still open, says the scheduler is gone and marks what it shows as stale; a
    // scale button says why it did nothing.
    let banner = wait_for("the unreachable banner", Duration::from_secs(15), || async {
        let banner = browser
            .eval("const b = document.getElementById('banner'); return b.hidden ? null : b.textContent;")
            .await;
        banner.as_str().map(String::from)
    })
    .await;
    assert!(banner.contains("not answering"), "{banner}");
    assert!(banner.contains("may be stale"), "{banner}");
    let stale = browser
        .eval("return [...document.querySelectorAll('main > section')].map(s => s.classList.contains('stale'));")
        .await;
    assert_eq!(stale, serde_json::json!([true, true, true]));
    browser.click("button[data-scale='processor:+1']").await;
    let message = wait_for("the failed scale-up shown", Duration::from_secs(10), || async {
        let message = browser
            .eval("const m = document.getElementById('message'); return m.className === 'error' ? m.textContent : null;")
            .await;
        message.as_str().map(String::from)
    })
    .await;
    assert!(message.starts_with("Scaling processor to"), "{message}");
    assert!(message.contains("failed"), "{message}");
}

/// What keeps a control from being used at the current window size: horizontal scrolling, a
/// panel wider than its box, or a control (scale buttons, token field, map controls) that is
/// clipped, covered or outside the window. Returns `{width, controls, problems}`.
const LAYOUT_PROBLEMS: &str = r#"
const doc = document.documentElement, problems = [];
if (doc.scrollWidth > doc.clientWidth) problems.push(`page scrolls sideways: ${doc.scrollWidth} > ${doc.clientWidth}`);
for (const s of document.querySelectorAll('main > section')) {
  if (s.scrollWidth > s.clientWidth) problems.push(`${s.id} overflows: ${s.scrollWidth} > ${s.clientWidth}`);
}
const controls = [...document.querySelectorAll('button[data-scale], #token, .fit-fleet, .leaflet-control-zoom a, .leaflet-control-layers input')];
for (const c of controls) {
  c.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  const r = c.getBoundingClientRect();
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  const name = c.dataset.scale || c.id || c.className || c.tagName;
  if (r.width === 0 || r.height === 0) problems.push(`${name} has no size`);
  else if (r.left < 0 || r.right > doc.clientWidth) problems.push(`${name} outside the window: ${r.left}..${r.right}`);
  else if (!(hit === c || c.contains(hit) || (hit && hit.control === c) || (hit && hit.contains(c) && hit.tagName === 'LABEL'))) problems.push(`${name} is covered or clipped (hit: ${hit && hit.outerHTML.slice(0, 80)})`);
}
window.scrollTo(0, 0);
return { width: window.innerWidth, controls: controls.length, problems };
"#;

/// A tile server that is there and never answers: every connection is read and dropped, as a
/// firewall or an offline machine would leave the page. It records the request lines.
struct DeadTileServer {
    template: String,
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl DeadTileServer {
    async fn start() -> DeadTileServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let template = format!(
            "http://{}/tiles/{{z}}/{{x}}/{{y}}.png",
            listener.local_addr().unwrap()
        );
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let mut head = vec![0; 1024];
                let n = conn.read(&mut head).await.unwrap_or(0);
                let line = String::from_utf8_lossy(&head[..n])
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                seen.lock().unwrap().push(line);
            }
        });
        DeadTileServer {
            template,
            requests,
            task,
        }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for DeadTileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `--master` replaces the dev cluster, so a dev-cluster flag with it is a usage error (exit 2)
/// naming both flags; so is `--release-uri` with a binary's own URI, as the scheduler says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_refuses_master_with_a_dev_cluster_flag() {
    let conflicts: [(&[&str], &str, &str); 6] = [
        (&["--master-port", "5051"], "--master", "--master-port"),
        (&["--agents", "2"], "--master", "--agents"),
        (
            &["--agent-resources", "cpus:1"],
            "--master",
            "--agent-resources",
        ),
        (&["--tenant-load", "cpus:1"], "--master", "--tenant-load"),
        (
            &["--release-uri", "/r.tgz", "--executor-uri", "/e"],
            "--release-uri",
            "--executor-uri",
        ),
        (
            &["--release-uri", "/r.tgz", "--worker-uri", "/w"],
            "--release-uri",
            "--worker-uri",
        ),
    ];
    for (extra, first, second) in conflicts {
        let output = Command::new(env!("CARGO_BIN_EXE_cartrack"))
            .args(["local", "--master", "http://127.0.0.1:1"])
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{extra:?}: {stderr}");
        for flag in [first, second] {
            assert!(
                stderr.contains(&format!("'{flag} ")),
                "{extra:?}: {flag} not named in: {stderr}"
            );
        }
    }
}

/// `cartrack local` with `extra` flags and a scratch work folder; its exit code and stderr.
async fn local_exits(extra: &[&str]) -> (Option<i32>, String) {
    assert_siblings_built();
    let work = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_cartrack"))
        .arg("local")
        .args(extra)
        .arg("--work-dir")
        .arg(work.path())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("cartrack local ended")
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_with_its_http_address_taken_exits_2_naming_it() {
    // Another server on the address would answer the health check in our scheduler's place.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, stderr) = local_exits(&["--http", &addr, "--master-port", "0"]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("--http {addr}: the address is in use")),
        "{stderr}"
    );
    assert!(!stderr.contains("cartrack is running"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dev_cluster_refusing_its_flags_is_reported_at_once_with_its_reason_and_exit_2() {
    let http = format!("127.0.0.1:{}", free_port());
    let (code, stderr) = local_exits(&[
        "--http",
        &http,
        "--master-port",
        "0",
        "--agent-resources",
        "cpus:abc",
    ])
    .await;
    assert_eq!(code, Some(2), "{stderr}");
    // Its own words, with the flag named as `cartrack local` takes it, not after a timeout.
    assert!(
        stderr.contains("dev cluster exited (exit status: 2) before it was ready")
            && stderr.contains("--agent-resources: resource 'cpus' has value 'abc'"),
        "{stderr}"
    );
    assert!(!stderr.contains("did not print"), "{stderr}");
    assert!(
        stderr.contains("kept in"),
        "the stop message names the folder: {stderr}"
    );
}
