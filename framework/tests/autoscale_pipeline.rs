//! Autoscaling the real pipeline on the dev cluster: a seeded burst posted to the ingester
//! makes the processors' consumer lag grow; autoscaling adds processors (at most `max`), the
//! lag drains, and after the quiet period the processors go back to `min` — at most two
//! scale-ups and two scale-downs for the burst — while no position is lost or counted twice in
//! the tiles (the index's tile windows equal an offline run of the processing core).

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use cartrack_devcluster::DevCluster;
use cartrack_pipeline::kafka::partition_of;
use cartrack_pipeline::model::Position;
use cartrack_pipeline::sources::simulator::CityBox;
use cartrack_pipeline::testkit::{fleet_positions, offline_tiles};
use serde_json::Value;
use support::*;

/// Positions in the burst: vehicles x seconds of event time (an hour ago).
const VEHICLES: u32 = 1000;
const SECONDS: u32 = 600;
/// Lines per POST, as a device gateway would batch them.
const LINES_PER_POST: usize = 10_000;
/// Gateways posting at once, one per partition of `cartrack.positions` (the broker's default
/// 4), so each partition's event time only moves forward: together faster than one processor
/// reads.
const CLIENTS: i32 = 4;

const T: Duration = Duration::from_secs(180);

fn spec() -> String {
    let worker = |name: &str, args: &str, extra: &str| {
        format!(
            r#"
[[groups]]
name = "{name}"
count = 1
env = {{ CARTRACK_KAFKA = "${{CARTRACK_KAFKA}}", CARTRACK_INGEST_AUTH = "none" }}
{extra}
  [[groups.tasks]]
  name = "main"
  command = "./cartrack-worker"
  args = {args}
  cpus = 0.1
  mem = 64
  disk = 16
  ports = ["http"]
"#
        )
    };
    [
        "placement_strategy = \"spread\"\n".to_string(),
        worker("ingester", r#"["ingest", "http"]"#, ""),
        worker(
            "processor",
            r#"["process"]"#,
            "placement = [\"hostname:UNIQUE\"]\nautoscale = { min = 1, max = 3, metric = \"lag\", target = 2, scale_up_after_s = 3, scale_down_after_s = 10, step = 1, cooldown_s = 30 }",
        ),
        worker("indexer", r#"["index"]"#, ""),
    ]
    .concat()
}

/// Posts `positions` as JSON lines to the ingester at `url` from [`CLIENTS`] clients at once,
/// each the fixes of one partition's vehicles, in time order.
async fn post_all(url: &str, positions: &[Position]) {
    let mut shares: Vec<Vec<Position>> = vec![Vec::new(); CLIENTS as usize];
    for position in positions {
        let client = partition_of(position.vehicle_id.as_bytes(), CLIENTS) as usize;
        shares[client].push(position.clone());
    }
    let posting = shares.into_iter().map(|share| {
        let url = url.to_string();
        tokio::spawn(async move { post_share(&url, &share).await })
    });
    for client in futures::future::join_all(posting).await {
        client.expect("a posting client");
    }
}

/// One client's posts, resending what a 503 refused.
async fn post_share(url: &str, positions: &[Position]) {
    let client = reqwest::Client::new();
    for chunk in positions.chunks(LINES_PER_POST) {
        let mut body = String::new();
        for position in chunk {
            body.push_str(&serde_json::to_string(position).expect("a position serialises"));
            body.push('\n');
        }
        let mut sent = 0;
        while sent < chunk.len() {
            let rest: String = body.lines().skip(sent).flat_map(|l| [l, "\n"]).collect();
            let answer = client
                .post(url)
                .body(rest)
                .send()
                .await
                .expect("the ingester answers");
            let status = answer.status().as_u16();
            let reply: Value = answer.json().await.unwrap_or_default();
            let accepted = reply["accepted"].as_u64().unwrap_or(0) as usize;
            assert!(
                status == 200 || status == 503,
                "POST answered {status}: {reply}"
            );
            sent += accepted;
            if status == 503 {
                // Backpressure: the broker's bound is reached; wait and resend the rest.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// The task `slot`'s `http://host:port` from the scheduler's state.
async fn endpoint(s: &Scheduler, slot: &str) -> String {
    wait_until(T, &format!("{slot} running with its port"), || async {
        let state = s.get("/v1/state").await?;
        let task = state["tasks"]
            .as_array()?
            .iter()
            .find(|t| t["slot"] == slot && t["state"] == "TASK_RUNNING")?
            .clone();
        Some(format!(
            "http://{}:{}",
            task["hostname"].as_str()?,
            task["ports"]["http"]
        ))
    })
    .await
}

/// The last document of each tile window in the index's sink: its `_source` as written (text,
/// not parsed: serde_json's default float parsing may be an ulp off the written number).
fn indexed_tiles(cluster_dir: &Path) -> BTreeMap<String, String> {
    let mut tiles = BTreeMap::new();
    for file in files_named(cluster_dir, "cartrack-tiles.ndjson") {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let hit: Value = serde_json::from_str(line).expect("an NDJSON line");
            let id = hit["_id"].as_str().expect("a document id").to_string();
            let source = line
                .split_once(",\"_source\":")
                .and_then(|(_, rest)| rest.strip_suffix('}'))
                .unwrap_or_else(|| panic!("unexpected sink line {line}"));
            tiles.insert(id, source.to_string());
        }
    }
    tiles
}

fn processors(view: &Value) -> (u64, u64) {
    let g = view["groups"]
        .as_array()
        .and_then(|groups| groups.iter().find(|g| g["group"] == "processor"))
        .cloned()
        .unwrap_or_default();
    (
        g["desired"].as_u64().unwrap_or(0),
        g["running"].as_u64().unwrap_or(0),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_adds_processors_the_lag_drains_they_go_back_and_the_tiles_are_exact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start();
    let mut config = test_cluster_config(dir.path(), 3, Vec::new());
    config.distinct_hosts = true;
    config.agent_resources = own_port_block();
    let cluster = DevCluster::start(config).await.expect("dev cluster starts");
    let spec = write_spec(dir.path(), &spec());
    let s = Scheduler::start_with_real_worker(
        dir.path(),
        &cluster.master_url(),
        &spec,
        &["--autoscale-interval", "1"],
        &[("CARTRACK_KAFKA", &broker.bootstrap)],
    );
    s.wait_running(3, T).await;
    let ingest = format!("{}/v1/positions", endpoint(&s, "ingester-0").await);
    let positions = fleet_positions(2026, CityBox::MANHATTAN, VEHICLES, SECONDS);
    let offline = tokio::task::spawn_blocking({
        let positions = positions.clone();
        move || offline_tiles(&positions)
    });

    let started = Instant::now();
    post_all(&ingest, &positions).await;
    eprintln!(
        "autoscale_pipeline: {} positions posted in {:.1} s",
        positions.len(),
        started.elapsed().as_secs_f64()
    );

    // What autoscaling shows, printed when it changes (the test's log tells the story, also of
    // a wait that times out).
    let last = std::sync::Mutex::new(Value::Null);
    let autoscale = || async {
        let view = s.get("/v1/autoscale").await?;
        let mut seen = last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *seen != view["groups"] {
            let at = started.elapsed().as_secs_f64();
            eprintln!("autoscale_pipeline: {at:.1} s {}", view["groups"]);
            *seen = view["groups"].clone();
        }
        Some(view)
    };
    // Processors were added while the lag grew, never beyond max.
    let peak = wait_until(T, "a second processor running", || async {
        let (desired, running) = processors(&autoscale().await?);
        (running >= 2).then_some(desired)
    })
    .await;
    assert!((2..=3).contains(&peak), "{peak}");
    // The lag drains, and after the quiet period the count is back at min.
    wait_until(T, "back to one processor", || async {
        (processors(&autoscale().await?) == (1, 1)).then_some(())
    })
    .await;
    let view = s.get("/v1/autoscale").await.unwrap_or_default();
    let decisions: Vec<(u64, u64)> = view["decisions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            (
                d["from"].as_u64().unwrap_or(0),
                d["to"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let ups = decisions.iter().filter(|(from, to)| to > from).count();
    let downs = decisions.len() - ups;
    assert!(
        (1..=2).contains(&ups) && (1..=2).contains(&downs),
        "{ups} up, {downs} down: {view:#}"
    );
    assert!(
        decisions.iter().all(|(_, to)| *to <= 3),
        "never above max: {decisions:?}"
    );

    // Every position counted once in the tiles: the indexed windows are the offline ones.
    let expected: BTreeMap<String, String> = offline
        .await
        .expect("the offline run")
        .into_iter()
        .map(|(id, tile)| (id, serde_json::to_string(&tile).expect("a tile serialises")))
        .collect();
    let cluster_dir = dir.path().join("cluster");
    let deadline = Instant::now() + T;
    let indexed = loop {
        let indexed = indexed_tiles(&cluster_dir);
        let differ: Vec<&String> = expected
            .iter()
            .filter(|(id, tile)| indexed.get(*id) != Some(tile))
            .map(|(id, _)| id)
            .collect();
        if differ.is_empty() {
            break indexed;
        }
        if Instant::now() > deadline {
            let missing = differ
                .iter()
                .filter(|id| !indexed.contains_key(**id))
                .count();
            let example = differ
                .iter()
                .find(|id| indexed.contains_key(**id))
                .map(|id| {
                    format!(
                        "{id}: indexed {:?}, offline {:?}",
                        indexed[*id], expected[*id]
                    )
                });
            panic!(
                "{} of {} tile windows not as offline ({missing} missing); e.g. {example:?}",
                differ.len(),
                expected.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let extra: Vec<&String> = indexed
        .keys()
        .filter(|id| !expected.contains_key(*id))
        .collect();
    assert!(extra.is_empty(), "windows not in the input: {extra:?}");
    eprintln!(
        "autoscale_pipeline: {} tile windows equal offline; decisions {decisions:?}; done after {:.1} s",
        expected.len(),
        started.elapsed().as_secs_f64()
    );
    drop(s);
    cluster.shutdown().await;
}
