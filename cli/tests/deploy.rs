//! `cartrack update`, `plan` and `config` against the real scheduler on a dev cluster with the
//! real executor: an env change rolls through a running 2-pod group while `update --wait`
//! prints its steps, the plan shows the deployment, `config diff` the changed env line; an
//! update with an unknown key is refused (exit 2, naming it) and changes nothing.
//!
//! Needs the workspace's binaries built beside `cartrack`
//! (`cargo build --workspace --bins --features cartrack-framework/failpoints`).

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use support::process::{
    alive, assert_siblings_built, bin_dir, free_port, get, interrupt, wait_for,
};

/// A group `web` of 2 pods that sleep, greeting with `greeting`; a pod is ready after 1 s
/// RUNNING, so the rollout takes seconds. `deploy` adds to the group's `deploy` table, `extra`
/// to the group.
fn web_spec(greeting: &str, deploy: &str, extra: &str) -> String {
    format!(
        r#"[[groups]]
name = "web"
count = 2
env = {{ GREETING = "{greeting}" }}
deploy = {{ min_ready_seconds = 1{deploy} }}
{extra}
[[groups.tasks]]
name = "main"
command = "sleep"
args = ["600"]
cpus = 0.1
mem = 32
"#
    )
}

/// A child stopped with SIGINT when dropped (it stops what it started), killed if it has not
/// after 10 s.
struct Stopped(Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let Some(pid) = self.0.id() else { return };
        interrupt(pid);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline && self.0.try_wait().ok().flatten().is_none() {
            std::thread::sleep(Duration::from_millis(50));
        }
        if alive(pid) {
            let _ = self.0.start_kill();
        }
    }
}

/// `cartrack-devcluster` with 2 agents on addresses of their own; its master's URL.
async fn dev_cluster(work: &Path) -> (Stopped, String) {
    let mut child = Command::new(bin_dir().join("cartrack-devcluster"))
        .args([
            "--distinct-hosts",
            "--agents",
            "2",
            "--port",
            "0",
            "--work-dir",
        ])
        .arg(work.join("cluster"))
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(work.join("devcluster.log")).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("cartrack-devcluster starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let master = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("master: ") {
                return url.to_string();
            }
        }
        panic!("the dev cluster ended without a master: line");
    })
    .await
    .expect("the dev cluster announces its master within 30 s");
    (Stopped(child), master)
}

/// `cartrack-scheduler` for `spec` on `master`, its state and log in `work`; its API's URL.
fn scheduler(work: &Path, master: &str, spec: &Path) -> (Stopped, String) {
    let worker = work.join("worker.sh");
    std::fs::write(&worker, "#!/bin/sh\nexec sleep 600\n").unwrap();
    std::fs::set_permissions(&worker, std::fs::Permissions::from_mode(0o755)).unwrap();
    let http = format!("127.0.0.1:{}", free_port());
    let child = Command::new(bin_dir().join("cartrack-scheduler"))
        .env_remove("CARTRACK_RELEASE_URI")
        .env_remove("CARTRACK_API_TOKEN")
        .env_remove("CARTRACK_READ_TOKEN")
        .env_remove("CARTRACK_TLS_CERT")
        .env_remove("CARTRACK_TLS_KEY")
        .arg("--master")
        .arg(master)
        .arg("--spec")
        .arg(spec)
        .arg("--state-dir")
        .arg(work.join("state"))
        .arg("--http")
        .arg(&http)
        .arg("--executor-uri")
        .arg(bin_dir().join("cartrack-executor"))
        .arg("--worker-uri")
        .arg(&worker)
        // No basemap: the page's test loads nothing from outside.
        .arg("--map-tiles")
        .arg("")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(work.join("scheduler.log")).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("cartrack-scheduler starts");
    (Stopped(child), format!("http://{http}"))
}

async fn cartrack(api: &str, args: &[&str]) -> Output {
    let run = Command::new(env!("CARGO_BIN_EXE_cartrack"))
        .env_remove("CARTRACK_API_TOKEN")
        .env_remove("DCOS_URL")
        .arg("--url")
        .arg(api)
        .args(args)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("cartrack finished within 60 s")
        .expect("cartrack ran")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
}

