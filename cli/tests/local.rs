//! `cartrack local` end to end, as a newcomer runs it: every sibling binary from the build
//! folder, the example pipeline on the dev cluster, vehicles on the map's data within 30 s,
//! `cartrack scale processor 3 --wait`, and SIGINT leaving no descendant process behind.
//!
//! Needs the workspace's binaries built beside `cartrack` (`cargo build --workspace --bins`,
//! which `./test.sh` does first).

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;
use tokio::time::Instant;

const SIBLINGS: [&str; 4] = [
    "cartrack-devcluster",
    "cartrack-worker",
    "cartrack-scheduler",
    "cartrack-executor",
];

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_cartrack"))
        .parent()
        .expect("binary has a folder")
        .to_path_buf()
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Polls `probe` until it yields a value or `timeout` passes.
async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    let deadline = started + timeout;
    loop {
        if let Some(value) = probe().await {
            eprintln!("{what}: {:.1} s", started.elapsed().as_secs_f64());
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn get(http: &reqwest::Client, url: &str) -> Option<Value> {
    http.get(url).send().await.ok()?.json().await.ok()
}

/// Every process whose parent chain leads to `root`.
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The command name may hold spaces; fields after the last ')' are fixed.
        let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
            continue;
        };
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parent_of.push((pid, ppid));
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parent_of
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            !stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_run_tracks_vehicles_scales_and_stops_cleanly() {
    let dir = bin_dir();
    for sibling in SIBLINGS {
        assert!(
            dir.join(sibling).is_file(),
            "{sibling} is missing from {}: run `cargo build --workspace --bins` first (./test.sh does)",
            dir.display()
        );
    }
    let work = tempfile::tempdir().unwrap();
    let http_addr = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{http_addr}");
    let started = Instant::now();
    let mut local = Command::new(env!("CARGO_BIN_EXE_cartrack"))
        .args([
            "local",
            "--http",
            &http_addr,
            "--master-port",
            "0",
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

    // The page's cluster view shows the shared agents, with other tenants' load.
    let cluster = get(&http, &format!("{base}/v1/cluster"))
        .await
        .expect("cluster view");
    let agents = cluster["agents"].as_array().expect("agents");
    assert_eq!(agents.len(), 3, "{cluster}");
    assert!(
        agents.iter().all(|a| a["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["ours"] == false)),
        "{cluster}"
    );

    // The page in headless Chromium: it draws the agents, and exactly the vehicles of the map
    // data it fetched; scaling from the page changes the group's count.
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
    let drawn_agents = browser
        .eval("return document.querySelectorAll('.agent').length;")
        .await;
    assert_eq!(drawn_agents, 3);
    let page = browser
        .eval(
            "return { fetched: window.cartrackPage.map.vehicles.map(v => [v.vehicle_id, v.location.lat, v.location.lon]).sort(),
                      drawn: [...document.querySelectorAll('circle.vehicle')].map(c => [c.dataset.vehicleId, +c.dataset.lat, +c.dataset.lon]).sort() };",
        )
        .await;
    assert_eq!(
        page["fetched"], page["drawn"],
        "the page draws what /v1/map gave it"
    );
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
    drop(browser);

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
    // SAFETY: kill(2) on our own child, not yet reaped.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
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
}
