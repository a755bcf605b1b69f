//! `cartrack local` end to end, as a newcomer runs it: every sibling binary from the build
//! folder, the example pipeline on the dev cluster, vehicles on the map's data within 30 s,
//! `cartrack scale processor 3 --wait`, and SIGINT leaving no descendant process behind.
//!
//! Needs the workspace's binaries built beside `cartrack` (`cargo build --workspace --bins`,
//! which `./test.sh` does first).

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
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