/// The dev cluster and the scheduler with `web` running its 2 pods of version 1.
async fn running_web(work: &Path) -> (Stopped, Stopped, String) {
    let (cluster, master) = dev_cluster(work).await;
    let spec = work.join("web.toml");
    std::fs::write(&spec, web_spec("hello", "", "")).unwrap();
    let (scheduler, api) = scheduler(work, &master, &spec);
    let http = reqwest::Client::new();
    wait_for("both web pods running", Duration::from_secs(60), || async {
        let state = get(&http, &format!("{api}/v1/state")).await?;
        let web = state["groups"]
            .as_array()?
            .iter()
            .find(|g| g["name"] == "web")?
            .clone();
        (web["running"] == 2).then_some(())
    })
    .await;
    // Dropped in this order, the scheduler stops before the cluster it runs on.
    (scheduler, cluster, api)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_rolls_an_env_change_through_and_a_refused_one_changes_nothing() {
    assert_siblings_built();
    let work = tempfile::tempdir().unwrap();
    let (_scheduler, _cluster, api) = running_web(work.path()).await;

    // The env change, followed to the end.
    let changed = work.path().join("web-hi.toml");
    std::fs::write(&changed, web_spec("hi", "", "")).unwrap();
    let started = std::time::Instant::now();
    let out = cartrack(
        &api,
        &[
            "update",
            "--spec",
            changed.to_str().unwrap(),
            "--wait",
            "--timeout",
            "50s",
        ],
    )
    .await;
    let printed = text(&out.stdout);
    eprintln!("update --wait: {:.1} s", started.elapsed().as_secs_f64());
    assert!(out.status.success(), "{printed}{}", text(&out.stderr));
    assert!(printed.starts_with("version 2 is the target"), "{printed}");
    assert!(
        printed.contains("\nweb-0 ("),
        "no progress line for web-0: {printed}"
    );
    assert!(
        printed.contains("\nweb-1 ("),
        "no progress line for web-1: {printed}"
    );
    assert!(
        printed.ends_with("version 2: deployment complete\n"),
        "{printed}"
    );

    let plan = json_of(&cartrack(&api, &["plan", "show", "--json"]).await);
    assert_eq!(plan["deployment"]["from"], 1, "{plan}");
    assert_eq!(plan["deployment"]["to"], 2, "{plan}");
    assert!(plan["deployment"]["completed_ms"].is_u64(), "{plan}");
    let versions: Vec<&Value> = plan["phases"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["version"])
        .collect();
    assert_eq!(versions, [2, 2], "{plan}");
    let tree = text(&cartrack(&api, &["plan", "show"]).await.stdout);
    assert!(tree.starts_with("deployment 1 -> 2: completed "), "{tree}");
    assert!(
        tree.contains("└─ web (COMPLETE)\n   ├─ web-0 (COMPLETE) v2\n"),
        "{tree}"
    );

    let diff = cartrack(&api, &["config", "diff"]).await;
    let diff = text(&diff.stdout);
    assert!(diff.starts_with("--- version 1\n+++ version 2\n"), "{diff}");
    assert!(
        diff.contains("- GREETING = \"hello\"\n+ GREETING = \"hi\"\n"),
        "{diff}"
    );
    assert_eq!(
        diff.lines().filter(|l| l.starts_with(['-', '+'])).count(),
        4,
        "{diff}"
    );

    // An unknown key: refused with its name, exit 2, nothing changed.
    let refused = work.path().join("web-colour.toml");
    std::fs::write(&refused, web_spec("hey", "", "colour = \"red\"")).unwrap();
    let out = cartrack(&api, &["update", "--spec", refused.to_str().unwrap()]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("nothing changed"), "{stderr}");
    assert!(stderr.contains("colour"), "{stderr}");
    let target = json_of(&cartrack(&api, &["config", "show", "--json"]).await);
    assert_eq!(target["id"], 2, "{target}");
    assert_eq!(
        target["spec"]["groups"][0]["env"]["GREETING"], "hi",
        "{target}"
    );

    // With no deployment running, steering is refused as asked.
    let out = cartrack(&api, &["plan", "pause"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no deployment is running"),
        "{}",
        text(&out.stderr)
    );
}

/// The page shows a deployment held by its canary, with each step's status and why, and hides
/// it once the deployment is complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_the_running_deployment_and_hides_it_when_done() {
    assert_siblings_built();
    let work = tempfile::tempdir().unwrap();
    let (_scheduler, _cluster, api) = running_web(work.path()).await;
    let canary = work.path().join("web-canary.toml");
    std::fs::write(&canary, web_spec("hi", ", canary_steps = 1", "")).unwrap();
    let canary = canary.to_str().unwrap();
    let out = cartrack(&api, &["update", "--spec", canary]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));

    let profile = tempfile::tempdir().unwrap();
    let browser = support::webdriver::Browser::start(profile.path()).await;
    browser.open(&format!("{api}/")).await;
    let shown = wait_for(
        "the deployment on the page",
        Duration::from_secs(20),
        || async {
            let shown = browser
                .eval(
                    "const panel = document.getElementById('deploy-panel');
                 const web0 = panel.querySelector('tr[data-step=\"web-0\"]');
                 return panel.hidden || !web0 ? null : {
                     summary: document.getElementById('deploy-summary').textContent,
                     web0: [...web0.querySelectorAll('td')].map(td => td.textContent) };",
                )
                .await;
            (!shown.is_null()).then_some(shown)
        },
    )
    .await;
    assert_eq!(shown["summary"], "version 1 → 2 · WAITING", "{shown}");
    assert_eq!(
        shown["web0"],
        serde_json::json!([
            "web-0",
            "WAITING",
            "v1",
            "canary: waits for `cartrack plan continue`"
        ]),
        "{shown}"
    );

    let out = cartrack(&api, &["plan", "continue", "--phase", "web"]).await;
    assert_eq!(
        text(&out.stdout),
        "web: canary step let go\n",
        "{}",
        text(&out.stderr)
    );
    let out = cartrack(
        &api,
        &["update", "--spec", canary, "--wait", "--timeout", "50s"],
    )
    .await;
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).starts_with("unchanged: the config is version 2"));
    wait_for(
        "the deployment gone from the page",
        Duration::from_secs(10),
        || async {
            let hidden = browser
                .eval("return document.getElementById('deploy-panel').hidden;")
                .await;
            (hidden == true).then_some(())
        },
    )
    .await;
}
