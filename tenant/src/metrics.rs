//! `GET /metrics` (Prometheus text) and `GET /v1/health` (JSON), both read from the core's
//! latest [`Snapshot`], which the loop publishes after every input.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::core::Snapshot;

/// `Content-Type` of the exposition, as the scheduler and the workers serve theirs.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders every metric. Counters are registered without `_total`: the encoder appends it.
pub fn render(s: &Snapshot) -> String {
    let mut registry = Registry::default();
    let gauges = [
        (
            "cartrack_tenant_desired_tasks",
            "Tasks the curve asks for now",
            s.desired,
        ),
        ("cartrack_tenant_running_tasks", "Tasks RUNNING", s.running),
        (
            "cartrack_tenant_staging_tasks",
            "Tasks launched, not RUNNING yet",
            s.staging,
        ),
        (
            "cartrack_tenant_killing_tasks",
            "Tasks being killed",
            s.killing,
        ),
        (
            "cartrack_tenant_subscribed",
            "1 while subscribed to a master",
            u32::from(s.subscribed),
        ),
        (
            "cartrack_tenant_suppressed",
            "1 while offers are suppressed (at demand)",
            u32::from(s.suppressed),
        ),
    ];
    for (name, help, value) in gauges {
        registry.register(name, help, ConstGauge::new(i64::from(value)));
    }
    let c = &s.counters;
    let counters = [
        (
            "cartrack_tenant_tasks_launched",
            "Tasks launched",
            c.launched,
        ),
        (
            "cartrack_tenant_tasks_killed",
            "KILL calls sent (demand fell)",
            c.killed,
        ),
        (
            "cartrack_tenant_tasks_ended",
            "Tasks that ended unasked (failed, lost, ...)",
            c.ended_unasked,
        ),
        (
            "cartrack_tenant_offers_received",
            "Offers received",
            c.offers_received,
        ),
        (
            "cartrack_tenant_offers_declined",
            "Offers declined",
            c.offers_declined,
        ),
    ];
    for (name, help, value) in counters {
        registry.register(name, help, ConstCounter::new(value));
    }
    let mut text = String::new();
    // ok: writing into a String cannot fail.
    let _ = encode(&mut text, &registry);
    text
}

async fn metrics(State(snapshot): State<watch::Receiver<Snapshot>>) -> impl IntoResponse {
    let text = render(&snapshot.borrow());
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text)
}

async fn health(State(snapshot): State<watch::Receiver<Snapshot>>) -> impl IntoResponse {
    let s = snapshot.borrow().clone();
    Json(serde_json::json!({
        "subscribed": s.subscribed,
        "framework_id": s.framework_id,
        "desired": s.desired,
        "running": s.running,
        "ending": s.ending,
    }))
}

/// The router serving both.
pub fn router(snapshot: watch::Receiver<Snapshot>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/v1/health", get(health))
        .with_state(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Counters;

    #[test]
    fn renders_demand_tasks_and_counters() {
        let text = render(&Snapshot {
            desired: 4,
            running: 3,
            counters: Counters {
                launched: 5,
                offers_declined: 7,
                ..Counters::default()
            },
            ..Snapshot::default()
        });
        for line in [
            "cartrack_tenant_desired_tasks 4",
            "cartrack_tenant_running_tasks 3",
            "cartrack_tenant_tasks_launched_total 5",
            "cartrack_tenant_offers_declined_total 7",
            "cartrack_tenant_tasks_killed_total 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }
}
