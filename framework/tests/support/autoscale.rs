//! The autoscaling case both clusters run: pods serve a `/metrics` the test writes (python3's
//! `http.server` on the pod's port), so the test sets the load every pod reports; the
//! scheduler reads it from the pods as it reads the pipeline workers'.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::{wait_until, Scheduler};

pub const T: Duration = Duration::from_secs(60);

/// A group of 1 to 3 pods, each serving the `metrics` file of `metrics_dir` on its `http`
/// port at the address the executor gives it (`CARTRACK_HTTP_HOST`: its agent's), with
/// python3's `http.server`, autoscaled on the lag it reports.
pub fn spec(metrics_dir: &Path) -> String {
    format!(
        r#"
[[groups]]
name = "web"
count = 1
autoscale = {{ min = 1, max = 3, metric = "lag", target = 100, scale_up_after_s = 1, scale_down_after_s = 2, cooldown_s = 1 }}
[[groups.tasks]]
name = "main"
command = "sh"
args = ["-c", "exec python3 -m http.server $PORT_HTTP --bind $CARTRACK_HTTP_HOST --directory {dir}"]
cpus = 0.1
mem = 32
ports = ["http"]
"#,
        dir = metrics_dir.display()
    )
}

/// What every pod reports from now on: its consumer lag, as the pipeline's workers name it.
pub fn report_lag(metrics_dir: &Path, lag: u64) {
    let text = format!(
        "# TYPE cartrack_process_consumer_lag_records gauge\ncartrack_process_consumer_lag_records{{topic=\"cartrack.positions\"}} {lag}\n"
    );
    let tmp = metrics_dir.join(".metrics.tmp");
    std::fs::write(&tmp, text).expect("write metrics");
    std::fs::rename(&tmp, metrics_dir.join("metrics")).expect("publish metrics");
}

pub async fn autoscale(s: &Scheduler) -> Value {
    s.get("/v1/autoscale").await.unwrap_or_default()
}

pub fn group(view: &Value) -> &Value {
    &view["groups"][0]
}

/// Waits until the group runs `n` pods with `n` desired.
pub async fn wait_pods(s: &Scheduler, n: u64) -> Value {
    wait_until(T, &format!("{n} of {n} web pods running"), || async {
        let view = autoscale(s).await;
        let g = group(&view);
        (g["desired"] == n && g["running"] == n).then_some(view)
    })
    .await
}

pub fn decisions(view: &Value) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = view["decisions"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|d| {
                    (
                        d["from"].as_u64().unwrap_or(0),
                        d["to"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.reverse(); // oldest first
    out
}

/// The count follows the pods' reported lag up to max and back to min, one step at a time;
/// an operator's count pins it until `resume`. `s` runs [`spec`] over `metrics`.
pub async fn the_count_follows_the_lag_and_a_pin_holds_it(s: &Scheduler, metrics: &Path) {
    wait_pods(s, 1).await;
    wait_until(T, "a steady reading of 0", || async {
        let view = autoscale(s).await;
        (group(&view)["value"] == 0.0 && group(&view)["hold"]["kind"] == "steady").then_some(())
    })
    .await;

    // Each pod reports 250 records of lag: 1 pod -> 250 -> 3 wanted; one step at a time
    // (step 1) to max = 3, never beyond.
    report_lag(metrics, 250);
    let view = wait_pods(s, 3).await;
    assert_eq!(decisions(&view), vec![(1, 2), (2, 3)], "{view:#}");
    let up = &view["decisions"][0];
    assert_eq!(up["metric"], "lag");
    assert!(
        up["reason"].as_str().unwrap_or("").contains("pods wanted"),
        "{up}"
    );
    wait_until(T, "at max", || async {
        (group(&autoscale(s).await)["hold"]["kind"] == "at_max").then_some(())
    })
    .await;
    let text = s.metrics().await;
    for line in [
        "cartrack_autoscale_desired{group=\"web\"} 3",
        "cartrack_autoscale_actual{group=\"web\"} 3",
        "cartrack_autoscale_decisions_total{group=\"web\",direction=\"up\"} 2",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }

    // The lag drains: back to min, one step at a time.
    report_lag(metrics, 0);
    let view = wait_pods(s, 1).await;
    assert_eq!(
        decisions(&view),
        vec![(1, 2), (2, 3), (3, 2), (2, 1)],
        "{view:#}"
    );

    // An operator's count pins the group: high load changes nothing until resumed.
    let r = reqwest::Client::new()
        .put(format!("{}/v1/groups/web/count", s.api))
        .json(&serde_json::json!({"count": 2}))
        .send()
        .await
        .expect("PUT count");
    assert_eq!(r.status().as_u16(), 200);
    let view = wait_pods(s, 2).await;
    assert_eq!(group(&view)["pinned"], true, "{view:#}");
    report_lag(metrics, 250);
    wait_until(T, "the pinned hold seen with high load", || async {
        let view = autoscale(s).await;
        let g = group(&view);
        (g["pinned"] == true && g["hold"]["kind"] == "pinned" && g["value"] == 500.0).then_some(())
    })
    .await;
    assert_eq!(group(&autoscale(s).await)["desired"], 2, "pinned");
    let r = reqwest::Client::new()
        .post(format!("{}/v1/autoscale/web/resume", s.api))
        .send()
        .await
        .expect("POST resume");
    assert_eq!(r.status().as_u16(), 200);
    let view = wait_pods(s, 3).await;
    assert_eq!(group(&view)["pinned"], false);
    assert_eq!(decisions(&view).last(), Some(&(2, 3)), "{view:#}");
}
