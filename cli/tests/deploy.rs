//! `cartrack update`, `plan` and `config` against the real scheduler on a dev cluster with the
//! real executor: an env change rolls through a running 2-pod group while `update --wait`
//! prints its steps, the plan shows the deployment, `config diff` the changed env line; an
//! update with an unknown key is refused (exit 2, naming it) and changes nothing.
//!
//! Needs the workspace's binaries built beside `cartrack`
//! (`cargo build --workspace --bins --features cartrack-framework/failpoints`).

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use support::process::{assert_siblings_built, get, wait_for};
use support::scheduler::{cartrack, dev_cluster, json_of, scheduler, text, Stopped};

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

/// The dev cluster and the scheduler with `web` running its 2 pods of version 1.
async fn running_web(work: &Path) -> (Stopped, Stopped, String) {
    let (cluster, master) = dev_cluster(work, &[]).await;
    let spec = work.join("web.toml");
    std::fs::write(&spec, web_spec("hello", "", "")).unwrap();
    let (scheduler, api) = scheduler(work, &master, &spec, &[]);
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
