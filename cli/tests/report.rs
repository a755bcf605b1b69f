//! `cartrack report utilisation` and the page's utilisation panel against the real scheduler on
//! a dev cluster whose agents carry other tenants' declared load: the CLI prints the services
//! and siloed versus multiplexed agents the API reports (as a table, and unchanged with
//! --json), a bad --since exits 2 naming it, and the panel shows the API's numbers.
//!
//! Needs the workspace's binaries built beside `cartrack` (`cargo build --workspace --bins`).

mod support;

use std::time::Duration;

use serde_json::Value;

use support::process::{assert_siblings_built, get, wait_for};
use support::scheduler::{cartrack, dev_cluster, json_of, scheduler, text};

/// Two pods of 0.5 cpu and 256 MB each.
const SPEC: &str = r#"[[groups]]
name = "web"
count = 2
[[groups.tasks]]
name = "main"
command = "sleep"
args = ["600"]
cpus = 0.5
mem = 256
"#;

fn service<'r>(report: &'r Value, name: &str) -> &'r Value {
    report["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no service {name} in {report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_and_the_page_show_the_report_of_the_shared_cluster() {
    assert_siblings_built();
    let work = tempfile::tempdir().unwrap();
    // Each of the 2 agents (4 cpus, 8192 MB) carries 1 cpu and 2048 MB of other tenants.
    let (_cluster, master) = dev_cluster(work.path(), &["--tenant-load", "cpus:1;mem:2048"]).await;
    let spec = work.path().join("web.toml");
    std::fs::write(&spec, SPEC).unwrap();
    let (_scheduler, api) = scheduler(work.path(), &master, &spec, &["--report-interval", "0.2"]);
    let http = reqwest::Client::new();
    let url = format!("{api}/v1/report/utilisation");
    // Both pods ran in a sample: web's peak is their sum.
    let report = wait_for(
        "both web pods in a utilisation sample",
        Duration::from_secs(60),
        || async {
            let report = get(&http, &url).await?;
            let web = report["services"]
                .as_array()?
                .iter()
                .find(|s| s["name"] == "web")?
                .clone();
            (web["peak"]["cpus"] == 1.0).then_some(report)
        },
    )
    .await;
    assert_eq!(service(&report, "web")["kind"], "cartrack-group");
    assert_eq!(service(&report, "web")["peak"]["mem"], 512.0);
    let tenants = service(&report, "other tenants");
    assert_eq!(tenants["kind"], "framework");
    assert_eq!(
        tenants["peak"],
        serde_json::json!({"cpus": 2.0, "mem": 4096.0})
    );
    // Each fits one agent on its own; together (3 cpus, 4608 MB) they fit one too.
    assert_eq!(report["siloed_agents"], 2, "{report}");
    assert_eq!(report["multiplexed_agents"], 1, "{report}");
    assert_eq!(report["cluster"]["agents"], 2, "{report}");

    // --json prints the API's report; its stable parts are the ones just read.
    let out = cartrack(&api, &["report", "utilisation", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = json_of(&out);
    for key in ["siloed_agents", "multiplexed_agents", "agent_size"] {
        assert_eq!(printed[key], report[key], "{key}: {printed}");
    }
    assert_eq!(service(&printed, "other tenants")["peak"], tenants["peak"]);

    // The table, over the last hour.
    let out = cartrack(&api, &["report", "utilisation", "--since", "1h"]).await;
    let table = text(&out.stdout);
    assert!(out.status.success(), "{table}{}", text(&out.stderr));
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .unwrap_or_else(|| panic!("no row {name} in\n{table}"))
    };
    assert_eq!(row("web ")[..4], ["web", "group", "1", "512"], "{table}");
    assert_eq!(
        row("other tenants")[..5],
        ["other", "tenants", "framework", "2", "4096"],
        "{table}"
    );
    assert!(table.contains("\nsiloed:      2 agents"), "{table}");
    assert!(table.contains("\nmultiplexed: 1 agent "), "{table}");
    assert!(table.contains("\nactual:      2 agents"), "{table}");

    // A bad --since is a usage error, naming the flag.
    let out = cartrack(&api, &["report", "utilisation", "--since", "soon"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--since \"soon\""),
        "{}",
        text(&out.stderr)
    );

    // The page's panel shows the numbers of the report it fetched, which match the API's.
    let profile = tempfile::tempdir().unwrap();
    let browser = support::webdriver::Browser::start(profile.path()).await;
    browser.open(&format!("{api}/")).await;
    let shown = wait_for("the utilisation panel", Duration::from_secs(20), || async {
        let shown = browser
            .eval(
                "const r = window.cartrackPage.report;
                 const n = (k) => { const e = document.querySelector(`#utilisation-summary [data-number=${k}]`); return e ? e.textContent : null; };
                 return r && n('siloed') !== null ? {
                     numbers: [n('siloed'), n('multiplexed'), n('actual'), n('cpus'), n('mem')],
                     fetched: [String(r.siloed_agents), String(r.multiplexed_agents), String(r.cluster.agents),
                               (100 * r.cluster.avg_utilisation.cpus).toFixed(1) + '%',
                               (100 * r.cluster.avg_utilisation.mem).toFixed(1) + '%'],
                     services: [...document.querySelectorAll('#utilisation-services .util-service')].map(s => [s.dataset.service, s.dataset.kind, s.querySelectorAll('polyline').length]),
                 } : null;",
            )
            .await;
        (!shown.is_null()).then_some(shown)
    })
    .await;
    assert_eq!(shown["numbers"], shown["fetched"], "{shown}");
    assert_eq!(shown["numbers"][0], "2", "{shown}");
    assert_eq!(shown["numbers"][1], "1", "{shown}");
    assert_eq!(shown["numbers"][2], "2", "{shown}");
    assert_eq!(
        shown["services"],
        serde_json::json!([
            ["web", "cartrack-group", 1],
            ["other tenants", "framework", 1]
        ]),
        "{shown}"
    );
    let png = browser.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"), "screenshot is a PNG");
    let artifact =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cartrack-utilisation.png");
    std::fs::write(&artifact, png).unwrap();
    eprintln!("page screenshot: {}", artifact.display());
}
